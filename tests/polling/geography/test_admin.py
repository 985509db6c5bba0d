"""The Django admin for geography and elections, as a county election commissioner (a superuser here) uses it."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from shapely.geometry import Point, box, mapping

from polling.models import (
    BufferRule,
    County,
    Election,
    Entrance,
    Jurisdiction,
    PollingPlace,
    Precinct,
    PrecinctAssignment,
)

pytestmark = pytest.mark.django_db

LON, LAT = -90.2, 32.3  # Jackson, MS
#: The most queries a changelist page may take, whatever the number of rows (session, user, counts, page, filters).
CHANGELIST_MAX_QUERIES = 8


# --- Data -----------------------------------------------------------------------------------------------------


@pytest.fixture
def ms() -> Jurisdiction:
    return Jurisdiction.objects.get(code="MS")


@pytest.fixture
def county(ms: Jurisdiction) -> County:
    return County.objects.create(
        jurisdiction=ms, fips="28049", name="Hinds", boundary=box(LON - 0.1, LAT - 0.1, LON + 0.1, LAT + 0.1)
    )


@pytest.fixture
def precinct(county: County) -> Precinct:
    return Precinct.objects.create(
        county=county, code="101", name="Jackson Ward 1", boundary=box(LON - 0.01, LAT - 0.01, LON + 0.01, LAT + 0.01)
    )


@pytest.fixture
def place(county: County) -> PollingPlace:
    place = PollingPlace.objects.create(
        county=county,
        code="P1",
        name="Fire Station 1",
        address="1 Main St, Jackson, MS",
        location=Point(LON, LAT),
        building=box(LON - 0.0001, LAT - 0.0001, LON + 0.0001, LAT + 0.0001),  # about 19 m by 22 m
    )
    Entrance.objects.create(polling_place=place, name="West door", location=Point(LON - 0.0001, LAT))
    Entrance.objects.create(polling_place=place, name="East door", location=Point(LON + 0.0001, LAT), accessible=True)
    return place


@pytest.fixture
def election(ms: Jurisdiction) -> Election:
    return Election.objects.create(
        jurisdiction=ms,
        name="General Election",
        date=dt.date(2026, 11, 3),
        polls_open=dt.time(7),
        polls_close=dt.time(19),
    )


@pytest.fixture
def assignment(election: Election, precinct: Precinct, place: PollingPlace) -> PrecinctAssignment:
    return PrecinctAssignment.objects.create(election=election, precinct=precinct, polling_place=place)


@pytest.fixture
def objects(ms, county, precinct, place, election, assignment) -> dict[str, object]:
    return {
        "jurisdiction": ms,
        "bufferrule": BufferRule.objects.get(jurisdiction=ms, activity="campaigning"),
        "county": county,
        "precinct": precinct,
        "pollingplace": place,
        "entrance": place.entrances.get(name="West door"),
        "election": election,
        "precinctassignment": assignment,
    }


def geojson(geom: object) -> str:
    return json.dumps(mapping(geom))


def url(model: str, view: str, *args: object) -> str:
    return reverse(f"admin:polling_{model}_{view}", args=args)


MODELS = [
    "jurisdiction",
    "bufferrule",
    "county",
    "precinct",
    "pollingplace",
    "entrance",
    "election",
    "precinctassignment",
]


# --- Every page opens -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("model", MODELS)
def test_changelist_add_and_change_pages_open(admin_client, objects, model):
    obj = objects[model]
    assert admin_client.get(url(model, "changelist")).status_code == 200
    assert admin_client.get(url(model, "add")).status_code == 200
    response = admin_client.get(url(model, "change", obj.pk))
    assert response.status_code == 200


def test_large_foreign_keys_are_chosen_by_autocomplete_not_a_full_select(admin_client, objects):
    page = admin_client.get(url("precinctassignment", "add")).content.decode()
    for field in ("election", "precinct", "polling_place"):
        assert f'data-field-name="{field}"' in page  # an autocomplete widget, which loads choices on demand
    assert "Jackson Ward 1" not in page  # no <option> per precinct


def test_bounding_box_is_shown_but_not_editable(admin_client, precinct):
    response = admin_client.get(url("precinct", "change", precinct.pk))
    form = response.context["adminform"].form
    assert not any(name.startswith("bbox_") for name in form.fields)
    assert "west -90.210000, south 32.290000, east -90.190000, north 32.310000" in response.content.decode()


# --- Search and filters -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "term", "expected"),
    [
        ("precinct", "101", 1),
        ("precinct", "jackson ward", 1),
        ("precinct", "28049", 1),  # county FIPS
        ("precinct", "hinds", 1),  # county name
        ("precinct", "999", 0),
        ("pollingplace", "fire station", 1),
        ("pollingplace", "P1", 1),
        ("pollingplace", "28049", 1),
        ("pollingplace", "library", 0),
        ("county", "28049", 1),
        ("county", "hinds", 1),
        ("county", "2804", 0),  # FIPS matches exactly
        ("jurisdiction", "MS", 1),
        ("precinctassignment", "101", 1),
        ("precinctassignment", "fire station", 1),
        ("entrance", "west", 1),
        ("election", "general", 1),
    ],
)
def test_search(admin_client, objects, model, term, expected):
    response = admin_client.get(url(model, "changelist"), {"q": term})
    assert response.status_code == 200
    assert response.context["cl"].result_count == expected


def test_precincts_filter_by_state_then_county(admin_client, ms, county, precinct):
    other = County.objects.create(
        jurisdiction=ms, fips="28121", name="Rankin", boundary=box(LON + 0.1, LAT - 0.1, LON + 0.3, LAT + 0.1)
    )
    Precinct.objects.create(
        county=other, code="201", name="Brandon", boundary=box(LON + 0.2, LAT, LON + 0.21, LAT + 0.01)
    )
    changelist = url("precinct", "changelist")

    response = admin_client.get(changelist, {"county__jurisdiction__id__exact": ms.pk})
    assert response.context["cl"].result_count == 2
    county_filter = next(f for f in response.context["cl"].filter_specs if f.title == "county")
    assert [label for _, label in county_filter.lookup_choices] == ["Hinds (28049)", "Rankin (28121)"]

    response = admin_client.get(changelist, {"county__jurisdiction__id__exact": ms.pk, "county": other.pk})
    assert [p.code for p in response.context["cl"].result_list] == ["201"]


def test_a_mangled_county_filter_shows_nothing_rather_than_failing(admin_client, precinct):
    response = admin_client.get(url("precinct", "changelist"), {"county": "28049'--"})
    assert response.status_code == 200
    assert response.context["cl"].result_count == 0


def test_assignments_filter_by_election_and_county(admin_client, assignment, election):
    response = admin_client.get(
        url("precinctassignment", "changelist"),
        {"election__id__exact": election.pk, "county": assignment.precinct.county_id},
    )
    assert list(response.context["cl"].result_list) == [assignment]
    response = admin_client.get(url("election", "change", election.pk))
    assert f"?election__id__exact={election.pk}" in response.content.decode()


def test_precinct_autocomplete_finds_by_code(admin_client, precinct):
    response = admin_client.get(
        reverse("admin:autocomplete"),
        {"app_label": "polling", "model_name": "precinctassignment", "field_name": "precinct", "term": "101"},
    )
    assert response.status_code == 200
    assert response.json()["results"] == [{"id": str(precinct.pk), "text": str(precinct)}]


# --- Map previews -----------------------------------------------------------------------------------------------


def test_polling_place_page_previews_building_entrances_and_each_zone(admin_client, place):
    page = admin_client.get(url("pollingplace", "change", place.pk)).content.decode()
    assert "<svg" in page
    assert 'class="zone zone-campaigning"' in page
    assert 'class="zone zone-loitering"' in page
    assert 'class="building"' in page
    assert page.count('class="entrance"') == 2
    assert "campaigning 150 ft from entrances" in page
    assert "loitering 30 ft from entrances" in page


def test_precinct_page_previews_boundary_and_assigned_polling_places_with_zones(admin_client, assignment):
    page = admin_client.get(url("precinct", "change", assignment.precinct_id)).content.decode()
    assert "<svg" in page
    assert 'class="boundary"' in page
    assert 'class="zone zone-campaigning"' in page
    assert 'class="zone zone-loitering"' in page
    assert 'class="place"' in page
    assert "General Election (2026-11-03)" in page  # the assignment list


def test_precinct_without_assignments_previews_its_boundary_alone(admin_client, precinct):
    page = admin_client.get(url("precinct", "change", precinct.pk)).content.decode()
    assert 'class="boundary"' in page
    assert "zone-campaigning" not in page
    assert "Not assigned in any election yet." in page


def test_county_page_previews_boundary_precinct_outlines_and_places(admin_client, precinct, place):
    page = admin_client.get(url("county", "change", precinct.county_id)).content.decode()
    assert 'class="boundary"' in page
    assert 'class="outline"' in page
    assert 'class="place"' in page


def test_preview_text_from_the_database_is_escaped(admin_client, county):
    precinct = Precinct.objects.create(
        county=county, code="X1", name="<script>alert(1)</script>", boundary=box(LON, LAT, LON + 0.01, LAT + 0.01)
    )
    page = admin_client.get(url("precinct", "change", precinct.pk)).content.decode()
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


# --- Editing geometry -------------------------------------------------------------------------------------------


def precinct_post(precinct: Precinct, boundary: str) -> dict[str, object]:
    return {"county": precinct.county_id, "code": precinct.code, "name": precinct.name, "boundary": boundary}


def test_posting_a_new_boundary_as_geojson_saves_it_and_its_bounding_box(admin_client, precinct):
    from polling.geography.services import geography_version

    version = geography_version()
    new = box(LON - 0.02, LAT - 0.015, LON + 0.005, LAT + 0.012)
    response = admin_client.post(url("precinct", "change", precinct.pk), precinct_post(precinct, geojson(new)))
    assert response.status_code == 302, response.context["adminform"].form.errors
    assert geography_version() > version  # every server process rebuilds its index on its next request
    precinct.refresh_from_db()
    assert precinct.boundary.equals_exact(new, tolerance=1e-12)
    assert (precinct.bbox_west, precinct.bbox_south, precinct.bbox_east, precinct.bbox_north) == pytest.approx(
        new.bounds, abs=1e-12
    )


BOWTIE = {
    "type": "Polygon",
    "coordinates": [[[LON - 0.01, LAT - 0.01], [LON + 0.01, LAT + 0.01], [LON + 0.01, LAT - 0.01],
                     [LON - 0.01, LAT + 0.01], [LON - 0.01, LAT - 0.01]]],
}  # fmt: skip


@pytest.mark.parametrize(
    "boundary",
    [
        pytest.param(json.dumps(BOWTIE), id="self-intersecting bowtie"),
        pytest.param(
            '{"type": "Polygon", "coordinates": [[[NaN, 32.29], [-90.19, 32.29], [-90.19, 32.31], [NaN, 32.29]]]}',
            id="NaN",
        ),
        pytest.param(geojson(box(199.9, LAT, 200.0, LAT + 0.01)), id="lon 200"),
        pytest.param('{"type": "Point", "coordinates": [-90.2, 32.3]}', id="a point for a boundary"),
        pytest.param("{not json", id="not JSON"),
        pytest.param("", id="empty"),
    ],
)
def test_posting_an_invalid_boundary_shows_the_error_and_saves_nothing(admin_client, precinct, boundary):
    before = Precinct.objects.values().get(pk=precinct.pk)
    response = admin_client.post(url("precinct", "change", precinct.pk), precinct_post(precinct, boundary))
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert list(errors) == ["boundary"]
    assert all(len(message) > 10 for message in errors["boundary"])  # a sentence, not a code
    assert "Please correct the error below." in response.content.decode()
    assert Precinct.objects.values().get(pk=precinct.pk) == before


def test_deleting_through_the_admin_raises_the_geography_version(admin_client, precinct):
    from polling.geography.services import geography_version

    version = geography_version()
    response = admin_client.post(url("precinct", "delete", precinct.pk), {"post": "yes"})
    assert response.status_code == 302
    assert not Precinct.objects.filter(pk=precinct.pk).exists()
    assert geography_version() > version


def place_post(place: PollingPlace, entrances: list[dict[str, object]], **changes: object) -> dict[str, object]:
    existing = [e for e in entrances if "id" in e]
    data: dict[str, object] = {
        "county": place.county_id,
        "code": place.code,
        "name": place.name,
        "address": place.address,
        "is_election_day": "on" if place.is_election_day else "",
        "accessibility_notes": place.accessibility_notes,
        "lon": place.lon,
        "lat": place.lat,
        "building": geojson(place.building),
        "entrances-TOTAL_FORMS": len(entrances),
        "entrances-INITIAL_FORMS": len(existing),
        "entrances-MIN_NUM_FORMS": 0,
        "entrances-MAX_NUM_FORMS": 1000,
    }
    for i, entrance in enumerate(entrances):
        for key, value in entrance.items():
            if value is True:
                value = "on"
            if value is not False:
                data[f"entrances-{i}-{key}"] = value
        data[f"entrances-{i}-polling_place"] = place.pk
    data.update(changes)
    return data


def entrance_rows(place: PollingPlace) -> list[dict[str, object]]:
    return [
        {"id": e.pk, "name": e.name, "lon": e.location.x, "lat": e.location.y, "accessible": e.accessible,
         "in_use": e.in_use}
        for e in place.entrances.order_by("name")
    ]  # fmt: skip


def test_entrances_are_edited_as_longitude_and_latitude(admin_client, place):
    rows = entrance_rows(place)  # East door, West door
    rows[0]["lat"] = LAT + 0.00005
    rows.append({"name": "Gym door", "lon": LON, "lat": LAT - 0.0001, "accessible": True, "in_use": True})
    response = admin_client.post(url("pollingplace", "change", place.pk), place_post(place, rows))
    assert response.status_code == 302, response.context["errors"]
    east = place.entrances.get(name="East door")
    assert (east.location.x, east.location.y) == (LON + 0.0001, LAT + 0.00005)
    gym = place.entrances.get(name="Gym door")
    assert (gym.location.x, gym.location.y, gym.accessible) == (LON, LAT - 0.0001, True)


def test_a_polling_place_is_added_with_its_entrances(admin_client, county):
    data = {
        "county": county.pk,
        "code": "P9",
        "name": "Library",
        "address": "9 Oak St",
        "is_election_day": "on",
        "accessibility_notes": "",
        "lon": LON + 0.001,
        "lat": LAT,
        "building": "",
        "entrances-TOTAL_FORMS": 1,
        "entrances-INITIAL_FORMS": 0,
        "entrances-0-name": "Main",
        "entrances-0-lon": LON + 0.001,
        "entrances-0-lat": LAT + 0.0001,
        "entrances-0-in_use": "on",
    }
    response = admin_client.post(url("pollingplace", "add"), data)
    assert response.status_code == 302, response.context["errors"]
    place = PollingPlace.objects.get(county=county, code="P9")
    assert place.location.equals(Point(LON + 0.001, LAT))
    assert place.building is None
    assert place.bbox_west == LON + 0.001
    (main,) = place.entrances.all()
    assert main.location.equals(Point(LON + 0.001, LAT + 0.0001))
    page = admin_client.get(url("pollingplace", "change", place.pk)).content.decode()
    assert 'class="zone zone-campaigning"' in page


def test_polling_place_location_is_edited_as_longitude_and_latitude(admin_client, place):
    data = place_post(place, entrance_rows(place), lon=LON + 0.00002, lat=LAT + 0.00001)
    response = admin_client.post(url("pollingplace", "change", place.pk), data)
    assert response.status_code == 302
    place.refresh_from_db()
    assert (place.location.x, place.location.y) == (LON + 0.00002, LAT + 0.00001)
    assert (place.bbox_west, place.bbox_north) == (LON + 0.00002, LAT + 0.00001)


@pytest.mark.parametrize(("lon", "lat"), [(200, LAT), (LON, -91), ("nan", LAT), (LON, "inf"), ("", LAT), ("x", LAT)])
def test_an_entrance_with_a_bad_coordinate_is_refused_and_nothing_saved(admin_client, place, lon, lat):
    rows = entrance_rows(place)
    rows[1].update(lon=lon, lat=lat)
    rows[0]["name"] = "Renamed"
    response = admin_client.post(url("pollingplace", "change", place.pk), place_post(place, rows))
    assert response.status_code == 200
    (formset,) = response.context["inline_admin_formsets"]
    assert formset.formset.errors[1]
    assert sorted(place.entrances.values_list("name", flat=True)) == ["East door", "West door"]
    west = place.entrances.get(name="West door")
    assert (west.location.x, west.location.y) == (LON - 0.0001, LAT)


@pytest.mark.parametrize(
    ("lon", "lat", "field", "says"),
    [
        (200, LAT, "lon", "longitudes run from -180 to 180"),
        (LON, -91, "lat", "latitudes run from -90 to 90"),
        (LAT, LON, "__all__", "looks like latitude, longitude"),  # typed the wrong way round
        ("nan", LAT, "lon", "Enter a number"),
    ],
)
def test_a_bad_entrance_coordinate_is_explained(admin_client, place, lon, lat, field, says):
    data = {"polling_place": place.pk, "name": "Annex", "lon": lon, "lat": lat, "in_use": "on"}
    response = admin_client.post(url("entrance", "add"), data)
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert list(errors) == [field]
    assert says in errors[field][0]
    assert not place.entrances.filter(name="Annex").exists()


def test_a_new_entrance_is_added_on_its_own_page(admin_client, place):
    data = {"polling_place": place.pk, "name": "Annex", "lon": LON, "lat": LAT + 0.0001, "in_use": "on"}
    response = admin_client.post(url("entrance", "add"), data)
    assert response.status_code == 302
    annex = place.entrances.get(name="Annex")
    assert annex.location.equals(Point(LON, LAT + 0.0001))
    assert annex.in_use and not annex.accessible


# --- Query counts -----------------------------------------------------------------------------------------------


def make_rows(county: County, election: Election, start: int, n: int) -> None:
    for i in range(start, start + n):
        x = LON + (i % 10) * 0.002
        y = LAT + (i // 10) * 0.002
        precinct = Precinct.objects.create(
            county=county, code=f"Q{i:03}", name=f"Q {i}", boundary=box(x, y, x + 0.001, y + 0.001)
        )
        place = PollingPlace.objects.create(
            county=county, code=f"Q{i:03}", name=f"Q {i}", address="-", location=Point(x + 0.0005, y + 0.0005)
        )
        Entrance.objects.create(polling_place=place, name="Main", location=Point(x + 0.0005, y + 0.0004))
        PrecinctAssignment.objects.create(election=election, precinct=precinct, polling_place=place)


@pytest.mark.parametrize("model", ["precinct", "pollingplace", "county", "precinctassignment", "entrance"])
def test_changelist_queries_do_not_grow_with_rows_and_never_load_geometry_they_do_not_show(
    admin_client, county, election, model, django_assert_max_num_queries
):
    changelist = url(model, "changelist")
    params = {"county__jurisdiction__id__exact": county.jurisdiction_id}
    if model not in ("precinct", "pollingplace"):
        params = {}
    make_rows(county, election, 0, 3)
    with CaptureQueriesContext(connection) as few:
        admin_client.get(changelist, params)
    make_rows(county, election, 3, 30)
    with django_assert_max_num_queries(CHANGELIST_MAX_QUERIES), CaptureQueriesContext(connection) as many:
        response = admin_client.get(changelist, params)
    assert response.status_code == 200
    assert len(response.context["cl"].result_list) > 30 or model == "county"
    assert len(many) == len(few)
    shown = {"entrance": ['"location"']}.get(model, [])
    for query in many.captured_queries:
        for column in {'"boundary"', '"building"', '"location"'} - set(shown):
            assert column not in query["sql"], query["sql"]


def add_vote_centers(precinct: Precinct, start: int, n: int) -> None:
    for i in range(start, start + n):
        place = PollingPlace.objects.create(
            county=precinct.county,
            code=f"V{i}",
            name=f"Vote center {i}",
            address="-",
            location=Point(LON + i * 1e-3, LAT),
        )
        Entrance.objects.create(polling_place=place, name="Main", location=Point(LON + i * 1e-3, LAT + 1e-4))
        election = Election.objects.create(
            jurisdiction=precinct.county.jurisdiction, name=f"Election {i}", date=dt.date(2026, 1, 1 + i),
            polls_open=dt.time(7), polls_close=dt.time(19),
        )  # fmt: skip
        PrecinctAssignment.objects.create(election=election, precinct=precinct, polling_place=place)


def test_precinct_change_page_queries_do_not_grow_with_assigned_places_or_load_the_county_boundary(
    admin_client, precinct, django_assert_max_num_queries
):
    add_vote_centers(precinct, 0, 1)
    with CaptureQueriesContext(connection) as one:
        page = admin_client.get(url("precinct", "change", precinct.pk)).content.decode()
    assert page.count('class="place"') == 1
    add_vote_centers(precinct, 1, 5)
    with django_assert_max_num_queries(12), CaptureQueriesContext(connection) as six:
        page = admin_client.get(url("precinct", "change", precinct.pk)).content.decode()
    assert page.count('class="place"') == 4  # the four used most recently
    assert "Showing the 4 polling places used most recently." in page
    assert len(six) <= len(one)
    for query in six.captured_queries:
        assert '"polling_county"."boundary"' not in query["sql"], query["sql"]

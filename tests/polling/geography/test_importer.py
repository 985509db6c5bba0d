"""import_geography: idempotent upsert by code, all-or-nothing per run, errors that name feature index and field."""

from __future__ import annotations

import copy
import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
import shapely
from django.core.management import CommandError, call_command
from django.db import IntegrityError

from polling.geography import elections
from polling.geography.importer import GeographyImportError, import_geography
from polling.geography.importer import write as importer_write
from polling.geography.services import geography_version
from polling.models import County, Election, Entrance, PollingPlace, Precinct, PrecinctAssignment

pytestmark = pytest.mark.django_db

# A 0.1° square "county" near Jackson, MS, split into two precincts along lon -90.15.
W, S, E, N, MID = -90.2, 32.3, -90.1, 32.4, -90.15


def ring(w: float, s: float, e: float, n: float) -> list[list[float]]:
    return [[w, s], [e, s], [e, n], [w, n], [w, s]]


def feature(geometry: dict[str, Any] | None, **properties: Any) -> dict[str, Any]:
    return {"type": "Feature", "geometry": geometry, "properties": properties}


def collection(*features: dict[str, Any]) -> dict[str, Any]:
    return {"type": "FeatureCollection", "features": list(features)}


def counties_fc() -> dict[str, Any]:
    return collection(
        feature({"type": "Polygon", "coordinates": [ring(W, S, E, N)]}, fips="28049", name="Hinds", state="MS")
    )


def precincts_fc() -> dict[str, Any]:
    return collection(
        feature(
            {"type": "Polygon", "coordinates": [ring(W, S, MID, N)]}, county_fips="28049", code="0001", name="West"
        ),
        feature(
            {"type": "Polygon", "coordinates": [ring(MID, S, E, N)]}, county_fips="28049", code="0002", name="East"
        ),
    )


def places_fc() -> dict[str, Any]:
    return collection(
        feature(
            {"type": "Point", "coordinates": [-90.17, 32.35]},
            county_fips="28049",
            code="PP1",
            name="West Community Center",
            address="1 Main St, Jackson, MS 39201",
            precincts=["0001", "0002"],
            entrances=[
                {"name": "Main", "lon": -90.17, "lat": 32.35005, "accessible": True},
                {"name": "East door", "lon": -90.16995, "lat": 32.35, "accessible": False},
            ],
            building={"type": "Polygon", "coordinates": [ring(-90.1701, 32.3499, -90.1699, 32.3501)]},
            accessibility_notes="Ramp at the main entrance.",
        )
    )


@pytest.fixture
def write(tmp_path: Path):
    def _write(name: str, data: Any) -> Path:
        path = tmp_path / name
        path.write_text(data if isinstance(data, str) else json.dumps(data))
        return path

    return _write


@pytest.fixture
def election(mississippi):
    return Election.objects.create(
        jurisdiction=mississippi,
        name="General",
        date=dt.date.today() + dt.timedelta(days=30),
        polls_open=dt.time(7),
        polls_close=dt.time(19),
    )


@pytest.fixture
def files(write):
    return {
        "counties": write("counties.geojson", counties_fc()),
        "precincts": write("precincts.geojson", precincts_fc()),
        "polling_places": write("places.geojson", places_fc()),
    }


def snapshot() -> dict[str, Any]:
    return {
        "counties": sorted((c.fips, c.name, c.boundary.wkb) for c in County.objects.all()),
        "precincts": sorted((p.county_id, p.code, p.name, p.boundary.wkb) for p in Precinct.objects.all()),
        "places": sorted(
            (p.code, p.name, p.location.wkb, p.building and p.building.wkb) for p in PollingPlace.objects.all()
        ),
        "entrances": sorted((e.polling_place_id, e.name, e.location.wkb, e.accessible) for e in Entrance.objects.all()),
        "assignments": sorted(PrecinctAssignment.objects.values_list("election_id", "precinct_id", "polling_place_id")),
    }


def test_import_stores_everything_and_geometry_round_trips_exactly(files, election):
    result = import_geography(**files)

    assert result.created == {
        "counties": 1,
        "precincts": 2,
        "polling places": 1,
        "entrances": 2,
        "precinct assignments": 2,
    }
    county = County.objects.get(fips="28049")
    assert county.jurisdiction.code == "MS"
    assert shapely.equals_exact(county.boundary, shapely.Polygon(ring(W, S, E, N)), tolerance=0)
    assert (county.bbox_west, county.bbox_south, county.bbox_east, county.bbox_north) == (W, S, E, N)
    west = Precinct.objects.get(county=county, code="0001")
    assert west.name == "West"
    assert west.boundary.bounds == (W, S, MID, N)
    place = PollingPlace.objects.get(county=county, code="PP1")
    assert (place.lon, place.lat) == (-90.17, 32.35)
    assert place.building is not None and place.building.geom_type == "Polygon"
    assert place.accessibility_notes == "Ramp at the main entrance."
    doors = {e.name: e for e in place.entrances.all()}
    assert (doors["Main"].location.x, doors["Main"].location.y, doors["Main"].accessible) == (-90.17, 32.35005, True)
    assert set(PrecinctAssignment.objects.values_list("election_id", "precinct__code", "polling_place_id")) == {
        (election.pk, "0001", place.pk),
        (election.pk, "0002", place.pk),
    }


def test_a_second_run_of_the_same_files_changes_nothing(files, election):
    import_geography(**files)
    before, version = snapshot(), geography_version()

    result = import_geography(**files)

    zero = {"counties": 0, "precincts": 0, "polling places": 0, "entrances": 0, "precinct assignments": 0}
    assert result.created == zero and result.updated == zero
    assert result.unchanged == {
        "counties": 1,
        "precincts": 2,
        "polling places": 1,
        "entrances": 2,
        "precinct assignments": 2,
    }
    assert snapshot() == before
    assert geography_version() == version  # nothing changed: no process rebuilds its index


def test_an_import_that_changes_something_raises_the_geography_version(files, write, election):
    version = geography_version()
    import_geography(**files)
    assert geography_version() == version + 1


def test_a_precinct_dropped_from_a_polling_place_loses_that_assignment(files, write, election):
    import_geography(**files)
    places = places_fc()
    places["features"][0]["properties"]["precincts"] = ["0001"]

    result = import_geography(polling_places=write("pp2.geojson", places))

    assert set(PrecinctAssignment.objects.values_list("precinct__code", flat=True)) == {"0001"}
    assert result.deleted["precinct assignments"] == 1


def test_assignments_go_to_the_election_upcoming_in_the_state_s_own_time_zone(files, mississippi, monkeypatch):
    import zoneinfo

    from django.utils import timezone as dj_timezone

    # 01:00 UTC on 4 Nov is still 3 Nov, election day, in Mississippi (UTC-6).
    monkeypatch.setattr(dj_timezone, "now", lambda: dt.datetime(2026, 11, 4, 1, 0, tzinfo=dt.UTC))
    today = Election.objects.create(
        jurisdiction=mississippi,
        name="Today",
        date=dt.date(2026, 11, 3),
        polls_open=dt.time(7),
        polls_close=dt.time(19),
    )
    Election.objects.create(
        jurisdiction=mississippi,
        name="Later",
        date=dt.date(2026, 12, 1),
        polls_open=dt.time(7),
        polls_close=dt.time(19),
    )
    assert zoneinfo.ZoneInfo(mississippi.timezone)
    import_geography(**files)
    assert set(PrecinctAssignment.objects.values_list("election_id", flat=True)) == {today.pk}


def test_an_election_of_another_state_records_no_assignment_and_says_so(files, db):
    from polling.models import Jurisdiction

    alabama = Election.objects.create(
        jurisdiction=Jurisdiction.objects.get(code="AL"),
        name="AL",
        date=dt.date.today() + dt.timedelta(days=9),
        polls_open=dt.time(7),
        polls_close=dt.time(19),
    )
    result = import_geography(**files, election=alabama)
    assert PrecinctAssignment.objects.count() == 0
    assert any("not an election of these polling places' state" in w for w in result.warnings)


def test_upsert_updates_changed_rows_by_code_and_moves_the_bounding_box(files, write, election):
    import_geography(**files)
    county_id = County.objects.get().pk
    precincts = precincts_fc()
    precincts["features"][1]["properties"]["name"] = "East (renamed)"
    precincts["features"][1]["geometry"]["coordinates"] = [ring(MID, S, E, N - 0.01)]
    places = places_fc()
    places["features"][0]["properties"]["entrances"] = [
        {"name": "Main", "lon": -90.17, "lat": 32.3501, "accessible": True}
    ]

    result = import_geography(precincts=write("p2.geojson", precincts), polling_places=write("pp2.geojson", places))

    assert result.updated["precincts"] == 1 and result.unchanged["precincts"] == 1
    east = Precinct.objects.get(code="0002")
    assert east.county_id == county_id and east.name == "East (renamed)"
    assert east.bbox_north == N - 0.01
    assert Precinct.objects.get(code="0001").bbox_north == N
    assert list(Entrance.objects.values_list("name", flat=True)) == ["Main"]
    assert Entrance.objects.get().location.y == 32.3501
    assert result.deleted["entrances"] == 1


def test_without_an_upcoming_election_places_import_but_assignments_are_skipped_with_a_warning(files, mississippi):
    Election.objects.create(
        jurisdiction=mississippi, name="Past", date=dt.date(2020, 11, 3), polls_open=dt.time(7), polls_close=dt.time(19)
    )
    result = import_geography(**files)
    assert PollingPlace.objects.count() == 1
    assert PrecinctAssignment.objects.count() == 0
    assert any("no upcoming election" in w for w in result.warnings)


def test_an_explicit_election_receives_the_assignments(files, mississippi, election):
    later = Election.objects.create(
        jurisdiction=mississippi,
        name="Runoff",
        date=election.date + dt.timedelta(days=21),
        polls_open=dt.time(7),
        polls_close=dt.time(19),
    )
    import_geography(**files, election=later)
    assert set(PrecinctAssignment.objects.values_list("election_id", flat=True)) == {later.pk}


# --- All or nothing ---------------------------------------------------------------------------------------------


def test_one_bad_feature_in_the_last_file_stores_nothing_from_any_file(files, write, election):
    places = places_fc()
    places["features"][0]["properties"]["precincts"] = ["0001", "9999"]
    files["polling_places"] = write("bad.geojson", places)

    with pytest.raises(GeographyImportError) as caught:
        import_geography(**files)

    assert [str(i) for i in caught.value.issues] == [
        "bad.geojson: feature 0, field 'precincts[1]': no precinct '9999' exists in county 28049 or is being imported"
    ]
    assert snapshot() == {"counties": [], "precincts": [], "places": [], "entrances": [], "assignments": []}


def test_a_failure_while_writing_rolls_back_everything_already_written(files, election, monkeypatch):
    def fail(*args, **kwargs):
        raise IntegrityError("duplicate key value violates unique constraint (concurrent writer)")

    monkeypatch.setattr(importer_write, "_write_assignments", fail)

    with pytest.raises(GeographyImportError, match="integrity"):
        import_geography(**files)

    assert snapshot() == {"counties": [], "precincts": [], "places": [], "entrances": [], "assignments": []}


def test_a_failed_update_leaves_the_previous_import_intact(files, write, election):
    import_geography(**files)
    before = snapshot()
    precincts = precincts_fc()
    precincts["features"][0]["properties"]["name"] = "Changed"
    precincts["features"][1]["geometry"]["coordinates"][0][2] = [float("nan"), 32.4]
    with pytest.raises(GeographyImportError):
        import_geography(precincts=write("p.geojson", json.dumps(precincts)))
    assert snapshot() == before


def test_every_problem_is_reported_not_only_the_first(write, mississippi):
    bad = counties_fc()
    second = copy.deepcopy(bad["features"][0])
    second["properties"].update(fips="2804", name="")
    third = copy.deepcopy(bad["features"][0])
    third["properties"]["state"] = "ZZ"
    bad["features"] += [second, third]

    with pytest.raises(GeographyImportError) as caught:
        import_geography(counties=write("c.geojson", bad))

    where = [(i.index, i.field) for i in caught.value.issues]
    assert where == [(1, "fips"), (1, "name"), (2, "state"), (2, "fips")]


# --- Malformed files --------------------------------------------------------------------------------------------


def refused(**files: Path) -> list[tuple[int | None, str, str]]:
    """Run an import that must fail; assert it changed nothing at all and return its issues."""
    before = snapshot()
    with pytest.raises(GeographyImportError) as caught:
        import_geography(**files)
    assert snapshot() == before
    return [(i.index, i.field, i.message) for i in caught.value.issues]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{not json", "is not valid JSON (line 1, column 2"),
        ("[]", "must be a GeoJSON FeatureCollection"),
        ('{"type": "Feature"}', "must be a GeoJSON FeatureCollection"),
        ('{"type": "FeatureCollection", "features": {}}', "must be a list of Features"),
        ("[" * 100_000, "nested too deeply"),
    ],
)
def test_files_that_are_not_feature_collections_are_refused(write, mississippi, text, message):
    issues = refused(counties=write("c.geojson", text))
    assert len(issues) == 1 and issues[0][0] is None and message in issues[0][2]


def test_a_missing_file_is_named(tmp_path, mississippi):
    issues = refused(counties=tmp_path / "nope.geojson")
    assert issues[0][:2] == (None, "file") and "cannot be read" in issues[0][2]


def test_a_file_that_is_not_utf8_is_refused(write, tmp_path, mississippi):
    path = tmp_path / "latin1.geojson"
    path.write_bytes('{"type": "FeatureCollection", "features": [], "name": "Ñ"}'.encode("latin-1"))
    assert "UTF-8" in refused(counties=path)[0][2]


def county_with(geometry: Any = None, **props: Any) -> dict[str, Any]:
    fc = counties_fc()
    if geometry is not None:
        fc["features"][0]["geometry"] = geometry
    fc["features"][0]["properties"].update(props)
    return fc


@pytest.mark.parametrize(
    ("props", "field", "fragment"),
    [
        ({"fips": "2849"}, "fips", "exactly 5 digits"),
        ({"fips": 28049}, "fips", "must be a string"),
        ({"fips": "01001"}, "fips", "does not start with MS's state FIPS 28"),
        ({"name": None}, "name", "is required"),
        ({"name": "x" * 101}, "name", "at most 100"),
        ({"name": "Hinds\x00"}, "name", "NUL"),
        ({"state": "XX"}, "state", "not a known state"),
    ],
)
def test_bad_county_properties_name_the_feature_and_field(write, mississippi, props, field, fragment):
    issues = refused(counties=write("c.geojson", county_with(**props)))
    assert [(i[0], i[1]) for i in issues] == [(0, field)]
    assert fragment in issues[0][2]


@pytest.mark.parametrize(
    ("geometry", "field", "fragment"),
    [
        (None, "geometry", "is required"),
        ({"type": "Point", "coordinates": [-90.1, 32.3]}, "geometry", "Polygon"),
        ({"type": "Polygon", "coordinates": [[[W, S], [E, S], [E, N], [W, N]]]}, "geometry", "closed"),
        ({"type": "Polygon", "coordinates": [[[W, S], [E, S], [W, S]]]}, "geometry", "4"),
        (
            {"type": "Polygon", "coordinates": [[[W, S], [E, N], [E, S], [W, N], [W, S]]]},
            "geometry",
            "crosses itself near longitude -90.15",
        ),
        ({"type": "Polygon", "coordinates": [[[W, S], [200.0, S], [E, N], [W, S]]]}, "geometry", "ongitude"),
        ({"type": "Polygon", "coordinates": [[[W, S], [E, S], [E, 91.0], [W, S]]]}, "geometry", "atitude"),
        ({"type": "Polygon", "coordinates": [[[S, W], [S, E], [N, E], [S, W]]]}, "geometry", "lat"),
        ({"type": "Polygon", "coordinates": [[[W, S], [E, S], ["x", N], [W, S]]]}, "geometry", "number"),
        ({"type": "Polygon", "coordinates": []}, "geometry", "has no coordinates"),
    ],
)
def test_bad_county_geometry_is_refused_with_a_clear_message(write, mississippi, geometry, field, fragment):
    issues = refused(counties=write("c.geojson", county_with(geometry or {"type": "Polygon", "coordinates": []})))
    if geometry is None:
        fc = counties_fc()
        fc["features"][0]["geometry"] = None
        issues = refused(counties=write("c2.geojson", fc))
    assert len(issues) == 1, issues
    assert issues[0][0] == 0 and issues[0][1].startswith(field)
    assert fragment in issues[0][2], issues[0][2]


def test_nan_coordinates_are_refused_naming_the_position(write, mississippi):
    fc = county_with({"type": "Polygon", "coordinates": [ring(W, S, E, N)]})
    fc["features"][0]["geometry"]["coordinates"][0][2][0] = float("nan")
    issues = refused(counties=write("c.geojson", json.dumps(fc)))
    assert issues[0][0] == 0 and issues[0][1].startswith("geometry")
    assert "finite" in issues[0][2].lower() or "nan" in issues[0][2].lower()


def test_a_self_intersecting_boundary_is_repaired_only_when_asked(write, mississippi):
    bowtie = {"type": "Polygon", "coordinates": [[[W, S], [E, N], [E, S], [W, N], [W, S]]]}
    path = write("c.geojson", county_with(bowtie))
    refused(counties=path)

    import_geography(counties=path, repair=True)

    boundary = County.objects.get().boundary
    assert boundary.is_valid and boundary.geom_type == "MultiPolygon" and len(boundary.geoms) == 2


def test_a_precinct_in_an_unknown_county_or_duplicated_is_refused(write, mississippi):
    fc = precincts_fc()
    fc["features"].append(copy.deepcopy(fc["features"][0]))
    issues = refused(counties=write("c.geojson", counties_fc()), precincts=write("p.geojson", fc))
    assert [(i[0], i[1]) for i in issues] == [(2, "code")]
    assert "appears twice (also feature 0)" in issues[0][2]

    issues = refused(precincts=write("p.geojson", precincts_fc()))
    assert [(i[0], i[1]) for i in issues] == [(0, "county_fips"), (1, "county_fips")]


def test_lat_lon_order_is_detected_where_certain_by_range(write, mississippi):
    swapped = {"type": "Polygon", "coordinates": [[[lat, lon] for lon, lat in ring(W, S, E, N)]]}
    issues = refused(counties=write("c.geojson", county_with(swapped)))
    assert issues[0][0] == 0 and issues[0][1].startswith("geometry") and "lat" in issues[0][2]


def test_lat_lon_order_is_detected_against_the_county_when_both_orders_are_on_the_globe(write, mississippi):
    # Lauderdale County lies near lon -88.6: swapped, (32.35, -88.55) is a real place in Antarctica, so only the
    # county's location tells that the precinct's axes are swapped.
    east = collection(
        feature(
            {"type": "Polygon", "coordinates": [ring(-88.6, 32.3, -88.5, 32.4)]},
            fips="28075",
            name="Lauderdale",
            state="MS",
        )
    )
    import_geography(counties=write("c.geojson", east))
    swapped = [[[lat, lon] for lon, lat in ring(-88.6, 32.3, -88.55, 32.4)]]
    fc = collection(feature({"type": "Polygon", "coordinates": swapped}, county_fips="28075", code="1", name="A"))
    with pytest.raises(GeographyImportError) as caught:
        import_geography(precincts=write("p.geojson", fc))
    [issue] = caught.value.issues
    assert issue.index == 0 and issue.field.startswith("geometry") and "lat" in issue.message
    assert Precinct.objects.count() == 0


def places_with(**props: Any) -> dict[str, Any]:
    fc = places_fc()
    fc["features"][0]["properties"].update(props)
    return fc


@pytest.mark.parametrize(
    ("props", "field", "fragment"),
    [
        ({"precincts": "0001"}, "precincts", "list of precinct codes"),
        ({"precincts": ["0001", "0404"]}, "precincts[1]", "no precinct '0404'"),
        ({"entrances": {"name": "x"}}, "entrances", "must be a list"),
        ({"entrances": ["door"]}, "entrances[0]", "must be an object"),
        ({"entrances": [{"name": "A", "lon": "-90.17", "lat": 32.35}]}, "entrances[0].lon", "must be a number"),
        ({"entrances": [{"name": "A", "lon": True, "lat": 32.35}]}, "entrances[0].lon", "must be a number"),
        (
            {"entrances": [{"name": "A", "lon": -90.17, "lat": 32.35, "accessible": "yes"}]},
            "entrances[0].accessible",
            "true or false",
        ),
        ({"entrances": [{"name": "A", "lon": -90.17, "lat": 32.45}]}, "entrances[0]", "m from the polling place"),
        ({"entrances": [{"name": "A", "lon": -90.17, "lat": 95.0}]}, "entrances[0]", "atitude"),
        (
            {"entrances": [{"name": "A", "lon": -90.17, "lat": 32.35}, {"name": "A", "lon": -90.17, "lat": 32.35}]},
            "entrances[1].name",
            "used by two entrances",
        ),
        ({"building": {"type": "Point", "coordinates": [-90.17, 32.35]}}, "building", "Polygon"),
        ({"address": ""}, "address", "is required"),
    ],
)
def test_bad_polling_place_properties_name_the_feature_and_field(files, write, election, props, field, fragment):
    files["polling_places"] = write("pp.geojson", places_with(**props))
    issues = refused(**files)
    assert [i[1] for i in issues] == [field], issues
    assert issues[0][0] == 0 and fragment in issues[0][2]
    assert County.objects.count() == 0


def test_a_precinct_served_by_two_polling_places_is_refused(files, write, election):
    fc = places_fc()
    other = copy.deepcopy(fc["features"][0])
    other["properties"]["code"] = "PP2"
    other["properties"]["precincts"] = ["0002"]
    fc["features"].append(other)
    files["polling_places"] = write("pp.geojson", fc)
    issues = refused(**files)
    assert [(i[0], i[1]) for i in issues] == [(1, "precincts[0]")]
    assert "also listed by feature 0" in issues[0][2]


def test_a_polling_place_must_be_a_point(files, write, election):
    fc = places_fc()
    fc["features"][0]["geometry"] = {"type": "Polygon", "coordinates": [ring(W, S, E, N)]}
    files["polling_places"] = write("pp.geojson", fc)
    issues = refused(**files)
    assert (issues[0][0], issues[0][1]) == (0, "geometry") and "Point" in issues[0][2]


# --- The command ------------------------------------------------------------------------------------------------


def test_the_command_reports_counts(files, election, capsys):
    call_command(
        "import_geography",
        counties=str(files["counties"]),
        precincts=str(files["precincts"]),
        polling_places=str(files["polling_places"]),
        no_progress=True,
    )
    out = capsys.readouterr().out
    assert "counties: 1 created, 0 updated, 0 unchanged" in out
    assert "precincts: 2 created" in out
    assert "precinct assignments: 2 created, 0 updated, 0 unchanged (in General" in out
    assert "Import complete." in out


def test_the_command_fails_with_every_problem_and_imports_nothing(write, mississippi):
    bad = write("c.geojson", county_with(fips="28"))
    with pytest.raises(CommandError) as caught:
        call_command("import_geography", counties=str(bad), no_progress=True)
    assert "c.geojson: feature 0, field 'fips'" in str(caught.value)
    assert "nothing was imported" in str(caught.value)
    assert County.objects.count() == 0


def test_the_command_needs_at_least_one_file():
    with pytest.raises(CommandError, match="Nothing to import"):
        call_command("import_geography")


def test_the_command_refuses_an_unknown_election(files, db):
    with pytest.raises(CommandError, match="No election with id 999"):
        call_command("import_geography", counties=str(files["counties"]), election=999)


def test_next_general_election_day():
    assert elections.next_general_election_day(dt.date(2026, 11, 24)) == dt.date(2027, 11, 2)
    assert elections.next_general_election_day(dt.date(2026, 1, 1)) == dt.date(2026, 11, 3)
    assert elections.next_general_election_day(dt.date(2026, 11, 3)) == dt.date(2026, 11, 3)

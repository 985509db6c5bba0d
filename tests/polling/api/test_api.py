"""The public API: lookups, compliance verdicts with exact distances, GeoJSON, caching, throttling, bad input."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import transaction
from rest_framework.test import APIClient
from shapely.geometry import MultiPolygon, Point, box

from polling.geography.services import geography_version_bump
from polling.models import County, Jurisdiction, PrecinctAssignment
from tests.factories import (
    CountyFactory,
    ElectionFactory,
    EntranceFactory,
    PollingPlaceFactory,
    PrecinctFactory,
)
from tests.polling.api.geojson_checks import assert_feature, assert_feature_collection
from tests.public_geo import MID, WGS84, E, N, S, W, make_public_geo, towards

pytestmark = pytest.mark.django_db
FT = 0.3048


@pytest.fixture
def api():
    return APIClient()


@pytest.fixture
def geo(mississippi):
    return make_public_geo()


# --- lookup -----------------------------------------------------------------------------------------------------


def test_lookup_returns_precinct_county_election_and_polling_place(api, geo):
    response = api.get("/api/v1/lookup/", {"lat": 32.35, "lon": -90.18})
    assert response.status_code == 200
    body = response.json()
    assert body["precinct"] == {"id": geo["west"].pk, "code": "0001", "name": "West"}
    assert body["county"] == {"id": geo["county"].pk, "fips": "28049", "name": "Hinds"}
    assert body["election"]["id"] == geo["election"].pk
    place = body["polling_place"]
    assert (place["id"], place["code"], place["name"]) == (geo["place"].pk, "PP1", "West Center")
    assert [e["name"] for e in place["entrances"]] == ["Main", "Side"]


def test_a_point_on_the_shared_edge_resolves_to_one_precinct_deterministically(api, geo):
    answers = {api.get("/api/v1/lookup/", {"lat": 32.35, "lon": MID}).json()["precinct"]["code"] for _ in range(3)}
    assert answers == {"0001"}  # smallest (county FIPS, code) among the precincts that cover the point


def test_outside_every_precinct_is_404_no_precinct(api, geo):
    response = api.get("/api/v1/lookup/", {"lat": 30.0, "lon": -89.0})
    assert response.status_code == 404
    assert response.json() == {"detail": "No precinct contains this point.", "code": "no_precinct"}


def test_lookup_for_a_named_election_and_without_any_upcoming_one(api, geo, mississippi):
    past = ElectionFactory(name="Past", date=dt.date(2020, 11, 3))
    response = api.get("/api/v1/lookup/", {"lat": 32.35, "lon": -90.18, "election": past.pk})
    assert response.status_code == 200
    assert response.json()["election"]["id"] == past.pk and response.json()["polling_place"] is None

    response = api.get("/api/v1/lookup/", {"lat": 32.35, "lon": -90.18, "election": 999999})
    assert response.status_code == 404 and response.json()["code"] == "election_not_found"

    geo["election"].delete()
    body = api.get("/api/v1/lookup/", {"lat": 32.35, "lon": -90.18}).json()
    assert body["election"] is None and body["polling_place"] is None


def test_an_election_of_another_state_is_not_found_for_this_point(api, geo):
    alabama = ElectionFactory(jurisdiction=Jurisdiction.objects.get(code="AL"))
    response = api.get("/api/v1/lookup/", {"lat": 32.35, "lon": -90.18, "election": alabama.pk})
    assert response.status_code == 404 and response.json()["code"] == "election_not_found"


# --- compliance -------------------------------------------------------------------------------------------------


def geodesic_ft(lon, lat, entrance) -> float:
    return WGS84.Inverse(lat, lon, entrance.location.y, entrance.location.x)["s12"] / FT


@pytest.mark.parametrize(
    ("beyond_m", "campaigning", "loitering"), [(-0.005, "inside", "inside"), (0.005, "inside", "outside")]
)
def test_loitering_limit_is_decided_to_the_millimetre(api, geo, beyond_m, campaigning, loitering):
    door = geo["door"].location
    lon, lat = towards(door.x, door.y, 0, 30 * FT + beyond_m)  # due north, away from every other door
    body = api.get("/api/v1/compliance/", {"lat": repr(lat), "lon": repr(lon)}).json()
    statuses = {(z["polling_place"], z["activity"]): z["status"] for z in body["zones"]}
    assert statuses == {(geo["place"].pk, "campaigning"): campaigning, (geo["place"].pk, "loitering"): loitering}
    assert body["verdicts"] == {
        "campaigning": "prohibited",
        "loitering": "prohibited" if loitering == "inside" else "allowed",
    }
    assert body["verdict"] == "prohibited"
    loiter = next(z for z in body["zones"] if z["activity"] == "loitering")
    assert loiter["distance_ft"] == pytest.approx(geodesic_ft(lon, lat, geo["door"]), abs=0.01)
    assert loiter["limit_ft"] == 30.0 and loiter["citation"] == "Miss. Code 23-15-245"


def test_beyond_150_ft_is_allowed_and_the_distance_is_geodesic(api, geo):
    door = geo["door"].location
    lon, lat = towards(door.x, door.y, 0, 150 * FT + 0.01)
    body = api.get("/api/v1/compliance/", {"lat": repr(lat), "lon": repr(lon), "activity": "campaigning"}).json()
    assert body["verdict"] == "allowed" and list(body["verdicts"]) == ["campaigning"]
    [zone] = body["zones"]
    assert zone["status"] == "outside"
    assert zone["distance_ft"] == pytest.approx(geodesic_ft(lon, lat, geo["door"]), abs=0.005)


def test_gps_accuracy_straddling_the_limit_is_uncertain(api, geo):
    door = geo["door"].location
    lon, lat = towards(door.x, door.y, 0, 150 * FT + 3.0)
    body = api.get("/api/v1/compliance/", {"lat": lat, "lon": lon, "accuracy_m": 5, "activity": "campaigning"}).json()
    assert body["verdict"] == "uncertain" and body["zones"][0]["status"] == "uncertain"
    body = api.get("/api/v1/compliance/", {"lat": lat, "lon": lon, "accuracy_m": 2, "activity": "campaigning"}).json()
    assert body["verdict"] == "allowed"


def test_far_from_every_polling_place_lists_no_zone_and_allows(api, geo):
    body = api.get("/api/v1/compliance/", {"lat": 32.39, "lon": -90.11}).json()
    assert body["zones"] == [] and body["verdict"] == "allowed"
    assert body["verdicts"] == {"campaigning": "allowed", "loitering": "allowed"}


# --- GeoJSON ----------------------------------------------------------------------------------------------------


def test_precinct_list_is_a_valid_feature_collection_filtered_by_county_and_bbox(
    api, geo, django_assert_max_num_queries
):
    CountyFactory(fips="28001", name="Adams", boundary=box(-91.5, 31.4, -91.2, 31.7))
    with django_assert_max_num_queries(3):
        body = api.get("/api/v1/precincts/", {"county": "28049"}).json()
    assert_feature_collection(body)
    assert [(f["id"], f["properties"]["code"]) for f in body["features"]] == [
        (geo["west"].pk, "0001"),
        (geo["east"].pk, "0002"),
    ]
    assert body["features"][0]["properties"]["county"] == {"fips": "28049", "name": "Hinds"}

    body = api.get("/api/v1/precincts/", {"bbox": "-90.14,32.31,-90.12,32.32"}).json()
    assert [f["properties"]["code"] for f in body["features"]] == ["0002"]
    assert api.get("/api/v1/precincts/", {"county": "28001"}).json()["features"] == []


def test_precinct_lists_are_bounded_and_paginated(api, geo):
    for n in range(3, 8):
        PrecinctFactory(county=geo["county"], code=f"{n:04d}", boundary=box(W, S, W + 0.001 * n, S + 0.001))
    body = api.get("/api/v1/precincts/", {"limit": 3}).json()
    assert body["numberReturned"] == 3 and "next" in body
    second = api.get(body["next"].replace("http://testserver", "")).json()
    assert [f["properties"]["code"] for f in second["features"]] == ["0004", "0005", "0006"]
    last = api.get("/api/v1/precincts/", {"limit": 3, "offset": 6}).json()
    assert last["numberReturned"] == 1 and "next" not in last


def test_the_query_count_does_not_grow_with_the_number_of_features(api, geo, django_assert_max_num_queries):
    for n in range(3, 30):
        PrecinctFactory(county=geo["county"], code=f"{n:04d}", boundary=box(W, S, W + 0.001, S + 0.001))
        PollingPlaceFactory(county=geo["county"], code=f"X{n}")
    with django_assert_max_num_queries(3):
        api.get("/api/v1/precincts/")
    with django_assert_max_num_queries(4):
        api.get("/api/v1/polling-places/")


def test_simplification_in_metres_keeps_a_valid_smaller_boundary(api, geo):
    detailed = [(W + i * 0.0001, S + 0.00001 * (i % 2)) for i in range(500)] + [(MID, S), (MID, N), (W, N)]
    from shapely.geometry import Polygon

    geo["west"].boundary = Polygon(detailed)
    geo["west"].save()
    full = api.get(f"/api/v1/precincts/{geo['west'].pk}/").json()
    simple = api.get(f"/api/v1/precincts/{geo['west'].pk}/", {"simplify": 50}).json()
    assert_feature(full) and assert_feature(simple)
    assert len(simple["geometry"]["coordinates"][0]) < 20 < len(full["geometry"]["coordinates"][0])


def test_polling_place_features_say_what_kind_of_site_each_is(api, geo):
    place = geo["place"]
    assert api.get(f"/api/v1/polling-places/{place.pk}/").json()["properties"]["kinds"] == ["election_day"]
    place.is_early_voting = place.is_drop_box = True
    place.save()
    listed = api.get("/api/v1/polling-places/", {"county": "28049"}).json()["features"]
    assert [f["properties"]["kinds"] for f in listed] == [["election_day", "early_voting", "drop_box"]]


def test_polling_place_features_carry_entrances_as_imported(api, geo):
    body = api.get(f"/api/v1/polling-places/{geo['place'].pk}/").json()
    assert_feature(body)
    assert body["id"] == geo["place"].pk and body["properties"]["code"] == "PP1"
    door = geo["door"].location
    assert body["properties"]["entrances"][0] == {
        "name": "Main",
        "lon": round(door.x, 7),
        "lat": round(door.y, 7),
        "accessible": True,
        "in_use": True,
    }
    listing = api.get("/api/v1/polling-places/", {"county": "28049"}).json()
    assert_feature_collection(listing)
    assert [f["id"] for f in listing["features"]] == [geo["place"].pk]


def test_zones_are_one_polygon_per_rule_drawn_on_the_limit(api, geo):
    body = api.get(f"/api/v1/polling-places/{geo['place'].pk}/zones/").json()
    assert_feature_collection(body)
    props = [f["properties"] for f in body["features"]]
    assert [(p["activity"], p["distance_ft"], p["measured_from"], p["citation"]) for p in props] == [
        ("campaigning", 150.0, "entrance", "Miss. Code 23-15-895"),
        ("loitering", 30.0, "entrance", "Miss. Code 23-15-245"),
    ]
    entrances = [geo["door"].location, geo["side"].location]
    for feature in body["features"]:
        limit_m = feature["properties"]["distance_ft"] * FT
        for lon, lat in feature["geometry"]["coordinates"][0]:
            nearest = min(WGS84.Inverse(lat, lon, e.y, e.x)["s12"] for e in entrances)
            assert abs(nearest - limit_m) < 0.01


def test_zones_in_a_box_for_the_map(api, geo):
    body = api.get("/api/v1/zones/", {"bbox": f"{W},{S},{E},{N}"}).json()
    assert_feature_collection(body)
    assert {f["properties"]["activity"] for f in body["features"]} == {"campaigning", "loitering"}
    assert body["truncated"] is False
    assert api.get("/api/v1/zones/").json()["code"] == "missing_parameter"


def test_counties_are_listed_with_their_state(api, geo):
    body = api.get("/api/v1/counties/", {"simplify": 100}).json()
    assert_feature_collection(body)
    assert body["features"][0]["properties"] == {"code": "28049", "fips": "28049", "name": "Hinds", "state": "MS"}


def test_the_antimeridian_is_split_in_output_and_lookups_work_on_both_sides(api, db):
    alaska = Jurisdiction.objects.get(code="AK")
    west_half, east_half = box(179.9, 51.9, 180.0, 52.1), box(-180.0, 51.9, -179.9, 52.1)
    county = County.objects.create(
        jurisdiction=alaska, fips="02016", name="Aleutians West", boundary=MultiPolygon([west_half, east_half])
    )
    precinct = PrecinctFactory(county=county, code="A1", boundary=MultiPolygon([west_half, east_half]))
    place = PollingPlaceFactory(county=county, code="ADK", location=Point(179.99995, 52.0))
    EntranceFactory(polling_place=place, name="West door", location=Point(179.9999, 52.0))
    EntranceFactory(polling_place=place, name="East door", location=Point(-179.9999, 52.0))
    ElectionFactory(jurisdiction=alaska)

    for lon in (179.95, -179.95):
        assert api.get("/api/v1/lookup/", {"lat": 52.0, "lon": lon}).json()["precinct"]["code"] == "A1"
    feature = api.get(f"/api/v1/precincts/{precinct.pk}/").json()
    assert_feature(feature)
    zones = api.get(f"/api/v1/polling-places/{place.pk}/zones/").json()
    assert_feature_collection(zones)
    assert {f["geometry"]["type"] for f in zones["features"]} == {"MultiPolygon"}
    # A box across the antimeridian (west > east) finds them.
    assert [f["id"] for f in api.get("/api/v1/polling-places/", {"bbox": "179.5,51,-179.5,53"}).json()["features"]] == [
        place.pk
    ]
    lon, lat = towards(-179.9999, 52.0, 90, 5.0)
    body = api.get("/api/v1/compliance/", {"lat": lat, "lon": lon}).json()
    # Alaska has a 200 ft campaigning rule and no loitering rule.
    assert body["verdicts"] == {"campaigning": "prohibited", "loitering": "allowed"}


# --- freshness, caching, throttling -----------------------------------------------------------------------------


def test_a_geography_change_is_seen_by_the_next_request(api, geo):
    assert api.get("/api/v1/lookup/", {"lat": 32.35, "lon": -90.16}).json()["precinct"]["code"] == "0001"
    with transaction.atomic():
        geo["west"].boundary = box(W, S, -90.165, N)
        geo["west"].save()
        geo["east"].boundary = box(-90.165, S, E, N)
        geo["east"].save()
        geography_version_bump()
    assert api.get("/api/v1/lookup/", {"lat": 32.35, "lon": -90.16}).json()["precinct"]["code"] == "0002"


def test_geography_responses_carry_an_etag_and_answer_304_until_the_geography_changes(api, geo):
    first = api.get("/api/v1/precincts/", {"county": "28049"})
    etag = first.headers["ETag"]
    assert first.headers["Cache-Control"] == "public, max-age=60"
    again = api.get("/api/v1/precincts/", {"county": "28049"}, HTTP_IF_NONE_MATCH=etag)
    assert again.status_code == 304 and again.content == b""
    with transaction.atomic():
        geography_version_bump()
    changed = api.get("/api/v1/precincts/", {"county": "28049"}, HTTP_IF_NONE_MATCH=etag)
    assert changed.status_code == 200 and changed.headers["ETag"] != etag


def test_anonymous_clients_are_throttled_and_forged_forwarded_for_headers_do_not_help(api, geo, settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"public": "3/minute"}}
    for n in range(3):
        assert (
            api.get("/api/v1/compliance/", {"lat": 32.3, "lon": -90.1}, HTTP_X_FORWARDED_FOR=f"10.0.0.{n}").status_code
            == 200
        )
    response = api.get("/api/v1/lookup/", {"lat": 32.35, "lon": -90.18}, HTTP_X_FORWARDED_FOR="203.0.113.9")
    assert response.status_code == 429
    assert response.json()["code"] == "throttled" and response.json()["retry_after_s"] > 0


# --- bad input --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/api/v1/lookup/", "/api/v1/compliance/"])
@pytest.mark.parametrize(
    ("query", "code", "field"),
    [
        ({"lon": "-90.1"}, "missing_parameter", "lat"),
        ({"lat": "32.3"}, "missing_parameter", "lon"),
        ({"lat": "", "lon": "-90.1"}, "missing_parameter", "lat"),
        ({"lat": "abc", "lon": "-90.1"}, "not_a_number", "lat"),
        ({"lat": "32,3", "lon": "-90.1"}, "not_a_number", "lat"),
        ({"lat": "NaN", "lon": "-90.1"}, "not_finite", "lat"),
        ({"lat": "32.3", "lon": "inf"}, "not_finite", "lon"),
        ({"lat": "-Infinity", "lon": "-90.1"}, "not_finite", "lat"),
        ({"lat": "1e400", "lon": "-90.1"}, "not_finite", "lat"),
        ({"lat": "90.0001", "lon": "-90.1"}, "lat_out_of_range", "lat"),
        ({"lat": "-90.1", "lon": "32.3"}, "lat_out_of_range", "lat"),
        ({"lat": "32.3", "lon": "180.5"}, "lon_out_of_range", "lon"),
        ({"lat": ["32.3", "33"], "lon": "-90.1"}, "repeated_parameter", "lat"),
    ],
)
def test_bad_coordinates_are_400_with_a_stable_code(api, geo, path, query, code, field):
    response = api.get(path, query)
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == code and body["detail"] and field in body["errors"]


def test_swapped_coordinates_get_a_hint(api, geo):
    body = api.get("/api/v1/lookup/", {"lat": "-90.1", "lon": "32.3"}).json()
    assert "swapped" in body["detail"]


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ({"accuracy_m": "-1"}, "accuracy_out_of_range"),
        ({"accuracy_m": "1e9"}, "accuracy_out_of_range"),
        ({"accuracy_m": "nan"}, "not_finite"),
        ({"accuracy_m": "five"}, "not_a_number"),
        ({"activity": "parading"}, "invalid_activity"),
    ],
)
def test_bad_compliance_options_are_400(api, geo, query, code):
    response = api.get("/api/v1/compliance/", {"lat": 32.3, "lon": -90.1, **query})
    assert response.status_code == 400 and response.json()["code"] == code


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ({"bbox": "1,2,3"}, "invalid_bbox"),
        ({"bbox": "a,b,c,d"}, "invalid_bbox"),
        ({"bbox": "-91,nan,-90,33"}, "invalid_bbox"),
        ({"bbox": "-91,33,-90,32"}, "bbox_inverted"),
        ({"bbox": "-91,32,-90,95"}, "bbox_out_of_range"),
        ({"bbox": "-200,32,-90,33"}, "bbox_out_of_range"),
        ({"bbox": "-130,20,-60,50"}, "bbox_too_large"),
        ({"county": "2849"}, "invalid_county"),
        ({"county": "28O49"}, "invalid_county"),
        ({"limit": "0"}, "invalid_limit"),
        ({"limit": "100000"}, "invalid_limit"),
        ({"limit": "-1"}, "invalid_limit"),
        ({"offset": "x"}, "invalid_offset"),
        ({"simplify": "-5"}, "invalid_simplify"),
        ({"simplify": "1e12"}, "invalid_simplify"),
    ],
)
def test_bad_list_filters_are_400(api, geo, query, code):
    response = api.get("/api/v1/precincts/", query)
    assert response.status_code == 400 and response.json()["code"] == code


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/precincts/999999/",
        "/api/v1/polling-places/999999/",
        "/api/v1/polling-places/999999/zones/",
        "/api/v1/precincts/abc/",
        "/api/v1/precincts/-1/",
        "/api/v1/precincts/99999999999999999999999/",
        "/api/v1/nothing-here/",
    ],
)
def test_unknown_ids_and_paths_are_json_404(api, geo, path):
    response = api.get(path)
    assert response.status_code == 404
    assert response.json()["code"] == "not_found" and response.json()["detail"]


def test_a_very_long_query_string_is_refused_before_any_view(api, geo):
    response = api.get("/api/v1/lookup/?lat=32.3&lon=-90.1&pad=" + "x" * 5000)
    assert response.status_code == 414 and response.json()["code"] == "query_too_long"


@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
def test_the_public_api_is_read_only(api, geo, method):
    response = getattr(api, method)("/api/v1/lookup/?lat=32.3&lon=-90.1", {}, format="json")
    assert response.status_code == 405 and response.json()["code"] == "method_not_allowed"
    assert PrecinctAssignment.objects.count() == 2


# --- schema and docs --------------------------------------------------------------------------------------------


def test_the_openapi_schema_is_valid_and_lists_every_public_path(api, db):
    from django.core.management import call_command

    call_command("spectacular", "--validate", "--fail-on-warn", "--file", "/dev/null")
    schema = api.get("/api/v1/schema/", HTTP_ACCEPT="application/json").json()
    assert schema["openapi"].startswith("3.")
    for path in [
        "/api/v1/lookup/",
        "/api/v1/compliance/",
        "/api/v1/precincts/",
        "/api/v1/precincts/{id}/",
        "/api/v1/polling-places/",
        "/api/v1/polling-places/{id}/",
        "/api/v1/polling-places/{id}/zones/",
    ]:
        assert path in schema["paths"], path


def test_the_interactive_docs_are_served_from_local_static_files(api, db):
    html = api.get("/api/docs/").content.decode()
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in html
    assert "cdn." not in html and "unpkg" not in html and "jsdelivr" not in html


# --- review follow-ups ------------------------------------------------------------------------------------------


def test_an_approximate_zone_never_yields_allowed(api, geo):
    # Hawaii-style rule measured from a parcel we do not map: the zone is drawn from the point and may be too small.
    from polling.models import BufferRule

    BufferRule.objects.filter(jurisdiction__code="MS", activity="campaigning").update(measured_from="parcel")
    lon, lat = towards(-90.17, 32.35, 180, 60.0)  # 60 m south of the point: outside a 150 ft circle around it
    body = api.get("/api/v1/compliance/", {"lat": lat, "lon": lon, "activity": "campaigning"}).json()
    [zone] = body["zones"]
    assert zone["approximate"] is True and zone["status"] == "outside"
    assert body["verdict"] == "uncertain"


def test_outside_every_mapped_precinct_the_answer_is_uncertain_not_allowed(api, geo):
    body = api.get("/api/v1/compliance/", {"lat": 30.0, "lon": -89.0}).json()
    assert body["zones"] == [] and body["covered"] is False
    assert body["verdict"] == "uncertain"
    assert api.get("/api/v1/compliance/", {"lat": 32.39, "lon": -90.11}).json()["covered"] is True


def test_a_zone_that_cannot_be_drawn_is_reported_in_its_feature_not_as_a_server_error(api, geo):
    far = geo["place"]
    far.building = box(-90.17, 32.40, -90.169, 32.401)  # ~5.5 km north of the point: bypasses clean() on purpose
    far.save()
    from polling.models import BufferRule

    BufferRule.objects.filter(jurisdiction__code="MS", activity="campaigning").update(measured_from="building")
    response = api.get(f"/api/v1/polling-places/{far.pk}/zones/")
    assert response.status_code == 200
    features = {f["properties"]["activity"]: f for f in response.json()["features"]}
    assert features["campaigning"]["geometry"] is None
    assert features["campaigning"]["properties"]["error"]["code"] == "zone_too_large"
    assert features["loitering"]["geometry"]["type"] in {"Polygon", "MultiPolygon"}
    assert api.get("/api/v1/zones/", {"bbox": f"{W},{S},{E},{N}"}).status_code == 200


@pytest.mark.parametrize("value", ["\u00b2", "\u0661", "1_0", "\uff11"])
def test_unicode_digits_are_not_numbers(api, geo, value):
    assert (
        api.get("/api/v1/lookup/", {"lat": 32.3, "lon": -90.18, "election": value}).json()["code"] == "invalid_election"
    )
    assert api.get("/api/v1/lookup/", {"lat": value, "lon": -90.18}).json()["code"] == "not_a_number"


def test_the_lookup_etag_changes_when_the_default_election_does(api, geo, monkeypatch):
    from django.utils import timezone as dj_timezone

    first = api.get("/api/v1/lookup/", {"lat": 32.35, "lon": -90.18})
    after = geo["election"].date + dt.timedelta(days=1)
    monkeypatch.setattr(dj_timezone, "now", lambda: dt.datetime.combine(after, dt.time(18), tzinfo=dt.UTC))
    later = api.get("/api/v1/lookup/", {"lat": 32.35, "lon": -90.18}, HTTP_IF_NONE_MATCH=first.headers["ETag"])
    assert later.status_code == 200 and later.json()["election"] is None
    assert later.headers["ETag"] != first.headers["ETag"]


def test_if_none_match_star_and_strong_tags_match_a_valid_request(api, geo):
    etag = api.get("/api/v1/precincts/", {"county": "28049"}).headers["ETag"]
    assert api.get("/api/v1/precincts/", {"county": "28049"}, HTTP_IF_NONE_MATCH="*").status_code == 304
    strong = etag.removeprefix("W/")
    assert api.get("/api/v1/precincts/", {"county": "28049"}, HTTP_IF_NONE_MATCH=strong).status_code == 304
    assert api.get("/api/v1/precincts/", {"county": "2849"}, HTTP_IF_NONE_MATCH="*").status_code == 400


def test_ipv6_clients_are_throttled_per_64_prefix(api, geo, settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"public": "2/minute"}}
    for suffix in ("1", "2"):
        assert api.get("/api/v1/counties/", REMOTE_ADDR=f"2001:db8:1:2::{suffix}").status_code == 200
    assert api.get("/api/v1/counties/", REMOTE_ADDR="2001:db8:1:2:ffff::3").status_code == 429
    assert api.get("/api/v1/counties/", REMOTE_ADDR="2001:db8:1:3::1").status_code == 200

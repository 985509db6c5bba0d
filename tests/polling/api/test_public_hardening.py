"""An anonymous client against GET /api/v1/lookup/ and GET /api/v1/elections/: bad and repeated input is a JSON 4xx,
another state's election or another county's places never show, ORM changes show at once, kept answers do not grow."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from rest_framework.test import APIClient
from shapely.geometry import Point, box

from polling.geography import spatial
from polling.models import LocationHours, VoteCenter
from tests.factories import ElectionFactory, PollingPlaceFactory, PrecinctAssignmentFactory, PrecinctFactory

pytestmark = pytest.mark.django_db
AT = {"lon": -90.17, "lat": 32.35}
NOON = dt.datetime(2026, 11, 3, 18, 0, tzinfo=dt.UTC)


@pytest.fixture
def api():
    return APIClient()


@pytest.fixture
def precinct(county):
    return PrecinctFactory(county=county, code="0101", boundary=box(-90.3, 32.2, -90.0, 32.5))


@pytest.fixture
def november(mississippi):
    return ElectionFactory(jurisdiction=mississippi, name="General", date=dt.date(2026, 11, 3))


def assert_4xx_json(response, status=400):
    assert response.status_code == status, (response.status_code, response.content[:300])
    body = response.json()
    assert body["detail"] and body["code"], body


BAD = [
    {"lat": "nan", "lon": "-90.17"},
    {"lat": "32.35", "lon": "inf"},
    {"lat": "1e309", "lon": "-90.17"},
    {"lat": "32.35", "lon": "-1e309"},
    {"lat": "91", "lon": "-90.17"},
    {"lat": "32.35", "lon": "180.0000001"},
    {"lat": "32.35", "lon": "0x10"},
    {"lat": "32.35", "lon": "-90.17", "election": "0"},
    {"lat": "32.35", "lon": "-90.17", "election": "-1"},
    {"lat": "32.35", "lon": "-90.17", "election": "9223372036854775808"},
    {"lat": "32.35", "lon": "-90.17", "election": "1e3"},
    {"lat": "32.35", "lon": "-90.17", "election": "\u0661"},
    {"lat": "32.35", "lon": "-90.17", "election": "1 "},
    {"lat": "32.35\x00", "lon": "-90.17"},
    {"lat": "3" * 1500, "lon": "-90.17"},
]


@time_machine.travel(NOON, tick=False)
@pytest.mark.parametrize("params", BAD)
def test_lookup_bad_input_is_a_json_400(api, county, precinct, november, params):
    response = api.get("/api/v1/lookup/", params)
    assert 400 <= response.status_code < 500, (response.status_code, response.content[:300])
    assert response.json()["code"]


@time_machine.travel(NOON, tick=False)
def test_lookup_repeated_election_is_refused_like_repeated_coordinates(api, county, precinct, november, mississippi):
    other = ElectionFactory(jurisdiction=mississippi, name="Runoff", date=dt.date(2026, 12, 1))
    response = api.get(f"/api/v1/lookup/?lat=32.35&lon=-90.17&election={november.pk}&election={other.pk}")
    assert_4xx_json(response)


@time_machine.travel(NOON, tick=False)
def test_lookup_an_election_of_another_state_is_404_not_its_data(api, county, precinct, november, alabama):
    foreign = ElectionFactory(jurisdiction=alabama, name="Alabama General", date=dt.date(2026, 11, 3))
    response = api.get("/api/v1/lookup/", {**AT, "election": foreign.pk})
    assert_4xx_json(response, 404)
    assert "Alabama" not in response.content.decode()


@time_machine.travel(NOON, tick=False)
def test_lookup_never_lists_a_place_of_another_county(api, county, other_county, precinct, november):
    foreign_center = PollingPlaceFactory(county=other_county, code="FOREIGN", location=Point(-90.17, 32.35))
    VoteCenter.objects.create(election=november, polling_place=foreign_center)
    foreign_box = PollingPlaceFactory(county=other_county, code="FBOX", is_drop_box=True, location=Point(-90.1, 32.3))
    LocationHours.objects.create(
        polling_place=foreign_box,
        election=november,
        date=dt.date(2026, 11, 2),
        opens=dt.time(8),
        closes=dt.time(17),
        timezone="America/Chicago",
    )
    body = api.get("/api/v1/lookup/", AT).json()
    assert {p["code"] for p in body["places"]} == set(), body


@time_machine.travel(NOON, tick=False)
def test_lookup_sees_an_orm_change_at_once(api, county, precinct, november):
    place = PollingPlaceFactory(county=county, code="A", location=Point(-90.16, 32.35))
    assignment = PrecinctAssignmentFactory(election=november, precinct=precinct, polling_place=place)
    first = api.get("/api/v1/lookup/", AT)
    assert first.json()["polling_place"]["id"] == place.pk
    etag = first["ETag"]
    hours = LocationHours.objects.create(
        polling_place=place,
        election=november,
        date=november.date,
        opens=dt.time(6),
        closes=dt.time(20),
        timezone="America/Chicago",
    )
    second = api.get("/api/v1/lookup/", AT, HTTP_IF_NONE_MATCH=etag)
    assert second.status_code == 200
    assert second.json()["places"][0]["hours"][0]["opens"] == "06:00"
    hours.delete()
    november.polls_open = dt.time(8)
    november.save()
    third = api.get("/api/v1/lookup/", AT).json()
    assert third["election"]["polls_open"] == "08:00" and third["places"][0]["hours"][0]["opens"] == "08:00"
    place.name = "Renamed"
    place.save()
    assert api.get("/api/v1/lookup/", AT).json()["polling_place"]["name"] == "Renamed"
    assignment.delete()
    assert api.get("/api/v1/lookup/", AT).json()["polling_place"] is None


@time_machine.travel(NOON, tick=False)
def test_lookup_if_none_match_star_on_a_bad_request_is_not_304(api, county, precinct, november):
    response = api.get("/api/v1/lookup/", {"lat": "nan", "lon": "1"}, HTTP_IF_NONE_MATCH="*")
    assert response.status_code == 400
    response = api.get("/api/v1/lookup/", {**AT, "election": 999999}, HTTP_IF_NONE_MATCH="*")
    assert response.status_code == 404


@time_machine.travel(NOON, tick=False)
def test_lookup_memo_does_not_grow_with_distinct_points_or_query_spellings(api, county, precinct, november):
    api.get("/api/v1/lookup/", AT)
    index = spatial.current_index()
    before = len(index._memo)
    for i in range(200):
        api.get("/api/v1/lookup/", {"lat": f"{32.21 + i * 0.001:.6f}", "lon": "-90.17"})
        api.get(f"/api/v1/lookup/?lat=32.35&lon=-90.17&election={'0' * (i % 10)}{november.pk}")
        api.get("/api/v1/lookup/", {**AT, "election": 10_000 + i})
    assert len(spatial.current_index()._memo) - before <= 2


@pytest.mark.parametrize(
    "query",
    [
        "?limit=0",
        "?limit=501",
        "?limit=-1",
        "?offset=-1",
        "?offset=1e3",
        "?offset=9999999999",
        "?limit=1&limit=2",
        "?state=M",
        "?state=MSS",
        "?state=M%00",
        "?state=ZZ",
        "?state=ms&state=al",
        "?state=%C4%B1s",
    ],
)
def test_elections_bad_params_are_json_4xx(api, mississippi, november, query):
    response = api.get("/api/v1/elections/" + query)
    assert 400 <= response.status_code < 500, (query, response.status_code, response.content[:300])
    assert response.json()["code"]


def test_elections_deep_offset_and_next_link(api, mississippi, alabama, november):
    for i in range(3):
        ElectionFactory(jurisdiction=alabama, name=f"E{i}", date=dt.date(2026, 5, 1 + i))
    body = api.get("/api/v1/elections/?limit=1&offset=999999999").json()
    assert body["results"] == []
    body = api.get("/api/v1/elections/?limit=1&foo=<script>", HTTP_HOST="evil.example").status_code
    assert body == 400

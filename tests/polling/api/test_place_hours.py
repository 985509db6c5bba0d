"""Polling places as the map shows them in an election: `?election=` gives each place its hours in it (its own dated
openings, and the polls' hours on election day where it serves then) and whether it is a vote center, in a fixed
number of queries; without it the features are as before; a bad or unknown election is refused."""

from __future__ import annotations

import datetime as dt

import pytest
from rest_framework.test import APIClient
from shapely.geometry import Point

from polling.models import Jurisdiction, LocationHours, VoteCenter
from tests.factories import CountyFactory, ElectionFactory, PollingPlaceFactory
from tests.public_geo import make_early_voting_geo

pytestmark = pytest.mark.django_db
PLACES = "/api/v1/polling-places/"


@pytest.fixture
def api():
    return APIClient()


@pytest.fixture
def geo(mississippi):
    # Open across the change back from daylight saving time (1 November 2026 in Chicago).
    geo = make_early_voting_geo((dt.date(2026, 10, 31), dt.date(2026, 11, 2)))
    election = geo["election"]
    center = PollingPlaceFactory(county=geo["county"], code="VC1", name="Center", location=Point(-90.11, 32.31))
    VoteCenter.objects.create(election=election, polling_place=center)
    idle = PollingPlaceFactory(county=geo["county"], code="IDLE", name="Unused", location=Point(-90.13, 32.39))
    return {**geo, "center": center, "idle": idle}


def _by_code(body) -> dict[str, dict]:
    return {f["properties"]["code"]: f["properties"] for f in body["features"]}


def test_each_place_carries_its_hours_in_the_election_asked(api, geo):
    body = api.get(PLACES, {"election": geo["election"].pk}).json()
    places = _by_code(body)

    assert [(h["date"], h["opens"], h["closes"]) for h in places["EV1"]["hours"]] == [
        ("2026-10-31", "08:00", "17:00"),
        ("2026-11-02", "08:00", "17:00"),
    ]
    # The same wall-clock hours on either side of the change, at different UTC offsets.
    assert [h["starts_at"] for h in places["EV1"]["hours"]] == [
        "2026-10-31T08:00:00-05:00",
        "2026-11-02T08:00:00-06:00",
    ]
    # An assigned election-day site and a vote center keep the polls' hours on election day.
    for code in ("PP1", "VC1"):
        assert [(h["date"], h["opens"], h["closes"], h["timezone"]) for h in places[code]["hours"]] == [
            ("2026-11-03", "07:00", "19:00", "America/Chicago")
        ]
    assert places["IDLE"]["hours"] == []  # serves no one in this election
    assert {code: p["vote_center"] for code, p in places.items()} == {
        "PP1": False,
        "EV1": False,
        "VC1": True,
        "IDLE": False,
    }
    assert {p["election"] for p in places.values()} == {geo["election"].pk}


def test_the_detail_carries_them_too_and_nothing_changes_without_an_election(api, geo):
    one = api.get(f"{PLACES}{geo['center'].pk}/", {"election": geo["election"].pk}).json()
    plain = api.get(f"{PLACES}{geo['center'].pk}/").json()
    listed = _by_code(api.get(PLACES).json())

    assert one["properties"]["vote_center"] is True and len(one["properties"]["hours"]) == 1
    assert not {"hours", "vote_center", "election"} & set(plain["properties"])
    assert not {"hours", "vote_center", "election"} & set(listed["VC1"])


def test_another_states_election_gives_no_hours(api, geo):
    california = Jurisdiction.objects.get(code="CA")
    other = ElectionFactory(jurisdiction=california, name="California General", date=dt.date(2026, 11, 3))

    places = _by_code(api.get(PLACES, {"election": other.pk}).json())

    assert {code: (p["hours"], p["vote_center"]) for code, p in places.items()} == dict.fromkeys(places, ([], False))


def test_the_queries_do_not_grow_with_the_places(api, geo, django_assert_max_num_queries):
    for i in range(20):
        place = PollingPlaceFactory(county=geo["county"], code=f"X{i}", location=Point(-90.15 + i / 1000, 32.33))
        LocationHours.objects.create(
            polling_place=place,
            election=geo["election"],
            date=dt.date(2026, 11, 3),
            opens=dt.time(6),
            closes=dt.time(20),
            timezone="America/Chicago",
        )
    other = CountyFactory(fips="28089", name="Madison")
    PollingPlaceFactory(county=other, code="M1", location=Point(-90.05, 32.45))

    with django_assert_max_num_queries(12):
        body = api.get(PLACES, {"election": geo["election"].pk}).json()

    assert len(body["features"]) == 25


@pytest.mark.parametrize(
    ("value", "status", "code"),
    [("abc", 400, "invalid_election"), ("0", 400, "invalid_election"), ("999999", 404, "election_not_found")],
)
def test_a_bad_or_unknown_election_is_refused(api, geo, value, status, code):
    for path in (PLACES, f"{PLACES}{geo['place'].pk}/"):
        response = api.get(path, {"election": value})
        assert response.status_code == status and response.json()["code"] == code

"""``GET /api/v1/lookup/`` lists the places that serve the precinct in the election: the assigned place (still also
``polling_place``) or every vote center of the county nearest first, then early-voting sites and drop boxes open for
the election, each with its kinds, hours in local time, distance from the point and whether it is open now (part
of the ETag: a client revalidating when a site opens or closes gets the new answer)."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from geographiclib.geodesic import Geodesic
from rest_framework.test import APIClient
from shapely.geometry import Point, box

from polling.models import LocationHours, VoteCenter
from tests.factories import ElectionFactory, PollingPlaceFactory, PrecinctAssignmentFactory, PrecinctFactory

pytestmark = pytest.mark.django_db
AT = {"lon": -90.17, "lat": 32.35}


@pytest.fixture
def api():
    return APIClient()


@pytest.fixture
def precinct(county):
    return PrecinctFactory(county=county, code="0101", boundary=box(-90.3, 32.2, -90.0, 32.5))


@pytest.fixture
def november(mississippi):
    """Election day Tuesday 3 November 2026 (polls 07:00-19:00); the clocks go back on Sunday 1 November."""
    return ElectionFactory(jurisdiction=mississippi, name="General", date=dt.date(2026, 11, 3))


def hours(place, election, date, opens, closes):
    row = LocationHours(polling_place=place, election=election, date=date, opens=opens, closes=closes)
    row.full_clean()
    row.save()


def lookup(api, **extra):
    response = api.get("/api/v1/lookup/", {**AT, **extra})
    assert response.status_code == 200, response.content
    return response


@time_machine.travel(dt.datetime(2026, 11, 3, 18, 0, tzinfo=dt.UTC), tick=False)  # noon in Jackson
def test_an_assigned_precinct_lists_its_place_open_now_with_the_election_hours(api, county, precinct, november):
    place = PollingPlaceFactory(county=county, code="A", location=Point(-90.16, 32.35))
    PrecinctAssignmentFactory(election=november, precinct=precinct, polling_place=place)
    body = lookup(api).json()
    assert body["polling_place"]["id"] == place.pk
    (served,) = body["places"]
    assert served["id"] == place.pk and served["kinds"] == ["election_day"] and served["vote_center"] is False
    assert served["open_now"] is True
    assert served["hours"] == [
        {
            "date": "2026-11-03",
            "opens": "07:00",
            "closes": "19:00",
            "timezone": "America/Chicago",
            "starts_at": "2026-11-03T07:00:00-06:00",
            "ends_at": "2026-11-03T19:00:00-06:00",
        }
    ]
    expected = Geodesic.WGS84.Inverse(32.35, -90.17, 32.35, -90.16)["s12"]
    assert served["distance_m"] == pytest.approx(expected, abs=0.05)


@time_machine.travel(dt.datetime(2026, 11, 3, 18, 0, tzinfo=dt.UTC), tick=False)
def test_a_vote_center_county_lists_every_center_nearest_first_and_no_single_place(api, county, precinct, november):
    far = PollingPlaceFactory(county=county, code="FAR", location=Point(-90.0, 32.35))
    near = PollingPlaceFactory(county=county, code="NEAR", location=Point(-90.171, 32.35))
    unlocated = PollingPlaceFactory(county=county, code="ADDR", location=None)
    for place in (far, near, unlocated):
        VoteCenter.objects.create(election=november, polling_place=place)
    body = lookup(api).json()
    assert body["polling_place"] is None
    assert [p["code"] for p in body["places"]] == ["NEAR", "FAR", "ADDR"]
    assert all(p["vote_center"] and p["kinds"] == ["election_day"] for p in body["places"])
    assert body["places"][2]["lon"] is None and body["places"][2]["distance_m"] is None
    # Another point of the same precinct: the order follows the voter.
    moved = lookup(api, lon=-90.01, lat=32.35).json()
    assert [p["code"] for p in moved["places"]] == ["FAR", "NEAR", "ADDR"]


def test_early_voting_sites_and_drop_boxes_follow_with_their_own_hours_across_the_clock_change(
    api, county, precinct, november
):
    place = PollingPlaceFactory(county=county, code="A", location=Point(-90.16, 32.35))
    PrecinctAssignmentFactory(election=november, precinct=precinct, polling_place=place)
    early = PollingPlaceFactory(
        county=county, code="EV", location=Point(-90.15, 32.35), is_election_day=False, is_early_voting=True
    )
    box_site = PollingPlaceFactory(
        county=county, code="BOX", location=Point(-90.14, 32.35), is_election_day=False, is_drop_box=True
    )
    hours(early, november, dt.date(2026, 10, 31), dt.time(8), dt.time(17))  # Saturday, CDT
    hours(early, november, dt.date(2026, 11, 2), dt.time(8), dt.time(17))  # Monday, CST
    hours(box_site, november, dt.date(2026, 11, 1), dt.time(0), dt.time(0))  # all of Sunday: 25 hours
    with time_machine.travel(dt.datetime(2026, 11, 1, 6, 30, tzinfo=dt.UTC), tick=False):  # 01:30 CDT
        body = lookup(api).json()
    assert [p["code"] for p in body["places"]] == ["A", "EV", "BOX"]
    ev, drop = body["places"][1], body["places"][2]
    assert ev["kinds"] == ["early_voting"] and drop["kinds"] == ["drop_box"]
    assert [(h["starts_at"], h["ends_at"]) for h in ev["hours"]] == [
        ("2026-10-31T08:00:00-05:00", "2026-10-31T17:00:00-05:00"),
        ("2026-11-02T08:00:00-06:00", "2026-11-02T17:00:00-06:00"),
    ]
    assert drop["hours"][0]["starts_at"] == "2026-11-01T00:00:00-05:00"
    assert drop["hours"][0]["ends_at"] == "2026-11-02T00:00:00-06:00"
    assert (ev["open_now"], drop["open_now"], body["places"][0]["open_now"]) == (False, True, False)
    # 01:30 again, an hour later: CST now, and the drop box is still open.
    with time_machine.travel(dt.datetime(2026, 11, 1, 7, 30, tzinfo=dt.UTC), tick=False):
        assert lookup(api).json()["places"][2]["open_now"] is True
    with time_machine.travel(dt.datetime(2026, 11, 2, 15, 0, tzinfo=dt.UTC), tick=False):  # Monday 09:00 CST
        body = lookup(api).json()
    assert [p["open_now"] for p in body["places"]] == [False, True, False]


def test_the_etag_changes_when_a_place_opens_so_a_revalidating_client_sees_it(api, county, precinct, november):
    place = PollingPlaceFactory(county=county, code="A", location=Point(-90.16, 32.35))
    PrecinctAssignmentFactory(election=november, precinct=precinct, polling_place=place)
    with time_machine.travel(dt.datetime(2026, 11, 3, 12, 0, tzinfo=dt.UTC), tick=False):  # 06:00, closed
        before = lookup(api)
        assert before.json()["places"][0]["open_now"] is False
        assert api.get("/api/v1/lookup/", AT, HTTP_IF_NONE_MATCH=before["ETag"]).status_code == 304
    with time_machine.travel(dt.datetime(2026, 11, 3, 13, 30, tzinfo=dt.UTC), tick=False):  # 07:30, open
        after = api.get("/api/v1/lookup/", AT, HTTP_IF_NONE_MATCH=before["ETag"])
    assert after.status_code == 200 and after.json()["places"][0]["open_now"] is True


def test_without_an_upcoming_election_no_place_is_listed(api, county, precinct):
    body = lookup(api).json()
    assert body["election"] is None and body["polling_place"] is None and body["places"] == []

"""``serving_places``: the assigned place or the county's vote centers (nearest first), then the early-voting sites
and drop boxes open for the election, each with its kinds, its hours in that election and whether it is open now,
right across the daylight-saving changes of America/Chicago."""

from __future__ import annotations

import datetime as dt
import zoneinfo

import pyproj
import pytest
from shapely.geometry import Point

from polling.geography import selectors
from polling.geography.locations import serving_places
from polling.models import LocationHours, VoteCenter
from tests.factories import ElectionFactory, PollingPlaceFactory, PrecinctAssignmentFactory, PrecinctFactory

pytestmark = pytest.mark.django_db

UTC = dt.UTC
CHICAGO = zoneinfo.ZoneInfo("America/Chicago")
#: Where the voter stands, in Hinds county (lon, lat).
VOTER = (-90.17, 32.35)


def utc(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=UTC)


def hours(place, election, date, opens, closes):
    row = LocationHours(polling_place=place, election=election, date=date, opens=opens, closes=closes)
    row.full_clean()
    row.save()
    return row


@pytest.fixture
def november(mississippi):
    """Election day Tuesday 3 November 2026; the clocks go back on Sunday 1 November at 02:00 CDT."""
    return ElectionFactory(jurisdiction=mississippi, name="General", date=dt.date(2026, 11, 3))


@pytest.fixture
def march(mississippi):
    """Election day Tuesday 16 March 2027; the clocks go forward on Sunday 14 March at 02:00 CST."""
    return ElectionFactory(jurisdiction=mississippi, name="Primary", date=dt.date(2027, 3, 16))


@pytest.fixture
def precinct(county):
    return PrecinctFactory(county=county, code="0101")


def _ids(served):
    return [s.place.pk for s in served]


# --- Who serves ---------------------------------------------------------------------------------------------------


def test_an_assigned_precinct_is_served_by_its_place_with_the_elections_polling_hours(county, precinct, november):
    place = PollingPlaceFactory(county=county, code="A")
    PrecinctAssignmentFactory(election=november, precinct=precinct, polling_place=place)

    (served,) = serving_places(precinct, county, november, at=utc(2026, 11, 3, 18))

    assert served.place == place
    assert served.kinds == ("election_day",)
    assert not served.vote_center
    (opening,) = served.hours
    assert (opening.date, opening.opens, opening.closes, opening.timezone) == (
        dt.date(2026, 11, 3),
        dt.time(7),
        dt.time(19),
        "America/Chicago",
    )
    # 07:00 to 19:00 CST is 13:00 to 01:00 UTC.
    assert (opening.starts_at, opening.ends_at) == (utc(2026, 11, 3, 13), utc(2026, 11, 4, 1))
    assert served.open_now


@pytest.mark.parametrize(
    ("at", "is_open"),
    [
        (utc(2026, 11, 3, 12, 59), False),  # 06:59 CST
        (utc(2026, 11, 3, 13, 0), True),  # 07:00 CST: the polls open
        (utc(2026, 11, 4, 0, 59), True),  # 18:59 CST
        (utc(2026, 11, 4, 1, 0), False),  # 19:00 CST: the polls close
    ],
)
def test_open_now_follows_the_polling_hours_on_election_day(county, precinct, november, at, is_open):
    PrecinctAssignmentFactory(election=november, precinct=precinct, polling_place=PollingPlaceFactory(county=county))

    (served,) = serving_places(precinct, county, november, at=at)

    assert served.open_now is is_open


def test_an_assigned_place_with_its_own_election_day_hours_keeps_them(county, precinct, november):
    place = PollingPlaceFactory(county=county)
    PrecinctAssignmentFactory(election=november, precinct=precinct, polling_place=place)
    hours(place, november, dt.date(2026, 11, 3), dt.time(6), dt.time(20))

    (served,) = serving_places(precinct, county, november, at=utc(2026, 11, 3, 12, 30))

    assert [(o.opens, o.closes) for o in served.hours] == [(dt.time(6), dt.time(20))]
    assert served.open_now  # 06:30 CST


def test_a_county_in_another_zone_than_its_state_keeps_election_day_in_its_own_zone(mississippi, november):
    from tests.factories import CountyFactory

    eastern = CountyFactory(jurisdiction=mississippi, timezone="America/New_York")
    precinct = PrecinctFactory(county=eastern)
    PrecinctAssignmentFactory(election=november, precinct=precinct, polling_place=PollingPlaceFactory(county=eastern))

    (served,) = serving_places(precinct, eastern, november, at=utc(2026, 11, 3, 12, 30))

    assert served.hours[0].starts_at == utc(2026, 11, 3, 12)  # 07:00 EST
    assert served.hours[0].timezone == "America/New_York"
    assert served.open_now


def test_a_precinct_without_an_assignment_is_served_by_every_vote_center_of_its_county_nearest_first(
    county, other_county, precinct, november
):
    far = PollingPlaceFactory(county=county, code="FAR", location=Point(-90.10, 32.35))
    near = PollingPlaceFactory(county=county, code="NEAR", location=Point(-90.171, 32.351))
    middle = PollingPlaceFactory(county=county, code="MIDDLE", location=Point(-90.14, 32.35))
    nowhere = PollingPlaceFactory(county=county, code="B-NOWHERE", location=None)
    not_a_center = PollingPlaceFactory(county=county, code="PLAIN")
    elsewhere = PollingPlaceFactory(county=other_county, code="MAD")
    for place in (far, near, middle, nowhere, elsewhere):
        VoteCenter.objects.create(election=november, polling_place=place)

    served = serving_places(precinct, county, november, at=utc(2026, 11, 3, 18), near=VOTER)

    assert _ids(served) == [near.pk, middle.pk, far.pk, nowhere.pk]
    assert not_a_center.pk not in _ids(served)
    assert all(s.vote_center and s.kinds == ("election_day",) and s.open_now for s in served)
    expected_m = pyproj.Geod(ellps="WGS84").inv(*VOTER, -90.171, 32.351)[2]
    assert served[0].distance_m == pytest.approx(expected_m, abs=0.001)
    assert 140 < served[0].distance_m < 150  # ~94 m west and ~111 m north
    assert served[3].distance_m is None


def test_without_a_point_vote_centers_come_by_code(county, precinct, november):
    b = PollingPlaceFactory(county=county, code="B", location=Point(-90.171, 32.351))
    a = PollingPlaceFactory(county=county, code="A", location=Point(-90.10, 32.35))
    for place in (b, a):
        VoteCenter.objects.create(election=november, polling_place=place)

    served = serving_places(precinct, county, november)

    assert _ids(served) == [a.pk, b.pk]
    assert [s.distance_m for s in served] == [None, None]


def test_an_assignment_takes_precedence_over_the_countys_vote_centers(county, precinct, november):
    assigned = PollingPlaceFactory(county=county, code="ASSIGNED")
    center = PollingPlaceFactory(county=county, code="CENTER")
    VoteCenter.objects.create(election=november, polling_place=center)
    PrecinctAssignmentFactory(election=november, precinct=precinct, polling_place=assigned)

    served = serving_places(precinct, county, november, near=VOTER)

    assert _ids(served) == [assigned.pk]
    assert not served[0].vote_center


def test_vote_centers_of_another_election_do_not_serve(county, precinct, november, march):
    VoteCenter.objects.create(election=march, polling_place=PollingPlaceFactory(county=county))

    assert serving_places(precinct, county, november) == []


def test_early_voting_sites_and_drop_boxes_open_for_the_election_follow_the_election_day_place(
    county, other_county, precinct, november, march
):
    assigned = PollingPlaceFactory(county=county, code="ASSIGNED", location=Point(-90.12, 32.35))
    PrecinctAssignmentFactory(election=november, precinct=precinct, polling_place=assigned)
    early = PollingPlaceFactory(
        county=county, code="EARLY", is_election_day=False, is_early_voting=True, location=Point(-90.16, 32.35)
    )
    drop = PollingPlaceFactory(
        county=county, code="DROP", is_election_day=False, is_drop_box=True, location=Point(-90.171, 32.35)
    )
    hours(early, november, dt.date(2026, 10, 30), dt.time(8), dt.time(17))
    hours(drop, november, dt.date(2026, 11, 3), dt.time(0), dt.time(19))
    # Not listed: a site with hours in another election only, a site without hours, a site of another county.
    other_election = PollingPlaceFactory(county=county, code="MARCH", is_early_voting=True)
    hours(other_election, march, dt.date(2027, 3, 12), dt.time(8), dt.time(17))
    PollingPlaceFactory(county=county, code="NOHOURS", is_drop_box=True)
    madison = PollingPlaceFactory(county=other_county, code="MAD", is_early_voting=True)
    hours(madison, november, dt.date(2026, 10, 30), dt.time(8), dt.time(17))

    served = serving_places(precinct, county, november, at=utc(2026, 11, 3, 18), near=VOTER)

    assert _ids(served) == [assigned.pk, drop.pk, early.pk]
    assert [s.kinds for s in served] == [("election_day",), ("drop_box",), ("early_voting",)]
    assert [s.open_now for s in served] == [True, True, False]


def test_a_place_serving_in_several_ways_is_listed_once_with_each_way(county, precinct, november):
    place = PollingPlaceFactory(county=county, is_early_voting=True, is_drop_box=True)
    PrecinctAssignmentFactory(election=november, precinct=precinct, polling_place=place)
    hours(place, november, dt.date(2026, 11, 2), dt.time(8), dt.time(17))

    (served,) = serving_places(precinct, county, november)

    assert served.kinds == ("election_day", "early_voting", "drop_box")
    # Its early-voting day and, without hours of its own on election day, the election's polling hours.
    assert [(o.date, o.opens) for o in served.hours] == [
        (dt.date(2026, 11, 2), dt.time(8)),
        (dt.date(2026, 11, 3), dt.time(7)),
    ]


def test_an_early_voting_site_open_only_on_election_day_does_not_serve_an_assigned_precinct(county, precinct, november):
    PrecinctAssignmentFactory(election=november, precinct=precinct, polling_place=PollingPlaceFactory(county=county))
    site = PollingPlaceFactory(county=county, is_election_day=False, is_early_voting=True)
    hours(site, november, dt.date(2026, 11, 3), dt.time(7), dt.time(19))

    assert site.pk not in _ids(serving_places(precinct, county, november))


def test_a_precinct_with_nothing_serving_it_gets_an_empty_list(county, precinct, november):
    assert serving_places(precinct, county, november) == []


def test_the_number_of_queries_does_not_grow_with_the_number_of_places(
    county, precinct, november, django_assert_max_num_queries
):
    for n in range(12):
        center = PollingPlaceFactory(county=county, location=Point(-90.17 + n * 0.001, 32.35))
        VoteCenter.objects.create(election=november, polling_place=center)
        hours(center, november, dt.date(2026, 11, 3), dt.time(6), dt.time(20))
        site = PollingPlaceFactory(county=county, is_election_day=False, is_early_voting=True)
        hours(site, november, dt.date(2026, 10, 30), dt.time(8), dt.time(17))

    with django_assert_max_num_queries(6):
        served = serving_places(precinct, county, november, near=VOTER)
        entrances = [list(s.place.entrances.all()) for s in served]

    assert len(served) == len(entrances) == 24


# --- Hours across a daylight-saving change -------------------------------------------------------------------------


@pytest.fixture
def november_early_site(county, precinct, november):
    """An early-voting site open 08:00-17:00 on Saturday 31 October (CDT) and Monday 2 November (CST)."""
    site = PollingPlaceFactory(county=county, code="EV", is_election_day=False, is_early_voting=True)
    hours(site, november, dt.date(2026, 10, 31), dt.time(8), dt.time(17))
    hours(site, november, dt.date(2026, 11, 2), dt.time(8), dt.time(17))
    return site


@pytest.mark.parametrize(
    ("at", "is_open"),
    [
        (utc(2026, 10, 31, 12, 59), False),  # Saturday 07:59 CDT
        (utc(2026, 10, 31, 13, 30), True),  # Saturday 08:30 CDT
        (utc(2026, 10, 31, 21, 59), True),  # Saturday 16:59 CDT
        (utc(2026, 10, 31, 22, 0), False),  # Saturday 17:00 CDT
        (utc(2026, 11, 2, 13, 30), False),  # Monday 07:30 CST: the same UTC time was open on Saturday
        (utc(2026, 11, 2, 14, 0), True),  # Monday 08:00 CST
        (utc(2026, 11, 2, 22, 30), True),  # Monday 16:30 CST: the same UTC time was closed on Saturday
        (utc(2026, 11, 2, 23, 0), False),  # Monday 17:00 CST
    ],
)
def test_early_voting_hours_stay_local_across_the_november_change(
    county, precinct, november, november_early_site, at, is_open
):
    (served,) = serving_places(precinct, county, november, at=at)

    assert served.open_now is is_open


def test_hours_are_shown_in_local_time_with_the_offset_of_each_day(county, precinct, november, november_early_site):
    (served,) = serving_places(precinct, county, november)

    saturday, monday = (o.local() for o in served.hours)
    assert [t.isoformat() for t in saturday] == ["2026-10-31T08:00:00-05:00", "2026-10-31T17:00:00-05:00"]
    assert [t.isoformat() for t in monday] == ["2026-11-02T08:00:00-06:00", "2026-11-02T17:00:00-06:00"]


@pytest.mark.parametrize(
    ("at", "is_open"),
    [
        (utc(2026, 11, 1, 4, 59), False),  # Saturday 23:59 CDT
        (utc(2026, 11, 1, 5, 0), True),  # Sunday 00:00 CDT
        (utc(2026, 11, 1, 6, 30), True),  # 01:30 CDT, the first time
        (utc(2026, 11, 1, 7, 30), True),  # 01:30 CST, the same wall-clock time again
        (utc(2026, 11, 2, 5, 59), True),  # Sunday 23:59 CST
        (utc(2026, 11, 2, 6, 0), False),  # Monday 00:00 CST: 25 hours after it opened
    ],
)
def test_a_drop_box_open_all_sunday_is_open_the_25_hours_of_the_fall_back_day(county, precinct, november, at, is_open):
    drop = PollingPlaceFactory(county=county, is_election_day=False, is_drop_box=True)
    hours(drop, november, dt.date(2026, 11, 1), dt.time(0), dt.time(0))

    (served,) = serving_places(precinct, county, november, at=at)

    assert served.open_now is is_open


@pytest.mark.parametrize(
    ("at", "is_open"),
    [
        (utc(2027, 3, 13, 13, 30), False),  # Saturday 07:30 CST
        (utc(2027, 3, 13, 14, 0), True),  # Saturday 08:00 CST
        (utc(2027, 3, 13, 23, 0), False),  # Saturday 17:00 CST
        (utc(2027, 3, 15, 13, 0), True),  # Monday 08:00 CDT: the same UTC time was closed on Saturday
        (utc(2027, 3, 15, 21, 30), True),  # Monday 16:30 CDT
        (utc(2027, 3, 15, 22, 0), False),  # Monday 17:00 CDT
    ],
)
def test_early_voting_hours_stay_local_across_the_march_change(county, precinct, march, at, is_open):
    site = PollingPlaceFactory(county=county, is_election_day=False, is_early_voting=True)
    hours(site, march, dt.date(2027, 3, 13), dt.time(8), dt.time(17))
    hours(site, march, dt.date(2027, 3, 15), dt.time(8), dt.time(17))

    (served,) = serving_places(precinct, county, march, at=at)

    assert served.open_now is is_open


def test_hours_that_start_in_the_skipped_spring_hour_open_at_the_first_real_instant_after_it(county, precinct, march):
    # 02:30 on 14 March 2027 does not exist in Chicago: read with the offset before the change, it is 03:30 CDT.
    drop = PollingPlaceFactory(county=county, is_election_day=False, is_drop_box=True)
    hours(drop, march, dt.date(2027, 3, 14), dt.time(2, 30), dt.time(6))

    (served,) = serving_places(precinct, county, march, at=utc(2027, 3, 14, 8, 29))
    assert served.hours[0].starts_at == utc(2027, 3, 14, 8, 30)
    assert served.hours[0].ends_at == utc(2027, 3, 14, 11)  # 06:00 CDT
    assert not served.open_now
    (served,) = serving_places(precinct, county, march, at=utc(2027, 3, 14, 8, 30))
    assert served.open_now


def test_open_now_defaults_to_the_current_time(county, precinct, november):
    import time_machine

    PrecinctAssignmentFactory(election=november, precinct=precinct, polling_place=PollingPlaceFactory(county=county))
    with time_machine.travel(dt.datetime(2026, 11, 3, 12, tzinfo=CHICAGO), tick=False):
        (served,) = serving_places(precinct, county, november)
    assert served.open_now
    with time_machine.travel(dt.datetime(2026, 11, 3, 20, tzinfo=CHICAGO), tick=False):
        (served,) = serving_places(precinct, county, november)
    assert not served.open_now


# --- Places without coordinates in the published geography ---------------------------------------------------------


def test_a_place_without_coordinates_is_no_map_feature_but_still_serves(api, county, precinct, november):
    located = PollingPlaceFactory(county=county, code="LOCATED")
    nowhere = PollingPlaceFactory(county=county, code="NOWHERE", location=None)
    VoteCenter.objects.create(election=november, polling_place=located)
    VoteCenter.objects.create(election=november, polling_place=nowhere)

    assert list(selectors.polling_places(county_fips=county.fips)) == [located]
    response = api.get("/api/v1/polling-places/", {"county": county.fips})
    assert response.status_code == 200
    assert [f["properties"]["code"] for f in response.json()["features"]] == ["LOCATED"]
    assert api.get(f"/api/v1/polling-places/{nowhere.pk}/").status_code == 404
    zones = api.get(f"/api/v1/polling-places/{nowhere.pk}/zones/")
    assert zones.status_code == 200 and zones.json()["features"] == []
    assert _ids(serving_places(precinct, county, november, near=VOTER)) == [located.pk, nowhere.pk]

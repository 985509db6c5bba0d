"""Buffer zones count where voting happens on the day asked about: an election-day site every day, an early-voting
site or a drop box only on the local dates it has hours for (any election; every day when it has none), decided in
the site's own time zone; the answer names the dates and its ETag changes with the day."""

from __future__ import annotations

import datetime as dt
import zoneinfo

import pytest
import time_machine
from django.db import transaction
from rest_framework.test import APIClient
from shapely.geometry import Point, box

from polling.geography import spatial
from polling.geography.services import geography_version_bump
from polling.geography.zones import dated_use, zones_for
from polling.models import BufferRule, Jurisdiction, LocationHours, PollingPlace, PrecinctAssignment, VoteCenter
from tests.factories import CountyFactory, ElectionFactory, PollingPlaceFactory, PrecinctFactory
from tests.public_geo import EARLY, make_early_voting_geo, towards

pytestmark = pytest.mark.django_db
CHICAGO = zoneinfo.ZoneInfo("America/Chicago")
DAY_1, DAY_2, OFF_DAY = dt.date(2026, 10, 26), dt.date(2026, 10, 27), dt.date(2026, 10, 28)


def _noon(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(12), tzinfo=CHICAGO)


@pytest.fixture
def api():
    return APIClient()


@pytest.fixture
def geo(mississippi):
    return make_early_voting_geo((DAY_1, DAY_2))


def _near_early(api, etag=None, **query):
    lon, lat = towards(*EARLY, 45, 10.0)  # 10 m: inside both the 30 ft and the 150 ft zones
    headers = {"HTTP_IF_NONE_MATCH": etag} if etag else {}
    return api.get("/api/v1/compliance/", {"lon": lon, "lat": lat, **query}, **headers)


def _places(body) -> set[int]:
    return {z["polling_place"] for z in body["zones"]}


def test_an_early_voting_site_counts_on_its_days_and_not_on_others(api, geo):
    on_day = _near_early(api, date=DAY_1.isoformat()).json()
    off_day = _near_early(api, date=OFF_DAY.isoformat()).json()

    assert on_day["verdict"] == "prohibited" and _places(on_day) == {geo["early"].pk}
    assert on_day["date"] == "2026-10-26"
    assert {tuple(z["applies_on"]) for z in on_day["zones"]} == {("2026-10-26", "2026-10-27")}
    # No voting at the courthouse that day: no zone of it, and the point lies in a mapped precinct.
    assert off_day["verdict"] == "allowed" and off_day["zones"] == [] and off_day["covered"] is True


def test_without_a_date_the_answer_is_for_today_at_the_site(api, geo):
    with time_machine.travel(_noon(DAY_2), tick=False):
        assert _near_early(api).json()["verdict"] == "prohibited"
    with time_machine.travel(_noon(OFF_DAY), tick=False):
        body = _near_early(api).json()
    assert body["verdict"] == "allowed" and body["date"] is None


@pytest.mark.parametrize(
    ("local", "in_force"),
    [
        # 23:30 on the last day, local: 04:30 UTC on the next date, still the site's day.
        (dt.datetime(2026, 10, 27, 23, 30), True),
        # 00:30 the day after, local (05:30 UTC): no longer.
        (dt.datetime(2026, 10, 28, 0, 30), False),
        # 19:30 the evening before the first day, local: 00:30 UTC on the first day, not yet the site's day.
        (dt.datetime(2026, 10, 25, 19, 30), False),
    ],
)
def test_today_is_the_sites_local_date_not_utcs(api, geo, local, in_force):
    with time_machine.travel(local.replace(tzinfo=CHICAGO), tick=False):
        body = _near_early(api).json()
    assert (geo["early"].pk in _places(body)) is in_force


def test_an_election_day_site_counts_every_day(api, geo):
    lon, lat = towards(-90.17, 32.35, 0, 8.0 + 3.0)  # 3 m beyond the main door
    for day in (DAY_1, OFF_DAY, dt.date(2027, 5, 1)):
        body = api.get("/api/v1/compliance/", {"lon": lon, "lat": lat, "date": day.isoformat()}).json()
        assert body["verdict"] == "prohibited"
        assert {z["applies_on"] for z in body["zones"]} == {None}


def test_a_site_without_any_hours_counts_every_day(api, geo):
    LocationHours.objects.filter(polling_place=geo["early"]).delete()

    body = _near_early(api, date=OFF_DAY.isoformat()).json()

    assert body["verdict"] == "prohibited" and {z["applies_on"] for z in body["zones"]} == {None}


def test_hours_of_every_election_count_and_a_new_opening_is_seen_by_the_next_request(api, geo, mississippi):
    assert _near_early(api, date=OFF_DAY.isoformat()).json()["zones"] == []
    runoff = ElectionFactory(name="Runoff", jurisdiction=mississippi, date=dt.date(2026, 12, 1))
    LocationHours.objects.create(
        polling_place=geo["early"],
        election=runoff,
        date=OFF_DAY,
        opens=dt.time(8),
        closes=dt.time(12),
        timezone="America/Chicago",
    )

    body = _near_early(api, date=OFF_DAY.isoformat()).json()

    assert body["verdict"] == "prohibited"
    assert {tuple(z["applies_on"]) for z in body["zones"]} == {("2026-10-26", "2026-10-27", "2026-10-28")}


def test_the_etag_changes_with_the_day_where_some_zones_count_on_some_days(api, geo):
    with time_machine.travel(_noon(DAY_2), tick=False):
        first = _near_early(api)
        again = _near_early(api, etag=first["ETag"])
    with time_machine.travel(_noon(OFF_DAY), tick=False):
        next_day = _near_early(api, etag=first["ETag"])

    assert again.status_code == 304
    assert next_day.status_code == 200 and next_day.json()["verdict"] == "allowed"
    assert next_day["ETag"] != first["ETag"]


def test_without_dated_sites_the_etag_does_not_change_with_the_time(api, geo):
    LocationHours.objects.all().delete()
    with time_machine.travel(_noon(DAY_1), tick=False):
        first = _near_early(api)
    with time_machine.travel(_noon(OFF_DAY), tick=False):
        later = _near_early(api, etag=first["ETag"])

    assert later.status_code == 304


@time_machine.travel(_noon(OFF_DAY), tick=False)
def test_the_zones_endpoints_name_the_dates(api, geo):
    early = api.get(f"/api/v1/polling-places/{geo['early'].pk}/zones/").json()
    day_site = api.get(f"/api/v1/polling-places/{geo['place'].pk}/zones/").json()

    assert {tuple(f["properties"]["applies_on"]) for f in early["features"]} == {("2026-10-26", "2026-10-27")}
    assert {f["properties"]["applies_on"] for f in day_site["features"]} == {None}
    in_box = api.get("/api/v1/zones/", {"bbox": "-90.13,32.37,-90.11,32.39"}).json()
    assert {f["properties"]["applies_on"][0] for f in in_box["features"]} == {"2026-10-26"}


def test_the_index_and_the_orm_agree_on_the_dates(geo, mississippi):
    rules = list(BufferRule.objects.filter(jurisdiction=mississippi))
    place = PollingPlace.objects.prefetch_related("entrances", "hours").get(pk=geo["early"].pk)

    index = spatial.current_index()
    for day, expected in ((OFF_DAY, (DAY_1, DAY_2)), (dt.date(2026, 11, 4), None)):
        orm = {z.rule.activity: z.applies_on for z in zones_for(place, rules, on=day)}
        indexed = {z.rule.activity: z.applies_on for z in index.zones_of(place.pk, on=day)}
        assert orm == indexed == {"campaigning": expected, "loitering": expected}


GENERAL, PRIMARY = dt.date(2026, 11, 3), dt.date(2026, 8, 4)


def test_dated_use():
    assert dated_use(election_day=True, openings=[(GENERAL, DAY_1)]) is None
    assert dated_use(election_day=False, openings=[]) is None
    use = dated_use(election_day=False, openings=[(GENERAL, DAY_2), (GENERAL, DAY_1), (GENERAL, DAY_2)])
    assert use is not None and use.dates == (DAY_1, DAY_2)
    # Known for the days leading to the general election; unknown (every day) after it, with no election ahead.
    assert use.days_for(OFF_DAY, [PRIMARY, GENERAL]) == (DAY_1, DAY_2)
    assert use.days_for(dt.date(2026, 11, 4), [PRIMARY, GENERAL]) is None
    # Unknown for the days leading to an election it has no hours in yet.
    assert use.days_for(dt.date(2026, 7, 1), [PRIMARY, GENERAL]) is None


def test_a_site_with_hours_in_an_earlier_election_only_counts_every_day_of_the_next(api, geo, mississippi):
    """Its hours for the next election are not entered yet: it cannot be said unused on any of its days."""
    general = ElectionFactory(name="General 2027", jurisdiction=mississippi, date=dt.date(2027, 11, 2))
    on_a_day_of_the_next = _near_early(api, date="2027-10-20").json()
    assert on_a_day_of_the_next["verdict"] == "prohibited"
    assert {z["applies_on"] for z in on_a_day_of_the_next["zones"]} == {None}
    LocationHours.objects.create(
        polling_place=geo["early"],
        election=general,
        date=dt.date(2027, 10, 19),
        opens=dt.time(8),
        closes=dt.time(17),
        timezone="America/Chicago",
    )
    # Its hours in the next election entered: its zones count on its dated days alone.
    assert _near_early(api, date="2027-10-20").json()["zones"] == []
    assert _near_early(api, date="2027-10-19").json()["verdict"] == "prohibited"


def test_a_drop_box_counts_on_its_days_where_the_state_covers_drop_boxes(api, db):
    california = Jurisdiction.objects.get(code="CA")
    la = CountyFactory(
        fips="06037", name="Los Angeles", jurisdiction=california, boundary=box(-118.3, 34.0, -118.2, 34.1)
    )
    PrecinctFactory(county=la, code="0001", boundary=box(-118.3, 34.0, -118.2, 34.1))
    election = ElectionFactory(name="General", jurisdiction=california, date=dt.date(2026, 11, 3))
    drop_box = PollingPlaceFactory(
        county=la, code="BOX", location=Point(-118.25, 34.05), is_election_day=False, is_drop_box=True
    )
    LocationHours.objects.create(
        polling_place=drop_box,
        election=election,
        date=DAY_1,
        opens=dt.time(0),
        closes=dt.time(0),
        timezone="America/Los_Angeles",
    )
    with transaction.atomic():
        geography_version_bump()
    lon, lat = towards(-118.25, 34.05, 0, 20.0)  # 66 ft: inside the 100 ft drop-box rule

    on_day = api.get("/api/v1/compliance/", {"lon": lon, "lat": lat, "date": DAY_1.isoformat()}).json()
    off_day = api.get("/api/v1/compliance/", {"lon": lon, "lat": lat, "date": DAY_2.isoformat()}).json()

    assert on_day["verdict"] == "prohibited"
    assert [(z["activity"], z["limit_ft"]) for z in on_day["zones"]] == [("campaigning", 100.0)]
    assert off_day["verdict"] == "allowed" and off_day["zones"] == []


@pytest.mark.parametrize(
    ("value", "code"),
    [
        ("2026-13-01", "invalid_date"),
        ("2026-02-30", "invalid_date"),
        ("26-10-26", "invalid_date"),
        ("2026-10-26T00:00", "invalid_date"),
        ("\uff12\uff10\uff12\uff16-10-26", "invalid_date"),  # full-width digits
        ("1999-12-31", "date_out_of_range"),
        ("2100-01-01", "date_out_of_range"),
    ],
)
def test_a_bad_date_is_400_with_a_stable_code(api, geo, value, code):
    response = _near_early(api, date=value)

    assert response.status_code == 400
    assert response.json()["code"] == code and "detail" in response.json()


@pytest.mark.parametrize(
    "repeated",
    [
        "date=2026-10-26&date=2026-10-28",
        "date=2026-10-28&date=",  # an empty last value is still a second one
        "date=&date=2026-10-28",
        "activity=loitering&activity=campaigning",
        "accuracy_m=5&accuracy_m=",
    ],
)
def test_a_repeated_parameter_is_refused(api, geo, repeated):
    lon, lat = towards(*EARLY, 45, 10.0)
    response = api.get(f"/api/v1/compliance/?lon={lon}&lat={lat}&{repeated}")

    assert response.status_code == 400 and response.json()["code"] == "repeated_parameter"


def test_every_vote_center_of_a_vote_center_county_has_its_zones(api, geo, mississippi):
    PrecinctAssignment.objects.all().delete()  # the county votes at vote centers now
    centers = [
        PollingPlaceFactory(county=geo["county"], code=f"VC{i}", name=f"Center {i}", location=Point(lon, 32.32))
        for i, lon in enumerate((-90.19, -90.11))
    ]
    for center in centers:
        VoteCenter.objects.create(election=geo["election"], polling_place=center)

    for center in centers:
        lon, lat = towards(center.location.x, center.location.y, 180, 5.0)  # 16 ft: inside both zones
        body = api.get("/api/v1/compliance/", {"lon": lon, "lat": lat, "date": OFF_DAY.isoformat()}).json()
        assert body["verdict"] == "prohibited"
        assert {(z["polling_place"], z["applies_on"]) for z in body["zones"]} == {(center.pk, None)}
        assert body["verdicts"] == {"campaigning": "prohibited", "loitering": "prohibited"}

"""Lookups answered from the warm answers (``lookup.warm``: every county's serving places read at once into flat
arrays, as gunicorn does in its master before forking) say exactly what lookups that read a county on first use
say, byte for byte, ETag included; and a change of the geography after warming is seen by the next lookup."""

from __future__ import annotations

import datetime as dt
import time
import zoneinfo

import numpy as np
import pytest
import time_machine
from django.db.models import Prefetch
from rest_framework.test import APIClient
from shapely.geometry import Point, box

from polling.api import geojson, views
from polling.geography import lookup, spatial
from polling.geography.locations import serving_county
from polling.geography.lookup import ServedNow
from polling.geography.serving_table import serving_table
from polling.geometry.earth import GEOD, geodesics_from
from polling.models import Election, Entrance, Jurisdiction, LocationHours, PollingPlace, VoteCenter
from tests.factories import (
    CountyFactory,
    ElectionFactory,
    EntranceFactory,
    PollingPlaceFactory,
    PrecinctAssignmentFactory,
    PrecinctFactory,
)
from tests.helpers import seed_reference_data

pytestmark = pytest.mark.django_db
NOON = dt.datetime(2026, 11, 3, 18, 0, tzinfo=dt.UTC)  # election day, noon in Jackson
CHICAGO = zoneinfo.ZoneInfo("America/Chicago")
# Names the renderer escapes or keeps as they are: quotes, a backslash, a line separator, accents, an emoji.
ODD = 'The "Old" Gym \\ annex\u2028 caf\u00e9 \U0001f5f3'


def hours(place, election, date, opens, closes):
    row = LocationHours(polling_place=place, election=election, date=date, opens=opens, closes=closes)
    row.full_clean()
    row.save()


@pytest.fixture
def nation(mississippi):
    """Two counties: Hinds with assigned precincts (one place with odd names and three doors, one place without
    coordinates, one precinct without any assignment), an early-voting site and a drop box open for the election;
    Madison votes at two vote centers, one of them also an early-voting site, and one precinct is assigned to a place
    of Hinds."""
    november = ElectionFactory(jurisdiction=mississippi, name="General", date=dt.date(2026, 11, 3))
    ElectionFactory(jurisdiction=mississippi, name="Runoff", date=dt.date(2026, 12, 1))
    hinds = CountyFactory(fips="28049", name="Hinds", jurisdiction=mississippi, boundary=box(-90.3, 32.2, -90.0, 32.5))
    madison = CountyFactory(
        fips="28089", name="Madison", jurisdiction=mississippi, boundary=box(-90.3, 32.5, -90.0, 32.8)
    )
    west = PrecinctFactory(county=hinds, code="0001", name=ODD, boundary=box(-90.3, 32.2, -90.2, 32.5))
    middle = PrecinctFactory(county=hinds, code="0002", name="Middle", boundary=box(-90.2, 32.2, -90.1, 32.5))
    PrecinctFactory(county=hinds, code="0003", name="East", boundary=box(-90.1, 32.2, -90.0, 32.5))
    north = PrecinctFactory(county=madison, code="0001", name="North", boundary=box(-90.3, 32.5, -90.15, 32.8))
    south = PrecinctFactory(county=madison, code="0002", name="South", boundary=box(-90.15, 32.5, -90.0, 32.8))
    gym = PollingPlaceFactory(county=hinds, code="G", name=ODD, address=ODD, location=Point(-90.25, 32.35))
    gym.accessibility_notes = 'Ramp at the "side" door\u2029'
    gym.save()
    for name, dy, accessible in (("Side", 5e-5, False), ("Main", -5e-5, True), (ODD, 1e-4, True)):
        EntranceFactory(polling_place=gym, name=name, location=Point(-90.25, 32.35 + dy), accessible=accessible)
    unlocated = PollingPlaceFactory(county=hinds, code="U", name="Unmapped hall", location=None)
    early = PollingPlaceFactory(county=hinds, code="E", name="Courthouse", location=Point(-90.15, 32.3))
    early.is_early_voting = True
    early.save()
    hours(early, november, dt.date(2026, 10, 30), dt.time(8), dt.time(17))
    hours(early, november, dt.date(2026, 11, 2), dt.time(8), dt.time(17))
    box_place = PollingPlaceFactory(county=hinds, code="B", name="Drop box", location=Point(-90.12, 32.31))
    box_place.is_drop_box = True
    box_place.save()
    hours(box_place, november, dt.date(2026, 11, 3), dt.time(0), dt.time(19))
    PrecinctAssignmentFactory(election=november, precinct=west, polling_place=gym)
    PrecinctAssignmentFactory(election=november, precinct=middle, polling_place=unlocated)
    centers = []
    for code, x in (("C1", -90.2), ("C2", -90.1)):
        center = PollingPlaceFactory(county=madison, code=code, name=f"Center {code}", location=Point(x, 32.6))
        EntranceFactory(polling_place=center, name="Door")
        VoteCenter.objects.create(election=november, polling_place=center)
        centers.append(center)
    centers[1].is_early_voting = True
    centers[1].save()
    hours(centers[1], november, dt.date(2026, 11, 1), dt.time(9), dt.time(12))
    PrecinctAssignmentFactory(election=november, precinct=south, polling_place=gym)
    return {"november": november, "hinds": hinds, "madison": madison, "north": north, "gym": gym}


POINTS = [(-90.26, 32.36), (-90.15, 32.4), (-90.05, 32.25), (-90.2, 32.7), (-90.05, 32.6), (-90.25, 32.35)]


def answers(api, **extra):
    out = []
    for lon, lat in POINTS:
        response = api.get("/api/v1/lookup/", {"lon": lon, "lat": lat, **extra})
        assert response.status_code == 200, response.content
        out.append((response.content, response["ETag"]))
    return out


@time_machine.travel(NOON, tick=False)
def test_a_warmed_lookup_answers_the_same_bytes_as_a_county_read_on_first_use(nation, django_assert_max_num_queries):
    api = APIClient()
    runoff = Election.objects.get(name="Runoff")
    cold, cold_runoff = answers(api), answers(api, election=runoff.pk)
    index = spatial.current_index()
    assert lookup.warmed(index) is None
    lookup.warm(index)
    index._memo.clear()  # nothing read on first use is left: every answer below comes from the warm answers
    with django_assert_max_num_queries(len(POINTS)):  # the geography version per request, nothing else
        warm = answers(api)
    assert warm == cold
    assert len({body for body, _etag in cold}) == len(POINTS)
    # Another election than the warm one is read on first use, and answered as without warming.
    assert answers(api, election=runoff.pk) == cold_runoff


@time_machine.travel(NOON, tick=False)
def test_the_warm_table_lists_what_serving_county_lists(nation):
    november = nation["november"]
    table = serving_table({c.pk: (november, CHICAGO) for c in (nation["hinds"], nation["madison"])})
    listed = 0
    for county in (nation["hinds"], nation["madison"]):
        for precinct_id, expected in serving_county(county, november).items():
            got = [
                (table.place_id(row), table.ways[way].kinds, table.ways[way].vote_center, table.ways[way].hours)
                for row, way in table.serving(precinct_id)
            ]
            assert got == [(s.place.pk, s.kinds, s.vote_center, s.hours) for s in expected]
            listed += len(got)
    assert listed >= 10


@time_machine.travel(NOON, tick=False)
def test_a_place_written_from_the_table_is_what_the_renderer_writes_for_the_model(nation):
    november = nation["november"]
    table = serving_table({c.pk: (november, CHICAGO) for c in (nation["hinds"], nation["madison"])})
    places = {
        p.pk: p
        for p in PollingPlace.objects.prefetch_related(
            Prefetch("entrances", queryset=Entrance.objects.order_by("name"))
        )
    }
    rows = {row for precinct in nation["hinds"].precincts.all() for row, _w in table.serving(precinct.pk)}
    rows |= {row for row, _w in table.serving(nation["north"].pk)}
    assert len(rows) >= 5
    for row in rows:
        served = ServedNow(table, row, 0, table.ways[0], False, None)
        written = views._place_json(served)
        assert written == views._render(geojson.place_summary(places[table.place_id(row)]))
        assert written == views._render(geojson.place_summary(table.place(row)))  # type: ignore[arg-type]


@time_machine.travel(NOON, tick=False)
def test_a_change_after_warming_is_seen_by_the_next_lookup(nation):
    api = APIClient()
    lookup.warm(spatial.current_index())
    at = {"lon": -90.26, "lat": 32.36}
    assert api.get("/api/v1/lookup/", at).json()["polling_place"]["name"] == ODD
    gym = nation["gym"]
    gym.name = "Renamed gym"
    gym.save()
    assert api.get("/api/v1/lookup/", at).json()["polling_place"]["name"] == "Renamed gym"
    assert api.get("/api/v1/lookup/", {"lon": -90.05, "lat": 32.6}).json()["polling_place"]["name"] == "Renamed gym"


@time_machine.travel(dt.datetime(2026, 11, 4, 18, 0, tzinfo=dt.UTC), tick=False)
def test_warmed_the_day_after_an_election_it_answers_for_the_next_one(nation):
    """The day after the general election, the runoff is each county's upcoming election: the warm answers are
    made for it, and say what answers read on first use say."""
    api = APIClient()
    cold = answers(api)
    lookup.warm(spatial.current_index())
    assert answers(api) == cold
    assert api.get("/api/v1/lookup/", {"lon": -90.26, "lat": 32.36}).json()["election"]["name"] == "Runoff"


@pytest.mark.django_db(transaction=True)
def test_a_national_index_without_warm_answers_is_warmed_in_the_background(settings):
    seed_reference_data()  # a flush after an earlier transactional test may have removed the migrations' rows
    mississippi = Jurisdiction.objects.get(code="MS")
    november = ElectionFactory(jurisdiction=mississippi, name="General", date=dt.date.today() + dt.timedelta(days=9))
    hinds = CountyFactory(fips="28049", name="Hinds", jurisdiction=mississippi, boundary=box(-90.3, 32.2, -90.0, 32.5))
    precinct = PrecinctFactory(county=hinds, code="0001", boundary=box(-90.3, 32.2, -90.0, 32.5))
    place = PollingPlaceFactory(county=hinds, code="G", location=Point(-90.25, 32.35))
    PrecinctAssignmentFactory(election=november, precinct=precinct, polling_place=place)
    spatial.reset_index()
    index = spatial.current_index()
    settings.INDEX_INLINE_BUILD_S = -1.0  # as for the nation's index: too large to rebuild inline
    assert lookup.warmed(index) is None  # starts warming
    deadline = time.monotonic() + 20
    while (kept := lookup.warmed(index)) is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert kept is not None and kept.table.elections == {hinds.pk: november.pk}
    assert [kept.table.place_id(row) for row, _w in kept.table.serving(precinct.pk)] == [place.pk]
    spatial.reset_index()


def test_one_distance_is_the_same_double_as_the_array_path():
    rng = np.random.default_rng(3)
    lons, lats = rng.uniform(-180, 180, 500), rng.uniform(-89, 89, 500)
    for lon, lat, x, y in zip(lons, lats, np.roll(lons, 1), np.roll(lats, 7), strict=True):
        single = float(GEOD.inv(float(lon), float(lat), float(x), float(y))[2])
        assert single == geodesics_from(float(lon), float(lat), np.array([x]), np.array([y]))[1][0]


@time_machine.travel(NOON, tick=False)
def test_an_index_already_behind_the_database_is_not_warmed(nation):
    """Warm answers read after a change would be newer than the index they are kept with (its ETag names its
    version): they are not kept, and lookups read counties on first use until the next index is warmed."""
    index = spatial.current_index()
    gym = nation["gym"]
    gym.name = "Renamed gym"
    gym.save()  # raises the version; ``index`` is not rebuilt here
    assert lookup.warm(index) is None and lookup.warmed(index) is None
    fresh = spatial.current_index()
    assert fresh is not index and lookup.warm(fresh) is not None and lookup.warmed(fresh) is not None

"""A small public geography for the public API's tests: Hinds county split into two precincts along a shared edge
(East created first, so that primary-key order and (FIPS, code) order disagree on it), one polling place with two
entrances serving both, and an election in 30 days."""

from __future__ import annotations

import datetime as dt
from typing import Any

from geographiclib.geodesic import Geodesic
from shapely.geometry import Point, box

from polling.models import LocationHours
from tests.factories import (
    CountyFactory,
    ElectionFactory,
    EntranceFactory,
    PollingPlaceFactory,
    PrecinctAssignmentFactory,
    PrecinctFactory,
)

WGS84 = Geodesic.WGS84
W, S, E, N, MID = -90.2, 32.3, -90.1, 32.4, -90.15


def towards(lon: float, lat: float, azimuth: float, metres: float) -> tuple[float, float]:
    """The point ``metres`` from (lon, lat) along ``azimuth`` degrees, on the WGS84 geodesic (GeographicLib)."""
    g = WGS84.Direct(lat, lon, azimuth, metres)
    return g["lon2"], g["lat2"]


def make_public_geo() -> dict[str, Any]:
    county = CountyFactory(fips="28049", name="Hinds", boundary=box(W, S, E, N))
    east = PrecinctFactory(county=county, code="0002", name="East", boundary=box(MID, S, E, N))
    west = PrecinctFactory(county=county, code="0001", name="West", boundary=box(W, S, MID, N))
    place = PollingPlaceFactory(county=county, code="PP1", name="West Center", location=Point(-90.17, 32.35))
    door = EntranceFactory(polling_place=place, name="Main", location=Point(*towards(-90.17, 32.35, 0, 8.0)))
    side = EntranceFactory(
        polling_place=place, name="Side", location=Point(*towards(-90.17, 32.35, 90, 10.0)), accessible=False
    )
    election = ElectionFactory(name="General", date=dt.date.today() + dt.timedelta(days=30))
    PrecinctAssignmentFactory(election=election, precinct=west, polling_place=place)
    PrecinctAssignmentFactory(election=election, precinct=east, polling_place=place)
    return {
        "county": county,
        "west": west,
        "east": east,
        "place": place,
        "door": door,
        "side": side,
        "election": election,
    }


#: Where ``make_early_voting_geo`` puts its early-voting site: ~5 km from the election-day site.
EARLY = (-90.12, 32.38)
GENERAL_DAY = dt.date(2026, 11, 3)


def make_early_voting_geo(opening_days: tuple[dt.date, ...] = ()) -> dict[str, Any]:
    """``make_public_geo`` with its election on 3 November 2026 and, as ``early``, an early-voting site (only that)
    at ``EARLY``, open 08:00-17:00 Chicago time on each of ``opening_days`` in that election."""
    geo = make_public_geo()
    geo["election"].date = GENERAL_DAY
    geo["election"].save()
    early = PollingPlaceFactory(
        county=geo["county"],
        code="EV1",
        name="Courthouse",
        location=Point(*EARLY),
        is_election_day=False,
        is_early_voting=True,
    )
    for day in opening_days:
        LocationHours.objects.create(
            polling_place=early,
            election=geo["election"],
            date=day,
            opens=dt.time(8),
            closes=dt.time(17),
            timezone="America/Chicago",
        )
    return {**geo, "early": early}

"""The public answer to "where do I vote?": the precinct holding a point, the election asked about (or the upcoming
one of the precinct's state, by the county's calendar) and the places serving the precinct in it.

Everything past the spatial query changes only with the geography version (which rules, elections and assignments
raise too) or with the local date, so it is read from the database once per index and kept with it: for the whole
nation at once (``warm``: the counties' time zones, the states' elections and every county's serving places in its
upcoming election, in a handful of set-based queries and flat arrays; gunicorn does it in the master before forking,
so the workers share it), else a county at a time on its first lookup (``GeographyIndex.memo``). A repeated or
warmed answer costs dictionary and array reads, not queries.
"""

from __future__ import annotations

import contextlib
import ctypes
import datetime as dt
import logging
import math
import threading
import time
import weakref
import zoneinfo
from dataclasses import dataclass

import numpy as np
from django.conf import settings
from django.db import connections, router
from django.utils import timezone

from common.errors import DomainError
from polling.geography import version_feed
from polling.geography.selectors import local_zone
from polling.geography.serving_table import PlaceRow, ServingTable, Way, serving_table
from polling.geography.spatial import GeographyIndex, PrecinctEntry
from polling.geometry.earth import GEOD, geodesics_from
from polling.models import County, Election, GeographyVersion

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Lookup:
    precinct: PrecinctEntry
    #: None when the state has no upcoming election.
    election: Election | None


@dataclass(frozen=True, eq=False)
class Warm:
    """What every lookup of one index needs past the spatial query, for the whole nation: each county's time zone,
    each state's elections, and the places serving each precinct in its county's upcoming election (as of the local
    date when it was made; a lookup for another election reads its county on first use)."""

    zones: dict[int, zoneinfo.ZoneInfo]
    elections: dict[int, dict[int, Election]]
    table: ServingTable
    seconds: float


# The warm answers of the index they were made for (held weakly: a replaced index takes them with it).
_warm: tuple[weakref.ref[GeographyIndex], Warm] | None = None
_warm_lock = threading.Lock()
_warming: weakref.WeakSet[GeographyIndex] = weakref.WeakSet()  # being warmed in the background in this process
#: The name of the thread that warms a rebuilt index (``warmed``).
WARM_THREAD = "lookup-warm"


def warm(index: GeographyIndex) -> Warm | None:
    """Read and keep, for ``index``, what its lookups need past the spatial query (``Warm``): a handful of queries
    whatever the size of the nation. Kept only if the database held ``index``'s version from before the first read
    to after the last (a change commits with its version bump), so the warm answers are exactly the index's version;
    else None (the index is already behind: the next one is warmed instead)."""
    global _warm
    started = time.perf_counter()
    if _version_in_database() != index.version:
        return None
    counties = list(County.objects.values_list("id", "timezone", "jurisdiction_id", "jurisdiction__timezone"))
    zones = {pk: zoneinfo.ZoneInfo(own or state) for pk, own, _j, state in counties}
    elections: dict[int, dict[int, Election]] = {j: {} for _c, _t, j, _s in counties}
    for election in Election.objects.order_by("date", "pk"):
        elections.setdefault(election.jurisdiction_id, {})[election.pk] = election
    now = timezone.now()
    upcoming: dict[int, tuple[Election, zoneinfo.ZoneInfo]] = {}
    for pk, _t, jurisdiction_id, _s in counties:
        today = now.astimezone(zones[pk]).date()
        found = _upcoming(elections[jurisdiction_id], today)
        if found is not None:
            upcoming[pk] = (found, zones[pk])
    table = serving_table(upcoming)
    _give_back_freed_memory()  # what the build read, tens of MiB at national scale, before any fork copies it
    if _version_in_database() != index.version:
        logger.info("lookup answers of index v%s not kept: the geography changed while they were read", index.version)
        return None
    made = Warm(zones, elections, table, time.perf_counter() - started)
    with _warm_lock:
        _warm = (weakref.ref(index), made)
    logger.info(
        "lookup answers of index v%s warmed: %d counties, %d precincts in %.2fs",
        index.version,
        len(upcoming),
        len(made.table),
        made.seconds,
    )
    return made


def _version_in_database() -> int:
    """The geography version as the database holds it now (not as last pushed to this process, which may trail a
    commit by the time its notification takes)."""
    alias = router.db_for_read(GeographyVersion)
    with connections[alias].cursor() as cursor:
        cursor.execute(version_feed.VERSION_SQL)
        row = cursor.fetchone()
    return int(row[0]) if row is not None else 0


def warmed(index: GeographyIndex) -> Warm | None:
    """The warm answers of ``index``, or None. A national index (one too large to rebuild inline) without them is
    warmed in a background thread meanwhile (once per version), as after a change of the geography."""
    held = _warm
    if held is not None and held[0]() is index:
        return held[1]
    if index.build_seconds > settings.INDEX_INLINE_BUILD_S:
        with _warm_lock:
            start = index not in _warming
            _warming.add(index)
        if start:
            threading.Thread(
                target=_warm_in_background, args=(weakref.ref(index),), name=WARM_THREAD, daemon=True
            ).start()
    return None


def _warm_in_background(ref: weakref.ref[GeographyIndex]) -> None:
    index = ref()
    if index is None:
        return
    try:
        warm(index)
    except Exception:
        logger.exception("lookup answers of index v%s: warming failed; counties are read on first use", index.version)
    finally:
        connections.close_all()  # this thread's own connections


def _give_back_freed_memory() -> None:
    """Return the heap freed after a build to the system (glibc only; best effort)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def _upcoming(elections: dict[int, Election], today: dt.date) -> Election | None:
    """The first election on or after the local date, the earliest id first on a tie (as
    ``upcoming_election_of_state`` orders them; ``elections`` is in (date, id) order)."""
    return next((e for e in elections.values() if e.date >= today), None)


def lookup_at(*, lon: float, lat: float, election_id: int | None, index: GeographyIndex) -> Lookup:
    """Refuses with ``no_precinct`` outside every precinct and ``election_not_found`` for an election id that is
    not one of the precinct's state."""
    hit = index.precinct_at(lon, lat)
    if hit is None:
        raise DomainError("No precinct contains this point.", "no_precinct")
    kept = warmed(index)
    if kept is not None:
        elections = kept.elections.get(hit.jurisdiction_id, {})
    else:
        elections = index.memo(("lookup.elections", hit.jurisdiction_id), lambda: _elections_of(hit.jurisdiction_id))
    election: Election | None
    if election_id is not None:
        election = elections.get(election_id)
        if election is None:
            raise DomainError("No such election for this precinct's state.", "election_not_found", field="election")
    else:
        zone = _zone(index, kept, hit.county_id)
        election = _upcoming(elections, timezone.localdate(timezone=zone))
    return Lookup(hit, election)


def _elections_of(jurisdiction_id: int) -> dict[int, Election]:
    """Every election of a state by id, in (date, id) order: a state holds a handful a year."""
    return {e.pk: e for e in Election.objects.filter(jurisdiction_id=jurisdiction_id).order_by("date", "pk")}


def _zone(index: GeographyIndex, kept: Warm | None, county_id: int) -> zoneinfo.ZoneInfo:
    if kept is not None and county_id in kept.zones:
        return kept.zones[county_id]
    county = index.memo(
        ("lookup.county", county_id),
        lambda: County.objects.select_related("jurisdiction").defer("boundary").get(pk=county_id),
    )
    return local_zone(county)


@dataclass(frozen=True, slots=True)
class ServedNow:
    """A place serving a precinct, for one request: how it serves, open at that moment or not, at that distance
    from the point. ``table`` and ``row`` say where the place is kept (``table.serial`` and ``row`` identify it for
    as long as the table lives, ``way`` likewise, to cache renderings)."""

    table: ServingTable
    row: int
    way_id: int
    way: Way
    open_now: bool
    distance_m: float | None

    @property
    def place_id(self) -> int:
        return self.table.place_id(self.row)

    def place(self) -> PlaceRow:
        return self.table.place(self.row)


def serving_at(
    *, lookup: Lookup, lon: float, lat: float, index: GeographyIndex, at: dt.datetime | None = None
) -> list[ServedNow]:
    """The places serving the looked-up precinct in its election (``locations.serving_places``), ordered by
    distance from (``lon``, ``lat``) and judged open or not at ``at`` (now) for this request. Empty without an
    election.

    What changes only with the geography comes from the warm answers (``warm``) when they cover the precinct's
    county in this election, else it is read for the precinct's whole county at once and kept with the index (a
    county's precincts share their vote centers, early-voting sites and drop boxes)."""
    election = lookup.election
    if election is None:
        return []
    hit = lookup.precinct
    kept = warmed(index)
    if kept is not None and kept.table.elections.get(hit.county_id) == election.pk:
        table = kept.table
    else:
        zone = _zone(index, kept, hit.county_id)
        table = index.memo(
            ("lookup.serving", election.pk, hit.county_id),
            lambda: serving_table({hit.county_id: (election, zone)}),
        )
    slots = table.serving(hit.id)
    if not slots:
        return []
    moment = (at if at is not None else timezone.now()).astimezone(dt.UTC)
    rows = [row for row, _w in slots]
    distances: list[float | None] = [None] * len(rows)
    located = [(i, xy) for i, row in enumerate(rows) if (xy := table.location(row)) is not None]
    if len(located) == 1:  # the usual case (an assigned place): no arrays for one distance, the same geodesic
        i, (x, y) = located[0]
        distances[i] = float(GEOD.inv(lon, lat, x, y)[2])
    elif located:
        xs = np.array([xy[0] for _i, xy in located], dtype=np.float64)
        ys = np.array([xy[1] for _i, xy in located], dtype=np.float64)
        for (i, _xy), m in zip(located, geodesics_from(lon, lat, xs, ys)[1].tolist(), strict=True):
            distances[i] = m
    now = [
        ServedNow(table, row, way_id, table.ways[way_id], table.ways[way_id].is_open(moment), d)
        for (row, way_id), d in zip(slots, distances, strict=True)
    ]
    if len(now) > 1:
        # As ``serving_places`` orders them: the election-day places first, each group nearest first, then by code
        # (the table's order, which a stable sort keeps among equals).
        now.sort(key=lambda s: (0 if s.way.election_day else 1, s.distance_m if s.distance_m is not None else math.inf))
    return now

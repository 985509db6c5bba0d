"""The in-memory spatial index every public lookup answers from.

One index per process, built from the database and tagged with the geography version it was built from
(``GeographyVersion``). Each request compares that tag with the database (one indexed single-row read) and rebuilds
first if the geography changed, so no process answers from stale geography for longer than the request that
carried the change.

Queries cost O(log n + k): shapely ``STRtree`` (a packed R-tree) finds candidates by bounding box, then exact
predicates decide — ``covers`` on prepared precinct polygons, geodesic distance for zones.
"""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import datetime as dt
import logging
import math
import threading
import time
import zoneinfo
from collections import OrderedDict, defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt
import shapely
from django.conf import settings
from django.db import connections
from django.db.models import QuerySet
from django.utils import timezone
from shapely.geometry import Point

from polling import geometry
from polling.geography import zones
from polling.geography.services import geography_version
from polling.geography.zones import DatedUse, Zone
from polling.models import BufferRule, County, Election, Entrance, LocationHours, PollingPlace, Precinct

logger = logging.getLogger(__name__)
T = TypeVar("T")

#: How far beyond a zone's limit (plus the GPS accuracy) a zone is still listed as "within reach".
REACH_BEYOND_LIMIT_M = 100.0
#: Polling places whose zones (prepared references) are kept per index: ~5 kB each, so ~100 MB at most.
ZONE_CACHE_SIZE = 20_000
#: Drawn zone polygons kept per process (about 300 vertices each: ~20 kB, so ~100 MB at most).
ZONE_POLYGON_CACHE_SIZE = 5000
#: Answers kept per index (``GeographyIndex.memo``): a lookup answer is under 1 kB, so ~50 MB at most.
MEMO_SIZE = 50_000
#: Metres per degree of latitude, rounded down (the true value is 110,574 to 111,694 m): converting a distance to
#: degrees with it can only widen a search box, never miss a candidate.
_M_PER_DEG_LAT_MIN = 110_000.0
#: Metres per degree of longitude at the equator on a sphere of the WGS84 semi-major axis, rounded down; multiplied
#: by cos(latitude) it is a lower bound of the ellipsoid's value at that latitude (the ellipsoid's is larger).
_M_PER_DEG_LON_EQ_MIN = 111_000.0


@dataclass(frozen=True, slots=True)
class PrecinctEntry:
    id: int
    code: str
    name: str
    county_id: int
    county_fips: str
    county_name: str
    jurisdiction_id: int

    @property
    def sort_key(self) -> tuple[str, str]:
        return (self.county_fips, self.code)


@dataclass(frozen=True, slots=True)
class ZoneHit:
    zone: Zone
    place_name: str
    classification: geometry.Classification


def _checked_point(lon: float, lat: float, accuracy_m: float) -> Point:
    """The point asked about, once its coordinates and the fix's accuracy are known to be usable."""
    geometry.check_lonlat(lon, lat)
    if not (math.isfinite(accuracy_m) and accuracy_m >= 0):
        raise geometry.GeometryError("The location accuracy must be zero or more metres.", "invalid_accuracy")
    return shapely.points((lon, lat))


def _reach_boxes(bounds: tuple[float, float, float, float], reach_m: float) -> list[tuple[float, float, float, float]]:
    """Lon/lat boxes that together contain every point within ``reach_m`` of something inside ``bounds``."""
    west, south, east, north = bounds
    dlat = reach_m / _M_PER_DEG_LAT_MIN
    south, north = max(-90.0, south - dlat), min(90.0, north + dlat)
    extreme = max(abs(south), abs(north))
    if extreme >= 89.0:
        return [(-180.0, south, 180.0, north)]
    dlon = reach_m / (_M_PER_DEG_LON_EQ_MIN * math.cos(math.radians(extreme)))
    west, east = west - dlon, east + dlon
    if east - west >= 360.0:
        return [(-180.0, south, 180.0, north)]
    boxes = [(max(west, -180.0), south, min(east, 180.0), north)]
    # Reach across the antimeridian: the part beyond ±180 reappears on the other side.
    if west < -180.0:
        boxes.append((west + 360.0, south, 180.0, north))
    if east > 180.0:
        boxes.append((-180.0, south, east - 360.0, north))
    return boxes


@dataclass(frozen=True, slots=True)
class ZoneSpec:
    """A zone before its geometry is prepared: the rule, what it is measured from, and that reference's shape."""

    rule: BufferRule
    reference_kind: str
    approximate: bool
    reference: shapely.Geometry


@dataclass(frozen=True, slots=True)
class Site:
    """A located polling place with at least one zone: ``center`` is its location (lon, lat); ``use`` says on which
    local dates of its time zone ``timezone`` its zones are in force, among its state's (``jurisdiction_id``)
    elections (``zones.DatedUse``; None: every day)."""

    place_id: int
    name: str
    center: tuple[float, float]
    zones: tuple[ZoneSpec, ...]
    use: DatedUse | None = None
    timezone: str = "UTC"
    jurisdiction_id: int = 0

    def local_day(self, on: dt.date | None, now: dt.datetime) -> dt.date:
        """The local date ``on``, or, without one, the site's local date at the instant ``now``."""
        return on if on is not None else now.astimezone(zoneinfo.ZoneInfo(self.timezone)).date()


def sites_from_zones(zones: Sequence[Zone], place_names: dict[int, str]) -> list[Site]:
    """Sites from ready zones (``zones_for``), grouped by polling place in the order given."""
    grouped: dict[int, list[Zone]] = defaultdict(list)
    for zone in zones:
        grouped[zone.polling_place_id].append(zone)
    return [
        Site(
            place_id,
            place_names.get(place_id, ""),
            place_zones[0].geo_rule.reference.center,
            tuple(
                ZoneSpec(z.rule, z.reference_kind, z.approximate, z.geo_rule.reference.geometry) for z in place_zones
            ),
        )
        for place_id, place_zones in grouped.items()
    ]


class GeographyIndex:
    """Precincts and buffer zones of one geography version, indexed for point queries.

    Built for national scale (~178,000 precincts, ~130,000 polling places) in a couple of seconds and a few hundred
    MiB: precinct polygons are prepared for fast point-in-polygon tests on first use, not all up front; a polling
    place's zones (exact references, prepared for geodesic distances) are made on first use and kept in a bounded
    cache; the R-trees hold only the precinct polygons and each place's reference shapes.
    """

    def __init__(
        self,
        *,
        version: int,
        precincts: Sequence[PrecinctEntry],
        boundaries: Sequence[shapely.Geometry] | npt.NDArray[np.object_],
        sites: Sequence[Site] = (),
        zones: Sequence[Zone] = (),
        place_names: dict[int, str] | None = None,
        max_limit_m: float | None = None,
        election_dates: dict[int, list[dt.date]] | None = None,
    ) -> None:
        self.version = version
        self.precincts = list(precincts)
        self._boundaries = np.asarray(boundaries, dtype=object)
        self._precinct_tree = shapely.STRtree(self._boundaries)
        self._prepare_lock = threading.Lock()
        self.sites = list(sites) + sites_from_zones(zones, place_names or {})
        self._site_of_place = {site.place_id: i for i, site in enumerate(self.sites)}
        #: Seconds ``build_index`` took (0 for an index made otherwise): decides inline or background rebuilds.
        self.build_seconds = 0.0
        # One R-tree entry per distinct reference shape of a site (the entrances, the building, the location).
        shapes, owners = [], []
        for i, site in enumerate(self.sites):
            seen: set[int] = set()
            for spec in site.zones:
                if id(spec.reference) not in seen:
                    seen.add(id(spec.reference))
                    shapes.append(spec.reference)
                    owners.append(i)
        self._reference_site = np.asarray(owners, dtype=np.intp)
        self._reference_tree = shapely.STRtree(np.asarray(shapes, dtype=object))
        limits = [spec.rule.distance_m for site in self.sites for spec in site.zones]
        #: Each state's election dates, sorted (``zones.DatedUse.days_for``).
        self.election_dates = election_dates or {}
        #: Whether any site's zones are in force on some days only: answers then depend on the date.
        self.dated = any(site.use is not None for site in self.sites)
        self.max_limit_m = max(max(limits, default=0.0), max_limit_m or 0.0)
        # Zones made on first use, most recently used last; bounded so a crawler cannot grow a worker without limit.
        self._zones: OrderedDict[int, list[Zone]] = OrderedDict()
        self._zones_lock = threading.Lock()
        # Drawn zones, most recently used last; bounded likewise.
        self._polygons: OrderedDict[tuple[int, str], shapely.Geometry] = OrderedDict()
        self._polygons_lock = threading.Lock()
        # Answers derived from this version of the geography (``memo``), most recently used last.
        self._memo: OrderedDict[tuple[object, ...], object] = OrderedDict()
        self._memo_lock = threading.Lock()

    def __len__(self) -> int:
        return len(self.precincts)

    @property
    def place_names(self) -> dict[int, str]:
        """The names of the polling places with zones, by id (benchmarks and tests)."""
        return {site.place_id: site.name for site in self.sites}

    @property
    def zones(self) -> list[Zone]:
        """Every zone, made now (benchmarks and tests; a request asks ``zones_of`` for the places it needs)."""
        return [zone for i in range(len(self.sites)) for zone in self._site_zones(i)]

    def zones_of(self, place_id: int, *, on: dt.date | None = None, now: dt.datetime | None = None) -> list[Zone]:
        """The zones of a polling place (none for a place without coordinates or rules), each with the dates it is in
        force as seen on the local date ``on`` (without one, the site's local date at ``now``, by default now)."""
        i = self._site_of_place.get(place_id)
        return [] if i is None else self._dated(i, on, now)[1]

    def _dated(self, i: int, on: dt.date | None, now: dt.datetime | None) -> tuple[bool, list[Zone]]:
        """(in force on the day?, the site's zones with ``applies_on`` as seen that day)."""
        made = self._site_zones(i)
        site = self.sites[i]
        if site.use is None:
            return True, made
        day = site.local_day(on, now or timezone.now())
        days = site.use.days_for(day, self.election_dates.get(site.jurisdiction_id, ()))
        if days is None:
            return True, made
        return zones.in_force(days, day), [dataclasses.replace(z, applies_on=days) for z in made]

    def _site_zones(self, i: int) -> list[Zone]:
        with self._zones_lock:
            made = self._zones.get(i)
            if made is not None:
                self._zones.move_to_end(i)
                return made
        site = self.sites[i]
        references: dict[int, geometry.Reference] = {}
        made = []
        for spec in site.zones:
            reference = references.get(id(spec.reference))
            if reference is None:
                reference = references[id(spec.reference)] = geometry.Reference(spec.reference, site.center)
            made.append(
                Zone(
                    polling_place_id=site.place_id,
                    rule=spec.rule,
                    reference_kind=spec.reference_kind,
                    approximate=spec.approximate,
                    geo_rule=geometry.ZoneRule(reference=reference, distance_m=spec.rule.distance_m),
                )
            )
        with self._zones_lock:
            self._zones[i] = made
            while len(self._zones) > ZONE_CACHE_SIZE:
                self._zones.popitem(last=False)
        return made

    def zone_polygon(self, zone: Zone) -> shapely.Geometry:
        """The drawn zone, computed on first use and kept for the life of this index (the geometry is immutable)."""
        key = (zone.polling_place_id, zone.rule.activity)
        with self._polygons_lock:
            polygon = self._polygons.get(key)
            if polygon is not None:
                self._polygons.move_to_end(key)
                return polygon
        polygon = zone.polygon()
        with self._polygons_lock:
            self._polygons[key] = polygon
            while len(self._polygons) > ZONE_POLYGON_CACHE_SIZE:
                self._polygons.popitem(last=False)
        return polygon

    def memo(self, key: tuple[object, ...], compute: Callable[[], T]) -> T:
        """``compute()``, kept with this index: for answers that change only with the geography version (which
        also covers rules, elections and assignments), so they live and die with the index built from it. Bounded
        (``MEMO_SIZE``, least recently used out). ``compute`` must read the database only after the version this
        index was asked for was read, so what it keeps is never older than the index."""
        with self._memo_lock:
            try:
                value = self._memo[key]
            except KeyError:
                pass
            else:
                self._memo.move_to_end(key)
                return value  # type: ignore[return-value]
        value = compute()
        with self._memo_lock:
            self._memo[key] = value
            while len(self._memo) > MEMO_SIZE:
                self._memo.popitem(last=False)
        return value

    def precinct_at(self, lon: float, lat: float) -> PrecinctEntry | None:
        """The precinct covering the point. On a shared edge or vertex several do: the one with the smallest
        (county FIPS, precinct code) is chosen, so every process and every request gives the same answer."""
        return self._precinct_covering(shapely.points((lon, lat)))

    def _precinct_covering(self, point: Point) -> PrecinctEntry | None:
        candidates = self._precinct_tree.query(point)
        if len(candidates) == 0:
            return None
        shapes = self._boundaries[candidates]
        if not shapely.is_prepared(shapes).all():
            # Prepared on first use (a precinct a lookup never reaches costs nothing more), under a lock: preparing
            # sets state inside the geometry that two threads must not build at once.
            with self._prepare_lock:
                shapely.prepare(shapes)
        covering = candidates[shapely.covers(shapes, point)]
        if len(covering) == 0:
            return None
        chosen: PrecinctEntry = min((self.precincts[int(i)] for i in covering), key=lambda p: p.sort_key)
        return chosen

    def zones_near(
        self,
        lon: float,
        lat: float,
        *,
        accuracy_m: float = 0.0,
        activity: str | None = None,
        on: dt.date | None = None,
        now: dt.datetime | None = None,
    ) -> list[ZoneHit]:
        """Every zone in force whose limit lies within ``REACH_BEYOND_LIMIT_M`` + accuracy of the point, classified
        exactly.

        Nearest first. ``accuracy_m`` widens the search box by converting it conservatively to degrees. A zone in
        force on some days only (``Site.use``) counts on the local date ``on``, or without one on the site's
        local date at ``now`` (the current time by default).
        """
        return self._zones_reaching(lon, lat, _checked_point(lon, lat, accuracy_m), accuracy_m, activity, on, now)

    def covered_and_zones_near(
        self,
        lon: float,
        lat: float,
        *,
        accuracy_m: float = 0.0,
        activity: str | None = None,
        on: dt.date | None = None,
        now: dt.datetime | None = None,
    ) -> tuple[bool, list[ZoneHit]]:
        """Whether a precinct covers the point, and ``zones_near``: the two questions of a compliance answer."""
        point = _checked_point(lon, lat, accuracy_m)
        covered = self._precinct_covering(point) is not None
        return covered, self._zones_reaching(lon, lat, point, accuracy_m, activity, on, now)

    def _zones_reaching(
        self,
        lon: float,
        lat: float,
        point: Point,
        accuracy_m: float,
        activity: str | None,
        on: dt.date | None,
        now: dt.datetime | None,
    ) -> list[ZoneHit]:
        # A zone within reach of the point has its reference within (its limit + the reach + the accuracy) of the
        # point, so within the box around the point drawn for the largest limit: a superset, decided exactly below.
        reach = self.max_limit_m + REACH_BEYOND_LIMIT_M + accuracy_m
        boxes = _reach_boxes((lon, lat, lon, lat), reach)
        if len(boxes) == 1:
            found = self._reference_tree.query(shapely.box(*boxes[0]))
        else:
            found = np.concatenate([self._reference_tree.query(shapely.box(*b)) for b in boxes])
        if len(found) == 0:
            return []
        sites = self._reference_site[found]
        hits: list[ZoneHit] = []
        for i in (np.unique(sites) if len(sites) > 1 else sites).tolist():
            site = self.sites[i]
            counts, site_zones = self._dated(i, on, now)
            if not counts:
                continue
            distances: dict[str, float] = {}  # rules measured from the same reference share one distance
            name = site.name
            for zone in site_zones:
                if activity is not None and zone.rule.activity != activity:
                    continue
                kind = zone.reference_kind
                if kind not in distances:
                    distances[kind] = geometry.geodesic_distance_m(lon, lat, zone.geo_rule.reference)
                result = geometry.classify_distance(distances[kind], zone.geo_rule.distance_m, accuracy_m)
                if result.distance_m <= result.limit_m + accuracy_m + REACH_BEYOND_LIMIT_M:
                    hits.append(ZoneHit(zone, name, result))
        hits.sort(key=lambda h: (h.classification.distance_m - h.classification.limit_m, h.zone.polling_place_id))
        return hits


#: Rows read from the database per round trip while building (bounded memory at national scale).
BUILD_CHUNK = 20_000


def _stream(qs: QuerySet[Any]) -> Iterator[list[tuple[Any, ...]]]:
    """The rows of a ``values_list`` query in chunks, as the database returns them: geometry columns stay WKB
    bytes, to be parsed a chunk at a time by ``shapely.from_wkb`` rather than one ``from_db_value`` call per row.
    A server-side cursor on PostgreSQL (as ``QuerySet.iterator`` uses), so a national table never sits in memory
    whole."""
    sql, params = qs.query.sql_with_params()
    with connections[qs.db].chunked_cursor() as cursor:
        cursor.execute(sql, params)
        while chunk := cursor.fetchmany(BUILD_CHUNK):
            yield chunk


def _date(value: Any) -> dt.date:
    """A date of a raw row: SQLite gives the ISO text, PostgreSQL a date."""
    return dt.date.fromisoformat(value) if isinstance(value, str) else value


def _from_wkb(values: Sequence[Any]) -> npt.NDArray[np.object_]:
    parsed: npt.NDArray[np.object_] = shapely.from_wkb(
        np.asarray([None if v is None else bytes(v) for v in values], dtype=object)
    )
    return parsed


def build_index(version: int) -> GeographyIndex:
    """The index of what the database holds now: precincts, and every located polling place with the zones its
    state's rules give it (``polling.geography.zones``, the single definition of what a zone is measured from)."""
    started = time.perf_counter()
    counties = {
        c["id"]: c
        for c in County.objects.values("id", "fips", "name", "jurisdiction_id", "timezone", "jurisdiction__timezone")
    }
    entries = []
    parts = []
    for chunk in _stream(Precinct.objects.order_by("pk").values_list("id", "code", "name", "county_id", "boundary")):
        for pk, code, name, county_id, _ in chunk:
            county = counties[county_id]
            entries.append(
                PrecinctEntry(pk, code, name, county_id, county["fips"], county["name"], county["jurisdiction_id"])
            )
        parts.append(_from_wkb([r[4] for r in chunk]))
    boundaries = np.concatenate(parts) if parts else np.empty(0, dtype=object)
    del parts
    rules: dict[int, list[BufferRule]] = defaultdict(list)
    for rule in BufferRule.objects.order_by("activity"):
        rules[rule.jurisdiction_id].append(rule)
    # Each place's doors as one shape (``zones.doors_measured_from``: those in use, or all when none is), made for
    # every place at once from the rows grouped by place.
    place_parts, in_use_parts, xy_parts = [], [], []
    for chunk in _stream(
        Entrance.objects.order_by("polling_place_id", "pk").values_list("polling_place_id", "location", "in_use")
    ):
        place_parts.append(np.fromiter((r[0] for r in chunk), dtype=np.int64, count=len(chunk)))
        in_use_parts.append(np.fromiter((bool(r[2]) for r in chunk), dtype=bool, count=len(chunk)))
        xy_parts.append(shapely.get_coordinates(_from_wkb([r[1] for r in chunk])))
    door_place = np.concatenate(place_parts) if place_parts else np.empty(0, dtype=np.int64)
    door_in_use = np.concatenate(in_use_parts) if in_use_parts else np.empty(0, dtype=bool)
    door_xy = np.concatenate(xy_parts) if xy_parts else np.empty((0, 2))
    del place_parts, in_use_parts, xy_parts
    door_shape: dict[int, shapely.Geometry] = {}
    if len(door_place):
        places_with_doors, first, group = np.unique(door_place, return_index=True, return_inverse=True)
        in_use_per_place = np.add.reduceat(door_in_use.astype(np.intp), first)
        kept = door_in_use | (in_use_per_place[group] == 0)
        counts = np.bincount(group[kept], minlength=len(places_with_doors))
        single = counts == 1
        shapes = np.empty(len(places_with_doors), dtype=object)
        shapes[single] = shapely.points(door_xy[kept & single[group]])
        several = kept & ~single[group]
        if several.any():
            shapes[~single] = shapely.multipoints(door_xy[several], indices=np.cumsum(~single)[group[several]] - 1)
        door_shape = dict(zip(places_with_doors.tolist(), shapes.tolist(), strict=True))
    del door_place, door_in_use, door_xy
    # The (election date, opening date) pairs of each site that is not an election-day site (``zones.dated_use``),
    # and each state's election dates.
    openings: dict[int, set[tuple[dt.date, dt.date]]] = defaultdict(set)
    for chunk in _stream(
        LocationHours.objects.filter(polling_place__is_election_day=False, polling_place__location__isnull=False)
        .order_by()
        .values_list("polling_place_id", "election__date", "date")
    ):
        for place_id, election_date, date in chunk:
            openings[place_id].add((_date(election_date), _date(date)))
    election_dates: dict[int, set[dt.date]] = defaultdict(set)
    for jurisdiction_id, date in Election.objects.order_by().values_list("jurisdiction_id", "date"):
        election_dates[jurisdiction_id].add(date)
    sites: list[Site] = []
    covering_rules: dict[tuple[int, bool, bool], list[BufferRule]] = {}
    places = (
        PollingPlace.objects.filter(location__isnull=False)
        .order_by("pk")
        .values_list(
            "id", "name", "county_id", "is_election_day", "is_early_voting", "is_drop_box", "building", "location"
        )
    )
    for chunk in _stream(places):
        buildings = _from_wkb([r[6] for r in chunk]).tolist()
        locations = _from_wkb([r[7] for r in chunk]).tolist()
        for (pk, name, county_id, election_day, early, drop_box, _, _), building, location in zip(
            chunk, buildings, locations, strict=True
        ):
            kind = (counties[county_id]["jurisdiction_id"], bool(election_day or early), bool(drop_box))
            covering = covering_rules.get(kind)
            if covering is None:
                covering = covering_rules[kind] = zones.rules_for_site(rules[kind[0]], voting=kind[1], drop_box=kind[2])
            if not covering:
                continue
            shape = door_shape.get(pk)
            specs = tuple(
                ZoneSpec(rule, *zones.reference_for(rule.measured_from, shape, building, location)) for rule in covering
            )
            county = counties[county_id]
            sites.append(
                Site(
                    pk,
                    name,
                    (location.x, location.y),
                    specs,
                    zones.dated_use(election_day=bool(election_day), openings=openings.get(pk, ())),
                    county["timezone"] or county["jurisdiction__timezone"],
                    county["jurisdiction_id"],
                )
            )
    index = GeographyIndex(
        version=version,
        precincts=entries,
        boundaries=boundaries,
        sites=sites,
        election_dates={j: sorted(dates) for j, dates in election_dates.items()},
    )
    index.build_seconds = time.perf_counter() - started
    _give_back_freed_memory()
    logger.info(
        "spatial index v%s built: %d precincts, %d polling places with zones in %.2fs",
        version,
        len(entries),
        len(sites),
        index.build_seconds,
    )
    return index


def _give_back_freed_memory() -> None:
    """Return the heap freed after a build (the rows read, the WKB parsed) to the system: tens of MiB at national
    scale that glibc would otherwise keep mapped in every worker. Best effort, glibc only."""
    with contextlib.suppress(OSError, AttributeError):  # not glibc: nothing to do
        ctypes.CDLL("libc.so.6").malloc_trim(0)


_lock = threading.Lock()
_current: GeographyIndex | None = None
_building = False


def current_index(version: int | None = None) -> GeographyIndex:
    """The index for the database's current geography version (or newer).

    When the geography changed, a small index (built in under ``INDEX_INLINE_BUILD_S``, as for a state) is rebuilt
    before this request is answered: no answer is ever stale. A large one (the nation's, seconds to build) is rebuilt
    in the background while requests go on being answered from the previous version, so a change never stalls a
    worker: answers are then stale for at most one build, and say which version they come from (``version``, the
    ETag). A process without any index builds it first either way.

    A build reads the version before and after loading, and starts again if it moved, so an index never mixes two
    versions (this works under READ COMMITTED on PostgreSQL and SQLite's snapshot reads alike).
    """
    global _current, _building
    wanted = geography_version() if version is None else version
    index = _current
    # Versions only grow: an index at least as new as the version this request read is fresh enough for it.
    if index is not None and index.version >= wanted:
        return index
    if index is not None and index.build_seconds > settings.INDEX_INLINE_BUILD_S:
        with _lock:
            start = not _building
            _building = True
        if start:
            threading.Thread(target=_build_in_background, name="spatial-index-build", daemon=True).start()
        return index
    with _lock:
        if _current is not None and _current.version >= wanted:
            return _current
        _current = _build_current(wanted)
        return _current


def _build_current(wanted: int) -> GeographyIndex:
    for _attempt in range(5):
        built = build_index(wanted)
        after = geography_version()
        if after == wanted:
            return built
        wanted = after
    return built


def _build_in_background() -> None:
    """Build the current version's index and put it in place; the requests meanwhile use the previous one."""
    global _current, _building
    try:
        wanted = geography_version()
        built = _build_current(wanted)
        with _lock:
            if _current is None or built.version > _current.version:
                _current = built
    except Exception:
        logger.exception("spatial index: the background build failed; answering from version %s", _version_held())
    finally:
        with _lock:
            _building = False
        connections.close_all()  # this thread's own connections


def _version_held() -> int | None:
    return _current.version if _current is not None else None


def reset_index() -> None:
    """Forget the index (tests that rewrite the database under the same version use this)."""
    global _current
    with _lock:
        _current = None

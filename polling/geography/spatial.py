"""The in-memory spatial index every public lookup answers from.

One index per process, built from the database and tagged with the geography version it was built from
(``GeographyVersion``). Each request compares that tag with the database (one indexed single-row read) and rebuilds
first if the geography changed, so no process answers from stale geography for longer than the request that
carried the change.

Queries cost O(log n + k): shapely ``STRtree`` (a packed R-tree) finds candidates by bounding box, then exact
predicates decide — ``covers`` on prepared precinct polygons, geodesic distance for zones.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import OrderedDict, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import shapely
from django.db.models import Prefetch
from shapely.geometry import Point

from polling import geometry
from polling.geography.services import geography_version
from polling.geography.zones import Zone, zones_for
from polling.models import BufferRule, County, Entrance, PollingPlace, Precinct

logger = logging.getLogger(__name__)
T = TypeVar("T")

#: How far beyond a zone's limit (plus the GPS accuracy) a zone is still listed as "within reach".
REACH_BEYOND_LIMIT_M = 100.0
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


class GeographyIndex:
    """Precincts and buffer zones of one geography version, indexed for point queries."""

    def __init__(
        self,
        *,
        version: int,
        precincts: Sequence[PrecinctEntry],
        boundaries: Sequence[shapely.Geometry],
        zones: Sequence[Zone],
        place_names: dict[int, str],
        max_limit_m: float,
    ) -> None:
        self.version = version
        self.precincts = list(precincts)
        self._boundaries = np.asarray(boundaries, dtype=object)
        shapely.prepare(self._boundaries)
        self._precinct_tree = shapely.STRtree(self._boundaries)
        self.zones = list(zones)
        self.zones_by_place: dict[int, list[Zone]] = defaultdict(list)
        for zone in self.zones:
            self.zones_by_place[zone.polling_place_id].append(zone)
        # Drawn zones, most recently used last; bounded so a crawler cannot grow a worker without limit.
        self._polygons: OrderedDict[tuple[int, str], shapely.Geometry] = OrderedDict()
        self._polygons_lock = threading.Lock()
        # Answers derived from this version of the geography (``memo``), most recently used last.
        self._memo: OrderedDict[tuple[object, ...], object] = OrderedDict()
        self._memo_lock = threading.Lock()
        self.place_names = place_names
        self.max_limit_m = max_limit_m
        boxes, owners = [], []
        for i, zone in enumerate(self.zones):
            reach = zone.geo_rule.distance_m + REACH_BEYOND_LIMIT_M
            for box in _reach_boxes(zone.geo_rule.reference.geometry.bounds, reach):
                boxes.append(shapely.box(*box))
                owners.append(i)
        self._zone_owner = np.asarray(owners, dtype=np.intp)
        self._zone_tree = shapely.STRtree(boxes)

    def __len__(self) -> int:
        return len(self.precincts)

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
        covering = candidates[shapely.covers(self._boundaries[candidates], point)]
        if len(covering) == 0:
            return None
        chosen: PrecinctEntry = min((self.precincts[int(i)] for i in covering), key=lambda p: p.sort_key)
        return chosen

    def zones_near(
        self, lon: float, lat: float, *, accuracy_m: float = 0.0, activity: str | None = None
    ) -> list[ZoneHit]:
        """Every zone whose limit lies within ``REACH_BEYOND_LIMIT_M`` + accuracy of the point, classified exactly.

        Nearest first. ``accuracy_m`` widens the search box by converting it conservatively to degrees.
        """
        geometry.check_lonlat(lon, lat)
        if not (math.isfinite(accuracy_m) and accuracy_m >= 0):
            raise geometry.GeometryError("The location accuracy must be zero or more metres.", "invalid_accuracy")
        return self._zones_reaching(lon, lat, shapely.points((lon, lat)), accuracy_m, activity)

    def covered_and_zones_near(
        self, lon: float, lat: float, *, accuracy_m: float = 0.0, activity: str | None = None
    ) -> tuple[bool, list[ZoneHit]]:
        """Whether a precinct covers the point, and ``zones_near``: the two questions of a compliance answer."""
        geometry.check_lonlat(lon, lat)
        if not (math.isfinite(accuracy_m) and accuracy_m >= 0):
            raise geometry.GeometryError("The location accuracy must be zero or more metres.", "invalid_accuracy")
        point = shapely.points((lon, lat))
        return self._precinct_covering(point) is not None, self._zones_reaching(lon, lat, point, accuracy_m, activity)

    def _zones_reaching(
        self, lon: float, lat: float, point: Point, accuracy_m: float, activity: str | None
    ) -> list[ZoneHit]:
        if accuracy_m == 0.0:
            # The reach boxes already hold each zone's reach: a box containing the point is a candidate.
            found = self._zone_tree.query(point)
        else:
            boxes = _reach_boxes((lon, lat, lon, lat), accuracy_m)
            found = np.concatenate([self._zone_tree.query(shapely.box(*b)) for b in boxes])
        if len(found) == 0:
            return []
        hits: list[ZoneHit] = []
        distances: dict[tuple[int, str], float] = {}  # rules measured from the same reference share one distance
        owners = self._zone_owner[found]
        for owner in (np.unique(owners) if len(owners) > 1 else owners).tolist():
            zone = self.zones[owner]
            if activity is not None and zone.rule.activity != activity:
                continue
            key = (zone.polling_place_id, zone.reference_kind)
            if key not in distances:
                distances[key] = geometry.geodesic_distance_m(lon, lat, zone.geo_rule.reference)
            result = geometry.classify_distance(distances[key], zone.geo_rule.distance_m, accuracy_m)
            if result.distance_m <= result.limit_m + accuracy_m + REACH_BEYOND_LIMIT_M:
                hits.append(ZoneHit(zone, self.place_names[zone.polling_place_id], result))
        hits.sort(key=lambda h: (h.classification.distance_m - h.classification.limit_m, h.zone.polling_place_id))
        return hits


def build_index(version: int) -> GeographyIndex:
    started = time.perf_counter()
    counties = {c["id"]: c for c in County.objects.values("id", "fips", "name", "jurisdiction_id")}
    entries, boundaries = [], []
    for p in (
        Precinct.objects.order_by("pk").only("id", "code", "name", "county_id", "boundary").iterator(chunk_size=2000)
    ):
        county = counties[p.county_id]
        entries.append(
            PrecinctEntry(p.pk, p.code, p.name, p.county_id, county["fips"], county["name"], county["jurisdiction_id"])
        )
        boundaries.append(p.boundary)
    rules: dict[int, list[BufferRule]] = defaultdict(list)
    for rule in BufferRule.objects.order_by("activity"):
        rules[rule.jurisdiction_id].append(rule)
    zones: list[Zone] = []
    names: dict[int, str] = {}
    places = (
        PollingPlace.objects.order_by("pk")
        .only("id", "name", "county_id", "location", "building", "is_election_day", "is_early_voting", "is_drop_box")
        .prefetch_related(
            Prefetch("entrances", queryset=Entrance.objects.only("id", "polling_place_id", "location", "in_use"))
        )
    )
    for place in places.iterator(chunk_size=2000):
        names[place.pk] = place.name
        zones.extend(zones_for(place, rules[counties[place.county_id]["jurisdiction_id"]]))
    max_limit = max((z.geo_rule.distance_m for z in zones), default=0.0)
    index = GeographyIndex(
        version=version, precincts=entries, boundaries=boundaries, zones=zones, place_names=names, max_limit_m=max_limit
    )
    logger.info(
        "spatial index v%s built: %d precincts, %d zones in %.2fs",
        version,
        len(entries),
        len(zones),
        time.perf_counter() - started,
    )
    return index


_lock = threading.Lock()
_current: GeographyIndex | None = None


def current_index(version: int | None = None) -> GeographyIndex:
    """The index for the database's current geography version, rebuilt first if the geography changed.

    A build reads the version before and after loading, and starts again if it moved, so an index never mixes two
    versions (this works under READ COMMITTED on PostgreSQL and SQLite's snapshot reads alike).
    """
    global _current
    wanted = geography_version() if version is None else version
    index = _current
    # Versions only grow: an index at least as new as the version this request read is fresh enough for it.
    if index is not None and index.version >= wanted:
        return index
    with _lock:
        if _current is not None and _current.version >= wanted:
            return _current
        for _attempt in range(5):
            built = build_index(wanted)
            after = geography_version()
            if after == wanted:
                _current = built
                return built
            wanted = after
        _current = built
        return built


def reset_index() -> None:
    """Forget the index (tests that rewrite the database under the same version use this)."""
    global _current
    with _lock:
        _current = None

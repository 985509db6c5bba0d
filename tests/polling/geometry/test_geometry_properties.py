"""Property tests for polling.geometry against GeographicLib, the reference implementation of Karney's geodesics.

Polling places are drawn in Mississippi, on Alaska's North Slope (~71 N), in Hawaii and in the Aleutians straddling
the antimeridian, with entrances a few tens of feet apart and the usual rule distances (30, 150, 600 ft) plus
arbitrary ones. Hypothesis runs derandomized so CI sees the same examples every time.
"""

from __future__ import annotations

import itertools
import math
import random
from dataclasses import dataclass

import numpy as np
import shapely
from geographiclib.geodesic import Geodesic
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from pyproj import Geod
from shapely.geometry import MultiPolygon, Point, Polygon

from polling.geometry import (
    FOOT_M,
    Reference,
    Status,
    ZoneRule,
    classify,
    geodesic_distance_m,
    zone_polygon,
)
from tests.polling.geometry.geodesic_oracle import edge_distance

WGS84 = Geodesic.WGS84
SETTINGS = {
    "deadline": None,
    "derandomize": True,
    "database": None,
    "suppress_health_check": [HealthCheck.too_slow],
}
REGIONS = {
    # west, east, south, north
    "mississippi": (-91.7, -88.1, 30.1, 35.0),
    "alaska": (-157.0, -150.0, 70.5, 71.4),
    "hawaii": (-160.3, -154.8, 18.9, 22.3),
}
STATUTORY = st.sampled_from([30 * FOOT_M, 150 * FOOT_M, 600 * FOOT_M])
# Two thirds the distances statutes use, one third anything from 3 to 200 m.
RULE_DISTANCES = st.one_of(STATUTORY, STATUTORY, st.floats(3.0, 200.0, allow_nan=False))
MAX_ERROR_M = 0.002


def limit_event(limit: float) -> None:
    feet = limit / FOOT_M
    event(f"limit: {round(feet)} ft" if abs(feet - round(feet)) < 1e-9 else "limit: other")


def wrap(lon: float) -> float:
    return lon - 360.0 * round(lon / 360.0) if abs(lon) > 180 else lon


def direct(lon: float, lat: float, azi: float, dist: float) -> tuple[float, float]:
    r = WGS84.Direct(lat, lon, azi, dist)
    return wrap(r["lon2"]), r["lat2"]


def inverse(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    return float(WGS84.Inverse(lat1, lon1, lat2, lon2)["s12"])


def nearest(lon: float, lat: float, entrances: list[tuple[float, float]]) -> float:
    return min(inverse(lon, lat, e_lon, e_lat) for e_lon, e_lat in entrances)


@dataclass
class Site:
    region: str
    center: tuple[float, float]
    entrances: list[tuple[float, float]]


@st.composite
def sites(draw: st.DrawFn) -> Site:
    region = draw(st.sampled_from([*REGIONS, "aleutians"]))
    if region == "aleutians":
        # The polling place within ~3.5 m of the antimeridian, one entrance 5-15 m away to the east and one to the
        # west (at least 4.3 m east-west), so the entrances are always on both sides of +-180.
        lat = draw(st.floats(51.0, 53.0))
        offset = draw(st.floats(0.0, 0.00005))
        lon = draw(st.sampled_from([180.0 - offset, -180.0 + offset]))
        entrances = [
            direct(lon, lat, draw(st.floats(60.0, 120.0)), draw(st.floats(5.0, 15.0))),
            direct(lon, lat, draw(st.floats(240.0, 300.0)), draw(st.floats(5.0, 15.0))),
        ]
        if draw(st.booleans()):
            entrances.append(direct(lon, lat, draw(st.floats(0.0, 360.0)), draw(st.floats(0.0, 15.0))))
        assert {math.copysign(1.0, e[0]) for e in entrances} == {1.0, -1.0}
    else:
        west, east, south, north = REGIONS[region]
        lon, lat = draw(st.floats(west, east)), draw(st.floats(south, north))
        count = draw(st.integers(1, 3))
        entrances = [direct(lon, lat, draw(st.floats(0.0, 360.0)), draw(st.floats(0.0, 15.0))) for _ in range(count)]
    event(f"region: {region}, {len(entrances)} entrances")
    return Site(region, (lon, lat), entrances)


PROBES = st.lists(
    st.tuples(
        st.integers(0, 2),  # which entrance to measure from
        st.floats(0.0, 360.0),  # azimuth
        st.floats(0.001, 50.0),  # |distance - limit|
        st.sampled_from([-1.0, 1.0]),  # inside or outside the limit
        st.floats(0.01, 20.0),  # reported GPS accuracy
    ),
    min_size=4,
    max_size=10,
)


@settings(max_examples=300, **SETTINGS)
@given(site=sites(), limit=RULE_DISTANCES, probes=PROBES)
def test_classification_agrees_with_geographiclib(site: Site, limit: float, probes: list[tuple]) -> None:
    limit_event(limit)
    rule = ZoneRule(Reference.from_points(site.entrances, center=site.center), limit)
    for which, azi, delta, sign, accuracy in probes:
        e_lon, e_lat = site.entrances[which % len(site.entrances)]
        target = limit + sign * delta
        if target <= 0.0:
            target = limit + delta
        lon, lat = direct(e_lon, e_lat, azi, target)
        truth = nearest(lon, lat, site.entrances)
        result = classify(lon, lat, rule)
        assert abs(result.distance_m - truth) <= 1e-6
        if abs(truth - limit) >= 0.001:
            assert (result.status is Status.INSIDE) == (truth <= limit)
            assert result.status is not Status.UNCERTAIN
        fuzzy = classify(lon, lat, rule, accuracy_m=accuracy)
        if abs(abs(truth - limit) - accuracy) >= 1e-6:
            if abs(truth - limit) < accuracy:
                assert fuzzy.status is Status.UNCERTAIN
            else:
                assert fuzzy.status is (Status.INSIDE if truth <= limit else Status.OUTSIDE)


def rings_of(zone: Polygon | MultiPolygon) -> list[tuple[Polygon, list[np.ndarray]]]:
    parts = list(zone.geoms) if isinstance(zone, MultiPolygon) else [zone]
    return [(p, [np.asarray(r.coords) for r in (p.exterior, *p.interiors)]) for p in parts]


def vertices_and_midpoints(ring: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The ring's vertices (closing one dropped) and the midpoint of every edge, taken with longitudes unwrapped
    (an edge from 179.9999 to -179.9999 has its midpoint at 180, not 0).

    Edges along the antimeridian itself are left out: they are where the zone was cut in two (RFC 7946), inside
    the zone, not part of its boundary. Their end vertices are kept: they lie on the boundary."""
    a, b = ring[:-1], ring[1:].copy()
    b[:, 0] = a[:, 0] + (b[:, 0] - a[:, 0] + 180.0) % 360.0 - 180.0
    cut = (np.abs(a[:, 0]) == 180.0) & (a[:, 0] == b[:, 0])
    mid = (a[~cut] + b[~cut]) / 2.0
    mid[:, 0] = [wrap(x) for x in mid[:, 0]]
    return a, mid


def check_zone_shape(zone: Polygon | MultiPolygon) -> None:
    assert isinstance(zone, Polygon | MultiPolygon)
    assert zone.is_valid
    for part, _ in rings_of(zone):
        assert part.exterior.is_ccw
        assert all(not hole.is_ccw for hole in part.interiors)
        lons = shapely.get_coordinates(part)[:, 0]
        assert lons.min() >= -180.0
        assert lons.max() <= 180.0


@settings(max_examples=100, **SETTINGS)
@given(site=sites(), limit=RULE_DISTANCES)
def test_zone_boundary_lies_on_the_limit(site: Site, limit: float) -> None:
    """Every vertex and every edge midpoint of every ring of every part is at the limit: never outside it (beyond
    10 nm of rounding), and inside it by at most the chord sagitta plus a few micrometres (the 1 cm requirement,
    200 times over)."""
    limit_event(limit)
    rule = ZoneRule(Reference.from_points(site.entrances, center=site.center), limit)
    zone = zone_polygon(rule, max_error_m=MAX_ERROR_M)
    check_zone_shape(zone)
    if site.region == "aleutians":
        assert isinstance(zone, MultiPolygon)  # split at the antimeridian
    top = -math.inf
    for _, rings in rings_of(zone):
        for ring in rings:
            vertices, midpoints = vertices_and_midpoints(ring)
            for lon, lat in vertices:
                d = nearest(lon, lat, site.entrances)
                assert limit - MAX_ERROR_M - 1e-8 <= d <= limit + 1e-8
                top = max(top, d)
            for lon, lat in midpoints:
                d = nearest(lon, lat, site.entrances)
                assert limit - MAX_ERROR_M - 1e-8 <= d <= limit + 1e-8
    # The arc vertices sit on the limit itself (within 3 micrometres), not merely within tolerance of it.
    assert limit - 3e-6 <= top <= limit + 1e-8


# --------------------------------------------------------------------------------------------------- outlines


def outline_distance(lon: float, lat: float, ring: list[tuple[float, float]]) -> float:
    """Oracle: 0 inside the outline, else the least geodesic distance to any of its (geodesic) edges."""
    ref = ring[0][0]
    unwrapped = [(x + 360.0 * round((ref - x) / 360.0), y) for x, y in ring]
    if Polygon(unwrapped).contains(Point(lon + 360.0 * round((ref - lon) / 360.0), lat)):
        return 0.0
    to_vertex = [inverse(lon, lat, *v) for v in ring]
    edges = []
    for i in range(len(ring) - 1):
        length = inverse(*ring[i], *ring[i + 1])
        # Any point X of the edge has |PX| >= (|PA| + |PB| - |AB|) / 2: skip edges that cannot be nearest.
        edges.append(((to_vertex[i] + to_vertex[i + 1] - length) / 2.0, i))
    best = min(to_vertex)
    for bound, i in sorted(edges):
        if bound >= best:
            break
        best = min(best, edge_distance(lon, lat, ring[i], ring[i + 1]))
    return best


def split_at_antimeridian(ring: list[tuple[float, float]]) -> MultiPolygon:
    """Store a ring that crosses 180 degrees as RFC 7946 parts, with every cut point exactly on its geodesic edge
    (so the split outline is the same shape as the ring, edge for edge)."""
    ref = ring[0][0]
    unwrapped = [(x + 360.0 * round((ref - x) / 360.0), y) for x, y in ring]
    out = [unwrapped[0]]
    for (ax, ay), (bx, by) in itertools.pairwise(unwrapped):
        if (ax - 180.0) * (bx - 180.0) < 0.0:
            line = WGS84.InverseLine(ay, ax, by, bx)
            lo, hi = 0.0, line.s13
            while hi - lo > 1e-12:  # bisect on the unrolled longitude along the edge
                mid = (lo + hi) / 2.0
                lon = line.Position(mid, Geodesic.STANDARD | Geodesic.LONG_UNROLL)["lon2"]
                lo, hi = (mid, hi) if (lon - 180.0) * (ax - 180.0) > 0.0 else (lo, mid)
            out.append((180.0, line.Position((lo + hi) / 2.0)["lat2"]))
        out.append((bx, by))
    whole = Polygon(out)
    east_part = shapely.intersection(whole, shapely.box(0.0, -90.0, 180.0, 90.0))
    west_part = shapely.affinity.translate(shapely.intersection(whole, shapely.box(180.0, -90.0, 360.0, 90.0)), -360)
    split = MultiPolygon([east_part, west_part])
    assert split.is_valid
    return split


@dataclass
class Building:
    region: str
    ring: list[tuple[float, float]]  # counter-clockwise, closed, longitudes wrapped into [-180, 180]
    reference: Reference
    inside: tuple[float, float]  # a point well inside the building


@st.composite
def buildings(draw: st.DrawFn) -> Building:
    """A 20-80 m geodesic rectangle, counter-clockwise, sometimes with a shallow recess in one wall (the case where
    GEOS's own polygon buffer goes wrong). In the Aleutians it straddles the antimeridian and is stored split."""
    region = draw(st.sampled_from([*REGIONS, "aleutians"]))
    if region == "aleutians":
        lat = draw(st.floats(51.0, 53.0))
        origin = (179.9996, lat)  # ~28 m west of the meridian, so a 40-80 m wall crosses it
        azi = draw(st.floats(80.0, 100.0))
        a = draw(st.floats(40.0, 80.0))
    else:
        west, east, south, north = REGIONS[region]
        origin = (draw(st.floats(west, east)), draw(st.floats(south, north)))
        azi = draw(st.floats(0.0, 360.0))
        a = draw(st.floats(20.0, 80.0))
    b = draw(st.floats(20.0, 80.0))
    depth = draw(st.sampled_from([0.0, 0.0, 0.05, 0.3, 1.0, 3.0]))
    left = azi - 90.0
    c0 = origin
    c1 = direct(*c0, azi, a)
    c2 = direct(*c1, left, b)
    c3 = direct(*c0, left, b)
    ring = [c0]
    if depth:
        n1, n2 = direct(*c0, azi, 0.35 * a), direct(*c0, azi, 0.65 * a)
        ring += [n1, direct(*n1, left, depth), direct(*n2, left, depth), n2]
    ring += [c1, c2, c3, c0]
    if region == "aleutians":
        geometry = split_at_antimeridian(ring)
        center = (180.0, lat)
    else:
        geometry = Polygon(ring)
        center = origin
    assert Polygon([(x + 360.0 * round((ring[0][0] - x) / 360.0), y) for x, y in ring]).exterior.is_ccw
    event(f"building: {region}, recess {depth} m")
    inside = direct(*c0, azi - 45.0, 5.0)  # 3.5 m along the first wall, 3.5 m in: short of any recess
    return Building(region, ring, Reference.from_polygon(geometry, center=center), inside)


OUTLINE_PROBES = st.lists(
    st.tuples(
        st.integers(0, 7),  # wall
        st.floats(0.0, 1.0),  # where along it
        st.floats(-60.0, 60.0),  # direction, relative to the outward normal
        st.floats(0.001, 50.0),  # |distance - limit|
        st.sampled_from([-1.0, 1.0]),
    ),
    min_size=3,
    max_size=6,
)


@settings(max_examples=200, **SETTINGS)
@given(building=buildings(), limit=RULE_DISTANCES, probes=OUTLINE_PROBES)
def test_outline_distance_and_classification_agree_with_geographiclib(
    building: Building, limit: float, probes: list[tuple]
) -> None:
    ring = building.ring
    limit_event(limit)
    rule = ZoneRule(building.reference, limit)
    for wall, u, turn, delta, sign in probes:
        i = wall % (len(ring) - 1)
        line = WGS84.InverseLine(ring[i][1], ring[i][0], ring[i + 1][1], ring[i + 1][0])
        foot = line.Position(u * line.s13)
        outward = foot["azi2"] + 90.0  # right of travel is outside a counter-clockwise ring
        target = limit + sign * delta
        if target <= 0.01:
            target = limit + delta
        lon, lat = direct(wrap(foot["lon2"]), foot["lat2"], outward + turn, target)
        truth = outline_distance(lon, lat, ring)
        result = classify(lon, lat, rule)
        assert abs(result.distance_m - truth) < 1e-6
        if abs(truth - limit) >= 0.001:
            assert (result.status is Status.INSIDE) == (truth <= limit)
    # Inside the building the distance is 0; at a corner, 0 up to rounding.
    assert geodesic_distance_m(*building.inside, building.reference) == 0.0
    assert classify(*building.inside, rule).status is Status.INSIDE
    assert geodesic_distance_m(*ring[2], building.reference) <= 1e-8


@settings(max_examples=30, **SETTINGS)
@given(building=buildings(), limit=RULE_DISTANCES)
def test_outline_zone_boundary_lies_on_the_limit(building: Building, limit: float) -> None:
    """Every vertex and edge midpoint is checked with geodesic_distance_m (itself checked against the oracle
    above), and a random sample of them with the GeographicLib oracle directly."""
    limit_event(limit)
    rule = ZoneRule(building.reference, limit)
    zone = zone_polygon(rule, max_error_m=MAX_ERROR_M)
    check_zone_shape(zone)
    assert isinstance(zone, MultiPolygon) == (building.region == "aleutians")
    points: list[tuple[float, float]] = []
    for _, rings in rings_of(zone):
        for ring in rings:
            vertices, midpoints = vertices_and_midpoints(ring)
            points += [(x, y) for x, y in vertices] + [(x, y) for x, y in midpoints]
    top = -math.inf
    for lon, lat in points:
        d = geodesic_distance_m(lon, lat, building.reference)
        assert limit - MAX_ERROR_M - 1e-8 <= d <= limit + 1e-8
        top = max(top, d)
    assert limit - 3e-6 <= top <= limit + 1e-8
    rng = random.Random(len(points))
    for lon, lat in rng.sample(points, 12):
        d = outline_distance(lon, lat, building.ring)
        assert limit - MAX_ERROR_M - 1e-8 <= d <= limit + 1e-8


@settings(max_examples=300, **SETTINGS)
@given(
    n=st.integers(min_value=1, max_value=12),
    lon=st.floats(min_value=-180, max_value=180),
    lat=st.floats(min_value=-90, max_value=90),
    spread=st.sampled_from([1e-5, 1e-3, 1.0, 90.0]),
    seed=st.integers(min_value=0, max_value=2**32 - 1),
)
def test_few_and_many_entrances_give_the_distance_of_the_same_solver_to_the_bit(n, lon, lat, spread, seed):
    # Up to 8 points take scalar geodesic inverses, more take the array form: both must be GeographicLib's minimum.
    rnd = random.Random(seed)
    points = [
        (
            max(-180.0, min(180.0, lon + rnd.uniform(-spread, spread))),
            max(-90.0, min(90.0, lat + rnd.uniform(-spread, spread))),
        )
        for _ in range(n)
    ]
    qlon = max(-180.0, min(180.0, lon + rnd.uniform(-spread, spread)))
    qlat = max(-90.0, min(90.0, lat + rnd.uniform(-spread, spread)))
    reference = Reference(shapely.MultiPoint(points) if n > 1 else Point(points[0]), points[0])
    ours = geodesic_distance_m(qlon, qlat, reference)
    truth = min(WGS84.Inverse(qlat, qlon, plat, plon)["s12"] for plon, plat in points)
    assert abs(ours - truth) <= 1e-6  # GeographicLib in Python and PROJ's C agree to a few nanometres
    lons, lats = np.array([p[0] for p in points]), np.array([p[1] for p in points])
    array_form = float(np.min(Geod(ellps="WGS84").inv(np.full(n, qlon), np.full(n, qlat), lons, lats)[2]))
    assert ours == array_form

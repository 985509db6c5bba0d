"""The spatial index agrees with a brute-force shapely computation over every precinct, on thousands of random
points and on points exactly on shared edges and vertices; a point on a shared boundary gets exactly one answer."""

from __future__ import annotations

import json
import random
from collections import Counter
from functools import cache
from pathlib import Path

import numpy as np
import pytest
import shapely
from shapely.geometry import Point, shape

from polling.geography.spatial import GeographyIndex, PrecinctEntry, _reach_boxes

FIXTURES = Path(__file__).resolve().parents[3] / "fixtures" / "mississippi"


@cache
def demo() -> tuple[list[PrecinctEntry], list[shapely.Geometry]]:
    counties = {f["properties"]["fips"]: f["properties"]["name"] for f in _features("counties")}
    entries, shapes = [], []
    for i, f in enumerate(_features("precincts"), start=1):
        p = f["properties"]
        entries.append(
            PrecinctEntry(
                i, p["code"], p["name"], 1000 + int(p["county_fips"]), p["county_fips"], counties[p["county_fips"]], 28
            )
        )
        shapes.append(shape(f["geometry"]))
    return entries, shapes


def _features(name: str) -> list[dict]:
    return json.loads((FIXTURES / f"{name}.geojson").read_text())["features"]


@cache
def index() -> GeographyIndex:
    entries, shapes = demo()
    return GeographyIndex(version=1, precincts=entries, boundaries=shapes, zones=[], place_names={}, max_limit_m=0)


@cache
def _all_shapes() -> np.ndarray:
    # Parsed afresh and never prepared: the brute force shares no geometry object with the index.
    return np.asarray([shape(f["geometry"]) for f in _features("precincts")], dtype=object)


def covering(lon: float, lat: float) -> list[int]:
    """Every precinct (by position) covering the point, testing all 1,750 of them."""
    return list(np.flatnonzero(shapely.covers(_all_shapes(), Point(lon, lat))))


def brute_force(lon: float, lat: float) -> PrecinctEntry | None:
    entries = demo()[0]
    found = [entries[i] for i in covering(lon, lat)]
    return min(found, key=lambda e: (e.county_fips, e.code)) if found else None


def test_random_points_agree_with_brute_force():
    rng = random.Random(20261124)
    west, south, east, north = -91.7, 30.0, -88.0, 35.05  # Mississippi and a margin outside it
    points = [(rng.uniform(west, east), rng.uniform(south, north)) for _ in range(10_000)]
    outside = 0
    for lon, lat in points:
        expected = brute_force(lon, lat)
        assert index().precinct_at(lon, lat) == expected, (lon, lat)
        outside += expected is None
    assert 0 < outside < len(points)  # the sample really crosses the state line


def _shared_vertices() -> list[tuple[float, float]]:
    counts: Counter[tuple[float, float]] = Counter()
    for s in demo()[1]:
        for xy in {tuple(c) for c in shapely.get_coordinates(s.boundary)}:
            counts[xy] += 1
    return [xy for xy, n in counts.items() if n >= 2]


def test_points_exactly_on_shared_vertices_get_the_brute_force_answer_and_exactly_one_precinct():
    vertices = _shared_vertices()
    rng = random.Random(7)
    sample = rng.sample(vertices, 5000)
    three_way = 0
    for lon, lat in sample:
        expected = brute_force(lon, lat)
        assert expected is not None
        assert index().precinct_at(lon, lat) == expected
        three_way += len(covering(lon, lat)) >= 3
    assert three_way > 0  # corners where three precincts meet are in the sample


def test_points_on_shared_edges_resolve_deterministically():
    _entries, shapes = demo()
    rng = random.Random(11)
    checked = 0
    for i in rng.sample(range(len(shapes)), 1000):
        ring = shapely.get_coordinates(shapes[i].boundary)
        j = rng.randrange(len(ring) - 1)
        (x0, y0), (x1, y1) = ring[j], ring[j + 1]
        for t in (0.5, 0.25):
            lon, lat = x0 + t * (x1 - x0), y0 + t * (y1 - y0)
            first = index().precinct_at(lon, lat)
            assert first == brute_force(lon, lat)
            assert all(index().precinct_at(lon, lat) == first for _ in range(3))
            checked += 1
    assert checked == 2000


def test_a_point_outside_every_precinct_has_none():
    assert index().precinct_at(-88.5, 29.5) is None  # Gulf of Mexico
    assert index().precinct_at(0.0, 0.0) is None


@pytest.mark.parametrize(
    ("bounds", "reach", "expected_parts"),
    [
        ((-90.0, 32.0, -90.0, 32.0), 100.0, 1),
        ((179.9999, 52.0, 179.9999, 52.0), 100.0, 2),  # reach crosses the antimeridian eastwards
        ((-179.9999, 52.0, -179.9999, 52.0), 100.0, 2),
        ((0.0, 89.5, 0.0, 89.5), 100_000.0, 1),  # near the pole: every longitude
    ],
)
def test_reach_boxes_cover_every_point_within_reach(bounds, reach, expected_parts):
    from geographiclib.geodesic import Geodesic

    boxes = _reach_boxes(bounds, reach)
    assert len(boxes) == expected_parts
    lon0, lat0 = bounds[0], bounds[1]
    for azimuth in np.linspace(0, 360, 73):
        g = Geodesic.WGS84.Direct(lat0, lon0, azimuth, reach * 0.999)
        lon, lat = g["lon2"], g["lat2"]
        assert any(w <= lon <= e and s <= lat <= n for w, s, e, n in boxes), (azimuth, lon, lat)

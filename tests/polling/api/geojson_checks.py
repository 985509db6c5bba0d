"""RFC 7946 checks used by the API tests."""

from __future__ import annotations

import itertools
import math
from typing import Any

import shapely
from shapely.geometry import shape

_TYPES = {"Point", "MultiPoint", "LineString", "MultiLineString", "Polygon", "MultiPolygon"}


def _signed_area(ring: list[list[float]]) -> float:
    return 0.5 * sum(x0 * y1 - x1 * y0 for (x0, y0), (x1, y1) in itertools.pairwise(ring))


def _positions(coords: Any) -> list[list[float]]:
    if coords and isinstance(coords[0], int | float):
        return [coords]
    return [p for c in coords for p in _positions(c)]


def assert_geometry(geom: dict[str, Any]) -> None:
    assert geom["type"] in _TYPES, geom["type"]
    for lon, lat, *_ in _positions(geom["coordinates"]):
        assert math.isfinite(lon) and math.isfinite(lat)
        assert -180 <= lon <= 180 and -90 <= lat <= 90, (lon, lat)
    polygons = {"Polygon": [geom["coordinates"]], "MultiPolygon": geom["coordinates"]}.get(geom["type"], [])
    for rings in polygons:
        for n, ring in enumerate(rings):
            assert len(ring) >= 4 and ring[0] == ring[-1], "rings are closed"
            area = _signed_area(ring)
            assert (area > 0) if n == 0 else (area < 0), "exterior counter-clockwise, holes clockwise (RFC 7946 3.1.6)"
    assert shapely.is_valid(shape(geom)), shapely.is_valid_reason(shape(geom))


def assert_feature(feature: dict[str, Any]) -> None:
    assert feature["type"] == "Feature"
    assert "id" in feature and "properties" in feature
    assert_geometry(feature["geometry"])


def assert_feature_collection(fc: dict[str, Any]) -> None:
    assert fc["type"] == "FeatureCollection"
    assert isinstance(fc["features"], list)
    for feature in fc["features"]:
        assert_feature(feature)

"""Exact buffer geometry for polling places. Pure shapely + pyproj; no Django import.

PLACEHOLDER: interface only, being replaced by the full implementation.
"""

from __future__ import annotations

import json
from typing import Any

import shapely
from shapely.geometry import mapping, shape
from shapely.geometry.base import BaseGeometry

FOOT_M = 0.3048


class GeometryError(ValueError):
    def __init__(self, message: str, code: str = "invalid_geometry") -> None:
        super().__init__(message)
        self.code = code


def parse_geojson(
    value: str | dict[str, Any],
    *,
    allowed_types: tuple[str, ...] | None = None,
    expected_bbox: tuple[float, float, float, float] | None = None,
    repair: bool = False,
) -> BaseGeometry:
    obj = json.loads(value) if isinstance(value, str) else value
    geom = shape(obj)
    check_geometry(geom)
    return geom


def check_geometry(geom: BaseGeometry) -> None:
    if geom.is_empty:
        raise GeometryError("empty", "empty_geometry")


def to_geojson(geom: BaseGeometry) -> dict[str, Any]:
    return mapping(geom)


def to_geojson_text(geom: BaseGeometry, indent: int | None = None) -> str:
    return json.dumps(to_geojson(geom), indent=indent)


__all__ = ["FOOT_M", "GeometryError", "check_geometry", "parse_geojson", "shapely", "to_geojson", "to_geojson_text"]

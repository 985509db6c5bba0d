"""GeoJSON in and out: geometry objects parsed and validated before shapely sees them, and written per RFC 7946.

shapely silently accepts NaN, open rings and swapped axes, so the raw coordinates are checked first, and every
refusal names the coordinate at fault (see :func:`parse_geojson`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Final

import numpy as np
import shapely
from shapely.geometry import LineString, MultiPoint, MultiPolygon, Point, Polygon, mapping
from shapely.geometry.base import BaseGeometry

from polling.geometry.coordinates import (
    BBox,
    BoolArray,
    FloatArray,
    LonLat,
    check_lonlat_values,
    is_finite_number,
    is_number,
)
from polling.geometry.errors import (
    GeometryError,
    capitalise,
    coordinates_path,
    describe_position,
    empty_error,
    readable,
)
from polling.geometry.validity import SUPPORTED_TYPES, invalid_error, repair_polygonal

MAX_POSITIONS: Final = 1_000_000
"""Most positions accepted in one geometry; a building outline has tens, a detailed parcel a few thousand."""

MAX_GEOJSON_CHARS: Final = 64 * 1024 * 1024
"""Longest GeoJSON text parsed: far beyond MAX_POSITIONS worth of coordinates, short of exhausting memory."""


class _Counter:
    """Running count of positions, so a huge geometry is refused before it is all built."""

    def __init__(self) -> None:
        self.n = 0

    def add(self) -> None:
        self.n += 1
        if self.n > MAX_POSITIONS:
            raise GeometryError(
                f"The shape has more than {MAX_POSITIONS:,} points, far more than any polling place needs. "
                "Simplify it before uploading.",
                "geometry_too_large",
            )


def _as_list(value: object, geom_type: str, indices: list[int], what: str) -> list[Any]:
    if not isinstance(value, list | tuple):
        where, path = describe_position(geom_type, indices), coordinates_path(indices)
        raise GeometryError(
            f"{capitalise(where)} ({path}) should be {what}, but it is {readable(value)}.",
            "invalid_geojson",
            path=path,
        )
    return list(value)


def _position(value: object, geom_type: str, indices: list[int], counter: _Counter) -> LonLat:
    where = describe_position(geom_type, indices)
    path = coordinates_path(indices)
    if not isinstance(value, list | tuple):
        raise GeometryError(
            f"{capitalise(where)} ({path}) should be a [longitude, latitude] pair, but it is {readable(value)}.",
            "invalid_geojson",
            path=path,
        )
    if len(value) not in (2, 3):
        raise GeometryError(
            f"{capitalise(where)} ({path}) has {len(value)} numbers; a position is [longitude, latitude] "
            "with an optional altitude.",
            "invalid_geojson",
            path=path,
        )
    counter.add()
    if len(value) == 3 and not is_number(value[2]):
        raise GeometryError(
            f"{capitalise(where)} ({path}) has an altitude of {readable(value[2])}, which is not a number.",
            "invalid_geojson",
            path=path,
        )
    # The altitude, if any, is dropped: zones are measured on the ellipsoid.
    return check_lonlat_values(value[0], value[1], where, path)


def _positions(value: object, geom_type: str, indices: list[int], counter: _Counter, what: str) -> list[LonLat]:
    items = _as_list(value, geom_type, indices, what)
    return [_position(item, geom_type, [*indices, i], counter) for i, item in enumerate(items)]


def _ring(value: object, geom_type: str, indices: list[int], counter: _Counter) -> list[LonLat]:
    ring = _positions(value, geom_type, indices, counter, "a list of [longitude, latitude] positions")
    where = describe_position(geom_type, indices)
    path = coordinates_path(indices)
    if len(ring) < 4:
        raise GeometryError(
            f"{capitalise(where)} ({path}) has {len(ring)} point{'s' if len(ring) != 1 else ''}; a closed outline "
            "needs at least 4 (three corners, then the first corner repeated to close it).",
            "too_few_points",
            path=path,
        )
    if ring[0] != ring[-1]:
        # Refuse rather than close it ourselves: a missing closing point more often means a truncated file than
        # a sloppy one, and silently closing a truncated outline would draw the wrong zone.
        last = [*indices, len(ring) - 1]
        raise GeometryError(
            f"{capitalise(where)} ({path}) is not closed: it starts at "
            f"[{readable(ring[0][0])}, {readable(ring[0][1])}] but "
            f"ends at [{readable(ring[-1][0])}, {readable(ring[-1][1])}]. The last point must repeat the first. "
            "If the file was cut short, export it again.",
            "unclosed_ring",
            path=coordinates_path(last),
        )
    return ring


def _polygon_rings(value: object, geom_type: str, indices: list[int], counter: _Counter) -> list[list[LonLat]]:
    rings = _as_list(value, geom_type, indices, "a list of rings")
    if not rings:
        raise empty_error(geom_type, indices)
    return [_ring(r, geom_type, [*indices, i], counter) for i, r in enumerate(rings)]


def _load(value: str | bytes | Mapping[str, Any]) -> Mapping[str, Any]:
    if isinstance(value, bytes | bytearray):
        try:
            value = bytes(value).decode("utf-8")
        except UnicodeDecodeError:
            raise GeometryError("The GeoJSON is not UTF-8 text.", "invalid_geojson") from None
    if isinstance(value, str):
        if len(value) > MAX_GEOJSON_CHARS:
            raise GeometryError(
                f"The GeoJSON text is over {MAX_GEOJSON_CHARS // (1024 * 1024)} MB, far more than any polling "
                "place needs. Simplify the shape before uploading.",
                "geometry_too_large",
            )
        if not value.strip():
            raise GeometryError("No GeoJSON was given.", "empty_geometry")
        try:
            # json.loads accepts NaN and Infinity; they are refused by the coordinate checks with a clear message.
            obj = json.loads(value)
        except json.JSONDecodeError as exc:
            raise GeometryError(
                f"This is not valid GeoJSON text: {exc.msg} at line {exc.lineno}, column {exc.colno}.",
                "invalid_geojson",
            ) from None
        except RecursionError:
            raise GeometryError("The GeoJSON is nested too deeply to be a geometry.", "invalid_geojson") from None
    else:
        obj = value
    if not isinstance(obj, Mapping):
        raise GeometryError(
            f'Expected a GeoJSON geometry object like {{"type": "Polygon", "coordinates": ...}}, '
            f"got {type(obj).__name__}.",
            "invalid_geojson",
        )
    return obj


def _check_crs(obj: Mapping[str, Any]) -> None:
    # RFC 7946 dropped "crs"; older files still carry one. Anything but WGS84 lon/lat would be misread as degrees.
    crs = obj.get("crs")
    if crs is None:
        return
    name = ""
    if isinstance(crs, Mapping) and isinstance(crs.get("properties"), Mapping):
        name = str(crs["properties"].get("name", ""))
    normalised = name.upper().replace("::", ":")
    if not any(tag in normalised for tag in ("CRS84", "EPSG:4326", "WGS84")):
        raise GeometryError(
            f"The GeoJSON declares the coordinate system {name or crs!r}. Only WGS84 longitude/latitude "
            "(the GeoJSON standard) is accepted: re-export the shape in EPSG:4326 / CRS84.",
            "invalid_geojson",
        )


def _check_allowed(geom_type: str, allowed_types: tuple[str, ...] | None) -> None:
    if allowed_types is not None and geom_type not in allowed_types:
        raise GeometryError(
            f"Expected a {' or '.join(allowed_types)}, got a {geom_type}.",
            "wrong_geometry_type",
        )


def _in_bbox(lon: FloatArray, lat: FloatArray, bbox: BBox) -> BoolArray:
    west, south, east, north = bbox
    in_lat = (lat >= south) & (lat <= north)
    # A box with west > east crosses the antimeridian (RFC 7946 section 5.2).
    in_lon = (lon >= west) & (lon <= east) if west <= east else (lon >= west) | (lon <= east)
    return in_lat & in_lon


def _check_expected_bbox(coords: FloatArray, geom_type: str, bbox: BBox) -> None:
    if len(bbox) != 4 or not all(is_finite_number(v) for v in bbox):
        raise ValueError("expected_bbox must be four finite numbers: west, south, east, north")
    west, south, east, north = (float(v) for v in bbox)
    lon, lat = coords[:, 0], coords[:, 1]
    if _in_bbox(lon, lat, (west, south, east, north)).any():
        return
    # Nothing lies where the shape is expected. If reading every pair the other way round puts all of it there,
    # the pairs were almost certainly written latitude first.
    if np.all(np.abs(lon) <= 90.0) and _in_bbox(lat, lon, (west, south, east, north)).all():
        raise GeometryError(
            f"The {geom_type} lies outside the expected area (longitude {readable(west)} to {readable(east)}, latitude "
            f"{readable(south)} to {readable(north)}), but would lie inside it with each pair swapped. The coordinates "
            "look like latitude, longitude; GeoJSON lists longitude first.",
            "axis_order_swapped",
            path="coordinates",
        )


def parse_geojson(
    value: str | bytes | Mapping[str, Any],
    *,
    allowed_types: tuple[str, ...] | None = None,
    expected_bbox: BBox | None = None,
    repair: bool = False,
) -> BaseGeometry:
    """Parse and validate a GeoJSON geometry object (text or an already-decoded mapping).

    Accepts Point, MultiPoint, LineString, Polygon and MultiPolygon geometry objects (not Features: pass their
    ``geometry``). The raw coordinates are checked before shapely sees them, because shapely silently accepts NaN,
    open rings and swapped axes: numbers only, finite, 2 or 3 per position (altitude dropped), longitude in
    [-180, 180], latitude in [-90, 90], latitude-first pairs detected where certain, rings closed with at least 4
    positions, nothing empty. Then the shapely geometry must be valid; with ``repair=True`` an invalid polygonal
    shape is repaired with ``shapely.make_valid`` and only its polygonal parts kept.

    ``expected_bbox`` (west, south, east, north) enables the second swapped-axes check: a shape entirely outside
    the box that would be entirely inside it read latitude-first is refused as ``axis_order_swapped``.

    Raises :class:`GeometryError` whose ``code`` names the problem and whose message names the bad coordinate.
    """
    obj = _load(value)
    geom_type = obj.get("type")
    if geom_type in ("Feature", "FeatureCollection"):
        raise GeometryError(
            f"This is a GeoJSON {geom_type}; only a bare geometry is accepted here. Paste just the "
            '"geometry" part, e.g. {"type": "Polygon", "coordinates": [...]}.',
            "invalid_geojson",
        )
    if not isinstance(geom_type, str) or geom_type not in SUPPORTED_TYPES:
        shown = geom_type if isinstance(geom_type, str) else "missing"
        raise GeometryError(
            f"Unsupported GeoJSON geometry type ({shown}). Use one of: {', '.join(SUPPORTED_TYPES)}.",
            "invalid_geojson",
        )
    _check_allowed(geom_type, allowed_types)
    _check_crs(obj)
    if "coordinates" not in obj:
        raise GeometryError(f'The {geom_type} has no "coordinates" member.', "invalid_geojson")
    raw = obj["coordinates"]
    counter = _Counter()
    geom: BaseGeometry
    flat: list[LonLat]
    is_polygonal = geom_type in ("Polygon", "MultiPolygon")

    if geom_type == "Point":
        if isinstance(raw, list | tuple) and len(raw) == 0:
            raise empty_error(geom_type, [])
        pt = _position(raw, geom_type, [], counter)
        geom, flat = Point(pt), [pt]
    elif geom_type in ("MultiPoint", "LineString"):
        pts = _positions(raw, geom_type, [], counter, "a list of [longitude, latitude] positions")
        if not pts:
            raise empty_error(geom_type, [])
        if geom_type == "LineString":
            if len(pts) < 2:
                raise GeometryError(
                    f"The line ({coordinates_path([])}) has {len(pts)} point; a line needs at least 2.",
                    "too_few_points",
                    path=coordinates_path([]),
                )
            geom = LineString(pts)
        else:
            geom = MultiPoint(pts)
        flat = pts
    elif geom_type == "Polygon":
        rings = _polygon_rings(raw, geom_type, [], counter)
        geom, flat = Polygon(rings[0], rings[1:]), [p for r in rings for p in r]
    else:
        parts_raw = _as_list(raw, geom_type, [], "a list of polygons")
        if not parts_raw:
            raise empty_error(geom_type, [])
        parts = [_polygon_rings(p, geom_type, [i], counter) for i, p in enumerate(parts_raw)]
        geom = MultiPolygon([(p[0], p[1:]) for p in parts])
        flat = [pt for p in parts for r in p for pt in r]

    if expected_bbox is not None:
        _check_expected_bbox(np.asarray(flat, dtype=np.float64), geom_type, expected_bbox)

    if not shapely.is_valid(geom):
        if not (repair and is_polygonal):
            raise invalid_error(geom, geom_type)
        geom = repair_polygonal(geom)
    _check_allowed(geom.geom_type, allowed_types)
    return geom


def _rounded(value: Any, precision: int | None) -> Any:
    if isinstance(value, tuple | list):
        return [_rounded(v, precision) for v in value]
    if isinstance(value, float | int) and not isinstance(value, bool):
        return float(value) if precision is None else round(float(value), precision)
    return value


def to_geojson(geom: BaseGeometry, *, precision: int | None = None) -> dict[str, Any]:
    """The RFC 7946 GeoJSON mapping of a geometry: 2D, exterior rings counter-clockwise, holes clockwise.

    Coordinates are kept exactly unless ``precision`` (decimal places) is given; 7 places is about 1 cm, which is
    too coarse for zone edges that are exact to the millimetre, so round only for display.
    """
    oriented = shapely.orient_polygons(shapely.force_2d(geom), exterior_cw=False)
    mapped = dict(mapping(oriented))
    out: dict[str, Any] = {"type": mapped["type"]}
    if "coordinates" in mapped:
        out["coordinates"] = _rounded(mapped["coordinates"], precision)
    if "geometries" in mapped:
        out["geometries"] = [to_geojson(g, precision=precision) for g in getattr(oriented, "geoms", [])]
    return out


def to_geojson_text(geom: BaseGeometry, indent: int | None = None) -> str:
    """:func:`to_geojson` as JSON text; floats are written with Python's shortest exact repr (round-trips)."""
    return json.dumps(to_geojson(geom), indent=indent, allow_nan=False)

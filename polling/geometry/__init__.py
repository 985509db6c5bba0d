"""Exact buffer geometry for polling places: zones, distances and GeoJSON validation.

Pure module: stdlib, numpy (a shapely/pyproj dependency), shapely and pyproj only; no Django import, so it can be
tested and reused without settings.

Conventions
-----------
* Coordinates are WGS84 longitude, latitude in degrees (GeoJSON order).
* Distances are in metres on the WGS84 ellipsoid; one international foot is exactly 0.3048 m.
* Distances are never measured in degrees or in Web Mercator. Exact distances come from Karney's geodesic algorithms
  (``pyproj.Geod``, accurate to about 15 nanometres); zones are built in an azimuthal equidistant (AEQD) projection
  centred on the polling place, where distances are exact from the centre and distorted by less than a micrometre
  over the few hundred metres a zone spans.

Main entry points: :func:`parse_geojson` / :func:`check_geometry` (validate input), :class:`Reference` and
:class:`ZoneRule` (what a rule measures from, and how far), :func:`zone_polygon` (the zone to draw),
:func:`geodesic_distance_m` and :func:`classify` (is a GPS fix inside the zone).
"""

from __future__ import annotations

import functools
import json
import math
import numbers
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Final, cast

import numpy as np
import numpy.typing as npt
import pyproj
import shapely
from shapely.geometry import LineString, MultiPoint, MultiPolygon, Point, Polygon, mapping
from shapely.geometry.base import BaseGeometry

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]
BoolArray = npt.NDArray[np.bool_]
LonLat = tuple[float, float]
BBox = tuple[float, float, float, float]

FOOT_M: Final = 0.3048
"""One international foot in metres (exact by definition)."""

MAX_POSITIONS: Final = 1_000_000
"""Most positions accepted in one geometry; a building outline has tens, a detailed parcel a few thousand."""

MAX_GEOJSON_CHARS: Final = 64 * 1024 * 1024
"""Longest GeoJSON text parsed: far beyond MAX_POSITIONS worth of coordinates, short of exhausting memory."""

MAX_ZONE_REACH_M: Final = 5_000.0
"""Furthest a zone may reach from the polling-place centre. The local AEQD stretches distances that do not pass
through its centre by a factor of about 1 + rho**2 / (6 R**2); at 5 km that is below 1 mm over a zone radius, while
a polling-place zone reaches a few hundred metres at most."""

SUPPORTED_TYPES: Final = ("Point", "MultiPoint", "LineString", "Polygon", "MultiPolygon")

_GEOD: Final = pyproj.Geod(ellps="WGS84")
# Mean Earth radius: only drives the step of a converging iteration, never a reported distance.
_R_MEAN: Final = 6_371_008.8
# Smaller than any radius of curvature of WGS84 (the least is ~6,335 km, meridional at the equator): used in error
# bounds, where a small radius is the safe side.
_R_MIN: Final = 6_300_000.0
# Above this many metres between a query point and a polygon, the planar pre-screen's error bound (a small-distance
# expansion) is not trusted and every edge is refined exactly instead.
_FAR_M: Final = 1_000_000.0
_MAX_QUAD_SEGS: Final = 20_000
# The zone is snap-rounded to this grid (metres, in the local projection) when the discs and stadiums are merged.
# Overlapping polygonal circles cross at many points, some a fraction of a nanometre from a vertex; projected back
# to lon/lat (whose doubles resolve ~1 nm) such slivers can fold over and make the zone invalid. Snap rounding
# leaves no vertex within half a grid cell of another edge, 100 times the projection's rounding, and moves each
# vertex by at most 0.71 micrometres.
_GRID_M: Final = 1e-6
# How far a zone edge drawn straight in lon/lat may stray from the same edge drawn straight in the projection.
_LONLAT_CHORD_ERROR_M: Final = 1e-6


# --------------------------------------------------------------------------------------------------- units


def feet_to_metres(ft: float) -> float:
    """Convert international feet to metres (1 ft = 0.3048 m exactly)."""
    return float(ft) * FOOT_M


def metres_to_feet(m: float) -> float:
    """Convert metres to international feet."""
    return float(m) / FOOT_M


# --------------------------------------------------------------------------------------------------- errors


class GeometryError(ValueError):
    """A geometry or coordinate that cannot be used, explained in plain language.

    ``code`` is a stable machine-readable reason (for API clients and form errors); ``path`` locates the offending
    coordinate in the GeoJSON, e.g. ``"coordinates[0][3]"``, where it is known.
    """

    def __init__(self, message: str, code: str = "invalid_geometry", *, path: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.path = path

    def __reduce__(self) -> tuple[Any, ...]:
        # Keep code and path when the error crosses a process boundary (pickling drops keyword-only arguments).
        return (_rebuild_geometry_error, (str(self), self.code, self.path))


def _rebuild_geometry_error(message: str, code: str, path: str | None) -> GeometryError:
    return GeometryError(message, code, path=path)


def _fmt(value: object) -> str:
    """A number as a person would write it (up to 12 significant digits), anything else as its repr."""
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "infinity" if value > 0 else "minus infinity"
        return format(value, ".12g")
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return repr(value)


def _path(indices: Sequence[int]) -> str:
    return "coordinates" + "".join(f"[{i}]" for i in indices)


def _describe(geom_type: str, indices: Sequence[int]) -> str:
    """Name a position the way a person reading the map would: "point 4 of hole 1 of part 2"."""
    idx = list(indices)
    if geom_type == "Point":
        return "the point"
    if geom_type == "MultiPoint":
        return f"point {idx[0] + 1}" if idx else "the points"
    if geom_type == "LineString":
        return f"point {idx[0] + 1} of the line" if idx else "the line"
    part = ""
    if geom_type == "MultiPolygon":
        if not idx:
            return "the shape"
        part = f" of part {idx[0] + 1}"
        idx = idx[1:]
    if not idx:
        return f"the outline{part}"
    ring = "the outer boundary" if idx[0] == 0 else f"hole {idx[0]}"
    if len(idx) == 1:
        return f"{ring}{part}"
    return f"point {idx[1] + 1} of {ring}{part}"


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


# --------------------------------------------------------------------------------------------------- positions


def _is_number(value: object) -> bool:
    # bool is an int subclass in Python, and JSON true/false must never pass as 1/0.
    return isinstance(value, numbers.Real) and not isinstance(value, bool | np.bool_)


def _check_lonlat_values(lon: object, lat: object, where: str, path: str | None) -> LonLat:
    """Validate one longitude/latitude pair; return it as floats. Shared by GeoJSON parsing and single points."""
    at = f" ({path})" if path else ""
    for name, value in (("longitude", lon), ("latitude", lat)):
        if not _is_number(value):
            raise GeometryError(
                f"{_cap(where)}{at} has a {name} of {_fmt(value)}, which is not a number. "
                "Coordinates must be plain numbers, like [-90.18, 32.30].",
                "invalid_geojson",
                path=path,
            )
    # Compare before converting: a huge JSON integer would overflow float() and must read as out of range.
    for name, value in (("longitude", lon), ("latitude", lat)):
        if isinstance(value, numbers.Integral) and abs(int(value)) > 1000:
            code = "longitude_out_of_range" if name == "longitude" else "latitude_out_of_range"
            raise GeometryError(
                f"{_cap(where)}{at} has {name} {_fmt(value)}, which is not a valid {name} in degrees.",
                code,
                path=path,
            )
    x = float(cast(float, lon))
    y = float(cast(float, lat))
    if not (math.isfinite(x) and math.isfinite(y)):
        bad = "longitude" if not math.isfinite(x) else "latitude"
        raise GeometryError(
            f"{_cap(where)}{at} has a {bad} of {_fmt(x if bad == 'longitude' else y)}, not a real number. "
            "Every point needs a finite longitude and latitude.",
            "non_finite_coordinate",
            path=path,
        )
    if not -180.0 <= x <= 180.0:
        raise GeometryError(
            f"{_cap(where)}{at} has longitude {_fmt(x)}, but longitudes run from -180 to 180 degrees.",
            "longitude_out_of_range",
            path=path,
        )
    if not -90.0 <= y <= 90.0:
        if abs(x) <= 90.0 < abs(y) <= 180.0:
            # Only a latitude can be over 90, and this pair would be valid read the other way round: the classic
            # mistake of writing "lat, lon" (as map apps display it) where GeoJSON wants "lon, lat".
            raise GeometryError(
                f"{_cap(where)}{at} reads as longitude {_fmt(x)}, latitude {_fmt(y)}, which cannot be right: "
                f"latitudes only run from -90 to 90. It looks like latitude, longitude. "
                f"GeoJSON lists longitude first: write [{_fmt(y)}, {_fmt(x)}].",
                "axis_order_swapped",
                path=path,
            )
        raise GeometryError(
            f"{_cap(where)}{at} has latitude {_fmt(y)}, but latitudes run from -90 to 90 degrees.",
            "latitude_out_of_range",
            path=path,
        )
    return x, y


def check_lonlat(lon: float, lat: float) -> None:
    """Validate a single query point (e.g. a GPS fix): numbers, finite, longitude in [-180, 180], latitude in
    [-90, 90]. Raises :class:`GeometryError` with the same codes as :func:`parse_geojson`."""
    _check_lonlat_values(lon, lat, "the location", None)


# --------------------------------------------------------------------------------------------------- GeoJSON in


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
        raise GeometryError(
            f"{_cap(_describe(geom_type, indices))} ({_path(indices)}) should be {what}, but it is {_fmt(value)}.",
            "invalid_geojson",
            path=_path(indices),
        )
    return list(value)


def _position(value: object, geom_type: str, indices: list[int], counter: _Counter) -> LonLat:
    where = _describe(geom_type, indices)
    path = _path(indices)
    if not isinstance(value, list | tuple):
        raise GeometryError(
            f"{_cap(where)} ({path}) should be a [longitude, latitude] pair, but it is {_fmt(value)}.",
            "invalid_geojson",
            path=path,
        )
    if len(value) not in (2, 3):
        raise GeometryError(
            f"{_cap(where)} ({path}) has {len(value)} numbers; a position is [longitude, latitude] "
            "with an optional altitude.",
            "invalid_geojson",
            path=path,
        )
    counter.add()
    if len(value) == 3 and not _is_number(value[2]):
        raise GeometryError(
            f"{_cap(where)} ({path}) has an altitude of {_fmt(value[2])}, which is not a number.",
            "invalid_geojson",
            path=path,
        )
    # The altitude, if any, is dropped: zones are measured on the ellipsoid.
    return _check_lonlat_values(value[0], value[1], where, path)


def _positions(value: object, geom_type: str, indices: list[int], counter: _Counter, what: str) -> list[LonLat]:
    items = _as_list(value, geom_type, indices, what)
    return [_position(item, geom_type, [*indices, i], counter) for i, item in enumerate(items)]


def _ring(value: object, geom_type: str, indices: list[int], counter: _Counter) -> list[LonLat]:
    ring = _positions(value, geom_type, indices, counter, "a list of [longitude, latitude] positions")
    where = _describe(geom_type, indices)
    path = _path(indices)
    if len(ring) < 4:
        raise GeometryError(
            f"{_cap(where)} ({path}) has {len(ring)} point{'s' if len(ring) != 1 else ''}; a closed outline "
            "needs at least 4 (three corners, then the first corner repeated to close it).",
            "too_few_points",
            path=path,
        )
    if ring[0] != ring[-1]:
        # Refuse rather than close it ourselves: a missing closing point more often means a truncated file than
        # a sloppy one, and silently closing a truncated outline would draw the wrong zone.
        last = [*indices, len(ring) - 1]
        raise GeometryError(
            f"{_cap(where)} ({path}) is not closed: it starts at [{_fmt(ring[0][0])}, {_fmt(ring[0][1])}] but "
            f"ends at [{_fmt(ring[-1][0])}, {_fmt(ring[-1][1])}]. The last point must repeat the first. "
            "If the file was cut short, export it again.",
            "unclosed_ring",
            path=_path(last),
        )
    return ring


def _empty(geom_type: str, indices: list[int]) -> GeometryError:
    where = _describe(geom_type, indices) if indices else f"the {geom_type}"
    return GeometryError(f"{_cap(where)} ({_path(indices)}) has no coordinates.", "empty_geometry", path=_path(indices))


def _polygon_rings(value: object, geom_type: str, indices: list[int], counter: _Counter) -> list[list[LonLat]]:
    rings = _as_list(value, geom_type, indices, "a list of rings")
    if not rings:
        raise _empty(geom_type, indices)
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
    if len(bbox) != 4 or not all(_is_number(v) and math.isfinite(v) for v in bbox):
        raise ValueError("expected_bbox must be four finite numbers: west, south, east, north")
    west, south, east, north = (float(v) for v in bbox)
    lon, lat = coords[:, 0], coords[:, 1]
    if _in_bbox(lon, lat, (west, south, east, north)).any():
        return
    # Nothing lies where the shape is expected. If reading every pair the other way round puts all of it there,
    # the pairs were almost certainly written latitude first.
    if np.all(np.abs(lon) <= 90.0) and _in_bbox(lat, lon, (west, south, east, north)).all():
        raise GeometryError(
            f"The {geom_type} lies outside the expected area (longitude {_fmt(west)} to {_fmt(east)}, latitude "
            f"{_fmt(south)} to {_fmt(north)}), but would lie inside it with each pair swapped. The coordinates "
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
            raise _empty(geom_type, [])
        pt = _position(raw, geom_type, [], counter)
        geom, flat = Point(pt), [pt]
    elif geom_type in ("MultiPoint", "LineString"):
        pts = _positions(raw, geom_type, [], counter, "a list of [longitude, latitude] positions")
        if not pts:
            raise _empty(geom_type, [])
        if geom_type == "LineString":
            if len(pts) < 2:
                raise GeometryError(
                    f"The line ({_path([])}) has {len(pts)} point; a line needs at least 2.",
                    "too_few_points",
                    path=_path([]),
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
            raise _empty(geom_type, [])
        parts = [_polygon_rings(p, geom_type, [i], counter) for i, p in enumerate(parts_raw)]
        geom = MultiPolygon([(p[0], p[1:]) for p in parts])
        flat = [pt for p in parts for r in p for pt in r]

    if expected_bbox is not None:
        _check_expected_bbox(np.asarray(flat, dtype=np.float64), geom_type, expected_bbox)

    if not shapely.is_valid(geom):
        if not (repair and is_polygonal):
            raise _invalid_error(geom, geom_type)
        geom = _repair_polygonal(geom)
    _check_allowed(geom.geom_type, allowed_types)
    return geom


_REASON_RE: Final = re.compile(r"^(?P<what>[^\[]*)(?:\[(?P<x>[-+0-9.eE]+|nan|inf) (?P<y>[-+0-9.eE]+|nan|inf)\])?")

# GEOS validity reasons, in the words of someone drawing the map, and the stable code for each.
_REASONS: Final[dict[str, tuple[str, str]]] = {
    "Self-intersection": ("self_intersection", "The outline crosses itself"),
    "Ring Self-intersection": ("self_intersection", "The outline touches itself, pinching into a loop,"),
    "Too few points": ("too_few_points", "An outline or line has too few distinct points"),
    "Hole lies outside shell": ("invalid_geometry", "A hole lies outside the outer boundary"),
    "Nested holes": ("invalid_geometry", "One hole lies inside another hole"),
    "Interior is disconnected": ("invalid_geometry", "The holes cut the shape into separate pieces"),
    "Nested shells": ("invalid_geometry", "One part of the shape lies inside another part"),
    "Duplicate Rings": ("invalid_geometry", "The same ring appears twice"),
    "Invalid Coordinate": ("non_finite_coordinate", "A coordinate is not a finite number"),
    "Ring is not closed": ("unclosed_ring", "An outline is not closed"),
}


def _invalid_error(geom: BaseGeometry, geom_type: str) -> GeometryError:
    reason = str(shapely.is_valid_reason(geom))
    match = _REASON_RE.match(reason)
    what = match.group("what").strip() if match else reason
    key = next((k for k in _REASONS if what == k), None) or next((k for k in _REASONS if what.startswith(k)), None)
    code, text = _REASONS[key] if key else ("invalid_geometry", f"The shape is not valid ({what})")
    near = ""
    if match and match.group("x") is not None:
        near = f" near longitude {_fmt(float(match.group('x')))}, latitude {_fmt(float(match.group('y')))}"
    if code == "self_intersection" and isinstance(geom, MultiPolygon) and all(shapely.is_valid(geom.geoms)):
        # Every part is fine on its own, so it is the parts that overlap, not one outline crossing itself.
        text = "Two parts of the shape overlap"
    advice = " Redraw that part so the outline does not cross or touch itself." if code == "self_intersection" else ""
    return GeometryError(f"{text}{near}.{advice}", code)


def _polygonal_parts(geom: BaseGeometry) -> list[Polygon]:
    if isinstance(geom, Polygon):
        return [] if geom.is_empty else [geom]
    if isinstance(geom, MultiPolygon):
        return [p for p in geom.geoms if not p.is_empty]
    if hasattr(geom, "geoms"):
        return [p for g in geom.geoms for p in _polygonal_parts(g)]
    return []


def _repair_polygonal(geom: BaseGeometry) -> BaseGeometry:
    # "structure" keeps what the outline encloses (exterior minus holes), the reading a person drawing it meant;
    # collapsed slivers become lines or points, which a zone cannot use, so only the areas are kept.
    fixed = shapely.make_valid(geom, method="structure", keep_collapsed=False)
    parts = _polygonal_parts(fixed)
    if not parts:
        raise GeometryError(
            "The outline encloses no area, even after repair. Redraw it as a closed shape.",
            "invalid_geometry",
        )
    result: BaseGeometry = parts[0] if len(parts) == 1 else MultiPolygon(parts)
    if not shapely.is_valid(result):
        raise _invalid_error(result, result.geom_type)
    return result


# --------------------------------------------------------------------------------------------------- shapely in


def _sequences(geom: BaseGeometry) -> Iterator[tuple[list[int], FloatArray]]:
    """Each coordinate sequence of a geometry with its GeoJSON index prefix (rings as Polygon/MultiPolygon do)."""
    if isinstance(geom, Point | LineString):
        yield [], np.asarray(shapely.get_coordinates(geom), dtype=np.float64)
    elif isinstance(geom, MultiPoint):
        for i, p in enumerate(geom.geoms):
            yield [i], np.asarray(shapely.get_coordinates(p), dtype=np.float64)
    elif isinstance(geom, Polygon):
        if geom.is_empty:
            return
        rings = [geom.exterior, *geom.interiors]
        for i, ring in enumerate(rings):
            yield [i], np.asarray(shapely.get_coordinates(ring), dtype=np.float64)
    elif isinstance(geom, MultiPolygon):
        for i, part in enumerate(geom.geoms):
            for sub, coords in _sequences(part):
                yield [i, *sub], coords


def check_geometry(geom: BaseGeometry) -> None:
    """Run :func:`parse_geojson`'s checks on an already-built shapely geometry; raise :class:`GeometryError`.

    Checks: a supported type, not empty, finite coordinates within longitude/latitude range (latitude-first pairs
    detected where certain), and shapely validity. Altitudes are ignored.
    """
    if not isinstance(geom, BaseGeometry):
        raise GeometryError(f"Expected a geometry, got {type(geom).__name__}.", "invalid_geometry")
    geom_type = geom.geom_type
    if geom_type not in SUPPORTED_TYPES:
        raise GeometryError(
            f"Unsupported geometry type {geom_type}. Use one of: {', '.join(SUPPORTED_TYPES)}.",
            "wrong_geometry_type",
        )
    if geom.is_empty:
        raise GeometryError(f"The {geom_type} has no coordinates.", "empty_geometry")
    for indices, coords in _sequences(geom):
        if coords.size == 0:
            raise _empty(geom_type, indices)
        x, y = coords[:, 0], coords[:, 1]
        ok = np.isfinite(x) & np.isfinite(y) & (np.abs(x) <= 180.0) & (np.abs(y) <= 90.0)
        if not ok.all():
            # Vectorised screen first; only a bad sequence is walked point by point, to name the culprit.
            k = int(np.flatnonzero(~ok)[0])
            # A Point's or MultiPoint part's prefix already names the position; rings and lines add the index.
            pos = indices if geom_type in ("Point", "MultiPoint") else [*indices, k]
            _check_lonlat_values(float(x[k]), float(y[k]), _describe(geom_type, pos), _path(pos))
    if not shapely.is_valid(geom):
        raise _invalid_error(geom, geom_type)


# --------------------------------------------------------------------------------------------------- GeoJSON out


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


# --------------------------------------------------------------------------------------------------- projection


@functools.lru_cache(maxsize=4096)
def local_projection(lon: float, lat: float) -> tuple[pyproj.Transformer, pyproj.Transformer]:
    """Forward (lon/lat degrees -> metres) and inverse transformers of a WGS84 azimuthal equidistant projection
    centred on (lon, lat), both taking and giving (x=lon, y=lat) order.

    Equivalent to ``Transformer.from_crs("EPSG:4326", "+proj=aeqd +lat_0=.. +lon_0=.. +datum=WGS84 +units=m",
    always_xy=True)`` (the tests check this), but built as an explicit PROJ pipeline: the CRS route searches the
    PROJ database for operations and costs ~15 ms per centre, the pipeline ~0.2 ms. PROJ's ellipsoidal AEQD uses
    Karney's geodesics, so distances and azimuths from the centre are exact.

    Cached on the exact floats, since every polling place reuses its own centre.

    Caveat: PROJ's AEQD snaps any point within 1e-10 radians (~0.64 mm) of the centre onto the centre, both ways.
    That is harmless for drawing, but :func:`zone_polygon` therefore projects with :func:`_aeqd_forward` /
    :func:`_aeqd_inverse`, the same projection evaluated directly with geodesics and exact all the way in.
    """
    check_lonlat(lon, lat)
    # repr() writes the shortest string that reads back as the same double, so the centre is exact.
    core = f"+proj=aeqd +lat_0={float(lat)!r} +lon_0={float(lon)!r} +ellps=WGS84 +units=m"
    forward = pyproj.Transformer.from_pipeline(
        f"+proj=pipeline +step +proj=unitconvert +xy_in=deg +xy_out=rad +step {core}"
    )
    inverse = pyproj.Transformer.from_pipeline(
        f"+proj=pipeline +step +inv {core} +step +proj=unitconvert +xy_in=rad +xy_out=deg"
    )
    return forward, inverse


def _aeqd_forward(center: LonLat, coords: FloatArray) -> FloatArray:
    """Ellipsoidal azimuthal equidistant projection centred on ``center``, straight from its definition: a point at
    geodesic distance s and azimuth az from the centre maps to (s sin az, s cos az). Exact to Geod's ~15 nm."""
    n = len(coords)
    az, _, s = _GEOD.inv(np.full(n, center[0]), np.full(n, center[1]), coords[:, 0], coords[:, 1])
    azr = np.radians(np.asarray(az, dtype=np.float64))
    s = np.asarray(s, dtype=np.float64)
    return np.column_stack([s * np.sin(azr), s * np.cos(azr)])


def _aeqd_inverse(center: LonLat, xy: FloatArray) -> FloatArray:
    """Inverse of :func:`_aeqd_forward`: walk the geodesic from the centre. Longitudes come back in [-180, 180]."""
    n = len(xy)
    az = np.degrees(np.arctan2(xy[:, 0], xy[:, 1]))
    s = np.hypot(xy[:, 0], xy[:, 1])
    lon, lat, _ = _GEOD.fwd(np.full(n, center[0]), np.full(n, center[1]), az, s)
    out = np.column_stack([np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64)])
    if not np.isfinite(out).all():  # pragma: no cover - Geod.fwd is total for finite input
        raise GeometryError("A coordinate could not be projected.", "projection_failed")
    return out


def _project(geom: BaseGeometry, center: LonLat, *, inverse: bool = False) -> BaseGeometry:
    if inverse:
        return shapely.transform(geom, lambda xy: _aeqd_inverse(center, xy))
    return shapely.transform(geom, lambda coords: _aeqd_forward(center, coords))


def _unwrap_lon(lon: FloatArray, ref_lon: float) -> FloatArray:
    """Shift longitudes by whole turns so they lie within 180 degrees of ``ref_lon`` (continuous across +-180).

    Adds a whole number of turns only: coordinates that need no shift come back bit for bit, and the shift of a
    point near the antimeridian (180 +- a little, where small shapes need it) is exact in binary floating point.
    """
    turns = np.round((ref_lon - lon) / 360.0)
    return lon + 360.0 * turns


def _wrap_lon(lon: float) -> float:
    return lon - 360.0 * round(lon / 360.0) if abs(lon) > 180.0 else lon


def _unwrap_geometry(geom: BaseGeometry, ref_lon: float) -> BaseGeometry:
    def apply(coords: FloatArray) -> FloatArray:
        out = coords.copy()
        out[:, 0] = _unwrap_lon(coords[:, 0], ref_lon)
        return out

    return shapely.transform(geom, apply)


# --------------------------------------------------------------------------------------------------- references


@dataclass(frozen=True, eq=False)
class _Prepared:
    """Per-reference data derived once: the reference made continuous around its centre and edge geodesics."""

    kind: str  # "points" or "polygon"
    merged: BaseGeometry  # lon/lat, longitudes unwrapped around the centre, antimeridian seams dissolved
    lon: FloatArray  # all coordinates of ``merged`` (rings include their closing point)
    lat: FloatArray
    edge_a: IntArray  # polygon edges run from coordinate edge_a[i] to edge_a[i] + 1
    edge_az: FloatArray  # forward azimuth (degrees) of each edge geodesic at its start
    edge_len: FloatArray  # geodesic length (metres) of each edge


def _prepare(geometry: BaseGeometry, center: LonLat) -> _Prepared:
    merged = _unwrap_geometry(geometry, center[0])
    if isinstance(geometry, Point | MultiPoint):
        coords = np.asarray(shapely.get_coordinates(merged), dtype=np.float64)
        empty_i = np.zeros(0, dtype=np.intp)
        empty_f = np.zeros(0, dtype=np.float64)
        return _Prepared("points", merged, coords[:, 0].copy(), coords[:, 1].copy(), empty_i, empty_f, empty_f)
    if not shapely.equals_exact(merged, geometry, tolerance=0.0):
        # A shape split at the antimeridian (RFC 7946) comes as parts meeting along lon=+-180. Unwrapped, the
        # two sides of that seam coincide exactly; the union dissolves it so it is not mistaken for a boundary.
        merged = shapely.union_all(shapely.get_parts(merged))
    coords = np.asarray(shapely.get_coordinates(merged), dtype=np.float64)
    starts: list[IntArray] = []
    offset = 0
    for ring in _rings(merged):
        n = len(ring.coords)
        starts.append(np.arange(offset, offset + n - 1, dtype=np.intp))
        offset += n
    if offset != len(coords):  # pragma: no cover - shapely visits rings in this order; guard the assumption
        raise AssertionError("ring order does not match shapely.get_coordinates")
    edge_a = np.concatenate(starts) if starts else np.zeros(0, dtype=np.intp)
    lon, lat = coords[:, 0].copy(), coords[:, 1].copy()
    az, _, length = _GEOD.inv(lon[edge_a], lat[edge_a], lon[edge_a + 1], lat[edge_a + 1])
    return _Prepared(
        "polygon",
        merged,
        lon,
        lat,
        edge_a,
        np.asarray(az, dtype=np.float64),
        np.asarray(length, dtype=np.float64),
    )


def _rings(geom: BaseGeometry) -> list[Any]:
    """Rings in the order ``shapely.get_coordinates`` visits them (part by part, exterior then holes)."""
    return [ring for poly in _polygonal_parts(geom) for ring in (poly.exterior, *poly.interiors)]


@dataclass(frozen=True)
class Reference:
    """What a rule is measured from, in lon/lat.

    ``geometry`` is a Point/MultiPoint (entrances, or the polling-place point) or a Polygon/MultiPolygon (building
    outline, room or parcel; the area itself counts as distance 0). Polygon edges are geodesics between their
    vertices. A shape crossing the antimeridian may be given split at +-180 (RFC 7946): the seam is dissolved.
    ``center`` (lon, lat) is the polling place, used as the centre of the local projection zones are built in.
    """

    geometry: BaseGeometry
    center: LonLat
    _prepared: _Prepared = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        if not isinstance(self.geometry, Point | MultiPoint | Polygon | MultiPolygon):
            got = self.geometry.geom_type if isinstance(self.geometry, BaseGeometry) else type(self.geometry)
            raise GeometryError(
                f"A reference must be entrance points or a building/parcel outline, got a {got}.",
                "wrong_geometry_type",
            )
        check_geometry(self.geometry)
        if not isinstance(self.center, Sequence) or len(self.center) != 2:
            raise GeometryError("The centre must be a (longitude, latitude) pair.", "invalid_geometry")
        clon, clat = _check_lonlat_values(self.center[0], self.center[1], "the polling-place centre", None)
        object.__setattr__(self, "center", (clon, clat))
        object.__setattr__(self, "_prepared", _prepare(self.geometry, (clon, clat)))

    @classmethod
    def from_points(cls, points: Sequence[LonLat], center: LonLat | None = None) -> Reference:
        """Entrances (or a single polling-place point) as (lon, lat) pairs; ``center`` defaults to their mean,
        taken across the antimeridian correctly."""
        pts = [_check_lonlat_values(p[0], p[1], f"point {i + 1}", None) for i, p in enumerate(points)]
        if not pts:
            raise GeometryError("At least one entrance point is needed.", "empty_geometry")
        geometry: BaseGeometry = Point(pts[0]) if len(pts) == 1 else MultiPoint(pts)
        if center is None:
            lon = _unwrap_lon(np.array([p[0] for p in pts], dtype=np.float64), pts[0][0])
            center = (_wrap_lon(float(np.mean(lon))), float(np.mean([p[1] for p in pts])))
        return cls(geometry, center)

    @classmethod
    def from_polygon(cls, poly: Polygon | MultiPolygon | Sequence[LonLat], center: LonLat | None = None) -> Reference:
        """A building outline, room or parcel: a shapely (Multi)Polygon, or the exterior ring as (lon, lat) pairs.

        ``center`` defaults to the centroid (in lon/lat, continuous across the antimeridian).
        """
        geometry: BaseGeometry = poly if isinstance(poly, BaseGeometry) else Polygon(list(poly))
        if center is None:
            check_geometry(geometry)
            first = float(shapely.get_coordinates(geometry)[0, 0])
            unwrapped = _unwrap_geometry(geometry, first)
            if len(shapely.get_parts(unwrapped)) > 1:
                unwrapped = shapely.union_all(shapely.get_parts(unwrapped))
            c = unwrapped.centroid
            center = (_wrap_lon(float(c.x)), float(c.y))
        return cls(geometry, center)

    @property
    def is_polygonal(self) -> bool:
        return self._prepared.kind == "polygon"


@dataclass(frozen=True)
class ZoneRule:
    """A zone: everything within ``distance_m`` metres (geodesic) of the reference, boundary included."""

    reference: Reference
    distance_m: float

    def __post_init__(self) -> None:
        if not isinstance(self.reference, Reference):
            raise TypeError("reference must be a Reference")
        if not _is_number(self.distance_m) or not math.isfinite(self.distance_m) or self.distance_m <= 0:
            raise GeometryError(
                f"A zone distance must be a positive number of metres, got {_fmt(self.distance_m)}.",
                "invalid_distance",
            )
        object.__setattr__(self, "distance_m", float(self.distance_m))

    @classmethod
    def from_feet(cls, reference: Reference, feet: float) -> ZoneRule:
        return cls(reference, feet_to_metres(feet))

    @property
    def distance_ft(self) -> float:
        return metres_to_feet(self.distance_m)


# --------------------------------------------------------------------------------------------------- zones


def quad_segs_for(radius_m: float, max_error_m: float) -> int:
    """Segments per quarter circle so that every chord's sagitta r(1 - cos(pi / (4 q))) is <= max_error_m."""
    if max_error_m >= radius_m:
        return 1
    # 1 - cos(t) = 2 sin^2(t / 2), which keeps its precision for tiny angles where 1 - cos(t) cancels.
    half_angle = math.asin(math.sqrt(max_error_m / (2.0 * radius_m)))
    q = math.ceil(math.pi / (8.0 * half_angle) - 1e-9)
    while 2.0 * radius_m * math.sin(math.pi / (8.0 * q)) ** 2 > max_error_m:
        q += 1  # guard against rounding in the closed form
    return max(1, q)


def _buffer_projected(projected: BaseGeometry, radius: float, quad_segs: int) -> BaseGeometry:
    if isinstance(projected, Point | MultiPoint):
        points = shapely.get_parts(projected)
        return shapely.union_all(shapely.buffer(points, radius, quad_segs=quad_segs), grid_size=_GRID_M)
    # Minkowski sum of an area and a disc = the area plus a "stadium" (round-capped buffer) around each boundary
    # edge. GEOS's own polygon buffer is NOT used: it first simplifies the outline with a tolerance of 1% of the
    # buffer distance (BufferInputLineSimplifier), which moves a 600 ft zone edge by up to ~0.3 m near shallow
    # recesses. A two-point segment has nothing to simplify, so each stadium is exact up to the chord sagitta.
    segments: list[Any] = []
    for ring in _rings(projected):
        c = np.asarray(ring.coords, dtype=np.float64)[:, :2]
        segments.extend(shapely.linestrings(np.stack([c[:-1], c[1:]], axis=1)))
    stadiums = shapely.buffer(np.asarray(segments, dtype=object), radius, quad_segs=quad_segs)
    return shapely.union_all(np.concatenate([np.asarray([projected], dtype=object), stadiums]), grid_size=_GRID_M)


def _split_antimeridian(geom: BaseGeometry) -> BaseGeometry:
    """Cut a geometry with continuous longitudes into parts within [-180, 180] (RFC 7946 section 3.1.9)."""
    lon = shapely.get_coordinates(geom)[:, 0]
    if lon.min() >= -180.0 and lon.max() <= 180.0:
        return geom
    parts: list[Polygon] = []
    for shift in (-360.0, 0.0, 360.0):
        window = shapely.box(-180.0 + shift, -90.0, 180.0 + shift, 90.0)
        piece = shapely.intersection(geom, window)
        if piece.is_empty:
            continue

        def move(coords: FloatArray, shift: float = shift) -> FloatArray:
            out = coords.copy()
            out[:, 0] -= shift
            # The cut lands on +-180 up to rounding in the overlay; put it exactly on the line.
            out[np.abs(out[:, 0] - 180.0) < 1e-9, 0] = 180.0
            out[np.abs(out[:, 0] + 180.0) < 1e-9, 0] = -180.0
            return out

        parts.extend(_polygonal_parts(shapely.transform(piece, move)))
    return parts[0] if len(parts) == 1 else MultiPolygon(parts)


def _max_edge_m(lat: float, reach_m: float) -> float:
    """Longest zone edge whose straight lon/lat line stays within ~1 micrometre of the straight projected line."""
    lat_max = min(abs(lat) + math.degrees(reach_m / _R_MIN), 89.9)
    # L**2 (tan(lat) + 1) / (8 R) <= 1e-6; the +1 covers the smaller, latitude-independent terms.
    return min(50.0, max(0.25, math.sqrt(8.0 * _R_MIN * _LONLAT_CHORD_ERROR_M / (math.tan(math.radians(lat_max)) + 1))))


def zone_polygon(rule: ZoneRule, *, max_error_m: float = 0.002) -> Polygon | MultiPolygon:
    """The zone of a rule as a lon/lat (Multi)Polygon: all points within ``rule.distance_m`` of the reference.

    Built in a local azimuthal equidistant projection centred on the polling place (exact distances from the centre,
    sub-micrometre distortion across a zone), buffered there with arcs fine enough that no chord sags more than
    ``max_error_m`` inside the true limit, then projected back with edges short enough to be straight in lon/lat.

    Accuracy (WGS84 geodesic distance from the reference, for zones reaching a few hundred metres): every arc
    vertex lies 1.3-2.7 micrometres inside the limit, and every point of every edge between
    ``limit - max_error_m`` and the limit: the zone never claims more than the law does. Up to the 5 km reach
    allowed (MAX_ZONE_REACH_M) the projection's distortion adds at most ~0.5 mm, inward.

    Across the antimeridian the result is a MultiPolygon with parts in [-180, 180]. Exterior rings are
    counter-clockwise, holes clockwise (RFC 7946).
    """
    if not _is_number(max_error_m) or not math.isfinite(max_error_m) or max_error_m < 10 * _GRID_M:
        raise GeometryError(
            f"max_error_m must be at least {10 * _GRID_M} m, got {_fmt(max_error_m)}.", "invalid_parameter"
        )
    reference = rule.reference
    prepared = reference._prepared
    radius = rule.distance_m
    clon, clat = reference.center
    # The local AEQD of local_projection(), evaluated with geodesics rather than PROJ (see its docstring).
    projected = _project(prepared.merged, reference.center)
    xy = shapely.get_coordinates(projected)
    reach = float(np.hypot(xy[:, 0], xy[:, 1]).max()) + radius
    if reach > MAX_ZONE_REACH_M:
        raise GeometryError(
            f"The zone would reach {reach / 1000:.1f} km from the polling place; zones are computed in a local map "
            f"projection that is exact to the millimetre only within {MAX_ZONE_REACH_M / 1000:.0f} km. Check the "
            "entrances, the outline and the distance.",
            "zone_too_large",
        )
    for pole in (90.0, -90.0):
        if _GEOD.inv(clon, clat, clon, pole)[2] <= 2.0 * reach:
            # Longitudes cannot be made continuous around a pole; no polling place is within 10 km of one.
            raise GeometryError("The zone is too close to a pole to be drawn in longitude/latitude.", "zone_near_pole")

    if radius <= 1000 * _GRID_M:
        raise GeometryError(
            f"A zone of {_fmt(radius)} m is too small to draw; zones are drawn to the micrometre.", "invalid_distance"
        )
    q = quad_segs_for(radius, float(max_error_m) - 4 * _GRID_M)
    if q > _MAX_QUAD_SEGS:
        raise GeometryError(
            f"max_error_m={_fmt(max_error_m)} would need {4 * q:,} points per circle; use a larger tolerance.",
            "invalid_parameter",
        )
    # Error budget, so that every point of every edge lies in [limit - max_error_m, limit]: buffer 2 grid cells
    # short; snap rounding then moves vertices by <= 0.71 cells and straight lon/lat edges bow by <= 1 cell
    # (_max_edge_m), so vertices land 1.29-2.71 um inside the limit and edges at most 0.29 um short of it on the
    # outside; the arcs get the rest of the tolerance, less 4 cells.
    zone = _buffer_projected(projected, radius - 2 * _GRID_M, q)
    # GeoJSON edges are straight in lon/lat (RFC 7946), not in the projection. A straight lon/lat line bows away
    # from the straight projected one by about L**2 tan(lat) / (8 R): 0.4 mm for an 80 m wall offset at 71 N.
    # Short edges keep that under a micrometre, for the zone's long straight sides and for antimeridian cuts.
    zone = shapely.segmentize(zone, _max_edge_m(clat, reach))
    lonlat = _unwrap_geometry(_project(zone, reference.center, inverse=True), clon)
    result = _split_antimeridian(lonlat)
    result = shapely.orient_polygons(result, exterior_cw=False)
    if not shapely.is_valid(result):
        # Only rounding in the overlay could cause this; a repaired zone loses at most a sliver of nanometres.
        result = shapely.orient_polygons(_repair_polygonal(result), exterior_cw=False)
    return cast(Polygon | MultiPolygon, result)


# --------------------------------------------------------------------------------------------------- distances


def _distance_to_points(lon: float, lat: float, prepared: _Prepared) -> float:
    n = prepared.lon.size
    _, _, dist = _GEOD.inv(np.full(n, lon), np.full(n, lat), prepared.lon, prepared.lat)
    return float(np.min(dist))


def _distance_to_polygon(lon: float, lat: float, prepared: _Prepared) -> float:
    """Exact geodesic distance from a point to a polygonal area (0 inside), edges being geodesics.

    1. Azimuth and distance from the point to every vertex (exact) place the vertices in the AEQD centred on the
       point, where edges are straight to within rho * L**2 / (12 R**2) (about a nanometre for a building).
    2. Inside test by ray crossing in that plane.
    3. Planar distance to each edge chord, +- that bound, brackets the true distance to the edge; only edges whose
       lower bracket beats the best upper bracket are refined.
    4. Refinement walks along the edge geodesic to the foot of the perpendicular from the point: at a position X
       on the edge, with d = |XP| and alpha the angle at X between the edge and XP, the right spherical triangle
       gives the step atan(tan(d/R) cos(alpha)); on the ellipsoid this converges by a factor ~(d/R)**2 per step.
       Every distance reported is an exact geodesic inverse to a point exactly on the edge.
    """
    n = prepared.lon.size
    az, _, s = _GEOD.inv(np.full(n, lon), np.full(n, lat), prepared.lon, prepared.lat)
    s = np.asarray(s, dtype=np.float64)
    azr = np.radians(np.asarray(az, dtype=np.float64))
    x, y = s * np.sin(azr), s * np.cos(azr)
    ia = prepared.edge_a
    ib = ia + 1
    x1, y1, x2, y2 = x[ia], y[ia], x[ib], y[ib]

    # Even-odd ray casting along +x from the origin (the query point); correct for holes and multipolygons.
    crosses = (y1 > 0.0) != (y2 > 0.0)
    dy = y2 - y1
    x_at = x1 + np.divide(-y1 * (x2 - x1), dy, out=np.zeros_like(dy), where=crosses)
    if np.count_nonzero(crosses & (x_at > 0.0)) % 2 == 1:
        return 0.0

    best_vertex = float(s.min())
    dx = x2 - x1
    chord2 = dx * dx + dy * dy
    t = np.clip(np.divide(-(x1 * dx + y1 * dy), chord2, out=np.zeros_like(chord2), where=chord2 > 0.0), 0.0, 1.0)
    planar = np.hypot(x1 + t * dx, y1 + t * dy)
    rho = np.maximum(s[ia], s[ib])
    # Six times the spherical bound rho L^2 / (12 R^2) with the smallest radius, plus rounding of the coordinates.
    bound = rho * chord2 / (2.0 * _R_MIN**2) + 1e-9 + 1e-12 * rho
    best = min(best_vertex, float(np.min(planar + bound)))
    if float(rho.max()) > _FAR_M:
        candidates = prepared.edge_len > 0.0
    else:
        candidates = (planar - bound <= best) & (prepared.edge_len > 0.0)
    if not candidates.any():
        return best_vertex
    return min(best_vertex, _refine_edges(lon, lat, prepared, candidates, t))


def _refine_edges(lon: float, lat: float, prepared: _Prepared, candidates: BoolArray, t: FloatArray) -> float:
    ia = prepared.edge_a[candidates]
    a_lon, a_lat = prepared.lon[ia], prepared.lat[ia]
    az0 = prepared.edge_az[candidates]
    length = prepared.edge_len[candidates]
    pos = t[candidates] * length
    m = pos.size
    p_lon, p_lat = np.full(m, lon), np.full(m, lat)
    best = np.full(m, np.inf)
    for _ in range(60):
        x_lon, x_lat, x_az = _GEOD.fwd(a_lon, a_lat, az0, pos, return_back_azimuth=False)
        az_xp, _, d = _GEOD.inv(x_lon, x_lat, p_lon, p_lat)
        d = np.asarray(d, dtype=np.float64)
        best = np.minimum(best, d)
        alpha = np.radians(np.asarray(az_xp, dtype=np.float64) - np.asarray(x_az, dtype=np.float64))
        c = d / _R_MEAN
        step = _R_MEAN * np.arctan2(np.sin(c) * np.cos(alpha), np.cos(c))
        new = np.clip(pos + step, 0.0, length)
        # Along-track error e changes the distance by only ~e**2 / (2 d); 1 nm (plus rounding far away) is ample.
        if np.all(np.abs(new - pos) <= 1e-9 + 1e-13 * d):
            break
        pos = new
    return float(best.min())


def geodesic_distance_m(lon: float, lat: float, reference: Reference) -> float:
    """Exact WGS84 geodesic distance in metres from (lon, lat) to the nearest point of the reference.

    Points: the least geodesic inverse distance (Karney, via pyproj.Geod; ~15 nm accuracy at any range).
    Areas: 0 inside, else the distance to the nearest point of the boundary, whose edges are geodesics; exact to
    ~1e-8 m. Works across the antimeridian and near the poles.
    """
    check_lonlat(lon, lat)
    lon, lat = float(lon), float(lat)
    prepared = reference._prepared
    if prepared.kind == "points":
        return _distance_to_points(lon, lat, prepared)
    return _distance_to_polygon(lon, lat, prepared)


# --------------------------------------------------------------------------------------------------- classify


class Status(StrEnum):
    INSIDE = "inside"
    OUTSIDE = "outside"
    UNCERTAIN = "uncertain"


@dataclass(frozen=True)
class Classification:
    """Where a location stands relative to a zone: the verdict, its distance to the reference, and the limit."""

    status: Status
    distance_m: float
    limit_m: float

    @property
    def distance_ft(self) -> float:
        return metres_to_feet(self.distance_m)

    @property
    def limit_ft(self) -> float:
        return metres_to_feet(self.limit_m)


def farthest_vertex_m(lon: float, lat: float, geom: BaseGeometry) -> float:
    """The greatest geodesic distance from (lon, lat) to any vertex of ``geom`` (how far a site spreads)."""
    coords = shapely.get_coordinates(geom)
    if len(coords) == 0:
        return 0.0
    n = len(coords)
    _, _, dist = _GEOD.inv(np.full(n, lon), np.full(n, lat), coords[:, 0], coords[:, 1])
    return float(np.max(dist))


def classify(lon: float, lat: float, rule: ZoneRule, accuracy_m: float = 0.0) -> Classification:
    """Is (lon, lat) inside the rule's zone?

    Inside when the exact geodesic distance d <= the limit ("within 150 feet" includes exactly 150 feet). With a
    position accuracy ``accuracy_m`` > 0 (e.g. a phone's reported horizontal accuracy), a fix whose distance is
    within that accuracy of the limit is UNCERTAIN: the true position could be on either side.
    """
    check_lonlat(lon, lat)
    if not _is_number(accuracy_m) or not math.isfinite(accuracy_m) or accuracy_m < 0:
        raise GeometryError(
            f"The location accuracy must be zero or a positive number of metres, got {_fmt(accuracy_m)}.",
            "invalid_accuracy",
        )
    return classify_distance(geodesic_distance_m(lon, lat, rule.reference), rule.distance_m, accuracy_m)


def classify_distance(distance_m: float, limit_m: float, accuracy_m: float = 0.0) -> Classification:
    """The decision alone, for a distance already measured exactly (several rules measured from the same
    reference share one distance). Same semantics as :func:`classify`; inputs are trusted."""
    if accuracy_m > 0 and abs(distance_m - limit_m) <= accuracy_m:
        status = Status.UNCERTAIN
    elif distance_m <= limit_m:
        status = Status.INSIDE
    else:
        status = Status.OUTSIDE
    return Classification(status, distance_m, limit_m)


__all__ = [
    "FOOT_M",
    "MAX_POSITIONS",
    "MAX_ZONE_REACH_M",
    "SUPPORTED_TYPES",
    "Classification",
    "GeometryError",
    "Reference",
    "Status",
    "ZoneRule",
    "check_geometry",
    "check_lonlat",
    "classify",
    "classify_distance",
    "farthest_vertex_m",
    "feet_to_metres",
    "geodesic_distance_m",
    "local_projection",
    "metres_to_feet",
    "parse_geojson",
    "quad_segs_for",
    "to_geojson",
    "to_geojson_text",
    "zone_polygon",
]

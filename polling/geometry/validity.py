"""Is a shapely geometry usable: the supported types, validity in the words of someone drawing the map, and repair.

GEOS explains an invalid shape in its own terms ("Ring Self-intersection[-90.1 32.3]"); :func:`invalid_error`
turns that into a stable code and a sentence. :func:`check_geometry` runs on an already-built geometry the checks
:func:`polling.geometry.geojson.parse_geojson` runs on GeoJSON text.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any, Final

import numpy as np
import shapely
from shapely.geometry import LineString, MultiPoint, MultiPolygon, Point, Polygon
from shapely.geometry.base import BaseGeometry

from polling.geometry.coordinates import FloatArray, check_lonlat_values
from polling.geometry.errors import GeometryError, coordinates_path, describe_position, empty_error, readable

SUPPORTED_TYPES: Final = ("Point", "MultiPoint", "LineString", "Polygon", "MultiPolygon")

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


def invalid_error(geom: BaseGeometry, geom_type: str) -> GeometryError:
    """The error for an invalid geometry: GEOS's reason as a stable code and a sentence, with where it happens."""
    reason = str(shapely.is_valid_reason(geom))
    match = _REASON_RE.match(reason)
    what = match.group("what").strip() if match else reason
    key = next((k for k in _REASONS if what == k), None) or next((k for k in _REASONS if what.startswith(k)), None)
    code, text = _REASONS[key] if key else ("invalid_geometry", f"The shape is not valid ({what})")
    near = ""
    if match and match.group("x") is not None:
        near = f" near longitude {readable(float(match.group('x')))}, latitude {readable(float(match.group('y')))}"
    if code == "self_intersection" and isinstance(geom, MultiPolygon) and all(shapely.is_valid(geom.geoms)):
        # Every part is fine on its own, so it is the parts that overlap, not one outline crossing itself.
        text = "Two parts of the shape overlap"
    advice = " Redraw that part so the outline does not cross or touch itself." if code == "self_intersection" else ""
    return GeometryError(f"{text}{near}.{advice}", code)


def polygonal_parts(geom: BaseGeometry) -> list[Polygon]:
    """The non-empty polygons in ``geom``, collections included; lines and points are dropped."""
    if isinstance(geom, Polygon):
        return [] if geom.is_empty else [geom]
    if isinstance(geom, MultiPolygon):
        return [p for p in geom.geoms if not p.is_empty]
    if hasattr(geom, "geoms"):
        return [p for g in geom.geoms for p in polygonal_parts(g)]
    return []


def repair_polygonal(geom: BaseGeometry) -> BaseGeometry:
    """A valid (Multi)Polygon covering what an invalid polygonal ``geom`` encloses, or a :class:`GeometryError`."""
    # "structure" keeps what the outline encloses (exterior minus holes), the reading a person drawing it meant;
    # collapsed slivers become lines or points, which a zone cannot use, so only the areas are kept.
    fixed = shapely.make_valid(geom, method="structure", keep_collapsed=False)
    parts = polygonal_parts(fixed)
    if not parts:
        raise GeometryError(
            "The outline encloses no area, even after repair. Redraw it as a closed shape.",
            "invalid_geometry",
        )
    result: BaseGeometry = parts[0] if len(parts) == 1 else MultiPolygon(parts)
    if not shapely.is_valid(result):
        raise invalid_error(result, result.geom_type)
    return result


def boundary_rings(geom: BaseGeometry) -> list[Any]:
    """Rings in the order ``shapely.get_coordinates`` visits them (part by part, exterior then holes)."""
    return [ring for poly in polygonal_parts(geom) for ring in (poly.exterior, *poly.interiors)]


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
    """Run ``parse_geojson``'s checks on an already-built shapely geometry; raise :class:`GeometryError`.

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
            raise empty_error(geom_type, indices)
        x, y = coords[:, 0], coords[:, 1]
        ok = np.isfinite(x) & np.isfinite(y) & (np.abs(x) <= 180.0) & (np.abs(y) <= 90.0)
        if not ok.all():
            # Vectorised screen first; only a bad sequence is walked point by point, to name the culprit.
            k = int(np.flatnonzero(~ok)[0])
            # A Point's or MultiPoint part's prefix already names the position; rings and lines add the index.
            pos = indices if geom_type in ("Point", "MultiPoint") else [*indices, k]
            check_lonlat_values(float(x[k]), float(y[k]), describe_position(geom_type, pos), coordinates_path(pos))
    if not shapely.is_valid(geom):
        raise invalid_error(geom, geom_type)

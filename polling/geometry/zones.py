"""Zone polygons: the area within a rule's distance of its reference, drawn exactly enough never to claim more than
the law does.

Built in the local azimuthal equidistant projection centred on the polling place (``projection``), buffered there
as the exact Minkowski sum of the reference and a polygonal disc, and projected back with edges short enough to be
straight in lon/lat. Drawing only: whether a point is inside is decided on the exact geodesic distance
(``distance``), not on this polygon.
"""

from __future__ import annotations

import math
from typing import Any, Final, cast

import numpy as np
import shapely
from shapely.geometry import MultiPoint, MultiPolygon, Point, Polygon
from shapely.geometry.base import BaseGeometry

from polling.geometry.coordinates import FloatArray, is_finite_number, unwrap_geometry
from polling.geometry.earth import GEOD, R_MIN
from polling.geometry.errors import GeometryError, readable
from polling.geometry.projection import project_aeqd
from polling.geometry.rules import ZoneRule
from polling.geometry.validity import boundary_rings, polygonal_parts, repair_polygonal

MAX_ZONE_REACH_M: Final = 5_000.0
"""Furthest a zone may reach from the polling-place centre. The local AEQD stretches distances that do not pass
through its centre by a factor of about 1 + rho**2 / (6 R**2); at 5 km that is below 1 mm over a zone radius, while
a polling-place zone reaches a few hundred metres at most."""

_MAX_QUAD_SEGS: Final = 20_000
# The zone is snap-rounded to this grid (metres, in the local projection) when the discs and stadiums are merged.
# Overlapping polygonal circles cross at many points, some a fraction of a nanometre from a vertex; projected back
# to lon/lat (whose doubles resolve ~1 nm) such slivers can fold over and make the zone invalid. Snap rounding
# leaves no vertex within half a grid cell of another edge, 100 times the projection's rounding, and moves each
# vertex by at most 0.71 micrometres.
_GRID_M: Final = 1e-6
# How far a zone edge drawn straight in lon/lat may stray from the same edge drawn straight in the projection.
_LONLAT_CHORD_ERROR_M: Final = 1e-6


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
    for ring in boundary_rings(projected):
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

        parts.extend(polygonal_parts(shapely.transform(piece, move)))
    return parts[0] if len(parts) == 1 else MultiPolygon(parts)


def _max_edge_m(lat: float, reach_m: float) -> float:
    """Longest zone edge whose straight lon/lat line stays within ~1 micrometre of the straight projected line."""
    lat_max = min(abs(lat) + math.degrees(reach_m / R_MIN), 89.9)
    # L**2 (tan(lat) + 1) / (8 R) <= 1e-6; the +1 covers the smaller, latitude-independent terms.
    return min(50.0, max(0.25, math.sqrt(8.0 * R_MIN * _LONLAT_CHORD_ERROR_M / (math.tan(math.radians(lat_max)) + 1))))


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
    if not is_finite_number(max_error_m) or max_error_m < 10 * _GRID_M:
        raise GeometryError(
            f"max_error_m must be at least {10 * _GRID_M} m, got {readable(max_error_m)}.", "invalid_parameter"
        )
    reference = rule.reference
    prepared = reference.prepared
    radius = rule.distance_m
    clon, clat = reference.center
    # The local AEQD of local_projection(), evaluated with geodesics rather than PROJ (see its docstring).
    projected = project_aeqd(prepared.merged, reference.center)
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
        if GEOD.inv(clon, clat, clon, pole)[2] <= 2.0 * reach:
            # Longitudes cannot be made continuous around a pole; no polling place is within 10 km of one.
            raise GeometryError("The zone is too close to a pole to be drawn in longitude/latitude.", "zone_near_pole")

    if radius <= 1000 * _GRID_M:
        raise GeometryError(
            f"A zone of {readable(radius)} m is too small to draw; zones are drawn to the micrometre.",
            "invalid_distance",
        )
    q = quad_segs_for(radius, float(max_error_m) - 4 * _GRID_M)
    if q > _MAX_QUAD_SEGS:
        raise GeometryError(
            f"max_error_m={readable(max_error_m)} would need {4 * q:,} points per circle; use a larger tolerance.",
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
    lonlat = unwrap_geometry(project_aeqd(zone, reference.center, inverse=True), clon)
    result = _split_antimeridian(lonlat)
    result = shapely.orient_polygons(result, exterior_cw=False)
    if not shapely.is_valid(result):
        # Only rounding in the overlay could cause this; a repaired zone loses at most a sliver of nanometres.
        result = shapely.orient_polygons(repair_polygonal(result), exterior_cw=False)
    return cast(Polygon | MultiPolygon, result)

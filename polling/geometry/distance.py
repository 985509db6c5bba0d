"""Exact geodesic distance from a location to a rule's reference, and the decision: inside, outside or uncertain.

A decision never looks at the drawn zone polygon: it compares the exact WGS84 geodesic distance to the reference
(entrance points, building outline, parcel) with the rule's limit, allowing for the fix's stated accuracy.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Final

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from polling.geometry.coordinates import BoolArray, FloatArray, check_lonlat, is_finite_number
from polling.geometry.earth import GEOD, R_MEAN, R_MIN, geodesics_from
from polling.geometry.errors import GeometryError, readable
from polling.geometry.rules import Prepared, Reference, ZoneRule
from polling.geometry.units import metres_to_feet

# Above this many metres between a query point and a polygon, the planar pre-screen's error bound (a small-distance
# expansion) is not trusted and every edge is refined exactly instead.
_FAR_M: Final = 1_000_000.0


#: Up to this many reference points, one scalar geodesic inverse each: the same solver on the same doubles as the
#: array form (so the same result to the bit), without building arrays for a polling place's few entrances.
_SCALAR_POINTS: Final = 8


def _distance_to_points(lon: float, lat: float, prepared: Prepared) -> float:
    if prepared.lon.size <= _SCALAR_POINTS:
        inv = GEOD.inv
        return float(
            min(inv(lon, lat, a, b)[2] for a, b in zip(prepared.lon.tolist(), prepared.lat.tolist(), strict=True))
        )
    _, dist = geodesics_from(lon, lat, prepared.lon, prepared.lat)
    return float(np.min(dist))


def _distance_to_polygon(lon: float, lat: float, prepared: Prepared) -> float:
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
    az, s = geodesics_from(lon, lat, prepared.lon, prepared.lat)
    azr = np.radians(az)
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
    bound = rho * chord2 / (2.0 * R_MIN**2) + 1e-9 + 1e-12 * rho
    best = min(best_vertex, float(np.min(planar + bound)))
    if float(rho.max()) > _FAR_M:
        candidates = prepared.edge_len > 0.0
    else:
        candidates = (planar - bound <= best) & (prepared.edge_len > 0.0)
    if not candidates.any():
        return best_vertex
    return min(best_vertex, _refine_edges(lon, lat, prepared, candidates, t))


def _refine_edges(lon: float, lat: float, prepared: Prepared, candidates: BoolArray, t: FloatArray) -> float:
    ia = prepared.edge_a[candidates]
    a_lon, a_lat = prepared.lon[ia], prepared.lat[ia]
    az0 = prepared.edge_az[candidates]
    length = prepared.edge_len[candidates]
    pos = t[candidates] * length
    m = pos.size
    p_lon, p_lat = np.full(m, lon), np.full(m, lat)
    best = np.full(m, np.inf)
    for _ in range(60):
        x_lon, x_lat, x_az = GEOD.fwd(a_lon, a_lat, az0, pos, return_back_azimuth=False)
        az_xp, _, d = GEOD.inv(x_lon, x_lat, p_lon, p_lat)
        d = np.asarray(d, dtype=np.float64)
        best = np.minimum(best, d)
        alpha = np.radians(np.asarray(az_xp, dtype=np.float64) - np.asarray(x_az, dtype=np.float64))
        c = d / R_MEAN
        step = R_MEAN * np.arctan2(np.sin(c) * np.cos(alpha), np.cos(c))
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
    prepared = reference.prepared
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
    _, dist = geodesics_from(lon, lat, coords[:, 0], coords[:, 1])
    return float(np.max(dist))


def classify(lon: float, lat: float, rule: ZoneRule, accuracy_m: float = 0.0) -> Classification:
    """Is (lon, lat) inside the rule's zone?

    Inside when the exact geodesic distance d <= the limit ("within 150 feet" includes exactly 150 feet). With a
    position accuracy ``accuracy_m`` > 0 (e.g. a phone's reported horizontal accuracy), a fix whose distance is
    within that accuracy of the limit is UNCERTAIN: the true position could be on either side.
    """
    check_lonlat(lon, lat)
    if not is_finite_number(accuracy_m) or accuracy_m < 0:
        raise GeometryError(
            f"The location accuracy must be zero or a positive number of metres, got {readable(accuracy_m)}.",
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

"""What a buffer rule measures from (:class:`Reference`: entrances, a building outline, a parcel) and how far
(:class:`ZoneRule`), with the per-reference data every distance and zone reuses (:class:`Prepared`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import shapely
from shapely.geometry import MultiPoint, MultiPolygon, Point, Polygon
from shapely.geometry.base import BaseGeometry

from polling.geometry.coordinates import (
    FloatArray,
    IntArray,
    LonLat,
    check_lonlat_values,
    is_finite_number,
    unwrap_geometry,
    unwrap_lon,
    wrap_lon,
)
from polling.geometry.earth import GEOD
from polling.geometry.errors import GeometryError, readable
from polling.geometry.units import feet_to_metres, metres_to_feet
from polling.geometry.validity import boundary_rings, check_geometry


@dataclass(frozen=True, eq=False)
class Prepared:
    """Per-reference data derived once: the reference made continuous around its centre and edge geodesics."""

    kind: str  # "points" or "polygon"
    merged: BaseGeometry  # lon/lat, longitudes unwrapped around the centre, antimeridian seams dissolved
    lon: FloatArray  # all coordinates of ``merged`` (rings include their closing point)
    lat: FloatArray
    edge_a: IntArray  # polygon edges run from coordinate edge_a[i] to edge_a[i] + 1
    edge_az: FloatArray  # forward azimuth (degrees) of each edge geodesic at its start
    edge_len: FloatArray  # geodesic length (metres) of each edge


def _prepare(geometry: BaseGeometry, center: LonLat) -> Prepared:
    merged = unwrap_geometry(geometry, center[0])
    if isinstance(geometry, Point | MultiPoint):
        coords = np.asarray(shapely.get_coordinates(merged), dtype=np.float64)
        empty_i = np.zeros(0, dtype=np.intp)
        empty_f = np.zeros(0, dtype=np.float64)
        return Prepared("points", merged, coords[:, 0].copy(), coords[:, 1].copy(), empty_i, empty_f, empty_f)
    if not shapely.equals_exact(merged, geometry, tolerance=0.0):
        # A shape split at the antimeridian (RFC 7946) comes as parts meeting along lon=+-180. Unwrapped, the
        # two sides of that seam coincide exactly; the union dissolves it so it is not mistaken for a boundary.
        merged = shapely.union_all(shapely.get_parts(merged))
    coords = np.asarray(shapely.get_coordinates(merged), dtype=np.float64)
    starts: list[IntArray] = []
    offset = 0
    for ring in boundary_rings(merged):
        n = len(ring.coords)
        starts.append(np.arange(offset, offset + n - 1, dtype=np.intp))
        offset += n
    if offset != len(coords):  # pragma: no cover - shapely visits rings in this order; guard the assumption
        raise AssertionError("ring order does not match shapely.get_coordinates")
    edge_a = np.concatenate(starts) if starts else np.zeros(0, dtype=np.intp)
    lon, lat = coords[:, 0].copy(), coords[:, 1].copy()
    az, _, length = GEOD.inv(lon[edge_a], lat[edge_a], lon[edge_a + 1], lat[edge_a + 1])
    return Prepared(
        "polygon",
        merged,
        lon,
        lat,
        edge_a,
        np.asarray(az, dtype=np.float64),
        np.asarray(length, dtype=np.float64),
    )


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
    prepared: Prepared = field(init=False, repr=False, compare=False, hash=False)

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
        clon, clat = check_lonlat_values(self.center[0], self.center[1], "the polling-place centre", None)
        object.__setattr__(self, "center", (clon, clat))
        object.__setattr__(self, "prepared", _prepare(self.geometry, (clon, clat)))

    @classmethod
    def from_points(cls, points: Sequence[LonLat], center: LonLat | None = None) -> Reference:
        """Entrances (or a single polling-place point) as (lon, lat) pairs; ``center`` defaults to their mean,
        taken across the antimeridian correctly."""
        pts = [check_lonlat_values(p[0], p[1], f"point {i + 1}", None) for i, p in enumerate(points)]
        if not pts:
            raise GeometryError("At least one entrance point is needed.", "empty_geometry")
        geometry: BaseGeometry = Point(pts[0]) if len(pts) == 1 else MultiPoint(pts)
        if center is None:
            lon = unwrap_lon(np.array([p[0] for p in pts], dtype=np.float64), pts[0][0])
            center = (wrap_lon(float(np.mean(lon))), float(np.mean([p[1] for p in pts])))
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
            unwrapped = unwrap_geometry(geometry, first)
            if len(shapely.get_parts(unwrapped)) > 1:
                unwrapped = shapely.union_all(shapely.get_parts(unwrapped))
            c = unwrapped.centroid
            center = (wrap_lon(float(c.x)), float(c.y))
        return cls(geometry, center)

    @property
    def is_polygonal(self) -> bool:
        return self.prepared.kind == "polygon"


@dataclass(frozen=True)
class ZoneRule:
    """A zone: everything within ``distance_m`` metres (geodesic) of the reference, boundary included."""

    reference: Reference
    distance_m: float

    def __post_init__(self) -> None:
        if not isinstance(self.reference, Reference):
            raise TypeError("reference must be a Reference")
        if not is_finite_number(self.distance_m) or self.distance_m <= 0:
            raise GeometryError(
                f"A zone distance must be a positive number of metres, got {readable(self.distance_m)}.",
                "invalid_distance",
            )
        object.__setattr__(self, "distance_m", float(self.distance_m))

    @classmethod
    def from_feet(cls, reference: Reference, feet: float) -> ZoneRule:
        return cls(reference, feet_to_metres(feet))

    @property
    def distance_ft(self) -> float:
        return metres_to_feet(self.distance_m)

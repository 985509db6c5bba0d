"""The Earth every distance is measured on: the WGS84 ellipsoid and Karney's geodesics on it.

``pyproj.Geod`` solves geodesics to about 15 nanometres at any range. The two radii are never used for a reported
distance: one steers a converging iteration, the other bounds errors from the safe side.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import pyproj

from polling.geometry.coordinates import FloatArray

GEOD: Final = pyproj.Geod(ellps="WGS84")

R_MEAN: Final = 6_371_008.8
"""Mean Earth radius (metres): only drives the step of a converging iteration, never a reported distance."""

R_MIN: Final = 6_300_000.0
"""Smaller than any radius of curvature of WGS84 (the least is ~6,335 km, meridional at the equator): used in error
bounds, where a small radius is the safe side."""


def geodesics_from(lon: float, lat: float, lons: FloatArray, lats: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Forward azimuths (degrees) and geodesic distances (metres) from (lon, lat) to each of (lons, lats)."""
    n = lons.size
    az, _, dist = GEOD.inv(np.full(n, lon), np.full(n, lat), lons, lats)
    return np.asarray(az, dtype=np.float64), np.asarray(dist, dtype=np.float64)

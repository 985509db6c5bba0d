"""WGS84 longitude/latitude positions: their types, their validation, and longitudes made continuous across +-180.

Coordinates are degrees in GeoJSON order (longitude first, RFC 7946), never projected ones.
"""

from __future__ import annotations

import math
import numbers
from typing import cast

import numpy as np
import numpy.typing as npt
import shapely
from shapely.geometry.base import BaseGeometry

from polling.geometry.errors import GeometryError, capitalise, readable

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]
BoolArray = npt.NDArray[np.bool_]
LonLat = tuple[float, float]
BBox = tuple[float, float, float, float]


def is_number(value: object) -> bool:
    """A real number, not a bool."""
    # bool is an int subclass in Python, and JSON true/false must never pass as 1/0.
    return isinstance(value, numbers.Real) and not isinstance(value, bool | np.bool_)


def is_finite_number(value: object) -> bool:
    """A real number (not a bool), neither infinite nor NaN."""
    return is_number(value) and math.isfinite(cast(float, value))


def check_lonlat_values(lon: object, lat: object, where: str, path: str | None) -> LonLat:
    """Validate one longitude/latitude pair; return it as floats. Shared by GeoJSON parsing and single points."""
    at = f" ({path})" if path else ""
    for name, value in (("longitude", lon), ("latitude", lat)):
        if not is_number(value):
            raise GeometryError(
                f"{capitalise(where)}{at} has a {name} of {readable(value)}, which is not a number. "
                "Coordinates must be plain numbers, like [-90.18, 32.30].",
                "invalid_geojson",
                path=path,
            )
    # Compare before converting: a huge JSON integer would overflow float() and must read as out of range.
    for name, value in (("longitude", lon), ("latitude", lat)):
        if isinstance(value, numbers.Integral) and abs(int(value)) > 1000:
            code = "longitude_out_of_range" if name == "longitude" else "latitude_out_of_range"
            raise GeometryError(
                f"{capitalise(where)}{at} has {name} {readable(value)}, which is not a valid {name} in degrees.",
                code,
                path=path,
            )
    x = float(cast(float, lon))
    y = float(cast(float, lat))
    if not (math.isfinite(x) and math.isfinite(y)):
        bad = "longitude" if not math.isfinite(x) else "latitude"
        raise GeometryError(
            f"{capitalise(where)}{at} has a {bad} of {readable(x if bad == 'longitude' else y)}, not a real number. "
            "Every point needs a finite longitude and latitude.",
            "non_finite_coordinate",
            path=path,
        )
    if not -180.0 <= x <= 180.0:
        raise GeometryError(
            f"{capitalise(where)}{at} has longitude {readable(x)}, but longitudes run from -180 to 180 degrees.",
            "longitude_out_of_range",
            path=path,
        )
    if not -90.0 <= y <= 90.0:
        if abs(x) <= 90.0 < abs(y) <= 180.0:
            # Only a latitude can be over 90, and this pair would be valid read the other way round: the classic
            # mistake of writing "lat, lon" (as map apps display it) where GeoJSON wants "lon, lat".
            raise GeometryError(
                f"{capitalise(where)}{at} reads as longitude {readable(x)}, latitude {readable(y)}, "
                "which cannot be right: latitudes only run from -90 to 90. It looks like latitude, longitude. "
                f"GeoJSON lists longitude first: write [{readable(y)}, {readable(x)}].",
                "axis_order_swapped",
                path=path,
            )
        raise GeometryError(
            f"{capitalise(where)}{at} has latitude {readable(y)}, but latitudes run from -90 to 90 degrees.",
            "latitude_out_of_range",
            path=path,
        )
    return x, y


def check_lonlat(lon: float, lat: float) -> None:
    """Validate a single query point (e.g. a GPS fix): numbers, finite, longitude in [-180, 180], latitude in
    [-90, 90]. Raises :class:`GeometryError` with the same codes as :func:`parse_geojson`."""
    # The common case, plain floats in range (NaN fails both comparisons), settled without the general checks.
    if type(lon) is float and type(lat) is float and -180.0 <= lon <= 180.0 and -90.0 <= lat <= 90.0:
        return
    check_lonlat_values(lon, lat, "the location", None)


def unwrap_lon(lon: FloatArray, ref_lon: float) -> FloatArray:
    """Shift longitudes by whole turns so they lie within 180 degrees of ``ref_lon`` (continuous across +-180).

    Adds a whole number of turns only: coordinates that need no shift come back bit for bit, and the shift of a
    point near the antimeridian (180 +- a little, where small shapes need it) is exact in binary floating point.
    """
    turns = np.round((ref_lon - lon) / 360.0)
    return lon + 360.0 * turns


def wrap_lon(lon: float) -> float:
    """A longitude brought back into [-180, 180]."""
    return lon - 360.0 * round(lon / 360.0) if abs(lon) > 180.0 else lon


def unwrap_geometry(geom: BaseGeometry, ref_lon: float) -> BaseGeometry:
    """``geom`` with every longitude unwrapped around ``ref_lon`` (see :func:`unwrap_lon`)."""

    def apply(coords: FloatArray) -> FloatArray:
        out = coords.copy()
        out[:, 0] = unwrap_lon(coords[:, 0], ref_lon)
        return out

    return shapely.transform(geom, apply)

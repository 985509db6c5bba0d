"""Query parameters of the geographic endpoints: coordinates, GPS accuracy, county, bounding box, simplification.
Every bad value is a 400 with a stable ``code`` naming the field; generic values are parsed by
``common.api.parsing``."""

from __future__ import annotations

import math

from common.api.errors import BadRequest
from common.api.parsing import NUMBER, Params, number

MAX_ACCURACY_M = 1000.0
MAX_SIMPLIFY_M = 5000.0
MAX_BBOX_SPAN_DEG = 45.0


def coordinates(params: Params) -> tuple[float, float]:
    """``lat`` and ``lon`` in WGS84 degrees, checked for presence, number, finiteness and range."""
    lat = number(params, "lat", required=True)
    lon = number(params, "lon", required=True)
    assert lat is not None and lon is not None
    if not -90.0 <= lat <= 90.0:
        hint = (
            " It looks like longitude: are lat and lon swapped?" if -180.0 <= lat <= 180.0 and -90 <= lon <= 90 else ""
        )
        raise BadRequest(f"'lat' must be between -90 and 90 degrees.{hint}", "lat_out_of_range", field="lat")
    if not -180.0 <= lon <= 180.0:
        raise BadRequest("'lon' must be between -180 and 180 degrees.", "lon_out_of_range", field="lon")
    return lon, lat


def _metres(params: Params, name: str, maximum: float, refusal: str, code: str) -> float:
    """An optional distance in metres from 0 to ``maximum`` (0 when absent); out of range is a 400 ``code``."""
    value = number(params, name, required=False)
    if value is None:
        return 0.0
    if not 0.0 <= value <= maximum:
        raise BadRequest(refusal, code, field=name)
    return value


def accuracy(params: Params) -> float:
    return _metres(
        params,
        "accuracy_m",
        MAX_ACCURACY_M,
        f"'accuracy_m' must be between 0 and {MAX_ACCURACY_M:.0f} metres; a fix less precise than that cannot "
        "decide a 150 ft zone.",
        "accuracy_out_of_range",
    )


def bbox(params: Params) -> tuple[float, float, float, float] | None:
    """``bbox=west,south,east,north`` (RFC 7946 order). ``west > east`` means the box crosses the antimeridian."""
    raw = params.get("bbox")
    if raw is None or raw == "":
        return None
    parts = raw.split(",")
    if len(parts) != 4:
        raise BadRequest("'bbox' must be four numbers: west,south,east,north.", "invalid_bbox", field="bbox")
    if not all(NUMBER.fullmatch(p.strip()) for p in parts):
        raise BadRequest("'bbox' must be four numbers: west,south,east,north.", "invalid_bbox", field="bbox")
    west, south, east, north = (float(p) for p in parts)
    if not all(math.isfinite(v) for v in (west, south, east, north)):
        raise BadRequest("'bbox' values must be finite numbers.", "invalid_bbox", field="bbox")
    if not (-180 <= west <= 180 and -180 <= east <= 180 and -90 <= south <= 90 and -90 <= north <= 90):
        raise BadRequest(
            "'bbox' is outside -180..180 longitude or -90..90 latitude.", "bbox_out_of_range", field="bbox"
        )
    if south > north:
        raise BadRequest(
            "'bbox' south is above north; the order is west,south,east,north.", "bbox_inverted", field="bbox"
        )
    width = east - west if east >= west else east - west + 360.0
    if width > MAX_BBOX_SPAN_DEG or north - south > MAX_BBOX_SPAN_DEG:
        raise BadRequest(
            f"'bbox' may span at most {MAX_BBOX_SPAN_DEG:.0f} degrees each way; filter by county or zoom in.",
            "bbox_too_large",
            field="bbox",
        )
    return west, south, east, north


def simplify(params: Params) -> float:
    return _metres(
        params,
        "simplify",
        MAX_SIMPLIFY_M,
        f"'simplify' is a tolerance in metres between 0 and {MAX_SIMPLIFY_M:.0f}.",
        "invalid_simplify",
    )

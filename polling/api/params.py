"""Query-parameter parsing for the API (every bad value is a 400 with a stable ``code`` naming the field), and the
paging envelope of list endpoints."""

from __future__ import annotations

import math
import re
from typing import Any

from django.db.models import QuerySet
from django.http import QueryDict

from common.api.errors import BadRequest

MAX_ACCURACY_M = 1000.0
MAX_SIMPLIFY_M = 5000.0
MAX_BBOX_SPAN_DEG = 45.0
MAX_ID = 2**63 - 1
# ASCII decimal numbers only: float() would also take "1_0", full-width and other Unicode digits.
_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|[+-]?(?:nan|inf|infinity)", re.I)
_DIGITS = re.compile(r"[0-9]{1,19}")


def _number(params: QueryDict, name: str, *, required: bool) -> float | None:
    raw = params.get(name)
    if raw is None or raw == "":
        if required:
            raise BadRequest(f"'{name}' is required.", "missing_parameter", field=name)
        return None
    if len(params.getlist(name)) > 1:
        raise BadRequest(f"Give '{name}' once.", "repeated_parameter", field=name)
    if not _NUMBER.fullmatch(raw):
        raise BadRequest(f"'{name}' must be a number; got {raw[:40]!r}.", "not_a_number", field=name)
    value = float(raw)
    if not math.isfinite(value):
        raise BadRequest(f"'{name}' must be a finite number.", "not_finite", field=name)
    return value


def coordinates(params: QueryDict) -> tuple[float, float]:
    """``lat`` and ``lon`` in WGS84 degrees, checked for presence, number, finiteness and range."""
    lat = _number(params, "lat", required=True)
    lon = _number(params, "lon", required=True)
    assert lat is not None and lon is not None
    if not -90.0 <= lat <= 90.0:
        hint = (
            " It looks like longitude: are lat and lon swapped?" if -180.0 <= lat <= 180.0 and -90 <= lon <= 90 else ""
        )
        raise BadRequest(f"'lat' must be between -90 and 90 degrees.{hint}", "lat_out_of_range", field="lat")
    if not -180.0 <= lon <= 180.0:
        raise BadRequest("'lon' must be between -180 and 180 degrees.", "lon_out_of_range", field="lon")
    return lon, lat


def accuracy(params: QueryDict) -> float:
    value = _number(params, "accuracy_m", required=False)
    if value is None:
        return 0.0
    if not 0.0 <= value <= MAX_ACCURACY_M:
        raise BadRequest(
            f"'accuracy_m' must be between 0 and {MAX_ACCURACY_M:.0f} metres; a fix less precise than that cannot "
            "decide a 150 ft zone.",
            "accuracy_out_of_range",
            field="accuracy_m",
        )
    return value


def choice(params: QueryDict, name: str, choices: tuple[str, ...]) -> str | None:
    raw = params.get(name)
    if raw is None or raw == "":
        return None
    if raw not in choices:
        raise BadRequest(f"'{name}' must be one of {', '.join(choices)}.", f"invalid_{name}", field=name)
    return raw


def identifier(params: QueryDict, name: str) -> int | None:
    raw = params.get(name)
    if raw is None or raw == "":
        return None
    if not _DIGITS.fullmatch(raw) or not 1 <= int(raw) <= MAX_ID:
        raise BadRequest(f"'{name}' must be a positive whole number.", f"invalid_{name}", field=name)
    return int(raw)


def county_fips(params: QueryDict) -> str | None:
    raw = params.get("county")
    if raw is None or raw == "":
        return None
    if not re.fullmatch(r"[0-9]{5}", raw):
        raise BadRequest("'county' must be a 5-digit county FIPS code, e.g. 28049.", "invalid_county", field="county")
    return raw


def bbox(params: QueryDict) -> tuple[float, float, float, float] | None:
    """``bbox=west,south,east,north`` (RFC 7946 order). ``west > east`` means the box crosses the antimeridian."""
    raw = params.get("bbox")
    if raw is None or raw == "":
        return None
    parts = raw.split(",")
    if len(parts) != 4:
        raise BadRequest("'bbox' must be four numbers: west,south,east,north.", "invalid_bbox", field="bbox")
    if not all(_NUMBER.fullmatch(p.strip()) for p in parts):
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


def simplify(params: QueryDict) -> float:
    value = _number(params, "simplify", required=False)
    if value is None:
        return 0.0
    if not 0.0 <= value <= MAX_SIMPLIFY_M:
        raise BadRequest(
            f"'simplify' is a tolerance in metres between 0 and {MAX_SIMPLIFY_M:.0f}.",
            "invalid_simplify",
            field="simplify",
        )
    return value


def page(params: QueryDict, *, default: int, maximum: int) -> tuple[int, int]:
    def _int(name: str, fallback: int, lo: int, hi: int) -> int:
        raw = params.get(name)
        if raw is None or raw == "":
            return fallback
        if not re.fullmatch(r"[0-9]{1,9}", raw) or not lo <= int(raw) <= hi:
            raise BadRequest(f"'{name}' must be a whole number from {lo} to {hi}.", f"invalid_{name}", field=name)
        return int(raw)

    return _int("limit", default, 1, maximum), _int("offset", 0, 0, 10**9)


def paginated(request: Any, qs: QuerySet[Any], limit: int, offset: int) -> tuple[dict[str, Any], list[Any]]:
    """A page of ``qs``: the envelope (``count``, ``limit``, ``offset``, ``next`` link keeping the other filters) and
    the rows; the caller renders the rows into ``results``."""
    count = qs.count()
    rows = list(qs[offset : offset + limit])
    body: dict[str, Any] = {"count": count, "limit": limit, "offset": offset, "next": None}
    if offset + limit < count:
        query = request.query_params.copy()
        query["offset"], query["limit"] = str(offset + limit), str(limit)
        body["next"] = request.build_absolute_uri(f"{request.path}?{query.urlencode()}")
    return body, rows

"""Query and body values parsed one way for every endpoint: each bad value is a 400 with a stable ``code`` naming
the field (``missing_parameter``, ``repeated_parameter``, ``not_a_number``, ``not_finite``, ``invalid_<name>``,
``<name>_without_offset``, ``<name>_out_of_range``)."""

from __future__ import annotations

import datetime as dt
import math
import re
from typing import Any, Protocol

from django.utils.dateparse import parse_datetime
from rest_framework import relations

from common.api.errors import BadRequest

MAX_ID = 2**63 - 1
#: Date-times outside these years are refused: converting year 1 or 9999 to UTC (as the database layer does) would
#: overflow, and no election record is that old or that far ahead.
EARLIEST = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
LATEST = dt.datetime(2100, 1, 1, tzinfo=dt.UTC)
MAX_DATETIME_CHARS = 40
# ASCII decimal numbers only: float() would also take "1_0", full-width and other Unicode digits.
NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|[+-]?(?:nan|inf|infinity)", re.I)
_DIGITS = re.compile(r"[0-9]{1,19}")


class Params(Protocol):
    """What the parsers read: a query string's ``QueryDict``, or a body through ``BodyFields``."""

    def get(self, key: str, /) -> str | None: ...

    def getlist(self, key: str, /) -> list[Any]: ...


class BodyFields:
    """A JSON or multipart body read the way a query string is: every value as text (a JSON number as its
    decimal text, anything else as a marker no parser accepts), so one set of parsers serves both."""

    def __init__(self, data: Any) -> None:
        self.data = data

    def get(self, key: str, /) -> str | None:
        value = self.data.get(key)
        if value is None or isinstance(value, str):
            return value
        if isinstance(value, bool):
            return "<boolean>"
        if isinstance(value, int) and abs(value) < 10**30:
            return str(value)
        if isinstance(value, int | float):
            try:
                return repr(float(value))
            except OverflowError:
                return "inf"
        return "<not a number>"

    def getlist(self, key: str, /) -> list[Any]:
        if hasattr(self.data, "getlist"):
            return list(self.data.getlist(key))
        return [self.data[key]] if key in self.data else []


def number(params: Params, name: str, *, required: bool) -> float | None:
    """A finite decimal number given once; None when absent and not required."""
    _once(params, name)
    raw = params.get(name)
    if raw is None or raw == "":
        if required:
            raise BadRequest(f"'{name}' is required.", "missing_parameter", field=name)
        return None
    if not NUMBER.fullmatch(raw):
        raise BadRequest(f"'{name}' must be a number; got {raw[:40]!r}.", "not_a_number", field=name)
    value = float(raw)
    if not math.isfinite(value):
        raise BadRequest(f"'{name}' must be a finite number.", "not_finite", field=name)
    return value


def choice(params: Params, name: str, choices: tuple[str, ...]) -> str | None:
    _once(params, name)
    raw = params.get(name)
    if raw is None or raw == "":
        return None
    if raw not in choices:
        raise BadRequest(f"'{name}' must be one of {', '.join(choices)}.", f"invalid_{name}", field=name)
    return raw


def is_identifier(raw: Any) -> bool:
    """A database id as text: 1 to 19 ASCII digits within a signed 64-bit integer, above zero."""
    return isinstance(raw, str) and bool(_DIGITS.fullmatch(raw)) and 1 <= int(raw) <= MAX_ID


def _once(params: Params, name: str) -> None:
    if len(params.getlist(name)) > 1:
        raise BadRequest(f"Give '{name}' once.", "repeated_parameter", field=name)


def identifier(params: Params, name: str) -> int | None:
    _once(params, name)
    raw = params.get(name)
    if raw is None or raw == "":
        return None
    if not is_identifier(raw):
        raise BadRequest(f"'{name}' must be a positive whole number.", f"invalid_{name}", field=name)
    return int(raw)


_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def date(params: Params, name: str) -> dt.date | None:
    """A calendar date given once as YYYY-MM-DD, within the years 2000-2099; None when absent."""
    _once(params, name)
    raw = params.get(name)
    if raw is None or raw == "":
        return None
    try:
        value = dt.date.fromisoformat(raw) if _ISO_DATE.fullmatch(raw) else None
    except ValueError:
        value = None
    if value is None:
        raise BadRequest(f"'{name}' must be a date as YYYY-MM-DD, e.g. 2026-11-03.", f"invalid_{name}", field=name)
    if not EARLIEST.date() <= value < LATEST.date():
        raise BadRequest(f"'{name}' must be between the years 2000 and 2099.", f"{name}_out_of_range", field=name)
    return value


def county_fips(params: Params) -> str | None:
    raw = params.get("county")
    if raw is None or raw == "":
        return None
    if not re.fullmatch(r"[0-9]{5}", raw):
        raise BadRequest("'county' must be a 5-digit county FIPS code, e.g. 28049.", "invalid_county", field="county")
    return raw


def page(params: Params, *, default: int, maximum: int) -> tuple[int, int]:
    """``limit`` (1..maximum, ``default`` when absent) and ``offset``."""

    def _int(name: str, fallback: int, lo: int, hi: int) -> int:
        _once(params, name)
        raw = params.get(name)
        if raw is None or raw == "":
            return fallback
        if not re.fullmatch(r"[0-9]{1,9}", raw) or not lo <= int(raw) <= hi:
            raise BadRequest(f"'{name}' must be a whole number from {lo} to {hi}.", f"invalid_{name}", field=name)
        return int(raw)

    return _int("limit", default, 1, maximum), _int("offset", 0, 0, 10**9)


def _whole_minutes(offset: dt.timedelta | None) -> bool:
    return offset is not None and not offset % dt.timedelta(minutes=1)


def aware_datetime_or_none(raw: Any) -> dt.datetime | None:
    """An ISO 8601 date-time with a UTC offset in whole minutes, within 2000-2099, handed on in UTC (so no offset
    reaches the database: PostgreSQL refuses offsets beyond ±15:59 and finer than a second); None for anything else
    (any type, any text, an offset with seconds)."""
    if not isinstance(raw, str) or len(raw) > MAX_DATETIME_CHARS:
        return None
    try:
        value = parse_datetime(raw)
    except ValueError:
        return None
    if value is None or value.tzinfo is None or not _whole_minutes(value.utcoffset()):
        return None
    if not EARLIEST <= value < LATEST:
        return None
    return value.astimezone(dt.UTC)


def aware_datetime(raw: Any, name: str, *, required: bool) -> dt.datetime | None:
    """Like ``aware_datetime_or_none``, but a bad value is a 400 saying what is wrong with it."""
    if raw is None or raw == "":
        if required:
            raise BadRequest(f"'{name}' is required.", "missing_parameter", field=name)
        return None
    value = aware_datetime_or_none(raw)
    if value is not None:
        return value
    try:
        parsed = parse_datetime(raw) if isinstance(raw, str) and len(raw) <= MAX_DATETIME_CHARS else None
    except ValueError:
        parsed = None
    if parsed is None:
        raise BadRequest(
            f"'{name}' must be an ISO 8601 date and time, e.g. 2026-11-03T09:30:00-06:00.",
            f"invalid_{name}",
            field=name,
        )
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise BadRequest(f"'{name}' must carry a UTC offset (e.g. -06:00 or Z).", f"{name}_without_offset", field=name)
    if not _whole_minutes(parsed.utcoffset()):
        raise BadRequest(f"'{name}' must have a UTC offset in hours and minutes.", f"invalid_{name}", field=name)
    raise BadRequest(f"'{name}' must be between the years 2000 and 2099.", f"{name}_out_of_range", field=name)


class IdentifierRelatedField(relations.PrimaryKeyRelatedField):  # type: ignore[type-arg]
    """A primary-key reference whose value must be a database id (a whole number from 1 to 2^63 - 1, or its decimal
    text) before any query: ``1e400`` (an infinite float), ``2**63`` or ``true`` are ``incorrect_type`` or
    ``does_not_exist``, never an overflow in the database driver."""

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, bool) or not isinstance(data, int | str):
            self.fail("incorrect_type", data_type=type(data).__name__)
        if not is_identifier(str(data)):
            self.fail("does_not_exist", pk_value=str(data)[:40])
        return super().to_internal_value(int(data))

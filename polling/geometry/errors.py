"""The one error the geometry package raises, and the helpers that word its messages.

Messages are written for the person who drew the map: a number as they would write it, a position named the way
they would find it ("point 4 of hole 1 of part 2"), and the GeoJSON path to it (``coordinates[1][1][3]``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any


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


def readable(value: object) -> str:
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


def coordinates_path(indices: Sequence[int]) -> str:
    """Where a position sits in the GeoJSON: ``coordinates[1][0][3]``."""
    return "coordinates" + "".join(f"[{i}]" for i in indices)


def describe_position(geom_type: str, indices: Sequence[int]) -> str:
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


def capitalise(text: str) -> str:
    """The text with its first letter made upper case (a position's name opening a sentence)."""
    return text[:1].upper() + text[1:]


def empty_error(geom_type: str, indices: Sequence[int]) -> GeometryError:
    """The error for a geometry, part or ring that has no coordinates."""
    where = describe_position(geom_type, indices) if indices else f"the {geom_type}"
    path = coordinates_path(indices)
    return GeometryError(f"{capitalise(where)} ({path}) has no coordinates.", "empty_geometry", path=path)

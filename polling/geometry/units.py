"""Units of length: one international foot is exactly 0.3048 m, one statute mile exactly 1,609.344 m."""

from __future__ import annotations

from typing import Final

FOOT_M: Final = 0.3048
"""One international foot in metres (exact by definition)."""

MILE_M: Final = 1609.344
"""One international (statute) mile in metres (exact by definition: 5,280 ft)."""


def feet_to_metres(ft: float) -> float:
    """Convert international feet to metres (1 ft = 0.3048 m exactly)."""
    return float(ft) * FOOT_M


def metres_to_feet(m: float) -> float:
    """Convert metres to international feet."""
    return float(m) / FOOT_M

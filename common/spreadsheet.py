"""The one guard for every cell of every CSV file the service writes: a spreadsheet program runs a cell that begins
with ``=``, ``+``, ``-`` or ``@`` (or a tab or carriage return before one) as a formula, so such a cell is written
as text, behind an apostrophe (OWASP, "CSV injection")."""

from __future__ import annotations

from typing import Any

#: What a cell may not begin with.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def formula_safe(value: Any) -> str:
    """``value`` as the text of a CSV cell that no spreadsheet program runs as a formula (None: empty)."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text

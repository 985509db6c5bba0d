"""Election dates set by rule rather than stored."""

from __future__ import annotations

import datetime as dt


def next_general_election_day(today: dt.date) -> dt.date:
    """The Tuesday after the first Monday in November, this year or next, on or after ``today`` (a local date: the
    state's, see ``polling.geography.selectors.state_zone``)."""
    for year in (today.year, today.year + 1):
        first = dt.date(year, 11, 1)
        monday = first + dt.timedelta(days=(0 - first.weekday()) % 7)
        day = monday + dt.timedelta(days=1)
        if day >= today:
            return day
    raise AssertionError("unreachable")

"""The public answer to "may I campaign (or loiter) here?": every zone within reach of a point, each classified
exactly, and the verdict they add up to."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum

from polling.geography.spatial import GeographyIndex, ZoneHit
from polling.models import BufferRule

_ACTIVITIES: list[str] = list(BufferRule.Activity.values)


class Verdict(StrEnum):
    PROHIBITED = "prohibited"
    ALLOWED = "allowed"
    UNCERTAIN = "uncertain"


@dataclass(frozen=True)
class Compliance:
    """``verdict`` over every zone asked about, ``verdicts`` per activity, ``covered`` when a precinct holds the
    point (we know its polling places), ``zones`` each zone within reach with its status, nearest first."""

    verdict: Verdict
    verdicts: dict[str, Verdict]
    covered: bool
    zones: list[ZoneHit]


def verdict_of(zones: list[ZoneHit], *, covered: bool) -> Verdict:
    """``prohibited`` inside any zone; ``uncertain`` when a GPS fix straddles a limit, when a zone was drawn from a
    stand-in reference that may make it too small (``approximate``), or where we hold no geography (outside every
    precinct, polling places unknown); ``allowed`` only when none of that holds."""
    statuses = {str(h.classification.status) for h in zones}
    if "inside" in statuses:
        return Verdict.PROHIBITED
    if "uncertain" in statuses or any(h.zone.approximate for h in zones) or not covered:
        return Verdict.UNCERTAIN
    return Verdict.ALLOWED


def compliance_at(
    *,
    lon: float,
    lat: float,
    accuracy_m: float,
    activity: str | None,
    index: GeographyIndex,
    on: dt.date | None = None,
    now: dt.datetime | None = None,
) -> Compliance:
    """The zones in force near (``lon``, ``lat``) with a fix good to ``accuracy_m`` metres, of ``activity`` or of
    every activity, and their verdicts: on the local date ``on``, or without one today at each site (``now``, the
    current time by default). An early-voting site or a drop box counts only on the dates it is used
    (``zones.days_in_force``)."""
    covered, zones = index.covered_and_zones_near(lon, lat, accuracy_m=accuracy_m, activity=activity, on=on, now=now)
    activities = [activity] if activity else _ACTIVITIES
    verdicts = {a: verdict_of([h for h in zones if h.zone.rule.activity == a], covered=covered) for a in activities}
    return Compliance(verdict_of(zones, covered=covered), verdicts, covered, zones)

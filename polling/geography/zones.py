"""From a polling place and its jurisdiction's buffer rules to the exact geometry in ``polling.geometry``.

This is where "measured from" is resolved to a concrete reference. What the data lacks is said, never hidden:
a rule measured from a room or a parcel, which we do not map, falls back to the building outline (or the
polling-place point) and is flagged ``approximate`` unless the fallback can only make the zone larger.
"""

from __future__ import annotations

import bisect
import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from django.utils import timezone
from shapely.geometry import MultiPoint, Point
from shapely.geometry.base import BaseGeometry

from polling import geometry
from polling.geography.selectors import local_zone
from polling.models import BufferRule, Election, LocationHours, PollingPlace

MeasuredFrom = BufferRule.MeasuredFrom


@dataclass(frozen=True)
class Zone:
    """One rule applied to one polling place: what it is measured from and its exact geometry inputs."""

    polling_place_id: int
    rule: BufferRule
    reference_kind: str  # "entrances", "building" or "location": what the distance is actually measured from
    approximate: bool  # True when the rule's reference is not mapped and the fallback may draw the zone too small
    geo_rule: geometry.ZoneRule
    #: The local dates the zone is in force as seen on the day asked about (``DatedUse.days_for``), or None for
    #: every day.
    applies_on: tuple[dt.date, ...] | None = None

    @property
    def limit_ft(self) -> float:
        return float(self.rule.distance_ft)

    def polygon(self) -> BaseGeometry:
        return geometry.zone_polygon(self.geo_rule)

    def classify(self, lon: float, lat: float, accuracy_m: float = 0.0) -> geometry.Classification:
        return geometry.classify(lon, lat, self.geo_rule, accuracy_m)


def _entrance_points(place: PollingPlace) -> list[tuple[float, float]]:
    # Uses the prefetched entrances when the caller prefetched them (no query per place).
    entrances = list(place.entrances.all())
    return doors_measured_from([((e.location.x, e.location.y), e.in_use) for e in entrances])


def doors_measured_from(entrances: Sequence[tuple[tuple[float, float], bool]]) -> list[tuple[float, float]]:
    """The entrances a zone is measured from, of (lon/lat, in use?) pairs: those in use, or all of them when none is
    marked in use (a place whose doors are all marked closed still has doors)."""
    in_use = [xy for xy, used in entrances if used]
    return in_use or [xy for xy, _ in entrances]


def doors_shape(doors: Sequence[tuple[float, float]]) -> BaseGeometry | None:
    """The doors a zone is measured from as one shape: a point, several points, or None without any."""
    if not doors:
        return None
    return MultiPoint(doors) if len(doors) > 1 else Point(doors[0])


def resolve_reference(place: PollingPlace, measured_from: str) -> tuple[str, bool, BaseGeometry]:
    """Return (reference kind, approximate?, lon/lat geometry) for a rule measured from ``measured_from``."""
    return reference_for(measured_from, doors_shape(_entrance_points(place)), place.building, place.location)


def reference_for(
    measured_from: str, doors: BaseGeometry | None, building: BaseGeometry | None, location: Point
) -> tuple[str, bool, BaseGeometry]:
    """(reference kind, approximate?, lon/lat geometry) for a rule measured from ``measured_from`` at a place with
    these ``doors`` (``doors_shape`` of ``doors_measured_from``), building outline and location. The shapes given
    are returned as they are, so the rules of one place measured from the same thing share one object."""
    if measured_from == MeasuredFrom.ENTRANCE:
        if doors is not None:
            return "entrances", False, doors
        # No entrance mapped: the building outline contains every door, so measuring from it can only enlarge.
        if building is not None:
            return "building", False, building
        return "location", True, location
    if measured_from in (MeasuredFrom.BUILDING, MeasuredFrom.POLLING_PLACE, MeasuredFrom.ROOM):
        # A room lies inside its building, so the building outline is a safe (never smaller) stand-in.
        if building is not None:
            return "building", False, building
        return "location", measured_from != MeasuredFrom.POLLING_PLACE, location
    # Parcel: not mapped; the building is inside the parcel, so a zone drawn from it may be too small.
    if building is not None:
        return "building", True, building
    return "location", True, location


_KINDS = ("is_election_day", "is_early_voting", "is_drop_box")


def rules_covering(place: PollingPlace, rules: Iterable[BufferRule]) -> list[BufferRule]:
    """The rules that apply at ``place``: those of voting sites at an election-day or early-voting site, those of
    drop boxes at a drop box; one per activity (where both apply, the wider distance, else the voting sites').

    A caller that did not load the place's kinds gets today's answer without a query per place: an election-day
    site, not a drop box."""
    if set(_KINDS) & place.get_deferred_fields():
        return rules_for_site(list(rules), voting=True, drop_box=False)
    return rules_for_site(
        list(rules), voting=place.is_election_day or place.is_early_voting, drop_box=place.is_drop_box
    )


def rules_for_site(rules: Sequence[BufferRule], *, voting: bool, drop_box: bool) -> list[BufferRule]:
    """``rules_covering`` for a site that is a place of voting (election day or early) and/or a drop box."""
    chosen: dict[str, BufferRule] = {}
    for rule in rules:
        voting_rule = rule.applies_to == BufferRule.AppliesTo.VOTING_SITES
        if not (voting if voting_rule else drop_box):
            continue
        held = chosen.get(rule.activity)
        # The wider distance; on a tie the voting sites' rule, whatever order the rules came in.
        if held is None or (rule.distance_ft, voting_rule) > (
            held.distance_ft,
            held.applies_to == rule.AppliesTo.VOTING_SITES,
        ):
            chosen[rule.activity] = rule
    return [r for r in rules if chosen.get(r.activity) is r]


@dataclass(frozen=True)
class DatedUse:
    """When a site that is only an early-voting site or a drop box is used: the local dates it has hours on, in any
    election (``dates``), and the dates of the elections it has them in (``elections``)."""

    dates: tuple[dt.date, ...]
    elections: frozenset[dt.date]

    def days_for(self, day: dt.date, election_dates: Sequence[dt.date]) -> tuple[dt.date, ...] | None:
        """The dates the site's zones are in force as seen on the local date ``day``, or None for every day.

        ``election_dates``: its state's election dates, sorted. Its dated hours are known for ``day`` when it has
        hours in the election ``day`` leads to (the first on or after it): its zones are then in force on its dated
        openings alone. Otherwise (no hours in that election yet, or no election ahead) we cannot say it is unused
        that day, so they are in force every day: an answer may be too strict for a day, never too lenient."""
        i = bisect.bisect_left(election_dates, day)
        if i == len(election_dates) or election_dates[i] not in self.elections:
            return None
        return self.dates


def dated_use(*, election_day: bool, openings: Iterable[tuple[dt.date, dt.date]]) -> DatedUse | None:
    """``DatedUse`` of a site from its (election date, opening date) pairs; None when its zones count every day: an
    election-day site's (it is published as a polling place ahead of the election, and "may I campaign here?" asked
    before the day is asked about the day) and those of a site without any dated hours."""
    if election_day:
        return None
    pairs = list(openings)
    if not pairs:
        return None
    return DatedUse(tuple(sorted({day for _, day in pairs})), frozenset(election for election, _ in pairs))


def in_force(applies_on: tuple[dt.date, ...] | None, day: dt.date) -> bool:
    """Whether a zone in force on ``applies_on`` (``days_in_force``) is in force on the local date ``day``."""
    return applies_on is None or day in applies_on


def zones_for(place: PollingPlace, rules: Iterable[BufferRule], *, on: dt.date | None = None) -> list[Zone]:
    """Every zone of ``place`` under ``rules`` (the rules of its jurisdiction) that cover its kind of site, in rule
    order, with the dates each is in force as seen on the local date ``on`` (today by default; ``DatedUse``: a few
    queries unless it is an election-day site; ``in_force`` tells whether it counts on a day); none for a place whose
    coordinates are not known yet (a zone drawn around a guessed point would be a false answer)."""
    if place.location is None:
        return []
    center = (place.location.x, place.location.y)
    covering = rules_covering(place, rules)
    applies_on = None
    if covering and not (set(_KINDS) & place.get_deferred_fields()) and not place.is_election_day:
        use = dated_use(
            election_day=False,
            openings=LocationHours.objects.filter(polling_place=place).values_list("election__date", "date"),
        )
        if use is not None:
            county = place.county
            day = on if on is not None else timezone.now().astimezone(local_zone(county)).date()
            election_dates = sorted(
                set(Election.objects.filter(jurisdiction_id=county.jurisdiction_id).values_list("date", flat=True))
            )
            applies_on = use.days_for(day, election_dates)
    zones = []
    for rule in covering:
        kind, approximate, ref_geom = resolve_reference(place, rule.measured_from)
        reference = geometry.Reference(geometry=ref_geom, center=center)
        zones.append(
            Zone(
                polling_place_id=place.pk,
                rule=rule,
                reference_kind=kind,
                approximate=approximate,
                geo_rule=geometry.ZoneRule(reference=reference, distance_m=rule.distance_m),
                applies_on=applies_on,
            )
        )
    return zones

"""Which places serve a precinct in an election, what each is for, when it is open, and whether it is open now.

A precinct votes on election day at its assigned place (``PrecinctAssignment``) or, without one, at any vote center
of its county in that election (``VoteCenter``), nearest first to the voter where the centers are located. The
county's early-voting sites with hours before election day and drop boxes with hours in that election serve every
precinct of the county and are listed after them. A place that serves in several ways is listed once, with every
way it serves.

Hours are the place's dated ``LocationHours`` for the election, in local wall-clock time of their stored zone. An
election-day site without hours of its own on election day keeps the election's polling hours in the county's zone,
so a precinct with only an assignment (today's data) still gets its hours. "Open now" compares UTC instants, so it
is right across a daylight-saving change.
"""

from __future__ import annotations

import datetime as dt
import math
import zoneinfo
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from django.db.models import Prefetch, Q
from django.utils import timezone

from polling.geography.selectors import local_zone
from polling.geometry.earth import geodesics_from
from polling.models import (
    County,
    Election,
    Entrance,
    LocationHours,
    PlaceKind,
    PollingPlace,
    PrecinctAssignment,
    VoteCenter,
)


class HasId(Protocol):
    """A precinct as the caller holds it: a ``Precinct`` row or the spatial index's ``PrecinctEntry``."""

    @property
    def id(self) -> int: ...


@dataclass(frozen=True)
class Opening:
    """One opening of a place on one local date: the wall-clock times in ``timezone`` and the UTC instants."""

    date: dt.date
    opens: dt.time
    closes: dt.time
    timezone: str
    starts_at: dt.datetime
    ends_at: dt.datetime

    @classmethod
    def of(cls, hours: LocationHours) -> Opening:
        starts_at, ends_at = hours.span()
        return cls(hours.date, hours.opens, hours.closes, hours.timezone, starts_at, ends_at)

    def is_open(self, at: dt.datetime) -> bool:
        return self.starts_at <= at < self.ends_at

    def local(self) -> tuple[dt.datetime, dt.datetime]:
        """Opening and closing in local time, with the UTC offset of each instant (they differ across a change)."""
        zone = zoneinfo.ZoneInfo(self.timezone)
        return self.starts_at.astimezone(zone), self.ends_at.astimezone(zone)


@dataclass(frozen=True)
class ServingPlace:
    place: PollingPlace
    #: How the place serves the precinct in this election (``PlaceKind`` values, in that enum's order).
    kinds: tuple[str, ...]
    #: True when it serves on election day as one of the county's vote centers (not an assigned place).
    vote_center: bool
    hours: tuple[Opening, ...]
    open_now: bool
    #: Geodesic metres from the point given; None without a point or for a place without coordinates.
    distance_m: float | None


def _distances(places: Iterable[PollingPlace], near: tuple[float, float] | None) -> dict[int, float]:
    located = [p for p in places if p.location is not None]
    if near is None or not located:
        return {}
    lons = np.array([p.location.x for p in located], dtype=np.float64)
    lats = np.array([p.location.y for p in located], dtype=np.float64)
    _, metres = geodesics_from(near[0], near[1], lons, lats)
    return {p.pk: float(m) for p, m in zip(located, metres, strict=True)}


def _election_day_opening(election: Election, county: County) -> Opening:
    return election_day_opening_in(election, local_zone(county))


def election_day_opening_in(election: Election, zone: zoneinfo.ZoneInfo) -> Opening:
    start = dt.datetime.combine(election.date, election.polls_open, tzinfo=zone)
    end = dt.datetime.combine(election.date, election.polls_close, tzinfo=zone)
    return Opening(
        election.date,
        election.polls_open,
        election.polls_close,
        str(zone),
        start.astimezone(dt.UTC),
        end.astimezone(dt.UTC),
    )


def serving_places(
    precinct: HasId,
    county: County,
    election: Election,
    at: dt.datetime | None = None,
    *,
    near: tuple[float, float] | None = None,
) -> list[ServingPlace]:
    """The places serving ``precinct`` (of ``county``, with its jurisdiction loaded) in ``election``, with their
    hours in that election and whether each is open at ``at`` (now by default).

    Order: the assigned place, or the county's vote centers nearest first to ``near`` (lon, lat) where located;
    then the county's other early-voting sites and drop boxes open for the election, nearest first. Places without
    coordinates come after the located ones of their group, by code. Each place has its entrances prefetched (by
    name). A handful of queries, whatever the number of places.
    """
    return serving_county(county, election, at, near=near, precincts=[precinct.id])[precinct.id]


def serving_county(
    county: County,
    election: Election,
    at: dt.datetime | None = None,
    *,
    near: tuple[float, float] | None = None,
    precincts: Iterable[int] | None = None,
) -> dict[int, list[ServingPlace]]:
    """``serving_places`` for every precinct of ``county`` (or those of ``precincts``), by precinct id, in the same
    handful of queries as for one: what a server keeps per county for its lookups."""
    moment = (at if at is not None else timezone.now()).astimezone(dt.UTC)
    places = PollingPlace.objects.prefetch_related(
        Prefetch("entrances", queryset=Entrance.objects.order_by("name"))
    ).order_by("code")
    assignments = PrecinctAssignment.objects.filter(election=election)
    if precincts is not None:
        wanted = list(precincts)
        assignments = assignments.filter(precinct_id__in=wanted)
    else:
        assignments = assignments.filter(precinct__county=county)
    assigned: dict[int, int] = dict(assignments.values_list("precinct_id", "polling_place_id"))
    if precincts is None:
        wanted = list(county.precincts.values_list("pk", flat=True))
    centers = set(
        VoteCenter.objects.filter(election=election, polling_place__county=county).values_list(
            "polling_place_id", flat=True
        )
    )
    # Early-voting sites and drop boxes of the county are open for an election when they have hours in it.
    open_for_election = Q(county=county, hours__election=election) & (Q(is_early_voting=True) | Q(is_drop_box=True))
    found = list(places.filter(Q(pk__in=set(assigned.values()) | centers) | open_for_election).distinct())

    hours: dict[int, list[Opening]] = defaultdict(list)
    for row in LocationHours.objects.filter(election=election, polling_place_id__in=[p.pk for p in found]).order_by(
        "date", "opens"
    ):
        hours[row.polling_place_id].append(Opening.of(row))
    distances = _distances(found, near)
    election_day = _election_day_opening(election, county)
    by_pk = {p.pk: p for p in found}
    # The county's early-voting sites and drop boxes serve every precinct alike: judged once, not per precinct.
    others = _serving(
        [p for p in found if p.is_early_voting or p.is_drop_box],
        set(),
        False,
        hours,
        distances,
        election,
        election_day,
        moment,
    )
    # Precincts served by the same election-day places (one assigned place, or all the county's vote centers) get
    # one shared list: a county's answer costs precincts + places, never precincts x vote centers. Callers must not
    # change the lists.
    shared: dict[tuple[frozenset[int], bool], list[ServingPlace]] = {}
    result = {}
    for pk in wanted:
        day_ids = frozenset({assigned[pk]}) if pk in assigned else frozenset(centers)
        key = (day_ids, pk not in assigned)
        if key not in shared:
            day = _serving(
                [by_pk[i] for i in day_ids if i in by_pk],
                set(day_ids),
                key[1],
                hours,
                distances,
                election,
                election_day,
                moment,
            )
            shared[key] = sorted(day + [s for s in others if s.place.pk not in day_ids], key=_order)
        result[pk] = shared[key]
    return result


def _order(s: ServingPlace) -> tuple[int, float, str]:
    """The election-day places first, each group nearest first, then by code."""
    group = 0 if PlaceKind.ELECTION_DAY.value in s.kinds else 1
    return (group, s.distance_m if s.distance_m is not None else math.inf, s.place.code)


def _serving(
    places: list[PollingPlace],
    day_ids: set[int],
    vote_center: bool,
    hours: dict[int, list[Opening]],
    distances: dict[int, float],
    election: Election,
    election_day: Opening,
    moment: dt.datetime,
) -> list[ServingPlace]:
    """How each of ``places`` serves a precinct whose election-day places are ``day_ids`` (unordered)."""
    served = []
    for place in places:
        own = hours[place.pk]
        kinds = []
        if place.pk in day_ids:
            kinds.append(PlaceKind.ELECTION_DAY.value)
            if not any(o.date == election.date for o in own):
                own = sorted([*own, election_day], key=lambda o: o.starts_at)
        if place.is_early_voting and any(o.date < election.date for o in own):
            kinds.append(PlaceKind.EARLY_VOTING.value)
        if place.is_drop_box and hours[place.pk]:
            kinds.append(PlaceKind.DROP_BOX.value)
        if not kinds:
            continue  # an early-voting site open only on election day, without serving this precinct then
        served.append(
            ServingPlace(
                place=place,
                kinds=tuple(kinds),
                vote_center=vote_center and place.pk in day_ids,
                hours=tuple(own),
                open_now=any(o.is_open(moment) for o in own),
                distance_m=distances.get(place.pk),
            )
        )
    return served


@dataclass(frozen=True)
class PlaceHours:
    """A place's part in one election: its openings, and whether it is one of its county's vote centers."""

    hours: tuple[Opening, ...]
    vote_center: bool


def hours_in(places: Iterable[PollingPlace], election: Election) -> dict[int, PlaceHours]:
    """Each of ``places``' hours in ``election`` (the map's view of a place, whatever precinct asks): its own dated
    openings, and on election day the election's polling hours in its county's zone where it serves then (assigned
    to a precinct, or a vote center) without hours of its own that day. A place of another state has none. Four
    queries, whatever the number of places."""
    wanted = {p.pk: p for p in places}
    if not wanted:
        return {}
    own: dict[int, list[Opening]] = defaultdict(list)
    for row in LocationHours.objects.filter(election=election, polling_place_id__in=list(wanted)).order_by(
        "date", "opens"
    ):
        own[row.polling_place_id].append(Opening.of(row))
    centers = set(
        VoteCenter.objects.filter(election=election, polling_place_id__in=list(wanted)).values_list(
            "polling_place_id", flat=True
        )
    )
    assigned = set(
        PrecinctAssignment.objects.filter(election=election, polling_place_id__in=list(wanted)).values_list(
            "polling_place_id", flat=True
        )
    )
    zones = {
        c["id"]: zoneinfo.ZoneInfo(c["timezone"] or c["jurisdiction__timezone"])
        for c in County.objects.filter(
            pk__in={p.county_id for p in wanted.values()}, jurisdiction=election.jurisdiction_id
        ).values("id", "timezone", "jurisdiction__timezone")
    }
    found = {}
    for pk, place in wanted.items():
        zone = zones.get(place.county_id)
        if zone is None:  # another state's place
            found[pk] = PlaceHours((), False)
            continue
        openings = own[pk]
        serves_that_day = place.is_election_day and (pk in assigned or pk in centers)
        if serves_that_day and not any(o.date == election.date for o in openings):
            openings = sorted([*openings, election_day_opening_in(election, zone)], key=lambda o: o.starts_at)
        found[pk] = PlaceHours(tuple(openings), pk in centers)
    return found

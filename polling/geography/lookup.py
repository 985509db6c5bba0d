"""The public answer to "where do I vote?": the precinct holding a point, the election asked about (or the upcoming
one of the precinct's state, by the county's calendar) and the polling place serving the precinct in it.

Everything past the spatial query changes only with the geography version (which rules, elections and assignments
raise too) or with the local date, so each part is read from the database once per index and kept with it
(``GeographyIndex.memo``): a repeated answer costs dictionary reads, not queries.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import zoneinfo
from dataclasses import dataclass

import numpy as np
from django.db.models import Prefetch
from django.utils import timezone

from common.errors import DomainError
from polling.geography.locations import ServingPlace, serving_places
from polling.geography.selectors import local_zone
from polling.geography.spatial import GeographyIndex, PrecinctEntry
from polling.geometry.earth import geodesics_from
from polling.models import County, Election, Entrance, PlaceKind, PollingPlace, PrecinctAssignment


@dataclass(frozen=True)
class Lookup:
    precinct: PrecinctEntry
    #: None when the state has no upcoming election.
    election: Election | None
    #: None when the precinct has no polling place in the election (``polling_place`` reads it).
    polling_place_id: int | None


def lookup_at(*, lon: float, lat: float, election_id: int | None, index: GeographyIndex) -> Lookup:
    """Refuses with ``no_precinct`` outside every precinct and ``election_not_found`` for an election id that is
    not one of the precinct's state."""
    hit = index.precinct_at(lon, lat)
    if hit is None:
        raise DomainError("No precinct contains this point.", "no_precinct")
    elections = index.memo(("lookup.elections", hit.jurisdiction_id), lambda: _elections_of(hit.jurisdiction_id))
    election: Election | None
    if election_id is not None:
        election = elections.get(election_id)
        if election is None:
            raise DomainError("No such election for this precinct's state.", "election_not_found", field="election")
    else:
        zone = index.memo(("lookup.zone", hit.county_id), lambda: _county_zone(hit.county_id))
        today = timezone.localdate(timezone=zone)
        # The first election on or after the local date, the earliest id first on a tie (as
        # ``upcoming_election_of_state`` orders them).
        election = next((e for e in elections.values() if e.date >= today), None)
    place_id = None
    if election is not None:
        chosen = election
        place_id = index.memo(("lookup.assignment", chosen.pk, hit.id), lambda: _assigned_place_id(chosen, hit.id))
    return Lookup(hit, election, place_id)


def polling_place(pk: int) -> PollingPlace:
    """A polling place as a lookup shows it, with its entrances by name."""
    return PollingPlace.objects.prefetch_related(Prefetch("entrances", queryset=Entrance.objects.order_by("name"))).get(
        pk=pk
    )


def _elections_of(jurisdiction_id: int) -> dict[int, Election]:
    """Every election of a state by id, in (date, id) order: a state holds a handful a year."""
    return {e.pk: e for e in Election.objects.filter(jurisdiction_id=jurisdiction_id).order_by("date", "pk")}


def _county_zone(county_id: int) -> zoneinfo.ZoneInfo:
    county = County.objects.select_related("jurisdiction").only("jurisdiction__timezone", "timezone").get(pk=county_id)
    return local_zone(county)


def _assigned_place_id(election: Election, precinct_id: int) -> int | None:
    place_id: int | None = (
        PrecinctAssignment.objects.filter(election=election, precinct_id=precinct_id)
        .values_list("polling_place_id", flat=True)
        .first()
    )
    return place_id


def serving_at(
    *, lookup: Lookup, lon: float, lat: float, index: GeographyIndex, at: dt.datetime | None = None
) -> list[ServingPlace]:
    """The places serving the looked-up precinct in its election (``locations.serving_places``): read once per
    index version, then ordered by distance from (``lon``, ``lat``) and judged open or not at ``at`` (now) for this
    request. Empty without an election."""
    election = lookup.election
    if election is None:
        return []
    hit = lookup.precinct
    county = index.memo(
        ("lookup.county", hit.county_id),
        lambda: County.objects.select_related("jurisdiction").defer("boundary").get(pk=hit.county_id),
    )
    cached: list[ServingPlace] = index.memo(
        ("lookup.serving", election.pk, hit.id), lambda: serving_places(hit, county, election)
    )
    moment = (at if at is not None else timezone.now()).astimezone(dt.UTC)
    located = [s for s in cached if s.place.location is not None]
    distances: dict[int, float] = {}
    if located:
        lons = np.array([s.place.location.x for s in located], dtype=np.float64)
        lats = np.array([s.place.location.y for s in located], dtype=np.float64)
        metres = geodesics_from(lon, lat, lons, lats)[1].tolist()
        distances = {s.place.pk: m for s, m in zip(located, metres, strict=True)}
    now_serving = [
        dataclasses.replace(
            s,
            open_now=any(o.is_open(moment) for o in s.hours),
            distance_m=distances.get(s.place.pk),
        )
        for s in cached
    ]
    # As ``serving_places`` orders them: the election-day places first, each group nearest first, then by code.
    day = PlaceKind.ELECTION_DAY.value
    now_serving.sort(
        key=lambda s: (
            0 if day in s.kinds else 1,
            s.distance_m if s.distance_m is not None else math.inf,
            s.place.code,
        )
    )
    return now_serving

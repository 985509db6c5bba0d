"""The public answer to "where do I vote?": the precinct holding a point, the election asked about (or the upcoming
one of the precinct's state, by the county's calendar) and the polling place serving the precinct in it.

Everything past the spatial query changes only with the geography version (which rules, elections and assignments
raise too) or with the local date, so each part is read from the database once per index and kept with it
(``GeographyIndex.memo``): a repeated answer costs dictionary reads, not queries.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from django.utils import timezone

from common.errors import DomainError
from polling.geography.locations import Opening, ServingPlace, serving_county
from polling.geography.selectors import local_zone
from polling.geography.spatial import GeographyIndex, PrecinctEntry
from polling.geometry.earth import geodesics_from
from polling.models import County, Election, PlaceKind


@dataclass(frozen=True)
class Lookup:
    precinct: PrecinctEntry
    #: None when the state has no upcoming election.
    election: Election | None


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
        zone = local_zone(_county(index, hit.county_id))
        today = timezone.localdate(timezone=zone)
        # The first election on or after the local date, the earliest id first on a tie (as
        # ``upcoming_election_of_state`` orders them).
        election = next((e for e in elections.values() if e.date >= today), None)
    return Lookup(hit, election)


def _elections_of(jurisdiction_id: int) -> dict[int, Election]:
    """Every election of a state by id, in (date, id) order: a state holds a handful a year."""
    return {e.pk: e for e in Election.objects.filter(jurisdiction_id=jurisdiction_id).order_by("date", "pk")}


def _county(index: GeographyIndex, county_id: int) -> County:
    """The county (with its state, without its boundary), read once per index version for every lookup there."""
    return index.memo(
        ("lookup.county", county_id),
        lambda: County.objects.select_related("jurisdiction").defer("boundary").get(pk=county_id),
    )


@dataclass(frozen=True, slots=True)
class Served:
    """A place serving a precinct, as a server keeps it between requests: no model instance, only what ordering and
    "open now" need, and the caller's rendering of the rest (``render``, made once per place and way of serving)."""

    place_id: int
    code: str
    location: tuple[float, float] | None
    kinds: tuple[str, ...]
    #: Serves on election day as the precinct's assigned place (not one of the county's vote centers).
    assigned: bool
    hours: tuple[Opening, ...]
    #: The caller's renderings (``render``): the place alone, and the place as serving the precinct.
    rendered: tuple[bytes, bytes]


@dataclass(frozen=True, slots=True)
class ServedNow:
    """A place serving a precinct, for one request: open at that moment, at that distance from the point."""

    served: Served
    open_now: bool
    distance_m: float | None


def serving_at(
    *,
    lookup: Lookup,
    lon: float,
    lat: float,
    index: GeographyIndex,
    render: Callable[[ServingPlace], tuple[bytes, bytes]],
    at: dt.datetime | None = None,
) -> list[ServedNow]:
    """The places serving the looked-up precinct in its election (``locations.serving_places``), ordered by
    distance from (``lon``, ``lat``) and judged open or not at ``at`` (now) for this request. Empty without an
    election.

    What changes only with the geography is read for the precinct's whole county at once and kept with the index
    (a county's precincts share their vote centers, early-voting sites and drop boxes, so a nation's distinct voters
    cost a query round per county, not per precinct), each place rendered once by ``render``."""
    election = lookup.election
    if election is None:
        return []
    hit = lookup.precinct
    by_precinct: dict[int, list[Served]] = index.memo(
        ("lookup.serving", election.pk, hit.county_id),
        lambda: _serving_county(_county(index, hit.county_id), election, render),
    )
    kept = by_precinct.get(hit.id, [])
    moment = (at if at is not None else timezone.now()).astimezone(dt.UTC)
    located = [s for s in kept if s.location is not None]
    distances: dict[int, float] = {}
    if located:
        lons = np.array([s.location[0] for s in located if s.location is not None], dtype=np.float64)
        lats = np.array([s.location[1] for s in located if s.location is not None], dtype=np.float64)
        metres = geodesics_from(lon, lat, lons, lats)[1].tolist()
        distances = {s.place_id: m for s, m in zip(located, metres, strict=True)}
    now = [ServedNow(s, any(o.is_open(moment) for o in s.hours), distances.get(s.place_id)) for s in kept]
    # As ``serving_places`` orders them: the election-day places first, each group nearest first, then by code.
    day = PlaceKind.ELECTION_DAY.value
    now.sort(
        key=lambda s: (
            0 if day in s.served.kinds else 1,
            s.distance_m if s.distance_m is not None else math.inf,
            s.served.code,
        )
    )
    return now


def _serving_county(
    county: County, election: Election, render: Callable[[ServingPlace], tuple[bytes, bytes]]
) -> dict[int, list[Served]]:
    rendered: dict[tuple[int, tuple[str, ...], bool], Served] = {}

    def keep(s: ServingPlace) -> Served:
        key = (s.place.pk, s.kinds, s.vote_center)
        if key not in rendered:
            location = (s.place.location.x, s.place.location.y) if s.place.location is not None else None
            assigned = PlaceKind.ELECTION_DAY.value in s.kinds and not s.vote_center
            rendered[key] = Served(s.place.pk, s.place.code, location, s.kinds, assigned, s.hours, render(s))
        return rendered[key]

    # Precincts served alike share one list (``serving_county`` gives them the same one): keep it once.
    kept: dict[int, list[Served]] = {}
    out: dict[int, list[Served]] = {}
    for pk, places in serving_county(county, election).items():
        if id(places) not in kept:
            kept[id(places)] = [keep(s) for s in places]
        out[pk] = kept[id(places)]
    return out

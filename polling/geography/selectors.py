"""Reads of geography that several concerns share: the local time zone of a county and the election a place or a
state is serving. One definition each, so "election day" means the same to a lookup, a credential and a tablet."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from typing import Any

from django.db.models import Prefetch, Q, QuerySet
from django.utils import timezone

from polling.models import County, Election, Entrance, Jurisdiction, PollingPlace, Precinct


def local_zone(county: County) -> zoneinfo.ZoneInfo:
    """The county's time zone, or its state's where the county keeps the state's (most do)."""
    return zoneinfo.ZoneInfo(county.timezone or county.jurisdiction.timezone)


def state_zone(jurisdiction: Jurisdiction) -> zoneinfo.ZoneInfo:
    return zoneinfo.ZoneInfo(jurisdiction.timezone)


def upcoming_election_of_state(jurisdiction_id: int, on: dt.date) -> Election | None:
    """The first election of a state on or after the local date ``on`` (the earliest id first on a tie)."""
    return Election.objects.filter(jurisdiction_id=jurisdiction_id, date__gte=on).order_by("date", "pk").first()


def upcoming_election(place: PollingPlace, at: dt.datetime | None = None) -> Election | None:
    """The election a polling place is serving at ``at`` (now by default): the first of its state on or after that
    local date."""
    moment = at if at is not None else timezone.now()
    return upcoming_election_of_state(place.county.jurisdiction_id, moment.astimezone(local_zone(place.county)).date())


def election_day_bounds(election: Election, county: County) -> tuple[dt.datetime, dt.datetime]:
    """Local midnight to midnight of election day in the county, in UTC."""
    zone = local_zone(county)
    start = dt.datetime.combine(election.date, dt.time(0), tzinfo=zone)
    end = dt.datetime.combine(election.date + dt.timedelta(days=1), dt.time(0), tzinfo=zone)
    return start.astimezone(dt.UTC), end.astimezone(dt.UTC)


# --- The published geography (the public API and map) ----------------------------------------------------------

#: (west, south, east, north) in degrees; west > east crosses the antimeridian.
Box = tuple[float, float, float, float]


def _in_box(qs: QuerySet[Any], box: Box | None) -> QuerySet[Any]:
    """Rows whose bounding box meets ``box``."""
    if box is None:
        return qs
    west, south, east, north = box
    lat = Q(bbox_south__lte=north, bbox_north__gte=south)
    if west <= east:
        return qs.filter(lat, bbox_west__lte=east, bbox_east__gte=west)
    # Crosses the antimeridian: [west, 180] or [-180, east].
    return qs.filter(lat & (Q(bbox_east__gte=west) | Q(bbox_west__lte=east)))


def _in_county(qs: QuerySet[Any], county_fips: str | None) -> QuerySet[Any]:
    return qs.filter(county__fips=county_fips) if county_fips else qs


def counties(*, bbox: Box | None = None) -> QuerySet[County]:
    """Counties (with their state) meeting ``bbox``, by FIPS."""
    return _in_box(County.objects.select_related("jurisdiction").order_by("fips"), bbox)


def precincts(*, county_fips: str | None = None, bbox: Box | None = None) -> QuerySet[Precinct]:
    """Precincts (with their county, not its boundary) of a county and meeting ``bbox``, by county and code."""
    qs = Precinct.objects.select_related("county").defer("county__boundary").order_by("county__fips", "code")
    return _in_box(_in_county(qs, county_fips), bbox)


def polling_places(
    *, county_fips: str | None = None, bbox: Box | None = None, detail: bool = True
) -> QuerySet[PollingPlace]:
    """Polling places (with their county and their entrances by name) of a county and meeting ``bbox``, by county
    and code; without ``detail``, leaving out the building outline and accessibility notes. Only located places: one
    whose coordinates are not known yet is no map feature (it is shown by its address where it serves a precinct)."""
    qs = (
        PollingPlace.objects.filter(location__isnull=False)
        .select_related("county")
        .defer("county__boundary")
        .prefetch_related(Prefetch("entrances", queryset=Entrance.objects.order_by("name")))
        .order_by("county__fips", "code")
    )
    if not detail:
        qs = qs.defer("building", "accessibility_notes")
    return _in_box(_in_county(qs, county_fips), bbox)


def elections(*, state: str | None = None) -> QuerySet[Election]:
    """Elections (with their state) of every state or of the state with the postal code ``state``, by date."""
    qs = Election.objects.select_related("jurisdiction").order_by("date", "jurisdiction__code", "name", "pk")
    return qs.filter(jurisdiction__code=state) if state is not None else qs


def state_exists(code: str) -> bool:
    return Jurisdiction.objects.filter(code=code).exists()


def polling_place_exists(pk: int) -> bool:
    return PollingPlace.objects.filter(pk=pk).exists()


def polling_place_ids(*, bbox: Box, limit: int) -> tuple[list[int], bool]:
    """The ids of the first ``limit`` polling places meeting ``bbox`` (by id), and whether there were more."""
    ids = list(_in_box(PollingPlace.objects.order_by("pk"), bbox).values_list("pk", flat=True)[: limit + 1])
    return ids[:limit], len(ids) > limit

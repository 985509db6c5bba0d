"""Incident reads scoped to the caller, and where a report may be made.

Outside one's scope an incident does not exist (404). State administrators see their state's incidents,
commissioners their county's, poll managers and workers those at the polling places (and elections) they work and
those they reported themselves.
"""

from __future__ import annotations

import datetime as dt
import uuid

from django.db.models import Prefetch, Q, QuerySet

from accounts.scopes import Scope
from common.errors import DomainError
from polling.geography.selectors import local_zone
from polling.geometry.earth import GEOD
from polling.models import Election, Entrance, PollingPlace
from polling.models.incidents import Incident

#: An incident is reported at a polling place: a spot farther than this is a coordinate error, not an incident.
MAX_DISTANCE_FROM_PLACE_M = 5000.0


def incidents_visible(scope: Scope) -> QuerySet[Incident]:
    if scope.user_id is None:
        return Incident.objects.none()
    where = Q(reported_by_id=scope.user_id)
    if scope.is_staff_admin:
        where |= scope.county_q("polling_place__")
    for place_id, election_id in scope.places:
        where |= Q(polling_place_id=place_id, election_id=election_id)
    return (
        Incident.objects.filter(where)
        .select_related("polling_place", "reported_by")
        .only(
            *(f.name for f in Incident._meta.concrete_fields),
            "polling_place__id",
            "polling_place__code",
            "polling_place__name",
            "polling_place__county_id",
            "reported_by__id",
            "reported_by__username",
        )
    )


def incident_get(scope: Scope, pk: int) -> Incident:
    incident = incidents_visible(scope).filter(pk=pk).first()
    if incident is None:
        raise DomainError("Not found.", "not_found")
    return incident


def replayed_report(
    scope: Scope,
    *,
    report_id: uuid.UUID,
    polling_place_id: int,
    election_id: int | None,
    activity: str,
    lon: float,
    lat: float,
    occurred_at: dt.datetime,
    description: str,
) -> Incident | None:
    """The report already stored under ``report_id`` when this is it sent again (the same place, activity, spot, time
    and description, and the same election where one is named), for a caller who can see it: answered before the
    caller's grants are read again, so a resend after they changed is still the same report. None when no report
    has the id; ``report_id_reused`` when another report has it, or one the caller cannot see."""
    stored: Incident | None = Incident.objects.filter(report_id=report_id).first()
    if stored is None:
        return None
    stored_fields = (stored.polling_place_id, stored.activity, stored.lon, stored.lat, stored.occurred_at)
    same = (
        stored_fields == (polling_place_id, activity, lon, lat, occurred_at)
        and stored.description == description
        and election_id in (None, stored.election_id)
    )
    if same and incidents_visible(scope).filter(pk=stored.pk).exists():
        return stored
    raise DomainError("This report_id was already used for a different report.", "report_id_reused", field="report_id")


def incident_list(
    scope: Scope,
    *,
    polling_place: int | None = None,
    election: int | None = None,
    activity: str | None = None,
    zone_status: str | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
) -> QuerySet[Incident]:
    qs = incidents_visible(scope)
    if polling_place is not None:
        qs = qs.filter(polling_place_id=polling_place)
    if election is not None:
        qs = qs.filter(election_id=election)
    if activity:
        qs = qs.filter(activity=activity)
    if zone_status:
        qs = qs.filter(zone_status=zone_status)
    if since is not None:
        qs = qs.filter(occurred_at__gte=since)
    if until is not None:
        qs = qs.filter(occurred_at__lt=until)
    return qs.order_by("-occurred_at", "-id")


def place_for_measuring(pk: int) -> PollingPlace | None:
    """A polling place with what measuring a spot against its zones reads (county, state, entrances)."""
    entrances = Prefetch("entrances", queryset=Entrance.objects.order_by("pk"))
    return (
        PollingPlace.objects.select_related("county", "county__jurisdiction")
        .defer("county__boundary")
        .prefetch_related(entrances)
        .filter(pk=pk)
        .first()
    )


def report_site(
    scope: Scope, *, polling_place_id: int, election_id: int | None, occurred_at: dt.datetime, lon: float, lat: float
) -> tuple[PollingPlace, Election | None]:
    """The polling place (ready for measuring) and the election a report by the caller is filed under: a place they
    administer (any of its state's elections, by default the one it serves that day) or work at (one of their
    elections there, named when they work several). Any other place does not exist for them; a spot far from the
    place is a coordinate error."""
    place = place_for_measuring(polling_place_id)
    unknown = DomainError("No such polling place in your scope.", "unknown_polling_place", field="polling_place")
    if place is None:
        raise unknown
    election: Election | None
    if scope.administers_county(place.county):
        if election_id is None:
            election = election_on_the_day(place, occurred_at)
        else:
            election = Election.objects.filter(pk=election_id, jurisdiction_id=place.county.jurisdiction_id).first()
            if election is None:
                raise DomainError("No such election for this polling place.", "unknown_election", field="election")
    else:
        elections = sorted(e for p, e in scope.places if p == place.pk)
        if not elections:
            raise unknown
        if election_id is None:
            if len(elections) > 1:
                raise DomainError(
                    "You work at this polling place in several elections: name the 'election'.",
                    "missing_parameter",
                    field="election",
                )
            election_id = elections[0]
        elif election_id not in elections:
            raise DomainError(
                "You do not work at this polling place in that election.", "unknown_election", field="election"
            )
        election = Election.objects.get(pk=election_id)
    # A place not located yet cannot tell a spot far from it; its report is stored unmeasured (it has no zones).
    if place.location is not None and metres_from(place, lon, lat) > MAX_DISTANCE_FROM_PLACE_M:
        raise DomainError(
            f"The location is more than {MAX_DISTANCE_FROM_PLACE_M / 1000:.0f} km from the polling place: check "
            "the coordinates (and that lon and lat are not swapped).",
            "too_far_from_polling_place",
            field="lon",
        )
    return place, election


def metres_from(place: PollingPlace, lon: float, lat: float) -> float:
    """The geodesic distance from the polling place's point to (lon, lat)."""
    # Both points are known good (the request's were parsed, the place's validated when stored): the plain WGS84
    # inverse, which cannot refuse.
    return float(GEOD.inv(place.lon, place.lat, lon, lat)[2])


def election_on_the_day(place: PollingPlace, occurred_at: dt.datetime) -> Election | None:
    """The election this polling place serves on the local day of ``occurred_at``, when there is exactly one (so a
    commissioner's report is seen by the poll workers of that election)."""
    day = occurred_at.astimezone(local_zone(place.county)).date()
    found = list(
        Election.objects.filter(
            jurisdiction_id=place.county.jurisdiction_id, date=day, assignments__polling_place=place
        ).distinct()[:2]
    )
    return found[0] if len(found) == 1 else None

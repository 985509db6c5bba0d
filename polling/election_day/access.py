"""Who may record or read election day at a polling place, decided from the caller's ``Scope`` and tablet.

Check-ins, check-outs and sync come only from an enrolled tablet of the polling place, signed in by one of its poll
workers or managers for the election (``tablet_required``, 403). The roster and its paper copies are for them and
for commissioners and administrators in scope. Outside one's scope the polling place does not exist (404).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from accounts.models import ApiSession, Device
from accounts.scopes import Scope
from common.errors import DomainError
from common.statements import Param, Statement, instance
from polling.election_day.roster import election_for
from polling.geography import selectors as geography_selectors
from polling.models import County, Election, Jurisdiction, PollingPlace

NO_SUCH_PLACE = "No such polling place."


@dataclass(frozen=True)
class Station:
    """An enrolled tablet at its polling place, and the elections it and its signed-in poll worker serve there."""

    device: Device
    place: PollingPlace
    elections: set[int]


def tablet_of(auth: object) -> Device | None:
    """The enrolled tablet a request's API session was opened on, if any."""
    return auth.device if isinstance(auth, ApiSession) else None


def _place(pk: int) -> PollingPlace | None:
    return PollingPlace.objects.select_related("county__jurisdiction").defer("county__boundary").filter(pk=pk).first()


#: What recording at a station reads of its place, its county and its jurisdiction (not the place's geometry,
#: decoded on every post for nothing).
_PLACE = ("id", "code", "name", "county_id")
_COUNTY = ("id", "fips", "name", "timezone", "jurisdiction_id")
_JURISDICTION = ("id", "code", "timezone")
#: Read on every check-in, check-out and sync: one statement compiled once per process (``common.statements``).
_STATION = Statement.select(
    PollingPlace,
    lambda: (
        PollingPlace.objects.filter(pk=Param("pk", PollingPlace._meta.pk))
        .order_by()
        .values_list(
            *_PLACE,
            *(f"county__{name}" for name in _COUNTY),
            *(f"county__jurisdiction__{name}" for name in _JURISDICTION),
        )
    ),
)


def _station_place(pk: int) -> PollingPlace | None:
    row = _STATION.first(pk=pk)
    if row is None:
        return None
    db = PollingPlace.objects.db
    place = instance(PollingPlace, db, _PLACE, row[: len(_PLACE)])
    county = instance(County, db, _COUNTY, row[len(_PLACE) : len(_PLACE) + len(_COUNTY)])
    county.jurisdiction = instance(Jurisdiction, db, _JURISDICTION, row[len(_PLACE) + len(_COUNTY) :])
    place.county = county
    return place


def _worker_elections(scope: Scope, place: PollingPlace) -> set[int]:
    return {election for (p, election) in scope.places if p == place.pk}


def visible_place(scope: Scope, pk: int, *, station: bool = False) -> PollingPlace:
    """A polling place the caller works at or administers; any other does not exist for them. ``station``: read
    only what recording there needs (``_PLACE``, ``_COUNTY``, ``_JURISDICTION``)."""
    place = _station_place(pk) if station else _place(pk)
    if place is None or (not _worker_elections(scope, place) and not scope.administers_county(place.county)):
        raise DomainError(NO_SUCH_PLACE, "not_found")
    return place


def check_in_station(scope: Scope, device: Device | None, pk: int) -> Station:
    """The station a check-in or check-out at polling place ``pk`` is recorded from."""
    place = visible_place(scope, pk, station=True)
    elections = _worker_elections(scope, place)
    if not elections or device is None or device.polling_place_id != place.pk:
        raise DomainError(
            "Check-ins and check-outs are recorded from an enrolled tablet of this polling place, signed in by one of "
            "its poll workers.",
            "tablet_required",
        )
    if device.election_id is not None:
        elections &= {device.election_id}
    return Station(device, place, elections)


def station_election(station: Station, at: dt.datetime) -> Election:
    """The election an event recorded at ``at`` on this station belongs to."""
    election = election_for(station.place, station.elections, at)
    if election is None:
        raise DomainError("This tablet or poll worker does not serve this polling place's election.", "tablet_required")
    return election


def sync_station(scope: Scope, device: Device | None) -> Station:
    """The station an offline batch is uploaded from: the tablet's own polling place."""
    place = None
    if device is not None and device.polling_place_id is not None:
        place = _station_place(device.polling_place_id)
    elections = set() if place is None else _worker_elections(scope, place)
    if device is not None and device.election_id is not None:
        elections &= {device.election_id}
    if device is None or place is None or not elections:
        raise DomainError(
            "Sync is for an enrolled tablet of a polling place, signed in by one of its poll workers.",
            "tablet_required",
        )
    return Station(device, place, elections)


def roster_election(scope: Scope, place: PollingPlace, election_id: int | None) -> Election:
    """The election whose roster (or paper log) of a visible ``place`` the caller reads: ``election_id``, else the
    place's upcoming one. Its poll workers and managers read only their elections' rosters."""
    if election_id is not None:
        election = Election.objects.filter(pk=election_id, jurisdiction_id=place.county.jurisdiction_id).first()
    else:
        election = geography_selectors.upcoming_election(place)
    if election is None:
        raise DomainError("No such election at this polling place.", "no_election")
    elections = _worker_elections(scope, place)
    if elections and not scope.administers_county(place.county) and election.pk not in elections:
        raise DomainError(NO_SUCH_PLACE, "not_found")
    return election

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
from polling.election_day.roster import election_for
from polling.geography import selectors as geography_selectors
from polling.models import Election, PollingPlace

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


#: What recording at a station reads of its place (not its geometry, decoded on every post for nothing).
STATION_FIELDS = (
    "code",
    "name",
    "county__fips",
    "county__name",
    "county__timezone",
    "county__jurisdiction__code",
    "county__jurisdiction__timezone",
)


def _station_place(pk: int) -> PollingPlace | None:
    return PollingPlace.objects.select_related("county__jurisdiction").only(*STATION_FIELDS).filter(pk=pk).first()


def _worker_elections(scope: Scope, place: PollingPlace) -> set[int]:
    return {election for (p, election) in scope.places if p == place.pk}


def visible_place(scope: Scope, pk: int, *, station: bool = False) -> PollingPlace:
    """A polling place the caller works at or administers; any other does not exist for them. ``station``: read
    only what recording there needs (``STATION_FIELDS``)."""
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

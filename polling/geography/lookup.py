"""The public answer to "where do I vote?": the precinct holding a point, the election asked about (or the upcoming
one of the precinct's state, by the county's calendar) and the polling place serving the precinct in it."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Prefetch
from django.utils import timezone

from common.errors import DomainError
from polling.geography.selectors import local_zone, upcoming_election_of_state
from polling.geography.spatial import GeographyIndex, PrecinctEntry
from polling.models import County, Election, Entrance, PollingPlace, PrecinctAssignment


@dataclass(frozen=True)
class Lookup:
    precinct: PrecinctEntry
    #: None when the state has no upcoming election.
    election: Election | None
    #: With its entrances (by name) prefetched; None when the precinct has no polling place in the election.
    polling_place: PollingPlace | None


def lookup_at(*, lon: float, lat: float, election_id: int | None, index: GeographyIndex) -> Lookup:
    """Refuses with ``no_precinct`` outside every precinct and ``election_not_found`` for an election id that is
    not one of the precinct's state."""
    hit = index.precinct_at(lon, lat)
    if hit is None:
        raise DomainError("No precinct contains this point.", "no_precinct")
    county = (
        County.objects.select_related("jurisdiction")
        .only("fips", "name", "jurisdiction__timezone", "timezone")
        .get(pk=hit.county_id)
    )
    election: Election | None
    if election_id is not None:
        election = Election.objects.filter(pk=election_id, jurisdiction_id=hit.jurisdiction_id).first()
        if election is None:
            raise DomainError("No such election for this precinct's state.", "election_not_found", field="election")
    else:
        election = upcoming_election_of_state(hit.jurisdiction_id, timezone.localdate(timezone=local_zone(county)))
    place = None
    if election is not None:
        assignment = (
            PrecinctAssignment.objects.filter(election=election, precinct_id=hit.id)
            .select_related("polling_place")
            .prefetch_related(Prefetch("polling_place__entrances", queryset=Entrance.objects.order_by("name")))
            .first()
        )
        place = assignment.polling_place if assignment is not None else None
    return Lookup(hit, election, place)

"""The one check that an election is held where a grant, a tablet or a credential is meant for."""

from __future__ import annotations

from common.errors import DomainError
from polling.models import Election, PollingPlace


def require_election_at_place(*, election: Election, polling_place: PollingPlace) -> None:
    """Refuse (``election_mismatch``, on the field ``election``) an election not held in the place's state."""
    if election.jurisdiction_id != polling_place.county.jurisdiction_id:
        raise DomainError(
            "The election is not held in this polling place's state.", "election_mismatch", field="election"
        )

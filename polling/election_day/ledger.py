"""The locks every writer of the presence log takes, in one order, and the ledger's hybrid logical clock.

Lock order (check-in, sync, ``timeline.presence_rebuild``; the PostgreSQL concurrency tests hold it):

1. the ``PresenceLedger`` row of the (polling place, election) whose events are added (``lock_ledger``): serialises
   quota counts and "already inside" there, and numbers its events;
2. the credentials whose events are added, in id order (``lock_credentials``, ``FOR NO KEY UPDATE``): serialises
   each credential's timeline across polling places;
3. the anomaly rows being re-derived (``timeline``), read ``FOR UPDATE`` so a review cannot interleave.

On SQLite a write transaction is already exclusive and these are no-ops.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from accounts.models import Credential
from polling.models import PresenceLedger


def lock_ledger(polling_place_id: int, election_id: int) -> PresenceLedger:
    """The ledger of a (polling place, election), created if need be, locked ``FOR UPDATE`` until the transaction
    ends. Call inside ``transaction.atomic``."""
    locked = PresenceLedger.objects.select_for_update()
    ledger = locked.filter(polling_place_id=polling_place_id, election_id=election_id).first()
    if ledger is not None:  # every event but a place's first
        return ledger
    PresenceLedger.objects.get_or_create(polling_place_id=polling_place_id, election_id=election_id)
    return locked.get(polling_place_id=polling_place_id, election_id=election_id)


def lock_credentials(credential_ids: Iterable[int]) -> None:
    """Serialise changes to these credentials' timelines (``FOR NO KEY UPDATE``: inserts that reference the rows
    are not blocked). No-op on SQLite, where a write transaction is already exclusive."""
    ids = sorted(set(credential_ids))
    if ids:
        list(Credential.objects.select_for_update(no_key=True).filter(pk__in=ids).order_by("pk").values_list("pk"))


def next_hlc(ledger: PresenceLedger) -> int:
    """Advance the locked ledger's hybrid logical clock (milliseconds, never repeating at one place) and return it;
    the caller saves ``last_hlc``."""
    ledger.last_hlc = max(time.time_ns() // 1_000_000, ledger.last_hlc + 1)
    return ledger.last_hlc


def ledger_version(polling_place_id: int, election_id: int) -> int:
    """The roster version of a (polling place, election): it changes with every accepted event (0 before any)."""
    return (
        PresenceLedger.objects.filter(polling_place_id=polling_place_id, election_id=election_id)
        .values_list("roster_version", flat=True)
        .first()
        or 0
    )

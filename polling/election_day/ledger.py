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
from common.statements import Param, Statement, instance
from polling.models import PresenceLedger

_field = PresenceLedger._meta.get_field
#: The lock every writer at a place takes: one statement, compiled once (``common.statements``).
_LOCK = Statement.select(
    PresenceLedger,
    lambda: (
        PresenceLedger.objects.select_for_update()
        .filter(
            polling_place_id=Param("polling_place_id", _field("polling_place")),
            election_id=Param("election_id", _field("election")),
        )
        .order_by()
        .values_list("pk", "roster_version", "last_hlc")
    ),
    write=True,
)
_SAVE = Statement.update(PresenceLedger, ["last_hlc", "roster_version"])
_LOCK_ONE_CREDENTIAL = Statement.select(
    Credential,
    lambda: (
        Credential.objects.select_for_update(no_key=True)
        .filter(pk=Param("pk", Credential._meta.pk))
        .order_by()
        .values_list("pk")
    ),
    write=True,
)


def lock_ledger(polling_place_id: int, election_id: int) -> PresenceLedger:
    """The ledger of a (polling place, election), created if need be, locked ``FOR UPDATE`` until the transaction
    ends. Call inside ``transaction.atomic``."""
    row = _LOCK.first(polling_place_id=polling_place_id, election_id=election_id)
    if row is None:  # a place's first event
        PresenceLedger.objects.get_or_create(polling_place_id=polling_place_id, election_id=election_id)
        row = _LOCK.first(polling_place_id=polling_place_id, election_id=election_id)
        assert row is not None
    pk, roster_version, last_hlc = row
    return instance(
        PresenceLedger,
        PresenceLedger.objects.db,
        ("id", "polling_place_id", "election_id", "roster_version", "last_hlc"),
        (pk, polling_place_id, election_id, roster_version, last_hlc),
    )


def save_ledger(ledger: PresenceLedger) -> None:
    """Write the locked ledger's clock and roster version (``ledger.save(update_fields=[...])``, one statement)."""
    _SAVE.run(pk=ledger.pk, last_hlc=ledger.last_hlc, roster_version=ledger.roster_version)


def lock_credentials(credential_ids: Iterable[int]) -> None:
    """Serialise changes to these credentials' timelines (``FOR NO KEY UPDATE``: inserts that reference the rows
    are not blocked). No-op on SQLite, where a write transaction is already exclusive."""
    ids = sorted(set(credential_ids))
    if len(ids) == 1:  # an online check-in or check-out
        _LOCK_ONE_CREDENTIAL.rows(pk=ids[0])
    elif ids:
        list(Credential.objects.select_for_update(no_key=True).filter(pk__in=ids).order_by("pk").values_list("pk"))


def next_hlc(ledger: PresenceLedger) -> int:
    """Advance the locked ledger's hybrid logical clock (milliseconds, never repeating at one place) and return it;
    the caller saves ``last_hlc``."""
    ledger.last_hlc = max(time.time_ns() // 1_000_000, ledger.last_hlc + 1)
    return ledger.last_hlc


_VERSION = Statement.select(
    PresenceLedger,
    lambda: (
        PresenceLedger.objects.filter(
            polling_place_id=Param("polling_place_id", _field("polling_place")),
            election_id=Param("election_id", _field("election")),
        )
        .order_by()
        .values_list("roster_version")
    ),
)


def ledger_version(polling_place_id: int, election_id: int) -> int:
    """The roster version of a (polling place, election): it changes with every accepted event (0 before any)."""
    row = _VERSION.first(polling_place_id=polling_place_id, election_id=election_id)
    return row[0] if row else 0

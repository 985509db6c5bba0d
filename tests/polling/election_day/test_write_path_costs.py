"""What a check-in, a check-out and a sync batch cost the database and the ORM, pinned so a regression shows.

Issue 13's write targets (bench/README.md, "Check-ins on election morning"): most of a check-in's CPU was the ORM
building and compiling a dozen querysets per post (~0.3 ms each), not the database. The statements an online post
runs are compiled once per process (``common.statements``); a sync batch makes the same number of statements
whatever its size. These tests count both: statements sent to the database, and querysets compiled per request.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from unittest import mock

import pytest
from django.db import connection, transaction
from django.db.models.sql.compiler import SQLCompiler
from django.db.transaction import TransactionManagementError
from django.test.utils import CaptureQueriesContext

from accounts.models import Credential
from common.statements import Param, Statement, instance
from polling.election_day import roster
from polling.geography import selectors as geography_selectors
from polling.models import Election, Presence, PresenceAnomaly, PresenceEvent, PresenceLedger
from tests.election_day_helpers import (
    day_long_tablet_client,
    event,
    local,
    post,
    token_of,
    upload,
    watcher,
)
from tests.factories import ElectionFactory
from tests.helpers import seed_reference_data


@pytest.fixture(autouse=True)
def _seeded(db, noon):
    seed_reference_data()


@pytest.fixture
def tablet(place, poll_worker, commissioner):
    return day_long_tablet_client(place, poll_worker, commissioner)


def _sql(captured: CaptureQueriesContext) -> list[str]:
    """The statements sent, without the savepoints of the test's own transaction (BEGIN/COMMIT in production)."""
    return [q["sql"] for q in captured.captured_queries if not q["sql"].startswith(("SAVEPOINT", "RELEASE"))]


@contextmanager
def compiled_querysets() -> Iterator[list[str]]:
    """The SELECT querysets the ORM compiles meanwhile (their model), each a build of SQL on this request."""
    seen: list[str] = []
    real = SQLCompiler.as_sql

    def counting(self, *args, **kwargs):
        seen.append(self.query.model.__name__ if self.query.model else "?")
        return real(self, *args, **kwargs)

    with mock.patch.object(SQLCompiler, "as_sql", counting):
        yield seen


# --- an online post --------------------------------------------------------------------------------------------------

#: A fresh live check-in of someone outside, with quotas to check: 16 statements. Before the ledger's lock: the
#: session (authentication), the worker's grants (scope), the station (place, county, state), the election it serves,
#: the replay lookup, the credential with its signing key. Under the lock: the ledger, the roster of the holder's
#: kind ("already inside" and the quota), the quota rules, the ledger's update, the event, the credential's lock, its
#: events, its anomalies, its roster row, whether the event is the last of the place's timeline. Every one of them is
#: a read or write the guarantees need (idempotency, lock order, quota, timeline); none repeats per holder inside.
#: (+1 when authentication writes the session's last use, at most once a minute.)
FRESH_CHECK_IN_STATEMENTS = 16


def test_a_fresh_check_in_makes_16_statements_however_many_are_inside(tablet, place, election, county):
    at = local(election, 12)
    # Nine holders of the same kind inside (the first post creates the place's ledger): the roster read and the quota
    # count are one statement for all of them.
    for i, name in enumerate(["A", "A", "B", "B", "C", "C", "D", "E", "F"]):
        credential = watcher(election, county, appointed_by_name=name)
        assert post(tablet, place, token_of(credential), at + dt.timedelta(minutes=i)).status_code == 201
    token = token_of(watcher(election, county, appointed_by_name="G"))
    with CaptureQueriesContext(connection) as captured:
        # The latest event of the place (the usual case): the quota verdicts before it stand, no walk.
        response = post(tablet, place, token, at + dt.timedelta(minutes=10))
    assert response.status_code == 201, response.json()
    statements = _sql(captured)
    assert len(statements) <= FRESH_CHECK_IN_STATEMENTS + 1, "\n".join(statements)
    touched = any(s.startswith('UPDATE "accounts_apisession"') for s in statements)
    assert len(statements) == FRESH_CHECK_IN_STATEMENTS + touched, "\n".join(statements)


def test_a_check_in_compiles_no_queryset_of_its_own(tablet, place, election, county):
    """The statements of the check-in and check-out path, and the caller's grants (``Scope.for_user``), are compiled
    once per process: a post compiles only what authentication asks the ORM for."""
    at = local(election, 12)
    first, second = watcher(election, county), watcher(election, county, appointed_by_name="Other")
    assert post(tablet, place, token_of(first), at).status_code == 201  # compiles the statements (if not yet)
    token = token_of(second)
    with compiled_querysets() as compiled:
        assert post(tablet, place, token, at + dt.timedelta(minutes=1)).status_code == 201
        assert post(tablet, place, token, at + dt.timedelta(minutes=2), what="check-outs").status_code == 201
    # Per post: the session, read by authentication (accounts/authentication.py, outside this path).
    assert compiled == ["ApiSession", "ApiSession"], compiled


def test_a_replay_is_answered_in_the_statements_before_the_lock(tablet, place, election, county):
    at = local(election, 12)
    token = token_of(watcher(election, county))
    event_id = uuid.uuid4()
    first = post(tablet, place, token, at, event_id=event_id)
    with CaptureQueriesContext(connection) as captured:
        again = post(tablet, place, token, at, event_id=event_id)
    assert again.headers["Idempotent-Replayed"] == "true" and again.json() == first.json()
    statements = _sql(captured)
    # The session (and its touch), the grants, the station, the election, the stored event: nothing locked or written.
    assert len(statements) <= 6, "\n".join(statements)
    assert not any(s.startswith(("INSERT", "DELETE")) or "FOR UPDATE" in s for s in statements)


# --- a sync batch ----------------------------------------------------------------------------------------------------


def _batch(election, county, n: int, hour: int) -> list[dict]:
    """``n`` events of ``n`` credentials: check-ins, and check-outs of holders never checked in (each an anomaly)."""
    events = []
    for i in range(n):
        token = token_of(watcher(election, county, appointed_by_name=f"Party {hour}-{i}"))
        events.append(event("check_in" if i % 2 else "check_out", token, local(election, hour, i)))
    return events


def _sync_statements(tablet, events: list[dict]) -> list[str]:
    with CaptureQueriesContext(connection) as captured:
        response = upload(tablet, events)
    assert response.status_code == 200, response.content
    assert response.json()["counts"]["refused"] == 0
    return _sql(captured)


#: A sync batch, whatever its size: the session, grants, station, signing keys and credentials (once for the batch),
#: the election, the untrusted-events cap... then under the ledger's lock the ledger, the credentials' lock, what is
#: already stored, one INSERT of the new events, one of their facts, the timelines (3 reads, <= 3 roster writes,
#: <= 4 anomaly writes), the quota walk (rules, events, anomalies, <= 4 writes), the ledger's update, the standing
#: anomalies; then the answer (roster, its version, revocations, keys, scope hashes).
SYNC_STATEMENTS_MAX = 40


def test_a_sync_batch_makes_as_many_statements_for_40_events_as_for_4(tablet, election, county):
    _sync_statements(tablet, _batch(election, county, 1, 7))  # creates the ledger; writes the session's last use
    small = _sync_statements(tablet, _batch(election, county, 4, 8))
    large = _sync_statements(tablet, _batch(election, county, 40, 9))
    assert len(large) == len(small), "\n".join(large)
    assert len(large) <= SYNC_STATEMENTS_MAX, "\n".join(large)
    # Repeats of every event of both batches: answered as duplicates, in no more statements.
    repeats = _sync_statements(tablet, _batch(election, county, 0, 10))
    assert len(repeats) <= len(small)


def test_clearing_and_reopening_many_anomalies_costs_no_statement_per_anomaly(tablet, place, election, county):
    """Check-outs without check-ins open an anomaly each; the check-ins uploaded later clear them all, in the same
    statements for 3 holders as for 30 (``timeline.AnomalyWrites``)."""
    _sync_statements(tablet, _batch(election, county, 1, 7))  # creates the ledger; writes the session's last use

    def round_trip(n: int, hour: int) -> tuple[int, int]:
        tokens = [token_of(watcher(election, county, appointed_by_name=f"P{hour}-{i}")) for i in range(n)]
        outs = [event("check_out", t, local(election, hour, 30)) for t in tokens]
        opened = _sync_statements(tablet, outs)
        ins = [event("check_in", t, local(election, hour, 10)) for t in tokens]
        cleared = _sync_statements(tablet, ins)
        return len(opened), len(cleared)

    few = round_trip(3, 8)
    many = round_trip(30, 9)
    assert many == few
    anomalies = PresenceAnomaly.objects.filter(code=PresenceAnomaly.Code.CHECK_OUT_WITHOUT_CHECK_IN)
    assert anomalies.count() == 34 and anomalies.filter(cleared_at__isnull=True).count() == 1
    assert anomalies.exclude(status=PresenceAnomaly.Status.CLEARED).count() == 1  # the warm-up's: no check-in
    assert Presence.objects.filter(polling_place=place, election=election).count() == 0  # checked in, then out


# --- the statements themselves -----------------------------------------------------------------------------------


def test_the_cached_upcoming_election_is_the_selectors_own(place, mississippi, election):
    later = ElectionFactory(jurisdiction=mississippi, name="Runoff", date=election.date + dt.timedelta(days=21))
    tie = ElectionFactory(jurisdiction=mississippi, name="Special", date=later.date)
    for days in (-1, 0, 1, 20, 21, 22):
        at = local(election, 23, 30) + dt.timedelta(days=days)  # late evening: the UTC date is already the next
        ours = roster.upcoming_election(place, at)
        theirs = geography_selectors.upcoming_election(place, at)
        assert ours == theirs, days
        if ours is not None:
            assert (ours.name, ours.date, ours.jurisdiction_id) == (theirs.name, theirs.date, theirs.jurisdiction_id)
    assert roster.upcoming_election(place, local(election, 12) + dt.timedelta(days=5)) == later != tie


EVENTS = Statement.select(
    PresenceEvent,
    lambda: (
        PresenceEvent.objects.filter(
            event_id=Param("event_id", PresenceEvent._meta.get_field("event_id")),
            effective_at__gte=Param("after", PresenceEvent._meta.get_field("effective_at")),
        )
        .order_by()
        .values_list("pk", "event_id", "effective_at", "response")
    ),
)


def test_a_statement_gives_the_orm_s_rows_and_conversions(tablet, place, election, county):
    at = local(election, 12)
    event_id = uuid.uuid4()
    assert post(tablet, place, token_of(watcher(election, county)), at, event_id=event_id).status_code == 201
    stored = PresenceEvent.objects.get(event_id=event_id)
    expected = [(stored.pk, event_id, stored.effective_at, stored.response)]
    assert EVENTS.rows(event_id=event_id, after=at - dt.timedelta(hours=1)) == expected
    assert EVENTS.rows(event_id=event_id, after=at + dt.timedelta(hours=1)) == []
    assert EVENTS.rows(event_id=uuid.uuid4(), after=at - dt.timedelta(hours=1)) == []
    assert (
        list(PresenceEvent.objects.filter(event_id=event_id).values_list("pk", "event_id", "effective_at", "response"))
        == expected
    )


def test_a_compared_value_of_none_is_refused_not_matched_as_nothing():
    """``= NULL`` matches no row where the ORM would write ``IS NULL``: a select refuses None rather than answer
    "nothing found"."""
    with pytest.raises(ValueError, match="'event_id' is None"):
        EVENTS.rows(event_id=None, after=dt.datetime(2026, 1, 1, tzinfo=dt.UTC))


def test_a_locking_statement_refuses_to_run_outside_a_transaction(place, election):
    """As the ORM refuses ``select_for_update`` in autocommit where the database takes locks (PostgreSQL). (The test
    runs inside a transaction: autocommit is what the connection is made to report.)"""
    from polling.election_day import ledger

    PresenceLedger.objects.create(polling_place=place, election=election)
    with mock.patch.object(connection, "get_autocommit", return_value=True):
        if connection.features.has_select_for_update:
            with pytest.raises(TransactionManagementError):
                ledger._LOCK.rows(polling_place_id=place.pk, election_id=election.pk)
            with pytest.raises(TransactionManagementError):
                PresenceLedger.objects.select_for_update().filter(pk=0).first()  # the ORM's own rule, the same
        else:
            assert ledger._LOCK.rows(polling_place_id=place.pk, election_id=election.pk)
    with transaction.atomic():
        locked = ledger.lock_ledger(place.pk, election.pk)
        locked.roster_version, locked.last_hlc = 7, 12345
        ledger.save_ledger(locked)
    assert PresenceLedger.objects.filter(pk=locked.pk).values_list("roster_version", "last_hlc").get() == (7, 12345)


def test_insert_update_and_delete_statements_write_one_row(place, election, county):
    credential = watcher(election, county)
    ledger_row = PresenceLedger.objects.create(polling_place=place, election=election)
    insert = Statement.insert(PresenceLedger, ["polling_place", "election", "roster_version", "last_hlc"])
    delete = Statement.delete(PresenceLedger)
    update = Statement.update(PresenceLedger, ["roster_version"])
    other = ElectionFactory(jurisdiction=election.jurisdiction, name="Other", date=election.date)
    pk = insert.run(polling_place_id=place.pk, election_id=other.pk, roster_version=3, last_hlc=9)
    assert PresenceLedger.objects.filter(pk=pk).values_list("election_id", "roster_version", "last_hlc").get() == (
        other.pk,
        3,
        9,
    )
    assert update.run(pk=pk, roster_version=4) == 1
    assert PresenceLedger.objects.get(pk=pk).roster_version == 4
    assert delete.run(pk=pk) == 1 and not PresenceLedger.objects.filter(pk=pk).exists()
    assert PresenceLedger.objects.filter(pk=ledger_row.pk).exists()  # only that row
    loaded = instance(
        Credential, "default", ("id", "serial", "kind"), (credential.pk, credential.serial, "poll_watcher")
    )
    assert loaded.holder_name == credential.holder_name  # a field not read is loaded when asked, as with only()


def test_a_param_must_name_a_model_field():
    with pytest.raises(TypeError):
        Param("x", Election._meta.get_field("jurisdiction").remote_field)

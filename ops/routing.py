"""The mirrored site: public reads from a streaming standby, everything else from the primary.

An election night is read-heavy and public (the map, lookups, compliance answers) while staff writes are few and
must never be lost. ``DATABASE_REPLICA_URL`` names one or more PostgreSQL standbys (aliases ``replica1``, …,
listed in ``settings.DATABASE_REPLICAS``); :class:`ReplicaRouter` sends a read to one only when the request was
marked as a public read by ``ops.middleware.ReplicaReadsMiddleware``. Every write, every staff read, every read in
a transaction on the primary, and every read after this request wrote goes to ``default``.

A standby is used only while it is reachable, still a standby (a promoted one is a second primary: reading from
it would show a diverging history), receiving from the primary and no more than ``REPLICA_MAX_LAG_S`` behind.
That verdict is cached per process for ``REPLICA_CHECK_INTERVAL_S`` so the check costs one tiny query every few
seconds rather than one per request; :func:`replica_status` reports it for ``/readyz`` and the daily report.
With no replica configured the router has no opinion and nothing changes.
"""

from __future__ import annotations

import contextlib
import threading
import time
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import DatabaseError, connections

from ops.health import NOT_CONFIGURED, Check

PRIMARY = "default"

#: One query for the whole verdict. The lag is zero while everything received has been replayed (an idle primary
#: sends nothing, so "time since the last replayed commit" alone would call an idle standby late); otherwise it is
#: the age of the last replayed commit, which overstates a short delay after a quiet spell and so errs towards the
#: primary. ``pg_stat_wal_receiver`` has a row (visible to any role) only while the standby streams from a primary.
_PROBE_SQL = """
SELECT pg_is_in_recovery(),
       EXISTS (SELECT 1 FROM pg_stat_wal_receiver WHERE pid IS NOT NULL),
       CASE WHEN NOT pg_is_in_recovery() THEN NULL
            WHEN pg_last_wal_receive_lsn() IS NOT DISTINCT FROM pg_last_wal_replay_lsn() THEN 0.0
            ELSE EXTRACT(EPOCH FROM (clock_timestamp() - pg_last_xact_replay_timestamp()))::float8
       END
"""


@dataclass(frozen=True)
class ReplicaStatus:
    """What the service knows of one standby: ``in_use`` is whether public reads go there now; ``problem`` says
    why not (None when in use)."""

    name: str
    reachable: bool
    lag_s: float | None
    in_use: bool
    problem: str | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "reachable": self.reachable,
            "lag_s": None if self.lag_s is None else round(self.lag_s, 3),
            "in_use": self.in_use,
            "problem": self.problem,
        }


@dataclass
class RequestState:
    """Per request (``ops.middleware``): may reads go to a standby, has this request written, which standby it
    reads from (one per request, so that its reads see one history)."""

    replica_ok: bool = False
    wrote: bool = False
    alias: str | None = None


_state: ContextVar[RequestState | None] = ContextVar("pollguard_replica_state", default=None)

#: alias → (time.monotonic() of the probe, its verdict)
_verdicts: dict[str, tuple[float, ReplicaStatus]] = {}
_probe_lock = threading.Lock()


def replica_aliases() -> list[str]:
    """The configured standby aliases, in order of preference (empty: no mirrored site)."""
    return list(getattr(settings, "DATABASE_REPLICAS", []) or [])


def current_state() -> RequestState | None:
    return _state.get()


def begin_request(state: RequestState) -> Any:
    """Install ``state`` for the running request; returns the token for :func:`end_request`."""
    return _state.set(state)


def end_request(token: Any) -> None:
    _state.reset(token)


def verdict(
    *,
    name: str,
    reachable: bool,
    in_recovery: bool,
    streaming: bool,
    lag_s: float | None,
    max_lag_s: float,
    error: str | None = None,
) -> ReplicaStatus:
    """The decision alone, from what a probe saw: why a standby may or may not serve reads."""
    problem: str | None = None
    if not reachable:
        problem = f"unreachable: {error or 'no connection'}"
    elif not in_recovery:
        problem = "not a standby (promoted, or pointed at a primary): reads from it could diverge"
    elif not streaming:
        problem = "not receiving from the primary (WAL receiver not running)"
    elif lag_s is None:
        problem = "replication lag unknown"
    elif lag_s > max_lag_s:
        problem = f"lagging: {lag_s:.1f} s behind the primary (limit {max_lag_s:g} s)"
    return ReplicaStatus(
        name=name,
        reachable=reachable,
        lag_s=lag_s,
        in_use=problem is None,
        problem=problem,
    )


def probe(alias: str) -> ReplicaStatus:
    """Ask the standby itself (one query). A failed probe closes its connection so the next one reconnects."""
    max_lag = float(getattr(settings, "REPLICA_MAX_LAG_S", 5))
    conn = connections[alias]
    try:
        with conn.cursor() as cursor:
            if conn.vendor == "postgresql":
                cursor.execute(_PROBE_SQL)
                in_recovery, streaming, lag = cursor.fetchone()
            else:  # a test mirror on another engine: reachable is all there is to know
                cursor.execute("SELECT 1")
                in_recovery, streaming, lag = True, True, 0.0
    except DatabaseError as exc:
        with contextlib.suppress(DatabaseError):
            conn.close()
        first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        return verdict(
            name=alias,
            reachable=False,
            in_recovery=False,
            streaming=False,
            lag_s=None,
            max_lag_s=max_lag,
            error=first_line[:200],
        )
    return verdict(
        name=alias,
        reachable=True,
        in_recovery=bool(in_recovery),
        streaming=bool(streaming),
        lag_s=None if lag is None else max(0.0, float(lag)),
        max_lag_s=max_lag,
    )


def _cached(alias: str, *, fresh: bool = False) -> ReplicaStatus | None:
    """The per-process verdict, probed again when older than ``REPLICA_CHECK_INTERVAL_S``. One thread probes at a
    time; the others go on with the previous verdict (or, before the first, the primary) rather than queue."""
    interval = float(getattr(settings, "REPLICA_CHECK_INTERVAL_S", 5))
    checked_at, known = _verdicts.get(alias, (0.0, None))
    if not fresh and known is not None and time.monotonic() - checked_at < interval:
        return known
    if not _probe_lock.acquire(blocking=fresh):
        return known
    try:
        status = probe(alias)
        _verdicts[alias] = (time.monotonic(), status)
        return status
    finally:
        _probe_lock.release()


def record_verdict(status: ReplicaStatus) -> None:
    """Keep ``status`` as the process's verdict on its standby until the next check is due."""
    _verdicts[status.name] = (time.monotonic(), status)


def mark_failed(alias: str, error: str) -> None:
    """A query on ``alias`` failed mid-request: stop using it until the next probe says otherwise."""
    max_lag = float(getattr(settings, "REPLICA_MAX_LAG_S", 5))
    record_verdict(
        verdict(
            name=alias,
            reachable=False,
            in_recovery=False,
            streaming=False,
            lag_s=None,
            max_lag_s=max_lag,
            error=error,
        )
    )


def forget_verdicts() -> None:
    """Drop the cached verdicts (tests; a configuration change)."""
    _verdicts.clear()


def healthy_replica() -> str | None:
    """The first standby fit to serve reads now, or None (read from the primary)."""
    for alias in replica_aliases():
        status = _cached(alias)
        if status is not None and status.in_use:
            return alias
    return None


def replica_status(*, fresh: bool = False) -> list[ReplicaStatus]:
    """Every configured standby with its verdict, for ``/readyz`` and the daily report. A down or lagging standby
    does not make the service unready (reads fall back to the primary), but it must be visible."""
    statuses: list[ReplicaStatus] = []
    for alias in replica_aliases():
        status = _cached(alias, fresh=fresh) or probe(alias)
        statuses.append(status)
    return statuses


class ReplicaRouter:
    """Django database router (``DATABASE_ROUTERS``). Returns None (no opinion) when no standby is configured."""

    def db_for_read(self, model: Any, **hints: Any) -> str | None:
        aliases = replica_aliases()
        if not aliases:
            return None
        state = _state.get()
        if state is None or not state.replica_ok or state.wrote:
            return PRIMARY
        if connections[PRIMARY].in_atomic_block:
            return PRIMARY  # a transaction on the primary reads its own snapshot, never a standby's
        if state.alias is None:
            state.alias = healthy_replica()
            if state.alias is None:
                state.replica_ok = False  # no standby fit: this request reads from the primary throughout
                return PRIMARY
        return state.alias

    def db_for_write(self, model: Any, **hints: Any) -> str | None:
        if not replica_aliases():
            return None
        state = _state.get()
        if state is not None:
            state.wrote = True  # read-your-writes: the rest of this request reads from the primary
        return PRIMARY  # also for an instance that was read from a standby

    def allow_relation(self, obj1: Any, obj2: Any, **hints: Any) -> bool | None:
        aliases = replica_aliases()
        if not aliases:
            return None
        ours = {PRIMARY, *aliases}
        if obj1._state.db in ours and obj2._state.db in ours:
            return True  # one database, seen from several places
        return None

    def allow_migrate(self, db: str, app_label: str, model_name: str | None = None, **hints: Any) -> bool | None:
        if db in replica_aliases():
            return False  # a standby is read-only: it gets the schema by replication
        return None


#: The readiness word for each problem, worst first (``/readyz`` shows a fixed word, never a host or an error).
_STATE_WORDS = (
    ("not a standby", "not_standby"),
    ("unreachable", "unreachable"),
    ("not receiving", "not_streaming"),
    ("replication lag unknown", "lag_unknown"),
    ("lagging", "lagging"),
)


def readiness_check() -> Check:
    """``/readyz``'s ``replica`` check: ``ok`` while every standby serves reads, else the worst problem's word.
    Always passing: with a standby down or late the public reads fall back to the primary, and taking every app
    server out of the load balancer for it would turn a standby's trouble into an outage. The word (and the daily
    report, and ``manage.py replica_status``) is how operators learn of it."""
    statuses = replica_status()
    if not statuses:
        return NOT_CONFIGURED
    problems = [s.problem for s in statuses if s.problem]
    for prefix, word in _STATE_WORDS:
        if any(p.startswith(prefix) for p in problems):
            return Check(True, word)
    return Check(True, "ok")

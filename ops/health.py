"""Liveness and readiness: what ``GET /healthz`` and ``GET /readyz`` answer.

Liveness says only that the process answers (no database, nothing that can hang): a supervisor restarts a process
that stops answering it. Readiness says that this process can serve the public lookups right now: the database
answers and is fully migrated, the spatial index is built for the current geography version, the cache answers
when one is configured, and the IP-country database is fresh where a measure requires it. A load balancer or
monitor stops sending traffic (or pages someone) while it fails.

The checks are a list (``READINESS_CHECKS``) so that another part of the service adds its own with
``register_check`` (the database replica status, for one) without touching the view. Each check answers a
``Check`` with a short fixed state word; what went wrong in detail goes to the log, never into the answer, which an
outsider can read.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

logger = logging.getLogger(__name__)

#: How long a positive "fully migrated" answer is trusted by this process (seconds): building the migration plan
#: reads every migration module's graph, too much work for a probe every few seconds. A negative answer is never
#: kept, so a process that starts before ``migrate`` finishes becomes ready as soon as it does.
MIGRATED_TRUST_S = 60.0


@dataclass(frozen=True, slots=True)
class Check:
    """One check's answer: ``ok`` and a fixed word an operator can act on (``ok``, ``unreachable``, ``pending``,
    ``stale``, ``not_configured``, …). Never an exception text, a host name or a version."""

    ok: bool
    state: str


OK = Check(True, "ok")
NOT_CONFIGURED = Check(True, "not_configured")


@dataclass(frozen=True, slots=True)
class Readiness:
    ready: bool
    checks: dict[str, str]


CheckFunction = Callable[[], Check]

_migrated_until = 0.0
_migrated_lock = threading.Lock()


def check_database() -> Check:
    """The default database answers a trivial query."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception:
        logger.warning("readiness: the database does not answer", exc_info=True)
        return Check(False, "unreachable")
    return OK


def check_migrations() -> Check:
    """No migration is left to apply (``migrate`` has run for the code this process runs)."""
    global _migrated_until
    if time.monotonic() < _migrated_until:
        return OK
    try:
        executor = MigrationExecutor(connection)
        plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    except Exception:
        logger.warning("readiness: the migration state cannot be read", exc_info=True)
        return Check(False, "unreachable")
    if plan:
        logger.warning("readiness: %d migration(s) not applied", len(plan))
        return Check(False, "pending")
    with _migrated_lock:
        _migrated_until = time.monotonic() + MIGRATED_TRUST_S
    return OK


def forget_migrated() -> None:
    """Drop the cached positive migration answer (tests, and after a ``migrate`` in the same process)."""
    global _migrated_until
    with _migrated_lock:
        _migrated_until = 0.0


def check_spatial_index() -> Check:
    """This process holds the spatial index of the current geography version.

    When the geography changed since the index was built, the index is rebuilt here, exactly as the next public
    lookup would rebuild it: readiness then means "lookups answer from the current geography", not "a rebuild is
    due". A build happens once per geography change per process, so probing often costs one single-row read.
    """
    from polling.geography import spatial

    try:
        index = spatial.current_index()
    except Exception:
        logger.exception("readiness: the spatial index cannot be built")
        return Check(False, "unavailable")
    return OK if index is not None else Check(False, "unavailable")


def check_cache() -> Check:
    """The shared cache (Redis: throttling counters) answers a write and a read, when one is configured; a
    per-process memory cache needs no check."""
    backend = settings.CACHES["default"]["BACKEND"]
    if backend.endswith(("LocMemCache", "DummyCache")):
        return NOT_CONFIGURED
    key = "ops:readyz"
    token = f"{time.time_ns()}"
    try:
        cache.set(key, token, timeout=30)
        ok = cache.get(key) == token
    except Exception:
        logger.warning("readiness: the cache does not answer", exc_info=True)
        return Check(False, "unreachable")
    return OK if ok else Check(False, "unreachable")


def check_ip_country() -> Check:
    """The IP-country database is present and fresh where a measure requires it (``guard.geo.database_status``:
    ``required`` when a problem would close the staff endpoints; ``problem`` None when the database is usable)."""
    try:
        from guard import geo
    except ImportError:
        return NOT_CONFIGURED
    status_of = getattr(geo, "database_status", None)
    if status_of is None:
        return NOT_CONFIGURED
    try:
        status = status_of()
    except Exception:
        logger.exception("readiness: the IP-country database status cannot be read")
        return Check(False, "unavailable")
    if not getattr(status, "required", False):
        return Check(True, "not_required")
    if getattr(status, "stale", False):
        logger.warning("readiness: the IP-country database is stale: %s", status)
        return Check(False, "stale")
    if getattr(status, "problem", None) or not getattr(status, "present", False):
        logger.warning("readiness: the IP-country database is missing or unreadable: %s", status)
        return Check(False, "missing")
    return OK


#: The readiness checks, in the order they run (a failed database skips the checks that need it). Add one with
#: ``register_check``; its name appears in the answer's ``checks``.
READINESS_CHECKS: list[tuple[str, CheckFunction]] = [
    ("database", check_database),
    ("migrations", check_migrations),
    ("spatial_index", check_spatial_index),
    ("cache", check_cache),
    ("ip_country", check_ip_country),
]
#: Checks that need the database: skipped (reported ``skipped``, not ready) when the database does not answer.
NEEDS_DATABASE = {"migrations", "spatial_index", "ip_country"}


def register_check(name: str, check: CheckFunction, *, needs_database: bool = True) -> None:
    """Add a readiness check (or replace the one of that name): e.g. ``ops.routing`` for the replica."""
    for i, (existing, _) in enumerate(READINESS_CHECKS):
        if existing == name:
            READINESS_CHECKS[i] = (name, check)
            break
    else:
        READINESS_CHECKS.append((name, check))
    if needs_database:
        NEEDS_DATABASE.add(name)
    else:
        NEEDS_DATABASE.discard(name)


def readiness() -> Readiness:
    """Run every check; ready only when all pass. A check that raises counts as failed (and is logged)."""
    states: dict[str, str] = {}
    ready = True
    database_ok = True
    for name, check in list(READINESS_CHECKS):
        if not database_ok and name in NEEDS_DATABASE:
            states[name] = "skipped"
            ready = False
            continue
        try:
            result = check()
        except Exception:
            logger.exception("readiness: check %s failed", name)
            result = Check(False, "error")
        states[name] = result.state
        if not result.ok:
            ready = False
            if name == "database":
                database_ok = False
    return Readiness(ready=ready, checks=states)

"""Helpers shared by test modules."""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable
from typing import Any

from django.apps import apps
from django.db import connections


def seed_reference_data() -> None:
    """Put back the rows migrations seed (jurisdictions, buffer rules, presence rules): the flush after every
    transactional test removes them."""
    from polling.models import Jurisdiction, PresenceRule

    if not Jurisdiction.objects.filter(code="MS").exists():
        importlib.import_module("polling.migrations.0002_seed_jurisdictions_and_buffer_rules").seed(apps, None)
        importlib.import_module("polling.migrations.0013_buffer_rules_for_drop_boxes").seed(apps, None)
        importlib.import_module("polling.migrations.0015_california_rules_as_the_code_reads_now").correct(apps, None)
    if not PresenceRule.objects.exists():
        importlib.import_module("polling.migrations.0006_presence").seed_mississippi(apps, None)


def audit_actions(since: int = 0) -> list[str]:
    """The actions of the audit rows written after row ``since`` (all of them by default), oldest first."""
    from accounts.models import AuditEvent

    return list(AuditEvent.objects.filter(pk__gt=since).order_by("pk").values_list("action", flat=True))


def last_audit_pk() -> int:
    from accounts.models import AuditEvent

    return AuditEvent.objects.order_by("-pk").values_list("pk", flat=True).first() or 0


def live_sessions(user: Any) -> int:
    from accounts.models import ApiSession

    return ApiSession.objects.filter(user=user, ended_at__isnull=True).count()


def in_parallel(n: int, call: Callable[[int], Any]) -> list[Any]:
    """Run ``call(0..n-1)`` in n threads released together, each on its own database connection."""
    barrier = threading.Barrier(n)
    results: list[Any] = [None] * n

    def run(i: int) -> None:
        try:
            barrier.wait()
            results[i] = call(i)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return results


def fresh_pg_database(database: str) -> str | None:
    """A new, empty database ``database`` on the local PostgreSQL (the server of the tests' DATABASE_URL when that is
    PostgreSQL), dropped first if it exists; its URL, or None when no PostgreSQL answers."""
    import os

    import psycopg

    base = os.environ.get("DATABASE_URL", "")
    server = base.rsplit("/", 1)[0] if base.startswith("postgres") else "postgres://postgres@127.0.0.1:5432"
    try:
        with psycopg.connect(f"{server}/postgres", connect_timeout=3, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{database}"')
    except psycopg.Error:
        return None
    return f"{server}/{database}"

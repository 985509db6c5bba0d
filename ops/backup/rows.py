"""The engine-neutral form of the database: every table's rows as JSON lists, the same from SQLite and PostgreSQL.

Every concrete model of every installed app (many-to-many tables included) is a table, listed parents before
children (foreign keys decide; both engines' foreign keys are deferred to commit, so the order is a courtesy, not a
requirement). A row is the list of the model's column values in field order, each in one portable form decided by
the field's type — dates ISO 8601 in UTC, decimals as strings, UUIDs hyphenated, bytes (WKB geometries included)
base64 — so a row read from SQLite and the same row read from PostgreSQL encode to the same bytes.

A table's content hash is SHA-256 over its column names and the sorted SHA-256 digests of its canonical rows: the
same rows give the same hash whatever order an engine returns them in (text primary keys collate differently on
SQLite and PostgreSQL), with memory of 32 bytes a row.
"""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import hashlib
import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.apps import apps
from django.db import connections, models, transaction

from ops.backup.errors import BackupError

#: Rows fetched per database round trip while dumping.
FETCH = 2000


def table_models() -> list[type[models.Model]]:
    """Every table the service owns, parents before children."""
    found = [
        m
        for m in apps.get_models(include_auto_created=True)
        if m._meta.managed and not m._meta.proxy and not m._meta.swapped
    ]
    by_label = {m._meta.label_lower: m for m in found}
    deps = {label: sorted(_parents(model) - {label}) for label, model in by_label.items()}
    ordered: list[str] = []
    state: dict[str, int] = {}

    def visit(label: str) -> None:
        if state.get(label) == 2 or label not in by_label:
            return
        if state.get(label) == 1:  # a cycle: deferred foreign keys make any order loadable
            return
        state[label] = 1
        for dep in deps[label]:
            visit(dep)
        state[label] = 2
        ordered.append(label)

    for label in sorted(by_label):
        visit(label)
    return [by_label[label] for label in ordered]


def _parents(model: type[models.Model]) -> set[str]:
    found = set()
    for f in model._meta.concrete_fields:
        related = f.related_model if f.remote_field is not None else None
        if related is not None and not isinstance(related, str):
            found.add(related._meta.concrete_model._meta.label_lower)  # type: ignore[union-attr]
    return found


def columns(model: type[models.Model]) -> list[models.Field[Any, Any]]:
    return list(model._meta.concrete_fields)


def encode(field: models.Field[Any, Any], value: Any) -> Any:
    """A column value in its portable JSON form (see the module's docstring)."""
    if value is None:
        return None
    kind = field.get_internal_type()
    if kind == "JSONField":
        return value
    if isinstance(field, models.BinaryField):
        raw = value if isinstance(value, bytes | bytearray | memoryview) else field.get_prep_value(value)
        return base64.b64encode(bytes(raw)).decode("ascii")
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.UTC)
        return value.isoformat()
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, dt.timedelta):
        return (value.days * 86400 + value.seconds) * 1_000_000 + value.microseconds
    if isinstance(value, bool | int | float | str):
        return value
    raise BackupError("corrupt", f"{field.model._meta.label}.{field.name}: cannot encode a {type(value).__name__}.")


def decode(field: models.Field[Any, Any], value: Any) -> Any:
    """The Python value to insert for a portable column value."""
    if value is None:
        return None
    kind = field.get_internal_type()
    if kind == "JSONField":
        return value
    if isinstance(field, models.BinaryField):
        return base64.b64decode(value)
    if kind == "DateTimeField":
        return dt.datetime.fromisoformat(value)
    if kind == "DateField":
        return dt.date.fromisoformat(value)
    if kind == "TimeField":
        return dt.time.fromisoformat(value)
    if kind == "DecimalField":
        return decimal.Decimal(value)
    if kind == "UUIDField":
        return uuid.UUID(value)
    if kind == "DurationField":
        return dt.timedelta(microseconds=value)
    return value


def canonical(row: list[Any]) -> bytes:
    return json.dumps(row, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


class TableHash:
    """Row count and order-independent content hash of one table (see the module's docstring)."""

    def __init__(self, names: list[str]) -> None:
        self.names = names
        self.rows = 0
        self._digests: list[bytes] = []

    def add(self, line: bytes) -> None:
        self.rows += 1
        self._digests.append(hashlib.sha256(line).digest())

    def hexdigest(self) -> str:
        total = hashlib.sha256(json.dumps(self.names).encode() + b"\n")
        for digest in sorted(self._digests):
            total.update(digest)
        return total.hexdigest()


def table_rows(model: type[models.Model], using: str) -> Iterator[bytes]:
    """The canonical rows of a table, one JSON line (without newline) each, by primary key."""
    fields = columns(model)
    query = model._base_manager.using(using).order_by("pk").values_list(*[f.attname for f in fields])
    for values in query.iterator(chunk_size=FETCH):
        yield canonical([encode(f, v) for f, v in zip(fields, values, strict=True)])


def table_hashes(using: str) -> dict[str, tuple[int, str]]:
    """Every table's (rows, content hash) as the database holds it now: what a restore is checked against."""
    out: dict[str, tuple[int, str]] = {}
    for model in table_models():
        digest = TableHash([f.attname for f in columns(model)])
        for line in table_rows(model, using):
            digest.add(line)
        out[model._meta.label_lower] = (digest.rows, digest.hexdigest())
    return out


@contextmanager
def snapshot(using: str) -> Iterator[str]:
    """Read the whole database as of one moment, without holding up writers. Yields how.

    PostgreSQL: one ``REPEATABLE READ, READ ONLY`` transaction — every statement sees the snapshot taken at its
    first query; MVCC means check-ins and syncs commit meanwhile, unblocked and unseen. SQLite: a deferred read
    transaction (``BEGIN``, not the service's ``BEGIN IMMEDIATE``): under WAL it reads one snapshot of the file
    while writers go on appending to the log. Called inside a transaction of the caller's (tests), that
    transaction is the snapshot.
    """
    connection = connections[using]
    if connection.in_atomic_block:
        yield "the caller's transaction"
        return
    if connection.vendor == "postgresql":
        with transaction.atomic(using=using):
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            yield "PostgreSQL REPEATABLE READ, READ ONLY transaction"
        return
    if connection.vendor == "sqlite":
        connection.ensure_connection()
        with connection.cursor() as cursor:
            cursor.execute("BEGIN DEFERRED")
        try:
            with connection.cursor() as cursor:
                cursor.execute("PRAGMA journal_mode")
                mode = cursor.fetchone()[0]
            yield f"SQLite deferred read transaction (journal_mode={mode})"
        finally:
            with connection.cursor() as cursor:
                cursor.execute("ROLLBACK")
        return
    with transaction.atomic(using=using):
        yield f"{connection.vendor} transaction"


def applied_migrations(using: str) -> dict[str, list[str]]:
    """The schema version: every applied migration, by app."""
    from django.db.migrations.recorder import MigrationRecorder

    out: dict[str, list[str]] = {}
    for app, name in MigrationRecorder(connections[using]).applied_migrations():
        out.setdefault(app, []).append(name)
    return {app: sorted(names) for app, names in sorted(out.items())}


def unapplied_migrations(using: str) -> list[str]:
    """Migrations the code has and the database has not: its tables would not match the models."""
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connections[using])
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    return [f"{m.app_label}.{m.name}" for m, backwards in plan if not backwards]


def schema_version(schema: dict[str, list[str]]) -> str:
    return hashlib.sha256(json.dumps(schema, sort_keys=True).encode()).hexdigest()[:16]

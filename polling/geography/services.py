"""State changes of the geography that other code must hear about."""

from __future__ import annotations

from typing import Any

from django.db import connections, models, router, transaction
from django.db.models import F
from django.db.models.signals import post_delete, post_save

from polling.geography import version_feed
from polling.models import (
    BufferRule,
    County,
    Election,
    Entrance,
    GeographyVersion,
    Jurisdiction,
    LocationHours,
    PollingPlace,
    Precinct,
    PrecinctAssignment,
    VoteCenter,
)

#: What the spatial index and the public answers kept with it (``GeographyIndex.memo``) are derived from. A save or
#: a delete of any of them through the ORM raises the version (``connect_signals``); bulk writes (``bulk_create``,
#: ``update``), which send no signals, call ``geography_version_bump`` themselves, as the importer and the admin do.
VERSIONED_MODELS: tuple[type[models.Model], ...] = (
    Jurisdiction,
    BufferRule,
    County,
    Precinct,
    PollingPlace,
    Entrance,
    Election,
    PrecinctAssignment,
    LocationHours,
    VoteCenter,
)


_TABLE = GeographyVersion._meta.db_table
_BUMP_AND_NOTIFY_SQL = (
    f"WITH bumped AS (UPDATE {_TABLE} SET value = value + 1 WHERE id = 1 RETURNING value) "  # noqa: S608  # nosec B608
    "SELECT value, pg_notify(%s, value::text) FROM bumped"
)


def geography_version_bump() -> None:
    """Mark the geography as changed, inside the caller's transaction (so the bump commits or rolls back with it)."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("geography_version_bump() must run inside the transaction that changes the geography")
    if version_feed.enabled():
        # PostgreSQL: the bump and its notice in one statement. The notice is delivered to every listening process
        # when this transaction commits, and never if it rolls back.
        with transaction.get_connection().cursor() as cursor:
            cursor.execute(_BUMP_AND_NOTIFY_SQL, [version_feed.CHANNEL])
            row = cursor.fetchone()
        if row is None:
            GeographyVersion.objects.get_or_create(pk=1, defaults={"value": 1})
            geography_version_bump()  # the row exists now: bump it again, notifying
            return
        value = int(row[0])
        transaction.on_commit(lambda: version_feed.feed.saw(value))
        return
    updated = GeographyVersion.objects.filter(pk=1).update(value=F("value") + 1)
    if not updated:
        GeographyVersion.objects.get_or_create(pk=1, defaults={"value": 1})


def geography_version() -> int:
    """The current version: as PostgreSQL last pushed it to this process (``version_feed``), or else read from the
    database the router picks for it (a mirror for a public read), in one plain statement: the ORM would spend more
    building the query than the database spends answering it."""
    pushed = version_feed.feed.current()
    if pushed is not None:
        return pushed
    alias = router.db_for_read(GeographyVersion)
    with connections[alias].cursor() as cursor:
        cursor.execute(version_feed.VERSION_SQL)
        row = cursor.fetchone()
    return int(row[0]) if row is not None else 0


def _bumped_by_change(sender: type[models.Model], *, raw: bool = False, **kwargs: Any) -> None:
    if raw:  # loaddata writes rows as they are; whoever loads fixtures into a live service bumps after
        return
    # In the writer's transaction when it has one (both commit or neither); else right after its autocommitted
    # write, in a transaction of its own.
    with transaction.atomic():
        geography_version_bump()


def connect_signals() -> None:
    for model in VERSIONED_MODELS:
        post_save.connect(_bumped_by_change, sender=model, dispatch_uid=f"geography_version:save:{model.__name__}")
        post_delete.connect(_bumped_by_change, sender=model, dispatch_uid=f"geography_version:delete:{model.__name__}")

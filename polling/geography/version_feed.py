"""The geography version pushed to each server process by PostgreSQL, so a public answer needs no query to know it.

Every public answer must know the current geography version (``GeographyVersion``) to answer from a fresh index.
Reading it costs a database round trip per request, more than the rest of a lookup. On PostgreSQL each process
instead keeps one listening connection (``LISTEN``) in a background thread; ``geography_version_bump`` sends the new
value with ``pg_notify`` in the writer's transaction, which PostgreSQL delivers to every listener when, and only
if, that transaction commits. The process that made the change takes its own value at once (``on_commit``).

Guarantee: a change is seen by the process that made it from its next request, and by every other process as soon
as PostgreSQL delivers the notification (milliseconds after the commit). Whenever the feed cannot vouch for its
value (not PostgreSQL, not started yet in this process, its connection lost and not yet back), ``current`` says so
and callers read the version from the database as before. After a reconnection the version is read afresh, so a
notification missed while disconnected is never missed for good.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from typing import Any

from django.conf import settings
from django.db import connections

from polling.models import GeographyVersion

logger = logging.getLogger(__name__)

CHANNEL = "pollguard_geography_version"
#: How the listening connections show in pg_stat_activity.
APPLICATION_NAME = "pollguard geography version feed"
#: Seconds between reconnection attempts after the listening connection fails.
RETRY_S = 1.0


class VersionFeed:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._value: int | None = None  # None: the feed cannot vouch for any value now
        self._pid: int | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        #: Listening connections made in this process (each re-reads the version).
        self.connections = 0

    def current(self) -> int | None:
        """The version as last pushed, or None when it must be read from the database (the feed not started in
        this process, or its connection down)."""
        if self._pid != os.getpid():
            return None  # started in another process (a forked worker inherits no thread) or never
        return self._value

    def start(self) -> None:
        """Listen in this process (a server worker, after the fork: ``config/gunicorn.py``); a no-op where the feed
        is off (not PostgreSQL, replicas, ``GEOGRAPHY_VERSION_FEED=0``) or already listening here."""
        if self._pid == os.getpid() or not enabled():
            return
        self._lock = threading.Lock()  # a lock copied from the parent in a fork may be held by no thread here
        self._pid = os.getpid()
        self._value = None
        self.connections = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._listen, name="geography-version-feed", daemon=True)
        self._thread.start()

    def saw(self, version: int) -> None:
        """A version known to be committed (this process's own change): never go back."""
        with self._lock:
            if self._value is not None and version > self._value:
                self._value = version

    def stop(self) -> None:
        """Stop listening and wait (briefly) for the connection to close."""
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)

    def _listen(self) -> None:
        import psycopg

        while not self._stop.is_set():
            try:
                with psycopg.connect(
                    **_connection_params(), autocommit=True, application_name=APPLICATION_NAME
                ) as conn:
                    self.connections += 1
                    conn.execute(f"LISTEN {CHANNEL}")
                    # Read after listening: a change committed in between is either in this read or notified.
                    row = conn.execute(VERSION_SQL).fetchone()
                    with self._lock:
                        self._value = int(row[0]) if row else 0
                    while not self._stop.is_set():
                        for note in conn.notifies(timeout=1.0):
                            self._take(note.payload)
            except Exception as exc:  # connection lost, server restarting …: the database answers meanwhile
                with self._lock:
                    self._value = None
                if not self._stop.is_set():
                    logger.warning("geography version feed: %s; reading the version per request until it is back", exc)
                    time.sleep(RETRY_S)
        with self._lock:
            self._value = None

    def _take(self, payload: str) -> None:
        try:
            version = int(payload)
        except ValueError:
            return
        with self._lock:
            if self._value is not None and version > self._value:
                self._value = version


def enabled() -> bool:
    """On PostgreSQL, unless turned off, and only without read replicas: an index is built from what the router
    reads, so the version it is checked against must come from there too (a standby may trail the primary's
    notifications)."""
    return (
        bool(settings.GEOGRAPHY_VERSION_FEED)
        and connections["default"].vendor == "postgresql"
        and not getattr(settings, "DATABASE_REPLICAS", [])
    )


def _connection_params() -> dict[str, Any]:
    """The default database's connection parameters (TLS options included), for a plain psycopg connection."""
    params = dict(connections["default"].get_connection_params())
    for django_only in ("cursor_factory", "context", "prepare_threshold"):
        params.pop(django_only, None)
    return params


#: The version row, read by the feed and, when the feed cannot vouch for a value, by every request.
VERSION_SQL = f"SELECT value FROM {GeographyVersion._meta.db_table} WHERE id = 1"  # noqa: S608  # nosec B608
feed = VersionFeed()

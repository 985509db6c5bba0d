"""On PostgreSQL each process learns the geography version from a LISTEN connection: a committed change reaches
it without a query per request, a rolled-back one never does, and a lost connection falls back to reading the
version from the database until the feed is back (and re-reads it then)."""

from __future__ import annotations

import time

import pytest
from django.db import connection, transaction

from polling.geography import version_feed
from polling.geography.services import geography_version, geography_version_bump
from polling.models import GeographyVersion

pytestmark = [
    pytest.mark.django_db(transaction=True),  # notifications are delivered on commit
    pytest.mark.skipif(connection.vendor != "postgresql", reason="LISTEN/NOTIFY is PostgreSQL's"),
]


@pytest.fixture
def feed(settings):
    settings.GEOGRAPHY_VERSION_FEED = True
    fresh = version_feed.VersionFeed()
    original, version_feed.feed = version_feed.feed, fresh
    yield fresh
    fresh.stop()
    version_feed.feed = original


def wait_for(condition, seconds: float = 15.0):
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def stored() -> int:
    return GeographyVersion.objects.filter(pk=1).values_list("value", flat=True).first() or 0


def bump() -> None:
    with transaction.atomic():
        geography_version_bump()


def test_a_committed_change_is_pushed_and_no_query_is_needed_then(feed, django_assert_num_queries):
    assert feed.current() is None  # not started in this process: the database answers
    feed.start()
    wait_for(lambda: feed.current() is not None)
    assert feed.current() == stored()
    bump()
    now = stored()
    assert feed.current() == now  # this process's own change: at once, on commit
    with django_assert_num_queries(0):
        assert geography_version() == now


def test_another_connections_commit_reaches_the_feed_and_a_rollback_never_does(feed):
    import psycopg

    feed.start()
    wait_for(lambda: feed.current() is not None)
    before = feed.current()
    params = version_feed._connection_params()
    with psycopg.connect(**params) as other:  # another process's transaction, rolled back
        other.execute("UPDATE polling_geographyversion SET value = value + 1 WHERE id = 1")
        other.execute("SELECT pg_notify(%s, %s)", [version_feed.CHANNEL, str(before + 1)])
        other.rollback()
    time.sleep(0.5)
    assert feed.current() == before
    with psycopg.connect(**params) as other:  # and committed
        other.execute("UPDATE polling_geographyversion SET value = value + 1 WHERE id = 1")
        other.execute("SELECT pg_notify(%s, %s)", [version_feed.CHANNEL, str(before + 1)])
        other.commit()
    wait_for(lambda: feed.current() == before + 1)


def test_a_lost_listener_falls_back_to_queries_and_rereads_when_back(feed, monkeypatch):
    import psycopg

    monkeypatch.setattr(version_feed, "RETRY_S", 0.05)
    feed.start()
    wait_for(lambda: feed.current() is not None)
    params = version_feed._connection_params()
    # The database refuses new listeners for a while (as during a restart), and the current one is cut.
    monkeypatch.setattr(version_feed, "_connection_params", lambda: {**params, "port": 1, "connect_timeout": 1})
    with psycopg.connect(**params, autocommit=True) as admin:
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s",
            [version_feed.APPLICATION_NAME],
        )
    wait_for(lambda: feed.current() is None)
    # Changed while nobody listened: no notification reaches the feed; the database answers meanwhile.
    with psycopg.connect(**params, autocommit=True) as other:
        other.execute("UPDATE polling_geographyversion SET value = value + 5 WHERE id = 1")
    assert geography_version() == stored()
    # Back: the new listener reads the version afresh.
    monkeypatch.setattr(version_feed, "_connection_params", lambda: params)
    wait_for(lambda: feed.connections == 2 and feed.current() == stored())


def test_the_feed_is_off_with_read_replicas_and_when_turned_off(feed, settings):
    settings.DATABASE_REPLICAS = ["replica1"]
    assert not version_feed.enabled()
    feed.start()
    assert feed.current() is None and feed.connections == 0
    settings.DATABASE_REPLICAS = []
    settings.GEOGRAPHY_VERSION_FEED = False
    assert not version_feed.enabled()


def test_a_bump_notifies_every_listener_with_the_value_it_stored(feed):
    """The bump and its notice are one statement: a listener that is not this process's own feed (another
    process) learns the exact value stored, only through the notice."""
    feed.start()
    listener = version_feed.VersionFeed()
    listener.start()
    try:
        wait_for(lambda: listener.current() is not None)
        bump()
        bump()
        wait_for(lambda: listener.current() == stored())
        assert feed.current() == listener.current()
    finally:
        listener.stop()

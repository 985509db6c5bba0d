"""After a change, a small index is rebuilt before the next answer (never stale); a large one (builds slower than
``INDEX_INLINE_BUILD_S``) is rebuilt in the background while the previous version answers, and each answer's ETag
names the version it was computed from."""

from __future__ import annotations

import threading
import time

import pytest
from rest_framework.test import APIClient

from polling.geography import lookup, spatial
from tests.helpers import seed_reference_data
from tests.public_geo import make_public_geo

pytestmark = pytest.mark.django_db(transaction=True)  # the background build reads through its own connection
AT = {"lat": 32.35, "lon": -90.18}


@pytest.fixture(autouse=True)
def _seeded(transactional_db):
    seed_reference_data()  # the states and their rules, which a transactional test's flush removed


@pytest.fixture(autouse=True)
def _background_work_done(transactional_db, monkeypatch):
    """The builds a test started finish before the database is flushed after it (a thread still reading the shared
    in-memory SQLite database would lock the flush out). The lookup answers of a rebuilt index are not warmed in the
    background here: that thread is tested in tests/polling/api/test_lookup_warm.py, and here its reads would race
    the test's own writes, which the tests' in-memory shared-cache SQLite database refuses with "table is locked"
    (a served SQLite file in WAL mode, or PostgreSQL, lets a reader and a writer run together)."""
    monkeypatch.setattr(lookup, "_warm_in_background", lambda ref: None)
    yield
    for thread in threading.enumerate():
        if thread.name in ("spatial-index-build", lookup.WARM_THREAD):
            thread.join(timeout=60)


@pytest.fixture
def geo(mississippi):
    return make_public_geo()


@pytest.fixture
def api():
    return APIClient()


def place_name(api) -> tuple[str, str]:
    response = api.get("/api/v1/lookup/", AT)
    assert response.status_code == 200
    return response.json()["polling_place"]["name"], response["ETag"]


def wait_until(condition, seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_a_small_index_is_rebuilt_before_the_next_answer(api, geo, settings):
    settings.INDEX_INLINE_BUILD_S = 60.0
    assert place_name(api)[0] == "West Center"
    geo["place"].name = "Renamed"
    geo["place"].save()
    assert place_name(api)[0] == "Renamed"


def test_a_large_index_is_rebuilt_in_the_background_and_the_previous_version_answers_meanwhile(
    api, geo, settings, monkeypatch
):
    settings.INDEX_INLINE_BUILD_S = 0.0  # every index counts as large
    name, first_etag = place_name(api)  # no index yet: built before answering
    assert name == "West Center"
    old_version = spatial.current_index().version
    gate, started, builds = threading.Event(), threading.Event(), []
    real_build = spatial.build_index

    def held_build(version: int) -> spatial.GeographyIndex:
        builds.append(version)
        started.set()
        assert gate.wait(20)
        return real_build(version)

    monkeypatch.setattr(spatial, "build_index", held_build)
    geo["place"].name = "West Community Center"
    geo["place"].save()  # raises the version

    name, etag = place_name(api)
    assert name == "West Center" and etag == first_etag and f'"g{old_version}-' in etag
    assert started.wait(20)
    for _ in range(3):  # while it builds, every answer comes from the previous version, and no second build starts
        assert place_name(api) == (name, etag)
    assert len(builds) == 1
    gate.set()
    wait_until(lambda: spatial.current_index().version > old_version)
    renamed, new_etag = place_name(api)
    assert renamed == "West Community Center" and new_etag != etag


def test_a_failed_background_build_keeps_the_previous_version_answering_and_tries_again(
    api, geo, settings, monkeypatch, caplog
):
    settings.INDEX_INLINE_BUILD_S = 0.0
    assert place_name(api)[0] == "West Center"
    real_build = spatial.build_index
    failures = []

    def failing_once(version: int) -> spatial.GeographyIndex:
        if not failures:
            failures.append(version)
            raise RuntimeError("database went away")
        return real_build(version)

    monkeypatch.setattr(spatial, "build_index", failing_once)
    geo["place"].name = "Moved"
    geo["place"].save()
    assert place_name(api)[0] == "West Center"
    wait_until(lambda: failures and not spatial._building)
    assert "background build failed" in caplog.text
    # The next request starts another build, which succeeds.
    place_name(api)
    wait_until(lambda: place_name(api)[0] == "Moved")

"""Routing of the mirrored site (ops.routing, ops.middleware) through the real request path, with a second real
database connection as the standby.

The standby here is a second connection (alias ``replica1``) to the test database, as Django's test mirrors are:
every query the test sees on it went through that connection, so the routing is observed, not assumed. A real
streaming standby, with real lag and a promotion, is tests/ops/test_standby.py. Because the two connections only
share committed rows, the tests that read through the standby are transactional.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.db import connection, connections, transaction
from django.test.utils import CaptureQueriesContext
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.test import APIClient

from ops import middleware, routing
from tests.factories import CountyFactory
from tests.helpers import seed_reference_data
from tests.people import signed_in

ROOT = Path(__file__).resolve().parents[2]
ALIAS = "replica1"
COUNTIES = "/api/v1/counties/"
DB = pytest.mark.django_db(transaction=True, databases=["default", ALIAS])


@pytest.fixture
def mississippi(transactional_db):
    """Re-seeded: a flush after an earlier transactional test may have removed the migrations' rows."""
    from polling.models import Jurisdiction

    seed_reference_data()
    return Jurisdiction.objects.get(code="MS")


def _set_alias(settings_dict: dict[str, Any]) -> None:
    """Point ``replica1`` at ``settings_dict``: a test mirror of default, so the test case neither flushes it nor
    wraps it in a transaction of its own."""
    if ALIAS in connections.settings:
        connections[ALIAS].close()
        del connections[ALIAS]
    settings_dict["TEST"] = {**settings_dict.get("TEST", {}), "MIRROR": "default"}
    connections.settings[ALIAS] = settings_dict  # the same dict as settings.DATABASES


def _live_settings() -> dict[str, Any]:
    return copy.deepcopy(connections["default"].settings_dict)


@pytest.fixture(scope="module", autouse=True)
def _standby_alias(django_db_setup, django_db_blocker) -> Iterator[None]:
    """The alias exists for the whole module (a test may only touch the aliases its marker names, checked before
    any fixture of its own runs); routing to it is off unless a test configures replicas."""
    with django_db_blocker.unblock():
        _set_alias(_live_settings())
    yield
    connections[ALIAS].close()
    del connections[ALIAS]
    del connections.settings[ALIAS]


@pytest.fixture
def replica_config(settings, monkeypatch) -> Iterator[Any]:
    """Replicas configured (routing on) and a fresh verdict cache; the test adds the alias it needs. The readiness
    check the middleware registers with replicas configured is dropped again afterwards."""
    from ops import health

    monkeypatch.setattr(health, "READINESS_CHECKS", list(health.READINESS_CHECKS))
    monkeypatch.setattr(health, "NEEDS_DATABASE", set(health.NEEDS_DATABASE))
    settings.DATABASE_REPLICAS = [ALIAS]
    settings.REPLICA_MAX_LAG_S = 5
    settings.REPLICA_CHECK_INTERVAL_S = 3600  # the verdict a test sets (or the first probe's) holds for the test
    settings.REPLICA_STICKY_S = 10
    routing.forget_verdicts()
    yield settings
    routing.forget_verdicts()
    _set_alias(_live_settings())


@pytest.fixture
def replica(replica_config) -> str:
    """A healthy standby: a second connection to the test database, judged fit (on PostgreSQL a probe would rightly
    call it "not a standby", being the primary itself: test_probe_of_a_primary_says_not_a_standby)."""
    routing.record_verdict(routing.ReplicaStatus(ALIAS, True, 0.0, True, None))
    return ALIAS


def _dead_settings() -> dict[str, Any]:
    dead = copy.deepcopy(connections["default"].settings_dict)
    if dead["ENGINE"].endswith("sqlite3"):
        dead["NAME"] = "/nonexistent-folder/standby.sqlite3"  # cannot be opened
    else:
        dead["HOST"], dead["PORT"] = "127.0.0.1", "1"  # nothing listens on port 1
        dead["OPTIONS"] = {**dead.get("OPTIONS", {}), "connect_timeout": 2}
    return dead


def _tables(captured: CaptureQueriesContext) -> str:
    return " ".join(q["sql"] for q in captured.captured_queries)


def _get(client: APIClient | None = None, path: str = COUNTIES) -> tuple[Any, str, str]:
    """GET ``path``: the response and the SQL run on the primary and on the standby meanwhile."""
    client = client or APIClient()
    with CaptureQueriesContext(connections["default"]) as primary, CaptureQueriesContext(connections[ALIAS]) as rep:
        response = client.get(path)
    return response, _tables(primary), _tables(rep)


def _get_with_dead_standby(path: str = COUNTIES) -> tuple[Any, str]:
    """GET ``path`` while the standby cannot be reached (any query on it would fail): response and primary SQL."""
    with CaptureQueriesContext(connections["default"]) as primary:
        response = APIClient().get(path)
    return response, _tables(primary)


def _names(response: Any) -> list[str]:
    return [f["properties"]["name"] for f in response.json()["features"]]


# --- No replicas: nothing changes ---------------------------------------------------------------------------------


def test_without_replicas_the_router_has_no_opinion(settings):
    settings.DATABASE_REPLICAS = []
    router = routing.ReplicaRouter()
    from polling.models import County

    assert router.db_for_read(County) is None
    assert router.db_for_write(County) is None
    assert router.allow_migrate("default", "polling") is None
    assert routing.replica_status() == []


def _settings_with(**env: str) -> dict[str, Any]:
    code = (
        "import json, django; django.setup(); from django.conf import settings as s; print(json.dumps({"
        "'aliases': list(s.DATABASES), 'replicas': s.DATABASE_REPLICAS, 'routers': s.DATABASE_ROUTERS, "
        "'middleware': 'ops.middleware.ReplicaReadsMiddleware' in s.MIDDLEWARE, "
        "'replica1': s.DATABASES.get('replica1')}, default=str))"
    )
    base = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "DATABASE_REPLICA_URL"}}
    done = subprocess.run(  # noqa: S603 - fixed argv
        [sys.executable, "-c", code],
        env={**base, "DJANGO_SETTINGS_MODULE": "tests.settings", **env},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_settings_without_replica_url_configure_one_database():
    seen = _settings_with()
    assert seen["aliases"] == ["default"] and seen["replicas"] == []
    assert seen["routers"] == ["ops.routing.ReplicaRouter"] and seen["middleware"]


def test_settings_with_replica_urls_configure_mirrors():
    seen = _settings_with(
        DATABASE_URL="postgres://app@db1.example:5432/polls",
        DATABASE_REPLICA_URL="postgres://app@db2.example:5432/polls, postgres://app@db3.example/polls",
        REPLICA_CONNECT_TIMEOUT_S="3",
    )
    assert seen["aliases"] == ["default", "replica1", "replica2"]
    assert seen["replicas"] == ["replica1", "replica2"]
    replica1 = seen["replica1"]
    assert replica1["HOST"] == "db2.example" and replica1["NAME"] == "polls"
    assert replica1["TEST"]["MIRROR"] == "default" and replica1["OPTIONS"]["connect_timeout"] == 3


def test_settings_refuse_a_replica_without_a_primary_url():
    code = "import django; django.setup()"
    base = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    done = subprocess.run(  # noqa: S603 - fixed argv
        [sys.executable, "-c", code],
        env={**base, "DJANGO_SETTINGS_MODULE": "tests.settings", "DATABASE_REPLICA_URL": "postgres://x@h/db"},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode != 0 and "DATABASE_REPLICA_URL needs DATABASE_URL" in done.stderr


# --- The routing decisions ----------------------------------------------------------------------------------------


@DB
def test_public_read_goes_to_the_standby(replica, mississippi):
    CountyFactory(fips="28049", name="Hinds", jurisdiction=mississippi)
    response, on_primary, on_replica = _get()
    assert response.status_code == 200
    assert _names(response) == ["Hinds"]
    assert "polling_county" in on_replica
    assert "polling_county" not in on_primary


@DB
def test_public_polling_place_reads_go_to_the_standby(replica, mississippi):
    response, on_primary, on_replica = _get(path="/api/v1/polling-places/")
    assert response.status_code == 200
    assert "polling_pollingplace" in on_replica and "polling_pollingplace" not in on_primary


@DB
def test_staff_read_goes_to_the_primary(replica, mississippi):
    from tests.factories import UserFactory

    staff = signed_in(UserFactory())
    response, on_primary, on_replica = _get(staff, "/api/v1/auth/me/")
    assert response.status_code == 200, response.content
    assert on_primary and not on_replica


@DB
def test_a_write_goes_to_the_primary_and_the_request_then_reads_its_own_writes(replica, mississippi):
    from polling.models import County

    state = routing.RequestState(replica_ok=True)
    token = routing.begin_request(state)
    try:
        with CaptureQueriesContext(connections["default"]) as primary, CaptureQueriesContext(connections[ALIAS]) as rep:
            assert County.objects.count() == 0  # before any write: the standby
            assert "polling_county" in _tables(rep) and "polling_county" not in _tables(primary)
            CountyFactory(fips="28089", name="Madison", jurisdiction=mississippi)
            assert "INSERT" in _tables(primary) and "INSERT" not in _tables(rep)
            seen_on_replica = len(rep.captured_queries)
            assert County.objects.get(fips="28089").name == "Madison"
            assert len(rep.captured_queries) == seen_on_replica  # the read after the write: the primary
        assert state.wrote
    finally:
        routing.end_request(token)


@DB
def test_reads_inside_a_transaction_on_the_primary_stay_on_the_primary(replica, mississippi):
    from polling.models import County

    token = routing.begin_request(routing.RequestState(replica_ok=True))
    try:
        router = routing.ReplicaRouter()
        assert router.db_for_read(County) == ALIAS
        with transaction.atomic():
            assert router.db_for_read(County) == "default"
    finally:
        routing.end_request(token)


@DB
def test_a_client_that_just_wrote_reads_from_the_primary_for_a_while(replica, mississippi, settings):
    writer = APIClient(REMOTE_ADDR="198.51.100.7")
    assert writer.post(COUNTIES, {}, format="json").status_code == 405  # any unsafe method counts as a write
    _, on_primary, on_replica = _get(writer)
    assert "polling_county" in on_primary and not on_replica
    # Another client (another address) still reads from the standby.
    _, on_primary, on_replica = _get(APIClient(REMOTE_ADDR="203.0.113.9"))
    assert "polling_county" in on_replica and "polling_county" not in on_primary
    # Once REPLICA_STICKY_S is over, the writer is back on the standby.
    from django.core.cache import cache

    cache.delete(middleware.sticky_key(writer.get(COUNTIES).wsgi_request))
    _, on_primary, on_replica = _get(writer)
    assert "polling_county" in on_replica


@DB
def test_a_standby_that_is_down_is_skipped_and_reported(replica_config, mississippi):
    CountyFactory(fips="28049", name="Hinds", jurisdiction=mississippi)
    _set_alias(_dead_settings())
    response, on_primary = _get_with_dead_standby()
    assert response.status_code == 200
    assert _names(response) == ["Hinds"]
    assert "polling_county" in on_primary
    [status] = routing.replica_status()
    assert (status.name, status.reachable, status.in_use) == (ALIAS, False, False)
    assert status.problem and status.problem.startswith("unreachable")


@DB
def test_a_standby_failing_in_the_middle_of_a_public_read_is_repeated_on_the_primary(replica, mississippi):
    CountyFactory(fips="28049", name="Hinds", jurisdiction=mississippi)
    # Judged healthy a moment ago, dead now: the first query on it fails.
    _set_alias(_dead_settings())
    response, on_primary = _get_with_dead_standby()
    assert response.status_code == 200
    assert _names(response) == ["Hinds"]
    assert "polling_county" in on_primary
    [status] = routing.replica_status()
    assert not status.in_use and status.problem and status.problem.startswith("unreachable")


@DB
def test_a_lagging_standby_is_skipped_and_reported(replica, mississippi):
    routing.record_verdict(
        routing.verdict(name=ALIAS, reachable=True, in_recovery=True, streaming=True, lag_s=12.5, max_lag_s=5)
    )
    response, on_primary, on_replica = _get()
    assert response.status_code == 200
    assert "polling_county" in on_primary and not on_replica
    [status] = routing.replica_status()
    assert status.reachable and not status.in_use and status.lag_s == 12.5
    assert status.problem == "lagging: 12.5 s behind the primary (limit 5 s)"


def test_the_verdict_names_each_reason():
    def judge(**kw: Any) -> str | None:
        args = {
            "name": ALIAS,
            "reachable": True,
            "in_recovery": True,
            "streaming": True,
            "lag_s": 0.2,
            "max_lag_s": 5.0,
            **kw,
        }
        return routing.verdict(**args).problem

    assert judge() is None
    assert judge(lag_s=5.0) is None  # at the limit: still fine
    assert judge(lag_s=5.01).startswith("lagging")
    assert judge(lag_s=None) == "replication lag unknown"
    assert judge(streaming=False).startswith("not receiving")
    assert judge(in_recovery=False).startswith("not a standby")
    assert judge(reachable=False, error="refused") == "unreachable: refused"


@DB
def test_probe_of_a_primary_says_not_a_standby(replica_config, mississippi):
    """The real probe against the test database: on PostgreSQL that is a primary, which must never serve as a
    standby (a promoted standby left in DATABASE_REPLICA_URL would show a diverging history)."""
    [status] = routing.replica_status(fresh=True)
    assert status.reachable
    if connection.vendor == "postgresql":
        assert not status.in_use and status.problem and status.problem.startswith("not a standby")
        _, on_primary, on_replica = _get()
        assert "polling_county" in on_primary and not on_replica
    else:
        assert status.in_use and status.lag_s == 0.0


def test_standbys_are_never_migrated(replica_config):
    router = routing.ReplicaRouter()
    assert router.allow_migrate(ALIAS, "polling") is False
    assert router.allow_migrate("default", "polling") is None


def test_status_as_dict_is_what_readyz_and_the_report_show():
    status = routing.verdict(name=ALIAS, reachable=True, in_recovery=True, streaming=True, lag_s=0.12345, max_lag_s=5)
    assert status.as_dict() == {"name": ALIAS, "reachable": True, "lag_s": 0.123, "in_use": True, "problem": None}


# --- The list of public reads -------------------------------------------------------------------------------------


def _views_by_name(patterns: list[Any] | None = None) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for entry in patterns if patterns is not None else get_resolver().url_patterns:
        if isinstance(entry, URLResolver):
            found.update(_views_by_name(entry.url_patterns))
        elif isinstance(entry, URLPattern) and entry.name:
            found[entry.name] = entry.callback
    return found


def test_every_public_read_view_authenticates_no_one():
    """A staff view named by mistake would leak nothing (the view still checks its token), but its reads would
    go to a standby; the list holds public views only."""
    views = _views_by_name()
    for name in sorted(middleware.PUBLIC_READ_VIEWS):
        assert name in views, f"{name} is not a URL name"
        view_class = getattr(views[name], "cls", None)
        if view_class is not None:
            assert view_class.authentication_classes == [], name
        else:
            assert name == "map"  # the public map page, a plain Django view


# --- The operators' command -----------------------------------------------------------------------------------------


def test_replica_status_command_without_replicas(settings):
    from io import StringIO

    from django.core.management import call_command

    settings.DATABASE_REPLICAS = []
    out = StringIO()
    call_command("replica_status", stdout=out)
    assert json.loads(out.getvalue()) == {"replicas": "not_configured"}


@DB
def test_replica_status_command_exits_1_for_a_standby_that_is_down(replica_config, mississippi):
    from io import StringIO

    from django.core.management import call_command

    _set_alias(_dead_settings())
    out = StringIO()
    with pytest.raises(SystemExit) as exit_:
        call_command("replica_status", stdout=out)
    assert exit_.value.code == 1
    line = json.loads(out.getvalue())
    assert line["name"] == ALIAS and line["reachable"] is False and line["problem"].startswith("unreachable")


@DB
def test_readyz_names_the_standby_problem_but_stays_ready(replica_config, mississippi, client):
    """A standby's trouble is visible in /readyz but never takes the app server out of the load balancer."""
    _set_alias(_dead_settings())
    response = client.get("/readyz")  # the middleware registers the check when replicas are configured
    assert response.json()["checks"]["replica"] == "unreachable"
    assert routing.readiness_check().ok

"""``/healthz`` and ``/readyz``: what they answer, that they tell nothing an outsider could use, and that each
readiness check fails when its part really fails (a real unreachable database, a real unreachable Redis, a really
unapplied migration)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import types
from pathlib import Path

import pytest
from django.db import transaction
from django.db.migrations.recorder import MigrationRecorder
from django.test import Client

from ops import health
from polling.geography import spatial
from polling.geography.services import geography_version, geography_version_bump

ROOT = Path(__file__).resolve().parents[2]
REDIS = "redis://127.0.0.1:6379/15"
DEAD_REDIS = "redis://127.0.0.1:1/0"  # nothing listens on port 1


@pytest.fixture(autouse=True)
def _forget_migrated(settings):
    # No IP-country database is installed in tests: not required here (its own test below says what /readyz does).
    settings.GEO_REQUIRED = False
    health.forget_migrated()
    yield
    health.forget_migrated()


def _no_cache(response) -> None:
    assert "no-store" in response["Cache-Control"] and "max-age=0" in response["Cache-Control"]


def _reveals_nothing(body: str) -> None:
    lowered = body.lower()
    for word in ("127.0.0.1", "localhost", "6379", "traceback", "error:", "refused", "sqlite", "postgres", "django"):
        assert word not in lowered, f"{word!r} in {body}"


@pytest.mark.django_db
def test_healthz_answers_without_the_database(client, django_assert_num_queries):
    with django_assert_num_queries(0):
        response = client.get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}
    assert response["Content-Type"] == "application/json"
    _no_cache(response)
    assert "Set-Cookie" not in response and "Cookie" not in response.get("Vary", "")


@pytest.mark.django_db
def test_readyz_is_ready_on_a_migrated_database_and_builds_the_spatial_index(client):
    spatial.reset_index()
    response = client.get("/readyz")
    assert response.status_code == 200, response.content
    assert response.json() == {
        "status": "ready",
        "checks": {
            "database": "ok",
            "migrations": "ok",
            "spatial_index": "ok",
            "cache": "not_configured",
            "ip_country": "not_required",
        },
    }
    _no_cache(response)
    assert "Set-Cookie" not in response
    assert spatial._current is not None and spatial._current.version == geography_version()


@pytest.mark.django_db
def test_readyz_rebuilds_the_index_for_a_new_geography_version(client):
    assert client.get("/readyz").status_code == 200
    before = spatial._current
    assert before is not None
    with transaction.atomic():
        geography_version_bump()
    assert client.get("/readyz").status_code == 200
    assert spatial._current is not None and spatial._current.version == before.version + 1


@pytest.mark.django_db
def test_readyz_answers_503_while_a_migration_is_not_applied(client):
    last = MigrationRecorder.Migration.objects.filter(app="polling").order_by("-id").first()
    assert last is not None
    last.delete()  # rolled back with the test
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["status"] == "not_ready" and response.json()["checks"]["migrations"] == "pending"
    _no_cache(response)
    _reveals_nothing(response.content.decode())


@pytest.mark.django_db
def test_a_positive_migration_answer_is_kept_briefly_so_probes_stay_cheap(client, django_assert_max_num_queries):
    client.get("/readyz")
    # database SELECT 1, geography version, (no migration graph read again)
    with django_assert_max_num_queries(2):
        assert client.get("/readyz").status_code == 200


@pytest.mark.django_db
def test_readyz_checks_a_configured_redis(client, settings):
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS,
            "KEY_PREFIX": "h_deploy_test",
        }
    }
    response = client.get("/readyz")
    assert response.status_code == 200 and response.json()["checks"]["cache"] == "ok"

    settings.CACHES = {"default": {**settings.CACHES["default"], "LOCATION": DEAD_REDIS}}
    response = client.get("/readyz")
    assert response.status_code == 503 and response.json()["checks"]["cache"] == "unreachable"
    _reveals_nothing(response.content.decode())


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("status", "expected_code", "expected_state"),
    [
        (types.SimpleNamespace(required=False, present=False, stale=False, problem=None), 200, "not_required"),
        (types.SimpleNamespace(required=True, present=True, stale=False, problem=None), 200, "ok"),
        (types.SimpleNamespace(required=True, present=True, stale=True, problem=None), 503, "stale"),
        (types.SimpleNamespace(required=True, present=False, stale=False, problem="missing"), 503, "missing"),
    ],
)
def test_readyz_reads_the_ip_country_database_status(client, monkeypatch, status, expected_code, expected_state):
    # guard.geo's database_status() (its own tests cover how it judges the files); here: how readiness reads it.
    import guard

    geo = sys.modules.get("guard.geo") or types.ModuleType("guard.geo")
    monkeypatch.setitem(sys.modules, "guard.geo", geo)
    monkeypatch.setattr(guard, "geo", geo, raising=False)
    monkeypatch.setattr(geo, "database_status", lambda: status, raising=False)
    response = client.get("/readyz")
    assert response.status_code == expected_code
    assert response.json()["checks"]["ip_country"] == expected_state


@pytest.mark.django_db
def test_readyz_is_not_ready_when_a_required_ip_country_database_is_missing(client, settings, tmp_path):
    settings.GEO_EXCLUSION = True
    settings.GEO_REQUIRED = True
    settings.GEOIP_DIR = tmp_path / "geoip-not-installed"
    response = client.get("/readyz")
    assert response.status_code == 503 and response.json()["checks"]["ip_country"] == "missing"
    _reveals_nothing(response.content.decode())


@pytest.mark.django_db
def test_a_registered_check_joins_the_answer(client, monkeypatch):
    monkeypatch.setattr(health, "READINESS_CHECKS", list(health.READINESS_CHECKS))
    monkeypatch.setattr(health, "NEEDS_DATABASE", set(health.NEEDS_DATABASE))
    health.register_check("replica", lambda: health.Check(False, "lagging"))
    response = client.get("/readyz")
    assert response.status_code == 503 and response.json()["checks"]["replica"] == "lagging"


@pytest.mark.django_db
def test_health_paths_are_not_throttled_and_refuse_other_methods_with_json(settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"public": "1/minute"}}
    client = Client(enforce_csrf_checks=True)
    for _ in range(5):
        assert client.get("/healthz").status_code == 200
        assert client.get("/readyz").status_code == 200
    assert client.head("/readyz").status_code == 200
    for path in ("/healthz", "/readyz"):
        response = client.post(path, data="{}", content_type="application/json")
        assert response.status_code == 405 and response.json()["code"] == "method_not_allowed"
        assert response["Allow"] == "GET, HEAD"


def test_readyz_answers_503_when_the_database_is_unreachable(tmp_path):
    """A real process whose database cannot be opened (SQLite in a directory that does not exist)."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DATABASE_URL": f"sqlite:///{tmp_path}/missing-dir/db.sqlite3",
        "ENV_FILE": "",
        "GEO_REQUIRED": "0",
    }
    script = (
        "import django, json; django.setup();"
        "from django.test import Client; c = Client();"
        "h = c.get('/healthz'); r = c.get('/readyz');"
        "print(json.dumps([h.status_code, r.status_code, r.content.decode()]))"
    )
    done = subprocess.run(  # noqa: S603 - fixed argv
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=True
    )
    healthz, readyz, body = json.loads(done.stdout.strip().splitlines()[-1])
    assert healthz == 200  # alive: a database outage must not get the process restarted
    assert readyz == 503
    assert json.loads(body) == {
        "status": "not_ready",
        "checks": {
            "database": "unreachable",
            "migrations": "skipped",
            "spatial_index": "skipped",
            "cache": "not_configured",
            "ip_country": "skipped",
        },
    }
    _reveals_nothing(body)
    assert "unable to open database" in done.stderr  # the detail went to the log


@pytest.mark.django_db
def test_probes_answer_any_host_over_plain_http_even_with_https_redirects_on(settings):
    """A probe on the server asks gunicorn directly (http://127.0.0.1:8000/readyz): no redirect, no 400."""
    settings.ALLOWED_HOSTS = ["polls.example.gov"]
    settings.SECURE_SSL_REDIRECT = True
    client = Client(HTTP_HOST="10.0.0.7:8000")
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").status_code == 200
    assert client.get("/map/").status_code == 400  # everything else still validates the host


def test_healthz_stays_up_while_redis_is_down(settings, client):
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": DEAD_REDIS}}
    assert client.get("/healthz").status_code == 200

"""Intrusion prevention (guard.ips) against the real Redis on 127.0.0.1:6379: counted offences, growing blocks, the
allow-list, lifting, IPv6 /64 buckets, the middleware's probes / malformed floods / throttled requests, sign-in
failure bursts, the per-account staff limit, the admin and the API — and two real gunicorn servers sharing one
count.

Every test counts under a key prefix of its own in Redis database 11 and deletes its keys afterwards.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import redis
import time_machine
from django.core.cache import cache
from django.http import HttpResponse
from django.test import Client, RequestFactory
from django.utils import timezone

from accounts.models import AuditEvent
from guard import ips
from guard.middleware import IntrusionPreventionMiddleware
from guard.models import AddressBlock, SecurityEvent
from tests.factories import TEST_PASSWORD
from tests.people import sign_in_to_admin, signed_in

REDIS_URL = "redis://127.0.0.1:6379/11"
RUN = uuid.uuid4().hex[:8]
ROOT = Path(__file__).resolve().parents[2]
ATTACKER = "203.0.113.66"

pytestmark = pytest.mark.django_db


def _flush(prefix: str) -> None:
    client = redis.Redis.from_url(REDIS_URL)
    keys = list(client.scan_iter(f"{prefix}:*", count=1000))
    if keys:
        client.delete(*keys)


@pytest.fixture(autouse=True)
def redis_cache(settings) -> Iterator[str]:
    """The cache is the real Redis, under this test's own prefix; small thresholds, a 60 s base block."""
    prefix = f"h_ips_{RUN}_{uuid.uuid4().hex[:6]}"
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": prefix,
        }
    }
    settings.IPS_ENABLED = True
    settings.IPS_THRESHOLDS = {
        "auth_failure": (3, 300),
        "probe": (4, 600),
        "malformed": (5, 60),
        "throttled": (2, 300),
    }
    settings.IPS_BLOCK_BASE_S = 60
    settings.IPS_BLOCK_MAX_S = 300
    settings.IPS_MEMORY_S = 3600
    settings.IPS_ALLOWLIST = ["127.0.0.0/8", "::1", "198.51.100.0/24", "2001:db8:aaaa::/48"]
    cache.set("probe-key", 1)
    assert redis.Redis.from_url(REDIS_URL).exists(f"{prefix}:1:probe-key"), "the cache is not the real Redis"
    yield prefix
    _flush(prefix)


def offend(ip: str, kind: str, times: int) -> list[AddressBlock]:
    return [b for b in (ips.note_offence(ip, kind) for _ in range(times)) if b is not None]


# --- counting and blocking ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind, limit", [("auth_failure", 3), ("probe", 4), ("malformed", 5), ("throttled", 2)])
def test_each_kind_blocks_at_its_own_threshold(kind, limit):
    assert offend(ATTACKER, kind, limit - 1) == []
    assert ips.is_blocked(ATTACKER) == 0
    [block] = offend(ATTACKER, kind, 1)
    assert (block.bucket, block.reason, block.strikes) == (ATTACKER, kind, 1)
    assert 59 <= ips.is_blocked(ATTACKER) <= 60
    assert ips.is_blocked("203.0.113.67") == 0
    assert SecurityEvent.objects.filter(kind=SecurityEvent.Kind.BLOCKED, address=ATTACKER).count() == 1
    assert SecurityEvent.objects.filter(kind=kind, address=ATTACKER).exists()


def test_kinds_are_counted_apart():
    offend(ATTACKER, "probe", 3)
    offend(ATTACKER, "malformed", 4)
    offend(ATTACKER, "auth_failure", 2)
    assert ips.is_blocked(ATTACKER) == 0 and not AddressBlock.objects.exists()


def test_offences_in_flight_when_the_block_starts_do_not_start_another():
    assert len(offend(ATTACKER, "probe", 12)) == 1
    assert AddressBlock.objects.count() == 1


def test_the_count_starts_afresh_after_the_window():
    with time_machine.travel(timezone.now(), tick=False) as clock:
        offend(ATTACKER, "probe", 3)
        clock.shift(timedelta(seconds=601))
        offend(ATTACKER, "probe", 3)
    assert not AddressBlock.objects.exists()


def test_each_block_within_memory_lasts_twice_as_long_up_to_the_maximum():
    with time_machine.travel(timezone.now(), tick=False) as clock:
        seen = []
        for _ in range(5):
            [block] = offend(ATTACKER, "throttled", 2)
            seen.append((block.strikes, int((block.until - block.blocked_at).total_seconds())))
            assert ips.is_blocked(ATTACKER) == seen[-1][1]
            clock.shift(timedelta(seconds=seen[-1][1] + 1))
            assert ips.is_blocked(ATTACKER) == 0
        assert seen == [(1, 60), (2, 120), (3, 240), (4, 300), (5, 300)]
        clock.shift(timedelta(seconds=3600))  # beyond IPS_MEMORY_S of every earlier block
        [block] = offend(ATTACKER, "throttled", 2)
        assert block.strikes == 1 and ips.is_blocked(ATTACKER) == 60


def test_the_allow_list_is_never_counted_nor_blocked():
    for ip in ("198.51.100.7", "127.0.0.1", "2001:db8:aaaa:1::9", "::ffff:198.51.100.8"):
        assert offend(ip, "probe", 20) == []
        assert ips.is_blocked(ip) == 0
    assert not AddressBlock.objects.exists()
    assert not SecurityEvent.objects.exists()


def test_an_address_blocked_before_it_was_allow_listed_is_let_through(settings):
    offend(ATTACKER, "probe", 4)
    assert ips.is_blocked(ATTACKER)
    settings.IPS_ALLOWLIST = [*settings.IPS_ALLOWLIST, "203.0.113.0/24"]
    assert ips.is_blocked(ATTACKER) == 0


def test_lifting_ends_the_block_forgets_the_counts_and_does_not_lengthen_the_next():
    [block] = offend(ATTACKER, "probe", 4)
    offend(ATTACKER, "malformed", 4)
    [lifted] = ips.lift(ATTACKER, by="admin (#1)", note="our own scanner")
    assert lifted.pk == block.pk
    block.refresh_from_db()
    assert block.lifted_at is not None and block.lifted_by == "admin (#1)" and block.note == "our own scanner"
    assert ips.is_blocked(ATTACKER) == 0
    assert ips.active_blocks() == []
    assert offend(ATTACKER, "malformed", 1) == []  # the malformed count was forgotten too
    [again] = offend(ATTACKER, "probe", 4)
    assert again.strikes == 1
    assert ips.lift("203.0.113.200", by="x") == []


def test_an_ipv6_subscriber_is_counted_as_its_64():
    for n in range(1, 4):
        ips.note_offence(f"2001:db8:1:2::{n}", "probe")
    [block] = offend("2001:db8:1:2:ffff:eeee:dddd:cccc", "probe", 1)
    assert block.bucket == "2001:db8:1:2::/64"
    assert ips.is_blocked("2001:db8:1:2::abcd") > 0
    assert ips.is_blocked("2001:db8:1:3::1") == 0
    assert [b.bucket for b in ips.active_blocks()] == ["2001:db8:1:2::/64"]


def test_checking_an_address_costs_no_database_query(django_assert_num_queries):
    offend(ATTACKER, "probe", 4)
    middleware = IntrusionPreventionMiddleware(lambda request: HttpResponse("ok"))
    factory = RequestFactory()
    with django_assert_num_queries(0):
        assert ips.is_blocked(ATTACKER) > 0
        assert ips.is_blocked("203.0.113.1") == 0
        assert middleware(factory.get("/api/v1/compliance/", REMOTE_ADDR="203.0.113.1")).status_code == 200


# --- the middleware -----------------------------------------------------------------------------------------------


def test_probes_of_scanner_paths_block_the_address_everywhere(client):
    for path in ("/.env", "/wp-login.php", "/.git/config"):
        assert client.get(path, REMOTE_ADDR=ATTACKER).status_code == 404
    assert client.get("/no-such-page/", REMOTE_ADDR=ATTACKER).status_code == 404  # an honest mistake: not counted
    assert ips.is_blocked(ATTACKER) == 0
    assert client.get("/phpmyadmin/", REMOTE_ADDR=ATTACKER).status_code == 404
    answer = client.get("/api/v1/compliance/?lat=32.3&lon=-90.18", REMOTE_ADDR=ATTACKER)
    assert answer.status_code == 403
    assert answer.json()["code"] == "address_blocked"
    assert 0 < int(answer["Retry-After"]) <= 60
    assert answer.json()["retry_after_s"] == int(answer["Retry-After"])
    assert client.get("/.env", REMOTE_ADDR="203.0.113.9").status_code == 404  # another address is not blocked
    refused = SecurityEvent.objects.get(kind=SecurityEvent.Kind.BLOCK_REFUSED)
    assert (refused.address, refused.reason) == (ATTACKER, "address_blocked")


@pytest.mark.parametrize(
    "path",
    ["/.env.production", "/wp-admin/setup.php", "/cgi-bin/luci", "/actuator/health", "/server-status", "/x/y.asp"],
)
def test_scanner_paths_are_recognised(path):
    assert ips.is_probe(path)


@pytest.mark.parametrize("path", ["/map/", "/api/v1/compliance/", "/admin/login/", "/static/map.js", "/envelope"])
def test_our_own_paths_are_not_probes(path):
    assert not ips.is_probe(path)


def test_a_flood_of_malformed_requests_blocks_the_address(client):
    for _ in range(4):
        answer = client.get("/api/v1/compliance/?lat=abc&lon=-90.18", REMOTE_ADDR=ATTACKER)
        assert answer.status_code == 400
    answer = client.post("/api/v1/auth/token/", data="{not json", content_type="application/json", REMOTE_ADDR=ATTACKER)
    assert answer.status_code == 400 and answer.json()["code"] == "malformed_request"
    assert client.get("/api/v1/compliance/?lat=32.3&lon=-90.18", REMOTE_ADDR=ATTACKER).status_code == 403
    assert AddressBlock.objects.get().reason == "malformed"
    reasons = set(SecurityEvent.objects.filter(kind="malformed").values_list("reason", flat=True))
    assert "malformed_request" in reasons and len(reasons) == 2


def test_a_burst_of_sign_in_failures_blocks_the_address(client, commissioner):
    body = {"username": "commish", "password": "wrong password!", "device_id": str(uuid.uuid4())}
    for _ in range(3):
        answer = client.post("/api/v1/auth/token/", body, content_type="application/json", REMOTE_ADDR=ATTACKER)
        assert answer.status_code == 401
    answer = client.post(
        "/api/v1/auth/token/",
        {**body, "password": TEST_PASSWORD},
        content_type="application/json",
        REMOTE_ADDR=ATTACKER,
    )
    assert answer.status_code == 403 and answer.json()["code"] == "address_blocked"
    block = AddressBlock.objects.get()
    assert block.reason == "auth_failure" and block.bucket == ATTACKER
    assert SecurityEvent.objects.filter(kind="auth_failure", account="commish").exists()


def test_the_staff_rate_limit_counts_per_account_and_repeated_429s_block(settings, commissioner, state_admin):
    settings.STAFF_RATE_LIMIT = "3/minute"
    mine, theirs = signed_in(commissioner), signed_in(state_admin)
    for _ in range(3):
        assert mine.get("/api/v1/auth/me/", REMOTE_ADDR=ATTACKER).status_code == 200
    assert signed_in(commissioner).get("/api/v1/auth/me/", REMOTE_ADDR="203.0.113.5").status_code == 429  # account
    assert theirs.get("/api/v1/auth/me/", REMOTE_ADDR=ATTACKER).status_code == 200  # another account
    answer = mine.get("/api/v1/auth/me/", REMOTE_ADDR=ATTACKER)
    assert answer.status_code == 429
    assert answer.json()["code"] == "account_rate_limited"
    assert 0 < int(answer["Retry-After"]) <= 60 and answer.json()["retry_after_s"] == int(answer["Retry-After"])
    assert ips.is_blocked(ATTACKER) == 0  # one throttled answer from this address so far; the limit is 2
    mine.get("/api/v1/auth/me/", REMOTE_ADDR=ATTACKER)
    assert theirs.get("/api/v1/auth/me/", REMOTE_ADDR=ATTACKER).json()["code"] == "address_blocked"
    assert AddressBlock.objects.get().reason == "throttled"


# --- the admin ----------------------------------------------------------------------------------------------------


def _admin_client(user):
    user.is_staff = True
    user.save(update_fields=["is_staff"])
    return sign_in_to_admin(Client(), user, TEST_PASSWORD)


def test_a_state_administrator_sees_blocks_in_force_first_and_lifts_them_audited(state_admin):
    [old] = offend("203.0.113.10", "probe", 4)
    ips.lift(old.bucket, by="someone")
    [live] = offend(ATTACKER, "probe", 4)
    client = _admin_client(state_admin)
    page = client.get("/admin/guard/addressblock/")
    assert page.status_code == 200
    assert list(page.context["cl"].result_list) == [live, old]
    assert client.get("/admin/guard/securityevent/").status_code == 200
    assert client.get("/admin/guard/addressblock/add/").status_code == 403
    answer = client.post("/admin/guard/addressblock/", {"action": "lift_blocks", "_selected_action": [live.pk]})
    assert answer.status_code == 302
    assert ips.is_blocked(ATTACKER) == 0
    live.refresh_from_db()
    assert live.lifted_by == f"admin (#{state_admin.pk})"
    event = AuditEvent.objects.filter(action="security.block_lifted").get()
    assert event.actor == state_admin and event.object_id == str(live.pk)


def test_a_commissioner_in_the_admin_site_sees_no_blocks_and_lifts_none(commissioner):
    [live] = offend(ATTACKER, "probe", 4)
    client = _admin_client(commissioner)
    assert client.get("/admin/guard/addressblock/").status_code == 403
    assert client.get("/admin/guard/securityevent/").status_code == 403
    assert (
        client.post("/admin/guard/addressblock/", {"action": "lift_blocks", "_selected_action": [live.pk]}).status_code
        == 403
    )
    assert b"Address blocks" not in client.get("/admin/").content
    assert ips.is_blocked(ATTACKER) > 0
    assert not AuditEvent.objects.filter(action="security.block_lifted").exists()


# --- the API ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "caller, status",
    [
        ("anonymous", 401),
        ("outsider", 403),
        ("poll_worker", 403),
        ("commissioner", 403),
        ("state_admin", 200),
        # Blocks are the service's, not a state's: an address attacking the service attacks every state on it, so
        # any state's administrator (here Alabama's, for an attack seen while Mississippi's data is served) may lift.
        ("alabama_admin", 200),
    ],
)
def test_who_may_list_and_lift_blocks(request, api, caller, status):
    [live] = offend(ATTACKER, "probe", 4)
    client = api if caller == "anonymous" else signed_in(request.getfixturevalue(caller))
    listing = client.get("/api/v1/security/blocks/")
    assert listing.status_code == status
    lifting = client.post(f"/api/v1/security/blocks/{live.pk}/lift/", {"note": "false alarm"}, format="json")
    assert lifting.status_code == status
    if status == 200:
        row = listing.json()["results"][0]
        assert (row["id"], row["bucket"], row["reason"], row["active"]) == (live.pk, ATTACKER, "probe", True)
        assert lifting.json()["active"] is False and lifting.json()["note"] == "false alarm"
        assert ips.is_blocked(ATTACKER) == 0
        assert AuditEvent.objects.filter(action="security.block_lifted", object_id=str(live.pk)).count() == 1
    else:
        assert lifting.json()["code"] in ("not_authenticated", "permission_denied")
        assert ips.is_blocked(ATTACKER) > 0


def test_the_api_lists_in_force_first_and_refuses_lifting_twice(state_admin):
    client = signed_in(state_admin)
    [old] = offend("203.0.113.10", "malformed", 5)
    ips.lift(old.bucket, by="x")
    [live] = offend(ATTACKER, "probe", 4)
    body = client.get("/api/v1/security/blocks/").json()
    assert [r["id"] for r in body["results"]] == [live.pk, old.pk] and body["count"] == 2
    assert [r["id"] for r in client.get("/api/v1/security/blocks/?active=1").json()["results"]] == [live.pk]
    assert client.get("/api/v1/security/blocks/?active=maybe").json()["code"] == "invalid_active"
    again = client.post(f"/api/v1/security/blocks/{old.pk}/lift/", {}, format="json")
    assert (again.status_code, again.json()["code"]) == (409, "block_not_active")
    missing = client.post("/api/v1/security/blocks/999999/lift/", {}, format="json")
    assert (missing.status_code, missing.json()["code"]) == (404, "not_found")
    assert client.post("/api/v1/security/blocks/1/lift/", {"note": "x" * 201}, format="json").status_code == 400


# --- two real servers, one count ---------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(port: int, path: str, ip: str) -> tuple[int, dict, dict]:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers={"X-Forwarded-For": ip})
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310  # http to our own server
            return answer.status, dict(answer.headers), {}
    except urllib.error.HTTPError as error:
        body = error.read()
        try:
            data = json.loads(body)
        except ValueError:
            data = {}
        return error.code, dict(error.headers), data


@pytest.mark.heavy
def test_two_server_processes_share_one_count(tmp_path, redis_cache):
    prefix = f"{redis_cache}_servers"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "SECRET_KEY": "two-servers-test-secret-key-0123456789abcdef",
        "ALLOWED_HOSTS": "127.0.0.1",
        "HTTPS_ONLY": "0",
        "DEBUG": "0",
        "VAR_DIR": str(tmp_path),
        "REDIS_URL": REDIS_URL,
        "CACHE_KEY_PREFIX": prefix,
        "TRUSTED_PROXY_COUNT": "1",
        "IPS_PROBE_LIMIT": "6",
        "IPS_BLOCK_BASE_S": "120",
    }
    env.pop("DATABASE_URL", None)
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--no-input", "-v", "0"], cwd=ROOT, env=env, check=True, timeout=300
    )
    ports = [_free_port(), _free_port()]
    servers = [
        subprocess.Popen(  # noqa: S603  # our own gunicorn
            [
                str(Path(sys.executable).parent / "gunicorn"),
                "config.wsgi:application",
                "-b",
                f"127.0.0.1:{port}",
                "-w",
                "1",
                "--log-level",
                "warning",
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        for port in ports
    ]
    try:
        deadline = time.monotonic() + 60
        for port in ports:
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    assert time.monotonic() < deadline, "gunicorn did not start"
                    time.sleep(0.2)
        attacker = f"203.0.113.{uuid.uuid4().int % 200 + 20}"
        # Five probes, alternating: neither process alone has seen the six that block.
        for n in range(5):
            status, _, _ = _get(ports[n % 2], f"/wp-login.php?n={n}", attacker)
            assert status == 404
        assert [_get(port, "/no-such-page/", attacker)[0] for port in ports] == [404, 404]
        # The sixth, on the second process, completes the count both kept together.
        assert _get(ports[1], "/.env", attacker)[0] == 404
        for port in ports:
            status, headers, body = _get(port, "/no-such-page/", attacker)
            assert status == 403 and body["code"] == "address_blocked", (port, status, body)
            assert 0 < int(headers["Retry-After"]) <= 120
        assert [_get(port, "/no-such-page/", "203.0.113.3")[0] for port in ports] == [404, 404]
        client = redis.Redis.from_url(REDIS_URL)
        assert client.exists(f"{prefix}:1:ips:block:{attacker}")
    finally:
        for server in servers:
            server.terminate()
        for server in servers:
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()
        _flush(prefix)
    with sqlite3.connect(tmp_path / "db.sqlite3") as db:
        rows = db.execute("SELECT bucket, reason, strikes FROM guard_addressblock").fetchall()
    assert rows == [(attacker, "probe", 1)]  # one block, written by the process that counted the sixth probe

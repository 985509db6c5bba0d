"""Brute-force protection on sign-in: failures counted in the database per account and per client address, 429
``too_many_attempts`` with ``retry_after_s``, doubling windows, and no extra attempts from a forged X-Forwarded-For."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from django.utils import timezone

from accounts.models import ApiSession, AuditEvent, LoginFailure
from accounts.people.lockout import _lockout_seconds, login_retry_after
from tests.people import PASSWORD

TOKEN = "/api/v1/auth/token/"


def attempt(api, username, password="wrong password", **headers):  # noqa: S107
    body = {"username": username, "password": password, "device_id": str(uuid.uuid4())}
    return api.post(TOKEN, body, format="json", **headers)


def tablet_login(api, user, tablet):
    device, secret = tablet
    body = {"username": user.username, "password": PASSWORD, "device_id": str(device.pk), "device_secret": secret}
    return api.post(TOKEN, body, format="json")


def test_after_five_failures_an_account_is_locked_even_for_the_right_password(api, poll_worker, tablet):
    for _ in range(5):
        assert attempt(api, "worker").json()["code"] == "invalid_credentials"
    audited = AuditEvent.objects.count()

    response = tablet_login(api, poll_worker, tablet)

    assert response.status_code == 429
    body = response.json()
    assert body["code"] == "too_many_attempts"
    assert 890 <= body["retry_after_s"] <= 900
    assert response.headers["Retry-After"] == str(body["retry_after_s"])
    assert not ApiSession.objects.exists()
    assert LoginFailure.objects.count() == 5  # the refused attempt is not stored, so it cannot extend the lock
    assert AuditEvent.objects.count() == audited


def test_the_lock_lifts_when_the_window_has_passed(api, poll_worker, tablet):
    for _ in range(5):
        attempt(api, "worker")
    LoginFailure.objects.update(occurred_at=timezone.now() - dt.timedelta(minutes=15, seconds=1))
    assert tablet_login(api, poll_worker, tablet).status_code == 200


def test_an_unknown_username_locks_exactly_like_a_real_one(api, poll_worker):
    real = [attempt(api, "worker").status_code for _ in range(6)]
    ghost = [attempt(api, "ghost").status_code for _ in range(6)]
    assert real == ghost == [401] * 5 + [429]


def test_the_account_count_ignores_case_and_surrounding_spaces(api, poll_worker):
    for name in ["worker", "WORKER", " Worker ", "worKer", "WoRkEr"]:
        attempt(api, name)
    assert attempt(api, "worker").status_code == 429


def test_a_successful_sign_in_clears_the_accounts_failures_but_not_the_addresses(api, poll_worker, tablet, settings):
    for _ in range(4):
        attempt(api, "worker")
    assert tablet_login(api, poll_worker, tablet).status_code == 200
    for _ in range(4):
        assert attempt(api, "worker").status_code == 401
    assert LoginFailure.objects.filter(account_cleared=True).count() == 4
    settings.AUTH_LOCKOUT_PER_ADDRESS = 8
    assert attempt(api, "someone-else").status_code == 429


def test_after_twenty_failures_from_one_address_every_account_is_refused_from_it(api, poll_worker, tablet):
    for n in range(20):
        assert attempt(api, f"guess{n}").status_code == 401
    assert tablet_login(api, poll_worker, tablet).status_code == 429
    # Another address is not affected.
    response = attempt(api, "guess0", REMOTE_ADDR="198.51.100.9")
    assert response.status_code == 401


def test_the_limits_are_configurable(api, db, settings):
    settings.AUTH_LOCKOUT_PER_ACCOUNT = 2
    assert [attempt(api, "x").status_code for _ in range(3)] == [401, 401, 429]


def test_each_further_batch_of_failures_doubles_the_window(db):
    now = timezone.now()
    # Five failures 20 minutes ago (the first lock has lapsed) and five more just now: the window is 30 minutes.
    for minutes in [20] * 5 + [1] * 5:
        LoginFailure.objects.create(occurred_at=now - dt.timedelta(minutes=minutes), username="worker", reason="x")
    wait = login_retry_after(username="worker", ip=None, now=now)
    assert 28 * 60 < wait <= 29 * 60


def test_the_doubling_stops_at_the_longest_window(settings):
    now = timezone.now()
    times = [now - dt.timedelta(seconds=n) for n in range(5 * 12)]
    assert _lockout_seconds(times, 5, now) == settings.AUTH_LOCKOUT_MAX_WINDOW_S - 4
    assert _lockout_seconds(times[:4], 5, now) == 0


def test_attempts_still_in_flight_count_so_parallel_guesses_cannot_exceed_the_limit(api, db):
    # Five other requests for this account have written their attempt but not finished checking the password.
    for _ in range(5):
        LoginFailure.objects.create(username="worker", ip_address="192.0.2.1")
    response = attempt(api, "worker")
    assert response.status_code == 429
    assert LoginFailure.objects.filter(reason="pending").count() == 5


# --- client addresses through proxies -------------------------------------------------------------------------------


def with_proxies(settings, count):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": count}
    settings.AUTH_LOCKOUT_PER_ADDRESS = 3


def test_without_trusted_proxies_a_forged_forwarded_for_earns_no_extra_attempts(api, db, settings):
    with_proxies(settings, 0)
    codes = [attempt(api, f"u{n}", HTTP_X_FORWARDED_FOR=f"203.0.113.{n}").status_code for n in range(4)]
    assert codes == [401, 401, 401, 429]
    assert set(LoginFailure.objects.values_list("ip_address", flat=True)) == {"127.0.0.1"}


def test_behind_one_proxy_only_the_address_it_saw_counts(api, db, settings):
    with_proxies(settings, 1)
    # The client prepends made-up addresses; our proxy appends the one it saw (198.51.100.7).
    codes = [
        attempt(api, f"u{n}", HTTP_X_FORWARDED_FOR=f"203.0.113.{n}, 10.0.0.{n}, 198.51.100.7").status_code
        for n in range(4)
    ]
    assert codes == [401, 401, 401, 429]
    assert set(LoginFailure.objects.values_list("ip_address", flat=True)) == {"198.51.100.7"}
    # A different client behind the same proxy is counted on its own.
    assert attempt(api, "u9", HTTP_X_FORWARDED_FOR="198.51.100.8").status_code == 401


@pytest.mark.parametrize(
    ("proxies", "forwarded", "client"),
    [
        (1, "", "127.0.0.1"),  # no header: the request did not pass our proxy (a local process); the peer asks
        (1, "1.2.3.4, ,", "1.2.3.4"),  # empty hops are no hops
        # A hop that is no address is no client address at all — never the proxy's own (loopback) address, which
        # the limits' allow-list and geographic exclusion trust. The account is still counted.
        (1, "not-an-address", None),
        (2, "garbage, 203.0.113.9", "203.0.113.9"),  # stop at the first hop that is not an address
        # Fewer hops than trusted proxies (an outer proxy bypassed): the address our innermost proxy saw.
        (2, "203.0.113.9", "203.0.113.9"),
        (3, "198.51.100.1, 203.0.113.9", "198.51.100.1"),
    ],
)
def test_behind_a_proxy_a_short_or_garbled_forwarded_for(api, db, settings, proxies, forwarded, client):
    with_proxies(settings, proxies)
    attempt(api, "u", HTTP_X_FORWARDED_FOR=forwarded)
    assert LoginFailure.objects.get().ip_address == client


def test_tablet_enrolment_guesses_share_the_address_limit(api, db, settings):
    settings.AUTH_LOCKOUT_PER_ADDRESS = 3
    codes = [api.post("/api/v1/auth/devices/enrol/", {"code": f"AAAAA-BBBB{n}"}, format="json") for n in range(4)]
    assert [r.status_code for r in codes] == [400, 400, 400, 429]
    assert codes[0].json()["code"] == "invalid_enrolment_code"
    assert attempt(api, "someone").status_code == 429  # the address is locked for sign-ins too

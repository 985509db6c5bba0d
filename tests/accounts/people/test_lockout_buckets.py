"""Lockout per address bucket (issue 10): sign-in and tablet-enrolment failures are counted per IPv4 address and
per IPv6 /64 (an IPv4-mapped IPv6 address is its IPv4 address), the same buckets as the public throttle, so rotating
addresses within one subscriber's /64 earns nothing; enrolment-code guessing is locked like sign-in."""

from __future__ import annotations

import uuid

import pytest

from accounts.models import LoginFailure
from common.net import address_bucket

TOKEN = "/api/v1/auth/token/"
ENROL = "/api/v1/auth/devices/enrol/"


@pytest.mark.parametrize(
    ("ip", "bucket"),
    [
        ("192.0.2.7", "192.0.2.7"),
        ("2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"),
        ("2001:DB8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::/64"),
        ("::ffff:192.0.2.7", "192.0.2.7"),
        ("not an address", "not an address"),
        (None, None),
        ("", ""),
    ],
)
def test_the_address_bucket(ip, bucket):
    assert address_bucket(ip) == bucket


def attempt(api, n, ip, username=None):
    body = {"username": username or f"guess{n}", "password": "wrong", "device_id": str(uuid.uuid4())}
    return api.post(TOKEN, body, format="json", REMOTE_ADDR=ip)


def enrol(api, n, ip):
    return api.post(ENROL, {"code": f"AAAAA-BBBB{n % 10}"}, format="json", REMOTE_ADDR=ip)


@pytest.mark.django_db
def test_sign_in_failures_from_one_ipv6_64_are_counted_together(api, settings):
    settings.AUTH_LOCKOUT_PER_ADDRESS = 3
    codes = [attempt(api, n, f"2001:db8:1:2::{n + 1:x}").status_code for n in range(4)]
    assert codes == [401, 401, 401, 429]
    # The failure rows keep each full address; the neighbouring /64 is another subscriber.
    assert LoginFailure.objects.values("ip_address").distinct().count() == 3
    assert attempt(api, 9, "2001:db8:1:3::1").status_code == 401


@pytest.mark.django_db
def test_an_ipv4_mapped_address_counts_as_its_ipv4_address(api, settings):
    settings.AUTH_LOCKOUT_PER_ADDRESS = 2
    assert attempt(api, 0, "198.51.100.4").status_code == 401
    assert attempt(api, 1, "::ffff:198.51.100.4").status_code == 401
    assert attempt(api, 2, "198.51.100.4").status_code == 429


@pytest.mark.django_db
def test_enrolment_code_guesses_from_one_ipv6_64_are_locked(api, settings):
    settings.AUTH_LOCKOUT_PER_ADDRESS = 3
    codes = [enrol(api, n, f"2001:db8:9:9:{n + 1:x}::1").status_code for n in range(4)]
    assert codes == [400, 400, 400, 429]
    refused = enrol(api, 5, "2001:db8:9:9:ffff::1")
    assert refused.json()["code"] == "too_many_attempts" and refused.json()["retry_after_s"] > 0
    # and the /64 is locked out of signing in too
    assert attempt(api, 0, "2001:db8:9:9::abcd").status_code == 429


@pytest.mark.django_db
def test_the_public_throttle_and_the_lockout_share_one_bucket_rule(rf):
    from common.api.throttles import PublicThrottle

    request = rf.get("/", REMOTE_ADDR="2001:db8:1:2::99")
    from rest_framework.request import Request

    key = PublicThrottle().get_cache_key(Request(request), None)
    assert key.endswith(address_bucket("2001:db8:1:2::1"))

"""Requests that race, run for real on PostgreSQL (separate connections, committed transactions): a TOTP code spent
by two sign-ins at once works once, and a burst of parallel password guesses cannot exceed the lockout limit."""

from __future__ import annotations

import uuid

import pytest
from django.db import connection
from rest_framework.test import APIClient

from accounts.models import ApiSession, LoginFailure
from tests.helpers import in_parallel, seed_reference_data
from tests.people import PASSWORD, T0, enrol_totp, frozen_time, totp_code

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="needs concurrent connections (PostgreSQL)"),
]

TOKEN = "/api/v1/auth/token/"


@pytest.fixture
def seeded():
    """The jurisdictions migration 0002 seeds (a flush after an earlier transactional test may have removed them)."""
    seed_reference_data()


def test_one_totp_code_sent_by_two_sign_ins_at_once_works_once(seeded):
    from tests.factories import CountyFactory, RoleGrantFactory, UserFactory

    user = UserFactory(username="racer")
    RoleGrantFactory(user=user, role="commissioner", county=CountyFactory(), polling_place=None, election=None)
    enrol_totp(user)
    code = totp_code(T0)

    def sign_in(_: int) -> int:
        body = {"username": "racer", "password": PASSWORD, "otp": code, "device_id": str(uuid.uuid4())}
        return APIClient().post(TOKEN, body, format="json").status_code

    with frozen_time(T0):
        statuses = in_parallel(4, sign_in)

    assert sorted(statuses) == [200, 401, 401, 401]
    assert ApiSession.objects.filter(user=user).count() == 1


def test_a_burst_of_parallel_guesses_gets_no_more_than_the_limit(seeded):
    def guess(i: int) -> int:
        body = {"username": "target", "password": f"guess {i}", "device_id": str(uuid.uuid4())}
        return APIClient().post(TOKEN, body, format="json").status_code

    statuses = in_parallel(12, guess)

    assert statuses.count(401) <= 5
    assert statuses.count(401) + statuses.count(429) == 12
    assert LoginFailure.objects.filter(username="target").exclude(reason="pending").count() <= 5

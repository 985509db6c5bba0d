"""A right password is no success until the second step (issue 10): for an account that still needs a one-time
code or a tablet, a right password without it is counted as a failure and answered exactly as a wrong password is
(status, code, detail, headers), so a password cannot be confirmed, or guessed without limit, without that step."""

from __future__ import annotations

import uuid

import pytest

from accounts.models import LoginFailure
from tests.people import PASSWORD, T0, enrol_totp, frozen_time, totp_code

TOKEN = "/api/v1/auth/token/"


def login(api, username, password, **extra):
    body = {"username": username, "password": password, "device_id": str(uuid.uuid4())} | extra
    return api.post(TOKEN, body, format="json")


def answer(response):
    return response.status_code, response.json(), response.headers.get("WWW-Authenticate")


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("who", "extra"),
    [
        ("commissioner", {}),  # no code
        ("commissioner", {"otp": "000000"}),  # a wrong code
        ("state_admin", {"otp": "not-a-code"}),
        ("poll_worker", {}),  # no tablet
        ("poll_worker", {"device_secret": "pgd_forged"}),  # a forged tablet secret
    ],
)
def test_a_right_password_without_its_second_step_is_answered_as_a_wrong_one_and_counted(request, api, who, extra):
    user = request.getfixturevalue(who)
    if who != "poll_worker":
        enrol_totp(user)
    with frozen_time(T0):
        wrong = login(api, user.username, "not the password", **extra)
        right = login(api, user.username, PASSWORD, **extra)
    assert answer(right) == answer(wrong)
    assert answer(right)[:2] == (401, {"detail": "Invalid username or password.", "code": "invalid_credentials"})
    assert LoginFailure.objects.count() == 2  # both counted


@pytest.mark.django_db
def test_five_right_passwords_without_a_code_lock_the_account(api, commissioner):
    enrol_totp(commissioner)
    for _ in range(5):
        assert login(api, commissioner.username, PASSWORD).status_code == 401
    with frozen_time(T0):
        locked = login(api, commissioner.username, PASSWORD, otp=totp_code(T0))
    assert locked.status_code == 429 and locked.json()["code"] == "too_many_attempts"


@pytest.mark.django_db
def test_the_second_step_succeeding_clears_the_accounts_count(api, commissioner):
    enrol_totp(commissioner)
    for _ in range(4):
        login(api, commissioner.username, PASSWORD)
    with frozen_time(T0):
        assert login(api, commissioner.username, PASSWORD, otp=totp_code(T0)).status_code == 200
    assert not LoginFailure.objects.filter(account_cleared=False).exists()


@pytest.mark.django_db
def test_a_tablet_of_another_place_says_so_but_counts_the_attempt(api, poll_worker, other_tablet):
    """Only a holder of an enrolled tablet's secret hears ``not_assigned_here``; it is counted all the same, so a
    tablet cannot test other places' workers' passwords without limit."""
    device, secret = other_tablet
    response = login(api, poll_worker.username, PASSWORD, device_id=str(device.pk), device_secret=secret)
    assert response.status_code == 403 and response.json()["code"] == "not_assigned_here"
    assert LoginFailure.objects.get().reason == "not_assigned_here"

"""The second factor: TOTP (30 s steps, ±1 step, no replay), single-use recovery codes, and first enrolment."""

from __future__ import annotations

import base64
import datetime as dt
import uuid

import pytest
from django.utils import timezone
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import ApiSession, AuditEvent, LoginFailure
from tests.helpers import audit_actions, last_audit_pk
from tests.people import PASSWORD, T0, enrol_totp, frozen_time, totp_code

TOKEN = "/api/v1/auth/token/"
START = "/api/v1/auth/totp/"
CONFIRM = "/api/v1/auth/totp/confirm/"


def login(api, user, otp, **extra):
    body = {"username": user.username, "password": PASSWORD, "otp": otp, "device_id": str(uuid.uuid4())} | extra
    return api.post(TOKEN, body, format="json")


@pytest.mark.parametrize(
    ("offset_s", "accepted"),
    [(0, True), (-30, True), (30, True), (-60, False), (60, False), (-29 * 60, False)],
)
def test_a_code_is_accepted_one_step_either_side_of_our_clock_and_no_further(api, commissioner, offset_s, accepted):
    enrol_totp(commissioner)
    with frozen_time(T0):
        response = login(api, commissioner, totp_code(T0 + offset_s))
    assert response.status_code == (200 if accepted else 401)
    assert ApiSession.objects.exists() is accepted


def test_a_code_cannot_be_replayed_within_its_step(api, commissioner):
    enrol_totp(commissioner)
    code = totp_code(T0)
    with frozen_time(T0):
        assert login(api, commissioner, code).status_code == 200
    with frozen_time(T0 + 5):
        response = login(api, commissioner, code)
    # Answered as a wrong password is (a right password is no success until the second factor is).
    assert response.status_code == 401 and response.json()["code"] == "invalid_credentials"
    assert ApiSession.objects.count() == 1


def test_after_a_code_is_used_an_older_one_is_refused_even_inside_the_window(api, commissioner):
    enrol_totp(commissioner)
    with frozen_time(T0):
        assert login(api, commissioner, totp_code(T0 + 30)).status_code == 200
        assert login(api, commissioner, totp_code(T0)).status_code == 401


def test_drift_is_not_learned_so_the_window_stays_centred_on_our_clock(api, commissioner):
    device = enrol_totp(commissioner)
    with frozen_time(T0):
        assert login(api, commissioner, totp_code(T0 + 30)).status_code == 200
    device.refresh_from_db()
    assert device.drift == 0


def test_a_recovery_code_works_once(api, commissioner):
    enrol_totp(commissioner)
    static = StaticDevice.objects.create(user=commissioner, name="Recovery codes", confirmed=True)
    StaticToken.objects.create(device=static, token="abcd2345")
    StaticToken.objects.create(device=static, token="wxyz6789")

    first = login(api, commissioner, "ABCD-2345")
    second = login(api, commissioner, "abcd2345")

    assert first.status_code == 200
    assert ApiSession.objects.get().mfa_method == "recovery_code"
    assert second.status_code == 401 and second.json()["code"] == "invalid_credentials"
    assert list(static.token_set.values_list("token", flat=True)) == ["wxyz6789"]
    assert LoginFailure.objects.get().reason == "bad_otp"


# --- first enrolment ----------------------------------------------------------------------------------------------


def test_a_commissioner_enrols_an_authenticator_confirms_it_and_is_signed_in(api, commissioner):
    device_id = str(uuid.uuid4())
    creds = {"username": "commish", "password": PASSWORD, "device_id": device_id}
    since = last_audit_pk()

    started = api.post(START, creds, format="json")

    assert started.status_code == 201, started.json()
    body = started.json()
    assert body["otpauth_uri"].startswith("otpauth://totp/Pollguard%3Acommish?")
    assert f"secret={body['secret']}" in body["otpauth_uri"]
    pending = TOTPDevice.objects.get(user=commissioner)
    assert pending.confirmed is False and pending.step == 30 and pending.tolerance == 1
    key = base64.b32decode(body["secret"]).hex()
    assert key == pending.key

    with frozen_time(T0):
        confirmed = api.post(CONFIRM, creds | {"otp": totp_code(T0, key=key)}, format="json")

    assert confirmed.status_code == 200, confirmed.json()
    out = confirmed.json()
    assert len(out["recovery_codes"]) == 10 and len(set(out["recovery_codes"])) == 10
    pending.refresh_from_db()
    assert pending.confirmed is True
    assert StaticToken.objects.filter(device__user=commissioner).count() == 10
    assert audit_actions(since) == ["auth.totp_enrolment_started", "auth.totp_enrolled", "auth.login"]
    assert body["secret"] not in str(list(AuditEvent.objects.values_list("after", flat=True)))
    me = api.get("/api/v1/auth/me/", HTTP_AUTHORIZATION=f"Bearer {out['token']}", HTTP_X_DEVICE_ID=device_id)
    assert me.status_code == 200

    # From now on: code required, and a recovery code works in its place.
    assert login(api, commissioner, "").json()["code"] == "invalid_credentials"
    assert login(api, commissioner, out["recovery_codes"][0]).status_code == 200
    # A confirmed authenticator cannot be replaced through this path.
    again = api.post(START, creds, format="json")
    assert again.status_code == 409 and again.json()["code"] == "otp_already_enrolled"


def test_enrolment_needs_the_password(api, commissioner):
    response = api.post(
        START, {"username": "commish", "password": "wrong", "device_id": str(uuid.uuid4())}, format="json"
    )
    assert response.status_code == 401 and response.json()["code"] == "invalid_credentials"
    assert not TOTPDevice.objects.exists()
    assert LoginFailure.objects.get().kind == "totp"


def test_enrolment_is_for_administrators_and_commissioners_only(api, poll_worker):
    response = api.post(
        START, {"username": "worker", "password": PASSWORD, "device_id": str(uuid.uuid4())}, format="json"
    )
    assert response.status_code == 400 and response.json()["code"] == "otp_not_required"
    assert not TOTPDevice.objects.exists()


def test_a_wrong_confirmation_code_is_refused_and_counted(api, commissioner):
    creds = {"username": "commish", "password": PASSWORD, "device_id": str(uuid.uuid4())}
    api.post(START, creds, format="json")
    with frozen_time(T0):
        response = api.post(CONFIRM, creds | {"otp": "000000"}, format="json")
    assert response.status_code == 400 and response.json()["code"] == "otp_invalid"
    assert TOTPDevice.objects.get().confirmed is False
    assert not StaticDevice.objects.exists() and not ApiSession.objects.exists()
    assert LoginFailure.objects.get().reason == "bad_otp"


def test_an_enrolment_left_unconfirmed_too_long_expires(api, commissioner):
    creds = {"username": "commish", "password": PASSWORD, "device_id": str(uuid.uuid4())}
    secret = api.post(START, creds, format="json").json()["secret"]
    TOTPDevice.objects.update(created_at=timezone.now() - dt.timedelta(minutes=11))
    code = totp_code(T0, key=base64.b32decode(secret).hex())
    with frozen_time(T0):
        response = api.post(CONFIRM, creds | {"otp": code}, format="json")
    assert response.status_code == 400 and response.json()["code"] == "otp_enrolment_expired"
    assert TOTPDevice.objects.get().confirmed is False

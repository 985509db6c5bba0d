"""Signing in and out: POST/DELETE /api/v1/auth/token/ and the bearer-token authentication of every staff request."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import uuid
from unittest import mock

import pytest
from django.contrib.auth.hashers import MD5PasswordHasher
from django.utils import timezone

from accounts.models import ApiSession, AuditEvent, LoginFailure
from tests.factories import ElectionFactory, RoleGrantFactory, UserFactory
from tests.helpers import audit_actions, last_audit_pk
from tests.people import PASSWORD, T0, enrol_totp, frozen_time, make_tablet, signed_in, totp_code

TOKEN = "/api/v1/auth/token/"
ME = "/api/v1/auth/me/"


def login(api, username, password=PASSWORD, **extra):
    body = {"username": username, "password": password, "device_id": str(extra.pop("device_id", uuid.uuid4()))}
    body.update(extra)
    return api.post(TOKEN, body, format="json")


def staff_login(api, user, at=T0, **extra):
    enrol_totp(user)
    with frozen_time(at):
        return login(api, user.username, otp=totp_code(at), **extra)


# --- staff --------------------------------------------------------------------------------------------------------


def test_a_commissioner_signs_in_with_password_and_totp_and_gets_a_hashed_device_bound_token(api, commissioner):
    device_id = uuid.uuid4()
    since = last_audit_pk()

    response = staff_login(api, commissioner, device_id=device_id)

    assert response.status_code == 200, response.json()
    body = response.json()
    token = body["token"]
    assert token.startswith("pgt_") and len(token) > 40
    session = ApiSession.objects.get()
    assert session.key_hash == hashlib.sha256(token.encode()).hexdigest()
    assert session.key_prefix == token[4:12]
    assert session.client_device_id == device_id and session.mfa_method == "totp"
    assert token not in json.dumps(list(ApiSession.objects.values()), default=str)
    lifetime = session.expires_at - session.created_at
    assert lifetime == dt.timedelta(hours=12)
    assert body["expires_at"] == session.expires_at.isoformat().replace("+00:00", "Z")
    assert audit_actions(since) == ["auth.login"]
    assert not LoginFailure.objects.exists()

    me = api.get(ME, HTTP_AUTHORIZATION=f"Bearer {token}", HTTP_X_DEVICE_ID=str(device_id))
    assert me.status_code == 200 and me.json()["user"]["username"] == commissioner.username


def test_the_token_lifetime_is_configurable(api, state_admin, settings):
    settings.AUTH_TOKEN_TTL_STAFF_S = 600
    assert staff_login(api, state_admin).status_code == 200
    session = ApiSession.objects.get()
    assert session.expires_at - session.created_at == dt.timedelta(minutes=10)


def test_a_commissioner_without_a_code_is_answered_as_a_wrong_password_and_the_refusal_is_audited(api, commissioner):
    enrol_totp(commissioner)
    since = last_audit_pk()

    response = login(api, commissioner.username)

    assert response.status_code == 401
    # The same answer as a wrong password: a right password is not confirmed without the second factor.
    assert response.json() == {"detail": "Invalid username or password.", "code": "invalid_credentials"}
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert not ApiSession.objects.exists()
    assert audit_actions(since) == ["auth.login_failed"]
    assert AuditEvent.objects.last().after["reason"] == "otp_required"
    assert LoginFailure.objects.get().reason == "otp_required"  # counted until the second step succeeds


def test_a_wrong_code_is_refused_and_counted(api, commissioner):
    enrol_totp(commissioner)
    with frozen_time(T0):
        response = login(api, commissioner.username, otp=totp_code(T0 + 3600))
    assert response.status_code == 401 and response.json()["code"] == "invalid_credentials"
    assert not ApiSession.objects.exists()
    assert LoginFailure.objects.get().reason == "bad_otp"


def test_a_commissioner_without_an_authenticator_is_told_to_enrol(api, commissioner):
    response = login(api, commissioner.username, otp="123456")
    assert response.status_code == 401 and response.json()["code"] == "otp_enrolment_required"
    assert not ApiSession.objects.exists()


def test_a_user_without_any_active_role_cannot_sign_in(api, outsider):
    since = last_audit_pk()
    response = login(api, outsider.username)
    assert response.status_code == 403 and response.json()["code"] == "no_active_role"
    assert not ApiSession.objects.exists()
    assert audit_actions(since) == ["auth.login_failed"]


# --- no user enumeration ------------------------------------------------------------------------------------------


def test_an_unknown_user_and_a_wrong_password_get_the_same_answer_and_the_same_hashing(api, poll_worker):
    calls = []
    real_verify = MD5PasswordHasher.verify

    def counting_verify(self, password, encoded):
        calls.append(1)
        return real_verify(self, password, encoded)

    with mock.patch.object(MD5PasswordHasher, "verify", counting_verify):
        wrong_password = login(api, poll_worker.username, "not the password")
        hashed_for_known = len(calls)
        unknown_user = login(api, "no-such-user", "not the password")
        hashed_for_unknown = len(calls) - hashed_for_known

    assert wrong_password.status_code == unknown_user.status_code == 401
    assert (
        wrong_password.json()
        == unknown_user.json()
        == {
            "detail": "Invalid username or password.",
            "code": "invalid_credentials",
        }
    )
    assert hashed_for_known == hashed_for_unknown == 1
    assert sorted(LoginFailure.objects.values_list("reason", flat=True)) == ["bad_password", "unknown_user"]


def test_a_disabled_user_with_the_right_password_gets_the_same_answer(api, poll_worker, tablet):
    poll_worker.is_active = False
    poll_worker.save()
    device, secret = tablet
    response = login(api, poll_worker.username, device_id=device.pk, device_secret=secret)
    assert response.status_code == 401 and response.json()["code"] == "invalid_credentials"
    assert LoginFailure.objects.get().reason == "inactive"


def test_failed_sign_ins_are_audited_without_the_password(api, poll_worker):
    since = last_audit_pk()
    login(api, poll_worker.username, "Hunter2-secret-guess")
    login(api, "ghost", "Hunter2-secret-guess")

    events = list(AuditEvent.objects.filter(pk__gt=since))
    assert [e.action for e in events] == ["auth.login_failed", "auth.login_failed"]
    assert events[0].actor is None and events[0].object_id == str(poll_worker.pk)
    assert events[0].after == {"username": "worker", "kind": "login", "reason": "bad_password"}
    assert events[1].object_id == "" and events[1].after["reason"] == "unknown_user"
    assert all(e.ip_address == "127.0.0.1" for e in events)
    assert "Hunter2" not in json.dumps([e.after for e in events])


def test_the_username_is_case_insensitive(api, poll_worker, tablet):
    device, secret = tablet
    response = login(api, "WORKER", device_id=device.pk, device_secret=secret)
    assert response.status_code == 200


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"username": "x", "password": "y"},
        {"username": "x", "password": "y", "device_id": "not-a-uuid"},
        {"username": "", "password": "y", "device_id": str(uuid.uuid4())},
        {"username": "x" * 151, "password": "y", "device_id": str(uuid.uuid4())},
    ],
)
def test_malformed_sign_ins_are_400_and_leave_no_trace(api, db, body):
    response = api.post(TOKEN, body, format="json")
    assert response.status_code == 400 and response.json()["code"] == "invalid"
    assert not LoginFailure.objects.exists() and not AuditEvent.objects.exists()


# --- poll workers on tablets --------------------------------------------------------------------------------------


def test_a_poll_worker_signs_in_on_an_enrolled_tablet_of_their_polling_place(api, poll_worker, tablet):
    device, secret = tablet
    response = login(api, poll_worker.username, device_id=device.pk, device_secret=secret)

    assert response.status_code == 200, response.json()
    session = ApiSession.objects.get()
    assert session.device == device and session.client_device_id == device.pk
    assert session.expires_at - session.created_at == dt.timedelta(hours=16)
    device.refresh_from_db()
    assert device.last_seen_at is not None


def test_a_poll_manager_signs_in_on_a_tablet_too(api, poll_manager, tablet):
    device, secret = tablet
    assert login(api, poll_manager.username, device_id=device.pk, device_secret=secret).status_code == 200


def test_a_poll_worker_without_a_tablet_is_refused(api, poll_worker):
    since = last_audit_pk()
    response = login(api, poll_worker.username)
    assert response.status_code == 401 and response.json()["code"] == "invalid_credentials"  # as a wrong password
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert not ApiSession.objects.exists()
    assert AuditEvent.objects.filter(pk__gt=since).get().after["reason"] == "tablet_required"


def test_a_tablet_secret_must_match_its_device_id(api, poll_worker, tablet, other_tablet):
    device, _ = tablet
    _, other_secret = other_tablet
    response = login(api, poll_worker.username, device_id=device.pk, device_secret=other_secret)
    assert response.status_code == 401 and response.json()["code"] == "invalid_credentials"  # as a wrong password
    response = login(api, poll_worker.username, device_id=device.pk, device_secret="pgd_forged")
    assert response.status_code == 401 and response.json()["code"] == "invalid_credentials"
    assert not ApiSession.objects.exists()


def test_a_poll_worker_cannot_sign_in_on_another_polling_places_tablet(api, poll_worker, other_tablet):
    device, secret = other_tablet
    response = login(api, poll_worker.username, device_id=device.pk, device_secret=secret)
    assert response.status_code == 403 and response.json()["code"] == "not_assigned_here"
    assert not ApiSession.objects.exists()


@pytest.mark.parametrize(("days_ahead", "allowed"), [(-1, False), (0, True), (7, True), (8, False)])
def test_a_poll_worker_signs_in_from_a_week_before_their_election_to_its_day(
    api, place, commissioner, today, mississippi, days_ahead, allowed
):
    election = ElectionFactory(jurisdiction=mississippi, date=today + dt.timedelta(days=days_ahead))
    grant = RoleGrantFactory(polling_place=place, election=election)
    device, secret = make_tablet(place, commissioner)

    response = login(api, grant.user.username, device_id=device.pk, device_secret=secret)

    assert response.status_code == (200 if allowed else 403)
    assert ApiSession.objects.exists() is allowed


def test_a_tablet_bound_to_an_election_serves_only_that_election(
    api, place, commissioner, election, mississippi, today
):
    other = ElectionFactory(jurisdiction=mississippi, name="Runoff", date=today + dt.timedelta(days=1))
    device, secret = make_tablet(place, commissioner, election=other)
    worker = RoleGrantFactory(polling_place=place, election=election).user
    response = login(api, worker.username, device_id=device.pk, device_secret=secret)
    assert response.status_code == 403 and response.json()["code"] == "not_assigned_here"


def test_an_ended_grant_no_longer_lets_a_poll_worker_sign_in(api, poll_worker, tablet):
    poll_worker.grants.update(ended_at=timezone.now())
    device, secret = tablet
    response = login(api, poll_worker.username, device_id=device.pk, device_secret=secret)
    assert response.status_code == 403 and response.json()["code"] == "no_active_role"


# --- using the token ----------------------------------------------------------------------------------------------


def test_a_request_without_a_token_is_401_with_a_bearer_challenge(api, db):
    response = api.get(ME)
    assert response.status_code == 401 and response.json()["code"] == "not_authenticated"
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="api"'


def test_a_token_used_from_another_device_is_refused(poll_worker):
    client = signed_in(poll_worker)
    assert client.get(ME).status_code == 200
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {client.token}", HTTP_X_DEVICE_ID=str(uuid.uuid4()))
    response = client.get(ME)
    assert response.status_code == 401 and response.json()["code"] == "device_mismatch"
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {client.token}")  # no X-Device-Id at all
    response = client.get(ME)
    assert response.status_code == 401 and response.json()["code"] == "device_mismatch"


def test_an_expired_token_is_refused(poll_worker):
    client = signed_in(poll_worker)
    ApiSession.objects.filter(pk=client.session_obj.pk).update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    response = client.get(ME)
    assert response.status_code == 401 and response.json()["code"] == "token_expired"


@pytest.mark.parametrize(
    "header",
    [
        "Bearer pgt_" + "A" * 43,  # well-formed, never issued
        "Bearer not-one-of-ours",
        "Bearer pgt_x extra",
        "Bearer " + "pgt_" + "x" * 200,
        "Bearer",
    ],
)
def test_a_forged_or_malformed_token_is_refused(api, poll_worker, header):
    signed_in(poll_worker)  # a real session exists; the forged token must not reach it
    response = api.get(ME, HTTP_AUTHORIZATION=header, HTTP_X_DEVICE_ID=str(uuid.uuid4()))
    assert response.status_code == 401 and response.json()["code"] == "invalid_token"


def test_a_token_with_one_character_changed_is_refused(poll_worker):
    client = signed_in(poll_worker)
    forged = client.token[:-1] + ("A" if client.token[-1] != "A" else "B")
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {forged}", HTTP_X_DEVICE_ID=str(client.session_obj.client_device_id))
    response = client.get(ME)
    assert response.status_code == 401 and response.json()["code"] == "invalid_token"


def test_last_used_is_written_at_most_once_a_minute(poll_worker):
    client = signed_in(poll_worker)
    session = client.session_obj
    old = timezone.now() - dt.timedelta(minutes=5)
    ApiSession.objects.filter(pk=session.pk).update(last_used_at=old)

    client.get(ME)
    session.refresh_from_db()
    first = session.last_used_at
    assert first > old
    client.get(ME)
    session.refresh_from_db()
    assert session.last_used_at == first


# --- signing out --------------------------------------------------------------------------------------------------


def test_signing_out_ends_the_session_and_the_token_is_refused_at_once(poll_worker):
    client = signed_in(poll_worker)
    since = last_audit_pk()

    response = client.delete(TOKEN)

    assert response.status_code == 204
    session = ApiSession.objects.get(pk=client.session_obj.pk)
    assert session.ended_at is not None and session.end_reason == "logout" and session.ended_by == poll_worker
    assert audit_actions(since) == ["auth.logout"]
    event = AuditEvent.objects.last()
    assert event.before["ended_at"] is None and event.after["end_reason"] == "logout"
    response = client.get(ME)
    assert response.status_code == 401 and response.json()["code"] == "session_ended"


def test_signing_out_needs_a_token(api, db):
    response = api.delete(TOKEN)
    assert response.status_code == 401 and response.json()["code"] == "not_authenticated"
    assert not AuditEvent.objects.exists()


def test_signing_out_ends_only_that_session(poll_worker):
    first, second = signed_in(poll_worker), signed_in(poll_worker)
    assert first.delete(TOKEN).status_code == 204
    assert second.get(ME).status_code == 200


def test_a_stale_token_does_not_stop_a_new_sign_in(api, poll_worker, tablet):
    device, secret = tablet
    response = api.post(
        TOKEN,
        {"username": "worker", "password": PASSWORD, "device_id": str(device.pk), "device_secret": secret},
        format="json",
        HTTP_AUTHORIZATION="Bearer pgt_stale",
    )
    assert response.status_code == 200


def test_me_lists_the_callers_active_roles(api, commissioner, county):
    UserFactory(username="bystander")
    response = signed_in(commissioner).get(ME)
    assert response.status_code == 200
    body = response.json()
    assert [(g["role"], g["county"]) for g in body["grants"]] == [("commissioner", county.pk)]
    assert body["session"]["current"] is True


def test_an_account_without_a_usable_password_costs_the_same_hashing(api, poll_worker):
    poll_worker.set_unusable_password()
    poll_worker.save()
    calls = []
    real_verify = MD5PasswordHasher.verify
    with mock.patch.object(MD5PasswordHasher, "verify", lambda *a: calls.append(1) or real_verify(*a)):
        response = login(api, poll_worker.username, "")
    assert response.status_code == 400  # a blank password is not even tried
    with mock.patch.object(MD5PasswordHasher, "verify", lambda *a: calls.append(1) or real_verify(*a)):
        response = login(api, poll_worker.username, "anything")
    assert response.json()["code"] == "invalid_credentials" and calls == [1]

"""The admin site for people and access: read-only trails, audited actions and audited user edits."""

from __future__ import annotations

import pytest
from django.test import Client

from accounts.models import ApiSession, AuditEvent, Device, Role, RoleGrant
from tests.factories import TEST_PASSWORD, UserFactory
from tests.helpers import audit_actions, last_audit_pk, live_sessions
from tests.people import sign_in_to_admin, signed_in


@pytest.fixture
def admin_client(db):
    superuser = UserFactory(username="root", is_staff=True, is_superuser=True)
    client = sign_in_to_admin(Client(), superuser, TEST_PASSWORD)
    client.user = superuser
    return client


@pytest.mark.parametrize("model", ["auditevent", "rolegrant", "device", "apisession", "enrolmentcode", "loginfailure"])
def test_the_changelists_load(admin_client, poll_worker, tablet, model):
    signed_in(poll_worker)
    assert admin_client.get(f"/admin/accounts/{model}/").status_code == 200


def test_the_audit_trail_cannot_be_added_to_edited_or_deleted_in_the_admin(admin_client, poll_worker):
    signed_in(poll_worker)
    event = AuditEvent.objects.get()
    assert admin_client.get("/admin/accounts/auditevent/add/").status_code == 403
    assert admin_client.post(f"/admin/accounts/auditevent/{event.pk}/delete/", {"post": "yes"}).status_code == 403
    page = admin_client.get(f"/admin/accounts/auditevent/{event.pk}/change/")
    assert page.status_code == 200 and b'name="_save"' not in page.content
    assert AuditEvent.objects.filter(pk=event.pk).exists()


def test_secrets_are_not_shown_in_the_admin(admin_client, poll_worker, tablet):
    session = signed_in(poll_worker).session_obj
    page = admin_client.get(f"/admin/accounts/apisession/{session.pk}/change/").content.decode()
    assert session.key_hash not in page
    device = tablet[0]
    assert device.secret_hash not in admin_client.get(f"/admin/accounts/device/{device.pk}/change/").content.decode()


def test_ending_grants_from_the_admin_is_audited(admin_client, poll_worker):
    grant = RoleGrant.objects.get(user=poll_worker, role=Role.POLL_WORKER)
    since = last_audit_pk()
    response = admin_client.post("/admin/accounts/rolegrant/", {"action": "end_grants", "_selected_action": [grant.pk]})
    assert response.status_code == 302
    grant.refresh_from_db()
    assert grant.ended_at is not None
    assert audit_actions(since) == ["grant.ended"]
    assert AuditEvent.objects.last().actor == admin_client.user


def test_revoking_tablets_from_the_admin_ends_their_sessions(admin_client, poll_worker, tablet):
    device = tablet[0]
    signed_in(poll_worker, device=device)
    admin_client.post("/admin/accounts/device/", {"action": "revoke_devices", "_selected_action": [device.pk]})
    assert Device.objects.get(pk=device.pk).revoked_at is not None
    assert live_sessions(poll_worker) == 0


def test_ending_sessions_from_the_admin(admin_client, poll_worker):
    session = signed_in(poll_worker).session_obj
    admin_client.post("/admin/accounts/apisession/", {"action": "end_sessions", "_selected_action": [session.pk]})
    assert ApiSession.objects.get(pk=session.pk).end_reason == "ended"


def test_disabling_a_user_in_the_admin_is_audited_and_ends_their_sessions(admin_client, poll_worker):
    signed_in(poll_worker)
    since = last_audit_pk()
    form = admin_client.get(f"/admin/accounts/user/{poll_worker.pk}/change/").context["adminform"].form
    data = {k: v for k, v in form.initial.items() if v is not None and k not in ("groups", "user_permissions")}
    data.pop("password", None)
    data.pop("is_active")  # an unticked checkbox is simply absent
    data |= {"last_login_0": "", "last_login_1": "", "date_joined_0": "2026-01-01", "date_joined_1": "00:00:00"}
    response = admin_client.post(f"/admin/accounts/user/{poll_worker.pk}/change/", data)

    assert response.status_code == 302, response.context["adminform"].form.errors
    poll_worker.refresh_from_db()
    assert poll_worker.is_active is False
    assert live_sessions(poll_worker) == 0
    assert audit_actions(since) == ["user.changed", "session.ended"]
    event = AuditEvent.objects.get(pk__gt=since, action="user.changed")
    assert event.before["is_active"] is True and event.after["is_active"] is False


def test_a_password_changed_in_the_admin_is_audited_and_ends_sessions(admin_client, poll_worker):
    signed_in(poll_worker)
    since = last_audit_pk()
    new = "a brand new passphrase 42"
    response = admin_client.post(
        f"/admin/accounts/user/{poll_worker.pk}/password/",
        {"password1": new, "password2": new, "usable_password": "true"},
    )
    assert response.status_code == 302
    poll_worker.refresh_from_db()
    assert poll_worker.check_password(new)
    assert audit_actions(since) == ["user.changed", "session.ended"]
    assert AuditEvent.objects.get(pk__gt=since, action="user.changed").after["password_changed"] is True
    assert new not in str(list(AuditEvent.objects.values_list("after", flat=True)))


@pytest.mark.django_db
def test_a_password_alone_does_not_open_the_admin_site(client):
    superuser = UserFactory(username="root2", is_staff=True, is_superuser=True)
    response = client.post(
        "/admin/login/", {"username": superuser.username, "password": TEST_PASSWORD, "next": "/admin/"}
    )
    assert response.status_code == 200  # the form again, with an error
    assert client.get("/admin/").status_code == 302


@pytest.mark.django_db
def test_enrol_totp_sets_up_an_authenticator_from_the_console_once(capsys):
    from django.core.management import CommandError, call_command
    from django_otp.plugins.otp_totp.models import TOTPDevice

    user = UserFactory(username="first-admin", is_staff=True, is_superuser=True)
    call_command("enrol_totp", "first-admin")
    out = capsys.readouterr().out
    assert "otpauth://totp/" in out and "recovery codes" in out
    assert TOTPDevice.objects.filter(user=user, confirmed=True).count() == 1
    assert AuditEvent.objects.filter(action="auth.totp_enrolled", actor__isnull=True).count() == 1
    with pytest.raises(CommandError, match="already has an authenticator"):
        call_command("enrol_totp", "first-admin")
    call_command("enrol_totp", "first-admin", "--reset")
    assert TOTPDevice.objects.filter(user=user, confirmed=True).count() == 1

"""The audit trail: one hash chain over every change, verifiable, append-only (and on PostgreSQL enforced by a
trigger), and free of secrets."""

from __future__ import annotations

import json
import uuid

import pytest
from django.db import DatabaseError, connection, transaction

from accounts.audit import verify_chain
from accounts.models import AuditEvent, Role, RoleGrant
from tests.factories import UserFactory
from tests.people import PASSWORD, T0, enrol_totp, frozen_time, signed_in, totp_code


@pytest.fixture
def busy_day(api, state_admin, commissioner, poll_worker, place, election, tablet):
    """A run of audited changes through the API: sign-ins, a grant made and ended, a tablet enrolled and revoked,
    a session ended and a user disabled."""
    admin = signed_in(state_admin)
    commish = signed_in(commissioner)
    worker = signed_in(poll_worker)
    newcomer = UserFactory(username="newcomer")
    grant = commish.post(
        "/api/v1/auth/grants/",
        {"user": newcomer.pk, "role": "poll_worker", "polling_place": place.pk, "election": election.pk},
        format="json",
    ).json()
    commish.post(f"/api/v1/auth/grants/{grant['id']}/end/")
    code = commish.post("/api/v1/auth/devices/enrolments/", {"polling_place": place.pk, "label": "T"}, format="json")
    enrolled = api.post("/api/v1/auth/devices/enrol/", {"code": code.json()["code"]}, format="json").json()
    commish.post(f"/api/v1/auth/devices/{enrolled['device_id']}/revoke/", {"reason": "Lost"}, format="json")
    commish.post(f"/api/v1/auth/sessions/{worker.session_obj.pk}/end/")
    admin.post(f"/api/v1/auth/users/{commissioner.pk}/disable/", format="json")
    api.post(
        "/api/v1/auth/token/",
        {"username": "worker", "password": "a-wrong-guess", "device_id": str(uuid.uuid4())},
        format="json",
    )
    return enrolled


def test_every_change_is_chained_and_the_chain_verifies(busy_day):
    actions = list(AuditEvent.objects.values_list("action", flat=True))
    for expected in [
        "auth.login",
        "grant.created",
        "grant.ended",
        "device.enrolment_code_created",
        "device.enrolled",
        "device.revoked",
        "session.ended",
        "user.disabled",
    ]:
        assert expected in actions
    assert len(actions) >= 12
    assert verify_chain() == (True, None)


@pytest.mark.skipif(connection.vendor == "postgresql", reason="PostgreSQL refuses the edit itself (tested below)")
def test_editing_one_audit_row_breaks_verification_at_that_row(busy_day):
    victim = AuditEvent.objects.filter(action="grant.created").get()
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE accounts_auditevent SET actor_label = %s WHERE id = %s", ["someone else (#1)", victim.pk]
        )
    assert verify_chain() == (False, victim.pk)


@pytest.mark.skipif(connection.vendor == "postgresql", reason="PostgreSQL refuses the delete itself (tested below)")
def test_deleting_one_audit_row_breaks_verification_at_the_next(busy_day):
    events = list(AuditEvent.objects.order_by("pk").values_list("pk", flat=True))
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM accounts_auditevent WHERE id = %s", [events[3]])
    assert verify_chain() == (False, events[4])


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the trigger exists on PostgreSQL only")
@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE accounts_auditevent SET actor_label = 'x' WHERE id = %s",
        "DELETE FROM accounts_auditevent WHERE id = %s",
    ],
)
def test_postgresql_refuses_to_update_or_delete_an_audit_row(busy_day, sql):
    victim = AuditEvent.objects.order_by("pk").first()
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, [victim.pk])
    assert AuditEvent.objects.get(pk=victim.pk).actor_label == victim.actor_label
    assert verify_chain() == (True, None)


def test_the_orm_refuses_to_update_or_delete_audit_rows(busy_day):
    event = AuditEvent.objects.first()
    with pytest.raises(PermissionError):
        AuditEvent.objects.filter(pk=event.pk).update(action="x")
    with pytest.raises(PermissionError):
        event.delete()
    assert verify_chain() == (True, None)


def test_no_secret_ever_reaches_the_audit_trail(api, commissioner, busy_day):
    enrol_totp(commissioner)
    commissioner.is_active = True
    commissioner.save()
    with frozen_time(T0):
        token = api.post(
            "/api/v1/auth/token/",
            {"username": "commish", "password": PASSWORD, "otp": totp_code(T0), "device_id": str(uuid.uuid4())},
            format="json",
        ).json()["token"]
    trail = json.dumps(list(AuditEvent.objects.values()), default=str)
    assert "auth.login_failed" in trail
    for secret in [PASSWORD, "a-wrong-guess", token[4:], busy_day["device_secret"][4:]]:
        assert secret not in trail


def test_audit_rows_name_the_actor_their_address_and_device(commissioner, poll_worker):
    client = signed_in(commissioner)
    grant = RoleGrant.objects.get(user=poll_worker, role=Role.POLL_WORKER)
    client.post(f"/api/v1/auth/grants/{grant.pk}/end/", REMOTE_ADDR="192.0.2.44")
    event = AuditEvent.objects.last()
    assert event.actor == commissioner and event.actor_label == f"commish (#{commissioner.pk})"
    assert event.ip_address == "192.0.2.44"
    assert event.device == str(client.session_obj.client_device_id)
    assert (event.object_type, event.object_id) == ("accounts.rolegrant", str(grant.pk))


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the trigger exists on PostgreSQL only")
def test_on_postgresql_even_an_owner_who_drops_the_guard_cannot_tamper_unnoticed(busy_day):
    victim = AuditEvent.objects.filter(action="user.disabled").get()
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # fire the deferred foreign-key checks first
        cursor.execute("ALTER TABLE accounts_auditevent DISABLE TRIGGER accounts_auditevent_append_only")
        cursor.execute("UPDATE accounts_auditevent SET after = '{}'::jsonb WHERE id = %s", [victim.pk])
        cursor.execute("ALTER TABLE accounts_auditevent ENABLE TRIGGER accounts_auditevent_append_only")
    assert verify_chain() == (False, victim.pk)

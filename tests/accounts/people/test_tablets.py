"""Tablets: enrolment codes, self-enrolment, signing in on a tablet, revocation and listing."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import uuid

import pytest
from django.utils import timezone

from accounts.models import ApiSession, AuditEvent, Device, EnrolmentCode, LoginFailure
from tests.helpers import audit_actions, last_audit_pk, live_sessions
from tests.people import PASSWORD, make_tablet, signed_in

ENROLMENTS = "/api/v1/auth/devices/enrolments/"
ENROL = "/api/v1/auth/devices/enrol/"
DEVICES = "/api/v1/auth/devices/"
TOKEN = "/api/v1/auth/token/"


def revoke_url(device):
    return f"/api/v1/auth/devices/{device.pk}/revoke/"


def new_code(client, place, label="Table 1", **extra):
    return client.post(ENROLMENTS, {"polling_place": place.pk, "label": label} | extra, format="json")


# --- enrolment codes ----------------------------------------------------------------------------------------------


def test_a_commissioner_creates_a_short_lived_single_use_code_stored_only_as_a_hash(commissioner, place):
    client = signed_in(commissioner)
    since = last_audit_pk()

    response = new_code(client, place)

    assert response.status_code == 201, response.json()
    body = response.json()
    assert re.fullmatch(r"[0-9A-HJKMNP-TV-Z]{5}-[0-9A-HJKMNP-TV-Z]{5}", body["code"])
    row = EnrolmentCode.objects.get()
    assert row.code_hash == hashlib.sha256(body["code"].replace("-", "").encode()).hexdigest()
    assert row.expires_at - row.created_at == dt.timedelta(minutes=15)
    assert row.created_by == commissioner and row.polling_place == place and row.used_at is None
    assert audit_actions(since) == ["device.enrolment_code_created"]
    assert body["code"].replace("-", "") not in str(AuditEvent.objects.last().after)


def test_an_administrator_creates_codes_anywhere_in_their_state(state_admin, other_place, election):
    response = new_code(signed_in(state_admin), other_place, election=election.pk)
    assert response.status_code == 201 and response.json()["election"] == election.pk


@pytest.mark.parametrize(
    ("caller", "status", "code"),
    [
        (None, 401, "not_authenticated"),
        ("poll_manager", 403, "permission_denied"),
        ("other_county_commissioner", 400, "invalid"),
        ("alabama_admin", 400, "invalid"),
    ],
)
def test_only_staff_in_scope_create_enrolment_codes(request, api, place, caller, status, code):
    client = signed_in(request.getfixturevalue(caller)) if caller else api
    since = last_audit_pk()

    response = new_code(client, place)

    assert response.status_code == status and response.json()["code"] == code
    if status == 400:
        assert response.json()["errors"]["polling_place"][0]["code"] == "does_not_exist"
    assert not EnrolmentCode.objects.exists()
    assert audit_actions(since) == []


def test_an_election_of_another_state_is_refused(commissioner, place, alabama):
    from tests.factories import ElectionFactory

    other = ElectionFactory(jurisdiction=alabama)
    response = new_code(signed_in(commissioner), place, election=other.pk)
    assert response.status_code == 400
    assert not EnrolmentCode.objects.exists()


# --- enrolling ----------------------------------------------------------------------------------------------------


def test_a_tablet_enrols_with_a_code_and_its_poll_worker_signs_in_on_it(api, commissioner, poll_worker, place):
    code = new_code(signed_in(commissioner), place, label="Front desk").json()["code"]
    since = last_audit_pk()

    response = api.post(ENROL, {"code": code.lower().replace("-", " ")}, format="json")

    assert response.status_code == 201, response.json()
    body = response.json()
    device = Device.objects.get()
    assert str(device.pk) == body["device_id"] and body["device_secret"].startswith("pgd_")
    assert device.secret_hash == hashlib.sha256(body["device_secret"].encode()).hexdigest()
    assert device.label == "Front desk" and device.polling_place == place and device.enrolled_by == commissioner
    assert EnrolmentCode.objects.get().device == device
    assert audit_actions(since) == ["device.enrolled"]
    assert AuditEvent.objects.last().device == str(device.pk)

    login = api.post(
        TOKEN,
        {
            "username": "worker",
            "password": PASSWORD,
            "device_id": body["device_id"],
            "device_secret": body["device_secret"],
        },
        format="json",
    )
    assert login.status_code == 200
    assert ApiSession.objects.get(user=poll_worker).device == device


def test_an_enrolment_code_works_only_once(api, commissioner, place):
    code = new_code(signed_in(commissioner), place).json()["code"]
    assert api.post(ENROL, {"code": code}, format="json").status_code == 201
    since = last_audit_pk()

    again = api.post(ENROL, {"code": code}, format="json")

    assert again.status_code == 400 and again.json()["code"] == "enrolment_code_used"
    assert Device.objects.count() == 1
    assert audit_actions(since) == ["device.enrol_failed"]


def test_an_expired_enrolment_code_is_refused(api, commissioner, place):
    code = new_code(signed_in(commissioner), place).json()["code"]
    EnrolmentCode.objects.update(
        created_at=timezone.now() - dt.timedelta(minutes=16), expires_at=timezone.now() - dt.timedelta(minutes=1)
    )
    response = api.post(ENROL, {"code": code}, format="json")
    assert response.status_code == 400 and response.json()["code"] == "enrolment_code_expired"
    assert not Device.objects.exists()


def test_an_unknown_code_is_refused_and_counted_against_the_address(api, db):
    response = api.post(ENROL, {"code": "ZZZZZ-ZZZZZ"}, format="json")
    assert response.status_code == 400 and response.json()["code"] == "invalid_enrolment_code"
    failure = LoginFailure.objects.get()
    assert failure.kind == "enrol" and failure.reason == "bad_code" and failure.ip_address == "127.0.0.1"
    assert not Device.objects.exists()


# --- revoking -----------------------------------------------------------------------------------------------------


def test_revoking_a_tablet_ends_every_session_on_it_at_once(api, commissioner, poll_worker, poll_manager, tablet):
    device, secret = tablet
    on_tablet = [signed_in(poll_worker, device=device), signed_in(poll_manager, device=device)]
    elsewhere = signed_in(poll_worker)
    client = signed_in(commissioner)
    since = last_audit_pk()

    response = client.post(revoke_url(device), {"reason": "Stolen"}, format="json")

    assert response.status_code == 200 and response.json()["revoked"] is True
    device.refresh_from_db()
    assert device.revoked_by == commissioner and device.revoke_reason == "Stolen" and device.revoked_at
    assert audit_actions(since) == ["device.revoked", "session.ended", "session.ended"]
    assert AuditEvent.objects.get(pk__gt=since, action="device.revoked").before["revoked_at"] is None
    for tablet_client in on_tablet:  # told why, so the tablet forgets what it kept (docs/tablet.md)
        assert tablet_client.get("/api/v1/auth/me/").json()["code"] == "device_revoked"
    assert elsewhere.get("/api/v1/auth/me/").status_code == 200
    login = api.post(
        TOKEN,
        {"username": "worker", "password": PASSWORD, "device_id": str(device.pk), "device_secret": secret},
        format="json",
    )
    assert login.status_code == 401 and login.json()["code"] == "invalid_credentials"  # as a wrong password


def test_a_revoked_tablets_token_is_refused_even_if_its_session_was_left_open(poll_worker, tablet):
    device, _ = tablet
    client = signed_in(poll_worker, device=device)
    Device.objects.filter(pk=device.pk).update(revoked_at=timezone.now(), revoke_reason="x")
    assert client.get("/api/v1/auth/me/").json()["code"] == "device_revoked"


@pytest.mark.parametrize(
    ("caller", "status"),
    [(None, 401), ("poll_manager", 403), ("other_county_commissioner", 404), ("alabama_admin", 404)],
)
def test_only_staff_in_scope_revoke_a_tablet(request, api, poll_worker, tablet, caller, status):
    device, _ = tablet
    on_tablet = signed_in(poll_worker, device=device)
    client = signed_in(request.getfixturevalue(caller)) if caller else api
    since = last_audit_pk()

    response = client.post(revoke_url(device), {"reason": "x"}, format="json")

    assert response.status_code == status
    device.refresh_from_db()
    assert device.revoked_at is None and live_sessions(poll_worker) == 1
    assert audit_actions(since) == []
    assert on_tablet.get("/api/v1/auth/me/").status_code == 200


def test_revoking_needs_a_reason(commissioner, tablet):
    device, _ = tablet
    response = signed_in(commissioner).post(revoke_url(device), {"reason": ""}, format="json")
    assert response.status_code == 400 and "reason" in response.json()["errors"]
    device.refresh_from_db()
    assert device.revoked_at is None


def test_an_unknown_tablet_is_404(commissioner):
    response = signed_in(commissioner).post(f"/api/v1/auth/devices/{uuid.uuid4()}/revoke/", {"reason": "x"})
    assert response.status_code == 404


# --- listing ------------------------------------------------------------------------------------------------------


def test_staff_list_the_tablets_in_their_scope(commissioner, state_admin, tablet, other_tablet, place):
    device, _ = tablet
    other_device, _ = other_tablet
    revoked, _ = make_tablet(place, commissioner, label="Old")
    Device.objects.filter(pk=revoked.pk).update(revoked_at=timezone.now(), revoke_reason="Broken")

    mine = signed_in(commissioner).get(DEVICES).json()["results"]
    everything = signed_in(state_admin).get(DEVICES, {"include_revoked": "1"}).json()["results"]

    assert [d["id"] for d in mine] == [str(device.pk)]
    assert {d["id"] for d in everything} == {str(device.pk), str(other_device.pk), str(revoked.pk)}
    assert all("secret_hash" not in d for d in everything)


@pytest.mark.parametrize(("caller", "status"), [(None, 401), ("poll_worker", 403), ("outsider", 403)])
def test_others_cannot_list_tablets(request, api, tablet, caller, status):
    client = signed_in(request.getfixturevalue(caller)) if caller else api
    assert client.get(DEVICES).status_code == status


def test_the_tablet_list_runs_a_fixed_number_of_queries(
    state_admin, place, commissioner, django_assert_max_num_queries
):
    for n in range(10):
        make_tablet(place, commissioner, label=f"T{n}")
    client = signed_in(state_admin)
    with django_assert_max_num_queries(5):
        response = client.get(DEVICES)
    assert len(response.json()["results"]) == 10

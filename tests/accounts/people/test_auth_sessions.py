"""Sessions: listing one's own and (in scope) other people's, ending them, and disabling users."""

from __future__ import annotations

import pytest

from accounts.models import ApiSession, AuditEvent, User
from tests.helpers import audit_actions, last_audit_pk, live_sessions
from tests.people import PASSWORD, signed_in

SESSIONS = "/api/v1/auth/sessions/"
ME = "/api/v1/auth/me/"


def end_url(session):
    return f"/api/v1/auth/sessions/{session.pk}/end/"


def disable_url(user):
    return f"/api/v1/auth/users/{user.pk}/disable/"


# --- listing ------------------------------------------------------------------------------------------------------


def test_everyone_sees_their_own_live_sessions(poll_worker, commissioner):
    mine = signed_in(poll_worker)
    other = signed_in(poll_worker)
    ended = signed_in(poll_worker)
    ended.delete("/api/v1/auth/token/")
    signed_in(commissioner)

    response = mine.get(SESSIONS)

    assert response.status_code == 200
    rows = response.json()["results"]
    assert {r["id"] for r in rows} == {mine.session_obj.pk, other.session_obj.pk}
    assert [r["current"] for r in rows if r["id"] == mine.session_obj.pk] == [True]
    assert all("key_hash" not in r and r["key_prefix"] for r in rows)
    everything = mine.get(SESSIONS, {"include_ended": "1"}).json()["results"]
    assert len(everything) == 3


def test_listing_sessions_needs_a_token(api, db):
    assert api.get(SESSIONS).status_code == 401


@pytest.mark.parametrize(
    ("viewer", "visible"),
    [
        ("commissioner", True),
        ("state_admin", True),
        ("other_county_commissioner", False),
        ("alabama_admin", False),
        ("other_poll_worker", False),
    ],
)
def test_staff_see_the_sessions_of_people_holding_roles_in_their_scope(request, poll_worker, viewer, visible):
    target = signed_in(poll_worker)
    client = signed_in(request.getfixturevalue(viewer))

    response = client.get(SESSIONS, {"user": poll_worker.pk})

    if visible:
        assert response.status_code == 200
        assert [r["id"] for r in response.json()["results"]] == [target.session_obj.pk]
    else:
        assert response.status_code == 404 and response.json()["code"] == "not_found"


def test_a_poll_worker_cannot_see_a_commissioners_sessions(poll_worker, commissioner):
    signed_in(commissioner)
    response = signed_in(poll_worker).get(SESSIONS, {"user": commissioner.pk})
    assert response.status_code == 404


def test_a_malformed_user_filter_is_400(poll_worker):
    response = signed_in(poll_worker).get(SESSIONS, {"user": "me"})
    assert response.status_code == 400 and response.json()["code"] == "invalid_parameter"


def test_the_session_list_runs_a_fixed_number_of_queries(commissioner, poll_worker, django_assert_max_num_queries):
    client = signed_in(commissioner)
    for _ in range(5):
        signed_in(poll_worker)
    with django_assert_max_num_queries(6):
        response = client.get(SESSIONS, {"user": poll_worker.pk})
    assert len(response.json()["results"]) == 5


# --- ending a session ---------------------------------------------------------------------------------------------


def test_anyone_can_end_their_own_other_session(poll_worker):
    here, there = signed_in(poll_worker), signed_in(poll_worker)
    since = last_audit_pk()

    response = here.post(end_url(there.session_obj))

    assert response.status_code == 200 and response.json()["end_reason"] == "ended"
    assert audit_actions(since) == ["session.ended"]
    assert there.get(ME).json()["code"] == "session_ended"
    assert here.get(ME).status_code == 200


def test_a_commissioner_ends_a_poll_workers_session_and_the_token_is_refused_at_once(commissioner, poll_worker):
    target = signed_in(poll_worker)
    client = signed_in(commissioner)
    since = last_audit_pk()

    response = client.post(end_url(target.session_obj))

    assert response.status_code == 200
    session = ApiSession.objects.get(pk=target.session_obj.pk)
    assert session.ended_by == commissioner and session.end_reason == "ended"
    event = AuditEvent.objects.get(pk__gt=since)
    assert event.action == "session.ended" and event.actor == commissioner
    assert event.before["ended_at"] is None and event.after["ended_at"] is not None
    response = target.get(ME)
    assert response.status_code == 401 and response.json()["code"] == "session_ended"


def test_ending_an_ended_session_changes_nothing(commissioner, poll_worker):
    target = signed_in(poll_worker)
    client = signed_in(commissioner)
    client.post(end_url(target.session_obj))
    since = last_audit_pk()
    assert client.post(end_url(target.session_obj)).status_code == 200
    assert audit_actions(since) == []


@pytest.mark.parametrize(
    ("caller", "status"),
    [("other_county_commissioner", 404), ("alabama_admin", 404), ("other_poll_worker", 404), (None, 401)],
)
def test_outside_ones_scope_a_session_cannot_be_ended(request, api, poll_worker, caller, status):
    target = signed_in(poll_worker)
    client = signed_in(request.getfixturevalue(caller)) if caller else api
    since = last_audit_pk()

    response = client.post(end_url(target.session_obj))

    assert response.status_code == status
    assert ApiSession.objects.get(pk=target.session_obj.pk).ended_at is None
    assert audit_actions(since) == []
    assert target.get(ME).status_code == 200


def test_a_commissioner_cannot_read_or_end_a_fellow_commissioners_sessions(commissioner, fellow_commissioner):
    target = signed_in(fellow_commissioner)
    client = signed_in(commissioner)
    # Sessions (addresses, user agents, device ids) are read only by those who manage the person.
    assert client.get(SESSIONS, {"user": fellow_commissioner.pk}).status_code == 404

    response = client.post(end_url(target.session_obj))

    assert response.status_code == 403 and response.json()["code"] == "insufficient_authority"
    assert live_sessions(fellow_commissioner) == 1


def test_an_administrator_ends_a_commissioners_session(state_admin, commissioner):
    target = signed_in(commissioner)
    assert signed_in(state_admin).post(end_url(target.session_obj)).status_code == 200
    assert live_sessions(commissioner) == 0


# --- disabling a user ---------------------------------------------------------------------------------------------


def test_disabling_a_user_ends_all_their_sessions_at_once(api, commissioner, poll_worker, tablet):
    first, second = signed_in(poll_worker), signed_in(poll_worker)
    client = signed_in(commissioner)
    since = last_audit_pk()

    response = client.post(disable_url(poll_worker), {"reason": "Left the county"}, format="json")

    assert response.status_code == 200 and response.json()["is_active"] is False
    poll_worker.refresh_from_db()
    assert poll_worker.is_active is False
    assert live_sessions(poll_worker) == 0
    assert set(ApiSession.objects.filter(user=poll_worker).values_list("end_reason", flat=True)) == {"user_disabled"}
    assert audit_actions(since) == ["user.disabled", "session.ended", "session.ended"]
    event = AuditEvent.objects.get(pk__gt=since, action="user.disabled")
    assert event.before["is_active"] is True and event.after == event.before | {
        "is_active": False,
        "reason": "Left the county",
    }
    for client in (first, second):
        assert client.get(ME).json()["code"] == "session_ended"
    device, secret = tablet
    login = api.post(
        "/api/v1/auth/token/",
        {"username": "worker", "password": PASSWORD, "device_id": str(device.pk), "device_secret": secret},
        format="json",
    )
    assert login.status_code == 401 and login.json()["code"] == "invalid_credentials"


def test_disabling_a_disabled_user_changes_nothing(commissioner, poll_worker):
    client = signed_in(commissioner)
    client.post(disable_url(poll_worker), format="json")
    since = last_audit_pk()
    assert client.post(disable_url(poll_worker), format="json").status_code == 200
    assert audit_actions(since) == []


def test_an_administrator_disables_a_commissioner_of_their_state(state_admin, commissioner):
    signed_in(commissioner)
    assert signed_in(state_admin).post(disable_url(commissioner), format="json").status_code == 200
    assert User.objects.get(pk=commissioner.pk).is_active is False
    assert live_sessions(commissioner) == 0


@pytest.mark.parametrize(
    ("caller", "target", "status", "code"),
    [
        (None, "poll_worker", 401, "not_authenticated"),
        ("other_poll_worker", "poll_worker", 403, "permission_denied"),
        ("poll_manager", "poll_worker", 403, "permission_denied"),
        ("other_county_commissioner", "poll_worker", 404, "not_found"),
        ("alabama_admin", "commissioner", 404, "not_found"),
        ("commissioner", "fellow_commissioner", 403, "insufficient_authority"),
        ("commissioner", "state_admin", 404, "not_found"),
        ("commissioner", "commissioner", 400, "cannot_disable_self"),
    ],
)
def test_disabling_outside_ones_authority_is_refused_and_changes_nothing(request, api, caller, target, status, code):
    victim = request.getfixturevalue(target)
    victim_client = signed_in(victim)
    client = signed_in(request.getfixturevalue(caller)) if caller else api
    since = last_audit_pk()

    response = client.post(disable_url(victim), format="json")

    assert response.status_code == status and response.json()["code"] == code
    victim.refresh_from_db()
    assert victim.is_active is True and live_sessions(victim) >= 1
    assert audit_actions(since) == []
    assert victim_client.get(ME).status_code == 200


def test_a_commissioner_cannot_disable_a_poll_worker_who_is_also_staff_elsewhere(
    commissioner, poll_worker, other_county
):
    from accounts.models import Role
    from tests.factories import RoleGrantFactory

    RoleGrantFactory(user=poll_worker, role=Role.COMMISSIONER, county=other_county, polling_place=None, election=None)
    response = signed_in(commissioner).post(disable_url(poll_worker), format="json")
    assert response.status_code == 403 and response.json()["code"] == "insufficient_authority"

"""Role grants: who sees and grants which roles where, ending grants, and changes taking effect on the next request."""

from __future__ import annotations

import pytest

from accounts.models import AuditEvent, Role, RoleGrant
from tests.factories import ElectionFactory, UserFactory
from tests.helpers import audit_actions, last_audit_pk
from tests.people import signed_in

GRANTS = "/api/v1/auth/grants/"


def end_url(grant):
    return f"/api/v1/auth/grants/{grant.pk}/end/"


def grant_of(user, role):
    return RoleGrant.objects.get(user=user, role=role)


# --- listing ------------------------------------------------------------------------------------------------------


def test_each_role_sees_the_grants_in_its_scope(
    state_admin, alabama_admin, commissioner, other_county_commissioner, poll_worker, other_poll_worker
):
    def seen(user):
        return {g["username"] for g in signed_in(user).get(GRANTS).json()["results"]}

    assert seen(state_admin) == {"admin", "commish", "madison_commish", "worker", "worker2"}
    assert seen(commissioner) == {"commish", "worker"}
    assert seen(other_county_commissioner) == {"madison_commish", "worker2"}
    assert seen(poll_worker) == {"worker"}
    assert seen(alabama_admin) == {"bama_admin"}


def test_listing_grants_needs_a_token(api, db):
    assert api.get(GRANTS).status_code == 401


def test_the_grant_list_filters_by_user_role_and_state(commissioner, poll_worker, poll_manager):
    client = signed_in(commissioner)
    grant_of(poll_manager, Role.POLL_MANAGER)
    RoleGrant.objects.filter(user=poll_worker).update(ended_at="2020-01-01T00:00:00Z")

    assert {g["username"] for g in client.get(GRANTS, {"role": "poll_manager"}).json()["results"]} == {"manager"}
    assert client.get(GRANTS, {"user": poll_worker.pk}).json()["results"] == []
    ended = client.get(GRANTS, {"user": poll_worker.pk, "include_ended": "1"}).json()["results"]
    assert [g["active"] for g in ended] == [False]
    assert client.get(GRANTS, {"role": "king"}).status_code == 400


def test_the_grant_list_runs_a_fixed_number_of_queries(state_admin, place, election, django_assert_max_num_queries):
    for _ in range(10):
        RoleGrant.objects.create(user=UserFactory(), role=Role.POLL_WORKER, polling_place=place, election=election)
    client = signed_in(state_admin)
    with django_assert_max_num_queries(6):
        response = client.get(GRANTS)
    assert len(response.json()["results"]) == 11


# --- granting -----------------------------------------------------------------------------------------------------


def test_a_commissioner_makes_someone_a_poll_worker_at_a_polling_place_of_their_county(commissioner, place, election):
    newcomer = UserFactory(username="newcomer")
    client = signed_in(commissioner)
    since = last_audit_pk()

    response = client.post(
        GRANTS,
        {"user": newcomer.pk, "role": "poll_worker", "polling_place": place.pk, "election": election.pk},
        format="json",
    )

    assert response.status_code == 201, response.json()
    grant = grant_of(newcomer, Role.POLL_WORKER)
    assert grant.polling_place == place and grant.election == election and grant.granted_by == commissioner
    assert audit_actions(since) == ["grant.created"]
    event = AuditEvent.objects.last()
    assert event.actor == commissioner and event.before is None
    assert event.after == {
        "user": newcomer.pk,
        "role": "poll_worker",
        "jurisdiction": None,
        "county": None,
        "polling_place": place.pk,
        "election": election.pk,
        "ended_at": None,
    }


def test_an_administrator_grants_commissioner_and_administrator_roles_in_their_state(
    state_admin, mississippi, other_county
):
    client = signed_in(state_admin)
    a, b = UserFactory(), UserFactory()
    made_commissioner = client.post(
        GRANTS, {"user": a.pk, "role": "commissioner", "county": other_county.pk}, format="json"
    )
    made_admin = client.post(
        GRANTS, {"user": b.pk, "role": "state_admin", "jurisdiction": mississippi.pk}, format="json"
    )
    assert made_commissioner.status_code == made_admin.status_code == 201
    assert audit_actions(0).count("grant.created") == 2


@pytest.mark.parametrize(
    ("caller", "body", "status", "code"),
    [
        (None, "worker_here", 401, "not_authenticated"),
        ("poll_manager", "worker_here", 403, "permission_denied"),
        ("commissioner", "commissioner_here", 403, "cannot_grant_role"),
        ("commissioner", "admin_here", 400, "invalid"),
        ("commissioner", "worker_there", 400, "invalid"),
        ("other_county_commissioner", "worker_here", 400, "invalid"),
        ("alabama_admin", "commissioner_here", 400, "invalid"),
        ("commissioner", "worker_without_election", 400, "invalid"),
        ("commissioner", "worker_with_county", 400, "invalid"),
        ("state_admin", "worker_in_alabama_election", 400, "invalid"),
    ],
)
def test_granting_outside_ones_authority_is_refused_and_changes_nothing(
    request, api, place, other_place, county, mississippi, election, alabama, caller, body, status, code
):
    target = UserFactory(username="target")
    bodies = {
        "worker_here": {"role": "poll_worker", "polling_place": place.pk, "election": election.pk},
        "worker_there": {"role": "poll_worker", "polling_place": other_place.pk, "election": election.pk},
        "commissioner_here": {"role": "commissioner", "county": county.pk},
        "admin_here": {"role": "state_admin", "jurisdiction": mississippi.pk},
        "worker_without_election": {"role": "poll_worker", "polling_place": place.pk},
        "worker_with_county": {
            "role": "poll_worker",
            "polling_place": place.pk,
            "election": election.pk,
            "county": county.pk,
        },
        "worker_in_alabama_election": {
            "role": "poll_worker",
            "polling_place": place.pk,
            "election": ElectionFactory(jurisdiction=alabama).pk,
        },
    }
    client = signed_in(request.getfixturevalue(caller)) if caller else api
    since = last_audit_pk()

    response = client.post(GRANTS, {"user": target.pk} | bodies[body], format="json")

    assert response.status_code == status and response.json()["code"] == code, response.json()
    assert not RoleGrant.objects.filter(user=target).exists()
    assert audit_actions(since) == []


def test_the_same_active_role_cannot_be_granted_twice(commissioner, poll_worker, place, election):
    response = signed_in(commissioner).post(
        GRANTS,
        {"user": poll_worker.pk, "role": "poll_worker", "polling_place": place.pk, "election": election.pk},
        format="json",
    )
    assert response.status_code == 400 and response.json()["code"] == "duplicate_grant"
    assert RoleGrant.objects.filter(user=poll_worker).count() == 1


def test_nobody_grants_themselves_a_role(state_admin, other_county):
    response = signed_in(state_admin).post(
        GRANTS, {"user": state_admin.pk, "role": "commissioner", "county": other_county.pk}, format="json"
    )
    assert response.status_code == 400 and response.json()["code"] == "self_grant"
    assert RoleGrant.objects.filter(user=state_admin).count() == 1


def test_a_disabled_user_gets_no_new_role(commissioner, place, election):
    disabled = UserFactory(is_active=False)
    response = signed_in(commissioner).post(
        GRANTS,
        {"user": disabled.pk, "role": "poll_worker", "polling_place": place.pk, "election": election.pk},
        format="json",
    )
    assert response.status_code == 400 and response.json()["code"] == "user_disabled"


# --- ending -------------------------------------------------------------------------------------------------------


def test_a_commissioner_ends_a_poll_workers_grant(commissioner, poll_worker):
    client = signed_in(commissioner)
    grant = grant_of(poll_worker, Role.POLL_WORKER)
    since = last_audit_pk()

    response = client.post(end_url(grant))

    assert response.status_code == 200 and response.json()["active"] is False
    grant.refresh_from_db()
    assert grant.ended_at is not None
    assert audit_actions(since) == ["grant.ended"]
    event = AuditEvent.objects.last()
    assert event.before["ended_at"] is None and event.after["ended_at"] is not None
    # Ending it again changes nothing.
    assert client.post(end_url(grant)).status_code == 200
    assert audit_actions(since) == ["grant.ended"]


@pytest.mark.parametrize(
    ("caller", "holder", "status"),
    [
        (None, "poll_worker", 401),
        ("poll_worker", "poll_worker", 403),
        ("other_county_commissioner", "poll_worker", 404),
        ("alabama_admin", "commissioner", 404),
        ("commissioner", "fellow_commissioner", 403),
        ("commissioner", "state_admin", 404),
    ],
)
def test_ending_a_grant_outside_ones_authority_is_refused(request, api, caller, holder, status):
    grant = RoleGrant.objects.get(user=request.getfixturevalue(holder))
    client = signed_in(request.getfixturevalue(caller)) if caller else api
    since = last_audit_pk()

    response = client.post(end_url(grant))

    assert response.status_code == status
    grant.refresh_from_db()
    assert grant.ended_at is None
    assert audit_actions(since) == []


# --- taking effect ------------------------------------------------------------------------------------------------


def test_an_ended_grant_takes_effect_on_the_holders_next_request(state_admin, commissioner, tablet):
    theirs = signed_in(commissioner)
    assert theirs.get("/api/v1/auth/devices/").status_code == 200

    response = signed_in(state_admin).post(end_url(grant_of(commissioner, Role.COMMISSIONER)))
    assert response.status_code == 200

    assert theirs.get("/api/v1/auth/devices/").status_code == 403


def test_a_new_grant_takes_effect_on_the_holders_next_request(state_admin, county, tablet):
    newcomer = UserFactory(username="newcomer")
    theirs = signed_in(newcomer)
    assert theirs.get("/api/v1/auth/devices/").status_code == 403

    response = signed_in(state_admin).post(
        GRANTS, {"user": newcomer.pk, "role": "commissioner", "county": county.pk}, format="json"
    )
    assert response.status_code == 201

    listed = theirs.get("/api/v1/auth/devices/")
    assert listed.status_code == 200 and [d["id"] for d in listed.json()["results"]] == [str(tablet[0].pk)]

"""Who may act on whom (issue 10, privilege escalation through grants): every staff write endpoint of the accounts
API, for targets inside and outside the caller's reach — people whose other grants lie in another county or state,
a superuser, an admin-site member, an administrator, newcomers — as anonymous, the wrong role, the right role and
another county's commissioner. Every refusal leaves the database as it was (rows, the target's fields, the audit).

What a caller may do to a person (``accounts.people.selectors``): give them a role when they are *grantable*,
disable them or read and end their sessions when they are *manageable*; a person the caller merely *sees* (through
a grant in the caller's scope) is refused 403 ``insufficient_authority`` on disable and session end; anyone else
is 404 ``not_found``, exactly like an unknown id (the grant endpoint answers 404 for every person out of reach).
"""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from accounts.audit import Actor
from accounts.credentials import issuing
from accounts.models import ApiSession, AuditEvent, Credential, Device, EnrolmentCode, Role, RoleGrant, User
from tests.factories import ElectionFactory, PollingPlaceFactory, UserFactory
from tests.people import grant, make_tablet, signed_in

pytestmark = pytest.mark.django_db

CALLERS = ["anonymous", "poll_worker", "commissioner", "other_county_commissioner", "state_admin", "alabama_admin"]
TARGETS = [
    "worker_here",  # a poll worker at a place of Hinds, nothing else
    "worker_also_in_madison",  # … and a poll worker in Madison
    "worker_also_commissioner_in_madison",  # … and Madison's commissioner
    "worker_also_in_alabama",  # … and a poll worker in Alabama
    "superuser_worker",  # a superuser holding a poll-worker grant in Hinds
    "staff_worker",  # an admin-site member holding a poll-worker grant in Hinds
    "admin_worker",  # Mississippi's administrator, also a poll worker in Hinds
    "newcomer",  # no grant ever
    "newcomer_superuser",  # a superuser with no grant
    "newcomer_staff",  # an admin-site member with no grant
    "former_madison_commissioner",  # no active grant; once Madison's commissioner
    "former_hinds_worker",  # no active grant; once a poll worker in Hinds
]

#: Whom each caller may give a role to (a first role for newcomers), manage (disable, read and end sessions), and
#: merely see (through a grant in their scope).
GRANTABLE = {
    "commissioner": {"worker_here", "newcomer", "former_hinds_worker"},
    "other_county_commissioner": {"newcomer"},
    "state_admin": {
        "worker_here", "worker_also_in_madison", "worker_also_commissioner_in_madison", "superuser_worker",
        "staff_worker", "admin_worker", "newcomer", "former_madison_commissioner", "former_hinds_worker",
    },
    "alabama_admin": {"newcomer"},
}  # fmt: skip
MANAGEABLE = {
    "commissioner": {"worker_here"},
    "other_county_commissioner": set(),
    "state_admin": {
        "worker_here", "worker_also_in_madison", "worker_also_commissioner_in_madison", "superuser_worker",
        "staff_worker", "admin_worker",
    },
    "alabama_admin": set(),
}  # fmt: skip
SEEN = {
    "commissioner": {
        "worker_here", "worker_also_in_madison", "worker_also_commissioner_in_madison", "worker_also_in_alabama",
        "superuser_worker", "staff_worker", "admin_worker",
    },
    "other_county_commissioner": {"worker_also_in_madison", "worker_also_commissioner_in_madison"},
    "state_admin": {
        "worker_here", "worker_also_in_madison", "worker_also_commissioner_in_madison", "worker_also_in_alabama",
        "superuser_worker", "staff_worker", "admin_worker",
    },
    "alabama_admin": {"worker_also_in_alabama"},
}  # fmt: skip


@pytest.fixture
def people(
    state_admin,
    alabama_admin,
    commissioner,
    other_county_commissioner,
    poll_worker,
    place,
    other_place,
    other_county,
    county,
    election,
    mississippi,
    alabama,
    alabama_county,
) -> dict[str, Any]:
    alabama_place = PollingPlaceFactory(county=alabama_county, code="AUT-1")
    alabama_election = ElectionFactory(jurisdiction=alabama, name="Alabama General", date=election.date)

    def worker(username: str, **fields: Any) -> User:
        return grant(UserFactory(username=username, **fields), Role.POLL_WORKER, polling_place=place, election=election)

    targets = {
        "worker_here": worker("t_here"),
        "worker_also_in_madison": grant(
            worker("t_madison"), Role.POLL_WORKER, polling_place=other_place, election=election
        ),
        "worker_also_commissioner_in_madison": grant(worker("t_madcom"), Role.COMMISSIONER, county=other_county),
        "worker_also_in_alabama": grant(
            worker("t_alabama"), Role.POLL_WORKER, polling_place=alabama_place, election=alabama_election
        ),
        "superuser_worker": worker("t_root", is_superuser=True, is_staff=True),
        "staff_worker": worker("t_staff", is_staff=True),
        "admin_worker": grant(worker("t_admin"), Role.STATE_ADMIN, jurisdiction=mississippi),
        "newcomer": UserFactory(username="t_new"),
        "newcomer_superuser": UserFactory(username="t_newroot", is_superuser=True, is_staff=True),
        "newcomer_staff": UserFactory(username="t_newstaff", is_staff=True),
        "former_madison_commissioner": grant(
            UserFactory(username="t_formermad"), Role.COMMISSIONER, county=other_county
        ),
        "former_hinds_worker": worker("t_formerhinds"),
    }
    RoleGrant.objects.filter(user__username__in=["t_formermad", "t_formerhinds"]).update(ended_at="2020-01-01T00:00Z")
    sessions = {name: signed_in(user).session_obj for name, user in targets.items()}
    # Each caller gives a role at a place of their own, so only the person decides.
    places = {"commissioner": place, "other_county_commissioner": other_place, "state_admin": place}
    places |= {"alabama_admin": alabama_place, "poll_worker": place, "anonymous": place}
    elections = {name: election for name in places} | {"alabama_admin": alabama_election}
    callers = {
        "poll_worker": poll_worker,
        "commissioner": commissioner,
        "other_county_commissioner": other_county_commissioner,
        "state_admin": state_admin,
        "alabama_admin": alabama_admin,
    }
    return {"targets": targets, "sessions": sessions, "places": places, "elections": elections, "callers": callers}


def database() -> tuple[Any, ...]:
    """Everything a write endpoint of the accounts API could change."""
    return (
        sorted(RoleGrant.objects.values_list("pk", "user_id", "role", "ended_at")),
        sorted(User.objects.values_list("pk", "username", "is_active", "is_staff", "is_superuser", "first_name")),
        sorted(ApiSession.objects.values_list("pk", "ended_at", "end_reason")),
        sorted(Device.objects.values_list("pk", "revoked_at")),
        EnrolmentCode.objects.count(),
        Credential.objects.count(),
        sorted(Credential.objects.values_list("pk", "status")),
        AuditEvent.objects.count(),
    )


def client_of(people: dict[str, Any], caller: str) -> APIClient:
    return APIClient() if caller == "anonymous" else signed_in(people["callers"][caller])


def expected(endpoint: str, caller: str, target: str) -> tuple[int, str | None]:
    if caller == "anonymous":
        return 401, "not_authenticated"
    if caller == "poll_worker":
        if endpoint in ("grant", "disable"):
            return 403, "permission_denied"
        return 404, "not_found"  # sessions: a poll worker manages nobody
    if endpoint == "grant":
        return (201, None) if target in GRANTABLE[caller] else (404, "not_found")
    if endpoint == "sessions":
        return (200, None) if target in MANAGEABLE[caller] else (404, "not_found")
    if target in MANAGEABLE[caller]:
        return 200, None
    if target in SEEN[caller]:
        return 403, "insufficient_authority"
    return 404, "not_found"


def call(people: dict[str, Any], client: APIClient, caller: str, endpoint: str, target: str) -> Any:
    user = people["targets"][target]
    if endpoint == "grant":
        body = {
            "user": user.pk,
            "role": "poll_manager",
            "polling_place": people["places"][caller].pk,
            "election": people["elections"][caller].pk,
        }
        return client.post("/api/v1/auth/grants/", body, format="json")
    if endpoint == "disable":
        return client.post(f"/api/v1/auth/users/{user.pk}/disable/", {"reason": "test"}, format="json")
    if endpoint == "sessions":
        return client.get("/api/v1/auth/sessions/", {"user": user.pk})
    return client.post(f"/api/v1/auth/sessions/{people['sessions'][target].pk}/end/", {}, format="json")


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize("endpoint", ["grant", "disable", "sessions", "end_session"])
def test_acting_on_a_person_is_decided_by_every_role_they_hold(people, endpoint, caller, target):
    client = client_of(people, caller)
    before = database()
    status, code = expected(endpoint, caller, target)

    response = call(people, client, caller, endpoint, target)

    assert response.status_code == status, (endpoint, caller, target, response.content[:300])
    if code is not None:
        assert response.json()["code"] == code
    if status >= 400 or endpoint == "sessions":
        assert database() == before, (endpoint, caller, target)
    else:
        assert database() != before


@pytest.mark.parametrize("caller", ["commissioner", "other_county_commissioner", "state_admin", "alabama_admin"])
def test_a_person_out_of_reach_is_answered_exactly_like_an_unknown_user_id(people, caller):
    client = client_of(people, caller)
    body = {"role": "poll_manager", "polling_place": people["places"][caller].pk}
    body["election"] = people["elections"][caller].pk
    unknown = client.post("/api/v1/auth/grants/", body | {"user": 10**9}, format="json")
    assert unknown.status_code == 404
    for name, user in people["targets"].items():
        if name in GRANTABLE[caller]:
            continue
        out_of_reach = client.post("/api/v1/auth/grants/", body | {"user": user.pk}, format="json")
        assert (out_of_reach.status_code, out_of_reach.json()) == (unknown.status_code, unknown.json()), name


def test_a_commissioners_grant_no_longer_brings_a_powerful_user_into_their_county(people, commissioner, place):
    """The reported attack: grant a poll-worker role at a place of one's county to another county's commissioner,
    a superuser or an administrator, then disable them or read their sessions."""
    client = signed_in(commissioner)
    victims = [people["targets"][n] for n in ("newcomer_superuser", "admin_worker")]
    victims.append(people["callers"]["other_county_commissioner"])
    victims.append(people["callers"]["state_admin"])
    for victim in victims:
        before = database()
        given = client.post(
            "/api/v1/auth/grants/",
            {"user": victim.pk, "role": "poll_worker", "polling_place": place.pk, "election": place_election(place)},
            format="json",
        )
        assert given.status_code == 404 and given.json()["code"] == "not_found"
        assert client.get("/api/v1/auth/sessions/", {"user": victim.pk}).status_code == 404
        assert client.post(f"/api/v1/auth/users/{victim.pk}/disable/", format="json").status_code in (403, 404)
        assert database() == before


def place_election(place: Any) -> int:
    return RoleGrant.objects.filter(polling_place=place).values_list("election_id", flat=True).first()


def test_a_role_given_elsewhere_while_a_grant_is_made_takes_the_person_out_of_reach(people, commissioner, place):
    """The service checks the reach again under the user's lock, whatever the view read before."""
    from accounts.people import grants, selectors
    from accounts.scopes import Scope
    from common.errors import DomainError

    newcomer = people["targets"]["newcomer"]
    scope = Scope.for_user(commissioner)
    assert selectors.user_to_grant(scope, newcomer.pk) == newcomer
    grant(newcomer, Role.COMMISSIONER, county=people["places"]["other_county_commissioner"].county)
    with pytest.raises(DomainError) as refused:
        grants.grant_create(
            actor=Actor(user=commissioner),
            scope=scope,
            user=newcomer,
            role=Role.POLL_WORKER,
            polling_place=place,
            election=people["elections"]["commissioner"],
        )
    assert refused.value.code == "not_found"


# --- the object endpoints: grants, tablets, enrolment codes -----------------------------------------------------


OBJECT_CALLERS = ["anonymous", "poll_worker", "other_county_commissioner", "commissioner"]


@pytest.fixture
def objects(people, commissioner, other_county_commissioner, place, other_place, election):
    here_device, _ = make_tablet(place, commissioner)
    there_device, _ = make_tablet(other_place, other_county_commissioner, label="Madison 1")
    targets = people["targets"]
    return {
        "hinds grant of a worker also in madison": RoleGrant.objects.get(
            user=targets["worker_also_in_madison"], polling_place=place
        ),
        "madison grant of a worker also in hinds": RoleGrant.objects.get(
            user=targets["worker_also_in_madison"], polling_place=other_place
        ),
        "madison commissioner grant": RoleGrant.objects.get(
            user=targets["worker_also_commissioner_in_madison"], role=Role.COMMISSIONER
        ),
        "administrator grant": RoleGrant.objects.get(user=targets["admin_worker"], role=Role.STATE_ADMIN),
        "hinds tablet": here_device,
        "madison tablet": there_device,
        "hinds place": place,
        "madison place": other_place,
    }


OBJECT_CASES = {
    # (endpoint, object): {caller: status}
    ("end grant", "hinds grant of a worker also in madison"): {"other_county_commissioner": 404, "commissioner": 200},
    ("end grant", "madison grant of a worker also in hinds"): {"other_county_commissioner": 200, "commissioner": 404},
    ("end grant", "madison commissioner grant"): {"other_county_commissioner": 403, "commissioner": 404},
    ("end grant", "administrator grant"): {"other_county_commissioner": 404, "commissioner": 404},
    ("revoke tablet", "hinds tablet"): {"other_county_commissioner": 404, "commissioner": 200},
    ("revoke tablet", "madison tablet"): {"other_county_commissioner": 200, "commissioner": 404},
    ("enrolment code", "hinds place"): {"other_county_commissioner": 400, "commissioner": 201},
    ("enrolment code", "madison place"): {"other_county_commissioner": 201, "commissioner": 400},
}


@pytest.mark.parametrize("caller", OBJECT_CALLERS)
@pytest.mark.parametrize(("endpoint", "name"), list(OBJECT_CASES))
def test_object_endpoints_inside_and_outside_the_callers_scope(people, objects, endpoint, name, caller):
    obj = objects[name]
    client = client_of(people, caller)
    denied = {"anonymous": 401, "poll_worker": 403 if endpoint != "end grant" else 404}
    status = denied.get(caller) or OBJECT_CASES[(endpoint, name)][caller]
    before = database()

    if endpoint == "end grant":
        response = client.post(f"/api/v1/auth/grants/{obj.pk}/end/", {}, format="json")
    elif endpoint == "revoke tablet":
        response = client.post(f"/api/v1/auth/devices/{obj.pk}/revoke/", {"reason": "lost"}, format="json")
    else:
        response = client.post(
            "/api/v1/auth/devices/enrolments/", {"polling_place": obj.pk, "label": "Table 9"}, format="json"
        )

    assert response.status_code == status, (endpoint, name, caller, response.content[:300])
    if status >= 400:
        assert response.json()["code"] and response.json()["detail"]
        assert database() == before
    else:
        assert database() != before


# --- credentials: issue, revoke, import -----------------------------------------------------------------------------


CREDENTIAL_CALLERS = ["anonymous", "worker", "outsider", "commissioner"]


@pytest.mark.parametrize("caller", CREDENTIAL_CALLERS)
@pytest.mark.parametrize("where", ["hinds", "rankin"])
@pytest.mark.parametrize("endpoint", ["issue", "revoke", "import"])
def test_credential_writes_inside_and_outside_the_callers_county(world, endpoint, where, caller):
    """``world``: Hinds' commissioner, Rankin's (``outsider``), a poll worker of Hinds."""
    w = world
    county = getattr(w, where)
    by = w.commissioner if where == "hinds" else w.outsider
    credential = issuing.credential_issue(
        actor=Actor(user=by),
        request=issuing.IssueRequest(
            kind="federal_observer", holder_name="Ada Lovelace", election=w.general, county=county
        ),
    )
    user = getattr(w, caller) if caller != "anonymous" else None
    client = signed_in(user) if user is not None else APIClient()
    mine = (caller == "commissioner" and where == "hinds") or (caller == "outsider" and where == "rankin")
    before = database()

    if endpoint == "issue":
        body = {"kind": "federal_observer", "holder_name": "Grace Hopper", "election": w.general.pk}
        response = client.post("/api/v1/credentials/", body | {"county": county.fips}, format="json")
        allowed, refused = 201, 400
    elif endpoint == "revoke":
        response = client.post(f"/api/v1/credentials/{credential.pk}/revoke/", {"reason": "lost"}, format="json")
        allowed, refused = 200, 404
    else:
        csv = f"kind,holder_name,election,county\r\nfederal_observer,Grace Hopper,{w.general.pk},{county.fips}\r\n"
        response = client.generic("POST", "/api/v1/credentials/import/", csv.encode(), content_type="text/csv")
        allowed, refused = 201, 400
    status = {"anonymous": 401, "worker": 403}.get(caller) or (allowed if mine else refused)

    assert response.status_code == status, (endpoint, where, caller, response.content[:300])
    if status >= 400:
        assert response.json()["code"] and response.json()["detail"]
        assert database() == before
    else:
        assert database() != before

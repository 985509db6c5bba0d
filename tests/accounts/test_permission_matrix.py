"""One permission matrix over every staff endpoint of the auth API: anonymous, a user with no role, the wrong role
(a poll worker), the right role out of scope (another county's commissioner) and the right role in scope.

Each cell asserts the status, that nothing changed in the database unless the cell is allowed to change it, and
that exactly the allowed changes wrote audit rows. A guard test fails when a staff path is added to the URLconf
without a row here or in the credentials matrix (tests/accounts/credentials/test_credential_api.py).
"""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.test import APIClient

from accounts.models import ApiSession, AuditEvent, Device, EnrolmentCode, Role, RoleGrant, SharedLogonFlag, User
from tests.people import signed_in

pytestmark = pytest.mark.django_db

CALLERS = ["anonymous", "outsider", "poll_worker", "other_county_commissioner", "commissioner"]


def state() -> tuple[Any, ...]:
    return (
        sorted(ApiSession.objects.values_list("pk", "ended_at")),
        sorted(User.objects.values_list("pk", "is_active")),
        sorted(Device.objects.values_list("pk", "revoked_at")),
        EnrolmentCode.objects.count(),
        sorted(RoleGrant.objects.values_list("pk", "ended_at")),
    )


@pytest.fixture
def world(commissioner, other_county_commissioner, poll_worker, outsider, place, election, tablet):
    target = User.objects.create_user(username="target", password="x" * 16)
    grant = RoleGrant.objects.create(user=target, role=Role.POLL_WORKER, polling_place=place, election=election)
    session = signed_in(target).session_obj
    flag = SharedLogonFlag.objects.create(
        user=target, detected_on="signin", session=session, other_device=True, far_address=False, action="flagged"
    )
    return {
        "commissioner": commissioner,
        "other_county_commissioner": other_county_commissioner,
        "poll_worker": poll_worker,
        "outsider": outsider,
        "target": target,
        "grant": grant,
        "session": session,
        "flag": flag,
        "tablet": tablet[0],
        "place": place,
        "election": election,
    }


# endpoint -> (method, path, body, {caller: expected status}, changes state when allowed)
def endpoints(w: dict[str, Any]) -> dict[str, tuple[str, str, dict[str, Any] | None, dict[str, int], bool]]:
    deny = {"anonymous": 401, "outsider": 403, "poll_worker": 403}
    return {
        "list sessions of a user": (
            "get", f"/api/v1/auth/sessions/?user={w['target'].pk}", None,
            {**deny, "outsider": 404, "poll_worker": 404, "other_county_commissioner": 404, "commissioner": 200}, False,
        ),
        "end a session": (
            "post", f"/api/v1/auth/sessions/{w['session'].pk}/end/", {},
            {**deny, "outsider": 404, "poll_worker": 404, "other_county_commissioner": 404, "commissioner": 200}, True,
        ),
        "disable a user": (
            "post", f"/api/v1/auth/users/{w['target'].pk}/disable/", {"reason": "left the job"},
            {**deny, "other_county_commissioner": 404, "commissioner": 200}, True,
        ),
        "list tablets": (
            "get", "/api/v1/auth/devices/", None,
            {**deny, "other_county_commissioner": 200, "commissioner": 200}, False,
        ),
        "create an enrolment code": (
            "post", "/api/v1/auth/devices/enrolments/", {"polling_place": w["place"].pk, "label": "Table 9"},
            {**deny, "other_county_commissioner": 400, "commissioner": 201}, True,
        ),
        "revoke a tablet": (
            "post", f"/api/v1/auth/devices/{w['tablet'].pk}/revoke/", {"reason": "lost"},
            {**deny, "other_county_commissioner": 404, "commissioner": 200}, True,
        ),
        # Everyone signed in may list grants: each sees only their own and those in their scope.
        "list grants": (
            "get", "/api/v1/auth/grants/", None,
            {**deny, "outsider": 200, "poll_worker": 200, "other_county_commissioner": 200, "commissioner": 200},
            False,
        ),
        "grant a role": (
            "post", "/api/v1/auth/grants/",
            {"user": w["outsider"].pk, "role": "poll_worker", "polling_place": w["place"].pk,
             "election": w["election"].pk},
            {**deny, "other_county_commissioner": 400, "commissioner": 201}, True,
        ),
        "end a grant": (
            "post", f"/api/v1/auth/grants/{w['grant'].pk}/end/", {},
            {**deny, "outsider": 404, "poll_worker": 404, "other_county_commissioner": 404, "commissioner": 200},
            True,
        ),
        # Shared logons: another county's commissioner lists none of them and cannot read one.
        "list shared logons": (
            "get", "/api/v1/auth/shared-logons/", None,
            {**deny, "other_county_commissioner": 200, "commissioner": 200}, False,
        ),
        "read a shared logon": (
            "get", f"/api/v1/auth/shared-logons/{w['flag'].pk}/", None,
            {**deny, "other_county_commissioner": 404, "commissioner": 200}, False,
        ),
    }  # fmt: skip


ENDPOINT_NAMES = [
    "list sessions of a user", "end a session", "disable a user", "list tablets", "create an enrolment code",
    "revoke a tablet", "list grants", "grant a role", "end a grant", "list shared logons", "read a shared logon",
]  # fmt: skip


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize("endpoint", ENDPOINT_NAMES)
def test_every_auth_staff_endpoint_for_every_kind_of_caller(world, endpoint, caller):
    method, path, body, expected, mutates = endpoints(world)[endpoint]
    client = APIClient() if caller == "anonymous" else signed_in(world[caller])
    before, audit_before = state(), AuditEvent.objects.count()

    response = getattr(client, method)(path, body, format="json") if body is not None else client.get(path)

    assert response.status_code == expected[caller], (endpoint, caller, response.content[:300])
    body = response.json()
    if response.status_code >= 400:
        assert body["detail"] and body["code"]
    allowed_change = mutates and 200 <= response.status_code < 300
    if allowed_change:
        assert state() != before
        assert AuditEvent.objects.count() > audit_before
    else:
        assert state() == before
        assert AuditEvent.objects.count() == audit_before


def test_grant_listings_show_only_ones_own_or_in_scope(world):
    def listed(caller: str) -> set[int]:
        return {row["id"] for row in signed_in(world[caller]).get("/api/v1/auth/grants/").json()["results"]}

    assert listed("outsider") == set()
    assert listed("poll_worker") == set(
        RoleGrant.objects.filter(user=world["poll_worker"]).values_list("pk", flat=True)
    )
    assert world["grant"].pk in listed("commissioner")
    assert world["grant"].pk not in listed("other_county_commissioner")


def test_listings_show_only_what_is_in_scope(world):
    theirs = signed_in(world["other_county_commissioner"]).get("/api/v1/auth/devices/").json()
    mine = signed_in(world["commissioner"]).get("/api/v1/auth/devices/").json()
    ids = lambda page: {row["id"] for row in page["results"]}  # noqa: E731
    assert str(world["tablet"].pk) in ids(mine)
    assert str(world["tablet"].pk) not in ids(theirs)
    flags = "/api/v1/auth/shared-logons/"
    assert world["flag"].pk in ids(signed_in(world["commissioner"]).get(flags).json())
    assert world["flag"].pk not in ids(signed_in(world["other_county_commissioner"]).get(flags).json())


def _staff_paths() -> set[str]:
    found: set[str] = set()

    def walk(patterns: list[Any], prefix: str) -> None:
        for p in patterns:
            if isinstance(p, URLResolver):
                walk(p.url_patterns, prefix + str(p.pattern))
            elif isinstance(p, URLPattern):
                found.add(prefix + str(p.pattern))

    walk(get_resolver().url_patterns, "")
    return {p for p in found if p.startswith("api/v1/auth/") or p.startswith("api/v1/credentials/")}


def test_every_staff_path_is_in_a_permission_matrix():
    covered_here = {
        "api/v1/auth/sessions/", "api/v1/auth/sessions/<int:pk>/end/", "api/v1/auth/users/<int:pk>/disable/",
        "api/v1/auth/devices/", "api/v1/auth/devices/enrolments/", "api/v1/auth/devices/<uuid:pk>/revoke/",
        "api/v1/auth/grants/", "api/v1/auth/grants/<int:pk>/end/",
        "api/v1/auth/shared-logons/", "api/v1/auth/shared-logons/<int:pk>/",
    }  # fmt: skip
    # Sign-in steps anyone may call (each has its own refusal tests) and the caller's own data.
    self_service = {
        "api/v1/auth/token/", "api/v1/auth/totp/", "api/v1/auth/totp/confirm/", "api/v1/auth/me/",
        "api/v1/auth/devices/enrol/",
    }  # fmt: skip
    from tests import credential_helpers

    credential_paths = {p for p in _staff_paths() if p.startswith("api/v1/credentials/")}
    credentials_matrix = (
        " ".join(str(k) for k in credential_helpers.MATRIX)
        + " "
        + " ".join(str(v) for v in credential_helpers.MATRIX.values())
    )
    assert _staff_paths() - credential_paths == covered_here | self_service
    for path in credential_paths:
        tail = path.removeprefix("api/v1/credentials/").rstrip("/").split("/")[-1].split(".")[0]
        tail = "list" if not tail or tail.startswith("<") else tail
        assert tail in credentials_matrix or tail in {"keys", "verify", "revoked", "scope-hashes", "list"}, path

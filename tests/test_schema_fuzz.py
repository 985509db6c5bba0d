"""Schemathesis over the whole OpenAPI schema (``/api/v1/schema/``): every operation, public and staff, called as each
role — anonymous, a poll worker on its tablet, a commissioner, a state administrator, with real bearer tokens and
``X-Device-Id`` headers made by the fixtures — with schema-conforming and schema-violating input (positive and
negative generation). No answer may be a server error or contradict the schema (status, content type, body), and
every 4xx body is JSON with ``detail`` and a stable ``code``.

Derandomised and bounded: schemathesis's fuzzing phase, ``EXAMPLES`` examples per operation and role; its coverage
phase (boundary and negative values of every parameter) as the state administrator over every operation and as the
poll worker over the tablet's. The last test checks that at least ``MIN_REQUESTS`` requests were made in all and
prints the figures per role (about 4,600 requests, 1 minute on SQLite). Half of the generated path ids are mapped
onto objects that exist, so success answers (some 470 of them) are validated against the schema too. The schema
declares no links, so there is no stateful phase. The classes of input
schemathesis does not generate (lone surrogates, out-of-range offsets, deep nesting, …) are aimed at every operation
by ``tests/polling/api/test_api_fuzz.py``.
"""

from __future__ import annotations

import collections
import time
from typing import Any

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from accounts.models import Role
from config.wsgi import application
from tests.election_day_helpers import watcher
from tests.factories import PrecinctFactory, RoleGrantFactory, UserFactory
from tests.people import signed_in

SCHEMA_URL = "/api/v1/schema/?format=json"
ROLES = ("anonymous", "poll_worker", "commissioner", "state_admin")
#: Random (derandomised) examples per operation and role in the fuzzing phase.
EXAMPLES = 12
MIN_REQUESTS = 2000
#: The operations a tablet works with, whose bodies only a poll worker's token gets past the permission checks.
TABLET_PATHS = (
    r"/(polling-places/\{id\}/(check-ins|check-outs|roster|paper|credential-holders)"
    r"|sync|credentials/(verify|scope-hashes)|incidents)"
)

#: Fuzzing: random input, conforming and not, for every operation as every role.
fuzzing = schemathesis.openapi.from_wsgi(SCHEMA_URL, application)
fuzzing.config.phases.coverage.enabled = False
#: Coverage: schemathesis's systematic boundary and negative values for each parameter (huge and negative numbers,
#: wrong types, missing and repeated parameters, empty and odd bodies), as the state administrator (whose token
#: gets past every staff permission check) over every operation and as a poll worker over the tablet's operations.
coverage = schemathesis.openapi.from_wsgi(SCHEMA_URL, application)
coverage.config.phases.fuzzing.enabled = False
tablet_coverage = schemathesis.openapi.from_wsgi(SCHEMA_URL, application).include(path_regex=TABLET_PATHS)
tablet_coverage.config.phases.fuzzing.enabled = False

#: Requests made, per role and phase.
REQUESTS: collections.Counter[tuple[str, str]] = collections.Counter()
STARTED = time.monotonic()


def error_bodies_have_detail_and_code(ctx: Any, response: Any, case: Any) -> bool | None:
    if 400 <= response.status_code < 500:
        body = response.json()
        assert isinstance(body, dict), body
        assert isinstance(body.get("detail"), str) and body["detail"], body
        assert isinstance(body.get("code"), str) and body["code"], body
    return None


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    error_bodies_have_detail_and_code,
]


@pytest.fixture(scope="module", autouse=True)
def _wsgi_keeps_the_test_connection():
    """Django's test client stops each request from closing the database connection (which would end the test's
    transaction on PostgreSQL); calling the WSGI application directly needs the same."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def world(request, county, place, election, other_place, commissioner, state_admin, tablet_client) -> dict[str, Any]:
    """Objects the generated ids may name, and the headers each role signs its requests with."""
    from accounts.models import Device

    precinct = PrecinctFactory(county=county)
    credential = watcher(election, county, places=[place])
    extra = RoleGrantFactory(user=UserFactory(), role=Role.POLL_WORKER, polling_place=place, election=election)
    clients = {
        "poll_worker": tablet_client,
        "commissioner": signed_in(commissioner),
        "state_admin": signed_in(state_admin),
    }
    ids = {
        "/api/v1/precincts/{id}/": precinct.pk,
        "/api/v1/polling-places/{id}/": place.pk,
        "/api/v1/polling-places/{id}/zones/": place.pk,
        "/api/v1/polling-places/{id}/check-ins/": place.pk,
        "/api/v1/polling-places/{id}/check-outs/": place.pk,
        "/api/v1/polling-places/{id}/roster/": place.pk,
        "/api/v1/polling-places/{id}/paper/{document}.{fmt}": place.pk,
        "/api/v1/credentials/{id}/": credential.pk,
        "/api/v1/credentials/{id}/qr.svg": credential.pk,
        "/api/v1/credentials/{id}/badge.pdf": credential.pk,
        "/api/v1/credentials/{id}/revoke/": credential.pk,
        "/api/v1/auth/devices/{id}/revoke/": str(Device.objects.filter(polling_place=place).first().pk),
        "/api/v1/auth/grants/{id}/end/": extra.pk,
        "/api/v1/auth/sessions/{id}/end/": clients["poll_worker"].session_obj.pk,
        "/api/v1/auth/users/{id}/disable/": extra.user_id,
    }
    headers = {
        role: {"Authorization": f"Bearer {c.token}", "X-Device-Id": str(c.session_obj.client_device_id)}
        for role, c in clients.items()
    }
    return {"ids": ids, "headers": headers}


def _aim(case: Any, ids: dict[str, Any]) -> None:
    """Point every other generated id (by its parity, or its length's for text) at an object that exists."""
    value = (case.path_parameters or {}).get("id")
    known = ids.get(case.path)
    if known is None or value is None or isinstance(value, bool):
        return
    if (value if isinstance(value, int) else len(str(value))) % 2 == 0:
        case.path_parameters["id"] = known


def _call(case: Any, role: str, world: dict[str, Any], phase: str) -> None:
    if role != "anonymous":
        _aim(case, world["ids"])
    REQUESTS[role, phase] += 1
    case.call_and_validate(headers=world["headers"].get(role), checks=CHECKS)


@pytest.mark.django_db
@pytest.mark.parametrize("role", ROLES)
@fuzzing.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
def test_fuzzing_yields_no_server_error_and_no_answer_off_the_schema(case, role, world):
    _call(case, role, world, "fuzzing")


@pytest.mark.django_db
@coverage.parametrize()
@settings(deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
def test_boundary_values_as_the_state_administrator(case, world):
    _call(case, "state_admin", world, "coverage")


@pytest.mark.django_db
@tablet_coverage.parametrize()
@settings(deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
def test_boundary_values_as_a_poll_worker_on_its_tablet(case, world):
    _call(case, "poll_worker", world, "coverage")


def test_enough_requests_were_made(request):
    """The figures: at least ``MIN_REQUESTS`` generated requests over every operation, every role having run each."""
    operations = sum(1 for result in fuzzing.get_all_operations() if result.ok())
    if not REQUESTS:
        pytest.skip("the schema tests did not run in this session")
    total = sum(REQUESTS.values())
    per_role = ", ".join(f"{role} {REQUESTS[role, 'fuzzing']}+{REQUESTS[role, 'coverage']}" for role in ROLES)
    with request.config.pluginmanager.get_plugin("capturemanager").global_and_fixture_disabled():
        print(
            f"\nschema fuzz: {operations} operations, {total} requests (fuzzing+coverage: {per_role}) "
            f"in {time.monotonic() - STARTED:.0f} s"
        )
    assert total >= MIN_REQUESTS, (total, dict(REQUESTS))
    assert all(REQUESTS[role, "fuzzing"] >= operations for role in ROLES), dict(REQUESTS)

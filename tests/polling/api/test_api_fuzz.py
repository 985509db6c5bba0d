"""Property-based fuzzing of every public endpoint from its own OpenAPI schema (schemathesis): no generated input
— huge numbers, unicode, empty strings, NaN spellings, missing parameters — may yield a 5xx, and every 4xx body is
JSON with ``detail`` and ``code``."""

from __future__ import annotations

import pytest
import schemathesis
from django.core.management import call_command
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from config.wsgi import application

schema = schemathesis.openapi.from_wsgi("/api/v1/schema/?format=json", application)


def error_bodies_have_detail_and_code(ctx, response, case) -> bool | None:
    if 400 <= response.status_code < 500:
        body = response.json()
        assert isinstance(body, dict) and body.get("detail") and body.get("code"), body
    return None


@pytest.fixture(scope="module")
def wsgi_keeps_the_test_connection():
    """Django's test client stops each request from closing the database connection (which would end the test's
    transaction on PostgreSQL); calling the WSGI application directly needs the same."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture(scope="module")
def demo_geography(wsgi_keeps_the_test_connection, django_db_setup, django_db_blocker):
    from polling.models import County, Election, PollingPlace, Precinct, PrecinctAssignment

    with django_db_blocker.unblock():
        call_command("load_demo", no_progress=True)
    yield
    with django_db_blocker.unblock():
        PrecinctAssignment.objects.all().delete()
        PollingPlace.objects.all().delete()  # cascades to entrances
        Precinct.objects.all().delete()
        County.objects.all().delete()
        Election.objects.all().delete()


@pytest.mark.django_db
@schema.parametrize()
@settings(max_examples=40, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
def test_no_input_yields_a_server_error(case, demo_geography):
    case.call_and_validate(checks=[not_a_server_error, error_bodies_have_detail_and_code])

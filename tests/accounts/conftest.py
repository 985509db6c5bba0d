"""Named people for the accounts tests: who holds which role where, tablets, signed-in clients and TOTP codes.

Geography: two Mississippi counties (``county``, ``other_county``) with a polling place each (``place``,
``other_place``), an Alabama county, and an election held today (``election``) in Mississippi.
"""

from __future__ import annotations

import datetime as dt
import uuid
import zoneinfo
from collections.abc import Callable
from typing import Any
from unittest import mock

import pytest
from django.db import transaction
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice
from rest_framework.test import APIClient

from accounts.audit import Actor
from accounts.authentication import DEVICE_SECRET_PREFIX, secret_hash
from accounts.models import ApiSession, AuditEvent, Device, Role
from accounts.people import services
from tests.factories import (
    TEST_PASSWORD,
    CountyFactory,
    ElectionFactory,
    PollingPlaceFactory,
    RoleGrantFactory,
    UserFactory,
)

PASSWORD = TEST_PASSWORD
#: A fixed instant for TOTP tests, well inside a 30 s step (step 59_000_000 starts at 1_770_000_000).
T0 = 1_770_000_000 + 10


@pytest.fixture
def api(db) -> APIClient:
    return APIClient()


@pytest.fixture
def county(mississippi):
    return CountyFactory(fips="28049", name="Hinds", jurisdiction=mississippi)


@pytest.fixture
def other_county(mississippi):
    return CountyFactory(fips="28089", name="Madison", jurisdiction=mississippi)


@pytest.fixture
def alabama(db):
    from polling.models import Jurisdiction

    return Jurisdiction.objects.get(code="AL")


@pytest.fixture
def alabama_county(alabama):
    return CountyFactory(fips="01001", name="Autauga", jurisdiction=alabama)


@pytest.fixture
def place(county):
    return PollingPlaceFactory(county=county, code="HINDS-1", name="Hinds Community Center")


@pytest.fixture
def other_place(other_county):
    return PollingPlaceFactory(county=other_county, code="MAD-1", name="Madison Library")


@pytest.fixture
def today() -> dt.date:
    return dt.datetime.now(zoneinfo.ZoneInfo("America/Chicago")).date()


@pytest.fixture
def election(mississippi, today):
    return ElectionFactory(jurisdiction=mississippi, name="General", date=today)


def _grant(user: Any, role: str, **scope: Any) -> Any:
    fields = {"jurisdiction": None, "county": None, "polling_place": None, "election": None} | scope
    RoleGrantFactory(user=user, role=role, **fields)
    return user


@pytest.fixture
def state_admin(mississippi):
    return _grant(UserFactory(username="admin"), Role.STATE_ADMIN, jurisdiction=mississippi)


@pytest.fixture
def alabama_admin(alabama):
    return _grant(UserFactory(username="bama_admin"), Role.STATE_ADMIN, jurisdiction=alabama)


@pytest.fixture
def commissioner(county):
    return _grant(UserFactory(username="commish"), Role.COMMISSIONER, county=county)


@pytest.fixture
def fellow_commissioner(county):
    """A second commissioner of the same county."""
    return _grant(UserFactory(username="commish2"), Role.COMMISSIONER, county=county)


@pytest.fixture
def other_county_commissioner(other_county):
    return _grant(UserFactory(username="madison_commish"), Role.COMMISSIONER, county=other_county)


@pytest.fixture
def poll_manager(place, election):
    return _grant(UserFactory(username="manager"), Role.POLL_MANAGER, polling_place=place, election=election)


@pytest.fixture
def poll_worker(place, election):
    return _grant(UserFactory(username="worker"), Role.POLL_WORKER, polling_place=place, election=election)


@pytest.fixture
def other_poll_worker(other_place, election):
    return _grant(UserFactory(username="worker2"), Role.POLL_WORKER, polling_place=other_place, election=election)


@pytest.fixture
def outsider(db):
    """A user holding no role at all."""
    return UserFactory(username="nobody")


def make_tablet(polling_place: Any, enrolled_by: Any, *, election: Any = None, label: str = "Table 1") -> tuple:
    """An enrolled tablet and its secret, written directly (tablet enrolment itself is tested through the API)."""
    secret = DEVICE_SECRET_PREFIX + uuid.uuid4().hex
    device = Device.objects.create(
        polling_place=polling_place,
        election=election,
        label=label,
        secret_hash=secret_hash(secret),
        enrolled_by=enrolled_by,
    )
    return device, secret


@pytest.fixture
def tablet(place, commissioner):
    return make_tablet(place, commissioner)


@pytest.fixture
def other_tablet(other_place, other_county_commissioner):
    return make_tablet(other_place, other_county_commissioner, label="Madison 1")


def signed_in(user: Any, *, device: Device | None = None, ttl_s: int = 3600) -> APIClient:
    """An API client holding a fresh token for ``user`` (bound to ``device`` or a random device id); the session is
    ``client.session_obj`` and the token ``client.token``."""
    with transaction.atomic():
        issued = services.session_open(
            actor=Actor(user=user),
            user=user,
            client_device_id=device.pk if device else uuid.uuid4(),
            device=device,
            mfa_method="",
            ttl_s=ttl_s,
            ip=None,
            user_agent="pytest",
        )
    client = APIClient()
    client.credentials(
        HTTP_AUTHORIZATION=f"Bearer {issued.token}", HTTP_X_DEVICE_ID=str(issued.session.client_device_id)
    )
    client.session_obj = issued.session
    client.token = issued.token
    return client


@pytest.fixture
def client_for(db) -> Callable[..., APIClient]:
    return signed_in


TOTP_KEY = "3132333435363738393031323334353637383930"  # RFC 6238's test key


def enrol_totp(user: Any) -> TOTPDevice:
    return TOTPDevice.objects.create(user=user, name="app", key=TOTP_KEY, confirmed=True, step=30, tolerance=1)


def totp_code(at: float, *, key: str = TOTP_KEY) -> str:
    """The 6-digit code an authenticator app shows at Unix time ``at``."""
    generator = TOTP(bytes.fromhex(key), step=30, t0=0, digits=6)
    generator.time = at
    return f"{generator.token():06d}"


def frozen_time(at: float) -> Any:
    """Freeze the clock django-otp reads (``time.time``) at ``at``."""
    return mock.patch("time.time", return_value=at)


def audit_actions(since: int = 0) -> list[str]:
    return list(AuditEvent.objects.filter(pk__gt=since).order_by("pk").values_list("action", flat=True))


def last_audit_pk() -> int:
    return AuditEvent.objects.order_by("-pk").values_list("pk", flat=True).first() or 0


def live_sessions(user: Any) -> int:
    return ApiSession.objects.filter(user=user, ended_at__isnull=True).count()

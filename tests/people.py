"""Making people and signing them in: role grants, enrolled tablets, API clients holding a token, TOTP codes at a
frozen instant, and the OTP-verified admin sign-in. The named people themselves are fixtures in tests/conftest.py."""

from __future__ import annotations

import uuid
from typing import Any
from unittest import mock

from django.db import transaction
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice
from rest_framework.test import APIClient

from accounts.audit import Actor
from accounts.authentication import DEVICE_SECRET_PREFIX, secret_hash
from accounts.models import Device
from accounts.people import sessions
from tests.factories import TEST_PASSWORD, RoleGrantFactory

PASSWORD = TEST_PASSWORD
#: A fixed instant for TOTP tests, well inside a 30 s step (step 59_000_000 starts at 1_770_000_000).
T0 = 1_770_000_000 + 10
TOTP_KEY = "3132333435363738393031323334353637383930"  # RFC 6238's test key


def grant(user: Any, role: str, **scope: Any) -> Any:
    """Give ``user`` ``role`` with ``scope`` (``jurisdiction``, ``county`` or ``polling_place`` + ``election``), the
    other scope fields None; written directly (no service, no audit event)."""
    fields = {"jurisdiction": None, "county": None, "polling_place": None, "election": None} | scope
    RoleGrantFactory(user=user, role=role, **fields)
    return user


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


def signed_in(user: Any, *, device: Device | None = None, ttl_s: int = 3600) -> APIClient:
    """An API client holding a fresh token for ``user`` (bound to ``device`` or a random device id); the session is
    ``client.session_obj`` and the token ``client.token``."""
    with transaction.atomic():
        issued = sessions.session_open(
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


def sign_in_to_admin(client: Any, user: Any, password: str) -> Any:
    """Sign ``user`` in to the admin site the real way: password plus a one-time code (OTPAdminSite)."""
    from django_otp.plugins.otp_static.models import StaticDevice

    device = StaticDevice.objects.create(user=user, name="backup")
    device.token_set.create(token="admintest1")
    response = client.post(
        "/admin/login/",
        {
            "username": user.username,
            "password": password,
            "otp_device": device.persistent_id,
            "otp_token": "admintest1",
            "next": "/admin/",
        },
    )
    assert response.status_code == 302, response.content[:500]
    return client


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

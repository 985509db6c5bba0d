"""Signing in: password, then what the user's roles ask for (a second factor for staff, an enrolled tablet of their
polling place for poll managers and workers), then a session. Every attempt is counted (``lockout``) and every
refusal audited.

A right password is not a success until the second step succeeds: a missing or wrong one-time code, and a missing or
invalid tablet, are counted as failures and answered exactly as a wrong password is (401 ``invalid_credentials``,
"Invalid username or password."), so the password cannot be confirmed without the second factor or the tablet; the
audit trail and the failure row keep the real reason."""

from __future__ import annotations

import uuid
from typing import NoReturn

from django.conf import settings
from django.db import transaction

from accounts.audit import Actor
from accounts.authentication import DEVICE_SECRET_PREFIX, secret_hash
from accounts.models import MFA_ROLES, Device, LoginFailure, RoleGrant
from accounts.people.lockout import (
    INVALID_CREDENTIALS,
    attempt_begin,
    attempt_failed,
    attempt_succeeded,
    user_for_password,
    username_key,
)
from accounts.people.selectors import tablet_signin_grants
from accounts.people.sessions import IssuedToken, session_open
from accounts.people.totp import has_confirmed_totp, otp_verify
from accounts.session_guard import shared_logon_at_signin
from common.errors import DomainError


def _live_tablet(client_device_id: uuid.UUID, device_secret: str) -> Device | None:
    if not device_secret.startswith(DEVICE_SECRET_PREFIX) or len(device_secret) > 128:
        return None
    return (
        Device.objects.select_related("polling_place__county__jurisdiction")
        .filter(pk=client_device_id, secret_hash=secret_hash(device_secret), revoked_at__isnull=True)
        .first()
    )


def _as_wrong_password() -> DomainError:
    """The answer to a right password without its second step: the very answer to a wrong password."""
    return DomainError(INVALID_CREDENTIALS, "invalid_credentials")


def session_login(
    *,
    username: str,
    password: str,
    client_device_id: uuid.UUID,
    otp: str = "",
    device_secret: str = "",
    ip: str | None = None,
    user_agent: str = "",
) -> IssuedToken:
    """Sign in and open a session bound to ``client_device_id``.

    Administrators and commissioners must give a TOTP (or recovery) code. Poll managers and workers must sign in on
    an enrolled, unrevoked tablet (``client_device_id`` is then the tablet's id, plus its ``device_secret``) of a
    polling place where they work in an election held today or soon. Refusals carry stable codes.

    The new session is then judged against the user's other recent sessions (``shared_logon_at_signin``): those on
    another device or far away are a shared logon, and under ``SHARED_LOGON_POLICY=end_older`` they end.
    """
    actor = Actor(user=None, ip_address=ip, device=str(client_device_id))
    attempt = attempt_begin(kind=LoginFailure.Kind.LOGIN, username=username_key(username), ip=ip)
    user = user_for_password(attempt=attempt, username=username.strip(), password=password, actor=actor)
    actor = Actor(user=user, ip_address=ip, device=str(client_device_id))

    def refuse(reason: str, exc: Exception, *, counted: bool = False) -> NoReturn:
        attempt_failed(attempt=attempt, reason=reason, counted=counted, actor=actor, user=user)
        raise exc

    roles = set(RoleGrant.objects.filter(user=user, ended_at__isnull=True).values_list("role", flat=True))
    if not roles:
        refuse("no_active_role", DomainError("You hold no active role.", "no_active_role"))
    device = None
    if device_secret:
        device = _live_tablet(client_device_id, device_secret)
        if device is None:
            refuse("tablet_invalid", _as_wrong_password(), counted=True)
    staff = bool(roles & MFA_ROLES)
    if not staff:
        if device is None:
            refuse("tablet_required", _as_wrong_password(), counted=True)
        if not tablet_signin_grants(user=user, device=device).exists():
            # Only the holder of an enrolled tablet's secret gets this far: the answer names the step, and is
            # counted, so a tablet cannot test the passwords of other places' workers without limit.
            refuse(
                "not_assigned_here",
                DomainError(
                    "You are not working at this tablet's polling place in a current election.", "not_assigned_here"
                ),
                counted=True,
            )
    needs_otp = staff or has_confirmed_totp(user)
    if needs_otp:
        if not has_confirmed_totp(user):
            # Setting one up (POST /api/v1/auth/totp/) takes the password alone and says as much; hiding it here
            # would only leave a new commissioner without a hint.
            refuse(
                "otp_enrolment_required",
                DomainError("Set up an authenticator app first (POST /api/v1/auth/totp/).", "otp_enrolment_required"),
            )
        if not otp:
            refuse("otp_required", _as_wrong_password(), counted=True)

    issued = None
    with transaction.atomic():
        method = otp_verify(user=user, otp=otp) if needs_otp else ""
        if method is not None:
            issued = session_open(
                actor=actor,
                user=user,
                client_device_id=client_device_id,
                device=device,
                mfa_method=method,
                ttl_s=settings.AUTH_TOKEN_TTL_STAFF_S if staff else settings.AUTH_TOKEN_TTL_TABLET_S,
                ip=ip,
                user_agent=user_agent,
            )
            shared_logon_at_signin(actor=actor, session=issued.session)
            attempt_succeeded(attempt=attempt)
    if issued is None:
        refuse(LoginFailure.Reason.BAD_OTP, _as_wrong_password(), counted=True)
    return issued

"""The second factor: checking a one-time code (an authenticator app's TOTP or a single-use recovery code), and an
administrator's or commissioner's own set-up of an authenticator app (start, then confirm with a current code).

Set-up takes the password, so its attempts are counted like sign-ins (``accounts.people.lockout``).
"""

from __future__ import annotations

import uuid
from base64 import b32encode
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.audit import Actor, audit_record
from accounts.models import MFA_ROLES, LoginFailure, RoleGrant, User
from accounts.people.lockout import attempt_begin, attempt_failed, attempt_succeeded, user_for_password, username_key
from accounts.people.sessions import IssuedToken, session_open
from accounts.session_guard import shared_logon_at_signin
from common.errors import DomainError


@dataclass(frozen=True)
class TotpEnrolment:
    device: TOTPDevice
    secret: str  # base32, as typed into an authenticator app
    uri: str  # otpauth://…, as shown in a QR code


def normalise_otp(otp: str) -> str:
    return "".join(otp.split()).replace("-", "").lower()


def otp_verify(*, user: User, otp: str) -> str | None:
    """``"totp"`` or ``"recovery_code"`` when ``otp`` is valid (and now spent), else None. Call inside a
    transaction: the devices are locked so two requests cannot both spend the same code (django-otp's ``last_t``
    and deleted static tokens do the rest)."""
    code = normalise_otp(otp)
    if not code or len(code) > 16:
        return None
    if code.isdigit():
        for device in TOTPDevice.objects.select_for_update().filter(user=user, confirmed=True).order_by("pk"):
            if device.verify_token(code):
                return "totp"
        return None
    for static in StaticDevice.objects.select_for_update().filter(user=user, confirmed=True).order_by("pk"):
        if static.verify_token(code):
            return "recovery_code"
    return None


def has_confirmed_totp(user: User) -> bool:
    return bool(TOTPDevice.objects.filter(user=user, confirmed=True).exists())


def recovery_codes_replace(*, user: User) -> list[str]:
    """New single-use recovery codes (replacing any), inside the caller's transaction; shown once."""
    StaticDevice.objects.filter(user=user).delete()
    static = StaticDevice.objects.create(user=user, name="Recovery codes", confirmed=True)
    codes = [StaticToken.random_token() for _ in range(settings.AUTH_RECOVERY_CODE_COUNT)]
    StaticToken.objects.bulk_create(StaticToken(device=static, token=code) for code in codes)
    return codes


@transaction.atomic
def totp_enrol_by_operator(*, actor: Actor, user: User, reset: bool) -> tuple[TOTPDevice, list[str]]:
    """Set up a user's authenticator from the server console (the first administrator cannot enrol through the API
    before anyone can sign in): a confirmed TOTP device and recovery codes. Refuses with ``otp_already_enrolled``
    when one is set up, unless ``reset``."""
    existing = TOTPDevice.objects.select_for_update().filter(user=user, confirmed=True)
    if existing.exists() and not reset:
        raise DomainError("This user already has an authenticator.", "otp_already_enrolled")
    existing.delete()
    device = TOTPDevice.objects.create(user=user, name="Authenticator app", confirmed=True, step=30, tolerance=1)
    codes = recovery_codes_replace(user=user)
    audit_record(
        actor=actor,
        action="auth.totp_enrolled",
        obj=device,
        after={"user": user.pk, "confirmed": True, "recovery_codes": len(codes), "reset": reset},
    )
    return device, codes


def _mfa_user(
    *, username: str, password: str, client_device_id: uuid.UUID, ip: str | None
) -> tuple[User, LoginFailure, Actor]:
    """The password-checked administrator or commissioner who has no confirmed authenticator yet."""
    actor = Actor(user=None, ip_address=ip, device=str(client_device_id))
    attempt = attempt_begin(kind=LoginFailure.Kind.TOTP, username=username_key(username), ip=ip)
    user = user_for_password(attempt=attempt, username=username.strip(), password=password, actor=actor)
    actor = Actor(user=user, ip_address=ip, device=str(client_device_id))
    if not RoleGrant.objects.filter(user=user, ended_at__isnull=True, role__in=MFA_ROLES).exists():
        attempt_failed(attempt=attempt, reason="otp_not_required", counted=False, actor=actor, user=user)
        raise DomainError("Only administrators and commissioners set up a one-time-code app.", "otp_not_required")
    if has_confirmed_totp(user):
        attempt_failed(attempt=attempt, reason="otp_already_enrolled", counted=False, actor=actor, user=user)
        raise DomainError(
            "An authenticator app is already set up; an administrator can reset it.", "otp_already_enrolled"
        )
    return user, attempt, actor


def totp_enrolment_start(
    *, username: str, password: str, client_device_id: uuid.UUID, ip: str | None = None
) -> TotpEnrolment:
    """For an administrator or commissioner with no confirmed authenticator yet: a fresh TOTP secret (replacing any
    unconfirmed one), to be confirmed within ``AUTH_TOTP_ENROLMENT_TTL_S``."""
    user, attempt, actor = _mfa_user(username=username, password=password, client_device_id=client_device_id, ip=ip)
    with transaction.atomic():
        TOTPDevice.objects.filter(user=user, confirmed=False).delete()
        device = TOTPDevice.objects.create(user=user, name="Authenticator app", confirmed=False, step=30, tolerance=1)
        attempt_succeeded(attempt=attempt)
        audit_record(
            actor=actor,
            action="auth.totp_enrolment_started",
            obj=device,
            after={"user": user.pk, "confirmed": False, "step": device.step, "tolerance": device.tolerance},
        )
    return TotpEnrolment(device=device, secret=b32encode(device.bin_key).decode(), uri=device.config_url)


def totp_enrolment_confirm(
    *,
    username: str,
    password: str,
    otp: str,
    client_device_id: uuid.UUID,
    ip: str | None = None,
    user_agent: str = "",
) -> tuple[list[str], IssuedToken]:
    """Confirm the pending authenticator with a current code: returns the recovery codes (shown once) and, since
    password and a fresh code are exactly what signing in asks of staff, a session."""
    user, attempt, actor = _mfa_user(username=username, password=password, client_device_id=client_device_id, ip=ip)
    cutoff = timezone.now() - timedelta(seconds=settings.AUTH_TOTP_ENROLMENT_TTL_S)
    result = None
    with transaction.atomic():
        pending = (
            TOTPDevice.objects.select_for_update()
            .filter(user=user, confirmed=False, created_at__gte=cutoff)
            .order_by("-pk")
            .first()
        )
        if pending is not None and pending.verify_token(normalise_otp(otp)):
            pending.confirmed = True
            pending.save(update_fields=["confirmed"])
            codes = recovery_codes_replace(user=user)
            audit_record(
                actor=actor,
                action="auth.totp_enrolled",
                obj=pending,
                before={"user": user.pk, "confirmed": False},
                after={"user": user.pk, "confirmed": True, "recovery_codes": len(codes)},
            )
            issued = session_open(
                actor=actor,
                user=user,
                client_device_id=client_device_id,
                device=None,
                mfa_method="totp",
                ttl_s=settings.AUTH_TOKEN_TTL_STAFF_S,
                ip=ip,
                user_agent=user_agent,
            )
            shared_logon_at_signin(actor=actor, session=issued.session)
            attempt_succeeded(attempt=attempt)
            result = ([f"{c[:4]}-{c[4:]}" for c in codes], issued)
    if result is None:
        if pending is None:
            attempt_failed(attempt=attempt, reason="no_pending_enrolment", counted=False, actor=actor, user=user)
            raise DomainError(
                "No authenticator is waiting to be confirmed (or it took too long); start again.",
                "otp_enrolment_expired",
            )
        attempt_failed(attempt=attempt, reason=LoginFailure.Reason.BAD_OTP, counted=True, actor=actor, user=user)
        raise DomainError("That code is not valid now.", "otp_invalid", field="otp")
    return result

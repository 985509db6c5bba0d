"""State changes for people and access: signing in and out, second factor, tablets, sessions, users and roles.

Every function is keyword-only and makes its change in one transaction together with its audit record. Scope
checks (may this caller touch this object?) happen in the views through ``accounts.people.selectors``; the
services check what only they can know (authority over a role, duplicates, state transitions).

Sign-in attempts are counted in the database (``LoginFailure``) so every server process shares one count per
account and per client address. Each attempt first writes a "pending" row and only then counts the rows before it,
so concurrent guesses see each other: a burst of parallel requests cannot exceed the limit.
"""

from __future__ import annotations

import functools
import logging
import math
import secrets
import uuid
import zoneinfo
from base64 import b32encode
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NoReturn

from django.conf import settings
from django.contrib.auth.hashers import check_password, make_password
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import models, transaction
from django.utils import timezone
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice
from rest_framework import exceptions, serializers

from accounts.audit import Actor, audit_record
from accounts.authentication import DEVICE_SECRET_PREFIX, TOKEN_PREFIX, secret_hash
from accounts.models import MFA_ROLES, ApiSession, Device, EnrolmentCode, LoginFailure, Role, RoleGrant, User
from accounts.scopes import Scope
from common.api.errors import BadRequest
from polling.models import Election, PollingPlace

logger = logging.getLogger(__name__)

POLL_ROLES = (Role.POLL_MANAGER, Role.POLL_WORKER)
#: Crockford's base32: no I, L, O or U, so a code read aloud or typed from paper survives.
ENROLMENT_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
ENROLMENT_CODE_LENGTH = 10  # 50 random bits, for a code that lives 15 minutes behind a per-address lockout
INVALID_CREDENTIALS = "Invalid username or password."


@dataclass(frozen=True)
class IssuedToken:
    """A new session and its bearer token (the only time the token exists outside the client)."""

    session: ApiSession
    token: str

    @property
    def expires_at(self) -> datetime:
        return self.session.expires_at


@dataclass(frozen=True)
class TotpEnrolment:
    device: TOTPDevice
    secret: str  # base32, as typed into an authenticator app
    uri: str  # otpauth://…, as shown in a QR code


def _full_clean(obj: models.Model, **kwargs: Any) -> None:
    try:
        obj.full_clean(**kwargs)
    except DjangoValidationError as exc:
        raise serializers.ValidationError(
            exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        ) from None


# --- snapshots for the audit trail (never a secret or a hash of one) -------------------------------------------


def session_snapshot(session: ApiSession) -> dict[str, Any]:
    return {
        "user": session.user_id,
        "key_prefix": session.key_prefix,
        "client_device_id": str(session.client_device_id),
        "device": str(session.device_id) if session.device_id else None,
        "mfa_method": session.mfa_method,
        "expires_at": session.expires_at,
        "ended_at": session.ended_at,
        "end_reason": session.end_reason,
    }


def device_snapshot(device: Device) -> dict[str, Any]:
    return {
        "kind": device.kind,
        "label": device.label,
        "polling_place": device.polling_place_id,
        "election": device.election_id,
        "revoked_at": device.revoked_at,
        "revoke_reason": device.revoke_reason,
    }


def grant_snapshot(grant: RoleGrant) -> dict[str, Any]:
    return {
        "user": grant.user_id,
        "role": grant.role,
        "jurisdiction": grant.jurisdiction_id,
        "county": grant.county_id,
        "polling_place": grant.polling_place_id,
        "election": grant.election_id,
        "ended_at": grant.ended_at,
    }


USER_AUDIT_FIELDS = ("username", "first_name", "last_name", "email", "is_active", "is_staff", "is_superuser")


def user_snapshot(user: User) -> dict[str, Any]:
    return {name: getattr(user, name) for name in USER_AUDIT_FIELDS}


# --- attempt counting (brute-force protection) ------------------------------------------------------------------


def _lockout_seconds(times: list[datetime], limit: int, now: datetime) -> int:
    """Seconds until another attempt is allowed, given failure times newest first: locked while ``limit`` failures
    fall within the window; each further full batch of ``limit`` failures doubles the window (up to the maximum)."""
    batches = len(times) // limit
    if batches == 0:
        return 0
    window = min(settings.AUTH_LOCKOUT_WINDOW_S * 2 ** (batches - 1), settings.AUTH_LOCKOUT_MAX_WINDOW_S)
    return max(0, math.ceil((times[limit - 1] + timedelta(seconds=window) - now).total_seconds()))


def login_retry_after(*, username: str, ip: str | None, now: datetime | None = None, exclude: int | None = None) -> int:
    """Seconds until ``username`` from ``ip`` may try again (0: now)."""
    now = now or timezone.now()
    # No upper bound on the time: a concurrent attempt may have read the clock a moment after this one did.
    rows = LoginFailure.objects.filter(
        occurred_at__gte=now - timedelta(seconds=settings.AUTH_LOCKOUT_MAX_WINDOW_S)
    ).exclude(pk=exclude)
    waits = [0]
    # A window never doubles more than 8 times before it reaches a day; no need to read further back.
    for limit, subset in (
        (
            settings.AUTH_LOCKOUT_PER_ACCOUNT,
            rows.filter(username=username, account_cleared=False) if username else None,
        ),
        (settings.AUTH_LOCKOUT_PER_ADDRESS, rows.filter(ip_address=ip) if ip else None),
    ):
        if subset is not None:
            times = list(subset.order_by("-occurred_at").values_list("occurred_at", flat=True)[: limit * 8])
            waits.append(_lockout_seconds(times, limit, now))
    return max(waits)


def _begin_attempt(*, kind: str, username: str, ip: str | None) -> LoginFailure:
    """Write the attempt first (committed at once outside a transaction), then count the ones before it."""
    attempt = LoginFailure.objects.create(occurred_at=timezone.now(), kind=kind, username=username, ip_address=ip)
    wait = login_retry_after(username=username, ip=ip, now=attempt.occurred_at, exclude=attempt.pk)
    if wait:
        LoginFailure.objects.filter(pk=attempt.pk).delete()
        logger.warning("%s attempt refused (locked out %ss): username=%r ip=%s", kind, wait, username, ip)
        raise exceptions.Throttled(
            wait=wait, detail="Too many failed attempts. Try again later.", code="too_many_attempts"
        )
    return attempt


@transaction.atomic
def _attempt_failed(
    *,
    attempt: LoginFailure,
    reason: str,
    counted: bool,
    actor: Actor,
    user: User | None,
    action: str = "auth.login_failed",
    object_type: str = "accounts.user",
    object_id: str = "",
) -> None:
    """Keep the attempt as a failure (``counted``) or drop it, and audit the refusal — never the password."""
    if counted:
        LoginFailure.objects.filter(pk=attempt.pk).update(reason=reason)
    else:
        LoginFailure.objects.filter(pk=attempt.pk).delete()
    audit_record(
        actor=actor,
        action=action,
        object_type=object_type,
        object_id=object_id or (str(user.pk) if user is not None else ""),
        after={"username": attempt.username, "kind": attempt.kind, "reason": reason},
    )


def _attempt_succeeded(attempt: LoginFailure) -> None:
    LoginFailure.objects.filter(pk=attempt.pk).delete()
    if attempt.username:
        LoginFailure.objects.filter(username=attempt.username, account_cleared=False).update(account_cleared=True)


@functools.cache
def _dummy_password_hash() -> str:
    return make_password(secrets.token_urlsafe(24))


def _user_for_password(*, attempt: LoginFailure, username: str, password: str, actor: Actor) -> User:
    """The active user with this username and password, or a counted failure and 401 ``invalid_credentials``.

    An unknown user costs the same password hashing as a known one, and every failure has the same answer."""
    user = User.objects.filter(username__iexact=username).first()
    if user is None:
        check_password(password, _dummy_password_hash())
        reason = LoginFailure.Reason.UNKNOWN_USER
    elif not user.has_usable_password():
        check_password(password, _dummy_password_hash())  # Django would answer at once: same cost as a real check
        reason = LoginFailure.Reason.BAD_PASSWORD
    elif not user.check_password(password):
        reason = LoginFailure.Reason.BAD_PASSWORD
    elif not user.is_active:
        reason = LoginFailure.Reason.INACTIVE
    else:
        return user
    _attempt_failed(attempt=attempt, reason=reason, counted=True, actor=actor, user=user)
    raise exceptions.AuthenticationFailed(INVALID_CREDENTIALS, code="invalid_credentials")


def _username_key(username: str) -> str:
    return username.strip().lower()[:150]


# --- second factor ----------------------------------------------------------------------------------------------


def _normalise_otp(otp: str) -> str:
    return "".join(otp.split()).replace("-", "").lower()


def _verify_otp(user: User, otp: str) -> str | None:
    """``"totp"`` or ``"recovery_code"`` when ``otp`` is valid (and now spent), else None. The devices are locked so
    two requests cannot both spend the same code (django-otp's ``last_t`` and deleted static tokens do the rest)."""
    code = _normalise_otp(otp)
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
    return TOTPDevice.objects.filter(user=user, confirmed=True).exists()


# --- signing in -------------------------------------------------------------------------------------------------


@transaction.atomic
def session_open(
    *,
    actor: Actor,
    user: User,
    client_device_id: uuid.UUID,
    device: Device | None,
    mfa_method: str,
    ttl_s: int,
    ip: str | None,
    user_agent: str,
) -> IssuedToken:
    """Open a session for a user whose credentials the caller has just verified (``session_login``, TOTP
    confirmation) and audit it; the token is returned here once and stored only as a hash."""
    now = timezone.now()
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    session = ApiSession(
        user=user,
        key_hash=secret_hash(token),
        key_prefix=token[len(TOKEN_PREFIX) :][:8],
        client_device_id=client_device_id,
        device=device,
        mfa_method=mfa_method,
        ip_address=ip,
        user_agent=user_agent.replace("\x00", "")[:200],
        created_at=now,
        expires_at=now + timedelta(seconds=ttl_s),
        last_used_at=now,
    )
    session.save(force_insert=True)
    if device is not None:
        Device.objects.filter(pk=device.pk).update(last_seen_at=now)
    User.objects.filter(pk=user.pk).update(last_login=now)
    audit_record(actor=actor, action="auth.login", obj=session, after=session_snapshot(session))
    return IssuedToken(session=session, token=token)


def _live_tablet(client_device_id: uuid.UUID, device_secret: str) -> Device | None:
    if not device_secret.startswith(DEVICE_SECRET_PREFIX) or len(device_secret) > 128:
        return None
    return (
        Device.objects.select_related("polling_place__county__jurisdiction")
        .filter(pk=client_device_id, secret_hash=secret_hash(device_secret), revoked_at__isnull=True)
        .first()
    )


def tablet_signin_elections(*, user: User, device: Device) -> models.QuerySet[RoleGrant]:
    """The user's poll-manager/worker grants that let them sign in on this tablet: at its polling place (and its
    election, if it is bound to one), for an election held today or within ``AUTH_TABLET_SIGNIN_LEAD_DAYS`` days,
    "today" being the date at the polling place."""
    county = device.polling_place.county
    today = timezone.localdate(timezone=zoneinfo.ZoneInfo(county.timezone or county.jurisdiction.timezone))
    grants = RoleGrant.objects.filter(
        user=user,
        ended_at__isnull=True,
        role__in=POLL_ROLES,
        polling_place_id=device.polling_place_id,
        election__date__gte=today,
        election__date__lte=today + timedelta(days=settings.AUTH_TABLET_SIGNIN_LEAD_DAYS),
    )
    if device.election_id is not None:
        grants = grants.filter(election_id=device.election_id)
    return grants


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
    polling place where they work in an election held today or soon. Raises DRF exceptions with stable codes.
    """
    key = _username_key(username)
    actor = Actor(user=None, ip_address=ip, device=str(client_device_id))
    attempt = _begin_attempt(kind=LoginFailure.Kind.LOGIN, username=key, ip=ip)
    user = _user_for_password(attempt=attempt, username=username.strip(), password=password, actor=actor)
    actor = Actor(user=user, ip_address=ip, device=str(client_device_id))

    def refuse(reason: str, exc: exceptions.APIException, *, counted: bool = False) -> NoReturn:
        _attempt_failed(attempt=attempt, reason=reason, counted=counted, actor=actor, user=user)
        raise exc

    roles = set(RoleGrant.objects.filter(user=user, ended_at__isnull=True).values_list("role", flat=True))
    if not roles:
        refuse("no_active_role", exceptions.PermissionDenied("You hold no active role.", code="no_active_role"))
    device = None
    if device_secret:
        device = _live_tablet(client_device_id, device_secret)
        if device is None:
            refuse(
                "tablet_invalid",
                exceptions.AuthenticationFailed(
                    "This tablet is not enrolled, or its enrolment has been revoked.", code="tablet_invalid"
                ),
            )
    staff = bool(roles & MFA_ROLES)
    if not staff:
        if device is None:
            refuse(
                "tablet_required",
                exceptions.AuthenticationFailed(
                    "Poll managers and workers sign in on an enrolled tablet of their polling place.",
                    code="tablet_required",
                ),
            )
        if not tablet_signin_elections(user=user, device=device).exists():
            refuse(
                "not_assigned_here",
                exceptions.PermissionDenied(
                    "You are not working at this tablet's polling place in a current election.",
                    code="not_assigned_here",
                ),
            )
    needs_otp = staff or has_confirmed_totp(user)
    if needs_otp:
        if not has_confirmed_totp(user):
            refuse(
                "otp_enrolment_required",
                exceptions.AuthenticationFailed(
                    "Set up an authenticator app first (POST /api/v1/auth/totp/).", code="otp_enrolment_required"
                ),
            )
        if not otp:
            refuse("otp_required", exceptions.AuthenticationFailed("A one-time code is required.", code="otp_required"))

    issued = None
    with transaction.atomic():
        method = _verify_otp(user, otp) if needs_otp else ""
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
            _attempt_succeeded(attempt)
    if issued is None:
        refuse(
            LoginFailure.Reason.BAD_OTP,
            exceptions.AuthenticationFailed("A valid one-time code is required.", code="otp_required"),
            counted=True,
        )
    return issued


# --- TOTP enrolment ---------------------------------------------------------------------------------------------


def _mfa_user(
    *, username: str, password: str, client_device_id: uuid.UUID, ip: str | None
) -> tuple[User, LoginFailure, Actor]:
    """The password-checked administrator or commissioner who has no confirmed authenticator yet."""
    actor = Actor(user=None, ip_address=ip, device=str(client_device_id))
    attempt = _begin_attempt(kind=LoginFailure.Kind.TOTP, username=_username_key(username), ip=ip)
    user = _user_for_password(attempt=attempt, username=username.strip(), password=password, actor=actor)
    actor = Actor(user=user, ip_address=ip, device=str(client_device_id))
    if not RoleGrant.objects.filter(user=user, ended_at__isnull=True, role__in=MFA_ROLES).exists():
        _attempt_failed(attempt=attempt, reason="otp_not_required", counted=False, actor=actor, user=user)
        raise BadRequest("Only administrators and commissioners set up a one-time-code app.", "otp_not_required")
    if has_confirmed_totp(user):
        _attempt_failed(attempt=attempt, reason="otp_already_enrolled", counted=False, actor=actor, user=user)
        raise BadRequest(
            "An authenticator app is already set up; an administrator can reset it.",
            "otp_already_enrolled",
            status_code=409,
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
        _attempt_succeeded(attempt)
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
        if pending is not None and pending.verify_token(_normalise_otp(otp)):
            pending.confirmed = True
            pending.save(update_fields=["confirmed"])
            StaticDevice.objects.filter(user=user).delete()
            static = StaticDevice.objects.create(user=user, name="Recovery codes", confirmed=True)
            codes = [StaticToken.random_token() for _ in range(settings.AUTH_RECOVERY_CODE_COUNT)]
            StaticToken.objects.bulk_create(StaticToken(device=static, token=code) for code in codes)
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
            _attempt_succeeded(attempt)
            result = ([f"{c[:4]}-{c[4:]}" for c in codes], issued)
    if result is None:
        if pending is None:
            _attempt_failed(attempt=attempt, reason="no_pending_enrolment", counted=False, actor=actor, user=user)
            raise BadRequest(
                "No authenticator is waiting to be confirmed (or it took too long); start again.",
                "otp_enrolment_expired",
            )
        _attempt_failed(attempt=attempt, reason=LoginFailure.Reason.BAD_OTP, counted=True, actor=actor, user=user)
        raise BadRequest("That code is not valid now.", "otp_invalid", field="otp")
    return result


# --- sessions and users -----------------------------------------------------------------------------------------


def _end_session_locked(*, actor: Actor, session: ApiSession, reason: str, now: datetime) -> None:
    before = session_snapshot(session)
    session.ended_at = now
    session.ended_by = actor.user
    session.end_reason = reason
    session.save(update_fields=["ended_at", "ended_by", "end_reason"])
    action = "auth.logout" if reason == ApiSession.EndReason.LOGOUT else "session.ended"
    audit_record(actor=actor, action=action, obj=session, before=before, after=session_snapshot(session))


@transaction.atomic
def session_end(*, actor: Actor, session: ApiSession, reason: str = ApiSession.EndReason.ENDED) -> ApiSession:
    """End one session now; its token is refused from the next request on. Ending an ended session changes
    nothing."""
    session = ApiSession.objects.select_for_update().get(pk=session.pk)
    if session.ended_at is None:
        _end_session_locked(actor=actor, session=session, reason=reason, now=timezone.now())
    return session


def _end_sessions(*, actor: Actor, sessions: models.QuerySet[ApiSession], reason: str) -> int:
    now = timezone.now()
    live = list(sessions.select_for_update().filter(ended_at__isnull=True, expires_at__gt=now).order_by("pk"))
    for session in live:
        _end_session_locked(actor=actor, session=session, reason=reason, now=now)
    return len(live)


@transaction.atomic
def user_disable(*, actor: Actor, user: User, reason: str = "") -> User:
    """Disable a user (no more sign-ins) and end all their sessions at once. Disabling a disabled user changes
    nothing."""
    user = User.objects.select_for_update().get(pk=user.pk)
    if user.is_active:
        before = user_snapshot(user)
        user.is_active = False
        user.save(update_fields=["is_active"])
        audit_record(
            actor=actor, action="user.disabled", obj=user, before=before, after=user_snapshot(user) | {"reason": reason}
        )
    _end_sessions(actor=actor, sessions=ApiSession.objects.filter(user=user), reason=ApiSession.EndReason.USER_DISABLED)
    return user


def user_changed(*, actor: Actor, user: User, before: dict[str, Any] | None, password_changed: bool = False) -> None:
    """Audit a change made elsewhere (the admin site) inside its transaction; a disabled user or a new password
    ends the user's sessions."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("user_changed() must run inside the transaction of the change")
    after = user_snapshot(user)
    if before != after or password_changed:
        action = "user.created" if before is None else "user.changed"
        audit_record(
            actor=actor, action=action, obj=user, before=before, after=after | {"password_changed": password_changed}
        )
    if not user.is_active:
        _end_sessions(
            actor=actor, sessions=ApiSession.objects.filter(user=user), reason=ApiSession.EndReason.USER_DISABLED
        )
    elif password_changed:
        _end_sessions(
            actor=actor, sessions=ApiSession.objects.filter(user=user), reason=ApiSession.EndReason.PASSWORD_CHANGED
        )


# --- tablets ----------------------------------------------------------------------------------------------------


def normalise_enrolment_code(raw: str) -> str:
    code = "".join(raw.split()).replace("-", "").upper()
    return code.translate(str.maketrans({"O": "0", "I": "1", "L": "1"}))


@transaction.atomic
def enrolment_code_create(
    *, actor: Actor, polling_place: PollingPlace, label: str, election: Election | None = None
) -> tuple[EnrolmentCode, str]:
    """A single-use code (shown once) with which one tablet can enrol itself at ``polling_place``."""
    if election is not None and election.jurisdiction_id != polling_place.county.jurisdiction_id:
        raise BadRequest(
            "The election is not held in this polling place's state.", "election_mismatch", field="election"
        )
    raw = "".join(secrets.choice(ENROLMENT_ALPHABET) for _ in range(ENROLMENT_CODE_LENGTH))
    now = timezone.now()
    enrolment = EnrolmentCode(
        code_hash=secret_hash(raw),
        polling_place=polling_place,
        election=election,
        label=label,
        created_by=actor.user,
        created_at=now,
        expires_at=now + timedelta(seconds=settings.AUTH_ENROLMENT_CODE_TTL_S),
    )
    _full_clean(enrolment, exclude=["code_hash"])
    enrolment.save(force_insert=True)
    audit_record(
        actor=actor,
        action="device.enrolment_code_created",
        obj=enrolment,
        after={
            "polling_place": polling_place.pk,
            "election": election.pk if election else None,
            "label": label,
            "expires_at": enrolment.expires_at,
        },
    )
    return enrolment, f"{raw[:5]}-{raw[5:]}"


def device_enrol(*, code: str, ip: str | None = None) -> tuple[Device, str]:
    """Spend an enrolment code: a new tablet and its secret (shown once). Unknown codes count against the client
    address like failed sign-ins."""
    actor = Actor(user=None, ip_address=ip)
    attempt = _begin_attempt(kind=LoginFailure.Kind.ENROL, username="", ip=ip)
    normalised = normalise_enrolment_code(code)
    now = timezone.now()
    outcome, enrolment, result = "unknown", None, None
    with transaction.atomic():
        if len(normalised) == ENROLMENT_CODE_LENGTH:
            enrolment = EnrolmentCode.objects.select_for_update().filter(code_hash=secret_hash(normalised)).first()
        if enrolment is None:
            outcome = "unknown"
        elif enrolment.used_at is not None:
            outcome = "used"
        elif enrolment.expires_at <= now:
            outcome = "expired"
        else:
            secret = DEVICE_SECRET_PREFIX + secrets.token_urlsafe(32)
            device = Device(
                polling_place_id=enrolment.polling_place_id,
                election_id=enrolment.election_id,
                label=enrolment.label,
                secret_hash=secret_hash(secret),
                enrolled_by_id=enrolment.created_by_id,
                enrolled_at=now,
            )
            device.save(force_insert=True)
            enrolment.used_at = now
            enrolment.device = device
            enrolment.save(update_fields=["used_at", "device"])
            actor = Actor(user=None, ip_address=ip, device=str(device.pk))
            audit_record(actor=actor, action="device.enrolled", obj=device, after=device_snapshot(device))
            LoginFailure.objects.filter(pk=attempt.pk).delete()
            result = (device, secret)
    if result is not None:
        return result
    _attempt_failed(
        attempt=attempt,
        reason={"unknown": LoginFailure.Reason.BAD_CODE}.get(outcome, outcome),
        counted=outcome == "unknown",
        actor=actor,
        user=None,
        action="device.enrol_failed",
        object_type="accounts.enrolmentcode",
        object_id=str(enrolment.pk) if enrolment else "",
    )
    if outcome == "used":
        raise BadRequest("This enrolment code has already been used.", "enrolment_code_used", field="code")
    if outcome == "expired":
        raise BadRequest("This enrolment code has expired; ask for a new one.", "enrolment_code_expired", field="code")
    raise BadRequest("Unknown enrolment code.", "invalid_enrolment_code", field="code")


@transaction.atomic
def device_revoke(*, actor: Actor, device: Device, reason: str) -> Device:
    """Revoke a tablet and end every session on it. Revoking a revoked tablet changes nothing."""
    device = Device.objects.select_for_update().get(pk=device.pk)
    if device.revoked_at is None:
        before = device_snapshot(device)
        device.revoked_at = timezone.now()
        device.revoked_by = actor.user
        device.revoke_reason = reason.strip()
        _full_clean(device, exclude=["secret_hash"])
        device.save(update_fields=["revoked_at", "revoked_by", "revoke_reason"])
        audit_record(actor=actor, action="device.revoked", obj=device, before=before, after=device_snapshot(device))
    _end_sessions(
        actor=actor, sessions=ApiSession.objects.filter(device=device), reason=ApiSession.EndReason.DEVICE_REVOKED
    )
    return device


# --- roles ------------------------------------------------------------------------------------------------------


def may_administer_grant(scope: Scope, grant: RoleGrant) -> bool:
    """Whether the caller may create or end ``grant``: an administrator any role in their state; a commissioner
    poll-manager and poll-worker roles at polling places of their county."""
    if grant.role == Role.STATE_ADMIN:
        return grant.jurisdiction_id in scope.jurisdictions
    if grant.role == Role.COMMISSIONER:
        return grant.county is not None and grant.county.jurisdiction_id in scope.jurisdictions
    place = grant.polling_place
    return place is not None and (
        place.county_id in scope.counties or place.county.jurisdiction_id in scope.jurisdictions
    )


@transaction.atomic
def grant_create(
    *,
    actor: Actor,
    scope: Scope,
    user: User,
    role: str,
    jurisdiction: Any = None,
    county: Any = None,
    polling_place: PollingPlace | None = None,
    election: Election | None = None,
) -> RoleGrant:
    """Give ``user`` a role; it counts from their next request."""
    grant = RoleGrant(
        user=user,
        role=role,
        jurisdiction=jurisdiction,
        county=county,
        polling_place=polling_place,
        election=election,
        granted_by=actor.user,
    )
    if not may_administer_grant(scope, grant):
        raise exceptions.PermissionDenied("Your role cannot grant this role here.", code="cannot_grant_role")
    if actor.user is not None and user.pk == actor.user.pk:
        raise BadRequest("You cannot grant yourself a role.", "self_grant", field="user")
    if (
        polling_place is not None
        and election is not None
        and election.jurisdiction_id != polling_place.county.jurisdiction_id
    ):
        raise BadRequest(
            "The election is not held in this polling place's state.", "election_mismatch", field="election"
        )
    # Serialise grants to one user, so that two requests cannot both add the same role.
    locked = User.objects.select_for_update().get(pk=user.pk)
    if not locked.is_active:
        raise BadRequest("This user is disabled.", "user_disabled", field="user")
    duplicate = RoleGrant.objects.filter(
        user=user,
        role=role,
        ended_at__isnull=True,
        jurisdiction=jurisdiction,
        county=county,
        polling_place=polling_place,
        election=election,
    )
    if duplicate.exists():
        raise BadRequest("The user already holds this role here.", "duplicate_grant")
    _full_clean(grant)
    grant.save(force_insert=True)
    audit_record(actor=actor, action="grant.created", obj=grant, after=grant_snapshot(grant))
    return grant


@transaction.atomic
def grant_end(*, actor: Actor, grant: RoleGrant) -> RoleGrant:
    """End a role grant (kept for the record); it stops counting from the holder's next request."""
    grant = RoleGrant.objects.select_for_update().get(pk=grant.pk)
    if grant.ended_at is None:
        before = grant_snapshot(grant)
        grant.ended_at = timezone.now()
        grant.save(update_fields=["ended_at"])
        audit_record(actor=actor, action="grant.ended", obj=grant, before=before, after=grant_snapshot(grant))
    return grant

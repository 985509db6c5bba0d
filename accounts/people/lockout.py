"""Brute-force protection for everything that takes a secret from an unauthenticated caller: signing in, setting up
a second factor, enrolling a tablet.

Attempts are counted in the database (``LoginFailure``) so every server process shares one count per account and
per client address bucket. The account is the normalised username (``common.text.username_key``), which is exactly
the stored username of the account it resolves to, so look-alike spellings of one account share one budget; an
address is counted as its bucket (``common.net.address_bucket``: an IPv6 address's /64), so rotating addresses
within one subscriber's /64 earns nothing. Each attempt first writes a "pending" row and only then counts the rows
before it, so concurrent guesses see each other: a burst of parallel requests cannot exceed the limit. A failure is
kept (and counted) or dropped, and audited — never with the password.
"""

from __future__ import annotations

import functools
import logging
import math
import secrets
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth.hashers import check_password, make_password
from django.db import transaction
from django.utils import timezone

from accounts.audit import Actor, audit_record
from accounts.models import LoginFailure, User
from common.errors import DomainError
from common.net import address_bucket
from common.text import username_key as canonical_username
from guard import events as security_events
from guard.ips import note_offence
from guard.models import SecurityEvent

logger = logging.getLogger(__name__)

INVALID_CREDENTIALS = "Invalid username or password."


def _lockout_seconds(times: list[datetime], limit: int, now: datetime) -> int:
    """Seconds until another attempt is allowed, given failure times newest first: locked while ``limit`` failures
    fall within the window; each further full batch of ``limit`` failures doubles the window (up to the maximum)."""
    batches = len(times) // limit
    if batches == 0:
        return 0
    window = min(settings.AUTH_LOCKOUT_WINDOW_S * 2 ** (batches - 1), settings.AUTH_LOCKOUT_MAX_WINDOW_S)
    return max(0, math.ceil((times[limit - 1] + timedelta(seconds=window) - now).total_seconds()))


def login_retry_after(*, username: str, ip: str | None, now: datetime | None = None, exclude: int | None = None) -> int:
    """Seconds until the account ``username`` (a ``username_key``) from ``ip`` (counted as its address bucket) may
    try again (0: now)."""
    now = now or timezone.now()
    # No upper bound on the time: a concurrent attempt may have read the clock a moment after this one did.
    rows = LoginFailure.objects.filter(occurred_at__gte=now - timedelta(seconds=settings.AUTH_LOCKOUT_MAX_WINDOW_S))
    if exclude is not None:
        rows = rows.exclude(pk=exclude)
    waits = [0]
    # A window never doubles more than 8 times before it reaches a day; no need to read further back.
    for limit, subset in (
        (
            settings.AUTH_LOCKOUT_PER_ACCOUNT,
            rows.filter(username=username, account_cleared=False) if username else None,
        ),
        (settings.AUTH_LOCKOUT_PER_ADDRESS, rows.filter(address_bucket=address_bucket(ip)) if ip else None),
    ):
        if subset is not None:
            times = list(subset.order_by("-occurred_at").values_list("occurred_at", flat=True)[: limit * 8])
            waits.append(_lockout_seconds(times, limit, now))
    return max(waits)


def too_many_attempts(wait: int) -> DomainError:
    """The refusal of a locked-out attempt: wait ``wait`` seconds (``retry_after_s``)."""
    unit = "second" if wait == 1 else "seconds"
    return DomainError(
        f"Too many failed attempts. Try again later. Expected available in {wait} {unit}.",
        "too_many_attempts",
        extra={"retry_after_s": wait},
    )


def attempt_begin(*, kind: str, username: str, ip: str | None) -> LoginFailure:
    """Write the attempt first (committed at once outside a transaction), then count the ones before it; refuses
    with ``too_many_attempts`` while the account or the address is locked out."""
    attempt = LoginFailure.objects.create(
        occurred_at=timezone.now(),
        kind=kind,
        username=username,
        ip_address=ip,
        address_bucket=address_bucket(ip) or "",
    )
    wait = login_retry_after(username=username, ip=ip, now=attempt.occurred_at, exclude=attempt.pk)
    if wait:
        LoginFailure.objects.filter(pk=attempt.pk).delete()
        logger.warning("%s attempt refused (locked out %ss): username=%r ip=%s", kind, wait, username, ip)
        security_events.record(SecurityEvent.Kind.AUTH_FAILURE, "locked_out", address=ip, account=username)
        raise too_many_attempts(wait)
    return attempt


@transaction.atomic
def attempt_failed(
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
        # A burst of failures from one address blocks it outright (guard.ips), beyond this account's lockout.
        note_offence(attempt.ip_address, "auth_failure", reason=reason, account=attempt.username)
    else:
        LoginFailure.objects.filter(pk=attempt.pk).delete()
    audit_record(
        actor=actor,
        action=action,
        object_type=object_type,
        object_id=object_id or (str(user.pk) if user is not None else ""),
        after={"username": attempt.username, "kind": attempt.kind, "reason": reason},
    )


def attempt_succeeded(*, attempt: LoginFailure) -> None:
    """Drop the attempt and clear the account's failures (the address's stay counted)."""
    LoginFailure.objects.filter(pk=attempt.pk).delete()
    if attempt.username:
        LoginFailure.objects.filter(username=attempt.username, account_cleared=False).update(account_cleared=True)


@functools.cache
def _dummy_password_hash() -> str:
    return make_password(secrets.token_urlsafe(24))


def user_for_password(*, attempt: LoginFailure, username: str, password: str, actor: Actor) -> User:
    """The active user with this username and password, or a counted failure and ``invalid_credentials``.

    The account is found by the normalised username, exactly (never ``iexact``, whose meaning differs between
    SQLite and PostgreSQL). An unknown user costs the same password hashing as a known one, and every failure has
    the same answer."""
    key = account_key(username)
    user = User.objects.filter(username=key).first() if key else None
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
    attempt_failed(attempt=attempt, reason=reason, counted=True, actor=actor, user=user)
    raise DomainError(INVALID_CREDENTIALS, "invalid_credentials")


def account_key(username: str) -> str:
    """The stored username a typed one names: trimmed and normalised exactly as usernames are stored (NFKC case
    folding, ``common.text.username_key``)."""
    return canonical_username(username)


def username_key(username: str) -> str:
    """How the attempts on the account a typed username names are counted: its ``account_key``, bounded to the
    column (a key longer than any username names no account)."""
    return account_key(username)[:150]

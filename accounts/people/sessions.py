"""API sessions: opened for a caller whose credentials were just verified, ended one by one or all of a user's or a
tablet's at once. The bearer token exists outside the client only in the answer that opens the session; the
database keeps its hash."""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import models, transaction
from django.utils import timezone

from accounts.audit import Actor, audit_record
from accounts.authentication import TOKEN_PREFIX, secret_hash
from accounts.models import ApiSession, Device, User
from accounts.session_guard import session_end_locked, session_snapshot


@dataclass(frozen=True)
class IssuedToken:
    """A new session and its bearer token (the only time the token exists outside the client)."""

    session: ApiSession
    token: str

    @property
    def expires_at(self) -> datetime:
        return self.session.expires_at


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


@transaction.atomic
def session_end(*, actor: Actor, session: ApiSession, reason: str = ApiSession.EndReason.ENDED) -> ApiSession:
    """End one session now; its token is refused from the next request on. Ending an ended session changes
    nothing."""
    session = ApiSession.objects.select_for_update().get(pk=session.pk)
    if session.ended_at is None:
        session_end_locked(actor=actor, session=session, reason=reason, now=timezone.now())
    return session


def sessions_end(*, actor: Actor, sessions: models.QuerySet[ApiSession], reason: str) -> int:
    """End every live session of ``sessions`` (locked, in id order), inside the caller's transaction; returns how
    many ended."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("sessions_end() must run inside the transaction of the change that ends them")
    now = timezone.now()
    live = list(sessions.select_for_update().filter(ended_at__isnull=True, expires_at__gt=now).order_by("pk"))
    for session in live:
        session_end_locked(actor=actor, session=session, reason=reason, now=now)
    return len(live)


__all__ = ["IssuedToken", "session_end", "session_open", "session_snapshot", "sessions_end"]

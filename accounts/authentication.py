"""Bearer-token authentication for the staff API.

``Authorization: Bearer pgt_…`` plus ``X-Device-Id: <uuid>``: the token is looked up by its SHA-256 hash (so no
secret-dependent comparison happens in Python), and must belong to a live session bound to that device id. Every
refusal is a 401 with a stable ``code``.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.request import Request

from accounts import session_guard
from accounts.audit import Actor
from accounts.models import ApiSession
from accounts.net import client_ip

TOKEN_PREFIX = "pgt_"  # noqa: S105 (a public marker, not a secret)
DEVICE_SECRET_PREFIX = "pgd_"  # noqa: S105
DEVICE_HEADER = "HTTP_X_DEVICE_ID"
#: Longer than any token we issue; anything longer is not ours and is not hashed.
MAX_TOKEN_LENGTH = 128
WWW_AUTHENTICATE = 'Bearer realm="api"'


def secret_hash(secret: str) -> str:
    """How tokens, device secrets and enrolment codes are stored: hex SHA-256 (they carry ≥ 50 random bits, so no
    slow hash is needed, and a lookup by hash is a constant-time comparison in effect)."""
    return hashlib.sha256(secret.encode()).hexdigest()


def parse_device_id(value: Any) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except (TypeError, ValueError, AttributeError):
        return None


def request_device_id(request: Any) -> uuid.UUID | None:
    return parse_device_id(request.META.get(DEVICE_HEADER, "")[:64])


def _refuse(detail: str, code: str) -> exceptions.AuthenticationFailed:
    return exceptions.AuthenticationFailed(detail, code=code)


class TokenAuthentication(BaseAuthentication):
    """``Authorization: Bearer <token>``; sets ``request.user`` and ``request.auth`` (the ``ApiSession``)."""

    def authenticate(self, request: Request) -> tuple[Any, ApiSession] | None:
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() != b"bearer":
            return None
        if len(parts) != 2 or len(parts[1]) > MAX_TOKEN_LENGTH:
            raise _refuse("Malformed Authorization header.", "invalid_token")
        try:
            token = parts[1].decode("ascii")
        except UnicodeDecodeError:
            raise _refuse("Malformed Authorization header.", "invalid_token") from None
        if not token.startswith(TOKEN_PREFIX):
            raise _refuse("Invalid token.", "invalid_token")
        session = ApiSession.objects.select_related("user", "device").filter(key_hash=secret_hash(token)).first()
        if session is None:
            raise _refuse("Invalid token.", "invalid_token")
        # Checked before the session's state, so whoever holds a copied token learns nothing about it.
        if request_device_id(request) != session.client_device_id:
            raise _refuse("This token belongs to another device (send its X-Device-Id).", "device_mismatch")
        if session.ended_at is not None:
            if session.end_reason == ApiSession.EndReason.SHARED_LOGON:
                raise _refuse(session_guard.ENDED_DETAIL, session_guard.ENDED_CODE)
            if session.end_reason == ApiSession.EndReason.DEVICE_REVOKED:
                # Told to the tablet itself (its token and device id passed above), so it forgets what it kept.
                raise _refuse("This tablet has been revoked.", "device_revoked")
            raise _refuse("This session has ended; sign in again.", "session_ended")
        now = timezone.now()
        if session.expires_at <= now:
            raise _refuse("This token has expired; sign in again.", "token_expired")
        if not session.user.is_active:
            raise _refuse("This session has ended; sign in again.", "session_ended")
        if session.device is not None and session.device.revoked_at is not None:
            raise _refuse("This tablet has been revoked.", "device_revoked")
        if now - session.last_used_at >= timedelta(seconds=settings.AUTH_TOKEN_TOUCH_INTERVAL_S):
            # The no-shared-logon rule is judged here only, where the session's last use is written anyway: the
            # address test is in memory, and the database is asked more only when the address moved far.
            ip = client_ip(request)
            if ip and session_guard.moved_far(session, ip):
                actor = Actor(user=session.user, ip_address=ip, device=str(session.client_device_id))
                ended = session_guard.shared_logon_at_use(actor=actor, session=session, ip=ip, now=now)
                if ended == ApiSession.EndReason.SHARED_LOGON:
                    raise _refuse(session_guard.ENDED_DETAIL, session_guard.ENDED_CODE)
                if ended:
                    raise _refuse("This session has ended; sign in again.", "session_ended")
            else:
                seen = {"last_ip_address": ip} if ip else {}
                ApiSession.objects.filter(pk=session.pk).update(last_used_at=now, **seen)
            session.last_used_at = now
            session.last_ip_address = ip or session.last_ip_address
        return session.user, session

    def authenticate_header(self, request: Request) -> str:
        return WWW_AUTHENTICATE


def request_actor(request: Any) -> Actor:
    """The ``Actor`` for audit records: the signed-in user (if any), the client address, and the device id."""
    session = getattr(request, "auth", None)
    user = getattr(request, "user", None)
    if isinstance(session, ApiSession):
        device = str(session.client_device_id)
    else:
        found = request_device_id(request)
        device = str(found) if found else ""
    return Actor(
        user=user if user is not None and user.is_authenticated else None,
        ip_address=client_ip(request),
        device=device,
    )


class TokenAuthenticationScheme(OpenApiAuthenticationExtension):  # type: ignore[no-untyped-call]
    """Describes ``TokenAuthentication`` in the OpenAPI schema."""

    target_class = TokenAuthentication
    name = "bearerToken"

    def get_security_definition(self, auto_schema: Any) -> dict[str, Any]:
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "A token from POST /api/v1/auth/token/, sent with the X-Device-Id given at sign-in.",
        }

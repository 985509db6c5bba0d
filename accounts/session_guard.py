"""What a session is held to after it is opened: how it ends, and Mississippi's rule that nobody shares a logon.

**The rule.** One account is *in use at once* from two places when two of its live sessions were both used within
``SHARED_LOGON_WINDOW_S`` and were opened on different device ids, or one session (or two) was used from addresses
*far apart*. Far apart means on different networks: another IPv4 /16, another IPv6 /32 (an IPv4-mapped IPv6
address counts as IPv4); when ``guard.geo.country_of`` is installed and knows both addresses, another country also
counts — the only way an IPv4 and an IPv6 address are compared (a dual-stack client alternates between the two, so
different families alone never count). The same device signing in again from a near address is not sharing: a
person who signs out and in on their tablet, or whose token was lost, is not flagged.

**Where it is checked.** At sign-in (``shared_logon_at_signin``, called by the sign-in services in the transaction
that opens the session): the new session against the user's other live sessions used within the window. At use
(``accounts.authentication``): only on the path that already writes ``last_used_at`` (at most every
``AUTH_TOKEN_TOUCH_INTERVAL_S``), comparing the request's address with the address of the session's last written
use — an in-memory comparison; the database is touched only when the addresses are far apart.

**What happens.** ``SHARED_LOGON_POLICY``: ``end_older`` (default) ends the older session(s) with the reason
``shared_logon`` (at use: the shared session itself, so every holder must sign in again); ``flag`` only records.
Either way a ``SharedLogonFlag`` row and an ``auth.shared_logon`` audit event are written. An ended session's next
request is refused 401 ``session_ended_shared_logon`` with a detail that says why.

This module sits beside ``accounts.authentication`` (which calls it on every touch) rather than in
``accounts.people`` (which imports ``authentication``), so that no import circle forms.
"""

from __future__ import annotations

import importlib
import ipaddress
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction

from accounts.audit import Actor, audit_record
from accounts.models import ApiSession, SharedLogonFlag, User

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

#: The 401 code and detail of a session the rule ended (registered in ``common.errors.REFUSALS``).
ENDED_CODE = "session_ended_shared_logon"
ENDED_DETAIL = (
    "This session was ended because this account was in use at the same time on another device or from a distant "
    "network, and logons may not be shared. Sign in again; if that was not you, tell your county commissioner."
)
#: What the person reads next to a session the rule ended (their session list).
END_EXPLANATION = (
    "Ended because this account was in use at the same time on another device or from a distant network "
    "(logons may not be shared)."
)

#: How many bits of an address make its network, for "far apart".
IPV4_PREFIX = 16
IPV6_PREFIX = 32


# --- Ending a session (the one place, shared with accounts.people.sessions) ---------------------------------------


def session_snapshot(session: ApiSession) -> dict[str, Any]:
    """What the audit trail records of a session (never the token or its hash)."""
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


def session_end_locked(*, actor: Actor, session: ApiSession, reason: str, now: datetime) -> None:
    """End a session the caller has locked (``select_for_update``) and audit it, inside the caller's transaction."""
    before = session_snapshot(session)
    session.ended_at = now
    session.ended_by = actor.user
    session.end_reason = reason
    session.save(update_fields=["ended_at", "ended_by", "end_reason"])
    action = "auth.logout" if reason == ApiSession.EndReason.LOGOUT else "session.ended"
    audit_record(actor=actor, action=action, obj=session, before=before, after=session_snapshot(session))


# --- Far apart ----------------------------------------------------------------------------------------------------


def _parse(ip: str | None) -> IPAddress | None:
    if not ip:
        return None
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def address_network(ip: str | None) -> str | None:
    """The network an address is judged by: its IPv4 /16 or IPv6 /32 (``10.1.0.0/16``); None when unparseable."""
    address = _parse(ip)
    if address is None:
        return None
    prefix = IPV4_PREFIX if address.version == 4 else IPV6_PREFIX
    return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False))


def _country(ip: str) -> str:
    """The country of an address when the optional ``guard.geo.country_of`` exists and knows it, else ``""``.
    Looked up at call time so that this rule works (on networks alone) with or without the geo module."""
    try:
        country_of = getattr(importlib.import_module("guard.geo"), "country_of", None)
    except ImportError:
        return ""
    if country_of is None:
        return ""
    try:
        found = country_of(ip)
    except Exception:  # a missing or broken geo database must not break sign-in
        return ""
    return found.upper() if isinstance(found, str) else ""


def far_apart(first: str | None, second: str | None) -> bool:
    """Whether two client addresses are far apart: both known, and on different networks of one family, or (when
    ``guard.geo`` knows both) in different countries. Unknown or unparseable addresses are never far apart."""
    a, b = _parse(first), _parse(second)
    if a is None or b is None or a == b:
        return False
    if a.version == b.version and address_network(str(a)) != address_network(str(b)):
        return True
    countries = _country(str(a)), _country(str(b))
    return all(countries) and countries[0] != countries[1]


# --- Detecting and acting -----------------------------------------------------------------------------------------


def _unique(values: list[str]) -> list[str]:
    return list(dict.fromkeys(v for v in values if v))


def _policy_ends() -> bool:
    return bool(settings.SHARED_LOGON_POLICY == "end_older")


def _flag(
    *,
    actor: Actor,
    session: ApiSession,
    involved: list[ApiSession],
    detected_on: str,
    other_device: bool,
    far_address: bool,
    addresses: list[str],
    action: str,
    ended: int,
    now: datetime,
) -> SharedLogonFlag:
    flag = SharedLogonFlag.objects.create(
        user_id=session.user_id,
        detected_at=now,
        detected_on=detected_on,
        session=session,
        other_device=other_device,
        far_address=far_address,
        devices=_unique([str(s.client_device_id) for s in involved]),
        addresses=_unique(addresses),
        action=action,
        ended_count=ended,
    )
    flag.sessions.set(involved)
    audit_record(
        actor=actor,
        action="auth.shared_logon",
        obj=flag,
        after={
            "user": flag.user_id,
            "detected_on": flag.detected_on,
            "session": session.pk,
            "sessions": sorted(s.pk for s in involved),
            "other_device": other_device,
            "far_address": far_address,
            "devices": flag.devices,
            "addresses": flag.addresses,
            "action": action,
            "ended": ended,
            "policy": settings.SHARED_LOGON_POLICY,
        },
    )
    return flag


def _rule_actor(actor: Actor) -> Actor:
    """Who ends a session under the rule: the system (``ended_by`` stays empty), from the request that revealed it."""
    return Actor(user=None, ip_address=actor.ip_address, device=actor.device)


def shared_logon_at_signin(*, actor: Actor, session: ApiSession) -> SharedLogonFlag | None:
    """Judge a session just opened against the user's other live sessions used within ``SHARED_LOGON_WINDOW_S``:
    another device id, or an address far from where that session was last seen, is a shared logon. Under
    ``end_older`` those older sessions end (reason ``shared_logon``). Runs inside the sign-in's transaction; the
    user's row is locked first, so two sign-ins at the same moment are judged one after the other and the second
    sees the first."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("shared_logon_at_signin() must run inside the transaction that opens the session")
    now = session.created_at
    User.objects.select_for_update().filter(pk=session.user_id).values_list("pk", flat=True).first()
    recent = (
        ApiSession.objects.select_for_update()
        .filter(
            user_id=session.user_id,
            ended_at__isnull=True,
            expires_at__gt=now,
            last_used_at__gte=now - timedelta(seconds=settings.SHARED_LOGON_WINDOW_S),
        )
        .exclude(pk=session.pk)
        .order_by("pk")
    )
    others, other_device, far_address = [], False, False
    for other in recent:
        device_differs = other.client_device_id != session.client_device_id
        address_far = far_apart(other.seen_address, session.ip_address)
        if device_differs or address_far:
            others.append(other)
            other_device |= device_differs
            far_address |= address_far
    if not others:
        return None
    ended = 0
    if _policy_ends():
        for other in others:
            session_end_locked(
                actor=_rule_actor(actor), session=other, reason=ApiSession.EndReason.SHARED_LOGON, now=now
            )
            ended += 1
    return _flag(
        actor=actor,
        session=session,
        involved=[*others, session],
        detected_on=SharedLogonFlag.Detected.SIGNIN,
        other_device=other_device,
        far_address=far_address,
        addresses=[o.seen_address or "" for o in others] + [session.ip_address or ""],
        action=SharedLogonFlag.Action.ENDED_OLDER if ended else SharedLogonFlag.Action.FLAGGED,
        ended=ended,
        now=now,
    )


def moved_far(session: ApiSession, ip: str | None) -> bool:
    """Whether a request from ``ip`` is far from where ``session`` was last seen (no query: the caller already holds
    the session). The cheap test ``accounts.authentication`` makes before calling ``shared_logon_at_use``."""
    return far_apart(session.seen_address, ip)


@transaction.atomic
def shared_logon_at_use(*, actor: Actor, session: ApiSession, ip: str, now: datetime) -> str:
    """A session is being used from ``ip``, far from where it was last seen (``moved_far``). When that last use was
    within ``SHARED_LOGON_WINDOW_S`` it is a shared logon: recorded (once per session per window under ``flag``)
    and, under ``end_older``, the session ends. Otherwise the session simply moved. Either way the session's last
    use is written (time and address). Returns the session's end reason when it has ended (by this rule, or by
    another request meanwhile), so that the request is refused with the right code; ``""`` while it lives."""
    locked = ApiSession.objects.select_for_update().get(pk=session.pk)
    if locked.ended_at is not None:
        return locked.end_reason
    previous = locked.seen_address
    window = timedelta(seconds=settings.SHARED_LOGON_WINDOW_S)
    shared = now - locked.last_used_at < window and far_apart(previous, ip)
    if shared and not _policy_ends():
        # Under ``flag`` a session used by two parties would otherwise be flagged on every touch.
        shared = not SharedLogonFlag.objects.filter(
            session=locked, detected_on=SharedLogonFlag.Detected.USE, detected_at__gte=now - window
        ).exists()
    ApiSession.objects.filter(pk=locked.pk).update(last_used_at=now, last_ip_address=ip)
    if not shared:
        return ""
    ends = _policy_ends()
    if ends:
        session_end_locked(actor=_rule_actor(actor), session=locked, reason=ApiSession.EndReason.SHARED_LOGON, now=now)
    _flag(
        actor=actor,
        session=locked,
        involved=[locked],
        detected_on=SharedLogonFlag.Detected.USE,
        other_device=False,
        far_address=True,
        addresses=[previous or "", ip],
        action=SharedLogonFlag.Action.ENDED_SESSION if ends else SharedLogonFlag.Action.FLAGGED,
        ended=1 if ends else 0,
        now=now,
    )
    return ApiSession.EndReason.SHARED_LOGON if ends else ""

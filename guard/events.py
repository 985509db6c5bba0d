"""Recording security events for the daily report, without letting a flood turn into a flood of writes."""

from __future__ import annotations

import logging

from django.core.cache import cache
from django.db import DatabaseError
from django.utils import timezone

from common.net import address_bucket
from guard.models import SecurityEvent

logger = logging.getLogger("guard")

#: The same (kind, reason, address bucket) within this many seconds is counted on one row instead of written again.
COALESCE_WINDOW_S = 60
#: Within a window the row's count is exact for the first 64 events and then brought up to date every 64th, so a
#: flood of n requests costs at most 64 + n/64 writes; the count may trail the truth by fewer than 64 per window.
FLUSH_EVERY = 64


def _due(n: int) -> bool:
    return n <= FLUSH_EVERY or n % FLUSH_EVERY == 0


def record(
    kind: str,
    reason: str = "",
    *,
    address: str | None = None,
    country: str = "",
    path: str = "",
    account: str = "",
) -> None:
    """Record one security event. Never raises: a refusal must not turn into a server error because logging failed."""
    bucket = address_bucket(address) or ""
    key = f"guard:ev:{kind}:{reason}:{bucket}"
    try:
        row_id = cache.get(key)
        if row_id is not None:
            try:
                n = cache.incr(f"{key}:n")
            except ValueError:  # the counter expired before the row id did
                n = 0
            if n and not _due(n):
                return
            if n and SecurityEvent.objects.filter(pk=row_id).update(count=n):
                return
        event = SecurityEvent.objects.create(
            occurred_at=timezone.now(),
            kind=kind,
            reason=reason[:64],
            address=address or None,
            bucket=bucket[:64],
            country=country[:8],
            path=path[:200],
            account=account[:150],
        )
        cache.set_many({key: event.pk, f"{key}:n": 1}, COALESCE_WINDOW_S)
    except DatabaseError:  # logged, never fatal
        logger.exception("could not record security event %s %s", kind, reason)

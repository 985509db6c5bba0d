"""Intrusion prevention: an address that behaves like a scanner or an abuser is refused for a growing time.

What counts against an address (its bucket, ``common.net.address_bucket``: an IPv6 address counts as its /64) is an
*offence* of one of four kinds, each with its own threshold per window (``IPS_THRESHOLDS``): a burst of
authentication failures, probes of paths no client of ours asks for, a flood of malformed requests, and carrying on
while throttled. The counters live in the Django cache — Redis when ``REDIS_URL`` is set, so every server process
adds to one count — and are raised with the cache's atomic ``incr``; windows are fixed (a count starts afresh at
each multiple of the window).

The offence that reaches a threshold blocks the bucket: a row (``AddressBlock``) for the record, the report and the
admin, and a flag in the cache holding the block's end, so that checking a request costs one cache read and no
database query (``is_blocked``). Each block of a bucket within ``IPS_MEMORY_S`` of an earlier, unlifted one lasts
twice as long (``IPS_BLOCK_BASE_S`` doubling up to ``IPS_BLOCK_MAX_S``). Addresses on ``IPS_ALLOWLIST`` are never
counted nor blocked.

Staff API requests are also limited per account (``STAFF_RATE_LIMIT``, ``StaffRateThrottle``), counted the same
way, so one stolen token cannot be used to pull data as fast as the network allows.
"""

from __future__ import annotations

import functools
import ipaddress
import logging
import math
import re
import time
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.db.models import Case, IntegerField, QuerySet, Value, When
from django.http import HttpRequest
from django.utils import timezone
from rest_framework.exceptions import Throttled
from rest_framework.throttling import BaseThrottle

from common.net import address_bucket, client_ip
from guard.events import record
from guard.models import AddressBlock, SecurityEvent

logger = logging.getLogger("guard")

#: The kinds of offence, each counted on its own (``IPS_THRESHOLDS``).
KINDS = ("auth_failure", "probe", "malformed", "throttled")

#: Paths that scanners try and no client of ours asks for: a 404 on one of them is a probe.
PROBE_PATTERNS = (
    r"/\.env",
    r"/\.git(/|$)",
    r"/\.svn(/|$)",
    r"/\.hg(/|$)",
    r"/\.aws(/|$)",
    r"/\.ssh(/|$)",
    r"/\.ds_store$",
    r"/\.htaccess$",
    r"/\.htpasswd$",
    r"\.(php\d?|phtml|asp|aspx|jsp|cgi|pl)$",
    r"/wp-(admin|login|content|includes|json)",
    r"/xmlrpc",
    r"/php-?my-?admin",
    r"/pma(/|$)",
    r"/cgi-bin/",
    r"/actuator(/|$)",
    r"/server-status",
    r"/server-info",
    r"/solr(/|$)",
    r"/jenkins(/|$)",
    r"/manager/html",
    r"/hnap1",
    r"/boaform",
    r"/vendor/phpunit",
    r"/console(/|$)",
    r"/owa(/|$)",
    r"/autodiscover",
    r"/etc/passwd",
    r"\.\./",
    r"/(backup|db|database|dump|site)\.(sql|zip|tar|tar\.gz|tgz|rar|bak)$",
    r"/config\.(json|yml|yaml|bak)$",
)
_PROBE = re.compile("|".join(PROBE_PATTERNS), re.IGNORECASE)

_FLAG = "ips:block:"  # + bucket -> the block's end (Unix seconds)


class AccountRateLimited(Throttled):
    """A staff account over ``STAFF_RATE_LIMIT``: 429 with ``Retry-After`` and ``retry_after_s``."""

    default_code = "account_rate_limited"
    default_detail = "Too many requests from this account."


def is_probe(path: str) -> bool:
    """Whether ``path`` is one scanners try and no client of ours asks for (``PROBE_PATTERNS``)."""
    return _PROBE.search(path) is not None


@functools.cache
def _networks(entries: tuple[str, ...]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    networks = []
    for entry in entries:
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            logger.error("IPS_ALLOWLIST: %r is neither an address nor a network; ignored", entry)
    return tuple(networks)


def allowed(ip: str | None) -> bool:
    """Whether ``ip`` is on the allow-list (``IPS_ALLOWLIST``, addresses and CIDR networks): never counted, never
    blocked. An IPv4-mapped IPv6 address is judged as its IPv4 address."""
    if not ip:
        return False
    try:
        address: ipaddress.IPv4Address | ipaddress.IPv6Address = ipaddress.ip_address(ip)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address in network for network in _networks(tuple(settings.IPS_ALLOWLIST)))


def _incr(key: str, ttl: int) -> int:
    """Add one to the counter ``key`` (created with ``ttl`` seconds to live) and return it: atomic in Redis."""
    cache.add(key, 0, ttl)
    try:
        return int(cache.incr(key))
    except ValueError:  # expired between add and incr
        cache.set(key, 1, ttl)
        return 1


def _flag_key(bucket: str) -> str:
    return _FLAG + bucket


def is_blocked(ip: str | None) -> int:
    """Seconds the address ``ip`` stays blocked (0: not blocked). One cache read; no database query."""
    if not ip or not settings.IPS_ENABLED:
        return 0
    until = cache.get(_flag_key(address_bucket(ip) or ip))
    if until is None:
        return 0
    # The flag's own time to live ends it too; comparing the end keeps this exact under a travelling test clock.
    remaining = math.ceil(float(until) - time.time())
    if remaining <= 0 or allowed(ip):
        return 0
    return remaining


def note_offence(
    request_or_ip: HttpRequest | str | None, kind: str, *, reason: str = "", path: str = "", account: str = ""
) -> AddressBlock | None:
    """Count one offence of ``kind`` (``KINDS``) against the address, record it as a security event, and block the
    address's bucket when this offence reaches the kind's threshold within its window. Returns the new block, if
    this offence started one. Allow-listed addresses are ignored."""
    if kind not in KINDS:
        raise ValueError(f"unknown offence kind {kind!r}")
    if isinstance(request_or_ip, HttpRequest):
        ip = client_ip(request_or_ip)
        path = path or request_or_ip.path
    else:
        ip = request_or_ip
    if not ip or not settings.IPS_ENABLED or allowed(ip):
        return None
    bucket = address_bucket(ip) or ip
    record(kind, reason or kind, address=_valid_ip(ip), path=path, account=account)
    limit, window = settings.IPS_THRESHOLDS[kind]
    now = time.time()
    slot = int(now // window)
    count = _incr(f"ips:n:{kind}:{bucket}:{slot}", window + 5)
    # Exactly one offence reads the threshold from the atomic increment, however many processes count at once;
    # those already in flight when the block starts read more and start nothing.
    if count != limit or is_blocked(ip):
        return None
    block = block_bucket(bucket, reason=kind, ip=ip)
    cache.delete(f"ips:n:{kind}:{bucket}:{slot}")
    return block


def _valid_ip(ip: str) -> str | None:
    try:
        return str(ipaddress.ip_address(ip))
    except ValueError:
        return None


def block_seconds(strikes: int) -> int:
    """How long the ``strikes``-th block of a bucket within ``IPS_MEMORY_S`` lasts: the base, doubled per strike."""
    return int(min(settings.IPS_BLOCK_BASE_S * 2 ** min(strikes - 1, 32), settings.IPS_BLOCK_MAX_S))


def block_bucket(bucket: str, *, reason: str, ip: str | None = None, note: str = "") -> AddressBlock:
    """Block ``bucket`` now, for longer the more unlifted blocks it had within ``IPS_MEMORY_S``: the row, then the
    cache flag every process checks, then a ``blocked`` security event."""
    now = timezone.now()
    with transaction.atomic():
        earlier = AddressBlock.objects.filter(
            bucket=bucket, blocked_at__gte=now - timedelta(seconds=settings.IPS_MEMORY_S), lifted_at__isnull=True
        ).count()
        strikes = earlier + 1
        seconds = block_seconds(strikes)
        block = AddressBlock.objects.create(
            bucket=bucket[:64],
            reason=reason,
            strikes=strikes,
            blocked_at=now,
            until=now + timedelta(seconds=seconds),
            note=note[:200],
        )
    cache.set(_flag_key(bucket), block.until.timestamp(), seconds)
    logger.warning("blocked %s for %ss (%s, strike %s)", bucket, seconds, reason, strikes)
    record(SecurityEvent.Kind.BLOCKED, reason, address=_valid_ip(ip) if ip else None)
    return block


def lift(bucket: str, *, by: str, note: str = "") -> list[AddressBlock]:
    """End the active blocks of ``bucket`` now and forget its offence counts; ``by`` names who lifted them (the
    caller audits). A lifted block does not lengthen the bucket's next one. Returns the blocks lifted."""
    now = timezone.now()
    with transaction.atomic():
        rows = list(
            AddressBlock.objects.select_for_update().filter(bucket=bucket, lifted_at__isnull=True, until__gt=now)
        )
        for block in rows:
            block.lifted_at = now
            block.lifted_by = by[:150]
            if note:
                block.note = note[:200]
            block.save(update_fields=["lifted_at", "lifted_by", "note"])
    cache.delete(_flag_key(bucket))
    slots = [(kind, int(time.time() // settings.IPS_THRESHOLDS[kind][1])) for kind in KINDS]
    cache.delete_many([f"ips:n:{kind}:{bucket}:{slot}" for kind, slot in slots])
    return rows


def active_blocks() -> list[AddressBlock]:
    """The blocks in force now, the longest-lasting first."""
    return list(AddressBlock.objects.filter(lifted_at__isnull=True, until__gt=timezone.now()).order_by("-until"))


def blocks_active_first(qs: QuerySet[AddressBlock] | None = None) -> QuerySet[AddressBlock]:
    """Blocks in force first (the longest-lasting on top), then the rest, newest first."""
    now = timezone.now()
    qs = AddressBlock.objects.all() if qs is None else qs
    return qs.annotate(
        in_force=Case(
            When(lifted_at__isnull=True, until__gt=now, then=Value(1)), default=Value(0), output_field=IntegerField()
        )
    ).order_by("-in_force", "-until", "-pk")


def _parse_rate(rate: str) -> tuple[int, int]:
    """``"600/minute"`` → (600, 60): requests per period in seconds (DRF's spelling)."""
    count, _, period = rate.partition("/")
    seconds = {"s": 1, "m": 60, "h": 3600, "d": 86400}[period.strip()[:1].lower()]
    return int(count), seconds


class StaffRateThrottle(BaseThrottle):
    """Per signed-in account, ``STAFF_RATE_LIMIT`` requests per period, counted in the shared cache with an atomic
    increment (DRF's own throttles read and rewrite a list, which concurrent processes can undercount). Anonymous
    requests pass (the public throttle counts them by address)."""

    def __init__(self) -> None:
        self._wait: float | None = None

    def allow_request(self, request: Any, view: Any) -> bool:
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            return True
        limit, period = _parse_rate(settings.STAFF_RATE_LIMIT)
        now = time.time()
        slot = int(now // period)
        if _incr(f"ips:acct:{user.pk}:{slot}", period + 5) <= limit:
            return True
        raise AccountRateLimited(wait=math.ceil((slot + 1) * period - now))

    def wait(self) -> float | None:
        return self._wait

"""Client addresses as counted by every limit: one IPv6 subscriber holds a whole /64, so counting single IPv6
addresses would let a client rotate past any limit. Shared by the public throttle and the sign-in lockout."""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from django.http import HttpRequest


def address_bucket(ip: str | None) -> str | None:
    """What a limit counts an address as: an IPv4 address (an IPv4-mapped IPv6 address is its IPv4 address) as
    itself, an IPv6 address as its /64 network (``2001:db8:1:2::/64``); anything else as given (None stays None)."""
    if not ip:
        return ip
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return ip
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


def client_ip(request: HttpRequest) -> str | None:
    """REMOTE_ADDR, or with ``TRUSTED_PROXY_COUNT`` = n > 0 the n-th address from the right of X-Forwarded-For
    (the one our outermost trusted proxy saw). Addresses a client adds on the left earn nothing."""
    from django.conf import settings

    proxies = settings.REST_FRAMEWORK.get("NUM_PROXIES")
    trusted = proxies if isinstance(proxies, int) else 0  # an int (settings.env_int) or absent
    remote = request.META.get("REMOTE_ADDR") or None
    if trusted:
        hops = [h.strip() for h in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if h.strip()]
        if len(hops) >= trusted:
            candidate = hops[-trusted]
            try:
                return str(ipaddress.ip_address(candidate))
            except ValueError:
                return remote
    return remote

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
    """Who is asking: with ``TRUSTED_PROXY_COUNT`` = n > 0, the address our proxies vouch for in X-Forwarded-For,
    else ``REMOTE_ADDR``.

    Hops are read from the right (each proxy appends the address it saw), at most n of them, stopping at the first
    that is not an address: the leftmost hop so reached is the client. Hops a client writes on the left of the
    ones our proxies appended earn nothing. A request that came through fewer proxies than n (an outer proxy
    bypassed) is judged by the address our innermost proxy saw — never by the proxy's own address, which would be
    a loopback or private address that limits and geographic exclusion trust. A header whose last hop is no address
    gives no address (None): nothing then trusts or allow-lists the client. No header at all: the request did not
    pass our proxy (a local health probe, say), and ``REMOTE_ADDR`` is the client."""
    from django.conf import settings

    proxies = settings.REST_FRAMEWORK.get("NUM_PROXIES")
    trusted = proxies if isinstance(proxies, int) else 0  # an int (settings.env_int) or absent
    remote = request.META.get("REMOTE_ADDR") or None
    if not trusted:
        return remote
    hops = [h.strip() for h in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if h.strip()]
    if not hops:
        return remote
    client: str | None = None
    for hop in reversed(hops[-trusted:]):
        try:
            client = str(ipaddress.ip_address(hop))
        except ValueError:
            break
    return client

"""Client addresses as counted by every limit: one IPv6 subscriber holds a whole /64, so counting single IPv6
addresses would let a client rotate past any limit. Shared by the public throttle and the sign-in lockout."""

from __future__ import annotations

import ipaddress


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

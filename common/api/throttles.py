"""Throttles shared by the APIs."""

from __future__ import annotations

import ipaddress

from django.conf import settings
from rest_framework.request import Request
from rest_framework.throttling import SimpleRateThrottle
from rest_framework.views import APIView


class PublicThrottle(SimpleRateThrottle):
    """Per client address (taken through ``TRUSTED_PROXY_COUNT`` proxies only), shared across processes via the
    cache (Redis in production)."""

    scope = "public"

    def get_rate(self) -> str:
        rate: str = settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]["public"]  # type: ignore[index]
        return rate

    def get_cache_key(self, request: Request, view: APIView) -> str:
        ident = self.get_ident(request)
        try:
            address = ipaddress.ip_address(ident)
        except ValueError:
            address = None
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is None:
            # One subscriber holds a whole /64: counting single IPv6 addresses would let it rotate past the limit.
            ident = str(ipaddress.ip_network(f"{address}/64", strict=False))
        return self.cache_format % {"scope": self.scope, "ident": ident}

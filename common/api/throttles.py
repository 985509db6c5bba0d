"""Throttles shared by the APIs."""

from __future__ import annotations

from django.conf import settings
from rest_framework.request import Request
from rest_framework.throttling import SimpleRateThrottle
from rest_framework.views import APIView

from common.net import address_bucket


class PublicThrottle(SimpleRateThrottle):
    """Per client address (taken through ``TRUSTED_PROXY_COUNT`` proxies only), shared across processes via the
    cache (Redis in production)."""

    scope = "public"

    def get_rate(self) -> str:
        rate: str = settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]["public"]  # type: ignore[index]
        return rate

    def get_cache_key(self, request: Request, view: APIView) -> str:
        # One subscriber holds a whole /64: counting single IPv6 addresses would let it rotate past the limit.
        ident = address_bucket(self.get_ident(request))
        return self.cache_format % {"scope": self.scope, "ident": ident}

"""The client's address, believed from ``X-Forwarded-For`` only through the configured number of trusted proxies."""

from __future__ import annotations

import ipaddress

from django.conf import settings
from django.http import HttpRequest


def client_ip(request: HttpRequest) -> str | None:
    """REMOTE_ADDR, or with ``TRUSTED_PROXY_COUNT`` = n > 0 the n-th address from the right of X-Forwarded-For
    (the one our outermost trusted proxy saw). Addresses a client adds on the left earn nothing."""
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

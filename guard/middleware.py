"""Protective middleware: refusals that happen before any view reads the request."""

from __future__ import annotations

import json
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse

from common.net import client_ip
from guard import geo, ips
from guard.events import record
from guard.models import SecurityEvent


class IntrusionPreventionMiddleware:
    """Refuses a blocked address before anything else reads its request (403 ``address_blocked`` with
    ``Retry-After``), and counts what the answers say about the others (``guard.ips``): a 404 on a path scanners
    try is a probe, a 400 or 414 a malformed request, a 429 a request made while throttled.

    For an address that is not blocked the cost is one cache read (``ips.is_blocked``); offences are counted only on
    those error answers."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        ip = client_ip(request)
        wait = ips.is_blocked(ip)
        if wait:
            record(SecurityEvent.Kind.BLOCK_REFUSED, "address_blocked", address=ip, path=request.path)
            return JsonResponse(
                {
                    "detail": f"Requests from this address are refused for now. Try again in {wait} seconds.",
                    "code": "address_blocked",
                    "retry_after_s": wait,
                },
                status=403,
                headers={"Retry-After": str(wait)},
            )
        response = self.get_response(request)
        status = response.status_code
        if status in (400, 404, 414, 429) and ip:
            self._count(request, response, ip, status)
        return response

    @staticmethod
    def _count(request: HttpRequest, response: HttpResponse, ip: str, status: int) -> None:
        if status == 404:
            if ips.is_probe(request.path):
                ips.note_offence(ip, "probe", reason="not_found", path=request.path)
            return
        kind = "throttled" if status == 429 else "malformed"
        ips.note_offence(ip, kind, reason=_code_of(response) or kind, path=request.path)


def _code_of(response: HttpResponse) -> str:
    """The stable ``code`` of a JSON error answer (DRF's ``data``, or a small JSON body), or ""."""
    data = getattr(response, "data", None)
    if data is None and response.get("Content-Type", "").startswith("application/json") and not response.streaming:
        content = response.content
        if len(content) <= 4096:
            try:
                data = json.loads(content)
            except ValueError:
                data = None
    code = data.get("code") if isinstance(data, dict) else None
    return code[:64] if isinstance(code, str) else ""


# --- Geographic exclusion (guard.geo) ---------------------------------------------------------------------------

_GEO_DETAIL = {
    geo.EXCLUDED: "This endpoint is not available from your location.",
    geo.UNAVAILABLE: "Staff endpoints are closed: the service cannot place client addresses right now.",
}


class GeoExclusionMiddleware:
    """Staff endpoints refuse clients outside the allowed countries with 403 ``geo_excluded`` (``geo_unavailable``
    while a required database is missing or stale), in the API's error shape, admin pages included; each refusal
    is a security event. The rules are ``guard.geo.decide``'s; which paths are public is ``guard.geo.is_public``.

    A public request, unless ``GEO_RESTRICT_PUBLIC``, passes after one path test: no address is parsed or looked
    up on the public lookups' path."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not settings.GEO_EXCLUSION:
            return self.get_response(request)
        staff = not geo.is_public(request.method or "GET", request.path_info)
        if not staff and not settings.GEO_RESTRICT_PUBLIC:
            return self.get_response(request)
        ip = client_ip(request)
        decision = geo.decide(ip, staff=staff)
        if decision.allowed:
            return self.get_response(request)
        address = geo.parse_address(ip)
        kind = (
            SecurityEvent.Kind.GEO_UNAVAILABLE if decision.code == geo.UNAVAILABLE else SecurityEvent.Kind.GEO_EXCLUDED
        )
        record(
            kind,
            decision.code,
            address=str(address) if address else None,
            country=decision.country or "",
            path=request.path,
        )
        if ip and ips.is_probe(request.path):
            # A scanner refused here never sees a 404, so count its probe here: it is blocked like any other
            # and loses the public endpoints too.
            ips.note_offence(ip, "probe", reason="not_found", path=request.path)
        return JsonResponse({"detail": _GEO_DETAIL[decision.code], "code": decision.code}, status=403)

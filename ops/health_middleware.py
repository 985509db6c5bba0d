"""Answers ``/healthz`` and ``/readyz`` before any other middleware runs.

Probes must answer whatever else is wrong or in force: a local probe asks gunicorn directly over plain HTTP with
its own address as the host (no redirect to HTTPS, no ``DisallowedHost``), a Redis outage must not turn liveness
into a 500 (the address-block check reads the cache), and no session, CSRF check, throttle, block list or
geographic rule applies. The answers build no URL from the Host header, so skipping host validation is safe.
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from ops import views

HEALTH_PATHS: dict[str, Callable[[HttpRequest], HttpResponse]] = {
    "/healthz": views.healthz,
    "/readyz": views.readyz,
}


class HealthCheckMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        view = HEALTH_PATHS.get(request.path_info)
        if view is None:
            return self.get_response(request)
        response = view(request)
        response["X-Content-Type-Options"] = "nosniff"
        return response

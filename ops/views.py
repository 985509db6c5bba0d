"""``GET /healthz`` and ``GET /readyz``: plain Django views, outside DRF (no authentication, no throttle), exempt
from CSRF, touching no session, never cached. The answers are JSON and carry no version, host name or error text."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt

from ops import health

_ALLOWED = ("GET", "HEAD")


def _method_not_allowed() -> JsonResponse:
    response = JsonResponse({"detail": "Only GET and HEAD are allowed here.", "code": "method_not_allowed"}, status=405)
    response["Allow"] = ", ".join(_ALLOWED)
    return response


@csrf_exempt
@never_cache
def healthz(request: HttpRequest) -> HttpResponse:
    """The process is alive and answering. Reads nothing: a database outage must not get processes restarted."""
    if request.method not in _ALLOWED:
        return _method_not_allowed()
    return JsonResponse({"status": "ok"})


@csrf_exempt
@never_cache
def readyz(request: HttpRequest) -> HttpResponse:
    """200 when every readiness check passes, else 503; each check's state word either way."""
    if request.method not in _ALLOWED:
        return _method_not_allowed()
    result = health.readiness()
    return JsonResponse(
        {"status": "ready" if result.ready else "not_ready", "checks": result.checks},
        status=200 if result.ready else 503,
    )

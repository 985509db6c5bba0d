"""Error pages: JSON for the API (the same shape as every other API error), short text elsewhere."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import requires_csrf_token


def _wants_json(request: HttpRequest) -> bool:
    return request.path.startswith("/api/")


def _respond(request: HttpRequest, status: int, detail: str, code: str) -> HttpResponse:
    if _wants_json(request):
        return JsonResponse({"detail": detail, "code": code}, status=status)
    return HttpResponse(f"{status} {detail}\n", status=status, content_type="text/plain; charset=utf-8")


def bad_request(request: HttpRequest, exception: Any = None) -> HttpResponse:
    return _respond(request, 400, "Bad request.", "bad_request")


def permission_denied(request: HttpRequest, exception: Any = None) -> HttpResponse:
    return _respond(request, 403, "You do not have permission to perform this action.", "permission_denied")


def not_found(request: HttpRequest, exception: Any = None) -> HttpResponse:
    return _respond(request, 404, "Not found.", "not_found")


def server_error(request: HttpRequest) -> HttpResponse:
    return _respond(request, 500, "Server error. The problem has been logged.", "server_error")


@requires_csrf_token
def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    return _respond(request, 403, "CSRF verification failed.", "csrf_failed")

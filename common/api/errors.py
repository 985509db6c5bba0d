"""One shape for every client error: JSON with ``detail`` (for people) and a stable ``code`` (for programs).

Field-level problems add ``errors``: ``{field: [{"detail", "code"}]}``. Server errors never echo internals.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, JsonResponse
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

#: DRF's default codes, renamed where a clearer stable name exists.
_CODES = {
    "not_found": "not_found",
    "parse_error": "malformed_request",
    "throttled": "throttled",
    "not_authenticated": "not_authenticated",
    "authentication_failed": "authentication_failed",
    "permission_denied": "permission_denied",
    "method_not_allowed": "method_not_allowed",
    "not_acceptable": "not_acceptable",
    "unsupported_media_type": "unsupported_media_type",
}


class BadRequest(exceptions.APIException):
    """A request we understood but cannot answer: a stable ``code`` and optionally the field at fault."""

    status_code = status.HTTP_400_BAD_REQUEST

    def __init__(self, detail: str, code: str, *, field: str | None = None, status_code: int | None = None) -> None:
        super().__init__(detail=detail, code=code)
        self.field = field
        if status_code is not None:
            self.status_code = status_code


def _flatten(errors: Any) -> dict[str, list[dict[str, str]]]:
    out: dict[str, list[dict[str, str]]] = {}
    if isinstance(errors, dict):
        for key, value in errors.items():
            items = value if isinstance(value, list) else [value]
            out[str(key)] = [{"detail": str(item), "code": getattr(item, "code", "invalid")} for item in items]
    return out


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, BadRequest):
        body: dict[str, Any] = {"detail": str(exc.detail), "code": exc.get_codes()}
        if exc.field:
            body["errors"] = {exc.field: [{"detail": str(exc.detail), "code": exc.get_codes()}]}
    elif isinstance(exc, exceptions.ValidationError):
        errors = exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
        flat = _flatten(errors)
        first = next(iter(flat.values()), [{"detail": "Invalid input.", "code": "invalid"}])[0]
        body = {"detail": first["detail"], "code": "invalid", "errors": flat}
    else:
        codes = exc.get_codes() if isinstance(exc, exceptions.APIException) else "error"
        code = codes if isinstance(codes, str) else "error"
        body = {"detail": str(getattr(exc, "detail", "Error.")), "code": _CODES.get(code, code)}
        if isinstance(exc, exceptions.Throttled) and exc.wait is not None:
            body["retry_after_s"] = int(exc.wait)
    response.data = body
    return response


def json_error(request: HttpRequest, status_code: int, detail: str, code: str) -> JsonResponse:
    return JsonResponse({"detail": detail, "code": code}, status=status_code)

"""One shape for every client error: JSON with ``detail`` (for people) and a stable ``code`` (for programs).

Field-level problems add ``errors``: ``{field: [{"detail", "code"}]}``. Server errors never echo internals. A
service's ``common.errors.DomainError`` is mapped to its HTTP status here, by its kind, and nowhere else.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler
from rest_framework.views import set_rollback

from common.errors import DomainError, Kind

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
    """A request the API could not parse: a stable ``code`` and optionally the field at fault. Always 400; what a
    service refuses is a ``common.errors.DomainError``."""

    status_code = status.HTTP_400_BAD_REQUEST

    def __init__(self, detail: str, code: str, *, field: str | None = None) -> None:
        super().__init__(detail=detail, code=code)
        self.field = field


#: The one mapping from a refusal's kind to an HTTP status.
STATUS_FOR_KIND: dict[Kind, int] = {
    Kind.INVALID: status.HTTP_400_BAD_REQUEST,
    Kind.UNAUTHENTICATED: status.HTTP_401_UNAUTHORIZED,
    Kind.FORBIDDEN: status.HTTP_403_FORBIDDEN,
    Kind.NOT_FOUND: status.HTTP_404_NOT_FOUND,
    Kind.CONFLICT: status.HTTP_409_CONFLICT,
    Kind.UNPROCESSABLE: status.HTTP_422_UNPROCESSABLE_ENTITY,
    Kind.TOO_LARGE: status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
    Kind.RATE_LIMITED: status.HTTP_429_TOO_MANY_REQUESTS,
    Kind.UNAVAILABLE: status.HTTP_503_SERVICE_UNAVAILABLE,
}


def domain_error_response(exc: DomainError, context: dict[str, Any]) -> Response:
    """The answer to a service's refusal: its kind's status, ``detail``, ``code``, the field at fault, extras."""
    status_code = STATUS_FOR_KIND[exc.kind]
    body: dict[str, Any] = {"detail": exc.detail, "code": exc.code}
    if exc.field:
        body["errors"] = {exc.field: [{"detail": exc.detail, "code": exc.code}]}
    body.update(exc.extra)
    headers: dict[str, str] = {}
    if exc.kind is Kind.UNAUTHENTICATED:
        # As DRF does for its own 401s: name the scheme, or answer 403 where the view authenticates nobody.
        view, request = context.get("view"), context.get("request")
        header = view.get_authenticate_header(request) if view is not None and request is not None else None
        if header:
            headers["WWW-Authenticate"] = header
        else:
            status_code = status.HTTP_403_FORBIDDEN
    if exc.kind is Kind.RATE_LIMITED and "retry_after_s" in exc.extra:
        headers["Retry-After"] = str(exc.extra["retry_after_s"])
    return Response(body, status=status_code, headers=headers)


def _flatten(errors: Any) -> dict[str, list[dict[str, str]]]:
    out: dict[str, list[dict[str, str]]] = {}
    if isinstance(errors, dict):
        for key, value in errors.items():
            items = value if isinstance(value, list) else [value]
            out[str(key)] = [{"detail": str(item), "code": getattr(item, "code", "invalid")} for item in items]
    return out


def printable(value: Any) -> Any:
    """``value`` with every lone surrogate in its strings (keys too) replaced by U+FFFD: an error message that quotes
    the input (``"\\ud800" is not a valid choice``) must still encode as UTF-8."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            text = value.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
            return exceptions.ErrorDetail(text, code=value.code) if isinstance(value, exceptions.ErrorDetail) else text
        return value
    if isinstance(value, dict):
        return {printable(key): printable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [printable(item) for item in value]
    return value


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    response = _exception_response(exc, context)
    if response is not None:
        response.data = printable(response.data)
    return response


def _exception_response(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, DomainError):
        set_rollback()
        return domain_error_response(exc, context)
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
        wait = getattr(exc, "wait", None) if isinstance(exc, exceptions.Throttled) else None
        if wait is not None:
            body["retry_after_s"] = int(wait)
    response.data = body
    return response

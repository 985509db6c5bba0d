"""Refuse requests no honest client sends before any view parses them, and answer a lookup of a missing object that
no view caught as 404 rather than a server error."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable

from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist
from django.http import HttpRequest, HttpResponse, JsonResponse

from config.views import not_found

logger = logging.getLogger(__name__)

#: A refused body up to this size is read and thrown away before the answer (in 64 KiB chunks, never kept): a
#: reverse proxy still sending it would otherwise see the connection reset and answer 502 instead of our 413. Above
#: the proxy's own limit (``deploy/nginx``: 6 MiB), so whatever it lets through is read; a larger declared body
#: (only a client talking to the application server directly) is not waited for.
DISCARD_REFUSED_BODY_BYTES = 8 * 1024 * 1024
_CHUNK = 64 * 1024


class RequestLimitsMiddleware:
    """A query string longer than ``MAX_QUERY_STRING_BYTES`` gets 414 and a JSON body (Django has no such limit); a
    declared body over ``DATA_UPLOAD_MAX_MEMORY_SIZE`` (multipart forms aside) gets 413 ``body_too_large``.

    An ``ObjectDoesNotExist`` escaping a view (a third-party admin view such as django-otp's TOTP ``config`` page
    reads ``Model.objects.get(pk=…)`` of the id in its URL) is a 404 in the site's error shape, not a 500."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.limit = settings.MAX_QUERY_STRING_BYTES

    def __call__(self, request: HttpRequest) -> HttpResponse:
        query = request.META.get("QUERY_STRING", "")
        if len(query) > self.limit:
            return JsonResponse(
                {"detail": f"The query string is longer than {self.limit} bytes.", "code": "query_too_long"},
                status=414,
            )
        if self._body_too_large(request):
            limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
            self._discard_body(request)
            return JsonResponse(
                {"detail": f"The request body is larger than {limit} bytes.", "code": "body_too_large"}, status=413
            )
        return self.get_response(request)

    @staticmethod
    def _body_too_large(request: HttpRequest) -> bool:
        """A declared body over Django's in-memory limit, told before it is read (Django would answer a bare 400 and
        log a traceback). Multipart forms are left to their own limits: a file is not held in memory."""
        length = request.META.get("CONTENT_LENGTH") or ""
        content_type = request.META.get("CONTENT_TYPE") or ""
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        if limit is None or not length.isdigit() or content_type.startswith("multipart/form-data"):
            return False
        return int(length) > limit

    @staticmethod
    def _discard_body(request: HttpRequest) -> None:
        length = int(request.META["CONTENT_LENGTH"])
        if length > DISCARD_REFUSED_BODY_BYTES:
            return
        with contextlib.suppress(OSError, ValueError):  # a client gone or a short body: nothing left to wait for
            remaining = length
            while remaining > 0 and (chunk := request.read(min(_CHUNK, remaining))):
                remaining -= len(chunk)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if isinstance(exception, ObjectDoesNotExist):
            logger.warning("uncaught %s on %s", type(exception).__name__, request.path, exc_info=exception)
            return not_found(request, exception)
        return None

"""Refuse requests no honest client sends before any view parses them."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse


class RequestLimitsMiddleware:
    """A query string longer than ``MAX_QUERY_STRING_BYTES`` gets 414 and a JSON body (Django has no such limit)."""

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
        return self.get_response(request)

"""What the views under ``/api/v1/auth/`` share: the schema of a locked-out attempt, the paging of their lists, the
parsing of their filters, and the 401 (not 403) of the endpoints that take a password or a code instead of a token."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiResponse, inline_serializer
from rest_framework import serializers
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.request import Request

from accounts.authentication import WWW_AUTHENTICATE
from common.api import parsing
from common.api.errors import BadRequest

TOO_MANY = OpenApiResponse(
    response=inline_serializer(
        "TooManyAttempts",
        {
            "detail": serializers.CharField(),
            "code": serializers.CharField(),
            "retry_after_s": serializers.IntegerField(),
        },
    ),
    description="`too_many_attempts`: wait `retry_after_s` seconds (also in `Retry-After`).",
)


class Page(LimitOffsetPagination):
    """DRF's ``{count, next, previous, results}`` envelope (these lists predate ``common.api.paging``)."""

    default_limit = 100
    max_limit = 500


class UnauthenticatedPostMixin:
    """POST needs no token (it is how one gets one); refusals stay 401 with a ``WWW-Authenticate`` header."""

    def get_authenticate_header(self, request: Request) -> str:
        return WWW_AUTHENTICATE


def user_agent(request: Request) -> str:
    return str(request.META.get("HTTP_USER_AGENT", ""))[:200]


def flag(request: Request, name: str) -> bool:
    """A yes/no filter: ``1``, ``true`` or ``yes`` is yes; anything else no."""
    return request.query_params.get(name) in ("1", "true", "yes")


def id_filter(request: Request, name: str, detail: str) -> int | None:
    """An id filter (``common.api.parsing.is_identifier``); a bad one is a 400 ``invalid_parameter``."""
    raw: Any = request.query_params.get(name)
    if raw in (None, ""):
        return None
    if not parsing.is_identifier(raw):
        raise BadRequest(detail, "invalid_parameter", field=name)
    return int(raw)

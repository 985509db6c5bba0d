"""What every credentials endpoint shares: the base view (staff token, scope of the caller, JSON errors whatever
the ``Accept``), the list filters, and the headers of private files."""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.views import APIView

from accounts.audit import Actor
from accounts.authentication import request_actor
from accounts.models import Credential
from accounts.permissions import IssuesCredentials, request_scope
from accounts.scopes import Scope
from common.api import parsing
from common.api.errors import BadRequest

#: Answers that carry a token or personal data: never cached, never sniffed.
PRIVATE = {"Cache-Control": "private, no-store", "X-Content-Type-Options": "nosniff"}

FILTERS = [
    OpenApiParameter("election", OpenApiTypes.INT, description="Election id."),
    OpenApiParameter("kind", OpenApiTypes.STR, enum=list(Credential.Kind.values)),
    OpenApiParameter("status", OpenApiTypes.STR, enum=["active", "expired", "revoked"]),
    OpenApiParameter("county", OpenApiTypes.STR, description="5-digit county FIPS code."),
    OpenApiParameter("polling_place", OpenApiTypes.INT, description="Credentials valid at this polling place."),
    OpenApiParameter("q", OpenApiTypes.STR, description="Part of the holder's name."),
]


def credential_filters(request: Request) -> dict[str, Any]:
    """The ``FILTERS`` of a list or export, parsed (a bad value is a 400 naming it)."""
    query = request.query_params
    q = query.get("q") or None
    if q is not None and len(q) > 100:
        raise BadRequest("'q' is at most 100 characters.", "invalid_q", field="q")
    if q is not None and "\x00" in q:  # PostgreSQL text cannot hold NUL
        raise BadRequest("'q' cannot contain a NUL character.", "invalid_q", field="q")
    return {
        "election": parsing.identifier(query, "election"),
        "kind": parsing.choice(query, "kind", tuple(Credential.Kind.values)),
        "status": parsing.choice(query, "status", ("active", "expired", "revoked")),
        "county_fips": parsing.county_fips(query),
        "polling_place": parsing.identifier(query, "polling_place"),
        "q": q,
    }


def utc_text(moment: Any) -> str | None:
    """An aware date-time as ISO 8601 in UTC with ``Z``; None for None."""
    return moment.isoformat().replace("+00:00", "Z") if moment else None


class JSONErrors(DefaultContentNegotiation):
    """Errors are always JSON and binary answers (SVG, PDF, CSV) are built by the view, so no ``Accept`` header
    can turn a request into a 406."""

    def select_renderer(self, request: Request, renderers: list[Any], format_suffix: str | None = None) -> Any:
        return renderers[0], renderers[0].media_type


# No docstring on these bases: drf-spectacular would make it the description of every endpoint without one.
class CredentialView(APIView):
    # Administrators and commissioners, in their scope (outside it a credential is 404).
    permission_classes = [IsAuthenticated, IssuesCredentials]
    content_negotiation_class = JSONErrors

    @property
    def scope(self) -> Scope:
        return request_scope(self.request)

    def actor(self) -> Actor:
        return request_actor(self.request)

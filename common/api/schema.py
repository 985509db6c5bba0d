"""OpenAPI pieces every API module shares (drf-spectacular): the error answer, paging parameters, a free object, and
the hook that documents the answers the shared plumbing gives on every operation."""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse

_ERROR_BODY: dict[str, Any] = {
    "type": "object",
    "properties": {"detail": {"type": "string"}, "code": {"type": "string"}},
    "required": ["detail", "code"],
}
#: Every 4xx answer: ``detail`` for people, a stable ``code`` for programs (``errors`` per field where one is at fault).
ERROR = OpenApiResponse(
    response=_ERROR_BODY,
    description="Error: `detail` for people, a stable `code` for programs.",
)
OBJECT = OpenApiTypes.OBJECT
LIMIT = OpenApiParameter("limit", OpenApiTypes.INT, description="Items per page.")
OFFSET = OpenApiParameter("offset", OpenApiTypes.INT, description="Items to skip.")

#: Answers the shared plumbing (middleware, parsers, negotiation, authentication) may give on any operation, before
#: or around its view: status → description. Added to each operation that does not declare the status itself.
_EVERY_OPERATION = {
    "400": "Malformed request (a query or body that cannot be read).",
    "406": "No acceptable representation for the Accept header.",
    "414": "Query string too long.",
}
_WITH_BODY = {
    "413": "Body too large.",
    "415": "Unsupported content type of the body.",
}
_AUTHENTICATED = {
    "401": "Not signed in, or the token is invalid, expired or bound to another device.",
    "403": "Signed in, but not allowed this operation.",
}
_METHODS = ("get", "put", "post", "patch", "delete", "head", "options", "trace")


def document_plumbing_errors(result: dict[str, Any], generator: Any, request: Any, public: Any) -> dict[str, Any]:
    """drf-spectacular postprocessing hook: declare the error answers every operation can give (``_EVERY_OPERATION``,
    plus ``_WITH_BODY`` where it takes a body and ``_AUTHENTICATED`` where it takes a token), each in the one error
    shape, so that clients and schema checks know them."""
    for operations in result.get("paths", {}).values():
        for method, operation in operations.items():
            if method not in _METHODS:
                continue
            extra = dict(_EVERY_OPERATION)
            if "requestBody" in operation:
                extra |= _WITH_BODY
            if any(requirement for requirement in operation.get("security", [])):
                extra |= _AUTHENTICATED
            responses = operation.setdefault("responses", {})
            for status, description in extra.items():
                responses.setdefault(
                    status, {"description": description, "content": {"application/json": {"schema": _ERROR_BODY}}}
                )
    return result

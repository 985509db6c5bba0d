"""OpenAPI pieces every API module shares (drf-spectacular): the error answer, paging parameters, a free object."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse

#: Every 4xx answer: ``detail`` for people, a stable ``code`` for programs (``errors`` per field where one is at fault).
ERROR = OpenApiResponse(
    response={"type": "object", "properties": {"detail": {"type": "string"}, "code": {"type": "string"}}},
    description="Error: `detail` for people, a stable `code` for programs.",
)
OBJECT = OpenApiTypes.OBJECT
LIMIT = OpenApiParameter("limit", OpenApiTypes.INT, description="Items per page.")
OFFSET = OpenApiParameter("offset", OpenApiTypes.INT, description="Items to skip.")

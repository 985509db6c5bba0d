"""The one paging envelope of list endpoints: ``{count, limit, offset, next, results}``."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet


def paginated(request: Any, qs: QuerySet[Any], limit: int, offset: int) -> tuple[dict[str, Any], list[Any]]:
    """A page of ``qs``: the envelope (``count``, ``limit``, ``offset``, ``next`` link keeping the other filters) and
    the rows; the caller renders the rows into ``results``."""
    count = qs.count()
    rows = list(qs[offset : offset + limit])
    body: dict[str, Any] = {"count": count, "limit": limit, "offset": offset, "next": None}
    if offset + limit < count:
        query = request.query_params.copy()
        query["offset"], query["limit"] = str(offset + limit), str(limit)
        body["next"] = request.build_absolute_uri(f"{request.path}?{query.urlencode()}")
    return body, rows

"""Paging of list endpoints: the one envelope of JSON lists (``{count, limit, offset, next, results}``) and the
``next`` link every paged answer shares (GeoJSON collections carry it among their own members)."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet


def next_link(request: Any, *, offset: int, limit: int) -> str:
    """The absolute link to the page after ``offset`` (``limit`` items each), keeping the request's other
    parameters."""
    query = request.query_params.copy()
    query["offset"], query["limit"] = str(offset + limit), str(limit)
    return str(request.build_absolute_uri(f"{request.path}?{query.urlencode()}"))


def paginated(request: Any, qs: QuerySet[Any], limit: int, offset: int) -> tuple[dict[str, Any], list[Any]]:
    """A page of ``qs``: the envelope (``count``, ``limit``, ``offset``, ``next`` link keeping the other filters) and
    the rows; the caller renders the rows into ``results``."""
    count = qs.count()
    rows = list(qs[offset : offset + limit])
    body: dict[str, Any] = {"count": count, "limit": limit, "offset": offset, "next": None}
    if offset + limit < count:
        body["next"] = next_link(request, offset=offset, limit=limit)
    return body, rows

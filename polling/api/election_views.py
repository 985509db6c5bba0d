"""``GET /api/v1/elections/``: the elections a client may ask about (a past or a coming one, by id), public.

Times are the state's local wall-clock times on election day, as the polls keep them; ``timezone`` names the zone.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from common.api import parsing
from common.api.errors import BadRequest
from common.api.paging import paginated
from common.api.schema import ERROR, LIMIT, OFFSET
from polling.api.views import PublicView
from polling.geography import selectors
from polling.models import Election

STATE = OpenApiParameter("state", OpenApiTypes.STR, description="Two-letter postal code of a state, e.g. MS.")
_STATE = re.compile(r"[A-Za-z]{2}")


def election_out(election: Election) -> dict[str, Any]:
    return {
        "id": election.pk,
        "name": election.name,
        "date": election.date.isoformat(),
        "state": election.jurisdiction.code,
        "timezone": election.jurisdiction.timezone,
        "polls_open": election.polls_open.isoformat("minutes"),
        "polls_close": election.polls_close.isoformat("minutes"),
    }


def _state(request: Request) -> str | None:
    raw = request.query_params.get("state")
    if raw is None or raw == "":
        return None
    if len(request.query_params.getlist("state")) > 1:
        raise BadRequest("Give 'state' once.", "repeated_parameter", field="state")
    if not _STATE.fullmatch(raw):
        raise BadRequest("'state' must be a two-letter postal code, e.g. MS.", "invalid_state", field="state")
    code = raw.upper()
    if not selectors.state_exists(code):
        raise BadRequest(f"No state has the code {code}.", "unknown_state", field="state")
    return code


class ElectionListView(PublicView):
    @extend_schema(
        operation_id="elections_list",
        summary="Elections, by date (optionally of one state)",
        parameters=[STATE, LIMIT, OFFSET],
        responses={200: OpenApiTypes.OBJECT, 400: ERROR, 429: ERROR},
    )
    def get(self, request: Request) -> Response | HttpResponse:
        state = _state(request)
        limit, offset = parsing.page(request.query_params, default=100, maximum=500)
        body, rows = paginated(request, selectors.elections(state=state), limit, offset)
        body["results"] = [election_out(e) for e in rows]
        # Elections are not geography (an import may add one without a new geography version): the ETag is the body's.
        digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:16]
        return self.cached(body, extra=digest)

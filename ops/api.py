"""The security report over the API, for state administrators (the same builder as the command and the admin)."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import IsStateAdmin, request_scope
from common.api.errors import BadRequest
from common.api.schema import ERROR
from ops.report import BadSpan, build_report, parse_span, report_json


class SecurityReportView(APIView):
    """``GET /api/v1/security/report/?since=24h``: the daily security report as JSON; ``ok`` is false and
    ``needs_attention`` lists the reasons when something needs a person. A state's people and data are reported
    only to that state's administrators (``build_report(scope=…)``)."""

    permission_classes = [IsStateAdmin]

    @extend_schema(
        parameters=[OpenApiParameter("since", OpenApiTypes.STR, description="Window ending now: 90m, 24h, 7d.")],
        responses={200: OpenApiTypes.OBJECT, 400: ERROR, 401: ERROR, 403: ERROR},
    )
    def get(self, request: Request) -> Response:
        try:
            span = parse_span(request.query_params.get("since", "24h"))
        except BadSpan as exc:
            raise BadRequest(str(exc), code="invalid_since", field="since") from None
        response = Response(report_json(build_report(span=span, scope=request_scope(request))))
        response["Cache-Control"] = "no-store"
        return response

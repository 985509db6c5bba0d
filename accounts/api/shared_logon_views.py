"""Shared logons (Mississippi: nobody shares a logon): the flags of the people a commissioner or administrator
manages, and their own. A flag outside the caller's reach does not exist (404); poll workers and managers read why
their own session ended in their session list (``end_reason_detail``), not here (403)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.generics import ListAPIView
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.api.auth_base import Page, id_filter
from accounts.api.auth_serializers import SharedLogonOutput
from accounts.people import selectors
from accounts.permissions import IsStaffAdmin, request_scope
from common.api import parsing
from common.api.schema import ERROR


class SharedLogonListView(ListAPIView):
    """Shared-logon flags of the people the caller manages (and their own), newest first."""

    serializer_class = SharedLogonOutput
    pagination_class = Page
    permission_classes = [IsStaffAdmin]

    @extend_schema(
        parameters=[
            OpenApiParameter("user", OpenApiTypes.INT, description="Only this person's flags."),
            OpenApiParameter(
                "since", OpenApiTypes.DATETIME, description="Only flags detected at or after this instant."
            ),
        ],
        responses={200: SharedLogonOutput(many=True), 400: ERROR, 401: ERROR, 403: ERROR},
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    def get_queryset(self) -> Any:
        return selectors.shared_logon_list(
            request_scope(self.request),
            user_id=id_filter(self.request, "user", "'user' must be a user id."),
            since=parsing.aware_datetime(self.request.query_params.get("since"), "since", required=False),
        )


class SharedLogonDetailView(APIView):
    permission_classes = [IsStaffAdmin]

    @extend_schema(responses={200: SharedLogonOutput, 401: ERROR, 403: ERROR, 404: ERROR})
    def get(self, request: Request, pk: int) -> Response:
        flag = selectors.shared_logon_get(request_scope(request), pk)
        return Response(SharedLogonOutput(flag).data)

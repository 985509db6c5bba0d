"""Role grants: list (one's own and those in one's scope), give, end. Who may give or end which role where is
``accounts.people.selectors.may_administer_grant``; to whom, ``selectors.users_grantable`` (else 404)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.generics import ListAPIView
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.api.auth_base import Page, flag, id_filter
from accounts.api.auth_serializers import GrantInput, GrantOutput
from accounts.authentication import request_actor
from accounts.models import Role
from accounts.people import grants, selectors
from accounts.permissions import IsStaffAdmin, request_scope
from common.api.errors import BadRequest
from common.api.schema import ERROR


class GrantListView(ListAPIView):
    """Grants the caller sees (their own, and those in their scope); ``POST`` grants a role."""

    serializer_class = GrantOutput
    pagination_class = Page
    permission_classes = [IsAuthenticated]

    def get_permissions(self) -> list[BasePermission]:
        request = getattr(self, "request", None)
        if request is not None and request.method == "POST":
            return [IsStaffAdmin()]
        return super().get_permissions()

    @extend_schema(
        parameters=[
            OpenApiParameter("user", OpenApiTypes.INT),
            OpenApiParameter("role", OpenApiTypes.STR, enum=Role.values),
            OpenApiParameter("include_ended", OpenApiTypes.BOOL),
        ],
        responses={200: GrantOutput(many=True), 400: ERROR, 401: ERROR},
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    @extend_schema(request=GrantInput, responses={201: GrantOutput, 400: ERROR, 401: ERROR, 403: ERROR, 404: ERROR})
    def post(self, request: Request) -> Response:
        scope = request_scope(request)
        data = GrantInput(data=request.data, scope=scope)
        data.is_valid(raise_exception=True)
        fields = dict(data.validated_data)
        user = selectors.user_to_grant(scope, fields.pop("user"))
        grant = grants.grant_create(actor=request_actor(request), scope=scope, user=user, **fields)
        return Response(GrantOutput(grant).data, status=status.HTTP_201_CREATED)

    def get_queryset(self) -> Any:
        user_id = id_filter(self.request, "user", "'user' must be a user id.")
        role = self.request.query_params.get("role") or None
        if role is not None and role not in Role.values:
            raise BadRequest(f"'role' must be one of {', '.join(Role.values)}.", "invalid_parameter", field="role")
        return selectors.grant_list(
            request_scope(self.request), user_id=user_id, role=role, include_ended=flag(self.request, "include_ended")
        )


class GrantEndView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(request=None, responses={200: GrantOutput, 401: ERROR, 403: ERROR, 404: ERROR})
    def post(self, request: Request, pk: int) -> Response:
        grant = selectors.grant_to_end(request_scope(request), pk)
        grant = grants.grant_end(actor=request_actor(request), grant=grant)
        return Response(GrantOutput(grant).data)

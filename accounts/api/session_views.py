"""The signed-in caller (``me``), sessions (list, end) and disabling a user. Outside the caller's scope a user or
a session does not exist (404); seeing one is not managing it (403)."""

from __future__ import annotations

from typing import Any

from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework.generics import ListAPIView
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.api.auth_base import Page, flag, id_filter
from accounts.api.auth_serializers import DisableInput, GrantOutput, SessionOutput, UserOutput
from accounts.authentication import request_actor
from accounts.models import ApiSession
from accounts.people import selectors, sessions, users
from accounts.permissions import IsStaffAdmin, request_scope
from common.api.schema import ERROR


class MeView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        responses={
            200: inline_serializer(
                "Me",
                {
                    "user": UserOutput(),
                    "grants": GrantOutput(many=True),
                    "session": SessionOutput(),
                },
            ),
            401: ERROR,
        }
    )
    def get(self, request: Request) -> Response:
        grants = selectors.active_roles(request.user).select_related("user")
        context = {"now": timezone.now(), "current": request.auth}
        return Response(
            {
                "user": UserOutput(request.user).data,
                "grants": GrantOutput(grants, many=True).data,
                "session": (
                    SessionOutput(request.auth, context=context).data if isinstance(request.auth, ApiSession) else None
                ),
            }
        )


class SessionListView(ListAPIView):
    """Live sessions (``include_ended=1``: all) of the caller, or of ``user`` when the caller sees that user."""

    serializer_class = SessionOutput
    pagination_class = Page
    permission_classes = [IsAuthenticated]

    @extend_schema(
        parameters=[
            OpenApiParameter("user", OpenApiTypes.INT, description="Whose sessions (default: your own)."),
            OpenApiParameter("include_ended", OpenApiTypes.BOOL, description="Also ended and expired sessions."),
        ],
        responses={200: SessionOutput(many=True), 400: ERROR, 401: ERROR, 404: ERROR},
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    def get_serializer_context(self) -> dict[str, Any]:
        return super().get_serializer_context() | {"now": timezone.now(), "current": self.request.auth}

    def get_queryset(self) -> Any:
        return selectors.session_list(
            request_scope(self.request),
            user_id=id_filter(self.request, "user", "'user' must be a user id."),
            include_ended=flag(self.request, "include_ended"),
        )


class SessionEndView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(request=None, responses={200: SessionOutput, 401: ERROR, 403: ERROR, 404: ERROR})
    def post(self, request: Request, pk: int) -> Response:
        session = selectors.session_to_end(request_scope(request), pk)
        session = sessions.session_end(actor=request_actor(request), session=session)
        return Response(SessionOutput(session, context={"now": timezone.now(), "current": request.auth}).data)


class UserDisableView(APIView):
    permission_classes = [IsStaffAdmin]

    @extend_schema(request=DisableInput, responses={200: UserOutput, 400: ERROR, 401: ERROR, 403: ERROR, 404: ERROR})
    def post(self, request: Request, pk: int) -> Response:
        user = selectors.user_to_disable(request_scope(request), pk)
        data = DisableInput(data=request.data)
        data.is_valid(raise_exception=True)
        user = users.user_disable(actor=request_actor(request), user=user, reason=data.validated_data["reason"])
        return Response(UserOutput(user).data)

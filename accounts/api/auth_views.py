"""Staff sign-in, sessions, tablets and roles. Thin views: validate → selector (scope) → service → serialize.

Outside the caller's scope an object does not exist (404); a caller without the role an endpoint needs gets 403.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.http import Http404
from django.shortcuts import get_object_or_404
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import exceptions, serializers, status
from rest_framework.generics import ListAPIView
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.permissions import AllowAny, BasePermission, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.api.permissions import IsStaffAdmin, request_scope
from accounts.authentication import WWW_AUTHENTICATE, request_actor
from accounts.models import ApiSession, Device, Role, RoleGrant, User
from accounts.net import client_ip
from accounts.people import selectors, services
from common.api.errors import BadRequest
from polling.models import County, Election, Jurisdiction, PollingPlace

ERROR = OpenApiResponse(
    response=inline_serializer(
        "AuthError",
        {"detail": serializers.CharField(), "code": serializers.CharField()},
    ),
    description="Error: `detail` for people, a stable `code` for programs.",
)
TOO_MANY = OpenApiResponse(
    response=inline_serializer(
        "TooManyAttempts",
        {
            "detail": serializers.CharField(),
            "code": serializers.CharField(),
            "retry_after_s": serializers.IntegerField(),
        },
    ),
    description="`too_many_attempts`: wait `retry_after_s` seconds (also in `Retry-After`).",
)


class Page(LimitOffsetPagination):
    default_limit = 100
    max_limit = 500


def _user_agent(request: Request) -> str:
    return request.META.get("HTTP_USER_AGENT", "")[:200]


class UnauthenticatedPostMixin:
    """POST needs no token (it is how one gets one); refusals stay 401 with a ``WWW-Authenticate`` header."""

    def get_authenticate_header(self, request: Request) -> str:
        return WWW_AUTHENTICATE


# --- serializers ------------------------------------------------------------------------------------------------


class LoginInput(serializers.Serializer):
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(max_length=1024, trim_whitespace=False, style={"input_type": "password"})
    otp = serializers.CharField(max_length=32, required=False, allow_blank=True, default="")
    device_id = serializers.UUIDField(help_text="A UUID the client made once; send it as X-Device-Id from now on.")
    device_secret = serializers.CharField(
        max_length=128, required=False, allow_blank=True, default="", help_text="An enrolled tablet's secret."
    )


class TokenOutput(serializers.Serializer):
    token = serializers.CharField()
    expires_at = serializers.DateTimeField()
    session = serializers.IntegerField(source="session.pk")


class TotpStartInput(serializers.Serializer):
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(max_length=1024, trim_whitespace=False)
    device_id = serializers.UUIDField()


class TotpConfirmInput(TotpStartInput):
    otp = serializers.CharField(max_length=32)


class SessionOutput(serializers.ModelSerializer):
    username = serializers.CharField(source="user.username")
    live = serializers.SerializerMethodField()
    current = serializers.SerializerMethodField()

    class Meta:
        model = ApiSession
        fields = [
            "id",
            "user",
            "username",
            "key_prefix",
            "client_device_id",
            "device",
            "mfa_method",
            "ip_address",
            "user_agent",
            "created_at",
            "expires_at",
            "last_used_at",
            "ended_at",
            "end_reason",
            "live",
            "current",
        ]

    def get_live(self, obj: ApiSession) -> bool:
        return obj.is_live(self.context.get("now"))

    def get_current(self, obj: ApiSession) -> bool:
        current = self.context.get("current")
        return current is not None and obj.pk == current.pk


class UserOutput(serializers.ModelSerializer):
    class Meta:
        model = User
        fields = ["id", "username", "first_name", "last_name", "is_active"]


class DisableInput(serializers.Serializer):
    reason = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")


class DeviceOutput(serializers.ModelSerializer):
    revoked = serializers.BooleanField(source="is_revoked")

    class Meta:
        model = Device
        fields = [
            "id",
            "kind",
            "label",
            "polling_place",
            "election",
            "enrolled_by",
            "enrolled_at",
            "last_seen_at",
            "revoked",
            "revoked_at",
            "revoked_by",
            "revoke_reason",
        ]


class EnrolmentInput(serializers.Serializer):
    polling_place = serializers.PrimaryKeyRelatedField(queryset=PollingPlace.objects.none())
    label = serializers.CharField(max_length=100)
    election = serializers.PrimaryKeyRelatedField(
        queryset=Election.objects.none(), required=False, allow_null=True, default=None
    )

    def __init__(self, *args: Any, scope: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if scope is not None:
            self.fields["polling_place"].queryset = selectors.polling_places_administered(scope)
            self.fields["election"].queryset = selectors.elections_visible(scope)


class EnrolmentOutput(serializers.Serializer):
    code = serializers.CharField()
    expires_at = serializers.DateTimeField()
    polling_place = serializers.IntegerField()
    election = serializers.IntegerField(allow_null=True)
    label = serializers.CharField()


class EnrolInput(serializers.Serializer):
    code = serializers.CharField(max_length=32)


class EnrolOutput(serializers.Serializer):
    device_id = serializers.UUIDField()
    device_secret = serializers.CharField()
    polling_place = serializers.IntegerField()
    election = serializers.IntegerField(allow_null=True)
    label = serializers.CharField()


class RevokeInput(serializers.Serializer):
    reason = serializers.CharField(max_length=500)


class GrantOutput(serializers.ModelSerializer):
    username = serializers.CharField(source="user.username")
    active = serializers.SerializerMethodField()

    class Meta:
        model = RoleGrant
        fields = [
            "id",
            "user",
            "username",
            "role",
            "jurisdiction",
            "county",
            "polling_place",
            "election",
            "granted_by",
            "granted_at",
            "ended_at",
            "active",
        ]

    def get_active(self, obj: RoleGrant) -> bool:
        return obj.ended_at is None


#: Which scope fields each role takes (and no others).
ROLE_FIELDS = {
    Role.STATE_ADMIN: {"jurisdiction"},
    Role.COMMISSIONER: {"county"},
    Role.POLL_MANAGER: {"polling_place", "election"},
    Role.POLL_WORKER: {"polling_place", "election"},
}


class GrantInput(serializers.Serializer):
    user = serializers.PrimaryKeyRelatedField(queryset=User.objects.all())
    role = serializers.ChoiceField(choices=Role.choices)
    jurisdiction = serializers.PrimaryKeyRelatedField(
        queryset=Jurisdiction.objects.none(), required=False, allow_null=True, default=None
    )
    county = serializers.PrimaryKeyRelatedField(
        queryset=County.objects.none(), required=False, allow_null=True, default=None
    )
    polling_place = serializers.PrimaryKeyRelatedField(
        queryset=PollingPlace.objects.none(), required=False, allow_null=True, default=None
    )
    election = serializers.PrimaryKeyRelatedField(
        queryset=Election.objects.none(), required=False, allow_null=True, default=None
    )

    def __init__(self, *args: Any, scope: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if scope is not None:
            self.fields["jurisdiction"].queryset = selectors.jurisdictions_administered(scope)
            self.fields["county"].queryset = selectors.counties_administered(scope)
            self.fields["polling_place"].queryset = selectors.polling_places_administered(scope)
            self.fields["election"].queryset = selectors.elections_visible(scope)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        wanted = ROLE_FIELDS[attrs["role"]]
        errors = {}
        for name in ("jurisdiction", "county", "polling_place", "election"):
            if name in wanted and attrs.get(name) is None:
                errors[name] = serializers.ErrorDetail(f"A {attrs['role']} grant needs a {name}.", code="required")
            elif name not in wanted and attrs.get(name) is not None:
                errors[name] = serializers.ErrorDetail(f"A {attrs['role']} grant takes no {name}.", code="not_allowed")
        if errors:
            raise serializers.ValidationError(errors)
        return attrs


# --- sign-in ----------------------------------------------------------------------------------------------------


class TokenView(UnauthenticatedPostMixin, APIView):
    """``POST`` signs in; ``DELETE`` signs out (ends the session of the token sent)."""

    def _posting(self) -> bool:
        request = getattr(self, "request", None)
        return request is not None and request.method == "POST"

    def get_authenticators(self) -> list[Any]:
        return [] if self._posting() else super().get_authenticators()

    def get_permissions(self) -> list[BasePermission]:
        return [AllowAny()] if self._posting() else [IsAuthenticated()]

    @extend_schema(
        operation_id="auth_token_create",
        request=LoginInput,
        responses={200: TokenOutput, 400: ERROR, 401: ERROR, 403: ERROR, 429: TOO_MANY},
        auth=[],
        description=(
            "Sign in. 401 codes: `invalid_credentials` (same answer for an unknown user and a wrong password), "
            "`otp_required`, `otp_enrolment_required`, `tablet_required`, `tablet_invalid`; 403: "
            "`not_assigned_here`, `no_active_role`; 429: `too_many_attempts`."
        ),
    )
    def post(self, request: Request) -> Response:
        data = LoginInput(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        issued = services.session_login(
            username=v["username"],
            password=v["password"],
            otp=v["otp"],
            client_device_id=v["device_id"],
            device_secret=v["device_secret"],
            ip=client_ip(request),
            user_agent=_user_agent(request),
        )
        return Response(TokenOutput(issued).data)

    @extend_schema(operation_id="auth_token_destroy", request=None, responses={204: None, 401: ERROR})
    def delete(self, request: Request) -> Response:
        services.session_end(actor=request_actor(request), session=request.auth, reason=ApiSession.EndReason.LOGOUT)
        return Response(status=status.HTTP_204_NO_CONTENT)


class TotpStartView(UnauthenticatedPostMixin, APIView):
    authentication_classes: list[Any] = []
    permission_classes = [AllowAny]

    @extend_schema(
        request=TotpStartInput,
        responses={
            201: inline_serializer(
                "TotpEnrolment",
                {
                    "otpauth_uri": serializers.CharField(),
                    "secret": serializers.CharField(),
                    "confirm_by": serializers.DateTimeField(),
                },
            ),
            400: ERROR,
            401: ERROR,
            409: ERROR,
            429: TOO_MANY,
        },
        auth=[],
        description="Start setting up an authenticator app (administrators and commissioners without one). "
        "The secret is shown once.",
    )
    def post(self, request: Request) -> Response:
        data = TotpStartInput(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        enrolment = services.totp_enrolment_start(
            username=v["username"], password=v["password"], client_device_id=v["device_id"], ip=client_ip(request)
        )
        confirm_by = enrolment.device.created_at + timedelta(seconds=settings.AUTH_TOTP_ENROLMENT_TTL_S)
        return Response(
            {"otpauth_uri": enrolment.uri, "secret": enrolment.secret, "confirm_by": confirm_by},
            status=status.HTTP_201_CREATED,
        )


class TotpConfirmView(UnauthenticatedPostMixin, APIView):
    authentication_classes: list[Any] = []
    permission_classes = [AllowAny]

    @extend_schema(
        request=TotpConfirmInput,
        responses={
            200: inline_serializer(
                "TotpConfirmed",
                {
                    "recovery_codes": serializers.ListField(child=serializers.CharField()),
                    "token": serializers.CharField(),
                    "expires_at": serializers.DateTimeField(),
                    "session": serializers.IntegerField(),
                },
            ),
            400: ERROR,
            401: ERROR,
            409: ERROR,
            429: TOO_MANY,
        },
        auth=[],
        description="Confirm the authenticator with a current code: returns 10 single-use recovery codes (shown "
        "once) and signs in.",
    )
    def post(self, request: Request) -> Response:
        data = TotpConfirmInput(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        codes, issued = services.totp_enrolment_confirm(
            username=v["username"],
            password=v["password"],
            otp=v["otp"],
            client_device_id=v["device_id"],
            ip=client_ip(request),
            user_agent=_user_agent(request),
        )
        return Response({"recovery_codes": codes, **TokenOutput(issued).data})


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


# --- sessions and users -----------------------------------------------------------------------------------------


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
        scope = request_scope(self.request)
        raw = self.request.query_params.get("user")
        if raw in (None, ""):
            user_id = self.request.user.pk
        else:
            try:
                user_id = int(raw)
            except ValueError:
                raise BadRequest("'user' must be a user id.", "invalid_parameter", field="user") from None
            if not selectors.users_visible(scope).filter(pk=user_id).exists():
                raise Http404
        sessions = selectors.sessions_visible(scope).filter(user_id=user_id)
        if self.request.query_params.get("include_ended") not in ("1", "true", "yes"):
            sessions = sessions.filter(ended_at__isnull=True, expires_at__gt=timezone.now())
        return sessions.order_by("-created_at", "-pk")


def _manageable_session(request: Request, pk: int) -> ApiSession:
    scope = request_scope(request)
    session = get_object_or_404(selectors.sessions_visible(scope), pk=pk)
    if session.user_id != request.user.pk and not selectors.may_manage_user(scope, session.user):
        raise exceptions.PermissionDenied("You cannot end this user's sessions.", code="insufficient_authority")
    return session


class SessionEndView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(request=None, responses={200: SessionOutput, 401: ERROR, 403: ERROR, 404: ERROR})
    def post(self, request: Request, pk: int) -> Response:
        session = services.session_end(actor=request_actor(request), session=_manageable_session(request, pk))
        return Response(SessionOutput(session, context={"now": timezone.now(), "current": request.auth}).data)


class UserDisableView(APIView):
    permission_classes = [IsStaffAdmin]

    @extend_schema(request=DisableInput, responses={200: UserOutput, 400: ERROR, 401: ERROR, 403: ERROR, 404: ERROR})
    def post(self, request: Request, pk: int) -> Response:
        scope = request_scope(request)
        user = get_object_or_404(selectors.users_visible(scope), pk=pk)
        if user.pk == request.user.pk:
            raise BadRequest("You cannot disable yourself.", "cannot_disable_self")
        if not selectors.may_manage_user(scope, user):
            raise exceptions.PermissionDenied("You cannot disable this user.", code="insufficient_authority")
        data = DisableInput(data=request.data)
        data.is_valid(raise_exception=True)
        user = services.user_disable(actor=request_actor(request), user=user, reason=data.validated_data["reason"])
        return Response(UserOutput(user).data)


# --- tablets ----------------------------------------------------------------------------------------------------


class DeviceListView(ListAPIView):
    serializer_class = DeviceOutput
    pagination_class = Page
    permission_classes = [IsStaffAdmin]

    @extend_schema(
        parameters=[
            OpenApiParameter("polling_place", OpenApiTypes.INT),
            OpenApiParameter("include_revoked", OpenApiTypes.BOOL),
        ],
        responses={200: DeviceOutput(many=True), 400: ERROR, 401: ERROR, 403: ERROR},
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    def get_queryset(self) -> Any:
        devices = selectors.devices_visible(request_scope(self.request))
        raw = self.request.query_params.get("polling_place")
        if raw not in (None, ""):
            try:
                devices = devices.filter(polling_place_id=int(raw))
            except ValueError:
                raise BadRequest("'polling_place' must be an id.", "invalid_parameter", field="polling_place") from None
        if self.request.query_params.get("include_revoked") not in ("1", "true", "yes"):
            devices = devices.filter(revoked_at__isnull=True)
        return devices.order_by("polling_place_id", "label", "enrolled_at")


class EnrolmentCreateView(APIView):
    permission_classes = [IsStaffAdmin]

    @extend_schema(request=EnrolmentInput, responses={201: EnrolmentOutput, 400: ERROR, 401: ERROR, 403: ERROR})
    def post(self, request: Request) -> Response:
        data = EnrolmentInput(data=request.data, scope=request_scope(request))
        data.is_valid(raise_exception=True)
        v = data.validated_data
        enrolment, code = services.enrolment_code_create(
            actor=request_actor(request), polling_place=v["polling_place"], label=v["label"], election=v["election"]
        )
        out = {
            "code": code,
            "expires_at": enrolment.expires_at,
            "polling_place": enrolment.polling_place_id,
            "election": enrolment.election_id,
            "label": enrolment.label,
        }
        return Response(EnrolmentOutput(out).data, status=status.HTTP_201_CREATED)


class DeviceEnrolView(APIView):
    authentication_classes: list[Any] = []
    permission_classes = [AllowAny]

    @extend_schema(request=EnrolInput, responses={201: EnrolOutput, 400: ERROR, 429: TOO_MANY}, auth=[])
    def post(self, request: Request) -> Response:
        data = EnrolInput(data=request.data)
        data.is_valid(raise_exception=True)
        device, secret = services.device_enrol(code=data.validated_data["code"], ip=client_ip(request))
        out = {
            "device_id": device.pk,
            "device_secret": secret,
            "polling_place": device.polling_place_id,
            "election": device.election_id,
            "label": device.label,
        }
        return Response(EnrolOutput(out).data, status=status.HTTP_201_CREATED)


class DeviceRevokeView(APIView):
    permission_classes = [IsStaffAdmin]

    @extend_schema(request=RevokeInput, responses={200: DeviceOutput, 400: ERROR, 401: ERROR, 403: ERROR, 404: ERROR})
    def post(self, request: Request, pk: Any) -> Response:
        device = get_object_or_404(selectors.devices_visible(request_scope(request)), pk=pk)
        data = RevokeInput(data=request.data)
        data.is_valid(raise_exception=True)
        device = services.device_revoke(
            actor=request_actor(request), device=device, reason=data.validated_data["reason"]
        )
        return Response(DeviceOutput(device).data)


# --- roles ------------------------------------------------------------------------------------------------------


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

    @extend_schema(request=GrantInput, responses={201: GrantOutput, 400: ERROR, 401: ERROR, 403: ERROR})
    def post(self, request: Request) -> Response:
        scope = request_scope(request)
        data = GrantInput(data=request.data, scope=scope)
        data.is_valid(raise_exception=True)
        grant = services.grant_create(actor=request_actor(request), scope=scope, **data.validated_data)
        return Response(GrantOutput(grant).data, status=status.HTTP_201_CREATED)

    def get_queryset(self) -> Any:
        grants = selectors.grants_visible(request_scope(self.request))
        params = self.request.query_params
        raw = params.get("user")
        if raw not in (None, ""):
            try:
                grants = grants.filter(user_id=int(raw))
            except ValueError:
                raise BadRequest("'user' must be a user id.", "invalid_parameter", field="user") from None
        role = params.get("role")
        if role not in (None, ""):
            if role not in Role.values:
                raise BadRequest(f"'role' must be one of {', '.join(Role.values)}.", "invalid_parameter", field="role")
            grants = grants.filter(role=role)
        if params.get("include_ended") not in ("1", "true", "yes"):
            grants = grants.filter(ended_at__isnull=True)
        return grants.order_by("pk")


class GrantEndView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(request=None, responses={200: GrantOutput, 401: ERROR, 403: ERROR, 404: ERROR})
    def post(self, request: Request, pk: int) -> Response:
        scope = request_scope(request)
        grant = get_object_or_404(selectors.grants_visible(scope), pk=pk)
        if not services.may_administer_grant(scope, grant):
            raise exceptions.PermissionDenied("Your role cannot end this grant.", code="cannot_grant_role")
        grant = services.grant_end(actor=request_actor(request), grant=grant)
        return Response(GrantOutput(grant).data)

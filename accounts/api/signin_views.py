"""Signing in and out, and an administrator's or commissioner's own set-up of an authenticator app. These take a
password (and a code) instead of a token: every refusal is a 401 with ``WWW-Authenticate``, and lock-outs a 429."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny, BasePermission, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.api.auth_base import TOO_MANY, UnauthenticatedPostMixin, user_agent
from accounts.api.auth_serializers import LoginInput, TokenOutput, TotpConfirmInput, TotpStartInput
from accounts.authentication import request_actor
from accounts.models import ApiSession
from accounts.net import client_ip
from accounts.people import sessions, signin, totp
from common.api.schema import ERROR

#: What setting up an authenticator can answer besides success.
TOTP_REFUSALS = {400: ERROR, 401: ERROR, 409: ERROR, 429: TOO_MANY}


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
            "Sign in. 401 codes: `invalid_credentials` (the same answer, counted as a failure, for an unknown "
            "user, a wrong password, and a right password without its second step: a missing or wrong one-time "
            "code, a missing or invalid tablet), `otp_enrolment_required`; 403: `not_assigned_here` (on an enrolled "
            "tablet of another place), `no_active_role`; 429: `too_many_attempts`."
        ),
    )
    def post(self, request: Request) -> Response:
        data = LoginInput(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        issued = signin.session_login(
            username=v["username"],
            password=v["password"],
            otp=v["otp"],
            client_device_id=v["device_id"],
            device_secret=v["device_secret"],
            ip=client_ip(request),
            user_agent=user_agent(request),
        )
        return Response(TokenOutput(issued).data)

    @extend_schema(operation_id="auth_token_destroy", request=None, responses={204: None, 401: ERROR})
    def delete(self, request: Request) -> Response:
        sessions.session_end(actor=request_actor(request), session=request.auth, reason=ApiSession.EndReason.LOGOUT)
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
            **TOTP_REFUSALS,
        },
        auth=[],
        description="Start setting up an authenticator app (administrators and commissioners without one). "
        "The secret is shown once.",
    )
    def post(self, request: Request) -> Response:
        data = TotpStartInput(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        enrolment = totp.totp_enrolment_start(
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
            **TOTP_REFUSALS,
        },
        auth=[],
        description="Confirm the authenticator with a current code: returns 10 single-use recovery codes (shown "
        "once) and signs in.",
    )
    def post(self, request: Request) -> Response:
        data = TotpConfirmInput(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        codes, issued = totp.totp_enrolment_confirm(
            username=v["username"],
            password=v["password"],
            otp=v["otp"],
            client_device_id=v["device_id"],
            ip=client_ip(request),
            user_agent=user_agent(request),
        )
        return Response({"recovery_codes": codes, **TokenOutput(issued).data})

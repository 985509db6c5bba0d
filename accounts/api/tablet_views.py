"""Tablets of polling places: list, make an enrolment code, enrol (the tablet itself, with the code), revoke.
Administrators and commissioners manage the tablets of their counties; elsewhere a tablet does not exist (404)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.generics import ListAPIView
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.api.auth_base import TOO_MANY, Page, flag, id_filter
from accounts.api.auth_serializers import (
    DeviceOutput,
    EnrolInput,
    EnrolmentInput,
    EnrolmentOutput,
    EnrolOutput,
    RevokeInput,
)
from accounts.authentication import request_actor
from accounts.net import client_ip
from accounts.people import selectors, tablets
from accounts.permissions import IsStaffAdmin, request_scope
from common.api.schema import ERROR


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
        return selectors.device_list(
            request_scope(self.request),
            polling_place_id=id_filter(self.request, "polling_place", "'polling_place' must be an id."),
            include_revoked=flag(self.request, "include_revoked"),
        )


class EnrolmentCreateView(APIView):
    permission_classes = [IsStaffAdmin]

    @extend_schema(request=EnrolmentInput, responses={201: EnrolmentOutput, 400: ERROR, 401: ERROR, 403: ERROR})
    def post(self, request: Request) -> Response:
        data = EnrolmentInput(data=request.data, scope=request_scope(request))
        data.is_valid(raise_exception=True)
        v = data.validated_data
        enrolment, code = tablets.enrolment_code_create(
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
        device, secret = tablets.device_enrol(code=data.validated_data["code"], ip=client_ip(request))
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
        device = selectors.device_get(request_scope(request), pk)
        data = RevokeInput(data=request.data)
        data.is_valid(raise_exception=True)
        device = tablets.device_revoke(
            actor=request_actor(request), device=device, reason=data.validated_data["reason"]
        )
        return Response(DeviceOutput(device).data)

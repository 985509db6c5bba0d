"""Address blocks of the intrusion prevention (``guard.ips``): listed, and lifted early, by state administrators
only — a block concerns the whole service, not one county. Lifting is audited in the transaction that lifts."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.audit import audit_record
from accounts.authentication import request_actor
from accounts.permissions import request_scope
from common.api import parsing
from common.api.paging import paginated
from common.api.schema import ERROR
from common.errors import DomainError
from guard import ips
from guard.models import AddressBlock

PAGE_DEFAULT, PAGE_MAX = 50, 500


class IsStateAdmin(BasePermission):
    """An active state administrator (of any state): commissioners and everyone else get 403."""

    message = "Only state administrators manage address blocks."

    def has_permission(self, request: Any, view: Any) -> bool:
        return bool(request.user and request.user.is_authenticated and request_scope(request).jurisdictions)


def block_out(block: AddressBlock, now: Any) -> dict[str, Any]:
    return {
        "id": block.pk,
        "bucket": block.bucket,
        "reason": block.reason,
        "strikes": block.strikes,
        "blocked_at": block.blocked_at,
        "until": block.until,
        "active": block.lifted_at is None and block.until > now,
        "lifted_at": block.lifted_at,
        "lifted_by": block.lifted_by,
        "note": block.note,
    }


BLOCK = inline_serializer(
    "AddressBlock",
    {
        "id": serializers.IntegerField(),
        "bucket": serializers.CharField(help_text="The address as counted (an IPv6 address's /64)."),
        "reason": serializers.ChoiceField(choices=AddressBlock.Reason.choices),
        "strikes": serializers.IntegerField(),
        "blocked_at": serializers.DateTimeField(),
        "until": serializers.DateTimeField(),
        "active": serializers.BooleanField(),
        "lifted_at": serializers.DateTimeField(allow_null=True),
        "lifted_by": serializers.CharField(),
        "note": serializers.CharField(),
    },
)


class LiftInput(serializers.Serializer):  # type: ignore[type-arg]
    note = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")


class BlockListView(APIView):
    permission_classes = [IsStateAdmin]

    @extend_schema(
        operation_id="security_blocks_list",
        summary="Address blocks (in force first)",
        parameters=[
            OpenApiParameter("active", OpenApiTypes.BOOL, description="1: only the blocks in force now."),
            OpenApiParameter("limit", OpenApiTypes.INT, description=f"At most {PAGE_MAX}."),
            OpenApiParameter("offset", OpenApiTypes.INT),
        ],
        responses={
            200: inline_serializer(
                "AddressBlockPage",
                {
                    "count": serializers.IntegerField(),
                    "limit": serializers.IntegerField(),
                    "offset": serializers.IntegerField(),
                    "next": serializers.URLField(allow_null=True),
                    "results": BLOCK.__class__(many=True),
                },
            ),
            400: ERROR,
            401: ERROR,
            403: ERROR,
        },
    )
    def get(self, request: Request) -> Response:
        query = request.query_params
        limit, offset = parsing.page(query, default=PAGE_DEFAULT, maximum=PAGE_MAX)
        only_active = parsing.choice(query, "active", ("0", "1", "true", "false")) in ("1", "true")
        now = timezone.now()
        qs = AddressBlock.objects.filter(lifted_at__isnull=True, until__gt=now) if only_active else None
        body, rows = paginated(request, ips.blocks_active_first(qs), limit, offset)
        body["results"] = [block_out(row, now) for row in rows]
        return Response(body)


class BlockLiftView(APIView):
    permission_classes = [IsStateAdmin]

    @extend_schema(
        operation_id="security_blocks_lift",
        summary="Lift an address block now",
        request=LiftInput,
        responses={200: BLOCK, 400: ERROR, 401: ERROR, 403: ERROR, 404: ERROR, 409: ERROR},
    )
    def post(self, request: Request, pk: int) -> Response:
        data = LiftInput(data=request.data)
        data.is_valid(raise_exception=True)
        block = AddressBlock.objects.filter(pk=pk).first()
        if block is None:
            raise DomainError("No such address block.", "not_found")
        if block.lifted_at is not None or block.until <= timezone.now():
            raise DomainError("This block is not in force (expired or already lifted).", "block_not_active")
        actor = request_actor(request)
        with transaction.atomic():
            for row in ips.lift(block.bucket, by=actor.label, note=data.validated_data["note"]):
                audit_record(
                    actor=actor,
                    action="security.block_lifted",
                    obj=row,
                    after={"bucket": row.bucket, "reason": row.reason, "note": row.note},
                )
        block.refresh_from_db()
        return Response(block_out(block, timezone.now()))

"""Admin of the protective measures: address blocks (in force first, with an audited "lift" action) and the security
events, read-only. For state administrators only (and superusers): a block concerns the whole service, and the
events name client addresses; commissioners signed in to the admin site do not see these pages (403)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone

from accounts.audit import Actor, audit_record
from accounts.models import Role, RoleGrant
from common.admin import ReadOnlyAdmin
from common.net import client_ip
from guard import ips
from guard.models import AddressBlock, SecurityEvent


def is_state_admin(request: HttpRequest) -> bool:
    """A superuser, or an active user holding an active state-administrator grant (of any state)."""
    user = request.user
    if not (user.is_authenticated and user.is_active):
        return False
    if user.is_superuser:
        return True
    cached = getattr(request, "_guard_state_admin", None)
    if cached is None:
        cached = RoleGrant.objects.filter(user=user, role=Role.STATE_ADMIN, ended_at__isnull=True).exists()
        request._guard_state_admin = cached  # type: ignore[attr-defined]
    return bool(cached)


class StateAdminOnly(ReadOnlyAdmin):
    """Seen (and its actions run) by state administrators only; never added, edited or deleted here."""

    def has_module_permission(self, request: HttpRequest) -> bool:
        return is_state_admin(request)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return is_state_admin(request)

    def has_manage_permission(self, request: HttpRequest) -> bool:
        return is_state_admin(request)


class InForce(admin.SimpleListFilter):
    title = "in force"
    parameter_name = "in_force"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("yes", "In force"), ("no", "Expired or lifted")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value() == "yes":
            return queryset.filter(in_force=1)
        if self.value() == "no":
            return queryset.filter(in_force=0)
        return queryset


@admin.register(AddressBlock)
class AddressBlockAdmin(StateAdminOnly):
    list_display = ["bucket", "reason", "strikes", "blocked_at", "until", "in_force_now", "lifted_at", "lifted_by"]
    list_filter = [InForce, "reason"]
    search_fields = ["bucket"]
    actions = ["lift_blocks"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[AddressBlock]:
        # Not super()'s: it orders by get_ordering before the in-force column it names is annotated.
        return ips.blocks_active_first(AddressBlock.objects.all())

    def get_ordering(self, request: HttpRequest) -> tuple[str, ...]:
        return ("-in_force", "-until", "-pk")

    @admin.display(boolean=True, description="in force")
    def in_force_now(self, obj: AddressBlock) -> bool:
        return obj.lifted_at is None and obj.until > timezone.now()

    @admin.action(description="Lift the selected blocks now", permissions=["manage"])
    def lift_blocks(self, request: HttpRequest, queryset: QuerySet[AddressBlock]) -> None:
        actor = Actor(user=request.user, ip_address=client_ip(request), device="admin site")
        buckets = sorted(set(queryset.values_list("bucket", flat=True)))
        lifted = 0
        with transaction.atomic():
            for bucket in buckets:
                for row in ips.lift(bucket, by=actor.label, note="lifted in the admin site"):
                    audit_record(
                        actor=actor,
                        action="security.block_lifted",
                        obj=row,
                        after={"bucket": row.bucket, "reason": row.reason, "note": row.note},
                    )
                    lifted += 1
        self.message_user(request, f"{lifted} block(s) lifted.", messages.SUCCESS)


@admin.register(SecurityEvent)
class SecurityEventAdmin(StateAdminOnly):
    list_display = ["occurred_at", "kind", "reason", "address", "bucket", "country", "path", "account", "count"]
    list_filter = ["kind"]
    search_fields = ["address", "bucket", "account", "path"]
    date_hierarchy = "occurred_at"
    actions = None

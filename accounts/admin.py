"""Admin for people and access. Role grants, tablets, sessions and the audit trail are read-only here: they change
only through the services (the API, or the actions below), so every change is audited. User edits are audited too."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse

from accounts.audit import Actor
from accounts.models import (
    ApiSession,
    AuditEvent,
    Credential,
    Device,
    EnrolmentCode,
    LoginFailure,
    RoleGrant,
    SharedLogonFlag,
    SigningKey,
    User,
)
from accounts.net import client_ip
from accounts.people import grants, sessions, tablets, users
from common.admin import ReadOnlyAdmin


def _actor(request: HttpRequest) -> Actor:
    return Actor(user=request.user, ip_address=client_ip(request), device="admin site")


@admin.register(User)
class AuditedUserAdmin(UserAdmin):
    """Django's user admin, with every save and password change written to the audit trail in its transaction.
    Users are disabled (``is_active``), never deleted: their audit events and grants refer to them."""

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: User, form: Any, change: bool) -> None:
        before = None
        if change:
            before = users.user_snapshot(User.objects.get(pk=obj.pk))
        with transaction.atomic():
            super().save_model(request, obj, form, change)
            users.user_changed(actor=_actor(request), user=obj, before=before, password_changed=not change)

    def user_change_password(self, request: HttpRequest, id: str, form_url: str = "") -> HttpResponse:
        with transaction.atomic():
            response = super().user_change_password(request, id, form_url)
            if request.method == "POST" and response.status_code == 302:
                user = User.objects.get(pk=id)
                users.user_changed(
                    actor=_actor(request), user=user, before=users.user_snapshot(user), password_changed=True
                )
        return response


@admin.register(RoleGrant)
class RoleGrantAdmin(ReadOnlyAdmin):
    list_display = ["user", "role", "jurisdiction", "county", "polling_place", "election", "granted_at", "ended_at"]
    list_filter = ["role", ("ended_at", admin.EmptyFieldListFilter)]
    list_select_related = ["user", "jurisdiction", "county", "polling_place", "election"]
    search_fields = ["user__username", "user__last_name"]
    actions = ["end_grants"]

    @admin.action(description="End the selected role grants", permissions=["manage"])
    def end_grants(self, request: HttpRequest, queryset: QuerySet[RoleGrant]) -> None:
        for grant in queryset.filter(ended_at__isnull=True):
            grants.grant_end(actor=_actor(request), grant=grant)
        self.message_user(request, "The selected grants have ended.", messages.SUCCESS)


@admin.register(Device)
class DeviceAdmin(ReadOnlyAdmin):
    list_display = ["label", "kind", "polling_place", "election", "enrolled_at", "last_seen_at", "revoked_at"]
    list_filter = ["kind", ("revoked_at", admin.EmptyFieldListFilter)]
    list_select_related = ["polling_place", "election"]
    search_fields = ["label", "polling_place__code", "polling_place__name"]
    exclude = ["secret_hash"]
    actions = ["revoke_devices"]

    @admin.action(description="Revoke the selected tablets (ends their sessions)", permissions=["manage"])
    def revoke_devices(self, request: HttpRequest, queryset: QuerySet[Device]) -> None:
        for device in queryset.filter(revoked_at__isnull=True):
            tablets.device_revoke(
                actor=_actor(request), device=device, reason=f"Revoked in the admin site by {request.user}"
            )
        self.message_user(request, "The selected tablets are revoked.", messages.SUCCESS)


@admin.register(ApiSession)
class ApiSessionAdmin(ReadOnlyAdmin):
    list_display = ["key_prefix", "user", "client_device_id", "device", "created_at", "expires_at", "ended_at"]
    list_filter = ["end_reason", ("ended_at", admin.EmptyFieldListFilter)]
    list_select_related = ["user", "device"]
    search_fields = ["user__username", "key_prefix"]
    exclude = ["key_hash"]
    actions = ["end_sessions"]

    @admin.action(description="End the selected sessions", permissions=["manage"])
    def end_sessions(self, request: HttpRequest, queryset: QuerySet[ApiSession]) -> None:
        for session in queryset.filter(ended_at__isnull=True):
            sessions.session_end(actor=_actor(request), session=session)
        self.message_user(request, "The selected sessions have ended.", messages.SUCCESS)


@admin.register(SharedLogonFlag)
class SharedLogonFlagAdmin(ReadOnlyAdmin):
    list_display = ["detected_at", "user", "detected_on", "other_device", "far_address", "action", "ended_count"]
    list_filter = ["detected_on", "action", "other_device", "far_address"]
    list_select_related = ["user"]
    search_fields = ["user__username"]
    date_hierarchy = "detected_at"


@admin.register(EnrolmentCode)
class EnrolmentCodeAdmin(ReadOnlyAdmin):
    list_display = ["label", "polling_place", "election", "created_by", "created_at", "expires_at", "used_at"]
    list_select_related = ["polling_place", "election", "created_by"]
    exclude = ["code_hash"]


@admin.register(LoginFailure)
class LoginFailureAdmin(ReadOnlyAdmin):
    list_display = ["occurred_at", "kind", "username", "ip_address", "reason", "account_cleared"]
    list_filter = ["kind", "reason"]
    search_fields = ["username", "ip_address"]


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = ["occurred_at", "actor_label", "action", "object_type", "object_id", "ip_address"]
    list_filter = ["action", "object_type"]
    search_fields = ["actor_label", "action", "object_type", "object_id"]
    date_hierarchy = "occurred_at"
    actions = None


@admin.register(Credential)
class CredentialAdmin(ReadOnlyAdmin):
    """Credentials are issued, imported and revoked through the audited API; here they are only looked up."""

    list_display = ("serial", "holder_name", "kind", "appointed_by_name", "county", "election", "status", "valid_until")
    list_filter = ("kind", "status", "election")
    search_fields = ("serial", "holder_name", "appointed_by_name")
    list_select_related = ("county", "election")
    raw_id_fields = ("county", "election", "issued_by", "revoked_by")


@admin.register(SigningKey)
class SigningKeyAdmin(ReadOnlyAdmin):
    """Public half only: the encrypted private key never leaves the database through the admin."""

    list_display = ("key_id", "active", "created_at", "retired_at")
    exclude = ("private_key_encrypted",)

"""Input and output shapes of the staff API under ``/api/v1/auth/``: sign-in, second factor, sessions, users,
tablets and role grants. Input serializers only parse and check types and which scope fields a role takes; the
rules live in ``accounts.people``. Inputs that name an object read it in the caller's scope."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from accounts import session_guard
from accounts.models import ApiSession, Device, Role, RoleGrant, SharedLogonFlag, User
from accounts.people import selectors
from accounts.scopes import Scope
from common.api.parsing import IdentifierRelatedField
from polling.models import County, Election, Jurisdiction, PollingPlace


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
    end_reason_detail = serializers.SerializerMethodField(
        help_text="Why the session ended, for people (empty while it is live); a shared logon says so."
    )

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
            "end_reason_detail",
            "live",
            "current",
        ]

    def get_live(self, obj: ApiSession) -> bool:
        return obj.is_live(self.context.get("now"))

    def get_current(self, obj: ApiSession) -> bool:
        current = self.context.get("current")
        return current is not None and obj.pk == current.pk

    def get_end_reason_detail(self, obj: ApiSession) -> str:
        if obj.end_reason == ApiSession.EndReason.SHARED_LOGON:
            return session_guard.END_EXPLANATION
        return str(obj.get_end_reason_display()) if obj.end_reason else ""


class SharedLogonOutput(serializers.ModelSerializer):
    """One account seen in use at once from two devices or far-apart addresses, and what the policy did."""

    username = serializers.CharField(source="user.username")
    sessions = serializers.PrimaryKeyRelatedField(many=True, read_only=True)
    devices = serializers.ListField(child=serializers.CharField(), help_text="The device ids involved.")
    addresses = serializers.ListField(child=serializers.CharField(), help_text="The client addresses involved.")

    class Meta:
        model = SharedLogonFlag
        fields = [
            "id",
            "user",
            "username",
            "detected_at",
            "detected_on",
            "session",
            "sessions",
            "other_device",
            "far_address",
            "devices",
            "addresses",
            "action",
            "ended_count",
        ]


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
    polling_place = IdentifierRelatedField(queryset=PollingPlace.objects.none())
    label = serializers.CharField(max_length=100)
    election = IdentifierRelatedField(queryset=Election.objects.none(), required=False, allow_null=True, default=None)

    def __init__(self, *args: Any, scope: Scope | None = None, **kwargs: Any) -> None:
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
    user = serializers.IntegerField(
        min_value=1,
        max_value=2**63 - 1,
        help_text="The user's id. Someone outside your reach is answered 404 `not_found`, like an unknown id.",
    )
    role = serializers.ChoiceField(choices=Role.choices)
    jurisdiction = IdentifierRelatedField(
        queryset=Jurisdiction.objects.none(), required=False, allow_null=True, default=None
    )
    county = IdentifierRelatedField(queryset=County.objects.none(), required=False, allow_null=True, default=None)
    polling_place = IdentifierRelatedField(
        queryset=PollingPlace.objects.none(), required=False, allow_null=True, default=None
    )
    election = IdentifierRelatedField(queryset=Election.objects.none(), required=False, allow_null=True, default=None)

    def __init__(self, *args: Any, scope: Scope | None = None, **kwargs: Any) -> None:
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

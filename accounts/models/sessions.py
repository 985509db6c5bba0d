"""Signing in: API sessions (bearer tokens), enrolled tablets, their one-time enrolment codes, and failed attempts.

No secret is stored in the clear: tokens, device secrets and enrolment codes are kept as SHA-256 hashes, found by
hash lookup (so there is no secret-dependent string comparison) and shown to the client exactly once.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from accounts.models.validators import validate_printable


class Device(models.Model):
    """A tablet enrolled at one polling place (optionally for one election) by a commissioner.

    Its ``id`` is the ``device_id`` the tablet sends at sign-in and as ``X-Device-Id`` on every request; its secret
    (shown once at enrolment) is kept only as a hash. Revoking a device ends every session opened on it.
    """

    class Kind(models.TextChoices):
        TABLET = "tablet", "Tablet"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.TABLET)
    polling_place = models.ForeignKey("polling.PollingPlace", on_delete=models.PROTECT, related_name="devices")
    election = models.ForeignKey(
        "polling.Election",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="When set, the tablet serves only this election.",
    )
    label = models.CharField(
        max_length=100, help_text="What is written on the tablet, e.g. 'Table 2'.", validators=[validate_printable]
    )
    secret_hash = models.CharField(max_length=64, unique=True, editable=False)
    enrolled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="Who issued the enrolment code.",
    )
    enrolled_at = models.DateTimeField(default=timezone.now)
    last_seen_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    revoke_reason = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["polling_place_id", "label", "enrolled_at"]
        constraints = [
            models.CheckConstraint(
                name="accounts_device_revocation_has_reason",
                condition=Q(revoked_at__isnull=True, revoke_reason="")
                | (Q(revoked_at__isnull=False) & ~Q(revoke_reason="")),
                violation_error_message="A revoked device needs a reason, and only a revoked device has one.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.label} @ {self.polling_place_id}"

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None


class EnrolmentCode(models.Model):
    """A short-lived, single-use code a commissioner hands to a tablet so that it can enrol itself."""

    code_hash = models.CharField(max_length=64, unique=True, editable=False)
    polling_place = models.ForeignKey("polling.PollingPlace", on_delete=models.PROTECT, related_name="+")
    election = models.ForeignKey("polling.Election", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    label = models.CharField(max_length=100, validators=[validate_printable])
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    device = models.OneToOneField(
        Device, null=True, blank=True, on_delete=models.PROTECT, related_name="enrolment_code"
    )

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                name="accounts_enrolmentcode_used_with_device",
                condition=Q(used_at__isnull=True, device__isnull=True) | Q(used_at__isnull=False, device__isnull=False),
                violation_error_message="A used enrolment code names the device it enrolled.",
            ),
            models.CheckConstraint(
                name="accounts_enrolmentcode_expires_after_creation",
                condition=Q(expires_at__gt=models.F("created_at")),
                violation_error_message="An enrolment code must expire after it is created.",
            ),
        ]

    def __str__(self) -> str:
        return f"Enrolment code for {self.label} @ {self.polling_place_id}"


class ApiSession(models.Model):
    """One signed-in API session: a bearer token (kept as a hash plus a display prefix), bound to the device id the
    client chose at sign-in, expiring at ``expires_at`` or earlier when ended (logout, disable, device revoked)."""

    class EndReason(models.TextChoices):
        LOGOUT = "logout", "Signed out"
        ENDED = "ended", "Ended by an administrator"
        USER_DISABLED = "user_disabled", "User disabled"
        DEVICE_REVOKED = "device_revoked", "Tablet revoked"
        PASSWORD_CHANGED = "password_changed", "Password changed"
        SHARED_LOGON = "shared_logon", "Shared logon: the account was in use elsewhere at the same time"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="api_sessions")
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    key_prefix = models.CharField(max_length=8, help_text="The first characters of the token, to tell sessions apart.")
    client_device_id = models.UUIDField(help_text="The X-Device-Id the token is bound to.")
    device = models.ForeignKey(
        Device,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="sessions",
        help_text="The enrolled tablet the session was opened on, if any.",
    )
    mfa_method = models.CharField(max_length=16, blank=True, help_text="totp, recovery_code, or empty.")
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    last_ip_address = models.GenericIPAddressField(
        null=True,
        blank=True,
        help_text="The address of the last use written (with last_used_at, at most every touch interval).",
    )
    user_agent = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    last_used_at = models.DateTimeField(default=timezone.now)
    ended_at = models.DateTimeField(null=True, blank=True)
    ended_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    end_reason = models.CharField(max_length=20, choices=EndReason.choices, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["user", "ended_at"], name="accounts_apisession_user_idx")]
        constraints = [
            models.CheckConstraint(
                name="accounts_apisession_end_has_reason",
                condition=Q(ended_at__isnull=True, end_reason="") | (Q(ended_at__isnull=False) & ~Q(end_reason="")),
                violation_error_message="An ended session needs a reason, and only an ended session has one.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.key_prefix}… ({self.user_id})"

    def is_live(self, now: datetime | None = None) -> bool:
        return self.ended_at is None and self.expires_at > (now or timezone.now())

    @property
    def seen_address(self) -> str | None:
        """Where the session was last seen: its last written use, else where it was opened."""
        return self.last_ip_address or self.ip_address


class SharedLogonFlag(models.Model):
    """One account seen in use at once from two devices, or from two addresses far apart (``accounts.session_guard``):
    the sessions involved, what told them apart, and what the policy did about it. Mississippi's rule: nobody shares
    a logon. Read by the person's commissioner and the state administrators (``shared_logon_list``) and counted by
    the security report (``shared_logons_since``)."""

    class Detected(models.TextChoices):
        SIGNIN = "signin", "At sign-in"
        USE = "use", "While in use"

    class Action(models.TextChoices):
        FLAGGED = "flagged", "Recorded only"
        ENDED_OLDER = "ended_older", "The older session(s) ended"
        ENDED_SESSION = "ended_session", "The shared session ended"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="shared_logon_flags")
    detected_at = models.DateTimeField(default=timezone.now)
    detected_on = models.CharField(max_length=10, choices=Detected.choices)
    session = models.ForeignKey(
        ApiSession,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="The session that revealed it: the new one at sign-in, the one in use otherwise.",
    )
    sessions = models.ManyToManyField(
        ApiSession, related_name="shared_logon_flags", help_text="Every session involved, the revealing one included."
    )
    other_device = models.BooleanField(help_text="The sessions were opened on different device ids.")
    far_address = models.BooleanField(help_text="The sessions were used from addresses far apart.")
    devices = models.JSONField(default=list, help_text="The device ids involved.")
    addresses = models.JSONField(default=list, help_text="The client addresses involved.")
    action = models.CharField(max_length=16, choices=Action.choices)
    ended_count = models.PositiveIntegerField(default=0, help_text="How many sessions the policy ended.")

    class Meta:
        ordering = ["-detected_at", "-pk"]
        indexes = [
            models.Index(fields=["detected_at"], name="accounts_sharedlogon_when_idx"),
            models.Index(fields=["user", "detected_at"], name="accounts_sharedlogon_user_idx"),
        ]

    def __str__(self) -> str:
        return f"Shared logon of {self.user_id} at {self.detected_at:%Y-%m-%d %H:%M:%S} ({self.action})"


class LoginFailure(models.Model):
    """A failed (or in-flight) sign-in or enrolment attempt, kept in the database so every server process counts
    the same attempts per account and per client address. Rows older than the longest lockout window are only
    history and may be pruned."""

    class Kind(models.TextChoices):
        LOGIN = "login", "Sign-in"
        TOTP = "totp", "TOTP enrolment"
        ENROL = "enrol", "Tablet enrolment"

    class Reason(models.TextChoices):
        PENDING = "pending", "In progress"
        UNKNOWN_USER = "unknown_user", "Unknown user"
        BAD_PASSWORD = "bad_password", "Wrong password"
        INACTIVE = "inactive", "Disabled user"
        BAD_OTP = "bad_otp", "Wrong one-time code"
        BAD_CODE = "bad_code", "Unknown enrolment code"

    occurred_at = models.DateTimeField(default=timezone.now)
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.LOGIN)
    username = models.CharField(
        max_length=150, blank=True, help_text="The account key: the username as typed, normalised (NFKC case folding)."
    )
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    address_bucket = models.CharField(
        max_length=64,
        blank=True,
        help_text="What the per-address limit counts: the IPv4 address, or the /64 network of an IPv6 address.",
    )
    reason = models.CharField(max_length=20, choices=Reason.choices, default=Reason.PENDING)
    account_cleared = models.BooleanField(
        default=False, help_text="A later successful sign-in cleared this failure from the per-account count."
    )

    class Meta:
        ordering = ["-occurred_at"]
        indexes = [
            models.Index(fields=["username", "occurred_at"], name="accounts_loginfail_user_idx"),
            models.Index(fields=["ip_address", "occurred_at"], name="accounts_loginfail_ip_idx"),
            models.Index(fields=["address_bucket", "occurred_at"], name="accounts_loginfail_bucket_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.occurred_at:%Y-%m-%d %H:%M:%S} {self.kind} {self.username or '-'} {self.ip_address}"

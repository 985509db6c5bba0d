"""Credentials for poll watchers and observers, and the Ed25519 keys that sign them.

Credential holders never sign in. A commissioner (or state administrator) issues a credential; its signed token is
printed as a QR code (``accounts.credentials.signing``) that poll-book tablets verify offline with the public keys.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core import checks
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from accounts.models.validators import validate_printable

serial_validator = RegexValidator(
    r"^[0-9ABCDEFGHJKMNPQRSTVWXYZ]{10}$", "A serial is 10 Crockford base32 characters (no I, L, O or U)."
)


class Credential(models.Model):
    """A signed permission for one person to be present as a poll watcher or observer in one election, county-wide
    or at listed polling places (all in ``county``), between ``valid_from`` and ``valid_until``.

    Issued once and never edited: a mistake is corrected by revoking and issuing anew, so every printed token keeps
    meaning exactly what the database says. "Expired" is derived from ``valid_until``, never stored.
    """

    class Kind(models.TextChoices):
        POLL_WATCHER = "poll_watcher", "Poll watcher"
        FEDERAL_OBSERVER = "federal_observer", "Federal observer"
        STATE_OBSERVER = "state_observer", "State observer"

    class AppointedBy(models.TextChoices):
        PARTY = "party", "Party"
        CANDIDATE = "candidate", "Candidate"

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        REVOKED = "revoked", "Revoked"

    serial = models.CharField(max_length=10, validators=[serial_validator], editable=False)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    holder_name = models.CharField(max_length=200, validators=[validate_printable])
    appointed_by_kind = models.CharField(
        max_length=10, choices=AppointedBy.choices, blank=True, help_text="Poll watchers only: party or candidate."
    )
    appointed_by_name = models.CharField(
        max_length=200,
        blank=True,
        help_text="Poll watchers only: the appointing party's or candidate's name.",
        validators=[validate_printable],
    )
    election = models.ForeignKey("polling.Election", on_delete=models.PROTECT, related_name="credentials")
    county = models.ForeignKey("polling.County", on_delete=models.PROTECT, related_name="credentials")
    polling_places = models.ManyToManyField(
        "polling.PollingPlace",
        blank=True,
        related_name="credentials",
        help_text="Empty: valid at every polling place of the county.",
    )
    valid_from = models.DateTimeField(help_text="Whole minutes (tokens carry minutes).")
    valid_until = models.DateTimeField(help_text="Exclusive; whole minutes.")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ACTIVE)
    issued_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    issued_at = models.DateTimeField(default=timezone.now)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    revoked_at = models.DateTimeField(null=True, blank=True, db_index=True)
    revocation_reason = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["-issued_at", "-pk"]
        indexes = [
            models.Index(fields=["county", "election", "status"], name="accounts_cred_scope_idx"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["serial"],
                name="accounts_credential_serial_unique",
                violation_error_message="A credential with this serial already exists.",
            ),
            models.CheckConstraint(
                condition=~Q(holder_name=""),
                name="accounts_credential_holder_named",
                violation_error_message="The holder's name is required.",
            ),
            models.CheckConstraint(
                condition=Q(valid_until__gt=F("valid_from")),
                name="accounts_credential_valid_until_after_from",
                violation_error_message="The credential must end after it starts.",
            ),
            models.CheckConstraint(
                condition=(
                    Q(kind="poll_watcher", appointed_by_kind__in=["party", "candidate"]) & ~Q(appointed_by_name="")
                )
                | Q(kind__in=["federal_observer", "state_observer"], appointed_by_kind="", appointed_by_name=""),
                name="accounts_credential_appointer_matches_kind",
                violation_error_message=(
                    "A poll watcher is appointed by a named party or candidate; an observer has no appointer."
                ),
            ),
            models.CheckConstraint(
                condition=Q(status="active", revoked_at__isnull=True, revoked_by__isnull=True, revocation_reason="")
                | (Q(status="revoked", revoked_at__isnull=False) & ~Q(revocation_reason="")),
                name="accounts_credential_revocation_recorded",
                violation_error_message="A revoked credential records when and why; an active one neither.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.serial} {self.get_kind_display()} {self.holder_name}"

    def clean(self) -> None:
        errors: dict[str, str] = {}
        if self.election_id and self.county_id and self.election.jurisdiction_id != self.county.jurisdiction_id:
            errors["election"] = "The election is not in the county's state."
        if self.valid_from and self.valid_from.year < 2000:
            errors["valid_from"] = "The credential cannot start before 2000."
        if errors:
            raise ValidationError(errors)

    def display_status(self, now: Any = None) -> str:
        """``active``, ``revoked`` or ``expired`` (active but past ``valid_until``)."""
        if self.status == self.Status.REVOKED:
            return "revoked"
        if self.valid_until <= (now or timezone.now()):
            return "expired"
        return "active"


class SigningKeyQuerySet(models.QuerySet["SigningKey"]):
    def verifying(self) -> SigningKeyQuerySet:
        """Keys whose signatures still count: every key not yet retired."""
        return self.filter(retired_at__isnull=True)


class SigningKey(models.Model):
    """An Ed25519 key pair that signs credential tokens, named by a small key id carried in every token.

    Exactly one key is ``active`` and signs new tokens. ``rotate_signing_key`` makes a new active key; the old one
    stops signing but keeps verifying until it is retired, so tokens already printed stay good until then. The
    private key is stored encrypted (Fernet, key from ``CREDENTIAL_KEY_ENCRYPTION_KEY`` or, by default, derived
    from ``SECRET_KEY``); the public key is public (``GET /api/v1/credentials/keys/``).
    """

    key_id = models.PositiveIntegerField(help_text="1..65535, carried in every token.")
    public_key = models.CharField(max_length=64, help_text="Raw 32-byte Ed25519 public key, base64.")
    private_key_encrypted = models.TextField(help_text="Raw private key, Fernet-encrypted.")
    active = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)
    retired_at = models.DateTimeField(null=True, blank=True)

    objects = SigningKeyQuerySet.as_manager()

    class Meta:
        ordering = ["key_id"]
        constraints = [
            models.UniqueConstraint(
                fields=["key_id"],
                name="accounts_signingkey_key_id_unique",
                violation_error_message="A signing key with this key id already exists.",
            ),
            models.UniqueConstraint(
                fields=["active"],
                condition=Q(active=True),
                name="accounts_signingkey_one_active",
                violation_error_message="Only one signing key can be active.",
            ),
            models.CheckConstraint(
                condition=Q(key_id__gte=1, key_id__lte=65535),
                name="accounts_signingkey_key_id_range",
                violation_error_message="A key id is between 1 and 65535.",
            ),
            models.CheckConstraint(
                condition=Q(active=False) | Q(retired_at__isnull=True),
                name="accounts_signingkey_active_not_retired",
                violation_error_message="The active key cannot be retired.",
            ),
        ]

    def __str__(self) -> str:
        state = "active" if self.active else ("retired" if self.retired_at else "verify-only")
        return f"key {self.key_id} ({state})"

    @property
    def state(self) -> str:
        if self.active:
            return "active"
        return "retired" if self.retired_at else "verify_only"


@checks.register(checks.Tags.security, deploy=True)
def check_credential_key_encryption(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """Signing keys encrypted under a secret derived from SECRET_KEY are fine for development only."""
    if str(settings.CREDENTIAL_KEY_ENCRYPTION_KEYS[0]).startswith("secret-key:"):
        return [
            checks.Warning(
                "CREDENTIAL_KEY_ENCRYPTION_KEY is not set: credential signing keys are encrypted under SECRET_KEY.",
                hint="Set CREDENTIAL_KEY_ENCRYPTION_KEY to a separate random secret, then run "
                "`manage.py rotate_signing_key --reencrypt`.",
                id="accounts.W101",
            )
        ]
    return []

"""People and access: users, their roles and scopes, devices (tablets), API sessions, and the audit trail.

Credential holders (watchers, observers) are not users: they never sign in; their credentials live in
``accounts.credentials`` models below.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower

from accounts.models.validators import validate_printable
from common.text import username_key


class User(AbstractUser):
    """A person who signs in: a state administrator, a county commissioner, a poll manager or a poll worker.

    One person, one login: accounts are personal and never shared (the state's "nobody shares a logon" rule);
    what a user may do comes only from their active ``RoleGrant`` rows, read afresh on every request.

    The username is stored in its one canonical form (``common.text.username_key``: NFKC case folding), made at
    creation and on every save whoever creates the user (manager, admin form, factory, service); sign-in looks the
    account up by the key of what was typed, exactly, so "SAM", "\u017fam" (long s) and "sam" are one account on
    every database.
    """

    first_name = models.CharField("first name", max_length=150, blank=True, validators=[validate_printable])
    last_name = models.CharField("last name", max_length=150, blank=True, validators=[validate_printable])
    email = models.EmailField("email address", blank=True)

    class Meta(AbstractUser.Meta):
        swappable = "AUTH_USER_MODEL"
        constraints = [
            models.UniqueConstraint(
                Lower("username"),
                name="accounts_user_username_ci_unique",
                violation_error_message="A user with that username already exists.",
            ),
        ]

    @classmethod
    def normalize_username(cls, username: Any) -> Any:
        """The stored form of a username (used by the manager's ``create_user`` and by ``clean``)."""
        return username_key(username) if isinstance(username, str) else username

    def save(self, *args: Any, **kwargs: Any) -> None:
        if isinstance(self.username, str):
            self.username = username_key(self.username)
        super().save(*args, **kwargs)


class Role(models.TextChoices):
    STATE_ADMIN = "state_admin", "State administrator"
    COMMISSIONER = "commissioner", "County election commissioner"
    POLL_MANAGER = "poll_manager", "Poll manager"
    POLL_WORKER = "poll_worker", "Poll worker"


#: Roles that must pass a second factor (TOTP) to sign in.
MFA_ROLES = frozenset({Role.STATE_ADMIN, Role.COMMISSIONER})


class RoleGrant(models.Model):
    """One role held by one user over one scope: a state (administrator), a county (commissioner), or a polling
    place for an election (poll manager, poll worker). A person can hold several. Ended grants are kept."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="grants")
    role = models.CharField(max_length=20, choices=Role.choices)
    jurisdiction = models.ForeignKey("polling.Jurisdiction", null=True, blank=True, on_delete=models.PROTECT)
    county = models.ForeignKey("polling.County", null=True, blank=True, on_delete=models.PROTECT)
    polling_place = models.ForeignKey("polling.PollingPlace", null=True, blank=True, on_delete=models.PROTECT)
    election = models.ForeignKey("polling.Election", null=True, blank=True, on_delete=models.PROTECT)
    granted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    granted_at = models.DateTimeField(auto_now_add=True)
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["user_id", "role", "pk"]
        indexes = [models.Index(fields=["user", "ended_at"], name="accounts_grant_active_idx")]
        constraints = [
            models.CheckConstraint(
                name="accounts_grant_scope_matches_role",
                condition=(
                    Q(
                        role=Role.STATE_ADMIN,
                        jurisdiction__isnull=False,
                        county__isnull=True,
                        polling_place__isnull=True,
                        election__isnull=True,
                    )
                    | Q(
                        role=Role.COMMISSIONER,
                        jurisdiction__isnull=True,
                        county__isnull=False,
                        polling_place__isnull=True,
                        election__isnull=True,
                    )
                    | Q(
                        role__in=[Role.POLL_MANAGER, Role.POLL_WORKER],
                        jurisdiction__isnull=True,
                        county__isnull=True,
                        polling_place__isnull=False,
                        election__isnull=False,
                    )
                ),
                violation_error_message=(
                    "A state administrator is scoped to a state, a commissioner to a county, and a poll manager or "
                    "worker to a polling place and an election."
                ),
            ),
        ]

    def __str__(self) -> str:
        scope = self.jurisdiction or self.county or f"{self.polling_place} / {self.election}"
        return f"{self.user} — {self.get_role_display()} — {scope}"

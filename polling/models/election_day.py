"""Election day: who may be present (quotas), the presence log of check-ins and check-outs, who is inside now,
and the anomalies found in the timeline for a commissioner's review.

Who is inside is derived from the log (``polling.election_day.timeline``); these tables only store it.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from common.append_only import AppendOnlyModel
from polling.models.geography import Election, Jurisdiction, PollingPlace


class PresenceRule(models.Model):
    """A quota: at most ``max_inside`` holders of one credential kind inside a polling place at once, counted per
    appointing party, per appointing candidate, or for the kind as a whole.

    Kinds without a rule have no limit (Mississippi: federal and state observers, seeded without a rule)."""

    class CredentialKind(models.TextChoices):
        # Mirrors ``accounts.models.Credential.Kind`` (not imported: accounts depends on polling).
        POLL_WATCHER = "poll_watcher", "Poll watcher"
        FEDERAL_OBSERVER = "federal_observer", "Federal observer"
        STATE_OBSERVER = "state_observer", "State observer"

    class Per(models.TextChoices):
        PARTY = "party", "Per appointing party"
        CANDIDATE = "candidate", "Per appointing candidate"
        KIND = "kind", "For the kind as a whole"

    jurisdiction = models.ForeignKey(Jurisdiction, on_delete=models.CASCADE, related_name="presence_rules")
    credential_kind = models.CharField(max_length=20, choices=CredentialKind.choices)
    per = models.CharField(max_length=10, choices=Per.choices)
    max_inside = models.PositiveIntegerField()
    citation = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["jurisdiction__code", "credential_kind", "per"]
        constraints = [
            models.UniqueConstraint(
                fields=["jurisdiction", "credential_kind", "per"],
                name="polling_presencerule_unique",
                violation_error_message="This jurisdiction already has this quota.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.jurisdiction_id}: at most {self.max_inside} {self.credential_kind} {self.per}"


class PresenceLedger(models.Model):
    """One row per (polling place, election): the lock every check-in/out takes (``SELECT … FOR UPDATE``), the
    roster version (raised on every accepted event; the roster's ETag) and the last hybrid-logical-clock value."""

    polling_place = models.ForeignKey(PollingPlace, on_delete=models.PROTECT, related_name="+")
    election = models.ForeignKey(Election, on_delete=models.PROTECT, related_name="+")
    roster_version = models.BigIntegerField(default=0)
    last_hlc = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["polling_place", "election"], name="polling_presenceledger_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.polling_place_id}/{self.election_id} v{self.roster_version}"


class PresenceEvent(AppendOnlyModel):
    """One check-in or check-out sent by a tablet, accepted or refused, with the first answer given (replayed for a
    repeated ``event_id``). Append-only: updates and deletes are refused by the ORM.

    Who is inside is derived from the accepted events of each credential in ``(effective_at, hlc)`` order, whatever
    order they arrived in (``polling.election_day.timeline``). ``hlc`` is a hybrid logical clock: ``max(server ms since
    the epoch, previous hlc of the place/election + 1)``, taken under the ledger lock, so events of one polling place
    are totally ordered even if the server clock steps.
    """

    class Kind(models.TextChoices):
        CHECK_IN = "check_in", "Check-in"
        CHECK_OUT = "check_out", "Check-out"

    class Outcome(models.TextChoices):
        ACCEPTED = "accepted", "Accepted"
        REFUSED = "refused", "Refused"

    class Source(models.TextChoices):
        ONLINE = "online", "Online (check-in/out endpoint)"
        SYNC = "sync", "Offline, uploaded by sync"

    event_id = models.UUIDField(unique=True)
    kind = models.CharField(max_length=10, choices=Kind.choices)
    source = models.CharField(max_length=10, choices=Source.choices, default=Source.ONLINE)
    device = models.ForeignKey("accounts.Device", on_delete=models.PROTECT, related_name="+")
    worker = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", help_text="Who recorded it."
    )
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="Who was signed in when it was synced, if not the recorder (sync only).",
    )
    credential = models.ForeignKey(
        "accounts.Credential", null=True, blank=True, on_delete=models.PROTECT, related_name="presence_events"
    )
    polling_place = models.ForeignKey(PollingPlace, on_delete=models.PROTECT, related_name="presence_events")
    election = models.ForeignKey(Election, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    occurred_at = models.DateTimeField(help_text="Tablet time.")
    received_at = models.DateTimeField(help_text="Server time.")
    clock_offset_ms = models.BigIntegerField(
        default=0, help_text="Tablet clock minus server clock when the event was uploaded (sync); 0 online."
    )
    effective_at = models.DateTimeField(
        help_text="When it happened by the server's clock: the tablet time corrected by the clock offset. Who is "
        "inside is derived from accepted events in this order."
    )
    hlc = models.BigIntegerField()
    outcome = models.CharField(max_length=10, choices=Outcome.choices)
    reason = models.CharField(max_length=32, blank=True)
    body_hash = models.CharField(max_length=64)
    status_code = models.PositiveSmallIntegerField(help_text="HTTP status of the first answer.")
    response = models.JSONField(help_text="Body of the first answer.")

    append_only_message = "The presence log is append-only."

    class Meta:
        ordering = ["hlc", "pk"]
        indexes = [
            models.Index(fields=["polling_place", "election", "hlc"], name="polling_presence_place_idx"),
            models.Index(fields=["polling_place", "election", "effective_at"], name="polling_presence_timeline_idx"),
            models.Index(fields=["credential", "election", "effective_at"], name="polling_presence_cred_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(outcome="accepted", reason="") | (Q(outcome="refused") & ~Q(reason="")),
                name="polling_presenceevent_refusal_has_reason",
                violation_error_message="A refused event has a reason; an accepted one has none.",
            ),
            models.CheckConstraint(
                condition=Q(outcome="refused") | Q(credential__isnull=False, election__isnull=False),
                name="polling_presenceevent_accepted_has_credential",
                violation_error_message="An accepted event names its credential and election.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event_id} {self.kind} {self.outcome} {self.reason}".strip()


class Presence(models.Model):
    """Derived: who is inside now. A row per credential inside a (polling place, election), created by an accepted
    check-in and removed by the accepted check-out, in the same transaction as the event. It can always be rebuilt
    from ``PresenceEvent`` (latest accepted event per credential); it exists so the roster and the quota count are
    one indexed query."""

    polling_place = models.ForeignKey(PollingPlace, on_delete=models.PROTECT, related_name="+")
    election = models.ForeignKey(Election, on_delete=models.PROTECT, related_name="+")
    credential = models.ForeignKey("accounts.Credential", on_delete=models.PROTECT, related_name="+")
    check_in = models.ForeignKey(PresenceEvent, on_delete=models.PROTECT, related_name="+")

    class Meta:
        ordering = ["check_in__hlc"]
        constraints = [
            models.UniqueConstraint(
                fields=["polling_place", "election", "credential"], name="polling_presence_once_per_place"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.credential_id} @ {self.polling_place_id}/{self.election_id}"


class PresenceAnomaly(models.Model):
    """Something in the presence log a county commissioner must look at: recorded, never silently dropped.

    Most come from events recorded offline: the tablet admitted someone the server would have refused, or events from
    several tablets do not add up. Some depend on the order of events (a check-out whose check-in had not been
    uploaded yet): these are recomputed as events arrive and *cleared* (kept, with ``cleared_at``) when later uploads
    explain them, and opened again if they stop doing so. A commissioner closes one by reviewing it with a note.
    """

    class Code(models.TextChoices):
        CHECK_OUT_WITHOUT_CHECK_IN = "check_out_without_check_in", "Check-out without a check-in"
        CHECK_IN_AFTER_REVOCATION = "check_in_after_revocation", "Checked in after the credential was revoked"
        CREDENTIAL_NOT_VALID = "credential_not_valid", "Checked in outside the credential's validity"
        POLLS_CLOSED = "polls_closed", "Checked in while the polls were closed"
        INSIDE_TWO_PLACES = "inside_two_places", "Inside two polling places at once"
        QUOTA_EXCEEDED = "quota_exceeded", "Quota exceeded"
        CLOCK_SKEW = "clock_skew", "Tablet clock not believable"
        UPLOADED_AFTER_REVOCATION = "uploaded_after_revocation", "Reached the server after the credential was revoked"

    #: Recomputed from the whole timeline on every upload; the others are facts about one event.
    ORDER_DEPENDENT = frozenset({Code.CHECK_OUT_WITHOUT_CHECK_IN, Code.INSIDE_TWO_PLACES, Code.QUOTA_EXCEEDED})

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        CLEARED = "cleared", "Cleared by later events"
        REVIEWED = "reviewed", "Reviewed"

    event = models.ForeignKey(PresenceEvent, on_delete=models.PROTECT, related_name="anomalies")
    code = models.CharField(max_length=32, choices=Code.choices)
    polling_place = models.ForeignKey(PollingPlace, on_delete=models.PROTECT, related_name="+")
    election = models.ForeignKey(Election, on_delete=models.PROTECT, related_name="+")
    credential = models.ForeignKey("accounts.Credential", on_delete=models.PROTECT, related_name="+")
    detail = models.CharField(max_length=500)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    detected_at = models.DateTimeField()
    cleared_at = models.DateTimeField(null=True, blank=True)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    reviewed_at = models.DateTimeField(null=True, blank=True)
    review_note = models.TextField(blank=True, max_length=2000)

    class Meta:
        ordering = ["-detected_at", "-pk"]
        indexes = [
            models.Index(fields=["polling_place", "election", "status"], name="polling_anomaly_place_idx"),
            models.Index(fields=["credential", "election", "code"], name="polling_anomaly_cred_idx"),
            models.Index(fields=["status", "detected_at"], name="polling_anomaly_status_idx"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["event", "code"], name="polling_presenceanomaly_once_per_event"),
            models.CheckConstraint(
                condition=~Q(status="reviewed") | Q(reviewed_by__isnull=False, reviewed_at__isnull=False),
                name="polling_presenceanomaly_review_has_reviewer",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.code} ({self.status}) event {self.event_id}"

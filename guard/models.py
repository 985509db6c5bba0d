"""What the protective measures saw: one row per security event (a refusal worth a person's attention)."""

from __future__ import annotations

from django.db import models


class SecurityEvent(models.Model):
    """A request refused or flagged by a protective measure (geographic exclusion, a block, a throttle, a probe …).

    Written by ``guard.events.record`` only; read by the daily security report. ``count`` lets a burst of the same
    event from the same address within a short window be kept as one row (see ``guard.events``)."""

    class Kind(models.TextChoices):
        GEO_EXCLUDED = "geo_excluded", "Refused: country not allowed"
        GEO_UNAVAILABLE = "geo_unavailable", "Refused: IP-country database missing or stale"
        BLOCKED = "blocked", "Address blocked"
        BLOCK_REFUSED = "block_refused", "Refused while blocked"
        THROTTLED = "throttled", "Throttled"
        PROBE = "probe", "Probe of an unknown path"
        MALFORMED = "malformed", "Malformed request"
        AUTH_FAILURE = "auth_failure", "Authentication failure"

    occurred_at = models.DateTimeField(db_index=True)
    kind = models.CharField(max_length=32, choices=Kind.choices, db_index=True)
    reason = models.CharField(max_length=64, blank=True, help_text="The stable code the client was answered with.")
    address = models.GenericIPAddressField(null=True, blank=True)
    bucket = models.CharField(max_length=64, blank=True, help_text="The address as limits count it (IPv6 /64).")
    country = models.CharField(max_length=8, blank=True, help_text="ISO country code, where looked up.")
    path = models.CharField(max_length=200, blank=True)
    account = models.CharField(max_length=150, blank=True, help_text="The account named, where one was.")
    count = models.PositiveIntegerField(default=1)

    class Meta:
        ordering = ["-occurred_at", "-pk"]
        indexes = [models.Index(fields=["kind", "occurred_at"], name="guard_event_kind_at_idx")]

    def __str__(self) -> str:
        return f"{self.occurred_at:%Y-%m-%d %H:%M:%S}Z {self.kind} {self.reason} {self.address or ''}"


class AddressBlock(models.Model):
    """One block of a client address bucket by the intrusion prevention (``guard.ips``): refused until ``until``
    unless lifted earlier. Rows are kept after they expire: the strikes of a bucket within ``IPS_MEMORY_S`` make the
    next block longer, and the daily report and the admin list them."""

    class Reason(models.TextChoices):
        AUTH_FAILURE = "auth_failure", "Burst of authentication failures"
        PROBE = "probe", "Probes of paths no client of ours asks for"
        MALFORMED = "malformed", "Flood of malformed requests"
        THROTTLED = "throttled", "Kept going while throttled"

    bucket = models.CharField(max_length=64, db_index=True, help_text="The address as limits count it (IPv6 /64).")
    reason = models.CharField(max_length=32, choices=Reason.choices)
    strikes = models.PositiveIntegerField(default=1, help_text="This block's number among the bucket's recent ones.")
    blocked_at = models.DateTimeField(db_index=True)
    until = models.DateTimeField(db_index=True)
    lifted_at = models.DateTimeField(null=True, blank=True)
    lifted_by = models.CharField(max_length=150, blank=True, help_text="Who lifted it (a user name or a label).")
    note = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["-blocked_at", "-pk"]
        indexes = [models.Index(fields=["bucket", "blocked_at"], name="guard_block_bucket_at_idx")]

    def __str__(self) -> str:
        return f"{self.bucket} {self.reason} until {self.until:%Y-%m-%d %H:%M:%S}Z"

"""Incidents reported from polling places: what happened, where, and how far it was from the relevant zone.

Append-only: an incident is written once by ``polling.election_day.incidents.services.incident_report`` (with its audit
event) and never edited. The zone figures are computed by the server with the exact geometry and stored with a snapshot
of the rule they were measured against, so a later change of the rule does not rewrite what was reported.
"""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxLengthValidator, MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q

from common.append_only import AppendOnlyModel
from polling.models.geography import Election, PollingPlace

DESCRIPTION_MAX_CHARS = 4000


class Incident(AppendOnlyModel):
    """One report of campaigning, loitering or another problem near a polling place, with the measured zone status."""

    class Activity(models.TextChoices):
        CAMPAIGNING = "campaigning", "Campaigning (electioneering)"
        LOITERING = "loitering", "Loitering"
        OTHER = "other", "Other"

    class ZoneStatus(models.TextChoices):
        INSIDE = "inside", "Inside the zone"
        OUTSIDE = "outside", "Outside the zone"
        UNCERTAIN = "uncertain", "Too close to the limit for the location's accuracy"

    polling_place = models.ForeignKey(PollingPlace, on_delete=models.PROTECT, related_name="incidents")
    election = models.ForeignKey(Election, on_delete=models.PROTECT, related_name="incidents", null=True, blank=True)
    reported_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="incidents")
    reported_from_device = models.CharField(max_length=64, blank=True, help_text="The client's device id.")
    reported_at = models.DateTimeField(help_text="Server time the report was received.")
    report_id = models.UUIDField(
        null=True,
        blank=True,
        unique=True,
        help_text="The reporting client's id for this report: a report sent again under it is stored once.",
    )
    occurred_at = models.DateTimeField(help_text="When it happened, as the reporter gave it.")
    activity = models.CharField(max_length=20, choices=Activity.choices)
    description = models.TextField(validators=[MaxLengthValidator(DESCRIPTION_MAX_CHARS)])
    lon = models.FloatField(validators=[MinValueValidator(-180.0), MaxValueValidator(180.0)])
    lat = models.FloatField(validators=[MinValueValidator(-90.0), MaxValueValidator(90.0)])
    accuracy_m = models.FloatField(null=True, blank=True, validators=[MinValueValidator(0.0)])
    # Computed by the server for the rule of ``activity`` in the polling place's state (none for "other").
    distance_ft = models.FloatField(null=True, blank=True, help_text="Exact geodesic distance to the reference.")
    zone_status = models.CharField(max_length=10, choices=ZoneStatus.choices, blank=True)
    rule_distance_ft = models.DecimalField(max_digits=7, decimal_places=2, null=True, blank=True)
    rule_measured_from = models.CharField(max_length=20, blank=True)
    rule_citation = models.CharField(max_length=200, blank=True)
    reference_kind = models.CharField(max_length=20, blank=True)
    approximate = models.BooleanField(null=True, blank=True)
    # Relative to MEDIA_ROOT; random, never derived from the upload's name. Served only by the scoped endpoint.
    photo_path = models.CharField(max_length=200, blank=True)
    photo_content_type = models.CharField(max_length=20, blank=True)

    append_only_message = "Incidents are append-only."

    class Meta:
        ordering = ["-occurred_at", "-id"]
        indexes = [
            models.Index(fields=["polling_place", "occurred_at"], name="polling_incident_place_idx"),
            models.Index(fields=["occurred_at"], name="polling_incident_time_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(activity__in=["campaigning", "loitering", "other"]),
                name="polling_incident_activity_valid",
                violation_error_message="Unknown activity.",
            ),
            models.CheckConstraint(
                condition=Q(zone_status__in=["", "inside", "outside", "uncertain"]),
                name="polling_incident_zone_status_valid",
                violation_error_message="Unknown zone status.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.activity} at {self.polling_place_id} ({self.occurred_at:%Y-%m-%d %H:%M})"

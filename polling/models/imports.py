"""What an import kept despite a real-world defect, for a commissioner of the county to follow up.

A feed is stored all or nothing, but some defects are repairable later by hand rather than a reason to refuse the
whole feed (a polling location without coordinates is stored by its address and listed here). One row per county,
kind and subject: importing the same feed again refreshes the row instead of adding another.
"""

from __future__ import annotations

from django.db import models

from polling.models.geography import County, PollingPlace


class ImportWarning(models.Model):
    """A defect an import kept (and how), scoped to the county it concerns."""

    class Code(models.TextChoices):
        NO_COORDINATES = "no_coordinates", "Location without coordinates"

    county = models.ForeignKey(County, on_delete=models.CASCADE, related_name="import_warnings")
    polling_place = models.ForeignKey(
        PollingPlace, on_delete=models.CASCADE, null=True, blank=True, related_name="import_warnings"
    )
    code = models.CharField(max_length=32, choices=Code.choices)
    #: What the warning is about in the source, e.g. ``PollingLocation 'pl28049-12'``.
    subject = models.CharField(max_length=200)
    source = models.CharField(max_length=200, help_text="The file the import read.")
    message = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["county_id", "code", "subject"]
        constraints = [
            models.UniqueConstraint(
                fields=["county", "code", "subject"],
                name="polling_importwarning_once_per_subject",
                violation_error_message="This county already has this warning about this subject.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_code_display()}: {self.subject}"

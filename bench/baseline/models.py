from __future__ import annotations

from django.conf import settings
from django.db import models


class Ping(models.Model):
    """One row per ``POST /bench/ping/``: the least a tablet's authenticated write can cost."""

    device = models.ForeignKey("accounts.Device", on_delete=models.PROTECT, related_name="+")
    worker = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField()
    payload = models.JSONField(default=dict)

    def __str__(self) -> str:
        return f"ping {self.pk}"

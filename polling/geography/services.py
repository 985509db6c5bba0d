"""State changes of the geography that other code must hear about."""

from __future__ import annotations

from django.db import transaction
from django.db.models import F

from polling.models import GeographyVersion


def geography_version_bump() -> None:
    """Mark the geography as changed, inside the caller's transaction (so the bump commits or rolls back with it)."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("geography_version_bump() must run inside the transaction that changes the geography")
    updated = GeographyVersion.objects.filter(pk=1).update(value=F("value") + 1)
    if not updated:
        GeographyVersion.objects.get_or_create(pk=1, defaults={"value": 1})


def geography_version() -> int:
    return GeographyVersion.objects.filter(pk=1).values_list("value", flat=True).first() or 0

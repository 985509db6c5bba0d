"""Presence anomalies as a commissioner reads and closes them: scoped to the counties they administer.

The timeline opens and clears anomalies (``polling.election_day.timeline``); a person reviews one once, with a note,
recorded in the audit trail.
"""

from __future__ import annotations

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from accounts.audit import Actor, audit_record
from accounts.scopes import Scope
from common.errors import DomainError
from polling.models import PresenceAnomaly


def anomalies_visible(scope: Scope) -> QuerySet[PresenceAnomaly]:
    """The anomalies at polling places in the caller's counties (with what their answer shows)."""
    return PresenceAnomaly.objects.filter(scope.county_q("polling_place__")).select_related(
        "event", "credential", "polling_place__county", "reviewed_by"
    )


def anomaly_get(scope: Scope, pk: int) -> PresenceAnomaly:
    anomaly = anomalies_visible(scope).filter(pk=pk).first()
    if anomaly is None:
        raise DomainError("No such anomaly.", "not_found")
    return anomaly


@transaction.atomic
def anomaly_review(*, actor: Actor, scope: Scope, anomaly_id: int, note: str) -> PresenceAnomaly:
    """Close an anomaly in the caller's counties with ``note`` (already checked as text) and write
    ``presence_anomaly.review`` to the audit trail. The row is locked, so a review and a sync re-deriving it never
    overwrite each other; an anomaly is reviewed once (``already_reviewed``)."""
    anomaly = anomalies_visible(scope).select_for_update(of=("self",)).filter(pk=anomaly_id).first()
    if anomaly is None:
        raise DomainError("No such anomaly.", "not_found")
    if anomaly.status == PresenceAnomaly.Status.REVIEWED:
        raise DomainError("This anomaly has already been reviewed.", "already_reviewed")
    before = {"status": anomaly.status}
    anomaly.status = PresenceAnomaly.Status.REVIEWED
    anomaly.reviewed_by = actor.user
    anomaly.reviewed_at = timezone.now()
    anomaly.review_note = note.strip()
    anomaly.save(update_fields=["status", "reviewed_by", "reviewed_at", "review_note"])
    audit_record(
        actor=actor,
        action="presence_anomaly.review",
        obj=anomaly,
        before=before,
        after={"status": anomaly.status, "code": anomaly.code, "note": anomaly.review_note},
    )
    return anomaly

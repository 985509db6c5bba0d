"""Reporting an incident: measure it against the relevant zone, store it and its audit event in one transaction."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from accounts.audit import Actor, audit_record
from polling.geography.zones import zones_for
from polling.models import BufferRule, Election, PollingPlace
from polling.models.incidents import Incident


@dataclass(frozen=True)
class ZoneMeasure:
    distance_ft: float
    zone_status: str
    rule: BufferRule
    reference_kind: str
    approximate: bool


def measure(place: PollingPlace, activity: str, lon: float, lat: float, accuracy_m: float) -> ZoneMeasure | None:
    """Exact geodesic distance from (lon, lat) to the reference of the state's rule for ``activity`` (None when the
    activity has no rule there, e.g. "other")."""
    if activity not in BufferRule.Activity.values:
        return None
    rule = BufferRule.objects.filter(jurisdiction_id=place.county.jurisdiction_id, activity=activity).first()
    if rule is None:
        return None
    (zone,) = zones_for(place, [rule])
    verdict = zone.classify(lon, lat, accuracy_m)
    return ZoneMeasure(
        distance_ft=verdict.distance_ft,
        zone_status=str(verdict.status),
        rule=rule,
        reference_kind=zone.reference_kind,
        approximate=zone.approximate,
    )


@transaction.atomic
def incident_report(
    *,
    actor: Actor,
    polling_place: PollingPlace,
    election: Election | None,
    activity: str,
    lon: float,
    lat: float,
    accuracy_m: float | None,
    occurred_at: dt.datetime,
    description: str,
    photo_path: str = "",
    photo_content_type: str = "",
) -> Incident:
    """Store one incident with the server's measurement and write ``incident.report`` to the audit trail."""
    measured = measure(polling_place, activity, lon, lat, accuracy_m or 0.0)
    incident = Incident(
        polling_place=polling_place,
        election=election,
        reported_by=actor.user,
        reported_from_device=actor.device[:64],
        reported_at=timezone.now(),
        occurred_at=occurred_at,
        activity=activity,
        description=description,
        lon=lon,
        lat=lat,
        accuracy_m=accuracy_m,
        photo_path=photo_path,
        photo_content_type=photo_content_type,
    )
    if measured is not None:
        incident.distance_ft = measured.distance_ft
        incident.zone_status = measured.zone_status
        incident.rule_distance_ft = measured.rule.distance_ft
        incident.rule_measured_from = measured.rule.measured_from
        incident.rule_citation = measured.rule.citation
        incident.reference_kind = measured.reference_kind
        incident.approximate = measured.approximate
    incident.full_clean()
    incident.save(force_insert=True)
    audit_record(
        actor=actor,
        action="incident.report",
        obj=incident,
        after={
            "polling_place": polling_place.pk,
            "election": election.pk if election else None,
            "activity": activity,
            "occurred_at": occurred_at.isoformat(),
            "lon": lon,
            "lat": lat,
            "accuracy_m": accuracy_m,
            "distance_ft": round(incident.distance_ft, 2) if incident.distance_ft is not None else None,
            "zone_status": incident.zone_status,
            "photo": bool(photo_path),
        },
    )
    return incident

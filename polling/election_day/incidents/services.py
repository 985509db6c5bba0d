"""Reporting an incident: measure it against the relevant zone, store it and its audit event in one transaction."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.audit import Actor, audit_record
from common.errors import DomainError
from polling.geography.selectors import local_zone
from polling.geography.zones import in_force, zones_for
from polling.models import BufferRule, Election, PollingPlace
from polling.models.incidents import Incident


@dataclass(frozen=True)
class ZoneMeasure:
    distance_ft: float
    zone_status: str
    rule: BufferRule
    reference_kind: str
    approximate: bool


def measure(
    place: PollingPlace, activity: str, lon: float, lat: float, accuracy_m: float, occurred_at: dt.datetime
) -> ZoneMeasure | None:
    """Exact geodesic distance from (lon, lat) to the reference of the state's rule for ``activity`` that covers the
    place's kind of site (``zones_for``) and is in force on the local day of ``occurred_at``. None when there is no
    such zone: an activity without a rule (e.g. "other"), a kind of site no rule covers (a drop box in most states),
    a place not located yet, or an early-voting site or drop box on a day it is not used."""
    if activity not in BufferRule.Activity.values:
        return None
    rules = BufferRule.objects.filter(jurisdiction_id=place.county.jurisdiction_id, activity=activity)
    day = occurred_at.astimezone(local_zone(place.county)).date()
    zone = next(iter(zones_for(place, rules, on=day)), None)
    if zone is None or not in_force(zone.applies_on, day):
        return None
    verdict = zone.classify(lon, lat, accuracy_m)
    return ZoneMeasure(
        distance_ft=verdict.distance_ft,
        zone_status=str(verdict.status),
        rule=zone.rule,
        reference_kind=zone.reference_kind,
        approximate=zone.approximate,
    )


REPORT_ID_REUSED = "report_id_reused"


@dataclass(frozen=True)
class Reported:
    """The incident as stored, and whether this call only found it stored already under its ``report_id``."""

    incident: Incident
    replayed: bool = False


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
    report_id: uuid.UUID | None = None,
) -> Reported:
    """Store one incident with the server's measurement and write ``incident.report`` to the audit trail, in one
    transaction. A report sent again under the same ``report_id`` (its first answer lost on the way, or two sends
    racing) is stored once: the second call gets the first report back (``replayed``; its photo, if any, is the
    caller's to discard), or ``report_id_reused`` when the id was used for a different report."""
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
        report_id=report_id,
    )
    if report_id is not None and (existing := Incident.objects.filter(report_id=report_id).first()) is not None:
        return _replayed(existing, incident)
    try:
        with transaction.atomic():
            return Reported(_store(incident, actor))
    except IntegrityError:
        # Another request stored a report under this id between the look above and this insert.
        existing = Incident.objects.filter(report_id=report_id).first() if report_id is not None else None
        if existing is None:
            raise
        return _replayed(existing, incident)


def _what(incident: Incident) -> tuple[object, ...]:
    """What makes two reports the same report: the place, election, activity, spot, time and description."""
    return (
        incident.polling_place_id,
        incident.election_id,
        incident.activity,
        incident.lon,
        incident.lat,
        incident.occurred_at,
        incident.description,
    )


def _replayed(existing: Incident, sent: Incident) -> Reported:
    if _what(existing) != _what(sent):
        raise DomainError(
            "This report_id was already used for a different report.", REPORT_ID_REUSED, field="report_id"
        )
    return Reported(existing, replayed=True)


def _store(incident: Incident, actor: Actor) -> Incident:
    """Measure ``incident`` (not saved yet), store it and write its audit event."""
    measured = measure(
        incident.polling_place,
        incident.activity,
        incident.lon,
        incident.lat,
        incident.accuracy_m or 0.0,
        incident.occurred_at,
    )
    if measured is not None:
        incident.distance_ft = measured.distance_ft
        incident.zone_status = measured.zone_status
        incident.rule_distance_ft = measured.rule.distance_ft
        incident.rule_measured_from = measured.rule.measured_from
        incident.rule_citation = measured.rule.citation
        incident.reference_kind = measured.reference_kind
        incident.approximate = measured.approximate
    # The database enforces the one unique field (``report_id``): a racing duplicate is an IntegrityError, answered
    # above as a replay.
    incident.full_clean(validate_unique=False)
    incident.save(force_insert=True)
    audit_record(
        actor=actor,
        action="incident.report",
        obj=incident,
        after={
            "polling_place": incident.polling_place_id,
            "election": incident.election_id,
            "activity": incident.activity,
            "occurred_at": incident.occurred_at.isoformat(),
            "lon": incident.lon,
            "lat": incident.lat,
            "accuracy_m": incident.accuracy_m,
            "distance_ft": round(incident.distance_ft, 2) if incident.distance_ft is not None else None,
            "zone_status": incident.zone_status,
            "photo": bool(incident.photo_path),
        },
    )
    return incident

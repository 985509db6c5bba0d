"""Check-in and check-out of credential holders at a polling place: the append-only presence log, who is inside
now, and the quotas on who may be present at once.

Every event (accepted or refused) is one ``PresenceEvent`` row holding the first answer given; a repeated
``event_id`` replays it. State changes happen under a lock on the (polling place, election) ``PresenceLedger`` row,
which serialises check-ins at one place (quota counts, "already inside") and numbers its events with a hybrid
logical clock. The event log is its own append-only record: no audit event is written, but every event is logged.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import uuid
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.credentials import signing
from accounts.credentials.verification import credential_verify
from accounts.models import Credential, Device, User
from common.errors import DomainError
from polling.election_day import ledger as ledgers
from polling.election_day import roster, timeline
from polling.geography import selectors as geography_selectors
from polling.models import Election, PollingPlace, Presence, PresenceEvent, PresenceRule

logger = logging.getLogger(__name__)

POLLS_CLOSED = "polls_closed"
ALREADY_INSIDE = "already_inside"
NOT_INSIDE = "not_inside"
QUOTA_FULL = "quota_full"
EVENT_ID_REUSED = "event_id_reused"

#: Token reasons that refuse a check-in but not the check-out of someone already inside.
CHECK_OUT_TOLERATES = frozenset({signing.Reason.REVOKED, signing.Reason.EXPIRED, signing.Reason.NOT_YET_VALID})

_DETAILS = {
    POLLS_CLOSED: "The polls were not open at that time.",
    ALREADY_INSIDE: "Recorded. This credential holder was already checked in here.",
    NOT_INSIDE: "Recorded. No check-in here is known for this holder yet (one may still be uploaded); flagged for "
    "review if none arrives.",
    QUOTA_FULL: "The quota for this party, candidate or kind is full: no one more may be inside now.",
}


class EventIdReused(DomainError):
    """The ``event_id`` was already used for a different check-in or check-out."""

    def __init__(self) -> None:
        super().__init__(
            "This event_id was already used for a different check-in or check-out.", EVENT_ID_REUSED, field="event_id"
        )


@dataclass(frozen=True)
class Recorded:
    """What became of a check-in or check-out: the event as stored, holding the first answer given to it
    (``event.response``, ``event.status_code``), and whether this call only replayed it."""

    event: PresenceEvent
    replayed: bool = False


def first_answer_status(*, accepted: bool, reason: str | None) -> int:
    """The status of the answer to an event as the check-in endpoint gives it: 201 accepted, 409 ``quota_full``,
    200 any other refusal (recorded all the same). Kept with the event (``PresenceEvent.status_code``: the model keeps
    the first answer whole) so a replay repeats it, whichever path stored the event."""
    if accepted:
        return 201
    return 409 if reason == QUOTA_FULL else 200


def body_hash(*, kind: str, token: str, occurred_at: dt.datetime, polling_place_id: int) -> str:
    """What makes two posts "the same event": kind, token, tablet time (as an instant) and place."""
    instant = occurred_at.astimezone(dt.UTC).isoformat(timespec="microseconds")
    return hashlib.sha256(f"{kind}\n{token}\n{instant}\n{polling_place_id}".encode()).hexdigest()


#: A tablet clock this close to the server's is taken as right: the difference is the post's transit time.
CLOCK_TOLERANCE = dt.timedelta(seconds=5)


def clock_offset(sent_at: dt.datetime, received_at: dt.datetime) -> dt.timedelta:
    """The tablet's clock minus the server's, as far as one post can tell; within ``CLOCK_TOLERANCE``, none."""
    measured = sent_at - received_at
    return measured if abs(measured) > CLOCK_TOLERANCE else dt.timedelta(0)


def polls_open_at(election: Election, place: PollingPlace, at: dt.datetime) -> bool:
    """Whether ``at`` falls on election day between the polls' opening and closing, in the county's local time."""
    local = at.astimezone(geography_selectors.local_zone(place.county))
    return local.date() == election.date and election.polls_open <= local.time() < election.polls_close


def _replay(existing: PresenceEvent, digest: str) -> Recorded:
    if existing.body_hash != digest:
        raise EventIdReused
    return Recorded(existing, replayed=True)


def _quota_full(credential: Credential, place: PollingPlace, election: Election) -> bool:
    """Whether the roster as it stands already holds the quota of ``credential``'s party, candidate or kind (the
    same grouping, with case folding, as the timeline's quota walk)."""
    rules = timeline.rules_for(credential, list(PresenceRule.objects.filter(jurisdiction_id=election.jurisdiction_id)))
    if not rules:
        return False
    others = [
        p.credential
        for p in Presence.objects.filter(polling_place=place, election=election, credential__kind=credential.kind)
        .select_related("credential")
        .only("credential__kind", "credential__appointed_by_kind", "credential__appointed_by_name")
    ]
    return any(sum(timeline.same_group(credential, o, rule) for o in others) >= rule.max_inside for rule in rules)


def presence_record(
    *,
    kind: str,
    token: str,
    event_id: uuid.UUID,
    occurred_at: dt.datetime,
    polling_place: PollingPlace,
    election: Election,
    device: Device,
    worker: User,
    sent_at: dt.datetime | None = None,
) -> Recorded:
    """Record a check-in or check-out sent by ``device`` (signed in by ``worker``) with the answer it gets.

    Accepted: 201, with a ``notice`` when the roster as it stands disagrees (``already_inside``, ``not_inside``: the
    timeline decides, as events recorded offline may still arrive). Refused: 200 with the reason, or 409 for
    ``quota_full``; the refused event is stored all the same. The event's place in the timeline is the tablet time
    corrected by the tablet's clock offset (``clock_offset``; ``sent_at`` defaults to ``occurred_at``: an online
    post is sent when it is recorded).
    A repeated ``event_id`` with the same body gets the first answer again and stores nothing; with another body,
    ``EventIdReused``. Two copies racing: the unique ``event_id`` lets one insert win, the other re-reads it.
    """
    digest = body_hash(kind=kind, token=token, occurred_at=occurred_at, polling_place_id=polling_place.pk)
    existing = PresenceEvent.objects.filter(event_id=event_id).first()
    if existing is not None:
        return _replay(existing, digest)

    # Signature and revocation checks need no lock: they depend on the token and ``occurred_at`` only.
    verdict = credential_verify(token=token, polling_place=polling_place, election=election, at=occurred_at)
    credential = verdict.credential
    reason = verdict.reason
    detail = verdict.detail
    if kind == PresenceEvent.Kind.CHECK_OUT:
        # Leaving needs only a genuine token of someone inside: a credential revoked or expired since, or polls
        # closed (watchers stay for the count), must not keep its holder on the roster.
        if credential is not None and reason in CHECK_OUT_TOLERATES:
            reason, detail = None, ""
    elif reason is None and not polls_open_at(election, polling_place, occurred_at):
        reason, detail = POLLS_CLOSED, _DETAILS[POLLS_CLOSED]

    try:
        with transaction.atomic():
            ledger = ledgers.lock_ledger(polling_place.pk, election.pk)
            # A copy of this event may have committed while we waited for the lock.
            existing = PresenceEvent.objects.filter(event_id=event_id).first()
            if existing is not None:
                return _replay(existing, digest)
            notice = None
            if credential is not None and reason is None:
                inside = Presence.objects.filter(
                    polling_place=polling_place, election=election, credential=credential
                ).exists()
                # "Already inside" and "not inside" are as the roster stands now, and events recorded offline may
                # still change it: the scan is recorded (the timeline decides) and the tablet is told.
                if kind == PresenceEvent.Kind.CHECK_IN:
                    if inside:
                        notice = ALREADY_INSIDE
                    elif _quota_full(credential, polling_place, election):
                        reason, detail = QUOTA_FULL, _DETAILS[QUOTA_FULL]
                elif not inside:
                    notice = NOT_INSIDE
            accepted = reason is None
            received_at = timezone.now()
            offset = clock_offset(sent_at or occurred_at, received_at)
            effective_at = min(occurred_at - offset, received_at)
            hlc = ledgers.next_hlc(ledger)
            if accepted:
                ledger.roster_version += 1
            ledger.save(update_fields=["last_hlc", "roster_version"])
            body: dict[str, Any] = {
                "outcome": "accepted" if accepted else "refused",
                "reason": reason,
                "notice": notice,
                "detail": (_DETAILS[notice] if notice else "Accepted.") if accepted else detail,
                "event_id": str(event_id),
                "kind": kind,
                "polling_place": polling_place.pk,
                "election": election.pk,
                "occurred_at": occurred_at.isoformat(),
                "effective_at": effective_at.isoformat(),
                "received_at": received_at.isoformat(),
                "hlc": hlc,
                "roster_version": ledger.roster_version,
                "credential": roster.credential_out(credential),
            }
            if not accepted:
                body["code"] = reason
            event = PresenceEvent.objects.create(
                event_id=event_id,
                kind=kind,
                source=PresenceEvent.Source.ONLINE,
                device=device,
                worker=worker,
                credential=credential,
                polling_place=polling_place,
                election=election,
                occurred_at=occurred_at,
                received_at=received_at,
                clock_offset_ms=round(offset / dt.timedelta(milliseconds=1)),
                effective_at=effective_at,
                hlc=hlc,
                outcome=body["outcome"],
                reason=reason or "",
                body_hash=digest,
                status_code=first_answer_status(accepted=accepted, reason=reason),
                response=body,
            )
            if accepted:
                assert credential is not None
                # Who is inside is derived from the whole timeline (events synced later may come before this one).
                ledgers.lock_credentials([credential.pk])
                timeline.reconcile_credential(credential.pk, election.pk, polling_place.pk)
                if not timeline.appended_last(event):  # else the quota was checked on the roster as it stands
                    timeline.reconcile_quota(polling_place.pk, election.pk, election.jurisdiction_id, [credential])
    except IntegrityError:
        # The same event_id committed by a request holding another ledger's lock (another place or election).
        existing = PresenceEvent.objects.filter(event_id=event_id).first()
        if existing is None:
            raise
        return _replay(existing, digest)
    logger.info(
        "presence %s %s: %s%s credential=%s place=%s election=%s worker=%s device=%s",
        kind,
        event_id,
        body["outcome"],
        f" ({reason})" if reason else "",
        credential.serial if credential else "-",
        polling_place.pk,
        election.pk,
        worker.pk,
        device.pk,
    )
    return Recorded(event)

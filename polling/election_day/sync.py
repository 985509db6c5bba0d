"""Offline sync: a tablet uploads the check-ins and check-outs it recorded without signal.

An uploaded event is a record of something that happened at the door: the tablet verified the token offline and
admitted (or let out) its holder. The server does not undo it. It stores every event once (``event_id``), corrects
the tablet's time by the tablet's clock offset, and:

- **refuses** (stores, does not apply) an event whose token cannot be trusted at all — malformed, unknown key, bad
  signature, unknown credential, another election or polling place — and an ``event_id`` reused for another event
  (not stored again);
- **applies** every other event to the timeline from which the roster is derived
  (``polling.election_day.timeline``), and records an **anomaly** for a commissioner's review when the server knows
  better than the tablet did: check-in after revocation, outside the credential's validity or with the polls closed, a
  tablet clock off by more than a day — or when the timeline does not add up: check-out without check-in, inside two
  polling places at once, quota exceeded;
- answers **duplicate** for an event it already has (uploaded before, or sent online first).

Clock: the batch carries ``sent_at``, the tablet's clock when it sent. ``offset = sent_at - server time``, and each
event's ``effective_at = occurred_at - offset`` (never later than the server's receipt). A tablet whose clock is a
day off therefore lands its events where they belong, to within the upload's transit time. A difference of up to
``presence.CLOCK_TOLERANCE`` is taken to be that transit time and not applied: a tablet with a right clock keeps
its times.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.credentials.verification import Verifier
from accounts.models import Credential, Device, Role, RoleGrant, User
from polling.election_day import ledger as ledgers
from polling.election_day import presence, roster, timeline
from polling.geography import selectors as geography_selectors
from polling.models import Election, PollingPlace, PresenceAnomaly, PresenceEvent, PresenceLedger

logger = logging.getLogger(__name__)

#: Events per upload; a tablet with more sends several batches.
MAX_EVENTS = 500
#: Events whose token cannot be trusted (malformed, bad signature, …) are stored as refused — the record that a tablet
#: scanned something — but a tablet cannot fill the log with them: at most this many per upload, and this many per
#: tablet and (the server's UTC) day, online and offline together. Beyond, they are refused all the same but not
#: stored (``stored: false``), counted in the answer (``not_stored``) and in a warning log line.
MAX_UNTRUSTED_STORED_PER_BATCH = 50
MAX_UNTRUSTED_STORED_PER_DAY = 500
#: See ``presence``: a clock further off than this is an anomaly; an event recorded after it was sent, too.
MAX_SKEW = presence.MAX_SKEW
BACKWARDS_TOLERANCE = presence.BACKWARDS_TOLERANCE

Code = PresenceAnomaly.Code
ACCEPTED = "accepted"
DUPLICATE = "duplicate"
REFUSED = "refused"
ANOMALY = "anomaly"
EVENT_ID_REUSED = presence.EVENT_ID_REUSED
INVALID = "invalid"


@dataclass
class Item:
    """One valid event of a batch, as the tablet sent it plus what the server worked out before taking locks."""

    index: int
    event_id: uuid.UUID
    kind: str
    token: str
    occurred_at: dt.datetime
    recorded_by: str | None = None
    effective_at: dt.datetime = field(init=False)
    digest: str = field(init=False)
    election: Election | None = None
    credential: Credential | None = None
    reason: str | None = None
    detail: str = ""
    facts: list[str] = field(default_factory=list)
    event: PresenceEvent | None = None
    result: dict[str, Any] | None = None
    recorder: User | None = None


@dataclass(frozen=True)
class Outcome:
    results: list[dict[str, Any]]
    offset: dt.timedelta
    received_at: dt.datetime
    #: The election the tablet serves at the time of receipt (``roster.election_for``): the roster it gets back.
    election: Election | None = None


def _refused(item: Item, reason: str, detail: str) -> dict[str, Any]:
    return {
        "event_id": str(item.event_id),
        "result": REFUSED,
        "reason": reason,
        "detail": detail,
        "anomalies": [],
    }


def sync_upload(
    *,
    items: list[Item],
    sent_at: dt.datetime,
    polling_place: PollingPlace,
    elections: set[int],
    device: Device,
    worker: User,
    keys: Mapping[int, bytes] | None = None,
) -> Outcome:
    """Store and judge a batch of events from one tablet of ``polling_place``. ``elections``: those the tablet and
    its poll worker serve there. ``keys``: the signing keys not retired, if the caller has read them in this request
    (``credential_selectors.public_and_verifying_keys``); else read here. Returns one result per item, in the items'
    order."""
    received_at = timezone.now()
    try:
        measured = sent_at - received_at
    except OverflowError:  # pragma: no cover - both are within the calendar, so is their difference
        measured = dt.timedelta.max
    # A difference within CLOCK_TOLERANCE is the upload's transit time, not a wrong clock: the tablet's times stand.
    offset = presence.clock_offset(sent_at, received_at)
    skewed = abs(offset) > MAX_SKEW
    zone = geography_selectors.local_zone(polling_place.county)
    election_on: dict[dt.date, Election | None] = {}
    # The keys and every credential the batch names, read once for the batch (not once per event).
    verifier = Verifier.for_tokens((item.token for item in items), keys)
    for item in items:
        item.effective_at = presence.corrected(item.occurred_at, offset, received_at)
        item.digest = presence.body_hash(
            kind=item.kind, token=item.token, occurred_at=item.occurred_at, polling_place_id=polling_place.pk
        )
        day = item.effective_at.astimezone(zone).date()
        if day not in election_on:
            election_on[day] = roster.election_for(polling_place, elections, item.effective_at)
        item.election = election_on[day]
        if item.election is not None and presence.too_early(item.effective_at, item.election, polling_place):
            detail = "Before this election day could begin (the tablet time corrected by its clock offset)."
            item.result = _refused(item, INVALID, "Not stored: occurred_at: " + detail) | {
                "errors": {"occurred_at": detail}
            }
            continue
        _judge(item, polling_place, verifier)
        if item.reason is None and (skewed or item.occurred_at > sent_at + BACKWARDS_TOLERANCE):
            item.facts.append(Code.CLOCK_SKEW)

    _recorders([i for i in items if i.result is None], polling_place)
    _cap_untrusted([i for i in items if i.result is None], device, received_at)
    groups: dict[int, list[Item]] = defaultdict(list)
    for item in items:
        assert item.election is not None
        if item.result is None:
            groups[item.election.pk].append(item)
    for group in groups.values():
        _store_group(group, polling_place, offset, received_at, device, worker)
    today = received_at.astimezone(zone).date()
    if today not in election_on:  # the election depends on the local date alone
        election_on[today] = roster.election_for(polling_place, elections, received_at)
    return Outcome([item.result or {} for item in items], measured, received_at, election_on[today])


def _recorders(items: list[Item], place: PollingPlace) -> None:
    """Who recorded each event (``recorded_by``: the poll worker signed in on the tablet at the time, since nobody
    shares a logon): a user who held a poll worker or manager grant at this place for the event's election, not
    ended before the event. An event naming anyone else is refused as invalid and not stored."""
    names = {i.recorded_by for i in items if i.recorded_by}
    if not names:
        return
    grants = RoleGrant.objects.filter(
        user__username__in=names,
        user__is_active=True,
        role__in=[Role.POLL_WORKER, Role.POLL_MANAGER],
        polling_place=place,
    ).select_related("user")
    held: dict[tuple[str, int | None], list[RoleGrant]] = defaultdict(list)
    for grant in grants:
        held[(grant.user.get_username(), grant.election_id)].append(grant)
    for item in items:
        if not item.recorded_by:
            continue
        assert item.election is not None
        found = [
            g
            for g in held.get((item.recorded_by, item.election.pk), [])
            if g.ended_at is None or g.ended_at > item.effective_at
        ]
        if found:
            item.recorder = found[0].user
            continue
        detail = "No poll worker or manager of this polling place and election by that username."
        item.result = _refused(item, INVALID, "Not stored: recorded_by: " + detail) | {
            "errors": {"recorded_by": detail}
        }


def _judge(item: Item, place: PollingPlace, verifier: Verifier) -> None:
    """Verify the token at the event's effective time (no lock needed) and sort the tablet's decision into trusted,
    trusted-but-anomalous, or refused: ``presence.judge``, the rules of an online post that waited in the queue."""
    judged = presence.judge(
        kind=item.kind, token=item.token, polling_place=place, election=item.election, at=item.effective_at,
        decides=False, verifier=verifier,
    )  # fmt: skip
    item.credential, item.reason, item.detail = judged.credential, judged.reason, judged.detail
    item.facts.extend(judged.facts)


def untrusted_stored_today(device: Device, now: dt.datetime) -> int:
    """How many refused events (tokens that could not be trusted) from ``device`` are stored since the start of the
    server's UTC day of ``now``."""
    start = now.astimezone(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return PresenceEvent.objects.filter(
        device=device, outcome=PresenceEvent.Outcome.REFUSED, received_at__gte=start
    ).count()


def _cap_untrusted(items: list[Item], device: Device, received_at: dt.datetime) -> None:
    """Refuse without storing the untrusted events of a batch beyond the caps (``MAX_UNTRUSTED_STORED_PER_BATCH``,
    ``MAX_UNTRUSTED_STORED_PER_DAY``). Events already stored are left alone: they answer ``duplicate``."""
    untrusted = [i for i in items if i.reason is not None]
    if not untrusted:
        return
    known = set(
        PresenceEvent.objects.filter(event_id__in=[i.event_id for i in untrusted]).values_list("event_id", flat=True)
    )
    room = min(
        MAX_UNTRUSTED_STORED_PER_BATCH, MAX_UNTRUSTED_STORED_PER_DAY - untrusted_stored_today(device, received_at)
    )
    for item in untrusted:
        if item.event_id in known:
            continue
        if room > 0:
            room -= 1
            continue
        item.result = _refused(
            item,
            item.reason or INVALID,
            f"{item.detail} Not stored: this tablet has sent too many events whose token could not be trusted "
            f"(at most {MAX_UNTRUSTED_STORED_PER_BATCH} per upload and {MAX_UNTRUSTED_STORED_PER_DAY} a day are "
            "kept).".strip(),
        ) | {"stored": False}


def _store_group(
    items: list[Item],
    place: PollingPlace,
    offset: dt.timedelta,
    received_at: dt.datetime,
    device: Device,
    worker: User,
) -> None:
    election = items[0].election
    assert election is not None
    offset_ms = round(offset / dt.timedelta(milliseconds=1))
    with transaction.atomic():
        ledger = ledgers.lock_ledger(place.pk, election.pk)
        ledgers.lock_credentials(i.credential.pk for i in items if i.credential is not None and i.reason is None)
        # What is already stored, in one query. A copy of an event earlier in this batch is a duplicate of it.
        known = {e.event_id: e for e in PresenceEvent.objects.filter(event_id__in=[i.event_id for i in items])}
        firsts: dict[uuid.UUID, Item] = {}
        for item in items:
            if item.event_id not in known:
                firsts.setdefault(item.event_id, item)
        known |= _insert_all(list(firsts.values()), place, election, offset_ms, received_at, ledger, device, worker)
        added: list[Item] = []
        seen: list[tuple[Item, PresenceEvent]] = []
        for item in items:
            first = firsts.get(item.event_id)
            if item.event_id in known or first is None or first is not item:
                existing = known.get(item.event_id) or (first.event if first is not None else None)
                assert existing is not None
                seen.append((item, existing))
            else:
                added.append(item)
        timeline.record_new_facts([(i.event, code) for i in added if i.event is not None for code in i.facts])

        applied = [i for i in added if i.reason is None]
        changed = timeline.reconcile_credentials(
            [i.credential.pk for i in applied if i.credential is not None], election.pk, place.pk
        )
        # A check-out can explain a quota anomaly as much as a check-in can cause one.
        timeline.reconcile_quota(
            place.pk, election.pk, election.jurisdiction_id, [i.credential for i in applied if i.credential]
        )
        if changed:
            ledger.roster_version += 1
        ledgers.save_ledger(ledger)

        standing = timeline.open_codes([i.event.pk for i in added if i.event is not None] + [e.pk for _, e in seen])
        for item, existing in seen:
            item.result = _seen_before(item, existing, standing.get(existing.pk, []))
        for item in added:
            assert item.event is not None
            if item.reason is not None:
                item.result = _refused(item, item.reason, item.detail) | {"hlc": item.event.hlc}
                continue
            codes = standing.get(item.event.pk, [])
            item.result = {
                "event_id": str(item.event_id),
                "result": ANOMALY if codes else ACCEPTED,
                "reason": None,
                "detail": "Recorded; flagged for the county's review." if codes else "Recorded.",
                "anomalies": codes,
                "hlc": item.event.hlc,
                "effective_at": item.effective_at.isoformat(),
            }
    for item in added:
        logger.info(
            "sync %s %s: %s%s credential=%s place=%s election=%s worker=%s device=%s offset_ms=%s",
            item.kind,
            item.event_id,
            (item.result or {}).get("result"),
            f" ({item.reason})" if item.reason else "",
            item.credential.serial if item.credential else "-",
            place.pk,
            election.pk,
            worker.pk,
            device.pk,
            offset_ms,
        )


def _insert_all(
    items: list[Item],
    place: PollingPlace,
    election: Election,
    offset_ms: int,
    received_at: dt.datetime,
    ledger: PresenceLedger,
    device: Device,
    worker: User,
) -> dict[uuid.UUID, PresenceEvent]:
    """Store the batch's new events (``item.event``), numbered in the batch's order by the ledger's clock: in one
    INSERT, or, if one of them was committed meanwhile by a request holding another ledger (another place), one by
    one. Returns the events found stored instead of being inserted, by event id."""
    events = [
        _event(item, place, election, offset_ms, received_at, ledgers.next_hlc(ledger), device, worker)
        for item in items
    ]
    try:
        with transaction.atomic():
            PresenceEvent.objects.bulk_create(events)
    except IntegrityError:
        pass
    else:
        if all(e.pk is not None for e in events):
            for item, event in zip(items, events, strict=True):
                item.event = event
            return {}
        # A database that does not return the ids of a bulk insert: read them back.
        ids = dict(
            PresenceEvent.objects.filter(event_id__in=[e.event_id for e in events]).values_list("event_id", "pk")
        )
        for item, event in zip(items, events, strict=True):
            event.pk = ids[event.event_id]
            item.event = event
        return {}
    found: dict[uuid.UUID, PresenceEvent] = {}
    for item, event in zip(items, events, strict=True):
        try:
            with transaction.atomic():
                event.save(force_insert=True)
        except IntegrityError:
            # The same event_id committed meanwhile by a request holding another ledger (another place).
            existing = PresenceEvent.objects.filter(event_id=item.event_id).first()
            if existing is None:
                raise
            found[item.event_id] = existing
            continue
        item.event = event
    return found


def _event(
    item: Item,
    place: PollingPlace,
    election: Election,
    offset_ms: int,
    received_at: dt.datetime,
    hlc: int,
    device: Device,
    worker: User,
) -> PresenceEvent:
    applied = item.reason is None
    first = {
        "result": ACCEPTED if applied else REFUSED,
        "reason": item.reason,
        "detail": "Recorded." if applied else item.detail,
        "event_id": str(item.event_id),
        "kind": item.kind,
        "polling_place": place.pk,
        "election": election.pk,
        "occurred_at": item.occurred_at.isoformat(),
        "effective_at": item.effective_at.isoformat(),
        "received_at": received_at.isoformat(),
        "hlc": hlc,
        "anomalies_at_upload": sorted(item.facts) if applied else [],
        "credential": roster.credential_out(item.credential),
    }
    return PresenceEvent(
        event_id=item.event_id,
        kind=item.kind,
        source=PresenceEvent.Source.SYNC,
        device=device,
        worker=item.recorder or worker,
        uploaded_by=worker if item.recorder is not None and item.recorder != worker else None,
        credential=item.credential,
        polling_place=place,
        election=election,
        occurred_at=item.occurred_at,
        received_at=received_at,
        clock_offset_ms=offset_ms,
        effective_at=item.effective_at,
        hlc=hlc,
        outcome=PresenceEvent.Outcome.ACCEPTED if applied else PresenceEvent.Outcome.REFUSED,
        reason=item.reason or "",
        body_hash=item.digest,
        status_code=presence.first_answer_status(accepted=applied, reason=item.reason),
        response=first,
    )


def _seen_before(item: Item, existing: PresenceEvent, codes: list[str]) -> dict[str, Any]:
    """The answer for an event already stored: ``duplicate`` with its first answer and the anomalies standing on it
    now, or ``event_id_reused`` if this is another event under the same id."""
    if existing.body_hash != item.digest:
        return _refused(item, EVENT_ID_REUSED, "This event_id was already used for a different event.")
    return {
        "event_id": str(item.event_id),
        "result": DUPLICATE,
        "reason": None,
        "detail": "Already recorded; nothing stored again.",
        "anomalies": codes,
        "hlc": existing.hlc,
        "first": existing.response,
    }

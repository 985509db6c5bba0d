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
from typing import Any, NamedTuple

from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.credentials import signing
from accounts.credentials.verification import Verifier
from accounts.models import Credential, Device, User
from common.errors import DomainError
from common.statements import Param, Statement, instance
from polling.election_day import ledger as ledgers
from polling.election_day import roster, timeline
from polling.geography import selectors as geography_selectors
from polling.models import Election, PollingPlace, Presence, PresenceAnomaly, PresenceEvent, PresenceRule

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
#: A clock further off than this (a day, plus an hour for a daylight-saving mix-up) is itself an anomaly
#: (``clock_skew``); the events are still placed by the offset.
MAX_SKEW = dt.timedelta(hours=25)
#: An event "recorded" after it was sent means the tablet's clock went back in between (``clock_skew``).
BACKWARDS_TOLERANCE = dt.timedelta(minutes=5)
#: An online post's tablet times (``occurred_at``, ``sent_at``) may run ahead of the server's clock by this much, no
#: more: a clock a day fast is still placed right by its offset (and flagged ``clock_skew`` past ``MAX_SKEW``), a time
#: further ahead is not a clock but a made-up date. Refused (400), which loses nothing: the tablet keeps the event.
FUTURE_TOLERANCE = MAX_SKEW
#: The earliest an event may have happened (server-corrected): this long before the local midnight that starts its
#: election day. Anything earlier is refused (online: 400; sync: ``invalid``, not stored).
EARLY_SLACK = dt.timedelta(hours=24)

#: How far back a corrected time is kept before it is refused as too early (see ``corrected``).
EARLIEST = dt.timedelta(days=3660)

OCCURRED_AT_IN_FUTURE = "occurred_at_in_future"
SENT_AT_IN_FUTURE = "sent_at_in_future"
OCCURRED_AT_TOO_EARLY = "occurred_at_too_early"

Code = PresenceAnomaly.Code

#: Token reasons that, for an event the tablet decided on its own (offline, or queued), are anomalies rather than
#: refusals: the tablet could not know (the server's list of revocations, the validity by the server's clock).
FACT_FOR_REASON = {
    signing.Reason.REVOKED: Code.CHECK_IN_AFTER_REVOCATION,
    signing.Reason.EXPIRED: Code.CREDENTIAL_NOT_VALID,
    signing.Reason.NOT_YET_VALID: Code.CREDENTIAL_NOT_VALID,
}


def clock_offset(sent_at: dt.datetime, received_at: dt.datetime) -> dt.timedelta:
    """The tablet's clock minus the server's, as far as one post can tell; within ``CLOCK_TOLERANCE``, none."""
    measured = sent_at - received_at
    return measured if abs(measured) > CLOCK_TOLERANCE else dt.timedelta(0)


def corrected(occurred_at: dt.datetime, offset: dt.timedelta, received_at: dt.datetime) -> dt.datetime:
    """``occurred_at - offset`` (the tablet time by the server's clock), never later than the receipt, and never
    earlier than ``EARLIEST`` before it (such a time is refused as too early all the same; the floor keeps it inside
    the calendar in every time zone, so year 1 or 9999 cannot overflow)."""
    floor = received_at - EARLIEST
    try:
        return max(min(occurred_at - offset, received_at), floor)
    except OverflowError:
        return received_at if offset < dt.timedelta(0) else floor


@dataclass(frozen=True)
class Placement:
    """Where an online post goes in time: received by the server at ``received_at``, from a tablet whose clock is
    ``offset`` ahead, so it happened at ``effective_at`` (server time). ``skewed``: the clock is an anomaly."""

    received_at: dt.datetime
    offset: dt.timedelta
    effective_at: dt.datetime
    skewed: bool

    @property
    def live(self) -> bool:
        """Whether the tablet is waiting for this answer to let the holder in (a post sent as it was recorded), as
        opposed to a post that waited in the tablet's queue, whose holder the tablet already let in on its own."""
        return self.effective_at >= self.received_at - CLOCK_TOLERANCE


def placement(*, occurred_at: dt.datetime, sent_at: dt.datetime | None, received_at: dt.datetime) -> Placement:
    """Place an online post in time as sync places an event: ``offset = sent_at - receipt`` (``sent_at`` defaults to
    ``occurred_at``: a post is sent when recorded), ``effective_at = occurred_at - offset``, at most the receipt.
    Refuses tablet times ahead of the server's clock by more than ``FUTURE_TOLERANCE``."""
    if occurred_at > received_at + FUTURE_TOLERANCE:
        raise DomainError(
            "'occurred_at' is ahead of the server's clock: set the tablet's clock (or upload the event by sync).",
            OCCURRED_AT_IN_FUTURE,
            field="occurred_at",
        )
    if sent_at is not None and sent_at > received_at + FUTURE_TOLERANCE:
        raise DomainError(
            "'sent_at' is ahead of the server's clock: set the tablet's clock (or upload the event by sync).",
            SENT_AT_IN_FUTURE,
            field="sent_at",
        )
    sent = sent_at or occurred_at
    offset = clock_offset(sent, received_at)
    skewed = abs(offset) > MAX_SKEW or occurred_at > sent + BACKWARDS_TOLERANCE
    return Placement(received_at, offset, corrected(occurred_at, offset, received_at), skewed)


def too_early(effective_at: dt.datetime, election: Election, place: PollingPlace) -> bool:
    """Whether an event placed at ``effective_at`` happened before its election day could have begun."""
    start, _end = geography_selectors.election_day_bounds(election, place.county)
    return effective_at < start - EARLY_SLACK


def polls_open_at(election: Election, place: PollingPlace, at: dt.datetime) -> bool:
    """Whether ``at`` falls on election day between the polls' opening and closing, in the county's local time."""
    local = at.astimezone(geography_selectors.local_zone(place.county))
    return local.date() == election.date and election.polls_open <= local.time() < election.polls_close


@dataclass
class Judgement:
    """A token and the polls judged at an event's effective time: the credential (when the token names a genuine
    one), the refusal (``reason``, ``detail``; None: applied) and the anomalies that are facts about the event."""

    credential: Credential | None
    reason: str | None
    detail: str
    facts: list[str]


def judge(
    *,
    kind: str,
    token: str,
    polling_place: PollingPlace,
    election: Election | None,
    at: dt.datetime,
    decides: bool,
    verifier: Verifier | None = None,
) -> Judgement:
    """Verify ``token`` and the polling hours at ``at``, the event's effective (server-corrected) time — never at a
    time the tablet chose. The same rules online and offline:

    - a token that cannot be trusted (malformed, unknown key, bad signature, unknown credential, another election or
      place) refuses the event;
    - a check-out needs only a genuine token of someone inside (revoked, expired, not yet valid, closed polls never
      keep a holder on the roster);
    - a check-in of a revoked, expired or not-yet-valid credential, or with the polls closed, is refused when the
      server's answer ``decides`` whether the holder goes in (a live online post), and otherwise (the tablet decided on
      its own: offline sync, a post that waited in its queue) applied and recorded as an anomaly
      (``check_in_after_revocation``, ``credential_not_valid``, ``polls_closed``);
    - a check-in the tablet decided on its own that it places before the credential's revocation, but that reaches
      the server after it, is applied and flagged ``uploaded_after_revocation``: that order rests on the tablet's
      clock and queue alone, which a hostile tablet can choose (backdating a revoked watcher in).

    ``verifier``: one made for a batch of tokens (``Verifier.for_tokens``); by default, one for this token."""
    verdict = (verifier or Verifier()).verify(token=token, polling_place=polling_place, election=election, at=at)
    credential, reason, detail = verdict.credential, verdict.reason, verdict.detail
    facts: list[str] = []
    fact = FACT_FOR_REASON.get(reason or "")
    if reason is not None and (fact is None or credential is None):
        # Cannot be trusted at all (another place, election, county or state): name nobody the place may not see.
        return Judgement(None, reason, detail, facts)
    if kind == PresenceEvent.Kind.CHECK_OUT:
        return Judgement(credential, None, "", facts)
    if fact is None and election is not None and not polls_open_at(election, polling_place, at):
        fact, reason, detail = Code.POLLS_CLOSED, POLLS_CLOSED, _DETAILS[POLLS_CLOSED]
    if fact is None:
        revoked_at = credential.revoked_at if credential is not None else None
        if not decides and revoked_at is not None and at < revoked_at <= timezone.now():
            # Placed before its revocation, but only by the tablet's clock and queue: a tablet may claim either.
            facts.append(Code.UPLOADED_AFTER_REVOCATION)
        return Judgement(credential, None, "", facts)
    if decides:
        return Judgement(credential, reason, detail, facts)
    return Judgement(credential, None, "", [fact])


def _accepted_detail(notice: str | None, facts: list[str]) -> str:
    if facts:
        return "Recorded; flagged for the county's review."
    return _DETAILS[notice] if notice else "Accepted."


def _replay(existing: PresenceEvent, digest: str) -> Recorded:
    if existing.body_hash != digest:
        raise EventIdReused
    return Recorded(existing, replayed=True)


# What an online post reads and writes, as statements compiled once per process (``common.statements``): the SQL the
# ORM writes for these queries, without rebuilding it on every post.
_event_field = PresenceEvent._meta.get_field
EVENT_FIELDS = tuple(f.attname for f in PresenceEvent._meta.concrete_fields)
_EVENT_BY_ID = Statement.select(
    PresenceEvent,
    lambda: (
        PresenceEvent.objects.filter(event_id=Param("event_id", _event_field("event_id")))
        .order_by()
        .values_list(*EVENT_FIELDS)
    ),
    write=True,
)
_presence_field = Presence._meta.get_field
_ROSTER_OF_KIND = Statement.select(
    Presence,
    lambda: (
        Presence.objects.filter(
            polling_place_id=Param("polling_place_id", _presence_field("polling_place")),
            election_id=Param("election_id", _presence_field("election")),
            credential__kind=Param("kind", Credential._meta.get_field("kind")),
        )
        .order_by()
        .values_list(
            "pk",
            "credential_id",
            "check_in_id",
            "credential__kind",
            "credential__appointed_by_kind",
            "credential__appointed_by_name",
        )
    ),
    write=True,
)
#: Everything an online post stores of its event (all of ``PresenceEvent`` but its id).
_INSERT_FIELDS = tuple(name for name in EVENT_FIELDS if name != "id")
_INSERT_EVENT = Statement.insert(PresenceEvent, _INSERT_FIELDS)


def stored_event(event_id: uuid.UUID) -> PresenceEvent | None:
    """The stored event with this ``event_id``, if any (one statement, compiled once)."""
    row = _EVENT_BY_ID.first(event_id=event_id)
    return None if row is None else instance(PresenceEvent, PresenceEvent.objects.db, EVENT_FIELDS, row)


class Holder(NamedTuple):
    """What the quota grouping reads of a credential inside (``timeline.Holder``)."""

    kind: str
    appointed_by_kind: str
    appointed_by_name: str


@dataclass(frozen=True)
class Inside:
    """A roster row at the place (its id and check-in), with what the quota grouping reads of its holder."""

    pk: int
    check_in_id: int
    holder: Holder

    def presence(self, place: PollingPlace, election: Election, credential_id: int) -> Presence:
        """The row as a model instance (made only for the credential whose timeline is re-derived)."""
        row = Presence(
            pk=self.pk,
            polling_place_id=place.pk,
            election_id=election.pk,
            credential_id=credential_id,
            check_in_id=self.check_in_id,
        )
        row._state.adding = False
        return row


def _roster_of_kind(place: PollingPlace, election: Election, credential: Credential) -> dict[int, Inside]:
    """The roster rows at the place of the holders of ``credential``'s kind (whom its quotas may count), with what
    the quota grouping reads of their credentials, by credential id: one read for "already inside" and the quota."""
    return {
        credential_id: Inside(pk, check_in_id, Holder(kind, by_kind, by_name))
        for pk, credential_id, check_in_id, kind, by_kind, by_name in _ROSTER_OF_KIND.rows(
            polling_place_id=place.pk, election_id=election.pk, kind=credential.kind
        )
    }


def _quota_full(credential: Credential, others: list[Holder], rules: list[PresenceRule]) -> bool:
    """Whether ``others`` (the roster as it stands) already hold the quota of ``credential``'s party, candidate or
    kind (the same grouping, by ``timeline.appointer_key``, as the timeline's quota walk)."""
    return any(
        sum(timeline.same_group(credential, o, rule) for o in others) >= rule.max_inside
        for rule in timeline.rules_for(credential, rules)
    )


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
    placed: Placement | None = None,
) -> Recorded:
    """Record a check-in or check-out sent by ``device`` (signed in by ``worker``) with the answer it gets.

    Accepted: 201, with a ``notice`` when the roster as it stands disagrees (``already_inside``, ``not_inside``: the
    timeline decides, as events recorded offline may still arrive). Refused: 200 with the reason, or 409 for
    ``quota_full``; the refused event is stored all the same. The event's place in the timeline is the tablet time
    corrected by the tablet's clock offset (``clock_offset``; ``sent_at`` defaults to ``occurred_at``: an online
    post is sent when it is recorded).
    A repeated ``event_id`` with the same body gets the first answer again and stores nothing; with another body,
    ``EventIdReused``. Two copies racing: the unique ``event_id`` lets one insert win, the other re-reads it.

    The token and the polls are judged at the effective time (``judge``), as sync judges an offline event: a live post
    (placed at its receipt) is refused for a revoked, expired or not-yet-valid credential or closed polls; a post that
    waited in the tablet's queue (placed before its receipt: the tablet let the holder in on its own) is applied with
    the same anomalies sync records. ``placed``: the post's ``placement`` if the caller made it (to choose the
    election by it); else made here. Refused before anything is stored: tablet times ahead of the server's clock
    (``occurred_at_in_future``, ``sent_at_in_future``) and an event placed before its election day could begin
    (``occurred_at_too_early``).
    """
    digest = body_hash(kind=kind, token=token, occurred_at=occurred_at, polling_place_id=polling_place.pk)
    existing = stored_event(event_id)
    if existing is not None:
        return _replay(existing, digest)

    if placed is None:
        placed = placement(occurred_at=occurred_at, sent_at=sent_at, received_at=timezone.now())
    if too_early(placed.effective_at, election, polling_place):
        raise DomainError(
            "'occurred_at' (corrected by the tablet's clock offset) is before this election day could begin.",
            OCCURRED_AT_TOO_EARLY,
            field="occurred_at",
        )
    effective_at, received_at, offset = placed.effective_at, placed.received_at, placed.offset
    # Signature and revocation checks need no lock: they depend on the token and the effective time only.
    judged = judge(
        kind=kind, token=token, polling_place=polling_place, election=election, at=effective_at, decides=placed.live
    )
    credential, reason, detail = judged.credential, judged.reason, judged.detail
    facts = judged.facts
    if reason is None and placed.skewed:
        facts.append(Code.CLOCK_SKEW)

    try:
        with transaction.atomic():
            ledger = ledgers.lock_ledger(polling_place.pk, election.pk)
            # A copy of this event that committed while we waited for the lock makes the insert below fail on the
            # unique event_id: everything here rolls back and the copy is replayed (``except IntegrityError``).
            notice = None
            roster_rows: dict[int, Inside] = {}
            rules: list[PresenceRule] | None = None
            if credential is not None and reason is None:
                roster_rows = _roster_of_kind(polling_place, election, credential)
                inside = credential.pk in roster_rows
                # "Already inside" and "not inside" are as the roster stands now, and events recorded offline may
                # still change it: the scan is recorded (the timeline decides) and the tablet is told.
                if kind == PresenceEvent.Kind.CHECK_IN:
                    if inside:
                        notice = ALREADY_INSIDE
                    elif placed.live:
                        rules = timeline.jurisdiction_rules(election.jurisdiction_id)
                        others = [row.holder for row in roster_rows.values()]
                        if _quota_full(credential, others, rules):
                            reason, detail = QUOTA_FULL, _DETAILS[QUOTA_FULL]
                elif not inside:
                    notice = NOT_INSIDE
            accepted = reason is None
            hlc = ledgers.next_hlc(ledger)
            if accepted:
                ledger.roster_version += 1
            ledgers.save_ledger(ledger)
            body: dict[str, Any] = {
                "outcome": "accepted" if accepted else "refused",
                "reason": reason,
                "notice": notice,
                "detail": _accepted_detail(notice, facts) if accepted else detail,
                "anomalies": sorted(facts) if accepted else [],
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
            event = PresenceEvent(
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
            event.pk = _INSERT_EVENT.run(**{name: getattr(event, name) for name in _INSERT_FIELDS})
            event._state.adding = False
            if accepted:
                assert credential is not None
                for code in facts:
                    timeline.record_fact(event, code)
                # Who is inside is derived from the whole timeline (events synced later may come before this one).
                ledgers.lock_credentials([credential.pk])
                # The roster row read above under the ledger's lock still stands: only holders of that lock (this
                # place and election) write it.
                timeline.reconcile_credentials(
                    [credential.pk],
                    election.pk,
                    polling_place.pk,
                    presence_rows={
                        credential.pk: own.presence(polling_place, election, credential.pk)
                        if (own := roster_rows.get(credential.pk))
                        else None
                    },
                )
                # A live post's quota was checked on the roster as it stands; a queued one is judged by the timeline.
                if not (placed.live and timeline.appended_last(event)):
                    timeline.reconcile_quota(
                        polling_place.pk, election.pk, election.jurisdiction_id, [credential], rules=rules
                    )
    except IntegrityError:
        # The same event_id committed meanwhile: while this request waited for the ledger's lock, or by one holding
        # another ledger's (another place or election).
        existing = stored_event(event_id)
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

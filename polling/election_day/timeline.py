"""Who is inside, derived from the presence log in a canonical order, and the anomalies that order reveals.

Events arrive out of order: tablets upload what they recorded offline hours later, in any order, some twice. The
roster must not depend on that order. So it is not updated event by event as they arrive; it is *derived*: for each
credential, its accepted events in the election, ordered by ``(effective_at, event_id)`` (the server's estimate of
when each happened; a tie broken by the event id, never by arrival), folded from "outside". A check-in makes the
holder inside that polling place (since that check-in) unless already inside; a check-out makes them outside; a
check-out while outside is an anomaly. Any set of events gives one result, whatever order it arrived in: a replay
in true order, fifty tablets racing with duplicates, or a tablet that syncs the next day.

Order-dependent anomalies (check-out without check-in, inside two places at once, quota exceeded) are recomputed
with the fold and kept in step with it: a row is opened when the timeline shows the problem, *cleared* (kept, with
``cleared_at``) when later uploads explain it, opened again if it reappears. Reviewed rows keep their review.

Locking: the caller holds the ``PresenceLedger`` row of the (polling place, election) whose events it added and the
credentials whose events it added, taken in the order ``polling.election_day.ledger`` sets out (ledger first, then
credentials in id order).
"""

from __future__ import annotations

import datetime as dt
import functools
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from accounts.models import Credential
from common.statements import Param, Statement, instance
from common.text import skeleton
from polling.election_day.ledger import lock_credentials, lock_ledger
from polling.models import Election, Presence, PresenceAnomaly, PresenceEvent, PresenceRule

Code = PresenceAnomaly.Code
Status = PresenceAnomaly.Status
CHECK_IN = PresenceEvent.Kind.CHECK_IN
#: The timeline's order: when it happened, then the event id — a tie at the same instant is broken by something
#: the events carry, never by when they arrived.
ORDER = ("effective_at", "event_id")


class Step(NamedTuple):
    """What the timeline reads of an accepted event: read as plain rows, never as model instances (a fold touches
    every event of a credential, a quota walk every event of a place)."""

    pk: int
    event_id: uuid.UUID
    kind: str
    polling_place_id: int
    election_id: int | None
    credential_id: int | None
    effective_at: dt.datetime


STEP_FIELDS = ("pk", "event_id", "kind", "polling_place_id", "election_id", "credential_id", "effective_at")

# The statements an online check-in runs, compiled once per process (``common.statements``): the same SQL the ORM
# writes for them, without rebuilding it on every post. Lists of credentials (sync) go through the ORM.
_event_field = PresenceEvent._meta.get_field
_anomaly_field = PresenceAnomaly._meta.get_field
_EVENTS_OF_ONE = Statement.select(
    PresenceEvent,
    lambda: (
        PresenceEvent.objects.filter(
            credential_id=Param("credential_id", _event_field("credential")),
            election_id=Param("election_id", _event_field("election")),
            outcome=PresenceEvent.Outcome.ACCEPTED,
        )
        .order_by(*ORDER)
        .values_list(*STEP_FIELDS)
    ),
    write=True,
)
ANOMALY_FIELDS = tuple(f.attname for f in PresenceAnomaly._meta.concrete_fields)
_ANOMALIES_OF_ONE = Statement.select(
    PresenceAnomaly,
    lambda: (
        PresenceAnomaly.objects.select_for_update()
        .filter(
            credential_id=Param("credential_id", _anomaly_field("credential")),
            election_id=Param("election_id", _anomaly_field("election")),
            code__in=[Code.CHECK_OUT_WITHOUT_CHECK_IN, Code.INSIDE_TWO_PLACES],
        )
        .order_by()
        .values_list(*ANOMALY_FIELDS)
    ),
    write=True,
)
_PRESENCE_FIELDS = ("polling_place_id", "election_id", "credential_id", "check_in_id")
_ADD_PRESENCE = Statement.insert(Presence, _PRESENCE_FIELDS)
_REMOVE_PRESENCE = Statement.delete(Presence)
_RULE_FIELDS = tuple(f.attname for f in PresenceRule._meta.concrete_fields)
_RULES = Statement.select(
    PresenceRule,
    lambda: (
        PresenceRule.objects.filter(
            jurisdiction_id=Param("jurisdiction_id", PresenceRule._meta.get_field("jurisdiction"))
        )
        .order_by("pk")
        .values_list(*_RULE_FIELDS)
    ),
    write=True,
)
_LATER = Statement.select(
    PresenceEvent,
    lambda: (
        PresenceEvent.objects.filter(
            polling_place_id=Param("polling_place_id", _event_field("polling_place")),
            election_id=Param("election_id", _event_field("election")),
            outcome=PresenceEvent.Outcome.ACCEPTED,
        )
        .filter(
            Q(effective_at__gt=Param("effective_at", _event_field("effective_at")))
            | Q(
                effective_at=Param("effective_at", _event_field("effective_at")),
                event_id__gt=Param("event_id", _event_field("event_id")),
            )
        )
        .order_by()
        .values_list("pk")[:1]
    ),
    write=True,
)


def jurisdiction_rules(jurisdiction_id: int) -> list[PresenceRule]:
    """The quota rules of a jurisdiction, read now (never kept across requests: a rule changed counts at once)."""
    return [
        instance(PresenceRule, PresenceRule.objects.db, _RULE_FIELDS, row)
        for row in _RULES.rows(jurisdiction_id=jurisdiction_id)
    ]


@dataclass(frozen=True)
class Interval:
    """A stay inside one polling place: from a check-in to the check-out that ended it (``None``: still inside)."""

    polling_place_id: int
    check_in: Step
    end: dt.datetime | None


def fold(events: list[Step]) -> tuple[dict[int, Step], list[Interval], set[int]]:
    """One credential's accepted events in canonical order → (inside now: place → check-in, every stay, the ids of
    check-outs that found the holder outside)."""
    inside: dict[int, Step] = {}
    stays: list[Interval] = []
    orphans: set[int] = set()
    for event in events:
        place = event.polling_place_id
        if event.kind == CHECK_IN:
            inside.setdefault(place, event)  # a second scan while inside changes nothing
        elif place in inside:
            stays.append(Interval(place, inside.pop(place), event.effective_at))
        else:
            orphans.add(event.pk)
    stays.extend(Interval(place, check_in, None) for place, check_in in inside.items())
    return inside, stays, orphans


def overlapping_check_ins(stays: list[Interval]) -> set[int]:
    """Check-ins that start a stay while a stay at another polling place is still open (the later one is flagged)."""
    ordered = sorted(stays, key=lambda s: (s.check_in.effective_at, s.check_in.event_id))
    flagged: set[int] = set()
    for i, stay in enumerate(ordered):
        start = stay.check_in.effective_at
        for earlier in ordered[:i]:
            if earlier.polling_place_id != stay.polling_place_id and (earlier.end is None or earlier.end > start):
                flagged.add(stay.check_in.pk)
                break
    return flagged


def _anomaly_row(event: PresenceEvent | Step, code: str, now: dt.datetime, detail: str = "") -> dict[str, Any]:
    """What an anomaly copies from the event it is about (an applied event names its election and credential)."""
    assert event.election_id is not None and event.credential_id is not None
    return {
        "polling_place_id": event.polling_place_id,
        "election_id": event.election_id,
        "credential_id": event.credential_id,
        "detail": detail or DETAILS[code],
        "detected_at": now,
    }


@dataclass
class AnomalyWrites:
    """What ``_sync_anomalies`` found to change, written by ``apply`` in at most four statements however many rows
    and credentials (a row per anomaly saved one by one cost a statement each)."""

    now: dt.datetime
    new: list[PresenceAnomaly] = field(default_factory=list)
    reopened: list[int] = field(default_factory=list)
    cleared_open: list[int] = field(default_factory=list)
    cleared_other: list[int] = field(default_factory=list)

    def merge(self, other: AnomalyWrites) -> None:
        assert other.now == self.now
        self.new += other.new
        self.reopened += other.reopened
        self.cleared_open += other.cleared_open
        self.cleared_other += other.cleared_other

    def apply(self) -> None:
        rows = PresenceAnomaly.objects
        if self.reopened:
            rows.filter(pk__in=self.reopened).update(status=Status.OPEN, cleared_at=None)
        if self.cleared_open:
            rows.filter(pk__in=self.cleared_open).update(status=Status.CLEARED, cleared_at=self.now)
        if self.cleared_other:  # reviewed: the review stays, the timeline's finding is kept beside it
            rows.filter(pk__in=self.cleared_other).update(cleared_at=self.now)
        if self.new:
            rows.bulk_create(self.new)


def _sync_anomalies(
    existing: list[PresenceAnomaly], wanted: dict[tuple[int, str], PresenceEvent | Step], now: dt.datetime
) -> AnomalyWrites:
    """What makes the rows of ``existing`` (one scope of codes, read ``FOR UPDATE`` so a review cannot interleave)
    say what ``wanted`` says: open new ones; clear those the timeline no longer shows (a reviewed one keeps its review
    and gets ``cleared_at``); reopen cleared ones shown again (an earlier review stays in the audit trail). The rows
    in memory are changed; the database by the returned writes' ``apply``, in the same transaction."""
    writes = AnomalyWrites(now)
    have = {(a.event_id, a.code): a for a in existing}
    for key, event in wanted.items():
        row = have.get(key)
        if row is None:
            writes.new.append(PresenceAnomaly(event_id=event.pk, code=key[1], **_anomaly_row(event, key[1], now)))
        elif row.cleared_at is not None or row.status == Status.CLEARED:
            row.status, row.cleared_at = Status.OPEN, None
            writes.reopened.append(row.pk)
    for key, row in have.items():
        if key not in wanted and row.cleared_at is None:
            row.cleared_at = now
            if row.status == Status.OPEN:
                row.status = Status.CLEARED
                writes.cleared_open.append(row.pk)
            else:
                writes.cleared_other.append(row.pk)
    return writes


def reconcile_credential(credential_id: int, election_id: int, polling_place_id: int) -> bool:
    """Re-derive one credential's timeline in an election: see ``reconcile_credentials``."""
    return reconcile_credentials([credential_id], election_id, polling_place_id)


def reconcile_credentials(
    credential_ids: Iterable[int],
    election_id: int,
    polling_place_id: int,
    *,
    presence_rows: dict[int, Presence | None] | None = None,
) -> bool:
    """Re-derive these credentials' timelines in an election: their presence at ``polling_place_id`` (the place
    whose ledger the caller holds) and their order-dependent anomalies everywhere. Returns whether that place's roster
    changed. Their presence elsewhere depends only on events at those places, unchanged here.

    Three reads for the lot (their events as plain rows, their anomalies, their roster rows), then at most three
    writes for the roster and four for the anomalies (``AnomalyWrites``), however many credentials and events: the
    statement count does not grow with the batch. (Their anomaly rows are locked only by holders of the credentials'
    locks, or one at a time by a review.) One credential (an online post) runs the same reads as statements compiled
    once per process.
    ``presence_rows``: the roster rows at the place of every one of ``credential_ids`` (None: not inside), if the
    caller has just read them under the same locks."""
    ids = sorted(set(credential_ids))
    if not ids:
        return False
    events_of: dict[int, list[Step]] = defaultdict(list)
    existing_of: dict[int, list[PresenceAnomaly]] = defaultdict(list)
    if len(ids) == 1:  # an online check-in or check-out: the same reads, as statements compiled once
        events_of[ids[0]] = [Step(*row) for row in _EVENTS_OF_ONE.rows(credential_id=ids[0], election_id=election_id)]
        existing_of[ids[0]] = [
            instance(PresenceAnomaly, PresenceAnomaly.objects.db, ANOMALY_FIELDS, row)
            for row in _ANOMALIES_OF_ONE.rows(credential_id=ids[0], election_id=election_id)
        ]
    else:
        for row in (
            PresenceEvent.objects.filter(
                credential_id__in=ids, election_id=election_id, outcome=PresenceEvent.Outcome.ACCEPTED
            )
            .order_by(*ORDER)
            .values_list(*STEP_FIELDS)
        ):
            step = Step(*row)
            assert step.credential_id is not None
            events_of[step.credential_id].append(step)
        for anomaly in PresenceAnomaly.objects.select_for_update().filter(
            credential_id__in=ids,
            election_id=election_id,
            code__in=[Code.CHECK_OUT_WITHOUT_CHECK_IN, Code.INSIDE_TWO_PLACES],
        ):
            existing_of[anomaly.credential_id].append(anomaly)
    if presence_rows is None or not set(ids) <= presence_rows.keys():
        found = Presence.objects.filter(
            polling_place_id=polling_place_id, election_id=election_id, credential_id__in=ids
        ).order_by()
        presence_rows = {i: None for i in ids} | {p.credential_id: p for p in found}
    now = timezone.now()
    writes = AnomalyWrites(now)
    gone: list[int] = []
    moved: list[Presence] = []
    new: list[Presence] = []
    for credential_id in ids:
        events = events_of.get(credential_id, [])
        inside, stays, orphans = fold(events)
        by_pk = {e.pk: e for e in events}
        wanted: dict[tuple[int, str], PresenceEvent | Step] = {
            (pk, Code.CHECK_OUT_WITHOUT_CHECK_IN): by_pk[pk] for pk in orphans
        }
        wanted |= {(pk, Code.INSIDE_TWO_PLACES): by_pk[pk] for pk in overlapping_check_ins(stays)}
        writes.merge(_sync_anomalies(existing_of.get(credential_id, []), wanted, now))
        row, check_in = presence_rows.get(credential_id), inside.get(polling_place_id)
        if check_in is None:
            if row is not None:
                gone.append(row.pk)
        elif row is None:
            new.append(
                Presence(
                    polling_place_id=polling_place_id,
                    election_id=election_id,
                    credential_id=credential_id,
                    check_in_id=check_in.pk,
                )
            )
        elif row.check_in_id != check_in.pk:
            row.check_in_id = check_in.pk
            moved.append(row)
    writes.apply()
    # The roster's changes in at most three statements (a holder has one row at a place: they never collide).
    if len(gone) == 1:
        _REMOVE_PRESENCE.run(pk=gone[0])
    elif gone:
        Presence.objects.filter(pk__in=gone).delete()
    if moved:
        Presence.objects.bulk_update(moved, ["check_in"])
    if len(new) == 1:
        new[0].pk = _ADD_PRESENCE.run(**{name: getattr(new[0], name) for name in _PRESENCE_FIELDS})
        new[0]._state.adding = False
    elif new:
        Presence.objects.bulk_create(new)
    return bool(gone or moved or new)


class Holder(Protocol):
    """What the quotas read of a credential (a ``Credential``, or a roster row's ``presence.Inside.holder``)."""

    @property
    def kind(self) -> str: ...
    @property
    def appointed_by_kind(self) -> str: ...
    @property
    def appointed_by_name(self) -> str: ...


def rules_for(credential: Holder, rules: list[PresenceRule]) -> list[PresenceRule]:
    """The quota rules that count ``credential``."""
    return [
        r
        for r in rules
        if r.credential_kind == credential.kind
        and (r.per == PresenceRule.Per.KIND or r.per == credential.appointed_by_kind)
    ]


@functools.lru_cache(maxsize=4096)
def appointer_key(name: str) -> str:
    """The quota group of an appointing party's or candidate's name: what it looks like (``common.text.skeleton``:
    NFKC, case folding, zero-width and bidirectional characters dropped, confusables mapped, spaces collapsed), so
    "Green Party" spelt with a Cyrillic ie (U+0435), a zero-width space or in capitals is the same group.

    A pure function of the name, called for every event a quota walk passes: memoised (appointers are few)."""
    return skeleton(name)


def same_group(a: Holder, b: Holder, rule: PresenceRule) -> bool:
    """Whether ``b`` counts against ``a``'s quota under ``rule``: the same kind, and for a per-party or per-candidate
    rule the same appointer (names compared by ``appointer_key``, so "Straße" is "STRASSE" and a look-alike is the
    name it imitates)."""
    if a.kind != b.kind:
        return False
    if rule.per == PresenceRule.Per.KIND:
        return True
    return a.appointed_by_kind == b.appointed_by_kind and (
        appointer_key(a.appointed_by_name) == appointer_key(b.appointed_by_name)
    )


def _group_key(c: Credential, whole_kind: set[str]) -> tuple[str, ...]:
    if c.kind in whole_kind:
        return (c.kind,)
    return (c.kind, c.appointed_by_kind, appointer_key(c.appointed_by_name))


def reconcile_quota(
    polling_place_id: int,
    election_id: int,
    jurisdiction_id: int,
    credentials: Iterable[Credential] | None = None,
    *,
    rules: list[PresenceRule] | None = None,
) -> None:
    """Re-derive the quota anomalies of one polling place and election: walking the timeline, a check-in that finds
    its party, candidate or kind already at the quota is flagged (it happened: the holder is inside all the same).

    With ``credentials`` (those whose events were just added) only their quota groups are walked — counts never
    cross groups, so the result is the same as a full walk; without, every event and every quota anomaly of the
    place (after a rule change, ``presence_rebuild``). Groups are matched in Python by ``appointer_key``; the database
    only narrows by kind. ``rules``: the jurisdiction's rules, if the caller has read them in this transaction.

    The walk reads plain rows and keeps a count per group, so its cost is one step per event, not one per event and
    holder inside."""
    if rules is None:
        rules = jurisdiction_rules(jurisdiction_id)
    whole_kind = {r.credential_kind for r in rules if r.per == PresenceRule.Per.KIND}
    groups: set[tuple[str, ...]] | None = None
    if credentials is not None:
        groups = {_group_key(c, whole_kind) for c in credentials if rules_for(c, rules)}
        if not groups:
            return
    kinds = {g[0] for g in groups} if groups is not None else None

    def in_scope(c: Credential) -> bool:
        return groups is None or _group_key(c, whole_kind) in groups

    Group = tuple[str, ...]

    @functools.cache
    def holder(kind: str, by_kind: str, by_name: str) -> tuple[bool, tuple[Group, Group], list[tuple[int, Group]]]:
        """For a holder's (kind, appointer kind, appointer name), worked out once per walk: whether the walk counts
        them; the groups they fill while inside (their kind, their appointer); and for each rule that counts them,
        its limit and the group it counts (``same_group``, as counts)."""
        c = Credential(kind=kind, appointed_by_kind=by_kind, appointed_by_name=by_name)
        whole: Group = (kind,)
        own: Group = (kind, by_kind, appointer_key(by_name))
        checks = [(r.max_inside, whole if r.per == PresenceRule.Per.KIND else own) for r in rules_for(c, rules)]
        return in_scope(c), (whole, own), checks

    events = PresenceEvent.objects.filter(
        polling_place_id=polling_place_id, election_id=election_id, outcome=PresenceEvent.Outcome.ACCEPTED
    )
    if kinds is not None:
        events = events.filter(credential__kind__in=kinds)
    rows = events.order_by(*ORDER).values_list(
        "pk",
        "event_id",
        "kind",
        "credential_id",
        "effective_at",
        "credential__kind",
        "credential__appointed_by_kind",
        "credential__appointed_by_name",
    )
    wanted: dict[tuple[int, str], PresenceEvent | Step] = {}
    inside: dict[int, tuple[Group, Group]] = {}
    count: Counter[tuple[str, ...]] = Counter()
    for pk, event_id, kind, credential_id, at, c_kind, by_kind, by_name in rows:
        scoped, counts_in, checks = holder(c_kind, by_kind, by_name)
        if not scoped:
            continue
        if kind != CHECK_IN:
            for group in inside.pop(credential_id, ()):
                count[group] -= 1
            continue
        if credential_id in inside:
            continue
        if any(count[group] >= limit for limit, group in checks):
            wanted[(pk, Code.QUOTA_EXCEEDED)] = Step(
                pk, event_id, kind, polling_place_id, election_id, credential_id, at
            )
        inside[credential_id] = counts_in
        for group in counts_in:
            count[group] += 1
    existing = PresenceAnomaly.objects.select_for_update(of=("self",)).filter(
        polling_place_id=polling_place_id, election_id=election_id, code=Code.QUOTA_EXCEEDED
    )
    if kinds is not None:
        existing = existing.filter(credential__kind__in=kinds)
    anomalies = [a for a in existing.select_related("credential") if in_scope(a.credential)]
    _sync_anomalies(anomalies, wanted, timezone.now()).apply()


def appended_last(event: PresenceEvent) -> bool:
    """Whether no accepted event of the place comes after ``event`` in the timeline: then earlier quota verdicts
    stand and the event itself was judged on the roster as it stands (the online path)."""
    assert event.election_id is not None
    return not _LATER.rows(
        polling_place_id=event.polling_place_id,
        election_id=event.election_id,
        effective_at=event.effective_at,
        event_id=event.event_id,
    )


def record_fact(event: PresenceEvent, code: str, detail: str = "") -> None:
    """An anomaly that is a fact about one event (revoked, polls closed, clock): recorded once, never cleared."""
    PresenceAnomaly.objects.get_or_create(
        event=event, code=code, defaults=_anomaly_row(event, code, timezone.now(), detail)
    )


def record_new_facts(facts: Iterable[tuple[PresenceEvent, str]]) -> None:
    """``record_fact`` for events inserted in this transaction, which can hold no anomaly yet: one INSERT."""
    now = timezone.now()
    rows = [PresenceAnomaly(event=event, code=code, **_anomaly_row(event, code, now)) for event, code in facts]
    if rows:
        PresenceAnomaly.objects.bulk_create(rows)


def open_codes(event_ids: Iterable[int]) -> dict[int, list[str]]:
    """The anomalies still standing (open, or reviewed and not cleared) on these events."""
    codes: dict[int, list[str]] = {}
    rows = (
        PresenceAnomaly.objects.filter(event_id__in=list(event_ids), cleared_at__isnull=True)
        .filter(Q(status=Status.OPEN) | Q(status=Status.REVIEWED))
        .order_by("code")
        .values_list("event_id", "code")
    )
    for event_id, code in rows:
        codes.setdefault(event_id, []).append(code)
    return codes


DETAILS: dict[str, str] = {
    Code.CHECK_OUT_WITHOUT_CHECK_IN: "A check-out with no check-in before it at this polling place.",
    Code.CHECK_IN_AFTER_REVOCATION: "Checked in (offline) after the credential had been revoked.",
    Code.CREDENTIAL_NOT_VALID: "Checked in (offline) outside the credential's validity period.",
    Code.POLLS_CLOSED: "Checked in (offline) while the polls were closed.",
    Code.INSIDE_TWO_PLACES: "Checked in here while still checked in at another polling place.",
    Code.QUOTA_EXCEEDED: "Checked in (offline) when the quota for this party, candidate or kind was already full.",
    Code.CLOCK_SKEW: "The tablet's clock was off by more than a day, or went back between recording and upload.",
    Code.UPLOADED_AFTER_REVOCATION: (
        "A check-in the tablet places before the credential was revoked reached the server only after: its time is "
        "the tablet's word alone."
    ),
}


def presence_rebuild(*, polling_place_id: int, election_id: int) -> dict[str, int]:
    """Re-derive one (polling place, election) from the log alone: its roster and the order-dependent anomalies of
    every credential with events there, and its quota anomalies. For recovery (a damaged ``Presence`` table, a fixed
    bug, a quota rule changed); the same result as the events' arrival produced, by construction. Facts recorded at
    upload (revoked, polls closed, clock) are left as they are. Takes the locks the event writers take. Returns what
    changed."""
    election = Election.objects.get(pk=election_id)
    with transaction.atomic():
        ledger = lock_ledger(polling_place_id, election_id)
        logged = set(
            PresenceEvent.objects.filter(
                polling_place_id=polling_place_id,
                election_id=election_id,
                outcome=PresenceEvent.Outcome.ACCEPTED,
            ).values_list("credential_id", flat=True)
        )
        listed = set(
            Presence.objects.filter(polling_place_id=polling_place_id, election_id=election_id).values_list(
                "credential_id", flat=True
            )
        )
        ids = sorted(i for i in logged | listed if i is not None)
        lock_credentials(ids)
        changed = sum(reconcile_credential(i, election_id, polling_place_id) for i in ids)
        reconcile_quota(polling_place_id, election_id, election.jurisdiction_id)  # every group: rules may change
        if changed:
            ledger.roster_version += 1
            ledger.save(update_fields=["roster_version"])
    return {"credentials": len(ids), "roster_rows_changed": changed}

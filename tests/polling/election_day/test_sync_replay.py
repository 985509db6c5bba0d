"""An election morning replayed through POST /api/v1/sync/ on PostgreSQL, for real: 50 tablets uploading at once,
in random order, in random batches, with 30 % of events sent twice and clocks off by up to a day, end with every
event stored exactly once and the same roster and the same standing anomalies as a one-at-a-time replay in true
order — and as a plain simulation of the script."""

from __future__ import annotations

import datetime as dt
import random
import uuid
import zoneinfo
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Any

import pytest
import time_machine
from django.db import connection
from django.utils import timezone

from accounts.models import Role
from polling.models import Presence, PresenceAnomaly, PresenceEvent
from tests.election_day_helpers import local, token_of, watcher
from tests.factories import CountyFactory, ElectionFactory, PollingPlaceFactory, UserFactory
from tests.helpers import in_parallel, seed_reference_data
from tests.people import grant as _grant
from tests.people import make_tablet, signed_in

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="needs real concurrent connections and row locks (PostgreSQL); SQLite serialises every writer",
    ),
]

PLACES = 10
TABLETS_PER_PLACE = 5  # 50 tablets
WATCHERS = 70
PARTIES = ["Blue", "Red", "Green"]  # seven watchers per place from three parties: some go past two per party
DUPLICATE_SHARE = 0.30
CHICAGO = zoneinfo.ZoneInfo("America/Chicago")
SLOT = dt.timedelta(seconds=30)  # events are this far apart: far more than an upload's transit time


@dataclass(frozen=True)
class Step:
    index: int
    kind: str
    watcher: int
    place: int
    tablet: int  # 0 .. TABLETS_PER_PLACE - 1, at ``place``
    slot: int


def morning(rng: random.Random) -> list[Step]:
    """Watchers arrive, leave, come back, move to another place (some forgetting to check out), a few check out
    without having checked in; parties crowd some places past the quota of two."""
    plans: list[tuple[str, int, int, int]] = []  # (kind, watcher, place, minute offset)
    for w in range(WATCHERS):
        home = w % PLACES
        t = rng.randrange(0, 60)
        plans.append(("check_in", w, home, t))
        roll = rng.random()
        if roll < 0.45:
            t += rng.randrange(10, 60)
            plans.append(("check_out", w, home, t))
            if rng.random() < 0.5:
                t += rng.randrange(5, 40)
                plans.append(("check_in", w, home, t))
        elif roll < 0.60:
            t += rng.randrange(10, 60)
            plans.append(("check_out", w, home, t))
            t += rng.randrange(5, 30)
            plans.append(("check_in", w, (home + 1) % PLACES, t))  # moved on
        elif roll < 0.67:
            t += rng.randrange(10, 60)
            plans.append(("check_in", w, (home + 3) % PLACES, t))  # moved without checking out
        elif roll < 0.72:
            plans.append(("check_out", w, (home + 5) % PLACES, t + rng.randrange(70, 120)))  # never checked in there
    # Unique 30-second slots in true order, within 07:00-11:00.
    slots = rng.sample(range(int(dt.timedelta(hours=4) / SLOT)), len(plans))
    order = sorted(range(len(plans)), key=lambda i: (plans[i][3], slots[i]))
    ranked = sorted(slots)
    steps = []
    at_place: Counter[int] = Counter()
    for rank, i in enumerate(order):
        kind, w, place, _ = plans[i]
        tablet = at_place[place] % TABLETS_PER_PLACE  # in turn: every tablet records some events
        at_place[place] += 1
        steps.append(Step(rank, kind, w, place, tablet, ranked[rank]))
    return steps


def simulate(steps: list[Step]) -> dict[int, set[int]]:
    """The script's truth without the server: who is inside each place at the end."""
    inside: dict[int, set[int]] = defaultdict(set)
    for step in sorted(steps, key=lambda s: s.slot):
        if step.kind == "check_in":
            inside[step.place].add(step.watcher)
        else:
            inside[step.place].discard(step.watcher)
    return {p: w for p, w in inside.items() if w}


@dataclass
class World:
    """One county with its places, tablets and watchers; two identical worlds are replayed two ways."""

    places: list[Any]
    tablets: list[list[Any]]  # [place][tablet] → API client
    tokens: list[str]
    serials: list[str]
    event_ids: list[uuid.UUID]

    def payload(self, step: Step, start: dt.datetime, skew: dt.timedelta) -> dict[str, Any]:
        return {
            "event_id": str(self.event_ids[step.index]),
            "kind": step.kind,
            "token": self.tokens[step.watcher],
            "occurred_at": (start + step.slot * SLOT + skew).isoformat(),
        }


def build(name: str, election: Any, commissioner: Any, steps: list[Step]) -> World:
    county = CountyFactory(name=name)
    places = [PollingPlaceFactory(county=county, code=f"{name}-{p}", name=f"{name} {p}") for p in range(PLACES)]
    tablets = []
    for p, place in enumerate(places):
        row = []
        for t in range(TABLETS_PER_PLACE):
            worker = _grant(UserFactory(), Role.POLL_WORKER, polling_place=place, election=election)
            device, _ = make_tablet(place, commissioner, label=f"{name} {p}.{t}")
            row.append(signed_in(worker, device=device))
        tablets.append(row)
    credentials = [
        watcher(election, county, appointed_by_name=f"{PARTIES[(w // PLACES) % len(PARTIES)]} Party")
        for w in range(WATCHERS)
    ]
    return World(
        places=places,
        tablets=tablets,
        tokens=[token_of(c) for c in credentials],
        serials=[c.serial for c in credentials],
        event_ids=[uuid.uuid4() for _ in steps],
    )


def outcome(world: World, election: Any) -> tuple[dict[int, set[int]], set[tuple[int, str]], dict[int, set[int]]]:
    """(who is inside each place, standing anomalies by script step, which check-in each presence rests on)."""
    watcher_of = {s: w for w, s in enumerate(world.serials)}
    place_of = {p.pk: i for i, p in enumerate(world.places)}
    step_of = {str(e): i for i, e in enumerate(world.event_ids)}
    inside: dict[int, set[int]] = defaultdict(set)
    since: dict[int, set[int]] = defaultdict(set)
    for p in Presence.objects.filter(election=election, polling_place__in=world.places).select_related(
        "credential", "check_in"
    ):
        inside[place_of[p.polling_place_id]].add(watcher_of[p.credential.serial])
        since[place_of[p.polling_place_id]].add(step_of[str(p.check_in.event_id)])
    anomalies = {
        (step_of[str(event_id)], code)
        for event_id, code in PresenceAnomaly.objects.filter(polling_place__in=world.places, status="open").values_list(
            "event__event_id", "code"
        )
    }
    return dict(inside), anomalies, dict(since)


@pytest.fixture
def setting(transactional_db):
    seed_reference_data()
    from polling.models import Jurisdiction

    mississippi = Jurisdiction.objects.get(code="MS")
    today = dt.datetime.now(CHICAGO).date()
    election = ElectionFactory(jurisdiction=mississippi, name="General", date=today)
    commissioner = UserFactory(username="commissioner")
    return election, commissioner


def test_fifty_tablets_racing_with_duplicates_reordering_and_skewed_clocks_match_a_sequential_replay(setting):
    election, commissioner = setting
    rng = random.Random(20261103)
    steps = morning(rng)
    start = local(election, 7)
    with time_machine.travel(local(election, 12), tick=True):
        sequential = build("SEQ", election, commissioner, steps)
        racing = build("RACE", election, commissioner, steps)

        # One at a time, in true order, right clocks.
        for step in steps:
            client = sequential.tablets[step.place][step.tablet]
            response = client.post(
                "/api/v1/sync/",
                {"sent_at": timezone.now().isoformat(), "events": [sequential.payload(step, start, dt.timedelta(0))]},
                format="json",
            )
            assert response.status_code == 200, response.content
            assert response.json()["results"][0]["result"] in {"accepted", "anomaly"}

        # Fifty tablets at once: each its own events, shuffled, 30 % sent twice, in batches of 1-8, clock off by
        # up to a day either way.
        by_tablet: dict[tuple[int, int], list[Step]] = defaultdict(list)
        for step in steps:
            by_tablet[(step.place, step.tablet)].append(step)
        keys = sorted(by_tablet)
        plans = []
        for key in keys:
            mine = list(by_tablet[key])
            sends = mine + rng.sample(mine, round(len(mine) * DUPLICATE_SHARE))
            rng.shuffle(sends)
            batches = []
            while sends:
                size = rng.randint(1, 8)
                batches.append(sends[:size])
                sends = sends[size:]
            skew = dt.timedelta(seconds=rng.randint(-24 * 3600, 24 * 3600))
            plans.append((key, batches, skew))
        assert len(plans) == PLACES * TABLETS_PER_PLACE

        def tablet(i: int) -> list[dict[str, Any]]:
            (place, t), batches, skew = plans[i]
            client = racing.tablets[place][t]
            answers = []
            for batch in batches:
                payload = {
                    "sent_at": (timezone.now() + skew).isoformat(),
                    "events": [racing.payload(step, start, skew) for step in batch],
                }
                response = client.post("/api/v1/sync/", payload, format="json")
                assert response.status_code == 200, response.content
                answers.extend(response.json()["results"])
            return answers

        answers = in_parallel(len(plans), tablet)

    assert all(a is not None for a in answers), "a tablet thread failed"
    results = [r for per_tablet in answers for r in per_tablet]
    sends = sum(len(b) for _, batches, _ in plans for b in batches)
    assert len(results) == sends
    assert not [r for r in results if r["result"] == "refused"], "nothing in this morning may be refused"
    firsts = Counter(r["event_id"] for r in results if r["result"] != "duplicate")
    assert set(firsts) == {str(e) for e in racing.event_ids} and set(firsts.values()) == {1}
    assert Counter(r["result"] for r in results)["duplicate"] == sends - len(steps)

    # 0 lost, 0 duplicated.
    stored = list(PresenceEvent.objects.filter(polling_place__in=racing.places).values_list("event_id", flat=True))
    assert len(stored) == len(steps) and set(stored) == set(racing.event_ids)
    assert sorted(
        PresenceEvent.objects.filter(polling_place__in=racing.places).values_list("clock_offset_ms", flat=True)
    ) != [0] * len(steps)

    truth = simulate(steps)
    seq_inside, seq_anomalies, seq_since = outcome(sequential, election)
    race_inside, race_anomalies, race_since = outcome(racing, election)
    assert seq_inside == truth
    assert race_inside == seq_inside
    assert race_since == seq_since
    assert race_anomalies == seq_anomalies
    # The morning exercises every order-dependent anomaly (else this test would prove less than it says).
    assert {code for _, code in seq_anomalies} >= {
        PresenceAnomaly.Code.CHECK_OUT_WITHOUT_CHECK_IN,
        PresenceAnomaly.Code.INSIDE_TWO_PLACES,
        PresenceAnomaly.Code.QUOTA_EXCEEDED,
    }
    # Rosters as the API gives them agree too, place by place and in order.
    with time_machine.travel(local(election, 12, 30), tick=True):
        for p in range(PLACES):
            a = sequential.tablets[p][0].get(f"/api/v1/polling-places/{sequential.places[p].pk}/roster/").json()
            b = racing.tablets[p][0].get(f"/api/v1/polling-places/{racing.places[p].pk}/roster/").json()
            assert [sequential.serials.index(x["serial"]) for x in a["inside"]] == [
                racing.serials.index(x["serial"]) for x in b["inside"]
            ]

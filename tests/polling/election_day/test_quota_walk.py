"""The quota walk (``timeline.reconcile_quota``) keeps one count per group as it walks the place's timeline; here it is
checked against the plain rule — ``timeline.same_group`` against every holder inside — on mornings uploaded in
random order and random batches, with party names spelt several ways and a candidate sharing a party's name."""

from __future__ import annotations

import random
import uuid

import pytest

from polling.election_day import timeline
from polling.models import PresenceAnomaly, PresenceEvent, PresenceRule
from tests.election_day_helpers import event, local, token_of, upload, watcher
from tests.helpers import seed_reference_data
from tests.people import make_tablet, signed_in

pytestmark = pytest.mark.django_db

APPOINTERS = [
    ("party", "Blue Party"),
    ("party", "BLUE  party"),  # the same group as "Blue Party" (``appointer_key``)
    ("party", "Blue Party"),
    ("party", "Red Party"),
    ("party", "Red Party"),
    ("party", "Red Party"),
    ("candidate", "Blue Party"),  # a candidate of that name: another group
    ("candidate", "Blue Party"),
]


@pytest.fixture(autouse=True)
def _seeded(db):
    seed_reference_data()


def expected_quota_events(place, election) -> set[int]:
    """The plain rule: walking the accepted events in timeline order, a check-in is flagged when, for one of the
    rules counting its holder, as many holders of its group as the rule allows are already inside."""
    rules = list(PresenceRule.objects.filter(jurisdiction_id=election.jurisdiction_id))
    events = (
        PresenceEvent.objects.filter(polling_place=place, election=election, outcome="accepted")
        .select_related("credential")
        .order_by(*timeline.ORDER)
    )
    inside: dict[int, object] = {}
    flagged = set()
    for e in events:
        c = e.credential
        if e.kind != "check_in":
            inside.pop(c.pk, None)
            continue
        if c.pk in inside:
            continue
        if any(
            sum(timeline.same_group(c, other, rule) for other in inside.values()) >= rule.max_inside
            for rule in timeline.rules_for(c, rules)
        ):
            flagged.add(e.pk)
        inside[c.pk] = c
    return flagged


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_counted_walk_flags_what_the_pairwise_rule_flags(seed, noon, place, election, county, poll_worker,
                                                             commissioner):  # fmt: skip
    rng = random.Random(seed)
    tokens = [
        token_of(watcher(election, county, appointed_by_kind=kind, appointed_by_name=name)) for kind, name in APPOINTERS
    ]
    minutes = rng.sample(range(7 * 60, 11 * 60), 40)
    script = [
        event(
            rng.choice(["check_in", "check_in", "check_out"]),
            rng.choice(tokens),
            local(election, m // 60, m % 60),
            uuid.uuid4(),
        )
        for m in minutes
    ]
    device, _ = make_tablet(place, commissioner)
    client = signed_in(poll_worker, device=device)
    rng.shuffle(script)
    while script:
        size = rng.randint(1, 12)
        batch, script = script[:size], script[size:]
        assert upload(client, batch).status_code == 200
    standing = set(
        PresenceAnomaly.objects.filter(code="quota_exceeded", cleared_at__isnull=True).values_list(
            "event_id", flat=True
        )
    )
    expected = expected_quota_events(place, election)
    assert standing == expected
    assert expected  # the script does crowd the place past a quota

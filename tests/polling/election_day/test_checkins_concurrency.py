"""Check-ins that race, run for real on PostgreSQL (a connection per thread, committed transactions): the quota
holds under a burst of tablets, and copies of one event posted at once are stored once and answered alike."""

from __future__ import annotations

import uuid
from collections import Counter
from typing import Any

import pytest
from django.db import connection

from accounts.models import Role
from polling.models import Presence, PresenceEvent, PresenceLedger
from tests.election_day_helpers import body, local, token_of, url, watcher
from tests.factories import UserFactory
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


@pytest.fixture
def mississippi(transactional_db):
    """Re-seeded: a flush after an earlier transactional test may have removed the migrations' rows."""
    from polling.models import Jurisdiction

    seed_reference_data()
    return Jurisdiction.objects.get(code="MS")


@pytest.fixture(autouse=True)
def _at_noon(noon):
    """The server's clock at noon on election day: these races must not depend on the hour the suite runs at (after
    the polls close at 19:00 in Jackson, every check-in was refused as polls_closed)."""


def tablets(n: int, place: Any, election: Any, commissioner: Any) -> list[Any]:
    clients = []
    for i in range(n):
        worker = _grant(UserFactory(username=f"race{i}"), Role.POLL_WORKER, polling_place=place, election=election)
        device, _ = make_tablet(place, commissioner, label=f"Table {i}")
        clients.append(signed_in(worker, device=device))
    return clients


def test_eight_tablets_checking_in_eight_watchers_of_one_party_admit_exactly_two(place, election, county, commissioner):
    clients = tablets(8, place, election, commissioner)
    tokens = [token_of(watcher(election, county, appointed_by_name="Blue Party")) for _ in range(8)]
    at = local(election, 7, 5)

    def check_in(i: int) -> tuple[int, dict]:
        response = clients[i].post(url(place), body(tokens[i], at), format="json")
        return response.status_code, response.json()

    results = in_parallel(8, check_in)
    assert Counter(status for status, _ in results) == {201: 2, 409: 6}, results
    assert all(data["code"] == "quota_full" for status, data in results if status == 409)
    assert Presence.objects.count() == 2
    assert PresenceEvent.objects.filter(outcome="accepted").count() == 2
    assert PresenceEvent.objects.filter(reason="quota_full").count() == 6
    assert PresenceLedger.objects.get().roster_version == 2
    hlcs = list(PresenceEvent.objects.values_list("hlc", flat=True))
    assert len(set(hlcs)) == 8  # one clock value per event, taken under the lock


def test_one_event_posted_by_five_threads_at_once_is_stored_once_and_answered_alike(
    place, election, county, commissioner
):
    (client,) = tablets(1, place, election, commissioner)
    payload = body(token_of(watcher(election, county)), local(election, 8), uuid.uuid4())

    def send(i: int) -> tuple[int, dict]:
        response = client.post(url(place), payload, format="json")
        return response.status_code, response.json()

    results = in_parallel(5, send)
    assert PresenceEvent.objects.count() == 1
    assert Presence.objects.count() == 1
    assert results[0][0] == 201
    assert all(result == results[0] for result in results), results


def test_one_event_id_sent_to_two_places_at_once_is_stored_once_and_the_other_is_422(
    place, election, county, commissioner
):
    from tests.factories import PollingPlaceFactory

    second = PollingPlaceFactory(county=county, code="HINDS-2", name="Second")
    (here,) = tablets(1, place, election, commissioner)
    worker = _grant(UserFactory(username="there"), Role.POLL_WORKER, polling_place=second, election=election)
    device, _ = make_tablet(second, commissioner, label="Second 1")
    there = signed_in(worker, device=device)
    event_id = uuid.uuid4()
    token = token_of(watcher(election, county))  # county-wide: valid at both places
    targets = [(here, place), (there, second)] * 3

    def send(i: int) -> int:
        client, where = targets[i]
        return client.post(url(where), body(token, local(election, 8), event_id), format="json").status_code

    statuses = in_parallel(len(targets), send)
    assert PresenceEvent.objects.count() == 1
    winner = PresenceEvent.objects.get().polling_place
    expected = [201 if where == winner else 422 for _, where in targets]
    assert statuses == expected

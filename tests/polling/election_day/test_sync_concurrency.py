"""Races on PostgreSQL with real connections: a commissioner's review against a sync that recomputes the same
anomaly."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from polling.election_day import timeline
from polling.models import PresenceAnomaly
from tests.election_day_helpers import ANOMALIES, event, local, token_of, upload, watcher
from tests.helpers import in_parallel, seed_reference_data
from tests.people import signed_in

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="needs real concurrent connections and row locks (PostgreSQL); SQLite serialises every writer",
    ),
]


@pytest.fixture(autouse=True)
def _seeded(transactional_db):
    seed_reference_data()


@pytest.fixture
def tablet(noon, tablet_client):
    """The place's poll worker on a tablet of the place, signed in at noon (as in test_sync.py)."""
    return tablet_client


def test_a_review_racing_a_sync_that_clears_the_anomaly_is_kept(
    tablet, place, election, county, commissioner, monkeypatch
):
    a = watcher(election, county)
    upload(tablet, [event("check_out", token_of(a), local(election, 10))])
    anomaly = PresenceAnomaly.objects.get()
    reviewer = signed_in(commissioner)
    in_sync, reviewed = threading.Event(), threading.Event()
    real = timeline._sync_anomalies

    def slow(existing, wanted, now):
        # The sync has read the anomaly rows; hold it there while the review is sent.
        if any(x.code == PresenceAnomaly.Code.CHECK_OUT_WITHOUT_CHECK_IN for x in existing):
            in_sync.set()
            reviewed.wait(2)  # with the row locked the review cannot finish: this times out
        return real(existing, wanted, now)

    monkeypatch.setattr(timeline, "_sync_anomalies", slow)

    def run(i: int) -> int:
        if i == 0:
            return upload(tablet, [event("check_in", token_of(a), local(election, 8))]).status_code
        assert in_sync.wait(10)
        response = reviewer.post(f"{ANOMALIES}{anomaly.pk}/review/", {"note": "paper log: 7:55"}, format="json")
        reviewed.set()
        return response.status_code

    assert in_parallel(2, run) == [200, 200]
    anomaly.refresh_from_db()
    assert anomaly.status == "reviewed" and anomaly.review_note == "paper log: 7:55"
    assert anomaly.cleared_at is not None  # the sync's finding is kept beside the review
    again = reviewer.post(f"{ANOMALIES}{anomaly.pk}/review/", {"note": "second"}, format="json")
    assert again.status_code == 409 and again.json()["code"] == "already_reviewed"

"""Paper fallback: the check-in log and the roster of a polling place as CSV and printable PDF, for the same
readers as the roster."""

from __future__ import annotations

import csv
import io

import pytest

from accounts.models import Role
from tests.credential_helpers import pdf_text
from tests.election_day_helpers import local, post, token_of, watcher
from tests.factories import UserFactory
from tests.helpers import seed_reference_data
from tests.people import grant as _grant
from tests.people import signed_in

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _seeded(db):
    seed_reference_data()


def paper(place, document: str, fmt: str) -> str:
    return f"/api/v1/polling-places/{place.pk}/paper/{document}.{fmt}"


def rows(response) -> list[list[str]]:
    return list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))


def test_the_log_and_roster_as_csv_list_every_event_and_who_is_inside(tablet_client, place, election, county):
    alice = watcher(election, county, holder_name="Alice Able", appointed_by_name="Party A")
    bob = watcher(election, county, holder_name='=HYPERLINK("x")', appointed_by_name="Party B")
    assert post(tablet_client, place, token_of(alice), local(election, 8)).status_code == 201
    assert post(tablet_client, place, token_of(bob), local(election, 9)).status_code == 201
    assert post(tablet_client, place, token_of(alice), local(election, 10), what="check-outs").status_code == 201

    log = tablet_client.get(paper(place, "log", "csv"))
    assert log.status_code == 200 and log["Content-Type"].startswith("text/csv")
    assert log["Cache-Control"] == "private, no-store"
    header, *events = rows(log)
    assert header[:4] == ["clock (HLC)", "local time", "event", "outcome"]
    assert [(e[2], e[3], e[6]) for e in events] == [
        ("Check-in", "accepted", "Alice Able"),
        ("Check-in", "accepted", '\'=HYPERLINK("x")'),  # written as text, never run as a formula
        ("Check-out", "accepted", "Alice Able"),
    ]
    assert [int(e[0]) for e in events] == sorted(int(e[0]) for e in events)

    roster = rows(tablet_client.get(paper(place, "roster", "csv")))
    assert [r[1] for r in roster[1:]] == ['\'=HYPERLINK("x")']


def test_the_pdfs_are_printable_documents_naming_the_place_and_the_people(tablet_client, place, election, county):
    alice = watcher(election, county, holder_name="Alice Able", appointed_by_name="Party A")
    assert post(tablet_client, place, token_of(alice), local(election, 8)).status_code == 201
    for document, title in (("log", "Check-in log"), ("roster", "Who is inside now")):
        response = tablet_client.get(paper(place, document, "pdf"))
        assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
        assert response.content.startswith(b"%PDF")
        text = pdf_text(response.content)
        assert title in text and "Alice Able" in text and place.name in text


def test_who_may_print(place, other_place, election, county, commissioner):
    from rest_framework.test import APIClient

    assert APIClient().get(paper(place, "log", "csv")).status_code == 401
    other_commish = _grant(UserFactory(username="madison"), Role.COMMISSIONER, county=other_place.county)
    other_worker = _grant(UserFactory(username="w2"), Role.POLL_WORKER, polling_place=other_place, election=election)
    worker = _grant(UserFactory(username="w1"), Role.POLL_WORKER, polling_place=place, election=election)
    for user, status in ((other_commish, 404), (other_worker, 404), (UserFactory(username="nobody"), 404),
                         (commissioner, 200), (worker, 200)):  # fmt: skip
        for document in ("log", "roster"):
            response = signed_in(user).get(paper(place, document, "csv"))
            assert response.status_code == status, (user, document)
    assert signed_in(commissioner).get(f"/api/v1/polling-places/{place.pk}/paper/log.xls").status_code == 404
    bad = signed_in(commissioner).get(paper(place, "log", "csv") + "?election=\u00b2")
    assert bad.status_code == 400 and bad.json()["code"] == "invalid"

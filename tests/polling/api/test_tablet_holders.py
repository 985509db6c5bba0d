"""``GET /api/v1/polling-places/{id}/credential-holders/``: what a tablet caches to show holders' names, look typed
serials up and warn of full quotas with no network. Who may read it (a poll worker only on a tablet of the place, the
county's commissioner, the state administrator; everyone else refused with a JSON ``detail`` and ``code``), and
exactly which credentials it lists."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from rest_framework.test import APIClient

from accounts.audit import Actor
from accounts.credentials import issuing
from polling.election_day.timeline import appointer_key
from polling.models import PresenceRule
from tests.election_day_helpers import watcher
from tests.factories import ElectionFactory, PollingPlaceFactory
from tests.helpers import seed_reference_data
from tests.people import make_tablet, signed_in

pytestmark = pytest.mark.django_db

MISSING = 999_999_999


def url(place_id: int) -> str:
    return f"/api/v1/polling-places/{place_id}/credential-holders/"


@pytest.fixture(autouse=True)
def _seeded(db):
    seed_reference_data()


@pytest.fixture
def on_tablet(place, poll_worker, commissioner) -> APIClient:
    device, _ = make_tablet(place, commissioner)
    return signed_in(poll_worker, device=device)


def refusal(response: Any) -> tuple[int, str]:
    body = response.json()
    assert body["detail"], body
    return response.status_code, body["code"]


def test_anonymous_callers_are_asked_to_sign_in(api, place):
    assert refusal(api.get(url(place.pk))) == (401, "not_authenticated")


def test_outsiders_and_staff_elsewhere_find_no_such_place(
    place, outsider, other_county_commissioner, other_poll_worker, other_county_commissioner_tablet
):
    for client in (
        signed_in(outsider),
        signed_in(other_county_commissioner),
        signed_in(other_poll_worker, device=other_county_commissioner_tablet),
    ):
        assert refusal(client.get(url(place.pk))) == (404, "not_found")
        # …exactly as for a place that does not exist: ids cannot be probed.
        assert refusal(client.get(url(MISSING))) == (404, "not_found")


@pytest.fixture
def other_county_commissioner_tablet(other_place, other_county_commissioner):
    device, _ = make_tablet(other_place, other_county_commissioner, label="Madison 1")
    return device


def test_a_poll_worker_reads_it_only_on_a_tablet_of_the_place(place, other_place, poll_worker, commissioner):
    assert refusal(signed_in(poll_worker).get(url(place.pk))) == (403, "tablet_required")
    elsewhere, _ = make_tablet(other_place, commissioner, label="Elsewhere")
    assert refusal(signed_in(poll_worker, device=elsewhere).get(url(place.pk))) == (403, "tablet_required")


def test_it_lists_the_credentials_valid_at_the_place_for_its_election(
    on_tablet, commissioner, state_admin, place, county, other_county, election, mississippi
):
    neighbour = PollingPlaceFactory(county=county, code="HINDS-2", name="Hinds Library")
    county_wide = watcher(election, county, holder_name="Ada Lovelace", appointed_by_name="Analytical Party")
    listed = watcher(
        election,
        county,
        places=[place, neighbour],
        holder_name="Grace Hopper",
        appointed_by_kind="candidate",
        appointed_by_name="Jane Doe",
    )
    observer = watcher(
        election, county, kind="federal_observer", appointed_by_kind="", appointed_by_name="", holder_name="Fed One"
    )
    revoked = watcher(election, county, holder_name="Rex Revoked")
    issuing.credential_revoke(actor=Actor(user=commissioner), credential_id=revoked.pk, reason="Lost")
    # Not valid here: another place only, another county, another election.
    watcher(election, county, places=[neighbour], holder_name="Next Door")
    watcher(election, other_county, holder_name="Madison Person")
    later = ElectionFactory(jurisdiction=mississippi, name="Runoff", date=election.date + dt.timedelta(days=21))
    watcher(later, county, holder_name="Runoff Person")

    for client in (on_tablet, signed_in(commissioner), signed_in(state_admin)):
        response = client.get(url(place.pk))
        assert response.status_code == 200, response.content
        assert response["Cache-Control"] == "private, no-store"
        body = response.json()
        assert (body["polling_place"], body["election"]) == (place.pk, election.pk)
        by_serial = {c["serial"]: c for c in body["credentials"]}
        assert set(by_serial) == {county_wide.serial, listed.serial, observer.serial, revoked.serial}
        assert by_serial[listed.serial] == {
            "serial": listed.serial,
            "kind": "poll_watcher",
            "holder_name": "Grace Hopper",
            "appointed_by_kind": "candidate",
            "appointed_by_name": "Jane Doe",
            "quota_group": appointer_key("Jane Doe"),
            "valid_from": listed.valid_from.astimezone(dt.UTC).isoformat().replace("+00:00", "Z"),
            "valid_until": listed.valid_until.astimezone(dt.UTC).isoformat().replace("+00:00", "Z"),
            "revoked": False,
            "revoked_at": None,
        }
        assert by_serial[revoked.serial]["revoked"] is True and by_serial[revoked.serial]["revoked_at"]
        assert by_serial[observer.serial]["quota_group"] == ""


def test_look_alike_appointers_share_a_quota_group_and_the_state_rules_come_along(on_tablet, place, county, election):
    plain = watcher(election, county, appointed_by_name="Green Party")
    shouting = watcher(election, county, appointed_by_name="GREEN  PARTY")
    cyrillic = watcher(election, county, appointed_by_name="Gr\u0435en Party")  # a Cyrillic ie
    other = watcher(election, county, appointed_by_name="Blue Party")
    body = on_tablet.get(url(place.pk)).json()
    groups = {c["serial"]: c["quota_group"] for c in body["credentials"]}
    assert groups[plain.serial] == groups[shouting.serial] == groups[cyrillic.serial] != groups[other.serial]
    expected = sorted(
        (r.credential_kind, r.per, r.max_inside)
        for r in PresenceRule.objects.filter(jurisdiction=election.jurisdiction)
    )
    assert expected, "Mississippi's seeded quotas"
    assert sorted((r["credential_kind"], r["per"], r["max_inside"]) for r in body["quota_rules"]) == expected

"""Check-ins through the compiled statements (common.statements) from the wrong places and people, with odd tokens
and replayed event ids: each refused as before, nothing stored, never a server error."""

from __future__ import annotations

import uuid

import pytest
from django.utils import timezone

from accounts.models import Credential, RoleGrant
from polling.models import Presence, PresenceEvent
from tests.election_day_helpers import body, day_long_tablet_client, local, post, token_of, url, watcher
from tests.helpers import seed_reference_data
from tests.people import make_tablet, signed_in


@pytest.fixture(autouse=True)
def _seeded(db, noon):
    seed_reference_data()


@pytest.fixture
def tablet(place, poll_worker, commissioner):
    return day_long_tablet_client(place, poll_worker, commissioner)


@pytest.fixture
def other_tablet(other_place, other_poll_worker, other_county_commissioner):
    return day_long_tablet_client(other_place, other_poll_worker, other_county_commissioner)


def test_a_tablet_of_another_place_cannot_check_in_here(other_tablet, place, election, county):
    token = token_of(watcher(election, county))

    response = post(other_tablet, place, token, local(election, 12))

    assert response.status_code in (403, 404), response.content
    assert not PresenceEvent.objects.exists()


def test_another_places_event_id_replayed_here_is_refused_without_its_answer(
    tablet, other_tablet, place, other_place, election, county, other_county
):
    event_id = uuid.uuid4()
    theirs = watcher(election, other_county)
    first = post(other_tablet, other_place, token_of(theirs), local(election, 12), event_id=event_id)
    assert first.status_code == 201, first.content

    again = post(tablet, place, token_of(theirs), local(election, 12), event_id=event_id)

    assert again.status_code == 422 and again.json()["code"] == "event_id_reused"
    assert theirs.serial not in again.content.decode() and "Madison" not in again.content.decode()


def test_a_revoked_grant_stops_check_ins_at_once(tablet, place, election, county, poll_worker):
    token = token_of(watcher(election, county))
    assert post(tablet, place, token, local(election, 12)).status_code == 201
    RoleGrant.objects.filter(user=poll_worker).update(ended_at=timezone.now())

    response = post(tablet, place, token_of(watcher(election, county)), local(election, 12, 5))

    assert response.status_code in (403, 404), response.content
    assert Presence.objects.count() == 1


def test_a_revoked_credential_is_refused_and_not_inside(tablet, place, election, county):
    credential = watcher(election, county)
    credential.status = Credential.Status.REVOKED
    credential.revoked_at = local(election, 11)
    credential.revocation_reason = "Lost badge."
    credential.save()

    response = post(tablet, place, token_of(credential), local(election, 12))

    assert response.status_code == 200 and response.json()["outcome"] == "refused", response.json()
    assert not Presence.objects.exists()


@pytest.mark.parametrize(
    "token",
    [
        "A" * 512,
        "0" * 40,
        "\u0661\u0662\u0663" * 20,  # Arabic-Indic digits
        "AAAA AAAA\tAAAA\nAAAA",
        "' OR 1=1 --",
    ],
)
def test_odd_tokens_are_refused_never_5xx(tablet, place, election, token):
    with_clock = body(token, local(election, 12))
    response = tablet.post(url(place), with_clock, format="json")

    assert response.status_code < 500, response.content
    assert not Presence.objects.exists()


def test_a_forged_token_of_a_real_serial_is_refused(tablet, place, election, county):
    credential = watcher(election, county)
    token = token_of(credential)
    forged = token[:-4] + ("AAAA" if token[-4:] != "AAAA" else "BBBB")

    response = post(tablet, place, forged, local(election, 12))

    assert response.status_code < 500
    assert not Presence.objects.exists()


def test_the_same_event_id_with_another_token_is_refused(tablet, place, election, county):
    event_id = uuid.uuid4()
    assert (
        post(tablet, place, token_of(watcher(election, county)), local(election, 12), event_id=event_id).status_code
        == 201
    )

    again = post(tablet, place, token_of(watcher(election, county)), local(election, 12), event_id=event_id)

    assert again.status_code == 422 and again.json()["code"] == "event_id_reused"
    assert Presence.objects.count() == 1


def test_a_commissioner_without_a_tablet_cannot_check_in(commissioner, place, election, county):
    response = post(signed_in(commissioner), place, token_of(watcher(election, county)), local(election, 12))

    assert response.status_code in (403, 404) and not PresenceEvent.objects.exists()


def test_a_tablet_enrolled_for_another_election_cannot_check_in(place, poll_worker, commissioner, election, county):
    from tests.factories import ElectionFactory

    other = ElectionFactory(jurisdiction=county.jurisdiction, name="Runoff", date=election.date)
    device, _ = make_tablet(place, commissioner, election=other)
    client = signed_in(poll_worker, device=device, ttl_s=24 * 3600)

    response = post(client, place, token_of(watcher(election, county)), local(election, 12))

    assert response.status_code in (403, 404), response.content


def _retire_signing_key(commissioner) -> None:
    from accounts.audit import Actor
    from accounts.credentials.keys import active_signing_key, signing_key_retire, signing_key_rotate

    old = active_signing_key()
    actor = Actor(user=commissioner)
    signing_key_rotate(actor=actor)
    signing_key_retire(actor=actor, key_id=old.key_id)


def test_a_token_of_a_retired_key_is_refused_online_and_in_a_sync(tablet, place, election, county, commissioner):
    from tests.election_day_helpers import event, upload

    token = token_of(watcher(election, county))
    _retire_signing_key(commissioner)

    online = post(tablet, place, token, local(election, 12))
    synced = upload(tablet, [event("check_in", token, local(election, 12, 1))])

    assert online.json()["outcome"] == "refused", online.json()
    assert synced.status_code == 200, synced.content
    assert synced.json()["results"][0]["result"] == "refused", synced.json()
    assert synced.json()["results"][0]["reason"] == "unknown_key"
    assert not Presence.objects.exists()

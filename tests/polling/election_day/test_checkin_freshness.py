"""What a check-in reads fresh on every post, though verification keeps decoded public keys in process: a revocation
refuses the very next check-in, a key rotated in verifies at once, a retired key stops verifying at once — on this
connection (here, both databases) and on another (``test_checkin_freshness_pg``, PostgreSQL)."""

from __future__ import annotations

import datetime as dt

import pytest

from accounts.audit import Actor
from accounts.credentials import issuing, keys, signing
from accounts.models import SigningKey
from polling.models import Presence, PresenceEvent
from tests.election_day_helpers import at_the_door, day_long_tablet_client, local, post, token_of, watcher
from tests.helpers import seed_reference_data

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _seeded(db, noon):
    seed_reference_data()


@pytest.fixture
def tablet_client(place, poll_worker, commissioner):
    return day_long_tablet_client(place, poll_worker, commissioner)


def answer(client, place, token: str, at: dt.datetime, what: str = "check-ins") -> tuple[int, str | None]:
    response = post(client, place, token, at, what=what)
    return response.status_code, response.json()["reason"]


def test_a_revocation_refuses_the_very_next_check_in(tablet_client, place, election, county, commissioner):
    credential = watcher(election, county)
    token = token_of(credential)
    assert answer(tablet_client, place, token, local(election, 10)) == (201, None)
    assert answer(tablet_client, place, token, local(election, 10, 5), "check-outs") == (201, None)
    with at_the_door(local(election, 10, 6)):
        issuing.credential_revoke(actor=Actor(user=commissioner), credential_id=credential.pk, reason="Lost badge")
    assert answer(tablet_client, place, token, local(election, 10, 7)) == (200, "revoked")
    assert not Presence.objects.exists()


def test_a_key_rotated_in_verifies_at_once_and_the_previous_key_still_does(
    tablet_client, place, election, county, commissioner
):
    printed = token_of(watcher(election, county, appointed_by_name="Blue Party"))  # signed by the first key
    assert answer(tablet_client, place, printed, local(election, 10)) == (201, None)  # caches warm
    keys.signing_key_rotate(actor=Actor(user=commissioner))
    token = token_of(watcher(election, county, appointed_by_name="Green Party"))
    assert issuing_key_id(token) == SigningKey.objects.get(active=True).key_id != issuing_key_id(printed)
    assert answer(tablet_client, place, token, local(election, 10, 1)) == (201, None)
    assert answer(tablet_client, place, printed, local(election, 10, 2), "check-outs") == (201, None)


def test_a_retired_key_refuses_the_very_next_check_in(tablet_client, place, election, county, commissioner):
    credential = watcher(election, county)
    token = token_of(credential)
    assert answer(tablet_client, place, token, local(election, 10)) == (201, None)  # its key decoded and cached
    old = SigningKey.objects.get(active=True).key_id
    keys.signing_key_rotate(actor=Actor(user=commissioner))
    keys.signing_key_retire(actor=Actor(user=commissioner), key_id=old)
    assert answer(tablet_client, place, token, local(election, 10, 5), "check-outs") == (200, "unknown_key")
    assert PresenceEvent.objects.filter(reason="unknown_key").count() == 1
    assert Presence.objects.filter(credential=credential).exists()  # the refused check-out changed nothing


def test_a_key_changed_under_the_same_id_is_never_answered_from_the_cache(election, county, commissioner):
    """The decoded keys are cached by the stored text, not by key id: a database restored with other keys under the
    same ids is read as it is."""
    key = keys.active_signing_key()
    first = keys.verifying_keys()[key.key_id]
    other = keys.signing_key_rotate(actor=Actor(user=commissioner))
    SigningKey.objects.filter(pk=key.pk).update(public_key=other.public_key)
    assert keys.verifying_keys()[key.key_id] != first
    assert keys.verifying_keys()[key.key_id] == keys.verifying_keys()[other.key_id]


def issuing_key_id(token: str) -> int:
    return signing.read_token(token)[2].key_id

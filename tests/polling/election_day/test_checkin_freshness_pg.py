"""A revocation and a key retirement committed on one connection are seen by the very next check-in on another, with
the verifying process's caches warm: run for real on PostgreSQL (a connection per thread, committed transactions),
as gunicorn workers each hold their own connection."""

from __future__ import annotations

import pytest
from django.db import connection

from accounts.audit import Actor
from accounts.credentials import issuing, keys
from accounts.models import SigningKey
from polling.models import PresenceEvent
from tests.election_day_helpers import at_the_door, body, local, token_of, url, watcher
from tests.helpers import in_parallel, seed_reference_data
from tests.people import make_tablet, signed_in

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="needs real concurrent connections and committed transactions (PostgreSQL)",
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
    """Sessions open at noon on election day; each post travels to its own time."""


@pytest.fixture
def tablet_client(place, poll_worker, commissioner):
    device, _ = make_tablet(place, commissioner)
    return signed_in(poll_worker, device=device, ttl_s=24 * 3600)


def on_another_connection(client, place, token: str, at, what: str = "check-ins") -> tuple[int, str | None]:
    """A live post answered on a connection of its own (closed after), as another worker would answer it."""

    def send(_: int) -> tuple[int, str | None]:
        with at_the_door(at):
            response = client.post(url(place, what), body(token, at), format="json")
        return response.status_code, response.json()["reason"]

    (result,) = in_parallel(1, send)
    return result


def test_a_revocation_on_one_connection_refuses_the_next_check_in_on_another(
    tablet_client, place, election, county, commissioner
):
    credential = watcher(election, county)
    token = token_of(credential)
    assert on_another_connection(tablet_client, place, token, local(election, 10)) == (201, None)
    assert on_another_connection(tablet_client, place, token, local(election, 10, 5), "check-outs") == (201, None)
    with at_the_door(local(election, 10, 6)):
        issuing.credential_revoke(actor=Actor(user=commissioner), credential_id=credential.pk, reason="Lost badge")
    assert on_another_connection(tablet_client, place, token, local(election, 10, 7)) == (200, "revoked")


def test_a_key_retired_on_one_connection_refuses_the_next_check_in_on_another(
    tablet_client, place, election, county, commissioner
):
    token = token_of(watcher(election, county))
    assert on_another_connection(tablet_client, place, token, local(election, 10)) == (201, None)
    old = SigningKey.objects.get(active=True).key_id
    keys.signing_key_rotate(actor=Actor(user=commissioner))
    fresh = token_of(watcher(election, county, appointed_by_name="Green Party"))
    assert on_another_connection(tablet_client, place, fresh, local(election, 10, 1)) == (201, None)
    keys.signing_key_retire(actor=Actor(user=commissioner), key_id=old)
    assert on_another_connection(tablet_client, place, token, local(election, 10, 2), "check-outs") == (
        200,
        "unknown_key",
    )
    assert PresenceEvent.objects.filter(reason="unknown_key").count() == 1

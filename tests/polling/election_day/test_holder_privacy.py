"""Who a place may learn a holder's name from: a token that cannot be trusted at the place (another county, state,
place or election) names nobody in a check-in, a sync answer (first or replayed) or the paper log; the tablet's list
of holders answers out-of-scope callers as for a missing place; key retirements and revocations count at once."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from accounts.audit import Actor
from accounts.credentials import issuing
from accounts.models import SigningKey
from tests.election_day_helpers import day_long_tablet_client, event, local, post, token_of, upload, watcher
from tests.factories import ElectionFactory, PollingPlaceFactory
from tests.helpers import seed_reference_data
from tests.people import make_tablet, signed_in

pytestmark = pytest.mark.django_db
MISSING = 999_999_999


def holders(pk: int) -> str:
    return f"/api/v1/polling-places/{pk}/credential-holders/"


@pytest.fixture(autouse=True)
def _seeded(db, noon):
    seed_reference_data()


@pytest.fixture
def tablet_client(place, poll_worker, commissioner):
    return day_long_tablet_client(place, poll_worker, commissioner)


# --- another county's holder ---------------------------------------------------


def test_online_check_in_with_another_countys_token_does_not_name_its_holder(
    tablet_client, place, election, other_county
):
    foreign = watcher(election, other_county, holder_name="Secret Person", appointed_by_name="Other Party")
    response = post(tablet_client, place, token_of(foreign), local(election, 10))
    data = response.json()
    assert data["reason"] == "wrong_place", data
    # The credential-check endpoint (own_county_only=True) gives no holder for another county; check-in should not.
    assert data.get("credential") is None, data


def test_sync_with_another_countys_token_does_not_name_its_holder_even_on_replay(
    tablet_client, place, election, other_county
):
    foreign = watcher(election, other_county, holder_name="Secret Person", appointed_by_name="Other Party")
    one = event("check_in", token_of(foreign), local(election, 10))
    first = upload(tablet_client, [one]).json()["results"][0]
    assert first["result"] == "refused" and first["reason"] == "wrong_place"
    again = upload(tablet_client, [one]).json()["results"][0]
    assert again["result"] == "duplicate"
    assert "Secret Person" not in str(again), again


# --- the list of holders: what held or not ---------------------------------------------------------------------------


def test_holders_outsiders_get_the_same_404_for_missing_and_out_of_scope(
    place, other_place, election, outsider, other_county_commissioner, other_poll_worker, alabama_admin, commissioner
):
    other_device, _ = make_tablet(other_place, commissioner, label="other")
    callers = [
        signed_in(outsider),
        signed_in(other_county_commissioner),
        signed_in(other_poll_worker),
        signed_in(other_poll_worker, device=other_device),
        signed_in(alabama_admin),
    ]
    for client in callers:
        a = client.get(holders(place.pk))
        b = client.get(holders(MISSING))
        assert (a.status_code, a.json()) == (b.status_code, b.json())
        assert a.status_code == 404


def test_holders_a_poll_worker_of_another_election_at_the_same_place_is_refused(
    place, county, election, mississippi, commissioner
):
    from accounts.models import Role
    from tests.factories import UserFactory
    from tests.people import grant

    future = ElectionFactory(jurisdiction=mississippi, date=election.date + dt.timedelta(days=60), name="Runoff")
    worker = grant(UserFactory(username="runoffworker"), Role.POLL_WORKER, polling_place=place, election=future)
    watcher(election, county, holder_name="Today Person")
    device, _ = make_tablet(place, commissioner)
    response = signed_in(worker, device=device).get(holders(place.pk))
    assert "Today Person" not in response.content.decode()


def test_holders_on_a_tablet_bound_to_another_election_is_refused(
    place, county, election, mississippi, poll_worker, commissioner
):
    other = ElectionFactory(jurisdiction=mississippi, date=election.date + dt.timedelta(days=30), name="Special")
    device, _ = make_tablet(place, commissioner, election=other)
    response = signed_in(poll_worker, device=device).get(holders(place.pk))
    assert response.status_code == 403 and response.json()["code"] == "tablet_required"


def test_holders_revoked_tablet_and_expired_session_refused(place, county, election, poll_worker, commissioner):
    watcher(election, county, holder_name="Someone")
    device, _ = make_tablet(place, commissioner)
    client = signed_in(poll_worker, device=device)
    assert client.get(holders(place.pk)).status_code == 200
    device.revoked_at = timezone.now()
    device.revoke_reason = "stolen"
    device.save(update_fields=["revoked_at", "revoke_reason"])
    response = client.get(holders(place.pk))
    assert response.status_code == 401 and "Someone" not in response.content.decode()
    device.revoked_at = None
    device.revoke_reason = ""
    device.save(update_fields=["revoked_at", "revoke_reason"])
    short = signed_in(poll_worker, device=device, ttl_s=1)
    import time_machine

    with time_machine.travel(timezone.now() + dt.timedelta(seconds=5)):
        assert short.get(holders(place.pk)).status_code == 401


def test_holders_ignore_query_parameters_that_would_widen_them(
    place, county, other_county, election, mississippi, poll_worker, commissioner
):
    other_election = ElectionFactory(jurisdiction=mississippi, date=election.date + dt.timedelta(days=9), name="X")
    watcher(other_election, county, holder_name="Other Election Person", valid_on=election)
    watcher(election, other_county, holder_name="Other County Person")
    device, _ = make_tablet(place, commissioner)
    client = signed_in(poll_worker, device=device)
    for qs in ("", f"?election={other_election.pk}", f"?county={other_county.pk}", "?all=1"):
        text = client.get(holders(place.pk) + qs).content.decode()
        assert "Other Election Person" not in text and "Other County Person" not in text


def test_holders_a_credential_listing_another_place_of_the_county_is_not_listed(
    place, county, election, poll_worker, commissioner
):
    elsewhere = PollingPlaceFactory(county=county, code="ELSE")
    watcher(election, county, places=[elsewhere], holder_name="Elsewhere Person")
    device, _ = make_tablet(place, commissioner)
    text = signed_in(poll_worker, device=device).get(holders(place.pk)).content.decode()
    assert "Elsewhere Person" not in text


# --- a retired key / revoked credential refused on the very next request ------------------------------------------


def test_a_retired_key_refuses_the_next_check_in(tablet_client, place, election, county):
    credential = watcher(election, county)
    token = token_of(credential)
    assert post(tablet_client, place, token, local(election, 10)).json()["outcome"] == "accepted"
    SigningKey.objects.update(active=False, retired_at=timezone.now())
    response = post(tablet_client, place, token, local(election, 11), what="check-outs")
    assert response.json().get("outcome") == "refused", response.json()


def test_a_revocation_refuses_the_next_live_check_in(tablet_client, place, election, county, commissioner):
    credential = watcher(election, county)
    token = token_of(credential)
    assert post(tablet_client, place, token, local(election, 10)).json()["outcome"] == "accepted"
    post(tablet_client, place, token, local(election, 10, 5), what="check-outs")
    issuing.credential_revoke(actor=Actor(user=commissioner), credential_id=credential.pk, reason="lost badge")
    response = post(tablet_client, place, token, local(election, 13))
    assert response.json()["outcome"] == "refused" and response.json()["reason"] == "revoked", response.json()


def test_sync_batch_with_a_retired_key_is_refused(tablet_client, place, election, county):
    token = token_of(watcher(election, county))
    SigningKey.objects.update(active=False, retired_at=timezone.now())
    r = upload(tablet_client, [event("check_in", token, local(election, 10))]).json()["results"][0]
    assert r["result"] == "refused", r


def test_the_paper_log_of_a_place_does_not_name_another_countys_holder(tablet_client, place, election, other_county):
    foreign = watcher(election, other_county, holder_name="Secret Person", appointed_by_name="Other Party")
    post(tablet_client, place, token_of(foreign), local(election, 10))
    response = tablet_client.get(f"/api/v1/polling-places/{place.pk}/paper/log.csv")
    assert response.status_code == 200, response.content[:200]
    assert "Secret Person" not in response.content.decode()


def test_check_in_with_a_token_for_another_place_of_the_county_names_no_holder_the_list_withholds(
    tablet_client, place, county, election
):
    elsewhere = PollingPlaceFactory(county=county, code="ELSE2")
    credential = watcher(election, county, places=[elsewhere], holder_name="Elsewhere Person")
    listed = tablet_client.get(holders(place.pk)).content.decode()
    assert "Elsewhere Person" not in listed
    data = post(tablet_client, place, token_of(credential), local(election, 10)).json()
    assert data["reason"] == "wrong_place"
    assert data.get("credential") is None, data


def test_another_places_tablet_replaying_an_event_id_learns_nothing(
    tablet_client, place, other_place, county, election, other_poll_worker, other_county_commissioner
):
    credential = watcher(election, county, holder_name="Private Holder")
    one = event("check_in", token_of(credential), local(election, 10))
    assert upload(tablet_client, [one]).json()["results"][0]["result"] == "accepted"
    other = day_long_tablet_client(other_place, other_poll_worker, other_county_commissioner)
    for response in (
        upload(other, [one]),
        post(other, other_place, one["token"], local(election, 10), event_id=one["event_id"]),
    ):
        assert "Private Holder" not in response.content.decode(), response.content


@pytest.mark.parametrize("pk", ["0", "9223372036854775807", "9223372036854775808", "99999999999999999999999999"])
def test_holders_huge_ids_are_a_json_404_not_a_500(commissioner, pk):
    response = signed_in(commissioner).get(f"/api/v1/polling-places/{pk}/credential-holders/")
    assert response.status_code == 404, response.content[:300]
    assert response.json()["code"] == "not_found"

"""POST /api/v1/polling-places/{id}/check-ins/ and …/check-outs/, GET …/roster/: who may record, every refusal,
idempotent replays, quotas, and the roster with its ETag."""

from __future__ import annotations

import base64
import datetime as dt
import uuid
from typing import Any
from unittest import mock

import pytest

from accounts.models import AuditEvent, Role
from polling.election_day import presence
from polling.geography import selectors as geography_selectors
from polling.models import Presence, PresenceEvent, PresenceLedger
from tests.election_day_helpers import body, day_long_tablet_client, local, post, token_of, url, watcher
from tests.factories import ElectionFactory, PollingPlaceFactory, UserFactory
from tests.helpers import seed_reference_data
from tests.people import grant as _grant
from tests.people import make_tablet, signed_in


@pytest.fixture(autouse=True)
def _seeded(db, noon):
    """The server's clock at noon on election day (people sign in then); each live post travels to its own time
    (``tests.election_day_helpers.post``), as a check-in is judged at the server's time of receipt."""
    seed_reference_data()


@pytest.fixture
def tablet_client(place, poll_worker, commissioner):
    """The poll worker on a tablet of ``place``, signed in for the whole of election day."""
    return day_long_tablet_client(place, poll_worker, commissioner)


# --- who may record -----------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_anonymous_is_401_and_nothing_is_stored(place, election, county):
    from rest_framework.test import APIClient

    token = token_of(watcher(election, county))
    response = APIClient().post(url(place), body(token, local(election, 10)), format="json")
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"
    assert PresenceEvent.objects.count() == 0


@pytest.mark.django_db
def test_a_commissioner_without_a_tablet_is_refused_403_tablet_required(place, election, county, commissioner):
    token = token_of(watcher(election, county))
    response = post(signed_in(commissioner), place, token, local(election, 10))
    assert response.status_code == 403
    assert response.json()["code"] == "tablet_required"
    assert PresenceEvent.objects.count() == 0


@pytest.mark.django_db
def test_a_poll_worker_of_another_place_does_not_see_this_place(place, other_place, election, county, commissioner):
    other_worker = _grant(UserFactory(username="w2"), Role.POLL_WORKER, polling_place=other_place, election=election)
    device, _ = make_tablet(other_place, commissioner)
    token = token_of(watcher(election, county))
    response = post(signed_in(other_worker, device=device), place, token, local(election, 10))
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
    assert PresenceEvent.objects.count() == 0


@pytest.mark.django_db
def test_the_right_worker_on_a_tablet_of_another_place_is_refused(place, other_place, election, county, poll_worker):
    device, _ = make_tablet(other_place, poll_worker)
    token = token_of(watcher(election, county))
    response = post(signed_in(poll_worker, device=device), place, token, local(election, 10))
    assert response.status_code == 403
    assert response.json()["code"] == "tablet_required"
    assert PresenceEvent.objects.count() == 0


@pytest.mark.django_db
def test_the_right_worker_on_the_right_tablet_checks_a_watcher_in(tablet_client, place, election, county):
    credential = watcher(election, county, holder_name="Fannie Lou Hamer", appointed_by_name="Freedom Party")
    token = token_of(credential)
    audits = AuditEvent.objects.count()
    event_id = uuid.uuid4()
    with mock.patch.object(presence.logger, "info") as log:
        response = post(tablet_client, place, token, local(election, 10), event_id=event_id)
    assert response.status_code == 201, response.content
    logged = log.call_args.args
    assert event_id in logged and tablet_client.session_obj.user.pk in logged  # who did it is logged
    data = response.json()
    assert data["outcome"] == "accepted" and data["reason"] is None
    assert data["event_id"] == str(event_id) and data["roster_version"] == 1
    assert data["credential"]["serial"] == credential.serial
    event = PresenceEvent.objects.get()
    assert (event.kind, event.outcome, event.credential, event.device) == (
        "check_in",
        "accepted",
        credential,
        tablet_client.device,
    )
    assert event.worker == tablet_client.session_obj.user and event.election == election
    assert event.occurred_at == local(election, 10) and event.hlc > 0
    assert Presence.objects.get().credential == credential
    assert AuditEvent.objects.count() == audits  # the presence log is its own record


@pytest.mark.django_db
def test_a_poll_manager_may_record_too(place, election, county, poll_manager, commissioner):
    device, _ = make_tablet(place, commissioner)
    response = post(
        signed_in(poll_manager, device=device), place, token_of(watcher(election, county)), local(election, 9)
    )
    assert response.status_code == 201


@pytest.mark.django_db
def test_a_missing_offset_or_bad_event_id_is_400_and_stores_nothing(tablet_client, place, election, county):
    token = token_of(watcher(election, county))
    naive = {"token": token, "event_id": str(uuid.uuid4()), "occurred_at": "2026-11-03T10:00:00"}
    response = tablet_client.post(url(place), naive, format="json")
    assert response.status_code == 400 and "occurred_at" in response.json()["errors"]
    bad_id = {"token": token, "event_id": "nope", "occurred_at": local(election, 10).isoformat()}
    response = tablet_client.post(url(place), bad_id, format="json")
    assert response.status_code == 400 and "event_id" in response.json()["errors"]
    assert PresenceEvent.objects.count() == 0


# --- refusals -----------------------------------------------------------------------------------------------------


def forged(token: str) -> str:
    raw = bytearray(base64.b32decode(token + "=" * (-len(token) % 8)))
    raw[-1] ^= 0x01
    return base64.b32encode(bytes(raw)).decode().rstrip("=")


def refused(client: Any, place: Any, token: str, at: dt.datetime, *, what: str = "check-ins") -> str:
    before = PresenceEvent.objects.count()
    response = post(client, place, token, at, what=what)
    data = response.json()
    assert data["outcome"] == "refused", data
    assert response.status_code == (409 if data["reason"] == "quota_full" else 200)
    assert data["code"] == data["reason"] and data["detail"]
    event = PresenceEvent.objects.get(event_id=data["event_id"])  # a refusal is stored too
    assert event.outcome == "refused" and event.reason == data["reason"]
    assert PresenceEvent.objects.count() == before + 1
    return data["reason"]


@pytest.mark.django_db
def test_every_token_refusal_is_stored_with_its_reason(tablet_client, place, election, county, mississippi):
    at = local(election, 10)
    good = watcher(election, county)
    assert refused(tablet_client, place, forged(token_of(good)), at) == "bad_signature"
    assert refused(tablet_client, place, "not-a-token", at) == "malformed"
    day = dt.datetime.combine(election.date, dt.time(0), tzinfo=dt.UTC)
    expired = watcher(election, county, valid_from=day, valid_until=day + dt.timedelta(hours=1))
    assert refused(tablet_client, place, token_of(expired), at) == "expired"
    revoked = watcher(
        election,
        county,
        status="revoked",
        revoked_at=at - dt.timedelta(hours=1),
        revocation_reason="Lost badge",
    )
    assert refused(tablet_client, place, token_of(revoked), at) == "revoked"
    elsewhere = PollingPlaceFactory(county=county, code="HINDS-2", name="Elsewhere")
    assert refused(tablet_client, place, token_of(watcher(election, county, places=[elsewhere])), at) == "wrong_place"
    later = ElectionFactory(jurisdiction=mississippi, name="Runoff", date=election.date + dt.timedelta(days=21))
    assert refused(tablet_client, place, token_of(watcher(later, county, valid_on=election)), at) == "wrong_election"
    assert Presence.objects.count() == 0
    assert PresenceLedger.objects.get().roster_version == 0


@pytest.mark.django_db
def test_outside_polling_hours_is_polls_closed(tablet_client, place, election, county):
    token = token_of(watcher(election, county))
    assert refused(tablet_client, place, token, local(election, 6, 59)) == "polls_closed"
    assert refused(tablet_client, place, token, local(election, 19)) == "polls_closed"
    # The offset is honoured: 13:00 UTC is 07:00 or 08:00 in Chicago.
    utc = dt.datetime.combine(election.date, dt.time(13), tzinfo=dt.UTC)
    assert post(tablet_client, place, token, utc).status_code == 201


@pytest.mark.django_db
def test_checking_in_twice_or_out_while_outside_is_recorded_with_a_notice(tablet_client, place, election, county):
    """The roster as it stands may be missing events recorded offline, so neither scan is refused: both are recorded,
    the tablet is told, and the timeline decides (a check-out nothing explains becomes an anomaly for review)."""
    from polling.models import PresenceAnomaly

    credential = watcher(election, county)
    token = token_of(credential)

    def scan(at: dt.datetime, what: str = "check-ins") -> tuple[int, str | None]:
        response = post(tablet_client, place, token, at, what=what)
        assert response.json()["outcome"] == "accepted" and response.json()["reason"] is None
        return response.status_code, response.json()["notice"]

    assert scan(local(election, 10), "check-outs") == (201, "not_inside")
    assert list(PresenceAnomaly.objects.values_list("code", "status")) == [("check_out_without_check_in", "open")]
    assert scan(local(election, 10, 5)) == (201, None)
    assert scan(local(election, 10, 6)) == (201, "already_inside")
    assert list(Presence.objects.values_list("credential__serial", flat=True)) == [credential.serial]
    assert scan(local(election, 11), "check-outs") == (201, None)
    assert Presence.objects.count() == 0
    assert scan(local(election, 11, 1), "check-outs") == (201, "not_inside")
    assert PresenceAnomaly.objects.filter(status="open").count() == 2
    assert scan(local(election, 12)) == (201, None)  # back in
    assert Presence.objects.count() == 1
    assert PresenceLedger.objects.get().roster_version == 6


@pytest.mark.django_db
def test_two_watchers_per_party_then_409_quota_full(tablet_client, place, election, county):
    at = local(election, 10)
    party = [watcher(election, county, appointed_by_name="Blue Party") for _ in range(3)]
    for credential in party[:2]:
        assert post(tablet_client, place, token_of(credential), at).status_code == 201
    response = post(tablet_client, place, token_of(party[2]), at)
    assert response.status_code == 409
    assert response.json()["code"] == "quota_full" and response.json()["detail"]
    assert PresenceEvent.objects.filter(reason="quota_full").count() == 1
    # Another party is counted apart; observers have no rule in Mississippi.
    assert (
        post(tablet_client, place, token_of(watcher(election, county, appointed_by_name="Red Party")), at).status_code
        == 201
    )
    for n in range(4):
        observer = watcher(election, county, kind="federal_observer", appointed_by_kind="", appointed_by_name="")
        assert post(tablet_client, place, token_of(observer), at).status_code == 201, n
    # One leaves: a seat frees up. (Later: a check-in is judged at the server's time of receipt, so these come after.)
    later = at + dt.timedelta(minutes=1)
    assert post(tablet_client, place, token_of(party[0]), later, what="check-outs").status_code == 201
    assert post(tablet_client, place, token_of(party[2]), later + dt.timedelta(minutes=1)).status_code == 201


@pytest.mark.django_db
def test_one_watcher_per_candidate(tablet_client, place, election, county):
    at = local(election, 10)
    first, second = (watcher(election, county, appointed_by_kind="candidate", appointed_by_name="J. Doe") for _ in "12")
    assert post(tablet_client, place, token_of(first), at).status_code == 201
    assert refused(tablet_client, place, token_of(second), at) == "quota_full"


# --- idempotency --------------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_same_event_id_again_returns_the_first_answer_and_stores_nothing(tablet_client, place, election, county):
    token = token_of(watcher(election, county))
    event_id = uuid.uuid4()
    first = post(tablet_client, place, token, local(election, 10), event_id=event_id)
    assert first.status_code == 201
    counts = (PresenceEvent.objects.count(), Presence.objects.count(), PresenceLedger.objects.get().roster_version)
    again = post(tablet_client, place, token, local(election, 10), event_id=event_id)
    assert (again.status_code, again.json()) == (201, first.json())
    assert again.headers["Idempotent-Replayed"] == "true"
    assert (
        PresenceEvent.objects.count(),
        Presence.objects.count(),
        PresenceLedger.objects.get().roster_version,
    ) == counts
    # A refusal replays as a refusal, even after the state changed.
    refused_id = uuid.uuid4()
    other = token_of(watcher(election, county, appointed_by_name="Other"))
    refusal = post(tablet_client, place, other, local(election, 5), event_id=refused_id)
    assert refusal.json()["reason"] == "polls_closed"
    assert post(tablet_client, place, other, local(election, 11)).status_code == 201
    replay = post(tablet_client, place, other, local(election, 5), event_id=refused_id)
    assert (replay.status_code, replay.json()) == (200, refusal.json())


@pytest.mark.django_db
def test_the_same_event_id_with_another_body_is_422(tablet_client, place, election, county):
    token = token_of(watcher(election, county))
    event_id = uuid.uuid4()
    assert post(tablet_client, place, token, local(election, 10), event_id=event_id).status_code == 201
    for response in (
        post(tablet_client, place, token, local(election, 10, 1), event_id=event_id),
        post(tablet_client, place, token, local(election, 10), event_id=event_id, what="check-outs"),
        post(tablet_client, place, token_of(watcher(election, county)), local(election, 10), event_id=event_id),
    ):
        assert response.status_code == 422
        assert response.json()["code"] == "event_id_reused"
    assert PresenceEvent.objects.count() == 1


@pytest.mark.django_db
def test_the_same_instant_in_another_offset_is_the_same_event(tablet_client, place, election, county):
    token = token_of(watcher(election, county))
    event_id = uuid.uuid4()
    at = local(election, 10)
    first = post(tablet_client, place, token, at, event_id=event_id)
    again = post(tablet_client, place, token, at.astimezone(dt.UTC), event_id=event_id)
    assert again.json() == first.json()


# --- append-only log and clock ------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_events_cannot_be_edited_or_deleted_and_the_clock_only_goes_forward(tablet_client, place, election, county):
    token = token_of(watcher(election, county))
    post(tablet_client, place, token, local(election, 10))
    post(tablet_client, place, token, local(election, 9), what="check-outs")  # tablet time may go backwards
    post(tablet_client, place, token, local(election, 8))
    event = PresenceEvent.objects.first()
    with pytest.raises(PermissionError):
        event.save()
    with pytest.raises(PermissionError):
        event.delete()
    with pytest.raises(PermissionError):
        PresenceEvent.objects.all().update(reason="x")
    with pytest.raises(PermissionError):
        PresenceEvent.objects.all().delete()
    hlcs = list(PresenceEvent.objects.order_by("pk").values_list("hlc", flat=True))
    assert hlcs == sorted(hlcs) and len(set(hlcs)) == 3
    assert PresenceLedger.objects.get().last_hlc == hlcs[-1]


# --- roster -------------------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_roster_lists_who_is_inside_with_an_etag(tablet_client, place, election, county, poll_worker):
    poll_worker.first_name, poll_worker.last_name = "Ann", "Worker"
    poll_worker.save()
    in_ = watcher(election, county, holder_name="Medgar Evers", appointed_by_name="Blue Party")
    gone = watcher(election, county, holder_name="Left Early")
    checked_in = post(tablet_client, place, token_of(in_), local(election, 9, 30)).json()
    post(tablet_client, place, token_of(gone), local(election, 9, 40))
    post(tablet_client, place, token_of(gone), local(election, 9, 50), what="check-outs")
    response = tablet_client.get(url(place, "roster"))
    assert response.status_code == 200
    data = response.json()
    assert data["roster_version"] == 3 and data["count"] == 1 and data["election"] == election.pk
    (person,) = data["inside"]
    assert person["serial"] == in_.serial and person["holder_name"] == "Medgar Evers"
    assert person["kind"] == "poll_watcher"
    assert (person["appointed_by_kind"], person["appointed_by_name"]) == ("party", "Blue Party")
    # Since when, by the server's clock: an online post is placed at its receipt unless the tablet's clock agrees.
    assert person["since"] == checked_in["effective_at"]
    assert person["checked_in_by"] == "Ann Worker"
    etag = response.headers["ETag"]
    cached = tablet_client.get(url(place, "roster"), HTTP_IF_NONE_MATCH=etag)
    assert cached.status_code == 304
    post(tablet_client, place, token_of(gone), local(election, 10))
    fresh = tablet_client.get(url(place, "roster"), HTTP_IF_NONE_MATCH=etag)
    assert fresh.status_code == 200 and fresh.headers["ETag"] != etag and fresh.json()["count"] == 2
    # A refusal changes nothing, so the ETag holds.
    assert post(tablet_client, place, token_of(gone), local(election, 20)).json()["reason"] == "polls_closed"
    assert tablet_client.get(url(place, "roster"), HTTP_IF_NONE_MATCH=fresh.headers["ETag"]).status_code == 304


@pytest.mark.django_db
def test_who_may_read_the_roster(place, other_place, election, county, commissioner, state_admin):
    from rest_framework.test import APIClient

    assert APIClient().get(url(place, "roster")).status_code == 401
    other_commish = _grant(UserFactory(username="madison"), Role.COMMISSIONER, county=other_place.county)
    other_worker = _grant(UserFactory(username="w2"), Role.POLL_WORKER, polling_place=other_place, election=election)
    worker = _grant(UserFactory(username="w1"), Role.POLL_WORKER, polling_place=place, election=election)
    for user, status in (
        (other_commish, 404),
        (other_worker, 404),
        (UserFactory(username="nobody"), 404),
        (commissioner, 200),
        (state_admin, 200),
        (worker, 200),
    ):
        response = signed_in(user).get(url(place, "roster"))
        assert response.status_code == status, user
        assert "code" in response.json() if status == 404 else response.json()["inside"] == []


@pytest.mark.django_db
def test_a_holder_inside_can_check_out_after_polls_close_or_revocation(tablet_client, place, election, county):
    start, _ = geography_selectors.election_day_bounds(election, county)
    late = watcher(election, county, valid_from=start, valid_until=local(election, 18))
    revoked_later = watcher(election, county)
    for credential in (late, revoked_later):
        assert post(tablet_client, place, token_of(credential), local(election, 9)).status_code == 201
    type(revoked_later).objects.filter(pk=revoked_later.pk).update(
        status="revoked", revoked_at=local(election, 12), revocation_reason="Misconduct"
    )
    after_close = post(tablet_client, place, token_of(late), local(election, 20), what="check-outs")
    assert after_close.status_code == 201, after_close.json()
    revoked = post(tablet_client, place, token_of(revoked_later), local(election, 13), what="check-outs")
    assert revoked.status_code == 201, revoked.json()
    assert Presence.objects.count() == 0
    # ...but a revoked credential cannot come back in, and a forged token cannot check anyone out.
    assert refused(tablet_client, place, token_of(revoked_later), local(election, 14)) == "revoked"
    assert refused(tablet_client, place, forged(token_of(late)), local(election, 14), what="check-outs") == (
        "bad_signature"
    )


@pytest.mark.django_db
def test_the_roster_costs_the_same_queries_for_one_or_many_inside(tablet_client, place, election, county):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def roster_queries() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert tablet_client.get(url(place, "roster")).status_code == 200
        return len(queries)

    post(tablet_client, place, token_of(watcher(election, county, appointed_by_name="A")), local(election, 9))
    one = roster_queries()
    for name in "BCDE":
        post(tablet_client, place, token_of(watcher(election, county, appointed_by_name=name)), local(election, 9))
    assert roster_queries() == one


@pytest.mark.django_db
def test_more_of_the_permission_matrix(place, election, county, poll_worker, commissioner, state_admin, mississippi):
    token = token_of(watcher(election, county))
    at = local(election, 10)
    madison = _grant(UserFactory(username="madison"), Role.COMMISSIONER, county=other_place_of(mississippi).county)
    assert post(signed_in(madison), place, token, at).status_code == 404
    assert post(signed_in(state_admin), place, token, at).json()["code"] == "tablet_required"
    assert post(signed_in(poll_worker), place, token, at).json()["code"] == "tablet_required"  # not on a tablet
    # A tablet of this place kept for another election.
    runoff = ElectionFactory(jurisdiction=mississippi, name="Runoff", date=election.date + dt.timedelta(days=21))
    device, _ = make_tablet(place, commissioner, election=runoff)
    response = post(signed_in(poll_worker, device=device), place, token, at)
    assert (response.status_code, response.json()["code"]) == (403, "tablet_required")
    # A revoked tablet is signed out.
    device, _ = make_tablet(place, commissioner, label="Table 9")
    client = signed_in(poll_worker, device=device)
    type(device).objects.filter(pk=device.pk).update(
        revoked_at=local(election, 8), revoke_reason="Stolen", revoked_by=commissioner
    )
    assert post(client, place, token, at).status_code == 401
    assert PresenceEvent.objects.count() == 0
    assert signed_in(poll_worker).post(url(PollingPlaceFactory.build(pk=999_999)), {}, format="json").status_code == 404


def other_place_of(mississippi: Any) -> Any:
    from tests.factories import CountyFactory

    return PollingPlaceFactory(county=CountyFactory(fips="28089", name="Madison", jurisdiction=mississippi))


@pytest.mark.django_db
def test_the_roster_election_parameter(tablet_client, place, election):
    assert tablet_client.get(url(place, "roster"), {"election": "x"}).json()["code"] == "invalid"
    response = tablet_client.get(url(place, "roster"), {"election": 999_999})
    assert (response.status_code, response.json()["code"]) == (404, "no_election")
    response = tablet_client.get(url(place, "roster"), {"election": election.pk})
    assert response.status_code == 200 and response.json()["roster_version"] == 0

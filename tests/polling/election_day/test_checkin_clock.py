"""An online check-in is judged at the server-corrected time, as an offline one is (issue 10, item 2): never at a
time the tablet chooses. Tablet times are bounded (400 naming the field, nothing stored), and an online post that
waited in the tablet's queue records the same anomalies sync records for the same event."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.utils import timezone

from polling.models import Presence, PresenceAnomaly, PresenceEvent
from tests.election_day_helpers import at_the_door, body, day_long_tablet_client, event, local, token_of, upload, url
from tests.election_day_helpers import watcher as _watcher
from tests.helpers import seed_reference_data

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _seeded(db, noon):
    """The server's clock reads 12:00 on election day (ticking)."""
    seed_reference_data()


@pytest.fixture
def tablet_client(place, poll_worker, commissioner):
    return day_long_tablet_client(place, poll_worker, commissioner)


def watcher(election: Any, county: Any, **fields: Any) -> Any:
    return _watcher(election, county, **fields)


def revoked_at(credential: Any, at: dt.datetime) -> Any:
    type(credential).objects.filter(pk=credential.pk).update(
        status="revoked", revoked_at=at, revocation_reason="Lost badge"
    )
    credential.refresh_from_db()
    return credential


def check_in(client: Any, place: Any, payload: dict[str, Any]) -> Any:
    return client.post(url(place), payload, format="json")


def stored() -> tuple[int, int, int]:
    return PresenceEvent.objects.count(), Presence.objects.count(), PresenceAnomaly.objects.count()


# --- judged at the effective time ---------------------------------------------------------------------------------


def test_a_live_check_in_written_an_hour_back_is_judged_at_its_receipt(tablet_client, place, election, county):
    """The hole: a revoked credential, occurred_at an hour back (before the revocation), no sent_at: accepted with no
    anomaly. A post sent as it is recorded is placed at its receipt (its clock is off), and judged there: revoked."""
    credential = revoked_at(watcher(election, county), local(election, 11, 30))
    response = check_in(tablet_client, place, body(token_of(credential), local(election, 11)))
    data = response.json()
    assert (response.status_code, data["outcome"], data["reason"]) == (200, "refused", "revoked"), data
    assert Presence.objects.count() == 0


def test_polling_hours_are_judged_at_the_receipt_not_the_tablets_time(tablet_client, place, election, county):
    credential = watcher(election, county)
    with at_the_door(local(election, 19, 30)):  # polls closed at 19:00; the tablet claims noon
        response = check_in(tablet_client, place, body(token_of(credential), local(election, 12)))
    assert (response.status_code, response.json()["reason"]) == (200, "polls_closed"), response.json()
    assert Presence.objects.count() == 0


def test_a_credential_not_yet_valid_at_the_receipt_is_refused_whatever_the_tablet_writes(
    tablet_client, place, election, county
):
    start = local(election, 13)
    credential = watcher(election, county, valid_from=start, valid_until=start + dt.timedelta(hours=4))
    response = check_in(tablet_client, place, body(token_of(credential), local(election, 14)))  # a "future" time
    assert response.json()["reason"] == "not_yet_valid", response.json()


# --- bounds: 400 naming the field, nothing stored -----------------------------------------------------------------


@pytest.mark.parametrize(
    "payload, code, field",
    [
        (lambda now: {"occurred_at": (now + dt.timedelta(days=2)).isoformat()}, "occurred_at_in_future", "occurred_at"),
        (lambda now: {"occurred_at": "9999-12-31T23:59:59+00:00"}, "occurred_at_in_future", "occurred_at"),
        (
            lambda now: {"occurred_at": now.isoformat(), "sent_at": (now + dt.timedelta(days=3)).isoformat()},
            "sent_at_in_future",
            "sent_at",
        ),
        (
            lambda now: {
                "occurred_at": (now - dt.timedelta(days=7)).isoformat(),
                "sent_at": now.isoformat(),
            },
            "occurred_at_too_early",
            "occurred_at",
        ),
        (
            lambda now: {"occurred_at": "0001-01-01T00:00:00+00:00", "sent_at": now.isoformat()},
            "occurred_at_too_early",
            "occurred_at",
        ),
        (
            lambda now: {"occurred_at": now.isoformat(), "sent_at": "9999-12-31T23:59:59+00:00"},
            "sent_at_in_future",
            "sent_at",
        ),
    ],
    ids=["occurred-2-days-ahead", "occurred-9999", "sent-3-days-ahead", "a-week-before", "year-1", "sent-9999"],
)
@pytest.mark.parametrize("what", ["check-ins", "check-outs"])
def test_tablet_times_out_of_bounds_are_400_and_nothing_is_stored(
    tablet_client, place, election, county, payload, code, field, what
):
    credential = watcher(election, county)
    before = stored()
    response = tablet_client.post(
        url(place, what), body(token_of(credential), timezone.now()) | payload(timezone.now()), format="json"
    )
    assert response.status_code == 400, response.content
    assert (response.json()["code"], list(response.json()["errors"])) == (code, [field]), response.json()
    assert stored() == before


def test_a_clock_a_day_slow_or_fast_is_still_placed_by_its_offset(tablet_client, place, election, county):
    """The bounds leave room for a wrong clock (up to a day, as the docs promise): placed by its offset, flagged."""
    fast = dt.timedelta(hours=20)
    recorded = timezone.now() - dt.timedelta(minutes=2)
    payload = body(token_of(watcher(election, county)), recorded + fast) | {
        "sent_at": (timezone.now() + fast).isoformat()
    }
    response = check_in(tablet_client, place, payload)
    assert response.status_code == 201, response.content
    effective = dt.datetime.fromisoformat(response.json()["effective_at"])
    assert abs(effective - recorded) < dt.timedelta(seconds=5)
    assert response.json()["anomalies"] == []


# --- the same anomalies online and offline ------------------------------------------------------------------------


def test_a_queued_check_in_after_the_revocation_is_applied_and_flagged_as_sync_does(
    tablet_client, place, election, county
):
    """A post that waited in the tablet's queue (sent_at now, recorded at 11:00): the tablet let the holder in on its
    own, so, as for an offline event, it is applied and flagged — revoked at 10:30, before it happened."""
    credential = revoked_at(watcher(election, county), local(election, 10, 30))
    payload = body(token_of(credential), local(election, 11)) | {"sent_at": timezone.now().isoformat()}
    response = check_in(tablet_client, place, payload)
    data = response.json()
    assert (response.status_code, data["outcome"], data["anomalies"]) == (
        201,
        "accepted",
        ["check_in_after_revocation"],
    )
    assert PresenceAnomaly.objects.get(credential=credential).code == "check_in_after_revocation"
    assert Presence.objects.filter(credential=credential).exists()


def test_a_revoked_credential_backdated_through_the_queue_is_flagged_online_and_offline(
    tablet_client, place, election, county
):
    """Found by attacking the first fix: refused live as revoked, the same tablet posts it again as "queued" two
    hours back (sent_at now, so no clock correction) — before the revocation by the tablet's word alone. Applied (a
    real offline scan looks the same), but flagged for review, online and through sync."""
    credential = revoked_at(watcher(election, county), local(election, 11, 50))
    live = check_in(tablet_client, place, body(token_of(credential), timezone.now()))
    assert (live.json()["outcome"], live.json()["reason"]) == ("refused", "revoked")
    queued = body(token_of(credential), local(election, 10)) | {"sent_at": timezone.now().isoformat()}
    response = check_in(tablet_client, place, queued)
    assert (response.status_code, response.json()["anomalies"]) == (201, ["uploaded_after_revocation"])
    other = revoked_at(watcher(election, county), local(election, 11, 50))
    synced = upload(tablet_client, [event("check_in", token_of(other), local(election, 9))])
    assert synced.json()["results"][0]["anomalies"] == ["uploaded_after_revocation"], synced.json()
    assert set(PresenceAnomaly.objects.values_list("code", flat=True)) == {"uploaded_after_revocation"}


def _scenario(name: str, election: Any, county: Any) -> tuple[Any, dt.datetime, dt.timedelta]:
    """(credential, when the tablet recorded it by a right clock, how far off the tablet's clock is)."""
    if name == "revoked before":
        return revoked_at(watcher(election, county), local(election, 10)), local(election, 11), dt.timedelta(0)
    if name == "expired":
        start, _ = (local(election, 0), None)
        credential = watcher(election, county, valid_from=start, valid_until=local(election, 10))
        return credential, local(election, 11), dt.timedelta(0)
    if name == "polls closed":
        return watcher(election, county), local(election, 6), dt.timedelta(0)
    if name == "clock a day and more slow":
        return watcher(election, county), local(election, 11), -dt.timedelta(hours=30)
    if name == "revoked after":
        return revoked_at(watcher(election, county), local(election, 11, 30)), local(election, 11), dt.timedelta(0)
    raise AssertionError(name)


@pytest.mark.parametrize(
    "name", ["revoked before", "expired", "polls closed", "clock a day and more slow", "revoked after"]
)
def test_online_and_offline_record_the_same_anomalies(tablet_client, place, election, county, name):
    online, recorded, skew = _scenario(name, election, county)
    offline, _, _ = _scenario(name, election, county)
    payload = body(token_of(online), recorded + skew) | {"sent_at": (timezone.now() + skew).isoformat()}
    posted = check_in(tablet_client, place, payload)
    assert posted.status_code == 201, posted.content
    synced = upload(tablet_client, [event("check_in", token_of(offline), recorded)], skew=skew)
    (result,) = synced.json()["results"]
    assert result["result"] in ("accepted", "anomaly"), result
    assert posted.json()["anomalies"] == result["anomalies"], (posted.json(), result)
    codes = lambda c: sorted(PresenceAnomaly.objects.filter(credential=c).values_list("code", flat=True))  # noqa: E731
    assert codes(online) == codes(offline) == result["anomalies"]
    assert Presence.objects.filter(credential=online).exists() == Presence.objects.filter(credential=offline).exists()


def test_a_replay_of_a_queued_post_gives_the_first_answer(tablet_client, place, election, county):
    credential = revoked_at(watcher(election, county), local(election, 10, 30))
    payload = body(token_of(credential), local(election, 11)) | {"sent_at": timezone.now().isoformat()}
    first = check_in(tablet_client, place, payload)
    again = check_in(
        tablet_client, place, payload | {"sent_at": (timezone.now() + dt.timedelta(seconds=30)).isoformat()}
    )
    assert again.headers["Idempotent-Replayed"] == "true"
    assert (again.status_code, again.json()) == (first.status_code, first.json())
    assert PresenceAnomaly.objects.count() == 1

"""POST /api/v1/sync/: batches recorded offline, out of order, partly uploaded, with clocks off by a day; every
event's result; the anomalies shown to commissioners and their review; the refresh payload."""

from __future__ import annotations

import base64
import datetime as dt
import io
import json
import uuid
from typing import Any

import pytest
import time_machine
from django.db import connection
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accounts.audit import Actor
from accounts.credentials import issuing
from accounts.models import AuditEvent, Role
from polling.election_day import sync
from polling.models import Presence, PresenceAnomaly, PresenceEvent
from tests.election_day_helpers import ANOMALIES, SYNC, body, event, local, post, token_of, upload, watcher
from tests.factories import PollingPlaceFactory, UserFactory
from tests.helpers import seed_reference_data
from tests.people import grant as _grant
from tests.people import make_tablet, signed_in

Code = PresenceAnomaly.Code


@pytest.fixture(autouse=True)
def _seeded(db):
    seed_reference_data()


@pytest.fixture
def tablet(noon, place, poll_worker, commissioner):
    device, _ = make_tablet(place, commissioner)
    client = signed_in(poll_worker, device=device)
    client.device = device
    return client


def results(response: Any) -> list[tuple[str, list[str]]]:
    assert response.status_code == 200, response.content
    return [(r["result"], r["anomalies"]) for r in response.json()["results"]]


def inside(response_or_place: Any, election: Any = None) -> set[str]:
    if election is not None:
        return set(
            Presence.objects.filter(polling_place=response_or_place, election=election).values_list(
                "credential__serial", flat=True
            )
        )
    return {p["serial"] for p in response_or_place.json()["roster"]["inside"]}


def open_anomalies() -> set[tuple[str, str]]:
    return set(PresenceAnomaly.objects.filter(status="open").values_list("event__event_id", "code"))  # (uuid, code)


# --- the happy path and the refresh payload -------------------------------------------------------------------------


def test_a_batch_is_stored_event_by_event_and_the_answer_refreshes_the_tablet(tablet, place, election, county):
    a, b = watcher(election, county), watcher(election, county, appointed_by_name="Other Party")
    batch = [
        event("check_in", token_of(a), local(election, 7, 5)),
        event("check_in", token_of(b), local(election, 7, 10)),
        event("check_out", token_of(b), local(election, 9)),
    ]
    response = upload(tablet, batch)
    assert results(response) == [("accepted", [])] * 3
    data = response.json()
    assert [r["index"] for r in data["results"]] == [0, 1, 2]
    assert [r["event_id"] for r in data["results"]] == [e["event_id"] for e in batch]
    assert data["counts"] == {"accepted": 3, "duplicate": 0, "refused": 0, "anomaly": 0}
    assert inside(response) == {a.serial} == inside(place, election)
    assert data["roster"]["inside"][0]["since"] == local(election, 7, 5).astimezone(dt.UTC).isoformat()
    assert data["keys"]["keys"] and data["keys"]["keys"][0]["algorithm"] == "Ed25519"
    assert data["revoked"] == [] and data["next_since"] and data["scope_hashes"] == []
    assert abs(data["clock_offset_s"]) < 5
    stored = PresenceEvent.objects.order_by("hlc")
    assert [e.source for e in stored] == ["sync"] * 3
    assert all(e.device_id == tablet.device.pk and e.effective_at == e.occurred_at for e in stored)
    assert len({e.hlc for e in stored}) == 3
    assert response["Cache-Control"] == "no-store"


def test_an_empty_batch_just_refreshes(tablet, place, election, county, commissioner):
    credential = watcher(election, county)
    issuing.credential_revoke(actor=Actor(user=commissioner), credential_id=credential.pk, reason="Lost")
    response = upload(tablet, [])
    assert results(response) == []
    assert [r["serial"] for r in response.json()["revoked"]] == [credential.serial]
    later = upload(tablet, [], since=response.json()["next_since"])
    assert [r["serial"] for r in later.json()["revoked"]] == [credential.serial]  # the overlap: dedupe by serial
    much_later = upload(tablet, [], since=local(election, 23).isoformat())
    assert much_later.json()["revoked"] == []


# --- partly uploaded, duplicates, reused ids ------------------------------------------------------------------------


def test_a_batch_sent_again_is_all_duplicates_and_stores_nothing(tablet, place, election, county):
    a = watcher(election, county)
    batch = [event("check_in", token_of(a), local(election, 8)), event("check_out", token_of(a), local(election, 9))]
    first = upload(tablet, batch[:1])  # the first half got through before the signal dropped
    assert results(first) == [("accepted", [])]
    again = upload(tablet, batch)
    assert results(again) == [("duplicate", []), ("accepted", [])]
    assert again.json()["results"][0]["first"]["result"] == "accepted"
    assert PresenceEvent.objects.count() == 2
    assert results(upload(tablet, batch)) == [("duplicate", [])] * 2
    assert PresenceEvent.objects.count() == 2
    assert inside(place, election) == set()


def test_an_event_first_sent_online_is_a_duplicate_when_synced(tablet, place, election, county):
    a = watcher(election, county)
    online = body(token_of(a), local(election, 8))
    assert post(tablet, place, online["token"], local(election, 8), event_id=online["event_id"]).status_code == 201
    response = upload(tablet, [event("check_in", online["token"], local(election, 8), online["event_id"])])
    assert results(response) == [("duplicate", [])]
    assert response.json()["results"][0]["first"]["outcome"] == "accepted"  # the online answer, as first given
    assert PresenceEvent.objects.count() == 1


def test_an_event_id_reused_for_another_event_is_refused_and_not_stored(tablet, place, election, county):
    a, b = watcher(election, county), watcher(election, county, appointed_by_name="B")
    event_id = uuid.uuid4()
    upload(tablet, [event("check_in", token_of(a), local(election, 8), event_id)])
    response = upload(tablet, [event("check_in", token_of(b), local(election, 8), event_id)])
    assert response.json()["results"][0]["reason"] == "event_id_reused"
    assert results(response) == [("refused", [])]
    assert PresenceEvent.objects.count() == 1 and inside(place, election) == {a.serial}


def test_the_same_event_twice_in_one_batch_is_stored_once(tablet, place, election, county):
    e = event("check_in", token_of(watcher(election, county)), local(election, 8))
    assert results(upload(tablet, [e, e])) == [("accepted", []), ("duplicate", [])]
    assert PresenceEvent.objects.count() == 1


# --- out of order ---------------------------------------------------------------------------------------------------


def test_a_check_out_uploaded_before_its_check_in_is_an_anomaly_until_the_check_in_arrives(
    tablet, place, election, county, commissioner
):
    a = watcher(election, county)
    check_in = event("check_in", token_of(a), local(election, 8))
    check_out = event("check_out", token_of(a), local(election, 10))
    first = upload(tablet, [check_out])
    assert results(first) == [("anomaly", [Code.CHECK_OUT_WITHOUT_CHECK_IN])]
    assert inside(place, election) == set()
    second = upload(tablet, [check_in])
    assert results(second) == [("accepted", [])]
    assert inside(place, election) == set()  # in at 8, out at 10: not inside, whatever the arrival order
    row = PresenceAnomaly.objects.get()
    assert row.status == "cleared" and row.cleared_at is not None  # kept, not dropped
    assert results(upload(tablet, [check_out])) == [("duplicate", [])]  # and no longer standing


def test_events_in_reverse_order_give_the_roster_of_true_order(tablet, place, election, county):
    a, b, c = (watcher(election, county, appointed_by_name=n) for n in "ABC")
    script = [
        event("check_in", token_of(a), local(election, 7)),
        event("check_in", token_of(b), local(election, 7, 30)),
        event("check_out", token_of(a), local(election, 8)),
        event("check_in", token_of(c), local(election, 8, 30)),
        event("check_in", token_of(a), local(election, 9)),
        event("check_out", token_of(b), local(election, 9, 30)),
    ]
    for e in reversed(script):
        upload(tablet, [e])
    assert inside(place, election) == {a.serial, c.serial}
    assert open_anomalies() == set()
    roster = tablet.get(f"/api/v1/polling-places/{place.pk}/roster/").json()
    assert [p["serial"] for p in roster["inside"]] == [c.serial, a.serial]  # by when they came in (a: again at 9)


# --- clocks ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("hours", [-24, -5, 0, 3, 24])
def test_a_tablet_clock_off_by_up_to_a_day_lands_events_at_their_true_time(tablet, place, election, county, hours):
    a, b = watcher(election, county), watcher(election, county, appointed_by_name="B")
    skew = dt.timedelta(hours=hours)
    response = upload(
        tablet,
        [
            event("check_in", token_of(a), local(election, 7, 5)),
            event("check_in", token_of(b), local(election, 8)),
            event("check_out", token_of(b), local(election, 11)),
        ],
        skew=skew,
    )
    assert results(response) == [("accepted", [])] * 3  # no "polls closed", no "not valid yet"
    assert abs(response.json()["clock_offset_s"] - skew.total_seconds()) < 5
    assert inside(place, election) == {a.serial}
    for stored in PresenceEvent.objects.all():
        true_time = stored.occurred_at - skew
        assert abs(stored.effective_at - true_time) < dt.timedelta(seconds=5)
        assert abs(stored.clock_offset_ms - skew / dt.timedelta(milliseconds=1)) < 5000


def test_a_clock_off_by_more_than_a_day_is_applied_but_flagged(tablet, place, election, county):
    a = watcher(election, county)
    response = upload(tablet, [event("check_in", token_of(a), local(election, 8))], skew=dt.timedelta(hours=30))
    assert results(response) == [("anomaly", [Code.CLOCK_SKEW])]
    assert inside(place, election) == {a.serial}


def test_a_clock_that_went_back_between_recording_and_upload_is_flagged(tablet, place, election, county):
    """Recorded with a clock an hour fast, then the network set it right before the upload."""
    from django.utils import timezone

    a = watcher(election, county)
    recorded = event("check_in", token_of(a), timezone.now() + dt.timedelta(hours=1))
    response = upload(tablet, [recorded])
    assert results(response) == [("anomaly", [Code.CLOCK_SKEW])]
    stored = PresenceEvent.objects.get()
    assert stored.effective_at <= stored.received_at  # never in the server's future


# --- what the tablet could not know -------------------------------------------------------------------------------


def test_a_check_in_after_revocation_is_applied_flagged_and_the_roster_says_so(
    tablet, place, election, county, commissioner
):
    a, b = watcher(election, county), watcher(election, county, appointed_by_name="B")
    with time_machine.travel(local(election, 9), tick=False):
        issuing.credential_revoke(actor=Actor(user=commissioner), credential_id=a.pk, reason="Lost")
        issuing.credential_revoke(actor=Actor(user=commissioner), credential_id=b.pk, reason="Lost")
    response = upload(
        tablet,
        [
            event("check_in", token_of(a), local(election, 10)),  # after the revocation: the tablet didn't know
            event("check_in", token_of(b), local(election, 8)),  # before it by the tablet's word: applied, flagged
        ],
    )
    # Before the revocation only by the tablet's clock and queue (it reached the server after): a hostile tablet could
    # backdate a revoked watcher in the same way, so a person reviews it.
    assert results(response) == [
        ("anomaly", [Code.CHECK_IN_AFTER_REVOCATION]),
        ("anomaly", [Code.UPLOADED_AFTER_REVOCATION]),
    ]
    roster = {p["serial"]: p for p in response.json()["roster"]["inside"]}
    assert set(roster) == {a.serial, b.serial}  # they are inside: the roster tells the truth
    assert roster[a.serial]["credential_revoked"] and roster[b.serial]["credential_revoked"]
    assert {r["serial"] for r in response.json()["revoked"]} == {a.serial, b.serial}
    # Revoked holders can always leave.
    out = upload(tablet, [event("check_out", token_of(a), local(election, 10, 5))])
    assert results(out) == [("accepted", [])]


def test_a_revoked_credential_of_another_place_is_refused_not_applied(tablet, place, election, county, commissioner):
    elsewhere = watcher(election, county, places=[PollingPlaceFactory(county=county, code="X-8")])
    issuing.credential_revoke(actor=Actor(user=commissioner), credential_id=elsewhere.pk, reason="Lost")
    response = upload(tablet, [event("check_in", token_of(elsewhere), local(election, 10))])
    assert [(r["result"], r["reason"]) for r in response.json()["results"]] == [("refused", "wrong_place")]
    assert inside(place, election) == set()


def test_a_check_in_with_polls_closed_or_outside_validity_is_flagged(tablet, place, election, county):
    a = watcher(election, county)
    late = watcher(election, county, appointed_by_name="Late", valid_from=local(election, 10))
    response = upload(
        tablet,
        [event("check_in", token_of(a), local(election, 6, 30)), event("check_in", token_of(late), local(election, 9))],
    )
    assert results(response) == [("anomaly", [Code.POLLS_CLOSED]), ("anomaly", [Code.CREDENTIAL_NOT_VALID])]


def test_forged_or_foreign_tokens_are_refused_stored_and_kept_off_the_roster(
    tablet, place, other_place, election, county, other_county
):
    genuine = token_of(watcher(election, county))
    raw = bytearray(base64.b32decode(genuine + "=" * (-len(genuine) % 8)))
    raw[-1] ^= 1
    forged = base64.b32encode(bytes(raw)).decode().rstrip("=")
    elsewhere = token_of(watcher(election, county, places=[PollingPlaceFactory(county=county, code="X-9")]))
    response = upload(
        tablet,
        [
            event("check_in", forged, local(election, 8)),
            event("check_in", "not a token", local(election, 8)),
            event("check_in", elsewhere, local(election, 8)),
        ],
    )
    assert [r["reason"] for r in response.json()["results"]] == ["bad_signature", "malformed", "wrong_place"]
    assert results(response) == [("refused", [])] * 3
    assert PresenceEvent.objects.filter(outcome="refused").count() == 3
    assert inside(place, election) == set()


def test_invalid_events_are_refused_one_by_one_and_the_rest_still_land(tablet, place, election, county):
    good = event("check_in", token_of(watcher(election, county)), local(election, 8))
    batch = [
        "not an object",
        good | {"event_id": "nope"},
        good | {"kind": "wave"},
        good | {"occurred_at": "2026-11-03T08:00:00"},  # no offset
        good | {"occurred_at": "NaN"},
        good | {"token": "x" * 600},
        good | {"event_id": str(uuid.uuid4()), "occurred_at": "9999-01-01T00:00:00Z"},
        good,
    ]
    response = tablet.post(SYNC, {"sent_at": local(election, 12).isoformat(), "events": batch}, format="json")
    data = response.json()["results"]
    assert [r["result"] for r in data] == ["refused"] * 7 + ["accepted"]
    assert [r["reason"] for r in data[:7]] == ["invalid"] * 7
    assert set(data[1]["errors"]) == {"event_id"} and set(data[3]["errors"]) == {"occurred_at"}
    assert PresenceEvent.objects.count() == 1


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        ([], "invalid"),
        ({"events": []}, "invalid_sent_at"),
        ({"sent_at": "yesterday", "events": []}, "invalid_sent_at"),
        ({"sent_at": "2026-11-03T12:00:00", "events": []}, "invalid_sent_at"),
        ({"sent_at": "2026-11-03T12:00:00Z", "events": {}}, "invalid"),
        ({"sent_at": "2026-11-03T12:00:00Z", "events": [], "since": "last week"}, "invalid_since"),
        ({"sent_at": "2026-11-03T12:00:00Z", "events": [{}] * (sync.MAX_EVENTS + 1)}, "batch_too_large"),
    ],
)
def test_a_bad_batch_is_400_with_a_code_and_stores_nothing(tablet, payload, code):
    response = tablet.post(SYNC, payload, format="json")
    assert response.status_code == 400 and response.json()["code"] == code and response.json()["detail"]
    assert PresenceEvent.objects.count() == 0


def test_a_body_that_is_not_json_is_400(tablet):
    response = tablet.post(SYNC, "{not json", content_type="application/json")
    assert response.status_code == 400 and response.json()["code"]


# --- the timeline across places and quotas ------------------------------------------------------------------------


@pytest.fixture
def second_tablet(noon, county, election, commissioner):
    second = PollingPlaceFactory(county=county, code="HINDS-2", name="Second")
    worker = _grant(UserFactory(username="second"), Role.POLL_WORKER, polling_place=second, election=election)
    device, _ = make_tablet(second, commissioner, label="Second 1")
    client = signed_in(worker, device=device)
    client.place = second
    return client


def test_the_same_credential_inside_two_places_is_flagged_until_the_check_out_explains_it(
    tablet, second_tablet, place, election, county
):
    a = watcher(election, county)  # county-wide
    check_out_here = event("check_out", token_of(a), local(election, 8, 30))
    assert results(upload(tablet, [event("check_in", token_of(a), local(election, 8))])) == [("accepted", [])]
    there = upload(second_tablet, [event("check_in", token_of(a), local(election, 9))])
    assert results(there) == [("anomaly", [Code.INSIDE_TWO_PLACES])]
    assert PresenceAnomaly.objects.get().polling_place == second_tablet.place
    assert results(upload(tablet, [check_out_here])) == [("accepted", [])]
    assert PresenceAnomaly.objects.get().status == "cleared"
    assert inside(place, election) == set() and inside(second_tablet.place, election) == {a.serial}


def test_a_quota_exceeded_offline_is_flagged_and_the_next_online_check_in_is_refused(tablet, place, election, county):
    blue = [watcher(election, county, appointed_by_name="Blue Party") for _ in range(4)]
    batch = [event("check_in", token_of(c), local(election, 7, i)) for i, c in enumerate(blue[:3])]
    response = upload(tablet, batch)
    assert results(response) == [("accepted", []), ("accepted", []), ("anomaly", [Code.QUOTA_EXCEEDED])]
    assert len(inside(place, election)) == 3  # all three are in the room: the roster says so
    online = post(tablet, place, token_of(blue[3]), local(election, 12))
    assert online.status_code == 409 and online.json()["code"] == "quota_full"
    # One of the first two leaves (earlier than the third came in): the third was within the quota after all.
    leave = upload(tablet, [event("check_out", token_of(blue[0]), local(election, 7, 1))])
    assert results(leave) == [("accepted", [])]
    assert PresenceAnomaly.objects.get().status == "cleared"


# --- who may sync ---------------------------------------------------------------------------------------------------


def test_anonymous_is_401(noon, client):
    response = client.post(SYNC, {"sent_at": "2026-11-03T12:00:00Z", "events": []}, content_type="application/json")
    assert response.status_code == 401 and response.json()["code"]


def test_a_commissioner_without_a_tablet_is_403(noon, commissioner):
    from tests.people import signed_in as sign

    response = sign(commissioner).post(SYNC, {"sent_at": "2026-11-03T12:00:00Z", "events": []}, format="json")
    assert response.status_code == 403 and response.json()["code"] == "tablet_required"


def test_a_poll_worker_of_another_place_on_this_tablet_is_403(noon, place, other_place, election, commissioner):
    device, _ = make_tablet(place, commissioner)
    stranger = _grant(UserFactory(username="stranger"), Role.POLL_WORKER, polling_place=other_place, election=election)
    response = signed_in(stranger, device=device).post(
        SYNC, {"sent_at": "2026-11-03T12:00:00Z", "events": []}, format="json"
    )
    assert response.status_code == 403 and response.json()["code"] == "tablet_required"


def test_a_poll_worker_without_a_tablet_is_403(noon, poll_worker):
    response = signed_in(poll_worker).post(SYNC, {"sent_at": "2026-11-03T12:00:00Z", "events": []}, format="json")
    assert response.status_code == 403


# --- review by commissioners --------------------------------------------------------------------------------------


@pytest.fixture
def one_anomaly(tablet, election, county):
    upload(tablet, [event("check_out", token_of(watcher(election, county)), local(election, 10))])
    return PresenceAnomaly.objects.get()


def test_commissioners_list_filter_and_read_their_countys_anomalies(one_anomaly, commissioner, state_admin):
    for user in (commissioner, state_admin):
        client = signed_in(user)
        listing = client.get(ANOMALIES, {"status": "open"})
        assert listing.status_code == 200 and listing.json()["count"] == 1
        row = listing.json()["results"][0]
        assert row["code"] == Code.CHECK_OUT_WITHOUT_CHECK_IN and row["event"]["source"] == "sync"
        assert client.get(ANOMALIES, {"status": "reviewed"}).json()["count"] == 0
        assert client.get(ANOMALIES, {"code": "quota_exceeded"}).json()["count"] == 0
        assert client.get(f"{ANOMALIES}{one_anomaly.pk}/").json()["id"] == one_anomaly.pk


@pytest.mark.parametrize(
    ("query", "code"),
    [({"status": "bogus"}, "invalid_status"), ({"code": "x"}, "invalid_code"), ({"limit": "-1"}, "invalid_limit")],
)
def test_bad_filters_are_400(one_anomaly, commissioner, query, code):
    response = signed_in(commissioner).get(ANOMALIES, query)
    assert response.status_code == 400 and response.json()["code"] == code


def test_anomalies_are_not_for_other_counties_poll_workers_or_the_public(
    one_anomaly, other_county_commissioner, poll_worker, client
):
    other = signed_in(other_county_commissioner)
    assert other.get(ANOMALIES).json()["count"] == 0
    assert other.get(f"{ANOMALIES}{one_anomaly.pk}/").status_code == 404
    assert other.post(f"{ANOMALIES}{one_anomaly.pk}/review/", {"note": "x"}, format="json").status_code == 404
    assert signed_in(poll_worker).get(ANOMALIES).status_code == 403
    assert client.get(ANOMALIES).status_code == 401
    assert PresenceAnomaly.objects.get().status == "open"


def test_a_review_closes_the_anomaly_once_and_is_audited(one_anomaly, commissioner):
    client = signed_in(commissioner)
    before = AuditEvent.objects.count()
    assert client.post(f"{ANOMALIES}{one_anomaly.pk}/review/", {"note": " "}, format="json").json()["code"] == (
        "invalid_note"
    )
    note = {"note": "Paper log shows entry 7:55."}
    response = client.post(f"{ANOMALIES}{one_anomaly.pk}/review/", note, format="json")
    assert response.status_code == 200 and response.json()["status"] == "reviewed"
    assert response.json()["review"]["note"] == "Paper log shows entry 7:55."
    audit = AuditEvent.objects.order_by("pk").last()
    assert AuditEvent.objects.count() == before + 1 and audit.action == "presence_anomaly.review"
    again = client.post(f"{ANOMALIES}{one_anomaly.pk}/review/", {"note": "again"}, format="json")
    assert again.status_code == 409 and again.json()["code"] == "already_reviewed"


# --- ugly input -----------------------------------------------------------------------------------------------------


def test_a_body_over_the_upload_limit_is_refused_with_json_and_stores_nothing(tablet, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    events = [{"event_id": str(uuid.uuid4()), "kind": "check_in", "token": "A" * 400, "occurred_at": "x"}] * 60
    response = tablet.post(SYNC, {"sent_at": "2026-11-03T12:00:00Z", "events": events}, format="json")
    assert 400 <= response.status_code < 500 and response.json()["code"]
    assert (response.status_code, response.json()["code"]) == (413, "body_too_large")
    assert PresenceEvent.objects.count() == 0


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=40),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=12), children, max_size=3),
    max_leaves=8,
)
event_fields = st.fixed_dictionaries(
    {},
    optional={
        "event_id": st.one_of(st.uuids().map(str), json_values),
        "kind": st.sampled_from(["check_in", "check_out"]) | json_values,
        "token": st.text(max_size=600) | json_values,
        "occurred_at": st.datetimes(timezones=st.timezones()).map(lambda d: d.isoformat()) | json_values,
    },
)


@settings(max_examples=40, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(events=st.lists(event_fields | json_values, max_size=6), sent_at=st.text(max_size=40) | json_values)
def test_no_batch_of_any_shape_gets_a_5xx_or_a_partial_answer(tablet, events, sent_at):
    for payload in ({"sent_at": "2026-11-03T12:00:00Z", "events": events}, {"sent_at": sent_at, "events": events}):
        response = tablet.post(SYNC, payload, format="json")
        assert response.status_code in (200, 400), response.content
        data = response.json()
        if response.status_code == 400:
            assert data["detail"] and data["code"]
            continue
        assert len(data["results"]) == len(events)
        assert {r["result"] for r in data["results"]} <= {"refused", "duplicate"}  # no genuine token here


def test_the_answer_carries_the_scope_hashes_that_admit_long_place_lists_here(tablet, place, election, county):
    from accounts.credentials import signing

    many = [place, *(PollingPlaceFactory(county=county, code=f"H-{i}") for i in range(signing.MAX_LISTED_PLACES))]
    holder = watcher(election, county, places=many)
    hashes = upload(tablet, []).json()["scope_hashes"]
    assert [h["scope_hash"] for h in hashes] == [signing.scope_hash(county.fips, [p.pk for p in many]).hex()]
    # Its holder checks in offline on the strength of that hash, and the server agrees.
    response = upload(tablet, [event("check_in", token_of(holder), local(election, 8))])
    assert results(response) == [("accepted", [])]


# --- the log is append-only -----------------------------------------------------------------------------------------


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the trigger exists on PostgreSQL only")
@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE polling_presenceevent SET outcome = 'refused', reason = 'x' WHERE id = %s",
        "DELETE FROM polling_presenceevent WHERE id = %s",
    ],
)
def test_postgresql_refuses_to_update_or_delete_a_presence_event(tablet, election, county, sql):
    from django.db import DatabaseError, transaction

    upload(tablet, [event("check_out", token_of(watcher(election, county)), local(election, 9))])
    stored = PresenceEvent.objects.get()
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, [stored.pk])
    assert PresenceEvent.objects.get().outcome == "accepted"


def test_the_orm_refuses_to_update_or_delete_presence_events(tablet, election, county):
    upload(tablet, [event("check_out", token_of(watcher(election, county)), local(election, 9))])
    stored = PresenceEvent.objects.get()
    with pytest.raises(PermissionError):
        PresenceEvent.objects.filter(pk=stored.pk).update(reason="x")
    with pytest.raises(PermissionError):
        PresenceEvent.objects.all().delete()
    with pytest.raises(PermissionError):
        stored.save()


# --- the roster can always be rebuilt from the log ----------------------------------------------------------------


def test_rebuild_presence_restores_the_roster_and_anomalies_from_the_log(tablet, place, election, county):
    from io import StringIO

    from django.core.management import call_command

    a, b, c = (watcher(election, county, appointed_by_name="Blue Party") for _ in range(3))
    upload(
        tablet,
        [
            event("check_in", token_of(a), local(election, 7)),
            event("check_in", token_of(b), local(election, 7, 5)),
            event("check_in", token_of(c), local(election, 7, 10)),  # third of the party: quota exceeded
            event("check_out", token_of(b), local(election, 8)),
        ],
    )
    roster_before = inside(place, election)
    anomalies_before = open_anomalies()
    assert roster_before == {a.serial, c.serial} and len(anomalies_before) == 1
    Presence.objects.all().delete()  # the derived table is damaged; the log is intact
    PresenceAnomaly.objects.all().delete()
    out = StringIO()
    call_command("rebuild_presence", "--election", str(election.pk), stdout=out)
    assert "1 polling places rebuilt; 2 roster rows corrected." in out.getvalue()
    assert inside(place, election) == roster_before
    assert open_anomalies() == anomalies_before
    call_command("rebuild_presence", "--election", str(election.pk), stdout=out)  # idempotent
    assert "1 polling places rebuilt; 0 roster rows corrected." in out.getvalue()


def test_rebuild_presence_refuses_an_unknown_election(db):
    from django.core.management import CommandError, call_command

    with pytest.raises(CommandError, match="No election"):
        call_command("rebuild_presence", "--election", "999999")


# --- online and offline events together: one timeline -----------------------------------------------------------


@pytest.fixture
def tablet_b(noon, place, election, commissioner):
    worker = _grant(UserFactory(username="door2"), Role.POLL_WORKER, polling_place=place, election=election)
    device, _ = make_tablet(place, commissioner, label="Table 2")
    return signed_in(worker, device=device)


@pytest.mark.parametrize("order", ["offline check-in synced first", "online check-out first"])
def test_an_online_check_out_and_a_late_offline_check_in_give_one_roster_in_either_order(
    order, tablet, tablet_b, place, election, county
):
    from django.utils import timezone

    a = watcher(election, county)
    check_in = event("check_in", token_of(a), local(election, 8))  # recorded offline at the side door
    if order == "offline check-in synced first":
        upload(tablet, [check_in])
        out = post(tablet_b, place, token_of(a), timezone.now(), what="check-outs")
        assert out.json()["notice"] is None
    else:
        out = post(tablet_b, place, token_of(a), timezone.now(), what="check-outs")
        assert out.json()["notice"] == "not_inside"  # told, and recorded all the same
        upload(tablet, [check_in])
    assert out.status_code == 201
    assert inside(place, election) == set()
    assert open_anomalies() == set()  # the check-in explained the check-out


@pytest.mark.parametrize("order", ["check-in first", "check-in last"])
def test_an_online_check_in_after_a_late_offline_check_out_counts_in_either_order(
    order, tablet, tablet_b, place, election, county
):
    """In at 8 (offline), out at 9 (offline, synced late), in again now (online): inside, whatever the order."""
    from django.utils import timezone

    a = watcher(election, county)
    upload(tablet, [event("check_in", token_of(a), local(election, 8))])
    check_out = event("check_out", token_of(a), local(election, 9))
    if order == "check-in first":
        again = post(tablet_b, place, token_of(a), timezone.now())
        assert again.json()["notice"] == "already_inside"
        upload(tablet, [check_out])
    else:
        upload(tablet, [check_out])
        again = post(tablet_b, place, token_of(a), timezone.now())
        assert again.json()["notice"] is None
    assert again.status_code == 201
    assert inside(place, election) == {a.serial}
    assert open_anomalies() == set()


def test_an_online_tablet_with_a_slow_clock_is_placed_at_receipt(tablet, tablet_b, place, election, county):
    from django.utils import timezone

    a = watcher(election, county)
    now = timezone.now()
    assert post(tablet, place, token_of(a), now - dt.timedelta(minutes=1)).status_code == 201
    slow = body(token_of(a), now - dt.timedelta(minutes=10))  # sent now from a tablet whose clock is 10 min slow
    out = tablet_b.post(f"/api/v1/polling-places/{place.pk}/check-outs/", slow, format="json")
    assert out.status_code == 201 and out.json()["notice"] is None
    assert dt.datetime.fromisoformat(out.json()["effective_at"]) >= now
    assert inside(place, election) == set() and open_anomalies() == set()


def test_an_online_post_sent_late_is_placed_by_its_sent_at(tablet, place, election, county):
    """A post queued for a few minutes carries sent_at: the event keeps its own time, corrected for the clock."""
    from django.utils import timezone

    a = watcher(election, county)
    skew = dt.timedelta(hours=2)  # the tablet's clock is two hours fast
    recorded = timezone.now() - dt.timedelta(minutes=3)
    payload = body(token_of(a), recorded + skew) | {"sent_at": (timezone.now() + skew).isoformat()}
    response = tablet.post(f"/api/v1/polling-places/{place.pk}/check-ins/", payload, format="json")
    assert response.status_code == 201, response.content
    assert abs(dt.datetime.fromisoformat(response.json()["effective_at"]) - recorded) < dt.timedelta(seconds=5)


@pytest.mark.parametrize("first", ["check-in", "check-out"])
def test_events_at_the_same_instant_are_ordered_the_same_whatever_arrives_first(
    first, tablet, tablet_b, place, election, county
):
    a = watcher(election, county)
    upload(tablet, [event("check_in", token_of(a), local(election, 7))])
    ids = sorted([uuid.uuid4(), uuid.uuid4()])
    check_in = event("check_in", token_of(a), local(election, 9), ids[0])
    check_out = event("check_out", token_of(a), local(election, 9), ids[1])
    if first == "check-in":
        upload(tablet, [check_in])
        upload(tablet_b, [check_out])
    else:
        upload(tablet_b, [check_out])
        upload(tablet, [check_in])
    # A tie is broken by the event ids: here the check-in's is smaller, so it comes first and the check-out ends it.
    assert inside(place, election) == set()


# --- quota groups and rule changes ----------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["one batch", "one by one"])
def test_party_names_are_matched_with_case_folding_however_they_are_uploaded(mode, tablet, place, election, county):
    names = ["Straße Party", "STRASSE PARTY", "strasse party"]  # one party, three spellings
    credentials = [watcher(election, county, appointed_by_name=n) for n in names]
    events = [event("check_in", token_of(c), local(election, 7, i)) for i, c in enumerate(credentials)]
    if mode == "one batch":
        upload(tablet, events)
    else:
        for e in events:
            upload(tablet, [e])
    assert open_anomalies() == {(uuid.UUID(events[2]["event_id"]), Code.QUOTA_EXCEEDED)}
    fourth = watcher(election, county, appointed_by_name="STRAßE party")
    assert post(tablet, place, token_of(fourth), local(election, 12)).status_code == 409  # online agrees


def test_after_a_quota_rule_is_removed_rebuild_clears_its_anomalies(tablet, place, election, county):
    from django.core.management import call_command

    from polling.models import PresenceRule

    blue = [watcher(election, county, appointed_by_name="Blue Party") for _ in range(3)]
    upload(tablet, [event("check_in", token_of(c), local(election, 7, i)) for i, c in enumerate(blue)])
    assert {code for _, code in open_anomalies()} == {Code.QUOTA_EXCEEDED}
    PresenceRule.objects.filter(jurisdiction__code="MS").delete()
    call_command("rebuild_presence", "--election", str(election.pk), stdout=io.StringIO())
    assert open_anomalies() == set()
    assert PresenceAnomaly.objects.get().status == "cleared"


# --- anomaly lifecycle ----------------------------------------------------------------------------------------------


def test_a_reviewed_anomaly_that_clears_keeps_its_review_and_one_that_comes_back_is_reopened(
    tablet, place, election, county, commissioner
):
    a = watcher(election, county)
    check_in = event("check_in", token_of(a), local(election, 8))
    upload(tablet, [event("check_out", token_of(a), local(election, 10))])
    row = PresenceAnomaly.objects.get()
    reviewed = signed_in(commissioner).post(f"{ANOMALIES}{row.pk}/review/", {"note": "seen"}, format="json")
    assert reviewed.status_code == 200
    upload(tablet, [check_in])  # explains it
    row.refresh_from_db()
    assert (row.status, row.review_note) == ("reviewed", "seen") and row.cleared_at is not None
    # A check-out at 9 that nobody uploaded before: now the 10 o'clock one is an orphan again.
    upload(tablet, [event("check_out", token_of(a), local(election, 9))])
    row.refresh_from_db()
    assert row.status == "open" and row.cleared_at is None  # back in the commissioners' queue
    again = signed_in(commissioner).post(f"{ANOMALIES}{row.pk}/review/", {"note": "second look"}, format="json")
    assert again.status_code == 200


@pytest.mark.parametrize("note", ["ok\x00", "ok \ud800"])
def test_a_review_note_no_database_can_store_is_400(tablet, election, county, commissioner, note):
    upload(tablet, [event("check_out", token_of(watcher(election, county)), local(election, 10))])
    row = PresenceAnomaly.objects.get()
    raw = json.dumps({"note": note})
    response = signed_in(commissioner).post(f"{ANOMALIES}{row.pk}/review/", raw, content_type="application/json")
    assert response.status_code == 400 and response.json()["code"] == "invalid_note"
    assert PresenceAnomaly.objects.get().status == "open"


def test_a_token_with_a_lone_surrogate_is_one_invalid_event_not_a_failed_batch(tablet, election, county):
    from django.utils import timezone

    good = event("check_in", token_of(watcher(election, county)), local(election, 8))
    bad = good | {"event_id": str(uuid.uuid4()), "token": "ABC\ud800"}
    raw = json.dumps({"sent_at": timezone.now().isoformat(), "events": [bad, good]})
    response = tablet.post(SYNC, raw, content_type="application/json")
    assert response.status_code == 200
    assert [(r["result"], r["reason"]) for r in response.json()["results"]] == [
        ("refused", "invalid"),
        ("accepted", None),
    ]


# --- who recorded it ------------------------------------------------------------------------------------------------


def test_an_event_names_who_recorded_it_and_who_uploaded_it(tablet_b, tablet, place, election, county, poll_worker):
    """Poll worker 1 recorded it offline and signed out; worker 2 signed in on the same tablet and synced it."""
    a = watcher(election, county)
    recorded = event("check_in", token_of(a), local(election, 8)) | {"recorded_by": poll_worker.username}
    response = upload(tablet_b, [recorded])
    assert results(response) == [("accepted", [])]
    stored = PresenceEvent.objects.get()
    assert stored.worker == poll_worker and stored.uploaded_by.username == "door2"
    roster = response.json()["roster"]["inside"]
    assert roster[0]["checked_in_by"] == (poll_worker.get_full_name() or poll_worker.username)
    # Naming oneself, or nobody, is the uploader: no separate uploaded_by.
    mine = event("check_out", token_of(a), local(election, 9)) | {"recorded_by": "door2"}
    upload(tablet_b, [mine])
    assert PresenceEvent.objects.get(event_id=mine["event_id"]).uploaded_by is None


def test_recorded_by_someone_without_a_grant_here_is_refused_and_not_stored(
    tablet, place, other_place, election, county, commissioner
):
    stranger = _grant(UserFactory(username="stranger"), Role.POLL_WORKER, polling_place=other_place, election=election)
    good = event("check_in", token_of(watcher(election, county)), local(election, 8))
    batch = [
        event("check_in", token_of(watcher(election, county, appointed_by_name="B")), local(election, 8))
        | {"recorded_by": stranger.username},
        good | {"event_id": str(uuid.uuid4()), "recorded_by": "nobody-by-that-name"},
        good | {"event_id": str(uuid.uuid4()), "recorded_by": commissioner.username},  # not a poll worker here
        good | {"event_id": str(uuid.uuid4()), "recorded_by": 7},
        good,
    ]
    data = upload(tablet, batch).json()["results"]
    assert [(r["result"], r["reason"]) for r in data] == [("refused", "invalid")] * 4 + [("accepted", None)]
    assert all(set(r["errors"]) == {"recorded_by"} for r in data[:4])
    assert PresenceEvent.objects.count() == 1


def test_recorded_by_a_worker_whose_grant_ended_counts_only_for_events_before_it_ended(
    tablet, place, election, county, poll_worker
):
    from accounts.models import RoleGrant

    RoleGrant.objects.filter(user=poll_worker).update(ended_at=local(election, 9))  # shift over at 9
    before = event("check_in", token_of(watcher(election, county)), local(election, 8, 30))
    after = event("check_in", token_of(watcher(election, county, appointed_by_name="B")), local(election, 9, 30))
    uploader = signed_in(
        _grant(UserFactory(username="late"), Role.POLL_WORKER, polling_place=place, election=election),
        device=tablet.device,
    )
    data = upload(
        uploader, [before | {"recorded_by": poll_worker.username}, after | {"recorded_by": poll_worker.username}]
    )
    assert [r["result"] for r in data.json()["results"]] == ["accepted", "refused"]

"""Issue 10, items 6 and 8 on election day: quota groups compared by what names look like (confusables, zero-width
and bidirectional characters, case), unprintable characters refused in the names and texts the election-day API
takes, a cap on what a tablet can make the server store, a paper log PDF that stays fast at any size, and TRUNCATE
refused on the append-only tables (PostgreSQL)."""

from __future__ import annotations

import datetime as dt
import time
import uuid

import pytest
from django.db import connection, transaction
from django.utils import timezone
from hypothesis import given, settings
from hypothesis import strategies as st

from accounts.models import Credential
from common.text import unprintable
from polling.election_day import paper, sync, timeline
from polling.models import PresenceAnomaly, PresenceEvent, PresenceRule
from tests.election_day_helpers import ANOMALIES, SYNC, day_long_tablet_client, event, local, token_of, upload, watcher
from tests.helpers import seed_reference_data

ZERO_WIDTH = ["\u200b", "\u200c", "\u200d", "\u2060", "\ufeff"]
BIDI = ["\u202a", "\u202b", "\u202d", "\u202e", "\u2066", "\u2067", "\u2068", "\u200e", "\u200f"]
LOOK_ALIKES = {"e": "\u0435", "a": "\u0430", "o": "\u043e", "p": "\u0440", "c": "\u0441", "y": "\u0443", "x": "\u0445"}


@pytest.fixture
def tablet_client(place, poll_worker, commissioner):
    return day_long_tablet_client(place, poll_worker, commissioner)


# --- quota groups: pure ---------------------------------------------------------------------------------------------

RULE = PresenceRule(credential_kind="poll_watcher", per="party", max_inside=2)


def cred(name: str) -> Credential:
    return Credential(kind="poll_watcher", appointed_by_kind="party", appointed_by_name=name)


def disguise(name: str, data: st.DataObject) -> str:
    """``name`` with any of: look-alike letters, zero-width and bidi characters inserted, case changed, spaces
    doubled."""
    out = []
    for char in name:
        if char.lower() in LOOK_ALIKES and data.draw(st.booleans()):
            char = LOOK_ALIKES[char.lower()]
        elif data.draw(st.booleans()):
            char = char.swapcase()
        out.append(char)
        if data.draw(st.integers(0, 4)) == 0:
            out.append(data.draw(st.sampled_from(ZERO_WIDTH + BIDI)))
        if char == " " and data.draw(st.booleans()):
            out.append(" ")
    return "".join(out)


NAMES = st.text(alphabet="abcdefghijklmnopqrstuvwxyz ", min_size=1, max_size=24).filter(lambda s: s.strip())


@settings(max_examples=300, deadline=None)
@given(name=NAMES, data=st.data())
def test_a_name_and_its_disguises_are_one_quota_group(name, data):
    variant = disguise(name, data)
    assert timeline.same_group(cred(name), cred(variant), RULE), (name, variant)
    assert timeline.appointer_key(name) == timeline.appointer_key(variant)


@settings(max_examples=300, deadline=None)
@given(a=NAMES, b=NAMES)
def test_genuinely_different_names_are_different_groups(a, b):
    # Different once spaces are collapsed and case folded (and none of these letters is a look-alike of another).
    assume_different = " ".join(a.split()) != " ".join(b.split())
    assert timeline.same_group(cred(a), cred(b), RULE) == (not assume_different)


@pytest.mark.parametrize(
    "variant",
    [
        "Gr\u0435en Party",  # Cyrillic small ie
        "Green\u200b Party",  # zero-width space
        "\u202eGreen Party",  # right-to-left override
        "GREEN PARTY",
        "green  party",
        "\uff27\uff52\uff45\uff45\uff4e \uff30\uff41\uff52\uff54\uff59",  # fullwidth
    ],
)
def test_the_green_party_examples(variant):
    assert timeline.same_group(cred("Green Party"), cred(variant), RULE)
    assert not timeline.same_group(cred("Green Party"), cred("Greer Party"), RULE)


@pytest.mark.parametrize(
    "variant",
    [
        "Democ\u034fratic Party",  # combining grapheme joiner (a mark that draws nothing)
        "Democratic\u3164Party",  # Hangul filler (a letter that draws nothing) for the space
        "Demo\u180bcratic Party",  # Mongolian free variation selector
        "Democratic\ufe0f Party",  # emoji variation selector
        "Democratic\u2800Party",  # blank Braille pattern
        "Democratic\u17b4 Party",  # Khmer inherent vowel (invisible)
        "Democratic\uffa0Party",  # half-width Hangul filler
        "Dernocratic Party",  # "rn" for "m"
    ],
)
def test_invisible_characters_and_look_alike_sequences_do_not_make_a_new_party(variant):
    # Found by attacking the first fix: these passed the name check and each made a new quota group.
    assert timeline.same_group(cred("Democratic Party"), cred(variant), RULE)


@pytest.mark.parametrize("invisible", ["\u034f", "\u3164", "\u180b", "\ufe0f", "\u2800", "\u17b4", "\uffa0", "\u00ad"])
def test_a_name_holding_a_character_that_draws_nothing_is_refused(invisible):
    assert unprintable(f"Democratic{invisible} Party") != []


# --- quota groups through the API -----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_look_alike_party_names_share_the_live_quota_and_the_timeline_and_the_rebuild(
    noon, tablet_client, place, election, county
):
    seed_reference_data()
    names = ["Green Party", "Gr\u0435en Party", "Green\u200b Party", "\u202eGREEN PARTY"]
    people = [watcher(election, county, appointed_by_name=n) for n in names]
    url = f"/api/v1/polling-places/{place.pk}/check-ins/"
    answers = []
    for person in people[:3]:
        payload = {"token": token_of(person), "event_id": str(uuid.uuid4()), "occurred_at": timezone.now().isoformat()}
        answers.append(tablet_client.post(url, payload, format="json").status_code)
    assert answers == [201, 201, 409]  # at most 2 per party, whatever the spelling
    # Offline, the fourth look-alike comes in anyway: the timeline flags it.
    synced = upload(tablet_client, [event("check_in", token_of(people[3]), timezone.now())])
    assert synced.json()["results"][0]["anomalies"] == ["quota_exceeded"], synced.json()
    # A rebuild judges the same.
    PresenceAnomaly.objects.filter(code="quota_exceeded").update(status="cleared", cleared_at=timezone.now())
    timeline.presence_rebuild(polling_place_id=place.pk, election_id=election.pk)
    assert PresenceAnomaly.objects.get(code="quota_exceeded", cleared_at__isnull=True).credential_id == people[3].pk


# --- unprintable characters -----------------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("bad", ["\u202e", "\u200b", "\x07", "\t", "\u2028"])
def test_an_incident_description_keeps_line_breaks_but_no_other_control_or_format_characters(
    noon, tablet_client, place, election, bad
):
    seed_reference_data()
    base = {
        "polling_place": place.pk,
        "activity": "campaigning",
        "lon": place.lon + 0.0001,
        "lat": place.lat,
        "occurred_at": timezone.now().isoformat(),
        "election": election.pk,
    }
    ok = tablet_client.post("/api/v1/incidents/", base | {"description": "Signs.\r\nTwo men."}, format="json")
    assert ok.status_code == 201, ok.content
    count = PresenceEvent.objects.count()
    refused = tablet_client.post("/api/v1/incidents/", base | {"description": f"Signs{bad}by the door"}, format="json")
    assert refused.status_code == 400
    assert (refused.json()["code"], list(refused.json()["errors"])) == ("unprintable_characters", ["description"])
    assert PresenceEvent.objects.count() == count


@pytest.mark.django_db
def test_a_review_note_with_a_bidi_override_is_refused(noon, tablet_client, commissioner, election, county):
    from tests.people import signed_in

    seed_reference_data()
    orphan = watcher(election, county)
    upload(tablet_client, [event("check_out", token_of(orphan), local(election, 10))])
    anomaly = PresenceAnomaly.objects.get()
    client = signed_in(commissioner)
    refused = client.post(f"{ANOMALIES}{anomaly.pk}/review/", {"note": "ok \u202eevil"}, format="json")
    assert (refused.status_code, refused.json()["code"]) == (400, "unprintable_characters")
    anomaly.refresh_from_db()
    assert anomaly.status == "open"
    assert client.post(f"{ANOMALIES}{anomaly.pk}/review/", {"note": "Seen.\nOK."}, format="json").status_code == 200


@pytest.mark.django_db
def test_a_recorded_by_with_a_zero_width_character_is_invalid_and_not_stored(noon, tablet_client, election, county):
    seed_reference_data()
    credential = watcher(election, county)
    item = event("check_in", token_of(credential), local(election, 10)) | {"recorded_by": "worker\u200b"}
    answer = upload(tablet_client, [item]).json()
    (result,) = answer["results"]
    assert (result["result"], result["reason"], list(result["errors"])) == ("refused", "invalid", ["recorded_by"])
    assert answer["not_stored"] == {"invalid": 1, "over_cap": 0}
    assert PresenceEvent.objects.count() == 0


# --- floods ---------------------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_flood_of_untrusted_tokens_is_capped_per_upload_and_per_day_and_counted(
    noon, tablet_client, election, county, caplog
):
    seed_reference_data()
    at = local(election, 10)
    garbage = [event("check_in", f"GARBAGE{i}", at) for i in range(sync.MAX_EVENTS)]
    answer = upload(tablet_client, garbage).json()
    assert [r["reason"] for r in answer["results"]] == ["malformed"] * sync.MAX_EVENTS
    assert PresenceEvent.objects.count() == sync.MAX_UNTRUSTED_STORED_PER_BATCH
    assert answer["not_stored"]["over_cap"] == sync.MAX_EVENTS - sync.MAX_UNTRUSTED_STORED_PER_BATCH
    assert "sync not stored" in caplog.text
    # The same batch again: what was stored is a duplicate, the rest is still not stored (no growth past the cap).
    again = upload(tablet_client, garbage).json()
    assert PresenceEvent.objects.count() == 2 * sync.MAX_UNTRUSTED_STORED_PER_BATCH
    # Per day: however many batches, at most MAX_UNTRUSTED_STORED_PER_DAY.
    for _ in range(sync.MAX_UNTRUSTED_STORED_PER_DAY // sync.MAX_UNTRUSTED_STORED_PER_BATCH + 2):
        upload(tablet_client, [event("check_in", f"JUNK{uuid.uuid4()}", at) for _ in range(60)])
    assert PresenceEvent.objects.count() == sync.MAX_UNTRUSTED_STORED_PER_DAY
    assert (again["counts"]["duplicate"], again["counts"]["refused"]) == (
        sync.MAX_UNTRUSTED_STORED_PER_BATCH,
        sync.MAX_EVENTS - sync.MAX_UNTRUSTED_STORED_PER_BATCH,
    )
    # A genuine event is never capped.
    good = upload(tablet_client, [event("check_in", token_of(watcher(election, county)), at)]).json()
    assert good["results"][0]["result"] == "accepted"
    # Invalid events (not even parseable) are never stored, only counted.
    payload = {"sent_at": timezone.now().isoformat(), "since": None, "events": [{"event_id": "x"}] * 3}
    invalid = tablet_client.post(SYNC, payload, format="json").json()
    assert invalid["not_stored"] == {"invalid": 3, "over_cap": 0}


@pytest.mark.django_db
def test_a_synced_event_before_its_election_day_could_begin_is_invalid_and_not_stored(
    noon, tablet_client, election, county
):
    seed_reference_data()
    early = local(election, 10) - dt.timedelta(days=3)
    answer = upload(tablet_client, [event("check_in", token_of(watcher(election, county)), early)]).json()
    (result,) = answer["results"]
    assert (result["result"], result["reason"], list(result["errors"])) == ("refused", "invalid", ["occurred_at"])
    assert PresenceEvent.objects.count() == 0


def test_the_paper_log_pdf_stays_fast_at_50000_events():
    """50,000 rows: the PDF prints the latest ``MAX_PDF_ROWS`` and says how many only the CSV holds."""
    row = ["1", "2026-11-03 08:15:00 CST", "Check-in", "accepted", "", "ABCDEFGHJK", "Fannie Lou Hamer",
           "Poll watcher", "Freedom Party (party)", "Ann Worker", "Tablet 1", str(uuid.uuid4())]  # fmt: skip
    rows = [[str(i), *row[1:]] for i in range(50_000)]
    started = time.perf_counter()
    pdf = paper.as_pdf("Check-in log", "Hinds", paper.LOG_HEADER, rows)
    elapsed = time.perf_counter() - started
    assert pdf.startswith(b"%PDF") and elapsed < 20, elapsed
    assert b"40000 earlier rows" in pdf or len(pdf) < 5_000_000


# --- TRUNCATE (PostgreSQL) ------------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=False)
@pytest.mark.parametrize("table", ["polling_presenceevent", "polling_incident"])
def test_truncate_is_refused_on_the_append_only_tables(table):
    if connection.vendor != "postgresql":
        pytest.skip("the trigger exists on PostgreSQL only")
    from django.db import DatabaseError

    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL pollguard.allow_truncate = 'off'")
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
            cursor.execute(f"TRUNCATE {table} CASCADE")
        cursor.execute("SET LOCAL pollguard.allow_truncate = 'on'")
        with transaction.atomic():  # maintenance (a restore) may, in a savepoint rolled back here
            cursor.execute(f"TRUNCATE {table} CASCADE")
            transaction.set_rollback(True)

"""The tablet app offline, in real Chromium: holders' names from the place's list kept at the last sync, a typed
serial looked up in it (verified only with a code the tablet saw before), the quota warning by the local roster,
how fresh the tablet's keys and revocations are, the paper fallback, sign-out after inactivity and a second poll
worker taking over the queue (each event recorded by whoever was signed in when it was tapped).
(run: pytest tests/e2e/test_tablet_offline_e2e.py -o markers=e2e)"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from PIL import Image
from playwright.sync_api import expect

from accounts.audit import Actor
from accounts.models import Device, Role
from accounts.people import tablets
from polling.models import PresenceAnomaly, PresenceEvent
from polling.models.incidents import Incident
from tests.election_day_helpers import token_of, watcher
from tests.factories import ElectionFactory, UserFactory
from tests.helpers import seed_reference_data
from tests.people import grant

from .tablet import check, check_in, enrolled, go_offline, set_up, shot, sign_in

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _seeded(db):
    seed_reference_data()


@pytest.fixture
def election(mississippi, today):
    """Today, with the polls open all day: the browser and the live server use the real clock."""
    return ElectionFactory(
        jurisdiction=mississippi, name="General", date=today, polls_open=dt.time(0, 0), polls_close=dt.time(23, 59, 59)
    )


def typed(page, text: str) -> None:
    page.fill("#token", text)
    page.click("#token-form button[type=submit]")
    expect(page.locator("#verdict")).to_be_visible()


def test_names_serials_and_the_quota_warning_offline(
    new_page, live_server, place, election, county, commissioner, poll_worker
):
    ada = watcher(election, county, holder_name="Ada Lovelace", appointed_by_name="Analytical Party")
    grace = watcher(election, county, holder_name="Grace Hopper", appointed_by_name="Analytical Party")
    # The same party by the server's grouping (case and spacing): its quota of 2 is full with Ada and Grace in.
    alan = watcher(election, county, holder_name="Alan Turing", appointed_by_name="ANALYTICAL  PARTY")
    edsger = watcher(election, county, holder_name="Edsger Dijkstra", appointed_by_name="Structured Party")
    token_of(ada)  # the county's signing key exists before the tablet's first sync (it fetches the public keys)
    page, watch = new_page()
    set_up(page, live_server, enrolled(commissioner, place, election), poll_worker)
    go_offline(page)

    # A bare serial the tablet has never seen the code of: whose it is, and what to do.
    typed(page, f"{ada.serial[:5]}-{ada.serial[5:]}".lower())
    verdict = page.locator("#verdict")
    expect(verdict).to_have_attribute("data-reason", "serial_only")
    expect(page.locator("#verdict-heading")).to_have_text("Type the full code")
    expect(page.locator("#holder-name")).to_have_text("Ada Lovelace")
    expect(page.locator("#check-in")).to_be_disabled()
    expect(page.locator("#check-out")).to_be_disabled()
    shot(page, "7-serial-only")
    typed(page, "ZZZZZ-ZZZZZ")
    expect(page.locator("#verdict-heading")).to_have_text("Unknown serial")
    expect(page.locator("#holder-name")).to_have_text("—")

    # Two of the party inside by the local roster: the third is warned about, not stopped.
    for person in (ada, grace):
        check(page, token_of(person))
        expect(verdict).to_have_attribute("data-quota", "")
        expect(page.locator("#quota-warning")).to_be_hidden()
        check_in(page)
    check(page, token_of(edsger))
    expect(verdict).to_have_attribute("data-quota", "")  # another party
    check(page, token_of(alan))
    expect(verdict).to_have_attribute("data-quota", "full")
    expect(page.locator("#quota-warning")).to_contain_text("Quota full: 2 of 2")
    expect(page.locator("#holder-name")).to_have_text("Alan Turing")
    expect(page.locator("#check-in")).to_be_enabled()
    shot(page, "8-quota-warning")
    check_in(page)

    # Ada's serial again: the tablet has her code from the check-in, verifies it, and she can be checked out.
    typed(page, ada.serial)
    expect(verdict).to_have_attribute("data-valid", "true")
    expect(page.locator("#verdict-detail")).to_contain_text("saw earlier")
    page.click("#check-out")
    expect(verdict).to_be_hidden()
    expect(page.locator("#queue-count")).to_have_attribute("data-waiting", "4")
    assert PresenceEvent.objects.count() == 0

    # Online: sent by itself; the server flags Alan's check-in over the quota (recorded all the same).
    page.context.set_offline(False)
    expect(page.locator("#queue-count")).to_have_attribute("data-waiting", "0")
    expect(page.locator("#events li[data-result=anomaly]")).to_have_count(1)
    expect(page.locator("#events li[data-result=accepted]")).to_have_count(3)
    assert PresenceEvent.objects.count() == 4
    flagged = PresenceAnomaly.objects.get()
    assert flagged.code == "quota_exceeded" and flagged.event.credential_id == alan.pk
    watch.assert_clean(allow=("Failed to load resource",))


def test_freshness_and_the_paper_fallback(new_page, live_server, place, election, county, commissioner, poll_worker):
    ada = watcher(election, county, holder_name="Ada Lovelace", appointed_by_name="Analytical Party")
    page, watch = new_page(accept_downloads=True)
    set_up(page, live_server, enrolled(commissioner, place, election), poll_worker)
    freshness = page.locator("#freshness")
    expect(freshness).to_have_attribute("data-stale", "false")
    expect(page.locator("#freshness-keys")).to_contain_text("fresh as of")
    expect(page.locator("#freshness-sync")).to_contain_text("Last sync")
    check(page, token_of(ada))
    expect(page.locator("#verdict")).to_have_attribute("data-confirmed", "true")
    check_in(page)
    expect(page.locator("#events li[data-result=accepted]")).to_have_count(1)

    for document in ("roster", "log"):
        with page.expect_download() as download:
            page.click(f"#paper-{document}")
        pdf = Path(download.value.path()).read_bytes()
        assert pdf.startswith(b"%PDF"), document
        assert download.value.suggested_filename == f"{document}-{place.pk}.pdf"
    expect(page.locator("#paper-status")).to_contain_text("log PDF is downloaded")
    shot(page, "9-fresh-and-paper")

    go_offline(page)
    expect(page.locator("#paper-roster")).to_be_disabled()
    expect(page.locator("#paper-log")).to_be_disabled()
    watch.assert_clean(allow=("Failed to load resource",))


def test_keys_and_revocations_shown_out_of_date(
    new_page, live_server, settings, place, election, commissioner, poll_worker
):
    settings.TABLET_STALE_AFTER_S = 1
    page, watch = new_page()
    set_up(page, live_server, enrolled(commissioner, place, election), poll_worker)
    go_offline(page)
    expect(page.locator("#freshness")).to_have_attribute("data-stale", "true")
    expect(page.locator("#freshness-keys")).to_contain_text("out of date")
    shot(page, "10-stale")
    watch.assert_clean(allow=("Failed to load resource",))


def test_signed_out_when_idle_and_a_second_worker_sends_the_first_ones_events(
    new_page, live_server, settings, place, election, county, commissioner, poll_worker
):
    second = grant(UserFactory(username="worker_b"), Role.POLL_WORKER, polling_place=place, election=election)
    ada = watcher(election, county, holder_name="Ada Lovelace", appointed_by_name="Analytical Party")
    grace = watcher(election, county, holder_name="Grace Hopper", appointed_by_name="Compiler Party")
    token_of(ada)  # the county's signing key exists before the tablet's first sync
    page, watch = new_page()
    set_up(page, live_server, enrolled(commissioner, place, election), poll_worker)

    # A short idle time for this page (read when the page loads): a tap or a key counts as use.
    settings.TABLET_IDLE_SIGN_OUT_S = 8
    page.reload()
    expect(page.locator("#screen-checkin")).to_be_visible()
    go_offline(page)
    check(page, token_of(ada))
    check_in(page)
    expect(page.locator("#screen-signin")).to_be_visible(timeout=30_000)
    expect(page.locator("#signin-error")).to_contain_text("without use")
    expect(page.locator("#signin-queue")).to_contain_text("1 event(s)")
    shot(page, "11-signed-out-idle")
    assert PresenceEvent.objects.count() == 0

    # The next worker signs in (online, on a page with the usual idle time): the queue is kept and sent.
    settings.TABLET_IDLE_SIGN_OUT_S = 900
    page.context.set_offline(False)
    page.reload()
    sign_in(page, second)
    expect(page.locator("#events li[data-result=accepted]")).to_have_count(1)
    check(page, token_of(grace))
    check_in(page)
    expect(page.locator("#events li[data-result=accepted]")).to_have_count(2)
    expect(page.locator(f"#events li[data-recorded-by={poll_worker.username}]")).to_have_count(1)
    expect(page.locator("#events li[data-recorded-by=worker_b]")).to_have_count(1)
    by_ada = PresenceEvent.objects.get(credential=ada)
    assert (by_ada.worker, by_ada.uploaded_by) == (poll_worker, second)
    assert PresenceEvent.objects.get(credential=grace).worker == second
    watch.assert_clean(allow=("Failed to load resource",))


def test_an_incident_reported_offline_with_location_and_photo_is_sent_later(
    new_page, live_server, settings, tmp_path, place, election, commissioner, poll_worker
):
    settings.MEDIA_ROOT = tmp_path / "media"
    where = {"latitude": place.lat + 0.0002, "longitude": place.lon}  # about 22 m north of the building
    page, watch = new_page(geolocation=where, permissions=["geolocation"])
    set_up(page, live_server, enrolled(commissioner, place, election), poll_worker)
    go_offline(page)

    page.click("#incident-open")
    expect(page.locator("#screen-incident")).to_be_visible()
    page.select_option("#incident-activity", "campaigning")
    page.check("#incident-form input[name=zone][value=yes]")
    page.fill("#incident-description", "A man hands out leaflets for a candidate at the door.")
    page.click("#incident-locate")
    expect(page.locator("#incident-location")).to_have_attribute("data-located", "true")
    photo = tmp_path / "door.png"
    Image.new("RGB", (64, 48), (30, 120, 200)).save(photo)
    page.set_input_files("#incident-photo", str(photo))
    shot(page, "15-incident")
    page.click("#incident-form button[type=submit]")
    expect(page.locator("#screen-checkin")).to_be_visible()
    expect(page.locator("#incidents li[data-status=queued]")).to_have_count(1)

    # Kept with its photo across a reload offline; nothing left the tablet.
    page.reload()
    expect(page.locator("#incidents li[data-status=queued]")).to_have_count(1)
    assert Incident.objects.count() == 0

    page.context.set_offline(False)
    expect(page.locator("#incidents li[data-status=sent]")).to_have_count(1)
    incident = Incident.objects.get()
    assert incident.reported_by == poll_worker and incident.polling_place_id == place.pk
    assert incident.activity == "campaigning"
    assert incident.description.startswith("A man hands out leaflets for a candidate at the door.")
    assert "Inside the zone, by the poll worker: yes." in incident.description
    assert (round(incident.lat, 6), round(incident.lon, 6)) == (
        round(where["latitude"], 6),
        round(where["longitude"], 6),
    )
    assert incident.photo_path and incident.photo_content_type == "image/png"
    expect(page.locator("#incidents li[data-status=sent]")).to_have_attribute(
        "data-zone-status", incident.zone_status or ""
    )
    go_offline(page)
    watch.assert_clean(allow=("Failed to load resource",))


KEPT_ON_THE_TABLET = """async () => {
  const db = await new Promise((resolve, reject) => {
    const request = indexedDB.open("pollguard-tablet");
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
  const read = (store, how) => new Promise((resolve, reject) => {
    const request = db.transaction(store).objectStore(store)[how]();
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
  const kept = {keys: await read("kv", "getAllKeys"), events: await read("events", "count")};
  db.close();
  return kept;
}"""


def test_a_revoked_tablet_forgets_names_codes_and_its_secret_but_keeps_its_queue(
    new_page, live_server, place, election, county, commissioner, poll_worker
):
    ada = watcher(election, county, holder_name="Ada Lovelace", appointed_by_name="Analytical Party")
    grace = watcher(election, county, holder_name="Grace Hopper", appointed_by_name="Analytical Party")
    page, watch = new_page()
    set_up(page, live_server, enrolled(commissioner, place, election), poll_worker)
    check(page, token_of(ada))
    check_in(page)
    expect(page.locator("#events li[data-result=accepted]")).to_have_count(1)
    go_offline(page)
    check(page, token_of(grace))
    check_in(page)  # queued: the tablet is offline
    before = page.evaluate(KEPT_ON_THE_TABLET)
    assert {"device", "holderList", "tokens", "roster", "keys"} <= set(before["keys"]) and before["events"] == 2

    # The county revokes the tablet (lost, say); the next time it reaches the server it is told so.
    device = Device.objects.get(polling_place=place)
    tablets.device_revoke(actor=Actor(user=commissioner), device=device, reason="Lost on election morning")
    page.context.set_offline(False)
    expect(page.locator("#screen-setup")).to_be_visible()
    expect(page.locator("#setup-error")).to_contain_text("revoked")
    kept = page.evaluate(KEPT_ON_THE_TABLET)
    gone = {"device", "session", "holderList", "holders", "tokens", "roster", "keys", "revoked", "scopeHashes"}
    assert not gone & set(kept["keys"]), kept["keys"]
    assert kept["events"] == 2  # the queue stays: the county's record of what was tapped here
    assert PresenceEvent.objects.filter(polling_place=place).count() == 1  # nothing more reached the server
    shot(page, "16-revoked")
    watch.assert_clean(allow=("Failed to load resource",))

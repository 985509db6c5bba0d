"""The tablet app's queue against restarts and other tablets, in real Chromium: the browser closed while offline and
started again offline (a profile on disk: the service worker serves the app, IndexedDB still holds the queue), then
online, the server holds every event exactly once; two tablets at one place working offline end with the same
roster whichever syncs first, and a credential revoked on the server is refused offline after the next refresh.
(run: pytest tests/e2e/test_tablet_sync_e2e.py -o markers=e2e)"""

from __future__ import annotations

import datetime as dt

import pytest
from playwright.sync_api import expect

from accounts.audit import Actor
from accounts.credentials import issuing
from accounts.models import Role
from polling.models import Presence, PresenceEvent
from polling.models.incidents import Incident
from tests.election_day_helpers import token_of, watcher
from tests.factories import ElectionFactory, UserFactory
from tests.helpers import seed_reference_data
from tests.people import grant

from .conftest import CHROMIUM_ARGS
from .tablet import check, check_in, enrolled, go_offline, set_up, shot, sync

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


def roster_serials(page) -> set[str]:
    return set(page.eval_on_selector_all("#roster li", "items => items.map((i) => i.dataset.serial)"))


def server_roster(place) -> set[str]:
    return set(Presence.objects.filter(polling_place=place).values_list("credential__serial", flat=True))


def test_the_browser_restarted_offline_keeps_the_queue_and_sends_it_once(
    browser, chromium_path, tmp_path, live_server, place, election, county, commissioner, poll_worker
):
    ada = watcher(election, county, holder_name="Ada Lovelace", appointed_by_name="Analytical Party")
    grace = watcher(election, county, holder_name="Grace Hopper", appointed_by_name="Compiler Party")
    token_of(ada)  # the county's signing key exists before the tablet's first sync
    profile = tmp_path / "profile"
    errors: list[str] = []

    def launch(**options):
        context = browser.browser_type.launch_persistent_context(
            str(profile),
            executable_path=chromium_path,
            args=CHROMIUM_ARGS,
            viewport={"width": 1280, "height": 800},
            locale="en-US",
            **options,
        )
        context.set_default_timeout(15_000)
        page = context.pages[0] if context.pages else context.new_page()
        page.on("pageerror", lambda e: errors.append(f"uncaught: {e}"))
        page.on(
            "console", lambda m: m.type == "error" and "Failed to load resource" not in m.text and errors.append(m.text)
        )
        return context, page

    context, page = launch()
    try:
        set_up(page, live_server, enrolled(commissioner, place, election), poll_worker)
        assert page.evaluate("() => navigator.serviceWorker.ready.then((r) => r.active.state)") == "activated"
        go_offline(page)
        for person in (ada, grace):
            check(page, token_of(person))
            check_in(page)
        expect(page.locator("#queue-count")).to_have_attribute("data-waiting", "2")
        queued = page.eval_on_selector_all(
            "#events li[data-status=queued]", "items => items.map((i) => i.dataset.eventId)"
        )
    finally:
        context.close()
    assert len(set(queued)) == 2 and PresenceEvent.objects.count() == 0

    # Started again with no network: the app from the service worker's cache, the queue from IndexedDB.
    context, page = launch(offline=True)
    try:
        response = page.goto(f"{live_server.url}/tablet/")
        assert response is not None and response.from_service_worker
        expect(page.locator("#screen-checkin")).to_be_visible()
        expect(page.locator("#queue-count")).to_have_attribute("data-waiting", "2")
        expect(page.locator("#roster li[data-unsent=true]")).to_have_count(2)
        shot(page, "12-restarted-offline")

        context.set_offline(False)
        expect(page.locator("#queue-count")).to_have_attribute("data-waiting", "0")
        expect(page.locator("#events li[data-result=accepted]")).to_have_count(2)
        for event_id in queued:
            assert PresenceEvent.objects.filter(event_id=event_id).count() == 1
        assert PresenceEvent.objects.count() == 2
        expect(page.locator("#roster li:not([data-unsent])")).to_have_count(2)
        assert roster_serials(page) == server_roster(place) == {ada.serial, grace.serial}
        # Syncing again sends nothing twice.
        sync(page)
        assert PresenceEvent.objects.count() == 2
        go_offline(page)
    finally:
        context.close()
    assert errors == []


@pytest.mark.parametrize("first", ["A", "B"])
def test_two_tablets_offline_end_with_the_same_roster_whichever_syncs_first(
    first, new_page, live_server, place, election, county, commissioner, poll_worker
):
    # Two poll workers: one account signed in on two tablets at once is a shared logon (the older session ends).
    worker_b = grant(UserFactory(username="worker_b"), Role.POLL_WORKER, polling_place=place, election=election)
    ada = watcher(election, county, holder_name="Ada Lovelace", appointed_by_name="Analytical Party")
    grace = watcher(election, county, holder_name="Grace Hopper", appointed_by_name="Compiler Party")
    alan = watcher(election, county, holder_name="Alan Turing", appointed_by_name="Machine Party")
    mallory = watcher(election, county, holder_name="Mallory Lost", appointed_by_name="Machine Party")
    tokens = {c.serial: token_of(c) for c in (ada, grace, alan, mallory)}
    pages = {}
    for name, worker, label in (("A", poll_worker, "Door 1"), ("B", worker_b, "Door 2")):
        page, watch = new_page()
        set_up(page, live_server, enrolled(commissioner, place, election, label), worker)
        go_offline(page)
        pages[name] = (page, watch)
    a, b = pages["A"][0], pages["B"][0]

    # Offline, in this order: A lets Ada and Grace in, then B lets Alan in and Ada out (B never saw her come in).
    for person in (ada, grace):
        check(a, tokens[person.serial])
        check_in(a)
    check(b, tokens[alan.serial])
    check_in(b)
    check(b, tokens[ada.serial])
    b.click("#check-out")
    expect(b.locator("#verdict")).to_be_hidden()
    expect(a.locator("#queue-count")).to_have_attribute("data-waiting", "2")
    expect(b.locator("#queue-count")).to_have_attribute("data-waiting", "2")

    order = [a, b] if first == "A" else [b, a]
    for page in order:
        page.context.set_offline(False)
        expect(page.locator("#queue-count")).to_have_attribute("data-waiting", "0")
    sync(order[0])  # the first learns what the second sent
    expected = {grace.serial, alan.serial}
    assert server_roster(place) == expected
    assert PresenceEvent.objects.count() == 4
    for page in (a, b):
        assert roster_serials(page) == expected
    shot(b, f"13-two-tablets-{first}-first")

    # Revoked on the server: refused offline on a tablet once it has synced.
    issuing.credential_revoke(actor=Actor(user=commissioner), credential_id=mallory.pk, reason="Lost badge")
    sync(b)
    go_offline(b)
    check(b, tokens[mallory.serial], valid=False)
    expect(b.locator("#verdict")).to_have_attribute("data-reason", "revoked")
    expect(b.locator("#holder-name")).to_have_text("Mallory Lost")
    expect(b.locator("#check-in")).to_be_disabled()
    go_offline(a)
    for _page, watch in pages.values():
        watch.assert_clean(allow=("Failed to load resource",))


def test_an_answer_lost_on_the_way_is_sent_again_and_the_first_answer_stands(
    new_page, live_server, place, election, county, commissioner, poll_worker
):
    """The server stores a sync but its answer never reaches the tablet (the network goes while it travels back):
    the tablet keeps the events queued, sends them again, and shows the first answer (accepted), not "already
    recorded" — the server holds each event once."""
    ada = watcher(election, county, holder_name="Ada Lovelace", appointed_by_name="Analytical Party")
    token_of(ada)  # the county's signing key exists before the tablet's first sync
    # Routing sees the page's own requests only without a service worker in between.
    page, watch = new_page(service_workers="block")
    set_up(page, live_server, enrolled(commissioner, place, election), poll_worker)

    def lose_the_answer(route) -> None:
        route.fetch()  # the server stores the events…
        route.abort("connectionreset")  # …and the tablet never hears back

    page.route("**/api/v1/sync/", lose_the_answer)
    check(page, token_of(ada))
    check_in(page)  # online: sent at once
    expect(page.locator("#sync-status")).to_have_attribute("data-state", "failed")
    expect(page.locator("#queue-count")).to_have_attribute("data-waiting", "1")
    assert PresenceEvent.objects.count() == 1

    page.unroute("**/api/v1/sync/")
    sync(page)
    expect(page.locator("#queue-count")).to_have_attribute("data-waiting", "0")
    expect(page.locator("#events li[data-result=accepted][data-resent=true]")).to_have_count(1)
    assert PresenceEvent.objects.count() == 1
    assert roster_serials(page) == server_roster(place) == {ada.serial}
    watch.assert_clean(allow=("Failed to load resource",))


def test_an_incident_whose_answer_is_lost_is_sent_again_and_stored_once(
    new_page, live_server, place, election, commissioner, poll_worker
):
    """The server stores an incident report but the answer never reaches the tablet: the tablet keeps it queued and
    sends it again under the same report id; the server answers with the first report and holds it once."""
    page, watch = new_page(service_workers="block")
    set_up(page, live_server, enrolled(commissioner, place, election), poll_worker)

    def lose_the_answer(route) -> None:
        if route.request.method != "POST":
            return route.continue_()
        route.fetch()  # the server stores the report…
        return route.abort("connectionreset")  # …and the tablet never hears back

    page.route("**/api/v1/incidents/", lose_the_answer)
    page.click("#incident-open")
    page.select_option("#incident-activity", "loitering")
    page.fill("#incident-description", "Two people wait by the door and talk to voters.")
    page.click("#incident-form button[type=submit]")
    expect(page.locator("#sync-status")).to_have_attribute("data-state", "failed")
    expect(page.locator("#incidents li[data-status=queued]")).to_have_count(1)
    assert Incident.objects.count() == 1

    page.unroute("**/api/v1/incidents/")
    sync(page)
    expect(page.locator("#incidents li[data-status=sent]")).to_have_count(1)
    stored = Incident.objects.get()
    assert stored.report_id is not None and stored.activity == "loitering"
    expect(page.locator("#incidents li[data-status=sent]")).to_have_attribute(
        "data-zone-status", stored.zone_status or ""
    )
    watch.assert_clean(allow=("Failed to load resource",))

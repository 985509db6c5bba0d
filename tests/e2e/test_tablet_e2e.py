"""The poll worker's tablet app (/tablet/) in real Chromium: set-up with an enrolment code the service issued, sign-in
bound to the tablet, a real credential checked in online, two more checked in with the browser context offline (the
page reloaded offline: the shell comes from the service worker), then back online: every event reaches the server
exactly once and the roster shows them; a tampered token is refused offline as a bad signature.
(run: pytest tests/e2e/test_tablet_e2e.py -o markers=e2e)"""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path

import pytest
from playwright.sync_api import expect

from accounts.audit import Actor
from accounts.credentials import issuing, signing
from accounts.people import tablets
from polling.models import Presence, PresenceEvent
from tests.election_day_helpers import token_of, watcher
from tests.factories import ElectionFactory
from tests.helpers import seed_reference_data
from tests.people import PASSWORD

from .tablet import check, check_in, shot, sync

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


def tamper(token: str) -> str:
    """The same token with one character of its signature changed (payload intact: not malformed)."""
    i = len(token) - 20
    return token[:i] + ("B" if token[i] != "B" else "C") + token[i + 1 :]


def test_set_up_sign_in_check_in_online_and_offline_then_sync(
    new_page, live_server, place, election, county, commissioner, poll_worker
):
    _, code = tablets.enrolment_code_create(
        actor=Actor(user=commissioner), polling_place=place, label="Door 1", election=election
    )
    ada = watcher(election, county, holder_name="Ada Lovelace", appointed_by_name="Analytical Party")
    grace = watcher(election, county, holder_name="Grace Hopper", appointed_by_name="Compiler Party")
    alan = watcher(election, county, holder_name="Alan Turing", appointed_by_name="Machine Party")
    page, watch = new_page()
    context = page.context

    # Set-up: the enrolment code.
    page.goto(f"{live_server.url}/tablet/")
    expect(page.locator("#screen-setup")).to_be_visible()
    shot(page, "1-setup")
    page.fill("#enrol-code", code)
    page.click("#setup-form button[type=submit]")

    # Sign-in: the poll worker of this place, bound to the enrolled tablet.
    expect(page.locator("#screen-signin")).to_be_visible()
    expect(page.locator("#device-info")).to_contain_text("Door 1")
    shot(page, "2-signin")
    page.fill("#username", poll_worker.username)
    page.fill("#password", PASSWORD)
    page.click("#signin-form button[type=submit]")
    expect(page.locator("#screen-checkin")).to_be_visible()
    expect(page.locator("#sync-status")).to_have_attribute("data-state", "done")  # keys, roster, revocations
    expect(page.locator("#place-info")).to_contain_text(place.name)

    # Online: checked on the tablet, the name from the server, checked in at once.
    check(page, token_of(ada))
    expect(page.locator("#verdict")).to_have_attribute("data-confirmed", "true")
    expect(page.locator("#holder-name")).to_have_text("Ada Lovelace")
    expect(page.locator("#holder-kind")).to_have_text("Poll watcher")
    shot(page, "3-verdict-valid")
    check_in(page)
    expect(page.locator("#events li[data-result=accepted]")).to_have_count(1)
    expect(page.locator("#roster li")).to_have_count(1)
    expect(page.locator("#roster")).to_contain_text("Ada Lovelace")

    # The service worker holds the shell before the network goes.
    assert page.evaluate("() => navigator.serviceWorker.ready.then((r) => r.active.state)") == "activated"

    # Offline: two check-ins queued, a tampered token refused.
    context.set_offline(True)
    expect(page.locator("#net")).to_have_attribute("data-online", "false")
    for person in (grace, alan):
        check(page, token_of(person))
        expect(page.locator("#verdict")).to_have_attribute("data-confirmed", "false")
        # Never seen online, named all the same: from the place's list of holders kept at the last sync.
        expect(page.locator("#holder-name")).to_have_text(person.holder_name)
        check_in(page)
    expect(page.locator("#events li[data-status=queued]")).to_have_count(2)
    expect(page.locator("#queue-count")).to_have_attribute("data-waiting", "2")
    check(page, tamper(token_of(grace)), valid=False)
    expect(page.locator("#verdict")).to_have_attribute("data-reason", "bad_signature")
    expect(page.locator("#verdict-heading")).to_have_text("Refused: bad signature")
    expect(page.locator("#check-in")).to_be_disabled()
    shot(page, "4-offline-bad-signature")
    assert PresenceEvent.objects.count() == 1  # nothing left the tablet

    # Reloaded offline: the app shell comes from the service worker, the queue from IndexedDB.
    response = page.reload()
    assert response is not None and response.from_service_worker
    # …from its cache: the worker's own requests are offline too (a file it does not cache cannot be fetched).
    fetched = "() => fetch('/tablet/manifest.webmanifest').then(() => 'network', () => 'no network')"
    assert page.evaluate(fetched) == "no network"
    expect(page.locator("#screen-checkin")).to_be_visible()
    expect(page.locator("#queue-count")).to_have_attribute("data-waiting", "2")
    expect(page.locator("#roster li[data-unsent=true]")).to_have_count(2)
    shot(page, "5-offline-reloaded")

    # Back online: the queue syncs by itself.
    context.set_offline(False)
    expect(page.locator("#queue-count")).to_have_attribute("data-waiting", "0")
    expect(page.locator("#events li[data-result=accepted]")).to_have_count(3)
    event_ids = page.eval_on_selector_all("#events li", "items => items.map((i) => i.dataset.eventId)")
    assert len(set(event_ids)) == 3
    for event_id in event_ids:
        assert PresenceEvent.objects.filter(event_id=event_id).count() == 1
    assert PresenceEvent.objects.count() == 3
    assert set(Presence.objects.filter(polling_place=place).values_list("credential__serial", flat=True)) == {
        ada.serial,
        grace.serial,
        alan.serial,
    }
    expect(page.locator("#roster li")).to_have_count(3)
    for name in ("Ada Lovelace", "Grace Hopper", "Alan Turing"):
        expect(page.locator("#roster")).to_contain_text(name)

    # A second sync sends nothing again.
    sync(page)
    assert PresenceEvent.objects.count() == 3
    shot(page, "6-synced-roster")

    # Revoked on the server: after the next sync the tablet refuses the credential offline too.
    revoked_one = watcher(election, county, holder_name="Mallory")
    issuing.credential_revoke(actor=Actor(user=commissioner), credential_id=revoked_one.pk, reason="Lost badge")
    check(page, token_of(ada))  # keys known; still valid before and after the sync
    sync(page)
    context.set_offline(True)
    check(page, token_of(revoked_one), valid=False)
    expect(page.locator("#verdict")).to_have_attribute("data-reason", "revoked")
    expect(page.locator("#verdict")).to_have_attribute("data-confirmed", "false")
    expect(page.locator("#check-in")).to_be_disabled()
    # The tablet stays offline to the end: back online it would sync at once, and a request still being served when
    # the test's database is emptied makes the teardown fail.
    watch.assert_clean(allow=("Failed to load resource",))


# --- the tablet's offline verification gives the server's reasons -----------------------------------------------------

T = dt.datetime(2026, 11, 3, 12, 0, tzinfo=dt.UTC)
FIPS, ELECTION, PLACE = "28049", 42, 7


def _token(key, key_id: int = 1, **fields) -> str:
    claims = {
        "key_id": key_id,
        "serial": "ABCDE12345",
        "kind": signing.Kind.POLL_WATCHER,
        "election_id": ELECTION,
        "valid_from": T - dt.timedelta(hours=6),
        "valid_until": T + dt.timedelta(hours=6),
        "county_fips": FIPS,
        "place_ids": (),
    } | fields
    return signing.sign_payload(signing.encode_payload(**claims), key)


def _server_reason(token: str, keys: dict[int, bytes], revoked: dict[str, dt.datetime], covering: set[bytes]):
    """What the server decides (signing.verify_token, check_claims, then revocation as verification.py orders it)."""
    try:
        claims = signing.verify_token(token, keys)
    except signing.TokenError as error:
        return error.reason
    reason = signing.check_claims(
        claims, at=T, election_id=ELECTION, polling_place_id=PLACE, county_fips=FIPS, covering_hashes=covering
    )
    if reason is None and claims.serial in revoked and revoked[claims.serial] <= T:
        reason = signing.Reason.REVOKED
    return reason


def test_offline_verification_matches_the_server(new_page, live_server):
    key, other, retired = (signing.generate_private_key() for _ in range(3))
    many = list(range(100, 125))  # more than 20 places: hashed scope
    tokens = {
        "valid county-wide": _token(key),
        "valid listed": _token(key, place_ids=(3, PLACE, 9)),
        "valid hashed": _token(key, place_ids=[*many, PLACE]),
        "listed elsewhere": _token(key, place_ids=(3, 9)),
        "hashed elsewhere": _token(key, place_ids=many),
        "other county": _token(key, county_fips="28089"),
        "other election": _token(key, election_id=ELECTION + 1),
        "not yet": _token(key, valid_from=T + dt.timedelta(minutes=1)),
        "ends now": _token(key, valid_until=T),
        "observer": _token(key, kind=signing.Kind.STATE_OBSERVER),
        "revoked before": _token(key, serial="REV0KED000".replace("O", "0")),
        "revoked after": _token(key, serial="LATERREV00".replace("L", "1")),
        "revoked elsewhere": _token(key, serial="REV0KED000".replace("O", "0"), county_fips="28089"),
        "unknown key": _token(other, key_id=2),
        "retired key": _token(retired, key_id=3),
        "other key's signature": _token(other, key_id=1),
        "tampered": tamper(_token(key)),
        "garbage": "HELLO WORLD!",
        "empty": "   ",
        "short": "AEAQCAIB",
        "lower case": _token(key).lower(),
        "spaced": " ".join(_token(key)[i : i + 4] for i in range(0, len(_token(key)), 4)),
        "truncated": _token(key)[:-1],
        "too long": "A" * 1100,
    }
    # Damaged copies: characters replaced, cut and repeated (a smudged or mistyped code).
    base = _token(key, place_ids=(3, PLACE))
    rng = random.Random(14)
    for n in range(60):
        chars = list(base)
        i = rng.randrange(len(chars))
        action = n % 3
        if action == 0:
            chars[i] = rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567018=")
        elif action == 1:
            del chars[i:]
        else:
            chars.insert(i, rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"))
        tokens[f"damaged {n}"] = "".join(chars)

    public = {1: signing.public_key_bytes(key), 3: signing.public_key_bytes(retired)}
    keys_body = {
        "keys": [
            {"key_id": 1, "public_key": signing.b64(public[1]), "state": "active"},
            {"key_id": 3, "public_key": signing.b64(public[3]), "state": "retired"},
        ]
    }
    revoked = {"REV0KED000": T - dt.timedelta(minutes=5), "1ATERREV00": T + dt.timedelta(minutes=5)}
    covering = {signing.scope_hash(FIPS, [*many, PLACE])}
    expected = {name: _server_reason(token, {1: public[1]}, revoked, covering) for name, token in tokens.items()}

    page, watch = new_page()
    page.goto(f"{live_server.url}/tablet/")
    expect(page.locator("#screen-setup")).to_be_visible()
    got = page.evaluate(
        """async ([tokens, keys, revoked, covering, at, election, place, fips]) => {
            const {verifyOffline} = await import("/static/tablet/token.js");
            const out = {};
            for (const [name, token] of Object.entries(tokens)) {
                const v = await verifyOffline(token, {
                    keys, at: new Date(at), electionId: election, placeId: place, countyFips: fips,
                    scopeHashes: covering.map((h) => ({election, scope_hash: h})), revoked,
                });
                out[name] = v.reason;
            }
            return out;
        }""",
        [
            tokens,
            keys_body,
            [{"serial": s, "revoked_at": at.isoformat()} for s, at in revoked.items()],
            [h.hex() for h in covering],
            T.isoformat(),
            ELECTION,
            PLACE,
            FIPS,
        ],
    )
    assert got == expected
    # Every reason a tablet can give offline is covered above.
    assert set(expected.values()) >= {
        None,
        "malformed",
        "unknown_key",
        "bad_signature",
        "revoked",
        "not_yet_valid",
        "expired",
        "wrong_election",
        "wrong_place",
    }
    watch.assert_clean()


# --- accessibility: axe-core on every screen --------------------------------------------------------------------------

AXE = Path(__file__).resolve().parent / "vendor" / "axe-core" / "axe.min.js"
AXE_URL = "/__test__/axe.min.js"


def serious_violations(page) -> list[dict]:
    """axe-core's serious and critical findings on what the page shows now. The engine is handed to the page as a
    same-origin script (a route of this test; the service never serves it), so the page's CSP holds."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.add_script_tag(url=AXE_URL)
    return page.evaluate(
        """() => axe.run(document, {resultTypes: ["violations"]}).then((r) => r.violations
            .filter((v) => v.impact === "serious" || v.impact === "critical")
            .map((v) => ({id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map((n) => n.target.join(" "))})))"""
    )


def test_every_screen_passes_axe(new_page, live_server, settings, place, election, county, commissioner, poll_worker):
    """Every screen and state: set-up with an error, sign-in (also with events waiting), check-in with keys out of date,
    valid and refused verdicts, a serial alone, a quota warning, the paper fallback's status."""
    settings.TABLET_STALE_AFTER_S = 1  # the out-of-date warning shows within a second of each sync
    _, code = tablets.enrolment_code_create(
        actor=Actor(user=commissioner), polling_place=place, label="Door 2", election=election
    )
    ada = watcher(election, county, holder_name="Ada Lovelace", appointed_by_name="Analytical Party")
    grace = watcher(election, county, holder_name="Grace Hopper", appointed_by_name="Analytical Party")
    alan = watcher(election, county, holder_name="Alan Turing", appointed_by_name="Analytical Party")
    token = token_of(ada)
    # The service worker would answer the engine's request before the route could: none in this test.
    page, watch = new_page(service_workers="block")
    page.route(
        f"{live_server.url}{AXE_URL}", lambda route: route.fulfill(path=str(AXE), content_type="text/javascript")
    )
    page.goto(f"{live_server.url}/tablet/")
    expect(page.locator("#screen-setup")).to_be_visible()
    page.fill("#enrol-code", "WRONGCODE")
    page.click("#setup-form button[type=submit]")
    expect(page.locator("#setup-error")).not_to_have_text("Enrolling…")
    expect(page.locator("#setup-error")).not_to_be_empty()
    screens = {"setup (with an error)": serious_violations(page)}
    page.fill("#enrol-code", code)
    page.click("#setup-form button[type=submit]")
    expect(page.locator("#screen-signin")).to_be_visible()
    screens["sign-in"] = serious_violations(page)
    page.fill("#username", poll_worker.username)
    page.fill("#password", PASSWORD)
    page.click("#signin-form button[type=submit]")
    expect(page.locator("#sync-status")).to_have_attribute("data-state", "done")
    expect(page.locator("#freshness")).to_have_attribute("data-stale", "true")
    screens["check-in (keys out of date)"] = serious_violations(page)
    check(page, token)
    expect(page.locator("#verdict")).to_have_attribute("data-confirmed", "true")
    screens["valid verdict"] = serious_violations(page)
    check_in(page)
    expect(page.locator("#events li[data-result=accepted]")).to_have_count(1)
    check(page, tamper(token), valid=False)
    screens["refused verdict and roster"] = serious_violations(page)
    page.fill("#token", alan.serial)
    page.click("#token-form button[type=submit]")
    expect(page.locator("#verdict")).to_have_attribute("data-reason", "serial_only")
    screens["a serial alone"] = serious_violations(page)
    check(page, token_of(grace))
    check_in(page)
    expect(page.locator("#events li[data-result=accepted]")).to_have_count(2)
    check(page, token_of(alan))
    expect(page.locator("#verdict")).to_have_attribute("data-quota", "full")
    screens["quota warning"] = serious_violations(page)
    with page.expect_download():
        page.click("#paper-roster")
    expect(page.locator("#paper-status")).to_contain_text("downloaded")
    screens["paper fallback"] = serious_violations(page)
    page.click("#incident-open")
    expect(page.locator("#screen-incident")).to_be_visible()
    page.click("#incident-form button[type=submit]")
    expect(page.locator("#incident-error")).not_to_be_empty()
    screens["incident report (with an error)"] = serious_violations(page)
    page.click("#incident-cancel")
    page.click("#scan-start")  # no camera in this browser: the app says so
    expect(page.locator("#scan-status")).to_contain_text("type the code")
    screens["camera unavailable"] = serious_violations(page)
    check(page, token_of(alan))
    page.context.set_offline(True)
    check_in(page)
    expect(page.locator("#queue-count")).to_have_attribute("data-waiting", "1")
    page.click("#sign-out")
    expect(page.locator("#signin-queue")).to_contain_text("1 event(s)")
    screens["sign-in with events waiting"] = serious_violations(page)
    assert screens == {name: [] for name in screens}
    watch.assert_clean(allow=("Failed to load resource",))

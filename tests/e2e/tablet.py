"""What the tablet app's browser tests do again and again: set a tablet up, sign in, check a token, check in, sync,
go offline, keep a screenshot. Each waits for the app's own state, never for time."""

from __future__ import annotations

from playwright.sync_api import expect

from accounts.audit import Actor
from accounts.people import tablets
from tests.people import PASSWORD

from .conftest import SCREENSHOTS


def shot(page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"tablet-{name}.png"), full_page=True)


def check(page, token: str, *, valid: bool = True) -> None:
    """Check ``token`` and wait for its own verdict: the verdict box keeps the previous one's attributes while
    hidden, so the box is waited for visible first (each check-in hides it once the event is stored)."""
    page.fill("#token", token)
    page.click("#token-form button[type=submit]")
    expect(page.locator("#verdict")).to_be_visible()
    expect(page.locator("#verdict")).to_have_attribute("data-valid", "true" if valid else "false")


def check_in(page) -> None:
    """Tap "Check in" and wait until the event is stored on the tablet (the app then hides the verdict)."""
    page.click("#check-in")
    expect(page.locator("#verdict")).to_be_hidden()


def sync(page) -> None:
    """Tap "Sync now" and wait for that sync's end: the app counts finished syncs in ``data-syncs`` (a "done" state
    alone may be the previous sync's)."""
    before = page.get_attribute("#sync-status", "data-syncs") or "0"
    page.click("#sync-now")
    expect(page.locator("#sync-status")).not_to_have_attribute("data-syncs", before)
    expect(page.locator("#sync-status")).to_have_attribute("data-state", "done")


def enrolled(commissioner, place, election, label: str = "Door 1") -> str:
    _, code = tablets.enrolment_code_create(
        actor=Actor(user=commissioner), polling_place=place, label=label, election=election
    )
    return code


def set_up(page, live_server, code: str, user) -> None:
    """Enrol the tablet with ``code`` and sign ``user`` in; returns once the first sync (keys, revocations, roster,
    holders) is done."""
    page.goto(f"{live_server.url}/tablet/")
    page.fill("#enrol-code", code)
    page.click("#setup-form button[type=submit]")
    sign_in(page, user)


def sign_in(page, user) -> None:
    expect(page.locator("#screen-signin")).to_be_visible()
    page.fill("#username", user.username)
    page.fill("#password", PASSWORD)
    page.click("#signin-form button[type=submit]")
    expect(page.locator("#screen-checkin")).to_be_visible()
    expect(page.locator("#sync-status")).to_have_attribute("data-state", "done")
    expect(page.locator("#freshness-names")).to_contain_text("kept on this tablet")


def go_offline(page) -> None:
    page.context.set_offline(True)
    expect(page.locator("#net")).to_have_attribute("data-online", "false")

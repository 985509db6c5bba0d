"""Browser tests: the real page in Debian's headless Chromium (never a browser Playwright downloads), driven by
Playwright's sync API against pytest-django's live server.

Every page runs under the site's Content-Security-Policy (no 'unsafe-eval'): wait with selectors or ``expect``,
never ``page.wait_for_function``, whose polling compiles its predicate with eval inside the page and is refused.

Without /usr/bin/chromium these tests skip, except under CI (the CI environment variable set), where they fail:
.ci/run installs the package.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from django.core.management import call_command

from tests.helpers import seed_reference_data

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"


@pytest.fixture(scope="session")
def chromium_path() -> str:
    if os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK):
        return CHROMIUM
    reason = f"{CHROMIUM} is missing: install Debian's chromium package (apt-get install chromium) for the e2e tests"
    if os.environ.get("CI"):
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser(chromium_path: str) -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an asyncio loop on this thread; Django refuses ORM calls from a thread with a
    # running loop unless told it is safe (it is: the ORM calls here and the browser never run at the same time).
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
            try:
                yield browser
            finally:
                browser.close()


@dataclass
class Watch:
    """What a page did: console errors, uncaught exceptions, every request it made."""

    origin: str
    errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)

    def external_requests(self) -> list[str]:
        return [u for u in self.requests if not (u.startswith(self.origin + "/") or u.startswith(("data:", "blob:")))]

    def assert_clean(self, *, allow: tuple[str, ...] = ()) -> None:
        errors = [e for e in self.errors if not any(a in e for a in allow)]
        assert errors == [], f"console errors: {errors}"
        assert self.external_requests() == [], "requests left the site"


@pytest.fixture
def new_page(browser, live_server):
    """Factory: a fresh browser context and page (options go to new_context), watched for errors and requests."""
    contexts = []

    def make(**context_options):
        options = {"viewport": {"width": 1280, "height": 800}, "locale": "en-US", **context_options}
        context = browser.new_context(**options)
        context.set_default_timeout(15_000)
        contexts.append(context)
        page = context.new_page()
        watch = Watch(origin=live_server.url)
        page.on("console", lambda m: m.type == "error" and watch.errors.append(f"{m.text} ({m.location})"))
        page.on("pageerror", lambda e: watch.errors.append(f"uncaught: {e}"))
        page.on("request", lambda r: watch.requests.append(r.url))
        return page, watch

    yield make
    for context in contexts:
        context.close()


def _restore_seed_data() -> None:
    """Put back the jurisdictions and buffer rules that migration 0002 seeds: the flush after every transactional
    test removes them (serialized_rollback proved unreliable here: its copy was missing when other database tests
    ran first)."""
    seed_reference_data()


@pytest.fixture
def demo():
    """The Mississippi demo in the test database, and the spatial index built from it (returned).

    The index is per process and keyed by the geography version, which repeats after the database is flushed
    between transactional tests: reset it on both sides.
    """
    from polling.geography import spatial

    spatial.reset_index()
    _restore_seed_data()
    call_command("load_demo", no_progress=True, stdout=io.StringIO())
    index = spatial.current_index()
    yield index
    spatial.reset_index()


@pytest.fixture
def empty_geography():
    from polling.geography import spatial

    spatial.reset_index()
    yield
    spatial.reset_index()

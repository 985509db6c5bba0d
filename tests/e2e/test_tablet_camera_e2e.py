"""Scanning a credential with the tablet's camera, in real Chromium: a credential issued by the service, its QR code
drawn by the product's own code (``accounts.credentials.badges.qr_code``, segno), made into a Y4M video (Pillow, no
ffmpeg) that Chromium's fake camera plays; the tablet, offline, reads it (BarcodeDetector where the browser has one,
else the vendored @zxing/library from the service worker's cache) and shows the verdict with the holder's name.
(run: pytest tests/e2e/test_tablet_camera_e2e.py -o markers=e2e)"""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path

import pytest
from PIL import Image
from playwright.sync_api import expect

from accounts.credentials import badges
from tests.election_day_helpers import token_of, watcher
from tests.factories import ElectionFactory
from tests.helpers import seed_reference_data

from .conftest import CHROMIUM_ARGS
from .tablet import check_in, enrolled, go_offline, set_up, shot

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

WIDTH, HEIGHT = 640, 480


@pytest.fixture(autouse=True)
def _seeded(db):
    seed_reference_data()


@pytest.fixture
def election(mississippi, today):
    """Today, with the polls open all day: the browser and the live server use the real clock."""
    return ElectionFactory(
        jurisdiction=mississippi, name="General", date=today, polls_open=dt.time(0, 0), polls_close=dt.time(23, 59, 59)
    )


def qr_video(token: str, path: Path, *, frames: int = 10) -> Path:
    """A Y4M video (4:2:0, full-range YCbCr as Pillow makes it) of the token's QR code on a white page, as a
    badge held up to the camera would look: Chromium's fake camera plays it in a loop."""
    png = io.BytesIO()
    badges.qr_code(token).save(png, kind="png", scale=1, border=4)
    with Image.open(io.BytesIO(png.getvalue())) as code:
        side = HEIGHT - 60
        module_px = side // code.width
        qr = code.convert("L").resize((code.width * module_px,) * 2, Image.Resampling.NEAREST)
    page = Image.new("RGB", (WIDTH, HEIGHT), "white")
    page.paste(qr.convert("RGB"), ((WIDTH - qr.width) // 2, (HEIGHT - qr.height) // 2))
    y, cb, cr = page.convert("YCbCr").split()
    half = (WIDTH // 2, HEIGHT // 2)
    frame = b"FRAME\n" + y.tobytes() + cb.resize(half).tobytes() + cr.resize(half).tobytes()
    path.write_bytes(f"YUV4MPEG2 W{WIDTH} H{HEIGHT} F10:1 Ip A1:1 C420jpeg\n".encode() + frame * frames)
    return path


@pytest.fixture
def camera_browser(browser, chromium_path):
    """Factory: a Chromium whose camera plays ``video`` (made by the test), closed after the test."""
    opened = []

    def launch(video: Path):
        camera = browser.browser_type.launch(
            executable_path=chromium_path,
            args=[
                *CHROMIUM_ARGS,
                "--use-fake-device-for-media-stream",
                "--use-fake-ui-for-media-stream",
                f"--use-file-for-fake-video-capture={video}",
            ],
        )
        opened.append(camera)
        return camera

    yield launch
    for camera in opened:
        camera.close()


def test_a_real_credential_shown_to_the_camera_fills_the_verdict_offline(
    camera_browser, tmp_path, live_server, place, election, county, commissioner, poll_worker
):
    ada = watcher(election, county, holder_name="Ada Lovelace", appointed_by_name="Analytical Party")
    token = token_of(ada)
    camera = camera_browser(qr_video(token, tmp_path / "badge.y4m"))
    context = camera.new_context(viewport={"width": 1280, "height": 800}, locale="en-US", permissions=["camera"])
    context.set_default_timeout(20_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(f"uncaught: {e}"))
    page.on(
        "console", lambda m: m.type == "error" and "Failed to load resource" not in m.text and errors.append(m.text)
    )
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    try:
        set_up(page, live_server, enrolled(commissioner, place, election), poll_worker)
        assert page.evaluate("() => navigator.serviceWorker.ready.then((r) => r.active.state)") == "activated"
        go_offline(page)  # the decoder comes from the service worker's cache like the rest of the app

        page.click("#scan-start")
        expect(page.locator("#scan")).not_to_have_attribute("data-engine", "")  # the camera is on
        verdict = page.locator("#verdict")
        expect(verdict).to_be_visible(timeout=60_000)  # decoding frames is slow on a loaded machine
        expect(verdict).to_have_attribute("data-valid", "true")
        expect(page.locator("#holder-name")).to_have_text("Ada Lovelace")
        expect(page.locator("#token")).to_have_value(token)
        expect(page.locator("#scan-video")).to_be_hidden()  # the camera is stopped once a code is read
        engine = page.get_attribute("#scan", "data-engine")
        assert engine in ("BarcodeDetector", "zxing"), engine
        shot(page, "14-scanned")
        check_in(page)
        expect(page.locator("#queue-count")).to_have_attribute("data-waiting", "1")
    finally:
        context.close()
    assert errors == []
    assert [u for u in requests if not u.startswith((live_server.url + "/", "data:", "blob:"))] == []

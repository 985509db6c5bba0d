"""The tablet app's shell as the service serves it: the page under the site's strict CSP, the service worker at
/tablet/sw.js (scope /tablet/) listing every shell file, the manifest and its icons. The app itself runs in Chromium:
tests/e2e/test_tablet_e2e.py."""

from __future__ import annotations

import json
import re

import pytest
from django.contrib.staticfiles import finders
from PIL import Image

from polling.web.tablet import views

pytestmark = pytest.mark.django_db


def test_the_page_runs_under_the_strict_policy_with_no_inline_script_or_style(client):
    response = client.get("/tablet/")
    assert response.status_code == 200
    policy = response["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "style-src 'self'" in policy and "unsafe" not in policy
    html = response.content.decode()
    assert re.search(r"<script(?![^>]*\ssrc=)", html) is None, "no inline script"
    assert "<style" not in html and " style=" not in html
    assert 'type="module"' in html and "/tablet/manifest.webmanifest" in html
    assert client.post("/tablet/").status_code == 405


def test_the_service_worker_is_served_at_its_scope_and_caches_every_shell_file(client):
    response = client.get("/tablet/sw.js")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/javascript")
    assert response["Service-Worker-Allowed"] == "/tablet/"
    assert response["Cache-Control"] == "no-cache"
    body = response.content.decode()
    shell = json.loads(re.search(r"const SHELL = (\[.*?\]);", body).group(1))
    assert shell[0] == "/tablet/"
    assert set(shell[1:]) == {f"/static/{name}" for name in views.SHELL_FILES}
    for name in views.SHELL_FILES:
        assert finders.find(name), name
    assert f'const VERSION = "{views.shell_version()}"' in body


def test_the_manifest_names_the_app_and_icons_of_the_sizes_it_claims(client):
    response = client.get("/tablet/manifest.webmanifest")
    assert response.status_code == 200 and response["Content-Type"] == "application/manifest+json"
    manifest = response.json()
    assert manifest["start_url"] == manifest["scope"] == "/tablet/" and manifest["display"] == "standalone"
    for icon in manifest["icons"]:
        path = finders.find(icon["src"].removeprefix("/static/"))
        with Image.open(path) as image:
            assert f"{image.width}x{image.height}" == icon["sizes"] and image.format == "PNG"


def test_the_page_carries_the_idle_sign_out_and_staleness_settings(client, settings):
    html = client.get("/tablet/").content.decode()
    # The defaults: 15 minutes untouched, 30 minutes since the last sync.
    assert 'data-idle-sign-out-s="900"' in html and 'data-stale-after-s="1800"' in html
    settings.TABLET_IDLE_SIGN_OUT_S = 120
    settings.TABLET_STALE_AFTER_S = 600
    html = client.get("/tablet/").content.decode()
    assert 'data-idle-sign-out-s="120"' in html and 'data-stale-after-s="600"' in html

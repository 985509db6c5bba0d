"""The tablet app's shell: the page, its web app manifest and its service worker.

The service worker is served from ``/tablet/sw.js`` so that its scope is ``/tablet/`` (a worker controls only the
paths at or below its own); it is rendered with the list of shell files and a version made from their contents, so
that a new release of any file installs a new worker and replaces the cached shell.
"""

from __future__ import annotations

import hashlib
import json
from functools import cache

from django.conf import settings
from django.contrib.staticfiles import finders
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.template.loader import get_template
from django.templatetags.static import static
from django.urls import reverse
from django.views.decorators.http import require_safe

#: Static files of the app shell, cached by the service worker at install (the page itself is cached too).
SHELL_FILES = (
    "tablet/tablet.css",
    "tablet/app.js",
    "tablet/api.js",
    "tablet/store.js",
    "tablet/token.js",
    "tablet/scan.js",
    "tablet/vendor/zxing/index.min.js",
    "tablet/icon-192.png",
    "tablet/icon-512.png",
)


@cache
def shell_version() -> str:
    """A digest of the shell files' contents: changes whenever any of them does (computed once per process)."""
    digest = hashlib.sha256()
    for name in SHELL_FILES:
        path = finders.find(name)
        digest.update(name.encode())
        if path:
            with open(path, "rb") as handle:
                digest.update(handle.read())
    for template in ("tablet/tablet.html", "tablet/sw.js"):
        digest.update(get_template(template).template.source.encode())  # type: ignore[attr-defined]
    return digest.hexdigest()[:16]


@require_safe
def tablet_page(request: HttpRequest) -> HttpResponse:
    context = {
        "version": shell_version(),
        "idle_sign_out_s": settings.TABLET_IDLE_SIGN_OUT_S,
        "stale_after_s": settings.TABLET_STALE_AFTER_S,
    }
    response = render(request, "tablet/tablet.html", context)
    # The service worker serves the cached copy offline; online the page is always fetched fresh.
    response["Cache-Control"] = "no-cache"
    return response


@require_safe
def service_worker(request: HttpRequest) -> HttpResponse:
    body = render(
        request,
        "tablet/sw.js",
        {
            "version": shell_version(),
            "shell": json.dumps([reverse("tablet"), *(static(name) for name in SHELL_FILES)]),
        },
        content_type="text/javascript; charset=utf-8",
    )
    # A browser checks for a new worker on every navigation; never let a cache hide one.
    body["Cache-Control"] = "no-cache"
    body["Service-Worker-Allowed"] = reverse("tablet")
    return body


@require_safe
def manifest(request: HttpRequest) -> HttpResponse:
    start = reverse("tablet")
    body = {
        "name": "Pollguard tablet",
        "short_name": "Pollguard",
        "description": "Check poll watchers and observers in and out at a polling place, with or without network.",
        "id": start,
        "start_url": start,
        "scope": start,
        "display": "standalone",
        "orientation": "any",
        "background_color": "#ffffff",
        "theme_color": "#0b3d91",
        "icons": [
            {"src": static("tablet/icon-192.png"), "sizes": "192x192", "type": "image/png", "purpose": "any"},
            {"src": static("tablet/icon-512.png"), "sizes": "512x512", "type": "image/png", "purpose": "any maskable"},
        ],
    }
    return HttpResponse(json.dumps(body), content_type="application/manifest+json")

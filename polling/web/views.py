"""The public pages: the map (everything it shows comes from the public API; no personal data) and the API docs.

Both run under the site's strict Content-Security-Policy (config.settings CONTENT_SECURITY_POLICY): no inline script
or style, data for scripts only in data- attributes.
"""

from __future__ import annotations

import logging
import re

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_safe
from drf_spectacular.views import SpectacularSwaggerSplitView

logger = logging.getLogger(__name__)

_LABEL = r"[a-z0-9](?:[a-z0-9-]*[a-z0-9])?"
#: scheme (or none: protocol-relative), an optional first label holding a placeholder such as {s}, the host, a port.
_TILE_ORIGIN = re.compile(
    rf"(?:(?P<scheme>https?):)?//(?P<templated>[a-z0-9-]*\{{[a-z]+\}}[a-z0-9-]*\.)?"
    rf"(?P<host>(?:{_LABEL}\.)*{_LABEL})(?::(?P<port>[0-9]{{1,5}}))?(?:[/?#]|\Z)",
    re.IGNORECASE,
)


def tile_source(url: str) -> str | None:
    """The CSP source expression (``https://tiles.example.org``) that lets the map load tiles from ``url``, an XYZ
    template; a first label holding a placeholder (``{s}.tile.example.org``) becomes ``*``. None when nothing needs
    adding (no URL, or a path on this site) or when the URL names no host a policy can allow (logged: the browser
    will then refuse those tiles)."""
    url = url.strip()
    if not url or (url.startswith("/") and not url.startswith("//")):
        return None
    match = _TILE_ORIGIN.match(url)
    if match is None or (match["templated"] and "." not in match["host"]) or int(match["port"] or 1) > 65535:
        logger.warning("MAP_TILE_URL %r names no host a Content-Security-Policy can allow: tiles will not load", url)
        return None
    scheme = f"{match['scheme'].lower()}:" if match["scheme"] else ""
    wildcard = "*." if match["templated"] else ""
    port = f":{match['port']}" if match["port"] else ""
    return f"{scheme}//{wildcard}{match['host'].lower()}{port}".removeprefix("//")


@require_safe
def map_page(request: HttpRequest) -> HttpResponse:
    response = render(
        request,
        "polling/map.html",
        {"tile_url": settings.MAP_TILE_URL, "tile_attribution": settings.MAP_TILE_ATTRIBUTION},
    )
    source = tile_source(settings.MAP_TILE_URL)
    if source:
        response._csp_update = {"img-src": [source]}  # type: ignore[attr-defined]  # read by csp.middleware
    return response


class ApiDocsView(SpectacularSwaggerSplitView):
    """Swagger UI under the strict policy: its start-up script is a second request (``?script``) instead of an
    inline block, and its page styles come from a static file instead of an inline ``<style>``."""

    template_name = "polling/api_docs.html"

    def options(self, request: HttpRequest, *args: object, **kwargs: object) -> HttpResponse:  # type: ignore[override]
        # DRF's metadata answer would go through the page's template renderer and fail; a page's options are its Allow.
        return HttpResponse(headers={"Allow": "GET, HEAD, OPTIONS"})

"""The public map page. Everything it shows comes from the public API; no personal data."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_safe


@require_safe
def map_page(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "polling/map.html",
        {"tile_url": settings.MAP_TILE_URL, "tile_attribution": settings.MAP_TILE_ATTRIBUTION},
    )

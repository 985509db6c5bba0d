"""Static SVG map previews of the change pages (display only: compliance is decided in ``polling.geometry``).

Each ``*_preview`` takes the object of a change form and returns the HTML to show, or a note when there is nothing
to draw yet; a geometry the drawing cannot handle yields a note, never a broken change form.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from django.db.models import Max
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe

from polling.geography.admin.base import decimal_text, geometry_or_none, not_saved_yet
from polling.geography.zones import Zone, zones_for
from polling.geometry import svg
from polling.models import BufferRule, County, PollingPlace, Precinct

logger = logging.getLogger(__name__)

#: At most this many polling places (with their zones) are drawn on a precinct's preview.
PRECINCT_PREVIEW_PLACES = 4
#: Precinct outlines are drawn on a county's preview only up to this many precincts.
COUNTY_PREVIEW_PRECINCTS = 60

REFERENCE_TEXT = {
    "entrances": "from entrances",
    "building": "from the building outline",
    "location": "from the polling-place point",
}

_DRAW_ORDER = {"boundary": 0, "outline": 1, "building": 2, "zone": 3, "entrance": 4, "place": 5}


def _draw_rank(layer: svg.Layer) -> int:
    return _DRAW_ORDER.get(layer.kind.split("-")[0], 3)


def zone_label(zone: Zone) -> str:
    """E.g. "campaigning 150 ft from entrances" (with "(approximate)" when the reference is a stand-in)."""
    text = (
        f"{zone.rule.activity} {decimal_text(zone.rule.distance_ft)} ft "
        f"{REFERENCE_TEXT.get(zone.reference_kind, 'from ' + zone.reference_kind)}"
    )
    return f"{text} (approximate)" if zone.approximate else text


def polling_place_layers(place: PollingPlace, rules: Iterable[BufferRule], *, detailed: bool = True) -> list[svg.Layer]:
    """Building, zones (largest first, so smaller ones stay visible), entrances and the location of ``place``;
    without ``detailed`` (a precinct-sized map, where they would be specks) only the zones and the location.
    Expects ``place.entrances`` prefetched (``zones_for`` reads them too)."""
    layers: list[svg.Layer] = []
    if detailed and place.building is not None:
        layers.append(svg.Layer(place.building, "building", "building outline"))
    zones = sorted(zones_for(place, rules), key=lambda z: -z.limit_ft)
    for zone in zones:
        activity = "".join(c for c in str(zone.rule.activity) if c.isalnum())
        layers.append(svg.Layer(zone.polygon(), f"zone-{activity}", zone_label(zone)))
    for entrance in place.entrances.all() if detailed else ():
        if entrance.in_use:
            kind, label = "entrance", "entrance in use"
        else:
            kind, label = "entrance-unused", "entrance not in use"
        layers.append(svg.Layer(entrance.location, kind, label, tag=entrance.name))
    layers.append(svg.Layer(place.location, "place", "polling place", tag=place.code))
    return layers


def _preview_html(layers: list[svg.Layer], *, title: str, note: str = "") -> SafeString:
    try:
        drawing = svg.render_svg(sorted(layers, key=_draw_rank), title=title)
    except Exception:  # display only: a geometry the preview cannot draw must not take the change form down
        logger.exception("map preview failed: %s", title)
        return format_html('<p class="errornote">The map preview could not be drawn for this geometry.</p>')
    # render_svg XML-escapes every piece of caller text it interpolates (tests/polling/geometry/test_svg.py), so
    # its output is safe to embed as is.
    return format_html('<div class="polling-preview">{}</div>{}', mark_safe(drawing), note)  # noqa: S308  # nosec B308, B703


def county_preview(county: County | None) -> str:
    """The boundary, the precinct outlines (up to COUNTY_PREVIEW_PRECINCTS) and the polling places."""
    if county is None or county.pk is None or geometry_or_none(county.boundary) is None:
        return not_saved_yet()
    layers = [svg.Layer(county.boundary, "boundary", "county boundary")]
    n_precincts = county.precincts.count()
    note = ""
    if n_precincts <= COUNTY_PREVIEW_PRECINCTS:
        for precinct in county.precincts.only("id", "boundary"):
            layers.append(svg.Layer(precinct.boundary, "outline", "precinct outline"))
    else:
        note = format_html("<p class='help'>{} precincts: too many to outline here.</p>", n_precincts)
    for place in county.polling_places.filter(location__isnull=False).only("id", "code", "location"):
        layers.append(svg.Layer(place.location, "place", "polling place"))
    return _preview_html(layers, title=f"{county}: boundary, precincts and polling places", note=note)


def _recent_places(precinct: Precinct) -> list[PollingPlace]:
    return list(
        PollingPlace.objects.filter(assignments__precinct=precinct, location__isnull=False)
        .annotate(last_used=Max("assignments__election__date"))
        .select_related("county")
        .defer("county__boundary")
        .prefetch_related("entrances", "county__jurisdiction__buffer_rules")
        .order_by("-last_used", "code")[: PRECINCT_PREVIEW_PLACES + 1]
    )


def precinct_preview(precinct: Precinct | None) -> str:
    """The boundary and the polling places used most recently, with their zones."""
    if precinct is None or precinct.pk is None or geometry_or_none(precinct.boundary) is None:
        return not_saved_yet()
    layers = [svg.Layer(precinct.boundary, "boundary", "precinct boundary")]
    places = _recent_places(precinct)
    note = ""
    if len(places) > PRECINCT_PREVIEW_PLACES:
        places = places[:PRECINCT_PREVIEW_PLACES]
        note = format_html(
            "<p class='help'>Showing the {} polling places used most recently.</p>", PRECINCT_PREVIEW_PLACES
        )
    for place in places:
        layers.extend(polling_place_layers(place, place.county.jurisdiction.buffer_rules.all(), detailed=False))
    return _preview_html(layers, title=f"Precinct {precinct}: boundary, polling places and zones", note=note)


def polling_place_preview(obj: PollingPlace | None) -> str:
    """The building, entrances and zones of the place as the form holds it."""
    if obj is None or obj.pk is None or geometry_or_none(obj.location) is None:
        return not_saved_yet()
    place = (
        PollingPlace.objects.select_related("county__jurisdiction")
        .defer("county__boundary")
        .prefetch_related("entrances", "county__jurisdiction__buffer_rules")
        .get(pk=obj.pk)
    )
    # Draw what the form holds (it may be a re-rendered, not yet saved edit) with the saved entrances.
    place.location, place.building = obj.location, geometry_or_none(obj.building)
    layers = polling_place_layers(place, place.county.jurisdiction.buffer_rules.all())
    return _preview_html(layers, title=f"Polling place {place}: building, entrances and zones")

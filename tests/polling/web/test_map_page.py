"""The public map page (/map/): served from this site only, configurable tiles, vendored Leaflet in place."""

from __future__ import annotations

import hashlib
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from django.contrib.staticfiles import finders
from django.urls import reverse

LEAFLET_VERSION = "1.9.4"
VENDORED = [
    "vendor/leaflet/leaflet.js",
    "vendor/leaflet/leaflet.css",
    "vendor/leaflet/LICENSE",
    "vendor/leaflet/VERSION",
    "vendor/leaflet/images/marker-icon.png",
    "vendor/leaflet/images/marker-icon-2x.png",
    "vendor/leaflet/images/marker-shadow.png",
    "vendor/leaflet/images/layers.png",
    "vendor/leaflet/images/layers-2x.png",
]
OWN = ["polling/map.js", "polling/map.css", "polling/favicon.svg"]


class _Page(HTMLParser):
    """Collects every tag with its attributes, and the text of inline scripts."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.script_text: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, {k: v or "" for k, v in attrs}))
        self._in_script = tag == "script"

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.script_text.append(data)

    def find(self, tag: str) -> list[dict[str, str]]:
        return [attrs for t, attrs in self.tags if t == tag]

    def by_id(self, element_id: str) -> dict[str, str]:
        [attrs] = [attrs for _t, attrs in self.tags if attrs.get("id") == element_id]
        return attrs


def _get(client) -> tuple[str, _Page]:
    response = client.get("/map/")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    html = response.content.decode()
    page = _Page()
    page.feed(html)
    return html, page


def _resource_urls(page: _Page) -> list[str]:
    """URLs the browser fetches by itself: scripts, stylesheets, icons, images."""
    urls = [a["src"] for a in page.find("script") if "src" in a]
    urls += [a["href"] for a in page.find("link") if "href" in a]
    urls += [a["src"] for a in page.find("img") if "src" in a]
    return urls


@pytest.mark.django_db
def test_map_page_is_html_with_the_map_and_the_check_form(client):
    html, page = _get(client)
    assert '<meta name="viewport"' in html
    assert page.by_id("map")["tabindex"] == "0"
    assert page.by_id("result-body")["aria-live"] == "polite"
    assert "Counties: U.S. Census Bureau; precincts and polling places are synthetic demo data." in html
    # Labelled inputs and real buttons, a skip link.
    labels = {a.get("for") for a in page.find("label")}
    assert {"lat", "lon"} <= labels
    buttons = {a.get("id") or a.get("type") for a in page.find("button")}
    assert {"submit", "locate", "check-centre"} <= buttons
    assert any(a.get("class") == "skip-link" and a.get("href") == "#check-form" for a in page.find("a"))


@pytest.mark.django_db
def test_map_page_loads_only_local_resources_and_no_inline_script(client, settings):
    settings.MAP_TILE_URL = ""
    html, page = _get(client)
    urls = _resource_urls(page)
    assert urls, "the page loads its script and styles"
    for url in urls:
        assert not re.match(r"^(?:[a-z][a-z0-9+.-]*:)?//", url, re.IGNORECASE), f"external resource {url}"
    assert not page.script_text, "no inline scripts (a CSP will forbid them)"
    for tag, attrs in page.tags:
        assert not [a for a in attrs if a.startswith("on")], f"inline event handler on <{tag}>"
        assert "style" not in attrs, f"inline style on <{tag}>"
    # With no tile URL the map has no tile source at all: nothing leaves the site.
    assert page.by_id("map")["data-tile-url"] == ""
    assert "http://" not in html.split("<body", 1)[0] and "https://" not in html.split("<body", 1)[0]


@pytest.mark.django_db
def test_every_static_url_on_the_page_is_found(client, settings):
    _html, page = _get(client)
    static_url = "/" + settings.STATIC_URL.strip("/") + "/"
    local = [u for u in _resource_urls(page) if u.startswith(static_url)]
    assert len(local) >= 5  # favicon, two stylesheets, two scripts
    for url in local:
        assert finders.find(url[len(static_url) :]), f"{url} is not a static file"


@pytest.mark.django_db
def test_api_endpoints_in_the_page_are_this_sites(client):
    _html, page = _get(client)
    attrs = page.by_id("map")
    assert attrs["data-counties-url"] == reverse("county-list")
    assert attrs["data-precincts-url"] == reverse("precinct-list")
    assert attrs["data-places-url"] == reverse("pollingplace-list")
    assert attrs["data-zones-url"] == reverse("zones-in-box")
    assert attrs["data-lookup-url"] == reverse("lookup")
    assert attrs["data-compliance-url"] == reverse("compliance")


@pytest.mark.django_db
def test_legend_gives_each_kind_of_place_its_symbol_and_its_shape_in_words(client):
    """The all-places layer and the serving list draw a kind with ``kind-symbol kind-<kind>``: the legend explains
    each one in words naming its shape, so nothing rests on colour alone."""
    html, _page = _get(client)
    legend = html.split('id="legend-kinds-heading"', 1)[1].split("</ul>", 1)[0]
    items = re.findall(r'<li><span class="kind-symbol kind-(\w+)" aria-hidden="true"></span>\s*([^<]+)</li>', legend)
    assert [(kind, text.strip()) for kind, text in items] == [
        ("election_day", "Election-day polling place (circle)"),
        ("vote_center", "Vote center: any voter of the county (square)"),
        ("early_voting", "Early voting (diamond)"),
        ("drop_box", "Ballot drop box (triangle)"),
    ]
    assert "Polling places by kind (zoom 11+)" in html


@pytest.mark.django_db
def test_configured_tile_url_and_attribution_are_rendered_escaped(client, settings):
    settings.MAP_TILE_URL = "https://tiles.example.test/{z}/{x}/{y}.png?key=a&b=1"
    settings.MAP_TILE_ATTRIBUTION = '© Example <script>alert("x")</script>'
    html, page = _get(client)
    attrs = page.by_id("map")
    assert attrs["data-tile-url"] == settings.MAP_TILE_URL
    assert attrs["data-tile-attribution"] == settings.MAP_TILE_ATTRIBUTION
    assert "https://tiles.example.test/{z}/{x}/{y}.png?key=a&amp;b=1" in html
    assert "<script>alert" not in html
    # Still no external script or stylesheet: the tile URL is data for the map, not a resource of the page.
    for url in _resource_urls(page):
        assert "example.test" not in url


@pytest.mark.parametrize("path", VENDORED + OWN)
def test_static_files_are_found(path):
    assert finders.find(path), f"{path} is missing from the static files"


def test_vendored_leaflet_matches_its_version_record():
    version_file = Path(finders.find("vendor/leaflet/VERSION"))
    root = version_file.parent
    text = version_file.read_text()
    assert text.startswith(f"leaflet {LEAFLET_VERSION}\n")
    recorded = dict((name, digest) for digest, name in re.findall(r"^([0-9a-f]{64})  (\S+)$", text, flags=re.MULTILINE))
    assert "leaflet.js" in recorded and "leaflet.css" in recorded
    for name, digest in recorded.items():
        assert hashlib.sha256((root / name).read_bytes()).hexdigest() == digest, f"{name} differs from VERSION"
    assert f't.version="{LEAFLET_VERSION}"' in (root / "leaflet.js").read_text()


def test_map_script_never_hands_data_to_an_html_parser():
    """Leaflet parses a string given as tooltip or popup content as HTML: map.js gives it text-only nodes (asText or
    a function building nodes), and never assigns HTML itself. The browser test (tests/e2e/test_security_e2e.py)
    proves it with payloads; this guard needs no browser."""
    script = Path(finders.find("polling/map.js")).read_text()
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"):
        assert sink not in script, f"map.js uses {sink}"
    calls = re.findall(r"\.(bindTooltip|bindPopup|setContent)\(\s*([^\s,)]+)", script)
    assert len(calls) >= 7, calls
    assert ("bindPopup", "placePopup(id") in calls, "the all-places layer's popup"
    for method, argument in calls:
        assert argument.startswith(("asText(", "placePopup(")) or argument == "summary", (
            f"{method}({argument}…): content must be built from text nodes"
        )
    # Marker icons hold no HTML string: nothing, or nodes built by el().
    icons = re.findall(r"\bhtml:\s*([^\s,]+)", script)
    assert icons and set(icons) <= {'""', "stack"}, icons
    # The attribution control is the one Leaflet API taking only HTML: its text is escaped.
    for call in re.findall(r"(?:addAttribution\(|attribution:)\s*([^\n]*)", script):
        assert call.startswith("escapeHtml("), call

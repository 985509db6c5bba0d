"""Stored cross-site scripting and the Content-Security-Policy, in real Chromium.

Every name the public map shows (county, precinct, polling place name and address, entrance, buffer-rule citation,
election) holds a script payload. The map must show each one as literal text in every tooltip and in the result
panel, and no payload may run: neither with the policy enforced (where a parsed payload would also be reported as a
violation) nor with the policy bypassed (so that escaping alone is proved, not only the policy). The map, the API
docs and the admin must work under the policy with no violation reported.
"""

from __future__ import annotations

import pytest
from django.db import transaction
from django.test import Client
from playwright.sync_api import expect
from shapely.geometry import Point, box

from polling.models import BufferRule
from tests.factories import (
    TEST_PASSWORD,
    CountyFactory,
    ElectionFactory,
    EntranceFactory,
    PollingPlaceFactory,
    PrecinctAssignmentFactory,
    PrecinctFactory,
    UserFactory,
)
from tests.helpers import seed_reference_data
from tests.people import sign_in_to_admin

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def payload(field: str) -> str:
    """Breaks out of an attribute or text, runs on parse (img onerror, svg onload) and via a script tag."""
    return f"{field}\"'><img src=x onerror=pwn('{field}')><svg onload=pwn('{field}')><script>pwn('{field}')</script>"


NAMES = {
    "county": payload("C"),
    "precinct": payload("P"),
    "place": payload("N"),
    "address": payload("A"),
    "entrance": payload("E1"),
    "entrance2": payload("E2"),
    "citation": payload("R"),
    "election": payload("V"),
}
PLACE_LON, PLACE_LAT = -90.17, 32.35

#: Before any page script: count what a payload would do, and every policy violation the browser reports.
WATCH_SCRIPT = """
window.__pwned = [];
window.pwn = (what) => window.__pwned.push(what);
window.__violations = [];
document.addEventListener("securitypolicyviolation", (e) => {
    window.__violations.push(`${e.violatedDirective} ${e.blockedURI} ${e.sourceFile}:${e.lineNumber}`);
});
"""


@pytest.fixture
def hostile_geography():
    """A county, precinct, polling place with two entrances, an election and buffer rules, every name a payload."""
    from polling.geography import spatial
    from polling.geography.services import geography_version_bump

    spatial.reset_index()
    seed_reference_data()
    with transaction.atomic():
        county = CountyFactory(name=NAMES["county"], boundary=box(-90.2, 32.3, -90.1, 32.4))
        precinct = PrecinctFactory(county=county, name=NAMES["precinct"], boundary=box(-90.2, 32.3, -90.1, 32.4))
        place = PollingPlaceFactory(
            county=county, name=NAMES["place"], address=NAMES["address"], location=Point(PLACE_LON, PLACE_LAT)
        )
        EntranceFactory(polling_place=place, name=NAMES["entrance"], location=Point(PLACE_LON, PLACE_LAT + 1e-4))
        EntranceFactory(
            polling_place=place, name=NAMES["entrance2"], location=Point(PLACE_LON + 1e-4, PLACE_LAT), accessible=False
        )
        election = ElectionFactory(name=NAMES["election"])
        PrecinctAssignmentFactory(election=election, precinct=precinct, polling_place=place)
        BufferRule.objects.filter(jurisdiction__code="MS").update(citation=NAMES["citation"])
        geography_version_bump()
    yield place
    spatial.reset_index()


def open_page(new_page, live_server, path: str, **options):
    page, watch = new_page(**options)
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.add_init_script(WATCH_SCRIPT)
    response = page.goto(f"{live_server.url}{path}")
    return page, watch, response, dialogs


def assert_nothing_ran(page, dialogs) -> None:
    assert page.evaluate("window.__pwned") == [], "a payload ran"
    assert dialogs == []
    # Nothing parsed from data: no element a payload would have made exists anywhere in the page.
    assert page.locator("img[src=x], svg[onload], [onerror]").count() == 0


def assert_no_violations(page, watch) -> None:
    assert page.evaluate("window.__violations") == []
    assert [e for e in watch.errors if "Content Security Policy" in e] == []


def set_view(page, lat: float, lon: float, zoom: int) -> None:
    page.evaluate(
        """([lat, lon, zoom]) => new Promise((resolve) => {
            window.pollingMap.once("moveend", () => resolve());
            window.pollingMap.setView([lat, lon], zoom, {animate: false});
        })""",
        [lat, lon, zoom],
    )
    page.wait_for_timeout(300)  # moveend is debounced before the layers refresh
    page.wait_for_selector('#map[data-loading="false"]', state="attached")


def screen_point(page, lat: float, lon: float) -> tuple[float, float]:
    x, y = page.evaluate(
        "([lat, lon]) => { const p = window.pollingMap.latLngToContainerPoint([lat, lon]); return [p.x, p.y]; }",
        [lat, lon],
    )
    box_ = page.locator("#map").bounding_box()
    assert 0 < x < box_["width"] and 0 < y < box_["height"], "the point is on screen"
    return box_["x"] + x, box_["y"] + y


def hover_tooltip(page, lat: float, lon: float) -> str:
    """Hover the map at (lat, lon) and return the text of the tooltip that opens there."""
    page.mouse.move(5, 5)
    expect(page.locator(".leaflet-tooltip:not(.zone-label):not(.check-summary)")).to_have_count(0)
    page.mouse.move(*screen_point(page, lat, lon))
    tooltip = page.locator(".leaflet-tooltip:not(.zone-label):not(.check-summary)")
    expect(tooltip).to_have_count(1)
    return tooltip.text_content()


@pytest.mark.parametrize("policy", ["enforced", "bypassed"])
def test_names_from_data_are_shown_as_text_and_never_run(new_page, live_server, hostile_geography, policy):
    page, watch, response, dialogs = open_page(new_page, live_server, "/map/", bypass_csp=policy == "bypassed")
    assert "script-src 'self'" in response.headers["content-security-policy"]
    page.wait_for_selector("#map[data-counties]", state="attached")

    # Zoomed right in on the polling place: precinct, place, entrances and zones (with their labels) are drawn.
    set_view(page, PLACE_LAT, PLACE_LON, 18)
    expect(page.locator(".leaflet-zones-pane path")).not_to_have_count(0)
    expect(page.locator(".zone-label").first).to_be_visible()

    # Hover every kind of layer; each tooltip shows the names literally.
    text = hover_tooltip(page, PLACE_LAT, PLACE_LON)
    assert text == f"{NAMES['place']} — {NAMES['address']}"
    text = hover_tooltip(page, PLACE_LAT + 1e-4, PLACE_LON)
    assert text == f"{NAMES['entrance']} (accessible) — {NAMES['place']}"
    text = hover_tooltip(page, PLACE_LAT, PLACE_LON + 1e-4)
    assert text == f"{NAMES['entrance2']} — {NAMES['place']}"
    text = hover_tooltip(page, PLACE_LAT - 2.5e-4, PLACE_LON)  # ~28 m south: in the 150 ft zone only
    assert text.endswith(f" — {NAMES['place']}") and text.startswith("No campaigning within 150 ft")
    set_view(page, PLACE_LAT - 0.01, PLACE_LON, 17)  # ~1 km south: the precinct, clear of the zones
    text = hover_tooltip(page, PLACE_LAT - 0.01, PLACE_LON)
    assert text == f"Precinct {NAMES['precinct']}, {NAMES['county']} County"
    assert_nothing_ran(page, dialogs)

    # Then every tooltip of every layer on the map, opened one by one: none holds anything but text.
    set_view(page, PLACE_LAT, PLACE_LON, 18)
    contents = page.evaluate(
        """() => {
            const out = [];
            window.pollingMap.eachLayer((layer) => {
                const tooltip = layer.getTooltip && layer.getTooltip();
                if (!tooltip) return;
                layer.openTooltip();
                const node = tooltip.getElement();
                out.push({text: node.textContent, tags: [...node.querySelectorAll("*")].map((n) => n.tagName)});
            });
            return out;
        }"""
    )
    assert len(contents) >= 4, contents
    for content in contents:
        assert set(content["tags"]) <= {"SPAN", "BR"}, content
    every_text = " ".join(c["text"] for c in contents)
    for field in ("place", "address", "entrance", "entrance2"):
        assert NAMES[field] in every_text

    # Click inside both zones: the result panel and the summary by the pin show the names as text too.
    page.mouse.move(*screen_point(page, PLACE_LAT + 1.2e-4, PLACE_LON))
    page.mouse.click(*screen_point(page, PLACE_LAT + 1.2e-4, PLACE_LON))
    expect(page.locator("#result")).to_have_attribute("data-state", "done")
    result = page.locator("#result-body")
    expect(result.locator("[data-field=polling-place]")).to_have_text(NAMES["place"])
    expect(result.locator("[data-field=address]")).to_have_text(NAMES["address"])
    expect(result.locator("[data-field=precinct-name]")).to_have_text(NAMES["precinct"])
    expect(result.locator("[data-field=county]")).to_have_text(f"{NAMES['county']} County")
    panel = result.text_content()
    for field in ("entrance", "citation", "election"):
        assert NAMES[field] in panel, field
    assert f"inside the 150 ft zone of {NAMES['place']}" in panel
    expect(page.locator(".check-summary")).to_contain_text("Campaigning: PROHIBITED")
    assert set(page.locator(".check-summary *").evaluate_all("ns => ns.map((n) => n.tagName)")) <= {"SPAN", "BR"}

    assert_nothing_ran(page, dialogs)
    if policy == "enforced":
        assert_no_violations(page, watch)
    watch.assert_clean()


def test_every_page_type_is_served_with_the_policy(new_page, live_server):
    page, _watch = new_page()
    for path, status in [
        ("/map/", 200),
        ("/admin/login/", 200),
        ("/api/v1/precincts/", 200),
        ("/api/v1/lookup/?lat=north&lon=1", 400),
        ("/api/docs/", 200),
        ("/no-such-page/", 404),
        ("/api/v1/no-such-thing/", 404),
    ]:
        response = page.goto(f"{live_server.url}{path}")
        assert response.status == status, path
        csp = response.headers.get("content-security-policy", "")
        for directive in (
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            "object-src 'none'",
            "base-uri 'none'",
            "frame-ancestors 'none'",
            "form-action 'self'",
        ):
            assert directive in csp, (path, csp)


def test_api_docs_work_under_the_policy(new_page, live_server):
    page, watch, response, dialogs = open_page(new_page, live_server, "/api/docs/")
    assert "script-src 'self'" in response.headers["content-security-policy"]
    operations = page.locator(".swagger-ui .opblock")
    expect(operations.first).to_be_visible()
    assert operations.count() > 10
    # Open an operation: Swagger UI's scripts run and render it.
    lookup = page.locator(".opblock-summary", has_text="/api/v1/lookup/").first
    lookup.click()
    expect(page.locator(".opblock.is-open .parameters").first).to_be_visible()
    assert_nothing_ran(page, dialogs)
    assert_no_violations(page, watch)
    watch.assert_clean()


def test_admin_works_under_the_policy(new_page, live_server, hostile_geography):
    page, watch, response, dialogs = open_page(new_page, live_server, "/admin/login/")
    assert "script-src 'self'" in response.headers["content-security-policy"]
    # A wrong password: the form posts (form-action 'self') and the page says so.
    page.fill("#id_username", "nobody")
    page.fill("#id_password", "wrong password")
    page.click("input[type=submit]")
    expect(page.locator(".errornote")).to_be_visible()

    # Signed in (password and second factor, by the test client), the admin's own scripts run under the policy.
    user = UserFactory(is_staff=True, is_superuser=True)
    client = sign_in_to_admin(Client(), user, TEST_PASSWORD)
    page.context.add_cookies(
        [{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": live_server.url}]
    )
    place = hostile_geography
    for path in ("/admin/", "/admin/polling/pollingplace/", f"/admin/polling/pollingplace/{place.pk}/change/"):
        response = page.goto(f"{live_server.url}{path}")
        assert response.status == 200, path
        assert "script-src 'self'" in response.headers["content-security-policy"]
    expect(page.locator("#id_name")).to_have_value(NAMES["place"])
    expect(page.locator(".polling-preview svg")).to_be_visible()
    theme = page.evaluate("document.documentElement.dataset.theme || 'auto'")
    page.locator("button.theme-toggle").first.click()  # admin/js/theme.js
    assert page.evaluate("document.documentElement.dataset.theme") != theme
    assert_nothing_ran(page, dialogs)
    assert_no_violations(page, watch)
    watch.assert_clean()

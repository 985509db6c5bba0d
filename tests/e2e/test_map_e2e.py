"""The public map in a real browser: it draws the geography, checks points clicked, typed or located, and makes no
request that leaves the site (run: pytest tests/e2e -o markers=e2e)."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from django.contrib.staticfiles import finders
from geographiclib.geodesic import Geodesic
from playwright.sync_api import expect

from polling.models import PollingPlace

from .conftest import SCREENSHOTS

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

MS_COUNTIES = 82
ZONE_LIMIT_M = {"campaigning": 150 * 0.3048, "loitering": 30 * 0.3048}


# ---- helpers ------------------------------------------------------------------------------------------------------


def open_map(page, live_server, fragment: str = "") -> None:
    page.goto(f"{live_server.url}/map/{fragment}")
    page.wait_for_selector("#map[data-counties]", state="attached")


def set_view(page, lat: float, lon: float, zoom: int) -> None:
    """Move the map (no animation) and wait for the layers of that zoom to be loaded."""
    page.evaluate(
        """([lat, lon, zoom]) => new Promise((resolve) => {
            window.pollingMap.once("moveend", () => resolve());
            window.pollingMap.setView([lat, lon], zoom, {animate: false});
        })""",
        [lat, lon, zoom],
    )
    wait_for_layers(page)


def wait_for_layers(page) -> None:
    # moveend is debounced (200 ms) before the layers refresh; then wait for every request to finish.
    page.wait_for_timeout(300)
    page.wait_for_selector('#map[data-loading="false"]', state="attached")


def path_count(page, pane: str = "overlay") -> int:
    return page.locator(f".leaflet-{pane}-pane path").count()


def click_at(page, lat: float, lon: float) -> None:
    x, y = page.evaluate(
        "([lat, lon]) => { const p = window.pollingMap.latLngToContainerPoint([lat, lon]); return [p.x, p.y]; }",
        [lat, lon],
    )
    box = page.locator("#map").bounding_box()
    assert 0 < x < box["width"] and 0 < y < box["height"], "the point is on screen"
    page.mouse.click(box["x"] + x, box["y"] + y)


def wait_for_result(page, lat: float, lon: float) -> None:
    expect(page.locator("#result-body .coords")).to_contain_text(f"{lat:.5f}, {lon:.5f}")
    expect(page.locator("#result")).to_have_attribute("data-state", "done")


def checked_coordinates(page) -> tuple[float, float]:
    """The point the page actually checked (a click lands on a pixel, not on the exact coordinates aimed at)."""
    return float(page.input_value("#lat")), float(page.input_value("#lon"))


def verdict_text(page, activity: str) -> str:
    return page.locator(f"#result-body .verdict[data-activity={activity}]").inner_text().replace("\n", " ")


def offset(lat: float, lon: float, azimuth: float, metres: float) -> tuple[float, float]:
    g = Geodesic.WGS84.Direct(lat, lon, azimuth, metres)
    return g["lat2"], g["lon2"]


def a_polling_place() -> PollingPlace:
    """A Jackson (Hinds County) election-day polling place with its entrances (the county's circuit clerks' offices,
    its early-voting sites, have none mapped)."""
    return (
        PollingPlace.objects.filter(county__fips="28049", is_election_day=True, entrances__isnull=False)
        .distinct()
        .prefetch_related("entrances")
        .order_by("code")
        .first()
    )


def first_entrance(place: PollingPlace):
    return sorted(place.entrances.all(), key=lambda e: e.name)[0]


def allowed_point_near(index, lat: float, lon: float, metres: float) -> tuple[float, float]:
    """A point ``metres`` from (lat, lon), inside a precinct and clear of every zone by at least 10 m."""
    for azimuth in range(0, 360, 15):
        p_lat, p_lon = offset(lat, lon, azimuth, metres)
        if index.precinct_at(p_lon, p_lat) is None:
            continue
        hits = index.zones_near(p_lon, p_lat)
        if all(h.classification.distance_m > ZONE_LIMIT_M[h.zone.rule.activity] + 10 for h in hits):
            return p_lat, p_lon
    raise AssertionError("no clear point found around the polling place")


# ---- tests --------------------------------------------------------------------------------------------------------


def test_page_draws_counties_then_precincts_places_and_zones(new_page, live_server, demo):
    started = time.monotonic()
    page, watch = new_page()
    open_map(page, live_server)

    # Statewide: the 82 counties, nothing else, and the page says how to see more.
    expect(page.locator(".leaflet-counties-pane path")).to_have_count(MS_COUNTIES)
    assert path_count(page) == MS_COUNTIES
    assert page.evaluate("window.pollingMap.getZoom()") == 7
    expect(page.locator("#map-status")).to_contain_text("Zoom in")
    expect(page.locator(".leaflet-control-attribution")).to_contain_text(
        "Counties: U.S. Census Bureau; precincts and polling places are synthetic demo data."
    )
    assert page.locator(".leaflet-tile-pane img").count() == 0, "no base-map tiles unless configured"

    # Zoomed to a polling place: precincts, the place's marker, and both its zones with their labels.
    place = a_polling_place()
    set_view(page, place.location.y, place.location.x, 12)
    assert path_count(page, "precincts") > 0
    # Each place is drawn with the symbol of each of its kinds (the all-places layer: tests/e2e/test_map_kinds_e2e.py).
    drawn = page.locator(f'.leaflet-places-pane .place-marker[data-place="{place.pk}"]')
    expect(drawn).to_have_attribute("data-kinds", re.compile(r"^election_day\b"))
    expect(drawn.locator(".kind-election_day")).to_be_visible()
    assert path_count(page, "zones") == 0
    before = path_count(page)

    set_view(page, place.location.y, place.location.x, 17)
    zones = page.locator(".leaflet-zones-pane path")
    expect(zones).not_to_have_count(0)
    assert path_count(page) > before
    dashes = set(zones.evaluate_all("paths => paths.map(p => p.getAttribute('stroke-dasharray'))"))
    assert len(dashes) >= 2, f"the two activities are drawn with different dash patterns: {dashes}"
    expect(page.locator(".zone-label", has_text="150 ft: no campaigning").first).to_be_visible()
    expect(page.locator(".zone-label", has_text="30 ft: no loitering").first).to_be_visible()
    expect(page.locator('.legend .zone-distance[data-activity="campaigning"]')).to_have_text("(150 ft)")
    expect(page.locator(".legend")).to_contain_text("no-loitering zone (30 ft)")

    watch.assert_clean()
    print(f"\npage load + zoom to zones: {time.monotonic() - started:.1f} s")


def test_clicking_the_map_shows_the_precinct_and_both_verdicts(new_page, live_server, demo):
    place = a_polling_place()
    entrance = first_entrance(place)
    page, watch = new_page()
    open_map(page, live_server)

    # ~10 m from the first entrance: inside the 150 ft no-campaigning zone.
    lat, lon = offset(entrance.location.y, entrance.location.x, 0, 10)
    set_view(page, lat, lon, 18)
    click_at(page, lat, lon)
    got_lat, got_lon = checked_coordinates(page)
    wait_for_result(page, got_lat, got_lon)
    campaigning = verdict_text(page, "campaigning")
    assert campaigning.startswith(f"Campaigning: PROHIBITED here (inside the 150 ft zone of {place.name}, ")
    assert re.search(r", \d+(\.\d)? ft from the nearest entrance\)", campaigning), campaigning
    assert re.match(r"Loitering: (PROHIBITED|ALLOWED) here", verdict_text(page, "loitering"))
    expected = demo.precinct_at(got_lon, got_lat)
    expect(page.locator("#result-body [data-field=precinct-code]")).to_have_text(expected.code)
    expect(page.locator("#result-body [data-field=county]")).to_have_text(f"{expected.county_name} County")
    expect(page.locator("#result-body [data-field=polling-place]")).not_to_be_empty()
    # The assigned place heads the list of places serving the precinct, and is drawn with the election-day symbol.
    assigned = page.locator("#result-body [data-field=polling-place]").inner_text()
    first = page.locator("#result-body .place").first
    expect(first.locator("[data-field=place-name]")).to_have_text(assigned)
    expect(first.locator(".badge[data-kind]")).to_have_text(["Election day"])
    expect(page.locator(f'.leaflet-served-pane .kind-election_day[aria-label^="{assigned} ("]')).to_have_count(1)
    # The clicked point is marked, with the short answer beside it.
    expect(page.locator(".leaflet-marker-pane .leaflet-marker-icon")).to_have_count(1)
    expect(page.locator(".check-summary")).to_contain_text("Campaigning: PROHIBITED")
    page.mouse.move(600, 20)  # off the map: no hover tooltip in the picture
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "map.png"))

    # ~100 m away, clear of every zone: both allowed.
    lat, lon = allowed_point_near(demo, entrance.location.y, entrance.location.x, 100)
    set_view(page, lat, lon, 17)
    click_at(page, lat, lon)
    got_lat, got_lon = checked_coordinates(page)
    wait_for_result(page, got_lat, got_lon)
    assert verdict_text(page, "campaigning").startswith("Campaigning: ALLOWED here (")
    assert verdict_text(page, "loitering").startswith("Loitering: ALLOWED here (")
    expect(page.locator("#result-body [data-field=precinct-code]")).to_have_text(
        demo.precinct_at(got_lon, got_lat).code
    )
    expect(page.locator(".check-summary", has_text="Campaigning: ALLOWED")).to_be_visible()
    # One marker, one summary: the previous ones are gone (the summary fades out for 200 ms).
    expect(page.locator(".leaflet-marker-pane .leaflet-marker-icon")).to_have_count(1)
    expect(page.locator(".check-summary")).to_have_count(1)

    watch.assert_clean()


def test_coordinate_search_checks_the_point_and_validates_input(new_page, live_server, demo):
    place = a_polling_place()
    entrance = first_entrance(place)
    page, watch = new_page()
    open_map(page, live_server)

    # Invalid input is caught in the page, with the reason next to the field.
    page.fill("#lat", "north")
    page.fill("#lon", "-90.1")
    page.click("button[type=submit]")
    expect(page.locator("#lat-error")).to_be_visible()
    expect(page.locator("#lat-error")).to_contain_text("decimal number")
    expect(page.locator("#lat")).to_have_attribute("aria-invalid", "true")
    page.fill("#lat", "95")
    page.click("button[type=submit]")
    expect(page.locator("#lat-error")).to_contain_text("between -90 and 90")
    assert not [u for u in watch.requests if "/lookup/" in u or "/compliance/" in u]

    # "lat, lon" pasted into the latitude box, 3 m from the entrance: both activities prohibited, and the map
    # moves there with the zones drawn.
    lat, lon = offset(entrance.location.y, entrance.location.x, 90, 3)
    page.fill("#lon", "")
    page.fill("#lat", f"{lat:.7f}, {lon:.7f}")
    page.click("button[type=submit]")
    wait_for_result(page, lat, lon)
    expect(page.locator("#lat-error")).to_be_hidden()
    assert page.input_value("#lon") == f"{lon:.7f}"
    assert verdict_text(page, "campaigning").startswith(
        f"Campaigning: PROHIBITED here (inside the 150 ft zone of {place.name}"
    )
    assert verdict_text(page, "loitering").startswith(
        f"Loitering: PROHIBITED here (inside the 30 ft zone of {place.name}"
    )
    expected = demo.precinct_at(lon, lat)
    expect(page.locator("#result-body [data-field=precinct-code]")).to_have_text(expected.code)
    expect(page.locator("#result-body [data-field=precinct-name]")).to_have_text(expected.name)
    wait_for_layers(page)
    assert page.evaluate("window.pollingMap.getZoom()") >= 17
    expect(page.locator(".leaflet-zones-pane path")).not_to_have_count(0)

    # The same point clicked on the map gives the same answer.
    form_answer = page.locator("#result-body").inner_text()
    click_at(page, lat, lon)
    got_lat, got_lon = checked_coordinates(page)
    wait_for_result(page, got_lat, got_lon)
    assert verdict_text(page, "campaigning").startswith("Campaigning: PROHIBITED here")
    assert verdict_text(page, "loitering").startswith("Loitering: PROHIBITED here")
    assert page.locator("#result-body [data-field=precinct-code]").inner_text() in form_answer

    # Outside every precinct: the server's answer is shown, and with no geography there the verdict is uncertain.
    page.fill("#lat", "40.0")
    page.fill("#lon", "-100.0")
    page.click("button[type=submit]")
    wait_for_result(page, 40.0, -100.0)
    expect(page.locator("#result-body [data-field=precinct-error]")).to_contain_text("No precinct here")
    assert verdict_text(page, "campaigning").startswith(
        "Campaigning: UNCERTAIN here (outside the mapped precincts: there is no polling-place data here to decide)"
    )

    # The lookup's 404 is logged by the browser as a failed resource; nothing else may be.
    watch.assert_clean(allow=("404 (Not Found)",))


def test_keyboard_skip_link_and_enter_on_the_map(new_page, live_server, demo):
    place = a_polling_place()
    page, watch = new_page()
    open_map(page, live_server)
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "skip-link"
    expect(page.locator(".skip-link").first).to_be_in_viewport()

    set_view(page, place.location.y, place.location.x, 17)
    page.focus("#map")
    outline = page.evaluate("getComputedStyle(document.getElementById('map')).outlineStyle")
    assert outline != "none", "the focused map shows a focus ring"
    page.keyboard.press("Enter")
    centre = page.evaluate("(() => { const c = window.pollingMap.getCenter(); return [c.lat, c.lng]; })()")
    wait_for_result(page, *centre)
    assert verdict_text(page, "campaigning").startswith("Campaigning: PROHIBITED here")
    watch.assert_clean()


def test_use_my_location_passes_the_accuracy_and_handles_denial(new_page, live_server, demo):
    place = a_polling_place()
    entrance = first_entrance(place)
    lat, lon = offset(entrance.location.y, entrance.location.x, 180, 8)
    page, watch = new_page(geolocation={"latitude": lat, "longitude": lon, "accuracy": 25}, permissions=["geolocation"])
    open_map(page, live_server)
    page.click("#locate")
    wait_for_result(page, lat, lon)
    expect(page.locator("#result-body .coords")).to_contain_text("accurate to about 25 m")
    assert any("/compliance/" in u and "accuracy_m=25.0" in u for u in watch.requests)
    # 8 m from an entrance, give or take 25 m: inside the 150 ft zone either way; the 30 ft limit is within reach.
    assert verdict_text(page, "campaigning").startswith("Campaigning: PROHIBITED here")
    assert verdict_text(page, "loitering").startswith("Loitering: UNCERTAIN here")
    watch.assert_clean()

    denied, denied_watch = new_page()  # no permission granted: the browser refuses
    open_map(denied, live_server)
    denied.click("#locate")
    expect(denied.locator("#result-body [data-field=location-error]")).to_contain_text("Enter coordinates")
    expect(denied.locator("#locate")).to_be_enabled()
    denied_watch.assert_clean()


def test_configured_base_map_tiles_are_drawn_with_their_attribution(new_page, live_server, settings, empty_geography):
    settings.MAP_TILE_URL = "https://tiles.example.test/{z}/{x}/{y}.png"
    settings.MAP_TILE_ATTRIBUTION = "© Example Tiles <b>contributors</b>"
    tile = Path(finders.find("vendor/leaflet/images/layers.png")).read_bytes()  # any PNG will do
    page, watch = new_page()
    page.route("https://tiles.example.test/**", lambda route: route.fulfill(body=tile, content_type="image/png"))
    open_map(page, live_server)
    expect(page.locator(".leaflet-tile-pane img.leaflet-tile-loaded").first).to_be_visible()
    # The attribution is shown as text, never as markup.
    expect(page.locator(".leaflet-control-attribution")).to_contain_text("© Example Tiles <b>contributors</b>")
    outside = watch.external_requests()
    assert outside and all(u.startswith("https://tiles.example.test/7/") for u in outside), outside
    assert watch.errors == []

"""The map's places in a real browser: the election picker, every place serving the checked precinct (vote centers,
an assigned place, early voting, drop boxes) listed with its kinds, distance, open-now state and hours in local
time, and each kind drawn on the map with its own symbol (run: pytest tests/e2e -o markers=e2e)."""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from pathlib import Path

import pytest
from geographiclib.geodesic import Geodesic
from playwright.sync_api import expect
from shapely.geometry import Point, box

from polling.models import LocationHours, VoteCenter
from tests.factories import (
    CountyFactory,
    ElectionFactory,
    PollingPlaceFactory,
    PrecinctAssignmentFactory,
    PrecinctFactory,
)
from tests.helpers import seed_reference_data

from .conftest import SCREENSHOTS

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

CHICAGO = zoneinfo.ZoneInfo("America/Chicago")
AT = (32.35, -90.17)  # (lat, lon) inside the precinct
AXE = Path(__file__).resolve().parent / "vendor" / "axe-core" / "axe.min.js"
AXE_URL = "/__test__/axe.min.js"
TO = "\u2013"  # the en dash between an opening and a closing time


def hours(place, election, date: dt.date, opens: dt.time, closes: dt.time) -> None:
    row = LocationHours(polling_place=place, election=election, date=date, opens=opens, closes=closes)
    row.full_clean()
    row.save()


@pytest.fixture
def county_places():
    """Hinds County with one precinct and two elections served differently:

    - ``general`` (the next upcoming, so the lookup's default): the county votes at vote centers (two located, one
      known by its address only) and a drop box is open all day yesterday, today and tomorrow (open now whenever
      the test runs);
    - ``past`` (4 November 2025, long gone): the precinct has its own polling place, an early-voting site opens on
      the Saturday before the clocks go back (CDT) and on the Monday after (CST, with a lunch break), and a drop box
      is open all of that 25-hour Sunday.
    """
    from polling.geography import spatial

    spatial.reset_index()
    seed_reference_data()
    county = CountyFactory(fips="28049", name="Hinds", boundary=box(-90.3, 32.2, -90.0, 32.5))
    precinct = PrecinctFactory(county=county, code="0101", name="Northside", boundary=box(-90.3, 32.2, -90.0, 32.5))
    today = dt.datetime.now(CHICAGO).date()

    general = ElectionFactory(name="General Election", date=today + dt.timedelta(days=30))
    near = PollingPlaceFactory(county=county, code="VC1", name="Near Vote Center", location=Point(-90.171, 32.351))
    far = PollingPlaceFactory(county=county, code="VC2", name="Far Vote Center", location=Point(-90.12, 32.37))
    library = PollingPlaceFactory(
        county=county, code="VC3", name="Library Vote Center", address="5 Book Rd, Jackson, MS", location=None
    )
    for place in (near, far, library):
        VoteCenter.objects.create(election=general, polling_place=place)
    open_box = PollingPlaceFactory(
        county=county,
        code="BOX1",
        name="City Hall Drop Box",
        location=Point(-90.16, 32.34),
        is_election_day=False,
        is_drop_box=True,
    )
    for days in (-1, 0, 1):
        hours(open_box, general, today + dt.timedelta(days=days), dt.time(0), dt.time(0))

    past = ElectionFactory(name="Municipal Election", date=dt.date(2025, 11, 4))
    station = PollingPlaceFactory(county=county, code="FS3", name="Fire Station 3", location=Point(-90.175, 32.355))
    PrecinctAssignmentFactory(election=past, precinct=precinct, polling_place=station)
    annex = PollingPlaceFactory(
        county=county,
        code="EV1",
        name="Courthouse Annex",
        location=Point(-90.15, 32.36),
        is_election_day=False,
        is_early_voting=True,
    )
    hours(annex, past, dt.date(2025, 11, 1), dt.time(8), dt.time(17))
    hours(annex, past, dt.date(2025, 11, 3), dt.time(8), dt.time(12))
    hours(annex, past, dt.date(2025, 11, 3), dt.time(13), dt.time(17))
    night_box = PollingPlaceFactory(
        county=county,
        code="BOX2",
        name="Annex Drop Box",
        location=Point(-90.165, 32.345),
        is_election_day=False,
        is_drop_box=True,
    )
    hours(night_box, past, dt.date(2025, 11, 2), dt.time(0), dt.time(0))
    yield {"general": general, "past": past, "near": near, "far": far}
    spatial.reset_index()


# ---- helpers ------------------------------------------------------------------------------------------------------


def open_map(page, live_server) -> None:
    page.goto(f"{live_server.url}/map/")
    page.wait_for_selector("#map[data-counties]", state="attached")
    page.wait_for_selector("#election[data-loaded]", state="attached")


def check_point(page, lat: float, lon: float) -> None:
    page.fill("#lat", f"{lat}")
    page.fill("#lon", f"{lon}")
    page.click("button[type=submit]")
    wait_for_places(page)


def wait_for_places(page) -> None:
    expect(page.locator("#result")).to_have_attribute("data-state", "done")
    expect(page.locator("#result-body .places")).to_be_attached()


def listed(page) -> list[str]:
    return page.locator("#result-body .place [data-field=place-name]").all_inner_texts()


def place_item(page, name: str):
    return page.locator("#result-body .place", has=page.locator("[data-field=place-name]", has_text=name))


def served_markers(page) -> list[tuple[str, str]]:
    """(kind drawn, accessible name) of every marker of a serving place on the map."""
    return page.locator(".leaflet-served-pane .kind-marker").evaluate_all(
        "nodes => nodes.map(n => [n.getAttribute('data-kind'), n.getAttribute('aria-label')])"
    )


def zone_name(day: dt.date) -> str:
    return dt.datetime.combine(day, dt.time(12), tzinfo=CHICAGO).tzname()


def serious_violations(page) -> list[dict]:
    """axe-core's serious and critical findings on what the page shows now (the engine is handed to the page as a
    same-origin script routed by the test, so the page's CSP holds)."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.add_script_tag(url=AXE_URL)
    return page.evaluate(
        """() => axe.run(document, {resultTypes: ["violations"]}).then((r) => r.violations
            .filter((v) => v.impact === "serious" || v.impact === "critical")
            .map((v) => ({id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map((n) => n.target.join(" "))})))"""
    )


# ---- tests --------------------------------------------------------------------------------------------------------


def test_vote_centers_and_a_drop_box_are_listed_and_drawn_by_kind(new_page, live_server, county_places):
    general = county_places["general"]
    page, watch = new_page()
    open_map(page, live_server)
    # The picker lists both elections by date after the lookup's own default.
    options = page.locator("#election option")
    expect(options).to_have_count(3)
    assert page.input_value("#election") == ""
    assert options.nth(1).inner_text().startswith("Municipal Election — Tuesday, November 4, 2025 (MS)")
    assert options.nth(2).inner_text().startswith("General Election — ")

    check_point(page, *AT)
    assert listed(page) == ["Near Vote Center", "Far Vote Center", "Library Vote Center", "City Hall Drop Box"]
    expect(page.locator("#result-body [data-field=vote-centers]")).to_contain_text("vote centers listed below")
    assert not any("election=" in u for u in watch.requests if "/lookup/" in u), "the default asks no election"

    near = place_item(page, "Near Vote Center")
    expect(near.locator(".badge[data-kind]")).to_have_text(["Vote center"])
    expect(near.locator("[data-field=open-now]")).to_have_text("Closed now")
    near_m = Geodesic.WGS84.Inverse(AT[0], AT[1], 32.351, -90.171)["s12"]
    expect(near.locator("[data-field=distance]")).to_have_text(f"{round(near_m * 3.280839895):,} ft away")
    far_mi = Geodesic.WGS84.Inverse(AT[0], AT[1], 32.37, -90.12)["s12"] / 1609.344
    expect(place_item(page, "Far Vote Center").locator("[data-field=distance]")).to_have_text(f"{far_mi:.1f} mi away")
    # A vote center without its own hours keeps the election's polling hours, shown in the zone of that day.
    expect(near.locator(".hours dt")).to_have_text([f"{general.date:%A, %B} {general.date.day}, {general.date:%Y}"])
    expect(near.locator(".hours dd")).to_have_text([f"7:00 AM {TO} 7:00 PM {zone_name(general.date)}"])
    library = place_item(page, "Library Vote Center")
    expect(library.locator("[data-field=not-mapped]")).to_have_text("Location not mapped yet.")
    expect(library.locator("[data-field=place-address]")).to_have_text("5 Book Rd, Jackson, MS")
    expect(library.locator(".show-place")).to_have_count(0)
    drop = place_item(page, "City Hall Drop Box")
    expect(drop.locator(".badge[data-kind]")).to_have_text(["Drop box"])
    expect(drop.locator("[data-field=open-now]")).to_have_text("Open now")
    expect(drop.locator(".hours dt")).to_have_count(3)

    # On the map: the located places only, each drawn as its kind and named for assistive technology.
    markers = served_markers(page)
    assert sorted(kind for kind, _ in markers) == ["drop_box", "vote_center", "vote_center"]
    assert ["vote_center", "Near Vote Center (Vote center; closed now)"] in markers
    assert ["drop_box", "City Hall Drop Box (Drop box; open now)"] in markers
    shapes = page.locator(".leaflet-served-pane .kind-marker").evaluate_all(
        "nodes => nodes.map(n => [n.getAttribute('data-kind'), getComputedStyle(n, '::before').borderRadius,"
        " getComputedStyle(n, '::before').clipPath])"
    )
    assert len({(radius, clip) for _, radius, clip in shapes}) == 2, f"two kinds, two shapes: {shapes}"
    assert page.locator(".legend-kinds li").all_inner_texts() == [
        "Election-day polling place (circle)",
        "Vote center: any voter of the county (square)",
        "Early voting (diamond)",
        "Ballot drop box (triangle)",
    ]

    page.evaluate("window.pollingMap.setView([32.355, -90.15], 13, {animate: false})")
    page.mouse.move(600, 20)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "map-vote-centers.png"))
    page.locator("#check-form").screenshot(path=str(SCREENSHOTS / "map-election-picker.png"))
    watch.assert_clean()


def test_picking_another_election_lists_its_places_and_hours_across_the_clock_change(
    new_page, live_server, county_places
):
    past = county_places["past"]
    page, watch = new_page()
    open_map(page, live_server)
    check_point(page, *AT)
    assert listed(page)[0] == "Near Vote Center"

    page.select_option("#election", str(past.pk))
    expect(page.locator("#result-body [data-field=place-name]").first).to_have_text("Fire Station 3")
    wait_for_places(page)
    assert any(f"election={past.pk}" in u for u in watch.requests if "/lookup/" in u)
    assert listed(page) == ["Fire Station 3", "Annex Drop Box", "Courthouse Annex"]  # then nearest first
    expect(page.locator("#result-body [data-field=polling-place]")).to_have_text("Fire Station 3")
    expect(page.locator("#result-body .facts")).to_contain_text("Municipal Election: Tuesday, November 4, 2025")

    station = place_item(page, "Fire Station 3")
    expect(station.locator(".badge[data-kind]")).to_have_text(["Election day"])
    expect(station.locator(".hours dd")).to_have_text([f"7:00 AM {TO} 7:00 PM CST"])
    annex = place_item(page, "Courthouse Annex")
    expect(annex.locator(".badge[data-kind]")).to_have_text(["Early voting"])
    expect(annex.locator(".hours dt")).to_have_text(["Saturday, November 1, 2025", "Monday, November 3, 2025"])
    expect(annex.locator(".hours dd")).to_have_text(
        [f"8:00 AM {TO} 5:00 PM CDT", f"8:00 AM {TO} 12:00 PM CST, 1:00 PM {TO} 5:00 PM CST"]
    )
    night = place_item(page, "Annex Drop Box")
    expect(night.locator(".hours dd")).to_have_text([f"12:00 AM CDT {TO} midnight CST"])
    expect(page.locator("#result-body [data-field=open-now]")).to_have_text(["Closed now"] * 3)

    expect(page.locator(".leaflet-served-pane .kind-marker")).to_have_count(3)
    assert sorted(kind for kind, _ in served_markers(page)) == ["drop_box", "early_voting", "election_day"]
    page.evaluate("window.pollingMap.setView([32.352, -90.162], 14, {animate: false})")
    page.mouse.move(600, 20)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "map-places.png"))
    page.set_viewport_size({"width": 1280, "height": 1800})  # the whole list inside the scrolling panel
    page.locator("#result-body .places").screenshot(path=str(SCREENSHOTS / "map-places-list.png"))

    # Back to the default: the vote centers again, and the map redrawn with them.
    page.select_option("#election", "")
    expect(page.locator("#result-body [data-field=place-name]").first).to_have_text("Near Vote Center")
    expect(page.locator(".leaflet-served-pane .kind-marker")).to_have_count(3)
    assert sorted(kind for kind, _ in served_markers(page)) == ["drop_box", "vote_center", "vote_center"]
    watch.assert_clean()


def test_places_are_reached_by_keyboard_and_pass_axe(new_page, live_server, county_places):
    page, watch = new_page()
    page.route(
        f"{live_server.url}{AXE_URL}", lambda route: route.fulfill(path=str(AXE), content_type="text/javascript")
    )
    open_map(page, live_server)
    check_point(page, *AT)

    # "Show on the map" moves the map to the place and hands the keyboard focus to its marker, whose label opens.
    show = place_item(page, "Far Vote Center").locator(".show-place")
    expect(show).to_have_accessible_name("Show on the map: Far Vote Center")
    show.focus()
    page.keyboard.press("Enter")
    focused = page.locator(".leaflet-served-pane .kind-marker:focus")
    expect(focused).to_have_attribute("aria-label", re.compile(r"^Far Vote Center \("))
    expect(page.locator(".leaflet-tooltip", has_text="Far Vote Center")).to_be_visible()
    centre = page.evaluate("(() => { const c = window.pollingMap.getCenter(); return [c.lat, c.lng]; })()")
    assert centre == pytest.approx([32.37, -90.12], abs=1e-5)
    # Enter on a marker picks its place out in the list.
    page.keyboard.press("Enter")
    expect(place_item(page, "Far Vote Center")).to_have_class(re.compile(r"\bis-selected\b"))

    assert serious_violations(page) == []
    page.select_option("#election", str(county_places["past"].pk))
    expect(page.locator("#result-body [data-field=place-name]").first).to_have_text("Fire Station 3")
    assert serious_violations(page) == []
    watch.assert_clean()

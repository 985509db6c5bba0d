"""The map's every-place layer and its link in a real browser: each kind of place drawn with its own symbol and
explained in the legend, a popup with the place's kinds and its hours in the election shown, the election kept in
the map's link (old links and garbage tolerated), and the days a zone applies on in its label (run: pytest
tests/e2e -o markers=e2e)."""

from __future__ import annotations

import datetime as dt
import json
import re
import zoneinfo
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from geographiclib.geodesic import Geodesic
from playwright.sync_api import expect
from shapely.geometry import Point, box

from polling.models import LocationHours
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
#: A name holding markup: the popup shows it as text.
SCHOOL = "Westside <b>School</b> <img src=x>"
LEGEND_KINDS = [
    "Election-day polling place (circle)",
    "Vote center: any voter of the county (square)",
    "Early voting (diamond)",
    "Ballot drop box (triangle)",
]


def hours(place, election, date: dt.date, opens: dt.time, closes: dt.time) -> None:
    row = LocationHours(polling_place=place, election=election, date=date, opens=opens, closes=closes)
    row.full_clean()
    row.save()


@pytest.fixture
def places():
    """Hinds County, one precinct, five places of every kind, two elections:

    - ``general`` (the next upcoming, the lookup's default): the precinct votes at Fire Station 3 (election day);
      the Courthouse Annex is both an early-voting site and a drop box, open two days before election day; the City
      Hall Drop Box is open the day before; Westside School (early voting) has no hours in it, so serves no one;
    - ``past`` (4 November 2025): the precinct voted at Town Hall.
    """
    from polling.geography import spatial

    spatial.reset_index()
    seed_reference_data()
    county = CountyFactory(fips="28049", name="Hinds", boundary=box(-90.3, 32.2, -90.0, 32.5))
    precinct = PrecinctFactory(county=county, code="0101", name="Northside", boundary=box(-90.3, 32.2, -90.0, 32.5))
    today = dt.datetime.now(CHICAGO).date()
    general = ElectionFactory(name="General Election", date=today + dt.timedelta(days=30))
    station = PollingPlaceFactory(county=county, code="FS3", name="Fire Station 3", location=Point(-90.175, 32.355))
    PrecinctAssignmentFactory(election=general, precinct=precinct, polling_place=station)
    annex = PollingPlaceFactory(
        county=county,
        code="EV1",
        name="Courthouse Annex",
        address="1 Court Sq, Jackson, MS",
        location=Point(-90.15, 32.36),
        is_election_day=False,
        is_early_voting=True,
        is_drop_box=True,
    )
    early_days = [today + dt.timedelta(days=10), today + dt.timedelta(days=11)]
    for day in early_days:
        hours(annex, general, day, dt.time(8), dt.time(17))
    drop = PollingPlaceFactory(
        county=county,
        code="BOX1",
        name="City Hall Drop Box",
        location=Point(-90.16, 32.34),
        is_election_day=False,
        is_drop_box=True,
    )
    hours(drop, general, today + dt.timedelta(days=29), dt.time(8), dt.time(17))
    school = PollingPlaceFactory(
        county=county,
        code="EV2",
        name=SCHOOL,
        location=Point(-90.18, 32.345),
        is_election_day=False,
        is_early_voting=True,
    )
    past = ElectionFactory(name="Municipal Election", date=dt.date(2025, 11, 4))
    hall = PollingPlaceFactory(county=county, code="TH1", name="Town Hall", location=Point(-90.165, 32.352))
    PrecinctAssignmentFactory(election=past, precinct=precinct, polling_place=hall)
    yield {
        "general": general,
        "past": past,
        "station": station,
        "annex": annex,
        "drop": drop,
        "school": school,
        "hall": hall,
        "early_days": early_days,
    }
    spatial.reset_index()


# ---- helpers ------------------------------------------------------------------------------------------------------


def open_map(page, live_server, fragment: str = "") -> None:
    page.goto(f"{live_server.url}/map/{fragment}")
    page.wait_for_selector("#map[data-counties]", state="attached")
    page.wait_for_selector("#election[data-loaded]", state="attached")


def set_view(page, lat: float, lon: float, zoom: int) -> None:
    """Move the map (no animation) and wait for the layers of that zoom to be loaded."""
    page.evaluate(
        """([lat, lon, zoom]) => new Promise((resolve) => {
            window.pollingMap.once("moveend", () => resolve());
            window.pollingMap.setView([lat, lon], zoom, {animate: false});
        })""",
        [lat, lon, zoom],
    )
    page.wait_for_timeout(300)  # moveend is debounced (200 ms) before the layers refresh
    page.wait_for_selector('#map[data-loading="false"]', state="attached")


def marker(page, place):
    return page.locator(f'.leaflet-places-pane .place-marker[data-place="{place.pk}"]')


def popup(page):
    return page.locator(".leaflet-popup.place-popup")


def wait_for_result(page) -> None:
    expect(page.locator("#result")).to_have_attribute("data-state", "done")
    expect(page.locator("#result-body .places")).to_be_attached()


def listed(page) -> list[str]:
    return page.locator("#result-body .place [data-field=place-name]").all_inner_texts()


def lookups(requests: list[str]) -> list[dict[str, list[str]]]:
    """The query of every lookup the page asked for."""
    return [parse_qs(urlsplit(u).query) for u in requests if urlsplit(u).path.endswith("/lookup/")]


def long_date(day: dt.date) -> str:
    return f"{day:%A, %B} {day.day}, {day:%Y}"


def zone_name(day: dt.date) -> str:
    return dt.datetime.combine(day, dt.time(12), tzinfo=CHICAGO).tzname()


def hover(page, lat: float, lon: float) -> None:
    """Hover the map at a point, and wait for the label of what was hovered before to fade out (200 ms)."""
    x, y = page.evaluate(
        "([lat, lon]) => { const p = window.pollingMap.latLngToContainerPoint([lat, lon]); return [p.x, p.y]; }",
        [lat, lon],
    )
    frame = page.locator("#map").bounding_box()
    assert 0 < x < frame["width"] and 0 < y < frame["height"], "the point is on screen"
    page.mouse.move(frame["x"] + x - 3, frame["y"] + y - 3)
    page.mouse.move(frame["x"] + x, frame["y"] + y)
    expect(page.locator(".leaflet-tooltip:not(.zone-label):not(.check-summary)")).to_have_count(1)


def north_of(place, metres: float) -> tuple[float, float]:
    g = Geodesic.WGS84.Direct(place.location.y, place.location.x, 0, metres)
    return g["lat2"], g["lon2"]


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


def test_every_place_is_drawn_with_a_symbol_per_kind_and_a_legend(new_page, live_server, places):
    page, watch = new_page()
    open_map(page, live_server)
    set_view(page, 32.352, -90.165, 14)

    markers = page.locator(".leaflet-places-pane .place-marker")
    expect(markers).to_have_count(5)
    kinds = dict(
        markers.evaluate_all("nodes => nodes.map(n => [n.getAttribute('data-place'), n.getAttribute('data-kinds')])")
    )
    assert kinds == {
        str(places["station"].pk): "election_day",
        str(places["hall"].pk): "election_day",
        str(places["annex"].pk): "early_voting drop_box",
        str(places["drop"].pk): "drop_box",
        str(places["school"].pk): "early_voting",
    }
    # A site of two kinds shows both symbols; each is named, with its kinds in words, for assistive technology.
    expect(marker(page, places["annex"]).locator(".kind-symbol")).to_have_count(2)
    expect(marker(page, places["annex"])).to_have_attribute("aria-label", "Courthouse Annex (Early voting, Drop box)")
    expect(marker(page, places["drop"])).to_have_attribute("aria-label", "City Hall Drop Box (Drop box)")
    expect(marker(page, places["station"])).to_have_attribute("role", "button")
    expect(marker(page, places["school"])).to_have_attribute("aria-label", f"{SCHOOL} (Early voting)")

    # Each kind has its own shape (not only its own colour), the same shape the legend shows for it.
    def shape(locator) -> list[tuple[str, str, str]]:
        return locator.evaluate_all(
            "nodes => nodes.map(n => { const s = getComputedStyle(n, '::before');"
            " return [n.className.match(/kind-(\\w+)$/)[1], s.borderRadius + '|' + s.clipPath + '|' + s.transform]; })"
        )

    drawn = dict(shape(page.locator(".leaflet-places-pane .kind-symbol")))
    assert set(drawn) == {"election_day", "early_voting", "drop_box"}
    assert len(set(drawn.values())) == 3, f"three kinds, three shapes: {drawn}"
    legend = dict(shape(page.locator(".legend-kinds .kind-symbol")))
    assert all(legend[kind] == drawn[kind] for kind in drawn), (legend, drawn)
    expect(page.locator("#legend-kinds-heading")).to_have_text("Polling places by kind (zoom 11+)")
    assert page.locator(".legend-kinds li").all_inner_texts() == LEGEND_KINDS
    expect(page.locator(".legend-note")).to_contain_text("one symbol for each, side by side")

    page.mouse.move(600, 20)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "map-kinds.png"))
    page.locator(".legend").screenshot(path=str(SCREENSHOTS / "map-legend.png"))
    watch.assert_clean()


def test_popup_gives_the_kinds_then_the_hours_in_the_election_shown(new_page, live_server, places):
    page, watch = new_page()
    page.route(
        f"{live_server.url}{AXE_URL}", lambda route: route.fulfill(path=str(AXE), content_type="text/javascript")
    )
    open_map(page, live_server)
    set_view(page, 32.352, -90.165, 14)

    # Before any check the popup knows the kinds, not the hours: those belong to an election.
    marker(page, places["annex"]).click()
    expect(popup(page).locator("[data-field=popup-name]")).to_have_text("Courthouse Annex")
    expect(popup(page).locator("[data-field=popup-address]")).to_have_text("1 Court Sq, Jackson, MS")
    expect(popup(page).locator(".popup-kinds li")).to_have_text(["Early voting", "Drop box"])
    expect(popup(page).locator(".popup-kinds .kind-symbol")).to_have_count(2)
    expect(popup(page).locator("[data-field=popup-no-hours]")).to_contain_text("check a spot this place serves")
    assert lookups(watch.requests) == []

    # "Check this spot" checks the place's own spot; the popup then gives its hours in that election.
    popup(page).get_by_role("button", name="Check this spot").click()
    wait_for_result(page)
    early = places["early_days"]
    expect(popup(page).locator("[data-field=popup-election]")).to_have_text("Hours for General Election (closed now):")
    expect(popup(page).locator(".hours dt")).to_have_text([long_date(day) for day in early])
    expect(popup(page).locator(".hours dd")).to_have_text([f"8:00 AM {TO} 5:00 PM {zone_name(day)}" for day in early])
    assert page.input_value("#lat") == f"{places['annex'].location.y:.6f}"
    page.mouse.move(600, 20)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "map-place-popup.png"))
    expect(popup(page)).to_have_css("opacity", "1")  # faded in: axe judges colours as shown
    assert serious_violations(page) == []

    # A place serving no one in this election says so; by keyboard: Enter opens the popup and focuses it, Escape
    # closes it and hands the focus back to the place.
    page.keyboard.press("Escape")
    expect(popup(page)).to_have_count(0)
    marker(page, places["school"]).focus()
    page.keyboard.press("Enter")
    expect(popup(page).locator(".popup-kinds li")).to_have_text(["Early voting"])
    expect(popup(page).locator("[data-field=popup-name]")).to_have_text(SCHOOL)
    expect(popup(page).locator("b, img")).to_have_count(0)
    expect(popup(page).locator("[data-field=popup-no-hours]")).to_be_visible()
    expect(popup(page).locator(".popup-name")).to_be_focused()
    page.keyboard.press("Escape")
    expect(popup(page)).to_have_count(0)
    expect(marker(page, places["school"])).to_be_focused()

    # The hours follow the election picked: Town Hall is not a place of the general election but of the past one.
    page.select_option("#election", str(places["past"].pk))
    wait_for_result(page)
    expect(page.locator("#result-body [data-field=place-name]").first).to_have_text("Town Hall")
    marker(page, places["hall"]).focus()
    page.keyboard.press("Enter")
    expect(popup(page).locator("[data-field=popup-election]")).to_have_text(
        "Hours for Municipal Election (closed now):"
    )
    expect(popup(page).locator(".hours dd")).to_have_text([f"7:00 AM {TO} 7:00 PM CST"])
    expect(popup(page)).to_have_css("opacity", "1")  # faded in: axe judges colours as shown
    assert serious_violations(page) == []
    watch.assert_clean()


def test_with_an_election_picked_a_popup_gives_the_hours_without_a_check(new_page, live_server, places):
    """The popup asks the place's own page for its hours in the election picked: no spot needs checking first."""
    page, watch = new_page()
    open_map(page, live_server)
    page.select_option("#election", str(places["general"].pk))
    set_view(page, 32.352, -90.165, 14)

    marker(page, places["drop"]).click()
    expect(popup(page).locator("[data-field=popup-election]")).to_have_text("Hours for General Election (closed now):")
    day = dt.datetime.now(CHICAGO).date() + dt.timedelta(days=29)
    expect(popup(page).locator(".hours dt")).to_have_text([long_date(day)])
    expect(popup(page).locator(".hours dd")).to_have_text([f"8:00 AM {TO} 5:00 PM {zone_name(day)}"])
    asked = [
        parse_qs(urlsplit(u).query)
        for u in watch.requests
        if urlsplit(u).path == f"/api/v1/polling-places/{places['drop'].pk}/"
    ]
    assert asked == [{"election": [str(places["general"].pk)]}]
    assert lookups(watch.requests) == []
    watch.assert_clean()


def test_the_link_keeps_the_election_picked(new_page, live_server, places):
    past = places["past"]
    page, watch = new_page()
    open_map(page, live_server)
    page.fill("#lat", f"{AT[0]}")
    page.fill("#lon", f"{AT[1]}")
    page.click("button[type=submit]")
    wait_for_result(page)
    assert urlsplit(page.url).fragment == "32.350000,-90.170000"
    page.select_option("#election", str(past.pk))
    expect(page.locator("#result-body [data-field=place-name]").first).to_have_text("Town Hall")
    link = page.url
    assert urlsplit(link).fragment == f"32.350000,-90.170000&election={past.pk}"
    # A skip link moves to its target and leaves the link as it was (noted once the page has seen the change).
    page.evaluate(
        "window.addEventListener('hashchange', () => document.body.setAttribute('data-seen-hash', location.hash))"
    )
    page.locator(".skip-link[href='#result']").focus()
    page.keyboard.press("Enter")
    expect(page.locator("body")).to_have_attribute("data-seen-hash", f"#32.350000,-90.170000&election={past.pk}")
    assert page.url == link
    assert len(lookups(watch.requests)) == 2, "following the skip link checks nothing again"
    watch.assert_clean()

    # The link opens the map at the point, the picker on the election, and asks the lookup for that election only.
    shared, shared_watch = new_page()
    shared.goto(link)
    wait_for_result(shared)
    expect(shared.locator("#election")).to_have_value(str(past.pk))
    assert listed(shared) == ["Town Hall"]
    assert [q.get("election") for q in lookups(shared_watch.requests)] == [[str(past.pk)]]
    assert shared.input_value("#lat") == "32.350000"
    expect(shared.locator("#result-body .facts")).to_contain_text("Municipal Election: Tuesday, November 4, 2025")
    # Back to the default election: the link forgets it.
    shared.select_option("#election", "")
    expect(shared.locator("#result-body [data-field=place-name]").first).to_have_text("Fire Station 3")
    assert urlsplit(shared.url).fragment == "32.350000,-90.170000"
    shared_watch.assert_clean()


def test_old_links_and_garbage_in_the_link_are_tolerated(new_page, live_server, places):
    # An old link, the point only: the default election, checked at once.
    page, watch = new_page()
    open_map(page, live_server, "#32.35,-90.17")
    wait_for_result(page)
    assert listed(page)[0] == "Fire Station 3"
    expect(page.locator("#election")).to_have_value("")
    assert [q.get("election") for q in lookups(watch.requests)] == [None]
    watch.assert_clean()

    # Garbage beside the point, an election that is not a number, one that does not exist, a broken %-escape: the
    # point is checked for the default election and the link is written back clean.
    for fragment in (
        "#32.35,-90.17&election=abc&zoom=5&%E0%A4%A",
        "#election=999999&32.35%2C-90.17",
        "#32.35,-90.17&election=0&election=1e3",
    ):
        page, watch = new_page()
        open_map(page, live_server, fragment)
        wait_for_result(page)
        assert listed(page)[0] == "Fire Station 3", fragment
        expect(page.locator("#election")).to_have_value("")
        assert [q.get("election") for q in lookups(watch.requests)] == [None], fragment
        assert urlsplit(page.url).fragment == "32.350000,-90.170000", fragment
        watch.assert_clean()

    # Nothing usable at all: nothing is checked, nothing breaks.
    for fragment in ("#%E0%A4%A", "#<script>alert(1)</script>", "#result", "#election=", "#95,-90.1"):
        page, watch = new_page()
        open_map(page, live_server, fragment)
        expect(page.locator("#election option")).to_have_count(3)
        expect(page.locator("#result-body .placeholder")).to_be_visible()
        assert lookups(watch.requests) == [], fragment
        watch.assert_clean()


def test_a_link_with_only_the_election_or_pasted_into_an_open_map(new_page, live_server, places):
    past = places["past"]
    page, watch = new_page()
    open_map(page, live_server, f"#election={past.pk}")
    expect(page.locator("#election")).to_have_value(str(past.pk))
    assert lookups(watch.requests) == []
    # Checking a spot then asks for that election and keeps both in the link.
    page.fill("#lat", f"{AT[0]}")
    page.fill("#lon", f"{AT[1]}")
    page.click("button[type=submit]")
    wait_for_result(page)
    assert listed(page) == ["Town Hall"]
    assert urlsplit(page.url).fragment == f"32.350000,-90.170000&election={past.pk}"

    # Another link pasted into the open map's address bar is followed: its point, and the default election.
    page.evaluate("location.hash = '#32.3600,-90.1500'")
    expect(page.locator("#lat")).to_have_value("32.360000")
    wait_for_result(page)
    expect(page.locator("#election")).to_have_value("")
    expect(page.locator("#result-body [data-field=place-name]").first).to_have_text("Fire Station 3")
    assert lookups(watch.requests)[-1].get("election") is None
    watch.assert_clean()


def test_a_zone_label_gives_the_days_it_applies_on_when_the_api_says(new_page, live_server, places):
    """The zones API may say on which days a zone applies (``applies_on``: null for every day). Here the answer is
    given those days by the test, as the API will."""
    annex, station, school = places["annex"], places["station"], places["school"]
    weekdays = [dt.date(2026, 10, 5) + dt.timedelta(days=n) for n in range(26)]
    applies_on = {
        (annex.pk, "campaigning"): [f"2026-{d}" for d in ["10-20", *(f"10-{n}" for n in range(21, 32)), "11-01"]]
        + ["2026-11-02"],
        (annex.pk, "loitering"): ["2026-10-24", "2026-10-20", "2026-10-21", "2026-10-21", "not a date"],
        (station.pk, "campaigning"): ["2026-12-31", "2027-01-01"],
        (station.pk, "loitering"): None,
        (school.pk, "campaigning"): [d.isoformat() for d in weekdays if d.weekday() < 5],
    }
    seen = []

    def add_days(route):
        response = route.fetch()
        body = response.json()
        for feature in body["features"]:
            key = (feature["properties"]["polling_place"], feature["properties"]["activity"])
            if key in applies_on:
                feature["properties"]["applies_on"] = applies_on[key]
                seen.append(key)
        route.fulfill(response=response, body=json.dumps(body), content_type="application/json")

    page, watch = new_page()
    page.route(re.compile(r"/api/v1/zones/\?"), add_days)
    open_map(page, live_server)
    tooltip = page.locator(".leaflet-tooltip:not(.zone-label):not(.check-summary)")

    set_view(page, annex.location.y, annex.location.x, 18)
    assert (annex.pk, "campaigning") in seen
    hover(page, *north_of(annex, 30))  # inside the 150 ft zone only
    expect(tooltip).to_contain_text("No campaigning within 150 ft")
    expect(tooltip).to_contain_text(f"applies on Oct 20{TO}Nov 2)")
    hover(page, *north_of(annex, 6))  # inside the 30 ft zone too, drawn on top
    expect(tooltip).to_contain_text("No loitering within 30 ft")
    expect(tooltip).to_contain_text(f"applies on Oct 20{TO}21, Oct 24)")

    set_view(page, station.location.y, station.location.x, 18)
    hover(page, *north_of(station, 30))
    expect(tooltip).to_contain_text("No campaigning within 150 ft")
    expect(tooltip).to_contain_text(f"applies on Dec 31, 2026{TO}Jan 1, 2027)")
    hover(page, *north_of(station, 6))
    expect(tooltip).to_contain_text("No loitering within 30 ft")
    expect(tooltip).not_to_contain_text("applies on")

    # Four weeks of weekdays, more runs than a label lists: the count of days, the first and the last.
    set_view(page, school.location.y, school.location.x, 18)
    hover(page, *north_of(school, 30))
    expect(tooltip).to_contain_text("No campaigning within 150 ft")
    expect(tooltip).to_contain_text(f"applies on 20 days, Oct 5{TO}30)")
    watch.assert_clean()

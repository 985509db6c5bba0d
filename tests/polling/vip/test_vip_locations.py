"""Typed locations in VIP 6.0 feeds: early-voting sites and drop boxes with their hours (across the November
daylight-saving change), a vote-center county, a location without coordinates. Exported valid against the schema,
imported back into an emptied database with the same answers from ``serving_places``; a location without
``LatLng`` is kept and flagged for a commissioner, never refused; broken hours are refused with nothing stored."""

from __future__ import annotations

import datetime as dt
import io
import re
import zipfile
from pathlib import Path
from typing import Any

import pytest
import xmlschema
from shapely.geometry import Point, box

from polling.geography.importer import GeographyImportError
from polling.geography.locations import serving_places
from polling.models import (
    County,
    Election,
    Entrance,
    ImportWarning,
    LocationHours,
    PollingPlace,
    Precinct,
    PrecinctAssignment,
    VoteCenter,
)
from polling.vip.export import export_vip
from polling.vip.import_ import import_vip
from tests.factories import ElectionFactory, PollingPlaceFactory, PrecinctAssignmentFactory, PrecinctFactory

pytestmark = pytest.mark.django_db

SCHEMA = Path(__file__).resolve().parents[3] / "polling" / "vip" / "schema" / "vip_spec.xsd"
UTC = dt.UTC
ELECTION_DAY = dt.date(2026, 11, 3)
#: Moments the answers are compared at: early voting on each side of the change, the fall-back night, election day.
MOMENTS = [
    dt.datetime(2026, 10, 27, 14, tzinfo=UTC),
    dt.datetime(2026, 10, 31, 13, 30, tzinfo=UTC),
    dt.datetime(2026, 11, 1, 7, 30, tzinfo=UTC),
    dt.datetime(2026, 11, 2, 13, 30, tzinfo=UTC),
    dt.datetime(2026, 11, 3, 18, tzinfo=UTC),
]


def _hours(place: PollingPlace, election: Election, day: dt.date, opens: int, closes: int) -> None:
    row = LocationHours(
        polling_place=place, election=election, date=day, opens=dt.time(opens), closes=dt.time(closes % 24)
    )
    row.full_clean()
    row.save()


@pytest.fixture
def world(county: County, other_county: County) -> dict[str, Any]:
    """Hinds: two precincts assigned to one place, an early-voting site, a drop box. Madison: a vote-center
    county with an early-voting vote center, a plain one and one whose coordinates are unknown."""
    for c in (county, other_county):
        c.boundary = box(-90.2, 32.3, -90.1, 32.4)
        c.save()
    election = ElectionFactory(jurisdiction=county.jurisdiction, name="General", date=ELECTION_DAY)
    h1 = PrecinctFactory(county=county, code="H1", boundary=box(-90.2, 32.3, -90.15, 32.4))
    h2 = PrecinctFactory(county=county, code="H2", boundary=box(-90.15, 32.3, -90.1, 32.4))
    m1 = PrecinctFactory(county=other_county, code="M1", boundary=box(-90.2, 32.3, -90.15, 32.4))
    m2 = PrecinctFactory(county=other_county, code="M2", boundary=box(-90.15, 32.3, -90.1, 32.4))
    a = PollingPlaceFactory(county=county, code="A", address="1 Main St, Jackson, MS 39201")
    for precinct in (h1, h2):
        PrecinctAssignmentFactory(election=election, precinct=precinct, polling_place=a)
    ev = PollingPlaceFactory(
        county=county,
        code="EV1",
        is_election_day=False,
        is_early_voting=True,
        location=Point(-90.16, 32.36),
        address="2 Court Sq, Jackson, MS 39201",
    )
    for day in range(26, 32):
        _hours(ev, election, dt.date(2026, 10, day), 8, 17)
    _hours(ev, election, dt.date(2026, 11, 2), 8, 17)
    drop = PollingPlaceFactory(
        county=county, code="DB1", is_election_day=False, is_drop_box=True, location=Point(-90.165, 32.355)
    )
    _hours(drop, election, dt.date(2026, 11, 1), 0, 24)
    _hours(drop, election, ELECTION_DAY, 0, 19)
    vc1 = PollingPlaceFactory(county=other_county, code="VC1", is_early_voting=True, location=Point(-90.18, 32.35))
    _hours(vc1, election, dt.date(2026, 10, 30), 8, 17)
    vc2 = PollingPlaceFactory(county=other_county, code="VC2", location=Point(-90.12, 32.35))
    vc3 = PollingPlaceFactory(county=other_county, code="VC3", location=None, address="Old Gym, Canton")
    for center in (vc1, vc2, vc3):
        VoteCenter.objects.create(election=election, polling_place=center)
    return {"election": election, "precincts": [h1, h2, m1, m2]}


def _answers() -> list[Any]:
    """What ``serving_places`` answers for every precinct at every moment, without database ids."""
    election = Election.objects.get(name="General", date=ELECTION_DAY)
    out = []
    for precinct in Precinct.objects.select_related("county__jurisdiction").order_by("county__fips", "code"):
        for at in MOMENTS:
            for s in serving_places(precinct, precinct.county, election, at=at, near=(-90.17, 32.35)):
                out.append(
                    (
                        precinct.code,
                        at,
                        s.place.code,
                        s.place.name,
                        s.place.address,
                        None if s.place.location is None else (s.place.location.x, s.place.location.y),
                        s.kinds,
                        s.vote_center,
                        [(o.date, o.opens, o.closes, o.timezone, o.starts_at, o.ends_at) for o in s.hours],
                        s.open_now,
                        s.distance_m,
                    )
                )
    return out


def _empty() -> None:
    ImportWarning.objects.all().delete()
    VoteCenter.objects.all().delete()
    LocationHours.objects.all().delete()
    PrecinctAssignment.objects.all().delete()
    Entrance.objects.all().delete()
    PollingPlace.objects.all().delete()
    Precinct.objects.all().delete()
    Election.objects.all().delete()


@pytest.fixture
def feed(world: dict[str, Any], tmp_path: Path) -> Path:
    out = tmp_path / "feed.zip"
    export_vip(election=world["election"], out=out)
    return out


def _xml(feed: Path) -> str:
    with zipfile.ZipFile(feed) as archive:
        return archive.read("vip_feed.xml").decode()


def _location(xml: str, code: str) -> str:
    match = re.search(rf'<PollingLocation id="pl\d{{5}}-{code}">.*?</PollingLocation>', xml, re.S)
    assert match, code
    return match.group()


def _hours_open(xml: str, code: str) -> str:
    match = re.search(rf'<HoursOpen id="ho-pl\d{{5}}-{code}">.*?</HoursOpen>', xml, re.S)
    assert match, code
    return match.group()


def _schedules(hours_open: str) -> list[tuple[str, ...]]:
    return [
        tuple(re.findall(r"<(?:StartTime|EndTime|StartDate|EndDate)>([^<]+)<", schedule))
        for schedule in re.findall(r"<Schedule>.*?</Schedule>", hours_open, re.S)
    ]


def test_the_export_of_every_kind_of_location_is_valid_vip_6(feed: Path):
    xml = _xml(feed)
    xmlschema.XMLSchema(str(SCHEMA)).validate(io.BytesIO(xml.encode()))

    assert "<IsEarlyVoting>true</IsEarlyVoting>" in _location(xml, "EV1")
    assert "<IsDropBox>true</IsDropBox>" in _location(xml, "DB1")
    assert "<IsDropBox>false</IsDropBox>" in _location(xml, "A") and "<HoursOpenId>" not in _location(xml, "A")
    assert "<LatLng>" not in _location(xml, "VC3") and "<LatLng>" in _location(xml, "VC2")
    # Madison's precincts list every vote center; Hinds's their assigned place.
    assert re.search(
        r"<LocalityId>loc28089</LocalityId>\s*<Name>[^<]*</Name>\s*<PollingLocationIds>"
        r"pl28089-VC1 pl28089-VC2 pl28089-VC3</PollingLocationIds>",
        xml,
    )


def test_schedules_are_split_where_the_clocks_change_and_a_whole_day_ends_at_24(feed: Path):
    xml = _xml(feed)

    # Monday to Saturday share one schedule at CDT; the Monday after the change is CST.
    assert _schedules(_hours_open(xml, "EV1")) == [
        ("08:00:00-05:00", "17:00:00-05:00", "2026-10-26", "2026-10-31"),
        ("08:00:00-06:00", "17:00:00-06:00", "2026-11-02", "2026-11-02"),
    ]
    # The 25-hour Sunday opens at CDT midnight and ends at CST midnight.
    assert _schedules(_hours_open(xml, "DB1")) == [
        ("00:00:00-05:00", "24:00:00-06:00", "2026-11-01", "2026-11-01"),
        ("00:00:00-06:00", "19:00:00-06:00", "2026-11-03", "2026-11-03"),
    ]
    # A vote center that is an early-voting site says when it is open on election day, or VIP would read it as an
    # early-voting site only.
    assert _schedules(_hours_open(xml, "VC1")) == [
        ("08:00:00-05:00", "17:00:00-05:00", "2026-10-30", "2026-10-30"),
        ("07:00:00-06:00", "19:00:00-06:00", "2026-11-03", "2026-11-03"),
    ]


def test_export_then_import_into_an_emptied_database_gives_the_same_answers(feed: Path):
    before = _answers()
    assert {row[2] for row in before} == {"A", "EV1", "DB1", "VC1", "VC2", "VC3"}
    _empty()

    result = import_vip(path=feed)

    assert result.changed
    assert _answers() == before
    kinds = {
        p.code: (p.is_election_day, p.is_early_voting, p.is_drop_box) for p in PollingPlace.objects.order_by("code")
    }
    assert kinds == {
        "A": (True, False, False),
        "DB1": (False, False, True),
        "EV1": (False, True, False),
        "VC1": (True, True, False),
        "VC2": (True, False, False),
        "VC3": (True, False, False),
    }
    assert sorted(VoteCenter.objects.values_list("polling_place__code", flat=True)) == ["VC1", "VC2", "VC3"]
    assert not PrecinctAssignment.objects.filter(precinct__county__fips="28089").exists()
    # The place without coordinates is kept, by its address, and listed for Madison's commissioners.
    vc3 = PollingPlace.objects.get(code="VC3")
    assert vc3.location is None and vc3.address == "Old Gym, Canton"
    (warning,) = ImportWarning.objects.all()
    assert (warning.county.fips, warning.code, warning.polling_place) == ("28089", "no_coordinates", vc3)
    assert warning.subject == "PollingLocation 'pl28089-VC3'" and warning.source == "feed.zip"
    assert any("'pl28089-VC3', field 'LatLng': missing" in w for w in result.geography.warnings)

    # Idempotent: nothing changes, and the warning is refreshed rather than doubled.
    again = import_vip(path=feed)
    assert not again.changed, (again.geography, again.locations)
    assert ImportWarning.objects.count() == 1
    assert _answers() == before


def test_a_location_we_hold_located_keeps_its_coordinates_when_the_feed_has_none(feed: Path, tmp_path: Path):
    folder = tmp_path / "unpacked"
    with zipfile.ZipFile(feed) as archive:
        archive.extractall(folder)
    xml = (folder / "vip_feed.xml").read_text()
    stripped = xml.replace(re.search(r"<LatLng>.*?</LatLng>", _location(xml, "EV1"), re.S).group(), "")
    (folder / "vip_feed.xml").write_text(stripped)

    result = import_vip(path=folder)

    # (The precincts' boxes come back from the shapefile with their rings started elsewhere: an update.)
    assert result.geography.updated["polling places"] == 0
    assert not result.locations.changed
    assert PollingPlace.objects.get(code="EV1").location.equals(Point(-90.16, 32.36))
    assert list(ImportWarning.objects.values_list("polling_place__code", flat=True)) == ["VC3"]


def test_a_new_location_without_coordinates_is_flagged_until_a_feed_gives_them(feed: Path, tmp_path: Path):
    _empty()
    folder = tmp_path / "unpacked"
    with zipfile.ZipFile(feed) as archive:
        archive.extractall(folder)
    xml = (folder / "vip_feed.xml").read_text()
    (folder / "vip_feed.xml").write_text(
        xml.replace(re.search(r"<LatLng>.*?</LatLng>", _location(xml, "DB1"), re.S).group(), "")
    )
    import_vip(path=folder)
    assert PollingPlace.objects.get(code="DB1").location is None
    assert set(ImportWarning.objects.values_list("polling_place__code", flat=True)) == {"DB1", "VC3"}

    import_vip(path=feed)

    assert PollingPlace.objects.get(code="DB1").location.equals(Point(-90.165, 32.355))
    assert list(ImportWarning.objects.values_list("polling_place__code", flat=True)) == ["VC3"]


def _broken(feed: Path, tmp_path: Path, change: Any) -> Path:
    folder = tmp_path / "broken"
    with zipfile.ZipFile(feed) as archive:
        archive.extractall(folder)
    path = folder / "vip_feed.xml"
    path.write_text(change(path.read_text()))
    return folder


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("after election day", r"HoursOpen 'ho-pl28049-EV1', field 'Schedule\[0\].EndDate': 2026-11-04 is after"),
        ("end before start", r"HoursOpen 'ho-pl28049-EV1', field 'Schedule\[0\].Hours\[0\].EndTime': must be after"),
        ("bad time", r"HoursOpen 'ho-pl28049-EV1', field 'Schedule\[0\].Hours\[0\]': StartTime and EndTime must"),
        ("unknown hours", r"PollingLocation 'pl28049-EV1', field 'HoursOpenId': refers to 'nowhere', which is"),
        ("overlap", r"HoursOpen 'ho-pl28049-DB1', field 'Schedule': two spans overlap on 2026-11-01"),
    ],
)
def test_broken_hours_are_refused_naming_element_and_field_with_nothing_stored(
    feed: Path, tmp_path: Path, case: str, expected: str
):
    def change(xml: str) -> str:
        ev = _hours_open(xml, "EV1")
        if case == "after election day":
            return xml.replace(ev, ev.replace("<EndDate>2026-10-31</EndDate>", "<EndDate>2026-11-04</EndDate>"))
        if case == "end before start":
            return xml.replace(ev, ev.replace("<EndTime>17:00:00-05:00</EndTime>", "<EndTime>07:00:00-05:00</EndTime>"))
        if case == "bad time":
            return xml.replace(ev, ev.replace("<StartTime>08:00:00-05:00</StartTime>", "<StartTime>8am</StartTime>"))
        if case == "unknown hours":
            return xml.replace("<HoursOpenId>ho-pl28049-EV1</HoursOpenId>", "<HoursOpenId>nowhere</HoursOpenId>")
        db = _hours_open(xml, "DB1")
        extra = "<Hours><StartTime>12:00:00-05:00</StartTime><EndTime>13:00:00-05:00</EndTime></Hours>"
        return xml.replace(db, db.replace("<Hours>", extra + "<Hours>", 1))

    folder = _broken(feed, tmp_path, change)
    _empty()
    with pytest.raises(GeographyImportError) as refused:
        import_vip(path=folder)
    assert re.search(expected, str(refused.value)), str(refused.value)
    assert "nothing was imported" in str(refused.value)
    assert not PollingPlace.objects.exists() and not Election.objects.exists() and not LocationHours.objects.exists()


def test_an_end_at_midnight_written_00_00_is_the_end_of_the_day(feed: Path, tmp_path: Path):
    folder = _broken(
        feed,
        tmp_path,
        lambda xml: xml.replace("<EndTime>24:00:00-06:00</EndTime>", "<EndTime>00:00:00-06:00</EndTime>"),
    )
    assert "24:00:00" not in (folder / "vip_feed.xml").read_text()
    _empty()

    import_vip(path=folder)

    sunday = LocationHours.objects.get(polling_place__code="DB1", date=dt.date(2026, 11, 1))
    assert (sunday.opens, sunday.closes) == (dt.time(0), dt.time(0))
    start, end = sunday.span()
    assert end - start == dt.timedelta(hours=25)


@pytest.fixture
def one_center(county: County, other_county: County, request: pytest.FixtureRequest) -> Election:
    """Madison: two precincts served by its single vote center (an early-voting site too when the test asks).
    Hinds: two precincts assigned to one place, and a place unused in this election."""
    for c in (county, other_county):
        c.boundary = box(-90.2, 32.3, -90.1, 32.4)
        c.save()
    election = ElectionFactory(jurisdiction=county.jurisdiction, name="General", date=ELECTION_DAY)
    a = PollingPlaceFactory(county=county, code="A", location=Point(-90.17, 32.35))
    PollingPlaceFactory(county=county, code="U", location=Point(-90.12, 32.36))
    for code, west in (("H1", -90.2), ("H2", -90.15)):
        precinct = PrecinctFactory(county=county, code=code, boundary=box(west, 32.3, west + 0.05, 32.4))
        PrecinctAssignmentFactory(election=election, precinct=precinct, polling_place=a)
    for code, west in (("M1", -90.2), ("M2", -90.15)):
        PrecinctFactory(county=other_county, code=code, boundary=box(west, 32.3, west + 0.05, 32.4))
    center = PollingPlaceFactory(
        county=other_county, code="VC", is_early_voting=request.param, location=Point(-90.16, 32.34)
    )
    if request.param:
        _hours(center, election, dt.date(2026, 10, 30), 8, 17)
    VoteCenter.objects.create(election=election, polling_place=center)
    return election


@pytest.mark.parametrize("one_center", [False, True], ids=["plain", "early-voting"], indirect=True)
def test_a_single_vote_center_stays_one_and_an_assignment_stays_an_assignment(one_center: Election, tmp_path: Path):
    out = tmp_path / "feed.zip"
    export_vip(election=one_center, out=out)
    xmlschema.XMLSchema(str(SCHEMA)).validate(io.BytesIO(_xml(out).encode()))
    before = _answers()
    assert {(row[0], row[2], row[7]) for row in before if "election_day" in row[6]} == {
        ("H1", "A", False),
        ("H2", "A", False),
        ("M1", "VC", True),
        ("M2", "VC", True),
    }
    _empty()

    result = import_vip(path=out)

    assert result.changed
    assert list(VoteCenter.objects.values_list("polling_place__code", flat=True)) == ["VC"]
    assert sorted(PrecinctAssignment.objects.values_list("precinct__code", "polling_place__code")) == [
        ("H1", "A"),
        ("H2", "A"),
    ]
    unused = PollingPlace.objects.get(code="U")
    assert (unused.county.fips, unused.is_election_day, unused.is_early_voting) == ("28049", True, False)
    assert _answers() == before
    again = import_vip(path=out)
    assert not again.changed, (again.geography, again.locations)

"""A VIP feed whose Locality lists another county's location, or names a county of another state: refused, nothing
stored."""

from __future__ import annotations

import datetime as dt
import re
import zipfile
from pathlib import Path

import pytest
from shapely.geometry import Point, box

from polling.geography.importer import GeographyImportError
from polling.models import County, PollingPlace, PrecinctAssignment, VoteCenter
from polling.vip.export import export_vip
from polling.vip.import_ import import_vip
from tests.factories import ElectionFactory, PollingPlaceFactory, PrecinctAssignmentFactory, PrecinctFactory

pytestmark = pytest.mark.django_db
ELECTION_DAY = dt.date(2026, 11, 3)


def _rewrite(feed: Path, out: Path, change) -> Path:
    with zipfile.ZipFile(feed) as src, zipfile.ZipFile(out, "w") as dst:
        for item in src.infolist():
            data = src.read(item.filename)
            if item.filename == "vip_feed.xml":
                data = change(data.decode()).encode()
            dst.writestr(item, data)
    return out


@pytest.fixture(params=[2, 1], ids=["two-centers", "one-center"])
def two_counties(county: County, other_county: County, request):
    """Hinds: precincts H1, H2 assigned to A. Madison: precincts M1, M2 served by vote centers VC1, VC2."""
    for c in (county, other_county):
        c.boundary = box(-90.2, 32.3, -90.1, 32.4)
        c.save()
    election = ElectionFactory(jurisdiction=county.jurisdiction, name="General", date=ELECTION_DAY)
    a = PollingPlaceFactory(county=county, code="A", location=Point(-90.17, 32.35))
    for code, west in (("H1", -90.2), ("H2", -90.15)):
        p = PrecinctFactory(county=county, code=code, boundary=box(west, 32.3, west + 0.05, 32.4))
        PrecinctAssignmentFactory(election=election, precinct=p, polling_place=a)
    for code, west in (("M1", -90.2), ("M2", -90.15)):
        PrecinctFactory(county=other_county, code=code, boundary=box(west, 32.3, west + 0.05, 32.4))
    for code, lon in (("VC1", -90.18), ("VC2", -90.12))[: request.param]:
        center = PollingPlaceFactory(county=other_county, code=code, location=Point(lon, 32.35))
        VoteCenter.objects.create(election=election, polling_place=center)
    return election


def test_a_locality_listing_another_countys_vote_center_is_refused_or_changes_nothing(two_counties, tmp_path):
    """Hinds' Locality also lists Madison's VC1 (placed after Madison's, so it is read last). With two centers the
    precincts list them and the import is refused; with one (listed on no precinct since this session's export
    change) a Locality claiming a location its id places in another county is refused too: nothing changes."""
    feed = tmp_path / "feed.zip"
    export_vip(election=two_counties, out=feed)
    xml = zipfile.ZipFile(feed).read("vip_feed.xml").decode()
    assert 'Locality id="loc28049"' in xml and 'Locality id="loc28089"' in xml

    def change(text: str) -> str:
        # Hinds' locality claims Madison's vote center too; move Hinds' Locality after Madison's.
        hinds = re.search(r'<Locality id="loc28049">.*?</Locality>', text, re.S).group()
        claimed = hinds.replace("</Locality>", "<PollingLocationIds>pl28089-VC1</PollingLocationIds></Locality>")
        if "<PollingLocationIds>" in hinds:
            claimed = re.sub(
                r"<PollingLocationIds>(.*?)</PollingLocationIds>",
                r"<PollingLocationIds>\1 pl28089-VC1</PollingLocationIds>",
                hinds,
                count=1,
            )
        text = text.replace(hinds, "")
        madison_end = text.index("</Locality>", text.index('<Locality id="loc28089">')) + len("</Locality>")
        return text[:madison_end] + claimed + text[madison_end:]

    bad = _rewrite(feed, tmp_path / "bad.zip", change)
    before = (
        sorted(PollingPlace.objects.values_list("county__fips", "code")),
        sorted(VoteCenter.objects.values_list("polling_place__county__fips", "polling_place__code")),
        sorted(PrecinctAssignment.objects.values_list("precinct__code", "polling_place__code")),
    )
    try:
        import_vip(path=bad)
    except GeographyImportError:
        return  # refused: held
    after = (
        sorted(PollingPlace.objects.values_list("county__fips", "code")),
        sorted(VoteCenter.objects.values_list("polling_place__county__fips", "polling_place__code")),
        sorted(PrecinctAssignment.objects.values_list("precinct__code", "polling_place__code")),
    )
    assert after == before


def test_a_mississippi_feed_cannot_make_an_alabama_place_a_vote_center_of_its_election(
    two_counties, alabama_county, tmp_path
):
    """A Mississippi feed lists Alabama's Autauga County (by its FIPS) with one plain location: refused, as a county of
    another state, before any place or vote center is written."""
    feed = tmp_path / "feed.zip"
    export_vip(election=two_counties, out=feed)

    def change(text: str) -> str:
        location = re.search(r'<PollingLocation id="pl28089-VC1">.*?</PollingLocation>', text, re.S).group()
        foreign = location.replace('id="pl28089-VC1"', 'id="pl01001-X"')
        locality = (
            '<Locality id="loc01001"><ExternalIdentifiers><ExternalIdentifier><Type>fips</Type><Value>01001</Value>'
            "</ExternalIdentifier></ExternalIdentifiers><Name>Autauga</Name>"
            "<PollingLocationIds>pl01001-X</PollingLocationIds><StateId>st28</StateId><Type>county</Type></Locality>"
        )
        text = text.replace(location, location + foreign)
        at = text.index('<Locality id="loc28049">')
        return text[:at] + locality + text[at:]

    bad = _rewrite(feed, tmp_path / "bad.zip", change)
    try:
        import_vip(path=bad)
    except GeographyImportError:
        return  # refused: held
    assert not PollingPlace.objects.filter(county=alabama_county).exists()
    assert not VoteCenter.objects.filter(election=two_counties, polling_place__county=alabama_county).exists()

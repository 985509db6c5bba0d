"""The demo's early-voting sites: every Mississippi county's circuit clerk's office (two in the counties with two
judicial districts), where in-person absentee voting happens on weekdays during office hours and on the two
Saturdays before the election, 8 a.m. to noon (Miss. Code § 23-15-715). No drop boxes (Mississippi has none) and
no vote centers (it votes by precinct). ``load_demo`` run twice writes nothing the second time; the whole demo
exports as valid VIP 6.0 with the sites listed county-wide."""

from __future__ import annotations

import datetime as dt
import io
import json
import zipfile
from collections import Counter
from pathlib import Path

import pytest
import xmlschema
from django.core.management import call_command

from polling.management.commands.load_demo import early_voting_hours
from polling.models import County, Election, LocationHours, PollingPlace, VoteCenter
from polling.vip.export import export_vip

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[3]
SITES = json.loads((ROOT / "fixtures" / "mississippi" / "early_voting.geojson").read_text())["features"]
SCHEMA = ROOT / "polling" / "vip" / "schema" / "vip_spec.xsd"
TWO_DISTRICTS = {"28011", "28015", "28017", "28047", "28049", "28061", "28067", "28107", "28135", "28161"}


def test_the_fixture_has_a_located_circuit_clerk_in_each_seat_of_each_county():
    per_county = Counter(f["properties"]["county_fips"] for f in SITES)
    assert len(per_county) == 82
    assert {fips for fips, n in per_county.items() if n == 2} == TWO_DISTRICTS
    assert set(per_county.values()) == {1, 2}
    assert all(f["geometry"]["type"] == "Point" and f["properties"]["synthetic"] for f in SITES)
    hinds = [f["properties"]["seat"] for f in SITES if f["properties"]["county_fips"] == "28049"]
    assert hinds == ["Jackson", "Raymond"]


def test_the_hours_are_weekdays_8_to_5_and_the_two_saturdays_before_8_to_noon():
    election_day = dt.date(2027, 11, 2)  # a Tuesday

    spans = early_voting_hours(election_day)

    saturdays = [(day, opens, closes) for day, opens, closes in spans if day.weekday() == 5]
    assert saturdays == [
        (dt.date(2027, 10, 23), dt.time(8), dt.time(12)),
        (dt.date(2027, 10, 30), dt.time(8), dt.time(12)),
    ]
    weekdays = [s for s in spans if s[0].weekday() < 5]
    assert {(opens, closes) for _, opens, closes in weekdays} == {(dt.time(8), dt.time(17))}
    assert weekdays[0][0] == dt.date(2027, 9, 20)  # the Monday after the 45th day before (Saturday 18 September)
    assert weekdays[-1][0] == dt.date(2027, 10, 29)  # the Friday before; the Saturday after it is the last day
    assert len(weekdays) == 30 and all(s[0].weekday() != 6 for s in spans)
    assert spans[-1][0] == dt.date(2027, 10, 30)


def test_load_demo_stores_them_with_their_hours_once(capsys):
    call_command("load_demo", no_progress=True)
    election = Election.objects.get()
    sites = PollingPlace.objects.filter(is_early_voting=True)

    assert sites.count() == len(SITES) == 92
    assert not sites.filter(is_election_day=True).exists() and not PollingPlace.objects.filter(is_drop_box=True)
    assert not VoteCenter.objects.exists()
    assert set(sites.values_list("county__fips", flat=True)) == set(County.objects.values_list("fips", flat=True))
    assert all(site.location is not None for site in sites)
    hours = LocationHours.objects.filter(election=election)
    assert set(hours.values_list("timezone", flat=True)) == {"America/Chicago"}
    wanted = early_voting_hours(election.date)
    assert hours.count() == len(wanted) * 92
    raymond = sites.get(county__fips="28049", code="CC2")
    assert list(hours.filter(polling_place=raymond).values_list("date", "opens", "closes")) == list(wanted)
    first = sorted(hours.values_list("pk", flat=True))

    call_command("load_demo", no_progress=True)

    out = capsys.readouterr().out
    assert "Early-voting sites (circuit clerks' offices): 0 created; kinds and hours: 0 rows written" in out
    assert sorted(LocationHours.objects.values_list("pk", flat=True)) == first


def test_the_whole_demo_exports_as_valid_vip_with_the_sites_county_wide(tmp_path: Path):
    call_command("load_demo", no_progress=True)
    out = tmp_path / "demo.zip"

    result = export_vip(election=Election.objects.get(), out=out)

    xml = zipfile.ZipFile(out).read("vip_feed.xml")
    xmlschema.XMLSchema(str(SCHEMA)).validate(io.BytesIO(xml))
    text = xml.decode()
    assert result.polling_locations == PollingPlace.objects.count()
    assert text.count("<IsEarlyVoting>true</IsEarlyVoting>") == 92
    assert "<PollingLocationIds>pl28049-CC1 pl28049-CC2</PollingLocationIds>" in text

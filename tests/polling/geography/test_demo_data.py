"""The committed Mississippi demo: real counties, synthetic precincts tiling each county, polling places inside a
precinct they serve with entrances a few tens of feet away, and a demo load that assigns every precinct."""

from __future__ import annotations

import json
from collections import Counter
from functools import cache
from pathlib import Path

import pytest
import shapely
from django.core.management import call_command
from geographiclib.geodesic import Geodesic
from shapely.geometry import Point, shape

from polling.models import County, Election, Entrance, PollingPlace, Precinct, PrecinctAssignment

FIXTURES = Path(__file__).resolve().parents[3] / "fixtures" / "mississippi"


@cache
def load(name: str) -> list[dict]:
    return json.loads((FIXTURES / f"{name}.geojson").read_text())["features"]


def test_all_82_real_mississippi_counties_are_there():
    counties = load("counties")
    fips = [f["properties"]["fips"] for f in counties]
    assert len(fips) == 82 == len(set(fips))
    # Mississippi's county FIPS codes are the odd numbers 001..163.
    assert fips == [f"28{n:03d}" for n in range(1, 164, 2)]
    names = {f["properties"]["fips"]: f["properties"]["name"] for f in counties}
    assert names["28049"] == "Hinds" and names["28047"] == "Harrison" and names["28163"] == "Yazoo"
    assert {f["properties"]["state"] for f in counties} == {"MS"}


def test_about_1750_synthetic_precincts_tile_each_county_with_no_gap_or_overlap():
    counties = {f["properties"]["fips"]: shape(f["geometry"]) for f in load("counties")}
    by_county: dict[str, list] = {}
    for f in load("precincts"):
        assert f["properties"]["synthetic"] is True
        by_county.setdefault(f["properties"]["county_fips"], []).append(shape(f["geometry"]))
    assert 1700 <= sum(len(v) for v in by_county.values()) <= 1800
    assert by_county.keys() == counties.keys()
    for fips, parts in by_county.items():
        county = counties[fips]
        assert all(p.is_valid for p in parts)
        assert shapely.coverage_is_valid(parts), fips
        union = shapely.coverage_union_all(parts)
        # Gap and overlap, in square degrees: exact tiling up to float rounding (1e-12 deg² ≈ 0.01 m²).
        assert county.symmetric_difference(union).area < 1e-12, fips
        assert abs(sum(p.area for p in parts) - county.area) < 1e-12, fips


def test_every_precinct_is_served_by_exactly_one_polling_place_inside_a_precinct_it_serves():
    precincts = {
        (f["properties"]["county_fips"], f["properties"]["code"]): shape(f["geometry"]) for f in load("precincts")
    }
    served = Counter()
    geod = Geodesic.WGS84
    for f in load("polling_places"):
        p = f["properties"]
        keys = [(p["county_fips"], code) for code in p["precincts"]]
        assert 1 <= len(keys) <= 2
        served.update(keys)
        point = shape(f["geometry"])
        assert any(precincts[k].contains(point) for k in keys), p["code"]
        assert 1 <= len(p["entrances"]) <= 3 and any(e["accessible"] for e in p["entrances"])
        for e in p["entrances"]:
            metres = geod.Inverse(point.y, point.x, e["lat"], e["lon"])["s12"]
            assert 3.0 <= metres <= 12.5, (p["code"], e["name"], metres)  # "a few tens of feet"
            assert any(precincts[k].contains(Point(e["lon"], e["lat"])) for k in keys)
    assert set(served) == set(precincts) and set(served.values()) == {1}


@pytest.mark.django_db
def test_load_demo_imports_everything_and_assigns_every_precinct_in_an_upcoming_election(capsys):
    call_command("load_demo", no_progress=True)

    assert County.objects.count() == 82
    assert Precinct.objects.count() == len(load("precincts"))
    # The polling places, and the circuit clerks' offices as in-person absentee voting sites (tests/polling/vip).
    assert PollingPlace.objects.count() == len(load("polling_places")) + len(load("early_voting"))
    assert Entrance.objects.count() == sum(len(f["properties"]["entrances"]) for f in load("polling_places"))
    [election] = Election.objects.all()
    assert election.jurisdiction.code == "MS" and election.date.weekday() == 1 and election.date.month == 11
    assert PrecinctAssignment.objects.filter(election=election).count() == Precinct.objects.count()

    call_command("load_demo", no_progress=True)
    out = capsys.readouterr().out
    assert "precincts: 0 created, 0 updated, 1750 unchanged" in out
    assert Election.objects.count() == 1

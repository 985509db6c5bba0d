"""VIP 6.0 feeds out and in: two demo counties of Mississippi exported (valid against the VIP 6.0 schema, boundaries
in a checksummed shapefile), their precincts, places, assignments and election deleted, the feed imported back:
the same precincts, boundaries, places, assignments and lookup answers; a second import changes nothing. Broken
feeds are refused naming the element and field, with nothing stored.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import re
import zipfile
from pathlib import Path
from typing import Any

import pyogrio
import pytest
import xmlschema
from django.core.management import CommandError, call_command
from shapely.geometry import shape

from polling.geography import spatial
from polling.geography.importer import GeographyImportError, import_geography
from polling.management.commands.load_demo import load_early_voting
from polling.models import County, Election, Entrance, LocationHours, PollingPlace, Precinct, PrecinctAssignment
from polling.vip import code_of_id, place_id, precinct_id
from polling.vip.import_ import import_vip
from tests.factories import ElectionFactory

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[3]
FIXTURES = ROOT / "fixtures" / "mississippi"
SCHEMA = ROOT / "polling" / "vip" / "schema" / "vip_spec.xsd"
COUNTIES = ("28001", "28003")  # Adams, Alcorn


def _subset(tmp_path: Path) -> dict[str, Path]:
    """GeoJSON files of the two counties, with an odd precinct code, an odd place code and an unstructured
    address, so the id encoding and both address forms are exercised."""
    out = {}
    for kind, key in (("counties", "fips"), ("precincts", "county_fips"), ("polling_places", "county_fips")):
        data = json.loads((FIXTURES / f"{kind}.geojson").read_text())
        data["features"] = [f for f in data["features"] if f["properties"][key] in COUNTIES]
        if kind == "precincts":
            data["features"][0]["properties"]["code"] = "01/A x_1"
        if kind == "polling_places":
            first = data["features"][0]["properties"]
            first["precincts"] = ["01/A x_1" if c == "0001" else c for c in first["precincts"]]
            first["code"] = "PP 1/A"
            data["features"][1]["properties"]["address"] = "Courthouse lawn"
        out[kind] = tmp_path / f"{kind}.geojson"
        out[kind].write_text(json.dumps(data))
    return out


@pytest.fixture
def demo(tmp_path: Path) -> Election:
    election = ElectionFactory(name="General Election", date=dt.date.today() + dt.timedelta(days=30))
    files = _subset(tmp_path)
    import_geography(
        counties=files["counties"],
        precincts=files["precincts"],
        polling_places=files["polling_places"],
        election=election,
    )
    # The demo's early-voting sites of the two counties (their circuit clerks' offices), with their hours.
    load_early_voting(election=election, counties=set(COUNTIES))
    return election


def _points() -> list[tuple[float, float]]:
    """A point inside each of a few precincts, and each of a few polling places."""
    precincts = Precinct.objects.order_by("county__fips", "code")[:6]
    places = PollingPlace.objects.order_by("county__fips", "code")[:6]
    inside = [shape(p.boundary.__geo_interface__).representative_point() for p in precincts]
    return [(p.x, p.y) for p in inside] + [(p.lon, p.lat) for p in places]


def _strip(value: Any) -> Any:
    """A lookup answer without database ids and what VIP does not carry (entrances, accessibility notes)."""
    if isinstance(value, dict):
        return {k: _strip(v) for k, v in value.items() if k not in ("id", "entrances", "accessibility_notes")}
    if isinstance(value, list):
        return [_strip(v) for v in value]
    return value


def _snapshot(api: Any, points: list[tuple[float, float]]) -> dict[str, Any]:
    spatial.reset_index()
    return {
        "precincts": {(p.county.fips, p.code): (p.name, p.boundary) for p in Precinct.objects.select_related("county")},
        "places": {
            (p.county.fips, p.code): (p.name, p.address, p.lon, p.lat)
            for p in PollingPlace.objects.select_related("county")
        },
        "assignments": sorted(
            PrecinctAssignment.objects.values_list(
                "election__name", "election__date", "precinct__code", "polling_place__code"
            )
        ),
        "elections": sorted(Election.objects.values_list("name", "date", "polls_open", "polls_close")),
        "kinds": sorted(
            PollingPlace.objects.values_list(
                "county__fips", "code", "is_election_day", "is_early_voting", "is_drop_box"
            )
        ),
        "hours": sorted(
            LocationHours.objects.values_list(
                "polling_place__county__fips",
                "polling_place__code",
                "election__name",
                "date",
                "opens",
                "closes",
                "timezone",
            )
        ),
        "lookups": [_strip(api.get("/api/v1/lookup/", {"lat": lat, "lon": lon}).json()) for lon, lat in points],
    }


def _empty_geography() -> None:
    """What an empty database holds before the feed: the counties (VIP carries none), nothing else."""
    PrecinctAssignment.objects.all().delete()
    Entrance.objects.all().delete()
    PollingPlace.objects.all().delete()
    Precinct.objects.all().delete()
    Election.objects.all().delete()


def _stored() -> tuple[int, int, int, int]:
    return (
        Precinct.objects.count(),
        PollingPlace.objects.count(),
        PrecinctAssignment.objects.count(),
        Election.objects.count(),
    )


@pytest.fixture
def feed(demo: Election, tmp_path: Path) -> Path:
    out = tmp_path / "feed.zip"
    said = io.StringIO()
    call_command("export_vip", election=demo.pk, out=out, stdout=said)
    assert "Valid against the VIP 6.0 schema." in said.getvalue()
    return out


def test_ids_carry_codes_both_ways():
    assert precinct_id("28001", "01/A x_1") == "pre28001-01_2fA_20x_5f1"
    assert code_of_id(precinct_id("28001", "01/A x_1")) == "01/A x_1"
    assert code_of_id(place_id("28003", "PP 1/A")) == "PP 1/A"
    assert code_of_id("pl0001") == "pl0001"


def test_export_is_valid_vip_6_with_a_checksummed_wgs84_shapefile(feed: Path, demo: Election, tmp_path: Path):
    with zipfile.ZipFile(feed) as archive:
        xml = archive.read("vip_feed.xml")
        shapes = archive.read("precincts.zip")
    xmlschema.XMLSchema(str(SCHEMA)).validate(io.BytesIO(xml))
    text = xml.decode()
    assert f"<Value>{hashlib.sha256(shapes).hexdigest()}</Value>" in text
    assert "<Algorithm>sha-256</Algorithm>" in text
    assert re.search(r"<Type>fips</Type>\s*<Value>28001</Value>", text)
    assert "<AddressStructured>" in text and "<AddressLine>Courthouse lawn</AddressLine>" in text
    assert text.count("<Precinct ") == Precinct.objects.count()
    assert text.count("<PollingLocation ") == PollingPlace.objects.count()
    # The circuit clerks' offices: early-voting sites with their hours, listed by their Locality (county-wide).
    assert text.count("<IsEarlyVoting>true</IsEarlyVoting>") == 2 and "<IsDropBox>true</IsDropBox>" not in text
    assert re.search(r"<PollingLocationIds>pl28001-CC1</PollingLocationIds>\s*<StateId>", text)
    assert re.search(r"<StartTime>08:00:00-0[56]:00</StartTime>\s*<EndTime>12:00:00-0[56]:00</EndTime>", text)
    assert re.search(r"<StartTime>07:00:00-0[56]:00</StartTime>", text)
    (tmp_path / "precincts.zip").write_bytes(shapes)
    info = pyogrio.read_info(f"/vsizip/{tmp_path / 'precincts.zip'}/precincts.shp")
    assert info["features"] == Precinct.objects.count()
    assert "WGS 84" in info["crs"] or info["crs"] == "EPSG:4326"


def test_export_then_import_into_an_emptied_database_gives_the_same_answers(feed: Path, api, tmp_path: Path):
    points = _points()
    before = _snapshot(api, points)
    assert before["assignments"] and all(look.get("polling_place") for look in before["lookups"][:6])
    assert [k for k in before["kinds"] if k[3]] == [
        ("28001", "CC1", False, True, False),
        ("28003", "CC1", False, True, False),
    ]
    assert {h[:2] for h in before["hours"]} == {("28001", "CC1"), ("28003", "CC1")}
    # A lookup lists the county's circuit clerk's office among the places serving the precinct.
    assert all("County Circuit Clerk" in json.dumps(look) for look in before["lookups"])
    _empty_geography()
    assert _stored() == (0, 0, 0, 0)

    out = io.StringIO()
    call_command("import_vip", str(feed), stdout=out)
    assert "election: General Election" in out.getvalue() and "(created)" in out.getvalue()
    after = _snapshot(api, points)

    assert before["precincts"].keys() == after["precincts"].keys()
    for key, (name, boundary) in before["precincts"].items():
        new_name, new_boundary = after["precincts"][key]
        assert new_name == name
        assert new_boundary.area == pytest.approx(boundary.area, rel=1e-9)
        assert new_boundary.symmetric_difference(boundary).area <= 1e-9 * boundary.area
    assert after["places"] == before["places"]
    assert after["kinds"] == before["kinds"]
    assert after["hours"] == before["hours"]
    assert after["assignments"] == before["assignments"]
    assert after["elections"] == before["elections"]
    assert after["lookups"] == before["lookups"]

    # Idempotent, read as a folder this time, and as the bare .xml with its files beside it.
    folder = tmp_path / "unpacked"
    with zipfile.ZipFile(feed) as archive:
        archive.extractall(folder)
    for source in (folder, folder / "vip_feed.xml", feed):
        again = import_vip(path=source)
        assert not again.changed, again.geography
    assert _snapshot(api, points)["lookups"] == before["lookups"]


def _unpacked(feed: Path, tmp_path: Path) -> Path:
    folder = tmp_path / "broken"
    with zipfile.ZipFile(feed) as archive:
        archive.extractall(folder)
    return folder


def _edit(folder: Path, change: Any) -> None:
    path = folder / "vip_feed.xml"
    path.write_bytes(change(path.read_bytes()))


def _second_index(xml: bytes) -> bytes:
    """The second precinct's feature index out of range (the others stay valid: all or nothing is tested)."""
    first = xml.index(b"<Index>1</Index>")
    return xml[:first] + b"<Index>9999</Index>" + xml[first + len(b"<Index>1</Index>") :]


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE VipObject [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>
<VipObject schemaVersion="6.0"><Source id="s"><Name>&b;</Name></Source></VipObject>"""


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("checksum", r"ExternalFile 'ef1', field 'Checksum.Value': 'precincts.zip' has sha-256 [0-9a-f]{64}, not"),
        ("missing file", r"ExternalFile 'ef1', field 'FileUri': 'precincts.zip' is not in the feed"),
        (
            "index",
            r"Precinct '[^']+', field 'SpatialBoundary.FeatureIdentifier\[0\].Index': 9999 is out of range: "
            r"ef1 has \d+ feature",
        ),
        ("unknown reference", r"Precinct '[^']+', field 'LocalityId': refers to 'loc99999', which is nothing"),
        ("duplicate id", r"PollingLocation '[^']+', field 'id': '[^']+' is used twice"),
        ("bom", r"field 'file': starts with a byte-order mark"),
        ("invalid character", r"holds the character U\+0001, not allowed in XML \(line \d+, column \d+\)"),
        ("entities", r"is refused: (DTDForbidden|EntitiesForbidden)"),
    ],
)
def test_a_broken_feed_is_refused_naming_element_and_field_with_nothing_stored(
    feed: Path, tmp_path: Path, case: str, expected: str
):
    folder = _unpacked(feed, tmp_path)
    _empty_geography()
    if case == "checksum":
        _edit(folder, lambda x: re.sub(rb"<Value>[0-9a-f]{64}</Value>", b"<Value>" + b"0" * 64 + b"</Value>", x))
    elif case == "missing file":
        (folder / "precincts.zip").unlink()
    elif case == "index":
        _edit(folder, _second_index)
    elif case == "unknown reference":
        _edit(
            folder, lambda x: x.replace(b"<LocalityId>loc28003</LocalityId>", b"<LocalityId>loc99999</LocalityId>", 1)
        )
    elif case == "duplicate id":
        ids = re.findall(rb'<PollingLocation id="([^"]+)"', (folder / "vip_feed.xml").read_bytes())
        _edit(
            folder,
            lambda x: x.replace(b'<PollingLocation id="' + ids[1] + b'"', b'<PollingLocation id="' + ids[0] + b'"'),
        )
    elif case == "bom":
        _edit(folder, lambda x: b"\xef\xbb\xbf" + x)
    elif case == "invalid character":
        _edit(folder, lambda x: x.replace(b"<Name>", b"<Name>\x01", 1))
    elif case == "entities":
        (folder / "vip_feed.xml").write_bytes(BILLION_LAUGHS)
    with pytest.raises(GeographyImportError) as refused:
        import_vip(path=folder)
    assert re.search(expected, str(refused.value)), str(refused.value)
    assert "nothing was imported" in str(refused.value)
    assert _stored() == (0, 0, 0, 0)
    with pytest.raises(CommandError, match="nothing was imported"):
        call_command("import_vip", str(folder / "vip_feed.xml"))
    assert _stored() == (0, 0, 0, 0)


def test_a_zipped_feed_with_a_zip_slip_name_or_no_xml_is_refused(feed: Path, tmp_path: Path):
    _empty_geography()
    bad = tmp_path / "bad.zip"
    with zipfile.ZipFile(feed) as src, zipfile.ZipFile(bad, "w") as dst:
        xml = src.read("vip_feed.xml").replace(
            b"<FileUri>precincts.zip</FileUri>", b"<FileUri>../precincts.zip</FileUri>"
        )
        dst.writestr("vip_feed.xml", xml)
        dst.writestr("precincts.zip", src.read("precincts.zip"))
    with pytest.raises(GeographyImportError, match=r"field 'FileUri': '../precincts.zip' is not in the feed"):
        import_vip(path=bad)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(GeographyImportError, match=r"exactly one \.xml feed"):
        import_vip(path=empty)
    assert _stored() == (0, 0, 0, 0)


def _entrances() -> list[tuple[str, str, str, bool]]:
    return sorted((e.polling_place.code, e.name, e.location.wkt, e.accessible) for e in Entrance.objects.all())


def _notes() -> list[tuple[str, str, str]]:
    return sorted(
        (p.code, p.accessibility_notes, p.building.wkt if p.building is not None else "")
        for p in PollingPlace.objects.all()
    )


def test_localities_resolve_by_name_within_the_state_and_several_features_are_unioned(feed: Path, tmp_path: Path):
    folder = _unpacked(feed, tmp_path)
    adams = County.objects.get(fips="28001")
    first, second = Precinct.objects.filter(county=adams).order_by("code")[:2]
    union = first.boundary.union(second.boundary)

    def change(xml: bytes) -> bytes:
        # Adams known only by name; the first precinct's boundary becomes its own shape plus the second's.
        xml = re.sub(rb"<Type>fips</Type>(\s*)<Value>28001</Value>", rb"<Type>other</Type>\1<Value>x</Value>", xml)
        xml = xml.replace(b'id="loc28001"', b'id="adams"').replace(b">loc28001<", b">adams<")
        return re.sub(
            rb"<Index>0</Index>(\s*)</FeatureIdentifier>",
            rb"<Index>0</Index>\1</FeatureIdentifier><FeatureIdentifier><Index>1</Index></FeatureIdentifier>",
            xml,
            count=1,
        )

    _edit(folder, change)
    assert b"28001</Value>" not in (folder / "vip_feed.xml").read_bytes()
    xmlschema.XMLSchema(str(SCHEMA)).validate(str(folder / "vip_feed.xml"))
    entrances, notes = _entrances(), _notes()
    assert entrances
    import_vip(path=folder)
    stored = Precinct.objects.get(pk=first.pk).boundary
    assert stored.area == pytest.approx(union.area, rel=1e-9)
    # What VIP does not carry is kept, not erased, for the places we hold.
    assert _entrances() == entrances
    assert _notes() == notes
    assert not import_vip(path=folder).changed

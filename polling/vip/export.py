"""Writing an election's VIP 6.0 feed: a zip holding ``vip_feed.xml`` and ``precincts.zip``, the precinct
boundaries as a WGS84 shapefile (with its ``.prj``), referenced from each Precinct's ``SpatialBoundary`` by the
file's SHA-256 and the feature's index.

Every kind of polling location is written with its ``IsEarlyVoting`` / ``IsDropBox`` flags, its hours in the
election (``HoursOpen``, see ``polling.vip.locations``) and its ``LatLng`` when known. Which location serves whom
(see ``polling.vip.locations``): a precinct lists its assigned place; a Locality lists its county's locality-wide
locations, i.e. its vote centers and its early-voting sites and drop boxes open in the election; a precinct served
by several vote centers lists them all, one served by a single vote center lists none (listing it alone would say
"assigned"). A location listed nowhere (unused in this election) carries its county in its id. What VIP cannot
carry of ours is left out (entrances, building outlines, accessibility notes).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import re
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from xml.etree import ElementTree as ET  # nosec B405 - builds our own XML; parses nothing

import numpy as np
import pyogrio.raw
import shapely
from django.utils import timezone

from polling.geography.selectors import state_zone
from polling.models import County, Election, LocationHours, PollingPlace, Precinct, PrecinctAssignment, VoteCenter
from polling.vip import FEED_XML, SCHEMA_VERSION, SHAPES_LAYER, SHAPES_ZIP, place_id, precinct_id
from polling.vip.locations import schedules

SCHEMA = Path(__file__).resolve().parent / "schema" / "vip_spec.xsd"
#: "2650 Sample Rd, Washington, MS 39190" → Line1, City, State, Zip.
_ADDRESS = re.compile(r"^(?P<line1>.+?),\s*(?P<city>[^,]+?),\s*(?P<state>[A-Z]{2})(?:\s+(?P<zip>\d{5}(?:-\d{4})?))?\Z")


@dataclass(frozen=True)
class ExportResult:
    localities: int
    precincts: int
    polling_locations: int
    assignments: int
    checksum: str


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    element = ET.SubElement(parent, tag, attrs)
    if text is not None:
        element.text = text
    return element


def _text(parent: ET.Element, tag: str, text: str) -> None:
    """An InternationalizedText element (English)."""
    _sub(_sub(parent, tag), "Text", text, language="en")


def _identifier(parent: ET.Element, kind: str, value: str) -> None:
    identifiers = _sub(parent, "ExternalIdentifiers")
    identifier = _sub(identifiers, "ExternalIdentifier")
    _sub(identifier, "Type", kind)
    _sub(identifier, "Value", value)


def _offset(zone_time: dt.datetime) -> str:
    offset = zone_time.utcoffset() or dt.timedelta(0)
    minutes = int(offset.total_seconds() // 60)
    sign = "+" if minutes >= 0 else "-"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def _clock(election: Election, at: dt.time) -> str:
    """A local time of the election day with the state's UTC offset on that day (VIP's ``TimeWithZone``)."""
    local = dt.datetime.combine(election.date, at, tzinfo=state_zone(election.jurisdiction))
    return f"{at:%H:%M:%S}{_offset(local)}"


def _address(place: ET.Element, address: str) -> None:
    match = _ADDRESS.match(address.strip())
    if match is None:
        _sub(place, "AddressLine", address)
        return
    structured = _sub(place, "AddressStructured")
    _sub(structured, "Line1", match["line1"])
    _sub(structured, "City", match["city"])
    _sub(structured, "State", match["state"])
    if match["zip"]:
        _sub(structured, "Zip", match["zip"])


def _shapefile_zip(precincts: list[Precinct]) -> bytes:
    """The precinct boundaries as a zipped WGS84 shapefile, one feature per precinct in ``precincts`` order."""
    with tempfile.TemporaryDirectory() as tmp:
        shp = Path(tmp) / f"{SHAPES_LAYER}.shp"
        pyogrio.raw.write(
            str(shp),
            geometry=np.array([shapely.to_wkb(p.boundary) for p in precincts], dtype=object),
            field_data=[
                np.array([p.county.fips for p in precincts], dtype=object),
                np.array([p.code for p in precincts], dtype=object),
            ],
            fields=["county", "code"],
            crs="EPSG:4326",
            driver="ESRI Shapefile",
            geometry_type="MultiPolygon",
            encoding="UTF-8",
        )
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for part in sorted(Path(tmp).iterdir()):
                # A fixed timestamp: the same boundaries give the same bytes, hence the same checksum.
                info = zipfile.ZipInfo(part.name, date_time=(2000, 1, 1, 0, 0, 0))
                info.compress_type = zipfile.ZIP_DEFLATED
                archive.writestr(info, part.read_bytes())
        return buffer.getvalue()


def build_feed(*, election: Election, now: dt.datetime | None = None) -> tuple[bytes, bytes, ExportResult]:
    """The feed's XML and its shapefile zip for ``election``'s state: every county, precinct and polling place of
    the state, and the election's assignments."""
    state = election.jurisdiction
    counties = list(County.objects.filter(jurisdiction=state).defer("boundary").order_by("fips"))
    precincts = list(
        Precinct.objects.filter(county__jurisdiction=state).select_related("county").order_by("county__fips", "code")
    )
    places = list(
        PollingPlace.objects.filter(county__jurisdiction=state)
        .select_related("county")
        .defer("county__boundary")
        .order_by("county__fips", "code")
    )
    served = dict(PrecinctAssignment.objects.filter(election=election).values_list("precinct_id", "polling_place_id"))
    place_ids = {p.pk: place_id(p.county.fips, p.code) for p in places}
    centers_by_id: dict[int, list[int]] = {}
    for county_id, pk in (
        VoteCenter.objects.filter(election=election, polling_place__county__jurisdiction=state)
        .order_by("polling_place__code")
        .values_list("polling_place__county_id", "polling_place_id")
    ):
        centers_by_id.setdefault(county_id, []).append(pk)
    centers = {county_id: [place_ids[pk] for pk in pks] for county_id, pks in centers_by_id.items()}
    hours: dict[int, list[LocationHours]] = {}
    for row in LocationHours.objects.filter(election=election, polling_place__county__jurisdiction=state):
        hours.setdefault(row.polling_place_id, []).append(row)
    election_day_sites = set(served.values()) | {pk for pks in centers_by_id.values() for pk in pks}
    for place in places:
        # An election-day site with hours of its own keeps the election's polling hours on election day (implied
        # for us, not for a VIP reader, who would take an early-voting site listed by a precinct for early voting).
        own = hours.get(place.pk)
        if own and place.pk in election_day_sites and all(h.date != election.date for h in own):
            own.append(
                LocationHours(
                    polling_place=place,
                    election=election,
                    date=election.date,
                    opens=election.polls_open,
                    closes=election.polls_close,
                    timezone=place.county.timezone or state.timezone,
                )
            )
    shapes = _shapefile_zip(precincts) if precincts else b""
    checksum = hashlib.sha256(shapes).hexdigest()

    root = ET.Element("VipObject", {"schemaVersion": SCHEMA_VERSION})
    source = _sub(root, "Source", id="src1")
    _sub(source, "DateTime", (now or timezone.now()).replace(microsecond=0).isoformat())
    _sub(source, "Name", f"pollguard: {state.name}")
    _sub(source, "VipId", state.fips)

    element = _sub(root, "Election", id=f"el{election.pk}")
    _sub(element, "Date", election.date.isoformat())
    _sub(element, "HoursOpenId", f"ho{election.pk}")
    _sub(element, "IsStatewide", "true")
    _text(element, "Name", election.name)
    _sub(element, "StateId", f"st{state.fips}")
    polls = _sub(root, "HoursOpen", id=f"ho{election.pk}")
    schedule = _sub(polls, "Schedule")
    span = _sub(schedule, "Hours")
    _sub(span, "StartTime", _clock(election, election.polls_open))
    _sub(span, "EndTime", _clock(election, election.polls_close))
    _sub(schedule, "StartDate", election.date.isoformat())
    _sub(schedule, "EndDate", election.date.isoformat())

    element = _sub(root, "State", id=f"st{state.fips}")
    _identifier(element, "fips", state.fips)
    _sub(element, "Name", state.name)

    # Locality-wide: the vote centers, and the early-voting sites and drop boxes open in this election.
    wide = {pk for pks in centers_by_id.values() for pk in pks} | {
        p.pk for p in places if (p.is_early_voting or p.is_drop_box) and p.pk in hours
    }
    by_county: dict[int, list[str]] = {}
    for place in places:
        if place.pk in wide:
            by_county.setdefault(place.county_id, []).append(place_ids[place.pk])
    for county in counties:
        element = _sub(root, "Locality", id=f"loc{county.fips}")
        _identifier(element, "fips", county.fips)
        _sub(element, "Name", county.name)
        if by_county.get(county.pk):
            _sub(element, "PollingLocationIds", " ".join(by_county[county.pk]))
        _sub(element, "StateId", f"st{state.fips}")
        _sub(element, "Type", "county")

    if precincts:
        element = _sub(root, "ExternalFile", id="ef1")
        _sub(element, "FileUri", SHAPES_ZIP)
        digest = _sub(element, "Checksum")
        _sub(digest, "Algorithm", "sha-256")
        _sub(digest, "Value", checksum)
    for index, precinct in enumerate(precincts):
        element = _sub(root, "Precinct", id=precinct_id(precinct.county.fips, precinct.code))
        _identifier(element, "local-level", precinct.code)
        _sub(element, "LocalityId", f"loc{precinct.county.fips}")
        _sub(element, "Name", precinct.name)
        if precinct.pk in served:
            _sub(element, "PollingLocationIds", place_ids[served[precinct.pk]])
        elif len(centers.get(precinct.county_id, ())) > 1:
            # Served by every vote center of its county: listed on the precinct too, for a reader that does not look
            # at the Locality. A single one is not: alone on a precinct, a location is its assigned place.
            _sub(element, "PollingLocationIds", " ".join(centers[precinct.county_id]))
        feature = _sub(_sub(element, "SpatialBoundary"), "ExternalGeospatialFeature")
        _sub(feature, "ExternalFileId", "ef1")
        _sub(feature, "FileFormat", "shp")
        _sub(_sub(feature, "FeatureIdentifier"), "Index", str(index))

    for place in places:
        element = _sub(root, "PollingLocation", id=place_ids[place.pk])
        _address(element, place.address)
        if place.pk in hours:
            _sub(element, "HoursOpenId", f"ho-{place_ids[place.pk]}")
        _sub(element, "IsDropBox", "true" if place.is_drop_box else "false")
        _sub(element, "IsEarlyVoting", "true" if place.is_early_voting else "false")
        if place.located:
            latlng = _sub(element, "LatLng")
            _sub(latlng, "Latitude", repr(place.lat))
            _sub(latlng, "Longitude", repr(place.lon))
        _sub(element, "Name", place.name)
    for place in places:
        if place.pk not in hours:
            continue
        element = _sub(root, "HoursOpen", id=f"ho-{place_ids[place.pk]}")
        for start, end, spans in schedules(hours[place.pk]):
            schedule = _sub(element, "Schedule")
            for opens, closes in spans:
                span = _sub(schedule, "Hours")
                _sub(span, "StartTime", opens)
                _sub(span, "EndTime", closes)
            _sub(schedule, "StartDate", start.isoformat())
            _sub(schedule, "EndDate", end.isoformat())

    ET.indent(root)
    xml = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    result = ExportResult(len(counties), len(precincts), len(places), len(served), checksum)
    return xml, shapes, result


def validate(xml: bytes) -> list[str]:
    """Problems of ``xml`` against the VIP 6.0 schema (empty when valid); needs ``xmlschema`` (the dev extra)."""
    import xmlschema

    schema = xmlschema.XMLSchema(str(SCHEMA))
    return [str(error.reason or error) for error in schema.iter_errors(io.BytesIO(xml))]


def export_vip(*, election: Election, out: Path, now: dt.datetime | None = None) -> ExportResult:
    """Write ``election``'s feed to the zip ``out`` (replacing it): ``vip_feed.xml`` and ``precincts.zip``."""
    xml, shapes, result = build_feed(election=election, now=now)
    tmp = out.with_name(out.name + ".part")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(FEED_XML, xml)
        if shapes:
            archive.writestr(SHAPES_ZIP, shapes)
    tmp.replace(out)
    return result

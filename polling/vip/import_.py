"""Reading a VIP 6.0 feed into our tables: the feed is parsed without entity expansion or DTDs (defusedxml), every
problem is collected and named by element id and field, precincts and polling places become the same rows the
GeoJSON importer builds (so validation, repair and the all-or-nothing write are that importer's), and the election
is found by state, date and name, or created from its ``HoursOpen``.

Counties are not carried by VIP (a Locality has no boundary): each Locality is resolved to a county we hold, by its
``fips`` ExternalIdentifier, by an id that is a 5-digit FIPS, or by name within the state.
"""

from __future__ import annotations

import datetime as dt
import re
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from xml.etree.ElementTree import Element  # nosec B405 - the type only; parsing is defusedxml's

import shapely
from django.db import transaction
from shapely.geometry import mapping, shape

from polling.geography.importer import parse, rows
from polling.geography.importer.rows import GeographyImportError, ImportIssue, ImportResult
from polling.geography.importer.write import geography_upsert
from polling.geography.services import geography_version_bump
from polling.models import County, Election, Jurisdiction, PollingPlace
from polling.vip import code_of_id, county_of_id
from polling.vip.feed import Bundle, Feed, Shapes, child, identifiers, index_feed, intl, parse_xml
from polling.vip.locations import (
    FeedLocations,
    LocationRow,
    LocationsResult,
    check_unlocated,
    flag,
    locations_write,
    read_hours,
)

_TIME = re.compile(r"^(\d{2}):(\d{2}):(\d{2})(?:Z|[+-]\d{2}:\d{2})\Z")
#: Our field names, as the VIP element names them (in the messages of the reused checks).
_FIELDS = {
    "county_fips": "LocalityId",
    "code": "id",
    "name": "Name",
    "geometry": "SpatialBoundary",
    "address": "AddressStructured",
}


@dataclass
class VipImportResult:
    election: str
    election_created: bool
    geography: ImportResult
    #: Kinds, hours, vote centers and places without coordinates (``polling.vip.locations``).
    locations: LocationsResult = field(default_factory=LocationsResult)
    #: Remarks on what was read but not stored.
    skipped: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return self.election_created or self.geography.changed or self.locations.changed


def _state(feed: Feed, element: Element) -> Jurisdiction | None:
    fips = identifiers(element, "fips")
    name = child(element, "Name") or ""
    found = (
        Jurisdiction.objects.filter(fips=fips[0]).first()
        if fips
        else Jurisdiction.objects.filter(name__iexact=name).first()
    )
    if found is None:
        feed.add(
            element,
            "ExternalIdentifiers" if fips else "Name",
            f"no state with FIPS {fips[0]!r}" if fips else f"no state named {name!r}",
        )
    return found


def _county(feed: Feed, element: Element, states: dict[str, Jurisdiction]) -> County | None:
    counties = County.objects.defer("boundary").select_related("jurisdiction")
    fips = identifiers(element, "fips")
    vip_id = element.get("id", "")
    if fips or re.fullmatch(r"[0-9]{5}", vip_id):
        code = fips[0] if fips else vip_id
        county = counties.filter(fips=code).first()
        if county is None:
            feed.add(element, "ExternalIdentifiers", f"no county with FIPS {code!r} is known (import the county first)")
            return None
        # A feed speaks for its own State: a county of another state (by its FIPS) is refused, never written.
        named = states.get(child(element, "StateId") or "")
        if county.jurisdiction_id not in {s.pk for s in states.values()} or (
            named is not None and named.pk != county.jurisdiction_id
        ):
            feed.add(
                element,
                "ExternalIdentifiers",
                f"county {code} ({county.name}) is in {county.jurisdiction.name}, not in this feed's State",
            )
            return None
        return county
    state_id = child(element, "StateId") or ""
    state = states.get(state_id)
    name = child(element, "Name") or ""
    if state is None:
        feed.add(element, "StateId", f"refers to {state_id!r}, which is no State of this feed")
        return None
    bare = re.sub(r"\s+county\Z", "", name, flags=re.IGNORECASE)
    county = counties.filter(jurisdiction=state, name__iexact=bare).first()
    if county is None:
        feed.add(element, "Name", f"no county named {name!r} in {state.name} (and no fips ExternalIdentifier)")
    return county


def _election(feed: Feed, states: dict[str, Jurisdiction]) -> tuple[Election | None, dict[str, Any] | None]:
    """The stored election the feed names, or the fields to create it with."""
    elections = feed.of("Election")
    if len(elections) != 1:
        feed.errors.add(feed.label, None, "Election", f"a feed has exactly one Election (found {len(elections)})")
        return None, None
    element = elections[0]
    state = states.get(child(element, "StateId") or "")
    if state is None:
        feed.add(element, "StateId", "must refer to a State of this feed")
    name = intl(element, "Name")
    if name is None or len(name) > 200:
        feed.add(element, "Name", "is required (at most 200 characters)")
    try:
        date = dt.date.fromisoformat(child(element, "Date") or "")
    except ValueError:
        feed.add(element, "Date", "must be a date YYYY-MM-DD")
        return None, None
    if state is None or name is None or len(name) > 200:
        return None, None
    found = Election.objects.filter(jurisdiction=state, date=date, name=name).first()
    if found is not None:
        return found, None
    hours_id = child(element, "HoursOpenId")
    if hours_id is None:
        feed.add(element, "HoursOpenId", f"the election {name!r} on {date} is new here: its polling hours are required")
        return None, None
    hours = feed.ref(element, "HoursOpenId", hours_id, "HoursOpen")
    span = None if hours is None else hours.find("Schedule/Hours")
    if hours is None or span is None:
        if hours is not None:
            feed.add(hours, "Schedule.Hours", "is required (the polls' opening and closing time)")
        return None, None
    times = []
    for tag in ("StartTime", "EndTime"):
        match = _TIME.match(child(span, tag) or "")
        if match is None or int(match[1]) > 23:
            feed.add(hours, f"Schedule.Hours.{tag}", "must be a time with its zone, e.g. 07:00:00-05:00")
            return None, None
        # The clock time is the local time of the state; the offset says the same in UTC.
        times.append(dt.time(int(match[1]), int(match[2]), int(match[3])))
    if times[1] <= times[0]:
        feed.add(hours, "Schedule.Hours.EndTime", "must be after StartTime")
        return None, None
    return None, {"jurisdiction": state, "date": date, "name": name, "polls_open": times[0], "polls_close": times[1]}


def _boundary(feed: Feed, element: Element, shapes: Shapes) -> Any:
    """The precinct's boundary as a GeoJSON geometry (several features unioned), or None (problems reported)."""
    spatial = element.find("SpatialBoundary/ExternalGeospatialFeature")
    if spatial is None:
        feed.add(
            element,
            "SpatialBoundary",
            "is required: precincts are stored with their boundary (street segments are not read)",
        )
        return None
    file_id = child(spatial, "ExternalFileId") or ""
    external = feed.ref(element, "SpatialBoundary.ExternalFileId", file_id, "ExternalFile")
    if (child(spatial, "FileFormat") or "") != "shp":
        feed.add(element, "SpatialBoundary.FileFormat", "only shp is read")
        return None
    features = None if external is None else shapes.features(external)
    if features is None:
        return None
    parts = []
    for n, node in enumerate(spatial.findall("FeatureIdentifier")):
        raw = (node.findtext("Index") or "").strip()
        where = f"SpatialBoundary.FeatureIdentifier[{n}].Index"
        if not re.fullmatch(r"[0-9]{1,9}", raw):
            feed.add(element, where, f"{raw!r} is not a feature index (0, 1, …)")
            return None
        if int(raw) >= len(features):
            feed.add(
                element, where, f"{raw} is out of range: {file_id} has {len(features)} feature(s), numbered from 0"
            )
            return None
        parts.append(features[int(raw)]["geometry"])
    if not parts:
        feed.add(element, "SpatialBoundary.FeatureIdentifier", "is required")
        return None
    if len(parts) == 1:
        return parts[0]
    try:
        union = shapely.union_all([shape(p) for p in parts])
    except (shapely.errors.GEOSException, ValueError, TypeError) as exc:
        feed.add(element, "SpatialBoundary", f"its features cannot be joined: {exc}")
        return None
    return mapping(union)


def _address(element: Element) -> str | None:
    structured = element.find("AddressStructured")
    if structured is not None:
        lines = [child(structured, t) for t in ("Line1", "Line2", "Line3", "City")]
        tail = " ".join(x for x in (child(structured, "State"), child(structured, "Zip")) if x)
        return ", ".join([x for x in lines if x] + ([tail] if tail else [])) or None
    lines = [(n.text or "").strip() for n in element.findall("AddressLine")]
    return ", ".join(x for x in lines if x) or None


def _ids(element: Element, tag: str) -> list[str]:
    return (child(element, tag) or "").split()


def _renamed(issue: ImportIssue, label: str, ids: list[str], kind: str) -> ImportIssue:
    """One of the importer's problems of feature N, named by the VIP element and field it comes from."""
    if issue.index is None:
        return ImportIssue(label, None, issue.field, issue.message)
    head, _, rest = issue.field.partition(".")
    name = _FIELDS.get(head, head if not head.startswith("precincts") else "served by Precinct")
    return ImportIssue(
        f"{label}: {kind} '{ids[issue.index]}'", None, name + (f".{rest}" if rest else ""), issue.message
    )


def import_vip(*, path: Path, repair: bool = False) -> VipImportResult:
    """Read the feed at ``path`` (a .zip, a folder, or the .xml with its files beside it) and store it all, or raise
    GeographyImportError naming every problem, having stored nothing."""
    errors = rows.Collector()
    with tempfile.TemporaryDirectory() as tmp:
        bundle = Bundle(path, errors)
        root = None if bundle.xml is None else parse_xml(bundle.xml, bundle.xml_name, errors)
        if root is None:
            if not errors.issues:
                errors.add(path.name, None, "file", f"{bundle.xml_name!r} cannot be read")
            raise GeographyImportError(errors.issues)
        try:
            prepared = _prepare(index_feed(root, bundle.xml_name, errors), bundle, Path(tmp), repair)
        except rows.TooManyErrors:
            prepared = None
        if errors.issues or prepared is None:
            raise GeographyImportError(errors.issues)
    election, new_election, precinct_rows, place_rows, feed_locations, skipped, notes = prepared
    with transaction.atomic():
        created = False
        if election is None:
            election, created = Election.objects.get_or_create(**(new_election or {}))
        result = geography_upsert(counties=[], precincts=precinct_rows, polling_places=place_rows, election=election)
        locations = locations_write(election=election, feed_locations=feed_locations, source=path.name)
        if (created or locations.changed) and not result.changed:
            geography_version_bump()  # what a lookup answers changed: every process must see it
    result.notes = notes
    result.warnings[:0] = errors.warnings
    return VipImportResult(str(election), created, result, locations, skipped)


def _held_locations(feed: Feed, elements: dict[str, Element], counties: dict[str, County]) -> dict[str, Any]:
    """The stored coordinates of the feed's places we hold located, by VIP id: a feed without ``LatLng`` for
    them must not erase them."""
    keys = {vip_id: (counties[vip_id].pk, code_of_id(vip_id)) for vip_id in elements if vip_id in counties}
    held = {
        (p.county_id, p.code): p.location
        for p in PollingPlace.objects.filter(
            county_id__in={k[0] for k in keys.values()}, code__in={k[1] for k in keys.values()}, location__isnull=False
        ).only("county_id", "code", "location")
    }
    return {vip_id: held[key] for vip_id, key in keys.items() if key in held}


def _keep_what_vip_lacks(place_rows: list[rows.PollingPlaceRow]) -> list[rows.PollingPlaceRow]:
    """A place we hold keeps its entrances, building outline and accessibility notes: VIP carries none of them, so a
    feed must not erase them."""
    held = {
        (p.county.fips, p.code): p
        for p in PollingPlace.objects.select_related("county")
        .defer("county__boundary")
        .prefetch_related("entrances")
        .filter(county__fips__in={r.county_fips for r in place_rows})
    }
    kept = []
    for row in place_rows:
        place = held.get((row.county_fips, row.code))
        if place is not None:
            entrances = tuple(
                rows.EntranceRow(e.name, float(e.location.x), float(e.location.y), e.accessible)
                for e in place.entrances.all()
            )
            row = replace(
                row, entrances=entrances, building=place.building, accessibility_notes=place.accessibility_notes
            )
        kept.append(row)
    return kept


def _locality_wide_vote_centers(
    feed: Feed,
    localities: dict[str, County],
    listings: list[tuple[County, str, list[str]]],
    places: dict[str, Element],
    plain: set[str],
    open_on_election_day: Any,
    out: FeedLocations,
) -> None:
    """The vote centers a Locality lists (VIP: its locality-wide locations): each election-day location it lists
    that no precinct lists alone (that is a precinct's assigned place). A precinct of that county listing no
    election-day location is served by them."""
    alone = {chosen[0] for _, _, chosen in listings if len(chosen) == 1}
    wide: dict[int, set[str]] = {}
    for element in feed.of("Locality"):
        county = localities.get(element.get("id", ""))
        if county is None:
            continue
        for ref in _ids(element, "PollingLocationIds"):
            if ref in places and ref not in alone and (ref in plain or open_on_election_day(ref)):
                wide.setdefault(county.pk, set()).add(ref)
                out.locality_wide.add((ref, county.pk))
    for county, code, chosen in listings:
        if not chosen and wide.get(county.pk):
            out.vote_center_precincts.add((county.fips, code))


def _prepare(feed: Feed, bundle: Bundle, tmp: Path, repair: bool) -> Any:
    states = {s.get("id", ""): j for s in feed.of("State") if (j := _state(feed, s)) is not None}
    localities = {e.get("id", ""): c for e in feed.of("Locality") if (c := _county(feed, e, states)) is not None}
    election, new_election = _election(feed, states)
    shapes = Shapes(feed, bundle, tmp)
    skipped: list[str] = []

    # Every kind of polling location; a plain one (neither flag) is an election-day site.
    places: dict[str, Element] = {e.get("id", ""): e for e in feed.of("PollingLocation")}
    plain = {vip_id for vip_id, e in places.items() if not (flag(e, "IsDropBox") or flag(e, "IsEarlyVoting"))}
    election_day: set[str] = set(plain)
    vote_centers: set[str] = set()
    feed_locations = FeedLocations()
    election_date = election.date if election is not None else (new_election or {}).get("date")
    place_hours = {
        vip_id: read_hours(feed, element, election_date) if election_date is not None else ()
        for vip_id, element in places.items()
    }

    def open_on_election_day(ref: str) -> bool:
        """A flagged location a precinct lists serves it on election day when it is open then (an early-voting
        site that is also a vote center); one open only before is listed as the precinct's early-voting site."""
        spans = place_hours.get(ref) or ()
        return not flag(places[ref], "IsDropBox") and any(day == election_date for day, _, _ in spans)

    place_county: dict[str, County] = {}
    for element in feed.of("Locality"):
        for n, ref in enumerate(_ids(element, "PollingLocationIds")):
            target = feed.by_id.get(ref)
            if target is None or target.tag != "PollingLocation":
                feed.ref(element, f"PollingLocationIds[{n}]", ref, "PollingLocation")
            elif element.get("id") in localities:
                county = localities[element.get("id", "")]
                named = county_of_id(ref)
                if ref in place_county and place_county[ref].pk != county.pk:
                    feed.add(target, "id", f"is listed by the Localities of both {place_county[ref]} and {county}")
                elif named is not None and named != county.fips:
                    feed.add(target, "id", f"its id names county {named} but the Locality of {county} lists it")
                else:
                    place_county[ref] = county

    precinct_features: list[Any] = []
    precinct_ids: list[str] = []
    served: dict[str, list[str]] = {}
    codes: dict[tuple[str, str], str] = {}
    #: (county, precinct code, the election-day locations it lists) of every precinct read.
    listings: list[tuple[County, str, list[str]]] = []
    for element in feed.of("Precinct"):
        locality_id = child(element, "LocalityId") or ""
        if feed.ref(element, "LocalityId", locality_id, "Locality") is None:
            continue
        county = localities.get(locality_id)
        geometry = _boundary(feed, element, shapes)
        local = identifiers(element, "local-level")
        code = local[0] if local else code_of_id(element.get("id", ""))
        if county is None:
            continue
        key = (county.fips, code)
        if key in codes:
            feed.add(element, "id", f"precinct code {code!r} of county {county.fips} is also Precinct '{codes[key]}'")
            continue
        codes[key] = element.get("id", "")
        refs = _ids(element, "PollingLocationIds")
        listed = []
        for n, ref in enumerate(refs):
            if feed.by_id.get(ref) is None or feed.by_id[ref].tag != "PollingLocation":
                feed.ref(element, f"PollingLocationIds[{n}]", ref, "PollingLocation")
            else:
                listed.append(ref)
        chosen = [r for r in listed if r in plain or open_on_election_day(r)]
        listings.append((county, code, chosen))
        election_day.update(chosen)
        if len(chosen) > 1:
            vote_centers.update(chosen)
            feed_locations.vote_center_precincts.add((county.fips, code))
        for ref in chosen:
            if len(chosen) == 1:
                served.setdefault(ref, []).append(code)
            if ref in place_county and place_county[ref].pk != county.pk:
                feed.add(
                    feed.by_id[ref],
                    "id",
                    f"is in {place_county[ref]} but serves Precinct '{element.get('id')}' of {county}",
                )
            place_county.setdefault(ref, county)
        precinct_ids.append(element.get("id", ""))
        precinct_features.append(
            {
                "type": "Feature",
                "properties": {"county_fips": county.fips, "code": code, "name": child(element, "Name")},
                "geometry": geometry,
            }
        )

    _locality_wide_vote_centers(feed, localities, listings, places, plain, open_on_election_day, feed_locations)
    vote_centers.update(vip_id for vip_id, _ in feed_locations.locality_wide)
    election_day.update(vip_id for vip_id, _ in feed_locations.locality_wide)
    # A location no Locality or Precinct lists (unused in this election) is in the county its id names, if ours.
    by_fips = {county.fips: county for county in localities.values()}
    for vip_id in places:
        fips = county_of_id(vip_id)
        if vip_id not in place_county and fips in by_fips:
            place_county[vip_id] = by_fips[fips]

    place_features: list[Any] = []
    place_ids: list[str] = []
    held = _held_locations(feed, places, place_county)
    polls: tuple[Any, ...]
    if election is not None:
        polls = (election.date, election.polls_open, election.polls_close)
    else:
        polls = (election_date, (new_election or {}).get("polls_open"), (new_election or {}).get("polls_close"))
    for vip_id, element in places.items():
        county = place_county.get(vip_id)
        if county is None:
            feed.add(element, "id", "no Locality or Precinct of the feed lists it, so its county is unknown")
            continue
        hours = place_hours[vip_id]
        latitude, longitude = child(element, "LatLng/Latitude"), child(element, "LatLng/Longitude")
        try:
            point = (
                None
                if latitude is None or longitude is None
                else {"type": "Point", "coordinates": [float(longitude), float(latitude)]}
            )
        except ValueError:
            feed.add(element, "LatLng", "Latitude and Longitude must be numbers")
            continue
        if point is None and vip_id in held:
            # Coordinates we hold and the feed lacks are kept.
            point = {"type": "Point", "coordinates": [held[vip_id].x, held[vip_id].y]}
        code, name, address = code_of_id(vip_id), child(element, "Name"), _address(element)
        row = LocationRow(
            vip_id=vip_id,
            county=county,
            code=code,
            name=name or "",
            address=address or "",
            is_election_day=vip_id in election_day,
            is_early_voting=flag(element, "IsEarlyVoting"),
            is_drop_box=flag(element, "IsDropBox"),
            # An election-day site keeps the election's polling hours without a row of its own saying so.
            hours=tuple(span for span in hours or () if vip_id not in election_day or span != polls),
            precincts=tuple(served.get(vip_id, [])) if point is None else (),
            located=point is not None,
        )
        if hours is None:
            continue
        if vip_id in vote_centers:
            feed_locations.vote_centers.add((county.fips, code))
        if point is None:
            if check_unlocated(feed, element, code, name, address):
                feed_locations.rows.append(row)
                feed.errors.warnings.append(
                    f"{feed.label}: PollingLocation '{vip_id}', field 'LatLng': missing; stored by its address "
                    "without buffer zones, and listed for a commissioner of the county"
                )
            continue
        feed_locations.rows.append(row)
        place_ids.append(vip_id)
        place_features.append(
            {
                "type": "Feature",
                "properties": {
                    "county_fips": county.fips,
                    "code": code_of_id(vip_id),
                    "name": child(element, "Name"),
                    "address": _address(element),
                    "precincts": served.get(vip_id, []),
                },
                "geometry": point,
            }
        )

    label = feed.label
    checks = rows.Collector(warnings=feed.errors.warnings)
    boxes = parse.county_boxes([])
    precinct_rows = parse.parse_precincts(precinct_features, f"{label}#P", checks, rows.no_progress, boxes, repair)
    keys = parse.precinct_keys(precinct_rows, place_features)
    place_rows = _keep_what_vip_lacks(
        parse.parse_polling_places(place_features, f"{label}#L", checks, rows.no_progress, boxes, keys, repair)
    )
    for issue in checks.issues:
        if issue.file == f"{label}#P":
            issue = _renamed(issue, label, precinct_ids, "Precinct")
        elif issue.file == f"{label}#L":
            issue = _renamed(issue, label, place_ids, "PollingLocation")
        feed.errors.add(issue.file, issue.index, issue.field, issue.message)
    feed.errors.warnings[:] = [
        re.sub(
            rf"^{re.escape(label)}#([PL]): feature (\d+),",
            lambda m: (
                f"{label}: "
                + (
                    f"Precinct '{precinct_ids[int(m[2])]}',"
                    if m[1] == "P"
                    else f"PollingLocation '{place_ids[int(m[2])]}',"
                )
            ),
            w,
        )
        for w in feed.errors.warnings
    ]
    return election, new_election, precinct_rows, place_rows, feed_locations, skipped, shapes.notes

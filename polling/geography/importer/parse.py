"""Reading and validating the import files: every feature is checked and every problem collected (file, feature
index, field) before anything is written. Nothing here writes."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError
from shapely.geometry.base import BaseGeometry

from polling import geometry
from polling.geography.importer.rows import (
    Box,
    Collector,
    CountyRow,
    EntranceRow,
    ImportIssue,
    PollingPlaceRow,
    PrecinctRow,
    Progress,
)
from polling.models import (
    MAX_SITE_RADIUS_M,
    POLYGONAL,
    County,
    Jurisdiction,
    Precinct,
    code_validator,
    county_fips_validator,
)

MAX_FILE_BYTES = 512 * 1024 * 1024
#: An entrance farther than this from its polling place is almost certainly a typo in the coordinates.
MAX_ENTRANCE_DISTANCE_M = MAX_SITE_RADIUS_M


@dataclass(frozen=True)
class _At:
    """Where the problems of one feature are reported: its file and index."""

    label: str
    index: int
    errors: Collector

    def add(self, field_name: str, message: str) -> None:
        self.errors.add(self.label, self.index, field_name, message)

    def warn(self, field_name: str, message: str) -> None:
        self.errors.warnings.append(str(ImportIssue(self.label, self.index, field_name, message)))


# --- Reading ----------------------------------------------------------------------------------------------------


def readable_size(path: Path, label: str, errors: Collector) -> bool:
    """Whether the file can be read and is within ``MAX_FILE_BYTES`` (else the problem is collected). Every reader
    of an input file — GeoJSON here, vector files in ``importer.vector`` — asks this first."""
    try:
        size = path.stat().st_size
    except OSError as exc:
        errors.add(label, None, "file", f"cannot be read: {exc.strerror or exc}")
        return False
    if size > MAX_FILE_BYTES:
        errors.add(label, None, "file", f"is {size} bytes; the limit is {MAX_FILE_BYTES} bytes (split the file)")
        return False
    return True


def read_features(path: Path, label: str, errors: Collector) -> list[Any] | None:
    if not readable_size(path, label, errors):
        return None
    try:
        with path.open("rb") as fh:
            data = json.load(fh)
    except UnicodeDecodeError:
        errors.add(label, None, "file", "is not UTF-8 text")
        return None
    except json.JSONDecodeError as exc:
        errors.add(label, None, "file", f"is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})")
        return None
    except RecursionError:
        errors.add(label, None, "file", "is nested too deeply to be GeoJSON")
        return None
    if not isinstance(data, dict) or data.get("type") != "FeatureCollection":
        errors.add(label, None, "type", "the file must be a GeoJSON FeatureCollection")
        return None
    features = data.get("features")
    if not isinstance(features, list):
        errors.add(label, None, "features", "must be a list of Features")
        return None
    return features


def _features(
    features: list[Any], label: str, errors: Collector, progress: Progress
) -> Iterator[tuple[_At, dict[str, Any], Any]]:
    """(where, properties, raw geometry) of each well-formed Feature, as the caller checks them; the malformed ones
    are reported."""
    for index, feature in enumerate(progress(features, f"checking {label}", len(features))):
        at = _At(label, index, errors)
        if not isinstance(feature, dict) or feature.get("type") != "Feature":
            at.add("type", "each item of 'features' must be a GeoJSON Feature")
            continue
        props = feature.get("properties")
        if not isinstance(props, dict):
            at.add("properties", "must be an object")
            continue
        yield at, props, feature.get("geometry")


def _text(
    props: dict[str, Any],
    key: str,
    at: _At,
    *,
    max_length: int,
    required: bool = True,
    validator: Callable[[str], None] | None = None,
) -> str | None:
    value = props.get(key)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            at.add(key, "is required")
            return None
        return ""
    if not isinstance(value, str):
        at.add(key, f"must be a string, not {type(value).__name__}")
        return None
    value = value.strip()
    if len(value) > max_length:
        at.add(key, f"is {len(value)} characters long; at most {max_length} allowed")
        return None
    if "\x00" in value:
        at.add(key, "contains a NUL character")
        return None
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        at.add(key, "contains characters that are not valid Unicode text (lone surrogates)")
        return None
    if validator is not None:
        try:
            validator(value)
        except ValidationError as exc:
            at.add(key, f"{value!r}: {' '.join(exc.messages)}")
            return None
    return value


def _geometry(
    raw: Any,
    at: _At,
    *,
    allowed: tuple[str, ...],
    expected_bbox: Box | None = None,
    key: str = "geometry",
    repair: bool = False,
) -> BaseGeometry | None:
    if raw is None:
        at.add(key, "is required")
        return None
    try:
        return geometry.parse_geojson(raw, allowed_types=allowed, expected_bbox=expected_bbox)
    except geometry.GeometryError as exc:
        where = f"{key}.{exc.path}" if getattr(exc, "path", None) else key
        if repair:
            # Repairable only if parsing with repair succeeds; the original problem is then reported as repaired.
            try:
                repaired = geometry.parse_geojson(raw, allowed_types=allowed, expected_bbox=expected_bbox, repair=True)
            except geometry.GeometryError:
                pass
            else:
                at.warn(where, f"repaired ({exc}); kept {repaired.geom_type} of {len(shapely_parts(repaired))} part(s)")
                return repaired
        at.add(where, str(exc))
        return None


def shapely_parts(geom: BaseGeometry) -> list[BaseGeometry]:
    return list(getattr(geom, "geoms", [geom]))


def _pad(bbox: Box, margin: float = 0.05) -> Box:
    west, south, east, north = bbox
    return (west - margin, south - margin, east + margin, north + margin)


# --- Counties ---------------------------------------------------------------------------------------------------


def parse_counties(
    features: list[Any], label: str, errors: Collector, progress: Progress, repair: bool
) -> list[CountyRow]:
    jurisdictions = {j.code: j for j in Jurisdiction.objects.all()}
    rows: list[CountyRow] = []
    seen: dict[str, int] = {}
    for at, props, raw_geom in _features(features, label, errors, progress):
        fips = _text(props, "fips", at, max_length=5, validator=county_fips_validator)
        name = _text(props, "name", at, max_length=100)
        state = _text(props, "state", at, max_length=2)
        boundary = _geometry(raw_geom, at, allowed=POLYGONAL, repair=repair)
        if state is not None:
            jurisdiction = jurisdictions.get(state.upper())
            if jurisdiction is None:
                at.add("state", f"{state!r} is not a known state or territory postal code")
                state = None
            elif fips is not None and not fips.startswith(jurisdiction.fips):
                at.add("fips", f"{fips} does not start with {state}'s state FIPS {jurisdiction.fips}")
                fips = None
        if fips is not None and fips in seen:
            at.add("fips", f"{fips} appears twice in this file (also feature {seen[fips]})")
            continue
        if fips is not None:
            seen[fips] = at.index
        if fips is None or name is None or state is None or boundary is None:
            continue
        rows.append(CountyRow(at.index, fips, name, state.upper(), boundary))
    return rows


def county_boxes(county_rows: list[CountyRow]) -> dict[str, Box]:
    """The bounding box of every county, stored or being imported (precincts and places must lie near theirs)."""
    boxes: dict[str, Box] = {
        fips: (w, s, e, n)
        for fips, w, s, e, n in County.objects.values_list("fips", "bbox_west", "bbox_south", "bbox_east", "bbox_north")
    }
    boxes.update({row.fips: row.boundary.bounds for row in county_rows})
    return boxes


# --- What precincts and polling places share --------------------------------------------------------------------


def _in_county(props: dict[str, Any], at: _At, boxes: dict[str, Box]) -> tuple[str | None, str | None, str | None]:
    """``county_fips`` (of a county stored or being imported), ``code`` and ``name`` of a precinct or a place."""
    county_fips = _text(props, "county_fips", at, max_length=5, validator=county_fips_validator)
    if county_fips is not None and county_fips not in boxes:
        at.add("county_fips", f"no county {county_fips} exists or is being imported")
        county_fips = None
    code = _text(props, "code", at, max_length=32, validator=code_validator)
    name = _text(props, "name", at, max_length=200)
    return county_fips, code, name


def _first_in_file(
    seen: dict[tuple[str, str], int], county_fips: str | None, code: str | None, at: _At, what: str
) -> bool:
    """False (and a problem reported) when the same code of the same county came earlier in the file."""
    if county_fips is None or code is None:
        return True
    key = (county_fips, code)
    if key in seen:
        at.add("code", f"{what} {code} of county {county_fips} appears twice (also feature {seen[key]})")
        return False
    seen[key] = at.index
    return True


# --- Precincts --------------------------------------------------------------------------------------------------


def parse_precincts(
    features: list[Any],
    label: str,
    errors: Collector,
    progress: Progress,
    boxes: dict[str, Box],
    repair: bool,
) -> list[PrecinctRow]:
    rows: list[PrecinctRow] = []
    seen: dict[tuple[str, str], int] = {}
    for at, props, raw_geom in _features(features, label, errors, progress):
        county_fips, code, name = _in_county(props, at, boxes)
        expected = _pad(boxes[county_fips]) if county_fips else None
        boundary = _geometry(raw_geom, at, allowed=POLYGONAL, expected_bbox=expected, repair=repair)
        if not _first_in_file(seen, county_fips, code, at, "precinct"):
            continue
        if county_fips is None or code is None or name is None or boundary is None:
            continue
        rows.append(PrecinctRow(at.index, county_fips, code, name, boundary))
    return rows


# --- Polling places ---------------------------------------------------------------------------------------------


def precinct_keys(precinct_rows: list[PrecinctRow], features: list[Any]) -> set[tuple[str, str]]:
    """(county FIPS, code) of every precinct a polling place of ``features`` may list: those being imported and
    those stored in the counties the features name."""
    keys = {(r.county_fips, r.code) for r in precinct_rows}
    place_fips = {
        f.get("properties", {}).get("county_fips")
        for f in features
        if isinstance(f, dict) and isinstance(f.get("properties"), dict)
    }
    keys.update(
        Precinct.objects.filter(county__fips__in=[f for f in place_fips if isinstance(f, str)]).values_list(
            "county__fips", "code"
        )
    )
    return keys


def _entrance(item: Any, key: str, at: _At, names: set[str], location: BaseGeometry | None) -> EntranceRow | None:
    """One item of ``entrances``; None (with its problems reported) when it is not a usable entrance."""
    if not isinstance(item, dict):
        at.add(key, "must be an object {name, lon, lat, accessible}")
        return None
    ok = True
    name = _text(item, "name", at, max_length=100)
    if name is not None and name in names:
        at.add(f"{key}.name", f"{name!r} is used by two entrances of this polling place")
        ok = False
    lon, lat = item.get("lon"), item.get("lat")
    coords_ok = True
    for axis, value in (("lon", lon), ("lat", lat)):
        if isinstance(value, bool) or not isinstance(value, int | float):
            at.add(f"{key}.{axis}", "must be a number")
            coords_ok = False
        elif isinstance(value, int) and abs(value) > 1000:
            at.add(f"{key}.{axis}", f"{value:.3g} is far outside any longitude or latitude")
            coords_ok = False
    if coords_ok:
        try:
            geometry.check_lonlat(float(lon), float(lat))  # type: ignore[arg-type]
        except geometry.GeometryError as exc:
            at.add(key, str(exc))
            coords_ok = False
    accessible = item.get("accessible", False)
    if not isinstance(accessible, bool):
        at.add(f"{key}.accessible", "must be true or false")
        ok = False
    if coords_ok and location is not None:
        reference = geometry.Reference.from_points([(location.x, location.y)])
        distance = geometry.geodesic_distance_m(float(lon), float(lat), reference)  # type: ignore[arg-type]
        if distance > MAX_ENTRANCE_DISTANCE_M:
            at.add(
                key,
                f"is {distance:.0f} m from the polling place; an entrance must be "
                f"within {MAX_ENTRANCE_DISTANCE_M:.0f} m (check the coordinates and their order)",
            )
            coords_ok = False
    if name is None or not coords_ok:
        return None
    names.add(name)
    if not ok:
        return None
    return EntranceRow(name, float(lon), float(lat), accessible)  # type: ignore[arg-type]


def _entrances(raw: Any, at: _At, location: BaseGeometry | None) -> tuple[EntranceRow, ...] | None:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        at.add("entrances", "must be a list of {name, lon, lat, accessible}")
        return None
    names: set[str] = set()
    rows = [_entrance(item, f"entrances[{n}]", at, names, location) for n, item in enumerate(raw)]
    return None if None in rows else tuple(r for r in rows if r is not None)


def _building(raw: Any, at: _At, location: BaseGeometry | None, expected: Box | None, repair: bool) -> Any:
    """The building outline, None when absent, or ``False`` when it is given but unusable (problems reported)."""
    if raw is None:
        return None
    building = _geometry(raw, at, allowed=POLYGONAL, expected_bbox=expected, key="building", repair=repair)
    if building is None:
        return False
    if location is not None:
        spread = geometry.farthest_vertex_m(location.x, location.y, building)
        if spread > MAX_SITE_RADIUS_M:
            at.add(
                "building",
                f"reaches {spread:.0f} m from the polling place; the outline "
                f"must lie within {MAX_SITE_RADIUS_M:.0f} m (check the coordinates and their order)",
            )
            return False
    return building


def _served_precincts(
    raw: Any,
    at: _At,
    county_fips: str | None,
    precinct_keys: set[tuple[str, str]],
    served_by: dict[tuple[str, str], int],
) -> list[str] | None:
    """The codes of the precincts a place serves (each known, and served by no other place of the file)."""
    precincts: list[str] = []
    if not isinstance(raw, list) or not all(isinstance(p, str) for p in raw):
        at.add("precincts", "must be a list of precinct codes (strings)")
        return None
    if county_fips is None:
        return precincts
    for n, precinct_code in enumerate(raw):
        key = (county_fips, precinct_code)
        if key not in precinct_keys:
            at.add(
                f"precincts[{n}]", f"no precinct {precinct_code!r} exists in county {county_fips} or is being imported"
            )
        elif key in served_by and served_by[key] != at.index:
            at.add(
                f"precincts[{n}]",
                f"precinct {precinct_code!r} is also listed by "
                f"feature {served_by[key]}; a precinct has one polling place per election",
            )
        else:
            served_by[key] = at.index
            precincts.append(precinct_code)
    return precincts


def parse_polling_places(
    features: list[Any],
    label: str,
    errors: Collector,
    progress: Progress,
    boxes: dict[str, Box],
    precinct_keys: set[tuple[str, str]],
    repair: bool,
) -> list[PollingPlaceRow]:
    rows: list[PollingPlaceRow] = []
    seen: dict[tuple[str, str], int] = {}
    served_by: dict[tuple[str, str], int] = {}
    for at, props, raw_geom in _features(features, label, errors, progress):
        county_fips, code, name = _in_county(props, at, boxes)
        address = _text(props, "address", at, max_length=300)
        notes = _text(props, "accessibility_notes", at, max_length=5000, required=False)
        expected = _pad(boxes[county_fips]) if county_fips else None
        location = _geometry(raw_geom, at, allowed=("Point",), expected_bbox=expected)
        building = _building(props.get("building"), at, location, expected, repair)
        if building is False:
            continue
        entrances = _entrances(props.get("entrances"), at, location)
        precincts = _served_precincts(props.get("precincts", []), at, county_fips, precinct_keys, served_by)
        if not _first_in_file(seen, county_fips, code, at, "polling place"):
            continue
        if (
            county_fips is None
            or code is None
            or name is None
            or address is None
            or location is None
            or entrances is None
            or precincts is None
        ):
            continue
        rows.append(
            PollingPlaceRow(
                at.index,
                county_fips,
                code,
                name,
                address,
                location,
                tuple(dict.fromkeys(precincts)),
                entrances,
                building,
                notes or "",
            )
        )
    return rows

"""Import counties, precincts and polling places from GeoJSON (the import contract in docs/import.md).

Two phases, so a run is all-or-nothing: every feature of every file is parsed and validated first, collecting every
problem with the file, feature index and field it concerns; only a clean run writes, inside one transaction. Writes
are upserts keyed by code (counties by FIPS; precincts and polling places by code within their county), so running
the same files again changes nothing.
"""

from __future__ import annotations

import datetime as dt
import json
import zoneinfo
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import shapely
from django.core.exceptions import ValidationError
from django.db import IntegrityError, OperationalError, transaction
from django.utils import timezone
from shapely.geometry.base import BaseGeometry

from polling import geometry
from polling.geography.services import geography_version_bump
from polling.models import (
    MAX_SITE_RADIUS_M,
    POLYGONAL,
    County,
    Election,
    Entrance,
    Jurisdiction,
    PollingPlace,
    Precinct,
    PrecinctAssignment,
    code_validator,
    county_fips_validator,
)

MAX_FILE_BYTES = 512 * 1024 * 1024
MAX_ERRORS = 200
#: An entrance farther than this from its polling place is almost certainly a typo in the coordinates.
MAX_ENTRANCE_DISTANCE_M = MAX_SITE_RADIUS_M
BATCH = 500

Progress = Callable[[Iterable[Any], str, int], Iterable[Any]]


def _no_progress(items: Iterable[Any], desc: str, total: int) -> Iterable[Any]:
    return items


@dataclass(frozen=True)
class ImportIssue:
    file: str
    index: int | None
    field: str
    message: str

    def __str__(self) -> str:
        where = self.file if self.index is None else f"{self.file}: feature {self.index}"
        return f"{where}, field '{self.field}': {self.message}"


class GeographyImportError(Exception):
    """The run was refused; nothing was written. ``issues`` lists every problem found (up to MAX_ERRORS)."""

    def __init__(self, issues: list[ImportIssue]) -> None:
        self.issues = issues
        shown = "\n".join(f"  - {issue}" for issue in issues)
        super().__init__(f"{len(issues)} problem(s) found; nothing was imported:\n{shown}")


class _TooManyErrors(Exception):
    pass


@dataclass
class _Collector:
    issues: list[ImportIssue] = field(default_factory=list)

    def add(self, file: str, index: int | None, field_name: str, message: str) -> None:
        self.issues.append(ImportIssue(file, index, field_name, message))
        if len(self.issues) >= MAX_ERRORS:
            raise _TooManyErrors


@dataclass(frozen=True)
class CountyRow:
    index: int
    fips: str
    name: str
    state: str
    boundary: BaseGeometry


@dataclass(frozen=True)
class PrecinctRow:
    index: int
    county_fips: str
    code: str
    name: str
    boundary: BaseGeometry


@dataclass(frozen=True)
class EntranceRow:
    name: str
    lon: float
    lat: float
    accessible: bool


@dataclass(frozen=True)
class PollingPlaceRow:
    index: int
    county_fips: str
    code: str
    name: str
    address: str
    location: BaseGeometry
    precincts: tuple[str, ...]
    entrances: tuple[EntranceRow, ...]
    building: BaseGeometry | None
    accessibility_notes: str


@dataclass
class ImportResult:
    created: dict[str, int] = field(default_factory=dict)
    updated: dict[str, int] = field(default_factory=dict)
    unchanged: dict[str, int] = field(default_factory=dict)
    deleted: dict[str, int] = field(default_factory=dict)
    assignments: int = 0
    elections: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return any(sum(bucket.values()) for bucket in (self.created, self.updated, self.deleted))

    def count(self, kind: str, outcome: str, n: int = 1) -> None:
        bucket = getattr(self, outcome)
        bucket[kind] = bucket.get(kind, 0) + n


# --- Reading ----------------------------------------------------------------------------------------------------


def _read_features(path: Path, label: str, errors: _Collector) -> list[Any] | None:
    try:
        size = path.stat().st_size
    except OSError as exc:
        errors.add(label, None, "file", f"cannot be read: {exc.strerror or exc}")
        return None
    if size > MAX_FILE_BYTES:
        errors.add(label, None, "file", f"is {size} bytes; the limit is {MAX_FILE_BYTES} bytes (split the file)")
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


def _feature_parts(feature: Any, label: str, index: int, errors: _Collector) -> tuple[dict[str, Any], Any] | None:
    if not isinstance(feature, dict) or feature.get("type") != "Feature":
        errors.add(label, index, "type", "each item of 'features' must be a GeoJSON Feature")
        return None
    props = feature.get("properties")
    if not isinstance(props, dict):
        errors.add(label, index, "properties", "must be an object")
        return None
    return props, feature.get("geometry")


def _text(
    props: dict[str, Any],
    key: str,
    label: str,
    index: int,
    errors: _Collector,
    *,
    max_length: int,
    required: bool = True,
    validator: Callable[[str], None] | None = None,
) -> str | None:
    value = props.get(key)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            errors.add(label, index, key, "is required")
            return None
        return ""
    if not isinstance(value, str):
        errors.add(label, index, key, f"must be a string, not {type(value).__name__}")
        return None
    value = value.strip()
    if len(value) > max_length:
        errors.add(label, index, key, f"is {len(value)} characters long; at most {max_length} allowed")
        return None
    if "\x00" in value:
        errors.add(label, index, key, "contains a NUL character")
        return None
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        errors.add(label, index, key, "contains characters that are not valid Unicode text (lone surrogates)")
        return None
    if validator is not None:
        try:
            validator(value)
        except ValidationError as exc:
            errors.add(label, index, key, f"{value!r}: {' '.join(exc.messages)}")
            return None
    return value


def _geometry(
    raw: Any,
    label: str,
    index: int,
    errors: _Collector,
    *,
    allowed: tuple[str, ...],
    expected_bbox: tuple[float, float, float, float] | None = None,
    key: str = "geometry",
    repair: bool = False,
) -> BaseGeometry | None:
    if raw is None:
        errors.add(label, index, key, "is required")
        return None
    try:
        return geometry.parse_geojson(raw, allowed_types=allowed, expected_bbox=expected_bbox, repair=repair)
    except geometry.GeometryError as exc:
        where = f"{key}.{exc.path}" if getattr(exc, "path", None) else key
        errors.add(label, index, where, str(exc))
        return None


def _pad(bbox: tuple[float, float, float, float], margin: float = 0.05) -> tuple[float, float, float, float]:
    west, south, east, north = bbox
    return (west - margin, south - margin, east + margin, north + margin)


# --- Validation -------------------------------------------------------------------------------------------------


def _parse_counties(
    features: list[Any], label: str, errors: _Collector, progress: Progress, repair: bool
) -> list[CountyRow]:
    jurisdictions = {j.code: j for j in Jurisdiction.objects.all()}
    rows: list[CountyRow] = []
    seen: dict[str, int] = {}
    for index, feature in enumerate(progress(features, f"checking {label}", len(features))):
        parts = _feature_parts(feature, label, index, errors)
        if parts is None:
            continue
        props, raw_geom = parts
        fips = _text(props, "fips", label, index, errors, max_length=5, validator=county_fips_validator)
        name = _text(props, "name", label, index, errors, max_length=100)
        state = _text(props, "state", label, index, errors, max_length=2)
        boundary = _geometry(raw_geom, label, index, errors, allowed=POLYGONAL, repair=repair)
        if state is not None:
            jurisdiction = jurisdictions.get(state.upper())
            if jurisdiction is None:
                errors.add(label, index, "state", f"{state!r} is not a known state or territory postal code")
                state = None
            elif fips is not None and not fips.startswith(jurisdiction.fips):
                errors.add(
                    label,
                    index,
                    "fips",
                    f"{fips} does not start with {state}'s state FIPS {jurisdiction.fips}",
                )
                fips = None
        if fips is not None and fips in seen:
            errors.add(label, index, "fips", f"{fips} appears twice in this file (also feature {seen[fips]})")
            continue
        if fips is not None:
            seen[fips] = index
        if None in (fips, name, state, boundary):
            continue
        rows.append(CountyRow(index, fips, name, state.upper(), boundary))  # type: ignore[arg-type,union-attr]
    return rows


def _county_boxes(county_rows: list[CountyRow]) -> dict[str, tuple[float, float, float, float]]:
    boxes = {
        fips: (w, s, e, n)
        for fips, w, s, e, n in County.objects.values_list("fips", "bbox_west", "bbox_south", "bbox_east", "bbox_north")
    }
    boxes.update({row.fips: tuple(row.boundary.bounds) for row in county_rows})  # type: ignore[misc]
    return boxes


def _parse_precincts(
    features: list[Any],
    label: str,
    errors: _Collector,
    progress: Progress,
    boxes: dict[str, tuple[float, float, float, float]],
    repair: bool,
) -> list[PrecinctRow]:
    rows: list[PrecinctRow] = []
    seen: dict[tuple[str, str], int] = {}
    for index, feature in enumerate(progress(features, f"checking {label}", len(features))):
        parts = _feature_parts(feature, label, index, errors)
        if parts is None:
            continue
        props, raw_geom = parts
        county_fips = _text(props, "county_fips", label, index, errors, max_length=5, validator=county_fips_validator)
        if county_fips is not None and county_fips not in boxes:
            errors.add(label, index, "county_fips", f"no county {county_fips} exists or is being imported")
            county_fips = None
        code = _text(props, "code", label, index, errors, max_length=32, validator=code_validator)
        name = _text(props, "name", label, index, errors, max_length=200)
        expected = _pad(boxes[county_fips]) if county_fips else None
        boundary = _geometry(raw_geom, label, index, errors, allowed=POLYGONAL, expected_bbox=expected, repair=repair)
        if county_fips is not None and code is not None:
            key = (county_fips, code)
            if key in seen:
                errors.add(
                    label,
                    index,
                    "code",
                    f"precinct {code} of county {county_fips} appears twice (also feature {seen[key]})",
                )
                continue
            seen[key] = index
        if None in (county_fips, code, name, boundary):
            continue
        rows.append(PrecinctRow(index, county_fips, code, name, boundary))  # type: ignore[arg-type]
    return rows


def _parse_entrances(
    raw: Any, label: str, index: int, errors: _Collector, location: BaseGeometry | None
) -> tuple[EntranceRow, ...] | None:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        errors.add(label, index, "entrances", "must be a list of {name, lon, lat, accessible}")
        return None
    result: list[EntranceRow] = []
    names: set[str] = set()
    ok = True
    for n, item in enumerate(raw):
        key = f"entrances[{n}]"
        if not isinstance(item, dict):
            errors.add(label, index, key, "must be an object {name, lon, lat, accessible}")
            ok = False
            continue
        name = _text(item, "name", label, index, errors, max_length=100)
        if name is not None and name in names:
            errors.add(label, index, f"{key}.name", f"{name!r} is used by two entrances of this polling place")
            ok = False
        lon, lat = item.get("lon"), item.get("lat")
        coords_ok = True
        for axis, value in (("lon", lon), ("lat", lat)):
            if isinstance(value, bool) or not isinstance(value, int | float):
                errors.add(label, index, f"{key}.{axis}", "must be a number")
                coords_ok = False
            elif isinstance(value, int) and abs(value) > 1000:
                errors.add(label, index, f"{key}.{axis}", f"{value:.3g} is far outside any longitude or latitude")
                coords_ok = False
        if coords_ok:
            try:
                geometry.check_lonlat(float(lon), float(lat))  # type: ignore[arg-type]
            except geometry.GeometryError as exc:
                errors.add(label, index, key, str(exc))
                coords_ok = False
        accessible = item.get("accessible", False)
        if not isinstance(accessible, bool):
            errors.add(label, index, f"{key}.accessible", "must be true or false")
            ok = False
        if coords_ok and location is not None:
            reference = geometry.Reference.from_points([(location.x, location.y)])
            distance = geometry.geodesic_distance_m(float(lon), float(lat), reference)  # type: ignore[arg-type]
            if distance > MAX_ENTRANCE_DISTANCE_M:
                errors.add(
                    label,
                    index,
                    key,
                    f"is {distance:.0f} m from the polling place; an entrance must be "
                    f"within {MAX_ENTRANCE_DISTANCE_M:.0f} m (check the coordinates and their order)",
                )
                coords_ok = False
        if name is None or not coords_ok:
            ok = False
            continue
        names.add(name)
        result.append(EntranceRow(name, float(lon), float(lat), bool(accessible)))  # type: ignore[arg-type]
    return tuple(result) if ok else None


def _parse_polling_places(
    features: list[Any],
    label: str,
    errors: _Collector,
    progress: Progress,
    boxes: dict[str, tuple[float, float, float, float]],
    precinct_keys: set[tuple[str, str]],
    repair: bool,
) -> list[PollingPlaceRow]:
    rows: list[PollingPlaceRow] = []
    seen: dict[tuple[str, str], int] = {}
    served_by: dict[tuple[str, str], int] = {}
    for index, feature in enumerate(progress(features, f"checking {label}", len(features))):
        parts = _feature_parts(feature, label, index, errors)
        if parts is None:
            continue
        props, raw_geom = parts
        county_fips = _text(props, "county_fips", label, index, errors, max_length=5, validator=county_fips_validator)
        if county_fips is not None and county_fips not in boxes:
            errors.add(label, index, "county_fips", f"no county {county_fips} exists or is being imported")
            county_fips = None
        code = _text(props, "code", label, index, errors, max_length=32, validator=code_validator)
        name = _text(props, "name", label, index, errors, max_length=200)
        address = _text(props, "address", label, index, errors, max_length=300)
        notes = _text(props, "accessibility_notes", label, index, errors, max_length=5000, required=False)
        expected = _pad(boxes[county_fips]) if county_fips else None
        location = _geometry(raw_geom, label, index, errors, allowed=("Point",), expected_bbox=expected)
        building = None
        if props.get("building") is not None:
            building = _geometry(
                props["building"],
                label,
                index,
                errors,
                allowed=POLYGONAL,
                expected_bbox=expected,
                key="building",
                repair=repair,
            )
            if building is None:
                continue
            if location is not None:
                spread = geometry.farthest_vertex_m(location.x, location.y, building)
                if spread > MAX_SITE_RADIUS_M:
                    errors.add(
                        label,
                        index,
                        "building",
                        f"reaches {spread:.0f} m from the polling place; the outline "
                        f"must lie within {MAX_SITE_RADIUS_M:.0f} m (check the coordinates and their order)",
                    )
                    continue
        entrances = _parse_entrances(props.get("entrances"), label, index, errors, location)
        raw_precincts = props.get("precincts", [])
        precincts: list[str] = []
        if not isinstance(raw_precincts, list) or not all(isinstance(p, str) for p in raw_precincts):
            errors.add(label, index, "precincts", "must be a list of precinct codes (strings)")
            raw_precincts = None
        elif county_fips is not None:
            for n, precinct_code in enumerate(raw_precincts):
                key = (county_fips, precinct_code)
                if key not in precinct_keys:
                    errors.add(
                        label,
                        index,
                        f"precincts[{n}]",
                        f"no precinct {precinct_code!r} exists in county {county_fips} or is being imported",
                    )
                elif key in served_by and served_by[key] != index:
                    errors.add(
                        label,
                        index,
                        f"precincts[{n}]",
                        f"precinct {precinct_code!r} is also listed by "
                        f"feature {served_by[key]}; a precinct has one polling place per election",
                    )
                else:
                    served_by[key] = index
                    precincts.append(precinct_code)
        if county_fips is not None and code is not None:
            place_key = (county_fips, code)
            if place_key in seen:
                errors.add(
                    label,
                    index,
                    "code",
                    f"polling place {code} of county {county_fips} appears twice (also feature {seen[place_key]})",
                )
                continue
            seen[place_key] = index
        if None in (county_fips, code, name, address, location, entrances, raw_precincts):
            continue
        rows.append(
            PollingPlaceRow(
                index,
                county_fips,
                code,
                name,
                address,
                location,  # type: ignore[arg-type]
                tuple(dict.fromkeys(precincts)),
                entrances,
                building,
                notes or "",
            )
        )  # type: ignore[arg-type]
    return rows


# --- Writing ----------------------------------------------------------------------------------------------------

_BOUND_FIELDS = ("bbox_west", "bbox_south", "bbox_east", "bbox_north")
_FOREIGN_KEYS = ["county", "jurisdiction"]


def _same_geometry(a: BaseGeometry | None, b: BaseGeometry | None) -> bool:
    if a is None or b is None:
        return a is b
    return a.geom_type == b.geom_type and bool(shapely.equals_exact(a, b, tolerance=0))


def _refresh_bounds(obj: Any) -> None:
    # bulk_update() does not call pre_save(), which is where the bounding box is derived.
    for name in _BOUND_FIELDS:
        obj._meta.get_field(name).pre_save(obj, False)


def _apply(obj: Any, values: dict[str, Any]) -> bool:
    changed = False
    for attr, value in values.items():
        current = getattr(obj, attr)
        same = (
            _same_geometry(current, value)
            if isinstance(value, BaseGeometry) or isinstance(current, BaseGeometry)
            else current == value
        )
        if not same:
            setattr(obj, attr, value)
            changed = True
    return changed


def _upsert(
    model: Any,
    existing: dict[Any, Any],
    rows: Iterable[tuple[Any, dict[str, Any], dict[str, Any]]],
    kind: str,
    result: ImportResult,
    progress: Progress,
    total: int,
) -> dict[Any, Any]:
    """Create or update ``model`` rows; ``rows`` yields (key, identity fields, other fields)."""
    to_create, to_update, update_fields = [], [], set()
    by_key = dict(existing)
    for key, identity, values in progress(rows, f"writing {kind}", total):
        obj = existing.get(key)
        if obj is None:
            obj = model(**identity, **values)
            # Foreign keys were resolved from the database already: don't query each one again per row.
            obj.full_clean(exclude=_FOREIGN_KEYS, validate_unique=False, validate_constraints=False)
            to_create.append(obj)
            by_key[key] = obj
        elif _apply(obj, values):
            obj.full_clean(exclude=_FOREIGN_KEYS, validate_unique=False, validate_constraints=False)
            if hasattr(obj, "geometry_field_name"):
                _refresh_bounds(obj)
            to_update.append(obj)
            update_fields.update(values)
        else:
            result.count(kind, "unchanged")
    model.objects.bulk_create(to_create, batch_size=BATCH)
    if to_update:
        fields = sorted(update_fields | (set(_BOUND_FIELDS) if hasattr(model, "geometry_field_name") else set()))
        model.objects.bulk_update(to_update, fields, batch_size=BATCH)
    if any(obj.pk is None for obj in to_create):
        # Backends that cannot return ids from bulk_create (SQLite before 3.35): fetch them.
        by_key.update(_reload(model, [k for k, o in by_key.items() if o.pk is None]))
    result.count(kind, "created", len(to_create))
    result.count(kind, "updated", len(to_update))
    return by_key


def _reload(model: Any, keys: list[Any]) -> dict[Any, Any]:
    if model is County:
        return {c.fips: c for c in County.objects.filter(fips__in=keys)}
    found = (
        model.objects.select_related("county").defer("county__boundary").filter(county__fips__in={k[0] for k in keys})
    )
    return {(o.county.fips, o.code): o for o in found}


def _upcoming_elections(jurisdiction_ids: set[int], election: Election | None) -> dict[int, Election]:
    if election is not None:
        return {election.jurisdiction_id: election}
    chosen: dict[int, Election] = {}
    for jurisdiction in Jurisdiction.objects.filter(pk__in=jurisdiction_ids):
        # "Upcoming" by the state's own calendar: on election day in Hawaii it is still that day after UTC midnight.
        today = timezone.localdate(timezone=zoneinfo.ZoneInfo(jurisdiction.timezone))
        upcoming = Election.objects.filter(jurisdiction=jurisdiction, date__gte=today).order_by("date", "pk").first()
        if upcoming is not None:
            chosen[jurisdiction.pk] = upcoming
    return chosen


def _write(
    county_rows: list[CountyRow],
    precinct_rows: list[PrecinctRow],
    place_rows: list[PollingPlaceRow],
    election: Election | None,
    result: ImportResult,
    progress: Progress,
) -> None:
    jurisdictions = {j.code: j for j in Jurisdiction.objects.all()}
    counties = {c.fips: c for c in County.objects.select_for_update().filter(fips__in={r.fips for r in county_rows})}
    counties = _upsert(
        County,
        counties,
        (
            (
                r.fips,
                {"fips": r.fips},
                {"name": r.name, "jurisdiction": jurisdictions[r.state], "boundary": r.boundary},
            )
            for r in county_rows
        ),
        "counties",
        result,
        progress,
        len(county_rows),
    )
    needed = {r.county_fips for r in precinct_rows} | {r.county_fips for r in place_rows}
    missing = needed - counties.keys()
    counties.update({c.fips: c for c in County.objects.filter(fips__in=missing)})

    existing_precincts = {
        (p.county.fips, p.code): p
        for p in Precinct.objects.select_related("county").filter(
            county__fips__in={r.county_fips for r in precinct_rows}
        )
    }
    _upsert(
        Precinct,
        existing_precincts,
        (
            (
                (r.county_fips, r.code),
                {"county": counties[r.county_fips], "code": r.code},
                {"name": r.name, "boundary": r.boundary},
            )
            for r in precinct_rows
        ),
        "precincts",
        result,
        progress,
        len(precinct_rows),
    )
    if not place_rows:
        return
    place_counties = {r.county_fips for r in place_rows}
    existing_places = {
        (p.county.fips, p.code): p
        for p in PollingPlace.objects.select_related("county")
        .defer("county__boundary")
        .filter(county__fips__in=place_counties)
    }
    places = _upsert(
        PollingPlace,
        existing_places,
        (
            (
                (r.county_fips, r.code),
                {"county": counties[r.county_fips], "code": r.code},
                {
                    "name": r.name,
                    "address": r.address,
                    "location": r.location,
                    "building": r.building,
                    "accessibility_notes": r.accessibility_notes,
                },
            )
            for r in place_rows
        ),
        "polling places",
        result,
        progress,
        len(place_rows),
    )
    _write_entrances(place_rows, places, result)
    _write_assignments(place_rows, places, counties, election, result)


def _write_entrances(place_rows: list[PollingPlaceRow], places: dict[Any, PollingPlace], result: ImportResult) -> None:
    place_ids = [places[(r.county_fips, r.code)].pk for r in place_rows]
    current: dict[int, dict[str, Entrance]] = {}
    for entrance in Entrance.objects.filter(polling_place_id__in=place_ids):
        current.setdefault(entrance.polling_place_id, {})[entrance.name] = entrance
    to_create, to_update, to_delete = [], [], []
    for row in place_rows:
        place = places[(row.county_fips, row.code)]
        have = current.get(place.pk, {})
        wanted = {e.name: e for e in row.entrances}
        to_delete.extend(e.pk for name, e in have.items() if name not in wanted)
        for name, e in wanted.items():
            location = shapely.Point(e.lon, e.lat)
            if name not in have:
                to_create.append(Entrance(polling_place=place, name=name, location=location, accessible=e.accessible))
            elif _apply(have[name], {"location": location, "accessible": e.accessible}):
                to_update.append(have[name])
            else:
                result.count("entrances", "unchanged")
    Entrance.objects.filter(pk__in=to_delete).delete()
    Entrance.objects.bulk_create(to_create, batch_size=BATCH)
    Entrance.objects.bulk_update(to_update, ["location", "accessible"], batch_size=BATCH)
    result.count("entrances", "created", len(to_create))
    result.count("entrances", "updated", len(to_update))
    if to_delete:
        result.count("entrances", "deleted", len(to_delete))


def _write_assignments(
    place_rows: list[PollingPlaceRow],
    places: dict[Any, PollingPlace],
    counties: dict[str, County],
    election: Election | None,
    result: ImportResult,
) -> None:
    states = {counties[r.county_fips].jurisdiction_id for r in place_rows}
    if election is not None and election.jurisdiction_id not in states:
        result.warnings.append(f"{election} is not an election of these polling places' state: no assignment recorded")
        return
    elections = _upcoming_elections(states, election)
    if not elections:
        result.warnings.append(
            "no upcoming election: precinct assignments were not recorded "
            "(create the election, then import again or pass --election)"
        )
        return
    wanted: dict[tuple[int, int], int] = {}
    precinct_ids = {
        (p.county_id, p.code): p.pk for p in Precinct.objects.filter(county_id__in={c.pk for c in counties.values()})
    }
    for row in place_rows:
        place = places[(row.county_fips, row.code)]
        target = elections.get(counties[row.county_fips].jurisdiction_id)
        if target is None:
            continue
        for code in row.precincts:
            wanted[(target.pk, precinct_ids[(place.county_id, code)])] = place.pk
    existing = {
        (a.election_id, a.precinct_id): a
        for a in PrecinctAssignment.objects.filter(
            election_id__in={e.pk for e in elections.values()}, precinct_id__in={k[1] for k in wanted}
        )
    }
    to_create, to_update = [], []
    for (election_id, precinct_id), place_id in wanted.items():
        assignment = existing.get((election_id, precinct_id))
        if assignment is None:
            to_create.append(
                PrecinctAssignment(election_id=election_id, precinct_id=precinct_id, polling_place_id=place_id)
            )
        elif assignment.polling_place_id != place_id:
            assignment.polling_place_id = place_id
            to_update.append(assignment)
    # A precinct no longer listed by the place that served it loses that assignment (the file is the truth for
    # the places it contains; places not in the file keep theirs).
    listed_places = {places[(r.county_fips, r.code)].pk for r in place_rows}
    stale = [
        pk
        for pk, election_id, precinct_id in PrecinctAssignment.objects.filter(
            election_id__in={e.pk for e in elections.values()}, polling_place_id__in=listed_places
        ).values_list("pk", "election_id", "precinct_id")
        if (election_id, precinct_id) not in wanted
    ]
    PrecinctAssignment.objects.filter(pk__in=stale).delete()
    PrecinctAssignment.objects.bulk_create(to_create, batch_size=BATCH)
    PrecinctAssignment.objects.bulk_update(to_update, ["polling_place"], batch_size=BATCH)
    result.count("precinct assignments", "created", len(to_create))
    result.count("precinct assignments", "updated", len(to_update))
    result.count("precinct assignments", "unchanged", len(wanted) - len(to_create) - len(to_update))
    result.count("precinct assignments", "deleted", len(stale))
    result.assignments = len(wanted)
    result.elections = sorted(str(e) for e in elections.values())


# --- Entry point ------------------------------------------------------------------------------------------------


def import_geography(
    *,
    counties: Path | None = None,
    precincts: Path | None = None,
    polling_places: Path | None = None,
    election: Election | None = None,
    repair: bool = False,
    progress: Progress = _no_progress,
) -> ImportResult:
    """Validate every file, then upsert everything in one transaction, or raise GeographyImportError."""
    errors = _Collector()
    county_rows: list[CountyRow] = []
    precinct_rows: list[PrecinctRow] = []
    place_rows: list[PollingPlaceRow] = []
    try:
        if counties is not None:
            features = _read_features(counties, counties.name, errors)
            if features is not None:
                county_rows = _parse_counties(features, counties.name, errors, progress, repair)
        boxes = _county_boxes(county_rows)
        if precincts is not None:
            features = _read_features(precincts, precincts.name, errors)
            if features is not None:
                precinct_rows = _parse_precincts(features, precincts.name, errors, progress, boxes, repair)
        if polling_places is not None:
            features = _read_features(polling_places, polling_places.name, errors)
            if features is not None:
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
                place_rows = _parse_polling_places(features, polling_places.name, errors, progress, boxes, keys, repair)
    except _TooManyErrors:
        pass
    if errors.issues:
        raise GeographyImportError(errors.issues)

    result = ImportResult()
    try:
        with transaction.atomic():
            _write(county_rows, precinct_rows, place_rows, election, result, progress)
            if result.changed:
                geography_version_bump()
    except ValidationError as exc:
        raise GeographyImportError([ImportIssue("(database)", None, "validation", "; ".join(exc.messages))]) from None
    except IntegrityError as exc:
        # Another writer changed the same rows during the run; nothing of this run was kept.
        raise GeographyImportError([ImportIssue("(database)", None, "integrity", str(exc).splitlines()[0])]) from None
    except KeyError as exc:
        # A county or precinct checked above was deleted by someone else before the write: nothing was kept.
        raise GeographyImportError(
            [ImportIssue("(database)", None, "concurrent_change", f"{exc} changed during the import; run it again")]
        ) from None
    except OperationalError as exc:
        # e.g. SQLite's "database is locked" after waiting for another writer: nothing was kept.
        raise GeographyImportError([ImportIssue("(database)", None, "busy", str(exc).splitlines()[0])]) from None
    return result


def next_general_election_day(today: dt.date) -> dt.date:
    """The Tuesday after the first Monday in November, this year or next, on or after ``today``."""
    for year in (today.year, today.year + 1):
        first = dt.date(year, 11, 1)
        monday = first + dt.timedelta(days=(0 - first.weekday()) % 7)
        day = monday + dt.timedelta(days=1)
        if day >= today:
            return day
    raise AssertionError("unreachable")

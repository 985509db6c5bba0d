"""Writing validated import rows: upserts keyed by code (counties by FIPS; precincts and polling places by code
within their county), then each place's entrances and the precinct assignments of the upcoming election, in one
transaction with the geography version bump. Running the same rows again changes nothing."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import shapely
from django.core.exceptions import ValidationError
from django.db import IntegrityError, OperationalError, transaction
from django.utils import timezone
from shapely.geometry.base import BaseGeometry

from polling.geography.importer.rows import (
    CountyRow,
    GeographyImportError,
    ImportIssue,
    ImportResult,
    PollingPlaceRow,
    PrecinctRow,
    Progress,
    no_progress,
)
from polling.geography.selectors import state_zone, upcoming_election_of_state
from polling.geography.services import geography_version_bump
from polling.models import County, Election, Entrance, Jurisdiction, PollingPlace, Precinct, PrecinctAssignment

BATCH = 500

_BOUND_FIELDS = ("bbox_west", "bbox_south", "bbox_east", "bbox_north")
_FOREIGN_KEYS = ["county", "jurisdiction"]

#: (key, identity fields, other fields) of one row to create or update.
_Upsert = tuple[Any, dict[str, Any], dict[str, Any]]


def geography_upsert(
    *,
    counties: list[CountyRow],
    precincts: list[PrecinctRow],
    polling_places: list[PollingPlaceRow],
    election: Election | None = None,
    progress: Progress = no_progress,
) -> ImportResult:
    """Write validated rows in one transaction (raising the geography version if anything changed), or raise
    GeographyImportError having written nothing. ``election`` receives the precinct assignments the polling places
    list (default: the upcoming election of each state)."""
    result = ImportResult()
    try:
        with transaction.atomic():
            _write(counties, precincts, polling_places, election, result, progress)
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
    rows: Iterable[_Upsert],
    kind: str,
    result: ImportResult,
    progress: Progress,
    total: int,
) -> dict[Any, Any]:
    """Create or update ``model`` rows; ``rows`` yields (key, identity fields, other fields)."""
    to_create: list[Any] = []
    to_update: list[Any] = []
    update_fields: set[str] = set()
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
    """The election of each state that receives the assignments: ``election`` if given, else the state's upcoming
    one by its own calendar (on election day in Hawaii it is still that day after UTC midnight)."""
    if election is not None:
        return {election.jurisdiction_id: election}
    chosen: dict[int, Election] = {}
    for jurisdiction in Jurisdiction.objects.filter(pk__in=jurisdiction_ids):
        today = timezone.localdate(timezone=state_zone(jurisdiction))
        upcoming = upcoming_election_of_state(jurisdiction.pk, today)
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
    counties: dict[str, County] = {
        c.fips: c for c in County.objects.select_for_update().filter(fips__in={r.fips for r in county_rows})
    }
    counties = _upsert(
        County,
        counties,
        (
            (r.fips, {"fips": r.fips}, {"name": r.name, "jurisdiction": jurisdictions[r.state], "boundary": r.boundary})
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


def _write_entrances(
    place_rows: list[PollingPlaceRow], places: dict[tuple[str, str], PollingPlace], result: ImportResult
) -> None:
    place_ids = [places[(r.county_fips, r.code)].pk for r in place_rows]
    current: dict[int, dict[str, Entrance]] = {}
    for entrance in Entrance.objects.filter(polling_place_id__in=place_ids):
        current.setdefault(entrance.polling_place_id, {})[entrance.name] = entrance
    to_create: list[Entrance] = []
    to_update: list[Entrance] = []
    to_delete: list[int] = []
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
    places: dict[tuple[str, str], PollingPlace],
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
    to_create: list[PrecinctAssignment] = []
    to_update: list[PrecinctAssignment] = []
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

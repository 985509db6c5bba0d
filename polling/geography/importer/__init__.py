"""Import counties, precincts and polling places from GeoJSON (the import contract in docs/import.md).

Two phases, so a run is all-or-nothing: every feature of every file is parsed and validated first (``parse``),
collecting every problem with the file, feature index and field it concerns (``rows``); only a clean run writes,
inside one transaction (``write``). Writes are upserts keyed by code (counties by FIPS; precincts and polling
places by code within their county), so running the same files again changes nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from polling.geography.importer import parse, rows, vector
from polling.geography.importer.rows import GeographyImportError, ImportIssue, ImportResult, Progress
from polling.geography.importer.vector import VectorOptions
from polling.geography.importer.write import geography_upsert
from polling.models import Election

__all__ = ["GeographyImportError", "ImportIssue", "ImportResult", "Progress", "VectorOptions", "import_geography"]


#: Our property names per file kind, looked up in a vector file's fields (``VectorOptions.mapping``, else by name).
_PROPERTIES = {
    "counties": ("fips", "name", "state"),
    "precincts": ("county_fips", "code", "name"),
    "polling_places": ("county_fips", "code", "name", "address", "precincts", "accessibility_notes"),
}


def _read(path: Path, kind: str, errors: rows.Collector, options: VectorOptions, notes: list[str]) -> list[Any] | None:
    """The features of a GeoJSON file, or of a Shapefile / zipped Shapefile / GeoPackage reprojected to WGS84."""
    if vector.is_vector(path):
        return vector.read_vector(path, path.name, errors, options, _PROPERTIES[kind], notes)
    return parse.read_features(path, path.name, errors)


def _name_their_fields(issues: list[ImportIssue], labels: set[str], mapping: dict[str, str]) -> list[ImportIssue]:
    """In a vector file's problems, a mapped field is named both ways: ``code (PRECINCT_ID)``."""
    out = []
    for issue in issues:
        head = issue.field.split(".")[0]
        if issue.file in labels and head in mapping:
            issue = ImportIssue(issue.file, issue.index, f"{issue.field} ({mapping[head]})", issue.message)
        out.append(issue)
    return out


def import_geography(
    *,
    counties: Path | None = None,
    precincts: Path | None = None,
    polling_places: Path | None = None,
    election: Election | None = None,
    repair: bool = False,
    progress: Progress = rows.no_progress,
    vector_options: VectorOptions | None = None,
) -> ImportResult:
    """Validate every file, then upsert everything in one transaction, or raise GeographyImportError.

    A path ending ``.shp``, ``.zip`` or ``.gpkg`` is read as a vector file with ``vector_options`` (layer, field
    mapping, CRS of a file without one) and reprojected to WGS84 before the same checks as GeoJSON.
    """
    options = vector_options or VectorOptions()
    errors = rows.Collector()
    notes: list[str] = []
    county_rows: list[rows.CountyRow] = []
    precinct_rows: list[rows.PrecinctRow] = []
    place_rows: list[rows.PollingPlaceRow] = []
    try:
        if counties is not None:
            features = _read(counties, "counties", errors, options, notes)
            if features is not None:
                county_rows = parse.parse_counties(features, counties.name, errors, progress, repair)
        boxes = parse.county_boxes(county_rows)
        if precincts is not None:
            features = _read(precincts, "precincts", errors, options, notes)
            if features is not None:
                precinct_rows = parse.parse_precincts(features, precincts.name, errors, progress, boxes, repair)
        if polling_places is not None:
            features = _read(polling_places, "polling_places", errors, options, notes)
            if features is not None:
                keys = parse.precinct_keys(precinct_rows, features)
                place_rows = parse.parse_polling_places(
                    features, polling_places.name, errors, progress, boxes, keys, repair
                )
    except rows.TooManyErrors:
        pass
    if errors.issues:
        labels = {p.name for p in (counties, precincts, polling_places) if p is not None and vector.is_vector(p)}
        raise GeographyImportError(_name_their_fields(errors.issues, labels, dict(options.mapping)))
    result = geography_upsert(
        counties=county_rows, precincts=precinct_rows, polling_places=place_rows, election=election, progress=progress
    )
    result.notes = notes
    result.warnings[:0] = errors.warnings
    return result

"""Import counties, precincts and polling places from GeoJSON (the import contract in docs/import.md).

Two phases, so a run is all-or-nothing: every feature of every file is parsed and validated first (``parse``),
collecting every problem with the file, feature index and field it concerns (``rows``); only a clean run writes,
inside one transaction (``write``). Writes are upserts keyed by code (counties by FIPS; precincts and polling
places by code within their county), so running the same files again changes nothing.
"""

from __future__ import annotations

from pathlib import Path

from polling.geography.importer import parse, rows
from polling.geography.importer.rows import GeographyImportError, ImportIssue, ImportResult, Progress
from polling.geography.importer.write import geography_upsert
from polling.models import Election

__all__ = ["GeographyImportError", "ImportIssue", "ImportResult", "Progress", "import_geography"]


def import_geography(
    *,
    counties: Path | None = None,
    precincts: Path | None = None,
    polling_places: Path | None = None,
    election: Election | None = None,
    repair: bool = False,
    progress: Progress = rows.no_progress,
) -> ImportResult:
    """Validate every file, then upsert everything in one transaction, or raise GeographyImportError."""
    errors = rows.Collector()
    county_rows: list[rows.CountyRow] = []
    precinct_rows: list[rows.PrecinctRow] = []
    place_rows: list[rows.PollingPlaceRow] = []
    try:
        if counties is not None:
            features = parse.read_features(counties, counties.name, errors)
            if features is not None:
                county_rows = parse.parse_counties(features, counties.name, errors, progress, repair)
        boxes = parse.county_boxes(county_rows)
        if precincts is not None:
            features = parse.read_features(precincts, precincts.name, errors)
            if features is not None:
                precinct_rows = parse.parse_precincts(features, precincts.name, errors, progress, boxes, repair)
        if polling_places is not None:
            features = parse.read_features(polling_places, polling_places.name, errors)
            if features is not None:
                keys = parse.precinct_keys(precinct_rows, features)
                place_rows = parse.parse_polling_places(
                    features, polling_places.name, errors, progress, boxes, keys, repair
                )
    except rows.TooManyErrors:
        pass
    if errors.issues:
        raise GeographyImportError(errors.issues)
    return geography_upsert(
        counties=county_rows, precincts=precinct_rows, polling_places=place_rows, election=election, progress=progress
    )

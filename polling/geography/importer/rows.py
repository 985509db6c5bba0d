"""What the importer passes between its phases: the problems found (with file, feature index and field), the
validated rows, and the counts of a run."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from shapely.geometry.base import BaseGeometry

MAX_ERRORS = 200

#: ``progress(items, description, total)`` wraps an iterable, e.g. in a progress bar.
Progress = Callable[[Iterable[Any], str, int], Iterable[Any]]

#: (west, south, east, north) in degrees.
Box = tuple[float, float, float, float]


def no_progress(items: Iterable[Any], desc: str, total: int) -> Iterable[Any]:
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


class TooManyErrors(Exception):
    """Raised by ``Collector.add`` once MAX_ERRORS problems are known: checking further would only bury them."""


@dataclass
class Collector:
    issues: list[ImportIssue] = field(default_factory=list)
    #: What was accepted but changed or should be known (a repaired shape, the transformation used), per feature.
    warnings: list[str] = field(default_factory=list)

    def add(self, file: str, index: int | None, field_name: str, message: str) -> None:
        self.issues.append(ImportIssue(file, index, field_name, message))
        if len(self.issues) >= MAX_ERRORS:
            raise TooManyErrors


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
    #: How the files were read (e.g. the transformation from a shapefile's projection to WGS84).
    notes: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return any(sum(bucket.values()) for bucket in (self.created, self.updated, self.deleted))

    def count(self, kind: str, outcome: str, n: int = 1) -> None:
        bucket: dict[str, int] = getattr(self, outcome)
        bucket[kind] = bucket.get(kind, 0) + n

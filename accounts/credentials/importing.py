"""Issuing credentials from a CSV file (the export's columns), all or nothing: every row is checked before anything
is written, and a refused file names every problem by row (as a spreadsheet numbers them) and column."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import uuid
import zoneinfo
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from accounts.audit import Actor, audit_record
from accounts.credentials.issuing import IssueRequest, credential_prepare, credentials_save_bulk
from accounts.models import Credential
from accounts.models.validators import UNPRINTABLE
from accounts.scopes import Scope
from common.errors import DomainError
from polling.geography.selectors import local_zone
from polling.models import County, Election, PollingPlace

CSV_COLUMNS = [
    "serial",
    "kind",
    "holder_name",
    "appointed_by_kind",
    "appointed_by_name",
    "election",
    "county",
    "polling_places",
    "valid_from",
    "valid_until",
    "status",
    "issued_at",
    "revoked_at",
    "revocation_reason",
]
IMPORT_REQUIRED = {"kind", "holder_name", "election", "county"}
IMPORT_OPTIONAL = {"appointed_by_kind", "appointed_by_name", "polling_places", "valid_from", "valid_until"}
#: Written by the export, ignored by the import (which always issues new credentials with new serials).
IMPORT_IGNORED = {"serial", "status", "issued_at", "revoked_at", "revocation_reason"}
MAX_REPORTED_ERRORS = 100


@dataclass(frozen=True)
class RowError:
    row: int  # as a spreadsheet numbers it: the header is row 1
    column: str  # "" for the whole row or file
    detail: str
    code: str


class ImportRejected(DomainError):
    """The file was refused and nothing was stored: every problem, by row and column (``errors`` keyed
    ``"row N: column"``, and ``rows`` as a list)."""

    def __init__(self, errors: list[RowError], *, code: str = "invalid_csv") -> None:
        self.errors = errors
        by_place: dict[str, list[dict[str, str]]] = {}
        for e in errors:
            key = (f"row {e.row}" if e.row else "file") + (f": {e.column}" if e.column else "")
            by_place.setdefault(key, []).append({"detail": e.detail, "code": e.code})
        rows = [{"row": e.row or None, "column": e.column or None, "detail": e.detail, "code": e.code} for e in errors]
        n = len({e.row for e in errors})
        first = errors[0].detail if errors else "Invalid CSV."
        detail = first if n == 1 else f"{n} rows have errors, the first: {first}"
        super().__init__(f"{detail} Nothing was imported.", code, extra={"errors": by_place, "rows": rows})


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        row = data[: exc.start].count(b"\n") + 1
        raise ImportRejected(
            [
                RowError(
                    row, "", f"Row {row} is not UTF-8 text (byte {exc.start}); save the file as UTF-8 CSV.", "not_utf8"
                )
            ],
            code="not_utf8",
        ) from None


def _parse_local(text: str, zone: zoneinfo.ZoneInfo) -> dt.datetime | None:
    try:
        value = parse_datetime(text)
    except ValueError:
        return None
    if value is None:
        return None
    return value.replace(tzinfo=zone) if timezone.is_naive(value) else value


def import_size_check(*, size: int | None, allowance: int = 0) -> None:
    """Refuse (``file_too_large``) a file over ``CREDENTIAL_IMPORT_MAX_BYTES`` before it is read: ``size`` as
    declared, ``allowance`` for what wraps it (a multipart envelope)."""
    limit = settings.CREDENTIAL_IMPORT_MAX_BYTES
    if size is not None and size > limit + allowance:
        raise DomainError(f"The file is larger than {limit} bytes.", "file_too_large")


def _table(data: bytes) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """The header (trimmed, lower case) and the non-blank rows numbered as a spreadsheet shows them (the header is
    row 1; blank rows are skipped but still counted); refuses a file that is too large, not UTF-8, not CSV, or
    whose header or size is wrong."""
    if len(data) > settings.CREDENTIAL_IMPORT_MAX_BYTES:
        raise ImportRejected(
            [RowError(0, "", f"The file is larger than {settings.CREDENTIAL_IMPORT_MAX_BYTES} bytes.", "too_large")],
            code="file_too_large",
        )
    text = _decode(data)
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        rows = list(reader)
    except csv.Error as exc:
        raise ImportRejected([RowError(reader.line_num, "", f"Not valid CSV: {exc}.", "bad_csv")]) from None
    if not rows or not any(cell.strip() for cell in rows[0]):
        raise ImportRejected([RowError(1, "", "The first row must be the header row.", "empty")], code="empty")
    header = [h.strip().lower() for h in rows[0]]
    problems: list[RowError] = []
    known = IMPORT_REQUIRED | IMPORT_OPTIONAL | IMPORT_IGNORED
    for name in sorted(IMPORT_REQUIRED - set(header)):
        problems.append(RowError(1, name, f"The column '{name}' is missing.", "missing_column"))
    for name in header:
        if name not in known:
            problems.append(RowError(1, name, f"Unknown column '{name[:40]}'.", "unknown_column"))
    if len(set(header)) != len(header):
        problems.append(RowError(1, "", "A column is named twice.", "duplicate_column"))
    body = [(number, raw) for number, raw in enumerate(rows[1:], start=2) if any(cell.strip() for cell in raw)]
    if not body and not problems:
        problems.append(RowError(2, "", "There are no rows to import.", "empty"))
    if len(body) > settings.CREDENTIAL_IMPORT_MAX_ROWS:
        problems.append(
            RowError(0, "", f"At most {settings.CREDENTIAL_IMPORT_MAX_ROWS} rows per file.", "too_many_rows")
        )
    if problems:
        raise ImportRejected(problems)
    return header, body


def _election_id(raw: str) -> int | None:
    return int(raw) if raw.isdigit() and len(raw) < 19 else None


@dataclass(frozen=True)
class _Known:
    """What the rows may name, read once for the whole file: the caller's counties (by FIPS), the elections the
    rows name (by id), and the polling places of those counties (by county, then code case-folded)."""

    counties: dict[str, County]
    elections: dict[int, Election]
    places: dict[int, dict[str, PollingPlace]]

    @classmethod
    def read(cls, scope: Scope, header: list[str], body: list[tuple[int, list[str]]]) -> _Known:
        counties = {c.fips: c for c in scope.counties_qs().select_related("jurisdiction").defer("boundary")}
        election_ids = set()
        for _number, raw in body:
            election_id = _election_id(dict(zip(header, raw, strict=False)).get("election", "").strip())
            if election_id is not None:
                election_ids.add(election_id)
        elections = {e.pk: e for e in Election.objects.filter(pk__in=election_ids)}
        places: dict[int, dict[str, PollingPlace]] = {}
        for place in PollingPlace.objects.filter(county__in=counties.values()).only("id", "code", "county_id"):
            places.setdefault(place.county_id, {})[place.code.casefold()] = place
        return cls(counties, elections, places)


def _row_request(line: int, cells: dict[str, str], known: _Known) -> tuple[IssueRequest | None, list[RowError]]:
    """One row as a credential to issue, or what is wrong with it (by column)."""
    errors: list[RowError] = []

    def bad(column: str, detail: str, code: str) -> None:
        errors.append(RowError(line, column, detail, code))

    kind = cells.get("kind", "").lower().replace(" ", "_")
    if kind not in Credential.Kind.values:
        bad(
            "kind",
            f"Unknown kind '{cells.get('kind', '')[:40]}'; use {', '.join(Credential.Kind.values)}.",
            "invalid_kind",
        )
    county = known.counties.get(cells.get("county", ""))
    if county is None:
        bad(
            "county",
            f"No county '{cells.get('county', '')[:10]}' in your scope (give the 5-digit FIPS).",
            "unknown_county",
        )
    election_raw = cells.get("election", "")
    election_id = _election_id(election_raw)
    election = known.elections.get(election_id) if election_id is not None else None
    if election is None:
        bad("election", f"No election with id '{election_raw[:20]}'.", "unknown_election")
    places: list[PollingPlace] = []
    codes = [c.strip() for c in cells.get("polling_places", "").split(";") if c.strip()]
    if county is not None:
        lookup = known.places.get(county.pk, {})
        missing = [c for c in codes if c.casefold() not in lookup]
        if missing:
            shown = ", ".join(m[:32] for m in missing[:5])
            bad("polling_places", f"Not polling places of county {county.fips}: {shown}.", "unknown_polling_place")
        places = [lookup[c.casefold()] for c in codes if c.casefold() in lookup]
    zone = local_zone(county) if county is not None else zoneinfo.ZoneInfo("UTC")
    times: dict[str, dt.datetime | None] = {}
    for column in ("valid_from", "valid_until"):
        value = cells.get(column, "")
        times[column] = None
        if value:
            parsed = _parse_local(value, zone)
            if parsed is None:
                bad(column, f"'{value[:40]}' is not a date and time such as 2026-11-03 06:00.", "invalid_datetime")
            times[column] = parsed
    if bool(times["valid_from"]) != bool(times["valid_until"]) and not errors:
        missing_col = "valid_from" if times["valid_from"] is None else "valid_until"
        bad(missing_col, "Give both valid_from and valid_until, or neither (election day).", "required")
    if errors or election is None:
        return None, errors
    request = IssueRequest(
        kind=kind,
        holder_name=cells.get("holder_name", ""),
        election=election,
        county=county,
        polling_places=places,
        appointed_by_kind=cells.get("appointed_by_kind", "").lower(),
        appointed_by_name=cells.get("appointed_by_name", ""),
        valid_from=times["valid_from"],
        valid_until=times["valid_until"],
    )
    return request, errors


def credentials_import(*, actor: Actor, scope: Scope, data: bytes, filename: str = "") -> list[Credential]:
    """Issue one credential per CSV row, all or nothing.

    Every row is checked before anything is written; any error refuses the whole file with every problem named
    by row (the header is row 1) and column. Columns as ``credentials_export`` writes them; ``serial`` and other
    export-only columns are ignored. Times without an offset are local to the county. Writes one ``credential.issue``
    event per credential (tagged with the import id) and one ``credential.import`` event summarising the file.
    """
    header, body = _table(data)
    known = _Known.read(scope, header, body)
    now = timezone.now()
    import_id = str(uuid.uuid4())
    problems: list[RowError] = []
    prepared: list[tuple[Credential, list[PollingPlace]]] = []
    seen: dict[tuple[Any, ...], int] = {}
    for line, raw in body:
        if len(raw) != len(header):
            problems.append(
                RowError(line, "", f"Row {line} has {len(raw)} cells; the header has {len(header)}.", "bad_row")
            )
            continue
        request, row_errors = _row_request(line, {n: cell.strip() for n, cell in zip(header, raw, strict=True)}, known)
        if request is not None:
            try:
                credential, clean_places = credential_prepare(request, now=now, bulk=True)
            except ValidationError as exc:
                for column, errors in exc.error_dict.items():
                    for error in errors:
                        at = "" if column in ("non_field_errors", "__all__") else column
                        code = UNPRINTABLE if error.code == UNPRINTABLE else "invalid"
                        row_errors.extend(RowError(line, at, message, code) for message in error.messages)
            else:
                identity = (
                    credential.kind,
                    credential.holder_name.casefold(),
                    credential.election_id,
                    credential.county_id,
                    tuple(p.pk for p in clean_places),
                )
                if identity in seen:
                    row_errors.append(RowError(line, "", f"Row {line} repeats row {seen[identity]}.", "duplicate_row"))
                else:
                    seen[identity] = line
                    prepared.append((credential, clean_places))
        problems.extend(row_errors)
        if len(problems) >= MAX_REPORTED_ERRORS:
            break
    if problems:
        raise ImportRejected(problems[:MAX_REPORTED_ERRORS])

    digest = hashlib.sha256(data).hexdigest()
    with transaction.atomic():
        credentials_save_bulk(prepared, actor=actor, import_id=import_id)
        audit_record(
            actor=actor,
            action="credential.import",
            object_type="accounts.credentialimport",
            object_id=import_id,
            after={
                "filename": filename[:200],
                "sha256": digest,
                "rows": len(prepared),
                "serials": [c.serial for c, _ in prepared],
            },
        )
    return [c for c, _ in prepared]

"""Every state change of credentials and signing keys, each in one transaction with its audit event; and the
server's side of token verification (the same rules a tablet applies offline, plus revocation from the database).

Callers authorize first (views use ``accounts.credentials.selectors`` scoped to the caller); services validate and
write. Validation problems raise ``django.core.exceptions.ValidationError`` keyed by field.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import re
import uuid
import zoneinfo
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from accounts.audit import Actor, audit_record
from accounts.credentials import signing
from accounts.models import Credential, SigningKey
from accounts.scopes import Scope
from polling.geography.selectors import election_day_bounds, local_zone, upcoming_election
from polling.models import County, Election, PollingPlace

KIND_CODES = {
    Credential.Kind.POLL_WATCHER: signing.Kind.POLL_WATCHER,
    Credential.Kind.FEDERAL_OBSERVER: signing.Kind.FEDERAL_OBSERVER,
    Credential.Kind.STATE_OBSERVER: signing.Kind.STATE_OBSERVER,
}
KIND_NAMES = {code: Credential.Kind(name) for name, code in KIND_CODES.items()}

# A name starts with a letter or digit (so no spreadsheet formula can hide in an export) and holds no control
# characters (so it prints and exports as typed).
_NAME = re.compile(r"^[^\W_][^\x00-\x1f\x7f]*$")


# --- signing keys ---------------------------------------------------------------------------------------------------


def _key_box() -> Any:
    return signing.key_encryption(settings.CREDENTIAL_KEY_ENCRYPTION_KEYS)


def _key_snapshot(key: SigningKey) -> dict[str, Any]:
    return {
        "key_id": key.key_id,
        "public_key": key.public_key,
        "state": key.state,
        "retired_at": key.retired_at.isoformat() if key.retired_at else None,
    }


@transaction.atomic
def signing_key_rotate(*, actor: Actor) -> SigningKey:
    """Make a new active key; the previous one stops signing and keeps verifying until retired."""
    previous = SigningKey.objects.select_for_update().filter(active=True).first()
    before = _key_snapshot(previous) if previous else None
    if previous is not None:
        previous.active = False
        previous.save(update_fields=["active"])
    next_id = (SigningKey.objects.aggregate(m=Max("key_id"))["m"] or 0) + 1
    if next_id > signing.MAX_KEY_ID:
        raise ValidationError({"key_id": "All 65535 key ids are used."})
    private = signing.generate_private_key()
    key = SigningKey(
        key_id=next_id,
        public_key=signing.b64(signing.public_key_bytes(private)),
        private_key_encrypted=signing.encrypt_private_key(private, _key_box()),
        active=True,
    )
    key.full_clean()
    key.save()
    audit_record(
        actor=actor,
        action="signing_key.rotate",
        obj=key,
        before={"previous": before},
        after={"active": _key_snapshot(key), "previous_key_id": previous.key_id if previous else None},
    )
    return key


@transaction.atomic
def signing_key_retire(*, actor: Actor, key_id: int) -> SigningKey:
    """Stop accepting a key's signatures: every token it signed becomes ``unknown_key``. Not the active key."""
    key = SigningKey.objects.select_for_update().filter(key_id=key_id).first()
    if key is None:
        raise ValidationError({"key_id": f"There is no signing key {key_id}."})
    if key.active:
        raise ValidationError({"key_id": "The active key cannot be retired; rotate first."})
    if key.retired_at is not None:
        raise ValidationError({"key_id": f"Key {key_id} is already retired."})
    before = _key_snapshot(key)
    key.retired_at = timezone.now()
    key.save(update_fields=["retired_at"])
    audit_record(actor=actor, action="signing_key.retire", obj=key, before=before, after=_key_snapshot(key))
    return key


@transaction.atomic
def signing_keys_reencrypt(*, actor: Actor) -> int:
    """Re-encrypt every private key under the first configured secret (after a key-encryption secret change)."""
    box = _key_box()
    count = 0
    for key in SigningKey.objects.select_for_update().filter(retired_at__isnull=True):
        key.private_key_encrypted = box.rotate(key.private_key_encrypted.encode("ascii")).decode("ascii")
        key.save(update_fields=["private_key_encrypted"])
        count += 1
    audit_record(
        actor=actor,
        action="signing_key.reencrypt",
        object_type="accounts.signingkey",
        object_id="*",
        after={"n": count},
    )
    return count


def active_signing_key() -> SigningKey:
    """The key that signs; made on first use (audited as a system action) so a fresh install just works."""
    key = SigningKey.objects.filter(active=True).first()
    if key is not None:
        return key
    try:
        return signing_key_rotate(actor=Actor.system())
    except IntegrityError:  # another process made it first
        return SigningKey.objects.get(active=True)


def verifying_keys() -> dict[int, bytes]:
    return {k.key_id: signing.unb64(k.public_key) for k in SigningKey.objects.verifying().only("key_id", "public_key")}


# --- tokens -------------------------------------------------------------------------------------------------------


def credential_payload(credential: Credential, *, key_id: int) -> bytes:
    return signing.encode_payload(
        key_id=key_id,
        serial=credential.serial,
        kind=KIND_CODES[Credential.Kind(credential.kind)],
        election_id=credential.election_id,
        valid_from=credential.valid_from,
        valid_until=credential.valid_until,
        county_fips=credential.county.fips,
        place_ids=[p.pk for p in credential.polling_places.all()],
    )


class SigningKeyUnavailable(Exception):
    """The active key cannot be decrypted: SECRET_KEY or CREDENTIAL_KEY_ENCRYPTION_KEY changed without
    ``rotate_signing_key --reencrypt``. Nothing can be signed until an operator fixes it (or rotates)."""


def credential_token(credential: Credential) -> str:
    """The token to print, signed with the active key. Ed25519 is deterministic: the same credential and key give
    the same token, so a reprint matches the first print until the key is rotated."""
    key = active_signing_key()
    try:
        private = signing.decrypt_private_key(key.private_key_encrypted, _key_box())
    except ValueError as exc:
        raise SigningKeyUnavailable(str(exc)) from None
    return signing.sign_payload(credential_payload(credential, key_id=key.key_id), private)


def credential_scope_hash(credential: Credential) -> bytes | None:
    """The hash a token carries instead of its places when it lists more than ``MAX_LISTED_PLACES``."""
    ids = [p.pk for p in credential.polling_places.all()]
    if len(ids) <= signing.MAX_LISTED_PLACES:
        return None
    return signing.scope_hash(credential.county.fips, ids)


# --- issue and revoke -------------------------------------------------------------------------------------------------


def snapshot(credential: Credential, place_ids: Sequence[int] | None = None) -> dict[str, Any]:
    """What the audit trail records of a credential."""
    if place_ids is None:
        place_ids = [p.pk for p in credential.polling_places.all()] if credential.pk else []
    return {
        "serial": credential.serial,
        "kind": credential.kind,
        "holder_name": credential.holder_name,
        "appointed_by_kind": credential.appointed_by_kind,
        "appointed_by_name": credential.appointed_by_name,
        "election_id": credential.election_id,
        "county_fips": credential.county.fips,
        "polling_place_ids": sorted(place_ids),
        "valid_from": credential.valid_from.isoformat(),
        "valid_until": credential.valid_until.isoformat(),
        "status": credential.status,
        "revoked_at": credential.revoked_at.isoformat() if credential.revoked_at else None,
        "revocation_reason": credential.revocation_reason,
    }


def _clean_name(value: str) -> str:
    return " ".join(value.split())


@dataclass
class IssueRequest:
    """One credential to issue, as validated input (from JSON or a CSV row)."""

    kind: str
    holder_name: str
    election: Election
    county: County | None = None
    polling_places: Sequence[PollingPlace] = ()
    appointed_by_kind: str = ""
    appointed_by_name: str = ""
    valid_from: dt.datetime | None = None
    valid_until: dt.datetime | None = None
    extra_audit: dict[str, Any] = field(default_factory=dict)


def _prepare(req: IssueRequest, *, now: dt.datetime, bulk: bool = False) -> tuple[Credential, list[PollingPlace]]:
    """Validate a request into an unsaved credential and its places; raises ``ValidationError`` keyed by field.

    ``bulk``: the election and county were just read from the database and every constraint is checked above, so
    ``full_clean`` skips its per-row queries (six round trips a row, which made a 1,000-row import take 20 s).
    """
    errors: dict[str, list[str]] = {}

    def err(name: str, message: str) -> None:
        errors.setdefault(name, []).append(message)

    places = list({p.pk: p for p in req.polling_places}.values())
    county = req.county
    if county is None:
        counties = {p.county_id for p in places}
        if not places:
            err("county", "Give the county, or the polling places the credential is for.")
        elif len(counties) > 1:
            err("polling_places", "The polling places must all be in one county.")
        else:
            county = places[0].county
    elif any(p.county_id != county.pk for p in places):
        wrong = ", ".join(sorted(p.code for p in places if p.county_id != county.pk))
        err("polling_places", f"Not in {county.name} County: {wrong}.")
    if any(p.pk > signing.MAX_ID for p in places) or req.election.pk > signing.MAX_ID:
        err("non_field_errors", "An id is too large to sign.")

    holder = _clean_name(req.holder_name)
    appointer = _clean_name(req.appointed_by_name)
    if not holder:
        err("holder_name", "The holder's name is required.")
    elif not _NAME.match(holder):
        err("holder_name", "A name starts with a letter or digit and has no control characters.")
    if req.kind == Credential.Kind.POLL_WATCHER:
        if req.appointed_by_kind not in Credential.AppointedBy.values:
            err("appointed_by_kind", "A poll watcher is appointed by a party or a candidate: say which.")
        if not appointer:
            err("appointed_by_name", "Name the party or candidate who appointed the poll watcher.")
        elif not _NAME.match(appointer):
            err("appointed_by_name", "A name starts with a letter or digit and has no control characters.")
    elif req.kind in Credential.Kind.values:
        if req.appointed_by_kind or appointer:
            err("appointed_by_kind", "Observers are not appointed by a party or candidate: leave this empty.")
    else:
        err("kind", f"Unknown kind; use one of {', '.join(Credential.Kind.values)}.")

    valid_from, valid_until = req.valid_from, req.valid_until
    if county is not None and (valid_from is None or valid_until is None):
        day_start, day_end = election_day_bounds(req.election, county)
        valid_from = valid_from or day_start
        valid_until = valid_until or day_end
    for name, value in (("valid_from", valid_from), ("valid_until", valid_until)):
        if value is not None and timezone.is_naive(value):
            err(name, "Give a time zone (a UTC offset such as -05:00 or Z).")
    if errors or county is None or valid_from is None or valid_until is None:
        raise ValidationError(errors or {"county": "Give the county."})

    valid_from, valid_until = signing.truncate_to_minute(valid_from), signing.truncate_to_minute(valid_until)
    if valid_until <= valid_from:
        err("valid_until", "The credential must end after it starts (to the minute).")
    elif valid_until <= now:
        err("valid_until", "This credential would already have expired.")
    if county.jurisdiction_id != req.election.jurisdiction_id:
        err("election", "The election is not in the county's state.")
    if errors:
        raise ValidationError(errors)

    credential = Credential(
        serial=signing.new_serial(),
        kind=req.kind,
        holder_name=holder,
        appointed_by_kind=req.appointed_by_kind if req.kind == Credential.Kind.POLL_WATCHER else "",
        appointed_by_name=appointer if req.kind == Credential.Kind.POLL_WATCHER else "",
        election=req.election,
        county=county,
        valid_from=valid_from,
        valid_until=valid_until,
        issued_at=now,
    )
    if bulk:
        credential.full_clean(exclude=["serial", "election", "county"], validate_constraints=False)
    else:
        credential.full_clean(exclude=["serial"])
    return credential, sorted(places, key=lambda p: p.pk)


def _save_new(credential: Credential, places: list[PollingPlace], *, actor: Actor, extra: dict[str, Any]) -> None:
    credential.issued_by = actor.user
    for _attempt in range(5):
        try:
            with transaction.atomic():  # a savepoint: a serial collision (2^-50) retries without losing the rest
                credential.save(force_insert=True)
            break
        except IntegrityError:
            if not Credential.objects.filter(serial=credential.serial).exists():
                raise
            credential.pk = None
            credential.serial = signing.new_serial()
    else:  # pragma: no cover - five collisions in a 50-bit space
        raise RuntimeError("Could not find a free serial.")
    if places:
        credential.polling_places.set(places)
    after = snapshot(credential) | extra
    audit_record(actor=actor, action="credential.issue", obj=credential, before=None, after=after)


def _fresh_serials(n: int) -> list[str]:
    """``n`` serials in use nowhere yet: drawn at random, re-drawn on the (2^-50) chance of a collision."""
    serials: list[str] = []
    while len(serials) < n:
        wanted = {signing.new_serial() for _ in range(n - len(serials))} - set(serials)
        taken = set(Credential.objects.filter(serial__in=wanted).values_list("serial", flat=True))
        serials += sorted(wanted - taken)
    return serials


def _bulk_save(prepared: list[tuple[Credential, list[PollingPlace]]], *, actor: Actor, import_id: str) -> None:
    """Insert many validated credentials in a few statements, then one audit event each. Credentials are written
    before any event, so the audit chain (one lock for every writer) is held only while the events are appended."""
    for (credential, _places), serial in zip(prepared, _fresh_serials(len(prepared)), strict=True):
        credential.serial = serial
        credential.issued_by = actor.user
    created = Credential.objects.bulk_create([c for c, _ in prepared], batch_size=500)
    through = Credential.polling_places.through
    through.objects.bulk_create(
        [
            through(credential_id=c.pk, pollingplace_id=p.pk)
            for c, (_, places) in zip(created, prepared, strict=True)
            for p in places
        ],
        batch_size=1000,
    )
    for credential, places in prepared:
        after = snapshot(credential, [p.pk for p in places]) | {"import_id": import_id}
        audit_record(actor=actor, action="credential.issue", obj=credential, before=None, after=after)


@transaction.atomic
def credential_issue(*, actor: Actor, request: IssueRequest) -> Credential:
    """Issue one credential (its serial is drawn at random). Validity defaults to election day, local time."""
    credential, places = _prepare(request, now=timezone.now())
    _save_new(credential, places, actor=actor, extra=request.extra_audit)
    return credential


class AlreadyRevoked(Exception):
    """Revoking twice is refused, so the first reason and time stand."""


@transaction.atomic
def credential_revoke(*, actor: Actor, credential_id: int, reason: str) -> Credential:
    """Revoke for good; tablets learn of it from ``…/revoked/``. Raises ``AlreadyRevoked`` the second time."""
    reason = " ".join(reason.split())
    if not reason:
        raise ValidationError({"reason": "Say why the credential is revoked."})
    credential = (
        Credential.objects.select_for_update(of=("self",))
        .select_related("county")
        .defer("county__boundary")
        .prefetch_related("polling_places")
        .get(pk=credential_id)
    )
    if credential.status == Credential.Status.REVOKED:
        raise AlreadyRevoked(
            f"Credential {credential.serial} was already revoked at {credential.revoked_at:%Y-%m-%d %H:%M}Z."
        )
    before = snapshot(credential)
    credential.status = Credential.Status.REVOKED
    credential.revoked_at = timezone.now()
    credential.revoked_by = actor.user
    credential.revocation_reason = reason[:500]
    credential.full_clean(exclude=["serial"])
    credential.save(update_fields=["status", "revoked_at", "revoked_by", "revocation_reason"])
    audit_record(actor=actor, action="credential.revoke", obj=credential, before=before, after=snapshot(credential))
    return credential


# --- CSV import -------------------------------------------------------------------------------------------------------

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


class ImportRejected(Exception):
    """The file was refused and nothing was stored."""

    def __init__(self, errors: list[RowError], *, code: str = "invalid_csv", status_code: int = 400) -> None:
        super().__init__(errors[0].detail if errors else "Invalid CSV.")
        self.errors = errors
        self.code = code
        self.status_code = status_code


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


def credentials_import(*, actor: Actor, scope: Scope, data: bytes, filename: str = "") -> list[Credential]:
    """Issue one credential per CSV row, all or nothing.

    Every row is checked before anything is written; any error refuses the whole file with every problem named
    by row (the header is row 1) and column. Columns as ``credentials_export`` writes them; ``serial`` and other
    export-only columns are ignored. Times without an offset are local to the county. Writes one ``credential.issue``
    event per credential (tagged with the import id) and one ``credential.import`` event summarising the file.
    """
    if len(data) > settings.CREDENTIAL_IMPORT_MAX_BYTES:
        raise ImportRejected(
            [RowError(0, "", f"The file is larger than {settings.CREDENTIAL_IMPORT_MAX_BYTES} bytes.", "too_large")],
            code="file_too_large",
            status_code=413,
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
    # Numbered as a spreadsheet shows them (the header is row 1); blank rows are skipped but still counted.
    body = [(number, raw) for number, raw in enumerate(rows[1:], start=2) if any(cell.strip() for cell in raw)]
    if not body and not problems:
        problems.append(RowError(2, "", "There are no rows to import.", "empty"))
    if len(body) > settings.CREDENTIAL_IMPORT_MAX_ROWS:
        problems.append(
            RowError(0, "", f"At most {settings.CREDENTIAL_IMPORT_MAX_ROWS} rows per file.", "too_many_rows")
        )
    if problems:
        raise ImportRejected(problems)

    counties = {c.fips: c for c in scope.counties_qs().select_related("jurisdiction").defer("boundary")}
    election_ids = set()
    for _number, raw in body:
        value = dict(zip(header, raw, strict=False)).get("election", "").strip()
        if value.isdigit() and len(value) < 19:
            election_ids.add(int(value))
    elections = {e.pk: e for e in Election.objects.filter(pk__in=election_ids)}
    places_by_county: dict[int, dict[str, PollingPlace]] = {}
    for place in PollingPlace.objects.filter(county__in=counties.values()).only("id", "code", "county_id"):
        places_by_county.setdefault(place.county_id, {})[place.code.casefold()] = place

    now = timezone.now()
    import_id = str(uuid.uuid4())
    prepared: list[tuple[Credential, list[PollingPlace]]] = []
    seen: dict[tuple[Any, ...], int] = {}
    for line, raw in body:
        if len(raw) != len(header):
            problems.append(
                RowError(line, "", f"Row {line} has {len(raw)} cells; the header has {len(header)}.", "bad_row")
            )
            continue
        cells = {name: cell.strip() for name, cell in zip(header, raw, strict=True)}
        row_errors: list[RowError] = []

        def bad(column: str, detail: str, code: str, line: int = line, row_errors: list[RowError] = row_errors) -> None:
            row_errors.append(RowError(line, column, detail, code))

        kind = cells.get("kind", "").lower().replace(" ", "_")
        if kind not in Credential.Kind.values:
            bad(
                "kind",
                f"Unknown kind '{cells.get('kind', '')[:40]}'; use {', '.join(Credential.Kind.values)}.",
                "invalid_kind",
            )
        county = counties.get(cells.get("county", ""))
        if county is None:
            bad(
                "county",
                f"No county '{cells.get('county', '')[:10]}' in your scope (give the 5-digit FIPS).",
                "unknown_county",
            )
        election = None
        election_raw = cells.get("election", "")
        if election_raw.isdigit() and len(election_raw) < 19:
            election = elections.get(int(election_raw))
        if election is None:
            bad("election", f"No election with id '{election_raw[:20]}'.", "unknown_election")
        places: list[PollingPlace] = []
        codes = [c.strip() for c in cells.get("polling_places", "").split(";") if c.strip()]
        if county is not None:
            lookup = places_by_county.get(county.pk, {})
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
        if bool(times["valid_from"]) != bool(times["valid_until"]) and not row_errors:
            missing_col = "valid_from" if times["valid_from"] is None else "valid_until"
            bad(missing_col, "Give both valid_from and valid_until, or neither (election day).", "required")
        if not row_errors and election is not None:
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
            try:
                credential, clean_places = _prepare(request, now=now, bulk=True)
            except ValidationError as exc:
                for column, messages in exc.message_dict.items():
                    for message in messages:
                        bad("" if column in ("non_field_errors", "__all__") else column, message, "invalid")
            else:
                identity = (
                    credential.kind,
                    credential.holder_name.casefold(),
                    credential.election_id,
                    credential.county_id,
                    tuple(p.pk for p in clean_places),
                )
                if identity in seen:
                    bad("", f"Row {line} repeats row {seen[identity]}.", "duplicate_row")
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
        _bulk_save(prepared, actor=actor, import_id=import_id)
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


# --- verification ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Verdict:
    valid: bool
    reason: str | None
    detail: str
    credential: Credential | None = None
    election: Election | None = None


_DETAILS = {
    signing.Reason.UNKNOWN_CREDENTIAL: "The token is genuine but no such credential is on record.",
    signing.Reason.REVOKED: "This credential has been revoked.",
    signing.Reason.NOT_YET_VALID: "This credential is not valid yet.",
    signing.Reason.EXPIRED: "This credential has expired.",
    signing.Reason.WRONG_ELECTION: "This credential is for another election.",
    signing.Reason.WRONG_PLACE: "This credential is not valid at this polling place.",
}


def credential_verify(
    *, token: str, polling_place: PollingPlace, election: Election | None = None, at: dt.datetime | None = None
) -> Verdict:
    """Check a presented token as a tablet would, with the database's revocations: signature (with every key not
    retired), then time, election and place, then revocation (a token never good here says so first). ``election``
    defaults to the place's upcoming election."""
    at = at or timezone.now()
    try:
        claims = signing.verify_token(token, verifying_keys())
    except signing.TokenError as exc:
        return Verdict(False, exc.reason, exc.detail)
    credential = (
        Credential.objects.select_related("county", "election")
        .defer("county__boundary")
        .prefetch_related("polling_places")
        .filter(serial=claims.serial)
        .first()
    )
    context = election or upcoming_election(polling_place, at)
    if credential is None:
        reason = signing.Reason.UNKNOWN_CREDENTIAL
        return Verdict(False, reason, _DETAILS[reason], None, context)
    covering = set()
    if claims.scope_type is signing.ScopeType.HASHED and any(
        p.pk == polling_place.pk for p in credential.polling_places.all()
    ):
        covering.add(signing.scope_hash(credential.county.fips, [p.pk for p in credential.polling_places.all()]))
    reason = signing.check_claims(
        claims,
        at=at,
        election_id=context.pk if context else None,
        polling_place_id=polling_place.pk,
        county_fips=polling_place.county.fips,
        covering_hashes=covering,
    )
    # Revocation is checked last: a token that was never good here (another place or election, out of its dates)
    # says so first, whether or not it has been revoked since.
    revoked_by_then = credential.revoked_at is not None and credential.revoked_at <= at
    if reason is None and credential.status == Credential.Status.REVOKED and revoked_by_then:
        reason = signing.Reason.REVOKED
    if reason is not None:
        return Verdict(False, reason, _DETAILS[reason], credential, context)
    return Verdict(True, None, "Valid: admit the holder.", credential, context)

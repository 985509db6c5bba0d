"""Issuing and revoking credentials, and the signed token printed on each: validation of a credential to issue
(shared with the CSV import), saving one or many with their audit events, and revocation.

Callers authorize first (views read through ``accounts.credentials.selectors``, scoped to the caller); services
validate and write. A credential that fails validation is refused with ``invalid`` and every field's messages.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.audit import Actor, audit_record
from accounts.credentials import signing
from accounts.credentials.keys import active_private_key
from accounts.models import Credential
from accounts.models.validators import UNPRINTABLE, unprintable_message
from common.errors import DomainError
from common.validation import full_clean, invalid_fields, invalid_from
from polling.geography.selectors import election_day_bounds
from polling.models import County, Election, PollingPlace

KIND_CODES = {
    Credential.Kind.POLL_WATCHER: signing.Kind.POLL_WATCHER,
    Credential.Kind.FEDERAL_OBSERVER: signing.Kind.FEDERAL_OBSERVER,
    Credential.Kind.STATE_OBSERVER: signing.Kind.STATE_OBSERVER,
}

# A name starts with a letter or digit (so no spreadsheet formula can hide in an export) and holds no control
# characters (so it prints and exports as typed).
_NAME = re.compile(r"^[^\W_][^\x00-\x1f\x7f]*$")


# --- tokens -----------------------------------------------------------------------------------------------------------


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


def credential_token(credential: Credential) -> str:
    """The token to print, signed with the active key (``SigningKeyUnavailable`` when it cannot be opened). Ed25519
    is deterministic: the same credential and key give the same token, so a reprint matches the first print until
    the key is rotated."""
    key_id, private = active_private_key()
    return signing.sign_payload(credential_payload(credential, key_id=key_id), private)


# --- issue and revoke -------------------------------------------------------------------------------------------------


def holder_summary(credential: Credential) -> dict[str, Any]:
    """Who holds a credential, as the audit trail, check-in answers, sync results and anomalies show them."""
    return {
        "serial": credential.serial,
        "kind": credential.kind,
        "holder_name": credential.holder_name,
        "appointed_by_kind": credential.appointed_by_kind,
        "appointed_by_name": credential.appointed_by_name,
    }


def snapshot(credential: Credential, place_ids: Sequence[int] | None = None) -> dict[str, Any]:
    """What the audit trail records of a credential."""
    if place_ids is None:
        place_ids = [p.pk for p in credential.polling_places.all()] if credential.pk else []
    return {
        **holder_summary(credential),
        "election_id": credential.election_id,
        "county_fips": credential.county.fips,
        "polling_place_ids": sorted(place_ids),
        "valid_from": credential.valid_from.isoformat(),
        "valid_until": credential.valid_until.isoformat(),
        "status": credential.status,
        "revoked_at": credential.revoked_at.isoformat() if credential.revoked_at else None,
        "revocation_reason": credential.revocation_reason,
    }


_WHITE_SPACE = str.maketrans("\t\n\r", "   ")


def _clean_name(value: str) -> str:
    return " ".join(value.split())


def unprintable_field(exc: ValidationError) -> tuple[str, str] | None:
    """The field and message of an ``unprintable_characters`` error among ``exc``'s, if any."""
    for name, errors in getattr(exc, "error_dict", {}).items():
        for error in errors:
            if error.code == UNPRINTABLE:
                return name, " ".join(error.messages)
    return None


def refusal_from(exc: ValidationError) -> DomainError:
    """A validation failure as a refusal: ``unprintable_characters`` naming its field when a name holds control or
    format characters, else ``invalid`` with every field's messages."""
    found = unprintable_field(exc)
    if found is not None:
        return DomainError(found[1], UNPRINTABLE, field=found[0])
    return invalid_from(exc)


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


def credential_prepare(
    req: IssueRequest, *, now: dt.datetime, bulk: bool = False
) -> tuple[Credential, list[PollingPlace]]:
    """Validate a request into an unsaved credential and its places; raises Django's ``ValidationError`` keyed by
    field (the CSV import reports it row by row; ``credential_issue`` refuses with it).

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
    for field_name, given in (("holder_name", req.holder_name), ("appointed_by_name", req.appointed_by_name)):
        # Tabs and line breaks are white space, made one space below; every other control or format character
        # (zero-width, bidirectional, separators …) is refused.
        message = unprintable_message(given.translate(_WHITE_SPACE))
        if message is not None:
            raise ValidationError({field_name: [ValidationError(message, code=UNPRINTABLE)]})
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


def credentials_save_bulk(
    prepared: list[tuple[Credential, list[PollingPlace]]], *, actor: Actor, import_id: str
) -> None:
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
    try:
        credential, places = credential_prepare(request, now=timezone.now())
    except ValidationError as exc:
        raise refusal_from(exc) from None
    _save_new(credential, places, actor=actor, extra=request.extra_audit)
    return credential


@transaction.atomic
def credential_revoke(*, actor: Actor, credential_id: int, reason: str) -> Credential:
    """Revoke for good; tablets learn of it from ``…/revoked/``. Revoking twice is refused (``already_revoked``), so
    the first reason and time stand."""
    reason = " ".join(reason.split())
    if not reason:
        raise invalid_fields({"reason": ["Say why the credential is revoked."]})
    credential = (
        Credential.objects.select_for_update(of=("self",))
        .select_related("county")
        .defer("county__boundary")
        .prefetch_related("polling_places")
        .get(pk=credential_id)
    )
    if credential.status == Credential.Status.REVOKED:
        raise DomainError(
            f"Credential {credential.serial} was already revoked at {credential.revoked_at:%Y-%m-%d %H:%M}Z.",
            "already_revoked",
        )
    before = snapshot(credential)
    credential.status = Credential.Status.REVOKED
    credential.revoked_at = timezone.now()
    credential.revoked_by = actor.user
    credential.revocation_reason = reason[:500]
    full_clean(credential, exclude=["serial"])
    credential.save(update_fields=["status", "revoked_at", "revoked_by", "revocation_reason"])
    audit_record(actor=actor, action="credential.revoke", obj=credential, before=before, after=snapshot(credential))
    return credential

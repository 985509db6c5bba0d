"""Reads of credentials and keys, scoped to the caller: outside one's scope a credential does not exist.

State administrators see the credentials of every county in their state, commissioners those of their county.
Poll managers and workers see no credential lists; they verify tokens at their polling places and read the
revocations of their counties.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Any

from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from accounts.credentials import signing
from accounts.credentials.keys import raw_public_key
from accounts.models import Credential, SigningKey
from accounts.scopes import Scope
from common.errors import DomainError
from common.validation import invalid_fields
from polling.models import County, Election, PollingPlace

#: A tablet asks for revocations since its last answer's ``next_since``, which lies this far back from the answer's
#: time, so a revocation committed while the answer was being read is never missed.
REVOCATION_OVERLAP = dt.timedelta(minutes=5)


def credentials_visible(scope: Scope) -> QuerySet[Credential]:
    """Every credential the caller administers (none without an administrator's or commissioner's grant)."""
    if not scope.is_staff_admin:
        return Credential.objects.none()
    return (
        Credential.objects.filter(scope.county_q())
        .select_related("county", "county__jurisdiction", "election", "issued_by", "revoked_by")
        .defer("county__boundary")
        .prefetch_related("polling_places")
    )


def credential_get(scope: Scope, pk: int) -> Credential:
    """A credential the caller administers (else ``not_found``)."""
    credential = credentials_visible(scope).filter(pk=pk).first()
    if credential is None:
        raise DomainError("Not found.", "not_found")
    return credential


def credential_printable(scope: Scope, pk: int) -> Credential:
    """A credential the caller administers that may be printed now: active, neither revoked nor expired (else
    ``credential_revoked`` / ``credential_expired``)."""
    credential = credential_get(scope, pk)
    state = credential.display_status()
    if state != "active":
        code = {"revoked": "credential_revoked", "expired": "credential_expired"}.get(state, "invalid")
        raise DomainError(f"This credential is {state}; it cannot be printed.", code)
    return credential


def credential_list(
    scope: Scope,
    *,
    election: int | None = None,
    kind: str | None = None,
    status: str | None = None,
    county_fips: str | None = None,
    polling_place: int | None = None,
    q: str | None = None,
    now: dt.datetime | None = None,
) -> QuerySet[Credential]:
    """Filtered credentials. ``status`` is ``active`` (and not expired), ``expired`` or ``revoked``;
    ``polling_place`` keeps the credentials valid there: county-wide ones of its county and those listing it."""
    qs = credentials_visible(scope)
    now = now or timezone.now()
    if election is not None:
        qs = qs.filter(election_id=election)
    if kind:
        qs = qs.filter(kind=kind)
    if status == "revoked":
        qs = qs.filter(status=Credential.Status.REVOKED)
    elif status == "active":
        qs = qs.filter(status=Credential.Status.ACTIVE, valid_until__gt=now)
    elif status == "expired":
        qs = qs.filter(status=Credential.Status.ACTIVE, valid_until__lte=now)
    if county_fips:
        qs = qs.filter(county__fips=county_fips)
    if polling_place is not None:
        county_id = PollingPlace.objects.filter(pk=polling_place).values("county_id")
        qs = qs.filter(
            Q(polling_places=polling_place) | Q(county_id__in=county_id, polling_places__isnull=True)
        ).distinct()
    if q:
        qs = qs.filter(holder_name__icontains=q)
    return qs


def counties_for_issuing(scope: Scope) -> QuerySet[County]:
    return scope.counties_qs().select_related("jurisdiction").defer("boundary")


def polling_places_for_issuing(scope: Scope) -> QuerySet[PollingPlace]:
    if not scope.is_staff_admin:
        return PollingPlace.objects.none()
    return (
        PollingPlace.objects.filter(scope.county_q())
        .select_related("county", "county__jurisdiction")
        .defer("county__boundary")
    )


def issue_targets(
    scope: Scope, *, county_fips: str | None, place_ids: list[int], election_id: int
) -> tuple[County | None, list[PollingPlace], Election]:
    """What a credential to issue names, read in the caller's scope: the county (by FIPS), the polling places and
    the election; refuses with ``invalid`` and every unknown one by field."""
    errors: dict[str, list[str]] = {}
    county = None
    if county_fips:
        county = counties_for_issuing(scope).filter(fips=county_fips).first()
        if county is None:
            errors["county"] = ["No such county in your scope."]
    ids = sorted(set(place_ids))
    places = list(polling_places_for_issuing(scope).filter(pk__in=ids))
    if len(places) != len(ids):
        missing = sorted(set(ids) - {p.pk for p in places})
        errors["polling_places"] = [f"No such polling place in your scope: {', '.join(map(str, missing[:10]))}."]
    election = Election.objects.filter(pk=election_id).first()
    if election is None:
        errors["election"] = ["No such election."]
    if errors or election is None:
        raise invalid_fields(errors)
    return county, places, election


def _worker_place_ids(scope: Scope) -> set[int]:
    return {place_id for place_id, _election in scope.places}


def place_for_verifying(scope: Scope, pk: int) -> PollingPlace | None:
    """A polling place where the caller may check credentials: one they administer or work at (any election)."""
    allowed = scope.county_q() | Q(pk__in=_worker_place_ids(scope))
    return (
        PollingPlace.objects.filter(allowed, pk=pk)
        .select_related("county", "county__jurisdiction")
        .only("id", "code", "name", "county__fips", "county__timezone", "county__jurisdiction__timezone")
        .first()
    )


def verifying_place_get(scope: Scope, pk: int, *, field: str | None = None) -> PollingPlace:
    """``place_for_verifying``, refusing with ``not_found`` (on ``field``, when the id came from one) outside it."""
    place = place_for_verifying(scope, pk)
    if place is None:
        raise DomainError("No such polling place.", "not_found", field=field)
    return place


def election_at_place(place: PollingPlace, pk: int) -> Election:
    """An election of the place's state (else ``invalid`` on the field ``election``)."""
    election = Election.objects.filter(pk=pk, jurisdiction_id=place.county.jurisdiction_id).first()
    if election is None:
        raise DomainError("No such election in this polling place's state.", "invalid", field="election")
    return election


def revocations(scope: Scope, *, since: dt.datetime | None = None) -> QuerySet[Credential]:
    """Revoked credentials of the counties the caller administers or works in (a credential is only ever valid in
    its own county, so a tablet needs no other county's list)."""
    if not scope.roles:
        return Credential.objects.none()
    worker_counties = PollingPlace.objects.filter(pk__in=_worker_place_ids(scope)).values("county_id")
    qs = Credential.objects.filter(status=Credential.Status.REVOKED).filter(
        scope.county_q() | Q(county_id__in=worker_counties)
    )
    if since is not None:
        qs = qs.filter(revoked_at__gte=since)
    return qs.order_by("revoked_at", "pk")


def scope_hashes_covering(place: PollingPlace, *, now: dt.datetime | None = None) -> list[dict[str, Any]]:
    """The scope hashes of unexpired credentials that list this place among more than ``MAX_LISTED_PLACES``: what a
    tablet holds to admit a token whose scope is hashed."""
    now = now or timezone.now()
    listing = Credential.polling_places.through.objects.filter(pollingplace_id=place.pk).values("credential_id")
    # Only credentials with a hashed scope are read, with the ids of their places: every sync answer asks, and most
    # credentials list a few places or none.
    candidates = (
        Credential.objects.filter(
            pk__in=listing, status=Credential.Status.ACTIVE, valid_until__gt=now, county_id=place.county_id
        )
        .annotate(places=Count("polling_places"))
        .filter(places__gt=signing.MAX_LISTED_PLACES)
        .order_by()
        .values_list("pk", "election_id", "valid_until")
    )
    found = list(candidates)
    places_of: dict[int, list[int]] = defaultdict(list)
    through = Credential.polling_places.through.objects.filter(credential_id__in=[pk for pk, _, _ in found])
    for credential_id, place_id in through.values_list("credential_id", "pollingplace_id") if found else ():
        places_of[credential_id].append(place_id)
    fips = place.county.fips
    latest: dict[tuple[int, str], dt.datetime] = {}
    for pk, election_id, valid_until in found:
        key = (election_id, signing.scope_hash(fips, places_of[pk]).hex())
        latest[key] = max(latest.get(key, valid_until), valid_until)
    return [
        {"election": election, "scope_hash": digest, "valid_until": until}
        for (election, digest), until in sorted(latest.items())
    ]


def signing_keys_public() -> QuerySet[SigningKey]:
    return SigningKey.objects.only("key_id", "public_key", "active", "created_at", "retired_at").order_by("key_id")


def _utc_text(moment: dt.datetime | None) -> str | None:
    return moment.isoformat().replace("+00:00", "Z") if moment else None


def public_keys() -> dict[str, Any]:
    """What a tablet needs to verify tokens offline (also part of the sync answer)."""
    return public_and_verifying_keys()[0]


def public_and_verifying_keys() -> tuple[dict[str, Any], dict[int, bytes]]:
    """``public_keys()``, and from the same read the keys a server verifies with (``keys.verifying_keys``: those not
    retired, key id → raw public key): a sync batch reads the keys once for its tokens and its answer."""
    rows = list(signing_keys_public())
    keys = [
        {
            "key_id": k.key_id,
            "algorithm": "Ed25519",
            "public_key": k.public_key,
            "state": k.state,
            "created_at": _utc_text(k.created_at),
            "retired_at": _utc_text(k.retired_at),
        }
        for k in rows
    ]
    verifying = {k.key_id: raw_public_key(k.public_key) for k in rows if k.retired_at is None}
    answer = {"token_version": signing.VERSION, "max_listed_places": signing.MAX_LISTED_PLACES, "keys": keys}
    return answer, verifying

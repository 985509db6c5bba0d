"""The server's side of token verification: the same rules a tablet applies offline (signature with every key not
retired, then time, election and place), plus revocation from the database."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.utils import timezone

from accounts.credentials import signing
from accounts.credentials.keys import verifying_keys
from accounts.models import Credential
from polling.geography.selectors import upcoming_election
from polling.models import Election, PollingPlace


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
    *,
    token: str,
    polling_place: PollingPlace,
    election: Election | None = None,
    at: dt.datetime | None = None,
    own_county_only: bool = False,
) -> Verdict:
    """Check a presented token as a tablet would, with the database's revocations: signature (with every key not
    retired), then time, election and place, then revocation (a token never good here says so first). ``election``
    defaults to the place's upcoming election.

    ``own_county_only`` (a person asking, who may see the place's county and no further): a token of another county
    is judged from the token alone, as a tablet would offline (``not_yet_valid``, ``expired``, ``wrong_election`` or
    ``wrong_place``), without looking the credential up, so the answer carries no holder and does not tell whether
    that county has such a credential on record."""
    at = at or timezone.now()
    try:
        claims = signing.verify_token(token, verifying_keys())
    except signing.TokenError as exc:
        return Verdict(False, exc.reason, exc.detail)
    context = election or upcoming_election(polling_place, at)
    election_id = context.pk if context else None
    if own_county_only and claims.county_fips != polling_place.county.fips:
        judged = signing.check_claims(
            claims,
            at=at,
            election_id=election_id,
            polling_place_id=polling_place.pk,
            county_fips=polling_place.county.fips,
        )
        judged = judged or signing.Reason.WRONG_PLACE
        return Verdict(False, judged, _DETAILS[judged], None, context)
    credential = (
        Credential.objects.select_related("county", "election")
        .defer("county__boundary")
        .prefetch_related("polling_places")
        .filter(serial=claims.serial)
        .first()
    )
    if credential is None:
        unknown = signing.Reason.UNKNOWN_CREDENTIAL
        return Verdict(False, unknown, _DETAILS[unknown], None, context)
    covering = set()
    if claims.scope_type is signing.ScopeType.HASHED and any(
        p.pk == polling_place.pk for p in credential.polling_places.all()
    ):
        covering.add(signing.scope_hash(credential.county.fips, [p.pk for p in credential.polling_places.all()]))
    reason = signing.check_claims(
        claims,
        at=at,
        election_id=election_id,
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

"""The server's side of token verification: the same rules a tablet applies offline (signature with every key not
retired, then time, election and place), plus revocation from the database.

Nothing is cached across calls: every ``Verifier`` reads the keys not retired and the credentials it judges from the
database when it is made (a batch: once for the batch), so a revocation, a key rotation or a key retirement by any
process counts from the next verification on. What is cached in process is content-addressed only (decoded public
keys, keyed by the key's own bytes: ``keys.verifying_keys``, ``signing.verify_token``)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from django.db.models import Subquery
from django.utils import timezone

from accounts.credentials import signing
from accounts.credentials.keys import raw_public_key, verifying_keys
from accounts.models import Credential, SigningKey
from common.statements import Param, Statement, instance
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


#: What verification and the check-in answers read of a credential (its county and places only for hashed scopes).
CREDENTIAL_FIELDS = (
    "serial",
    "kind",
    "holder_name",
    "appointed_by_kind",
    "appointed_by_name",
    "election_id",
    "county_id",
    "valid_from",
    "valid_until",
    "status",
    "revoked_at",
)


_LONE_FIELDS = ("id", *CREDENTIAL_FIELDS)
#: A check-in's credential and the key that signed its token, if not retired: one statement, compiled once per process
#: (``common.statements``: the ORM's SQL, not rebuilt on every check-in; the rows are read on every call).
_LONE = Statement.select(
    Credential,
    lambda: (
        Credential.objects.filter(serial=Param("serial", Credential._meta.get_field("serial")))
        .annotate(
            signed_with=Subquery(
                SigningKey.objects.verifying()
                .filter(key_id=Param("key_id", SigningKey._meta.get_field("key_id")))
                .order_by()
                .values("public_key")[:1]
            )
        )
        .order_by()
        .values_list(*_LONE_FIELDS, "signed_with")
    ),
)


def _credentials(serials: Iterable[str]) -> dict[str, Credential]:
    wanted = set(serials)
    if not wanted:
        return {}
    return {c.serial: c for c in Credential.objects.filter(serial__in=wanted).only(*CREDENTIAL_FIELDS).order_by()}


class Verifier:
    """Verifies tokens against one reading of the signing keys not retired, and of the credentials they name.

    Made per token (``credential_verify``: the credential and the key that signed it, if not retired, in one query)
    or per batch of tokens (``Verifier.for_tokens``: the keys and every credential the batch names in two queries,
    instead of two or three per token). A verifier is never kept past its request: what it read is as fresh as the
    request."""

    def __init__(
        self, keys: Mapping[int, bytes] | None = None, credentials: Mapping[str, Credential | None] | None = None
    ):
        """``keys``: key id → raw public key (default: read on first use); ``credentials``: serial → credential, or
        None for a serial known to have none (any serial not given is read on first use)."""
        self._keys = dict(keys) if keys is not None else None
        self._credentials: dict[str, Credential | None] = dict(credentials or {})

    @classmethod
    def for_tokens(cls, tokens: Iterable[str], keys: Mapping[int, bytes] | None = None) -> Verifier:
        """A verifier with the keys and the credentials named by ``tokens`` (whatever their signature) loaded.
        ``keys``: the keys not retired (``keys.verifying_keys``), if the caller has just read them for its answer."""
        serials = set()
        for token in tokens:
            try:
                serials.add(signing.read_token(token)[2].serial)
            except signing.TokenError:
                continue
        found: dict[str, Credential | None] = dict.fromkeys(serials)
        return cls(verifying_keys() if keys is None else keys, found | _credentials(serials))

    @property
    def keys(self) -> dict[int, bytes]:
        if self._keys is None:
            self._keys = verifying_keys()
        return self._keys

    def _lone(self, token: str) -> dict[int, bytes] | None:
        """For a verifier made for one token (a check-in): its credential and the key that signed it in one query,
        the key only if it is not retired. None (and the keys are read whole) for a malformed token or an unknown
        serial, which ``verify`` then judges as before."""
        try:
            claims = signing.read_token(token)[2]
        except signing.TokenError:
            return None
        row = _LONE.first(serial=claims.serial, key_id=claims.key_id)
        credential = None if row is None else instance(Credential, Credential.objects.db, _LONE_FIELDS, row[:-1])
        self._credentials[claims.serial] = credential
        if credential is None or row is None:
            return None
        public = row[-1]
        return {claims.key_id: raw_public_key(public)} if public is not None else {}

    def credential(self, serial: str) -> Credential | None:
        if serial not in self._credentials:
            self._credentials[serial] = _credentials([serial]).get(serial)
        return self._credentials[serial]

    def verify(
        self,
        *,
        token: str,
        polling_place: PollingPlace,
        election: Election | None = None,
        at: dt.datetime | None = None,
        own_county_only: bool = False,
    ) -> Verdict:
        """See ``credential_verify``."""
        at = at or timezone.now()
        keys = self._keys
        if keys is None and not own_county_only:
            keys = self._lone(token)
        try:
            claims = signing.verify_token(token, keys if keys is not None else self.keys)
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
        credential = self.credential(claims.serial)
        if credential is None:
            unknown = signing.Reason.UNKNOWN_CREDENTIAL
            return Verdict(False, unknown, _DETAILS[unknown], None, context)
        covering = set()
        if claims.scope_type is signing.ScopeType.HASHED:
            # Rare (more than MAX_LISTED_PLACES places): the credential's places are read only for such a token.
            place_ids = list(credential.polling_places.values_list("pk", flat=True))
            if polling_place.pk in place_ids:
                covering.add(signing.scope_hash(credential.county.fips, place_ids))
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
    return Verifier().verify(
        token=token, polling_place=polling_place, election=election, at=at, own_county_only=own_county_only
    )

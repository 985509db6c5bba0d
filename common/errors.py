"""Domain errors: what a service refuses, with a stable machine code. No HTTP here.

A service raises ``DomainError(detail, code, field=…)``; the code must be registered in ``REFUSALS`` with its
``Kind`` (what sort of refusal it is). The API maps kinds to HTTP statuses in one place (``common.api.errors``), so
the same refusal reads the same from every endpoint, and a code no program has been told about cannot slip out.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any


class Kind(StrEnum):
    """What sort of refusal a code is; the API turns each into one HTTP status."""

    INVALID = "invalid"  # the input is wrong
    UNAUTHENTICATED = "unauthenticated"  # who is asking is not established
    FORBIDDEN = "forbidden"  # the caller may not do this
    NOT_FOUND = "not_found"  # nothing the caller may see by that name
    CONFLICT = "conflict"  # the input is right but the state forbids it now
    UNPROCESSABLE = "unprocessable"  # well-formed, but contradicts what was sent before under the same id
    TOO_LARGE = "too_large"  # the input is over a size limit
    RATE_LIMITED = "rate_limited"  # too many attempts; retry later
    UNAVAILABLE = "unavailable"  # a prerequisite of the service is missing (e.g. no signing key)


#: Every stable code a service refuses with, and its kind. Codes are part of the contract (docs/api.md): add, never
#: rename. Parameter-parsing codes of the API (``missing_parameter``, ``invalid_<name>`` …) live with the parser.
REFUSALS: dict[str, Kind] = {
    # generic
    "invalid": Kind.INVALID,
    "not_found": Kind.NOT_FOUND,
    "permission_denied": Kind.FORBIDDEN,
    # accounts: sign-in, second factor, sessions, tablets, role grants
    "invalid_credentials": Kind.UNAUTHENTICATED,
    "too_many_attempts": Kind.RATE_LIMITED,
    "otp_required": Kind.UNAUTHENTICATED,
    "otp_enrolment_required": Kind.UNAUTHENTICATED,
    "otp_not_required": Kind.INVALID,
    "otp_already_confirmed": Kind.CONFLICT,
    "otp_invalid": Kind.INVALID,
    "no_active_role": Kind.FORBIDDEN,
    "tablet_required": Kind.FORBIDDEN,
    "tablet_invalid": Kind.UNAUTHENTICATED,
    "not_assigned_here": Kind.FORBIDDEN,
    "invalid_enrolment_code": Kind.INVALID,
    "enrolment_code_used": Kind.INVALID,
    "enrolment_code_expired": Kind.INVALID,
    "cannot_grant_role": Kind.FORBIDDEN,
    "insufficient_authority": Kind.FORBIDDEN,
    "self_grant": Kind.INVALID,
    "user_disabled": Kind.INVALID,
    "duplicate_grant": Kind.INVALID,
    "cannot_disable_self": Kind.INVALID,
    "otp_already_enrolled": Kind.CONFLICT,
    "otp_enrolment_expired": Kind.INVALID,
    "election_mismatch": Kind.INVALID,
    "unprintable_characters": Kind.INVALID,  # a name (person, party, tablet label) holding control/format characters
    "session_ended_shared_logon": Kind.UNAUTHENTICATED,  # a session ended by the no-shared-logon rule (401)
    # accounts: credentials and signing keys
    "already_revoked": Kind.CONFLICT,
    "credential_revoked": Kind.CONFLICT,
    "credential_expired": Kind.CONFLICT,
    "signing_key_unavailable": Kind.UNAVAILABLE,
    "signing_key_not_found": Kind.NOT_FOUND,
    "signing_key_active": Kind.CONFLICT,
    "signing_key_retired": Kind.CONFLICT,
    "signing_key_ids_exhausted": Kind.UNAVAILABLE,
    "file_too_large": Kind.TOO_LARGE,
    "invalid_csv": Kind.INVALID,
    "not_utf8": Kind.INVALID,
    "empty": Kind.INVALID,
    # election day: check-in and check-out (a refused event is stored and answered 200 with its reason, a full
    # quota 409, a reused event id 422), the roster, presence anomalies, incidents
    "polls_closed": Kind.CONFLICT,
    "quota_full": Kind.CONFLICT,
    "event_id_reused": Kind.UNPROCESSABLE,
    "report_id_reused": Kind.UNPROCESSABLE,
    "occurred_at_in_future": Kind.INVALID,  # a tablet time ahead of the server's clock (online post, incident)
    "sent_at_in_future": Kind.INVALID,
    "occurred_at_too_early": Kind.INVALID,  # placed (server-corrected) before its election day could begin
    "no_election": Kind.NOT_FOUND,
    "already_reviewed": Kind.CONFLICT,
    "invalid_photo": Kind.INVALID,
    "photo_too_large": Kind.TOO_LARGE,
    "unknown_polling_place": Kind.INVALID,
    "unknown_election": Kind.INVALID,
    "too_far_from_polling_place": Kind.INVALID,
    "missing_parameter": Kind.INVALID,  # also the parser's; an incident's election when its reporter works several
    # polling: the public lookup
    "no_precinct": Kind.NOT_FOUND,
    "election_not_found": Kind.NOT_FOUND,
    # guard: intrusion prevention (guard.ips): a blocked address (answered by its middleware), a staff account over
    # its rate limit, a block that is not in force
    "address_blocked": Kind.FORBIDDEN,
    "account_rate_limited": Kind.RATE_LIMITED,
    "block_not_active": Kind.CONFLICT,
    # guard: geographic exclusion (guard.geo, answered by its middleware): a client outside the allowed countries,
    # or staff endpoints closed while the IP-to-country database is missing or stale
    "geo_excluded": Kind.FORBIDDEN,
    "geo_unavailable": Kind.FORBIDDEN,
}


class DomainError(Exception):
    """A refusal: ``detail`` for people, ``code`` (registered in ``REFUSALS``) for programs, optionally the ``field``
    at fault and ``extra`` members for the answer (e.g. ``retry_after_s``).

    ``kind`` overrides the registered kind where the same fact means something else at another step: a poll worker
    without a tablet is ``tablet_required`` at sign-in (who is asking is not established: UNAUTHENTICATED) and at a
    check-in (signed in, but not on a tablet: the registered FORBIDDEN)."""

    def __init__(
        self,
        detail: str,
        code: str,
        *,
        field: str | None = None,
        extra: Mapping[str, Any] | None = None,
        kind: Kind | None = None,
    ) -> None:
        if code not in REFUSALS:
            raise ValueError(f"unregistered refusal code {code!r}: add it to common.errors.REFUSALS")
        super().__init__(detail)
        self.detail = detail
        self.code = code
        self.kind = kind or REFUSALS[code]
        self.field = field
        self.extra = dict(extra or {})

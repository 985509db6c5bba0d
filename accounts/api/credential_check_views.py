"""What tablets and poll workers use to check credentials: the public keys (anyone), and for any staff role the
revocations of their counties, the scope hashes that cover a polling place, and verifying a presented token."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from django.http import HttpResponse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.api import credential_serializers as ser
from accounts.api.credential_base import CredentialView, JSONErrors, utc_text
from accounts.credentials import selectors, verification
from accounts.permissions import HasStaffRole
from common.api import parsing
from common.api.errors import BadRequest
from common.api.schema import ERROR
from common.api.throttles import PublicThrottle

OBJECT = OpenApiResponse(response=OpenApiTypes.OBJECT)


class SigningKeysView(APIView):
    """Public: the keys a tablet needs to verify tokens offline. No personal data."""

    authentication_classes: list[Any] = []
    permission_classes = [AllowAny]
    throttle_classes = [PublicThrottle]
    content_negotiation_class = JSONErrors

    @extend_schema(
        operation_id="credentials_keys",
        summary="Public keys that verify credential tokens",
        description=(
            "Ed25519 public keys (raw 32 bytes, base64) by key id. `active` signs new tokens; `verify_only` still "
            "verifies tokens already printed; `retired` no longer verifies (tokens signed with it are refused "
            "as `unknown_key`). The token layout is documented in `accounts/credentials/signing.py`."
        ),
        auth=[],
        responses={200: OBJECT, 304: OpenApiResponse(description="Not modified."), 429: ERROR},
    )
    def get(self, request: Request) -> Response | HttpResponse:
        body = selectors.public_keys()
        etag = '"' + hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:32] + '"'
        headers = {"ETag": etag, "Cache-Control": "public, max-age=300"}
        if etag in {t.strip() for t in request.headers.get("If-None-Match", "").split(",")}:
            return HttpResponse(status=304, headers=headers)
        return Response(body, headers=headers)


class StaffCheckView(CredentialView):
    # Any staff role (poll managers and workers too). No docstring: see ``CredentialView``.
    permission_classes = [IsAuthenticated, HasStaffRole]


class RevokedView(StaffCheckView):
    @extend_schema(
        operation_id="credentials_revoked",
        summary="Revoked serials, for tablets' offline lists",
        description=(
            "Serials of credentials revoked at or after `since`, in the counties you administer or work in. Poll "
            "again with `since` = `next_since` (which overlaps the last few minutes: de-duplicate by serial)."
        ),
        parameters=[OpenApiParameter("since", OpenApiTypes.DATETIME, description="ISO 8601 with a UTC offset.")],
        responses={200: OBJECT, 400: ERROR, 401: ERROR, 403: ERROR},
    )
    def get(self, request: Request) -> Response:
        since = _since(request.query_params.get("since") or "")
        now = timezone.now()
        rows = selectors.revocations(self.scope, since=since).values_list("serial", "revoked_at")
        return Response(
            {
                "generated_at": utc_text(now),
                "next_since": utc_text(now - selectors.REVOCATION_OVERLAP),
                "revoked": [{"serial": serial, "revoked_at": utc_text(at)} for serial, at in rows],
            },
            headers={"Cache-Control": "private, no-cache"},
        )


def _since(raw: str) -> Any:
    """``since``: an ISO 8601 date-time with a UTC offset (an unencoded ``+`` arrives as a space), or None."""
    if not raw:
        return None
    # The shared parser: an offset in whole minutes, years 2000-2099, handed on in UTC (PostgreSQL refuses offsets
    # beyond ±15:59, and year 1 or 9999 overflows).
    since = parsing.aware_datetime_or_none(raw.replace(" ", "+"))
    if since is None:
        raise BadRequest(
            "'since' must be an ISO 8601 date-time with a UTC offset, e.g. 2026-11-03T06:00:00Z.",
            "invalid_since",
            field="since",
        )
    return since


class ScopeHashesView(StaffCheckView):
    @extend_schema(
        operation_id="credentials_scope_hashes",
        summary="Scope hashes that cover a polling place",
        description=(
            "A credential listing more than `max_listed_places` polling places carries a 16-byte hash of its list "
            "instead; a tablet admits it at its place only if the hash is in this list (hex)."
        ),
        parameters=[OpenApiParameter("polling_place", OpenApiTypes.INT, required=True)],
        responses={200: OBJECT, 400: ERROR, 401: ERROR, 403: ERROR, 404: ERROR},
    )
    def get(self, request: Request) -> Response:
        place_id = parsing.identifier(request.query_params, "polling_place")
        if place_id is None:
            raise BadRequest("'polling_place' is required.", "missing_parameter", field="polling_place")
        place = selectors.verifying_place_get(self.scope, place_id)
        hashes = selectors.scope_hashes_covering(place)
        for h in hashes:
            h["valid_until"] = utc_text(h["valid_until"])
        return Response({"polling_place": place.pk, "scope_hashes": hashes})


class VerifyView(StaffCheckView):
    @extend_schema(
        operation_id="credentials_verify",
        summary="Check a presented credential token at a polling place",
        description=(
            "`valid` with `reason` null, or `valid: false` with `reason` one of `malformed`, `unknown_key`, "
            "`bad_signature`, `unknown_credential`, `revoked`, `not_yet_valid`, `expired`, `wrong_election`, "
            "`wrong_place`. The election is the one given, else the place's upcoming election (the first of its "
            "state on or after the local date of `at`). `credential` (when the token is genuine and of the polling "
            "place's county) holds only what a poll worker needs: serial, kind, name, appointing party or candidate. "
            "A token of another county is judged from the token alone, as a tablet does offline, and answered "
            "without `credential` (null)."
        ),
        request=ser.VerifyIn,
        responses={200: OBJECT, 400: ERROR, 401: ERROR, 403: ERROR, 404: ERROR},
    )
    def post(self, request: Request) -> Response:
        data = ser.VerifyIn(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        place = selectors.verifying_place_get(self.scope, v["polling_place"], field="polling_place")
        election = selectors.election_at_place(place, v["election"]) if "election" in v else None
        at = v.get("at") or timezone.now()
        verdict = verification.credential_verify(
            token=v["token"], polling_place=place, election=election, at=at, own_county_only=True
        )
        return Response(
            {
                "valid": verdict.valid,
                "reason": verdict.reason,
                "detail": verdict.detail,
                "credential": ser.CredentialForPollWorkerOut(verdict.credential).data if verdict.credential else None,
                "polling_place": place.pk,
                "election": verdict.election.pk if verdict.election else None,
                "at": utc_text(at),
            },
            headers={"Cache-Control": "no-store"},
        )

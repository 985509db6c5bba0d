"""The credentials API: issue, list, print, revoke, import/export (administrators and commissioners, in scope);
verify and read revocations (any staff role); the public keys (anyone).

Thin views: parse → selector (scoped: outside one's scope a credential is 404) → service → output serializer.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cached_property
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import HttpResponse, StreamingHttpResponse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, status
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.parsers import BaseParser, MultiPartParser
from rest_framework.permissions import AllowAny, BasePermission, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.api import credential_serializers as ser
from accounts.audit import Actor
from accounts.authentication import request_actor
from accounts.credentials import badges, selectors, services
from accounts.models import Credential
from accounts.scopes import Scope
from common.api import parsing
from common.api.errors import BadRequest
from common.api.schema import ERROR
from common.api.throttles import PublicThrottle
from polling.geography import selectors as geography_selectors
from polling.models import Election

PAGE_DEFAULT, PAGE_MAX = 50, 500
#: A revocation committed a little after another request read the list could carry an earlier ``revoked_at``:
#: ``next_since`` overlaps by this much, and tablets de-duplicate by serial.

OBJECT = OpenApiResponse(response=OpenApiTypes.OBJECT)
FILTERS = [
    OpenApiParameter("election", OpenApiTypes.INT, description="Election id."),
    OpenApiParameter("kind", OpenApiTypes.STR, enum=list(Credential.Kind.values)),
    OpenApiParameter("status", OpenApiTypes.STR, enum=["active", "expired", "revoked"]),
    OpenApiParameter("county", OpenApiTypes.STR, description="5-digit county FIPS code."),
    OpenApiParameter("polling_place", OpenApiTypes.INT, description="Credentials valid at this polling place."),
    OpenApiParameter("q", OpenApiTypes.STR, description="Part of the holder's name."),
]


class JSONErrors(DefaultContentNegotiation):
    """Errors are always JSON and binary answers (SVG, PDF, CSV) are built by the view, so no ``Accept`` header
    can turn a request into a 406."""

    def select_renderer(self, request: Request, renderers: list[Any], format_suffix: str | None = None) -> Any:
        return renderers[0], renderers[0].media_type


class CSVParser(BaseParser):
    media_type = "text/csv"

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> bytes:
        return stream.read() if stream is not None else b""


class IssuesCredentials(BasePermission):
    """State administrators and county commissioners."""

    message = "Only state administrators and county commissioners manage credentials."

    def has_permission(self, request: Request, view: Any) -> bool:
        return view.scope.is_staff_admin


class HasStaffRole(BasePermission):
    """Any active staff grant: administrators, commissioners, poll managers and poll workers."""

    message = "Only election staff may do this."

    def has_permission(self, request: Request, view: Any) -> bool:
        return bool(view.scope.roles)


class CredentialView(APIView):
    permission_classes = [IsAuthenticated, IssuesCredentials]
    content_negotiation_class = JSONErrors

    @cached_property
    def scope(self) -> Scope:
        return Scope.for_user(self.request.user)

    def actor(self) -> Actor:
        return request_actor(self.request)


@contextmanager
def service_errors() -> Iterator[None]:
    """A service's field-keyed ``ValidationError`` becomes the API's 400 with ``errors``."""
    try:
        yield
    except DjangoValidationError as exc:
        detail = exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        detail = {("non_field_errors" if k == "__all__" else k): v for k, v in detail.items()}
        raise exceptions.ValidationError(detail) from None


def _filters(request: Request) -> dict[str, Any]:
    query = request.query_params
    q = query.get("q") or None
    if q is not None and len(q) > 100:
        raise BadRequest("'q' is at most 100 characters.", "invalid_q", field="q")
    return {
        "election": parsing.identifier(query, "election"),
        "kind": parsing.choice(query, "kind", tuple(Credential.Kind.values)),
        "status": parsing.choice(query, "status", ("active", "expired", "revoked")),
        "county_fips": parsing.county_fips(query),
        "polling_place": parsing.identifier(query, "polling_place"),
        "q": q,
    }


def _iso(moment: Any) -> str | None:
    return moment.isoformat().replace("+00:00", "Z") if moment else None


class CredentialListView(CredentialView):
    @extend_schema(
        operation_id="credentials_list",
        summary="Credentials in your scope",
        parameters=[
            *FILTERS,
            OpenApiParameter("limit", OpenApiTypes.INT, description=f"At most {PAGE_MAX}."),
            OpenApiParameter("offset", OpenApiTypes.INT),
        ],
        responses={200: OBJECT, 400: ERROR, 401: ERROR, 403: ERROR},
    )
    def get(self, request: Request) -> Response:
        limit, offset = parsing.page(request.query_params, default=PAGE_DEFAULT, maximum=PAGE_MAX)
        now = timezone.now()
        qs = selectors.credential_list(self.scope, now=now, **_filters(request))
        count = qs.count()
        rows = list(qs[offset : offset + limit])
        body: dict[str, Any] = {"count": count, "limit": limit, "offset": offset, "next": None}
        if offset + limit < count:
            query = request.query_params.copy()
            query["offset"], query["limit"] = str(offset + limit), str(limit)
            body["next"] = request.build_absolute_uri(f"{request.path}?{query.urlencode()}")
        body["results"] = ser.CredentialOut(rows, many=True, context={"now": now}).data
        return Response(body)

    @extend_schema(
        operation_id="credentials_issue",
        summary="Issue a credential",
        description=(
            "Poll watchers name the party or candidate that appointed them; observers do not. Scope: a county "
            "(FIPS) or listed polling places of one county. Validity defaults to election day, local midnight to "
            "midnight, and is kept to the minute."
        ),
        request=ser.CredentialIssueIn,
        responses={201: OBJECT, 400: ERROR, 401: ERROR, 403: ERROR},
    )
    def post(self, request: Request) -> Response:
        data = ser.CredentialIssueIn(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        errors: dict[str, list[str]] = {}
        county = None
        if v.get("county"):
            county = selectors.counties_for_issuing(self.scope).filter(fips=v["county"]).first()
            if county is None:
                errors["county"] = ["No such county in your scope."]
        ids = sorted(set(v["polling_places"]))
        places = list(selectors.polling_places_for_issuing(self.scope).filter(pk__in=ids))
        if len(places) != len(ids):
            missing = sorted(set(ids) - {p.pk for p in places})
            errors["polling_places"] = [f"No such polling place in your scope: {', '.join(map(str, missing[:10]))}."]
        election = Election.objects.filter(pk=v["election"]).first()
        if election is None:
            errors["election"] = ["No such election."]
        if errors:
            raise exceptions.ValidationError(errors)
        assert election is not None
        with service_errors():
            credential = services.credential_issue(
                actor=self.actor(),
                request=services.IssueRequest(
                    kind=v["kind"],
                    holder_name=v["holder_name"],
                    election=election,
                    county=county,
                    polling_places=places,
                    appointed_by_kind=v["appointed_by_kind"],
                    appointed_by_name=v["appointed_by_name"],
                    valid_from=v.get("valid_from"),
                    valid_until=v.get("valid_until"),
                ),
            )
        credential = selectors.credential_get(self.scope, credential.pk)
        return Response(
            ser.CredentialOut(credential).data,
            status=status.HTTP_201_CREATED,
            headers={"Location": f"{request.path}{credential.pk}/"},
        )


class CredentialDetailView(CredentialView):
    @extend_schema(
        operation_id="credentials_detail",
        summary="One credential",
        responses={200: OBJECT, 401: ERROR, 403: ERROR, 404: ERROR},
    )
    def get(self, request: Request, pk: int) -> Response:
        return Response(ser.CredentialOut(selectors.credential_get(self.scope, pk)).data)


class CredentialRevokeView(CredentialView):
    @extend_schema(
        operation_id="credentials_revoke",
        summary="Revoke a credential",
        description="For good: tablets learn of it from `revoked/`. A second revocation is 409 `already_revoked`.",
        request=ser.RevokeIn,
        responses={200: OBJECT, 400: ERROR, 401: ERROR, 403: ERROR, 404: ERROR, 409: ERROR},
    )
    def post(self, request: Request, pk: int) -> Response:
        credential = selectors.credential_get(self.scope, pk)
        data = ser.RevokeIn(data=request.data)
        data.is_valid(raise_exception=True)
        with service_errors():
            try:
                services.credential_revoke(
                    actor=self.actor(), credential_id=credential.pk, reason=data.validated_data["reason"]
                )
            except services.AlreadyRevoked as exc:
                raise BadRequest(str(exc), "already_revoked", status_code=409) from None
        return Response(ser.CredentialOut(selectors.credential_get(self.scope, pk)).data)


def _token(credential: Credential) -> str:
    try:
        return services.credential_token(credential)
    except services.SigningKeyUnavailable:
        raise BadRequest(
            "Credentials cannot be signed right now: the signing key cannot be unlocked. Tell the administrator.",
            "signing_key_unavailable",
            status_code=503,
        ) from None


def _printable(scope: Scope, pk: int) -> Credential:
    credential = selectors.credential_get(scope, pk)
    state = credential.display_status()
    if state != "active":
        raise BadRequest(f"This credential is {state}; it cannot be printed.", f"credential_{state}", status_code=409)
    return credential


PRIVATE = {"Cache-Control": "private, no-store", "X-Content-Type-Options": "nosniff"}


class CredentialQrView(CredentialView):
    @extend_schema(
        operation_id="credentials_qr",
        summary="The credential's signed token as a QR code (SVG)",
        responses={
            (200, "image/svg+xml"): OpenApiResponse(OpenApiTypes.BINARY),
            401: ERROR,
            403: ERROR,
            404: ERROR,
            409: ERROR,
            503: ERROR,
        },
    )
    def get(self, request: Request, pk: int) -> HttpResponse:
        credential = _printable(self.scope, pk)
        token = _token(credential)
        return HttpResponse(badges.qr_svg(token), content_type="image/svg+xml", headers=PRIVATE)


class CredentialBadgeView(CredentialView):
    @extend_schema(
        operation_id="credentials_badge",
        summary="A printable 4 x 6 inch badge (PDF)",
        responses={
            (200, "application/pdf"): OpenApiResponse(OpenApiTypes.BINARY),
            401: ERROR,
            403: ERROR,
            404: ERROR,
            409: ERROR,
            503: ERROR,
        },
    )
    def get(self, request: Request, pk: int) -> HttpResponse:
        credential = _printable(self.scope, pk)
        token = _token(credential)
        pdf = badges.badge_pdf(credential, token, zone=geography_selectors.local_zone(credential.county))
        headers = PRIVATE | {"Content-Disposition": f'inline; filename="credential-{credential.serial}.pdf"'}
        return HttpResponse(pdf, content_type="application/pdf", headers=headers)


def _import_error_response(exc: services.ImportRejected) -> Response:
    errors: dict[str, list[dict[str, str]]] = {}
    for e in exc.errors:
        key = (f"row {e.row}" if e.row else "file") + (f": {e.column}" if e.column else "")
        errors.setdefault(key, []).append({"detail": e.detail, "code": e.code})
    rows = [{"row": e.row or None, "column": e.column or None, "detail": e.detail, "code": e.code} for e in exc.errors]
    n = len({e.row for e in exc.errors})
    detail = exc.errors[0].detail if n == 1 else f"{n} rows have errors, the first: {exc.errors[0].detail}"
    body = {"detail": f"{detail} Nothing was imported.", "code": exc.code, "errors": errors, "rows": rows}
    return Response(body, status=exc.status_code)


class CredentialImportView(CredentialView):
    parser_classes = [MultiPartParser, CSVParser]

    @extend_schema(
        operation_id="credentials_import",
        summary="Issue credentials from a CSV file, all or nothing",
        description=(
            "Upload as multipart field `file` or as a `text/csv` body, UTF-8. Columns: `kind`, `holder_name`, "
            "`election` (id), `county` (FIPS) required; `appointed_by_kind`, `appointed_by_name`, `polling_places` "
            "(codes separated by `;`), `valid_from`, `valid_until` (ISO 8601; without an offset: the county's local "
            "time; both empty: election day) optional; `serial`, `status`, `issued_at`, `revoked_at`, "
            "`revocation_reason` (as exported) ignored. Every row is checked first; any error refuses the file "
            "with every problem named by row (the header is row 1) and column."
        ),
        request={
            "multipart/form-data": {
                "type": "object",
                "properties": {"file": {"type": "string", "format": "binary"}},
                "required": ["file"],
            },
            "text/csv": {"type": "string"},
        },
        responses={201: OBJECT, 400: ERROR, 401: ERROR, 403: ERROR, 413: ERROR},
    )
    def post(self, request: Request) -> Response:
        limit = settings.CREDENTIAL_IMPORT_MAX_BYTES
        try:
            declared = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            declared = 0
        if declared > limit + 65536:  # room for the multipart envelope
            raise BadRequest(f"The file is larger than {limit} bytes.", "file_too_large", status_code=413)
        filename = ""
        if isinstance(request.data, bytes):
            data = request.data
        else:
            upload = request.FILES.get("file")
            if upload is None:
                raise BadRequest("Upload the CSV as the multipart field 'file'.", "missing_file", field="file")
            if upload.size is not None and upload.size > limit:
                raise BadRequest(f"The file is larger than {limit} bytes.", "file_too_large", status_code=413)
            filename = upload.name or ""
            data = upload.read(limit + 1)
        try:
            created = services.credentials_import(actor=self.actor(), scope=self.scope, data=data, filename=filename)
        except services.ImportRejected as exc:
            return _import_error_response(exc)
        return Response(
            {
                "created": len(created),
                "credentials": [{"id": c.pk, "serial": c.serial, "holder_name": c.holder_name} for c in created],
            },
            status=status.HTTP_201_CREATED,
        )


class CredentialExportView(CredentialView):
    @extend_schema(
        operation_id="credentials_export",
        summary="Credentials in your scope as CSV (the import's columns)",
        parameters=FILTERS,
        responses={(200, "text/csv"): OpenApiResponse(OpenApiTypes.STR), 400: ERROR, 401: ERROR, 403: ERROR},
    )
    def get(self, request: Request) -> StreamingHttpResponse:
        now = timezone.now()
        qs = selectors.credential_list(self.scope, now=now, **_filters(request)).order_by("county__fips", "pk")

        def lines() -> Iterator[str]:
            buffer = io.StringIO()
            writer = csv.writer(buffer, lineterminator="\r\n")

            def flush() -> str:
                text = buffer.getvalue()
                buffer.seek(0)
                buffer.truncate()
                return text

            writer.writerow(services.CSV_COLUMNS)
            yield flush()
            for c in qs.iterator(chunk_size=500):
                zone = geography_selectors.local_zone(c.county)
                writer.writerow(
                    [
                        c.serial,
                        c.kind,
                        c.holder_name,
                        c.appointed_by_kind,
                        c.appointed_by_name,
                        c.election_id,
                        c.county.fips,
                        ";".join(p.code for p in sorted(c.polling_places.all(), key=lambda p: p.code)),
                        c.valid_from.astimezone(zone).isoformat(),
                        c.valid_until.astimezone(zone).isoformat(),
                        c.display_status(now),
                        _iso(c.issued_at),
                        _iso(c.revoked_at) or "",
                        c.revocation_reason,
                    ]
                )
                yield flush()

        stamp = now.strftime("%Y%m%dT%H%MZ")
        return StreamingHttpResponse(
            lines(),
            content_type="text/csv; charset=utf-8",
            headers=PRIVATE | {"Content-Disposition": f'attachment; filename="credentials-{stamp}.csv"'},
        )


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


class RevokedView(CredentialView):
    permission_classes = [IsAuthenticated, HasStaffRole]

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
        raw = request.query_params.get("since") or ""
        since = None
        if raw:
            try:
                since = parse_datetime(raw.replace(" ", "+"))  # an unencoded '+' arrives as a space
            except ValueError:
                since = None
            if since is None or timezone.is_naive(since):
                raise BadRequest(
                    "'since' must be an ISO 8601 date-time with a UTC offset, e.g. 2026-11-03T06:00:00Z.",
                    "invalid_since",
                    field="since",
                )
        now = timezone.now()
        rows = selectors.revocations(self.scope, since=since).values_list("serial", "revoked_at")
        return Response(
            {
                "generated_at": _iso(now),
                "next_since": _iso(now - selectors.REVOCATION_OVERLAP),
                "revoked": [{"serial": serial, "revoked_at": _iso(at)} for serial, at in rows],
            },
            headers={"Cache-Control": "private, no-cache"},
        )


class ScopeHashesView(CredentialView):
    permission_classes = [IsAuthenticated, HasStaffRole]

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
        place = selectors.place_for_verifying(self.scope, place_id)
        if place is None:
            raise exceptions.NotFound("No such polling place.")
        hashes = selectors.scope_hashes_covering(place)
        for h in hashes:
            h["valid_until"] = _iso(h["valid_until"])
        return Response({"polling_place": place.pk, "scope_hashes": hashes})


class VerifyView(CredentialView):
    permission_classes = [IsAuthenticated, HasStaffRole]

    @extend_schema(
        operation_id="credentials_verify",
        summary="Check a presented credential token at a polling place",
        description=(
            "`valid` with `reason` null, or `valid: false` with `reason` one of `malformed`, `unknown_key`, "
            "`bad_signature`, `unknown_credential`, `revoked`, `not_yet_valid`, `expired`, `wrong_election`, "
            "`wrong_place`. The election is the one given, else the place's upcoming election (the first of its "
            "state on or after the local date of `at`). `credential` (when the token is genuine) holds only what a "
            "poll worker needs: serial, kind, name, appointing party or candidate."
        ),
        request=ser.VerifyIn,
        responses={200: OBJECT, 400: ERROR, 401: ERROR, 403: ERROR, 404: ERROR},
    )
    def post(self, request: Request) -> Response:
        data = ser.VerifyIn(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        place = selectors.place_for_verifying(self.scope, v["polling_place"])
        if place is None:
            raise BadRequest("No such polling place.", "not_found", field="polling_place", status_code=404)
        election = None
        if "election" in v:
            election = Election.objects.filter(pk=v["election"], jurisdiction_id=place.county.jurisdiction_id).first()
            if election is None:
                raise BadRequest("No such election in this polling place's state.", "invalid", field="election")
        at = v.get("at") or timezone.now()
        verdict = services.credential_verify(token=v["token"], polling_place=place, election=election, at=at)
        return Response(
            {
                "valid": verdict.valid,
                "reason": verdict.reason,
                "detail": verdict.detail,
                "credential": ser.CredentialForPollWorkerOut(verdict.credential).data if verdict.credential else None,
                "polling_place": place.pk,
                "election": verdict.election.pk if verdict.election else None,
                "at": _iso(at),
            },
            headers={"Cache-Control": "no-store"},
        )

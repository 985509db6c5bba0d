"""The credentials API for administrators and commissioners, in their scope: list, issue, read, revoke and print
(QR code, badge). CSV files are in ``credential_csv_views``; what tablets use to check credentials in
``credential_check_views``.

Thin views: parse → selector (scoped: outside one's scope a credential is 404) → service → output serializer.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpResponse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.api import credential_serializers as ser
from accounts.api.credential_base import FILTERS, PRIVATE, CredentialView, credential_filters
from accounts.credentials import badges, issuing, selectors
from common.api import parsing
from common.api.paging import paginated
from common.api.schema import ERROR
from polling.geography import selectors as geography_selectors

PAGE_DEFAULT, PAGE_MAX = 50, 500

OBJECT = OpenApiResponse(response=OpenApiTypes.OBJECT)


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
        qs = selectors.credential_list(self.scope, now=now, **credential_filters(request))
        body, rows = paginated(request, qs, limit, offset)
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
        county, places, election = selectors.issue_targets(
            self.scope, county_fips=v.get("county"), place_ids=v["polling_places"], election_id=v["election"]
        )
        credential = issuing.credential_issue(
            actor=self.actor(),
            request=issuing.IssueRequest(
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
        issuing.credential_revoke(actor=self.actor(), credential_id=credential.pk, reason=data.validated_data["reason"])
        return Response(ser.CredentialOut(selectors.credential_get(self.scope, pk)).data)


def _printed(summary: str, media_type: str) -> dict[str, Any]:
    """The schema of a printable file of an active credential (409 otherwise; 503 when nothing can be signed)."""
    return {
        "summary": summary,
        "responses": {
            (200, media_type): OpenApiResponse(OpenApiTypes.BINARY),
            401: ERROR,
            403: ERROR,
            404: ERROR,
            409: ERROR,
            503: ERROR,
        },
    }


class CredentialQrView(CredentialView):
    @extend_schema(
        operation_id="credentials_qr", **_printed("The credential's signed token as a QR code (SVG)", "image/svg+xml")
    )
    def get(self, request: Request, pk: int) -> HttpResponse:
        credential = selectors.credential_printable(self.scope, pk)
        token = issuing.credential_token(credential)
        return HttpResponse(badges.qr_svg(token), content_type="image/svg+xml", headers=PRIVATE)


class CredentialBadgeView(CredentialView):
    @extend_schema(
        operation_id="credentials_badge", **_printed("A printable 4 x 6 inch badge (PDF)", "application/pdf")
    )
    def get(self, request: Request, pk: int) -> HttpResponse:
        credential = selectors.credential_printable(self.scope, pk)
        token = issuing.credential_token(credential)
        pdf = badges.badge_pdf(credential, token, zone=geography_selectors.local_zone(credential.county))
        headers = PRIVATE | {"Content-Disposition": f'inline; filename="credential-{credential.serial}.pdf"'}
        return HttpResponse(pdf, content_type="application/pdf", headers=headers)

"""Credentials as CSV files: import (issue from a file, all or nothing) and export (the import's columns), for
administrators and commissioners in their scope."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Any

from django.conf import settings
from django.http import StreamingHttpResponse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.parsers import BaseParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.api.credential_base import FILTERS, PRIVATE, CredentialView, credential_filters, utc_text
from accounts.credentials import importing, selectors
from accounts.models import Credential
from common.api.errors import BadRequest
from common.api.schema import ERROR
from common.spreadsheet import formula_safe
from polling.geography import selectors as geography_selectors

#: Room for the multipart envelope around a file of the largest size allowed.
MULTIPART_ALLOWANCE = 65536


class CSVParser(BaseParser):
    media_type = "text/csv"

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> bytes:
        return stream.read() if stream is not None else b""


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
        responses={201: OpenApiResponse(response=OpenApiTypes.OBJECT), 400: ERROR, 401: ERROR, 403: ERROR, 413: ERROR},
    )
    def post(self, request: Request) -> Response:
        try:
            declared = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            declared = 0
        importing.import_size_check(size=declared, allowance=MULTIPART_ALLOWANCE)
        filename = ""
        if isinstance(request.data, bytes):
            data = request.data
        else:
            upload = request.FILES.get("file")
            if upload is None:
                raise BadRequest("Upload the CSV as the multipart field 'file'.", "missing_file", field="file")
            importing.import_size_check(size=upload.size)
            filename = upload.name or ""
            data = upload.read(settings.CREDENTIAL_IMPORT_MAX_BYTES + 1)
        created = importing.credentials_import(actor=self.actor(), scope=self.scope, data=data, filename=filename)
        return Response(
            {
                "created": len(created),
                "credentials": [{"id": c.pk, "serial": c.serial, "holder_name": c.holder_name} for c in created],
            },
            status=status.HTTP_201_CREATED,
        )


def _export_row(c: Credential, now: Any) -> list[Any]:
    zone = geography_selectors.local_zone(c.county)
    return [
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
        utc_text(c.issued_at),
        utc_text(c.revoked_at) or "",
        c.revocation_reason,
    ]


class CredentialExportView(CredentialView):
    @extend_schema(
        operation_id="credentials_export",
        summary="Credentials in your scope as CSV (the import's columns)",
        parameters=FILTERS,
        responses={(200, "text/csv"): OpenApiResponse(OpenApiTypes.STR), 400: ERROR, 401: ERROR, 403: ERROR},
    )
    def get(self, request: Request) -> StreamingHttpResponse:
        now = timezone.now()
        qs = selectors.credential_list(self.scope, now=now, **credential_filters(request)).order_by(
            "county__fips", "pk"
        )

        def lines() -> Iterator[str]:
            buffer = io.StringIO()
            writer = csv.writer(buffer, lineterminator="\r\n")

            def flush() -> str:
                text = buffer.getvalue()
                buffer.seek(0)
                buffer.truncate()
                return text

            writer.writerow([formula_safe(cell) for cell in importing.CSV_COLUMNS])
            yield flush()
            for c in qs.iterator(chunk_size=500):
                writer.writerow([formula_safe(cell) for cell in _export_row(c, now)])
                yield flush()

        stamp = now.strftime("%Y%m%dT%H%MZ")
        return StreamingHttpResponse(
            lines(),
            content_type="text/csv; charset=utf-8",
            headers=PRIVATE | {"Content-Disposition": f'attachment; filename="credentials-{stamp}.csv"'},
        )

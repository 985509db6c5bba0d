"""Incidents: staff report them and read them within their scope; never public, never edited.

``GET/POST /api/v1/incidents/``, ``GET /api/v1/incidents/{id}/``, ``GET /api/v1/incidents/{id}/photo``.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from typing import Any

from django.conf import settings
from django.db.models import QuerySet
from django.http import HttpResponse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.parsers import MultiPartParser
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.authentication import request_actor
from accounts.permissions import HasStaffRole, request_scope
from accounts.scopes import Scope
from common.api import parsing
from common.api.errors import BadRequest
from common.api.paging import paginated
from common.api.parsers import JSONParser
from common.api.schema import OBJECT
from common.text import unprintable
from polling.api import params
from polling.election_day.incidents import photos, selectors
from polling.election_day.incidents.services import incident_report
from polling.models.incidents import DESCRIPTION_MAX_CHARS, Incident

PAGE_DEFAULT = 50
PAGE_MAX = 200
#: A report may be made a little after the fact, never ahead of the server's clock by more than clock skew.
MAX_FUTURE_SKEW = dt.timedelta(minutes=10)
#: Room for the form fields around the photo in a multipart body.
MULTIPART_OVERHEAD_BYTES = 64 * 1024


class IncidentStaff(HasStaffRole):
    message = "Only election staff may see or report incidents."


class IncidentView(APIView):
    permission_classes = [IsAuthenticated, IncidentStaff]

    @property
    def scope(self) -> Scope:
        return request_scope(self.request)


def _text(fields: parsing.BodyFields, name: str) -> str:
    raw = fields.data.get(name)
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        raise BadRequest(f"'{name}' is required.", "missing_parameter", field=name)
    # PostgreSQL text cannot hold NUL; no honest description contains one.
    if not isinstance(raw, str) or "\x00" in raw:
        raise BadRequest(f"'{name}' must be text.", f"invalid_{name}", field=name)
    # Line breaks are text in a description; no other control or format character is (bidi overrides, zero-width).
    found = unprintable(raw.replace("\r", "").replace("\n", ""))
    if found:
        raise BadRequest(
            f"'{name}' may hold line breaks but no other control or format characters: " + ", ".join(found),
            "unprintable_characters",
            field=name,
        )
    return raw.strip()


_UUID = re.compile(r"[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}")


def _report_id(fields: parsing.BodyFields) -> uuid.UUID | None:
    raw = fields.get("report_id")
    if raw is None or raw == "":
        return None
    if _UUID.fullmatch(raw):  # canonical or bare hex; no braces or URN
        return uuid.UUID(raw)
    raise BadRequest("'report_id' must be a UUID.", "invalid_report_id", field="report_id")


def _in(place_id: int | None, name: str) -> None:
    if place_id is None:
        raise BadRequest(f"'{name}' is required.", "missing_parameter", field=name)


def _iso(moment: dt.datetime | None) -> str | None:
    return moment.isoformat().replace("+00:00", "Z") if moment else None


def incident_out(incident: Incident) -> dict[str, Any]:
    place = incident.polling_place
    rule = None
    if incident.rule_measured_from:
        rule = {
            "activity": incident.activity,
            "distance_ft": float(incident.rule_distance_ft) if incident.rule_distance_ft is not None else None,
            "measured_from": incident.rule_measured_from,
            "citation": incident.rule_citation,
            "reference_kind": incident.reference_kind,
            "approximate": incident.approximate,
        }
    return {
        "id": incident.pk,
        "polling_place": {"id": place.pk, "code": place.code, "name": place.name},
        "election": incident.election_id,
        "activity": incident.activity,
        "lon": incident.lon,
        "lat": incident.lat,
        "accuracy_m": incident.accuracy_m,
        "occurred_at": _iso(incident.occurred_at),
        "reported_at": _iso(incident.reported_at),
        "reported_by": {"id": incident.reported_by_id, "username": incident.reported_by.get_username()},
        "description": incident.description,
        "distance_ft": round(incident.distance_ft, 2) if incident.distance_ft is not None else None,
        "zone_status": incident.zone_status or None,
        "rule": rule,
        "photo": f"/api/v1/incidents/{incident.pk}/photo" if incident.photo_path else None,
    }


FILTERS = [
    OpenApiParameter("polling_place", OpenApiTypes.INT),
    OpenApiParameter("election", OpenApiTypes.INT),
    OpenApiParameter("activity", OpenApiTypes.STR, enum=list(Incident.Activity.values)),
    OpenApiParameter("zone_status", OpenApiTypes.STR, enum=list(Incident.ZoneStatus.values)),
    OpenApiParameter("since", OpenApiTypes.DATETIME, description="Occurred at or after (ISO 8601 with offset)."),
    OpenApiParameter("until", OpenApiTypes.DATETIME, description="Occurred before (ISO 8601 with offset)."),
    OpenApiParameter("limit", OpenApiTypes.INT, description=f"At most {PAGE_MAX}."),
    OpenApiParameter("offset", OpenApiTypes.INT),
]


class IncidentListView(IncidentView):
    parser_classes = [JSONParser, MultiPartParser]

    @extend_schema(
        operation_id="incidents_list",
        summary="Incidents in your scope",
        parameters=FILTERS,
        responses={200: OBJECT, 400: OBJECT, 401: OBJECT, 403: OBJECT},
    )
    def get(self, request: Request) -> Response:
        query = request.query_params
        limit, offset = parsing.page(query, default=PAGE_DEFAULT, maximum=PAGE_MAX)
        qs: QuerySet[Incident] = selectors.incident_list(
            self.scope,
            polling_place=parsing.identifier(query, "polling_place"),
            election=parsing.identifier(query, "election"),
            activity=parsing.choice(query, "activity", tuple(Incident.Activity.values)),
            zone_status=parsing.choice(query, "zone_status", tuple(Incident.ZoneStatus.values)),
            since=parsing.aware_datetime(query.get("since"), "since", required=False),
            until=parsing.aware_datetime(query.get("until"), "until", required=False),
        )
        body, rows = paginated(request, qs, limit, offset)
        body["results"] = [incident_out(row) for row in rows]
        return Response(body)

    @extend_schema(
        operation_id="incidents_report",
        summary="Report an incident",
        description=(
            "JSON, or multipart/form-data with an optional `photo` (JPEG, PNG or WebP; metadata is stripped). The "
            "server measures the exact geodesic distance to the reference of the state's rule for the activity. "
            "Optional `report_id` (a UUID the client makes): the same report sent again under it is stored once and "
            "answered 200 with the first report; another report under it is 422 `report_id_reused`."
        ),
        request=OBJECT,
        responses={200: OBJECT, 201: OBJECT, 400: OBJECT, 401: OBJECT, 403: OBJECT, 413: OBJECT, 422: OBJECT},
    )
    def post(self, request: Request) -> Response:
        length = request.META.get("CONTENT_LENGTH") or "0"
        max_body = settings.INCIDENT_PHOTO_MAX_BYTES + MULTIPART_OVERHEAD_BYTES
        if length.isdigit() and int(length) > max_body:
            raise photos.photo_too_large(f"The request is larger than {max_body} bytes.")
        if not hasattr(request.data, "get"):  # a JSON array, string, number or null
            raise BadRequest("The body must be a JSON object or a multipart form.", "invalid")
        fields = parsing.BodyFields(request.data)
        place_id = parsing.identifier(fields, "polling_place")
        _in(place_id, "polling_place")
        activity = parsing.choice(fields, "activity", tuple(Incident.Activity.values))
        if activity is None:
            raise BadRequest("'activity' is required.", "missing_parameter", field="activity")
        lon, lat = params.coordinates(fields)
        given = fields.get("accuracy_m") not in (None, "")
        accuracy = params.accuracy(fields) if given else None
        occurred_at = parsing.aware_datetime(fields.get("occurred_at"), "occurred_at", required=True)
        assert occurred_at is not None
        if occurred_at > timezone.now() + MAX_FUTURE_SKEW:
            raise BadRequest("'occurred_at' is in the future.", "occurred_at_in_future", field="occurred_at")
        description = _text(fields, "description")
        if len(description) > DESCRIPTION_MAX_CHARS:
            raise BadRequest(
                f"'description' is at most {DESCRIPTION_MAX_CHARS} characters.",
                "description_too_long",
                field="description",
            )
        election_id = parsing.identifier(fields, "election")
        report_id = _report_id(fields)

        assert place_id is not None
        if report_id is not None:
            replayed = selectors.replayed_report(
                self.scope,
                report_id=report_id,
                polling_place_id=place_id,
                election_id=election_id,
                activity=activity,
                lon=lon,
                lat=lat,
                occurred_at=occurred_at,
                description=description,
            )
            if replayed is not None:
                return Response(incident_out(selectors.incident_get(self.scope, replayed.pk)), status=200)
        place, election = selectors.report_site(
            self.scope, polling_place_id=place_id, election_id=election_id, occurred_at=occurred_at, lon=lon, lat=lat
        )
        upload = request.FILES.get("photo")
        photo = photos.clean_photo(upload) if upload is not None else None

        photo_path = photos.store_photo(photo) if photo else ""
        try:
            reported = incident_report(
                actor=request_actor(request),
                polling_place=place,
                election=election,
                activity=activity,
                lon=lon,
                lat=lat,
                accuracy_m=accuracy,
                occurred_at=occurred_at,
                description=description,
                photo_path=photo_path,
                photo_content_type=photo.content_type if photo else "",
                report_id=report_id,
            )
        except BaseException:
            if photo_path:
                photos.delete_photo(photo_path)
            raise
        if reported.replayed and photo_path:
            photos.delete_photo(photo_path)  # the first send's photo (or none) stands
        incident = selectors.incident_get(self.scope, reported.incident.pk)
        return Response(incident_out(incident), status=200 if reported.replayed else 201)


class IncidentDetailView(IncidentView):
    @extend_schema(operation_id="incidents_retrieve", responses={200: OBJECT, 401: OBJECT, 403: OBJECT, 404: OBJECT})
    def get(self, request: Request, pk: int) -> Response:
        return Response(incident_out(selectors.incident_get(self.scope, pk)))


class IncidentPhotoView(IncidentView):
    @extend_schema(
        operation_id="incidents_photo",
        summary="An incident's photo (metadata stripped)",
        responses={(200, "image/*"): OpenApiTypes.BINARY, 401: OBJECT, 403: OBJECT, 404: OBJECT},
    )
    def get(self, request: Request, pk: int) -> HttpResponse:
        incident = selectors.incident_get(self.scope, pk)
        data = photos.read_photo(incident)
        response = HttpResponse(data, content_type=incident.photo_content_type)
        extension = incident.photo_path.rsplit(".", 1)[-1]
        response["Content-Disposition"] = f'inline; filename="incident-{incident.pk}.{extension}"'
        response["Cache-Control"] = "private, no-store"
        response["X-Content-Type-Options"] = "nosniff"
        return response

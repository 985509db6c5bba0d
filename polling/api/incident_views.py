"""Incidents: staff report them and read them within their scope; never public, never edited.

``GET/POST /api/v1/incidents/``, ``GET /api/v1/incidents/{id}/``, ``GET /api/v1/incidents/{id}/photo``.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from functools import cached_property
from typing import Any

import pyproj
from django.conf import settings
from django.db.models import QuerySet
from django.http import HttpResponse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.parsers import JSONParser, MultiPartParser
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.authentication import request_actor
from accounts.scopes import Scope
from common.api import parsing
from common.api.errors import BadRequest
from common.api.paging import paginated
from polling.api import params
from polling.election_day import incidents
from polling.election_day.incident_services import incident_report, place_for_measuring
from polling.models import Election
from polling.models.incidents import DESCRIPTION_MAX_CHARS, Incident

PAGE_DEFAULT = 50
PAGE_MAX = 200
#: A report may be made a little after the fact, never ahead of the server's clock by more than clock skew.
MAX_FUTURE_SKEW = dt.timedelta(minutes=10)
#: Room for the form fields around the photo in a multipart body.
MULTIPART_OVERHEAD_BYTES = 64 * 1024
OBJECT = OpenApiTypes.OBJECT
EARLIEST = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
LATEST = dt.datetime(2100, 1, 1, tzinfo=dt.UTC)
#: An incident is reported at a polling place: a spot farther than this is a coordinate error, not an incident.
MAX_DISTANCE_FROM_PLACE_M = 5000.0
_GEOD = pyproj.Geod(ellps="WGS84")


def _metres_from(place: Any, lon: float, lat: float) -> float:
    return float(_GEOD.inv(place.lon, place.lat, lon, lat)[2])


class HasStaffRole(BasePermission):
    """Any active staff grant: administrators, commissioners, poll managers and poll workers."""

    message = "Only election staff may see or report incidents."

    def has_permission(self, request: Request, view: Any) -> bool:
        return bool(view.scope.roles)


class IncidentView(APIView):
    permission_classes = [IsAuthenticated, HasStaffRole]

    @cached_property
    def scope(self) -> Scope:
        return Scope.for_user(self.request.user)


class _Fields:
    """``params`` reads a QueryDict of strings; a JSON body holds numbers too. Present both the same way."""

    def __init__(self, data: Any) -> None:
        self.data = data

    def get(self, name: str) -> str | None:
        value = self.data.get(name)
        if value is None or isinstance(value, str):
            return value
        if isinstance(value, bool):
            return "<boolean>"
        if isinstance(value, int) and abs(value) < 10**30:
            return str(value)
        if isinstance(value, int | float):
            try:
                return repr(float(value))
            except OverflowError:
                return "inf"
        return "<not a number>"

    def getlist(self, name: str) -> list[Any]:
        if hasattr(self.data, "getlist"):
            return list(self.data.getlist(name))
        return [self.data[name]] if name in self.data else []


def _moment(raw: str | None, name: str, *, required: bool) -> dt.datetime | None:
    if raw is None or raw == "":
        if required:
            raise BadRequest(f"'{name}' is required.", "missing_parameter", field=name)
        return None
    try:
        value = dt.datetime.fromisoformat(raw) if len(raw) <= 40 else None
    except ValueError:
        value = None
    if value is None:
        raise BadRequest(
            f"'{name}' must be an ISO 8601 date and time, e.g. 2026-11-03T09:30:00-06:00.",
            f"invalid_{name}",
            field=name,
        )
    if value.tzinfo is None or value.utcoffset() is None:
        raise BadRequest(f"'{name}' must carry a UTC offset (e.g. -06:00 or Z).", f"{name}_without_offset", field=name)
    # Aware comparisons never overflow; converting year 1 or 9999 to UTC (as the database layer does) would.
    if not EARLIEST <= value < LATEST:
        raise BadRequest(f"'{name}' must be between the years 2000 and 2099.", f"{name}_out_of_range", field=name)
    return value


def _text(fields: _Fields, name: str) -> str:
    raw = fields.data.get(name)
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        raise BadRequest(f"'{name}' is required.", "missing_parameter", field=name)
    # PostgreSQL text cannot hold NUL; no honest description contains one.
    if not isinstance(raw, str) or "\x00" in raw:
        raise BadRequest(f"'{name}' must be text.", f"invalid_{name}", field=name)
    return raw.strip()


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
        qs: QuerySet[Incident] = incidents.incident_list(
            self.scope,
            polling_place=parsing.identifier(query, "polling_place"),
            election=parsing.identifier(query, "election"),
            activity=parsing.choice(query, "activity", tuple(Incident.Activity.values)),
            zone_status=parsing.choice(query, "zone_status", tuple(Incident.ZoneStatus.values)),
            since=_moment(query.get("since"), "since", required=False),
            until=_moment(query.get("until"), "until", required=False),
        )
        body, rows = paginated(request, qs, limit, offset)
        body["results"] = [incident_out(row) for row in rows]
        return Response(body)

    @extend_schema(
        operation_id="incidents_report",
        summary="Report an incident",
        description=(
            "JSON, or multipart/form-data with an optional `photo` (JPEG, PNG or WebP; metadata is stripped). The "
            "server measures the exact geodesic distance to the reference of the state's rule for the activity."
        ),
        request=OBJECT,
        responses={201: OBJECT, 400: OBJECT, 401: OBJECT, 403: OBJECT, 413: OBJECT},
    )
    def post(self, request: Request) -> Response:
        length = request.META.get("CONTENT_LENGTH") or "0"
        max_body = settings.INCIDENT_PHOTO_MAX_BYTES + MULTIPART_OVERHEAD_BYTES
        if length.isdigit() and int(length) > max_body:
            raise BadRequest(
                f"The request is larger than {max_body} bytes.", "photo_too_large", field="photo", status_code=413
            )
        if not hasattr(request.data, "get"):  # a JSON array, string, number or null
            raise BadRequest("The body must be a JSON object or a multipart form.", "invalid")
        fields = _Fields(request.data)
        place_id = parsing.identifier(fields, "polling_place")  # type: ignore[arg-type]
        _in(place_id, "polling_place")
        activity = parsing.choice(fields, "activity", tuple(Incident.Activity.values))  # type: ignore[arg-type]
        if activity is None:
            raise BadRequest("'activity' is required.", "missing_parameter", field="activity")
        lon, lat = params.coordinates(fields)  # type: ignore[arg-type]
        given = fields.get("accuracy_m") not in (None, "")
        accuracy = params.accuracy(fields) if given else None  # type: ignore[arg-type]
        occurred_at = _moment(fields.get("occurred_at"), "occurred_at", required=True)
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
        election_id = parsing.identifier(fields, "election")  # type: ignore[arg-type]

        assert place_id is not None
        place, election = self._where(place_id, election_id, occurred_at)
        if _metres_from(place, lon, lat) > MAX_DISTANCE_FROM_PLACE_M:
            raise BadRequest(
                f"The location is more than {MAX_DISTANCE_FROM_PLACE_M / 1000:.0f} km from the polling place: check "
                "the coordinates (and that lon and lat are not swapped).",
                "too_far_from_polling_place",
                field="lon",
            )
        upload = request.FILES.get("photo")
        photo = incidents.clean_photo(upload) if upload is not None else None

        photo_path = incidents.store_photo(photo) if photo else ""
        try:
            incident = incident_report(
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
            )
        except BaseException:
            if photo_path:
                incidents.delete_photo(photo_path)
            raise
        incident = incidents.incident_get(self.scope, incident.pk)
        return Response(incident_out(incident), status=201)

    def _where(self, place_id: int, election_id: int | None, occurred_at: dt.datetime) -> tuple[Any, Election | None]:
        """The polling place (and election) the caller may report for; anything else does not exist for them."""
        scope = self.scope
        place = place_for_measuring(place_id)
        unknown = BadRequest("No such polling place in your scope.", "unknown_polling_place", field="polling_place")
        if place is None:
            raise unknown
        if scope.administers_county(place.county):
            election = None
            if election_id is not None:
                election = Election.objects.filter(pk=election_id, jurisdiction_id=place.county.jurisdiction_id).first()
                if election is None:
                    raise BadRequest("No such election for this polling place.", "unknown_election", field="election")
            else:
                election = _election_on_the_day(place, occurred_at)
            return place, election
        elections = sorted(e for p, e in scope.places if p == place.pk)
        if not elections:
            raise unknown
        if election_id is None:
            if len(elections) > 1:
                raise BadRequest(
                    "You work at this polling place in several elections: name the 'election'.",
                    "missing_parameter",
                    field="election",
                )
            election_id = elections[0]
        elif election_id not in elections:
            raise BadRequest(
                "You do not work at this polling place in that election.", "unknown_election", field="election"
            )
        return place, Election.objects.get(pk=election_id)


def _election_on_the_day(place: Any, occurred_at: dt.datetime) -> Election | None:
    """The election this polling place serves on the local day of ``occurred_at``, when there is exactly one (so a
    commissioner's report is seen by the poll workers of that election)."""
    zone = zoneinfo.ZoneInfo(place.county.timezone or place.county.jurisdiction.timezone)
    day = occurred_at.astimezone(zone).date()
    found = list(
        Election.objects.filter(
            jurisdiction_id=place.county.jurisdiction_id, date=day, assignments__polling_place=place
        ).distinct()[:2]
    )
    return found[0] if len(found) == 1 else None


class IncidentDetailView(IncidentView):
    @extend_schema(operation_id="incidents_retrieve", responses={200: OBJECT, 401: OBJECT, 403: OBJECT, 404: OBJECT})
    def get(self, request: Request, pk: int) -> Response:
        return Response(incident_out(incidents.incident_get(self.scope, pk)))


class IncidentPhotoView(IncidentView):
    @extend_schema(
        operation_id="incidents_photo",
        summary="An incident's photo (metadata stripped)",
        responses={(200, "image/*"): OpenApiTypes.BINARY, 401: OBJECT, 403: OBJECT, 404: OBJECT},
    )
    def get(self, request: Request, pk: int) -> HttpResponse:
        incident = incidents.incident_get(self.scope, pk)
        data = incidents.read_photo(incident)
        response = HttpResponse(data, content_type=incident.photo_content_type)
        extension = incident.photo_path.rsplit(".", 1)[-1]
        response["Content-Disposition"] = f'inline; filename="incident-{incident.pk}.{extension}"'
        response["Cache-Control"] = "private, no-store"
        response["X-Content-Type-Options"] = "nosniff"
        return response

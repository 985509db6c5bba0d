"""The public API: no login, throttled per client, cacheable (ETag from the geography version).

Thin views: parse and check the query (``params``), ask the spatial index or a selector, serialize as GeoJSON.
"""

from __future__ import annotations

import hashlib
import logging
import zoneinfo
from typing import Any

from django.db.models import Prefetch, Q, QuerySet
from django.http import HttpResponse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from common.api import parsing
from common.api.errors import BadRequest
from common.api.schema import ERROR
from common.api.throttles import PublicThrottle
from polling import geometry
from polling.api import geojson, params
from polling.geography import spatial
from polling.geography.services import geography_version
from polling.models import BufferRule, County, Election, Entrance, PollingPlace, Precinct, PrecinctAssignment

CACHE_SECONDS = 60
logger = logging.getLogger(__name__)


LAT = OpenApiParameter("lat", OpenApiTypes.DOUBLE, required=True, description="Latitude, WGS84 degrees (-90..90).")
LON = OpenApiParameter("lon", OpenApiTypes.DOUBLE, required=True, description="Longitude, WGS84 degrees (-180..180).")
COUNTY = OpenApiParameter("county", OpenApiTypes.STR, description="5-digit county FIPS code, e.g. 28049.")
BBOX = OpenApiParameter(
    "bbox", OpenApiTypes.STR, description="west,south,east,north (RFC 7946); west > east crosses the antimeridian."
)
LIMIT = OpenApiParameter("limit", OpenApiTypes.INT, description="Features per page.")
OFFSET = OpenApiParameter("offset", OpenApiTypes.INT, description="Features to skip.")
SIMPLIFY = OpenApiParameter(
    "simplify", OpenApiTypes.DOUBLE, description="Simplify boundaries to this tolerance in metres (0-5000)."
)
GEOJSON = OpenApiResponse(response=OpenApiTypes.OBJECT, description="GeoJSON (RFC 7946).")


class PublicView(APIView):
    authentication_classes: list[Any] = []
    permission_classes = [AllowAny]
    throttle_classes = [PublicThrottle]

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        self.geography_version = geography_version()

    def etag(self, extra: str = "") -> str:
        digest = hashlib.sha256(f"{self.request.get_full_path()}|{extra}".encode()).hexdigest()[:20]
        return f'W/"g{self.geography_version}-{digest}"'

    def not_modified(self, extra: str = "") -> HttpResponse | None:
        """A 304 when the client already holds this answer: checked before any work is done for the body."""
        etag = self.etag(extra)
        if _matches(self.request.headers.get("If-None-Match", ""), etag, wildcard=False):
            return HttpResponse(status=304, headers=self._cache_headers(etag))
        return None

    def cached(self, data: Any, extra: str = "") -> Response | HttpResponse:
        """200 with an ETag and a short public cache lifetime (or 304 if the client's copy is current)."""
        etag = self.etag(extra)
        if _matches(self.request.headers.get("If-None-Match", ""), etag):
            return HttpResponse(status=304, headers=self._cache_headers(etag))
        return Response(data, headers=self._cache_headers(etag))

    @staticmethod
    def _cache_headers(etag: str) -> dict[str, str]:
        return {"ETag": etag, "Cache-Control": f"public, max-age={CACHE_SECONDS}", "Vary": "Accept"}

    def index(self) -> spatial.GeographyIndex:
        return spatial.current_index(self.geography_version)


def _matches(header: str, etag: str, *, wildcard: bool = True) -> bool:
    tags = {t.strip() for t in header.split(",") if t.strip()}
    if "*" in tags:
        return wildcard  # only once the request is known to be valid (a body exists to be current)
    # Weak comparison (RFC 9110 §8.8.3.2): W/"x" and "x" match.
    return etag in tags or etag.removeprefix("W/") in tags


def _upcoming_election(jurisdiction_id: int, tz_name: str) -> Election | None:
    today = timezone.localdate(timezone=zoneinfo.ZoneInfo(tz_name))
    return Election.objects.filter(jurisdiction_id=jurisdiction_id, date__gte=today).order_by("date", "pk").first()


def _election_dict(election: Election) -> dict[str, Any]:
    return {
        "id": election.pk,
        "name": election.name,
        "date": election.date.isoformat(),
        "polls_open": election.polls_open.isoformat("minutes"),
        "polls_close": election.polls_close.isoformat("minutes"),
    }


class LookupView(PublicView):
    @extend_schema(
        operation_id="lookup",
        summary="Which precinct and polling place serve this point?",
        parameters=[
            LAT,
            LON,
            OpenApiParameter("election", OpenApiTypes.INT, description="Election id (default: the next upcoming)."),
        ],
        responses={200: OpenApiTypes.OBJECT, 400: ERROR, 404: ERROR, 429: ERROR},
    )
    def get(self, request: Request) -> Response | HttpResponse:
        lon, lat = params.coordinates(request.query_params)
        election_id = parsing.identifier(request.query_params, "election")
        hit = self.index().precinct_at(lon, lat)
        if hit is None:
            raise BadRequest("No precinct contains this point.", "no_precinct", status_code=404)
        county = County.objects.select_related("jurisdiction").only(
            "fips", "name", "jurisdiction__timezone", "timezone"
        )
        county = county.get(pk=hit.county_id)
        if election_id is not None:
            election = Election.objects.filter(pk=election_id, jurisdiction_id=hit.jurisdiction_id).first()
            if election is None:
                raise BadRequest(
                    "No such election for this precinct's state.",
                    "election_not_found",
                    field="election",
                    status_code=404,
                )
        else:
            election = _upcoming_election(hit.jurisdiction_id, county.timezone or county.jurisdiction.timezone)
        place = None
        if election is not None:
            assignment = (
                PrecinctAssignment.objects.filter(election=election, precinct_id=hit.id)
                .select_related("polling_place")
                .prefetch_related(Prefetch("polling_place__entrances", queryset=Entrance.objects.order_by("name")))
                .first()
            )
            if assignment is not None:
                p = assignment.polling_place
                place = {
                    "id": p.pk,
                    "code": p.code,
                    "name": p.name,
                    "address": p.address,
                    "lon": round(p.location.x, geojson.POINT_PRECISION),
                    "lat": round(p.location.y, geojson.POINT_PRECISION),
                    "accessibility_notes": p.accessibility_notes,
                    "entrances": [geojson.entrance_dict(e) for e in p.entrances.all()],
                }
        # The default election depends on today's date: it is part of what the ETag identifies.
        return self.cached(
            {
                "precinct": {"id": hit.id, "code": hit.code, "name": hit.name},
                "county": {"id": hit.county_id, "fips": hit.county_fips, "name": hit.county_name},
                "election": _election_dict(election) if election is not None else None,
                "polling_place": place,
            },
            extra=f"election={election.pk if election is not None else ''}",
        )


class ComplianceView(PublicView):
    @extend_schema(
        operation_id="compliance",
        summary="May I campaign (or loiter) here?",
        description=(
            "Every buffer zone within reach of the point (its limit plus `accuracy_m` plus 100 m) with the exact "
            "geodesic distance to what the rule measures from. `verdict` is `prohibited` inside any zone; "
            "`uncertain` when the GPS accuracy straddles a limit, when a zone was drawn from a stand-in reference "
            "(`approximate`), or outside every mapped precinct (`covered: false`); `allowed` otherwise."
        ),
        parameters=[
            LAT,
            LON,
            OpenApiParameter("accuracy_m", OpenApiTypes.DOUBLE, description="GPS accuracy in metres (0-1000)."),
            OpenApiParameter("activity", OpenApiTypes.STR, enum=list(BufferRule.Activity.values)),
        ],
        responses={200: OpenApiTypes.OBJECT, 400: ERROR, 429: ERROR},
    )
    def get(self, request: Request) -> Response | HttpResponse:
        if (unchanged := self.not_modified()) is not None:
            return unchanged
        lon, lat = params.coordinates(request.query_params)
        accuracy = params.accuracy(request.query_params)
        activity = parsing.choice(request.query_params, "activity", tuple(BufferRule.Activity.values))
        index = self.index()
        hits = index.zones_near(lon, lat, accuracy_m=accuracy, activity=activity)
        covered = index.precinct_at(lon, lat) is not None
        activities = [activity] if activity else list(BufferRule.Activity.values)
        verdicts = {a: _verdict([h for h in hits if h.zone.rule.activity == a], covered) for a in activities}
        return self.cached(
            {
                "verdict": _verdict(hits, covered),
                "verdicts": verdicts,
                "covered": covered,
                "lon": lon,
                "lat": lat,
                "accuracy_m": accuracy,
                "zones": [
                    {
                        "polling_place": h.zone.polling_place_id,
                        "polling_place_name": h.place_name,
                        "activity": h.zone.rule.activity,
                        "limit_ft": h.zone.limit_ft,
                        "distance_ft": round(h.classification.distance_ft, 2),
                        "distance_m": round(h.classification.distance_m, 3),
                        "status": str(h.classification.status),
                        "measured_from": h.zone.rule.measured_from,
                        "reference": h.zone.reference_kind,
                        "approximate": h.zone.approximate,
                        "citation": h.zone.rule.citation,
                    }
                    for h in hits
                ],
            }
        )


def _verdict(hits: list[spatial.ZoneHit], covered: bool) -> str:
    """``prohibited`` inside any zone; ``uncertain`` when a GPS fix straddles a limit, when a zone was drawn from a
    stand-in reference that may make it too small (``approximate``), or where we hold no geography (outside every
    precinct, polling places unknown); ``allowed`` only when none of that holds."""
    statuses = {str(h.classification.status) for h in hits}
    if "inside" in statuses:
        return "prohibited"
    if "uncertain" in statuses or any(h.zone.approximate for h in hits) or not covered:
        return "uncertain"
    return "allowed"


def _bbox_filter(qs: QuerySet[Any], box: tuple[float, float, float, float] | None) -> QuerySet[Any]:
    if box is None:
        return qs
    west, south, east, north = box
    lat = Q(bbox_south__lte=north, bbox_north__gte=south)
    if west <= east:
        return qs.filter(lat, bbox_west__lte=east, bbox_east__gte=west)
    # Crosses the antimeridian: [west, 180] or [-180, east].
    return qs.filter(lat & (Q(bbox_east__gte=west) | Q(bbox_west__lte=east)))


def _page(request: Request, qs: QuerySet[Any], default: int, maximum: int) -> tuple[list[Any], dict[str, Any]]:
    limit, offset = parsing.page(request.query_params, default=default, maximum=maximum)
    rows = list(qs[offset : offset + limit + 1])
    more = len(rows) > limit
    rows = rows[:limit]
    members: dict[str, Any] = {"numberReturned": len(rows), "offset": offset, "limit": limit}
    if more:
        query = request.query_params.copy()
        query["offset"] = str(offset + limit)
        query["limit"] = str(limit)
        members["next"] = request.build_absolute_uri(f"{request.path}?{query.urlencode()}")
    return rows, members


def _county_filter(request: Request, qs: QuerySet[Any], field: str) -> QuerySet[Any]:
    fips = parsing.county_fips(request.query_params)
    return qs.filter(**{field: fips}) if fips else qs


FILTERS = [COUNTY, BBOX, LIMIT, OFFSET]


class CountyListView(PublicView):
    @extend_schema(
        operation_id="counties_list",
        summary="Counties as GeoJSON",
        parameters=[BBOX, SIMPLIFY, LIMIT, OFFSET],
        responses={200: GEOJSON, 400: ERROR},
    )
    def get(self, request: Request) -> Response | HttpResponse:
        if (unchanged := self.not_modified()) is not None:
            return unchanged
        qs = County.objects.select_related("jurisdiction").order_by("fips")
        qs = _bbox_filter(qs, params.bbox(request.query_params))
        tolerance = params.simplify(request.query_params)
        rows, members = _page(request, qs, default=100, maximum=500)
        shapes = geojson.simplified([c.boundary for c in rows], tolerance)
        return self.cached(
            geojson.collection([geojson.county_feature(c, g) for c, g in zip(rows, shapes, strict=True)], **members)
        )


def _precincts() -> QuerySet[Precinct]:
    return Precinct.objects.select_related("county").defer("county__boundary").order_by("county__fips", "code")


class PrecinctListView(PublicView):
    @extend_schema(
        operation_id="precincts_list",
        summary="Precincts as GeoJSON",
        parameters=[*FILTERS, SIMPLIFY],
        responses={200: GEOJSON, 400: ERROR},
    )
    def get(self, request: Request) -> Response | HttpResponse:
        if (unchanged := self.not_modified()) is not None:
            return unchanged
        qs = _county_filter(request, _precincts(), "county__fips")
        qs = _bbox_filter(qs, params.bbox(request.query_params))
        tolerance = params.simplify(request.query_params)
        rows, members = _page(request, qs, default=200, maximum=1000)
        shapes = geojson.simplified([p.boundary for p in rows], tolerance)
        features = [geojson.precinct_feature(p, g) for p, g in zip(rows, shapes, strict=True)]
        return self.cached(geojson.collection(features, **members))


class PrecinctDetailView(PublicView):
    @extend_schema(
        operation_id="precincts_detail",
        summary="One precinct as a GeoJSON Feature",
        parameters=[SIMPLIFY],
        responses={200: GEOJSON, 404: ERROR},
    )
    def get(self, request: Request, pk: int) -> Response | HttpResponse:
        if (unchanged := self.not_modified()) is not None:
            return unchanged
        precinct = _precincts().filter(pk=pk).first()
        if precinct is None:
            raise exceptions.NotFound("No such precinct.")
        [shape] = geojson.simplified([precinct.boundary], params.simplify(request.query_params))
        return self.cached(geojson.precinct_feature(precinct, shape))


def _places() -> QuerySet[PollingPlace]:
    return (
        PollingPlace.objects.select_related("county")
        .defer("county__boundary")
        .prefetch_related(Prefetch("entrances", queryset=Entrance.objects.order_by("name")))
        .order_by("county__fips", "code")
    )


class PollingPlaceListView(PublicView):
    @extend_schema(
        operation_id="polling_places_list",
        summary="Polling places as GeoJSON points",
        parameters=FILTERS,
        responses={200: GEOJSON, 400: ERROR},
    )
    def get(self, request: Request) -> Response | HttpResponse:
        if (unchanged := self.not_modified()) is not None:
            return unchanged
        qs = _county_filter(request, _places().defer("building", "accessibility_notes"), "county__fips")
        qs = _bbox_filter(qs, params.bbox(request.query_params))
        rows, members = _page(request, qs, default=500, maximum=2000)
        return self.cached(geojson.collection([geojson.place_feature(p) for p in rows], **members))


class PollingPlaceDetailView(PublicView):
    @extend_schema(
        operation_id="polling_places_detail",
        summary="One polling place as a GeoJSON Feature",
        responses={200: GEOJSON, 404: ERROR},
    )
    def get(self, request: Request, pk: int) -> Response | HttpResponse:
        if (unchanged := self.not_modified()) is not None:
            return unchanged
        place = _places().filter(pk=pk).first()
        if place is None:
            raise exceptions.NotFound("No such polling place.")
        return self.cached(geojson.place_feature(place, detail=True))


class ZonesView(PublicView):
    @extend_schema(
        operation_id="polling_places_zones",
        summary="The buffer zones around a polling place",
        description="One polygon per buffer rule of the polling place's state, drawn to within 1 cm of the limit.",
        responses={200: GEOJSON, 404: ERROR},
    )
    def get(self, request: Request, pk: int) -> Response | HttpResponse:
        if (unchanged := self.not_modified()) is not None:
            return unchanged
        index = self.index()
        if not PollingPlace.objects.filter(pk=pk).exists():
            raise exceptions.NotFound("No such polling place.")
        features = _zone_features(index, index.zones_by_place.get(pk, []))
        return self.cached(geojson.collection(features, polling_place=pk))


class ZonesInBoxView(PublicView):
    @extend_schema(
        operation_id="zones_in_box",
        summary="Buffer zones of every polling place in a box (for maps)",
        parameters=[OpenApiParameter("bbox", OpenApiTypes.STR, required=True, description=BBOX.description), LIMIT],
        responses={200: GEOJSON, 400: ERROR},
    )
    def get(self, request: Request) -> Response | HttpResponse:
        if (unchanged := self.not_modified()) is not None:
            return unchanged
        box = params.bbox(request.query_params)
        if box is None:
            raise BadRequest("'bbox' is required.", "missing_parameter", field="bbox")
        limit, _offset = parsing.page(request.query_params, default=100, maximum=300)
        index = self.index()
        ids = list(_bbox_filter(PollingPlace.objects.order_by("pk"), box).values_list("pk", flat=True)[: limit + 1])
        truncated = len(ids) > limit
        zones = [z for pk in ids[:limit] for z in index.zones_by_place.get(pk, [])]
        return self.cached(geojson.collection(_zone_features(index, zones), truncated=truncated))


def _zone_features(index: spatial.GeographyIndex, zones: list[Any]) -> list[dict[str, Any]]:
    """Zone Features; a zone that cannot be drawn (data beyond what the geometry supports) is listed with a null
    geometry and the reason, never a server error that hides every other zone."""
    features = []
    for zone in zones:
        try:
            polygon = index.zone_polygon(zone)
        except geometry.GeometryError as exc:
            logger.warning(
                "zone of polling place %s (%s) cannot be drawn: %s", zone.polling_place_id, zone.rule.activity, exc
            )
            feature = geojson.zone_feature(zone, None)
            feature["properties"]["error"] = {"detail": str(exc), "code": exc.code}
            features.append(feature)
            continue
        features.append(geojson.zone_feature(zone, polygon))
    return features

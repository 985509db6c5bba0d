"""The public API: no login, throttled per client, cacheable (ETag from the geography version).

Thin views: parse and check the query (``params``, ``common.api.parsing``), ask the geography layer (the lookup,
the compliance answer, the selectors of the published geography), serialize as JSON or GeoJSON (``geojson``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable
from functools import partial
from json.encoder import encode_basestring  # type: ignore[attr-defined]
from typing import Any

from django.db.models import QuerySet
from django.http import HttpResponse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions
from rest_framework.permissions import AllowAny
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from common.api import parsing
from common.api.errors import BadRequest
from common.api.paging import next_link
from common.api.schema import ERROR
from common.api.throttles import PublicThrottle
from common.errors import DomainError
from polling.api import geojson, params
from polling.geography import selectors, spatial
from polling.geography.compliance import compliance_at
from polling.geography.locations import Opening, hours_in
from polling.geography.lookup import ServedNow, lookup_at, serving_at
from polling.geography.services import geography_version
from polling.geography.serving_table import Way
from polling.models import BufferRule, Election

CACHE_SECONDS = 60


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
FILTERS = [COUNTY, BBOX, LIMIT, OFFSET]


class PublicView(APIView):
    authentication_classes: list[Any] = []
    permission_classes = [AllowAny]
    throttle_classes = [PublicThrottle]

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        self.geography_version = geography_version()

    def etag(self, extra: str = "", *, version: int | None = None) -> str:
        """Identifies the answer: the request, ``extra``, and the geography version it was computed from (the
        index's for answers from the index, which may trail the database's while a large index rebuilds)."""
        digest = hashlib.sha256(f"{self.request.get_full_path()}|{extra}".encode()).hexdigest()[:20]
        return f'W/"g{self.geography_version if version is None else version}-{digest}"'

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


def _page(request: Request, qs: QuerySet[Any], default: int, maximum: int) -> tuple[list[Any], dict[str, Any]]:
    """A page of ``qs`` and the GeoJSON collection's paging members (``numberReturned``, ``offset``, ``limit``,
    ``next`` when there is more); one row beyond the page is read instead of counting them all."""
    limit, offset = parsing.page(request.query_params, default=default, maximum=maximum)
    rows = list(qs[offset : offset + limit + 1])
    more = len(rows) > limit
    rows = rows[:limit]
    members: dict[str, Any] = {"numberReturned": len(rows), "offset": offset, "limit": limit}
    if more:
        members["next"] = next_link(request, offset=offset, limit=limit)
    return rows, members


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
        index = self.index()
        found = lookup_at(lon=lon, lat=lat, election_id=election_id, index=index)
        hit, election = found.precinct, found.election
        places = serving_at(lookup=found, lon=lon, lat=lat, index=index)
        # The default election depends on today's date, "open now" on the time: both are part of what the ETag
        # identifies.
        opened = "".join("1" if s.open_now else "0" for s in places)
        etag = self.etag(f"election={election.pk if election is not None else ''};open={opened}", version=index.version)
        if _matches(self.request.headers.get("If-None-Match", ""), etag):
            return HttpResponse(status=304, headers=self._cache_headers(etag))
        # The answer is spliced from JSON parts: the precinct's own (from the index), the election's and each way of
        # serving (rendered once per geography version: ``GeographyIndex.memo``), each place's (written from the
        # table, a few microseconds; kept too where a precinct has many, as a vote-center county's), and what
        # changes per request.
        head = (
            f'{{"precinct":{{"id":{hit.id},"code":{_str(hit.code)},"name":{_str(hit.name)}}},'
            f'"county":{{"id":{hit.county_id},"fips":{_str(hit.county_fips)},"name":{_str(hit.county_name)}}}}}'
        ).encode()
        election_json = (
            index.memo(("api.lookup.election", election.pk), lambda: _render(_election_dict(election)))
            if election is not None
            else b"null"
        )
        if len(places) > _PLACES_WRITTEN_EACH_TIME:
            written = [index.memo(("api.lookup.place", s.table.serial, s.row), partial(_place_json, s)) for s in places]
        else:
            written = [_place_json(s) for s in places]
        # Today's field: the place assigned to the precinct (none where the county votes at vote centers).
        assigned = next((w for s, w in zip(places, written, strict=True) if s.way.assigned), b"null")
        serving = [_serving_json(index, s, w) for s, w in zip(places, written, strict=True)]
        body = b"".join(
            (
                head[:-1],
                b',"election":',
                election_json,
                b',"polling_place":',
                assigned,
                b',"places":[',
                b",".join(serving),
                b"]}",
            )
        )
        return HttpResponse(body, content_type="application/json", headers=self._cache_headers(etag))


#: Up to this many places serving a precinct are written for each answer; more (a county's vote centers) are kept.
_PLACES_WRITTEN_EACH_TIME = 4


def _place_json(served: ServedNow) -> bytes:
    """A place as ``polling_place`` shows it: ``_render(geojson.place_summary(place))``, written directly from the
    table's values (a lookup writes one or a few per request; tests/polling/api/test_lookup_warm.py checks that the
    bytes are the same)."""
    pk, code, name, address, location, notes, doors = served.table.place_values(served.row)
    lon, lat = (
        (_float(round(location[0], _POINT)), _float(round(location[1], _POINT))) if location else ("null", "null")
    )
    entrances = ",".join(
        f'{{"name":{_str(n)},"lon":{_float(round(x, _POINT))},"lat":{_float(round(y, _POINT))},'
        f'"accessible":{_bool(a)},"in_use":{_bool(u)}}}'
        for n, x, y, a, u in doors
    )
    return (
        f'{{"id":{pk},"code":{_str(code)},"name":{_str(name)},"address":{_str(address)},"lon":{lon},"lat":{lat},'
        f'"accessibility_notes":{_str(notes)},"entrances":[{entrances}]}}'
    ).encode()


def _serving_json(index: spatial.GeographyIndex, now: ServedNow, place: bytes) -> bytes:
    """A place serving the precinct: what changes with the request (open now, distance) spliced onto the place
    (``place``: ``_place_json``) and how it serves (rendered once per table it is kept in)."""
    metres = _float(_metres(now.distance_m)) if now.distance_m is not None else "null"
    dynamic = f'{{"open_now":{_bool(now.open_now)},"distance_m":{metres},'.encode()
    way = index.memo(("api.lookup.way", now.table.serial, now.way_id), lambda: _render(_way_dict(now.way)))
    return b"".join((dynamic, place[1:-1], b",", way[1:]))


# What the API's renderer (``_render``: compact, not ASCII-escaped, U+2028 and U+2029 escaped, no NaN) writes for a
# string, a float and a boolean, for the parts of a lookup written directly.
_POINT = geojson.POINT_PRECISION
_float = float.__repr__


def _str(value: str) -> str:
    return encode_basestring(value).replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def _bool(value: bool) -> str:
    return "true" if value else "false"


def _metres(value: float | None) -> float | None:
    return round(value, 1) if value is not None else None


def _way_dict(way: Way) -> dict[str, Any]:
    """What a place serving a precinct says past the place itself, which changes only with the geography: how it
    serves and its hours in this election (local wall-clock times with their zone, and the instants with their UTC
    offsets)."""
    return {"kinds": list(way.kinds), "vote_center": way.vote_center, "hours": _hours_list(way.hours)}


def _hours_list(openings: Iterable[Opening]) -> list[dict[str, Any]]:
    hours = []
    for opening in openings:
        starts, ends = opening.local()
        hours.append(
            {
                "date": opening.date.isoformat(),
                "opens": opening.opens.isoformat("minutes"),
                "closes": opening.closes.isoformat("minutes"),
                "timezone": opening.timezone,
                "starts_at": starts.isoformat(),
                "ends_at": ends.isoformat(),
            }
        )
    return hours


ELECTION = OpenApiParameter(
    "election",
    OpenApiTypes.INT,
    description="An election's id (`GET /api/v1/elections/`): each place then carries its `hours` in that election "
    "and whether it is one of its county's vote centers (`vote_center`).",
)


def _election_asked(request: Request) -> Election | None:
    pk = parsing.identifier(request.query_params, "election")
    if pk is None:
        return None
    election = Election.objects.filter(pk=pk).first()
    if election is None:
        raise DomainError("No such election.", "election_not_found", field="election")
    return election


def _with_hours(features: list[dict[str, Any]], places: list[Any], election: Election | None) -> list[dict[str, Any]]:
    """The features, each with its place's hours in ``election`` and whether it is a vote center, when one is asked."""
    if election is None:
        return features
    served = hours_in(places, election)
    for feature, place in zip(features, places, strict=True):
        part = served[place.pk]
        feature["properties"].update(election=election.pk, vote_center=part.vote_center, hours=_hours_list(part.hours))
    return features


def _render(data: Any) -> bytes:
    """``data`` as the API's renderer writes it (so a spliced answer reads exactly like a rendered one)."""
    return _RENDERER.render(data)


_RENDERER = JSONRenderer()


class ComplianceView(PublicView):
    @extend_schema(
        operation_id="compliance",
        summary="May I campaign (or loiter) here?",
        description=(
            "Every buffer zone within reach of the point (its limit plus `accuracy_m` plus 100 m) with the exact "
            "geodesic distance to what the rule measures from. `verdict` is `prohibited` inside any zone; "
            "`uncertain` when the GPS accuracy straddles a limit, when a zone was drawn from a stand-in reference "
            "(`approximate`), or outside every mapped precinct (`covered: false`); `allowed` otherwise. "
            "An election-day site's zones count every day; an early-voting site's or a drop box's only on the local "
            "dates it has hours for (`applies_on`; every day while its hours for the election ahead are unknown): "
            "today at each site, or on `date`."
        ),
        parameters=[
            LAT,
            LON,
            OpenApiParameter("accuracy_m", OpenApiTypes.DOUBLE, description="GPS accuracy in metres (0-1000)."),
            OpenApiParameter("activity", OpenApiTypes.STR, enum=list(BufferRule.Activity.values)),
            OpenApiParameter(
                "date",
                OpenApiTypes.DATE,
                description="The local date to answer for (YYYY-MM-DD); today at each polling place by default.",
            ),
        ],
        responses={200: OpenApiTypes.OBJECT, 400: ERROR, 429: ERROR},
    )
    def get(self, request: Request) -> Response | HttpResponse:
        index = self.index()
        now = timezone.now()
        etag = self.etag(_day_tag(index, now, date_asked=bool(request.query_params.get("date"))), version=index.version)
        client_has = self.request.headers.get("If-None-Match", "")
        if _matches(client_has, etag, wildcard=False):
            return HttpResponse(status=304, headers=self._cache_headers(etag))
        lon, lat = params.coordinates(request.query_params)
        accuracy = params.accuracy(request.query_params)
        activity = parsing.choice(request.query_params, "activity", tuple(BufferRule.Activity.values))
        on = parsing.date(request.query_params, "date")
        answer = compliance_at(lon=lon, lat=lat, accuracy_m=accuracy, activity=activity, index=index, on=on, now=now)
        if _matches(client_has, etag):  # "*": the request was valid, so there is a current answer it matches
            return HttpResponse(status=304, headers=self._cache_headers(etag))
        body = _render(
            {
                "verdict": str(answer.verdict),
                "verdicts": {a: str(v) for a, v in answer.verdicts.items()},
                "covered": answer.covered,
                "lon": lon,
                "lat": lat,
                "accuracy_m": accuracy,
                "date": on.isoformat() if on is not None else None,
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
                        "applies_on": _dates(h.zone.applies_on),
                    }
                    for h in answer.zones
                ],
            }
        )
        return HttpResponse(body, content_type="application/json", headers=self._cache_headers(etag))


def _day_tag(index: spatial.GeographyIndex, now: dt.datetime, *, date_asked: bool = False) -> str:
    """What an answer about zones depends on besides the request (which names any ``date``) and the geography: where
    some zones count on some days only and no date is asked, the current quarter hour (every zone's midnight falls
    on one)."""
    if not index.dated or date_asked:
        return ""
    return f"at={now.astimezone(dt.UTC):%Y-%m-%dT%H}:{now.minute // 15 * 15:02d}"


def _dates(dates: tuple[dt.date, ...] | None) -> list[str] | None:
    return None if dates is None else [d.isoformat() for d in dates]


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
        qs = selectors.counties(bbox=params.bbox(request.query_params))
        tolerance = params.simplify(request.query_params)
        rows, members = _page(request, qs, default=100, maximum=500)
        shapes = geojson.simplified([c.boundary for c in rows], tolerance)
        return self.cached(
            geojson.collection([geojson.county_feature(c, g) for c, g in zip(rows, shapes, strict=True)], **members)
        )


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
        county_fips = parsing.county_fips(request.query_params)
        qs = selectors.precincts(county_fips=county_fips, bbox=params.bbox(request.query_params))
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
        precinct = selectors.precincts().filter(pk=pk).first()
        if precinct is None:
            raise exceptions.NotFound("No such precinct.")
        [shape] = geojson.simplified([precinct.boundary], params.simplify(request.query_params))
        return self.cached(geojson.precinct_feature(precinct, shape))


class PollingPlaceListView(PublicView):
    @extend_schema(
        operation_id="polling_places_list",
        summary="Polling places as GeoJSON points",
        parameters=[*FILTERS, ELECTION],
        responses={200: GEOJSON, 400: ERROR, 404: ERROR},
    )
    def get(self, request: Request) -> Response | HttpResponse:
        if (unchanged := self.not_modified()) is not None:
            return unchanged
        county_fips = parsing.county_fips(request.query_params)
        election = _election_asked(request)
        qs = selectors.polling_places(county_fips=county_fips, bbox=params.bbox(request.query_params), detail=False)
        rows, members = _page(request, qs, default=500, maximum=2000)
        features = _with_hours([geojson.place_feature(p) for p in rows], rows, election)
        return self.cached(geojson.collection(features, **members))


class PollingPlaceDetailView(PublicView):
    @extend_schema(
        operation_id="polling_places_detail",
        summary="One polling place as a GeoJSON Feature",
        parameters=[ELECTION],
        responses={200: GEOJSON, 400: ERROR, 404: ERROR},
    )
    def get(self, request: Request, pk: int) -> Response | HttpResponse:
        if (unchanged := self.not_modified()) is not None:
            return unchanged
        election = _election_asked(request)
        place = selectors.polling_places().filter(pk=pk).first()
        if place is None:
            raise exceptions.NotFound("No such polling place.")
        [feature] = _with_hours([geojson.place_feature(place, detail=True)], [place], election)
        return self.cached(feature)


class ZonesView(PublicView):
    @extend_schema(
        operation_id="polling_places_zones",
        summary="The buffer zones around a polling place",
        description="One polygon per buffer rule of the polling place's state, drawn to within 1 cm of the limit.",
        responses={200: GEOJSON, 404: ERROR},
    )
    def get(self, request: Request, pk: int) -> Response | HttpResponse:
        index = self.index()
        now = timezone.now()
        day = _day_tag(index, now)
        if (unchanged := self.not_modified(day)) is not None:
            return unchanged
        if not selectors.polling_place_exists(pk):
            raise exceptions.NotFound("No such polling place.")
        features = geojson.zone_features(index, index.zones_of(pk, now=now))
        return self.cached(geojson.collection(features, polling_place=pk), day)


class ZonesInBoxView(PublicView):
    @extend_schema(
        operation_id="zones_in_box",
        summary="Buffer zones of every polling place in a box (for maps)",
        parameters=[OpenApiParameter("bbox", OpenApiTypes.STR, required=True, description=BBOX.description), LIMIT],
        responses={200: GEOJSON, 400: ERROR},
    )
    def get(self, request: Request) -> Response | HttpResponse:
        index = self.index()
        now = timezone.now()
        day = _day_tag(index, now)
        if (unchanged := self.not_modified(day)) is not None:
            return unchanged
        box = params.bbox(request.query_params)
        if box is None:
            raise BadRequest("'bbox' is required.", "missing_parameter", field="bbox")
        limit, _offset = parsing.page(request.query_params, default=100, maximum=300)
        ids, truncated = selectors.polling_place_ids(bbox=box, limit=limit)
        zones = [z for pk in ids for z in index.zones_of(pk, now=now)]
        return self.cached(geojson.collection(geojson.zone_features(index, zones), truncated=truncated), day)

"""Check-in, check-out and the roster of who is inside a polling place (staff API, token auth).

Check-ins and check-outs come only from an enrolled tablet of the polling place, signed in by one of its poll
workers or managers for the election. The roster is for them and for commissioners and administrators in scope;
outside one's scope the polling place does not exist (404).
"""

from __future__ import annotations

import re
from typing import Any

from django.http import HttpResponse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import ApiSession
from accounts.scopes import Scope
from common.api.errors import BadRequest
from polling.election_day import paper, presence
from polling.geography import selectors as geography_selectors
from polling.models import Election, PollingPlace, PresenceEvent

OBJECT = OpenApiTypes.OBJECT


class PresenceIn(serializers.Serializer):
    token = serializers.CharField(max_length=512, trim_whitespace=True)
    event_id = serializers.UUIDField()
    occurred_at = serializers.DateTimeField(help_text="Tablet time, ISO 8601 with a UTC offset.")
    sent_at = serializers.DateTimeField(
        required=False,
        help_text="The tablet's clock when it sent this post, if later than occurred_at (a queued post); the server "
        "corrects the event's time by the difference between this and its own clock.",
    )

    def _aware(self, name: str, value: Any) -> Any:
        # DRF would read a naive time in the server's zone; a tablet's clock must say which offset it keeps.
        parsed = parse_datetime(str(self.initial_data.get(name, "")))
        if parsed is None or parsed.tzinfo is None:
            raise serializers.ValidationError("Give a time zone offset, e.g. 2026-11-03T08:15:00-06:00.")
        return value

    def validate_occurred_at(self, value: Any) -> Any:
        return self._aware("occurred_at", value)

    def validate_sent_at(self, value: Any) -> Any:
        return self._aware("sent_at", value)


def _place(pk: int) -> PollingPlace:
    place = PollingPlace.objects.select_related("county__jurisdiction").defer("county__boundary").filter(pk=pk).first()
    if place is None:
        raise exceptions.NotFound("No such polling place.")
    return place


def _worker_elections(scope: Scope, place: PollingPlace) -> set[int]:
    return {election for (p, election) in scope.places if p == place.pk}


class PresenceView(APIView):
    kind = PresenceEvent.Kind.CHECK_IN

    @extend_schema(
        request=PresenceIn,
        responses={200: OBJECT, 201: OBJECT, 400: OBJECT, 401: OBJECT, 403: OBJECT, 404: OBJECT, 409: OBJECT},
        description=(
            "From an enrolled tablet of this polling place signed in by its poll worker or manager. 201 accepted "
            "(with `notice` `already_inside` or `not_inside` when the roster as it stands disagrees: recorded all the "
            "same, events recorded offline may still arrive); 200 refused (`reason`: a token reason from credential "
            "verification, `polls_closed`); 409 `quota_full`. A refused event is stored too. The same `event_id` "
            "again returns the first answer; with another body, 422 `event_id_reused`. Optional `sent_at`: the "
            "tablet's clock when a queued post is sent."
        ),
    )
    def post(self, request: Request, pk: int) -> Response:
        place = _place(pk)
        scope = Scope.for_user(request.user)
        elections = _worker_elections(scope, place)
        if not elections and not scope.administers_county(place.county):
            raise exceptions.NotFound("No such polling place.")
        session = request.auth if isinstance(request.auth, ApiSession) else None
        device = session.device if session is not None else None
        if not elections or device is None or device.polling_place_id != place.pk:
            raise BadRequest(
                "Check-ins and check-outs are recorded from an enrolled tablet of this polling place, signed in by "
                "one of its poll workers.",
                "tablet_required",
                status_code=403,
            )
        data = PresenceIn(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        if device.election_id is not None:
            elections &= {device.election_id}
        election = presence.election_for(place, elections, v["occurred_at"])
        if election is None:
            raise BadRequest(
                "This tablet or poll worker does not serve this polling place's election.",
                "tablet_required",
                status_code=403,
            )
        try:
            answer = presence.presence_record(
                kind=self.kind,
                token=v["token"],
                event_id=v["event_id"],
                occurred_at=v["occurred_at"],
                polling_place=place,
                election=election,
                device=device,
                worker=request.user,
                sent_at=v.get("sent_at"),
            )
        except presence.EventIdReused:
            raise BadRequest(
                "This event_id was already used for a different check-in or check-out.",
                "event_id_reused",
                field="event_id",
                status_code=422,
            ) from None
        headers = {"Cache-Control": "no-store"}
        if answer.replayed:
            headers["Idempotent-Replayed"] = "true"
        return Response(answer.body, status=answer.status_code, headers=headers)


class CheckInView(PresenceView):
    kind = PresenceEvent.Kind.CHECK_IN


class CheckOutView(PresenceView):
    kind = PresenceEvent.Kind.CHECK_OUT


class RosterView(APIView):
    @extend_schema(
        parameters=[OpenApiParameter("election", OpenApiTypes.INT, required=False)],
        responses={200: OBJECT, 304: None, 401: OBJECT, 404: OBJECT},
        description=(
            "Who is inside now. `ETag` changes with every accepted check-in or check-out; send it back as "
            "`If-None-Match` to get 304 when nothing changed. The election defaults to the place's upcoming one."
        ),
    )
    def get(self, request: Request, pk: int) -> Response:
        place, election = _roster_access(request, pk)
        version = presence.ledger_version(place, election)
        etag = f'"roster-{place.pk}-{election.pk}-{version}"'
        headers = {"ETag": etag, "Cache-Control": "private, no-cache"}
        match = request.headers.get("If-None-Match", "")
        if match and (match.strip() == "*" or etag in [m.strip().removeprefix("W/") for m in match.split(",")]):
            return Response(status=304, headers=headers)
        body = presence.roster_body(place, election, version)
        return Response(body, headers=headers)


def _election(request: Request, place: PollingPlace) -> Election:
    raw = request.query_params.get("election")
    if raw is not None:
        if not re.fullmatch(r"[0-9]{1,18}", raw):
            raise BadRequest("'election' must be an election id.", "invalid", field="election")
        election = Election.objects.filter(pk=int(raw), jurisdiction_id=place.county.jurisdiction_id).first()
    else:
        election = geography_selectors.upcoming_election(place, timezone.now())
    if election is None:
        raise BadRequest("No such election at this polling place.", "no_election", status_code=404)
    return election


def _roster_access(request: Request, pk: int) -> tuple[PollingPlace, Election]:
    """The place and election whose roster (or paper log) the caller may read: the place's poll workers and
    managers for their election, commissioners and administrators in scope; anyone else gets 404."""
    place = _place(pk)
    scope = Scope.for_user(request.user)
    elections = _worker_elections(scope, place)
    if not elections and not scope.administers_county(place.county):
        raise exceptions.NotFound("No such polling place.")
    election = _election(request, place)
    if elections and not scope.administers_county(place.county) and election.pk not in elections:
        raise exceptions.NotFound("No such polling place.")
    return place, election


class PaperView(APIView):
    """The paper fallback for when tablets fail: the check-in log and the current roster of one polling place and
    election, as CSV or as a printable PDF."""

    @extend_schema(
        parameters=[OpenApiParameter("election", OpenApiTypes.INT, required=False)],
        responses={
            (200, "text/csv"): OpenApiTypes.BINARY,
            (200, "application/pdf"): OpenApiTypes.BINARY,
            401: OBJECT,
            404: OBJECT,
        },
        description="`document` is `log` (every check-in and check-out, accepted or refused, in clock order) or "
        "`roster` (who is inside now); `fmt` is `csv` or `pdf`.",
    )
    def get(self, request: Request, pk: int, document: str, fmt: str) -> HttpResponse:
        place, election = _roster_access(request, pk)
        if document == "log":
            title, header, rows = paper.log_rows(place, election)
        else:
            title, header, rows = paper.roster_rows(place, election)
        name = f"{document}-{place.county.fips}-{place.code}-{election.pk}".replace(" ", "_")
        headers = {"Cache-Control": "private, no-store", "X-Content-Type-Options": "nosniff"}
        if fmt == "csv":
            headers["Content-Disposition"] = f'attachment; filename="{name}.csv"'
            return HttpResponse(paper.as_csv(header, rows), content_type="text/csv; charset=utf-8", headers=headers)
        headers["Content-Disposition"] = f'inline; filename="{name}.pdf"'
        subtitle = f"{place.name} ({place.county.name} County, {place.code}) — {election}"
        return HttpResponse(
            paper.as_pdf(title, subtitle, header, rows), content_type="application/pdf", headers=headers
        )

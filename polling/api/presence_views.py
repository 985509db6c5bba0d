"""Check-in, check-out and the roster of who is inside a polling place (staff API, token auth).

Who may record or read what is decided by ``polling.election_day.access``; recording by
``polling.election_day.presence``; the roster and its paper copies are read by ``roster`` and ``paper``.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from django.http import HttpResponse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.scopes import Scope
from common.api.errors import BadRequest
from common.api.schema import OBJECT
from polling.election_day import access, paper, presence, roster
from polling.election_day.ledger import ledger_version
from polling.models import Election, PollingPlace, PresenceEvent


class AwareDateTimeField(serializers.DateTimeField):
    """An ISO 8601 date-time that says which UTC offset it keeps: DRF would read a naive one in the server's zone."""

    def enforce_timezone(self, value: dt.datetime) -> dt.datetime:
        if value.tzinfo is None or value.utcoffset() is None:
            raise serializers.ValidationError("Give a time zone offset, e.g. 2026-11-03T08:15:00-06:00.")
        return super().enforce_timezone(value)


class PresenceIn(serializers.Serializer):
    token = serializers.CharField(max_length=512, trim_whitespace=True)
    event_id = serializers.UUIDField()
    occurred_at = AwareDateTimeField(help_text="Tablet time, ISO 8601 with a UTC offset.")
    sent_at = AwareDateTimeField(
        required=False,
        help_text="The tablet's clock when it sent this post, if later than occurred_at (a queued post); the server "
        "corrects the event's time by the difference between this and its own clock.",
    )


class PresenceView(APIView):
    kind = PresenceEvent.Kind.CHECK_IN

    @extend_schema(
        request=PresenceIn,
        responses={
            200: OBJECT,
            201: OBJECT,
            400: OBJECT,
            401: OBJECT,
            403: OBJECT,
            404: OBJECT,
            409: OBJECT,
            422: OBJECT,
        },
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
        station = access.check_in_station(Scope.for_user(request.user), access.tablet_of(request.auth), pk)
        data = PresenceIn(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        # The event is placed (and judged, and given its election) at the server-corrected time, never the tablet's.
        placed = presence.placement(occurred_at=v["occurred_at"], sent_at=v.get("sent_at"), received_at=timezone.now())
        recorded = presence.presence_record(
            kind=self.kind,
            token=v["token"],
            event_id=v["event_id"],
            occurred_at=v["occurred_at"],
            polling_place=station.place,
            election=access.station_election(station, placed.effective_at),
            device=station.device,
            worker=request.user,
            sent_at=v.get("sent_at"),
            placed=placed,
        )
        headers = {"Cache-Control": "no-store"}
        if recorded.replayed:
            headers["Idempotent-Replayed"] = "true"
        # The first answer to the event, as stored with it: the same again for a replay.
        return Response(recorded.event.response, status=recorded.event.status_code, headers=headers)


class CheckInView(PresenceView):
    kind = PresenceEvent.Kind.CHECK_IN


class CheckOutView(PresenceView):
    kind = PresenceEvent.Kind.CHECK_OUT


def _roster_access(request: Request, pk: int) -> tuple[PollingPlace, Election]:
    """The place and election whose roster (or paper log) the caller may read (404 for anyone else)."""
    scope = Scope.for_user(request.user)
    place = access.visible_place(scope, pk)
    raw = request.query_params.get("election")
    # Not ``parsing.identifier``: this endpoint's contract answers a bad id with the code ``invalid`` (pinned by the
    # tests), not ``invalid_election``; 0 is an id no election has (404), not a malformed one.
    if raw is not None and not re.fullmatch(r"[0-9]{1,18}", raw):
        raise BadRequest("'election' must be an election id.", "invalid", field="election")
    return place, access.roster_election(scope, place, int(raw) if raw is not None else None)


ELECTION = OpenApiParameter("election", OpenApiTypes.INT, required=False)


class RosterView(APIView):
    @extend_schema(
        parameters=[ELECTION],
        responses={200: OBJECT, 304: None, 401: OBJECT, 404: OBJECT},
        description=(
            "Who is inside now. `ETag` changes with every accepted check-in or check-out; send it back as "
            "`If-None-Match` to get 304 when nothing changed. The election defaults to the place's upcoming one."
        ),
    )
    def get(self, request: Request, pk: int) -> Response:
        place, election = _roster_access(request, pk)
        version = ledger_version(place.pk, election.pk)
        etag = f'"roster-{place.pk}-{election.pk}-{version}"'
        headers = {"ETag": etag, "Cache-Control": "private, no-cache"}
        match = request.headers.get("If-None-Match", "")
        if match and (match.strip() == "*" or etag in [m.strip().removeprefix("W/") for m in match.split(",")]):
            return Response(status=304, headers=headers)
        return Response(roster.roster_body(place, election, version), headers=headers)


class PaperView(APIView):
    """The paper fallback for when tablets fail: the check-in log and the current roster of one polling place and
    election, as CSV or as a printable PDF."""

    @extend_schema(
        parameters=[ELECTION],
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
        reader: Any = paper.log_rows if document == "log" else paper.roster_rows
        title, header, rows = reader(place, election)
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

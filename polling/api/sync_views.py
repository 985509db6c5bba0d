"""Offline sync for tablets (``POST /api/v1/sync/``) and the review of presence anomalies by commissioners
(``GET /api/v1/presence-anomalies/``, ``GET …/{id}/``, ``POST …/{id}/review/``)."""

from __future__ import annotations

import logging
import uuid
from functools import cached_property
from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.authentication import request_actor
from accounts.credentials import selectors as credential_selectors
from accounts.scopes import Scope
from common.api import parsing
from common.api.errors import BadRequest
from common.api.paging import paginated
from common.api.schema import OBJECT
from common.text import unprintable
from polling.election_day import access, anomalies, roster, sync
from polling.models import PresenceAnomaly, PresenceEvent

TOKEN_MAX = 512
USERNAME_MAX = 150
NOTE_MAX = 2000
PAGE_DEFAULT = 50
PAGE_MAX = 200

logger = logging.getLogger("polling.election_day.sync")


def _storable(text: str) -> bool:
    """Text every database stores: no NUL (PostgreSQL refuses it) and valid UTF-8 (no lone surrogates)."""
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def parse_event(index: int, raw: Any) -> sync.Item | dict[str, Any]:
    """One uploaded event: a valid ``sync.Item``, or the refusal (not stored) saying which fields are wrong."""
    refusal: dict[str, Any] = {"index": index, "event_id": None, "result": sync.REFUSED, "reason": sync.INVALID}
    if not isinstance(raw, dict):
        return refusal | {"detail": "Each event must be a JSON object.", "errors": {}, "anomalies": []}
    errors: dict[str, str] = {}
    event_id = None
    try:
        event_id = uuid.UUID(str(raw.get("event_id", "")))
    except ValueError:
        errors["event_id"] = "A UUID made on the tablet."
    kind = raw.get("kind")
    if kind not in PresenceEvent.Kind.values:
        errors["kind"] = "'check_in' or 'check_out'."
    token = raw.get("token")
    if not isinstance(token, str) or not token.strip() or len(token) > TOKEN_MAX or not token.isascii():
        errors["token"] = f"The credential's QR token (ASCII, at most {TOKEN_MAX} characters)."
    occurred_at = parsing.aware_datetime_or_none(raw.get("occurred_at"))
    if occurred_at is None:
        errors["occurred_at"] = "Tablet time, ISO 8601 with a UTC offset, e.g. 2026-11-03T08:15:00-06:00."
    recorded_by = raw.get("recorded_by")
    if recorded_by is not None and not (
        isinstance(recorded_by, str) and 0 < len(recorded_by) <= USERNAME_MAX and _storable(recorded_by)
    ):
        errors["recorded_by"] = "The username of the poll worker signed in on the tablet when it was recorded."
    elif isinstance(recorded_by, str) and unprintable(recorded_by):
        errors["recorded_by"] = "A username holds no control or format characters: " + ", ".join(
            unprintable(recorded_by)
        )
    if errors:
        return refusal | {
            "event_id": str(event_id) if event_id else None,
            "detail": "Not stored: " + "; ".join(f"{k}: {v}" for k, v in errors.items()),
            "errors": errors,
            "anomalies": [],
        }
    assert event_id is not None and occurred_at is not None and isinstance(token, str)
    return sync.Item(
        index=index,
        event_id=event_id,
        kind=str(kind),
        token=token.strip(),
        occurred_at=occurred_at,
        recorded_by=recorded_by,
    )


class SyncView(APIView):
    @extend_schema(
        operation_id="sync_upload",
        summary="Upload events recorded offline; get back the roster, revocations and keys",
        request=OBJECT,
        responses={200: OBJECT, 400: OBJECT, 401: OBJECT, 403: OBJECT},
        description=(
            "From an enrolled tablet signed in by a poll worker or manager of its polling place. Body: `sent_at` "
            "(the tablet's clock now), `since` (the previous answer's `next_since`, or null), `events` (at most "
            f"{sync.MAX_EVENTS}: `event_id`, `kind` check_in|check_out, `token`, `occurred_at` by the tablet's "
            "clock, and `recorded_by`, the username of the poll worker signed in when it was recorded, if not the "
            "uploader). Each event gets a result in the same order: `accepted`, `duplicate`, `refused` (with "
            "`reason`), or `anomaly` (recorded and applied, listed in `anomalies`, for the county's review). "
            "Safe to retry: events already stored are `duplicate`. The answer carries the roster, the serials "
            "revoked since `since`, the public keys and the scope hashes covering the tablet's polling place."
        ),
    )
    def post(self, request: Request) -> Response:
        scope = Scope.for_user(request.user)
        station = access.sync_station(scope, access.tablet_of(request.auth))
        data = request.data
        if not isinstance(data, dict):
            raise BadRequest("The body must be a JSON object with 'sent_at' and 'events'.", "invalid")
        sent_at = parsing.aware_datetime_or_none(data.get("sent_at"))
        if sent_at is None:
            raise BadRequest(
                "'sent_at' (the tablet's clock now) must be an ISO 8601 date-time with a UTC offset.",
                "invalid_sent_at",
                field="sent_at",
            )
        since = None
        if data.get("since") is not None:
            since = parsing.aware_datetime_or_none(data.get("since"))
            if since is None:
                raise BadRequest(
                    "'since' must be the 'next_since' of the previous answer, or null.", "invalid_since", field="since"
                )
        events = data.get("events")
        if not isinstance(events, list):
            raise BadRequest("'events' must be a list (it may be empty).", "invalid", field="events")
        if len(events) > sync.MAX_EVENTS:
            raise BadRequest(
                f"At most {sync.MAX_EVENTS} events per upload; send the rest in another.",
                "batch_too_large",
                field="events",
            )
        parsed = [parse_event(i, raw) for i, raw in enumerate(events)]
        items = [p for p in parsed if isinstance(p, sync.Item)]
        # The keys are read once: the batch's tokens are verified with those not retired, the answer lists them all.
        public_keys, verifying_keys = credential_selectors.public_and_verifying_keys()
        outcome = sync.sync_upload(
            items=items,
            sent_at=sent_at,
            polling_place=station.place,
            elections=station.elections,
            device=station.device,
            worker=request.user,
            keys=verifying_keys,
        )
        stored = iter(outcome.results)
        results = [p if isinstance(p, dict) else {"index": p.index} | next(stored) for p in parsed]
        not_stored = {
            "invalid": sum(1 for r in results if r["reason"] == sync.INVALID),
            "over_cap": sum(1 for r in results if r.get("stored") is False),
        }
        if not_stored["invalid"] or not_stored["over_cap"]:
            # For monitoring: a tablet sending what cannot be stored is broken or hostile.
            logger.warning(
                "sync not stored: invalid=%d over_cap=%d of %d device=%s place=%s worker=%s",
                not_stored["invalid"],
                not_stored["over_cap"],
                len(results),
                station.device.pk,
                station.place.pk,
                request.user.pk,
            )
        now = outcome.received_at
        election = outcome.election
        assert election is not None
        revoked = credential_selectors.revocations(scope, since=since).values_list("serial", "revoked_at")
        body = {
            "received_at": now.isoformat(),
            "clock_offset_s": round(outcome.offset.total_seconds(), 3),
            "results": results,
            "counts": {
                r: sum(1 for x in results if x["result"] == r)
                for r in (sync.ACCEPTED, sync.DUPLICATE, sync.REFUSED, sync.ANOMALY)
            },
            "not_stored": not_stored,
            "roster": roster.roster_body(station.place, election),
            "revoked": [{"serial": serial, "revoked_at": at.isoformat()} for serial, at in revoked],
            "next_since": (now - credential_selectors.REVOCATION_OVERLAP).isoformat(),
            "keys": public_keys,
            "scope_hashes": [
                h | {"valid_until": h["valid_until"].isoformat()}
                for h in credential_selectors.scope_hashes_covering(station.place, now=now)
            ],
        }
        return Response(body, headers={"Cache-Control": "no-store"})


# --- review of anomalies ------------------------------------------------------------------------------------------


class ReviewsAnomalies(BasePermission):
    message = "Only county commissioners and state administrators review presence anomalies."

    def has_permission(self, request: Request, view: Any) -> bool:
        return view.scope.is_staff_admin


class AnomalyView(APIView):
    permission_classes = [IsAuthenticated, ReviewsAnomalies]

    @cached_property
    def scope(self) -> Scope:
        return Scope.for_user(self.request.user)


def anomaly_out(a: PresenceAnomaly) -> dict[str, Any]:
    event = a.event
    return {
        "id": a.pk,
        "code": a.code,
        "detail": a.detail,
        "status": a.status,
        "detected_at": a.detected_at.isoformat(),
        "cleared_at": a.cleared_at.isoformat() if a.cleared_at else None,
        "polling_place": {"id": a.polling_place_id, "code": a.polling_place.code, "name": a.polling_place.name},
        "county": a.polling_place.county.fips,
        "election": a.election_id,
        "credential": roster.credential_out(a.credential),
        "event": {
            "event_id": str(event.event_id),
            "kind": event.kind,
            "source": event.source,
            "occurred_at": event.occurred_at.isoformat(),
            "effective_at": event.effective_at.isoformat(),
            "received_at": event.received_at.isoformat(),
            "clock_offset_ms": event.clock_offset_ms,
            "device": str(event.device_id),
            "worker": event.worker_id,
        },
        "review": None
        if a.reviewed_at is None
        else {
            "by": a.reviewed_by.get_username() if a.reviewed_by else None,
            "at": a.reviewed_at.isoformat(),
            "note": a.review_note,
        },
    }


class AnomalyListView(AnomalyView):
    @extend_schema(
        operation_id="presence_anomalies_list",
        summary="Presence anomalies in your counties, newest first",
        parameters=[
            OpenApiParameter("status", OpenApiTypes.STR, enum=PresenceAnomaly.Status.values),
            OpenApiParameter("code", OpenApiTypes.STR, enum=PresenceAnomaly.Code.values),
            OpenApiParameter("polling_place", OpenApiTypes.INT),
            OpenApiParameter("election", OpenApiTypes.INT),
            OpenApiParameter("limit", OpenApiTypes.INT),
            OpenApiParameter("offset", OpenApiTypes.INT),
        ],
        responses={200: OBJECT, 400: OBJECT, 401: OBJECT, 403: OBJECT},
    )
    def get(self, request: Request) -> Response:
        q = request.query_params
        limit, offset = parsing.page(q, default=PAGE_DEFAULT, maximum=PAGE_MAX)
        filters = {
            "status": parsing.choice(q, "status", tuple(PresenceAnomaly.Status.values)),
            "code": parsing.choice(q, "code", tuple(PresenceAnomaly.Code.values)),
            "polling_place_id": parsing.identifier(q, "polling_place"),
            "election_id": parsing.identifier(q, "election"),
        }
        qs = anomalies.anomalies_visible(self.scope).filter(**{k: v for k, v in filters.items() if v is not None})
        body, rows = paginated(request, qs.order_by("-detected_at", "-pk"), limit, offset)
        body["results"] = [anomaly_out(a) for a in rows]
        return Response(body, headers={"Cache-Control": "private, no-store"})


class AnomalyDetailView(AnomalyView):
    @extend_schema(operation_id="presence_anomalies_detail", responses={200: OBJECT, 401: OBJECT, 404: OBJECT})
    def get(self, request: Request, pk: int) -> Response:
        anomaly = anomalies.anomaly_get(self.scope, pk)
        return Response(anomaly_out(anomaly), headers={"Cache-Control": "private, no-store"})


class AnomalyReviewView(AnomalyView):
    @extend_schema(
        operation_id="presence_anomalies_review",
        summary="Close an anomaly with a note",
        request=OBJECT,
        responses={200: OBJECT, 400: OBJECT, 401: OBJECT, 404: OBJECT, 409: OBJECT},
        description='Body `{"note": "what was found and done"}` (1 to 2000 characters). Recorded in the audit '
        "trail. An anomaly is reviewed once: a second review is 409 `already_reviewed`.",
    )
    def post(self, request: Request, pk: int) -> Response:
        note = request.data.get("note") if isinstance(request.data, dict) else None
        if not isinstance(note, str) or not note.strip() or len(note) > NOTE_MAX or not _storable(note):
            raise BadRequest(
                f"'note' is required: 1 to {NOTE_MAX} characters of text (no NUL or lone surrogates).",
                "invalid_note",
                field="note",
            )
        found = unprintable(note.replace("\r", "").replace("\n", ""))
        if found:
            raise BadRequest(
                "'note' may hold line breaks but no other control or format characters: " + ", ".join(found),
                "unprintable_characters",
                field="note",
            )
        anomaly = anomalies.anomaly_review(actor=request_actor(request), scope=self.scope, anomaly_id=pk, note=note)
        return Response(anomaly_out(anomaly))

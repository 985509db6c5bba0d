"""Election-day requests as a tablet makes them: watchers' credentials valid all day, their tokens, local times,
check-in/check-out bodies and offline sync batches.

An online check-in is judged at the server's time of receipt (corrected by the tablet's clock offset), never at the
time the tablet writes: ``post`` (and ``at_the_door``) therefore send a live post at ``at`` by the server's clock too,
as a tablet with a right clock does."""

from __future__ import annotations

import datetime as dt
import uuid
import zoneinfo
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import time_machine

from accounts.credentials import issuing
from polling.geography import selectors as geography_selectors
from tests.factories import CredentialFactory

CHICAGO = zoneinfo.ZoneInfo("America/Chicago")
SYNC = "/api/v1/sync/"
ANOMALIES = "/api/v1/presence-anomalies/"


def url(place: Any, what: str = "check-ins") -> str:
    return f"/api/v1/polling-places/{place.pk}/{what}/"


def local(election: Any, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime.combine(election.date, dt.time(hour, minute), tzinfo=CHICAGO)


def watcher(election: Any, county: Any, *, places: list | None = None, valid_on: Any = None, **fields: Any) -> Any:
    """A credential valid all of election day (of ``valid_on``, by default ``election``) in local time."""
    start, end = geography_selectors.election_day_bounds(valid_on or election, county)
    fields = {"valid_from": start, "valid_until": end} | fields
    return CredentialFactory(election=election, county=county, polling_places=places or [], **fields)


def token_of(credential: Any) -> str:
    return issuing.credential_token(credential)


def body(token: str, at: dt.datetime, event_id: Any = None) -> dict[str, Any]:
    return {"token": token, "event_id": str(event_id or uuid.uuid4()), "occurred_at": at.isoformat()}


@contextmanager
def at_the_door(at: dt.datetime) -> Iterator[None]:
    """The server's clock reads ``at`` (ticking on): a live post made at ``at`` arrives then."""
    with time_machine.travel(at, tick=True):
        yield


def post(client: Any, place: Any, token: str, at: dt.datetime, *, what: str = "check-ins", event_id: Any = None):
    """A live check-in (or check-out) made at ``at``, by a tablet whose clock is right."""
    with at_the_door(at):
        return client.post(url(place, what), body(token, at, event_id), format="json")


def event(kind: str, token: str, at: dt.datetime, event_id: Any = None) -> dict[str, Any]:
    """One event of an offline sync batch."""
    return {"kind": kind, "token": token, "occurred_at": at.isoformat(), "event_id": str(event_id or uuid.uuid4())}


def upload(client: Any, events: list[dict], *, skew: dt.timedelta = dt.timedelta(0), since: Any = None) -> Any:
    """What a tablet whose clock is ``skew`` ahead sends: its clock now and its (skewed) event times."""
    from django.utils import timezone

    shifted = [e | {"occurred_at": (dt.datetime.fromisoformat(e["occurred_at"]) + skew).isoformat()} for e in events]
    payload = {"sent_at": (timezone.now() + skew).isoformat(), "since": since, "events": shifted}
    return client.post(SYNC, payload, format="json")


def day_long_tablet_client(place: Any, poll_worker: Any, commissioner: Any) -> Any:
    """``poll_worker`` signed in on a tablet of ``place`` for a whole day (so ``at_the_door`` may travel to any hour of
    election day without the session expiring)."""
    from tests.people import make_tablet, signed_in

    device, _ = make_tablet(place, commissioner)
    client = signed_in(poll_worker, device=device, ttl_s=24 * 3600)
    client.device = device
    return client

"""Reads of election day at one polling place: who is inside now, how a credential holder is shown, and which
election an event belongs to."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db.models import QuerySet

from accounts.credentials import issuing
from accounts.models import Credential
from polling.election_day.ledger import ledger_version
from polling.geography import selectors as geography_selectors
from polling.models import Election, PollingPlace, Presence


def credential_out(credential: Credential | None) -> dict[str, Any] | None:
    """A credential holder as the check-in answers, sync results and anomalies show them."""
    return None if credential is None else issuing.holder_summary(credential)


def roster(polling_place: PollingPlace, election: Election) -> QuerySet[Presence]:
    """Who is inside now, in check-in order."""
    return (
        Presence.objects.filter(polling_place=polling_place, election=election)
        .select_related("credential", "check_in__worker")
        .order_by("check_in__effective_at", "check_in__hlc", "pk")
    )


def roster_body(polling_place: PollingPlace, election: Election, version: int | None = None) -> dict[str, Any]:
    """Who is inside now, as the roster endpoint and the sync answer give it."""
    people = [
        (credential_out(p.credential) or {})
        | {
            "since": p.check_in.effective_at.isoformat(),
            "checked_in_by": p.check_in.worker.get_full_name() or p.check_in.worker.get_username(),
            "event_id": str(p.check_in.event_id),
            "credential_revoked": p.credential.status == Credential.Status.REVOKED,
        }
        for p in roster(polling_place, election)
    ]
    return {
        "polling_place": polling_place.pk,
        "election": election.pk,
        "roster_version": ledger_version(polling_place.pk, election.pk) if version is None else version,
        "count": len(people),
        "inside": people,
    }


def election_for(place: PollingPlace, elections: set[int], at: dt.datetime) -> Election | None:
    """Of the elections a tablet and its poll worker serve at ``place``, the one an event at ``at`` belongs to: the
    place's upcoming election on that local date if it is among them, else the latest of them."""
    if not elections:
        return None
    upcoming = geography_selectors.upcoming_election(place, at)
    if upcoming is not None and upcoming.pk in elections:
        return upcoming
    return Election.objects.filter(pk__in=elections).order_by("-date", "-pk").first()

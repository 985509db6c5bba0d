"""Reads of election day at one polling place: who is inside now, how a credential holder is shown, and which
election an event belongs to."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db.models import QuerySet

from accounts.credentials import issuing
from accounts.models import Credential, User
from common.statements import Param, Statement, instance
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


_HOLDER_FIELDS = ("id", "serial", "kind", "holder_name", "appointed_by_kind", "appointed_by_name", "status")
#: Who is inside, in check-in order, with what the answer shows of each (``roster`` as plain rows): one statement
#: compiled once per process (``common.statements``), asked by every sync answer and roster read.
_INSIDE = Statement.select(
    Presence,
    lambda: (
        Presence.objects.filter(
            polling_place_id=Param("polling_place_id", Presence._meta.get_field("polling_place")),
            election_id=Param("election_id", Presence._meta.get_field("election")),
        )
        .order_by("check_in__effective_at", "check_in__hlc", "pk")
        .values_list(
            *(f"credential__{name}" for name in _HOLDER_FIELDS),
            "check_in__effective_at",
            "check_in__event_id",
            "check_in__worker__first_name",
            "check_in__worker__last_name",
            "check_in__worker__username",
        )
    ),
)


def roster_body(polling_place: PollingPlace, election: Election, version: int | None = None) -> dict[str, Any]:
    """Who is inside now, as the roster endpoint and the sync answer give it."""
    people = []
    for row in _INSIDE.rows(polling_place_id=polling_place.pk, election_id=election.pk):
        holder = instance(Credential, Credential.objects.db, _HOLDER_FIELDS, row[: len(_HOLDER_FIELDS)])
        since, event_id, first_name, last_name, username = row[len(_HOLDER_FIELDS) :]
        worker = User(first_name=first_name, last_name=last_name, username=username)
        people.append(
            (credential_out(holder) or {})
            | {
                "since": since.isoformat(),
                "checked_in_by": worker.get_full_name() or worker.get_username(),
                "event_id": str(event_id),
                "credential_revoked": holder.status == Credential.Status.REVOKED,
            }
        )
    return {
        "polling_place": polling_place.pk,
        "election": election.pk,
        "roster_version": ledger_version(polling_place.pk, election.pk) if version is None else version,
        "count": len(people),
        "inside": people,
    }


_ELECTION_FIELDS = tuple(f.attname for f in Election._meta.concrete_fields)
#: ``geography_selectors.upcoming_election_of_state`` (the first election of a state on or after a local date, the
#: earliest id first on a tie) as a statement compiled once per process (``common.statements``): every check-in,
#: check-out and sync asks it. tests/polling/election_day/test_write_path_costs.py holds the two to the same answers.
_UPCOMING = Statement.select(
    Election,
    lambda: (
        Election.objects.filter(
            jurisdiction_id=Param("jurisdiction_id", Election._meta.get_field("jurisdiction")),
            date__gte=Param("on", Election._meta.get_field("date")),
        )
        .order_by("date", "pk")
        .values_list(*_ELECTION_FIELDS)[:1]
    ),
)


def upcoming_election(place: PollingPlace, at: dt.datetime) -> Election | None:
    """``geography_selectors.upcoming_election(place, at)``, in one statement compiled once."""
    on = at.astimezone(geography_selectors.local_zone(place.county)).date()
    row = _UPCOMING.first(jurisdiction_id=place.county.jurisdiction_id, on=on)
    return None if row is None else instance(Election, Election.objects.db, _ELECTION_FIELDS, row)


def election_for(place: PollingPlace, elections: set[int], at: dt.datetime) -> Election | None:
    """Of the elections a tablet and its poll worker serve at ``place``, the one an event at ``at`` belongs to: the
    place's upcoming election on that local date if it is among them, else the latest of them."""
    if not elections:
        return None
    upcoming = upcoming_election(place, at)
    if upcoming is not None and upcoming.pk in elections:
        return upcoming
    return Election.objects.filter(pk__in=elections).order_by("-date", "-pk").first()

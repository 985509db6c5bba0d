"""What the poll workers' tablet app (``/tablet/``) needs beyond check-ins and sync, to work with no network.

``GET /api/v1/polling-places/{id}/credential-holders/``: the credentials valid at a polling place for its current
election, with their holders' names, and the presence quotas of its state. A token carries no name (it is printed on
badges seen by anyone), so a tablet that went offline could otherwise only show the kind and serial of someone it had
not met online; with this list, cached on the tablet at each refresh, it shows the name, the appointing party or
candidate, looks a typed serial up, and warns when the local roster would pass a quota.

Read by a poll worker or manager of the place on one of its enrolled tablets (a list of names is not for any device
someone signed in on), or by a commissioner or state administrator in scope; anyone else finds no such place.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db.models import Q, QuerySet
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.credentials.issuing import holder_summary
from accounts.models import Credential
from accounts.permissions import request_scope
from common.api.schema import OBJECT
from polling.election_day import access
from polling.election_day.timeline import appointer_key
from polling.models import Election, PollingPlace, PresenceRule


def _utc_text(moment: dt.datetime | None) -> str | None:
    return moment.astimezone(dt.UTC).isoformat().replace("+00:00", "Z") if moment else None


def holders_place_and_election(request: Request, pk: int) -> tuple[PollingPlace, Election]:
    """The place whose holders the caller may read, and the election they are for: its commissioners and state
    administrators read its upcoming election's; its poll workers only on one of its tablets (403
    ``tablet_required`` otherwise), for the election that tablet serves now. Anyone else: 404 ``not_found``."""
    scope = request_scope(request)
    place = access.visible_place(scope, pk)
    if scope.administers_county(place.county):
        return place, access.roster_election(scope, place, None)
    station = access.check_in_station(scope, access.tablet_of(request.auth), pk)
    return place, access.station_election(station, timezone.now())


def credentials_at(place: PollingPlace, election: Election) -> QuerySet[Credential]:
    """Every credential of ``election`` that names ``place`` or covers its whole county, revoked ones included (a
    tablet shows who a refused credential belonged to)."""
    return (
        Credential.objects.filter(election=election, county_id=place.county_id)
        .filter(Q(polling_places=place) | Q(polling_places__isnull=True))
        .distinct()
        .only(
            "serial",
            "kind",
            "holder_name",
            "appointed_by_kind",
            "appointed_by_name",
            "valid_from",
            "valid_until",
            "status",
            "revoked_at",
        )
        .order_by("serial")
    )


def holder_out(credential: Credential) -> dict[str, Any]:
    return {
        **holder_summary(credential),
        # The server's quota grouping of the appointer's name (look-alike spellings are one group): the tablet
        # counts by this rather than re-implementing Unicode skeletons.
        "quota_group": appointer_key(credential.appointed_by_name) if credential.appointed_by_name else "",
        "valid_from": _utc_text(credential.valid_from),
        "valid_until": _utc_text(credential.valid_until),
        "revoked": credential.status == Credential.Status.REVOKED,
        "revoked_at": _utc_text(credential.revoked_at),
    }


def quota_rules(election: Election) -> list[dict[str, Any]]:
    """The presence quotas of the election's state, as ``polling.election_day.timeline.rules_for`` applies them."""
    rules = PresenceRule.objects.filter(jurisdiction_id=election.jurisdiction_id).order_by("credential_kind", "per")
    return [
        {"credential_kind": r.credential_kind, "per": r.per, "max_inside": r.max_inside, "citation": r.citation}
        for r in rules
    ]


class CredentialHoldersView(APIView):
    @extend_schema(
        responses={200: OBJECT, 401: OBJECT, 403: OBJECT, 404: OBJECT},
        description=(
            "The credentials valid at this polling place for its current election (those listing it and the "
            "county-wide ones, revoked ones flagged), with their holders' names and `quota_group` (the server's "
            "grouping of the appointer's name), and the state's presence quotas: what a tablet caches to show names, "
            "look serials up and warn of a full quota with no network. For a poll worker or manager of the place on "
            "one of its enrolled tablets (403 `tablet_required` elsewhere), and commissioners and state "
            "administrators in scope (404 `not_found` for anyone else)."
        ),
    )
    def get(self, request: Request, pk: int) -> Response:
        place, election = holders_place_and_election(request, pk)
        body = {
            "polling_place": place.pk,
            "election": election.pk,
            "generated_at": _utc_text(timezone.now()),
            "credentials": [holder_out(c) for c in credentials_at(place, election)],
            "quota_rules": quota_rules(election),
        }
        return Response(body, headers={"Cache-Control": "private, no-store"})

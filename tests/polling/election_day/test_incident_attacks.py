"""Incident reports at sites whose zones count on some days only, and a report sent again after the reporter's
grants changed."""

from __future__ import annotations

import datetime as dt
import zoneinfo

import pytest
from django.utils import timezone
from shapely.geometry import Point

from polling.models import LocationHours
from tests.factories import ElectionFactory, PollingPlaceFactory
from tests.people import signed_in

URL = "/api/v1/incidents/"
CHICAGO = zoneinfo.ZoneInfo("America/Chicago")


@pytest.mark.django_db
def test_an_incident_at_an_early_voting_site_on_a_day_it_is_closed_is_not_inside_a_zone(commissioner, county):
    """No zone of the site counts today (its only dated day was a week ago), as the compliance answer says: an
    incident reported at the same spot today is stored unmeasured, not ``inside`` a zone."""
    today = timezone.now().astimezone(CHICAGO).date()
    election = ElectionFactory(jurisdiction=county.jurisdiction, name="General", date=today + dt.timedelta(days=7))
    site = PollingPlaceFactory(
        county=county, code="EV", location=Point(-90.17, 32.35), is_election_day=False, is_early_voting=True
    )
    LocationHours.objects.create(
        polling_place=site,
        election=election,
        date=today - dt.timedelta(days=7),
        opens=dt.time(8),
        closes=dt.time(17),
        timezone="America/Chicago",
    )
    body = {
        "polling_place": site.pk,
        "activity": "campaigning",
        "lon": -90.17,
        "lat": 32.3501,  # 11 m from the site
        "occurred_at": (timezone.now() - dt.timedelta(minutes=5)).replace(microsecond=0).isoformat(),
        "description": "Signs at the door.",
    }

    response = signed_in(commissioner).post(URL, body, format="json")

    assert response.status_code == 201, response.json()
    assert response.json()["zone_status"] != "inside", response.json()


@pytest.mark.django_db
def test_a_lost_answer_resent_after_the_workers_grants_changed_is_still_a_replay(
    place, poll_worker, commissioner, election
):
    """The tablet sends no ``election``: the server derives it from the worker's grants. A report stored, its answer
    lost, then the worker is also granted the runoff at the same place: the tablet's resend (same body, same
    report_id) is recognised as the same report before the grants are read again, and answered with it."""
    import uuid

    from accounts.models import Role
    from tests.people import grant, make_tablet

    device, _ = make_tablet(place, commissioner)
    client = signed_in(poll_worker, device=device)
    body = {
        "report_id": str(uuid.uuid4()),
        "polling_place": place.pk,
        "activity": "campaigning",
        "lon": place.location.x,
        "lat": place.location.y + 0.0001,
        "occurred_at": (timezone.now() - dt.timedelta(minutes=5)).replace(microsecond=0).isoformat(),
        "description": "Signs at the door.",
    }
    assert client.post(URL, body, format="json").status_code == 201
    runoff = ElectionFactory(
        jurisdiction=election.jurisdiction, name="Runoff", date=election.date + dt.timedelta(days=21)
    )
    grant(poll_worker, Role.POLL_WORKER, polling_place=place, election=runoff)

    again = client.post(URL, body, format="json")

    assert again.status_code == 200, again.json()

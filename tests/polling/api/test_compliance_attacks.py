"""The compliance answer's date given twice, and a site whose hours for the election ahead are not known yet."""

from __future__ import annotations

import datetime as dt

import pytest
from rest_framework.test import APIClient

from polling.models import LocationHours
from tests.factories import ElectionFactory
from tests.public_geo import EARLY, make_early_voting_geo, towards

pytestmark = pytest.mark.django_db
PRIMARY_DAY = dt.date(2026, 3, 10)
GENERAL_EARLY_DAY = dt.date(2026, 10, 27)


@pytest.fixture
def api():
    return APIClient()


@pytest.fixture
def geo(mississippi):
    return make_early_voting_geo()


def _near_early(api, query_string: str = "", **query):
    lon, lat = towards(*EARLY, 45, 10.0)
    if query_string:
        return api.get(f"/api/v1/compliance/?lon={lon}&lat={lat}&{query_string}")
    return api.get("/api/v1/compliance/", {"lon": lon, "lat": lat, **query})


def test_a_date_given_twice_is_refused_whichever_copy_is_empty(api, geo):
    """``?date=D&date=``, ``?date=&date=D`` and ``?date=D&date=E`` are all 400 repeated_parameter: an empty value
    is a value given."""
    response = _near_early(api, "date=2026-10-28&date=")

    assert response.status_code == 400, response.json()
    assert response.json()["code"] == "repeated_parameter"


def test_a_site_with_hours_in_an_earlier_election_only_still_counts_when_its_days_are_unknown(api, geo, mississippi):
    """The early-voting site had hours in the primary; the general's hours are not entered (yet). Its days in the
    general are unknown, so its zones count on every day leading to it (``zones.DatedUse``: too strict for a day,
    never too lenient), not only on the primary's dates."""
    primary = ElectionFactory(name="Primary", jurisdiction=mississippi, date=PRIMARY_DAY)
    LocationHours.objects.create(
        polling_place=geo["early"],
        election=primary,
        date=PRIMARY_DAY,
        opens=dt.time(8),
        closes=dt.time(17),
        timezone="America/Chicago",
    )

    body = _near_early(api, date=GENERAL_EARLY_DAY.isoformat()).json()

    assert body["verdict"] != "allowed", body

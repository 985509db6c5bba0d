"""One anonymous lookup in a vote-center county keeps one list of the county's vote centers shared by its precincts,
not one per precinct (precincts x centers of memory and work an outsider could make a worker spend)."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.db import transaction
from rest_framework.test import APIClient
from shapely.geometry import Point, box

from polling.geography import spatial
from polling.geography.services import geography_version_bump
from polling.models import PollingPlace, Precinct, VoteCenter
from tests.factories import ElectionFactory, PollingPlaceFactory, PrecinctFactory

pytestmark = pytest.mark.django_db
NOON = dt.datetime(2026, 11, 3, 18, 0, tzinfo=dt.UTC)
PRECINCTS = 600
CENTERS = 300


@time_machine.travel(NOON, tick=True)
def test_a_vote_center_countys_precincts_share_one_kept_list(county, mississippi):
    november = ElectionFactory(jurisdiction=mississippi, name="General", date=dt.date(2026, 11, 3))
    with transaction.atomic():
        Precinct.objects.bulk_create(
            [
                PrecinctFactory.build(
                    county=county,
                    code=f"{i:04d}",
                    name=f"P{i}",
                    boundary=box(
                        -90.3 + (i % 30) * 0.01,
                        32.2 + (i // 30) * 0.01,
                        -90.3 + (i % 30 + 1) * 0.01,
                        32.2 + (i // 30 + 1) * 0.01,
                    ),
                )
                for i in range(PRECINCTS)
            ]
        )
        places = PollingPlace.objects.bulk_create(
            [
                PollingPlaceFactory.build(county=county, code=f"VC{i}", location=Point(-90.3 + i * 0.001, 32.3))
                for i in range(CENTERS)
            ]
        )
        VoteCenter.objects.bulk_create([VoteCenter(election=november, polling_place=p) for p in places])
        geography_version_bump()
    api = APIClient()
    spatial.current_index()  # the index itself is built here, not timed below
    response = api.get("/api/v1/lookup/", {"lat": "32.205", "lon": "-90.295"})
    assert response.status_code == 200, response.content[:300]
    assert len(response.json()["places"]) == CENTERS
    kept = spatial.current_index()._memo[("lookup.serving", november.pk, county.pk)]
    entries = kept.slots  # (place, way) entries kept for the county's precincts, shared ranges counted once
    assert len(api.get("/api/v1/lookup/", {"lat": "32.215", "lon": "-90.285"}).json()["places"]) == CENTERS
    # Every precinct of a vote-center county is served by the same centers: one shared list would hold CENTERS
    # entries; what is kept is PRECINCTS * CENTERS.
    assert entries <= PRECINCTS + CENTERS, entries

"""Lookup answers kept per geography version (``GeographyIndex.memo``): never stale past the write that changed
them, whoever wrote it (the admin, the importer, or any ORM save or delete), and the same bytes as a rendered
answer."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.db import transaction
from rest_framework.test import APIClient
from shapely.geometry import Point

from polling.geography import spatial
from polling.geography.services import geography_version
from polling.models import PrecinctAssignment
from tests.factories import ElectionFactory, EntranceFactory, PollingPlaceFactory
from tests.public_geo import make_public_geo, towards

pytestmark = pytest.mark.django_db
AT = {"lat": 32.35, "lon": -90.18}  # in the precinct West


@pytest.fixture
def geo(mississippi):
    return make_public_geo()


@pytest.fixture
def api():
    return APIClient()


def lookup(api, **extra):
    response = api.get("/api/v1/lookup/", {**AT, **extra})
    assert response.status_code == 200, response.content
    return response.json()


def test_a_repeated_lookup_asks_the_database_only_for_the_version(api, geo, django_assert_max_num_queries):
    first = lookup(api)
    with django_assert_max_num_queries(1):  # the geography version, nothing else
        again = lookup(api)
    assert again == first and first["polling_place"]["code"] == "PP1"


def test_the_answer_is_the_rendered_json_of_every_part(api, geo):
    response = api.get("/api/v1/lookup/", AT)
    body = json.loads(response.content)
    assert response["Content-Type"] == "application/json"
    assert body["precinct"] == {"id": geo["west"].pk, "code": "0001", "name": "West"}
    assert body["county"] == {"id": geo["county"].pk, "fips": "28049", "name": "Hinds"}
    assert body["election"]["id"] == geo["election"].pk
    assert [e["name"] for e in body["polling_place"]["entrances"]] == ["Main", "Side"]
    # Compact, as the API's renderer writes every answer.
    assert response.content == json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()


def test_an_orm_save_of_an_assignment_is_seen_by_the_next_lookup(api, geo):
    assert lookup(api)["polling_place"]["code"] == "PP1"
    other = PollingPlaceFactory(county=geo["county"], code="PP2", name="Library", location=Point(-90.19, 32.36))
    assignment = PrecinctAssignment.objects.get(election=geo["election"], precinct=geo["west"])
    assignment.polling_place = other
    assignment.save()
    assert lookup(api)["polling_place"]["code"] == "PP2"
    assignment.delete()
    assert lookup(api)["polling_place"] is None


def test_a_moved_entrance_and_a_renamed_place_are_seen_by_the_next_lookup(api, geo):
    assert lookup(api)["polling_place"]["name"] == "West Center"
    door = geo["door"]
    door.location = Point(*towards(-90.17, 32.35, 180, 12.0))
    door.save()
    moved = next(e for e in lookup(api)["polling_place"]["entrances"] if e["name"] == "Main")
    assert moved["lat"] < 32.35
    EntranceFactory(polling_place=geo["place"], name="Annex", location=Point(-90.1702, 32.3502))
    assert [e["name"] for e in lookup(api)["polling_place"]["entrances"]] == ["Annex", "Main", "Side"]
    place = geo["place"]
    place.name = "West Community Center"
    place.save()
    assert lookup(api)["polling_place"]["name"] == "West Community Center"


def test_a_new_or_deleted_election_is_seen_by_the_next_lookup(api, geo):
    assert lookup(api)["election"]["name"] == "General"
    sooner = ElectionFactory(name="Special", date=dt.date.today() + dt.timedelta(days=5))
    assert lookup(api)["election"]["name"] == "Special"
    assert lookup(api, election=geo["election"].pk)["election"]["name"] == "General"
    sooner_id = sooner.pk
    sooner.delete()
    assert lookup(api)["election"]["name"] == "General"
    response = api.get("/api/v1/lookup/", {**AT, "election": sooner_id})
    assert response.status_code == 404 and response.json()["code"] == "election_not_found"


def test_a_write_that_rolls_back_leaves_the_version_and_the_answers_alone(api, geo):
    lookup(api)
    before = geography_version()
    with pytest.raises(RuntimeError), transaction.atomic():
        place = geo["place"]
        place.name = "Never"
        place.save()
        raise RuntimeError("the writer fails after saving")
    assert geography_version() == before
    assert lookup(api)["polling_place"]["name"] == "West Center"


def test_fixture_loading_raw_saves_do_not_bump(geo):
    from django.db.models.signals import post_save

    from polling.models import County

    before = geography_version()
    post_save.send(sender=County, instance=geo["county"], created=False, raw=True, using="default")
    assert geography_version() == before


def test_kept_answers_are_bounded(api, geo, monkeypatch):
    monkeypatch.setattr(spatial, "MEMO_SIZE", 3)
    index = spatial.current_index()
    for n in range(10):
        assert index.memo(("test", n), lambda n=n: n * n) == n * n
    assert len(index._memo) == 3
    # The most recently used entries stay; a recomputed value comes from compute() again.
    calls = []
    assert index.memo(("test", 0), lambda: calls.append(1) or 0) == 0 and calls == [1]
    assert index.memo(("test", 9), lambda: calls.append(2) or -1) == 81 and calls == [1]

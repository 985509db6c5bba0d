"""``GET /api/v1/elections/``: public, by date, filtered by state; a bad ``state`` is a 400 with a stable code."""

from __future__ import annotations

import datetime as dt

import pytest
from rest_framework.test import APIClient

from tests.factories import ElectionFactory, UserFactory

pytestmark = pytest.mark.django_db
URL = "/api/v1/elections/"


@pytest.fixture
def api():
    return APIClient()


@pytest.fixture
def elections(mississippi, alabama):
    return {
        "ms_general": ElectionFactory(jurisdiction=mississippi, name="General", date=dt.date(2026, 11, 3)),
        "ms_primary": ElectionFactory(
            jurisdiction=mississippi, name="Primary", date=dt.date(2027, 3, 9), polls_open=dt.time(7, 30)
        ),
        "al_general": ElectionFactory(
            jurisdiction=alabama, name="General", date=dt.date(2026, 11, 3), polls_close=dt.time(19, 15)
        ),
    }


def test_anyone_lists_every_election_by_date_then_state(api, elections):
    response = api.get(URL)

    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 3 and body["next"] is None
    assert [e["id"] for e in body["results"]] == [
        elections["al_general"].pk,
        elections["ms_general"].pk,
        elections["ms_primary"].pk,
    ]
    assert body["results"][0] == {
        "id": elections["al_general"].pk,
        "name": "General",
        "date": "2026-11-03",
        "state": "AL",
        "timezone": "America/Chicago",
        "polls_open": "07:00",
        "polls_close": "19:15",
    }


def test_a_signed_in_user_gets_the_same_public_list(api, elections):
    api.force_authenticate(UserFactory())

    assert [e["id"] for e in api.get(URL).json()["results"]] == [
        elections["al_general"].pk,
        elections["ms_general"].pk,
        elections["ms_primary"].pk,
    ]


@pytest.mark.parametrize("state", ["MS", "ms", "Ms"])
def test_the_list_is_filtered_by_state_code_in_any_case(api, elections, state):
    body = api.get(URL, {"state": state}).json()

    assert [(e["id"], e["state"], e["polls_open"]) for e in body["results"]] == [
        (elections["ms_general"].pk, "MS", "07:00"),
        (elections["ms_primary"].pk, "MS", "07:30"),
    ]


def test_a_known_state_without_elections_gives_an_empty_list(api, elections):
    body = api.get(URL, {"state": "TX"}).json()

    assert body["count"] == 0 and body["results"] == []


@pytest.mark.parametrize(
    ("state", "code"),
    [
        ("Mississippi", "invalid_state"),
        ("M", "invalid_state"),
        ("28", "invalid_state"),
        ("M S", "invalid_state"),
        ("ZZ", "unknown_state"),
    ],
)
def test_a_bad_state_is_a_400_naming_the_field(api, elections, state, code):
    response = api.get(URL, {"state": state})

    assert response.status_code == 400
    body = response.json()
    assert body["code"] == code
    assert body["detail"]
    assert body["errors"]["state"][0]["code"] == code


def test_a_repeated_state_is_refused(api, elections):
    response = api.get(URL + "?state=MS&state=AL")

    assert response.status_code == 400
    assert response.json()["code"] == "repeated_parameter"


def test_the_list_is_paged(api, elections):
    first = api.get(URL, {"limit": 2}).json()
    second = api.get(URL, {"limit": 2, "offset": 2}).json()

    assert first["count"] == 3 and len(first["results"]) == 2
    assert first["next"].endswith("?limit=2&offset=2") or "offset=2" in first["next"]
    assert [e["id"] for e in second["results"]] == [elections["ms_primary"].pk]
    assert second["next"] is None


def test_a_bad_limit_is_a_400(api, elections):
    response = api.get(URL, {"limit": "0"})

    assert response.status_code == 400
    assert response.json()["code"] == "invalid_limit"


def test_the_answer_is_cacheable_and_its_etag_changes_with_the_elections(api, elections, mississippi):
    first = api.get(URL)
    etag = first.headers["ETag"]
    assert "public" in first.headers["Cache-Control"]

    assert api.get(URL, HTTP_IF_NONE_MATCH=etag).status_code == 304
    # A new election (as an import adds one, without touching the geography) is a new answer.
    ElectionFactory(jurisdiction=mississippi, name="Runoff", date=dt.date(2026, 12, 1))
    again = api.get(URL, HTTP_IF_NONE_MATCH=etag)
    assert again.status_code == 200
    assert again.json()["count"] == 4


def test_the_list_takes_a_fixed_number_of_queries(api, elections, mississippi, django_assert_num_queries):
    for n in range(10):
        ElectionFactory(jurisdiction=mississippi, name=f"Special {n}", date=dt.date(2027, 1, 1 + n))

    # The geography version, the count and the page (states joined).
    with django_assert_num_queries(3):
        assert api.get(URL).json()["count"] == 13


def test_the_schema_documents_the_endpoint_and_its_state_filter(api, db):
    schema = api.get("/api/v1/schema/", HTTP_ACCEPT="application/json").json()

    operation = schema["paths"]["/api/v1/elections/"]["get"]
    assert operation["operationId"] == "elections_list"
    assert {p["name"] for p in operation["parameters"]} >= {"state", "limit", "offset"}
    assert "400" in operation["responses"]

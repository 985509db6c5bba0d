"""Id filters of the staff lists are parsed like every other id (``common.api.parsing.is_identifier``): anything but
a positive whole number within a signed 64-bit integer is a 400 ``invalid_parameter`` naming the field. (Before the
shared parser, ``0`` gave an empty list or a 404 and a number past 2**63 a server error.)"""

import pytest

from tests.people import signed_in

LISTS = [
    ("/api/v1/auth/sessions/", "user"),
    ("/api/v1/auth/grants/", "user"),
    ("/api/v1/auth/devices/", "polling_place"),
]
BAD = ["0", "-1", "+5", " 5", "1e3", "٣", str(2**63), "99999999999999999999999"]


@pytest.mark.parametrize(("path", "name"), LISTS)
@pytest.mark.parametrize("raw", BAD)
def test_a_bad_id_filter_is_a_400_naming_the_field(state_admin, path, name, raw):
    response = signed_in(state_admin).get(path, {name: raw})
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["code"] == "invalid_parameter"
    assert name in body["errors"]


@pytest.mark.parametrize(("path", "name"), LISTS[1:])
def test_a_good_id_filter_that_matches_nothing_is_an_empty_list(state_admin, path, name):
    response = signed_in(state_admin).get(path, {name: str(2**63 - 1)})
    assert response.status_code == 200
    assert response.json()["results"] == []


def test_the_sessions_of_an_unknown_user_are_not_found_like_anyone_elses_out_of_reach(state_admin):
    response = signed_in(state_admin).get("/api/v1/auth/sessions/", {"user": str(2**63 - 1)})
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"

"""Import warnings in the admin: a commissioner sees those of their county, never another county's; a state
administrator those of the state; nobody without a role, none. Places, hours and vote centers are edited there too."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client
from django.urls import reverse

from polling.models import ImportWarning, LocationHours, PollingPlace, VoteCenter
from tests.factories import ElectionFactory, PollingPlaceFactory, UserFactory
from tests.people import PASSWORD, sign_in_to_admin

pytestmark = pytest.mark.django_db
LIST = reverse("admin:polling_importwarning_changelist")


def _warning(county, code: str) -> ImportWarning:
    place = PollingPlaceFactory(county=county, code=code, location=None)
    return ImportWarning.objects.create(
        county=county,
        polling_place=place,
        code=ImportWarning.Code.NO_COORDINATES,
        subject=f"PollingLocation '{code}'",
        source="feed.zip",
        message=f"{code}: no LatLng in the feed.",
    )


@pytest.fixture
def warnings(county, other_county):
    return {"hinds": _warning(county, "HINDS-X"), "madison": _warning(other_county, "MAD-X")}


def _admin(user) -> Client:
    user.is_staff = True
    user.save(update_fields=["is_staff"])
    return sign_in_to_admin(Client(), user, PASSWORD)


def test_a_commissioner_sees_the_warnings_of_their_county_only(commissioner, warnings):
    client = _admin(commissioner)

    page = client.get(LIST)

    assert page.status_code == 200
    assert "HINDS-X" in page.content.decode() and "MAD-X" not in page.content.decode()
    assert client.get(reverse("admin:polling_importwarning_change", args=[warnings["hinds"].pk])).status_code == 200


def test_a_commissioner_of_another_county_cannot_open_or_delete_them(other_county_commissioner, warnings):
    client = _admin(other_county_commissioner)

    assert "HINDS-X" not in client.get(LIST).content.decode()
    hinds = warnings["hinds"].pk
    # Outside one's scope a warning does not exist: the admin sends the caller back instead of showing it.
    assert client.get(reverse("admin:polling_importwarning_change", args=[hinds])).status_code == 302
    client.post(reverse("admin:polling_importwarning_delete", args=[hinds]), {"post": "yes"})
    assert ImportWarning.objects.filter(pk=hinds).exists()


def test_a_commissioner_deletes_a_warning_once_dealt_with(commissioner, warnings):
    client = _admin(commissioner)

    response = client.post(reverse("admin:polling_importwarning_delete", args=[warnings["hinds"].pk]), {"post": "yes"})

    assert response.status_code == 302
    assert not ImportWarning.objects.filter(pk=warnings["hinds"].pk).exists()


def test_a_warning_is_never_added_or_edited_in_the_admin(commissioner, warnings):
    client = _admin(commissioner)

    assert client.get(reverse("admin:polling_importwarning_add")).status_code == 403
    page = client.get(reverse("admin:polling_importwarning_change", args=[warnings["hinds"].pk])).content.decode()
    assert 'name="message"' not in page


def test_a_state_administrator_sees_every_warning_of_the_state(state_admin, warnings):
    page = _admin(state_admin).get(LIST).content.decode()

    assert "HINDS-X" in page and "MAD-X" in page


def test_staff_without_a_role_sees_no_warning(db):
    client = _admin(UserFactory())

    assert client.get(LIST).status_code == 403


def test_the_superuser_sees_them_all(admin_client, warnings):
    page = admin_client.get(LIST).content.decode()

    assert "HINDS-X" in page and "MAD-X" in page


# --- Places without coordinates, kinds, hours and vote centers --------------------------------------------------


def test_a_place_is_saved_without_coordinates_and_found_by_the_missing_coordinates_filter(admin_client, county):
    data = {
        "county": county.pk,
        "code": "DB9",
        "name": "Drop box at the library",
        "address": "9 Oak St",
        "is_drop_box": "on",
        "lon": "",
        "lat": "",
        "building": "",
        "accessibility_notes": "",
        "entrances-TOTAL_FORMS": 0,
        "entrances-INITIAL_FORMS": 0,
    }
    response = admin_client.post(reverse("admin:polling_pollingplace_add"), data)
    assert response.status_code == 302, response.context["errors"]
    place = PollingPlace.objects.get(code="DB9")
    assert place.location is None and place.kinds == ["drop_box"]

    listed = admin_client.get(reverse("admin:polling_pollingplace_changelist"), {"located": "no"}).content.decode()
    assert "DB9" in listed
    assert "Drop box" in listed
    page = admin_client.get(reverse("admin:polling_pollingplace_change", args=[place.pk]))
    assert page.status_code == 200
    county_page = admin_client.get(reverse("admin:polling_county_change", args=[county.pk]))
    assert county_page.status_code == 200


def test_only_one_coordinate_is_refused(admin_client, county):
    data = {
        "county": county.pk,
        "code": "HALF",
        "name": "Half",
        "address": "1 Elm St",
        "is_election_day": "on",
        "lon": "-90.17",
        "lat": "",
        "building": "",
        "accessibility_notes": "",
        "entrances-TOTAL_FORMS": 0,
        "entrances-INITIAL_FORMS": 0,
    }
    response = admin_client.post(reverse("admin:polling_pollingplace_add"), data)

    assert response.status_code == 200
    assert "Give both longitude and latitude, or neither." in response.content.decode()
    assert not PollingPlace.objects.filter(code="HALF").exists()


def test_hours_are_added_in_local_time_with_the_countys_zone(admin_client, place, mississippi):
    election = ElectionFactory(jurisdiction=mississippi, date=dt.date(2026, 11, 3))
    data = {
        "polling_place": place.pk,
        "election": election.pk,
        "date": "2026-11-02",
        "opens": "08:00",
        "closes": "17:00",
        "timezone": "",
    }
    response = admin_client.post(reverse("admin:polling_locationhours_add"), data)

    assert response.status_code == 302, response.context["errors"]
    hours = LocationHours.objects.get(polling_place=place)
    assert hours.timezone == "America/Chicago"
    assert admin_client.get(reverse("admin:polling_locationhours_changelist")).status_code == 200


def test_a_vote_center_is_added_and_listed(admin_client, place, mississippi):
    election = ElectionFactory(jurisdiction=mississippi, date=dt.date(2026, 11, 3))

    response = admin_client.post(
        reverse("admin:polling_votecenter_add"), {"polling_place": place.pk, "election": election.pk}
    )

    assert response.status_code == 302, response.context["errors"]
    assert VoteCenter.objects.filter(election=election, polling_place=place).exists()
    assert place.code in admin_client.get(reverse("admin:polling_votecenter_changelist")).content.decode()

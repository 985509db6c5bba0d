"""Incident reports sent again (an answer lost on the way, a tablet syncing twice, two sends racing) are stored once
under the client's ``report_id``; another report under a used id is refused and stores nothing; and places that have
no zone to measure against (not located yet, a drop box where no rule covers drop boxes) still take reports."""

from __future__ import annotations

import datetime as dt
import io
import uuid
from pathlib import Path

import pytest
from django.db import connection
from django.utils import timezone
from PIL import Image
from shapely.geometry import Point

from accounts.models import AuditEvent, Role
from polling.models import Jurisdiction
from polling.models.incidents import Incident
from tests.factories import CountyFactory, EntranceFactory, PollingPlaceFactory, UserFactory
from tests.helpers import in_parallel, seed_reference_data
from tests.people import grant, make_tablet, signed_in

URL = "/api/v1/incidents/"
DOOR = (-90.17, 32.3501)  # the entrance of ``place`` (the factory puts the place at -90.17, 32.35)


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def seeded(transactional_db):
    """The jurisdictions and rules a transactional test's flush removed."""
    seed_reference_data()


@pytest.fixture
def door(place):
    return EntranceFactory(polling_place=place, name="Main", location=Point(*DOOR))


def report(place_id: int, report_id: str | None, **extra) -> dict:
    occurred = (timezone.now() - dt.timedelta(minutes=5)).replace(microsecond=0)
    fields = {
        "polling_place": place_id,
        "activity": "campaigning",
        "lon": DOOR[0],
        "lat": DOOR[1] + 0.0001,
        "occurred_at": occurred.isoformat(),
        "description": "Signs for a candidate at the door.",
    }
    if report_id is not None:
        fields["report_id"] = report_id
    return fields | extra


def stored() -> tuple[int, int]:
    return Incident.objects.count(), AuditEvent.objects.filter(action="incident.report").count()


def photo_bytes() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (16, 12), (200, 30, 30)).save(out, format="PNG")
    return out.getvalue()


def photos_on_disk(settings) -> list[Path]:
    root = Path(settings.MEDIA_ROOT)
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


@pytest.mark.django_db
def test_the_same_report_sent_again_is_stored_once_and_answered_with_the_first(tablet_client, place, door):
    body = report(place.pk, str(uuid.uuid4()))

    first = tablet_client.post(URL, body, format="json")
    again = tablet_client.post(URL, body, format="json")

    assert first.status_code == 201 and again.status_code == 200
    assert again.json() == first.json()
    assert stored() == (1, 1)
    assert str(Incident.objects.get().report_id) == body["report_id"]


@pytest.mark.django_db
def test_another_report_under_a_used_id_is_refused_and_stores_nothing(tablet_client, place, door):
    report_id = str(uuid.uuid4())
    assert tablet_client.post(URL, report(place.pk, report_id), format="json").status_code == 201

    other = tablet_client.post(URL, report(place.pk, report_id, description="Something else."), format="json")

    assert other.status_code == 422
    assert other.json()["code"] == "report_id_reused" and "detail" in other.json()
    assert stored() == (1, 1)


@pytest.mark.django_db
def test_an_id_used_in_another_county_is_refused_without_showing_that_report(
    tablet_client, place, door, other_place, other_county_commissioner
):
    report_id = str(uuid.uuid4())
    theirs = signed_in(other_county_commissioner).post(
        URL, report(other_place.pk, report_id, lon=-90.17, lat=32.3501), format="json"
    )
    assert theirs.status_code == 201

    mine = tablet_client.post(URL, report(place.pk, report_id), format="json")

    assert mine.status_code == 422 and mine.json()["code"] == "report_id_reused"
    assert "Madison" not in mine.content.decode() and str(theirs.json()["id"]) not in mine.content.decode()
    assert stored() == (1, 1)


@pytest.mark.django_db
def test_reports_without_an_id_are_each_stored(tablet_client, place, door):
    body = report(place.pk, None)

    assert tablet_client.post(URL, body, format="json").status_code == 201
    assert tablet_client.post(URL, body, format="json").status_code == 201
    assert stored() == (2, 2)


@pytest.mark.django_db
@pytest.mark.parametrize(
    "value",
    [
        "not-a-uuid",
        "{12345678-1234-5678-1234-567812345678}",
        "{12345678123456781234567812345678}",
        "urn:uuid:12345678-1234-5678-1234-567812345678",
        "12345678-1234-5678-1234-5678123456789",
        7,
    ],
)
def test_a_malformed_report_id_is_400_and_stores_nothing(tablet_client, place, door, value):
    response = tablet_client.post(URL, report(place.pk, None) | {"report_id": value}, format="json")

    assert response.status_code == 400 and response.json()["code"] == "invalid_report_id"
    assert stored() == (0, 0)


@pytest.mark.django_db
def test_a_resent_photo_is_not_kept_twice(tablet_client, place, door, settings):
    from django.core.files.uploadedfile import SimpleUploadedFile

    body = report(place.pk, str(uuid.uuid4()))
    for expected in (201, 200):
        upload = SimpleUploadedFile("door.png", photo_bytes(), content_type="image/png")
        response = tablet_client.post(URL, {**body, "photo": upload}, format="multipart")
        assert response.status_code == expected, response.json()

    assert stored() == (1, 1)
    assert [p.name for p in photos_on_disk(settings)] == [Path(Incident.objects.get().photo_path).name]


@pytest.mark.django_db
def test_a_place_not_located_yet_takes_a_report_unmeasured(commissioner, county):
    unlocated = PollingPlaceFactory(county=county, code="NEW", location=None)

    response = signed_in(commissioner).post(URL, report(unlocated.pk, str(uuid.uuid4())), format="json")

    assert response.status_code == 201, response.json()
    assert (response.json()["zone_status"], response.json()["rule"], response.json()["distance_ft"]) == (
        None,
        None,
        None,
    )


@pytest.mark.django_db
def test_a_drop_box_where_no_rule_covers_drop_boxes_takes_a_report_unmeasured(commissioner, county):
    box = PollingPlaceFactory(county=county, code="BOX", is_election_day=False, is_drop_box=True)

    response = signed_in(commissioner).post(URL, report(box.pk, None, lon=-90.17, lat=32.3501), format="json")

    assert response.status_code == 201, response.json()
    assert response.json()["rule"] is None and response.json()["zone_status"] is None


@pytest.mark.django_db
def test_a_drop_box_is_measured_against_its_states_drop_box_rule(db):
    california = Jurisdiction.objects.get(code="CA")
    la = CountyFactory(fips="06037", name="Los Angeles", jurisdiction=california)
    box = PollingPlaceFactory(
        county=la, code="BOX", location=Point(-118.25, 34.05), is_election_day=False, is_drop_box=True
    )
    clerk = grant(UserFactory(username="la-clerk"), Role.COMMISSIONER, county=la)

    response = signed_in(clerk).post(
        URL, report(box.pk, None, lon=-118.25, lat=34.0501, occurred_at=timezone.now().isoformat()), format="json"
    )

    assert response.status_code == 201, response.json()
    rule = response.json()["rule"]
    assert (rule["distance_ft"], rule["citation"]) == (100.0, "Cal. Elec. Code § 18370(b)(2); § 319.5(a)(5)")
    assert response.json()["zone_status"] == "inside"  # 11 m = 36 ft from the box


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="needs real concurrent connections (PostgreSQL); SQLite serialises every writer",
)
def test_two_sends_racing_store_one_report(seeded, place, poll_worker, commissioner, election):
    EntranceFactory(polling_place=place, name="Main", location=Point(*DOOR))
    device, _ = make_tablet(place, commissioner)
    clients = [signed_in(poll_worker, device=device) for _ in range(4)]
    body = report(place.pk, str(uuid.uuid4()))

    statuses = in_parallel(4, lambda i: clients[i].post(URL, body, format="json").status_code)

    assert sorted(statuses) == [200, 200, 200, 201]
    assert stored() == (1, 1)

"""Incidents: who may report and read them, the exact zone measurement, bad input, and photos."""

from __future__ import annotations

import datetime as dt
import io
import math

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from geographiclib.geodesic import Geodesic
from PIL import Image
from shapely.geometry import Point

from accounts.models import AuditEvent
from polling.models.incidents import Incident
from tests.factories import EntranceFactory
from tests.helpers import last_audit_pk
from tests.people import signed_in

URL = "/api/v1/incidents/"
WGS84 = Geodesic.WGS84
#: Where the entrance of ``place`` is (the factory puts the polling place at -90.17, 32.35).
DOOR = (-90.17, 32.3501)


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def door(place):
    return EntranceFactory(polling_place=place, name="Main", location=Point(*DOOR))


def away(metres: float, azimuth: float = 90.0) -> tuple[float, float]:
    """The point ``metres`` from the door along ``azimuth`` (degrees from north), by GeographicLib."""
    out = WGS84.Direct(DOOR[1], DOOR[0], azimuth, metres)
    return out["lon2"], out["lat2"]


def body(place_id: int, lon: float, lat: float, **extra):
    occurred = timezone.now().replace(microsecond=0) - dt.timedelta(minutes=5)
    return {
        "polling_place": place_id,
        "activity": "campaigning",
        "lon": lon,
        "lat": lat,
        "occurred_at": occurred.isoformat(),
        "description": "Man with signs for a candidate by the door.",
    } | extra


def jpeg_with_gps(fmt: str = "JPEG") -> bytes:
    image = Image.new("RGB", (20, 10), (10, 120, 240))
    exif = Image.Exif()
    exif[0x010F] = "SecretCam"
    exif[0x8825] = {1: "N", 2: (32.0, 21.0, 0.0), 3: "W", 4: (90.0, 10.0, 0.0)}
    out = io.BytesIO()
    image.save(out, format=fmt, exif=exif)
    return out.getvalue()


def png_with_exif() -> bytes:
    image = Image.new("RGB", (16, 12), (200, 30, 30))
    exif = Image.Exif()
    exif[0x010F] = "SecretCam"  # Make
    exif[0x8825] = {1: "N", 2: (32.0, 21.0, 0.0), 3: "W", 4: (90.0, 10.0, 0.0)}  # GPS IFD
    out = io.BytesIO()
    image.save(out, format="PNG", exif=exif)
    return out.getvalue()


def upload(name: str, data: bytes, content_type: str):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile(name, data, content_type=content_type)


def count_rows() -> tuple[int, int]:
    return Incident.objects.count(), AuditEvent.objects.filter(action="incident.report").count()


# --- Permissions -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", [URL, f"{URL}1/", f"{URL}1/photo"])
def test_anonymous_is_refused_401_everywhere(api, path):
    response = api.get(path)
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"


def test_anonymous_cannot_report(api, place, door):
    response = api.post(URL, body(place.pk, *away(10)), format="json")
    assert response.status_code == 401
    assert count_rows() == (0, 0)


def test_a_user_without_a_role_is_refused_403(outsider, place, door):
    client = signed_in(outsider)
    assert client.get(URL).status_code == 403
    response = client.post(URL, body(place.pk, *away(10)), format="json")
    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"
    assert count_rows() == (0, 0)


def test_a_poll_worker_reports_from_a_tablet_with_the_server_measurement_and_an_audit_event(
    poll_worker, tablet, place, door, election
):
    client = signed_in(poll_worker, device=tablet[0])
    since = last_audit_pk()
    response = client.post(URL, body(place.pk, *away(10)), format="json")
    assert response.status_code == 201, response.json()
    data = response.json()
    incident = Incident.objects.get(pk=data["id"])
    assert incident.reported_by == poll_worker
    assert incident.election == election
    assert incident.reported_from_device == str(tablet[0].pk)
    assert data["zone_status"] == "inside"
    assert data["rule"]["distance_ft"] == 150.0
    assert data["rule"]["measured_from"] == "entrance"
    assert data["rule"]["reference_kind"] == "entrances"
    assert data["rule"]["approximate"] is False
    assert "23-15-895" in data["rule"]["citation"]
    events = AuditEvent.objects.filter(pk__gt=since, action="incident.report")
    assert [(e.object_id, e.actor_id) for e in events] == [(str(incident.pk), poll_worker.pk)]


def test_a_poll_worker_with_grants_in_two_elections_must_name_one(poll_worker, place, door, election, mississippi):
    from accounts.models import Role
    from tests.factories import ElectionFactory, RoleGrantFactory

    runoff = ElectionFactory(jurisdiction=mississippi, name="Runoff")
    RoleGrantFactory(user=poll_worker, role=Role.POLL_WORKER, polling_place=place, election=runoff)
    client = signed_in(poll_worker)
    response = client.post(URL, body(place.pk, *away(10)), format="json")
    assert response.status_code == 400
    assert response.json()["errors"]["election"][0]["code"] == "missing_parameter"
    response = client.post(URL, body(place.pk, *away(10), election=runoff.pk), format="json")
    assert response.status_code == 201
    assert Incident.objects.get().election == runoff


def test_a_poll_worker_of_another_place_cannot_report_here_and_nothing_is_stored(other_poll_worker, place, door):
    client = signed_in(other_poll_worker)
    response = client.post(URL, body(place.pk, *away(10)), format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "unknown_polling_place"
    assert count_rows() == (0, 0)


def test_a_commissioner_of_another_county_cannot_report_here(other_county_commissioner, place, door):
    response = signed_in(other_county_commissioner).post(URL, body(place.pk, *away(10)), format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "unknown_polling_place"
    assert count_rows() == (0, 0)


def test_an_unknown_polling_place_reads_the_same_as_one_out_of_scope(commissioner):
    response = signed_in(commissioner).post(URL, body(999_999, -90.17, 32.35), format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "unknown_polling_place"


@pytest.fixture
def reported(commissioner, place, door, election):
    response = signed_in(commissioner).post(URL, body(place.pk, *away(10), election=election.pk), format="multipart")
    assert response.status_code == 201, response.json()
    return Incident.objects.get(pk=response.json()["id"])


def test_a_commissioners_report_without_an_election_takes_the_one_the_place_serves_that_day(
    commissioner, poll_worker, place, door, election
):
    from tests.factories import PrecinctAssignmentFactory, PrecinctFactory

    PrecinctAssignmentFactory(election=election, precinct=PrecinctFactory(county=place.county), polling_place=place)
    response = signed_in(commissioner).post(URL, body(place.pk, *away(10)), format="json")
    assert response.status_code == 201, response.json()
    assert response.json()["election"] == election.pk
    assert signed_in(poll_worker).get(URL).json()["count"] == 1


def test_a_photo_is_removed_again_when_the_report_fails(commissioner, place, door, tmp_path, monkeypatch):
    from polling.api import incident_views

    def broken(**kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(incident_views, "incident_report", broken)
    data = body(place.pk, *away(10)) | {"photo": upload("door.png", png_with_exif(), "image/png")}
    client = signed_in(commissioner)
    client.raise_request_exception = False
    assert client.post(URL, data, format="multipart").status_code == 500
    assert not list((tmp_path / "media").rglob("*.png"))


def test_a_commissioner_reports_in_their_county_and_the_incident_is_read_back(commissioner, reported):
    client = signed_in(commissioner)
    detail = client.get(f"{URL}{reported.pk}/")
    assert detail.status_code == 200
    assert detail.json()["id"] == reported.pk
    assert [row["id"] for row in client.get(URL).json()["results"]] == [reported.pk]


@pytest.mark.parametrize("who", ["state_admin", "poll_worker"])
def test_the_state_administrator_and_the_places_poll_worker_see_it(request, who, reported):
    client = signed_in(request.getfixturevalue(who))
    assert client.get(f"{URL}{reported.pk}/").status_code == 200
    assert [row["id"] for row in client.get(URL).json()["results"]] == [reported.pk]


@pytest.mark.parametrize("who", ["other_county_commissioner", "other_poll_worker"])
def test_out_of_scope_callers_get_404_and_an_empty_list(request, who, reported):
    client = signed_in(request.getfixturevalue(who))
    assert client.get(f"{URL}{reported.pk}/").status_code == 404
    assert client.get(f"{URL}{reported.pk}/photo").status_code == 404
    listing = client.get(URL).json()
    assert listing["count"] == 0
    assert listing["results"] == []


@pytest.mark.parametrize("method", ["put", "patch", "delete"])
def test_incidents_cannot_be_edited_or_deleted(commissioner, reported, method):
    response = getattr(signed_in(commissioner), method)(f"{URL}{reported.pk}/", {}, format="json")
    assert response.status_code == 405
    reported.refresh_from_db()
    assert reported.description.startswith("Man with signs")


# --- Exact distances ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "metres, accuracy, status",
    [(10.0, None, "inside"), (60.0, None, "outside"), (44.0, 5.0, "uncertain"), (44.0, 1.0, "inside")],
)
def test_the_distance_is_the_exact_geodesic_one_and_the_status_follows_the_rule(
    commissioner, place, door, metres, accuracy, status
):
    lon, lat = away(metres, azimuth=37.0)
    extra = {"accuracy_m": accuracy} if accuracy is not None else {}
    response = signed_in(commissioner).post(URL, body(place.pk, lon, lat, **extra), format="json")
    assert response.status_code == 201, response.json()
    expected_ft = WGS84.Inverse(DOOR[1], DOOR[0], lat, lon)["s12"] / 0.3048
    stored = Incident.objects.get(pk=response.json()["id"])
    assert stored.distance_ft == pytest.approx(expected_ft, abs=0.01)
    assert response.json()["distance_ft"] == pytest.approx(expected_ft, abs=0.01)
    assert stored.zone_status == status
    if metres == 10.0:
        assert response.json()["distance_ft"] == pytest.approx(32.81, abs=0.01)


def test_loitering_is_measured_against_the_loitering_rule_and_other_against_none(commissioner, place, door):
    client = signed_in(commissioner)
    loitering = client.post(URL, body(place.pk, *away(10), activity="loitering"), format="json").json()
    assert loitering["rule"]["distance_ft"] == 30.0
    assert loitering["zone_status"] == "outside"  # 32.8 ft > 30 ft
    other = client.post(URL, body(place.pk, *away(10), activity="other"), format="json").json()
    assert other["rule"] is None
    assert other["distance_ft"] is None
    assert other["zone_status"] is None


# --- Bad input ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "change, code, field",
    [
        ({"lat": "NaN"}, "not_finite", "lat"),
        ({"lon": "inf"}, "not_finite", "lon"),
        ({"lat": 91}, "lat_out_of_range", "lat"),
        ({"lon": -181}, "lon_out_of_range", "lon"),
        ({"lat": "north"}, "not_a_number", "lat"),
        ({"lat": True}, "not_a_number", "lat"),
        ({"lat": None}, "missing_parameter", "lat"),
        ({"polling_place": None}, "missing_parameter", "polling_place"),
        ({"polling_place": "abc"}, "invalid_polling_place", "polling_place"),
        ({"activity": None}, "missing_parameter", "activity"),
        ({"activity": "shouting"}, "invalid_activity", "activity"),
        ({"accuracy_m": -1}, "accuracy_out_of_range", "accuracy_m"),
        ({"accuracy_m": "NaN"}, "not_finite", "accuracy_m"),
        ({"description": None}, "missing_parameter", "description"),
        ({"description": "   "}, "missing_parameter", "description"),
        ({"description": "x" * 4001}, "description_too_long", "description"),
        ({"description": 7}, "invalid_description", "description"),
        ({"description": "a\x00b"}, "invalid_description", "description"),
        ({"occurred_at": "0001-01-01T00:00:00+05:00"}, "occurred_at_out_of_range", "occurred_at"),
        ({"occurred_at": None}, "missing_parameter", "occurred_at"),
        ({"occurred_at": "2026-11-03T09:30:00"}, "occurred_at_without_offset", "occurred_at"),
        ({"occurred_at": "yesterday"}, "invalid_occurred_at", "occurred_at"),
        ({"occurred_at": "2099-01-01T00:00:00Z"}, "occurred_at_in_future", "occurred_at"),
        ({"election": 999_999}, "unknown_election", "election"),
        ({"lon": 32.35, "lat": -89.5}, "too_far_from_polling_place", "lon"),
        ({"lon": -90.0}, "too_far_from_polling_place", "lon"),
    ],
)
def test_bad_input_is_a_400_naming_the_field_and_stores_nothing(commissioner, place, door, change, code, field):
    data = body(place.pk, *away(10))
    data.update(change)
    data = {k: v for k, v in data.items() if v is not None}
    response = signed_in(commissioner).post(URL, data, format="json")
    assert response.status_code == 400, response.json()
    assert response.json()["code"] == code
    assert field in response.json()["errors"]
    assert count_rows() == (0, 0)


def test_a_json_nan_literal_is_a_malformed_request(commissioner, place, door):
    raw = '{"polling_place": ' + str(place.pk) + ', "lon": NaN, "lat": 32.35}'
    response = signed_in(commissioner).post(URL, raw, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["code"] == "malformed_request"


def test_a_json_number_too_large_for_a_float_is_not_finite(commissioner, place, door):
    raw = '{"polling_place": ' + str(place.pk) + ', "activity": "other", "lon": 1e400, "lat": 32.35}'
    response = signed_in(commissioner).post(URL, raw, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["code"] == "not_finite"


def test_a_multipart_nan_is_refused_with_the_public_apis_code(commissioner, place, door):
    response = signed_in(commissioner).post(URL, body(place.pk, "nan", 32.35), format="multipart")
    assert response.status_code == 400
    assert response.json()["code"] == "not_finite"


def test_a_description_of_exactly_4000_characters_is_accepted(commissioner, place, door):
    response = signed_in(commissioner).post(URL, body(place.pk, *away(10), description="y" * 4000), format="json")
    assert response.status_code == 201


# --- Listing ------------------------------------------------------------------------------------------------------


def _report(client, place_id, **extra):
    response = client.post(URL, body(place_id, *away(extra.pop("metres", 10)), **extra), format="json")
    assert response.status_code == 201, response.json()
    return response.json()["id"]


def test_filters_narrow_the_list(commissioner, place, door, election):
    client = signed_in(commissioner)
    inside = _report(client, place.pk, election=election.pk)
    outside = _report(client, place.pk, metres=80)
    loiter = _report(client, place.pk, activity="loitering", occurred_at="2020-01-01T08:00:00-06:00")

    def ids(**query):
        response = client.get(URL, query)
        assert response.status_code == 200, response.json()
        return sorted(row["id"] for row in response.json()["results"])

    assert ids() == sorted([inside, outside, loiter])
    assert ids(election=election.pk) == [inside]
    assert ids(activity="loitering") == [loiter]
    assert ids(zone_status="outside") == sorted([outside, loiter])
    assert ids(polling_place=place.pk, zone_status="inside") == [inside]
    assert ids(until="2021-01-01T00:00:00Z") == [loiter]
    assert ids(since="2021-01-01T00:00:00+00:00") == sorted([inside, outside])
    assert client.get(URL, {"since": "2021-01-01"}).json()["code"] == "since_without_offset"
    assert client.get(URL, {"zone_status": "near"}).json()["code"] == "invalid_zone_status"
    assert client.get(URL, {"until": "9999-12-31T23:59:59-05:00"}).json()["code"] == "until_out_of_range"


def test_the_list_is_paginated_with_a_fixed_query_count(commissioner, place, door):
    client = signed_in(commissioner)
    _report(client, place.pk)
    client.get(URL)  # the session's last-used time is written at most once a minute: settle it first
    with CaptureQueriesContext(connection) as one:
        assert client.get(URL).status_code == 200
    for _ in range(4):
        _report(client, place.pk)
    with CaptureQueriesContext(connection) as five:
        page = client.get(URL, {"limit": 2}).json()
    assert len(five) == len(one) == 4  # session, grants, count, rows
    assert page["count"] == 5
    assert len(page["results"]) == 2
    assert "offset=2" in page["next"]


# --- Photos ---------------------------------------------------------------------------------------------------------


def test_a_png_is_accepted_its_exif_stripped_and_served_privately_in_scope(
    commissioner, poll_worker, other_county_commissioner, place, door, election
):
    original = png_with_exif()
    assert Image.open(io.BytesIO(original)).getexif()
    data = body(place.pk, *away(10), election=election.pk) | {"photo": upload("door.png", original, "image/png")}
    response = signed_in(commissioner).post(URL, data, format="multipart")
    assert response.status_code == 201, response.json()
    incident = Incident.objects.get(pk=response.json()["id"])
    assert response.json()["photo"] == f"/api/v1/incidents/{incident.pk}/photo"
    assert "door" not in incident.photo_path
    assert len(incident.photo_path.rsplit("/", 1)[-1].split(".")[0]) == 32

    served = signed_in(poll_worker).get(response.json()["photo"])
    assert served.status_code == 200
    assert served["Content-Type"] == "image/png"
    assert served["Cache-Control"] == "private, no-store"
    assert b"SecretCam" not in served.content
    image = Image.open(io.BytesIO(served.content))
    assert image.size == (16, 12)
    assert not image.getexif()
    assert image.getpixel((0, 0)) == (200, 30, 30)
    assert signed_in(other_county_commissioner).get(response.json()["photo"]).status_code == 404


@pytest.mark.parametrize("fmt, content_type", [("JPEG", "image/jpeg"), ("WEBP", "image/webp")])
def test_jpeg_and_webp_photos_lose_their_gps_tags(commissioner, place, door, fmt, content_type):
    original = jpeg_with_gps(fmt)
    assert Image.open(io.BytesIO(original)).getexif().get_ifd(0x8825)
    # The declared type and name are ignored: the bytes say what the file is.
    data = body(place.pk, *away(10)) | {"photo": upload("photo.bin", original, "application/octet-stream")}
    client = signed_in(commissioner)
    response = client.post(URL, data, format="multipart")
    assert response.status_code == 201, response.json()
    served = client.get(response.json()["photo"])
    assert served["Content-Type"] == content_type
    assert b"SecretCam" not in served.content
    image = Image.open(io.BytesIO(served.content))
    assert image.format == fmt
    assert not image.getexif()
    assert image.size == (20, 10)


def test_a_text_file_named_jpg_is_refused_as_invalid_photo(commissioner, place, door):
    data = body(place.pk, *away(10)) | {"photo": upload("cat.jpg", b"just some text, honest", "image/jpeg")}
    response = signed_in(commissioner).post(URL, data, format="multipart")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_photo"
    assert count_rows() == (0, 0)


def test_a_truncated_jpeg_is_refused_as_invalid_photo(commissioner, place, door):
    data = body(place.pk, *away(10)) | {"photo": upload("x.jpg", b"\xff\xd8\xff\xe0" + b"\x00" * 40, "image/jpeg")}
    response = signed_in(commissioner).post(URL, data, format="multipart")
    assert response.json()["code"] == "invalid_photo"


def test_a_photo_over_the_size_limit_is_refused(commissioner, place, door, settings, tmp_path):
    settings.INCIDENT_PHOTO_MAX_BYTES = 1024
    photo = png_with_exif() + b"\x00" * 2048
    data = body(place.pk, *away(10)) | {"photo": upload("big.png", photo, "image/png")}
    response = signed_in(commissioner).post(URL, data, format="multipart")
    assert response.status_code == 413
    assert response.json()["code"] == "photo_too_large"
    assert count_rows() == (0, 0)
    assert not (tmp_path / "media").exists() or not any((tmp_path / "media").rglob("*.*"))


def test_a_body_far_over_the_limit_is_refused_before_it_is_parsed(commissioner, place, door, settings):
    settings.INCIDENT_PHOTO_MAX_BYTES = 1024
    data = body(place.pk, *away(10)) | {"photo": upload("big.png", b"\x89PNG\r\n\x1a\n" + b"0" * 200_000, "image/png")}
    response = signed_in(commissioner).post(URL, data, format="multipart")
    assert response.status_code == 413
    assert response.json()["code"] == "photo_too_large"


def test_a_photo_wider_than_the_pixel_limit_is_refused(commissioner, place, door, settings):
    settings.INCIDENT_PHOTO_MAX_SIDE_PX = 100
    out = io.BytesIO()
    Image.new("L", (101, 1)).save(out, format="PNG")
    data = body(place.pk, *away(10)) | {"photo": upload("wide.png", out.getvalue(), "image/png")}
    response = signed_in(commissioner).post(URL, data, format="multipart")
    assert response.json()["code"] == "photo_too_large"


def test_the_photo_endpoint_is_404_for_an_incident_without_a_photo(commissioner, reported):
    assert signed_in(commissioner).get(f"{URL}{reported.pk}/photo").status_code == 404


def test_geometry_sanity_the_door_is_where_the_tests_think(door):
    assert math.isclose(door.location.y, DOOR[1])


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the trigger exists on PostgreSQL only")
@pytest.mark.parametrize(
    "sql",
    ["UPDATE polling_incident SET description = 'x' WHERE id = %s", "DELETE FROM polling_incident WHERE id = %s"],
)
def test_postgresql_refuses_to_update_or_delete_an_incident(reported, sql):
    from django.db import DatabaseError, transaction

    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, [reported.pk])
    reported.refresh_from_db()
    assert reported.description.startswith("Man with signs")


def test_the_orm_refuses_to_update_or_delete_incidents(reported):
    with pytest.raises(PermissionError):
        Incident.objects.filter(pk=reported.pk).update(description="x")
    with pytest.raises(PermissionError):
        Incident.objects.filter(pk=reported.pk).delete()
    with pytest.raises(PermissionError):
        reported.save()
    with pytest.raises(PermissionError):
        reported.delete()

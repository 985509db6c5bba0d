"""The admin pages for election day: presence quotas (editable), and the presence log, who is inside and incidents
(read-only records written only by their services), as an OTP-verified superuser uses them."""

from __future__ import annotations

import io
import re
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from PIL import Image
from shapely.geometry import Point

from polling.geography.services import geography_version
from polling.models import Jurisdiction, Presence, PresenceAnomaly, PresenceEvent, PresenceRule
from polling.models.incidents import Incident
from tests.election_day_helpers import at_the_door, body, day_long_tablet_client, local, token_of, watcher
from tests.factories import EntranceFactory
from tests.helpers import seed_reference_data
from tests.people import signed_in

pytestmark = pytest.mark.django_db

#: The most queries a changelist page may take, whatever the number of rows (session, user, OTP device, counts,
#: page, filter choices).
CHANGELIST_MAX_QUERIES = 8
READ_ONLY = ["presenceevent", "presence", "incident", "presenceanomaly"]
MODELS = ["presencerule", *READ_ONLY]
#: The entrance of ``place`` (the factory puts the polling place at -90.17, 32.35): campaigning is measured from it.
DOOR = (-90.17, 32.3501)


@pytest.fixture(autouse=True)
def _seeded_and_media(settings, tmp_path):
    seed_reference_data()
    settings.MEDIA_ROOT = tmp_path / "media"


def url(model: str, view: str, *args: object) -> str:
    return reverse(f"admin:polling_{model}_{view}", args=args)


@pytest.fixture
def tablet_client(place, poll_worker, commissioner):
    """The poll worker on a tablet of ``place``, signed in for the whole of election day."""
    return day_long_tablet_client(place, poll_worker, commissioner)


# --- Rows, made the way election day makes them -------------------------------------------------------------------


def check_in(client: Any, place: Any, election: Any, county: Any, party: str, *, hour: int = 10) -> Any:
    """A watcher of ``party`` checked in through the tablet API (refused ``polls_closed`` outside polling hours);
    returns the credential."""
    credential = watcher(election, county, appointed_by_name=party)
    with at_the_door(local(election, hour)):  # a live check-in is judged at the server's time of receipt
        response = client.post(
            f"/api/v1/polling-places/{place.pk}/check-ins/",
            body(token_of(credential), local(election, hour)),
            format="json",
        )
    assert response.status_code in (200, 201), response.content
    return credential


def orphan_check_out(client: Any, election: Any, county: Any) -> PresenceAnomaly:
    """A check-out uploaded by sync with no check-in before it: an anomaly for review."""
    import uuid

    from django.utils import timezone

    credential = watcher(election, county, appointed_by_name="Orphan Party")
    event = {"event_id": str(uuid.uuid4()), "kind": "check_out", "token": token_of(credential)}
    payload = {
        "sent_at": timezone.now().isoformat(),
        "events": [event | {"occurred_at": local(election, 10).isoformat()}],
    }
    response = client.post("/api/v1/sync/", payload, format="json")
    assert response.json()["results"][0]["result"] == "anomaly", response.content
    return PresenceAnomaly.objects.get(credential=credential, code="check_out_without_check_in")


def png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (16, 12), (200, 30, 30)).save(out, format="PNG")
    return out.getvalue()


def report(client: Any, place: Any, *, photo: bool = False, **fields: Any) -> Incident:
    """An incident reported through the API (the server measures it against the state's rule)."""
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.utils import timezone

    data = {
        "polling_place": place.pk,
        "activity": "campaigning",
        "lon": DOOR[0] + 0.00005,  # about 4.7 m (15 ft) east of the door
        "lat": DOOR[1],
        "occurred_at": (timezone.now().replace(microsecond=0)).isoformat(),
        "description": "Man with signs for a candidate by the door.",
    } | fields
    if photo:
        data["photo"] = SimpleUploadedFile("door.png", png(), content_type="image/png")
    response = client.post("/api/v1/incidents/", data, format="multipart" if photo else "json")
    assert response.status_code == 201, response.content
    return Incident.objects.get(pk=response.json()["id"])


@pytest.fixture
def door(place):
    return EntranceFactory(polling_place=place, name="Main", location=Point(*DOOR))


@pytest.fixture
def objects(tablet_client, commissioner, place, election, county, door) -> dict[str, Any]:
    credential = check_in(tablet_client, place, election, county, "Freedom Party")
    check_in(tablet_client, place, election, county, "Too Early", hour=5)  # refused: polls_closed
    incident = report(signed_in(commissioner), place, photo=True, election=election.pk)
    return {
        "presencerule": PresenceRule.objects.get(jurisdiction__code="MS", credential_kind="poll_watcher", per="party"),
        "presenceevent": PresenceEvent.objects.get(credential=credential),
        "presence": Presence.objects.get(credential=credential),
        "incident": incident,
        "presenceanomaly": orphan_check_out(tablet_client, election, county),
    }


# --- Every page opens -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("model", MODELS)
def test_changelist_and_change_pages_open(admin_client, objects, model):
    response = admin_client.get(url(model, "changelist"))
    assert response.status_code == 200
    assert response.context["cl"].result_count >= 1
    assert admin_client.get(url(model, "change", objects[model].pk)).status_code == 200


def test_the_presence_log_lists_what_was_sent_and_how_it_was_answered(admin_client, objects):
    response = admin_client.get(url("presenceevent", "changelist"))
    page = response.content.decode()
    assert str(objects["presenceevent"].event_id) in page
    assert "polls_closed" in page  # the refused check-in is in the log as well
    refused = admin_client.get(url("presenceevent", "changelist"), {"outcome__exact": "refused"})
    assert [e.reason for e in refused.context["cl"].result_list] == ["polls_closed"]
    by_reason = admin_client.get(url("presenceevent", "changelist"), {"reason": "polls_closed"})
    assert by_reason.context["cl"].result_count == 1
    reasons = next(f for f in by_reason.context["cl"].filter_specs if f.title == "reason")
    assert {"expired", "revoked", "wrong_place", "quota_full", "polls_closed"} <= {v for v, _ in reasons.lookup_choices}


def test_who_is_inside_names_the_holder_their_party_and_who_checked_them_in(admin_client, objects):
    presence = objects["presence"]
    page = admin_client.get(url("presence", "changelist")).content.decode()
    assert presence.credential.holder_name in page
    assert "Freedom Party (party)" in page
    assert "worker" in page  # the poll worker's username


@pytest.mark.parametrize(
    ("term", "expected"),
    [
        ("event_id", 1),
        ("serial", 1),
        ("serial_lower", 1),
        ("00000000-0000-4000-8000-000000000000", 0),
        ("not-a-uuid", 0),
        ("'; DROP TABLE x; --", 0),
    ],
)
def test_the_presence_log_is_searched_by_event_id_or_credential_serial(admin_client, objects, term, expected):
    event = objects["presenceevent"]
    term = {
        "event_id": str(event.event_id),
        "serial": event.credential.serial,
        "serial_lower": event.credential.serial.lower(),
    }.get(term, term)
    response = admin_client.get(url("presenceevent", "changelist"), {"q": term})
    assert response.status_code == 200
    assert response.context["cl"].result_count == expected
    if expected:
        assert list(response.context["cl"].result_list) == [event]


def test_the_incident_page_shows_the_measurement_and_names_the_photo_without_showing_it(admin_client, objects):
    incident = objects["incident"]
    assert incident.zone_status == "inside" and incident.photo_path
    page = admin_client.get(url("incident", "change", incident.pk)).content.decode()
    assert f"{incident.distance_ft:.1f} ft" in page
    assert "Inside the zone" in page
    assert "150" in page and "entrances" in page  # the rule it was measured against
    assert incident.rule_citation in page
    stored_name = incident.photo_path.rsplit("/", 1)[-1]
    assert f"incident-{incident.pk}.png (image/png, " in page
    assert "served only by the API" in page
    # The only images are the admin's own icons (e.g. the "approximate" yes/no).
    assert all(src.startswith("/static/admin/img/") for src in re.findall(r'<img[^>]*src="([^"]*)"', page))
    assert stored_name not in page  # neither the file's random name nor a link to it
    assert "/media/" not in page


def test_an_incident_whose_photo_file_is_gone_still_opens(admin_client, objects, settings):
    from pathlib import Path

    incident = objects["incident"]
    (Path(settings.MEDIA_ROOT) / incident.photo_path).unlink()
    response = admin_client.get(url("incident", "change", incident.pk))
    assert response.status_code == 200
    assert "the file is missing" in response.content.decode()


def test_incident_text_from_a_reporter_is_escaped(admin_client, commissioner, place, door):
    incident = report(signed_in(commissioner), place, description="<script>alert(1)</script>")
    page = admin_client.get(url("incident", "change", incident.pk)).content.decode()
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


# --- The records are read-only ------------------------------------------------------------------------------------


def snapshot(model: str, obj: Any) -> dict[str, Any]:
    return type(obj).objects.values().get(pk=obj.pk)


@pytest.mark.parametrize("model", READ_ONLY)
def test_read_only_records_cannot_be_added(admin_client, objects, model):
    before = type(objects[model]).objects.count()
    assert admin_client.get(url(model, "add")).status_code == 403
    assert admin_client.post(url(model, "add"), {}).status_code == 403
    assert type(objects[model]).objects.count() == before
    assert url(model, "add") not in admin_client.get(url(model, "changelist")).content.decode()


@pytest.mark.parametrize("model", READ_ONLY)
def test_read_only_records_are_shown_but_not_changed(admin_client, objects, model):
    obj = objects[model]
    before = snapshot(model, obj)
    response = admin_client.get(url(model, "change", obj.pk))
    assert response.status_code == 200
    assert response.context["has_change_permission"] is False
    assert 'name="_save"' not in response.content.decode()
    data = {name: "" for name in before} | {"reason": "tampered", "description": "tampered", "_save": "Save"}
    assert admin_client.post(url(model, "change", obj.pk), data).status_code == 403
    assert snapshot(model, obj) == before


@pytest.mark.parametrize("model", READ_ONLY)
def test_read_only_records_cannot_be_deleted(admin_client, objects, model):
    obj = objects[model]
    assert admin_client.get(url(model, "delete", obj.pk)).status_code == 403
    assert admin_client.post(url(model, "delete", obj.pk), {"post": "yes"}).status_code == 403
    # Nor in bulk from the changelist: there is no action to choose.
    response = admin_client.post(
        url(model, "changelist"), {"action": "delete_selected", "_selected_action": [obj.pk], "post": "yes"}
    )
    assert response.status_code == 200
    assert response.context["action_form"] is None
    assert type(obj).objects.filter(pk=obj.pk).exists()


# --- Presence quotas are edited here ------------------------------------------------------------------------------


def rule_post(**changes: Any) -> dict[str, Any]:
    ms = Jurisdiction.objects.get(code="MS")
    data = {
        "jurisdiction": ms.pk,
        "credential_kind": "federal_observer",
        "per": "kind",
        "max_inside": 3,
        "citation": "Agreement with the Department of Justice",
    }
    return data | changes


def test_a_presence_rule_is_added_through_the_form_and_leaves_the_geography_alone(admin_client):
    version = geography_version()
    assert admin_client.get(url("presencerule", "add")).status_code == 200
    response = admin_client.post(url("presencerule", "add"), rule_post())
    assert response.status_code == 302, response.context["adminform"].form.errors
    rule = PresenceRule.objects.get(jurisdiction__code="MS", credential_kind="federal_observer")
    assert (rule.per, rule.max_inside, rule.citation) == ("kind", 3, "Agreement with the Department of Justice")
    assert geography_version() == version  # quotas are not geography: no server rebuilds its spatial index


def test_a_presence_rule_is_changed_through_the_form(admin_client):
    rule = PresenceRule.objects.get(jurisdiction__code="MS", credential_kind="poll_watcher", per="party")
    data = rule_post(credential_kind="poll_watcher", per="party", max_inside=4, citation=rule.citation)
    response = admin_client.post(url("presencerule", "change", rule.pk), data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    rule.refresh_from_db()
    assert rule.max_inside == 4


def test_the_presence_rule_form_picks_the_state_by_autocomplete(admin_client):
    page = admin_client.get(url("presencerule", "add")).content.decode()
    assert 'data-field-name="jurisdiction"' in page


@pytest.mark.parametrize(
    ("changes", "field", "says"),
    [
        ({"max_inside": -1}, "max_inside", "greater than or equal to 0"),
        ({"max_inside": "two"}, "max_inside", "Enter a whole number"),
        ({"max_inside": ""}, "max_inside", "required"),
        ({"credential_kind": "candidate_himself"}, "credential_kind", "Select a valid choice"),
        ({"per": "county"}, "per", "Select a valid choice"),
        ({"jurisdiction": 999999}, "jurisdiction", "Select a valid choice"),
        # Mississippi's seeded quota: at most 2 poll watchers per party.
        ({"credential_kind": "poll_watcher", "per": "party"}, "__all__", "already has this quota"),
    ],
)
def test_bad_presence_rule_input_is_explained_and_nothing_saved(admin_client, changes, field, says):
    before = list(PresenceRule.objects.values().order_by("pk"))
    response = admin_client.post(url("presencerule", "add"), rule_post(**changes))
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert list(errors) == [field]
    assert says in errors[field][0]
    assert list(PresenceRule.objects.values().order_by("pk")) == before


# --- Query counts -----------------------------------------------------------------------------------------------


def add_rows(model: str, client: Any, reporter: Any, place: Any, election: Any, county: Any, start: int, n: int):
    if model == "presencerule":
        # A quota for state observers in n more states (each state's rules are its own rows).
        states = Jurisdiction.objects.exclude(presence_rules__isnull=False).order_by("code")[:n]
        assert len(states) == n
        for state in states:
            PresenceRule.objects.create(jurisdiction=state, credential_kind="state_observer", per="kind", max_inside=1)
        return
    for i in range(start, start + n):
        if model == "incident":
            report(reporter, place, election=election.pk, photo=i == 0)
        elif model == "presenceanomaly":
            orphan_check_out(client, election, county)
        else:
            check_in(client, place, election, county, f"Party {i}")  # one per party: the quota never refuses


@pytest.mark.parametrize("model", MODELS)
def test_changelist_queries_do_not_grow_with_rows(
    admin_client, tablet_client, commissioner, place, election, county, door, model, django_assert_max_num_queries
):
    reporter = signed_in(commissioner)
    changelist = url(model, "changelist")
    add_rows(model, tablet_client, reporter, place, election, county, 0, 3)
    with CaptureQueriesContext(connection) as few:
        admin_client.get(changelist)
    add_rows(model, tablet_client, reporter, place, election, county, 3, 30)
    with django_assert_max_num_queries(CHANGELIST_MAX_QUERIES), CaptureQueriesContext(connection) as many:
        response = admin_client.get(changelist)
    assert response.status_code == 200
    assert len(response.context["cl"].result_list) >= 33
    assert len(many) == len(few)
    for query in many.captured_queries:
        for column in ('"location"', '"building"', '"boundary"'):
            assert column not in query["sql"], query["sql"]


# --- Only the OTP-verified staff get in ---------------------------------------------------------------------------


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("view", ["changelist", "change"])
def test_anonymous_is_sent_to_the_login_page(client, objects, model, view):
    path = url(model, view, objects[model].pk) if view == "change" else url(model, view)
    response = client.get(path)
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


def test_a_superuser_signed_in_with_a_password_alone_is_sent_to_the_login_page(client, admin_user, objects):
    client.force_login(admin_user)  # no second factor: the session is not OTP-verified
    response = client.get(url("presenceevent", "changelist"))
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")
    assert client.post(url("presencerule", "add"), rule_post()).status_code == 302
    assert not PresenceRule.objects.filter(credential_kind="federal_observer").exists()

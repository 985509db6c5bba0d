"""The credentials API: who may do what (every endpoint x anonymous, no role, poll worker, commissioner of another
county, commissioner in scope), and what each answer holds, stores and audits."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.audit import Actor
from accounts.credentials import badges, issuing, keys, signing
from accounts.models import AuditEvent, Credential
from polling.geography import selectors as geography_selectors
from tests.credential_helpers import MATRIX, ROLES, client, issue, pdf_text, state
from tests.factories import CredentialFactory
from tests.helpers import audit_actions

pytestmark = pytest.mark.django_db


def _csv_body(w) -> bytes:
    return (
        "kind,holder_name,appointed_by_kind,appointed_by_name,election,county,polling_places\r\n"
        f"federal_observer,Grace Hopper,,,{w.general.pk},28049,A1\r\n"
    ).encode()


def _request(api, w, endpoint: str, credential: Credential):
    base = "/api/v1/credentials/"
    pk = credential.pk
    if endpoint == "list":
        return api.get(base)
    if endpoint == "issue":
        body = {
            "kind": "poll_watcher",
            "holder_name": "New Person",
            "appointed_by_kind": "candidate",
            "appointed_by_name": "Jane Candidate",
            "election": w.general.pk,
            "county": "28049",
        }
        return api.post(base, body, format="json")
    if endpoint == "detail":
        return api.get(f"{base}{pk}/")
    if endpoint == "revoke":
        return api.post(f"{base}{pk}/revoke/", {"reason": "Lost badge"}, format="json")
    if endpoint == "qr":
        return api.get(f"{base}{pk}/qr.svg")
    if endpoint == "badge":
        return api.get(f"{base}{pk}/badge.pdf")
    if endpoint == "import":
        return api.generic("POST", f"{base}import/", _csv_body(w), content_type="text/csv")
    if endpoint == "export":
        return api.get(f"{base}export.csv")
    if endpoint == "keys":
        return api.get(f"{base}keys/")
    if endpoint == "revoked":
        return api.get(f"{base}revoked/")
    if endpoint == "verify":
        token = issuing.credential_token(credential)
        return api.post(f"{base}verify/", {"token": token, "polling_place": w.a1.pk}, format="json")
    if endpoint == "scope-hashes":
        return api.get(f"{base}scope-hashes/", {"polling_place": w.a1.pk})
    raise AssertionError(endpoint)


DENIED = {"anonymous": "auth", "nobody": 403}
# Status for worker, outsider (commissioner of Rankin), commissioner of Hinds; ``auth`` is 401/403 not_authenticated.
WRITES = {
    "issue": ["credential.issue"],
    "revoke": ["credential.revoke"],
    "import": ["credential.issue", "credential.import"],
}


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("endpoint", list(MATRIX))
def test_every_endpoint_answers_each_role_and_only_the_right_one_changes_anything(world, endpoint, role):
    w = world
    credential = issue(w)  # Hinds, county-wide
    keys.active_signing_key()
    before_state, before_audit = state(credential), audit_actions()
    response = _request(client(w.users[role]), w, endpoint, credential)

    if endpoint == "keys":
        expected = 200
    elif role in DENIED:
        expected = DENIED[role]
    else:
        expected = MATRIX[endpoint][["worker", "outsider", "commissioner"].index(role)]
    if expected == "auth":
        assert response.status_code in (401, 403), response.content
        assert response.json()["code"] == "not_authenticated"
    else:
        assert response.status_code == expected, response.content
    if response.status_code >= 400:
        body = response.json()
        assert body["detail"] and body["code"]

    changed = role == "commissioner" and endpoint in WRITES
    new_events = audit_actions()[len(before_audit) :]
    assert audit_actions()[: len(before_audit)] == before_audit
    if changed:
        assert sorted(new_events) == sorted(WRITES[endpoint])
        assert state(credential) != before_state
    else:
        assert new_events == []
        assert state(credential) == before_state


def test_a_commissioner_issues_a_watcher_credential_and_the_audit_records_it(world):
    w = world
    response = client(w.commissioner).post(
        "/api/v1/credentials/",
        {
            "kind": "poll_watcher",
            "holder_name": "  Mary   Jackson ",
            "appointed_by_kind": "party",
            "appointed_by_name": "Example Party",
            "election": w.general.pk,
            "county": "28049",
            "polling_places": [w.a2.pk, w.a1.pk],
            "valid_from": "2030-11-05T06:00:30-06:00",
            "valid_until": "2030-11-05T20:00:00-06:00",
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    credential = Credential.objects.get(pk=body["id"])
    assert response["Location"].endswith(f"/api/v1/credentials/{credential.pk}/")
    assert credential.holder_name == body["holder_name"] == "Mary Jackson"
    assert len(credential.serial) == 10 and body["serial_display"] == f"{credential.serial[:5]}-{credential.serial[5:]}"
    assert body["scope"] == "places" and [p["code"] for p in body["polling_places"]] == ["A1", "A2"]
    assert body["county"] == {"fips": "28049", "name": "Hinds"}
    # Kept to the minute, since the token carries minutes.
    assert credential.valid_from == dt.datetime(2030, 11, 5, 12, 0, tzinfo=dt.UTC)
    assert body["valid_until"] == "2030-11-06T02:00:00Z" and body["status"] == "active"
    assert body["issued_by"] == "hinds"
    [event] = AuditEvent.objects.filter(action="credential.issue")
    assert event.actor_id == w.commissioner.pk and event.object_id == str(credential.pk)
    assert event.before is None and event.after["holder_name"] == "Mary Jackson"
    assert event.after["polling_place_ids"] == sorted([w.a1.pk, w.a2.pk])


def test_validity_defaults_to_election_day_in_local_time(world):
    w = world
    response = client(w.admin).post(
        "/api/v1/credentials/",
        {"kind": "federal_observer", "holder_name": "Ida B. Wells", "election": w.general.pk, "county": "28121"},
        format="json",
    )
    assert response.status_code == 201, response.content
    credential = Credential.objects.get(pk=response.json()["id"])
    local = credential.valid_from.astimezone(geography_selectors.local_zone(w.rankin))
    assert local.date() == w.general.date and local.time() == dt.time(0)
    assert credential.valid_until - credential.valid_from in (
        dt.timedelta(hours=24),
        dt.timedelta(hours=23),
        dt.timedelta(hours=25),
    )
    assert credential.appointed_by_kind == "" and credential.appointed_by_name == ""


def test_the_county_follows_from_the_listed_places(world):
    w = world
    response = client(w.admin).post(
        "/api/v1/credentials/",
        {
            "kind": "state_observer",
            "holder_name": "Fannie Lou Hamer",
            "election": w.general.pk,
            "polling_places": [w.b1.pk],
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    assert response.json()["county"]["fips"] == "28121"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"appointed_by_kind": "", "appointed_by_name": ""}, "appointed_by_kind"),
        ({"appointed_by_name": ""}, "appointed_by_name"),
        ({"kind": "federal_observer"}, "appointed_by_kind"),
        ({"kind": "sheriff"}, "kind"),
        ({"holder_name": ""}, "holder_name"),
        ({"holder_name": '=HYPERLINK("x")'}, "holder_name"),
        ({"holder_name": "Bad\x00Name"}, "holder_name"),
        ({"valid_from": "2030-11-05T10:00:00Z", "valid_until": "2030-11-05T09:00:00Z"}, "valid_until"),
        ({"valid_from": "2030-11-05T10:00:00Z", "valid_until": "2030-11-05T10:00:59Z"}, "valid_until"),
        ({"valid_from": "2000-11-05T10:00:00Z", "valid_until": "2001-11-05T10:00:00Z"}, "valid_until"),
        ({"valid_from": "2030-11-05T10:00:00", "valid_until": "2030-11-05T11:00:00Z"}, "valid_from"),
        ({"valid_from": "tomorrow", "valid_until": "2030-11-05T11:00:00Z"}, "valid_from"),
        ({"county": "28121"}, "county"),  # another county: not in a Hinds commissioner's scope
        ({"county": "99999"}, "county"),
        ({"county": "2804"}, "county"),
        ({"polling_places": "B1"}, "polling_places"),
        ({"polling_places": [10**12]}, "polling_places"),
        ({"election": 10**12}, "election"),
        ({"election": "x"}, "election"),
    ],
)
def test_bad_input_is_a_400_naming_the_field_and_stores_nothing(world, change, field):
    w = world
    body = {
        "kind": "poll_watcher",
        "holder_name": "Valid Name",
        "appointed_by_kind": "party",
        "appointed_by_name": "Party",
        "election": w.general.pk,
        "county": "28049",
    } | change
    response = client(w.commissioner).post("/api/v1/credentials/", body, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()["errors"], response.json()
    assert Credential.objects.count() == 0 and audit_actions() == []


def test_listed_places_must_lie_in_the_credentials_county(world):
    w = world
    body = {
        "kind": "state_observer",
        "holder_name": "X Y",
        "election": w.general.pk,
        "county": "28049",
        "polling_places": [w.a1.pk, w.b1.pk],
    }
    response = client(w.admin).post("/api/v1/credentials/", body, format="json")
    assert response.status_code == 400 and "B1" in response.json()["errors"]["polling_places"][0]["detail"]
    body.pop("county")
    response = client(w.admin).post("/api/v1/credentials/", body, format="json")
    assert response.status_code == 400 and "one county" in response.json()["errors"]["polling_places"][0]["detail"]
    assert Credential.objects.count() == 0


def test_the_election_must_be_in_the_countys_state(world):
    from polling.models import Jurisdiction

    w = world
    alabama = Jurisdiction.objects.get(code="AL")
    elsewhere = type(w.general).objects.create(
        jurisdiction=alabama, name="AL General", date=w.general.date, polls_open=dt.time(7), polls_close=dt.time(19)
    )
    response = client(w.commissioner).post(
        "/api/v1/credentials/",
        {"kind": "federal_observer", "holder_name": "X Y", "election": elsewhere.pk, "county": "28049"},
        format="json",
    )
    assert response.status_code == 400 and "election" in response.json()["errors"]


def test_the_list_is_scoped_filtered_paginated_and_takes_a_fixed_number_of_queries(world):
    w = world
    hinds = [issue(w, holder_name=f"Hinds Person {i}", polling_places=[w.a1] if i % 2 else []) for i in range(6)]
    observer = issue(w, kind="federal_observer", holder_name="Federal Fed")
    rankin = issue(w, county=w.rankin, holder_name="Rankin Person", by=w.outsider)
    runoff = issue(w, election=w.runoff, holder_name="Runoff Person")
    issuing.credential_revoke(actor=Actor(user=w.commissioner), credential_id=hinds[0].pk, reason="x")
    expired = CredentialFactory(
        county=w.hinds,
        election=w.general,
        holder_name="Old Timer",
        valid_from=dt.datetime(2020, 1, 1, tzinfo=dt.UTC),
        valid_until=dt.datetime(2020, 1, 2, tzinfo=dt.UTC),
    )
    api = client(w.commissioner)

    def ids(**query):
        response = api.get("/api/v1/credentials/", query)
        assert response.status_code == 200, response.content
        return {r["id"] for r in response.json()["results"]}

    everything = {c.pk for c in [*hinds, observer, runoff, expired]}
    assert ids() == everything
    assert ids(county="28121") == set()
    assert {r["id"] for r in client(w.outsider).get("/api/v1/credentials/").json()["results"]} == {rankin.pk}
    assert ids() | {rankin.pk} == {r["id"] for r in client(w.admin).get("/api/v1/credentials/").json()["results"]}
    assert ids(kind="federal_observer") == {observer.pk}
    assert ids(status="revoked") == {hinds[0].pk}
    assert ids(status="expired") == {expired.pk}
    assert ids(status="active") == everything - {hinds[0].pk, expired.pk}
    assert ids(election=w.runoff.pk) == {runoff.pk}
    assert ids(q="timer") == {expired.pk}
    # At A2: county-wide credentials only (those listing A1 are not valid there).
    assert ids(polling_place=w.a2.pk) == everything - {hinds[1].pk, hinds[3].pk, hinds[5].pk}
    assert ids(polling_place=w.a1.pk) == everything
    for bad in (
        {"kind": "x"},
        {"status": "gone"},
        {"county": "x"},
        {"election": "-1"},
        {"limit": "0"},
        {"q": "x" * 101},
    ):
        response = api.get("/api/v1/credentials/", bad)
        assert response.status_code == 400 and response.json()["code"].startswith("invalid"), bad

    assert len(everything) == 9
    page = api.get("/api/v1/credentials/", {"limit": 5}).json()
    assert page["count"] == 9 and len(page["results"]) == 5 and "offset=5" in page["next"]
    rest = api.get("/api/v1/credentials/", {"limit": 5, "offset": 5}).json()
    assert {r["id"] for r in page["results"] + rest["results"]} == everything and rest["next"] is None
    # Scope + count + page + prefetched places: the same for 10 rows as for 1.
    with CaptureQueriesContext(connection) as queries:
        api.get("/api/v1/credentials/")
    with CaptureQueriesContext(connection) as few:
        api.get("/api/v1/credentials/", {"limit": 1})
    assert len(queries) == len(few) <= 5


def test_revoking_needs_a_reason_happens_once_and_records_who_and_why(world):
    w = world
    credential = issue(w)
    api = client(w.commissioner)
    url = f"/api/v1/credentials/{credential.pk}/revoke/"
    assert api.post(url, {}, format="json").status_code == 400
    assert api.post(url, {"reason": "   "}, format="json").status_code == 400
    assert Credential.objects.get().status == "active"
    response = api.post(url, {"reason": "Party withdrew the appointment"}, format="json")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "revoked" and body["revoked_by"] == "hinds"
    assert body["revocation_reason"] == "Party withdrew the appointment"
    [event] = AuditEvent.objects.filter(action="credential.revoke")
    assert event.before["status"] == "active" and event.after["status"] == "revoked"
    assert event.after["revocation_reason"] == "Party withdrew the appointment"
    again = api.post(url, {"reason": "again"}, format="json")
    assert again.status_code == 409 and again.json()["code"] == "already_revoked"
    credential.refresh_from_db()
    assert credential.revocation_reason == "Party withdrew the appointment"
    assert AuditEvent.objects.filter(action="credential.revoke").count() == 1


def test_the_qr_code_is_an_svg_of_the_signed_token(world):
    w = world
    credential = issue(w)
    response = client(w.commissioner).get(f"/api/v1/credentials/{credential.pk}/qr.svg", HTTP_ACCEPT="image/svg+xml")
    assert response.status_code == 200 and response["Content-Type"] == "image/svg+xml"
    assert response["Cache-Control"] == "private, no-store"
    assert response.content.startswith(b"<?xml") and b"<svg" in response.content
    token = issuing.credential_token(credential)
    assert response.content == badges.qr_svg(token)
    claims = signing.verify_token(token, keys.verifying_keys())
    assert claims.serial == credential.serial
    assert badges.qr_code(token).version <= 10 and badges.qr_code(token).error in ("M", "Q", "H")


def test_the_badge_is_a_pdf_with_the_holder_the_appointer_the_scope_and_the_serial(world):
    w = world
    credential = issue(w, holder_name="Medgar Evers", polling_places=[w.a1, w.a2], appointed_by_kind="candidate")
    response = client(w.admin).get(f"/api/v1/credentials/{credential.pk}/badge.pdf")
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    assert response.content.startswith(b"%PDF")
    text = pdf_text(response.content)
    for expected in (
        "Medgar Evers",
        "POLL WATCHER",
        "Analytical Party",
        "Hinds One",
        "General",
        signing.format_serial(credential.serial),
    ):
        assert expected in text, expected


def test_a_revoked_or_expired_credential_cannot_be_printed(world):
    w = world
    revoked = issue(w)
    issuing.credential_revoke(actor=Actor(user=w.commissioner), credential_id=revoked.pk, reason="x")
    expired = CredentialFactory(
        county=w.hinds,
        election=w.general,
        valid_from=dt.datetime(2020, 1, 1, tzinfo=dt.UTC),
        valid_until=dt.datetime(2020, 1, 2, tzinfo=dt.UTC),
    )
    api = client(w.commissioner)
    for credential, code in ((revoked, "credential_revoked"), (expired, "credential_expired")):
        for suffix in ("qr.svg", "badge.pdf"):
            response = api.get(f"/api/v1/credentials/{credential.pk}/{suffix}")
            assert response.status_code == 409 and response.json()["code"] == code


def test_the_export_is_scoped_csv_in_the_import_columns(world):
    w = world
    mine = issue(w, holder_name="Hinds Holder", polling_places=[w.a1])
    issue(w, county=w.rankin, holder_name="Rankin Holder", by=w.outsider)
    response = client(w.commissioner).get("/api/v1/credentials/export.csv")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [r["serial"] for r in rows] == [mine.serial]
    assert rows[0]["polling_places"] == "A1" and rows[0]["county"] == "28049" and rows[0]["status"] == "active"
    assert rows[0]["valid_from"].endswith(("-06:00", "-05:00"))  # written in the county's local time


def test_the_public_keys_endpoint_exposes_keys_and_nothing_personal(world):
    w = world
    credential = issue(w, holder_name="Secret Holder Name")
    api = client()
    assert api.get("/api/v1/credentials/keys/").json()["keys"] == []  # none until the first token is signed
    issuing.credential_token(credential)
    response = api.get("/api/v1/credentials/keys/")
    assert response.status_code == 200 and "public" in response["Cache-Control"]
    body = response.json()
    [key] = body["keys"]
    assert key["state"] == "active" and key["algorithm"] == "Ed25519" and len(signing.unb64(key["public_key"])) == 32
    text = response.content.decode()
    assert "Secret Holder" not in text and credential.serial not in text and "private" not in text
    again = api.get("/api/v1/credentials/keys/", HTTP_IF_NONE_MATCH=response["ETag"])
    assert again.status_code == 304


def test_revocations_are_listed_since_a_time_for_the_callers_counties(world):
    w = world
    first, second = issue(w), issue(w, holder_name="Second")
    rankin = issue(w, county=w.rankin, by=w.outsider)
    actor = Actor(user=w.admin)
    for c in (first, second, rankin):
        issuing.credential_revoke(actor=actor, credential_id=c.pk, reason="test")
    first.refresh_from_db()
    second.refresh_from_db()
    api = client(w.worker)
    body = api.get("/api/v1/credentials/revoked/").json()
    assert [r["serial"] for r in body["revoked"]] == [first.serial, second.serial]
    assert "holder_name" not in str(body) and "Second" not in str(body)
    since = second.revoked_at.isoformat()
    assert [r["serial"] for r in api.get("/api/v1/credentials/revoked/", {"since": since}).json()["revoked"]] == [
        second.serial
    ]
    assert body["next_since"] < body["generated_at"]
    for bad in ("yesterday", "2026-11-03T06:00:00"):
        response = api.get("/api/v1/credentials/revoked/", {"since": bad})
        assert response.status_code == 400 and response.json()["code"] == "invalid_since"
    admin = {r["serial"] for r in client(w.admin).get("/api/v1/credentials/revoked/").json()["revoked"]}
    assert admin == {first.serial, second.serial, rankin.serial}


def test_the_openapi_schema_lists_the_credential_paths(world):
    schema = client().get("/api/v1/schema/", HTTP_ACCEPT="application/json").json()
    for path in (
        "/api/v1/credentials/",
        "/api/v1/credentials/{id}/",
        "/api/v1/credentials/{id}/revoke/",
        "/api/v1/credentials/{id}/qr.svg",
        "/api/v1/credentials/{id}/badge.pdf",
        "/api/v1/credentials/import/",
        "/api/v1/credentials/export.csv",
        "/api/v1/credentials/keys/",
        "/api/v1/credentials/revoked/",
        "/api/v1/credentials/verify/",
    ):
        assert path in schema["paths"], path


def test_with_real_bearer_tokens_a_commissioner_issues_and_a_poll_workers_tablet_verifies(
    commissioner, poll_worker, county, place, election, tablet
):
    """End to end through the staff API's own token authentication (the named people of tests/conftest.py)."""
    from tests.people import signed_in

    anonymous = client().get("/api/v1/credentials/")
    assert anonymous.status_code == 401 and anonymous.json()["code"] == "not_authenticated"
    commish = signed_in(commissioner)
    response = commish.post(
        "/api/v1/credentials/",
        {"kind": "federal_observer", "holder_name": "Real Token", "election": election.pk, "county": county.fips},
        format="json",
    )
    assert response.status_code == 201, response.content
    credential = Credential.objects.get(pk=response.json()["id"])
    event = AuditEvent.objects.get(action="credential.issue")
    assert event.actor == commissioner and event.device == str(commish.session_obj.client_device_id)
    assert event.ip_address == "127.0.0.1"
    worker = signed_in(poll_worker, device=tablet[0])
    result = worker.post(
        "/api/v1/credentials/verify/",
        {"token": issuing.credential_token(credential), "polling_place": place.pk},
        format="json",
    ).json()
    assert result["valid"] is True and result["credential"]["holder_name"] == "Real Token"
    assert worker.get("/api/v1/credentials/").status_code == 403

"""POST /api/v1/credentials/import/: every row checked first, all or nothing, errors named by row and column."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import override_settings

from accounts.audit import Actor
from accounts.credentials import issuing
from accounts.models import AuditEvent, Credential
from polling.geography import selectors as geography_selectors
from tests.credential_helpers import client, issue

pytestmark = pytest.mark.django_db
URL = "/api/v1/credentials/import/"
HEADER = "kind,holder_name,appointed_by_kind,appointed_by_name,election,county,polling_places,valid_from,valid_until"


def rows(w, *lines: str, header: str = HEADER) -> bytes:
    text = "\r\n".join([header, *lines]) + "\r\n"
    return text.replace("{E}", str(w.general.pk)).encode()


def good_lines() -> list[str]:
    return [
        "poll_watcher,Aaron Henry,party,Freedom Party,{E},28049,A1;A2,2030-11-05 06:00,2030-11-05 20:00",
        "federal_observer,Bob Moses,,,{E},28049,,,",
        "state_observer,Clara Luper,,,{E},28049,a2,2030-11-05T06:00:00Z,2030-11-06T02:00:00Z",
    ]


def upload(user, data: bytes, *, name: str = "watchers.csv"):
    return client(user).post(URL, {"file": SimpleUploadedFile(name, data, content_type="text/csv")})


def test_a_good_file_issues_every_row_with_one_event_each_and_a_summary(world):
    w = world
    response = upload(w.commissioner, rows(w, *good_lines()))
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["created"] == 3 and [c["holder_name"] for c in body["credentials"]] == [
        "Aaron Henry",
        "Bob Moses",
        "Clara Luper",
    ]
    henry = Credential.objects.get(holder_name="Aaron Henry")
    assert sorted(p.code for p in henry.polling_places.all()) == ["A1", "A2"]
    # Times without an offset are the county's local time (Central: UTC-6 in November).
    assert henry.valid_from == dt.datetime(2030, 11, 5, 12, 0, tzinfo=dt.UTC)
    moses = Credential.objects.get(holder_name="Bob Moses")
    assert moses.valid_from.astimezone(geography_selectors.local_zone(w.hinds)).date() == w.general.date
    assert [p.code for p in Credential.objects.get(holder_name="Clara Luper").polling_places.all()] == ["A2"]
    issues = AuditEvent.objects.filter(action="credential.issue")
    assert issues.count() == 3 and all(e.actor_id == w.commissioner.pk for e in issues)
    [summary] = AuditEvent.objects.filter(action="credential.import")
    assert summary.after["rows"] == 3 and summary.after["filename"] == "watchers.csv"
    assert {e.after["import_id"] for e in issues} == {summary.object_id}
    assert sorted(summary.after["serials"]) == sorted(Credential.objects.values_list("serial", flat=True))


def test_a_text_csv_body_with_a_byte_order_mark_is_accepted(world):
    w = world
    data = "\ufeff".encode() + rows(w, good_lines()[1])
    response = client(w.admin).generic("POST", URL, data, content_type="text/csv")
    assert response.status_code == 201, response.content
    assert Credential.objects.count() == 1


BAD_FILES = {
    "missing column": (
        "kind,holder_name,election,polling_places",
        ["federal_observer,X,{E},A1"],
        (1, "county", "missing_column"),
    ),
    "unknown column": (
        HEADER + ",shoe_size",
        ["federal_observer,X,,,{E},28049,,,,44"],
        (1, "shoe_size", "unknown_column"),
    ),
    "unknown kind": (HEADER, ["sheriff,X,,,{E},28049,,,"], (3, "kind", "invalid_kind")),
    "bad date": (
        HEADER,
        ["federal_observer,X,,,{E},28049,,2030-13-45 06:00,2030-11-05 20:00"],
        (3, "valid_from", "invalid_datetime"),
    ),
    "only one date": (HEADER, ["federal_observer,X,,,{E},28049,,2030-11-05 06:00,"], (3, "valid_until", "required")),
    "ends before it starts": (
        HEADER,
        ["federal_observer,X,,,{E},28049,,2030-11-05 20:00,2030-11-05 06:00"],
        (3, "valid_until", "invalid"),
    ),
    "place in another county": (
        HEADER,
        ["federal_observer,X,,,{E},28049,B1,,"],
        (3, "polling_places", "unknown_polling_place"),
    ),
    "county out of scope": (HEADER, ["federal_observer,X,,,{E},28121,,,"], (3, "county", "unknown_county")),
    "unknown election": (HEADER, ["federal_observer,X,,,999999,28049,,,"], (3, "election", "unknown_election")),
    "watcher without appointer": (HEADER, ["poll_watcher,X,,,{E},28049,,,"], (3, "appointed_by_kind", "invalid")),
    "observer with appointer": (
        HEADER,
        ["federal_observer,X,party,P,{E},28049,,,"],
        (3, "appointed_by_kind", "invalid"),
    ),
    "formula in a name": (
        HEADER,
        ["federal_observer,=cmd|' /C calc'!A0,,,{E},28049,,,"],
        (3, "holder_name", "invalid"),
    ),
    "duplicate rows": (
        HEADER,
        ["federal_observer,Same Person,,,{E},28049,,,", "federal_observer,same  person,,,{E},28049,,,"],
        (4, None, "duplicate_row"),
    ),
    "ragged row": (HEADER, ["federal_observer,X,,,{E}"], (3, None, "bad_row")),
    "header only": ("alone:" + HEADER, [], (2, None, "empty")),
}


@pytest.mark.parametrize("case", list(BAD_FILES))
def test_a_file_with_a_bad_row_stores_nothing_and_names_the_row_and_column(world, case):
    w = world
    header, lines, (row, column, code) = BAD_FILES[case]
    # A good row first: it must not be stored either.
    if header == HEADER:
        data = rows(w, good_lines()[1].replace("Bob Moses", "Good Row"), *lines)
    else:
        data = rows(w, *lines, header=header.removeprefix("alone:"))
    events = AuditEvent.objects.count()
    response = upload(w.commissioner, data)
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["code"] in ("invalid_csv", "empty") and "Nothing was imported" in body["detail"]
    assert {"row": row, "column": column, "code": code} in [
        {k: e[k] for k in ("row", "column", "code")} for e in body["rows"]
    ], body["rows"]
    key = f"row {row}" + (f": {column}" if column else "")
    assert body["errors"][key][0]["code"] == code
    assert Credential.objects.count() == 0 and AuditEvent.objects.count() == events


def test_every_bad_row_is_reported_not_just_the_first_numbered_as_a_spreadsheet_shows_them(world):
    w = world
    data = rows(w, "sheriff,X,,,{E},28049,,,", good_lines()[1], ",,,,,,,,", "", "federal_observer,Y,,,{E},28049,Z9,,")
    body = upload(w.commissioner, data).json()
    assert [(e["row"], e["column"]) for e in body["rows"]] == [(2, "kind"), (6, "polling_places")]
    assert Credential.objects.count() == 0


def test_a_file_that_is_not_utf8_is_refused_naming_the_row(world):
    w = world
    data = rows(w, good_lines()[1]) + "federal_observer,Jos\u00e9 Mart\u00ednez,,,1,28049,,,\r\n".encode("latin-1")
    response = upload(w.commissioner, data)
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "not_utf8" and body["rows"][0]["row"] == 3
    assert Credential.objects.count() == 0


def test_a_file_over_the_size_limit_is_refused_before_parsing(world):
    w = world
    with override_settings(CREDENTIAL_IMPORT_MAX_BYTES=2048):
        data = rows(w, *[f"federal_observer,Person {i},,,{{E}},28049,,," for i in range(100)])
        assert len(data) > 2048
        response = upload(w.commissioner, data)
        assert response.status_code == 413 and response.json()["code"] == "file_too_large"
        raw = client(w.commissioner).generic("POST", URL, data, content_type="text/csv")
        assert raw.status_code == 413 and raw.json()["code"] == "file_too_large"
    assert Credential.objects.count() == 0


def test_a_file_with_too_many_rows_is_refused(world):
    w = world
    with override_settings(CREDENTIAL_IMPORT_MAX_ROWS=2):
        response = upload(w.commissioner, rows(w, *good_lines()))
    body = response.json()
    assert response.status_code == 400 and body["rows"][0]["code"] == "too_many_rows"
    assert body["rows"][0]["row"] is None and body["errors"]["file"][0]["code"] == "too_many_rows"
    assert Credential.objects.count() == 0


def test_a_request_without_a_file_is_a_400(world):
    response = client(world.commissioner).post(URL, {})
    assert response.status_code == 400 and response.json()["code"] == "missing_file"


def test_the_export_imports_back_to_the_same_credentials(world):
    w = world
    issue(w, holder_name="Vernon Dahmer", polling_places=[w.a1, w.a2], appointed_by_kind="candidate")
    issue(w, kind="federal_observer", holder_name="José Martínez, Jr.")
    issue(w, kind="state_observer", holder_name='Annie "Mae" Devine', election=w.runoff)
    revoked = issue(w, holder_name="Gone Away")
    issuing.credential_revoke(actor=Actor(user=w.commissioner), credential_id=revoked.pk, reason="moved")
    Credential.objects.filter(pk=revoked.pk).delete()  # only live credentials travel

    def fields() -> list[tuple]:
        return sorted(
            (
                c.kind,
                c.holder_name,
                c.appointed_by_kind,
                c.appointed_by_name,
                c.election_id,
                c.county.fips,
                tuple(sorted(p.code for p in c.polling_places.all())),
                c.valid_from,
                c.valid_until,
            )
            for c in Credential.objects.select_related("county").prefetch_related("polling_places")
        )

    original = fields()
    serials = set(Credential.objects.values_list("serial", flat=True))
    exported = b"".join(client(w.commissioner).get("/api/v1/credentials/export.csv").streaming_content)
    assert len(list(csv.DictReader(io.StringIO(exported.decode())))) == 3
    Credential.objects.all().delete()

    response = upload(w.commissioner, exported, name="export.csv")
    assert response.status_code == 201, response.content
    assert fields() == original
    assert not serials & set(Credential.objects.values_list("serial", flat=True))  # new credentials, new serials

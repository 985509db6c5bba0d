"""The daily security report: what it counts, when it asks for a person, and who may read it (command, API, admin,
e-mail through a real SMTP server, Prometheus metrics)."""

from __future__ import annotations

import datetime as dt
import json
import socket
import uuid
from email import message_from_bytes
from email.message import Message

import pytest
from aiosmtpd.controller import Controller
from django.core.management import call_command
from django.db import connection, transaction
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.audit import Actor, audit_record
from accounts.credentials.issuing import credential_revoke
from accounts.models import AuditEvent
from guard import events
from guard.models import SecurityEvent
from ops.report import BadSpan, build_report, parse_span, render_text
from tests.election_day_helpers import local, post, token_of, watcher
from tests.people import PASSWORD, sign_in_to_admin, signed_in

REPORT = "/api/v1/security/report/"
TOKEN = "/api/v1/auth/token/"


def run_report(*args: str) -> tuple[int, str, str]:
    from io import StringIO

    out, err = StringIO(), StringIO()
    try:
        call_command("security_report", *args, stdout=out, stderr=err)
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    return code, out.getvalue(), err.getvalue()


def fail_sign_in(api, username: str, ip: str) -> None:
    response = api.post(
        TOKEN,
        {"username": username, "password": "not the password", "device_id": str(uuid.uuid4())},
        format="json",
        REMOTE_ADDR=ip,
    )
    assert response.status_code in (401, 429), response.content


# --- the window ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "hours"), [("24h", 24), ("90m", 1.5), ("7d", 168), (" 2h ", 2)])
def test_spans_read_as_minutes_hours_or_days(text, hours):
    assert parse_span(text) == dt.timedelta(hours=hours)


@pytest.mark.parametrize("text", ["", "24", "h", "0h", "-1h", "1y", "999d", "1.5h", "NaNh", "24h; drop"])
def test_other_spans_are_refused(text):
    with pytest.raises(BadSpan):
        parse_span(text)


# --- what it counts -----------------------------------------------------------------------------------------------


def test_a_quiet_day_needs_nobody(db):
    code, out, err = run_report()
    assert code == 0, err
    assert "Nothing needs a person." in out
    assert "Audit chain: intact" in out


def test_failed_sign_ins_are_counted_by_reason_account_and_address(api, commissioner):
    for _ in range(3):
        fail_sign_in(api, commissioner.username, "203.0.113.9")
    fail_sign_in(api, "nobody-here", "2001:db8:1:2::5")
    report = build_report()
    assert report.failed_logins["total"] == 4
    assert report.failed_logins["by_reason"] == {"bad_password": 3, "unknown_user": 1}
    assert {"username": commissioner.username, "count": 3} in report.failed_logins["top_accounts"]
    addresses = {r["address"]: r["count"] for r in report.failed_logins["top_addresses"]}
    assert addresses == {"203.0.113.9": 3, "2001:db8:1:2::/64": 1}


def test_lockouts_are_counted_and_many_failures_need_a_person(api, commissioner, settings):
    settings.SECURITY_REPORT_FAILED_LOGINS_ALERT = 5
    for _ in range(7):  # the account locks after 5 (AUTH_LOCKOUT_PER_ACCOUNT)
        fail_sign_in(api, commissioner.username, "198.51.100.7")
    report = build_report()
    assert report.failed_logins["total"] == 5
    assert report.failed_logins["locked_out_attempts"] == 2
    assert any("failed sign-ins" in r for r in report.needs_attention)
    code, out, err = run_report()
    assert code == 1
    assert "NEEDS A PERSON" in out and "failed sign-ins" in err


def test_refusals_are_grouped_by_kind_reason_address_and_country(db):
    for _ in range(3):
        events.record(SecurityEvent.Kind.THROTTLED, "throttled", address="192.0.2.1", path="/api/v1/lookup/")
    events.record(SecurityEvent.Kind.PROBE, "not_found", address="192.0.2.2", path="/.env")
    events.record(SecurityEvent.Kind.GEO_EXCLUDED, "geo_excluded", address="5.6.7.8", country="DE")
    events.record(SecurityEvent.Kind.GEO_EXCLUDED, "geo_excluded", address="5.6.7.9", country="DE")
    events.record(SecurityEvent.Kind.GEO_EXCLUDED, "geo_excluded", address="1.2.3.4", country="CN")
    report = build_report()
    assert report.refusals["by_kind"]["throttled"] == {"throttled": 3}
    assert report.refusals["by_kind"]["probe"] == {"not_found": 1}
    assert report.geo_excluded == {"DE": 2, "CN": 1}
    assert {"kind": "throttled", "address": "192.0.2.1", "count": 3} in report.refusals["top_addresses"]
    out = render_text(report)
    assert "Geo-excluded by country: DE: 2, CN: 1" in out


def test_events_outside_the_window_are_left_out(db):
    events.record(SecurityEvent.Kind.PROBE, "not_found", address="192.0.2.2")
    SecurityEvent.objects.update(occurred_at=timezone.now() - dt.timedelta(hours=25))
    assert build_report(span=dt.timedelta(hours=24)).refusals["by_kind"] == {}
    assert build_report(span=dt.timedelta(hours=26)).refusals["by_kind"] == {"probe": {"not_found": 1}}


def test_a_burst_from_one_address_is_one_row_with_its_count(db):
    for _ in range(100):
        events.record(SecurityEvent.Kind.BLOCK_REFUSED, "address_blocked", address="2001:db8::1")
    rows = list(SecurityEvent.objects.all())
    assert len(rows) == 1
    assert rows[0].bucket == "2001:db8::/64"
    # Brought up to date at 1, 2, 4, …, 64 events (then every 64th): never more than it saw, never below 64 here.
    assert 64 <= rows[0].count <= 100


def test_revocations_and_anomalies_are_counted_and_open_anomalies_need_a_person(election, county, place, commissioner):
    credential = watcher(election, county)
    with transaction.atomic():
        credential_revoke(actor=Actor(user=commissioner), credential_id=credential.pk, reason="Lost badge")
    report = build_report()
    assert report.revocations == {"total": 1, "by_county": {"Hinds": 1}}
    assert report.ok


def test_open_check_in_anomalies_need_a_person(election, county, place, tablet_client, noon):
    credential = watcher(election, county)
    response = post(tablet_client, place, token_of(credential), local(election, 10), what="check-outs")
    assert response.status_code == 201
    report = build_report()
    assert report.anomalies == {"detected": 1, "by_code": {"check_out_without_check_in": 1}, "open": 1}
    assert "1 anomalies await a commissioner's review" in " ".join(report.needs_attention)


def test_a_broken_audit_chain_needs_a_person(db, commissioner):
    with transaction.atomic():
        for n in range(3):
            audit_record(actor=Actor(user=commissioner), action="test.event", object_type="x", object_id=str(n))
    assert build_report().audit["intact"] is True
    victim = AuditEvent.objects.order_by("pk")[1]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET session_replication_role = replica")
        cursor.execute("UPDATE accounts_auditevent SET action = %s WHERE id = %s", ["test.forged", victim.pk])
        if connection.vendor == "postgresql":
            cursor.execute("SET session_replication_role = DEFAULT")
    report = build_report()
    assert report.audit["intact"] is False
    assert report.needs_attention[0].startswith("Audit trail:")
    code, out, _ = run_report("--format", "json")
    assert code == 1
    data = json.loads(out)
    assert data["ok"] is False and data["audit"]["intact"] is False


def test_json_output_is_the_same_report(db):
    events.record(SecurityEvent.Kind.PROBE, "not_found", address="192.0.2.2")
    code, out, _ = run_report("--format", "json", "--since", "2h")
    assert code == 0
    data = json.loads(out)
    assert data["ok"] is True and data["needs_attention"] == []
    assert data["refusals"]["by_kind"] == {"probe": {"not_found": 1}}
    assert dt.datetime.fromisoformat(data["until"]) - dt.datetime.fromisoformat(data["since"]) == dt.timedelta(hours=2)


def test_a_bad_window_is_a_usage_error(db):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError) as caught:
        call_command("security_report", "--since", "forever")
    assert caught.value.returncode == 2


# --- who may read it ----------------------------------------------------------------------------------------------


def test_over_the_api_only_state_administrators_read_the_report(api, state_admin, commissioner, poll_worker, outsider):
    assert api.get(REPORT).status_code == 401
    for user in (commissioner, poll_worker, outsider):
        response = signed_in(user).get(REPORT)
        assert response.status_code == 403, user
        assert response.json()["code"] in ("permission_denied", "no_active_role")
    response = signed_in(state_admin).get(REPORT, {"since": "7d"})
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    body = response.json()
    assert body["ok"] is True and "failed_logins" in body and "audit" in body


def test_the_api_refuses_a_bad_window_with_a_code(state_admin):
    response = signed_in(state_admin).get(REPORT, {"since": "1e9h"})
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_since"


def test_the_admin_page_shows_the_report_to_state_administrators_only(client, state_admin, commissioner):
    commissioner.is_staff = True
    commissioner.save()
    sign_in_to_admin(client, commissioner, PASSWORD)
    assert client.get("/admin/security-report/").status_code == 403
    client.logout()

    state_admin.is_staff = True
    state_admin.save()
    events.record(SecurityEvent.Kind.GEO_EXCLUDED, "geo_excluded", address="5.6.7.8", country="DE")
    sign_in_to_admin(client, state_admin, PASSWORD)
    response = client.get("/admin/security-report/", {"since": "24h"})
    assert response.status_code == 200
    html = response.content.decode()
    assert "Nothing needs a person." in html and "DE" in html


def test_the_admin_page_asks_for_a_sign_in(client, db):
    response = client.get("/admin/security-report/")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


# --- e-mail, through a real SMTP server ---------------------------------------------------------------------------


class Inbox:
    def __init__(self) -> None:
        self.messages: list[Message] = []

    async def handle_DATA(self, server, session, envelope):
        message = message_from_bytes(envelope.content)
        message["X-Rcpt"] = ", ".join(envelope.rcpt_tos)
        self.messages.append(message)
        return "250 OK"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def smtp_server():
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield controller, inbox
    finally:
        controller.stop()


def test_the_report_is_e_mailed_through_django_mail_settings(db, settings, smtp_server, commissioner):
    controller, inbox = smtp_server
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", controller.port
    settings.SECURITY_REPORT_RECIPIENTS = ["security@sos.ms.example", "it@sos.ms.example"]
    settings.SECURITY_REPORT_FAILED_LOGINS_ALERT = 1
    from rest_framework.test import APIClient

    fail_sign_in(APIClient(), commissioner.username, "203.0.113.50")
    code, _out, err = run_report("--email")
    assert code == 1
    assert "e-mailed to security@sos.ms.example, it@sos.ms.example" in err
    assert len(inbox.messages) == 1
    message = inbox.messages[0]
    assert message["X-Rcpt"] == "security@sos.ms.example, it@sos.ms.example"
    assert "NEEDS A PERSON" in message["Subject"]
    parts = list(message.walk())
    text = next(p for p in parts if p.get_content_type() == "text/plain").get_payload(decode=True).decode()
    assert "Failed sign-ins: 1" in text and "203.0.113.50" in text
    attached = next(p for p in parts if p.get_content_type() == "application/json")
    assert json.loads(attached.get_payload(decode=True))["failed_logins"]["total"] == 1


def test_e_mail_without_recipients_is_a_clear_error(db, settings):
    from django.core.exceptions import ImproperlyConfigured

    settings.SECURITY_REPORT_RECIPIENTS = []
    with pytest.raises(ImproperlyConfigured, match="SECURITY_REPORT_RECIPIENTS"):
        run_report("--email")


# --- Prometheus metrics -------------------------------------------------------------------------------------------


def test_metrics_answer_configured_addresses_only(client, db, settings):
    events.record(SecurityEvent.Kind.PROBE, "not_found", address="192.0.2.2")
    settings.METRICS_ALLOWED_ADDRESSES = ["10.0.0.0/8"]
    response = client.get("/metrics", REMOTE_ADDR="10.1.2.3")
    assert response.status_code == 200
    text = response.content.decode()
    assert 'pollguard_security_events_24h{kind="probe"} 1.0' in text
    assert "pollguard_open_anomalies 0.0" in text
    assert response["Cache-Control"].startswith("max-age=0")
    for outside in ("127.0.0.1", "192.0.2.2", "::1"):
        assert client.get("/metrics", REMOTE_ADDR=outside).status_code == 404
    # A client cannot claim an allowed address through X-Forwarded-For when no proxy is trusted.
    assert client.get("/metrics", REMOTE_ADDR="192.0.2.2", HTTP_X_FORWARDED_FOR="10.1.2.3").status_code == 404


def test_metrics_refuse_writes(client, db):
    assert client.post("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 404


def test_shared_logons_are_counted_and_need_a_person(commissioner):
    from tests.people import enrol_totp, frozen_time, totp_code

    enrol_totp(commissioner)
    at = timezone.now().timestamp()
    for n, ip in enumerate(("10.1.0.5", "172.20.0.9")):
        with frozen_time(at + 30 * n):
            response = APIClient(REMOTE_ADDR=ip).post(
                TOKEN,
                {
                    "username": commissioner.username,
                    "password": PASSWORD,
                    "otp": totp_code(at + 30 * n),
                    "device_id": str(uuid.uuid4()),
                },
                format="json",
            )
        assert response.status_code == 200, response.content
    report = build_report()
    assert report.shared_logons == {"flagged": 1, "accounts": [{"username": commissioner.username, "count": 1}]}
    assert "Shared logons: 1 flagged." in report.needs_attention
    assert "Sessions flagged as shared: 1" in render_text(report)


def test_a_state_administrator_reads_only_their_states_people_and_data(
    api, election, county, place, tablet_client, noon, commissioner, state_admin, alabama_admin
):
    """Out of scope: Alabama's administrator sees the service-wide parts (refusals by address) but none of
    Mississippi's accounts, revocations or anomalies; Mississippi's administrator sees them all."""
    credential = watcher(election, county)
    post(tablet_client, place, token_of(credential), local(election, 10), what="check-outs")  # an open anomaly
    with transaction.atomic():
        credential_revoke(actor=Actor(user=commissioner), credential_id=credential.pk, reason="Lost badge")
    fail_sign_in(api, commissioner.username, "203.0.113.9")
    fail_sign_in(api, "nobody-here", "203.0.113.9")
    events.record(SecurityEvent.Kind.PROBE, "not_found", address="192.0.2.2", path="/.env")

    theirs = signed_in(alabama_admin).get(REPORT).json()
    assert theirs["revocations"] == {"total": 0, "by_county": {}}
    assert theirs["anomalies"] == {"detected": 0, "by_code": {}, "open": 0}
    # Neither Mississippi's accounts nor the addresses they signed in from, nor the names typed that are no
    # account (often a password typed in the wrong box): only how many of those there were.
    assert theirs["failed_logins"]["top_accounts"] == [] and theirs["failed_logins"]["top_addresses"] == []
    assert theirs["failed_logins"]["total"] == 0 and theirs["failed_logins"]["unknown_usernames"] == 1
    text = json.dumps(theirs)
    assert commissioner.username not in text and "nobody-here" not in text and "203.0.113.9" not in text
    assert theirs["refusals"]["by_kind"]["probe"] == {"not_found": 1}

    ours = signed_in(state_admin).get(REPORT).json()
    assert ours["revocations"] == {"total": 1, "by_county": {"Hinds": 1}}
    assert ours["anomalies"]["open"] == 1
    assert ours["failed_logins"]["top_accounts"] == [{"username": commissioner.username, "count": 1}]
    assert ours["failed_logins"]["top_addresses"] == [{"address": "203.0.113.9", "count": 1}]


def test_names_typed_at_the_sign_in_cannot_forge_or_hide_lines_of_the_text_report(api, db):
    """An unknown user name is anything anyone typed: line breaks, terminal escapes and bidi overrides in it are
    shown escaped, inside quotes, on the line that lists it."""
    forged = "zz\r\n\r\nNothing needs a person.\nAudit chain: intact \x1b[8m\u202eevil"
    fail_sign_in(api, forged, "203.0.113.9")
    text = render_text(build_report())
    lines = text.splitlines()
    assert not any(line.startswith(("Nothing needs a person.", "Audit chain: intact \\")) for line in lines[3:])
    assert "\x1b" not in text and "\u202e" not in text and "\r" not in text
    [listed] = [line for line in lines if line.startswith("  accounts: ")]
    assert listed.startswith('  accounts: "zz\\u000d\\u000a\\u000d\\u000anothing needs a person.')
    assert "\\u001b[8m\\u202eevil" in listed

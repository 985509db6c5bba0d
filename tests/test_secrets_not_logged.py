"""No secret reaches a log record: the real sign-in, second-factor, tablet and credential flows run with every logger
at DEBUG (SQL included, through a forced debug cursor), and every captured record is searched for every secret the
flows handled: passwords (right and wrong), bearer tokens, the TOTP seed, recovery codes, the tablet enrolment code
and device secret, the credential signing key, the key-encryption secrets and SECRET_KEY."""

from __future__ import annotations

import base64
import io
import logging
import uuid
from collections.abc import Iterator

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.db import connection

from accounts.credentials import keys
from common.log_redaction import RedactSecrets
from tests.people import PASSWORD, T0, frozen_time, totp_code

pytestmark = pytest.mark.django_db
WRONG_PASSWORD = "Not-The-Password-7781"  # a failed sign-in's attempt must not be logged either


@pytest.fixture
def everything_logged(caplog) -> Iterator[tuple[pytest.LogCaptureFixture, io.StringIO]]:
    """Every record at DEBUG: pytest's capture (raw records, as any handler would get them) plus the output of the
    configured console handler (what production writes). SQL is logged although DEBUG is off in tests."""
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="django")  # Django's own default config holds "django" at INFO
    console = next(h for h in logging.getLogger().handlers if any(isinstance(f, RedactSecrets) for f in h.filters))
    assert isinstance(console, logging.StreamHandler)
    written = io.StringIO()
    old_stream, old_level = console.setStream(written), console.level
    console.setLevel(logging.DEBUG)
    connection.force_debug_cursor = True
    try:
        yield caplog, written
    finally:
        connection.force_debug_cursor = False
        console.setStream(old_stream)
        console.setLevel(old_level)


def everything_in(caplog: pytest.LogCaptureFixture, written: io.StringIO) -> str:
    parts = [caplog.text, written.getvalue()]
    for record in caplog.records:
        parts += [record.getMessage(), repr(record.args), repr(vars(record))]
    return "\n".join(parts)


def fernet_keys() -> list[str]:
    derived = []
    for secret in settings.CREDENTIAL_KEY_ENCRYPTION_KEYS:
        key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"pollguard credential signing keys").derive(
            secret.encode()
        )
        derived.append(base64.urlsafe_b64encode(key).decode())
    return derived


def run_the_flows(api, commissioner, poll_worker, place, county, election) -> list[str]:
    """Sign-in with TOTP enrolment, a password sign-in, bad tokens, a failed sign-in, a tablet's enrolment and its
    worker's sign-in, a credential issued; returns every secret handled on the way."""
    found: list[str] = [PASSWORD, WRONG_PASSWORD, settings.SECRET_KEY]
    device_id = str(uuid.uuid4())
    creds = {"username": commissioner.username, "password": PASSWORD, "device_id": device_id}

    started = api.post("/api/v1/auth/totp/", creds, format="json")
    assert started.status_code == 201, started.content
    seed = started.json()["secret"]
    seed_hex = base64.b32decode(seed).hex()
    found += [seed, seed_hex, started.json()["otpauth_uri"]]
    with frozen_time(T0):
        confirmed = api.post("/api/v1/auth/totp/confirm/", creds | {"otp": totp_code(T0, key=seed_hex)}, format="json")
    assert confirmed.status_code == 200, confirmed.content
    found += [confirmed.json()["token"], *confirmed.json()["recovery_codes"]]

    with frozen_time(T0 + 60):
        signed = api.post("/api/v1/auth/token/", creds | {"otp": totp_code(T0 + 60, key=seed_hex)}, format="json")
    assert signed.status_code == 200, signed.content
    token = signed.json()["token"]
    found.append(token)
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}", "HTTP_X_DEVICE_ID": device_id}
    assert api.get("/api/v1/auth/me/", **headers).status_code == 200
    # A token presented from another device, and a forged one: both refused (django.request logs the 401s).
    assert api.get("/api/v1/auth/me/", HTTP_AUTHORIZATION=f"Bearer {token}", HTTP_X_DEVICE_ID=str(uuid.uuid4()))
    forged = token[:-6] + "AAAAAA"
    found.append(forged)
    assert api.get("/api/v1/auth/me/", HTTP_AUTHORIZATION=f"Bearer {forged}", HTTP_X_DEVICE_ID=device_id)

    failed = api.post("/api/v1/auth/token/", creds | {"password": WRONG_PASSWORD, "otp": "123456"}, format="json")
    assert failed.status_code == 401

    enrolment = api.post(
        "/api/v1/auth/devices/enrolments/", {"polling_place": place.pk, "label": "Front desk"}, format="json", **headers
    )
    assert enrolment.status_code == 201, enrolment.content
    code = enrolment.json()["code"]
    found += [code, code.replace("-", "")]
    enrolled = api.post("/api/v1/auth/devices/enrol/", {"code": code}, format="json")
    assert enrolled.status_code == 201, enrolled.content
    tablet_id, device_secret = enrolled.json()["device_id"], enrolled.json()["device_secret"]
    found.append(device_secret)
    worker = api.post(
        "/api/v1/auth/token/",
        {
            "username": poll_worker.username,
            "password": PASSWORD,
            "device_id": tablet_id,
            "device_secret": device_secret,
        },
        format="json",
    )
    assert worker.status_code == 200, worker.content
    found.append(worker.json()["token"])

    issued = api.post(
        "/api/v1/credentials/",
        {"kind": "federal_observer", "holder_name": "Log Watcher", "election": election.pk, "county": county.fips},
        format="json",
        **headers,
    )
    assert issued.status_code == 201, issued.content
    _, private_key = keys.active_private_key()
    raw = private_key.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    pem = private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    found += [raw.hex(), base64.b64encode(raw).decode(), base64.urlsafe_b64encode(raw).decode(), pem]
    found += [*settings.CREDENTIAL_KEY_ENCRYPTION_KEYS, *fernet_keys()]
    return found


def test_no_secret_of_the_sign_in_tablet_and_credential_flows_reaches_any_log_record(
    api, everything_logged, commissioner, poll_worker, place, county, election
):
    caplog, written = everything_logged

    handled = run_the_flows(api, commissioner, poll_worker, place, county, election)

    logged = everything_in(caplog, written)
    # The capture saw the flows: SQL, refused requests, and the redacted writes of the TOTP seed and recovery codes.
    names = {record.name for record in caplog.records}
    assert {"django.db.backends", "django.request"} <= names, names
    assert "Unauthorized: /api/v1/auth/me/" in logged
    assert "query on otp_totp_totpdevice; SQL and parameters redacted" in logged
    assert "query on otp_static_statictoken; SQL and parameters redacted" in logged
    assert len(handled) >= 20
    leaked = [secret for secret in handled if secret and secret in logged]
    assert not leaked, f"secrets found in the logs: {[s[:12] + '…' for s in leaked]}"


def test_without_the_filter_sql_logging_would_leak_the_totp_seed(api, everything_logged, commissioner):
    """The test above can fail: django-otp writes the seed as it is, and the SQL log shows it unless redacted."""
    caplog, _ = everything_logged
    holders = [logging.getLogger("django.db.backends"), *logging.getLogger().handlers]
    removed = [(holder, f) for holder in holders for f in holder.filters if isinstance(f, RedactSecrets)]
    # Each holder may carry it more than once when logging was configured again in this process (schemathesis does).
    assert {id(holder) for holder, _ in removed} == {id(holders[0]), id(holders[1])}, (
        "config.settings.LOGGING installs RedactSecrets on django.db.backends and the console"
    )
    for holder, redactor in removed:
        holder.removeFilter(redactor)
    try:
        creds = {"username": commissioner.username, "password": PASSWORD, "device_id": str(uuid.uuid4())}
        started = api.post("/api/v1/auth/totp/", creds, format="json")
    finally:
        for holder, redactor in removed:
            holder.addFilter(redactor)
    assert started.status_code == 201
    seed_hex = base64.b32decode(started.json()["secret"]).hex()
    assert seed_hex in "\n".join(record.getMessage() for record in caplog.records)


@pytest.mark.parametrize(
    ("message", "secret"),
    [
        ("headers={'HTTP_AUTHORIZATION': 'Bearer pgt_abcdefghijklmnop', 'HTTP_HOST': 'x'}", "pgt_abcdefghijklmnop"),
        ("Authorization: Basic dXNlcjpwYXNzd29yZA==", "dXNlcjpwYXNzd29yZA=="),
        ("body {'username': 'commish', 'password': 'hunter2-hunter2'}", "hunter2-hunter2"),
        ("tablet said device_secret=pgd_0123456789abcdef&x=1", "pgd_0123456789abcdef"),
        ('{"recovery_codes": ["abcd-2345", "wxyz-6789"]}', "abcd-2345"),
    ],
)
def test_secret_shaped_text_is_redacted_on_the_console(message, secret):
    """The console handler's filter (second line of defence) rewrites any record carrying a secret-shaped value."""
    record = logging.LogRecord("anything", logging.WARNING, __file__, 1, "%s", (message,), None)
    assert RedactSecrets().filter(record) is True
    assert secret not in record.getMessage() and "[redacted]" in record.getMessage()

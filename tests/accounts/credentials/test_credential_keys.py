"""Signing keys: made on first use, encrypted at rest, rotated by command with old tokens valid until retirement."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from django.core.management import CommandError, call_command
from django.db import IntegrityError, transaction
from django.test import override_settings

from accounts.audit import Actor
from accounts.credentials import issuing, keys, signing
from accounts.models import AuditEvent, SigningKey
from accounts.models.credentials import check_credential_key_encryption
from polling.geography import selectors as geography_selectors
from tests.credential_helpers import client, issue

pytestmark = pytest.mark.django_db


def noon(w) -> dt.datetime:
    return dt.datetime.combine(w.general.date, dt.time(12), tzinfo=geography_selectors.local_zone(w.hinds))


def check(w, token) -> str | None:
    response = client(w.worker).post(
        "/api/v1/credentials/verify/",
        {"token": token, "polling_place": w.a1.pk, "at": noon(w).isoformat()},
        format="json",
    )
    assert response.status_code == 200, response.content
    return response.json()["reason"]


def rotate(*args: str) -> str:
    out = io.StringIO()
    call_command("rotate_signing_key", *args, stdout=out)
    return out.getvalue()


def test_the_first_token_makes_an_active_key_and_audits_it(world):
    assert SigningKey.objects.count() == 0
    issuing.credential_token(issue(world))
    key = SigningKey.objects.get()
    assert key.active and key.key_id == 1 and key.retired_at is None
    [event] = AuditEvent.objects.filter(action="signing_key.rotate")
    assert event.actor is None and event.actor_label == "system" and event.after["active"]["key_id"] == 1
    assert "private" not in str(event.after)


def test_the_private_key_is_stored_encrypted_and_opens_only_with_the_configured_secret(world):
    keys.active_signing_key()
    key = SigningKey.objects.get()
    private = signing.decrypt_private_key(key.private_key_encrypted, keys._key_box())
    assert signing.b64(signing.public_key_bytes(private)) == key.public_key
    raw = private.private_bytes_raw()
    assert signing.b64(raw) not in key.private_key_encrypted and raw.hex() not in key.private_key_encrypted
    credential = issue(world)
    with override_settings(CREDENTIAL_KEY_ENCRYPTION_KEYS=["a-different-secret"]):
        with pytest.raises(keys.SigningKeyUnavailable):
            issuing.credential_token(credential)
        response = client(world.commissioner).get(f"/api/v1/credentials/{credential.pk}/qr.svg")
        assert response.status_code == 503 and response.json()["code"] == "signing_key_unavailable"


def test_the_encryption_secret_can_be_changed_and_keys_reencrypted(world):
    keys.active_signing_key()
    old = SigningKey.objects.get().private_key_encrypted
    from django.conf import settings

    both = ["new-secret", *settings.CREDENTIAL_KEY_ENCRYPTION_KEYS]
    with override_settings(CREDENTIAL_KEY_ENCRYPTION_KEYS=both):
        assert "Re-encrypted 1 key" in rotate("--reencrypt")
    with override_settings(CREDENTIAL_KEY_ENCRYPTION_KEYS=["new-secret"]):
        assert SigningKey.objects.get().private_key_encrypted != old
        assert issuing.credential_token(issue(world))
    assert AuditEvent.objects.filter(action="signing_key.reencrypt").count() == 1


def test_rotation_keeps_old_tokens_valid_until_the_old_key_is_retired(world):
    w = world
    credential = issue(w)
    old_token = issuing.credential_token(credential)
    assert check(w, old_token) is None

    output = rotate()
    assert "Key 2 is now active" in output
    new_token = issuing.credential_token(credential)
    assert new_token != old_token
    assert signing.read_token(new_token)[2].key_id == 2
    assert check(w, old_token) is None and check(w, new_token) is None
    states = {k["key_id"]: k["state"] for k in client().get("/api/v1/credentials/keys/").json()["keys"]}
    assert states == {1: "verify_only", 2: "active"}

    rotate("--no-rotate", "--retire", "1")
    assert check(w, old_token) == "unknown_key"
    assert check(w, new_token) is None
    states = {k["key_id"]: k["state"] for k in client().get("/api/v1/credentials/keys/").json()["keys"]}
    assert states == {1: "retired", 2: "active"}
    assert [e.action for e in AuditEvent.objects.filter(action__startswith="signing_key")] == [
        "signing_key.rotate",
        "signing_key.rotate",
        "signing_key.retire",
    ]


def test_rotate_and_retire_all_inactive_in_one_go(world):
    keys.active_signing_key()
    rotate()
    rotate("--retire-all-inactive")
    assert {k.key_id: k.state for k in SigningKey.objects.all()} == {1: "retired", 2: "retired", 3: "active"}


def test_the_active_key_cannot_be_retired_and_unknown_keys_are_errors(world):
    keys.active_signing_key()
    with pytest.raises(CommandError, match="active key"):
        rotate("--no-rotate", "--retire", "1")
    with pytest.raises(CommandError, match="no signing key 9"):
        rotate("--no-rotate", "--retire", "9")
    assert SigningKey.objects.get().state == "active"


def test_the_database_allows_one_active_key_only(world):
    keys.active_signing_key()
    with pytest.raises(IntegrityError), transaction.atomic():
        SigningKey.objects.create(key_id=2, public_key="x", private_key_encrypted="x", active=True)


def test_deploy_checks_warn_when_keys_are_encrypted_under_the_secret_key():
    assert [m.id for m in check_credential_key_encryption()] == ["accounts.W101"]
    with override_settings(CREDENTIAL_KEY_ENCRYPTION_KEYS=["separate-secret"]):
        assert check_credential_key_encryption() == []


def test_rotation_is_audited_with_the_system_actor(world):
    keys.signing_key_rotate(actor=Actor.system())
    keys.signing_key_rotate(actor=Actor(user=world.admin))
    last = AuditEvent.objects.filter(action="signing_key.rotate").last()
    assert last.actor == world.admin and last.before["previous"]["key_id"] == 1 and last.after["active"]["key_id"] == 2

"""Credential-signing keys: rotating (a new active key; the previous one keeps verifying), retiring (its tokens
stop verifying), re-encrypting the private keys after a change of the key-encryption secret, and reading the key
that signs and the keys that verify. Every change is audited; the private key never leaves this module unencrypted
except to sign."""

from __future__ import annotations

import functools
from typing import Any

from cryptography.fernet import MultiFernet
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone

from accounts.audit import Actor, audit_record
from accounts.credentials import signing
from accounts.models import SigningKey
from common.errors import DomainError
from common.validation import full_clean


class SigningKeyUnavailable(DomainError):
    """The active key cannot be decrypted: SECRET_KEY or CREDENTIAL_KEY_ENCRYPTION_KEY changed without
    ``rotate_signing_key --reencrypt``. Nothing can be signed until an operator fixes it (or rotates)."""

    def __init__(self) -> None:
        super().__init__(
            "Credentials cannot be signed right now: the signing key cannot be unlocked. Tell the administrator.",
            "signing_key_unavailable",
        )


def _key_box() -> MultiFernet:
    return signing.key_encryption(settings.CREDENTIAL_KEY_ENCRYPTION_KEYS)


def _key_snapshot(key: SigningKey) -> dict[str, Any]:
    return {
        "key_id": key.key_id,
        "public_key": key.public_key,
        "state": key.state,
        "retired_at": key.retired_at.isoformat() if key.retired_at else None,
    }


@transaction.atomic
def signing_key_rotate(*, actor: Actor) -> SigningKey:
    """Make a new active key; the previous one stops signing and keeps verifying until retired."""
    previous = SigningKey.objects.select_for_update().filter(active=True).first()
    before = _key_snapshot(previous) if previous else None
    if previous is not None:
        previous.active = False
        previous.save(update_fields=["active"])
    next_id = (SigningKey.objects.aggregate(m=Max("key_id"))["m"] or 0) + 1
    if next_id > signing.MAX_KEY_ID:
        raise DomainError("All 65535 key ids are used.", "signing_key_ids_exhausted", field="key_id")
    private = signing.generate_private_key()
    key = SigningKey(
        key_id=next_id,
        public_key=signing.b64(signing.public_key_bytes(private)),
        private_key_encrypted=signing.encrypt_private_key(private, _key_box()),
        active=True,
    )
    full_clean(key)
    key.save()
    audit_record(
        actor=actor,
        action="signing_key.rotate",
        obj=key,
        before={"previous": before},
        after={"active": _key_snapshot(key), "previous_key_id": previous.key_id if previous else None},
    )
    return key


@transaction.atomic
def signing_key_retire(*, actor: Actor, key_id: int) -> SigningKey:
    """Stop accepting a key's signatures: every token it signed becomes ``unknown_key``. Not the active key."""
    key = SigningKey.objects.select_for_update().filter(key_id=key_id).first()
    if key is None:
        raise DomainError(f"There is no signing key {key_id}.", "signing_key_not_found", field="key_id")
    if key.active:
        raise DomainError("The active key cannot be retired; rotate first.", "signing_key_active", field="key_id")
    if key.retired_at is not None:
        raise DomainError(f"Key {key_id} is already retired.", "signing_key_retired", field="key_id")
    before = _key_snapshot(key)
    key.retired_at = timezone.now()
    key.save(update_fields=["retired_at"])
    audit_record(actor=actor, action="signing_key.retire", obj=key, before=before, after=_key_snapshot(key))
    return key


@transaction.atomic
def signing_keys_reencrypt(*, actor: Actor) -> int:
    """Re-encrypt every private key under the first configured secret (after a key-encryption secret change)."""
    box = _key_box()
    count = 0
    for key in SigningKey.objects.select_for_update().filter(retired_at__isnull=True):
        key.private_key_encrypted = box.rotate(key.private_key_encrypted.encode("ascii")).decode("ascii")
        key.save(update_fields=["private_key_encrypted"])
        count += 1
    audit_record(
        actor=actor,
        action="signing_key.reencrypt",
        object_type="accounts.signingkey",
        object_id="*",
        after={"n": count},
    )
    return count


def active_signing_key() -> SigningKey:
    """The key that signs; made on first use (audited as a system action) so a fresh install just works."""
    key = SigningKey.objects.filter(active=True).first()
    if key is not None:
        return key
    try:
        return signing_key_rotate(actor=Actor.system())
    except IntegrityError:  # another process made it first
        return SigningKey.objects.get(active=True)


def active_private_key() -> tuple[int, Ed25519PrivateKey]:
    """The active key's id and its decrypted private key; ``SigningKeyUnavailable`` when it cannot be opened."""
    key = active_signing_key()
    try:
        return key.key_id, signing.decrypt_private_key(key.private_key_encrypted, _key_box())
    except ValueError:
        raise SigningKeyUnavailable() from None


@functools.lru_cache(maxsize=256)
def raw_public_key(text: str) -> bytes:
    """A stored public key (base64) as raw bytes; cached by the text itself, so always that key's."""
    return signing.unb64(text)


def verifying_keys() -> dict[int, bytes]:
    """Key id → raw public key of every key not retired, read from the database on every call: a key rotated in or
    retired by any process counts from the next verification on. Only the decoding is cached, keyed by the stored
    text itself, so it can never answer for a key the database no longer holds."""
    rows = SigningKey.objects.verifying().values_list("key_id", "public_key")
    return {key_id: raw_public_key(public) for key_id, public in rows}

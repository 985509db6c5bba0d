"""Signed credential tokens: the compact payload printed as a QR code and checked offline by the poll-book tablets.

Pure: no Django import. A tablet needs only the public keys (``GET /api/v1/credentials/keys/``), the list of
revoked serials (``…/revoked/``) and, for credentials listing more than ``MAX_LISTED_PLACES`` polling places, the
scope hashes that cover its place (``…/scope-hashes/``); everything below can be re-implemented from this docstring.

Token, version 1 (all integers unsigned, big-endian)::

    offset size  field
    0      1     version = 1
    1      2     key id (1..65535) of the signing key
    3      7     serial: the 10 Crockford base32 characters as one 50-bit integer
    10     1     flags: bits 0-1 kind (1 poll watcher, 2 federal observer, 3 state observer),
                        bits 2-3 scope (0 county-wide, 1 listed places, 2 hashed places), bits 4-7 zero
    11     4     election id
    15     4     valid from, whole minutes since 1970-01-01T00:00Z (valid while from <= t < until)
    19     4     valid until, whole minutes since 1970-01-01T00:00Z
    23     3     county FIPS code as an integer (28049 for Hinds County, MS)
    26     …     scope body: county-wide: nothing;
                             listed: 1 byte n (1..20), then n polling-place ids (4 bytes each, ascending);
                             hashed: 16 bytes, ``scope_hash(fips, place ids)``
    end-64 64    Ed25519 signature over SIGNING_CONTEXT + every byte before it

The bytes are written as RFC 4648 base32, upper case, without padding: only ``A-Z2-7``, which a QR code stores in
its alphanumeric mode (5.5 bits a character). The longest token (20 listed places, 171 bytes) is 274 characters:
QR version 10 at error-correction level M. More than 20 places switch to the 16-byte hash (107 bytes).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import functools
import hashlib
import secrets
import struct
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from enum import IntEnum

from cryptography.exceptions import InvalidSignature
from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

VERSION = 1
#: Prepended to the payload before signing, never transmitted: a signature made for anything else cannot pass.
SIGNING_CONTEXT = b"pollguard-credential-v1\x00"
SCOPE_HASH_CONTEXT = b"pollguard-scope-v1\x00"
MAX_LISTED_PLACES = 20
SCOPE_HASH_BYTES = 16
SIGNATURE_BYTES = 64
MAX_KEY_ID = 0xFFFF
MAX_ID = 0xFFFFFFFF
MAX_FIPS = 99999
#: Minutes since the epoch fit four bytes until the year 10136; Python datetimes stop at 9999.
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)

_HEADER = struct.Struct(">BH7sBIII3s")  # version, key id, serial, flags, election, from, until, county FIPS

# Crockford base32: no I, L, O, U; read I and L as 1, O as 0 when a person types a serial.
CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_CROCKFORD_READ = {c: i for i, c in enumerate(CROCKFORD)} | {"I": 1, "L": 1, "O": 0}
SERIAL_LENGTH = 10


class Kind(IntEnum):
    POLL_WATCHER = 1
    FEDERAL_OBSERVER = 2
    STATE_OBSERVER = 3


class ScopeType(IntEnum):
    COUNTY = 0
    LISTED = 1
    HASHED = 2


class Reason:
    """Why a token is refused: stable codes that the API returns and tablets show."""

    MALFORMED = "malformed"
    UNKNOWN_KEY = "unknown_key"
    BAD_SIGNATURE = "bad_signature"
    UNKNOWN_CREDENTIAL = "unknown_credential"
    REVOKED = "revoked"
    NOT_YET_VALID = "not_yet_valid"
    EXPIRED = "expired"
    WRONG_ELECTION = "wrong_election"
    WRONG_PLACE = "wrong_place"


class TokenError(Exception):
    """A token that cannot be trusted; ``reason`` is one of ``Reason``."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class Claims:
    """What a verified token asserts."""

    key_id: int
    serial: str
    kind: Kind
    election_id: int
    valid_from: dt.datetime
    valid_until: dt.datetime
    county_fips: str
    scope_type: ScopeType
    place_ids: tuple[int, ...] = ()  # listed scope
    scope_hash: bytes = b""  # hashed scope


# --- serials ------------------------------------------------------------------------------------------------------


def new_serial() -> str:
    """Ten random Crockford base32 characters (50 bits)."""
    return "".join(secrets.choice(CROCKFORD) for _ in range(SERIAL_LENGTH))


def normalize_serial(text: str) -> str | None:
    """A serial as typed (any case, hyphens, spaces, I/L for 1, O for 0) in canonical form, or None."""
    cleaned = text.replace("-", "").replace(" ", "").upper()
    if len(cleaned) != SERIAL_LENGTH or any(c not in _CROCKFORD_READ for c in cleaned):
        return None
    return "".join(CROCKFORD[_CROCKFORD_READ[c]] for c in cleaned)


def format_serial(serial: str) -> str:
    """For print: ``ABCDE-FGHJK``."""
    return f"{serial[:5]}-{serial[5:]}"


def _serial_to_bytes(serial: str) -> bytes:
    value = 0
    for c in serial:
        value = value * 32 + _CROCKFORD_READ[c]
    return value.to_bytes(7, "big")


def _serial_from_bytes(raw: bytes) -> str:
    value = int.from_bytes(raw, "big")
    if value >> (5 * SERIAL_LENGTH):
        raise TokenError(Reason.MALFORMED, "The serial field is out of range.")
    chars = []
    for _ in range(SERIAL_LENGTH):
        value, digit = divmod(value, 32)
        chars.append(CROCKFORD[digit])
    return "".join(reversed(chars))


# --- time ---------------------------------------------------------------------------------------------------------


def to_minutes(moment: dt.datetime) -> int:
    if moment.tzinfo is None:
        raise ValueError("An aware datetime is required.")
    return int((moment - EPOCH).total_seconds() // 60)


def from_minutes(minutes: int) -> dt.datetime:
    return EPOCH + dt.timedelta(minutes=minutes)


def truncate_to_minute(moment: dt.datetime) -> dt.datetime:
    """What a token can carry: validity is kept to the whole minute, so the database and token agree exactly."""
    return moment.replace(second=0, microsecond=0)


# --- scope --------------------------------------------------------------------------------------------------------


def scope_hash(county_fips: str, place_ids: Iterable[int]) -> bytes:
    """16 bytes naming a set of polling places in a county, independent of the order they are given in."""
    ids = sorted(set(place_ids))
    digest = hashlib.sha256(SCOPE_HASH_CONTEXT)
    digest.update(int(county_fips).to_bytes(3, "big"))
    digest.update(len(ids).to_bytes(4, "big"))
    for pid in ids:
        digest.update(pid.to_bytes(4, "big"))
    return digest.digest()[:SCOPE_HASH_BYTES]


# --- encode / decode ------------------------------------------------------------------------------------------------


def _b32encode(raw: bytes) -> str:
    return base64.b32encode(raw).decode("ascii").rstrip("=")


def _b32decode(text: str) -> bytes:
    cleaned = "".join(text.split()).upper()
    if not cleaned or len(cleaned) > 1024 or not cleaned.isascii():
        raise TokenError(Reason.MALFORMED, "The token is empty, too long or not base32.")
    padded = cleaned + "=" * (-len(cleaned) % 8)
    try:
        return base64.b32decode(padded)
    except (binascii.Error, ValueError):
        raise TokenError(Reason.MALFORMED, "The token is not base32 text.") from None


def encode_payload(
    *,
    key_id: int,
    serial: str,
    kind: Kind,
    election_id: int,
    valid_from: dt.datetime,
    valid_until: dt.datetime,
    county_fips: str,
    place_ids: Collection[int] = (),
) -> bytes:
    """The unsigned payload. ``place_ids`` empty means county-wide; more than ``MAX_LISTED_PLACES`` are hashed."""
    if not 1 <= key_id <= MAX_KEY_ID:
        raise ValueError("key id out of range")
    if normalize_serial(serial) != serial:
        raise ValueError("serial must be 10 canonical Crockford base32 characters")
    if not 0 <= election_id <= MAX_ID:
        raise ValueError("election id out of range")
    if len(county_fips) != 5 or not county_fips.isdigit():
        raise ValueError("county FIPS must be 5 digits")
    start, end = to_minutes(valid_from), to_minutes(valid_until)
    if not 0 <= start < end <= MAX_ID:
        raise ValueError("validity must be a non-empty interval after 1970")
    ids = sorted(set(place_ids))
    if any(not 0 < pid <= MAX_ID for pid in ids):
        raise ValueError("polling place id out of range")
    if not ids:
        scope_type, body = ScopeType.COUNTY, b""
    elif len(ids) <= MAX_LISTED_PLACES:
        scope_type, body = ScopeType.LISTED, bytes([len(ids)]) + b"".join(pid.to_bytes(4, "big") for pid in ids)
    else:
        scope_type, body = ScopeType.HASHED, scope_hash(county_fips, ids)
    flags = int(kind) | (int(scope_type) << 2)
    header = _HEADER.pack(
        VERSION,
        key_id,
        _serial_to_bytes(serial),
        flags,
        election_id,
        start,
        end,
        int(county_fips).to_bytes(3, "big"),
    )
    return header + body


def sign_payload(payload: bytes, private_key: Ed25519PrivateKey) -> str:
    """The printed token: base32 of payload + Ed25519 signature."""
    signature = private_key.sign(SIGNING_CONTEXT + payload)
    return _b32encode(payload + signature)


def decode_payload(payload: bytes) -> Claims:
    """Parse the unsigned part; raises ``TokenError(malformed)`` on any inconsistency."""
    if len(payload) < _HEADER.size:
        raise TokenError(Reason.MALFORMED, "The token is too short.")
    version, key_id, serial_raw, flags, election_id, start, end, fips_raw = _HEADER.unpack_from(payload)
    if version != VERSION:
        raise TokenError(Reason.MALFORMED, f"Unsupported token version {version}.")
    kind_bits, scope_bits = flags & 0b11, (flags >> 2) & 0b11
    if flags >> 4 or kind_bits == 0 or scope_bits == 3:
        raise TokenError(Reason.MALFORMED, "Unknown kind or scope flags.")
    fips = int.from_bytes(fips_raw, "big")
    if fips > MAX_FIPS or start >= end or key_id == 0:
        raise TokenError(Reason.MALFORMED, "A field is out of range.")
    body = payload[_HEADER.size :]
    scope_type = ScopeType(scope_bits)
    place_ids: tuple[int, ...] = ()
    digest = b""
    if scope_type is ScopeType.COUNTY:
        if body:
            raise TokenError(Reason.MALFORMED, "Unexpected bytes after a county-wide scope.")
    elif scope_type is ScopeType.LISTED:
        if not body or not 1 <= body[0] <= MAX_LISTED_PLACES or len(body) != 1 + 4 * body[0]:
            raise TokenError(Reason.MALFORMED, "The list of polling places is truncated or too long.")
        place_ids = tuple(int.from_bytes(body[i : i + 4], "big") for i in range(1, len(body), 4))
        if list(place_ids) != sorted(set(place_ids)) or 0 in place_ids:
            raise TokenError(Reason.MALFORMED, "The polling places are not listed in ascending order.")
    else:
        if len(body) != SCOPE_HASH_BYTES:
            raise TokenError(Reason.MALFORMED, "The scope hash is truncated.")
        digest = bytes(body)
    return Claims(
        key_id=key_id,
        serial=_serial_from_bytes(serial_raw),
        kind=Kind(kind_bits),
        election_id=election_id,
        valid_from=from_minutes(start),
        valid_until=from_minutes(end),
        county_fips=f"{fips:05d}",
        scope_type=scope_type,
        place_ids=place_ids,
        scope_hash=digest,
    )


@functools.lru_cache(maxsize=2048)
def read_token(token: str) -> tuple[bytes, bytes, Claims]:
    """Split a token into payload and signature and parse the payload, without checking the signature.

    A pure function of the token's text (the claims are frozen; a malformed token raises every time): memoised, as a
    sync batch reads each token twice (for its serial, then to verify it) and a tablet scans the same few tokens all
    day. Nothing here depends on the keys or the database."""
    raw = _b32decode(token)
    if len(raw) <= SIGNATURE_BYTES:
        raise TokenError(Reason.MALFORMED, "The token is too short.")
    payload, signature = raw[:-SIGNATURE_BYTES], raw[-SIGNATURE_BYTES:]
    return payload, signature, decode_payload(payload)


@functools.lru_cache(maxsize=256)
def _public_key(raw: bytes) -> Ed25519PublicKey:
    """The verifier for a raw public key, made once per key: keyed by the key's bytes, so it is always that key's."""
    return Ed25519PublicKey.from_public_bytes(raw)


def verify_token(token: str, public_keys: Mapping[int, bytes]) -> Claims:
    """The claims of a token signed by one of ``public_keys`` (key id → raw 32-byte Ed25519 public key).

    Raises ``TokenError`` with ``malformed``, ``unknown_key`` or ``bad_signature``. Says nothing about time,
    revocation, election or place: see ``check_claims``.
    """
    payload, signature, claims = read_token(token)
    raw_key = public_keys.get(claims.key_id)
    if raw_key is None:
        raise TokenError(Reason.UNKNOWN_KEY, f"Key {claims.key_id} is unknown or retired.")
    try:
        _public_key(raw_key).verify(signature, SIGNING_CONTEXT + payload)
    except InvalidSignature:
        raise TokenError(Reason.BAD_SIGNATURE, "The signature does not match: forged or altered.") from None
    return claims


def check_claims(
    claims: Claims,
    *,
    at: dt.datetime,
    election_id: int | None,
    polling_place_id: int,
    county_fips: str,
    covering_hashes: Collection[bytes] = (),
) -> str | None:
    """The reason a verified, unrevoked credential may not be admitted here and now, or None when it may.

    ``covering_hashes`` are the scope hashes that include ``polling_place_id`` (from the tablet's roster data, or
    computed by the server); only hashed scopes need them.
    """
    if at < claims.valid_from:
        return Reason.NOT_YET_VALID
    if at >= claims.valid_until:
        return Reason.EXPIRED
    if election_id is None or claims.election_id != election_id:
        return Reason.WRONG_ELECTION
    if claims.county_fips != county_fips:
        return Reason.WRONG_PLACE
    if claims.scope_type is ScopeType.LISTED and polling_place_id not in claims.place_ids:
        return Reason.WRONG_PLACE
    if claims.scope_type is ScopeType.HASHED and claims.scope_hash not in covering_hashes:
        return Reason.WRONG_PLACE
    return None


# --- keys -----------------------------------------------------------------------------------------------------------


def generate_private_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def public_key_bytes(private_key: Ed25519PrivateKey) -> bytes:
    return private_key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def unb64(text: str) -> bytes:
    return base64.b64decode(text.encode("ascii"), validate=True)


def key_encryption(secrets_: Iterable[str]) -> MultiFernet:
    """Encrypts private keys at rest. The first secret encrypts; every one decrypts (so the secret can be rotated).

    Each secret, of any length, is stretched to a Fernet key with HKDF-SHA256.
    """
    fernets = []
    for secret in secrets_:
        if not secret:
            continue
        derived = HKDF(
            algorithm=hashes.SHA256(), length=32, salt=None, info=b"pollguard credential signing keys"
        ).derive(secret.encode())
        fernets.append(Fernet(base64.urlsafe_b64encode(derived)))
    if not fernets:
        raise ValueError("No key-encryption secret configured.")
    return MultiFernet(fernets)


def encrypt_private_key(private_key: Ed25519PrivateKey, box: MultiFernet) -> str:
    raw = private_key.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    return box.encrypt(raw).decode("ascii")


def decrypt_private_key(ciphertext: str, box: MultiFernet) -> Ed25519PrivateKey:
    """Raises ``ValueError`` when no configured secret opens it (a changed SECRET_KEY or encryption key)."""
    try:
        raw = box.decrypt(ciphertext.encode("ascii"))
    except InvalidToken:
        raise ValueError("The signing key cannot be decrypted with the configured key-encryption secret.") from None
    return Ed25519PrivateKey.from_private_bytes(raw)

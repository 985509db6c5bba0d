"""The signed token on its own (no database): layout, Ed25519 with only the public key, tampering, QR size."""

from __future__ import annotations

import base64
import datetime as dt

import pytest
import segno
from hypothesis import given, settings
from hypothesis import strategies as st

from accounts.credentials import signing
from accounts.credentials.signing import Kind, Reason, ScopeType, TokenError

T0 = dt.datetime(2026, 11, 3, 12, 0, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)
SERIAL = "7K3M9QX2AB"


@pytest.fixture(scope="module")
def key():
    return signing.generate_private_key()


def make(key, *, key_id=1, places=(), kind=Kind.POLL_WATCHER, serial=SERIAL, election_id=42, fips="28049"):
    payload = signing.encode_payload(
        key_id=key_id,
        serial=serial,
        kind=kind,
        election_id=election_id,
        valid_from=T0,
        valid_until=T0 + DAY,
        county_fips=fips,
        place_ids=places,
    )
    return signing.sign_payload(payload, key)


def public(key, key_id=1):
    return {key_id: signing.public_key_bytes(key)}


def raw_of(token: str) -> bytes:
    return base64.b32decode(token + "=" * (-len(token) % 8))


def refused(token, keys) -> str:
    with pytest.raises(TokenError) as info:
        signing.verify_token(token, keys)
    return info.value.reason


def test_a_token_verifies_with_only_the_raw_public_key_and_carries_every_claim(key):
    token = make(key, places=[30, 10, 20], kind=Kind.FEDERAL_OBSERVER)
    claims = signing.verify_token(token, {1: signing.public_key_bytes(key)})
    assert claims.serial == SERIAL and claims.kind is Kind.FEDERAL_OBSERVER and claims.election_id == 42
    assert claims.valid_from == T0 and claims.valid_until == T0 + DAY
    assert claims.county_fips == "28049" and claims.scope_type is ScopeType.LISTED
    assert claims.place_ids == (10, 20, 30)


def test_a_token_is_only_qr_alphanumeric_characters(key):
    token = make(key, places=range(1, 21))
    assert set(token) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")
    assert segno.make(token, error="m", boost_error=False).mode == "alphanumeric"


def test_the_worst_case_token_fits_qr_version_10_at_level_m(key):
    """The longest payload: 20 listed places, every field at its maximum."""
    payload_max = signing.encode_payload(
        key_id=signing.MAX_KEY_ID,
        serial="ZZZZZZZZZZ",
        kind=Kind.STATE_OBSERVER,
        election_id=signing.MAX_ID,
        valid_from=T0,
        valid_until=T0 + DAY,
        county_fips="99999",
        place_ids=range(signing.MAX_ID - signing.MAX_LISTED_PLACES + 1, signing.MAX_ID + 1),
    )
    token = signing.sign_payload(payload_max, key)
    assert len(payload_max) + 64 == 171 and len(token) == 274
    assert segno.make(token, error="m", boost_error=False).version <= 10
    # County-wide and hashed scopes are shorter still.
    assert segno.make(make(key), error="m", boost_error=False).version <= 6
    assert segno.make(make(key, places=range(1, 500)), error="m", boost_error=False).version <= 7


def test_more_than_twenty_places_are_carried_as_an_order_independent_hash(key):
    places = list(range(100, 130))
    claims = signing.verify_token(make(key, places=places), public(key))
    assert claims.scope_type is ScopeType.HASHED and claims.place_ids == ()
    assert claims.scope_hash == signing.scope_hash("28049", reversed(places))
    assert claims.scope_hash != signing.scope_hash("28049", places[:-1])
    assert claims.scope_hash != signing.scope_hash("28051", places)


def test_a_signature_from_another_key_with_the_same_key_id_is_refused(key):
    forged = make(signing.generate_private_key())
    assert refused(forged, public(key)) == Reason.BAD_SIGNATURE


def test_a_token_naming_a_key_the_verifier_does_not_hold_is_refused(key):
    assert refused(make(key, key_id=7), public(key)) == Reason.UNKNOWN_KEY


def test_every_single_bit_flip_is_refused(key):
    raw = raw_of(make(key, places=[5, 6]))
    keys = public(key)
    for byte in range(len(raw)):
        for bit in range(8):
            flipped = bytearray(raw)
            flipped[byte] ^= 1 << bit
            token = base64.b32encode(bytes(flipped)).decode().rstrip("=")
            assert refused(token, keys) in {Reason.BAD_SIGNATURE, Reason.MALFORMED, Reason.UNKNOWN_KEY}


def test_a_flipped_bit_in_the_serial_or_the_signature_is_a_bad_signature(key):
    raw = bytearray(raw_of(make(key)))
    for index in (5, len(raw) - 1):
        altered = bytearray(raw)
        altered[index] ^= 0x01
        token = base64.b32encode(bytes(altered)).decode().rstrip("=")
        assert refused(token, public(key)) == Reason.BAD_SIGNATURE


def test_every_truncation_is_refused(key):
    token = make(key, places=[1, 2, 3])
    for length in range(len(token)):
        assert refused(token[:length], public(key)) in {Reason.MALFORMED, Reason.BAD_SIGNATURE}


@pytest.mark.parametrize(
    "garbage",
    ["", "   ", "hello world!", "0189", "A" * 2000, "AAAA=AAA", "ÄÖÜ", "A" * 7, "MFRGG==="],
)
def test_garbage_is_malformed(key, garbage):
    assert refused(garbage, public(key)) == Reason.MALFORMED


def test_whitespace_and_lower_case_from_a_scanner_are_tolerated(key):
    token = make(key)
    assert signing.verify_token(f" {token[:50].lower()}\n{token[50:]} ", public(key)).serial == SERIAL


def test_an_unknown_version_or_flag_is_malformed_before_any_signature_check(key):
    payload = bytearray(
        signing.encode_payload(
            key_id=1,
            serial=SERIAL,
            kind=Kind.POLL_WATCHER,
            election_id=1,
            valid_from=T0,
            valid_until=T0 + DAY,
            county_fips="28049",
        )
    )
    for index, value in ((0, 2), (10, 0), (10, 0b1100_0001), (10, 0b0000_1101)):
        bad = bytearray(payload)
        bad[index] = value
        token = signing.sign_payload(bytes(bad), key)  # even correctly signed
        assert refused(token, public(key)) == Reason.MALFORMED


def test_check_claims_gives_each_reason_in_order(key):
    claims = signing.verify_token(make(key, places=[10, 20]), public(key))
    here = {"election_id": 42, "polling_place_id": 10, "county_fips": "28049"}
    assert signing.check_claims(claims, at=T0, **here) is None
    assert signing.check_claims(claims, at=T0 + DAY - dt.timedelta(seconds=1), **here) is None
    assert signing.check_claims(claims, at=T0 - dt.timedelta(seconds=1), **here) == Reason.NOT_YET_VALID
    assert signing.check_claims(claims, at=T0 + DAY, **here) == Reason.EXPIRED
    assert signing.check_claims(claims, at=T0, **(here | {"election_id": 43})) == Reason.WRONG_ELECTION
    assert signing.check_claims(claims, at=T0, **(here | {"election_id": None})) == Reason.WRONG_ELECTION
    assert signing.check_claims(claims, at=T0, **(here | {"polling_place_id": 11})) == Reason.WRONG_PLACE
    assert signing.check_claims(claims, at=T0, **(here | {"county_fips": "28051"})) == Reason.WRONG_PLACE


def test_a_hashed_scope_admits_only_where_the_tablet_holds_its_hash(key):
    places = list(range(1, 31))
    claims = signing.verify_token(make(key, places=places), public(key))
    here = {"at": T0, "election_id": 42, "polling_place_id": 3, "county_fips": "28049"}
    assert signing.check_claims(claims, **here) == Reason.WRONG_PLACE
    assert signing.check_claims(claims, **here, covering_hashes={signing.scope_hash("28049", places)}) is None


def test_county_wide_tokens_admit_at_any_place_of_the_county_only(key):
    claims = signing.verify_token(make(key), public(key))
    assert signing.check_claims(claims, at=T0, election_id=42, polling_place_id=999, county_fips="28049") is None
    assert (
        signing.check_claims(claims, at=T0, election_id=42, polling_place_id=999, county_fips="28051")
        == Reason.WRONG_PLACE
    )


def test_validity_is_carried_to_the_minute():
    moment = dt.datetime(2026, 11, 3, 12, 34, 56, 789, tzinfo=dt.UTC)
    assert signing.truncate_to_minute(moment) == dt.datetime(2026, 11, 3, 12, 34, tzinfo=dt.UTC)
    assert signing.from_minutes(signing.to_minutes(moment)) == signing.truncate_to_minute(moment)
    with pytest.raises(ValueError):
        signing.to_minutes(dt.datetime(2026, 11, 3))


def test_encoding_refuses_what_the_format_cannot_carry(key):
    good = {
        "key_id": 1,
        "serial": SERIAL,
        "kind": Kind.POLL_WATCHER,
        "election_id": 1,
        "valid_from": T0,
        "valid_until": T0 + DAY,
        "county_fips": "28049",
    }
    for bad in (
        {"key_id": 0},
        {"key_id": 65536},
        {"serial": "7k3m9qx2ab"},
        {"serial": "SHORT"},
        {"election_id": 2**32},
        {"county_fips": "2849"},
        {"valid_until": T0},
        {"place_ids": [0]},
        {"place_ids": [2**32]},
    ):
        with pytest.raises(ValueError):
            signing.encode_payload(**(good | bad))


def test_serials_are_ten_crockford_characters_and_read_forgivingly():
    serials = {signing.new_serial() for _ in range(200)}
    assert len(serials) == 200
    assert all(len(s) == 10 and set(s) <= set(signing.CROCKFORD) for s in serials)
    assert signing.normalize_serial("7k3m9-qx2ab") == "7K3M9QX2AB"
    assert signing.normalize_serial("ILO00-11111") == "1100011111"
    assert signing.normalize_serial("UUUUUUUUUU") is None
    assert signing.format_serial("7K3M9QX2AB") == "7K3M9-QX2AB"


def test_private_keys_are_encrypted_at_rest_and_open_with_any_configured_secret(key):
    old = signing.key_encryption(["old-secret"])
    ciphertext = signing.encrypt_private_key(key, old)
    raw_public = signing.public_key_bytes(key)
    assert base64.b64encode(raw_public).decode() not in ciphertext
    both = signing.key_encryption(["new-secret", "old-secret"])
    assert signing.public_key_bytes(signing.decrypt_private_key(ciphertext, both)) == raw_public
    rotated = both.rotate(ciphertext.encode()).decode()
    assert signing.public_key_bytes(signing.decrypt_private_key(rotated, signing.key_encryption(["new-secret"])))
    with pytest.raises(ValueError, match="cannot be decrypted"):
        signing.decrypt_private_key(ciphertext, signing.key_encryption(["another-secret"]))
    with pytest.raises(ValueError):
        signing.key_encryption(["", ""])


@settings(max_examples=60, deadline=None)
@given(
    key_id=st.integers(1, signing.MAX_KEY_ID),
    kind=st.sampled_from(list(Kind)),
    election_id=st.integers(0, signing.MAX_ID),
    start=st.integers(0, 2**31),
    length=st.integers(1, 10**6),
    fips=st.integers(0, 99999),
    places=st.sets(st.integers(1, signing.MAX_ID), max_size=40),
)
def test_payloads_round_trip(key_id, kind, election_id, start, length, fips, places):
    payload = signing.encode_payload(
        key_id=key_id,
        serial=SERIAL,
        kind=kind,
        election_id=election_id,
        valid_from=signing.from_minutes(start),
        valid_until=signing.from_minutes(start + length),
        county_fips=f"{fips:05d}",
        place_ids=places,
    )
    claims = signing.decode_payload(payload)
    assert (claims.key_id, claims.kind, claims.election_id, claims.county_fips) == (
        key_id,
        kind,
        election_id,
        f"{fips:05d}",
    )
    assert signing.to_minutes(claims.valid_from) == start and signing.to_minutes(claims.valid_until) == start + length
    if len(places) <= signing.MAX_LISTED_PLACES:
        assert set(claims.place_ids) == places
    else:
        assert claims.scope_hash == signing.scope_hash(f"{fips:05d}", places)

"""POST /api/v1/credentials/verify/: every reason a token is refused, what a poll worker sees, who may ask."""

from __future__ import annotations

import base64
import datetime as dt

import pytest

from accounts.audit import Actor
from accounts.credentials import issuing, keys, signing
from accounts.models import AuditEvent, Credential
from polling.geography import selectors as geography_selectors
from tests.credential_helpers import client, issue

pytestmark = pytest.mark.django_db
URL = "/api/v1/credentials/verify/"


def election_noon(w) -> dt.datetime:
    """Midday of the general election, inside the default validity of a credential for it."""
    return dt.datetime.combine(w.general.date, dt.time(12), tzinfo=geography_selectors.local_zone(w.hinds))


def raw_of(token: str) -> bytearray:
    return bytearray(base64.b32decode(token + "=" * (-len(token) % 8)))


def token_of(raw: bytes) -> str:
    return base64.b32encode(bytes(raw)).decode().rstrip("=")


def verify(user, token, place, *, at=None, **extra):
    body = {"token": token, "polling_place": place.pk, **extra}
    if at is not None:
        body["at"] = at.isoformat()
    response = client(user).post(URL, body, format="json")
    assert response.status_code == 200, response.content
    return response.json()


def reason(user, token, place, **kwargs):
    result = verify(user, token, place, **kwargs)
    assert result["valid"] is (result["reason"] is None)
    return result["reason"]


def test_a_genuine_token_is_valid_and_shows_a_poll_worker_only_what_they_need(world):
    w = world
    credential = issue(w, holder_name="Unita Blackwell", appointed_by_kind="candidate", appointed_by_name="J. Doe")
    token = issuing.credential_token(credential)
    events = AuditEvent.objects.count()
    result = verify(w.worker, token, w.a1, at=election_noon(w))
    assert result["valid"] is True and result["reason"] is None
    assert result["election"] == w.general.pk and result["polling_place"] == w.a1.pk
    assert result["credential"] == {
        "serial": credential.serial,
        "kind": "poll_watcher",
        "holder_name": "Unita Blackwell",
        "appointed_by_kind": "candidate",
        "appointed_by_name": "J. Doe",
    }
    assert AuditEvent.objects.count() == events  # verifying changes nothing


def test_a_forged_token_is_a_bad_signature(world):
    w = world
    credential = issue(w)
    key = keys.active_signing_key()
    forger = signing.generate_private_key()
    forged = signing.sign_payload(issuing.credential_payload(credential, key_id=key.key_id), forger)
    result = verify(w.worker, forged, w.a1, at=election_noon(w))
    assert result == result | {"valid": False, "reason": "bad_signature", "credential": None}


def test_an_altered_token_is_a_bad_signature(world):
    w = world
    credential = issue(w)
    other = issue(w, holder_name="Someone Else")
    raw = raw_of(issuing.credential_token(credential))
    # Swap in the other credential's serial (bytes 3..9): a real serial, but not what was signed.
    raw[3:10] = raw_of(issuing.credential_token(other))[3:10]
    assert reason(w.worker, token_of(raw), w.a1, at=election_noon(w)) == "bad_signature"
    raw = raw_of(issuing.credential_token(credential))
    raw[18] ^= 0x01  # the lowest bit of valid_from: one minute earlier or later
    assert reason(w.worker, token_of(raw), w.a1, at=election_noon(w)) == "bad_signature"


@pytest.mark.parametrize("mangle", [lambda t: t[:-10], lambda t: t[:40], lambda t: "GARBAGE!", lambda t: t + "A"])
def test_truncated_or_garbage_tokens_are_malformed(world, mangle):
    w = world
    token = issuing.credential_token(issue(w))
    result = verify(w.worker, mangle(token), w.a1, at=election_noon(w))
    assert result["valid"] is False and result["reason"] == "malformed" and result["credential"] is None


def test_an_empty_or_huge_token_is_a_bad_request(world):
    w = world
    for token in ("", "A" * 1025):
        response = client(w.worker).post(URL, {"token": token, "polling_place": w.a1.pk}, format="json")
        assert response.status_code == 400 and "token" in response.json()["errors"]


def test_a_token_from_an_unknown_key_is_refused(world):
    w = world
    credential = issue(w)
    stranger = signing.generate_private_key()
    token = signing.sign_payload(issuing.credential_payload(credential, key_id=999), stranger)
    assert reason(w.worker, token, w.a1, at=election_noon(w)) == "unknown_key"


def test_expired_and_not_yet_valid_tokens_are_refused_at_the_edges(world):
    w = world
    credential = issue(w)
    token = issuing.credential_token(credential)
    minute = dt.timedelta(minutes=1)
    assert reason(w.worker, token, w.a1, at=credential.valid_from) is None
    assert reason(w.worker, token, w.a1, at=credential.valid_from - minute) == "not_yet_valid"
    assert reason(w.worker, token, w.a1, at=credential.valid_until - minute) is None
    assert reason(w.worker, token, w.a1, at=credential.valid_until) == "expired"


def test_a_revoked_token_is_refused_from_the_moment_of_revocation(world):
    w = world
    now = dt.datetime.now(dt.UTC)
    credential = issue(w, valid_from=now - dt.timedelta(hours=1), valid_until=now + dt.timedelta(days=40))
    token = issuing.credential_token(credential)
    issuing.credential_revoke(actor=Actor(user=w.commissioner), credential_id=credential.pk, reason="Lost")
    credential.refresh_from_db()
    result = verify(w.worker, token, w.a1)  # now
    assert result["valid"] is False and result["reason"] == "revoked"
    assert result["credential"]["serial"] == credential.serial
    # A check replayed from a tablet's offline log, made before the revocation, was valid then.
    before = credential.revoked_at - dt.timedelta(minutes=1)
    assert reason(w.worker, token, w.a1, at=before) is None


def test_a_token_never_good_here_says_so_before_it_says_revoked(world):
    """Offline sync applies a check-in made after a revocation (the tablet could not know) but refuses one the token
    never allowed: so another place, election or date must win over "revoked"."""
    w = world
    now = dt.datetime.now(dt.UTC)
    credential = issue(
        w, polling_places=[w.a1], valid_from=now - dt.timedelta(hours=1), valid_until=now + dt.timedelta(days=40)
    )
    token = issuing.credential_token(credential)
    issuing.credential_revoke(actor=Actor(user=w.commissioner), credential_id=credential.pk, reason="Lost")
    assert reason(w.admin, token, w.a1) == "revoked"
    assert reason(w.admin, token, w.a2) == "wrong_place"
    assert reason(w.admin, token, w.a1, at=now + dt.timedelta(days=41)) == "expired"


def test_a_token_for_another_election_is_refused(world):
    w = world
    runoff = issue(w, election=w.runoff)
    token = issuing.credential_token(runoff)
    on_runoff_day = dt.datetime.combine(w.runoff.date, dt.time(12), tzinfo=geography_selectors.local_zone(w.hinds))
    # Explicitly for the general election, at a time the runoff credential is valid.
    assert reason(w.worker, token, w.a1, at=on_runoff_day, election=w.general.pk) == "wrong_election"
    # By default the place's upcoming election: on general-election day, that is the general election.
    general_token = issuing.credential_token(issue(w))
    assert reason(w.worker, token, w.a1, at=election_noon(w)) == "not_yet_valid"
    assert reason(w.worker, general_token, w.a1, at=election_noon(w)) is None
    wide = issue(
        w,
        election=w.runoff,
        valid_from=election_noon(w) - dt.timedelta(hours=1),
        valid_until=on_runoff_day + dt.timedelta(hours=6),
    )
    assert reason(w.worker, issuing.credential_token(wide), w.a1, at=election_noon(w)) == "wrong_election"
    assert reason(w.worker, issuing.credential_token(wide), w.a1, at=on_runoff_day) is None


def test_an_election_of_another_state_is_not_a_context(world):
    from polling.models import Election, Jurisdiction

    w = world
    alabama = Election.objects.create(
        jurisdiction=Jurisdiction.objects.get(code="AL"),
        name="AL",
        date=w.general.date,
        polls_open=dt.time(7),
        polls_close=dt.time(19),
    )
    token = issuing.credential_token(issue(w))
    response = client(w.worker).post(
        URL, {"token": token, "polling_place": w.a1.pk, "election": alabama.pk}, format="json"
    )
    assert response.status_code == 400 and "election" in response.json()["errors"]


def test_a_token_for_another_place_is_refused(world):
    w = world
    county_wide = issuing.credential_token(issue(w))
    at_a1 = issuing.credential_token(issue(w, polling_places=[w.a1]))
    noon = election_noon(w)
    assert reason(w.admin, county_wide, w.a2, at=noon) is None
    assert reason(w.admin, county_wide, w.b1, at=noon) == "wrong_place"
    assert reason(w.admin, at_a1, w.a1, at=noon) is None
    assert reason(w.admin, at_a1, w.a2, at=noon) == "wrong_place"


def test_a_credential_for_many_places_carries_a_hash_the_tablets_can_check(world):
    from tests.factories import PollingPlaceFactory

    w = world
    many = [w.a1] + [PollingPlaceFactory(county=w.hinds, code=f"M{i}") for i in range(signing.MAX_LISTED_PLACES)]
    credential = issue(w, polling_places=many)
    token = issuing.credential_token(credential)
    claims = signing.verify_token(token, keys.verifying_keys())
    assert claims.scope_type is signing.ScopeType.HASHED
    noon = election_noon(w)
    assert reason(w.worker, token, w.a1, at=noon) is None
    assert reason(w.admin, token, w.a2, at=noon) == "wrong_place"
    # The tablet at A1 learns the hash from scope-hashes/ and can decide offline.
    hashes = client(w.worker).get("/api/v1/credentials/scope-hashes/", {"polling_place": w.a1.pk}).json()
    assert [h["scope_hash"] for h in hashes["scope_hashes"]] == [claims.scope_hash.hex()]
    assert (
        client(w.admin).get("/api/v1/credentials/scope-hashes/", {"polling_place": w.a2.pk}).json()["scope_hashes"]
        == []
    )
    covering = {bytes.fromhex(h["scope_hash"]) for h in hashes["scope_hashes"]}
    assert (
        signing.check_claims(
            claims,
            at=noon,
            election_id=w.general.pk,
            polling_place_id=w.a1.pk,
            county_fips="28049",
            covering_hashes=covering,
        )
        is None
    )


def test_a_genuine_token_without_a_record_is_an_unknown_credential(world):
    w = world
    credential = issue(w)
    token = issuing.credential_token(credential)
    Credential.objects.filter(pk=credential.pk).delete()
    assert reason(w.worker, token, w.a1, at=election_noon(w)) == "unknown_credential"


def test_poll_workers_verify_only_at_their_own_places_and_commissioners_only_in_their_county(world):
    w = world
    token = issuing.credential_token(issue(w))
    body = {"token": token, "polling_place": w.b1.pk}
    response = client(w.worker).post(URL, body, format="json")
    assert response.status_code == 404 and response.json()["code"] == "not_found"
    assert client(w.outsider).post(URL, {"token": token, "polling_place": w.a1.pk}, format="json").status_code == 404
    assert client(w.manager).post(URL, {"token": token, "polling_place": w.a1.pk}, format="json").status_code == 200
    assert client(w.nobody).post(URL, {"token": token, "polling_place": w.a1.pk}, format="json").status_code == 403
    anonymous = client().post(URL, {"token": token, "polling_place": w.a1.pk}, format="json")
    assert anonymous.status_code in (401, 403) and anonymous.json()["code"] == "not_authenticated"
    assert client(w.worker).post(URL, {"token": token}, format="json").status_code == 400
    naive = client(w.worker).post(
        URL, {"token": token, "polling_place": w.a1.pk, "at": "2030-01-01T10:00:00"}, format="json"
    )
    assert naive.status_code == 400 and "at" in naive.json()["errors"]

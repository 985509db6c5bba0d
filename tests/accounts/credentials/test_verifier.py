"""``verification.Verifier``: a batch of tokens is judged on one reading of the keys and of the credentials it names
(two queries, whatever its size), with the same verdicts as one token at a time."""

from __future__ import annotations

import datetime as dt

import pytest

from accounts.audit import Actor
from accounts.credentials import issuing, keys, verification
from polling.geography import selectors as geography_selectors
from tests.credential_helpers import issue

pytestmark = pytest.mark.django_db


def election_noon(w) -> dt.datetime:
    return dt.datetime.combine(w.general.date, dt.time(12), tzinfo=geography_selectors.local_zone(w.hinds))


def test_a_batch_reads_keys_and_credentials_once_and_judges_as_one_at_a_time(world, django_assert_num_queries):
    w = world
    good = [issue(w, holder_name=f"Watcher {i}") for i in range(5)]
    revoked = issue(w, holder_name="Gone")
    issuing.credential_revoke(actor=Actor(user=w.commissioner), credential_id=revoked.pk, reason="Lost badge")
    elsewhere = issue(w, holder_name="Elsewhere", polling_places=[w.a2])
    tokens = [issuing.credential_token(c) for c in [*good, revoked, elsewhere]]
    tokens += ["not-a-token", tokens[0][:-4] + ("AAAA" if not tokens[0].endswith("AAAA") else "BBBB")]
    at = election_noon(w)  # weeks after the revocation
    one_by_one = [
        verification.credential_verify(token=t, polling_place=w.a1, election=w.general, at=at) for t in tokens
    ]
    with django_assert_num_queries(2):  # the keys, and every credential named
        verifier = verification.Verifier.for_tokens(tokens)
    with django_assert_num_queries(0):
        batch = [verifier.verify(token=t, polling_place=w.a1, election=w.general, at=at) for t in tokens]
    assert [(v.valid, v.reason, v.credential and v.credential.pk) for v in batch] == [
        (v.valid, v.reason, v.credential and v.credential.pk) for v in one_by_one
    ]
    assert [v.reason for v in batch] == [None] * 5 + ["revoked", "wrong_place", "malformed", "bad_signature"]


def test_a_verifier_reads_keys_when_made_so_a_retirement_counts_for_the_next_one(world):
    w = world
    token = issuing.credential_token(issue(w))
    at = election_noon(w)
    assert (
        verification.Verifier.for_tokens([token])
        .verify(token=token, polling_place=w.a1, election=w.general, at=at)
        .valid
    )
    old = keys.active_signing_key().key_id
    keys.signing_key_rotate(actor=Actor(user=w.commissioner))
    keys.signing_key_retire(actor=Actor(user=w.commissioner), key_id=old)
    verdict = verification.Verifier.for_tokens([token]).verify(
        token=token, polling_place=w.a1, election=w.general, at=at
    )
    assert (verdict.valid, verdict.reason) == (False, "unknown_key")

"""The database keeps a credential's invariants even when the service is bypassed."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from accounts.models import Credential
from tests.factories import CredentialFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("fields", "constraint"),
    [
        ({"holder_name": ""}, "accounts_credential_holder_named"),
        ({"appointed_by_kind": "", "appointed_by_name": ""}, "accounts_credential_appointer_matches_kind"),
        ({"appointed_by_name": ""}, "accounts_credential_appointer_matches_kind"),
        ({"kind": "federal_observer"}, "accounts_credential_appointer_matches_kind"),
        ({"status": "revoked"}, "accounts_credential_revocation_recorded"),
        ({"revocation_reason": "why"}, "accounts_credential_revocation_recorded"),
        (
            {
                "valid_from": dt.datetime(2030, 1, 2, tzinfo=dt.UTC),
                "valid_until": dt.datetime(2030, 1, 2, tzinfo=dt.UTC),
            },
            "accounts_credential_valid_until_after_from",
        ),
    ],
)
def test_a_broken_invariant_is_refused_by_the_database_and_explained_by_its_constraint(world, fields, constraint):
    w = world
    credential = CredentialFactory.build(county=w.hinds, election=w.general, **fields)
    [rule] = [c for c in Credential._meta.constraints if c.name == constraint]
    with pytest.raises(ValidationError) as info:
        credential.validate_constraints()
    assert rule.violation_error_message in info.value.messages
    with pytest.raises(IntegrityError, match=constraint), transaction.atomic():
        credential.save()
    assert Credential.objects.count() == 0


def test_serials_are_unique(world):
    w = world
    first = CredentialFactory(county=w.hinds, election=w.general)
    with pytest.raises(IntegrityError), transaction.atomic():
        CredentialFactory(county=w.hinds, election=w.general, serial=first.serial)


def test_a_revoked_credential_records_when_and_why_and_expiry_is_derived(world):
    w = world
    credential = CredentialFactory(county=w.hinds, election=w.general)
    assert credential.display_status() == "active"
    assert credential.display_status(credential.valid_until) == "expired"
    credential.status = "revoked"
    credential.revoked_at = credential.valid_from
    credential.revocation_reason = "lost"
    credential.full_clean()
    credential.save()
    assert credential.display_status() == "revoked"

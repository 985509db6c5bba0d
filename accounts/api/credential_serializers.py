"""Input and output shapes of the credentials API. Input serializers only parse and check types; the rules live in
``accounts.credentials.issuing``. Output serializers decide what each audience may see."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.utils import timezone
from rest_framework import serializers

from accounts.credentials import signing
from accounts.models import Credential


class AwareDateTimeField(serializers.DateTimeField):
    """An ISO 8601 date-time that must carry its UTC offset: a credential's hours are never guessed."""

    default_error_messages = {"naive": "Give a UTC offset (e.g. 2026-11-03T07:00:00-06:00 or …Z)."}

    def enforce_timezone(self, value: dt.datetime) -> dt.datetime:
        if timezone.is_naive(value):
            self.fail("naive")
        return super().enforce_timezone(value)


class CredentialIssueIn(serializers.Serializer):
    kind = serializers.ChoiceField(choices=Credential.Kind.choices)
    holder_name = serializers.CharField(max_length=200)
    appointed_by_kind = serializers.ChoiceField(
        choices=Credential.AppointedBy.choices, required=False, allow_blank=True, default=""
    )
    appointed_by_name = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    election = serializers.IntegerField(min_value=1, max_value=2**63 - 1)
    county = serializers.RegexField(r"^\d{5}$", required=False, help_text="5-digit county FIPS code.")
    polling_places = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=2**63 - 1),
        required=False,
        default=list,
        max_length=500,
        help_text="Polling place ids (all in one county); empty or absent: county-wide.",
    )
    valid_from = AwareDateTimeField(required=False, help_text="Default: local midnight starting election day.")
    valid_until = AwareDateTimeField(required=False, help_text="Exclusive. Default: the midnight ending election day.")


class RevokeIn(serializers.Serializer):
    reason = serializers.CharField(max_length=500)


class VerifyIn(serializers.Serializer):
    token = serializers.CharField(max_length=1024, trim_whitespace=True)
    polling_place = serializers.IntegerField(min_value=1, max_value=2**63 - 1)
    election = serializers.IntegerField(
        min_value=1, max_value=2**63 - 1, required=False, help_text="Default: the place's upcoming election."
    )
    at = AwareDateTimeField(required=False, help_text="When the token was presented (default: now).")


def _place(p: Any) -> dict[str, Any]:
    return {"id": p.pk, "code": p.code, "name": p.name}


class CredentialOut(serializers.Serializer):
    """For the commissioners and administrators who issued it."""

    def to_representation(self, c: Credential) -> dict[str, Any]:
        places = sorted(c.polling_places.all(), key=lambda p: p.pk)
        return {
            "id": c.pk,
            "serial": c.serial,
            "serial_display": signing.format_serial(c.serial),
            "kind": c.kind,
            "holder_name": c.holder_name,
            "appointed_by_kind": c.appointed_by_kind or None,
            "appointed_by_name": c.appointed_by_name or None,
            "election": {"id": c.election_id, "name": c.election.name, "date": c.election.date.isoformat()},
            "county": {"fips": c.county.fips, "name": c.county.name},
            "scope": "places" if places else "county",
            "polling_places": [_place(p) for p in places],
            "valid_from": c.valid_from.isoformat().replace("+00:00", "Z"),
            "valid_until": c.valid_until.isoformat().replace("+00:00", "Z"),
            "status": c.display_status(self.context.get("now")),
            "issued_by": c.issued_by.get_username() if c.issued_by else None,
            "issued_at": c.issued_at.isoformat().replace("+00:00", "Z"),
            "revoked_by": c.revoked_by.get_username() if c.revoked_by else None,
            "revoked_at": c.revoked_at.isoformat().replace("+00:00", "Z") if c.revoked_at else None,
            "revocation_reason": c.revocation_reason or None,
        }


class CredentialForPollWorkerOut(serializers.Serializer):
    """What a poll worker needs to match the person in front of them, and no more."""

    def to_representation(self, c: Credential) -> dict[str, Any]:
        return {
            "serial": c.serial,
            "kind": c.kind,
            "holder_name": c.holder_name,
            "appointed_by_kind": c.appointed_by_kind or None,
            "appointed_by_name": c.appointed_by_name or None,
        }

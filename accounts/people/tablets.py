"""Tablets (devices) of polling places: a commissioner makes a single-use enrolment code, the tablet spends it for
its own id and secret, and revoking a tablet ends every session on it. Codes and secrets are shown once and
stored as hashes; unknown codes count against the client address like failed sign-ins."""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.audit import Actor, audit_record
from accounts.authentication import DEVICE_SECRET_PREFIX, secret_hash
from accounts.models import ApiSession, Device, EnrolmentCode, LoginFailure
from accounts.models.validators import require_printable
from accounts.people.lockout import attempt_begin, attempt_failed
from accounts.people.sessions import sessions_end
from accounts.people.validation import require_election_at_place
from common.errors import DomainError
from common.validation import full_clean
from polling.models import Election, PollingPlace

#: Crockford's base32: no I, L, O or U, so a code read aloud or typed from paper survives.
ENROLMENT_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
ENROLMENT_CODE_LENGTH = 10  # 50 random bits, for a code that lives 15 minutes behind a per-address lockout
#: Letters a person may type for the digits they look like.
_READ_AS = str.maketrans("OIL", "011")


def device_snapshot(device: Device) -> dict[str, Any]:
    """What the audit trail records of a tablet (never its secret or the secret's hash)."""
    return {
        "kind": device.kind,
        "label": device.label,
        "polling_place": device.polling_place_id,
        "election": device.election_id,
        "revoked_at": device.revoked_at,
        "revoke_reason": device.revoke_reason,
    }


def normalise_enrolment_code(raw: str) -> str:
    code = "".join(raw.split()).replace("-", "").upper()
    return code.translate(_READ_AS)


@transaction.atomic
def enrolment_code_create(
    *, actor: Actor, polling_place: PollingPlace, label: str, election: Election | None = None
) -> tuple[EnrolmentCode, str]:
    """A single-use code (shown once) with which one tablet can enrol itself at ``polling_place``. A label holding
    control or format characters is refused (``unprintable_characters``)."""
    require_printable(label=label)
    if election is not None:
        require_election_at_place(election=election, polling_place=polling_place)
    raw = "".join(secrets.choice(ENROLMENT_ALPHABET) for _ in range(ENROLMENT_CODE_LENGTH))
    now = timezone.now()
    enrolment = EnrolmentCode(
        code_hash=secret_hash(raw),
        polling_place=polling_place,
        election=election,
        label=label,
        created_by=actor.user,
        created_at=now,
        expires_at=now + timedelta(seconds=settings.AUTH_ENROLMENT_CODE_TTL_S),
    )
    full_clean(enrolment, exclude=["code_hash"])
    enrolment.save(force_insert=True)
    audit_record(
        actor=actor,
        action="device.enrolment_code_created",
        obj=enrolment,
        after={
            "polling_place": polling_place.pk,
            "election": election.pk if election else None,
            "label": label,
            "expires_at": enrolment.expires_at,
        },
    )
    return enrolment, f"{raw[:5]}-{raw[5:]}"


#: Why an enrolment code was refused: the refusal's code and detail.
_ENROL_REFUSALS = {
    "used": ("enrolment_code_used", "This enrolment code has already been used."),
    "expired": ("enrolment_code_expired", "This enrolment code has expired; ask for a new one."),
    "unknown": ("invalid_enrolment_code", "Unknown enrolment code."),
}


def device_enrol(*, code: str, ip: str | None = None) -> tuple[Device, str]:
    """Spend an enrolment code: a new tablet and its secret (shown once). Unknown codes count against the client
    address like failed sign-ins."""
    actor = Actor(user=None, ip_address=ip)
    attempt = attempt_begin(kind=LoginFailure.Kind.ENROL, username="", ip=ip)
    normalised = normalise_enrolment_code(code)
    now = timezone.now()
    outcome, enrolment, result = "unknown", None, None
    with transaction.atomic():
        if len(normalised) == ENROLMENT_CODE_LENGTH:
            enrolment = EnrolmentCode.objects.select_for_update().filter(code_hash=secret_hash(normalised)).first()
        if enrolment is None:
            outcome = "unknown"
        elif enrolment.used_at is not None:
            outcome = "used"
        elif enrolment.expires_at <= now:
            outcome = "expired"
        else:
            secret = DEVICE_SECRET_PREFIX + secrets.token_urlsafe(32)
            device = Device(
                polling_place_id=enrolment.polling_place_id,
                election_id=enrolment.election_id,
                label=enrolment.label,
                secret_hash=secret_hash(secret),
                enrolled_by_id=enrolment.created_by_id,
                enrolled_at=now,
            )
            device.save(force_insert=True)
            enrolment.used_at = now
            enrolment.device = device
            enrolment.save(update_fields=["used_at", "device"])
            actor = Actor(user=None, ip_address=ip, device=str(device.pk))
            audit_record(actor=actor, action="device.enrolled", obj=device, after=device_snapshot(device))
            LoginFailure.objects.filter(pk=attempt.pk).delete()
            result = (device, secret)
    if result is not None:
        return result
    attempt_failed(
        attempt=attempt,
        reason={"unknown": LoginFailure.Reason.BAD_CODE}.get(outcome, outcome),
        counted=outcome == "unknown",
        actor=actor,
        user=None,
        action="device.enrol_failed",
        object_type="accounts.enrolmentcode",
        object_id=str(enrolment.pk) if enrolment else "",
    )
    refusal, detail = _ENROL_REFUSALS[outcome]
    raise DomainError(detail, refusal, field="code")


@transaction.atomic
def device_revoke(*, actor: Actor, device: Device, reason: str) -> Device:
    """Revoke a tablet and end every session on it. Revoking a revoked tablet changes nothing."""
    device = Device.objects.select_for_update().get(pk=device.pk)
    if device.revoked_at is None:
        before = device_snapshot(device)
        device.revoked_at = timezone.now()
        device.revoked_by = actor.user
        device.revoke_reason = reason.strip()
        full_clean(device, exclude=["secret_hash"])
        device.save(update_fields=["revoked_at", "revoked_by", "revoke_reason"])
        audit_record(actor=actor, action="device.revoked", obj=device, before=before, after=device_snapshot(device))
    sessions_end(
        actor=actor, sessions=ApiSession.objects.filter(device=device), reason=ApiSession.EndReason.DEVICE_REVOKED
    )
    return device

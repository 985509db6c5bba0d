"""Role grants: giving and ending them (who may give or end which role where: ``selectors.may_administer_grant``;
to whom: ``selectors.users_grantable``, which weighs every role the person already holds). A grant counts from its
holder's next request (scopes are read afresh on every request); ended grants are kept."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from accounts.audit import Actor, audit_record
from accounts.models import RoleGrant, User
from accounts.people.selectors import may_administer_grant, may_grant_to
from accounts.people.validation import require_election_at_place
from accounts.scopes import Scope
from common.errors import DomainError
from common.validation import full_clean
from polling.models import County, Election, Jurisdiction, PollingPlace


def grant_snapshot(grant: RoleGrant) -> dict[str, Any]:
    """What the audit trail records of a role grant."""
    return {
        "user": grant.user_id,
        "role": grant.role,
        "jurisdiction": grant.jurisdiction_id,
        "county": grant.county_id,
        "polling_place": grant.polling_place_id,
        "election": grant.election_id,
        "ended_at": grant.ended_at,
    }


@transaction.atomic
def grant_create(
    *,
    actor: Actor,
    scope: Scope,
    user: User,
    role: str,
    jurisdiction: Jurisdiction | None = None,
    county: County | None = None,
    polling_place: PollingPlace | None = None,
    election: Election | None = None,
) -> RoleGrant:
    """Give ``user`` a role; it counts from their next request. A user outside the caller's reach (someone holding
    a role the caller could not have given, a superuser, an admin-site member …) is ``not_found``, exactly like an
    unknown id; the reach is checked again once the user is locked, so a role given elsewhere meanwhile counts."""
    held: dict[str, Any] = {
        "user": user,
        "role": role,
        "jurisdiction": jurisdiction,
        "county": county,
        "polling_place": polling_place,
        "election": election,
    }
    grant = RoleGrant(**held, granted_by=actor.user)
    if not may_administer_grant(scope, grant):
        raise DomainError("Your role cannot grant this role here.", "cannot_grant_role")
    if actor.user is not None and user.pk == actor.user.pk:
        raise DomainError("You cannot grant yourself a role.", "self_grant", field="user")
    if polling_place is not None and election is not None:
        require_election_at_place(election=election, polling_place=polling_place)
    # Serialise grants to one user, so that two requests cannot both add the same role.
    locked = User.objects.select_for_update().get(pk=user.pk)
    if not may_grant_to(scope, locked):
        raise DomainError("Not found.", "not_found")
    if not locked.is_active:
        raise DomainError("This user is disabled.", "user_disabled", field="user")
    if RoleGrant.objects.filter(**held, ended_at__isnull=True).exists():
        raise DomainError("The user already holds this role here.", "duplicate_grant")
    full_clean(grant)
    grant.save(force_insert=True)
    audit_record(actor=actor, action="grant.created", obj=grant, after=grant_snapshot(grant))
    return grant


@transaction.atomic
def grant_end(*, actor: Actor, grant: RoleGrant) -> RoleGrant:
    """End a role grant (kept for the record); it stops counting from the holder's next request."""
    grant = RoleGrant.objects.select_for_update().get(pk=grant.pk)
    if grant.ended_at is None:
        before = grant_snapshot(grant)
        grant.ended_at = timezone.now()
        grant.save(update_fields=["ended_at"])
        audit_record(actor=actor, action="grant.ended", obj=grant, before=before, after=grant_snapshot(grant))
    return grant

"""Reads of people and access, scoped to the caller: each returns only rows inside the caller's ``Scope``.

What a caller sees:
- role grants: their own; a commissioner's, those at polling places of their county (and the county's commissioner
  grants); an administrator's, every grant in their state;
- users: themselves and anyone holding an active grant the caller sees;
- sessions: their own and those of the users they see;
- tablets: those at polling places of counties they administer.

Seeing is not managing: ending someone's session or disabling them needs authority over every role they hold
(``may_manage_user``), so a commissioner cannot disable a fellow commissioner or an administrator.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Q, QuerySet

from accounts.models import ApiSession, Device, RoleGrant, User
from accounts.people.services import may_administer_grant
from accounts.scopes import Scope
from polling.models import County, Election, Jurisdiction, PollingPlace


def _grants_q(scope: Scope) -> Q:
    q = Q(pk__in=[])
    if scope.jurisdictions:
        q |= (
            Q(jurisdiction_id__in=scope.jurisdictions)
            | Q(county__jurisdiction_id__in=scope.jurisdictions)
            | Q(polling_place__county__jurisdiction_id__in=scope.jurisdictions)
        )
    if scope.counties:
        q |= Q(county_id__in=scope.counties) | Q(polling_place__county_id__in=scope.counties)
    return q


def grants_visible(scope: Scope) -> QuerySet[RoleGrant]:
    if scope.user_id is None:
        return RoleGrant.objects.none()
    return RoleGrant.objects.filter(Q(user_id=scope.user_id) | _grants_q(scope)).select_related(
        "user", "jurisdiction", "county", "polling_place__county", "election", "granted_by"
    )


def users_visible(scope: Scope) -> QuerySet[User]:
    if scope.user_id is None:
        return User.objects.none()
    held = RoleGrant.objects.filter(_grants_q(scope), ended_at__isnull=True).values("user_id")
    return User.objects.filter(Q(pk=scope.user_id) | Q(pk__in=held))


def may_manage_user(scope: Scope, user: User) -> bool:
    """Whether the caller may end this user's sessions or disable them: someone else, holding at least one active
    role, every one of which the caller could have granted."""
    if scope.user_id is None or user.pk == scope.user_id:
        return False
    grants = list(
        RoleGrant.objects.filter(user=user, ended_at__isnull=True).select_related("county", "polling_place__county")
    )
    return bool(grants) and all(may_administer_grant(scope, grant) for grant in grants)


def sessions_visible(scope: Scope) -> QuerySet[ApiSession]:
    if scope.user_id is None:
        return ApiSession.objects.none()
    return ApiSession.objects.filter(user__in=users_visible(scope)).select_related("user")


def devices_visible(scope: Scope) -> QuerySet[Device]:
    return Device.objects.filter(scope.county_q("polling_place__")).select_related("polling_place", "election")


def polling_places_administered(scope: Scope) -> QuerySet[PollingPlace]:
    return PollingPlace.objects.filter(scope.county_q()).select_related("county")


def jurisdictions_administered(scope: Scope) -> QuerySet[Jurisdiction]:
    return Jurisdiction.objects.filter(pk__in=scope.jurisdictions)


def counties_administered(scope: Scope) -> QuerySet[County]:
    return scope.counties_qs()


def elections_visible(scope: Scope) -> QuerySet[Election]:
    """Elections of the states the caller administers, or in which they are a commissioner."""
    if not scope.is_staff_admin:
        return Election.objects.none()
    states = County.objects.filter(pk__in=scope.counties).values("jurisdiction_id")
    return Election.objects.filter(Q(jurisdiction_id__in=scope.jurisdictions) | Q(jurisdiction_id__in=states))


def active_roles(user: Any) -> QuerySet[RoleGrant]:
    return RoleGrant.objects.filter(user=user, ended_at__isnull=True).select_related(
        "jurisdiction", "county", "polling_place", "election"
    )


__all__ = [
    "active_roles",
    "counties_administered",
    "devices_visible",
    "elections_visible",
    "grants_visible",
    "jurisdictions_administered",
    "may_manage_user",
    "polling_places_administered",
    "sessions_visible",
    "users_visible",
]

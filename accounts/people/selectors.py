"""Reads of people and access, scoped to the caller: each returns only rows inside the caller's ``Scope``.

What a caller sees:
- role grants: their own; a commissioner's, those at polling places of their county (and the county's commissioner
  grants); an administrator's, every grant in their state;
- users: themselves and anyone holding an active grant the caller sees;
- sessions: their own and those of the users they manage (``users_manageable``);
- shared-logon flags: likewise, their own and those of the users they manage;
- tablets: those at polling places of counties they administer (a tablet belongs to a place, not to a person).

Outside one's scope an object does not exist: the ``…_get`` and ``…_to_…`` selectors refuse with ``not_found``.

Seeing is not managing. Who may be given a role, disabled, or have their sessions read or ended is decided by every
role the person holds, not only by the one the caller sees (``users_manageable`` / ``may_manage_user``, the one
rule; ``users_grantable`` adds newcomers for a first grant):

- a person is managed by a caller who could have given every one of their active grants (``may_administer_grant``):
  an administrator manages the people whose every active grant lies in their state, a commissioner the poll
  managers and workers whose every active grant is at polling places of their county; never oneself;
- nobody below a state administrator manages a superuser, a member of the admin site (``is_staff``) or an
  administrator (a commissioner never administers an administrator's grant); a state administrator manages a
  superuser or an admin-site member only while that person holds an active grant, every one in their state — a
  superuser or admin-site member holding no active grant is managed in the admin site only;
- a person with no active grant (a newcomer made in the admin site, or someone whose roles have all ended) belongs
  to no county yet: they may be given a first role by any administrator or commissioner who could have given every
  grant they ever held (a newcomer has none), and from that grant on they are managed as above — by that county's
  commissioners and that state's administrators. Until then nobody below the admin site disables them or reads
  their sessions (``users_manageable`` needs an active grant). This keeps the documented flow, a commissioner
  making a newcomer a poll worker, while a grant can no longer pull anyone with a role elsewhere into a county.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.conf import settings
from django.db.models import Q, QuerySet
from django.utils import timezone

from accounts.models import ApiSession, Device, Role, RoleGrant, SharedLogonFlag, User
from accounts.scopes import Scope
from common.errors import DomainError
from polling.geography.selectors import local_zone
from polling.models import County, Election, Jurisdiction, PollingPlace

POLL_ROLES = (Role.POLL_MANAGER, Role.POLL_WORKER)


def _not_found() -> DomainError:
    return DomainError("Not found.", "not_found")


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


def may_administer_grant(scope: Scope, grant: RoleGrant) -> bool:
    """Whether the caller may create or end ``grant``: an administrator any role in their state; a commissioner
    poll-manager and poll-worker roles at polling places of their county."""
    if grant.role == Role.STATE_ADMIN:
        return grant.jurisdiction_id in scope.jurisdictions
    if grant.role == Role.COMMISSIONER:
        return grant.county is not None and grant.county.jurisdiction_id in scope.jurisdictions
    place = grant.polling_place
    return place is not None and (
        place.county_id in scope.counties or place.county.jurisdiction_id in scope.jurisdictions
    )


def grants_visible(scope: Scope) -> QuerySet[RoleGrant]:
    if scope.user_id is None:
        return RoleGrant.objects.none()
    return RoleGrant.objects.filter(Q(user_id=scope.user_id) | _grants_q(scope)).select_related(
        "user", "jurisdiction", "county", "polling_place__county", "election", "granted_by"
    )


def grant_list(
    scope: Scope, *, user_id: int | None = None, role: str | None = None, include_ended: bool = False
) -> QuerySet[RoleGrant]:
    """The grants the caller sees, of one user and one role when given; only active ones unless ``include_ended``."""
    grants = grants_visible(scope)
    if user_id is not None:
        grants = grants.filter(user_id=user_id)
    if role is not None:
        grants = grants.filter(role=role)
    if not include_ended:
        grants = grants.filter(ended_at__isnull=True)
    return grants.order_by("pk")


def grant_to_end(scope: Scope, pk: int) -> RoleGrant:
    """A grant the caller sees and could have given (else ``cannot_grant_role``)."""
    grant = grants_visible(scope).filter(pk=pk).first()
    if grant is None:
        raise _not_found()
    if not may_administer_grant(scope, grant):
        raise DomainError("Your role cannot end this grant.", "cannot_grant_role")
    return grant


def users_visible(scope: Scope) -> QuerySet[User]:
    if scope.user_id is None:
        return User.objects.none()
    held = RoleGrant.objects.filter(_grants_q(scope), ended_at__isnull=True).values("user_id")
    return User.objects.filter(Q(pk=scope.user_id) | Q(pk__in=held))


def _administrable_q(scope: Scope) -> Q:
    """The grants the caller could have given (``may_administer_grant`` as a query)."""
    q = Q(pk__in=[])
    if scope.jurisdictions:
        q |= (
            Q(role=Role.STATE_ADMIN, jurisdiction_id__in=scope.jurisdictions)
            | Q(role=Role.COMMISSIONER, county__jurisdiction_id__in=scope.jurisdictions)
            | Q(role__in=POLL_ROLES, polling_place__county__jurisdiction_id__in=scope.jurisdictions)
        )
    if scope.counties:
        q |= Q(role__in=POLL_ROLES, polling_place__county_id__in=scope.counties)
    return q


def _reach(scope: Scope, *, newcomers: bool) -> QuerySet[User]:
    if scope.user_id is None or not scope.is_staff_admin:
        return User.objects.none()
    administrable = _administrable_q(scope)
    active = RoleGrant.objects.filter(ended_at__isnull=True)
    holding = active.values("user_id")
    beyond = active.exclude(administrable).values("user_id")
    users = User.objects.exclude(pk=scope.user_id).exclude(pk__in=beyond)
    with_role = Q(pk__in=holding)
    if newcomers:
        ended_beyond = RoleGrant.objects.filter(ended_at__isnull=False).exclude(administrable).values("user_id")
        users = users.filter(with_role | (~Q(pk__in=holding) & ~Q(pk__in=ended_beyond)))
    else:
        users = users.filter(with_role)
    admin_site = Q(is_superuser=True) | Q(is_staff=True)
    if scope.jurisdictions:
        # A superuser or admin-site member only while they hold an active grant, every one in the caller's state.
        return users.exclude(admin_site & ~with_role)
    return users.exclude(admin_site)


def users_manageable(scope: Scope) -> QuerySet[User]:
    """The people the caller manages (disables, whose sessions they read and end): holding at least one active
    grant, every one of which the caller could have given; never the caller; a superuser or admin-site member only
    for a state administrator (see the module's docstring)."""
    return _reach(scope, newcomers=False)


def users_grantable(scope: Scope) -> QuerySet[User]:
    """The people the caller may give a role to: those they manage, and people holding no active grant who never
    held one the caller could not have given (newcomers), never a superuser or admin-site member below a state
    administrator. (Whether the caller may give that role there is ``may_administer_grant``.)"""
    return _reach(scope, newcomers=True)


def may_manage_user(scope: Scope, user: User) -> bool:
    """Whether the caller may end this user's sessions, read them, or disable them (``users_manageable``)."""
    return users_manageable(scope).filter(pk=user.pk).exists()


def may_grant_to(scope: Scope, user: User) -> bool:
    """Whether the caller may give this user a role (``users_grantable``)."""
    return users_grantable(scope).filter(pk=user.pk).exists()


def user_to_grant(scope: Scope, pk: int) -> User:
    """The user a role is to be given to: the caller themselves (refused by the service as ``self_grant``) or
    someone in ``users_grantable``; anyone else, like an unknown id, is ``not_found``."""
    if pk == scope.user_id:
        return User.objects.get(pk=pk)
    user = users_grantable(scope).filter(pk=pk).first()
    if user is None:
        raise _not_found()
    return user


def user_to_disable(scope: Scope, pk: int) -> User:
    """A user the caller sees, who is not the caller (``cannot_disable_self``) and whom they may manage (else
    ``insufficient_authority``)."""
    user = users_visible(scope).filter(pk=pk).first()
    if user is None:
        raise _not_found()
    if user.pk == scope.user_id:
        raise DomainError("You cannot disable yourself.", "cannot_disable_self")
    if not may_manage_user(scope, user):
        raise DomainError("You cannot disable this user.", "insufficient_authority")
    return user


def sessions_visible(scope: Scope) -> QuerySet[ApiSession]:
    if scope.user_id is None:
        return ApiSession.objects.none()
    return ApiSession.objects.filter(user__in=users_visible(scope)).select_related("user")


def session_list(scope: Scope, *, user_id: int | None = None, include_ended: bool = False) -> QuerySet[ApiSession]:
    """The sessions of the caller, or of ``user_id`` when that is the caller or someone they manage (else
    ``not_found``: addresses, user agents and device ids are read only by those who manage the person), newest
    first; only live ones unless ``include_ended``."""
    if user_id is not None and user_id != scope.user_id and not users_manageable(scope).filter(pk=user_id).exists():
        raise _not_found()
    owner = scope.user_id if user_id is None else user_id
    if owner is None:
        return ApiSession.objects.none()
    sessions = sessions_visible(scope).filter(user_id=owner)
    if not include_ended:
        sessions = sessions.filter(ended_at__isnull=True, expires_at__gt=timezone.now())
    return sessions.order_by("-created_at", "-pk")


def session_to_end(scope: Scope, pk: int) -> ApiSession:
    """A session the caller sees: their own, or one of a user they may manage (else ``insufficient_authority``)."""
    session = sessions_visible(scope).filter(pk=pk).first()
    if session is None:
        raise _not_found()
    if session.user_id != scope.user_id and not may_manage_user(scope, session.user):
        raise DomainError("You cannot end this user's sessions.", "insufficient_authority")
    return session


def shared_logons_visible(scope: Scope) -> QuerySet[SharedLogonFlag]:
    """Shared-logon flags of the caller and of the people they manage (``users_manageable``): a commissioner sees
    those of the poll managers and workers of their county, a state administrator those of their state. Flags name
    device ids and addresses, which only those who manage the person read (as with sessions)."""
    if scope.user_id is None:
        return SharedLogonFlag.objects.none()
    return SharedLogonFlag.objects.filter(
        Q(user_id=scope.user_id) | Q(user__in=users_manageable(scope))
    ).select_related("user")


def shared_logon_list(
    scope: Scope, *, user_id: int | None = None, since: dt.datetime | None = None
) -> QuerySet[SharedLogonFlag]:
    """The flags the caller sees, of one user and detected at or after ``since`` when given, newest first."""
    flags = shared_logons_visible(scope)
    if user_id is not None:
        flags = flags.filter(user_id=user_id)
    if since is not None:
        flags = flags.filter(detected_at__gte=since)
    return flags.prefetch_related("sessions").order_by("-detected_at", "-pk")


def shared_logon_get(scope: Scope, pk: int) -> SharedLogonFlag:
    flag = shared_logon_list(scope).filter(pk=pk).first()
    if flag is None:
        raise _not_found()
    return flag


def shared_logons_since(since: dt.datetime) -> QuerySet[SharedLogonFlag]:
    """Every shared logon detected at or after ``since``, oldest first, unscoped: what the security report counts
    (``.count()``) and lists. Not for a caller's request: use ``shared_logon_list``."""
    return SharedLogonFlag.objects.filter(detected_at__gte=since).select_related("user").order_by("detected_at", "pk")


def devices_visible(scope: Scope) -> QuerySet[Device]:
    return Device.objects.filter(scope.county_q("polling_place__")).select_related("polling_place", "election")


def device_list(
    scope: Scope, *, polling_place_id: int | None = None, include_revoked: bool = False
) -> QuerySet[Device]:
    """The caller's tablets, of one polling place when given; only unrevoked ones unless ``include_revoked``."""
    devices = devices_visible(scope)
    if polling_place_id is not None:
        devices = devices.filter(polling_place_id=polling_place_id)
    if not include_revoked:
        devices = devices.filter(revoked_at__isnull=True)
    return devices.order_by("polling_place_id", "label", "enrolled_at")


def device_get(scope: Scope, pk: Any) -> Device:
    device = devices_visible(scope).filter(pk=pk).first()
    if device is None:
        raise _not_found()
    return device


def tablet_signin_grants(*, user: User, device: Device) -> QuerySet[RoleGrant]:
    """The user's poll-manager/worker grants that let them sign in on this tablet: at its polling place (and its
    election, if it is bound to one), for an election held today or within ``AUTH_TABLET_SIGNIN_LEAD_DAYS`` days,
    "today" being the date at the polling place."""
    today = timezone.localdate(timezone=local_zone(device.polling_place.county))
    grants = RoleGrant.objects.filter(
        user=user,
        ended_at__isnull=True,
        role__in=POLL_ROLES,
        polling_place_id=device.polling_place_id,
        election__date__gte=today,
        election__date__lte=today + dt.timedelta(days=settings.AUTH_TABLET_SIGNIN_LEAD_DAYS),
    )
    if device.election_id is not None:
        grants = grants.filter(election_id=device.election_id)
    return grants


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
    "device_get",
    "device_list",
    "devices_visible",
    "elections_visible",
    "grant_list",
    "grant_to_end",
    "grants_visible",
    "jurisdictions_administered",
    "may_administer_grant",
    "may_grant_to",
    "may_manage_user",
    "polling_places_administered",
    "session_list",
    "session_to_end",
    "sessions_visible",
    "shared_logon_get",
    "shared_logon_list",
    "shared_logons_since",
    "shared_logons_visible",
    "tablet_signin_grants",
    "user_to_disable",
    "user_to_grant",
    "users_grantable",
    "users_manageable",
    "users_visible",
]

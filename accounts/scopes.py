"""What a signed-in user may see and do, computed afresh from their active role grants on every request.

Selectors take the caller's ``Scope`` and return only rows inside it; outside one's scope an object does not exist
(views answer 404, never 403, so ids cannot be probed).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.db.models import Q, QuerySet

from accounts.models import Role, RoleGrant
from common.statements import Param, Statement

#: A user's active grants, read on every staff request: one statement compiled once per process
#: (``common.statements``; the rows are read afresh every time).
_GRANTS = Statement.select(
    RoleGrant,
    lambda: (
        RoleGrant.objects.filter(user_id=Param("user_id", RoleGrant._meta.get_field("user")), ended_at__isnull=True)
        .order_by()
        .values_list("role", "jurisdiction_id", "county_id", "polling_place_id", "election_id")
    ),
)


@dataclass(frozen=True)
class Scope:
    """The union of a user's active grants, as sets of ids."""

    user_id: int | None
    jurisdictions: frozenset[int] = frozenset()  # state administrator
    counties: frozenset[int] = frozenset()  # commissioner
    places: frozenset[tuple[int, int]] = frozenset()  # (polling place, election) for poll managers and workers
    managed_places: frozenset[tuple[int, int]] = frozenset()  # the subset held as poll manager
    roles: frozenset[str] = field(default_factory=frozenset)

    @classmethod
    def for_user(cls, user: Any) -> Scope:
        if user is None or not user.is_authenticated or not user.is_active:
            return cls(user_id=None)
        jurisdictions: set[int] = set()
        counties: set[int] = set()
        places: set[tuple[int, int]] = set()
        managed: set[tuple[int, int]] = set()
        roles: set[str] = set()
        for role, jurisdiction_id, county_id, polling_place_id, election_id in _GRANTS.rows(user_id=user.pk):
            roles.add(role)
            # The constraint ``accounts_grant_scope_matches_role`` keeps each role's scope ids set.
            if role == Role.STATE_ADMIN:
                if jurisdiction_id is not None:
                    jurisdictions.add(jurisdiction_id)
            elif role == Role.COMMISSIONER:
                if county_id is not None:
                    counties.add(county_id)
            elif polling_place_id is not None and election_id is not None:
                places.add((polling_place_id, election_id))
                if role == Role.POLL_MANAGER:
                    managed.add((polling_place_id, election_id))
        return cls(
            user_id=user.pk,
            jurisdictions=frozenset(jurisdictions),
            counties=frozenset(counties),
            places=frozenset(places),
            managed_places=frozenset(managed),
            roles=frozenset(roles),
        )

    @property
    def is_staff_admin(self) -> bool:
        """Administers geography or credentials somewhere: a state administrator or a county commissioner."""
        return bool(self.jurisdictions or self.counties)

    def county_q(self, prefix: str = "") -> Q:
        """Rows whose county (reached through ``prefix``, e.g. ``"polling_place__"``) is administered by the caller."""
        if not self.is_staff_admin:
            return Q(pk__in=[])
        return Q(**{f"{prefix}county_id__in": self.counties}) | Q(
            **{f"{prefix}county__jurisdiction_id__in": self.jurisdictions}
        )

    def counties_qs(self) -> QuerySet[Any]:
        from polling.models import County

        if not self.is_staff_admin:
            return County.objects.none()
        return County.objects.filter(Q(pk__in=self.counties) | Q(jurisdiction_id__in=self.jurisdictions))

    def administers_county(self, county: Any) -> bool:
        return county.pk in self.counties or county.jurisdiction_id in self.jurisdictions

    def works_at(self, polling_place_id: int, election_id: int) -> bool:
        return (polling_place_id, election_id) in self.places

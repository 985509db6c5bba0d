"""Admin registrations of the polling app: geography and elections, then election day, then what imports kept
with a defect (scoped to the counties the signed-in person administers)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from accounts.scopes import Scope
from common.admin import DeferringChangeList
from polling.election_day import admin as election_day_admin
from polling.geography import admin as geography_admin
from polling.models import ImportWarning

__all__ = ["ImportWarningAdmin", "election_day_admin", "geography_admin"]


@admin.register(ImportWarning)
class ImportWarningAdmin(admin.ModelAdmin):  # type: ignore[type-arg]  # as common.admin
    """What an import kept despite a defect (a location without coordinates), for a commissioner to follow up.

    Scoped like every staff read: a commissioner sees the warnings of their counties, a state administrator those of
    their state, a superuser all; anyone else, none (a warning outside one's scope does not exist: no 403 that would
    confirm its id). Written only by imports; a commissioner deletes one once it is dealt with.
    """

    list_display = ("subject", "code", "county", "polling_place", "source", "updated_at")
    list_filter = ("code",)
    list_select_related = ("county", "polling_place")
    list_defer = (
        "county__boundary",
        "polling_place__location",
        "polling_place__building",
        "polling_place__accessibility_notes",
    )
    search_fields = ("subject", "message", "polling_place__code", "polling_place__name", "=county__fips")
    ordering = ("county__fips", "code", "subject")
    fields = ("county", "polling_place", "code", "subject", "source", "message", "created_at", "updated_at")
    readonly_fields = fields

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type[DeferringChangeList]:
        return DeferringChangeList

    @staticmethod
    def _scope(request: HttpRequest) -> Scope:
        return Scope.for_user(request.user)

    def get_queryset(self, request: HttpRequest) -> QuerySet[ImportWarning]:
        qs = super().get_queryset(request).defer("county__boundary")
        if request.user.is_superuser:
            return qs
        return qs.filter(self._scope(request).county_q())

    def _may_see(self, request: HttpRequest) -> bool:
        user = request.user
        return bool(user.is_active and user.is_staff and (user.is_superuser or self._scope(request).is_staff_admin))

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self._may_see(request)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._may_see(request)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._may_see(request)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

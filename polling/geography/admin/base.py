"""What every geography admin page shares: the geography version bump on each write, changelists and autocomplete
without geometry, row counts as correlated subqueries, the read-only bounding box and the scoped county filter."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from django.contrib import admin
from django.contrib.admin.views.main import ChangeList
from django.db import transaction
from django.db.models import Count, IntegerField, OuterRef, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.http import HttpRequest
from shapely.geometry.base import BaseGeometry

from common.admin import DeferringChangeList
from common.api.parsing import is_identifier
from polling.geography.services import geography_version_bump
from polling.models import County, PollingPlace, Precinct

#: Counties are listed in a changelist's sidebar filter without choosing a state first only up to this many.
UNSCOPED_COUNTY_CHOICES = 100

#: Geometry columns of each model, left unloaded wherever only a row's label is shown.
_GEOMETRY_FIELDS: dict[type, tuple[str, ...]] = {
    County: ("boundary",),
    Precinct: ("boundary",),
    PollingPlace: ("location", "building"),
}


def count_of(model: type, fk: str) -> Coalesce:
    """Number of ``model`` rows pointing at the outer row: a correlated subquery, evaluated only for the page shown
    (a JOIN + GROUP BY would aggregate every row of a national table first)."""
    rows = model.objects.filter(**{fk: OuterRef("pk")}).order_by().values(fk).annotate(n=Count("pk")).values("n")
    return Coalesce(Subquery(rows, output_field=IntegerField()), 0)


def count_column(annotation: str, description: str) -> Callable[[Any, Any], int]:
    """A sortable changelist column showing the count ``annotation`` (one of the admin's ``counts``)."""

    @admin.display(description=description, ordering=annotation)
    def column(self: Any, obj: Any) -> int:
        return int(getattr(obj, annotation))

    return column


def decimal_text(value: Decimal | float) -> str:
    """150.00 → "150", 30.50 → "30.5"."""
    return f"{Decimal(value).normalize():f}"


def not_saved_yet() -> str:
    return "Shown after saving."


def geometry_or_none(value: Any) -> BaseGeometry | None:
    """``value`` if it is a non-empty geometry. An unsaved instance holds b"" (the BinaryField default) instead."""
    return value if isinstance(value, BaseGeometry) and not value.is_empty else None


class GeographyAdmin(admin.ModelAdmin):
    """Every admin write of geography, rules or assignments raises the geography version in its own transaction,
    so each server process rebuilds its spatial index on its next request."""

    #: Annotation name → (model, foreign key to this admin's model): related rows counted for each row shown.
    counts: dict[str, tuple[type, str]] = {}

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        qs = super().get_queryset(request)
        if self.counts:
            qs = qs.annotate(**{name: count_of(model, fk) for name, (model, fk) in self.counts.items()})
        return qs

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        with transaction.atomic():
            super().save_model(request, obj, form, change)
            geography_version_bump()

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        with transaction.atomic():
            super().save_related(request, form, formsets, change)
            geography_version_bump()

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        with transaction.atomic():
            super().delete_model(request, obj)
            geography_version_bump()

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet) -> None:
        with transaction.atomic():
            super().delete_queryset(request, queryset)
            geography_version_bump()


class GeoModelAdmin(GeographyAdmin):
    """Changelists and autocomplete results without geometry: neither displays it, and a county boundary alone can
    be tens of kilobytes."""

    #: Field paths deferred on the changelist (may cross ``list_select_related`` joins).
    list_defer: tuple[str, ...] = ()
    #: The model's own geometry fields, deferred in autocomplete results (which show only ``str(obj)``).
    autocomplete_defer: tuple[str, ...] = ()

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type[ChangeList]:
        return DeferringChangeList

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        # The autocomplete widget loads the selected row to label it, and validation loads the chosen one: neither
        # needs the related row's geometry.
        defer = _GEOMETRY_FIELDS.get(db_field.related_model)
        if defer and "queryset" not in kwargs:
            kwargs["queryset"] = db_field.related_model._default_manager.defer(*defer)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def get_search_results(self, request: HttpRequest, queryset: QuerySet, search_term: str) -> tuple[QuerySet, bool]:
        qs, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        match = getattr(request, "resolver_match", None)
        if self.autocomplete_defer and match is not None and match.url_name == "autocomplete":
            qs = qs.defer(*self.autocomplete_defer)
        return qs, may_have_duplicates


class BoundingBoxMixin:
    """The bbox_* columns are computed on save: shown read-only, never edited."""

    @admin.display(description="Bounding box")
    def bounding_box(self, obj: Any) -> str:
        if obj is None or obj.bbox_west is None:
            return "— (computed when saved)"
        return (
            f"west {obj.bbox_west:.6f}, south {obj.bbox_south:.6f}, "
            f"east {obj.bbox_east:.6f}, north {obj.bbox_north:.6f}"
        )


class CountyListFilter(admin.SimpleListFilter):
    """Filter by county without listing every county in the country: the choices are the counties of the state
    chosen in the jurisdiction filter (or all counties while there are few of them)."""

    title = "county"
    parameter_name = "county"
    #: Path from the changelist's model to its county.
    county_path = "county"
    #: Query parameter of the jurisdiction filter on the same changelist.
    jurisdiction_parameter = "county__jurisdiction__id__exact"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        counties = County.objects.only("id", "name", "fips").order_by("name", "fips")
        jurisdiction = request.GET.get(self.jurisdiction_parameter, "")
        if is_identifier(jurisdiction):
            counties = counties.filter(jurisdiction_id=int(jurisdiction))
        else:
            counties = counties[: UNSCOPED_COUNTY_CHOICES + 1]
        choices = [(str(c.pk), str(c)) for c in counties]
        if not is_identifier(jurisdiction) and len(choices) > UNSCOPED_COUNTY_CHOICES:
            return []  # too many to list: choose a state first
        return choices

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet | None:
        value = self.value()
        if not value:
            return None
        if not is_identifier(value):
            return queryset.none()  # a mangled link, not a server error
        return queryset.filter(**{f"{self.county_path}__id": int(value)})

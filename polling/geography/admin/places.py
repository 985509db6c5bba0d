"""Admin pages of polling places (with their entrances inline, filterable by kind and by whether their coordinates
are known) and entrances."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from polling.geography.admin import previews
from polling.geography.admin.base import BoundingBoxMixin, CountyListFilter, GeoModelAdmin, count_column
from polling.geography.admin.forms import EntranceForm, PollingPlaceForm
from polling.models import Entrance, PlaceKind, PollingPlace


class EntranceInline(admin.TabularInline):
    model = Entrance
    form = EntranceForm
    fields = ("name", "lon", "lat", "accessible", "in_use")
    extra = 0


class LocatedListFilter(admin.SimpleListFilter):
    """Places whose coordinates are not known yet: shown by address, without zones, to be located."""

    title = "coordinates"
    parameter_name = "located"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [("yes", "Known"), ("no", "Missing")]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet | None:
        if self.value() == "yes":
            return queryset.filter(location__isnull=False)
        if self.value() == "no":
            return queryset.filter(location__isnull=True)
        return None


@admin.register(PollingPlace)
class PollingPlaceAdmin(BoundingBoxMixin, GeoModelAdmin):
    form = PollingPlaceForm
    list_display = ("code", "name", "county", "address", "kinds", "entrance_count")
    list_filter = (
        ("county__jurisdiction", admin.RelatedFieldListFilter),
        CountyListFilter,
        "is_election_day",
        "is_early_voting",
        "is_drop_box",
        LocatedListFilter,
    )
    list_select_related = ("county",)
    list_defer = ("location", "building", "accessibility_notes", "county__boundary")
    autocomplete_defer = ("location", "building")
    search_fields = ("code", "name", "address", "=county__fips", "county__name")
    ordering = ("county__fips", "code")
    autocomplete_fields = ("county",)
    readonly_fields = ("preview", "bounding_box")
    inlines = (EntranceInline,)
    fieldsets = (
        (None, {"fields": ("county", "code", "name", "address", "accessibility_notes")}),
        ("Kind", {"fields": (("is_election_day", "is_early_voting", "is_drop_box"),)}),
        ("Location", {"fields": ("preview", ("lon", "lat"), "building", "bounding_box")}),
    )
    counts = {"n_entrances": (Entrance, "polling_place")}

    entrance_count = count_column("n_entrances", "Entrances")

    @admin.display(description="Kind")
    def kinds(self, obj: PollingPlace) -> str:
        labels = dict(PlaceKind.choices)
        return ", ".join(str(labels[k]) for k in obj.kinds)

    @admin.display(description="Map preview")
    def preview(self, obj: PollingPlace | None) -> str:
        return previews.polling_place_preview(obj)


@admin.register(Entrance)
class EntranceAdmin(GeoModelAdmin):
    form = EntranceForm
    fields = ("polling_place", "name", "lon", "lat", "accessible", "in_use")
    list_display = ("name", "polling_place", "accessible", "in_use", "coordinates")
    list_filter = ("accessible", "in_use", ("polling_place__county__jurisdiction", admin.RelatedFieldListFilter))
    list_select_related = ("polling_place",)
    list_defer = ("polling_place__location", "polling_place__building", "polling_place__accessibility_notes")
    search_fields = ("name", "polling_place__code", "polling_place__name", "=polling_place__county__fips")
    ordering = ("polling_place__county__fips", "polling_place__code", "name")
    autocomplete_fields = ("polling_place",)

    @admin.display(description="Lon, lat")
    def coordinates(self, obj: Entrance) -> str:
        return f"{obj.location.x:.6f}, {obj.location.y:.6f}"

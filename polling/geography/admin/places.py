"""Admin pages of polling places (with their entrances inline) and entrances."""

from __future__ import annotations

from django.contrib import admin

from polling.geography.admin import previews
from polling.geography.admin.base import BoundingBoxMixin, CountyListFilter, GeoModelAdmin, count_column
from polling.geography.admin.forms import EntranceForm, PollingPlaceForm
from polling.models import Entrance, PollingPlace


class EntranceInline(admin.TabularInline):
    model = Entrance
    form = EntranceForm
    fields = ("name", "lon", "lat", "accessible", "in_use")
    extra = 0


@admin.register(PollingPlace)
class PollingPlaceAdmin(BoundingBoxMixin, GeoModelAdmin):
    form = PollingPlaceForm
    list_display = ("code", "name", "county", "address", "entrance_count")
    list_filter = (("county__jurisdiction", admin.RelatedFieldListFilter), CountyListFilter)
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
        ("Location", {"fields": ("preview", ("lon", "lat"), "building", "bounding_box")}),
    )
    counts = {"n_entrances": (Entrance, "polling_place")}

    entrance_count = count_column("n_entrances", "Entrances")

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

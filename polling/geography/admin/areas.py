"""Admin pages of states (jurisdictions) with their buffer rules, counties and precincts."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from polling.geography.admin import previews
from polling.geography.admin.base import (
    BoundingBoxMixin,
    CountyListFilter,
    GeographyAdmin,
    GeoModelAdmin,
    count_column,
    decimal_text,
    not_saved_yet,
)
from polling.models import BufferRule, County, Jurisdiction, PollingPlace, Precinct


class BufferRuleInline(admin.TabularInline):
    model = BufferRule
    extra = 0
    fields = ("activity", "applies_to", "distance_ft", "measured_from", "citation", "note")


@admin.register(Jurisdiction)
class JurisdictionAdmin(GeographyAdmin):
    list_display = ("code", "name", "fips", "timezone", "rules_summary")
    search_fields = ("code", "name", "=fips")
    ordering = ("code",)
    inlines = (BufferRuleInline,)

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).prefetch_related("buffer_rules")

    @admin.display(description="Buffer rules")
    def rules_summary(self, obj: Jurisdiction) -> str:
        rules = obj.buffer_rules.all()
        return (
            "; ".join(
                f"{r.activity} {decimal_text(r.distance_ft)} ft from {r.measured_from}"
                + (" (drop boxes)" if r.applies_to == BufferRule.AppliesTo.DROP_BOXES else "")
                for r in rules
            )
            or "—"
        )


@admin.register(BufferRule)
class BufferRuleAdmin(GeographyAdmin):
    list_display = ("jurisdiction", "activity", "applies_to", "distance_ft", "measured_from", "citation")
    list_filter = ("activity", "applies_to", "measured_from", "jurisdiction")
    list_select_related = ("jurisdiction",)
    search_fields = ("jurisdiction__code", "jurisdiction__name", "citation")
    ordering = ("jurisdiction__code", "activity", "-applies_to")
    autocomplete_fields = ("jurisdiction",)


@admin.register(County)
class CountyAdmin(BoundingBoxMixin, GeoModelAdmin):
    list_display = ("fips", "name", "jurisdiction", "timezone", "precinct_count", "polling_place_count")
    list_filter = ("jurisdiction",)
    list_select_related = ("jurisdiction",)
    list_defer = ("boundary",)
    autocomplete_defer = ("boundary",)
    search_fields = ("=fips", "name", "jurisdiction__code")
    ordering = ("fips",)
    autocomplete_fields = ("jurisdiction",)
    readonly_fields = ("preview", "bounding_box")
    fieldsets = (
        (None, {"fields": ("jurisdiction", "fips", "name", "timezone")}),
        ("Boundary", {"fields": ("preview", "boundary", "bounding_box")}),
    )
    counts = {"n_precincts": (Precinct, "county"), "n_polling_places": (PollingPlace, "county")}

    precinct_count = count_column("n_precincts", "Precincts")
    polling_place_count = count_column("n_polling_places", "Polling places")

    @admin.display(description="Map preview")
    def preview(self, obj: County | None) -> str:
        return previews.county_preview(obj)


@admin.register(Precinct)
class PrecinctAdmin(BoundingBoxMixin, GeoModelAdmin):
    list_display = ("code", "name", "county", "state")
    list_filter = (("county__jurisdiction", admin.RelatedFieldListFilter), CountyListFilter)
    list_select_related = ("county", "county__jurisdiction")
    list_defer = ("boundary", "county__boundary")
    autocomplete_defer = ("boundary",)
    search_fields = ("code", "name", "=county__fips", "county__name")
    ordering = ("county__fips", "code")
    autocomplete_fields = ("county",)
    readonly_fields = ("preview", "assignment_list", "bounding_box")
    fieldsets = (
        (None, {"fields": ("county", "code", "name")}),
        ("Boundary", {"fields": ("preview", "boundary", "bounding_box")}),
        ("Polling places", {"fields": ("assignment_list",)}),
    )

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).select_related("county__jurisdiction").defer("county__boundary")

    @admin.display(description="State", ordering="county__jurisdiction__code")
    def state(self, obj: Precinct) -> str:
        return obj.county.jurisdiction.code

    @admin.display(description="Map preview")
    def preview(self, obj: Precinct | None) -> str:
        return previews.precinct_preview(obj)

    @admin.display(description="Assigned polling places")
    def assignment_list(self, obj: Precinct | None) -> str:
        if obj is None or obj.pk is None:
            return not_saved_yet()
        rows = list(
            obj.assignments.select_related("election", "polling_place")
            .defer("polling_place__location", "polling_place__building")
            .order_by("-election__date")[:10]
        )
        if not rows:
            return "Not assigned in any election yet."
        return format_html(
            "<ul>{}</ul>",
            format_html_join(
                "",
                '<li>{}: <a href="{}">{}</a></li>',
                (
                    (
                        a.election,
                        reverse("admin:polling_pollingplace_change", args=[a.polling_place_id]),
                        a.polling_place,
                    )
                    for a in rows
                ),
            ),
        )

"""Admin pages of elections, of the precinct assignments (which polling place serves a precinct in an election) and
of the vote centers (which serve the precincts of their county that have no assigned place) and of the dated hours
of each place in an election."""

from __future__ import annotations

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html

from polling.geography.admin.base import CountyListFilter, GeographyAdmin, GeoModelAdmin, count_column, not_saved_yet
from polling.models import County, Election, LocationHours, PrecinctAssignment, VoteCenter


class AssignmentCountyListFilter(CountyListFilter):
    county_path = "precinct__county"
    jurisdiction_parameter = "election__jurisdiction__id__exact"


@admin.register(Election)
class ElectionAdmin(GeographyAdmin):
    list_display = ("name", "date", "jurisdiction", "polls_open", "polls_close", "assignment_count")
    list_filter = ("jurisdiction",)
    list_select_related = ("jurisdiction",)
    search_fields = ("name", "jurisdiction__code", "jurisdiction__name")
    date_hierarchy = "date"
    ordering = ("-date", "jurisdiction__code", "name")
    autocomplete_fields = ("jurisdiction",)
    readonly_fields = ("assignments_link",)
    counts = {"n_assignments": (PrecinctAssignment, "election")}

    assignment_count = count_column("n_assignments", "Precinct assignments")

    @admin.display(description="Precinct assignments")
    def assignments_link(self, obj: Election | None) -> str:
        if obj is None or obj.pk is None:
            return not_saved_yet()
        url = reverse("admin:polling_precinctassignment_changelist")
        n = obj.assignments.count()
        return format_html('<a href="{}?election__id__exact={}">{} assignments: view and edit</a>', url, obj.pk, n)


@admin.register(PrecinctAssignment)
class PrecinctAssignmentAdmin(GeoModelAdmin):
    list_display = ("precinct", "county", "polling_place", "election")
    list_filter = (
        ("election", admin.RelatedFieldListFilter),
        ("election__jurisdiction", admin.RelatedFieldListFilter),
        AssignmentCountyListFilter,
    )
    list_select_related = ("election", "precinct", "precinct__county", "polling_place")
    list_defer = (
        "precinct__boundary",
        "precinct__county__boundary",
        "polling_place__location",
        "polling_place__building",
        "polling_place__accessibility_notes",
    )
    search_fields = (
        "precinct__code",
        "precinct__name",
        "polling_place__code",
        "polling_place__name",
        "=precinct__county__fips",
        "precinct__county__name",
    )
    ordering = ("-election__date", "precinct__county__fips", "precinct__code")
    autocomplete_fields = ("election", "precinct", "polling_place")
    # Millions of rows nationally across elections: skip the unfiltered COUNT(*) on every filtered page.
    show_full_result_count = False

    @admin.display(description="County", ordering="precinct__county__fips")
    def county(self, obj: PrecinctAssignment) -> County:
        return obj.precinct.county


class VoteCenterCountyListFilter(CountyListFilter):
    county_path = "polling_place__county"
    jurisdiction_parameter = "election__jurisdiction__id__exact"


@admin.register(VoteCenter)
class VoteCenterAdmin(GeoModelAdmin):
    list_display = ("polling_place", "county", "election")
    list_filter = (
        ("election", admin.RelatedFieldListFilter),
        ("election__jurisdiction", admin.RelatedFieldListFilter),
        VoteCenterCountyListFilter,
    )
    list_select_related = ("election", "polling_place", "polling_place__county")
    list_defer = (
        "polling_place__location",
        "polling_place__building",
        "polling_place__accessibility_notes",
        "polling_place__county__boundary",
    )
    search_fields = ("polling_place__code", "polling_place__name", "=polling_place__county__fips")
    ordering = ("-election__date", "polling_place__county__fips", "polling_place__code")
    autocomplete_fields = ("election", "polling_place")

    @admin.display(description="County", ordering="polling_place__county__fips")
    def county(self, obj: VoteCenter) -> County:
        return obj.polling_place.county


class HoursCountyListFilter(CountyListFilter):
    county_path = "polling_place__county"
    jurisdiction_parameter = "election__jurisdiction__id__exact"


@admin.register(LocationHours)
class LocationHoursAdmin(GeoModelAdmin):
    """Local dates and wall-clock times; the zone defaults to the place's county's when left empty."""

    fields = ("polling_place", "election", "date", "opens", "closes", "timezone")
    list_display = ("polling_place", "election", "date", "opens", "closes", "timezone")
    list_filter = (
        ("election", admin.RelatedFieldListFilter),
        ("election__jurisdiction", admin.RelatedFieldListFilter),
        HoursCountyListFilter,
    )
    list_select_related = ("election", "polling_place")
    list_defer = ("polling_place__location", "polling_place__building", "polling_place__accessibility_notes")
    search_fields = ("polling_place__code", "polling_place__name", "=polling_place__county__fips")
    ordering = ("-election__date", "polling_place__code", "date", "opens")
    date_hierarchy = "date"
    autocomplete_fields = ("election", "polling_place")
    show_full_result_count = False

"""Admin for geography and elections, sized for a county commissioner's day and for national row counts.

Large foreign keys (counties, precincts, polling places, elections) are chosen by autocomplete, never from a full
<select>. Changelists join what they display (``list_select_related``) and defer the geometry they do not show, so
a page of precincts never loads county boundaries. Change pages for counties, precincts and polling places show a
static SVG map preview built by ``polling.geometry.svg`` (display only; compliance is decided in ``polling.geometry``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from django import forms
from django.contrib import admin
from django.contrib.admin.views.main import ChangeList
from django.db import transaction
from django.db.models import Count, IntegerField, Max, OuterRef, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe
from shapely.geometry import Point
from shapely.geometry.base import BaseGeometry

from common.admin import DeferringChangeList
from polling import geometry
from polling.geography.services import geography_version_bump
from polling.geography.zones import Zone, zones_for
from polling.geometry import svg
from polling.models import (
    BufferRule,
    County,
    Election,
    Entrance,
    Jurisdiction,
    PollingPlace,
    Precinct,
    PrecinctAssignment,
)

logger = logging.getLogger(__name__)

#: At most this many polling places (with their zones) are drawn on a precinct's preview.
PRECINCT_PREVIEW_PLACES = 4
#: Precinct outlines are drawn on a county's preview only up to this many precincts.
COUNTY_PREVIEW_PRECINCTS = 60
#: Counties are listed in a changelist's sidebar filter without choosing a state first only up to this many.
UNSCOPED_COUNTY_CHOICES = 100

REFERENCE_TEXT = {
    "entrances": "from entrances",
    "building": "from the building outline",
    "location": "from the polling-place point",
}


#: Geometry columns of each model, left unloaded wherever only a row's label is shown.
_GEOMETRY_FIELDS: dict[type, tuple[str, ...]] = {
    County: ("boundary",),
    Precinct: ("boundary",),
    PollingPlace: ("location", "building"),
}


# --- Shared pieces --------------------------------------------------------------------------------------------


def _count_of(model: type, fk: str) -> Coalesce:
    """Number of ``model`` rows pointing at the outer row: a correlated subquery, evaluated only for the page shown
    (a JOIN + GROUP BY would aggregate every row of a national table first)."""
    rows = model.objects.filter(**{fk: OuterRef("pk")}).order_by().values(fk).annotate(n=Count("pk")).values("n")
    return Coalesce(Subquery(rows, output_field=IntegerField()), 0)


def _decimal_text(value: Decimal | float) -> str:
    """150.00 → "150", 30.50 → "30.5"."""
    return f"{Decimal(value).normalize():f}"


class GeographyAdmin(admin.ModelAdmin):
    """Every admin write of geography, rules or assignments raises the geography version in its own transaction,
    so each server process rebuilds its spatial index on its next request."""

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
        if jurisdiction.isdigit():
            counties = counties.filter(jurisdiction_id=int(jurisdiction))
        else:
            counties = counties[: UNSCOPED_COUNTY_CHOICES + 1]
        choices = [(str(c.pk), str(c)) for c in counties]
        if not jurisdiction.isdigit() and len(choices) > UNSCOPED_COUNTY_CHOICES:
            return []  # too many to list: choose a state first
        return choices

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet | None:
        value = self.value()
        if not value:
            return None
        if not value.isdigit():
            return queryset.none()  # a mangled link, not a server error
        return queryset.filter(**{f"{self.county_path}__id": int(value)})


class AssignmentCountyListFilter(CountyListFilter):
    county_path = "precinct__county"
    jurisdiction_parameter = "election__jurisdiction__id__exact"


# --- Map previews ---------------------------------------------------------------------------------------------

_DRAW_ORDER = {"boundary": 0, "outline": 1, "building": 2, "zone": 3, "entrance": 4, "place": 5}


def _draw_rank(layer: svg.Layer) -> int:
    return _DRAW_ORDER.get(layer.kind.split("-")[0], 3)


def zone_label(zone: Zone) -> str:
    """E.g. "campaigning 150 ft from entrances" (with "(approximate)" when the reference is a stand-in)."""
    text = (
        f"{zone.rule.activity} {_decimal_text(zone.rule.distance_ft)} ft "
        f"{REFERENCE_TEXT.get(zone.reference_kind, 'from ' + zone.reference_kind)}"
    )
    return f"{text} (approximate)" if zone.approximate else text


def polling_place_layers(place: PollingPlace, rules: Iterable[BufferRule], *, detailed: bool = True) -> list[svg.Layer]:
    """Building, zones (largest first, so smaller ones stay visible), entrances and the location of ``place``;
    without ``detailed`` (a precinct-sized map, where they would be specks) only the zones and the location.
    Expects ``place.entrances`` prefetched (``zones_for`` reads them too)."""
    layers: list[svg.Layer] = []
    if detailed and place.building is not None:
        layers.append(svg.Layer(place.building, "building", "building outline"))
    zones = sorted(zones_for(place, rules), key=lambda z: -z.limit_ft)
    for zone in zones:
        activity = "".join(c for c in str(zone.rule.activity) if c.isalnum())
        layers.append(svg.Layer(zone.polygon(), f"zone-{activity}", zone_label(zone)))
    for entrance in place.entrances.all() if detailed else ():
        if entrance.in_use:
            kind, label = "entrance", "entrance in use"
        else:
            kind, label = "entrance-unused", "entrance not in use"
        layers.append(svg.Layer(entrance.location, kind, label, tag=entrance.name))
    layers.append(svg.Layer(place.location, "place", "polling place", tag=place.code))
    return layers


def _preview_html(layers: list[svg.Layer], *, title: str, note: str = "") -> SafeString:
    try:
        drawing = svg.render_svg(sorted(layers, key=_draw_rank), title=title)
    except Exception:  # display only: a geometry the preview cannot draw must not take the change form down
        logger.exception("map preview failed: %s", title)
        return format_html('<p class="errornote">The map preview could not be drawn for this geometry.</p>')
    # render_svg escapes every piece of text it interpolates, so its output is safe to embed as is.
    return format_html('<div class="polling-preview">{}</div>{}', mark_safe(drawing), note)  # noqa: S308


def _not_saved_yet() -> str:
    return "Shown after saving."


def _geometry_or_none(value: Any) -> BaseGeometry | None:
    """``value`` if it is a non-empty geometry. An unsaved instance holds b"" (the BinaryField default) instead."""
    return value if isinstance(value, BaseGeometry) and not value.is_empty else None


# --- Jurisdictions and rules ----------------------------------------------------------------------------------


class BufferRuleInline(admin.TabularInline):
    model = BufferRule
    extra = 0
    fields = ("activity", "distance_ft", "measured_from", "citation", "note")


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
        return "; ".join(f"{r.activity} {_decimal_text(r.distance_ft)} ft from {r.measured_from}" for r in rules) or "—"


@admin.register(BufferRule)
class BufferRuleAdmin(GeographyAdmin):
    list_display = ("jurisdiction", "activity", "distance_ft", "measured_from", "citation")
    list_filter = ("activity", "measured_from", "jurisdiction")
    list_select_related = ("jurisdiction",)
    search_fields = ("jurisdiction__code", "jurisdiction__name", "citation")
    ordering = ("jurisdiction__code", "activity")
    autocomplete_fields = ("jurisdiction",)


# --- Counties -------------------------------------------------------------------------------------------------


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

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return (
            super()
            .get_queryset(request)
            .annotate(
                n_precincts=_count_of(Precinct, "county"),
                n_polling_places=_count_of(PollingPlace, "county"),
            )
        )

    @admin.display(description="Precincts", ordering="n_precincts")
    def precinct_count(self, obj: County) -> int:
        return obj.n_precincts

    @admin.display(description="Polling places", ordering="n_polling_places")
    def polling_place_count(self, obj: County) -> int:
        return obj.n_polling_places

    @admin.display(description="Map preview")
    def preview(self, obj: County | None) -> str:
        if obj is None or obj.pk is None or _geometry_or_none(obj.boundary) is None:
            return _not_saved_yet()
        layers = [svg.Layer(obj.boundary, "boundary", "county boundary")]
        n_precincts = obj.precincts.count()
        note = ""
        if n_precincts <= COUNTY_PREVIEW_PRECINCTS:
            for precinct in obj.precincts.only("id", "boundary"):
                layers.append(svg.Layer(precinct.boundary, "outline", "precinct outline"))
        else:
            note = format_html("<p class='help'>{} precincts: too many to outline here.</p>", n_precincts)
        for place in obj.polling_places.only("id", "code", "location"):
            layers.append(svg.Layer(place.location, "place", "polling place"))
        return _preview_html(layers, title=f"{obj}: boundary, precincts and polling places", note=note)


# --- Precincts ------------------------------------------------------------------------------------------------


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

    def _recent_places(self, obj: Precinct) -> list[PollingPlace]:
        return list(
            PollingPlace.objects.filter(assignments__precinct=obj)
            .annotate(last_used=Max("assignments__election__date"))
            .select_related("county")
            .defer("county__boundary")
            .prefetch_related("entrances", "county__jurisdiction__buffer_rules")
            .order_by("-last_used", "code")[: PRECINCT_PREVIEW_PLACES + 1]
        )

    @admin.display(description="Map preview")
    def preview(self, obj: Precinct | None) -> str:
        if obj is None or obj.pk is None or _geometry_or_none(obj.boundary) is None:
            return _not_saved_yet()
        layers = [svg.Layer(obj.boundary, "boundary", "precinct boundary")]
        places = self._recent_places(obj)
        note = ""
        if len(places) > PRECINCT_PREVIEW_PLACES:
            places = places[:PRECINCT_PREVIEW_PLACES]
            note = format_html(
                "<p class='help'>Showing the {} polling places used most recently.</p>", PRECINCT_PREVIEW_PLACES
            )
        for place in places:
            layers.extend(polling_place_layers(place, place.county.jurisdiction.buffer_rules.all(), detailed=False))
        return _preview_html(layers, title=f"Precinct {obj}: boundary, polling places and zones", note=note)

    @admin.display(description="Assigned polling places")
    def assignment_list(self, obj: Precinct | None) -> str:
        if obj is None or obj.pk is None:
            return _not_saved_yet()
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


# --- Polling places and entrances -----------------------------------------------------------------------------


class PointForm(forms.ModelForm):
    """A point typed as longitude and latitude (WGS84 decimal degrees) instead of GeoJSON."""

    #: The model's point field that ``lon``/``lat`` stand in for (leave it out of the form's fields).
    point_field = "location"

    # No min/max on the fields: geometry.check_lonlat's messages say more (e.g. that a pair looks swapped).
    lon = forms.FloatField(
        label="Longitude",
        widget=forms.NumberInput(attrs={"step": "any"}),
        help_text="WGS84 decimal degrees, west negative (e.g. -90.1848).",
    )
    lat = forms.FloatField(
        label="Latitude",
        widget=forms.NumberInput(attrs={"step": "any"}),
        help_text="WGS84 decimal degrees (e.g. 32.2988).",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        point = _geometry_or_none(getattr(self.instance, self.point_field, None))
        if point is not None:
            self.initial.setdefault("lon", float(point.x))
            self.initial.setdefault("lat", float(point.y))

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        lon, lat = cleaned.get("lon"), cleaned.get("lat")
        if lon is None or lat is None:
            return cleaned  # the field errors already say what is missing
        try:
            geometry.check_lonlat(lon, lat)
            point = Point(lon, lat)
            geometry.check_geometry(point)
        except geometry.GeometryError as exc:
            field = {"longitude_out_of_range": "lon", "latitude_out_of_range": "lat"}.get(exc.code)
            self.add_error(field, forms.ValidationError(str(exc), code=exc.code))
            return cleaned
        setattr(self.instance, self.point_field, point)
        return cleaned


class EntranceForm(PointForm):
    class Meta:
        model = Entrance
        fields = ("polling_place", "name", "lon", "lat", "accessible", "in_use")


class PollingPlaceForm(PointForm):
    class Meta:
        model = PollingPlace
        fields = ("county", "code", "name", "address", "lon", "lat", "building", "accessibility_notes")


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

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).annotate(n_entrances=_count_of(Entrance, "polling_place"))

    @admin.display(description="Entrances", ordering="n_entrances")
    def entrance_count(self, obj: PollingPlace) -> int:
        return obj.n_entrances

    @admin.display(description="Map preview")
    def preview(self, obj: PollingPlace | None) -> str:
        if obj is None or obj.pk is None or _geometry_or_none(obj.location) is None:
            return _not_saved_yet()
        place = (
            PollingPlace.objects.select_related("county__jurisdiction")
            .defer("county__boundary")
            .prefetch_related("entrances", "county__jurisdiction__buffer_rules")
            .get(pk=obj.pk)
        )
        # Draw what the form holds (it may be a re-rendered, not yet saved edit) with the saved entrances.
        place.location, place.building = obj.location, _geometry_or_none(obj.building)
        layers = polling_place_layers(place, place.county.jurisdiction.buffer_rules.all())
        return _preview_html(layers, title=f"Polling place {place}: building, entrances and zones")


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


# --- Elections and assignments --------------------------------------------------------------------------------


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

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).annotate(n_assignments=_count_of(PrecinctAssignment, "election"))

    @admin.display(description="Precinct assignments", ordering="n_assignments")
    def assignment_count(self, obj: Election) -> int:
        return obj.n_assignments

    @admin.display(description="Precinct assignments")
    def assignments_link(self, obj: Election | None) -> str:
        if obj is None or obj.pk is None:
            return _not_saved_yet()
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

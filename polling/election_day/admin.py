"""Admin for election day: the quotas on who may be inside a polling place (edited here), and the records the
election-day services write (the presence log, who is inside now, anomalies, incidents), shown and never edited.

Changelists join what they display (``list_select_related``) and leave out the columns they do not show
(``list_defer``), so a page of the presence log never loads response bodies or polling-place geometry.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.admin.views.main import ChangeList
from django.db.models import QuerySet
from django.http import HttpRequest
from django.template.defaultfilters import filesizeformat

from accounts.credentials import signing
from common.admin import DeferringChangeList, ReadOnlyAdmin
from polling.election_day import presence
from polling.election_day.incidents import photos
from polling.models import (
    Presence,
    PresenceAnomaly,
    PresenceEvent,
    PresenceRule,
)
from polling.models.incidents import Incident

# --- Election day ---------------------------------------------------------------------------------------------
#
# Quotas on who may be inside a polling place are edited here; they are not geography (the spatial index does not
# read them), so their saves leave the geography version alone. The presence log, who is inside now and incidents
# are election-day records written only by their services (check-in/out on a tablet, an incident report): shown
# here, never added, changed or deleted. ``ReadOnlyAdmin`` is the one read-only admin of the project (accounts).


@admin.register(PresenceRule)
class PresenceRuleAdmin(admin.ModelAdmin):
    fields = ("jurisdiction", "credential_kind", "per", "max_inside", "citation")
    list_display = ("jurisdiction", "credential_kind", "per", "max_inside", "citation")
    list_filter = ("jurisdiction", "credential_kind")
    list_select_related = ("jurisdiction",)
    search_fields = ("jurisdiction__code", "jurisdiction__name", "citation")
    ordering = ("jurisdiction__code", "credential_kind", "per")
    autocomplete_fields = ("jurisdiction",)


#: Polling-place columns a changelist never shows when it lists places by name and code.
_PLACE_DEFER = ("polling_place__location", "polling_place__building", "polling_place__accessibility_notes")


class RefusalReasonListFilter(admin.SimpleListFilter):
    """The refusal reasons the service gives, listed from code rather than by a ``SELECT DISTINCT`` over the whole
    presence log on every page. Any other value in the link filters all the same."""

    title = "reason"
    parameter_name = "reason"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        token_reasons = [value for name, value in vars(signing.Reason).items() if name.isupper()]
        presence_reasons = [presence.POLLS_CLOSED, presence.QUOTA_FULL]
        return [(reason, reason.replace("_", " ")) for reason in (*token_reasons, *presence_reasons)]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet | None:
        value = self.value()
        return queryset.filter(reason=value) if value else None


class ElectionDayRecordAdmin(ReadOnlyAdmin):
    """Read-only, with a changelist that joins what it shows and leaves out the columns named by ``list_defer``."""

    list_defer: tuple[str, ...] = ()
    actions = None

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type[ChangeList]:
        return DeferringChangeList


@admin.register(PresenceEvent)
class PresenceEventAdmin(ElectionDayRecordAdmin):
    list_display = (
        "event_id",
        "kind",
        "source",
        "outcome",
        "reason",
        "polling_place",
        "election",
        "occurred_at",
        "effective_at",
        "received_at",
        "hlc",
    )
    list_filter = ("kind", "source", "outcome", RefusalReasonListFilter)
    list_select_related = ("polling_place", "election")
    list_defer = ("body_hash", "response", *_PLACE_DEFER)
    search_fields = ("=event_id", "=credential__serial")
    search_help_text = "An event id (UUID) or a credential serial, exactly."
    raw_id_fields = ("device", "worker", "uploaded_by", "credential", "polling_place", "election")
    ordering = ("-hlc", "-pk")
    # Every check-in and check-out ever sent: skip the unfiltered COUNT(*) on every filtered page.
    show_full_result_count = False


@admin.register(Presence)
class PresenceAdmin(ElectionDayRecordAdmin):
    """Who is inside now (derived from the presence log by check-in/out; rebuilt from it, never edited)."""

    list_display = ("credential", "appointed_by", "polling_place", "election", "since", "checked_in_by")
    list_filter = ("credential__kind",)
    list_select_related = ("credential", "polling_place", "election", "check_in", "check_in__worker")
    list_defer = ("check_in__body_hash", "check_in__response", *_PLACE_DEFER)
    search_fields = ("=credential__serial", "credential__holder_name", "polling_place__code", "polling_place__name")
    raw_id_fields = ("polling_place", "election", "credential", "check_in")
    ordering = ("polling_place__code", "check_in__effective_at", "check_in__hlc")

    @admin.display(description="Appointed by", ordering="credential__appointed_by_name")
    def appointed_by(self, obj: Presence) -> str:
        credential = obj.credential
        if not credential.appointed_by_kind:
            return "—"
        return f"{credential.appointed_by_name} ({credential.get_appointed_by_kind_display().lower()})"

    @admin.display(description="Inside since", ordering="check_in__effective_at")
    def since(self, obj: Presence) -> Any:
        return obj.check_in.effective_at

    @admin.display(description="Checked in by")
    def checked_in_by(self, obj: Presence) -> str:
        return obj.check_in.worker.get_username()


@admin.register(Incident)
class IncidentAdmin(ElectionDayRecordAdmin):
    """Incidents as reported, with the server's measurement against the rule of the day (append-only records).

    The photo is never shown here: it is served only by the scoped API endpoint, so the page names it and its size.
    """

    list_display = (
        "occurred_at",
        "activity",
        "polling_place",
        "election",
        "zone_status",
        "distance",
        "reported_by",
        "has_photo",
    )
    list_filter = ("activity", "zone_status", "approximate")
    list_select_related = ("polling_place", "election", "reported_by")
    list_defer = ("description", *_PLACE_DEFER)
    search_fields = ("polling_place__code", "polling_place__name", "reported_by__username")
    raw_id_fields = ("polling_place", "election", "reported_by")
    ordering = ("-occurred_at", "-id")
    readonly_fields = ("distance", "photo")
    fieldsets = (
        (
            None,
            {
                "fields": (
                    "polling_place",
                    "election",
                    "activity",
                    "occurred_at",
                    "description",
                    ("lon", "lat", "accuracy_m"),
                )
            },
        ),
        (
            "Zone measurement (computed by the server when reported)",
            {
                "fields": (
                    "zone_status",
                    "distance",
                    ("rule_distance_ft", "rule_measured_from"),
                    ("reference_kind", "approximate"),
                    "rule_citation",
                )
            },
        ),
        ("Report", {"fields": ("reported_by", "reported_from_device", "reported_at", "photo")}),
    )

    @admin.display(description="Distance", ordering="distance_ft")
    def distance(self, obj: Incident) -> str:
        if obj.distance_ft is None:
            return "— (no rule for this activity)"
        return f"{obj.distance_ft:.1f} ft"

    @admin.display(description="Photo", boolean=True)
    def has_photo(self, obj: Incident) -> bool:
        return bool(obj.photo_path)

    @admin.display(description="Photo")
    def photo(self, obj: Incident) -> str:
        if not obj.photo_path:
            return "None"
        extension = obj.photo_path.rsplit(".", 1)[-1]
        name = f"incident-{obj.pk}.{extension}"
        path = photos.photo_file(obj)
        if path is None:
            return f"{name} ({obj.photo_content_type}): the file is missing"
        return f"{name} ({obj.photo_content_type}, {filesizeformat(path.stat().st_size)}): served only by the API"


@admin.register(PresenceAnomaly)
class PresenceAnomalyAdmin(ElectionDayRecordAdmin):
    """Anomalies found in the presence log, for reading here. They are reviewed through
    ``POST /api/v1/presence-anomalies/{id}/review/`` (scoped to the commissioner's counties and audited), never
    edited in the admin."""

    list_display = ("code", "status", "polling_place", "election", "credential", "detected_at", "cleared_at")
    list_filter = ("status", "code")
    list_select_related = ("polling_place", "election", "credential")
    list_defer = _PLACE_DEFER
    search_fields = ("=credential__serial", "=event__event_id", "polling_place__code")
    search_help_text = "A credential serial or an event id (exactly), or a polling place code."
    raw_id_fields = ("event", "polling_place", "election", "credential", "reviewed_by")
    ordering = ("-detected_at", "-pk")

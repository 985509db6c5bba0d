"""Geography and elections: jurisdictions and their buffer rules, counties, precincts, polling places, entrances,
elections and which polling place serves which precinct in an election.

Geometry is WGS84 lon/lat stored portably (``polling.fields``); exact zone geometry lives in ``polling.geometry``.
"""

from __future__ import annotations

import zoneinfo
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Q

from config.append_only import AppendOnlyModel
from polling import geometry
from polling.fields import BoundField, GeometryField

POLYGONAL = ("Polygon", "MultiPolygon")
#: The widest buffer law we know is 600 ft (Louisiana); zones are exact only up to a few kilometres from the site.
MAX_BUFFER_FT = Decimal("5000")
#: Entrances and building outline must lie this close to the polling-place point: farther is a coordinate error.
MAX_SITE_RADIUS_M = 1000.0

state_code_validator = RegexValidator(r"^[A-Z]{2}\Z", "Use the two-letter postal code, e.g. MS.")
county_fips_validator = RegexValidator(r"^[0-9]{5}\Z", "A county FIPS code is exactly 5 digits, e.g. 28049.")
code_validator = RegexValidator(
    r"^[A-Za-z0-9][A-Za-z0-9._\-/ ]{0,31}\Z",
    "Use 1 to 32 letters, digits, spaces or . _ - / (starting with a letter or digit).",
)


def validate_timezone(value: str) -> None:
    if value not in zoneinfo.available_timezones():
        raise ValidationError("%(value)s is not an IANA time zone name.", params={"value": value})


class Bounded(models.Model):
    """Abstract: an indexed bounding box of the model's geometry, kept in step by ``BoundField.pre_save``."""

    bbox_west = BoundField(side="west")
    bbox_south = BoundField(side="south")
    bbox_east = BoundField(side="east")
    bbox_north = BoundField(side="north")

    #: Name of the geometry field the box is computed from; set by each concrete model.
    geometry_field_name = ""

    class Meta:
        abstract = True
        indexes = [
            models.Index(fields=["bbox_west", "bbox_east", "bbox_south", "bbox_north"], name="%(class)s_bbox_idx")
        ]


class Jurisdiction(models.Model):
    """A state (or DC / territory) that sets the rules: buffer distances, who may be present, quotas."""

    code = models.CharField(max_length=2, unique=True, validators=[state_code_validator])
    fips = models.CharField(max_length=2, unique=True, validators=[RegexValidator(r"^[0-9]{2}\Z")])
    name = models.CharField(max_length=100)
    timezone = models.CharField(
        max_length=64,
        validators=[validate_timezone],
        help_text="IANA name of the time zone most counties keep.",
    )

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return self.name


class BufferRule(models.Model):
    """A distance around a polling place inside which an activity is banned, and what it is measured from."""

    class Activity(models.TextChoices):
        CAMPAIGNING = "campaigning", "Campaigning (electioneering)"
        LOITERING = "loitering", "Loitering"

    class MeasuredFrom(models.TextChoices):
        ENTRANCE = "entrance", "Each entrance in use"
        BUILDING = "building", "Building outline"
        ROOM = "room", "Room where voting takes place"
        PARCEL = "parcel", "Parcel / property line"
        POLLING_PLACE = "polling_place", "The polling place (its location point)"

    jurisdiction = models.ForeignKey(Jurisdiction, on_delete=models.CASCADE, related_name="buffer_rules")
    activity = models.CharField(max_length=20, choices=Activity.choices)
    distance_ft = models.DecimalField(
        max_digits=7,
        decimal_places=2,
        validators=[MinValueValidator(Decimal("0.01")), MaxValueValidator(MAX_BUFFER_FT)],
    )
    measured_from = models.CharField(max_length=20, choices=MeasuredFrom.choices)
    citation = models.CharField(max_length=200, help_text="Statute, regulation or guidance the rule rests on.")
    note = models.TextField(blank=True)

    class Meta:
        ordering = ["jurisdiction__code", "activity"]
        constraints = [
            models.UniqueConstraint(
                fields=["jurisdiction", "activity"],
                name="polling_bufferrule_one_per_activity",
                violation_error_message="This jurisdiction already has a rule for that activity.",
            ),
            models.CheckConstraint(
                condition=Q(distance_ft__gt=0),
                name="polling_bufferrule_distance_positive",
                violation_error_message="The distance must be greater than zero.",
            ),
            models.CheckConstraint(
                condition=Q(distance_ft__lte=MAX_BUFFER_FT),
                name="polling_bufferrule_distance_at_most_5000_ft",
                violation_error_message="A buffer of more than 5,000 ft is not a polling-place buffer.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.jurisdiction.code}: no {self.activity} within {self.distance_ft} ft of {self.measured_from}"

    @property
    def distance_m(self) -> float:
        return geometry.feet_to_metres(float(self.distance_ft))


class County(Bounded):
    """A county (or county-equivalent), identified by its 5-digit FIPS code; commissioners are scoped to it."""

    jurisdiction = models.ForeignKey(Jurisdiction, on_delete=models.PROTECT, related_name="counties")
    fips = models.CharField(max_length=5, unique=True, validators=[county_fips_validator])
    name = models.CharField(max_length=100)
    timezone = models.CharField(
        max_length=64,
        blank=True,
        validators=[validate_timezone],
        help_text="Only where it differs from the state.",
    )
    boundary = GeometryField(geom_types=POLYGONAL)

    geometry_field_name = "boundary"

    class Meta(Bounded.Meta):
        ordering = ["fips"]
        verbose_name_plural = "counties"

    def __str__(self) -> str:
        return f"{self.name} ({self.fips})"

    def clean(self) -> None:
        if self.fips and self.jurisdiction_id and not self.fips.startswith(self.jurisdiction.fips):
            raise ValidationError({"fips": "A county FIPS code starts with its state's 2-digit FIPS code."})


class Precinct(Bounded):
    """A voting precinct: a code unique within its county and the area it covers."""

    county = models.ForeignKey(County, on_delete=models.PROTECT, related_name="precincts")
    code = models.CharField(max_length=32, validators=[code_validator])
    name = models.CharField(max_length=200)
    boundary = GeometryField(geom_types=POLYGONAL)

    geometry_field_name = "boundary"

    class Meta(Bounded.Meta):
        ordering = ["county__fips", "code"]
        constraints = [
            models.UniqueConstraint(
                fields=["county", "code"],
                name="polling_precinct_code_unique_in_county",
                violation_error_message="A precinct with this code already exists in this county.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.code})"


class PollingPlace(Bounded):
    """A building where people vote: its location, optional outline, entrances and accessibility notes."""

    county = models.ForeignKey(County, on_delete=models.PROTECT, related_name="polling_places")
    code = models.CharField(max_length=32, validators=[code_validator])
    name = models.CharField(max_length=200)
    address = models.CharField(max_length=300)
    location = GeometryField(geom_types=("Point",))
    building = GeometryField(geom_types=POLYGONAL, null=True, blank=True, help_text="Outline of the building.")
    accessibility_notes = models.TextField(blank=True)

    geometry_field_name = "location"

    class Meta(Bounded.Meta):
        ordering = ["county__fips", "code"]
        constraints = [
            models.UniqueConstraint(
                fields=["county", "code"],
                name="polling_pollingplace_code_unique_in_county",
                violation_error_message="A polling place with this code already exists in this county.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.code})"

    def clean(self) -> None:
        if self.location is not None and self.building is not None:
            spread = geometry.farthest_vertex_m(self.location.x, self.location.y, self.building)
            if spread > MAX_SITE_RADIUS_M:
                raise ValidationError(
                    {
                        "building": f"The outline reaches {spread:.0f} m from the polling place; it must lie within "
                        f"{MAX_SITE_RADIUS_M:.0f} m (check the coordinates and their order)."
                    }
                )

    @property
    def lon(self) -> float:
        return float(self.location.x)

    @property
    def lat(self) -> float:
        return float(self.location.y)


class Entrance(models.Model):
    """A door of a polling place. Buffers measured from entrances use every entrance that is in use."""

    polling_place = models.ForeignKey(PollingPlace, on_delete=models.CASCADE, related_name="entrances")
    name = models.CharField(max_length=100)
    location = GeometryField(geom_types=("Point",))
    accessible = models.BooleanField(default=False, help_text="Usable by voters with disabilities.")
    in_use = models.BooleanField(default=True, help_text="Open to voters on election day.")

    class Meta:
        ordering = ["polling_place_id", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["polling_place", "name"],
                name="polling_entrance_name_unique_in_place",
                violation_error_message="This polling place already has an entrance with this name.",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        if self.location is None or not self.polling_place_id:
            return
        site = PollingPlace.objects.values_list("location", flat=True).get(pk=self.polling_place_id)
        spread = geometry.farthest_vertex_m(site.x, site.y, self.location)
        if spread > MAX_SITE_RADIUS_M:
            raise ValidationError(
                {
                    "location": f"The entrance is {spread:.0f} m from its polling place; it must be within "
                    f"{MAX_SITE_RADIUS_M:.0f} m (check the coordinates and their order)."
                }
            )


class Election(models.Model):
    """An election day in a jurisdiction, with the local hours the polls are open."""

    jurisdiction = models.ForeignKey(Jurisdiction, on_delete=models.PROTECT, related_name="elections")
    name = models.CharField(max_length=200)
    date = models.DateField()
    polls_open = models.TimeField(help_text="Local time.")
    polls_close = models.TimeField(help_text="Local time.")

    class Meta:
        ordering = ["date", "jurisdiction__code"]
        constraints = [
            models.UniqueConstraint(
                fields=["jurisdiction", "date", "name"],
                name="polling_election_unique_name_per_day",
                violation_error_message="This jurisdiction already has an election with this name on this date.",
            ),
            models.CheckConstraint(
                condition=Q(polls_close__gt=models.F("polls_open")),
                name="polling_election_close_after_open",
                violation_error_message="Polls must close after they open.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.date:%Y-%m-%d})"


class PrecinctAssignment(models.Model):
    """Which polling place serves a precinct in an election (at most one per precinct and election)."""

    election = models.ForeignKey(Election, on_delete=models.CASCADE, related_name="assignments")
    precinct = models.ForeignKey(Precinct, on_delete=models.CASCADE, related_name="assignments")
    polling_place = models.ForeignKey(PollingPlace, on_delete=models.PROTECT, related_name="assignments")

    class Meta:
        ordering = ["election_id", "precinct_id"]
        constraints = [
            models.UniqueConstraint(
                fields=["election", "precinct"],
                name="polling_assignment_one_place_per_precinct",
                violation_error_message="This precinct already has a polling place in this election.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.precinct} → {self.polling_place}"

    def clean(self) -> None:
        if not (self.election_id and self.precinct_id):
            return
        # Only the jurisdiction ids are needed: never load county boundaries to compare them.
        states = dict(
            County.objects.filter(pk__in=Precinct.objects.filter(pk=self.precinct_id).values("county_id")).values_list(
                "pk", "jurisdiction_id"
            )
        )
        election_state = Election.objects.values_list("jurisdiction_id", flat=True).get(pk=self.election_id)
        if election_state not in states.values():
            raise ValidationError({"precinct": "The precinct is not in this election's jurisdiction."})
        if self.polling_place_id:
            place_state = PollingPlace.objects.values_list("county__jurisdiction_id", flat=True).get(
                pk=self.polling_place_id
            )
            if place_state != election_state:
                raise ValidationError({"polling_place": "The polling place is not in this election's jurisdiction."})


class GeographyVersion(models.Model):
    """A single counter, raised in the same transaction as any change to geography, rules or assignments.

    Every server process keeps an in-memory spatial index (``polling.spatial``) tagged with the version it was built
    from, and compares it with this row once per request: a change is seen by every process on its next request.
    """

    value = models.BigIntegerField(default=0)

    class Meta:
        constraints = [models.CheckConstraint(condition=Q(pk=1), name="polling_geographyversion_singleton")]

    def __str__(self) -> str:
        return f"geography version {self.value}"


# --- election day: who is present (check-in / check-out) ------------------------------------------------------------


class PresenceRule(models.Model):
    """A quota: at most ``max_inside`` holders of one credential kind inside a polling place at once, counted per
    appointing party, per appointing candidate, or for the kind as a whole.

    Kinds without a rule have no limit (Mississippi: federal and state observers, seeded without a rule)."""

    class CredentialKind(models.TextChoices):
        # Mirrors ``accounts.models.Credential.Kind`` (not imported: accounts depends on polling).
        POLL_WATCHER = "poll_watcher", "Poll watcher"
        FEDERAL_OBSERVER = "federal_observer", "Federal observer"
        STATE_OBSERVER = "state_observer", "State observer"

    class Per(models.TextChoices):
        PARTY = "party", "Per appointing party"
        CANDIDATE = "candidate", "Per appointing candidate"
        KIND = "kind", "For the kind as a whole"

    jurisdiction = models.ForeignKey(Jurisdiction, on_delete=models.CASCADE, related_name="presence_rules")
    credential_kind = models.CharField(max_length=20, choices=CredentialKind.choices)
    per = models.CharField(max_length=10, choices=Per.choices)
    max_inside = models.PositiveIntegerField()
    citation = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["jurisdiction__code", "credential_kind", "per"]
        constraints = [
            models.UniqueConstraint(
                fields=["jurisdiction", "credential_kind", "per"],
                name="polling_presencerule_unique",
                violation_error_message="This jurisdiction already has this quota.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.jurisdiction_id}: at most {self.max_inside} {self.credential_kind} {self.per}"


class PresenceLedger(models.Model):
    """One row per (polling place, election): the lock every check-in/out takes (``SELECT … FOR UPDATE``), the
    roster version (raised on every accepted event; the roster's ETag) and the last hybrid-logical-clock value."""

    polling_place = models.ForeignKey(PollingPlace, on_delete=models.PROTECT, related_name="+")
    election = models.ForeignKey(Election, on_delete=models.PROTECT, related_name="+")
    roster_version = models.BigIntegerField(default=0)
    last_hlc = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["polling_place", "election"], name="polling_presenceledger_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.polling_place_id}/{self.election_id} v{self.roster_version}"


class PresenceEvent(AppendOnlyModel):
    """One check-in or check-out sent by a tablet, accepted or refused, with the first answer given (replayed for a
    repeated ``event_id``). Append-only: updates and deletes are refused by the ORM.

    Who is inside is derived from the accepted events of each credential in ``(effective_at, hlc)`` order, whatever
    order they arrived in (``polling.timeline``). ``hlc`` is a hybrid logical clock: ``max(server ms since the
    epoch, previous hlc of the place/election + 1)``, taken under the ledger lock, so events of one polling place are
    totally ordered even if the server clock steps.
    """

    class Kind(models.TextChoices):
        CHECK_IN = "check_in", "Check-in"
        CHECK_OUT = "check_out", "Check-out"

    class Outcome(models.TextChoices):
        ACCEPTED = "accepted", "Accepted"
        REFUSED = "refused", "Refused"

    class Source(models.TextChoices):
        ONLINE = "online", "Online (check-in/out endpoint)"
        SYNC = "sync", "Offline, uploaded by sync"

    event_id = models.UUIDField(unique=True)
    kind = models.CharField(max_length=10, choices=Kind.choices)
    source = models.CharField(max_length=10, choices=Source.choices, default=Source.ONLINE)
    device = models.ForeignKey("accounts.Device", on_delete=models.PROTECT, related_name="+")
    worker = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", help_text="Who recorded it."
    )
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="Who was signed in when it was synced, if not the recorder (sync only).",
    )
    credential = models.ForeignKey(
        "accounts.Credential", null=True, blank=True, on_delete=models.PROTECT, related_name="presence_events"
    )
    polling_place = models.ForeignKey(PollingPlace, on_delete=models.PROTECT, related_name="presence_events")
    election = models.ForeignKey(Election, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    occurred_at = models.DateTimeField(help_text="Tablet time.")
    received_at = models.DateTimeField(help_text="Server time.")
    clock_offset_ms = models.BigIntegerField(
        default=0, help_text="Tablet clock minus server clock when the event was uploaded (sync); 0 online."
    )
    effective_at = models.DateTimeField(
        help_text="When it happened by the server's clock: the tablet time corrected by the clock offset. Who is "
        "inside is derived from accepted events in this order."
    )
    hlc = models.BigIntegerField()
    outcome = models.CharField(max_length=10, choices=Outcome.choices)
    reason = models.CharField(max_length=32, blank=True)
    body_hash = models.CharField(max_length=64)
    status_code = models.PositiveSmallIntegerField(help_text="HTTP status of the first answer.")
    response = models.JSONField(help_text="Body of the first answer.")

    append_only_message = "The presence log is append-only."

    class Meta:
        ordering = ["hlc", "pk"]
        indexes = [
            models.Index(fields=["polling_place", "election", "hlc"], name="polling_presence_place_idx"),
            models.Index(fields=["polling_place", "election", "effective_at"], name="polling_presence_timeline_idx"),
            models.Index(fields=["credential", "election", "effective_at"], name="polling_presence_cred_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(outcome="accepted", reason="") | (Q(outcome="refused") & ~Q(reason="")),
                name="polling_presenceevent_refusal_has_reason",
                violation_error_message="A refused event has a reason; an accepted one has none.",
            ),
            models.CheckConstraint(
                condition=Q(outcome="refused") | Q(credential__isnull=False, election__isnull=False),
                name="polling_presenceevent_accepted_has_credential",
                violation_error_message="An accepted event names its credential and election.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event_id} {self.kind} {self.outcome} {self.reason}".strip()


class Presence(models.Model):
    """Derived: who is inside now. A row per credential inside a (polling place, election), created by an accepted
    check-in and removed by the accepted check-out, in the same transaction as the event. It can always be rebuilt
    from ``PresenceEvent`` (latest accepted event per credential); it exists so the roster and the quota count are
    one indexed query."""

    polling_place = models.ForeignKey(PollingPlace, on_delete=models.PROTECT, related_name="+")
    election = models.ForeignKey(Election, on_delete=models.PROTECT, related_name="+")
    credential = models.ForeignKey("accounts.Credential", on_delete=models.PROTECT, related_name="+")
    check_in = models.ForeignKey(PresenceEvent, on_delete=models.PROTECT, related_name="+")

    class Meta:
        ordering = ["check_in__hlc"]
        constraints = [
            models.UniqueConstraint(
                fields=["polling_place", "election", "credential"], name="polling_presence_once_per_place"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.credential_id} @ {self.polling_place_id}/{self.election_id}"


class PresenceAnomaly(models.Model):
    """Something in the presence log a county commissioner must look at: recorded, never silently dropped.

    Most come from events recorded offline: the tablet admitted someone the server would have refused, or events from
    several tablets do not add up. Some depend on the order of events (a check-out whose check-in had not been
    uploaded yet): these are recomputed as events arrive and *cleared* (kept, with ``cleared_at``) when later uploads
    explain them, and opened again if they stop doing so. A commissioner closes one by reviewing it with a note.
    """

    class Code(models.TextChoices):
        CHECK_OUT_WITHOUT_CHECK_IN = "check_out_without_check_in", "Check-out without a check-in"
        CHECK_IN_AFTER_REVOCATION = "check_in_after_revocation", "Checked in after the credential was revoked"
        CREDENTIAL_NOT_VALID = "credential_not_valid", "Checked in outside the credential's validity"
        POLLS_CLOSED = "polls_closed", "Checked in while the polls were closed"
        INSIDE_TWO_PLACES = "inside_two_places", "Inside two polling places at once"
        QUOTA_EXCEEDED = "quota_exceeded", "Quota exceeded"
        CLOCK_SKEW = "clock_skew", "Tablet clock not believable"

    #: Recomputed from the whole timeline on every upload; the others are facts about one event.
    ORDER_DEPENDENT = frozenset({Code.CHECK_OUT_WITHOUT_CHECK_IN, Code.INSIDE_TWO_PLACES, Code.QUOTA_EXCEEDED})

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        CLEARED = "cleared", "Cleared by later events"
        REVIEWED = "reviewed", "Reviewed"

    event = models.ForeignKey(PresenceEvent, on_delete=models.PROTECT, related_name="anomalies")
    code = models.CharField(max_length=32, choices=Code.choices)
    polling_place = models.ForeignKey(PollingPlace, on_delete=models.PROTECT, related_name="+")
    election = models.ForeignKey(Election, on_delete=models.PROTECT, related_name="+")
    credential = models.ForeignKey("accounts.Credential", on_delete=models.PROTECT, related_name="+")
    detail = models.CharField(max_length=500)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    detected_at = models.DateTimeField()
    cleared_at = models.DateTimeField(null=True, blank=True)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    reviewed_at = models.DateTimeField(null=True, blank=True)
    review_note = models.TextField(blank=True, max_length=2000)

    class Meta:
        ordering = ["-detected_at", "-pk"]
        indexes = [
            models.Index(fields=["polling_place", "election", "status"], name="polling_anomaly_place_idx"),
            models.Index(fields=["credential", "election", "code"], name="polling_anomaly_cred_idx"),
            models.Index(fields=["status", "detected_at"], name="polling_anomaly_status_idx"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["event", "code"], name="polling_presenceanomaly_once_per_event"),
            models.CheckConstraint(
                condition=~Q(status="reviewed") | Q(reviewed_by__isnull=False, reviewed_at__isnull=False),
                name="polling_presenceanomaly_review_has_reviewer",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.code} ({self.status}) event {self.event_id}"


from polling.incidents_models import Incident  # noqa: E402,F401

"""Geography and elections: jurisdictions and their buffer rules, counties, precincts, polling places, entrances,
elections and which polling place serves which precinct in an election.

Geometry is WGS84 lon/lat stored portably (``polling.models.fields``); exact zone geometry lives in
``polling.geometry``.
"""

from __future__ import annotations

import zoneinfo
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Q
from shapely.geometry.base import BaseGeometry

from polling import geometry
from polling.models.fields import BoundField, GeometryField

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


class PlaceKind(models.TextChoices):
    """What a polling place is used for (VIP 6.0: a PollingLocation, ``IsEarlyVoting``, ``IsDropBox``)."""

    ELECTION_DAY = "election_day", "Election-day site"
    EARLY_VOTING = "early_voting", "Early-voting site"
    DROP_BOX = "drop_box", "Drop box"


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
    """A distance around a polling place inside which an activity is banned, and what it is measured from.

    A rule covers the sites where voting happens (election-day and early-voting sites), or drop boxes where the
    state's law bans the activity near them too (``applies_to``); a state has at most one rule per activity and
    kind of site.
    """

    class AppliesTo(models.TextChoices):
        VOTING_SITES = "voting_sites", "Election-day and early-voting sites"
        DROP_BOXES = "drop_boxes", "Ballot drop boxes"

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
    applies_to = models.CharField(
        max_length=20,
        choices=AppliesTo.choices,
        default=AppliesTo.VOTING_SITES,
        help_text="The kind of site the distance is kept from.",
    )

    class Meta:
        # Voting sites' rule first ("voting_sites" > "drop_boxes"): a caller taking the first rule of an activity
        # gets the polling-place rule, as before drop-box rules existed.
        ordering = ["jurisdiction__code", "activity", "-applies_to"]
        constraints = [
            models.UniqueConstraint(
                fields=["jurisdiction", "activity", "applies_to"],
                name="polling_bufferrule_one_per_activity_and_site",
                violation_error_message="This jurisdiction already has a rule for that activity at that kind of site.",
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
        site = " (drop boxes)" if self.applies_to == self.AppliesTo.DROP_BOXES else ""
        return (
            f"{self.jurisdiction.code}: no {self.activity} within {self.distance_ft} ft of {self.measured_from}{site}"
        )

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
    """A site where people vote or return ballots: its kinds (an election-day site, an early-voting site, a drop box,
    or several), its location, optional outline, entrances and accessibility notes.

    The location may be unknown yet (a feed gave only the address): such a place is shown by its address, has no
    buffer zones and is listed for a commissioner to locate (``located``).
    """

    county = models.ForeignKey(County, on_delete=models.PROTECT, related_name="polling_places")
    code = models.CharField(max_length=32, validators=[code_validator])
    name = models.CharField(max_length=200)
    address = models.CharField(max_length=300)
    is_election_day = models.BooleanField(
        "election-day site", default=True, help_text="Voters vote here on election day."
    )
    is_early_voting = models.BooleanField(
        "early-voting site", default=False, help_text="Voters vote here on early-voting days."
    )
    is_drop_box = models.BooleanField("drop box", default=False, help_text="Voters return ballots here.")
    location = GeometryField(
        geom_types=("Point",), null=True, blank=True, help_text="Empty while the coordinates are not known."
    )
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
            models.CheckConstraint(
                condition=Q(is_election_day=True) | Q(is_early_voting=True) | Q(is_drop_box=True),
                name="polling_pollingplace_has_a_kind",
                violation_error_message="A polling place is an election-day site, an early-voting site or a drop "
                "box (or several).",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.code})"

    def clean(self) -> None:
        if self.building is not None and self.location is None:
            raise ValidationError({"building": "Give the polling place's coordinates before its building outline."})
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
    def located(self) -> bool:
        """Whether the coordinates are known (an unsaved instance holds b"" until a geometry is given)."""
        return isinstance(self.location, BaseGeometry) and not self.location.is_empty

    @property
    def kinds(self) -> list[str]:
        """The kinds of site this is, as ``PlaceKind`` values in a fixed order."""
        flags = (
            (PlaceKind.ELECTION_DAY, self.is_election_day),
            (PlaceKind.EARLY_VOTING, self.is_early_voting),
            (PlaceKind.DROP_BOX, self.is_drop_box),
        )
        return [kind.value for kind, on in flags if on]

    @property
    def lon(self) -> float:
        """Longitude of a located place (check ``located`` first)."""
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
        if site is None:
            raise ValidationError({"location": "Give the polling place its coordinates before its entrances."})
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

    Every server process keeps an in-memory spatial index (``polling.geography.spatial``) tagged with the version it was
    built from, and compares it with this row once per request: a change is seen by every process on its next request.
    """

    value = models.BigIntegerField(default=0)

    class Meta:
        constraints = [models.CheckConstraint(condition=Q(pk=1), name="polling_geographyversion_singleton")]

    def __str__(self) -> str:
        return f"geography version {self.value}"

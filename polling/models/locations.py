"""Where and when a polling place serves an election: its dated opening hours, and the county vote centers (any voter
of the county may vote at any of them) that serve precincts without an assigned place.

Hours are wall-clock times of the place's own time zone, stored with the IANA name of that zone, so a schedule
keeps its meaning across a daylight-saving change: 08:00 on the Monday after the clocks go back is 08:00 CST, not
an hour earlier. Conversion to instants happens in ``LocationHours.span``.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q

from polling.models.geography import Election, PollingPlace, validate_timezone

#: ``closes`` at this time means midnight at the end of ``date`` (a site open until the day ends, or all day).
END_OF_DAY = dt.time(0)


class LocationHours(models.Model):
    """One opening of a polling place on one local date in an election (several per day for split hours)."""

    polling_place = models.ForeignKey(PollingPlace, on_delete=models.CASCADE, related_name="hours")
    election = models.ForeignKey(Election, on_delete=models.CASCADE, related_name="location_hours")
    date = models.DateField(help_text="Local date.")
    opens = models.TimeField(help_text="Local time.")
    closes = models.TimeField(help_text="Local time; 00:00 means midnight at the end of the day.")
    timezone = models.CharField(
        max_length=64,
        blank=True,
        validators=[validate_timezone],
        help_text="IANA name of the zone the times are in; the polling place's county's zone when left empty.",
    )

    class Meta:
        ordering = ["polling_place_id", "election_id", "date", "opens"]
        verbose_name = "location hours"
        verbose_name_plural = "location hours"
        constraints = [
            models.UniqueConstraint(
                fields=["polling_place", "election", "date", "opens"],
                name="polling_locationhours_one_opening_per_start",
                violation_error_message="This place already opens at this time on this date in this election.",
            ),
            models.CheckConstraint(
                condition=Q(closes__gt=models.F("opens")) | Q(closes=END_OF_DAY),
                name="polling_locationhours_close_after_open",
                violation_error_message="A site must close after it opens (00:00 means the end of the day).",
            ),
            models.CheckConstraint(
                condition=~Q(timezone=""),
                name="polling_locationhours_zone_given",
                violation_error_message="The hours need their time zone.",
            ),
        ]
        indexes = [models.Index(fields=["election", "polling_place"], name="polling_hours_elec_place_idx")]

    def __str__(self) -> str:
        return f"{self.polling_place_id}: {self.date:%Y-%m-%d} {self.opens:%H:%M}-{self.closes:%H:%M} {self.timezone}"

    def clean(self) -> None:
        if not (self.polling_place_id and self.election_id):
            return
        place = PollingPlace.objects.select_related("county__jurisdiction").only(
            "county__timezone", "county__jurisdiction__timezone", "county__jurisdiction_id"
        )
        county = place.get(pk=self.polling_place_id).county
        if not self.timezone:
            self.timezone = county.timezone or county.jurisdiction.timezone
        election = Election.objects.only("jurisdiction_id", "date").get(pk=self.election_id)
        if election.jurisdiction_id != county.jurisdiction_id:
            raise ValidationError({"election": "The polling place is not in this election's jurisdiction."})
        if self.date is not None and self.date > election.date:
            raise ValidationError({"date": "Hours of an election end on its election day."})
        if self.date is None or self.opens is None or self.closes is None:
            return
        for other in LocationHours.objects.filter(
            polling_place_id=self.polling_place_id, election_id=self.election_id, date=self.date
        ).exclude(pk=self.pk):
            if self.opens < other.end_clock() and other.opens < self.end_clock():
                raise ValidationError(
                    {"opens": f"Overlaps the opening {other.opens:%H:%M}-{other.closes:%H:%M} of the same day."}
                )

    def end_clock(self) -> dt.time:
        """``closes`` as an upper bound of the day's clock: midnight at the end of the day sorts after every time."""
        return dt.time.max if self.closes == END_OF_DAY else self.closes

    def span(self) -> tuple[dt.datetime, dt.datetime]:
        """The opening as UTC instants. A wall-clock time skipped by a spring-forward change is read with the offset
        before the change; one repeated by a fall-back change, as its first occurrence (``zoneinfo``'s fold=0)."""
        zone = zoneinfo.ZoneInfo(self.timezone)
        start = dt.datetime.combine(self.date, self.opens, tzinfo=zone)
        end_date = self.date + dt.timedelta(days=1) if self.closes == END_OF_DAY else self.date
        end = dt.datetime.combine(end_date, self.closes, tzinfo=zone)
        return start.astimezone(dt.UTC), end.astimezone(dt.UTC)


class VoteCenter(models.Model):
    """In this election, any voter of the place's county may vote here on election day. A precinct of the county
    without an assigned place (``PrecinctAssignment``) is served by all of them."""

    election = models.ForeignKey(Election, on_delete=models.CASCADE, related_name="vote_centers")
    polling_place = models.ForeignKey(PollingPlace, on_delete=models.PROTECT, related_name="vote_center_of")

    class Meta:
        ordering = ["election_id", "polling_place_id"]
        constraints = [
            models.UniqueConstraint(
                fields=["election", "polling_place"],
                name="polling_votecenter_once_per_election",
                violation_error_message="This place is already a vote center in this election.",
            ),
        ]

    def __str__(self) -> str:
        return f"vote center {self.polling_place_id} in election {self.election_id}"

    def clean(self) -> None:
        if not (self.election_id and self.polling_place_id):
            return
        kind, place_state = PollingPlace.objects.values_list("is_election_day", "county__jurisdiction_id").get(
            pk=self.polling_place_id
        )
        if not kind:
            raise ValidationError({"polling_place": "A vote center is an election-day site."})
        if place_state != Election.objects.values_list("jurisdiction_id", flat=True).get(pk=self.election_id):
            raise ValidationError({"polling_place": "The polling place is not in this election's jurisdiction."})

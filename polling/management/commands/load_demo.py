"""``manage.py load_demo``: Mississippi's real counties with synthetic demo precincts and polling places, and each
county's circuit clerk's office as its in-person absentee ("early") voting site.

Idempotent: creates the upcoming general election if missing, then imports fixtures/mississippi/*.geojson, which
assigns every demo precinct to its polling place in that election, then the early-voting sites of
``early_voting.geojson`` with their hours for that election (``early_voting_hours``). Running it again changes
nothing.

Mississippi has no early voting as such: a voter with an excuse votes absentee in person at the circuit clerk's
office of the county (Miss. Code § 23-15-715), during office hours on weekdays and from 8 a.m. to noon on the two
Saturdays before the election, the second of them being the last day to do so. It has no ballot drop boxes (HB 1406,
2024), so the demo has none, and it votes at precinct polling places, so the demo has no vote centers.
"""

from __future__ import annotations

import datetime as dt
import json
import tempfile
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser
from django.db import transaction
from django.utils import timezone

from polling.geography.elections import next_general_election_day
from polling.geography.importer import ImportResult, import_geography
from polling.geography.selectors import state_zone
from polling.geography.services import geography_version_bump
from polling.models import County, Election, Jurisdiction
from polling.vip.locations import FeedLocations, LocationRow, Span, locations_write

FIXTURES = Path(settings.BASE_DIR) / "fixtures" / "mississippi"
EARLY_VOTING = FIXTURES / "early_voting.geojson"
#: Absentee ballots are available from 45 days before the election; the demo opens the offices from then.
ABSENTEE_DAYS = 45
OFFICE_HOURS = (dt.time(8), dt.time(17))
SATURDAY_HOURS = (dt.time(8), dt.time(12))


def early_voting_hours(election_day: dt.date) -> tuple[Span, ...]:
    """A circuit clerk's absentee-voting hours for an election: weekdays 08:00-17:00 from ``ABSENTEE_DAYS`` before
    it to the Friday before, and 08:00-12:00 on the two Saturdays before it (local time). Holidays are not left out.
    """
    last = election_day - dt.timedelta(days=(election_day.weekday() - 5) % 7 or 7)  # the Saturday before
    saturdays = {last, last - dt.timedelta(days=7)}
    spans: list[Span] = []
    day = election_day - dt.timedelta(days=ABSENTEE_DAYS)
    while day <= last:
        if day.weekday() < 5:
            spans.append((day, *OFFICE_HOURS))
        elif day in saturdays:
            spans.append((day, *SATURDAY_HOURS))
        day += dt.timedelta(days=1)
    return tuple(spans)


def load_early_voting(
    *, election: Election, path: Path = EARLY_VOTING, counties: set[str] | None = None
) -> tuple[ImportResult | None, int]:
    """Store the early-voting sites of ``path`` (of the given county FIPS codes, or all) with their hours in
    ``election``: the located ones through the geography importer, then kinds, hours and the ones without
    coordinates through ``locations_write``. Returns the importer's result and the number of rows written."""
    features = [
        f
        for f in json.loads(path.read_text(encoding="utf-8"))["features"]
        if counties is None or f["properties"]["county_fips"] in counties
    ]
    located = [f for f in features if f["geometry"] is not None]
    fips = {f["properties"]["county_fips"] for f in features}
    held = {c.fips: c for c in County.objects.defer("boundary").select_related("jurisdiction").filter(fips__in=fips)}
    hours = early_voting_hours(election.date)
    rows = [
        LocationRow(
            vip_id=f"{p['county_fips']}-{p['code']}",
            county=held[p["county_fips"]],
            code=p["code"],
            name=p["name"],
            address=p["address"],
            is_election_day=False,
            is_early_voting=True,
            is_drop_box=False,
            hours=hours,
            located=f["geometry"] is not None,
        )
        for f in features
        for p in [f["properties"]]
    ]
    with transaction.atomic():
        result = None
        if located:
            with tempfile.TemporaryDirectory() as tmp:
                subset = Path(tmp) / path.name
                subset.write_text(json.dumps({"type": "FeatureCollection", "features": located}), encoding="utf-8")
                result = import_geography(polling_places=subset)
        written = locations_write(election=election, feed_locations=FeedLocations(rows=rows), source=path.name)
        if written.changed and not (result and result.changed):
            geography_version_bump()
    return result, written.created + written.updated + written.deleted


class Command(BaseCommand):
    help = (
        "Load the Mississippi demo: 82 real counties, synthetic precincts and polling places, the circuit clerks' "
        "offices as in-person absentee voting sites, an upcoming election."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--no-progress", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        mississippi = Jurisdiction.objects.get(code="MS")
        # "Upcoming" by the state's own calendar, as the import that follows reads it.
        day = next_general_election_day(timezone.localdate(timezone=state_zone(mississippi)))
        election, created = Election.objects.get_or_create(
            jurisdiction=mississippi,
            date=day,
            name=f"{day.year} General Election (demo)",
            # Miss. Code § 23-15-541: polls open at 7 a.m. and close at 7 p.m.
            defaults={"polls_open": dt.time(7, 0), "polls_close": dt.time(19, 0)},
        )
        self.stdout.write(f"{'Created' if created else 'Using'} election: {election}")
        call_command(
            "import_geography",
            counties=FIXTURES / "counties.geojson",
            precincts=FIXTURES / "precincts.geojson",
            polling_places=FIXTURES / "polling_places.geojson",
            election=election.pk,
            no_progress=options["no_progress"],
            stdout=self.stdout,
            stderr=self.stderr,
        )
        result, written = load_early_voting(election=election)
        places = result.created.get("polling places", 0) if result else 0
        self.stdout.write(
            f"Early-voting sites (circuit clerks' offices): {places} created; "
            f"kinds and hours: {written} rows written (0 when nothing changed)"
        )

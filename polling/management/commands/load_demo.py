"""``manage.py load_demo``: Mississippi's real counties with synthetic demo precincts and polling places.

Idempotent: creates the upcoming general election if missing, then imports fixtures/mississippi/*.geojson, which
assigns every demo precinct to its polling place in that election.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser
from django.utils import timezone

from polling.geography.elections import next_general_election_day
from polling.geography.selectors import state_zone
from polling.models import Election, Jurisdiction

FIXTURES = Path(settings.BASE_DIR) / "fixtures" / "mississippi"


class Command(BaseCommand):
    help = "Load the Mississippi demo: 82 real counties, synthetic precincts and polling places, an upcoming election."

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

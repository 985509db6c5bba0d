"""``manage.py rebuild_presence``: re-derive who is inside, and the timeline anomalies, from the presence log."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from polling.election_day import timeline
from polling.models import Election, PresenceEvent


class Command(BaseCommand):
    help = (
        "Re-derive the roster (who is inside) and the order-dependent anomalies of every polling place of an "
        "election from the append-only presence log. Safe while tablets are checking in (it takes their locks)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--election", type=int, required=True, help="Election id")
        parser.add_argument("--polling-place", type=int, help="Only this polling place")

    def handle(self, *args: Any, **options: Any) -> None:
        election = Election.objects.filter(pk=options["election"]).first()
        if election is None:
            raise CommandError(f"No election with id {options['election']}.")
        places = PresenceEvent.objects.filter(election=election)
        if options["polling_place"] is not None:
            places = places.filter(polling_place_id=options["polling_place"])
        place_ids = sorted(set(places.values_list("polling_place_id", flat=True)))
        total = 0
        for place_id in place_ids:
            counts = timeline.presence_rebuild(polling_place_id=place_id, election_id=election.pk)
            total += counts["roster_rows_changed"]
            if counts["roster_rows_changed"]:
                self.stdout.write(f"polling place {place_id}: {counts['roster_rows_changed']} roster rows corrected")
        self.stdout.write(
            self.style.SUCCESS(f"{len(place_ids)} polling places rebuilt; {total} roster rows corrected.")
        )

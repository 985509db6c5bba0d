"""``manage.py export_vip --election ID --out feed.zip``: an election's VIP 6.0 feed (docs/import.md)."""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from polling.models import Election
from polling.vip import FEED_XML
from polling.vip.export import export_vip, validate


class Command(BaseCommand):
    help = (
        "Write an election's Voting Information Project 6.0 feed as a zip: the state, its counties, precincts "
        "(boundaries in a checksummed WGS84 shapefile), polling places and the election's precinct assignments."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--election", type=int, required=True, help="id of the election")
        parser.add_argument("--out", type=Path, required=True, help="the feed .zip to write (replaced)")

    def handle(self, *args: Any, **options: Any) -> None:
        election = Election.objects.select_related("jurisdiction").filter(pk=options["election"]).first()
        if election is None:
            raise CommandError(f"No election with id {options['election']}.")
        out = Path(options["out"])
        if not out.parent.is_dir():
            raise CommandError(f"{out.parent} is not a folder.")
        result = export_vip(election=election, out=out)
        self.stdout.write(
            f"{election}: {result.localities} localities, {result.precincts} precincts, "
            f"{result.polling_locations} polling locations, {result.assignments} assignments → {out}"
        )
        try:
            with zipfile.ZipFile(out) as archive:
                problems = validate(archive.read(FEED_XML))
        except ImportError:
            self.stderr.write("not validated: install xmlschema (the dev extra) to check the feed against the schema")
            return
        if problems:
            raise CommandError("The feed is not valid VIP 6.0:\n" + "\n".join(f"  - {p}" for p in problems[:20]))
        self.stdout.write(self.style.SUCCESS("Valid against the VIP 6.0 schema."))

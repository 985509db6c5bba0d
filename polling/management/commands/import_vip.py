"""``manage.py import_vip PATH``: a VIP 6.0 feed into our tables, all or nothing (docs/import.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from polling.geography.importer import GeographyImportError
from polling.vip.import_ import import_vip


class Command(BaseCommand):
    help = (
        "Import a Voting Information Project 6.0 feed (a .zip, a folder, or the .xml with its files beside it): "
        "the election, precincts with their shapefile boundaries, polling locations of every kind with their hours, "
        "which serves which precinct and the vote centers. "
        "Counties must be known already. Validated first; nothing is stored if anything is wrong."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", type=Path, help="the feed .zip, a folder, or the feed .xml")
        parser.add_argument("--repair", action="store_true", help="repair invalid polygons instead of refusing them")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            result = import_vip(path=Path(options["path"]), repair=options["repair"])
        except GeographyImportError as exc:
            raise CommandError(str(exc)) from None
        geography = result.geography
        self.stdout.write(f"election: {result.election} ({'created' if result.election_created else 'found'})")
        for kind in sorted(set(geography.created) | set(geography.updated) | set(geography.unchanged)):
            self.stdout.write(
                f"{kind}: {geography.created.get(kind, 0)} created, {geography.updated.get(kind, 0)} updated, "
                f"{geography.unchanged.get(kind, 0)} unchanged"
                + (f", {geography.deleted[kind]} deleted" if geography.deleted.get(kind) else "")
            )
        locations = result.locations
        self.stdout.write(
            f"kinds, hours, vote centers and places without coordinates: {locations.created} created, "
            f"{locations.updated} updated, {locations.deleted} deleted"
        )
        if locations.warnings:
            self.stdout.write(
                f"{locations.warnings} location(s) kept without coordinates: listed under Import warnings in the admin"
            )
        for line in [*geography.notes, *result.skipped]:
            self.stdout.write(line)
        for warning in geography.warnings:
            self.stderr.write(self.style.WARNING(f"warning: {warning}"))
        self.stdout.write(self.style.SUCCESS("Import complete."))

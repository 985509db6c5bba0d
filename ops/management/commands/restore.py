"""``manage.py restore ARCHIVE``: load an archive into an empty, migrated database (of either engine) and check it.

Refuses a database that already holds data unless ``--force`` (which replaces everything, append-only tables
included). One transaction: a wrong key, a damaged archive, a schema mismatch or restored tables that do not match
the manifest leave the database as it was.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from ops.backup import BackupError, load_key, restore_backup


class Command(BaseCommand):
    help = "Restore a backup archive into an empty database (migrate it first)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("archive")
        parser.add_argument("--database", default="default")
        parser.add_argument("--force", action="store_true", help="Replace the data of a non-empty database.")
        parser.add_argument("--no-media", action="store_true", help="Do not write the archive's files to MEDIA_ROOT.")

    def handle(self, *args: Any, **options: Any) -> None:
        path = Path(options["archive"])
        if not path.is_file():
            raise CommandError(f"No such archive: {path}.")
        try:
            result = restore_backup(
                path=path,
                key=load_key(),
                using=options["database"],
                force=options["force"],
                include_media=not options["no_media"],
            )
        except BackupError as exc:
            raise CommandError(f"Restore refused, nothing changed: {exc}") from None
        self.stdout.write(
            f"Restored {path.name} ({result.manifest['engine']} → this database): {result.rows:,} rows, "
            f"{result.media} media files in {result.seconds:.2f} s; row counts and content hashes match the manifest, "
            f"audit chain verified to head {result.manifest['audit']['head']}."
        )

"""``manage.py prune_backups``: apply the retention policy to a folder of archives (``ops.backup.retention``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from ops.backup import prune


class Command(BaseCommand):
    help = "Remove archives the retention policy no longer keeps (the newest is always kept)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--dir", help="The folder (default: BACKUP_DIR).")
        parser.add_argument("--keep-last", type=int, default=1)
        parser.add_argument("--keep-daily", type=int, default=7)
        parser.add_argument("--keep-weekly", type=int, default=4)
        parser.add_argument("--dry-run", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        directory = options["dir"] or settings.BACKUP_DIR
        if not directory:
            raise CommandError("Name the folder with --dir (or set BACKUP_DIR).")
        if min(options["keep_last"], options["keep_daily"], options["keep_weekly"]) < 0:
            raise CommandError("Keep counts cannot be negative.")
        kept, removed = prune(
            Path(directory),
            keep_last=options["keep_last"],
            keep_daily=options["keep_daily"],
            keep_weekly=options["keep_weekly"],
            dry_run=options["dry_run"],
        )
        verb = "Would remove" if options["dry_run"] else "Removed"
        for path in removed:
            self.stdout.write(f"{verb} {path.name}")
        self.stdout.write(f"Kept {len(kept)}, {verb.lower()} {len(removed)}.")

"""``manage.py backup --to DIR``: one encrypted, authenticated archive of the whole database and its photos.

Read from one snapshot without stopping the service (``ops.backup.rows.snapshot``). The key comes from BACKUP_KEY or
BACKUP_KEY_FILE; ``--new-key`` prints a fresh one to store in the secret manager (never beside the archives).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from ops.backup import BackupError, create_backup, load_key, new_key, prune


class Command(BaseCommand):
    help = "Write an encrypted backup archive (database + incident photos) into a folder."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--to", metavar="DIR", help="Folder for the archive (default: BACKUP_DIR).")
        parser.add_argument("--database", default="default")
        parser.add_argument("--no-media", action="store_true", help="Leave the files under MEDIA_ROOT out.")
        parser.add_argument("--new-key", action="store_true", help="Print a fresh BACKUP_KEY and exit.")
        parser.add_argument("--prune", action="store_true", help="Then apply the retention policy to the folder.")
        parser.add_argument("--keep-last", type=int, default=1)
        parser.add_argument("--keep-daily", type=int, default=7)
        parser.add_argument("--keep-weekly", type=int, default=4)
        parser.add_argument("--format", choices=["text", "json"], default="text")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["new_key"]:
            self.stdout.write(new_key())
            return
        directory = options["to"] or settings.BACKUP_DIR
        if not directory:
            raise CommandError("Name the folder with --to DIR (or set BACKUP_DIR).")
        try:
            result = create_backup(
                directory=Path(directory),
                key=load_key(),
                using=options["database"],
                include_media=not options["no_media"],
            )
        except BackupError as exc:
            raise CommandError(str(exc)) from None
        rows = sum(t["rows"] for t in result.manifest["tables"])
        summary = {
            "path": str(result.path),
            "bytes": result.size,
            "seconds": round(result.seconds, 2),
            "rows": rows,
            "tables": len(result.manifest["tables"]),
            "media_files": len(result.manifest["media"]),
            "schema_version": result.manifest["schema_version"],
            "audit_head": result.manifest["audit"]["head"],
            "snapshot": result.manifest["snapshot"],
        }
        if options["prune"]:
            _kept, removed = prune(
                Path(directory),
                keep_last=options["keep_last"],
                keep_daily=options["keep_daily"],
                keep_weekly=options["keep_weekly"],
            )
            summary["pruned"] = [p.name for p in removed]
        if options["format"] == "json":
            self.stdout.write(json.dumps(summary, indent=2))
        else:
            self.stdout.write(
                f"Backup written: {result.path} ({result.size:,} bytes, {rows:,} rows in {summary['tables']} tables, "
                f"{summary['media_files']} media files) in {result.seconds:.2f} s; snapshot: {summary['snapshot']}."
            )

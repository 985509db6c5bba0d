"""``manage.py verify_backup ARCHIVE``: decrypt, authenticate and check an archive against its manifest, writing
nothing. Exit 0 when sound; an error naming the problem (wrong key, truncated, tampered with, corrupt, not matching
its manifest) otherwise."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from ops.backup import BackupError, load_key, read_archive
from ops.backup.archive import archives


class Command(BaseCommand):
    help = "Verify a backup archive (the newest in BACKUP_DIR when none is named)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("archive", nargs="?", help="The .pgbk file (default: the newest in BACKUP_DIR).")
        parser.add_argument("--format", choices=["text", "json"], default="text")

    def handle(self, *args: Any, **options: Any) -> None:
        path = Path(options["archive"]) if options["archive"] else _newest()
        if not path.is_file():
            raise CommandError(f"No such archive: {path}.")
        try:
            reading = read_archive(path, load_key())
        except BackupError as exc:
            raise CommandError(f"{path.name}: {exc}") from None
        manifest = reading.manifest
        summary = {
            "path": str(path),
            "ok": True,
            "created_at": manifest["created_at"],
            "engine": manifest["engine"],
            "schema_version": manifest["schema_version"],
            "rows": sum(t["rows"] for t in manifest["tables"]),
            "tables": {t["model"]: t["rows"] for t in manifest["tables"] if t["rows"]},
            "media_files": len(manifest["media"]),
            "audit": manifest["audit"],
        }
        if options["format"] == "json":
            self.stdout.write(json.dumps(summary, indent=2))
        else:
            self.stdout.write(
                f"OK: {path.name} made {summary['created_at']} from {summary['engine']}, "
                f"schema {summary['schema_version']}: "
                f"{summary['rows']:,} rows, {summary['media_files']} media files, audit head "
                f"{manifest['audit']['head']} ({manifest['audit']['events']} events); every chunk authenticated and "
                "every table and file matches the manifest."
            )


def _newest() -> Path:
    if not settings.BACKUP_DIR:
        raise CommandError("Name the archive (or set BACKUP_DIR).")
    found = list(archives(Path(settings.BACKUP_DIR)))
    if not found:
        raise CommandError(f"No archive in {settings.BACKUP_DIR}.")
    return found[-1][1]

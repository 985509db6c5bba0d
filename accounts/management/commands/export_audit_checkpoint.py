"""``manage.py export_audit_checkpoint``: sign the audit chain's count and head hash (Ed25519) into a checkpoint.

Run daily (docs/operations.md, "Audit trail") and on demand, e.g. before and after an election day. The chain is
verified first, against the newest checkpoint too, and a chain that does not verify is never signed (exit 1).
Prints the path written: by default a new file named by its UTC time in ``AUDIT_CHECKPOINT_DIR``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts import audit_chain


class Command(BaseCommand):
    help = "Verify the audit chain and export a signed checkpoint of its head; prints the file's path."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--out", metavar="FILE", help="Write here instead of a new file in AUDIT_CHECKPOINT_DIR.")

    def handle(self, *args: Any, **options: Any) -> None:
        out = Path(options["out"]) if options["out"] else None
        try:
            path, _checkpoint = audit_chain.export_checkpoint(out=out)
        except audit_chain.ChainBroken as exc:
            raise CommandError(
                f"Not exported: the audit trail is not intact: {exc.report.problem}", returncode=1
            ) from None
        except (audit_chain.CheckpointError, OSError, ValueError) as exc:
            raise CommandError(f"Not exported: {exc}", returncode=1) from None
        self.stdout.write(str(path))

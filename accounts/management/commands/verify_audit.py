"""``manage.py verify_audit``: walk the audit chain and name its first broken link; exit 0 when intact, 1 otherwise.

By default the chain is checked against the newest checkpoint in ``AUDIT_CHECKPOINT_DIR`` (so a truncated tail is
found too); ``--checkpoint FILE`` names one instead (a copy kept off the server is the one an attacker cannot reach)
and ``--no-checkpoint`` walks the chain alone. A checkpoint must be signed by the key pinned with ``--public-key``,
else by this server's own checkpoint key; when neither is at hand the command refuses, unless told to trust the key
the checkpoint carries (``--trust-embedded-key``, said so again on every run).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts import audit_chain


class Command(BaseCommand):
    help = "Verify the hash chain of the audit trail (and its newest or a given signed checkpoint)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--checkpoint", metavar="FILE", help="Check against this signed checkpoint file.")
        parser.add_argument(
            "--no-checkpoint", action="store_true", help="Walk the chain alone (no checkpoint from the directory)."
        )
        parser.add_argument(
            "--public-key",
            metavar="FILE_OR_BASE64",
            help="The key checkpoints must be signed by: base64 of the raw Ed25519 key, or a file (PEM or base64).",
        )
        parser.add_argument(
            "--trust-embedded-key",
            action="store_true",
            help="With no key pinned and no local key: accept the key the checkpoint carries (proves nothing against "
            "a forger; only consistency).",
        )
        parser.add_argument("--format", choices=["text", "json"], default="text")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            pinned = (
                audit_chain.parse_public_key(options["public_key"])
                if options["public_key"]
                else audit_chain.local_public_key()
            )
        except (audit_chain.CheckpointError, ValueError) as exc:
            raise CommandError(f"The public key is refused: {exc}.", returncode=1) from None
        if options["checkpoint"]:
            path = Path(options["checkpoint"])
            if pinned is None and not options["trust_embedded_key"]:
                # A checkpoint that vouches for its own key proves nothing: anyone can sign a truncated chain's head.
                raise CommandError(
                    "No key to check the checkpoint's signature against: pin the service's checkpoint key with "
                    "--public-key (or run where AUDIT_CHECKPOINT_KEY_FILE is), or pass --trust-embedded-key to "
                    "accept the key the checkpoint carries.",
                    returncode=1,
                )
            try:
                checkpoint = audit_chain.load_checkpoint(path, public_key=pinned)
            except audit_chain.CheckpointError as exc:
                raise CommandError(f"The checkpoint {path} is refused: it {exc}.", returncode=1) from None
            if pinned is None:
                self.stderr.write(
                    f"Trusting the key the checkpoint carries ({checkpoint.key_id}); pin one with --public-key."
                )
            report = audit_chain.verify(checkpoint=checkpoint)
        elif options["no_checkpoint"]:
            report = audit_chain.verify()
        else:
            report = audit_chain.audit_status(public_key=pinned)
        if options["format"] == "json":
            self.stdout.write(json.dumps(report.as_dict(), indent=2, sort_keys=True))
        elif report.intact:
            against = f"; matches the {report.checkpoint.describe()}" if report.checkpoint else "; no checkpoint"
            self.stdout.write(
                self.style.SUCCESS(f"Audit trail intact: {report.count} events, head {report.head_hash}{against}.")
            )
        if not report.intact:
            raise CommandError(f"Audit trail NOT intact: {report.problem}", returncode=1)

"""``manage.py rotate_signing_key``: make a new credential-signing key; optionally retire old ones.

Rotation never breaks printed credentials by itself: the previous key stops signing but still verifies until it is
retired (``--retire KEY_ID``, or ``--retire-all-inactive``), at which point every token it signed is refused as
``unknown_key`` and must be reprinted. Tablets pick the change up from ``GET /api/v1/credentials/keys/``.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.audit import Actor
from accounts.credentials import keys
from accounts.models import SigningKey
from common.errors import DomainError


class Command(BaseCommand):
    help = "Make a new active credential-signing key (old keys keep verifying until retired)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--retire", type=int, action="append", default=[], metavar="KEY_ID", help="Retire this key (repeatable)."
        )
        parser.add_argument(
            "--retire-all-inactive", action="store_true", help="Retire every key except the new active one."
        )
        parser.add_argument("--no-rotate", action="store_true", help="Only retire; keep the active key.")
        parser.add_argument(
            "--reencrypt",
            action="store_true",
            help="Re-encrypt private keys under the first CREDENTIAL_KEY_ENCRYPTION_KEY secret.",
        )
        parser.add_argument("--list", action="store_true", help="Only list the keys.")

    def handle(self, *args: Any, **options: Any) -> None:
        actor = Actor.system()
        if options["list"]:
            self._list()
            return
        try:
            if options["reencrypt"]:
                n = keys.signing_keys_reencrypt(actor=actor)
                self.stdout.write(f"Re-encrypted {n} key(s).")
            if not options["no_rotate"] and not options["reencrypt"]:
                key = keys.signing_key_rotate(actor=actor)
                self.stdout.write(self.style.SUCCESS(f"Key {key.key_id} is now active."))
            retire = list(options["retire"])
            if options["retire_all_inactive"]:
                retire += list(
                    SigningKey.objects.filter(active=False, retired_at__isnull=True).values_list("key_id", flat=True)
                )
            for key_id in dict.fromkeys(retire):
                keys.signing_key_retire(actor=actor, key_id=key_id)
                self.stdout.write(f"Key {key_id} retired: tokens it signed are no longer accepted.")
        except DomainError as exc:
            raise CommandError(exc.detail) from None
        except ValueError as exc:  # the key-encryption secret cannot open a key
            raise CommandError(str(exc)) from None
        self._list()

    def _list(self) -> None:
        for key in SigningKey.objects.order_by("key_id"):
            self.stdout.write(f"  {key.key_id:5d}  {key.state:12s}  created {key.created_at:%Y-%m-%d %H:%M}Z")

"""``manage.py enrol_totp USERNAME``: set up a user's authenticator app from the server console.

For the first administrator of a new installation (and the demo), who cannot enrol through the API before anyone
can sign in. Prints the otpauth URI (for a QR code or an authenticator app) and single-use recovery codes, once.
"""

from __future__ import annotations

from base64 import b32encode
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.audit import Actor
from accounts.models import User
from accounts.people.lockout import account_key
from accounts.people.totp import totp_enrol_by_operator
from common.errors import DomainError


class Command(BaseCommand):
    help = "Set up TOTP (and recovery codes) for a user from the console; refuses if one is set up unless --reset."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--reset", action="store_true", help="replace an existing authenticator")

    def handle(self, *args: Any, **options: Any) -> None:
        user = User.objects.filter(username=account_key(options["username"])).first()
        if user is None:
            raise CommandError(f"No user {options['username']!r}.")
        try:
            device, codes = totp_enrol_by_operator(
                actor=Actor(user=None, device="manage.py enrol_totp"), user=user, reset=options["reset"]
            )
        except DomainError:
            raise CommandError("This user already has an authenticator; pass --reset to replace it.") from None
        self.stdout.write(f"Authenticator for {user.username} (shown once):")
        self.stdout.write(f"  otpauth URI: {device.config_url}")
        self.stdout.write(f"  secret:      {b32encode(device.bin_key).decode()}")
        self.stdout.write("  recovery codes (each works once): " + ", ".join(codes))

"""``manage.py enrol_totp USERNAME``: set up a user's authenticator app from the server console.

For the first administrator of a new installation (and the demo), who cannot enrol through the API before anyone
can sign in. Prints the otpauth URI (for a QR code or an authenticator app) and single-use recovery codes, once.
"""

from __future__ import annotations

from base64 import b32encode
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.audit import Actor, audit_record
from accounts.models import User


class Command(BaseCommand):
    help = "Set up TOTP (and recovery codes) for a user from the console; refuses if one is set up unless --reset."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--reset", action="store_true", help="replace an existing authenticator")

    def handle(self, *args: Any, **options: Any) -> None:
        user = User.objects.filter(username__iexact=options["username"]).first()
        if user is None:
            raise CommandError(f"No user {options['username']!r}.")
        with transaction.atomic():
            existing = TOTPDevice.objects.select_for_update().filter(user=user, confirmed=True)
            if existing.exists() and not options["reset"]:
                raise CommandError("This user already has an authenticator; pass --reset to replace it.")
            existing.delete()
            device = TOTPDevice.objects.create(
                user=user, name="Authenticator app", confirmed=True, step=30, tolerance=1
            )
            StaticDevice.objects.filter(user=user).delete()
            static = StaticDevice.objects.create(user=user, name="Recovery codes", confirmed=True)
            codes = [StaticToken.random_token() for _ in range(settings.AUTH_RECOVERY_CODE_COUNT)]
            StaticToken.objects.bulk_create(StaticToken(device=static, token=code) for code in codes)
            audit_record(
                actor=Actor(user=None, device="manage.py enrol_totp"),
                action="auth.totp_enrolled",
                obj=device,
                after={"user": user.pk, "confirmed": True, "recovery_codes": len(codes), "reset": options["reset"]},
            )
        self.stdout.write(f"Authenticator for {user.username} (shown once):")
        self.stdout.write(f"  otpauth URI: {device.config_url}")
        self.stdout.write(f"  secret:      {b32encode(device.bin_key).decode()}")
        self.stdout.write("  recovery codes (each works once): " + ", ".join(codes))

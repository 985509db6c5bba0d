"""The audit trail refuses TRUNCATE on PostgreSQL too (UPDATE and DELETE are refused since 0003), unless the session
says it is maintenance (``SET pollguard.allow_truncate = 'on'``: a restore from backup)."""

from django.db import migrations

from common import append_only


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0006_usernames_normalised"),
    ]

    operations = [
        append_only.postgres_truncate_guard("accounts_auditevent"),
    ]

"""The presence log and the incidents refuse TRUNCATE on PostgreSQL too (UPDATE and DELETE are refused since 0007 and
0008), unless the session says it is maintenance (``SET pollguard.allow_truncate = 'on'``: a restore from backup)."""

from django.db import migrations

from common import append_only


class Migration(migrations.Migration):
    dependencies = [
        ("polling", "0009_presence_uploaded_by"),
    ]

    operations = [
        append_only.postgres_truncate_guard("polling_presenceevent"),
        append_only.postgres_truncate_guard("polling_incident"),
    ]

"""The audit trail refuses TRUNCATE on PostgreSQL (issue 10), as it refuses UPDATE and DELETE: only a session that
says it is maintenance (``SET pollguard.allow_truncate = 'on'``, a restore from backup) may empty it."""

from __future__ import annotations

import pytest
from django.db import connection, transaction
from django.db.utils import DatabaseError

from accounts.audit import Actor, audit_record
from accounts.models import AuditEvent

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="TRUNCATE and its trigger exist on PostgreSQL only"),
]


def test_truncating_the_audit_trail_is_refused_outside_maintenance():
    audit_record(actor=Actor(user=None), action="test.event", object_type="test", object_id="1")
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # no deferred foreign-key check left pending
        cursor.execute("SET pollguard.allow_truncate = 'off'")
        try:
            with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
                cursor.execute("TRUNCATE accounts_auditevent CASCADE")
        finally:
            cursor.execute("RESET pollguard.allow_truncate")
    assert AuditEvent.objects.filter(action="test.event").exists()


def test_the_guard_is_installed_on_the_audit_table():
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT tgname FROM pg_trigger WHERE tgrelid = 'accounts_auditevent'::regclass AND NOT tgisinternal"
        )
        names = {row[0] for row in cursor.fetchall()}
    assert "accounts_auditevent_no_truncate" in names

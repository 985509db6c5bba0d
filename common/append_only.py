"""Append-only records (audit trail, presence log, incidents): the ORM refuses to change or remove a stored row.

On PostgreSQL each such table also has a trigger refusing UPDATE and DELETE (see the models' migrations), so raw
SQL and other clients are refused too, and one refusing TRUNCATE unless the session says it is maintenance
(``SET pollguard.allow_truncate = 'on'``: a restore from backup; the test settings set it, since test databases are
emptied with TRUNCATE between transactional tests).
"""

from __future__ import annotations

from typing import Any

from django.db import models


class AppendOnlyQuerySet(models.QuerySet[Any]):
    def update(self, **kwargs: Any) -> int:
        raise PermissionError(self.model.append_only_message)

    def delete(self) -> tuple[int, dict[str, int]]:
        raise PermissionError(self.model.append_only_message)


class AppendOnlyModel(models.Model):
    """Rows are inserted once and never saved again, updated in bulk or deleted."""

    append_only_message = "This record is append-only."

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        abstract = True

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None and not kwargs.get("force_insert"):
            raise PermissionError(self.append_only_message)
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> Any:
        raise PermissionError(self.append_only_message)


def _on_postgresql(install: str, remove: str) -> Any:
    """A migration operation running ``install`` (and ``remove`` backwards) on PostgreSQL only."""
    from django.db import migrations

    def forwards(apps: Any, schema_editor: Any) -> None:
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(install, params=None)

    def backwards(apps: Any, schema_editor: Any) -> None:
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(remove, params=None)

    return migrations.RunPython(forwards, backwards, elidable=False)


def postgres_trigger(table: str) -> Any:
    """A migration operation that, on PostgreSQL, installs a trigger refusing UPDATE and DELETE on ``table`` whoever
    asks (raw SQL and other clients included); TRUNCATE has its own guard (``postgres_truncate_guard``). A no-op on
    SQLite, where the ORM's refusal is the guard."""
    name = f"{table}_append_only"
    install = f"""
CREATE OR REPLACE FUNCTION {name}() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION '{table} is append-only: % refused', TG_OP USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER {name}
    BEFORE UPDATE OR DELETE ON {table}
    FOR EACH ROW EXECUTE FUNCTION {name}();
"""
    remove = f"DROP TRIGGER IF EXISTS {name} ON {table}; DROP FUNCTION IF EXISTS {name}();"

    return _on_postgresql(install, remove)


#: The session setting that lets TRUNCATE through (never set by the service itself).
TRUNCATE_SETTING = "pollguard.allow_truncate"


def postgres_truncate_guard(table: str) -> Any:
    """A migration operation that, on PostgreSQL, installs a statement trigger refusing TRUNCATE on ``table`` unless
    the session has set ``pollguard.allow_truncate`` to ``on``. A no-op on SQLite (which has no TRUNCATE)."""
    name = f"{table}_no_truncate"
    install = f"""
CREATE OR REPLACE FUNCTION {name}() RETURNS trigger AS $$
BEGIN
    IF coalesce(current_setting('{TRUNCATE_SETTING}', true), '') <> 'on' THEN
        RAISE EXCEPTION '{table} is append-only: TRUNCATE refused' USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER {name}
    BEFORE TRUNCATE ON {table}
    FOR EACH STATEMENT EXECUTE FUNCTION {name}();
"""
    remove = f"DROP TRIGGER IF EXISTS {name} ON {table}; DROP FUNCTION IF EXISTS {name}();"

    return _on_postgresql(install, remove)

"""Loading an archive into an empty database, in one transaction, checked against its manifest before it commits.

"Empty": a migrated schema whose tables hold nothing beyond what ``migrate`` itself writes (content types,
permissions, the seeded reference rows: ``REFERENCE``); anything else needs ``force``. The target's tables are
cleared inside the transaction — on PostgreSQL with TRUNCATE under ``pollguard.allow_truncate`` (the append-only
tables' maintenance switch, ``common.append_only``), set for this transaction only — and the rows inserted as stored
(``raw``: no ``auto_now`` rewrites them, explicit primary keys kept), then PostgreSQL's sequences are moved past
them. Before the commit, the restored tables are dumped again and must give the manifest's row counts and content
hashes, and the audit chain must verify with the manifest's head. Photos are written to a staging folder under
MEDIA_ROOT and moved into place only after the commit.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import shutil
import time
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, Any

from django.conf import settings
from django.core.management.color import no_style
from django.db import connections, models, transaction

from common.append_only import TRUNCATE_SETTING
from ops.backup import archive, rows
from ops.backup.errors import BackupError

#: Tables a freshly migrated database already fills (replaced by the archive's rows on restore).
REFERENCE = frozenset(
    {
        "contenttypes.contenttype",
        "auth.permission",
        "polling.jurisdiction",
        "polling.bufferrule",
        "polling.presencerule",
        "polling.geographyversion",
    }
)
INSERT_BATCH = 500


@dataclass
class RestoreResult:
    manifest: dict[str, Any]
    rows: int
    media: int
    seconds: float


def rows_present(using: str) -> dict[str, int]:
    """Tables outside ``REFERENCE`` that hold rows, with their counts."""
    found = {}
    for model in rows.table_models():
        label = model._meta.label_lower
        if label in REFERENCE:
            continue
        count = model._base_manager.using(using).count()
        if count:
            found[label] = count
    return found


def verify_audit(using: str) -> tuple[bool, str]:
    """The audit chain's verdict: the full walk (``accounts.audit_chain.verify``: links, hashes and the head) when
    that module is there, else ``accounts.audit.verify_chain``."""
    try:
        from accounts import audit_chain
    except ImportError:  # pragma: no cover - the older tool
        from accounts.audit import verify_chain
        from accounts.models import AuditEvent

        intact, bad = verify_chain(AuditEvent.objects.using(using).order_by("pk").iterator())
        return intact, "intact" if intact else f"broken at event {bad}"
    report = audit_chain.verify()
    return report.intact, "intact" if report.intact else f"broken at event {report.first_broken_pk}: {report.problem}"


def _clear(using: str, models_: list[type[models.Model]]) -> None:
    connection = connections[using]
    tables = [m._meta.db_table for m in models_]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # Fire any deferred foreign-key checks now (TRUNCATE refuses tables with pending trigger events, which
            # an enclosing transaction that wrote to them has), then defer them again for the load.
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cursor.execute("SET CONSTRAINTS ALL DEFERRED")
            cursor.execute(f"SET LOCAL {TRUNCATE_SETTING} = 'on'")
            quoted = ", ".join(connection.ops.quote_name(t) for t in tables)
            cursor.execute(f"TRUNCATE {quoted} CASCADE")  # table names from the model registry
            cursor.execute(f"SET LOCAL {TRUNCATE_SETTING} = 'off'")
        else:
            for table in reversed(tables):
                cursor.execute(f"DELETE FROM {connection.ops.quote_name(table)}")  # noqa: S608  # nosec B608 - names from the model registry, quoted


def _safe_relative(relative: str) -> PurePosixPath:
    path = PurePosixPath(relative)
    if path.is_absolute() or ".." in path.parts or not path.parts or path.parts[0].startswith(archive.STAGING_PREFIX):
        raise BackupError("corrupt", f"Unsafe media path in the archive: {relative!r}.")
    return path


def restore_backup(
    *, path: Path, key: bytes, using: str = "default", force: bool = False, include_media: bool = True
) -> RestoreResult:
    """Load the archive at ``path`` into the database ``using`` (see the module's docstring)."""
    started = time.monotonic()
    connection = connections[using]
    by_label = {m._meta.label_lower: m for m in rows.table_models()}
    media_root = Path(settings.MEDIA_ROOT)
    staging = media_root / f"{archive.STAGING_PREFIX}{secrets.token_hex(8)}"
    loaded = 0

    pending = rows.unapplied_migrations(using)
    if pending:
        raise BackupError("schema_mismatch", f"The target is not migrated ({', '.join(pending[:5])}): run migrate.")

    def on_schema(schema: dict[str, Any]) -> None:
        mine = rows.applied_migrations(using)
        if schema["schema"] != mine:
            theirs = {f"{a}.{n}" for a, names in schema["schema"].items() for n in names}
            ours = {f"{a}.{n}" for a, names in mine.items() for n in names}
            missing, extra = sorted(theirs - ours), sorted(ours - theirs)
            raise BackupError(
                "schema_mismatch",
                "The target's schema is not the archive's: "
                f"not applied here {missing[:5]}, applied here only {extra[:5]}. Migrate to the archive's version.",
            )
        listed = {t["model"] for t in schema["tables"]}
        if listed != set(by_label):
            raise BackupError("schema_mismatch", f"Tables differ: {sorted(listed ^ set(by_label))[:5]}.")
        for entry in schema["tables"]:
            names = [f.attname for f in rows.columns(by_label[entry["model"]])]
            if names != entry["columns"]:
                raise BackupError("schema_mismatch", f"{entry['model']}: the columns differ.")
        present = rows_present(using)
        if present and not force:
            shown = ", ".join(f"{k} ({v})" for k, v in sorted(present.items())[:6])
            raise BackupError("not_empty", f"The target database is not empty: {shown}. Restore into an empty one.")
        _clear(using, list(by_label.values()))

    def on_rows(label: str, names: list[str], lines: list[bytes]) -> None:
        nonlocal loaded
        model = by_label[label]
        fields = rows.columns(model)
        objs = []
        for line in lines:
            values = json.loads(line)
            objs.append(model(**{f.attname: rows.decode(f, v) for f, v in zip(fields, values, strict=True)}))
        manager = model._base_manager.using(using)
        size = max(1, min(INSERT_BATCH, connection.ops.bulk_batch_size(fields, objs)))
        for start in range(0, len(objs), size):
            manager._insert(objs[start : start + size], fields=fields, using=using, raw=True)  # type: ignore[attr-defined]
        loaded += len(objs)

    def on_media(relative: str, handle: IO[bytes], size: int) -> str:
        target = staging / _safe_relative(relative)
        hasher = hashlib.sha256()
        if include_media:
            target.parent.mkdir(parents=True, exist_ok=True)
            with open(target, "wb") as out:
                while chunk := handle.read(1 << 16):
                    hasher.update(chunk)
                    out.write(chunk)
        else:
            while chunk := handle.read(1 << 16):
                hasher.update(chunk)
        return hasher.hexdigest()

    try:
        with transaction.atomic(using=using):
            reading = archive.read_archive(path, key, on_schema=on_schema, on_rows=on_rows, on_media=on_media)
            if connection.vendor == "postgresql":
                with connection.cursor() as cursor:
                    for sql in connection.ops.sequence_reset_sql(no_style(), list(by_label.values())):
                        cursor.execute(sql)
            _check_restored(using, reading.manifest)
        from django.contrib.contenttypes.models import ContentType

        ContentType.objects.clear_cache()
        media = 0
        if include_media and staging.is_dir():
            for item in sorted(p for p in staging.rglob("*") if p.is_file()):
                final = media_root / item.relative_to(staging)
                final.parent.mkdir(parents=True, exist_ok=True)
                item.replace(final)
                media += 1
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return RestoreResult(manifest=reading.manifest, rows=loaded, media=media, seconds=time.monotonic() - started)


def _check_restored(using: str, manifest: dict[str, Any]) -> None:
    """The database now holds exactly what was backed up, and its audit chain verifies up to the same head."""
    now = rows.table_hashes(using)
    wrong = [t["model"] for t in manifest["tables"] if now.get(t["model"]) != (t["rows"], t["sha256"])]
    if wrong:
        raise BackupError("restore_failed", f"Restored tables differ from the manifest: {wrong[:5]}; rolled back.")
    ok, detail = verify_audit(using)
    if not ok:
        raise BackupError("restore_failed", f"The restored audit chain does not verify ({detail}); rolled back.")
    if archive.audit_head(using) != manifest["audit"]:
        raise BackupError("restore_failed", "The restored audit chain's head is not the manifest's; rolled back.")

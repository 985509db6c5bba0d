"""Writing and reading a backup archive: a gzip'd tar stream inside the encrypted envelope (``ops.backup.crypto``).

Members, in order: ``schema.json`` (format, schema version, the tables and their columns: read first, so a restore
refuses a mismatched schema before loading anything), ``tables/<NNNN>-<app.model>/<part>.jsonl`` (canonical rows,
``PART_ROWS`` a member so memory stays bounded), ``media/<path>`` (every file under MEDIA_ROOT: incident photos),
and ``manifest.json`` last — row counts and content hashes per table, each media file's size and hash, the audit
chain's head, created at — since the hashes are known only once everything is written. Reading checks every member
against the manifest; the envelope has already authenticated every byte.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import os
import tarfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import django
from django.conf import settings
from django.db import connections

from ops.backup import rows
from ops.backup.crypto import DecryptingReader, EncryptingWriter, key_file_path, read_header
from ops.backup.errors import BackupError

PART_ROWS = 5000
SUFFIX = ".pgbk"
PREFIX = "pollguard-"
#: Staging folders a restore writes photos to before its transaction commits; never backed up.
STAGING_PREFIX = ".restore-"


def archive_name(created_at: dt.datetime) -> str:
    return f"{PREFIX}{created_at.astimezone(dt.UTC):%Y%m%dT%H%M%S}Z{SUFFIX}"


def parse_archive_time(name: str) -> dt.datetime | None:
    if not (name.startswith(PREFIX) and name.endswith(SUFFIX)):
        return None
    try:
        stamp = dt.datetime.strptime(name[len(PREFIX) : -len(SUFFIX)], "%Y%m%dT%H%M%SZ")
    except ValueError:
        return None
    return stamp.replace(tzinfo=dt.UTC)


@dataclass
class BackupResult:
    path: Path
    size: int
    seconds: float
    manifest: dict[str, Any]


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes, mtime: float) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = int(mtime)
    info.mode = 0o600
    tar.addfile(info, io.BytesIO(data))


class _Hashing:
    """A file read through, hashed on the way."""

    def __init__(self, handle: IO[bytes]) -> None:
        self.handle = handle
        self.sha = hashlib.sha256()

    def read(self, size: int = -1) -> bytes:
        data = self.handle.read(size)
        self.sha.update(data)
        return data


def media_files(root: Path) -> list[tuple[str, Path]]:
    if not root.is_dir():
        return []
    found = []
    for directory, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith(STAGING_PREFIX))
        for name in sorted(files):
            path = Path(directory) / name
            if path.is_file() and not path.is_symlink():
                found.append((path.relative_to(root).as_posix(), path))
    return found


def audit_head(using: str) -> dict[str, Any]:
    from accounts.models import AuditChainHead, AuditEvent

    last = AuditEvent.objects.using(using).order_by("-pk").values_list("pk", "hash").first()
    head = AuditChainHead.objects.using(using).filter(pk=1).values_list("last_hash", flat=True).first()
    return {
        "events": AuditEvent.objects.using(using).count(),
        "last_event": last[0] if last else None,
        "last_hash": last[1] if last else None,
        "head": head,
    }


def create_backup(
    *, directory: Path, key: bytes, using: str = "default", include_media: bool = True, environ: Any = None
) -> BackupResult:
    """Write one archive of the whole database (and MEDIA_ROOT) into ``directory``, read from one snapshot.

    Written to a ``.partial`` file, synced, then renamed: a crash leaves no half archive under an archive's name.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    key_path = key_file_path(environ)
    if key_path is not None and directory.resolve() in key_path.parents:
        raise BackupError(
            "unsafe_key_location", "BACKUP_KEY_FILE lies inside the backup folder: keep the key apart from archives."
        )
    pending = rows.unapplied_migrations(using)
    if pending:
        raise BackupError("schema_mismatch", f"The database is not migrated ({', '.join(pending[:5])}): run migrate.")
    started = time.monotonic()
    created_at = dt.datetime.now(dt.UTC).replace(microsecond=0)
    target = directory / archive_name(created_at)
    partial = target.with_name(target.name + ".partial")
    connection = connections[using]
    header = {"created_at": created_at.isoformat(), "engine": connection.vendor, "app": "pollguard"}
    try:
        with open(partial, "wb") as out:
            writer = EncryptingWriter(out, key, header)
            manifest = _write_members(writer, using=using, include_media=include_media, created_at=created_at)
            writer.finish()
            out.flush()
            os.fsync(out.fileno())
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    return BackupResult(path=target, size=target.stat().st_size, seconds=time.monotonic() - started, manifest=manifest)


def _write_members(
    writer: EncryptingWriter, *, using: str, include_media: bool, created_at: dt.datetime
) -> dict[str, Any]:
    mtime = created_at.timestamp()
    tables: list[dict[str, Any]] = []
    with tarfile.open(fileobj=writer, mode="w|gz", format=tarfile.PAX_FORMAT) as tar:  # type: ignore[call-overload]
        with rows.snapshot(using) as how:
            schema = rows.applied_migrations(using)
            models = rows.table_models()
            listing: list[dict[str, Any]] = [
                {
                    "model": m._meta.label_lower,
                    "table": m._meta.db_table,
                    "columns": [f.attname for f in rows.columns(m)],
                }
                for m in models
            ]
            _add_bytes(
                tar,
                "schema.json",
                json.dumps(
                    {"schema": schema, "schema_version": rows.schema_version(schema), "tables": listing}
                ).encode(),
                mtime,
            )
            for number, (model, entry) in enumerate(zip(models, listing, strict=True)):
                digest = rows.TableHash(entry["columns"])
                part, buffer = 0, bytearray()

                def flush(part: int, buffer: bytearray, number: int = number, label: str = entry["model"]) -> None:
                    _add_bytes(tar, f"tables/{number:04d}-{label}/{part:06d}.jsonl", bytes(buffer), mtime)

                for line in rows.table_rows(model, using):
                    digest.add(line)
                    buffer += line + b"\n"
                    if digest.rows % PART_ROWS == 0:
                        flush(part, buffer)
                        part, buffer = part + 1, bytearray()
                if buffer or digest.rows == 0:
                    flush(part, buffer)
                tables.append({**entry, "rows": digest.rows, "sha256": digest.hexdigest()})
            audit = audit_head(using)
        # The photos after the rows: a photo is written before its incident commits, so every photo the snapshot
        # names is already there (a newer one, unreferenced, does no harm).
        media = []
        if include_media:
            for relative, path in media_files(Path(settings.MEDIA_ROOT)):
                with open(path, "rb") as handle:
                    info = tar.gettarinfo(fileobj=handle, arcname=f"media/{relative}")
                    info.mode, info.uid, info.gid, info.uname, info.gname = 0o600, 0, 0, "", ""
                    hashing = _Hashing(handle)
                    tar.addfile(info, hashing)
                media.append({"path": relative, "size": info.size, "sha256": hashing.sha.hexdigest()})
        manifest = {
            "format": 1,
            "app": "pollguard",
            "created_at": created_at.isoformat(),
            "engine": connections[using].vendor,
            "django": django.get_version(),
            "snapshot": how,
            "schema_version": rows.schema_version(schema),
            "schema": schema,
            "tables": [{k: t[k] for k in ("model", "table", "rows", "sha256")} for t in tables],
            "media": media,
            "audit": audit,
        }
        _add_bytes(tar, "manifest.json", json.dumps(manifest, indent=1).encode(), mtime)
    return manifest


# --- Reading ------------------------------------------------------------------------------------------------------


@dataclass
class Reading:
    """What a pass over an archive found, checked against its manifest."""

    header: dict[str, Any]
    schema: dict[str, Any] = field(default_factory=dict)
    manifest: dict[str, Any] = field(default_factory=dict)
    tables: dict[str, rows.TableHash] = field(default_factory=dict)
    media: dict[str, tuple[int, str]] = field(default_factory=dict)


#: Called with (model label, its column names, a member's JSON lines): the restore loads them.
RowSink = Callable[[str, list[str], list[bytes]], None]
#: Called with (relative path, file object, size): the restore writes the photo.
MediaSink = Callable[[str, IO[bytes], int], str]
#: Called with the schema member before any row: the restore refuses a mismatch there.
SchemaCheck = Callable[[dict[str, Any]], None]


def read_archive(
    path: Path,
    key: bytes,
    *,
    on_schema: SchemaCheck | None = None,
    on_rows: RowSink | None = None,
    on_media: MediaSink | None = None,
) -> Reading:
    """One pass over an archive: authenticate every byte, hash every table and file, and compare with the manifest.
    Raises ``BackupError`` (wrong_key, truncated, tampered, corrupt, mismatch)."""
    with open(path, "rb") as stream:
        reader = DecryptingReader(stream, key)
        reading = Reading(header=reader.header)
        try:
            with tarfile.open(fileobj=reader, mode="r|gz") as tar:  # type: ignore[call-overload]
                for member in tar:
                    _read_member(tar, member, reading, on_schema, on_rows, on_media)
            reader.drain()
        except (tarfile.TarError, EOFError, OSError, ValueError, UnicodeDecodeError) as exc:
            raise BackupError("corrupt", f"The archive's contents are corrupt ({type(exc).__name__}: {exc}).") from None
    _check_manifest(reading)
    return reading


def _read_member(
    tar: tarfile.TarFile,
    member: tarfile.TarInfo,
    reading: Reading,
    on_schema: SchemaCheck | None,
    on_rows: RowSink | None,
    on_media: MediaSink | None,
) -> None:
    if not member.isfile():
        raise BackupError("corrupt", f"Unexpected archive member {member.name!r}.")
    handle = tar.extractfile(member)
    assert handle is not None
    name = member.name
    if name == "schema.json":
        reading.schema = json.loads(handle.read())
        if on_schema is not None:
            on_schema(reading.schema)
        for entry in reading.schema["tables"]:
            reading.tables[entry["model"]] = rows.TableHash(entry["columns"])
    elif name.startswith("tables/"):
        label = name.split("/")[1].split("-", 1)[1]
        if label not in reading.tables:
            raise BackupError("corrupt", f"Rows of an unlisted table {label!r}.")
        digest = reading.tables[label]
        lines = handle.read().splitlines()
        for line in lines:
            digest.add(line)
        if on_rows is not None and lines:
            on_rows(label, digest.names, lines)
    elif name.startswith("media/"):
        relative = name[len("media/") :]
        if on_media is not None:
            sha = on_media(relative, handle, member.size)
        else:
            hasher = hashlib.sha256()
            while chunk := handle.read(1 << 16):
                hasher.update(chunk)
            sha = hasher.hexdigest()
        reading.media[relative] = (member.size, sha)
    elif name == "manifest.json":
        reading.manifest = json.loads(handle.read())
    else:
        raise BackupError("corrupt", f"Unexpected archive member {name!r}.")


def _check_manifest(reading: Reading) -> None:
    manifest = reading.manifest
    if not manifest or not reading.schema:
        raise BackupError("corrupt", "The archive has no manifest or no schema member.")
    problems = []
    listed = {t["model"]: t for t in manifest["tables"]}
    if set(listed) != set(reading.tables):
        problems.append("the manifest and the archive list different tables")
    for label, digest in reading.tables.items():
        entry = listed.get(label)
        if entry is None:
            continue
        if entry["rows"] != digest.rows:
            problems.append(f"{label}: {digest.rows} rows, the manifest says {entry['rows']}")
        elif entry["sha256"] != digest.hexdigest():
            problems.append(f"{label}: content hash differs from the manifest")
    media = {m["path"]: (m["size"], m["sha256"]) for m in manifest["media"]}
    if media != reading.media:
        problems.append("media files differ from the manifest")
    if problems:
        raise BackupError("mismatch", "The archive does not match its manifest: " + "; ".join(problems[:5]) + ".")


def peek_header(path: Path) -> dict[str, Any]:
    """The plain header of an archive (no key needed): when it was made, from which engine, with which key id."""
    with open(path, "rb") as stream:
        header, _ = read_header(stream)
    return header


def archives(directory: Path) -> Iterator[tuple[dt.datetime, Path]]:
    """The archives in a folder, by the time in their names, oldest first."""
    if not Path(directory).is_dir():
        return
    found = []
    for path in Path(directory).iterdir():
        stamp = parse_archive_time(path.name)
        if stamp is not None and path.is_file():
            found.append((stamp, path))
    yield from sorted(found)

"""Backups: the archive round-trips the whole database and its photos; a wrong key, a truncated, corrupted or
tampered archive are each named as such; restore refuses a database in use; retention keeps what it promises; the
daily report sees the newest archive's age."""

from __future__ import annotations

import base64
import datetime as dt
import os
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import transaction

from accounts.audit import Actor, audit_record
from ops.backup import (
    BackupError,
    create_backup,
    latest_backup_status,
    load_key,
    prune,
    read_archive,
    restore_backup,
    rows,
)
from ops.backup.archive import archive_name
from ops.backup.retention import to_keep
from polling.models import County

KEY = b"k" * 32
OTHER = b"o" * 32


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    photo = settings.MEDIA_ROOT / "incident-photos" / "abc.png"
    photo.parent.mkdir(parents=True)
    photo.write_bytes(b"\x89PNG fake photo bytes")
    return photo


@pytest.fixture
def data(db, county, place, election, commissioner, media):
    """Rows of many kinds (geometry, decimals, UUIDs, JSON, dates) and a few audit events."""
    with transaction.atomic():
        for n in range(3):
            audit_record(actor=Actor(user=commissioner), action="test.event", object_id=str(n), after={"n": n})
    return county


@pytest.fixture
def archive(data, tmp_path):
    return create_backup(directory=tmp_path / "backups", key=KEY).path


def flip(path: Path, offset: int) -> None:
    raw = bytearray(path.read_bytes())
    raw[offset] ^= 0x01
    path.write_bytes(bytes(raw))


def code_of(path: Path, key: bytes = KEY) -> str:
    with pytest.raises(BackupError) as caught:
        read_archive(path, key)
    return caught.value.code


def test_an_archive_verifies_and_its_manifest_matches_the_database(archive):
    reading = read_archive(archive, KEY)
    manifest = reading.manifest
    now = rows.table_hashes("default")
    assert {t["model"]: (t["rows"], t["sha256"]) for t in manifest["tables"]} == now
    assert manifest["tables"][0]["model"] != "accounts.auditevent"  # parents first
    assert manifest["audit"]["events"] == 3 and manifest["audit"]["head"] == manifest["audit"]["last_hash"]
    assert manifest["media"] == [
        {"path": "incident-photos/abc.png", "size": 21, "sha256": manifest["media"][0]["sha256"]}
    ]
    assert set(manifest["schema"]) >= {"accounts", "polling", "guard"}
    assert b"Hinds" not in archive.read_bytes()  # encrypted, not merely compressed


def test_restore_with_force_brings_back_the_same_rows_and_photos(archive, media):
    before = rows.table_hashes("default")
    County.objects.filter(pk=-1).delete()
    media.unlink()
    with pytest.raises(BackupError) as caught:
        restore_backup(path=archive, key=KEY)
    assert caught.value.code == "not_empty"
    result = restore_backup(path=archive, key=KEY, force=True)
    assert rows.table_hashes("default") == before
    assert media.read_bytes() == b"\x89PNG fake photo bytes"
    assert result.media == 1 and result.rows == sum(n for n, _ in before.values())


def test_a_wrong_key_is_named_as_such(archive):
    assert code_of(archive, OTHER) == "wrong_key"
    with pytest.raises(CommandError, match="Wrong backup key"):
        os.environ["BACKUP_KEY"] = base64.b64encode(OTHER).decode()
        try:
            call_command("verify_backup", str(archive))
        finally:
            del os.environ["BACKUP_KEY"]


@pytest.mark.parametrize("keep", [0, 10, 20, 200, -1, -17])
def test_a_truncated_archive_is_detected(archive, keep):
    raw = archive.read_bytes()
    archive.write_bytes(raw[:keep])
    assert code_of(archive) in {"truncated", "not_an_archive"} if keep < 20 else code_of(archive) == "truncated"


def test_tampering_anywhere_is_detected(archive):
    size = archive.stat().st_size
    original = archive.read_bytes()
    for offset in (size // 2, size - 1, size - 20):
        flip(archive, offset)
        assert code_of(archive) in {"tampered", "truncated"}, offset
        archive.write_bytes(original)
    archive.write_bytes(original + b"extra")
    assert code_of(archive) == "tampered"
    # The plain header: its date changed (the key id left alone) fails every chunk's authentication.
    archive.write_bytes(original.replace(b'"created_at":"20', b'"created_at":"19', 1))
    assert code_of(archive) == "tampered"
    archive.write_bytes(b"NOTOURS!" + original[8:])
    assert code_of(archive) == "not_an_archive"


def test_the_key_comes_from_the_environment_and_never_from_beside_the_archives(tmp_path, data):
    with pytest.raises(BackupError, match="No backup key"):
        load_key({})
    with pytest.raises(BackupError, match="32 bytes"):
        load_key({"BACKUP_KEY": base64.b64encode(b"short").decode()})
    key_file = tmp_path / "backups" / "key"
    key_file.parent.mkdir()
    key_file.write_text(base64.b64encode(KEY).decode())
    env = {"BACKUP_KEY_FILE": str(key_file)}
    assert load_key(env) == KEY
    with pytest.raises(BackupError) as caught:
        create_backup(directory=tmp_path / "backups", key=load_key(env), environ=env)
    assert caught.value.code == "unsafe_key_location"


def test_the_commands_back_up_verify_and_refuse_a_used_database(data, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("BACKUP_KEY", base64.b64encode(KEY).decode())
    call_command("backup", to=str(tmp_path / "b"))
    (path,) = (tmp_path / "b").glob("*.pgbk")
    call_command("verify_backup", str(path))
    assert "OK:" in capsys.readouterr().out
    with pytest.raises(CommandError, match="not_empty"):
        call_command("restore", str(path))


def test_retention_keeps_the_last_the_dailies_and_the_weeklies():
    start = dt.datetime(2026, 11, 1, 2, tzinfo=dt.UTC)
    stamps = [start + dt.timedelta(hours=12 * n) for n in range(60)]  # two a day for 30 days
    keep = to_keep(stamps, keep_last=2, keep_daily=7, keep_weekly=4)
    newest = sorted(stamps)[-2:]
    assert set(newest) <= keep
    days = {s.date() for s in keep}
    assert len([d for d in days if d >= stamps[-1].date() - dt.timedelta(days=6)]) == 7
    # 2026-11-30 is a Monday: the 2 newest (that day), 6 more days back to the 24th, and the newest of the weeks of
    # the 16th and the 9th (those of the 30th and the 23rd are kept already).
    assert len(keep) == 2 + 6 + 2
    assert to_keep(stamps[:1], keep_last=0, keep_daily=0, keep_weekly=0) == {stamps[0]}  # never the last one


def test_prune_and_status_on_a_folder(tmp_path, settings):
    settings.BACKUP_MAX_AGE_H = 26
    folder = tmp_path / "b"
    folder.mkdir()
    assert latest_backup_status(folder) is None
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    for days in range(10):
        (folder / archive_name(now - dt.timedelta(days=days, hours=1))).write_bytes(b"x")
    (folder / "notes.txt").write_text("not an archive")
    kept, removed = prune(folder, keep_last=1, keep_daily=3, keep_weekly=0)
    assert len(kept) == 3 and len(removed) == 7 and (folder / "notes.txt").exists()
    status = latest_backup_status(folder)
    assert status is not None and not status.ok and "magic" in (status.problem or "")  # not a real archive


def test_status_of_a_real_archive(archive, settings):
    settings.BACKUP_MAX_AGE_H = 26
    status = latest_backup_status(archive.parent)
    assert status is not None and status.ok and status.age_h < 1 and status.path == str(archive)
    later = dt.datetime.now(dt.UTC) + dt.timedelta(hours=30)
    late = latest_backup_status(archive.parent, now=later)
    assert late is not None and not late.ok and late.age_h >= 29

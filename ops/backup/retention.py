"""Which archives to keep, and how fresh the newest one is.

Retention works on a folder of archives by the time in their names (``pollguard-YYYYMMDDTHHMMSSZ.pgbk``): keep the
newest ``keep_last``; the newest of each of the last ``keep_daily`` days that have an archive; the newest of each of
the last ``keep_weekly`` ISO weeks that have one. Everything else goes. The newest archive is never removed, and a
file that is not named like an archive is never touched.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from ops.backup.archive import archives, peek_header
from ops.backup.errors import BackupError


def to_keep(
    stamps: list[dt.datetime], *, keep_last: int = 1, keep_daily: int = 7, keep_weekly: int = 4
) -> set[dt.datetime]:
    """The stamps a policy keeps (pure: tested on its own)."""
    newest_first = sorted(set(stamps), reverse=True)
    keep = set(newest_first[: max(1, keep_last)])
    days: dict[dt.date, dt.datetime] = {}
    weeks: dict[tuple[int, int], dt.datetime] = {}
    for stamp in newest_first:
        days.setdefault(stamp.date(), stamp)
        iso = stamp.isocalendar()
        weeks.setdefault((iso[0], iso[1]), stamp)
    keep.update(sorted(days.values(), reverse=True)[:keep_daily])
    keep.update(sorted(weeks.values(), reverse=True)[:keep_weekly])
    return keep


def prune(
    directory: Path, *, keep_last: int = 1, keep_daily: int = 7, keep_weekly: int = 4, dry_run: bool = False
) -> tuple[list[Path], list[Path]]:
    """Apply the policy to a folder: returns (kept, removed) archive paths."""
    found = list(archives(directory))
    keep = to_keep([s for s, _ in found], keep_last=keep_last, keep_daily=keep_daily, keep_weekly=keep_weekly)
    kept, removed = [], []
    for stamp, path in found:
        if stamp in keep:
            kept.append(path)
        else:
            if not dry_run:
                path.unlink()
            removed.append(path)
    return kept, removed


@dataclass(frozen=True)
class BackupStatus:
    """The newest archive of a folder: when it was made, how old it is, and whether that is fresh enough
    (``BACKUP_MAX_AGE_H``) with a readable header."""

    created_at: dt.datetime
    age_h: float
    path: str
    ok: bool
    problem: str | None = None


def latest_backup_status(directory: str | Path | None = None, *, now: dt.datetime | None = None) -> BackupStatus | None:
    """For the daily report: None when the folder has no archive at all."""
    folder = Path(directory or settings.BACKUP_DIR)
    found = list(archives(folder))
    if not found:
        return None
    stamp, path = found[-1]
    age_h = round(((now or dt.datetime.now(dt.UTC)) - stamp).total_seconds() / 3600, 1)
    problem = None
    try:
        header = peek_header(path)
        if header.get("created_at") != stamp.isoformat():
            problem = "the archive's header and name disagree"
    except (BackupError, OSError) as exc:
        problem = str(exc)
    if problem is None and age_h > settings.BACKUP_MAX_AGE_H:
        problem = f"older than BACKUP_MAX_AGE_H ({settings.BACKUP_MAX_AGE_H} h)"
    return BackupStatus(created_at=stamp, age_h=age_h, path=str(path), ok=problem is None, problem=problem)

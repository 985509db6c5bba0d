"""Backups held elsewhere: one encrypted, authenticated archive of the whole database and its photos, verified,
restored into an empty database of either engine, pruned by a retention policy (docs/operations.md, "Backups and
restore drills")."""

from ops.backup.archive import BackupResult, create_backup, read_archive
from ops.backup.crypto import load_key, new_key
from ops.backup.errors import BackupError
from ops.backup.restore import RestoreResult, restore_backup
from ops.backup.retention import BackupStatus, latest_backup_status, prune

__all__ = [
    "BackupError",
    "BackupResult",
    "BackupStatus",
    "RestoreResult",
    "create_backup",
    "latest_backup_status",
    "load_key",
    "new_key",
    "prune",
    "read_archive",
    "restore_backup",
]

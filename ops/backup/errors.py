"""Why a backup, a verification or a restore was refused: one exception with a stable code the commands print."""

from __future__ import annotations


class BackupError(Exception):
    """``code``: no_key, not_an_archive, wrong_key, truncated, tampered, corrupt, mismatch, schema_mismatch,
    not_empty, unsafe_key_location, restore_failed."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail

    def __str__(self) -> str:
        return f"{self.detail} [{self.code}]"

"""Append-only records (audit trail, presence log, incidents): the ORM refuses to change or remove a stored row.

On PostgreSQL each such table also has a trigger refusing UPDATE and DELETE (see the models' migrations), so raw
SQL and other clients are refused too.
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

"""The append-only, hash-chained audit trail."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from common.append_only import AppendOnlyModel


class AuditEvent(AppendOnlyModel):
    """One change of a role, user, device, session or credential: who, what, when (UTC), from where, before/after.

    Written by ``accounts.audit.audit_record`` in the same transaction as the change. Each event carries the hash of
    the one before it (``prev_hash``) and its own ``hash`` over its content and ``prev_hash``, so removing or editing
    any event breaks the chain from there on. Updates and deletes are refused by the ORM and, on PostgreSQL, by a
    trigger.
    """

    occurred_at = models.DateTimeField(db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    actor_label = models.CharField(max_length=200, help_text="Who acted, as shown then (kept if the user is renamed).")
    action = models.CharField(max_length=64, db_index=True)
    object_type = models.CharField(max_length=64)
    object_id = models.CharField(max_length=64)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    device = models.CharField(max_length=100, blank=True)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64, unique=True)

    append_only_message = "The audit trail is append-only."

    class Meta:
        ordering = ["pk"]
        indexes = [models.Index(fields=["object_type", "object_id"], name="accounts_audit_object_idx")]

    def __str__(self) -> str:
        when = f"{self.occurred_at:%Y-%m-%d %H:%M:%S}Z"
        return f"{when} {self.actor_label} {self.action} {self.object_type}:{self.object_id}"


class AuditChainHead(models.Model):
    """The hash of the newest audit event; locked (``SELECT … FOR UPDATE``) to append, so the chain stays linear
    with any number of concurrent writers."""

    last_hash = models.CharField(max_length=64)

    class Meta:
        constraints = [models.CheckConstraint(condition=models.Q(pk=1), name="accounts_auditchainhead_singleton")]

    def __str__(self) -> str:
        return self.last_hash

"""Writing the audit trail: ``audit_record`` appends one hash-chained event inside the caller's transaction."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.utils import timezone

from accounts.models import AuditChainHead, AuditEvent

GENESIS = "0" * 64


@dataclass(frozen=True)
class Actor:
    """Who is acting and from where: built once per request (``Actor.from_request``) and passed to services."""

    user: Any | None
    ip_address: str | None = None
    device: str = ""

    @property
    def label(self) -> str:
        if self.user is None:
            return "system"
        return f"{self.user.get_username()} (#{self.user.pk})"

    @classmethod
    def system(cls) -> Actor:
        return cls(user=None)


def canonical(event: dict[str, Any]) -> bytes:
    return json.dumps(event, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str).encode()


def event_hash(prev_hash: str, content: dict[str, Any]) -> str:
    return hashlib.sha256(prev_hash.encode() + b"\n" + canonical(content)).hexdigest()


def _content(event: AuditEvent) -> dict[str, Any]:
    return {
        "occurred_at": event.occurred_at.isoformat(),
        "actor_id": event.actor_id,
        "actor_label": event.actor_label,
        "action": event.action,
        "object_type": event.object_type,
        "object_id": event.object_id,
        "ip_address": event.ip_address,
        "device": event.device,
        "before": event.before,
        "after": event.after,
    }


def audit_record(
    *,
    actor: Actor,
    action: str,
    obj: Any | None = None,
    object_type: str = "",
    object_id: str = "",
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> AuditEvent:
    """Append an event to the chain. Must run inside the transaction that makes the change it records."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("audit_record() must run inside the transaction of the change it records")
    head, _ = AuditChainHead.objects.select_for_update().get_or_create(pk=1, defaults={"last_hash": GENESIS})
    event = AuditEvent(
        occurred_at=timezone.now(),
        actor=actor.user,
        actor_label=actor.label,
        action=action,
        object_type=object_type or (obj._meta.label_lower if obj is not None else ""),
        object_id=object_id or (str(obj.pk) if obj is not None else ""),
        ip_address=actor.ip_address,
        device=actor.device,
        # Round-trip through JSON so what is hashed is exactly what the database stores and returns.
        before=json.loads(canonical(before)) if before is not None else None,
        after=json.loads(canonical(after)) if after is not None else None,
        prev_hash=head.last_hash,
    )
    event.hash = event_hash(head.last_hash, _content(event))
    event.save(force_insert=True)
    head.last_hash = event.hash
    head.save(update_fields=["last_hash"])
    return event


def verify_chain(events: Any = None) -> tuple[bool, int | None]:
    """Recompute the chain; returns (intact, pk of the first bad event). (Full tooling comes later.)"""
    prev = GENESIS
    for event in events if events is not None else AuditEvent.objects.order_by("pk").iterator():
        if event.prev_hash != prev or event_hash(prev, _content(event)) != event.hash:
            return False, event.pk
        prev = event.hash
    return True, None

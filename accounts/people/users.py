"""Users: disabling one (no more sign-ins, every session ended), and auditing a change made in the admin site.
Users are never deleted: their audit events and grants refer to them."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from accounts.audit import Actor, audit_record
from accounts.models import ApiSession, User
from accounts.people.sessions import sessions_end

USER_AUDIT_FIELDS = ("username", "first_name", "last_name", "email", "is_active", "is_staff", "is_superuser")


def user_snapshot(user: User) -> dict[str, Any]:
    """What the audit trail records of a user (never the password hash)."""
    return {name: getattr(user, name) for name in USER_AUDIT_FIELDS}


@transaction.atomic
def user_disable(*, actor: Actor, user: User, reason: str = "") -> User:
    """Disable a user (no more sign-ins) and end all their sessions at once. Disabling a disabled user changes
    nothing."""
    user = User.objects.select_for_update().get(pk=user.pk)
    if user.is_active:
        before = user_snapshot(user)
        user.is_active = False
        user.save(update_fields=["is_active"])
        audit_record(
            actor=actor, action="user.disabled", obj=user, before=before, after=user_snapshot(user) | {"reason": reason}
        )
    sessions_end(actor=actor, sessions=ApiSession.objects.filter(user=user), reason=ApiSession.EndReason.USER_DISABLED)
    return user


def user_changed(*, actor: Actor, user: User, before: dict[str, Any] | None, password_changed: bool = False) -> None:
    """Audit a change made elsewhere (the admin site) inside its transaction; a disabled user or a new password
    ends the user's sessions."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("user_changed() must run inside the transaction of the change")
    after = user_snapshot(user)
    if before != after or password_changed:
        action = "user.created" if before is None else "user.changed"
        audit_record(
            actor=actor, action=action, obj=user, before=before, after=after | {"password_changed": password_changed}
        )
    if not user.is_active:
        reason = ApiSession.EndReason.USER_DISABLED
    elif password_changed:
        reason = ApiSession.EndReason.PASSWORD_CHANGED
    else:
        return
    sessions_end(actor=actor, sessions=ApiSession.objects.filter(user=user), reason=reason)

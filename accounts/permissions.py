"""Who may call the staff endpoints: the caller's ``Scope`` is computed once per request from their active grants,
so a role granted or ended takes effect on their very next request."""

from __future__ import annotations

from typing import Any

from rest_framework.permissions import BasePermission

from accounts.scopes import Scope

_SCOPE_ATTR = "_accounts_scope"


def request_scope(request: Any) -> Scope:
    """The caller's scope, computed on first use in this request and kept for the rest of it."""
    scope = getattr(request, _SCOPE_ATTR, None)
    if scope is None or scope.user_id != getattr(request.user, "pk", None):
        scope = Scope.for_user(request.user)
        setattr(request, _SCOPE_ATTR, scope)
    return scope


class IsStaffAdmin(BasePermission):
    """A state administrator or a county commissioner (anyone else: 403; outside their scope: 404 in the view)."""

    message = "Only administrators and commissioners may do this."
    code = "permission_denied"

    def has_permission(self, request: Any, view: Any) -> bool:
        return bool(request.user and request.user.is_authenticated and request_scope(request).is_staff_admin)


class IssuesCredentials(BasePermission):
    """State administrators and county commissioners."""

    message = "Only state administrators and county commissioners manage credentials."

    def has_permission(self, request: Any, view: Any) -> bool:
        return request_scope(request).is_staff_admin


class HasStaffRole(BasePermission):
    """Any active staff grant: administrators, commissioners, poll managers and poll workers."""

    message = "Only election staff may do this."

    def has_permission(self, request: Any, view: Any) -> bool:
        return bool(request_scope(request).roles)


class IsStateAdmin(BasePermission):
    """A state administrator: the service-wide security measures (report, blocks) are theirs to read and act on."""

    message = "Only state administrators may do this."

    def has_permission(self, request: Any, view: Any) -> bool:
        return bool(request.user and request.user.is_authenticated and request_scope(request).jurisdictions)

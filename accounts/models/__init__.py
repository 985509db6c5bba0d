from accounts.models.audit import AuditChainHead, AuditEvent
from accounts.models.people import MFA_ROLES, Role, RoleGrant, User

__all__ = ["MFA_ROLES", "AuditChainHead", "AuditEvent", "Role", "RoleGrant", "User"]

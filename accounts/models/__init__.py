from accounts.models.audit import AuditChainHead, AuditEvent
from accounts.models.credentials import Credential, SigningKey
from accounts.models.people import MFA_ROLES, Role, RoleGrant, User
from accounts.models.sessions import ApiSession, Device, EnrolmentCode, LoginFailure, SharedLogonFlag

__all__ = [
    "MFA_ROLES",
    "ApiSession",
    "AuditChainHead",
    "AuditEvent",
    "Credential",
    "Device",
    "EnrolmentCode",
    "LoginFailure",
    "Role",
    "RoleGrant",
    "SharedLogonFlag",
    "SigningKey",
    "User",
]

"""Credentials in tests: issuing one through the service, its stored state, API clients for the credential
``world`` (tests/accounts/conftest.py), the credentials API's permission matrix and a PDF's text."""

from __future__ import annotations

import io

from pypdf import PdfReader
from rest_framework.test import APIClient

from accounts.audit import Actor
from accounts.credentials import issuing
from accounts.models import Credential, RoleGrant, User

ROLES = ["anonymous", "nobody", "worker", "outsider", "commissioner"]

#: The credentials API's answer to a poll worker, a commissioner of another county and the commissioner in scope
#: (the ``worker``, ``outsider`` and ``commissioner`` of ``world``), by endpoint. Checked endpoint by endpoint in
#: tests/accounts/credentials/test_credential_api.py; tests/accounts/test_permission_matrix.py checks every
#: credentials path has a row.
MATRIX = {
    "list": (403, 200, 200),
    "issue": (403, 400, 201),
    "detail": (403, 404, 200),
    "revoke": (403, 404, 200),
    "qr": (403, 404, 200),
    "badge": (403, 404, 200),
    "import": (403, 400, 201),
    "export": (403, 200, 200),
    "keys": (200, 200, 200),
    "revoked": (200, 200, 200),
    "verify": (200, 404, 200),
    "scope-hashes": (200, 404, 200),
}


def make_user(username: str, role: str | None = None, **scope) -> User:
    user = User.objects.create_user(username=username, password=None)
    if role is not None:
        RoleGrant.objects.create(user=user, role=role, **scope)
    return user


def client(user: User | None = None) -> APIClient:
    """An API client authenticated as ``user`` without a token (anonymous without one)."""
    api = APIClient()
    if user is not None:
        api.force_authenticate(user)
    return api


def issue(w, *, by: User | None = None, **fields) -> Credential:
    """A credential issued through the service (so audited), county-wide Hinds for the general election."""
    request = issuing.IssueRequest(
        kind=fields.pop("kind", "poll_watcher"),
        holder_name=fields.pop("holder_name", "Ada Lovelace"),
        election=fields.pop("election", w.general),
        county=fields.pop("county", w.hinds),
        polling_places=fields.pop("polling_places", ()),
        appointed_by_kind=fields.pop("appointed_by_kind", "party"),
        appointed_by_name=fields.pop("appointed_by_name", "Analytical Party"),
        **fields,
    )
    if request.kind != "poll_watcher" and "appointed_by_kind" not in fields:
        request.appointed_by_kind = request.appointed_by_name = ""
    credential = issuing.credential_issue(actor=Actor(user=by or w.commissioner), request=request)
    return Credential.objects.select_related("county", "election").get(pk=credential.pk)


def state(credential: Credential) -> tuple:
    credential.refresh_from_db()
    return (credential.status, credential.revoked_at, credential.revocation_reason, Credential.objects.count())


def pdf_text(data: bytes) -> str:
    """The text of a PDF, extracted by pypdf (pure Python: the same on every machine)."""
    reader = PdfReader(io.BytesIO(data))
    return "\n".join(page.extract_text() or "" for page in reader.pages)

"""Shared world for the credential tests: two counties, three polling places, two elections and a user per role.

Hinds (28049) holds places A1 and A2, Rankin (28121) holds B1. ``general`` is 30 days away, ``runoff`` 51.
"""

from __future__ import annotations

import datetime as dt
import io
from types import SimpleNamespace

import pytest
from pypdf import PdfReader
from rest_framework.test import APIClient
from shapely.geometry import Point, box

from accounts.audit import Actor
from accounts.credentials import services
from accounts.models import AuditEvent, Credential, Role, RoleGrant, User
from tests.factories import CountyFactory, ElectionFactory, PollingPlaceFactory

ROLES = ["anonymous", "nobody", "worker", "outsider", "commissioner"]


def make_user(username: str, role: str | None = None, **scope) -> User:
    user = User.objects.create_user(username=username, password=None)
    if role is not None:
        RoleGrant.objects.create(user=user, role=role, **scope)
    return user


@pytest.fixture(name="world")
def world_fixture(mississippi):
    today = dt.date.today()
    hinds = CountyFactory(fips="28049", name="Hinds", boundary=box(-90.6, 32.0, -90.1, 32.5))
    rankin = CountyFactory(fips="28121", name="Rankin", boundary=box(-90.1, 32.0, -89.7, 32.5))
    a1 = PollingPlaceFactory(county=hinds, code="A1", name="Hinds One", location=Point(-90.2, 32.3))
    a2 = PollingPlaceFactory(county=hinds, code="A2", name="Hinds Two", location=Point(-90.3, 32.3))
    b1 = PollingPlaceFactory(county=rankin, code="B1", name="Rankin One", location=Point(-89.9, 32.3))
    general = ElectionFactory(name="General", date=today + dt.timedelta(days=30))
    runoff = ElectionFactory(name="Runoff", date=today + dt.timedelta(days=51))
    w = SimpleNamespace(
        ms=mississippi,
        hinds=hinds,
        rankin=rankin,
        a1=a1,
        a2=a2,
        b1=b1,
        general=general,
        runoff=runoff,
    )
    w.admin = make_user("admin", Role.STATE_ADMIN, jurisdiction=mississippi)
    w.commissioner = make_user("hinds", Role.COMMISSIONER, county=hinds)
    w.outsider = make_user("rankin", Role.COMMISSIONER, county=rankin)
    w.worker = make_user("worker", Role.POLL_WORKER, polling_place=a1, election=general)
    w.manager = make_user("manager", Role.POLL_MANAGER, polling_place=a1, election=general)
    w.nobody = make_user("nobody")
    w.users = {
        "anonymous": None,
        "nobody": w.nobody,
        "worker": w.worker,
        "outsider": w.outsider,
        "commissioner": w.commissioner,
    }
    return w


def client(user: User | None = None) -> APIClient:
    api = APIClient()
    if user is not None:
        api.force_authenticate(user)
    return api


def issue(w, *, by: User | None = None, **fields) -> Credential:
    """A credential issued through the service (so audited), county-wide Hinds for the general election."""
    request = services.IssueRequest(
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
    credential = services.credential_issue(actor=Actor(user=by or w.commissioner), request=request)
    return Credential.objects.select_related("county", "election").get(pk=credential.pk)


def audit_actions() -> list[str]:
    return list(AuditEvent.objects.order_by("pk").values_list("action", flat=True))


def state(credential: Credential) -> tuple:
    credential.refresh_from_db()
    return (credential.status, credential.revoked_at, credential.revocation_reason, Credential.objects.count())


def pdf_text(data: bytes) -> str:
    """The text of a PDF, extracted by pypdf (pure Python: the same on every machine)."""
    reader = PdfReader(io.BytesIO(data))
    return "\n".join(page.extract_text() or "" for page in reader.pages)

"""The credential tests' own world: two counties, three polling places, two elections and a user per role.

Hinds (28049) holds places A1 and A2, Rankin (28121) holds B1. ``general`` is 30 days away, ``runoff`` 51. The
``outsider`` here is Rankin's commissioner (a commissioner of another county); ``nobody`` holds no role. The named
people every test may use are in tests/conftest.py; the helpers for this world in tests/credential_helpers.py.
"""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

import pytest
from shapely.geometry import Point, box

from accounts.models import Role
from tests.credential_helpers import make_user
from tests.factories import CountyFactory, ElectionFactory, PollingPlaceFactory


@pytest.fixture
def world(mississippi):
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

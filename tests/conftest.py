"""The fixtures every test may name: fresh process state, the geography, and the named people.

Geography: Mississippi (``mississippi``, seeded by migrations) with two counties, Hinds (``county``) and Madison
(``other_county``), a polling place each (``place``, ``other_place``), and an election held today in Mississippi
(``election``, on ``today``); Alabama (``alabama``) with Autauga county (``alabama_county``).

People (made by ``tests.factories``, password ``tests.people.PASSWORD``, roles granted directly):

- the administrator: ``state_admin``, state administrator of Mississippi (``alabama_admin``: of Alabama);
- a commissioner: ``commissioner``, of Hinds (``fellow_commissioner``: a second commissioner of Hinds);
- a commissioner of another county: ``other_county_commissioner``, of Madison;
- a poll worker with a tablet: ``poll_worker``, at ``place`` for ``election``; ``tablet`` is a tablet of ``place``
  as ``(device, secret)`` and ``tablet_client`` the poll worker signed in on one. ``poll_manager`` works at
  ``place`` too; ``other_poll_worker`` at ``other_place`` (whose tablet is ``other_tablet``);
- an outsider: ``outsider``, a user holding no role at all.

The credential tests have a world of their own (``world``, in tests/accounts/conftest.py). Helpers the tests call
live in plain modules: ``tests.people`` (grants, tablets, signed-in clients, TOTP),
``tests.helpers``, ``tests.election_day_helpers``, ``tests.credential_helpers``; model factories in
``tests.factories``.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import time_machine
from django.core.cache import cache
from rest_framework.test import APIClient

from accounts.models import Role
from tests.election_day_helpers import local
from tests.factories import CountyFactory, ElectionFactory, PollingPlaceFactory, UserFactory
from tests.people import grant, make_tablet, sign_in_to_admin, signed_in


@pytest.fixture(autouse=True)
def _fresh_process_state():
    """Each test starts like a fresh server process: no spatial index, no throttle counters.

    (Tests roll their writes back without raising the geography version, which no real write path can do.)
    """
    from polling.geography import spatial

    spatial.reset_index()
    cache.clear()
    yield
    spatial.reset_index()


@pytest.fixture
def admin_client(db, admin_user, client):
    return sign_in_to_admin(client, admin_user, "password")


@pytest.fixture
def api(db) -> APIClient:
    return APIClient()


@pytest.fixture
def client_for(db) -> Callable[..., APIClient]:
    return signed_in


# --- Geography ----------------------------------------------------------------------------------------------------


@pytest.fixture
def mississippi(db):
    from polling.models import Jurisdiction

    return Jurisdiction.objects.get(code="MS")


@pytest.fixture
def alabama(db):
    from polling.models import Jurisdiction

    return Jurisdiction.objects.get(code="AL")


@pytest.fixture
def county(mississippi):
    return CountyFactory(fips="28049", name="Hinds", jurisdiction=mississippi)


@pytest.fixture
def other_county(mississippi):
    return CountyFactory(fips="28089", name="Madison", jurisdiction=mississippi)


@pytest.fixture
def alabama_county(alabama):
    return CountyFactory(fips="01001", name="Autauga", jurisdiction=alabama)


@pytest.fixture
def place(county):
    return PollingPlaceFactory(county=county, code="HINDS-1", name="Hinds Community Center")


@pytest.fixture
def other_place(other_county):
    return PollingPlaceFactory(county=other_county, code="MAD-1", name="Madison Library")


@pytest.fixture
def today() -> dt.date:
    return dt.datetime.now(zoneinfo.ZoneInfo("America/Chicago")).date()


@pytest.fixture
def election(mississippi, today):
    return ElectionFactory(jurisdiction=mississippi, name="General", date=today)


@pytest.fixture
def noon(election) -> Iterator[dt.datetime]:
    """The server's clock at 12:00 on election day (ticking): polls are open."""
    with time_machine.travel(local(election, 12), tick=True):
        yield local(election, 12)


# --- People -------------------------------------------------------------------------------------------------------


@pytest.fixture
def state_admin(mississippi):
    return grant(UserFactory(username="admin"), Role.STATE_ADMIN, jurisdiction=mississippi)


@pytest.fixture
def alabama_admin(alabama):
    return grant(UserFactory(username="bama_admin"), Role.STATE_ADMIN, jurisdiction=alabama)


@pytest.fixture
def commissioner(county):
    return grant(UserFactory(username="commish"), Role.COMMISSIONER, county=county)


@pytest.fixture
def fellow_commissioner(county):
    """A second commissioner of the same county."""
    return grant(UserFactory(username="commish2"), Role.COMMISSIONER, county=county)


@pytest.fixture
def other_county_commissioner(other_county):
    return grant(UserFactory(username="madison_commish"), Role.COMMISSIONER, county=other_county)


@pytest.fixture
def poll_manager(place, election):
    return grant(UserFactory(username="manager"), Role.POLL_MANAGER, polling_place=place, election=election)


@pytest.fixture
def poll_worker(place, election):
    return grant(UserFactory(username="worker"), Role.POLL_WORKER, polling_place=place, election=election)


@pytest.fixture
def other_poll_worker(other_place, election):
    return grant(UserFactory(username="worker2"), Role.POLL_WORKER, polling_place=other_place, election=election)


@pytest.fixture
def outsider(db):
    """A user holding no role at all."""
    return UserFactory(username="nobody")


# --- Tablets ------------------------------------------------------------------------------------------------------


@pytest.fixture
def tablet(place, commissioner) -> tuple[Any, str]:
    """A tablet of ``place`` enrolled by ``commissioner``: ``(device, secret)``."""
    return make_tablet(place, commissioner)


@pytest.fixture
def other_tablet(other_place, other_county_commissioner) -> tuple[Any, str]:
    return make_tablet(other_place, other_county_commissioner, label="Madison 1")


@pytest.fixture
def tablet_client(place, poll_worker, commissioner) -> APIClient:
    """``poll_worker`` signed in on a tablet of ``place`` (the device is ``tablet_client.device``)."""
    device, _ = make_tablet(place, commissioner)
    client = signed_in(poll_worker, device=device)
    client.device = device
    return client

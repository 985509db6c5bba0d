"""factory_boy factories for the geography models: a small square county near Jackson, MS, by default."""

from __future__ import annotations

import datetime as dt

import factory
from shapely.geometry import Point, box

from polling.models import County, Election, Entrance, Jurisdiction, PollingPlace, Precinct, PrecinctAssignment


class CountyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = County
        django_get_or_create = ("fips",)

    jurisdiction = factory.LazyFunction(lambda: Jurisdiction.objects.get(code="MS"))
    # Five digits, 28500-28999: never a fixture's real county code; wraps only across tests (each test rolls back).
    fips = factory.Sequence(lambda n: f"28{n % 500 + 500:03d}")
    name = factory.Sequence(lambda n: f"County {n}")
    boundary = factory.LazyFunction(lambda: box(-90.2, 32.3, -90.1, 32.4))


class PrecinctFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Precinct

    county = factory.SubFactory(CountyFactory)
    code = factory.Sequence(lambda n: f"{n + 1:04d}")
    name = factory.Sequence(lambda n: f"Precinct {n}")
    boundary = factory.LazyFunction(lambda: box(-90.2, 32.3, -90.15, 32.4))


class PollingPlaceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PollingPlace

    county = factory.SubFactory(CountyFactory)
    code = factory.Sequence(lambda n: f"PP{n + 1}")
    name = factory.Sequence(lambda n: f"Community Center {n}")
    address = "1 Main St, Jackson, MS 39201"
    location = factory.LazyFunction(lambda: Point(-90.17, 32.35))


class EntranceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Entrance

    polling_place = factory.SubFactory(PollingPlaceFactory)
    name = factory.Sequence(lambda n: f"Door {n}")
    location = factory.LazyAttribute(lambda o: Point(o.polling_place.location.x, o.polling_place.location.y + 5e-5))
    accessible = True


class ElectionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Election

    jurisdiction = factory.LazyFunction(lambda: Jurisdiction.objects.get(code="MS"))
    name = factory.Sequence(lambda n: f"Election {n}")
    date = factory.LazyFunction(lambda: dt.date.today() + dt.timedelta(days=60))
    polls_open = dt.time(7)
    polls_close = dt.time(19)


class PrecinctAssignmentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PrecinctAssignment

    election = factory.SubFactory(ElectionFactory)
    precinct = factory.SubFactory(PrecinctFactory)
    polling_place = factory.SubFactory(PollingPlaceFactory, county=factory.SelfAttribute("..precinct.county"))


# --- Credentials (watchers and observers) ----------------------------------------------------------------------


def _new_serial() -> str:
    from accounts.credentials.signing import new_serial

    return new_serial()


def _election_day_utc(election: Election) -> dt.datetime:
    return dt.datetime.combine(election.date, dt.time(0), tzinfo=dt.UTC)


class CredentialFactory(factory.django.DjangoModelFactory):
    """An active county-wide poll-watcher credential for election day. Writes the row directly (no service, no
    audit event): for tests of reads; tests of issuing go through ``credential_issue`` or the API."""

    class Meta:
        model = "accounts.Credential"
        skip_postgeneration_save = True

    serial = factory.LazyFunction(_new_serial)
    kind = "poll_watcher"
    holder_name = factory.Sequence(lambda n: f"Holder {n}")
    appointed_by_kind = "party"
    appointed_by_name = "Example Party"
    county = factory.SubFactory(CountyFactory)
    election = factory.SubFactory(ElectionFactory)
    valid_from = factory.LazyAttribute(lambda o: _election_day_utc(o.election))
    valid_until = factory.LazyAttribute(lambda o: o.valid_from + dt.timedelta(days=1))

    @factory.post_generation
    def polling_places(self, create: bool, extracted: list[PollingPlace] | None, **kwargs: object) -> None:
        if create and extracted:
            self.polling_places.set(extracted)


# --- People and roles ------------------------------------------------------------------------------------------

#: Every factory-made user's password (tests use the fast MD5 hasher).
TEST_PASSWORD = "correct horse battery staple"


class UserFactory(factory.django.DjangoModelFactory):
    """An active user with password ``TEST_PASSWORD`` and no role (add one with ``RoleGrantFactory``)."""

    class Meta:
        model = "accounts.User"
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    first_name = factory.Sequence(lambda n: f"First{n}")
    last_name = factory.Sequence(lambda n: f"Last{n}")
    email = factory.LazyAttribute(lambda o: f"{o.username}@example.org")
    password = factory.django.Password(TEST_PASSWORD)


class RoleGrantFactory(factory.django.DjangoModelFactory):
    """A poll-worker grant at a new polling place for a new election by default. Writes the row directly (no
    service, no audit event); pass ``role`` with the matching scope (``jurisdiction``, ``county`` or
    ``polling_place`` + ``election``) for the other roles, the others set to None."""

    class Meta:
        model = "accounts.RoleGrant"

    user = factory.SubFactory(UserFactory)
    role = "poll_worker"
    jurisdiction = None
    county = None
    polling_place = factory.SubFactory(PollingPlaceFactory)
    election = factory.SubFactory(ElectionFactory)

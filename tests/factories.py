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
    fips = factory.Sequence(lambda n: f"28{n + 1:03d}")
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

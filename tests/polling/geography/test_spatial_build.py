"""The index built from the database (raw rows, doors grouped all at once) gives every polling place exactly the
zones ``zones_for`` gives the same place read through the ORM: one definition of what a zone is measured from."""

from __future__ import annotations

import itertools
import random

import pytest
import shapely
from django.db.models import Prefetch
from shapely.geometry import Point, box

from polling.geography import spatial
from polling.geography.zones import zones_for
from polling.models import BufferRule, Entrance, Jurisdiction, PollingPlace
from tests.factories import CountyFactory, EntranceFactory, PollingPlaceFactory

pytestmark = pytest.mark.django_db


def _places(mississippi):
    """Every combination that changes a reference: 0, 1 or 3 doors; none, some or all in use; with or without a
    building; election day, early voting, drop box; plus a place without coordinates and one in another state."""
    county = CountyFactory(fips="28049", name="Hinds", jurisdiction=mississippi)
    rnd = random.Random(7)
    made = []
    combos = itertools.product((0, 1, 3), ("all", "some", "none"), (False, True), ("day", "early", "box", "day+box"))
    for n, (doors, in_use, building, kind) in enumerate(combos):
        lon, lat = -90.3 + 0.01 * (n % 20), 32.2 + 0.01 * (n // 20)
        place = PollingPlaceFactory(
            county=county,
            location=Point(lon, lat),
            building=box(lon - 2e-4, lat - 2e-4, lon + 2e-4, lat + 2e-4) if building else None,
            is_election_day="day" in kind,
            is_early_voting=kind == "early",
            is_drop_box="box" in kind,
        )
        for d in range(doors):
            used = {"all": True, "none": False, "some": d == 1 or doors == 1}[in_use]
            EntranceFactory(
                polling_place=place, location=Point(lon + rnd.uniform(-1e-4, 1e-4), lat + 1e-4), in_use=used
            )
        made.append(place)
    PollingPlaceFactory(county=county, location=None)
    return made


def _by_orm(place_id: int) -> list[tuple]:
    place = PollingPlace.objects.prefetch_related(Prefetch("entrances", queryset=Entrance.objects.order_by("pk"))).get(
        pk=place_id
    )
    rules = BufferRule.objects.filter(jurisdiction=place.county.jurisdiction).order_by("activity")
    return [
        (z.rule.pk, z.reference_kind, z.approximate, shapely.normalize(z.geo_rule.reference.geometry).wkb, z.limit_ft)
        for z in zones_for(place, rules)
    ]


def test_every_place_gets_the_zones_the_orm_path_gives_it(mississippi):
    places = _places(mississippi)
    # A state with a drop-box rule too, so both kinds of rules meet both kinds of site.
    california = Jurisdiction.objects.get(code="CA")
    other = CountyFactory(fips="06037", name="Los Angeles", jurisdiction=california)
    places += [
        PollingPlaceFactory(county=other, location=Point(-118.2, 34.0), is_drop_box=True),
        PollingPlaceFactory(county=other, location=Point(-118.3, 34.0), is_drop_box=True, is_election_day=True),
    ]
    EntranceFactory(polling_place=places[-1], location=Point(-118.3, 34.0001))
    index = spatial.build_index(1)
    assert len(places) > 70
    checked = 0
    for place in places:
        ours = [
            (
                z.rule.pk,
                z.reference_kind,
                z.approximate,
                shapely.normalize(z.geo_rule.reference.geometry).wkb,
                z.limit_ft,
            )
            for z in index.zones_of(place.pk)
        ]
        assert ours == _by_orm(place.pk), place
        checked += len(ours)
    assert checked > 100  # the comparison compared zones, not empty lists


def test_zones_near_finds_what_a_brute_force_over_every_zone_finds(mississippi):
    places = _places(mississippi)
    index = spatial.build_index(1)
    every_zone = [z for p in places for z in index.zones_of(p.pk)]
    rnd = random.Random(11)
    for _ in range(300):
        p = rnd.choice(places)
        lon = p.location.x + rnd.uniform(-0.003, 0.003)
        lat = p.location.y + rnd.uniform(-0.003, 0.003)
        accuracy = rnd.choice([0.0, 0.0, 5.0, 60.0])
        found = {(h.zone.polling_place_id, h.zone.rule.pk) for h in index.zones_near(lon, lat, accuracy_m=accuracy)}
        expected = set()
        for z in every_zone:
            c = z.classify(lon, lat, accuracy)
            if c.distance_m <= c.limit_m + accuracy + spatial.REACH_BEYOND_LIMIT_M:
                expected.add((z.polling_place_id, z.rule.pk))
        assert found == expected


def test_precincts_are_prepared_only_when_a_lookup_reaches_them(mississippi):
    from tests.factories import PrecinctFactory

    county = CountyFactory(fips="28049", name="Hinds", jurisdiction=mississippi)
    for i in range(4):
        PrecinctFactory(county=county, code=f"{i:04d}", boundary=box(-90 + i, 32, -89 + i, 33))
    index = spatial.build_index(1)
    assert not shapely.is_prepared(index._boundaries).any()
    assert index.precinct_at(-89.5, 32.5).code == "0000"
    assert shapely.is_prepared(index._boundaries).tolist() == [True, False, False, False]
    assert index.precinct_at(Point(-89.5, 32.5).x + 3, 32.5).code == "0003"

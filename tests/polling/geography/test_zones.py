"""What each rule is measured from, with the fallbacks said out loud, and decisions made on the exact geometry."""

from __future__ import annotations

import pytest
from geographiclib.geodesic import Geodesic
from shapely.geometry import Point, box

from polling.geography.zones import zones_for
from polling.models import BufferRule
from tests.factories import EntranceFactory, PollingPlaceFactory

pytestmark = pytest.mark.django_db
WGS84 = Geodesic.WGS84
LON, LAT = -90.17, 32.35


def rule(activity="campaigning", feet=150, measured_from="entrance"):
    return BufferRule(activity=activity, distance_ft=feet, measured_from=measured_from, citation="test")


def at(lon, lat, azimuth, metres):
    g = WGS84.Direct(lat, lon, azimuth, metres)
    return g["lon2"], g["lat2"]


@pytest.fixture
def place():
    place = PollingPlaceFactory(location=Point(LON, LAT), building=box(LON - 2e-4, LAT - 2e-4, LON + 2e-4, LAT + 2e-4))
    EntranceFactory(polling_place=place, name="North", location=Point(*at(LON, LAT, 0, 22.0)))
    EntranceFactory(polling_place=place, name="East", location=Point(*at(LON, LAT, 90, 19.0)))
    EntranceFactory(polling_place=place, name="Sealed", location=Point(*at(LON, LAT, 180, 22.0)), in_use=False)
    return place


def test_entrance_rules_measure_from_every_entrance_in_use(place):
    [zone] = zones_for(place, [rule()])
    assert zone.reference_kind == "entrances" and not zone.approximate
    assert sorted((round(p.x, 7), round(p.y, 7)) for p in zone.geo_rule.reference.geometry.geoms) == sorted(
        (round(e.location.x, 7), round(e.location.y, 7)) for e in place.entrances.filter(in_use=True)
    )


def test_a_point_150_ft_plus_a_centimetre_beyond_the_north_door_is_outside_and_minus_a_centimetre_inside(place):
    [zone] = zones_for(place, [rule()])
    north = place.entrances.get(name="North").location
    outside = at(north.x, north.y, 0, 45.72 + 0.01)
    inside = at(north.x, north.y, 0, 45.72 - 0.01)
    assert zone.classify(*outside).status == "outside"
    assert zone.classify(*inside).status == "inside"
    assert zone.classify(*outside, accuracy_m=5).status == "uncertain"


def test_a_door_not_in_use_does_not_extend_the_zone(place):
    [zone] = zones_for(place, [rule(feet=30)])
    sealed = place.entrances.get(name="Sealed").location
    assert zone.classify(sealed.x, sealed.y).status == "outside"


def test_when_no_entrance_is_in_use_every_entrance_counts(place):
    place.entrances.update(in_use=False)
    [zone] = zones_for(place, [rule()])
    assert len(zone.geo_rule.reference.geometry.geoms) == 3


def test_without_entrances_the_building_outline_is_used_which_can_only_enlarge_the_zone(place):
    place.entrances.all().delete()
    [zone] = zones_for(place, [rule()])
    assert zone.reference_kind == "building" and not zone.approximate


def test_without_entrances_or_building_the_location_is_used_and_flagged_approximate(place):
    place.entrances.all().delete()
    place.building = None
    [zone] = zones_for(place, [rule()])
    assert zone.reference_kind == "location" and zone.approximate


@pytest.mark.parametrize(
    ("measured_from", "with_building", "kind", "approximate"),
    [
        ("building", True, "building", False),
        ("building", False, "location", True),
        ("room", True, "building", False),
        ("polling_place", True, "building", False),
        ("polling_place", False, "location", False),
        ("parcel", True, "building", True),
        ("parcel", False, "location", True),
    ],
)
def test_other_references_and_their_fallbacks(place, measured_from, with_building, kind, approximate):
    if not with_building:
        place.building = None
    [zone] = zones_for(place, [rule(measured_from=measured_from)])
    assert (zone.reference_kind, zone.approximate) == (kind, approximate)


def test_a_building_rule_draws_the_building_inside_its_zone(place):
    [zone] = zones_for(place, [rule(measured_from="building")])
    polygon = zone.polygon()
    assert polygon.contains(place.building)
    assert zone.classify(LON, LAT).distance_m == 0


def test_one_zone_per_rule_in_rule_order(place, mississippi):
    zones = zones_for(place, mississippi.buffer_rules.all())
    assert [(z.rule.activity, z.limit_ft) for z in zones] == [("campaigning", 150.0), ("loitering", 30.0)]
    assert zones[0].polygon().contains(zones[1].polygon())

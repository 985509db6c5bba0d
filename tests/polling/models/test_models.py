"""Geography models: portable geometry storage, bounding boxes, constraints and the seeded buffer rules."""

from __future__ import annotations

import csv
import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest
import shapely
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from shapely.geometry import MultiPolygon, Point, Polygon, box

from polling.models import BufferRule, County, Election, Jurisdiction, Precinct, PrecinctAssignment
from tests.factories import (
    CountyFactory,
    ElectionFactory,
    PollingPlaceFactory,
    PrecinctAssignmentFactory,
    PrecinctFactory,
)

pytestmark = pytest.mark.django_db

DATA = Path(__file__).resolve().parents[3] / "polling" / "data"


def test_geometry_round_trips_bit_for_bit_through_the_database():
    # Doubles that have no short decimal form, a hole, and two parts: WKB must keep every bit.
    outer = [(-90.1 + 1e-13 * i + 0.1 / 3, 32.3 + (2**-40) * i) for i in range(3)]
    shell = Polygon(
        [(-90.2, 32.3), (-90.1, 32.3 + 1 / 3), (-90.1, 32.4), (-90.2, 32.4)],
        [box(-90.18, 32.32, -90.12, 32.38).exterior.coords[::-1]],
    )
    island = Polygon([(-90.3, 32.0), outer[1], (-90.25, 32.05)])
    geom = MultiPolygon([shell, island])
    county = CountyFactory(boundary=geom)

    stored = County.objects.get(pk=county.pk).boundary

    assert stored.geom_type == "MultiPolygon"
    assert shapely.to_wkb(stored) == shapely.to_wkb(geom)
    assert shapely.equals_exact(stored, geom, tolerance=0)


def test_the_bounding_box_follows_the_geometry_on_every_save():
    precinct = PrecinctFactory(boundary=box(-90.2, 32.3, -90.15, 32.4))
    assert (precinct.bbox_west, precinct.bbox_south, precinct.bbox_east, precinct.bbox_north) == (
        -90.2,
        32.3,
        -90.15,
        32.4,
    )

    precinct.boundary = box(-90.3, 32.0, -90.25, 32.1)
    precinct.save()

    row = Precinct.objects.values("bbox_west", "bbox_south", "bbox_east", "bbox_north").get(pk=precinct.pk)
    assert row == {"bbox_west": -90.3, "bbox_south": 32.0, "bbox_east": -90.25, "bbox_north": 32.1}
    assert Precinct.objects.filter(bbox_west__lte=-90.28, bbox_east__gte=-90.28).get() == precinct


def test_a_point_location_has_a_degenerate_box():
    place = PollingPlaceFactory(location=Point(-90.17, 32.35))
    assert (place.bbox_west, place.bbox_east, place.bbox_south, place.bbox_north) == (-90.17, -90.17, 32.35, 32.35)


@pytest.mark.parametrize(
    ("geom", "code"),
    [
        (Point(-90.1, 32.3), "wrong_geometry_type"),
        (Polygon([(-90.2, 32.3), (-90.1, 32.4), (-90.1, 32.3), (-90.2, 32.4)]), None),
        (Polygon([(-190.0, 32.3), (-90.1, 32.3), (-90.1, 32.4)]), None),
    ],
)
def test_full_clean_refuses_bad_boundaries(geom, code):
    county = CountyFactory()
    precinct = Precinct(county=county, code="X1", name="X", boundary=geom)
    with pytest.raises(ValidationError) as caught:
        precinct.full_clean()
    assert "boundary" in caught.value.message_dict
    if code:
        assert caught.value.error_dict["boundary"][0].code == code


def test_a_precinct_code_is_unique_within_its_county_only():
    first = PrecinctFactory(code="0001")
    PrecinctFactory(code="0001", county=CountyFactory(fips="28003"))
    duplicate = Precinct(county=first.county, code="0001", name="Again", boundary=first.boundary)
    with pytest.raises(ValidationError, match="already exists in this county"):
        duplicate.full_clean()
    with transaction.atomic(), pytest.raises(IntegrityError):
        duplicate.save()


def test_polls_must_close_after_they_open(mississippi):
    election = Election(
        jurisdiction=mississippi, name="Bad", date=dt.date(2027, 11, 2), polls_open=dt.time(19), polls_close=dt.time(7)
    )
    with pytest.raises(ValidationError, match="Polls must close after they open"):
        election.full_clean()
    with transaction.atomic(), pytest.raises(IntegrityError):
        election.save()


def test_a_buffer_distance_must_be_positive_and_one_rule_per_activity(mississippi):
    rule = BufferRule(
        jurisdiction=mississippi,
        activity="campaigning",
        distance_ft=Decimal("0"),
        measured_from="entrance",
        citation="x",
    )
    with pytest.raises(ValidationError) as caught:
        rule.full_clean()
    assert "distance_ft" in caught.value.message_dict
    assert any("already has a rule for that activity" in m for m in caught.value.messages)


def test_a_county_fips_must_start_with_its_state_fips(mississippi):
    county = County(jurisdiction=mississippi, fips="01001", name="Autauga", boundary=box(0, 0, 1, 1))
    with pytest.raises(ValidationError, match="starts with its state's"):
        county.full_clean()


def test_a_precinct_has_one_polling_place_per_election():
    assignment = PrecinctAssignmentFactory()
    with transaction.atomic(), pytest.raises(IntegrityError):
        PrecinctAssignment.objects.create(
            election=assignment.election, precinct=assignment.precinct, polling_place=assignment.polling_place
        )


def test_an_assignment_stays_within_the_election_s_state():
    alabama_county = CountyFactory(fips="01001", jurisdiction=Jurisdiction.objects.get(code="AL"))
    assignment = PrecinctAssignment(
        election=ElectionFactory(),
        precinct=PrecinctFactory(county=alabama_county),
        polling_place=PollingPlaceFactory(),
    )
    with pytest.raises(ValidationError) as caught:
        assignment.clean()
    assert "precinct" in caught.value.message_dict


def test_every_state_and_every_buffer_law_is_seeded_with_its_citation():
    with (DATA / "buffer_laws.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert Jurisdiction.objects.count() == 56
    voting_sites = BufferRule.objects.filter(applies_to=BufferRule.AppliesTo.VOTING_SITES)
    assert voting_sites.count() == len(rows) == 33
    # Rows a later migration corrected (0015: California's, as its Elections Code reads since 2022).
    corrected = {("CA", "campaigning"): ("entrance", "Cal. Elec. Code § 18370(b)(1)")}
    for row in rows:
        rule = voting_sites.get(jurisdiction__code=row["state"], activity=row["activity"])
        assert rule.distance_ft == Decimal(row["distance_ft"])
        expected = corrected.get((row["state"], row["activity"]), (row["measured_from"], row["source"]))
        assert (rule.measured_from, rule.citation) == expected


def test_mississippi_rules_are_150_ft_campaigning_and_30_ft_loitering_from_each_entrance(mississippi):
    rules = {r.activity: r for r in mississippi.buffer_rules.all()}
    assert rules["campaigning"].distance_ft == 150 and rules["campaigning"].measured_from == "entrance"
    assert "23-15-895" in rules["campaigning"].citation
    assert rules["loitering"].distance_ft == 30 and rules["loitering"].measured_from == "entrance"
    assert "23-15-245" in rules["loitering"].citation
    assert rules["campaigning"].distance_m == pytest.approx(45.72, abs=1e-12)


def test_a_buffer_of_more_than_5000_ft_is_refused(mississippi):
    rule = BufferRule.objects.get(jurisdiction=mississippi, activity="campaigning")
    rule.distance_ft = Decimal("5000.01")
    with pytest.raises(ValidationError) as caught:
        rule.full_clean()
    assert "distance_ft" in caught.value.message_dict
    with transaction.atomic(), pytest.raises(IntegrityError):
        rule.save()


def test_entrances_and_outline_must_lie_within_1_km_of_the_polling_place():
    from tests.factories import EntranceFactory

    place = PollingPlaceFactory(location=Point(-90.17, 32.35))
    far_door = EntranceFactory.build(polling_place=place, location=Point(-90.17, 32.36))  # ~1.1 km north
    with pytest.raises(ValidationError, match="must be within 1000 m"):
        far_door.clean()
    EntranceFactory.build(polling_place=place, location=Point(-90.17, 32.3505)).clean()
    place.building = box(-90.171, 32.349, -90.169, 32.351)
    place.clean()
    place.building = box(-90.171, 32.349, -90.169, 32.37)
    with pytest.raises(ValidationError, match="within 1000 m"):
        place.clean()

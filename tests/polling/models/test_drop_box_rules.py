"""Buffer rules per kind of site: California's drop-box rule is seeded with its citation, a rule covers only its kind
of site, a place of both kinds gets one zone per activity, and a caller that did not load the kinds gets today's
answer without extra queries."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction
from shapely.geometry import box

from polling.geography import spatial
from polling.geography.services import geography_version_bump
from polling.geography.zones import rules_covering, zones_for
from polling.models import BufferRule, Jurisdiction, PollingPlace
from tests.factories import CountyFactory, PollingPlaceFactory

pytestmark = pytest.mark.django_db
DROP_BOXES = BufferRule.AppliesTo.DROP_BOXES
VOTING_SITES = BufferRule.AppliesTo.VOTING_SITES


@pytest.fixture
def california(db):
    return Jurisdiction.objects.get(code="CA")


@pytest.fixture
def la(california):
    return CountyFactory(
        fips="06037", name="Los Angeles", jurisdiction=california, boundary=box(-90.2, 32.3, -90.1, 32.4)
    )


def _rules(jurisdiction) -> list[BufferRule]:
    return list(BufferRule.objects.filter(jurisdiction=jurisdiction).order_by("activity", "applies_to"))


def test_californias_drop_box_rule_is_seeded_with_its_citation_and_no_other_state_has_one(california):
    rule = BufferRule.objects.get(applies_to=DROP_BOXES)

    assert rule.jurisdiction == california
    assert (rule.activity, rule.distance_ft, rule.measured_from) == ("campaigning", Decimal("100"), "polling_place")
    assert rule.citation == "Cal. Elec. Code § 18370(b)(2); § 319.5(a)(5)"
    assert "(drop boxes)" in str(rule)


def test_a_state_keeps_one_rule_per_activity_and_kind_of_site(california):
    with pytest.raises(IntegrityError), transaction.atomic():
        BufferRule.objects.create(
            jurisdiction=california,
            activity="campaigning",
            applies_to=DROP_BOXES,
            distance_ft=Decimal("50"),
            measured_from="polling_place",
            citation="x",
        )


def test_the_first_rule_of_an_activity_is_the_voting_sites_one(california):
    assert BufferRule.objects.filter(jurisdiction=california, activity="campaigning").first().applies_to == VOTING_SITES


@pytest.mark.parametrize(
    ("kinds", "expected"),
    [
        ({}, [VOTING_SITES]),
        ({"is_election_day": False, "is_early_voting": True}, [VOTING_SITES]),
        ({"is_election_day": False, "is_drop_box": True}, [DROP_BOXES]),
    ],
)
def test_a_rule_covers_only_its_kind_of_site(la, california, kinds, expected):
    place = PollingPlaceFactory(county=la, **kinds)

    assert [r.applies_to for r in rules_covering(place, _rules(california))] == expected
    assert [z.rule.applies_to for z in zones_for(place, _rules(california))] == expected


def test_a_place_of_both_kinds_gets_one_zone_per_activity_the_wider_one(la, california):
    place = PollingPlaceFactory(county=la, is_drop_box=True)
    rules = _rules(california)

    # Both are 100 ft: the voting sites' rule, in whichever order the rules come.
    assert [r.applies_to for r in rules_covering(place, rules)] == [VOTING_SITES]
    assert [r.applies_to for r in rules_covering(place, rules[::-1])] == [VOTING_SITES]
    BufferRule.objects.filter(jurisdiction=california, applies_to=DROP_BOXES).update(distance_ft=Decimal("150"))
    assert [r.applies_to for r in rules_covering(place, _rules(california))] == [DROP_BOXES]


def test_a_drop_box_in_a_state_without_a_drop_box_rule_has_no_zone(county, mississippi):
    drop_box = PollingPlaceFactory(county=county, is_election_day=False, is_drop_box=True)

    assert zones_for(drop_box, _rules(mississippi)) == []


def test_a_place_read_without_its_kinds_is_taken_as_an_election_day_site_without_a_query(
    la, california, django_assert_num_queries
):
    PollingPlaceFactory(county=la, is_election_day=False, is_drop_box=True)
    place = PollingPlace.objects.only("id", "county_id", "location", "building").get()
    rules = _rules(california)

    with django_assert_num_queries(0):
        covering = rules_covering(place, rules)
    assert [r.applies_to for r in covering] == [VOTING_SITES]


def test_the_spatial_index_has_the_zones_the_places_rules_cover(la, california):
    site = PollingPlaceFactory(county=la, code="SITE")
    drop_box = PollingPlaceFactory(county=la, code="BOX", is_election_day=False, is_drop_box=True)
    with transaction.atomic():
        geography_version_bump()

    index = spatial.current_index()

    assert [z.rule.activity for z in index.zones_of(site.pk)] == ["campaigning"]
    # One 100 ft campaigning zone: the drop boxes' rule once spatial.build_index loads the kinds, the voting
    # sites' (also 100 ft) until then.
    assert [(z.rule.activity, z.rule.distance_ft) for z in index.zones_of(drop_box.pk)] == [
        ("campaigning", Decimal("100"))
    ]


def test_californias_rules_follow_the_code_since_2022_and_an_administrators_edit_stands(california):
    import importlib

    from django.apps import apps

    correction = importlib.import_module("polling.migrations.0015_california_rules_as_the_code_reads_now")
    voting = BufferRule.objects.get(jurisdiction=california, activity="campaigning", applies_to=VOTING_SITES)
    assert (voting.measured_from, voting.citation) == ("entrance", "Cal. Elec. Code § 18370(b)(1)")

    correction.restore(apps, None)  # back to what 0002 and 0013 seeded
    voting.refresh_from_db()
    assert (voting.measured_from, voting.citation) == ("polling_place", "NCSL Electioneering Prohibitions")
    BufferRule.objects.filter(pk=voting.pk).update(citation="Edited by the state")
    correction.correct(apps, None)

    voting.refresh_from_db()
    drop_box = BufferRule.objects.get(jurisdiction=california, applies_to=DROP_BOXES)
    assert (voting.measured_from, voting.citation) == ("polling_place", "Edited by the state")
    assert drop_box.citation == "Cal. Elec. Code § 18370(b)(2); § 319.5(a)(5)"

"""Typed locations, dated hours in local time, vote centers and places without coordinates, as the models hold them."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import ProtectedError
from shapely.geometry import Point, box

from polling.geography import spatial
from polling.geography.services import geography_version_bump
from polling.geography.zones import zones_for
from polling.models import BufferRule, LocationHours, PlaceKind, PollingPlace, VoteCenter
from tests.factories import ElectionFactory, EntranceFactory, PollingPlaceFactory, PrecinctFactory

pytestmark = pytest.mark.django_db

UTC = dt.UTC


def test_an_existing_place_is_an_election_day_site_by_default(county):
    place = PollingPlaceFactory(county=county)

    place.refresh_from_db()
    assert (place.is_election_day, place.is_early_voting, place.is_drop_box) == (True, False, False)
    assert place.kinds == [PlaceKind.ELECTION_DAY]


def test_a_place_may_be_several_kinds_at_once(county):
    place = PollingPlaceFactory(county=county, is_early_voting=True, is_drop_box=True)

    assert place.kinds == ["election_day", "early_voting", "drop_box"]


def test_a_place_of_no_kind_is_refused_by_the_database_and_by_validation(county):
    place = PollingPlaceFactory.build(county=county, is_election_day=False)

    with pytest.raises(ValidationError, match="election-day site, an early-voting site or a drop box"):
        place.full_clean()
    with pytest.raises(IntegrityError), transaction.atomic():
        place.save()


def test_a_place_without_coordinates_is_valid_and_stored_with_no_bounding_box(county):
    place = PollingPlaceFactory.build(county=county, location=None, is_election_day=False, is_drop_box=True)
    place.full_clean()
    place.save()

    place.refresh_from_db()
    assert place.location is None
    assert not place.located
    assert place.bbox_west is None and place.bbox_north is None


def test_a_building_outline_needs_the_coordinates_first(county):
    place = PollingPlaceFactory.build(county=county, location=None, building=box(-90.1701, 32.3499, -90.1699, 32.3501))

    with pytest.raises(ValidationError) as caught:
        place.full_clean()
    assert "building" in caught.value.message_dict


def test_an_entrance_of_a_place_without_coordinates_is_refused(county):
    place = PollingPlaceFactory(county=county, location=None)
    entrance = EntranceFactory.build(polling_place=place, location=Point(-90.17, 32.35))

    with pytest.raises(ValidationError) as caught:
        entrance.full_clean()
    assert "location" in caught.value.message_dict


def test_a_place_without_coordinates_has_no_zones_and_the_spatial_index_skips_it(county, place):
    unlocated = PollingPlaceFactory(county=county, code="NOWHERE", location=None)
    rules = list(BufferRule.objects.filter(jurisdiction=county.jurisdiction))
    assert rules, "Mississippi's rules are seeded by the migrations"

    assert zones_for(unlocated, rules) == []
    with transaction.atomic():
        geography_version_bump()
    index = spatial.current_index()
    assert index.zones_of(unlocated.pk) == []
    assert len(index.zones_of(place.pk)) == len(rules)
    # The located place's zones still answer: 10 m from it is inside every Mississippi zone.
    assert index.zones_near(-90.17, 32.35009)


# --- Hours ------------------------------------------------------------------------------------------------------


def _hours(place, election, date, opens, closes, **kwargs):
    hours = LocationHours(polling_place=place, election=election, date=date, opens=opens, closes=closes, **kwargs)
    hours.full_clean()
    hours.save()
    return hours


@pytest.fixture
def november(mississippi):
    return ElectionFactory(jurisdiction=mississippi, name="General", date=dt.date(2026, 11, 3))


def test_hours_take_the_zone_of_the_places_county_when_none_is_given(place, november):
    hours = _hours(place, november, dt.date(2026, 11, 3), dt.time(7), dt.time(19))

    assert hours.timezone == "America/Chicago"


def test_hours_keep_a_zone_given_for_them(place, november):
    hours = _hours(place, november, dt.date(2026, 11, 3), dt.time(7), dt.time(19), timezone="America/New_York")

    assert hours.span() == (dt.datetime(2026, 11, 3, 12, tzinfo=UTC), dt.datetime(2026, 11, 4, 0, tzinfo=UTC))


def test_hours_span_is_dst_correct_on_both_sides_of_the_november_change(place, november):
    # Clocks in Mississippi go back at 02:00 CDT on Sunday 1 November 2026.
    saturday = _hours(place, november, dt.date(2026, 10, 31), dt.time(8), dt.time(17))
    monday = _hours(place, november, dt.date(2026, 11, 2), dt.time(8), dt.time(17))

    assert saturday.span() == (dt.datetime(2026, 10, 31, 13, tzinfo=UTC), dt.datetime(2026, 10, 31, 22, tzinfo=UTC))
    assert monday.span() == (dt.datetime(2026, 11, 2, 14, tzinfo=UTC), dt.datetime(2026, 11, 2, 23, tzinfo=UTC))


def test_a_whole_day_across_the_fall_back_change_lasts_25_hours(place, november):
    day = _hours(place, november, dt.date(2026, 11, 1), dt.time(0), dt.time(0))

    start, end = day.span()
    assert end - start == dt.timedelta(hours=25)


def test_a_whole_day_across_the_spring_forward_change_lasts_23_hours(place, mississippi):
    spring = ElectionFactory(jurisdiction=mississippi, name="Primary", date=dt.date(2027, 3, 16))
    day = _hours(place, spring, dt.date(2027, 3, 14), dt.time(0), dt.time(0))

    start, end = day.span()
    assert end - start == dt.timedelta(hours=23)


def test_hours_must_close_after_they_open(place, november):
    with pytest.raises(ValidationError, match="close after it opens"):
        _hours(place, november, dt.date(2026, 11, 3), dt.time(19), dt.time(7))
    with pytest.raises(IntegrityError), transaction.atomic():
        LocationHours.objects.create(
            polling_place=place,
            election=november,
            date=dt.date(2026, 11, 3),
            opens=dt.time(19),
            closes=dt.time(7),
            timezone="America/Chicago",
        )


def test_hours_without_a_zone_are_refused_by_the_database(place, november):
    with pytest.raises(IntegrityError), transaction.atomic():
        LocationHours.objects.create(
            polling_place=place, election=november, date=dt.date(2026, 11, 3), opens=dt.time(7), closes=dt.time(19)
        )


def test_an_unknown_zone_is_refused(place, november):
    with pytest.raises(ValidationError) as caught:
        _hours(place, november, dt.date(2026, 11, 3), dt.time(7), dt.time(19), timezone="America/Nowhere")
    assert "timezone" in caught.value.message_dict


def test_overlapping_hours_on_one_day_are_refused_and_split_hours_are_kept(place, november):
    _hours(place, november, dt.date(2026, 10, 30), dt.time(8), dt.time(12))
    _hours(place, november, dt.date(2026, 10, 30), dt.time(13), dt.time(17))

    with pytest.raises(ValidationError, match="Overlaps the opening 13:00-17:00"):
        _hours(place, november, dt.date(2026, 10, 30), dt.time(16), dt.time(0))
    assert LocationHours.objects.filter(polling_place=place).count() == 2


def test_hours_after_election_day_are_refused(place, november):
    with pytest.raises(ValidationError) as caught:
        _hours(place, november, dt.date(2026, 11, 4), dt.time(8), dt.time(17))
    assert "date" in caught.value.message_dict


def test_hours_in_another_states_election_are_refused(place, alabama):
    alabama_election = ElectionFactory(jurisdiction=alabama, date=dt.date(2026, 11, 3))

    with pytest.raises(ValidationError) as caught:
        _hours(place, alabama_election, dt.date(2026, 11, 3), dt.time(7), dt.time(19))
    assert "election" in caught.value.message_dict


# --- Vote centers -----------------------------------------------------------------------------------------------


def test_a_vote_center_is_listed_once_per_election(place, november):
    VoteCenter.objects.create(election=november, polling_place=place)

    with pytest.raises(IntegrityError), transaction.atomic():
        VoteCenter.objects.create(election=november, polling_place=place)


def test_a_drop_box_cannot_be_a_vote_center(county, november):
    box_only = PollingPlaceFactory(county=county, is_election_day=False, is_drop_box=True)

    with pytest.raises(ValidationError, match="election-day site"):
        VoteCenter(election=november, polling_place=box_only).full_clean()


def test_a_vote_center_of_another_state_is_refused(alabama_county, november):
    alabama_place = PollingPlaceFactory(county=alabama_county)

    with pytest.raises(ValidationError, match="jurisdiction"):
        VoteCenter(election=november, polling_place=alabama_place).full_clean()


def test_a_vote_center_protects_its_place_from_deletion(place, november):
    VoteCenter.objects.create(election=november, polling_place=place)

    with pytest.raises(ProtectedError):
        PollingPlace.objects.filter(pk=place.pk).delete()


def test_precincts_and_places_keep_working_for_existing_assignments(county, place, november):
    # Today's data: a precinct with one assigned place; nothing of the new model is needed.
    precinct = PrecinctFactory(county=county)
    november.assignments.create(precinct=precinct, polling_place=place)

    assert list(november.assignments.values_list("polling_place__is_election_day", flat=True)) == [True]

"""Reads of geography that several concerns share: the local time zone of a county and the election a place or a
state is serving. One definition each, so "election day" means the same to a lookup, a credential and a tablet."""

from __future__ import annotations

import datetime as dt
import zoneinfo

from django.utils import timezone

from polling.models import County, Election, Jurisdiction, PollingPlace


def local_zone(county: County) -> zoneinfo.ZoneInfo:
    """The county's time zone, or its state's where the county keeps the state's (most do)."""
    return zoneinfo.ZoneInfo(county.timezone or county.jurisdiction.timezone)


def state_zone(jurisdiction: Jurisdiction) -> zoneinfo.ZoneInfo:
    return zoneinfo.ZoneInfo(jurisdiction.timezone)


def upcoming_election_of_state(jurisdiction_id: int, on: dt.date) -> Election | None:
    """The first election of a state on or after the local date ``on`` (the earliest id first on a tie)."""
    return Election.objects.filter(jurisdiction_id=jurisdiction_id, date__gte=on).order_by("date", "pk").first()


def upcoming_election(place: PollingPlace, at: dt.datetime | None = None) -> Election | None:
    """The election a polling place is serving at ``at`` (now by default): the first of its state on or after that
    local date."""
    moment = at if at is not None else timezone.now()
    return upcoming_election_of_state(place.county.jurisdiction_id, moment.astimezone(local_zone(place.county)).date())


def election_day_bounds(election: Election, county: County) -> tuple[dt.datetime, dt.datetime]:
    """Local midnight to midnight of election day in the county, in UTC."""
    zone = local_zone(county)
    start = dt.datetime.combine(election.date, dt.time(0), tzinfo=zone)
    end = dt.datetime.combine(election.date + dt.timedelta(days=1), dt.time(0), tzinfo=zone)
    return start.astimezone(dt.UTC), end.astimezone(dt.UTC)

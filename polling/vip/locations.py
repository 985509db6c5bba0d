"""Typed locations in VIP 6.0, both ways: a PollingLocation's ``IsEarlyVoting`` / ``IsDropBox`` flags, its
``HoursOpen`` schedules as our dated local hours, the county vote centers, and locations without coordinates.

How VIP says what we hold:

- kinds: ``IsEarlyVoting`` and ``IsDropBox`` are ours; a location is an election-day site when it has neither flag,
  or when a Precinct lists it for election day;
- vote centers: VIP has no flag for them; they are the county's locality-wide election-day locations. A Precinct
  listing exactly one election-day location has it assigned. An election-day location (no flag, or a flagged one
  open on election day that is not a drop box) that its Locality lists and no Precinct lists alone is a vote
  center, and a Precinct of that county listing no election-day location is served by the county's vote centers;
  a Precinct listing several election-day locations may vote at any of them, so each of those is one too. We write
  a county's vote centers on its Locality, and on each precinct they serve only when there are several, so a
  county with a single vote center reads back as one, not as that place assigned to every precinct. The Locality
  also lists the early-voting sites and drop boxes open in the election (locality-wide for early voting and
  drop-off); an early-voting site listed there that is open on election day and is no precinct's assigned place
  reads back as a vote center, since VIP cannot tell the two apart. A location listed nowhere (unused in the
  election) is in the county its id names when the id is ours (``polling.vip.county_of_id``);
- hours: each ``Schedule`` from ``StartDate`` to ``EndDate`` (election day when absent) with its ``Hours`` becomes
  one ``LocationHours`` row per date and span, in the county's zone. ``TimeWithZone`` values are read as the local
  wall-clock time (their offset restates it in UTC for that date); ``24:00:00`` or an end of ``00:00:00`` is the
  end of the day. Written back, consecutive dates with the same spans and the same UTC offset share one Schedule,
  so a schedule is split where the clocks change;
- coordinates: a location without ``LatLng`` that we do not hold located is stored by its address, without zones,
  and an ``ImportWarning`` is left for a commissioner of its county.
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
import zoneinfo
from collections import defaultdict
from dataclasses import dataclass, field
from xml.etree.ElementTree import Element  # nosec B405 - the type only; parsing is defusedxml's

from django.core.exceptions import ValidationError

from polling.geography.selectors import local_zone
from polling.models import (
    END_OF_DAY,
    County,
    Election,
    ImportWarning,
    LocationHours,
    PollingPlace,
    Precinct,
    PrecinctAssignment,
    VoteCenter,
    code_validator,
)
from polling.vip.feed import Feed, child

_TIME = re.compile(r"^(\d{2}):(\d{2}):(\d{2})(Z|[+-]\d{2}:\d{2})\Z")
#: A schedule longer than this is a typo (an early-voting period is weeks long), not hours to expand day by day.
MAX_SCHEDULE_DAYS = 366

#: (date, opens, closes) in local wall-clock time; ``closes`` END_OF_DAY is midnight at the end of the date.
Span = tuple[dt.date, dt.time, dt.time]


def flag(element: Element, tag: str) -> bool:
    return (child(element, tag) or "false") in ("true", "1")


@dataclass(frozen=True)
class LocationRow:
    """What a feed says of one PollingLocation beyond what the geography importer stores."""

    vip_id: str
    county: County
    code: str
    name: str
    address: str
    is_election_day: bool
    is_early_voting: bool
    is_drop_box: bool
    hours: tuple[Span, ...]
    #: Only for a location stored without coordinates (the geography importer writes the others' assignments).
    precincts: tuple[str, ...] = ()
    located: bool = True


@dataclass
class FeedLocations:
    rows: list[LocationRow] = field(default_factory=list)
    #: (county FIPS, place code) of every vote center of the election.
    vote_centers: set[tuple[str, str]] = field(default_factory=set)
    #: (county FIPS, precinct code) of the precincts served by vote centers (any assignment of theirs is dropped).
    vote_center_precincts: set[tuple[str, str]] = field(default_factory=set)
    #: (VIP id, county pk) of the election-day locations a Locality lists as its own vote centers (while reading).
    locality_wide: set[tuple[str, int]] = field(default_factory=set)


# --- Reading -------------------------------------------------------------------------------------------------------


def _clock(raw: str | None, *, end: bool) -> dt.time | None:
    match = _TIME.match(raw or "")
    if match is None:
        return None
    hour, minute, second = int(match[1]), int(match[2]), int(match[3])
    if hour == 24 and end and minute == second == 0:
        return END_OF_DAY
    if hour > 23 or minute > 59 or second > 59:
        return None
    return dt.time(hour, minute, second)


def read_hours(feed: Feed, location: Element, election_date: dt.date) -> tuple[Span, ...] | None:
    """The dated spans of the location's ``HoursOpen`` (none without one), or None with the problems reported."""
    hours_id = child(location, "HoursOpenId")
    if hours_id is None:
        return ()
    hours = feed.ref(location, "HoursOpenId", hours_id, "HoursOpen")
    if hours is None:
        return None
    spans: list[Span] = []
    ok = True
    for n, schedule in enumerate(hours.findall("Schedule")):
        where = f"Schedule[{n}]"
        try:
            start = dt.date.fromisoformat(child(schedule, "StartDate") or election_date.isoformat())
            end = dt.date.fromisoformat(child(schedule, "EndDate") or start.isoformat())
        except ValueError:
            feed.add(hours, f"{where}.StartDate", "StartDate and EndDate must be dates YYYY-MM-DD")
            ok = False
            continue
        if end < start or (end - start).days >= MAX_SCHEDULE_DAYS:
            feed.add(hours, f"{where}.EndDate", f"must be on or after StartDate and within {MAX_SCHEDULE_DAYS} days")
            ok = False
            continue
        if end > election_date:
            feed.add(hours, f"{where}.EndDate", f"{end} is after election day ({election_date})")
            ok = False
            continue
        for k, span in enumerate(schedule.findall("Hours")):
            opens = _clock(child(span, "StartTime"), end=False)
            closes = _clock(child(span, "EndTime"), end=True)
            if opens is None or closes is None:
                message = "StartTime and EndTime must be times with a zone, e.g. 08:00:00-05:00"
                feed.add(hours, f"{where}.Hours[{k}]", message)
                ok = False
                continue
            if closes == dt.time(0):
                closes = END_OF_DAY  # an end at 00:00 can only mean the midnight that ends the day
            if closes != END_OF_DAY and closes <= opens:
                feed.add(hours, f"{where}.Hours[{k}].EndTime", "must be after StartTime")
                ok = False
                continue
            day = start
            while day <= end:
                spans.append((day, opens, closes))
                day += dt.timedelta(days=1)
    spans = sorted(set(spans))
    for (day, _, closes), (next_day, next_opens, _) in itertools.pairwise(spans):
        if day == next_day and (closes == END_OF_DAY or next_opens < closes):
            feed.add(hours, "Schedule", f"two spans overlap on {day}")
            return None
    return tuple(spans) if ok else None


def check_unlocated(feed: Feed, element: Element, code: str, name: str | None, address: str | None) -> bool:
    """The checks the geography importer makes of a place, for one it cannot read (it has no coordinates)."""
    ok = True
    try:
        code_validator(code)
    except ValidationError as exc:
        feed.add(element, "id", f"{code!r}: {exc.messages[0]}")
        ok = False
    if not name or len(name) > 200:
        feed.add(element, "Name", "is required (at most 200 characters)")
        ok = False
    if not address or len(address) > 300:
        feed.add(element, "AddressStructured", "is required (at most 300 characters)")
        ok = False
    return ok


# --- Writing -------------------------------------------------------------------------------------------------------


@dataclass
class LocationsResult:
    created: int = 0
    updated: int = 0
    deleted: int = 0
    warnings: int = 0

    @property
    def changed(self) -> bool:
        return bool(self.created or self.updated or self.deleted)


def _places(rows: list[LocationRow]) -> dict[tuple[str, str], PollingPlace]:
    return {
        (p.county.fips, p.code): p
        for p in PollingPlace.objects.select_related("county__jurisdiction")
        .defer("county__boundary", "building")
        .filter(county__in={r.county.pk for r in rows}, code__in={r.code for r in rows})
    }


def _write_unlocated(rows: list[LocationRow], held: dict[tuple[str, str], PollingPlace], out: LocationsResult) -> None:
    for row in rows:
        if row.located:
            continue
        place = held.get((row.county.fips, row.code))
        if place is None:
            place = PollingPlace(county=row.county, code=row.code, name=row.name, address=row.address, location=None)
            place.full_clean(exclude=["county"], validate_unique=False, validate_constraints=False)
            place.save()
            held[(row.county.fips, row.code)] = place
            out.created += 1
        elif (place.name, place.address) != (row.name, row.address):
            place.name, place.address = row.name, row.address
            place.save(update_fields=["name", "address"])
            out.updated += 1


def _write_kinds(rows: list[LocationRow], held: dict[tuple[str, str], PollingPlace], out: LocationsResult) -> None:
    for row in rows:
        place = held[(row.county.fips, row.code)]
        kinds = {
            "is_election_day": row.is_election_day,
            "is_early_voting": row.is_early_voting,
            "is_drop_box": row.is_drop_box,
        }
        changed = [name for name, value in kinds.items() if getattr(place, name) != value]
        if changed:
            for name in changed:
                setattr(place, name, kinds[name])
            place.save(update_fields=changed)
            out.updated += 1


def _write_hours(
    rows: list[LocationRow], held: dict[tuple[str, str], PollingPlace], election: Election, out: LocationsResult
) -> None:
    place_ids = [held[(r.county.fips, r.code)].pk for r in rows]
    current: dict[int, dict[Span, LocationHours]] = defaultdict(dict)
    for existing in LocationHours.objects.filter(election=election, polling_place_id__in=place_ids):
        current[existing.polling_place_id][(existing.date, existing.opens, existing.closes)] = existing
    to_delete: list[int] = []
    to_create: list[LocationHours] = []
    for row in rows:
        place = held[(row.county.fips, row.code)]
        zone = str(local_zone(row.county))
        have = current.get(place.pk, {})
        wanted = set(row.hours)
        to_delete.extend(h.pk for span, h in have.items() if span not in wanted or h.timezone != zone)
        for span in row.hours:
            if span not in have or have[span].timezone != zone:
                to_create.append(
                    LocationHours(
                        polling_place=place,
                        election=election,
                        date=span[0],
                        opens=span[1],
                        closes=span[2],
                        timezone=zone,
                    )
                )
    LocationHours.objects.filter(pk__in=to_delete).delete()
    LocationHours.objects.bulk_create(to_create, batch_size=500)
    out.deleted += len(to_delete)
    out.created += len(to_create)


def _write_service(
    rows: list[LocationRow],
    held: dict[tuple[str, str], PollingPlace],
    feed_locations: FeedLocations,
    election: Election,
    out: LocationsResult,
) -> None:
    """Vote centers of the election in the feed's counties, and the assignments the geography importer cannot
    write: those of places without coordinates, and none for a precinct served by vote centers."""
    counties = {r.county.pk: r.county for r in rows}
    precincts = {
        (p.county.fips, p.code): p.pk
        for p in Precinct.objects.select_related("county")
        .only("id", "code", "county__fips")
        .filter(county__in=counties)
    }
    dropped = [precincts[key] for key in feed_locations.vote_center_precincts if key in precincts]
    n, _ = PrecinctAssignment.objects.filter(election=election, precinct_id__in=dropped).delete()
    out.deleted += n
    for row in rows:
        if row.located:
            continue
        place = held[(row.county.fips, row.code)]
        for code in row.precincts:
            assignment, created = PrecinctAssignment.objects.get_or_create(
                election=election, precinct_id=precincts[(row.county.fips, code)], defaults={"polling_place": place}
            )
            if created:
                out.created += 1
            elif assignment.polling_place_id != place.pk:
                assignment.polling_place = place
                assignment.save(update_fields=["polling_place"])
                out.updated += 1
    wanted = {held[key].pk for key in feed_locations.vote_centers}
    have = set(
        VoteCenter.objects.filter(election=election, polling_place__county__in=counties).values_list(
            "polling_place_id", flat=True
        )
    )
    n, _ = VoteCenter.objects.filter(election=election, polling_place_id__in=have - wanted).delete()
    out.deleted += n
    VoteCenter.objects.bulk_create([VoteCenter(election=election, polling_place_id=pk) for pk in wanted - have])
    out.created += len(wanted - have)


def _write_warnings(rows: list[LocationRow], held: dict[tuple[str, str], PollingPlace], source: str) -> int:
    """One warning per location kept without coordinates (refreshed, never doubled); none left for one now
    located."""
    located = [held[(r.county.fips, r.code)].pk for r in rows if r.located]
    ImportWarning.objects.filter(code=ImportWarning.Code.NO_COORDINATES, polling_place_id__in=located).delete()
    n = 0
    for row in rows:
        if row.located:
            continue
        place = held[(row.county.fips, row.code)]
        ImportWarning.objects.update_or_create(
            county=row.county,
            code=ImportWarning.Code.NO_COORDINATES,
            subject=f"PollingLocation '{row.vip_id}'",
            defaults={
                "polling_place": place,
                "source": source[:200],
                "message": f"{place.name} ({place.code}), {place.address}: no LatLng in the feed. Stored by its "
                "address, without buffer zones; add its coordinates.",
            },
        )
        n += 1
    return n


def locations_write(*, election: Election, feed_locations: FeedLocations, source: str) -> LocationsResult:
    """Store kinds, hours, vote centers, places without coordinates and their warnings, after the geography
    importer wrote the located places (call it inside the same transaction)."""
    out = LocationsResult()
    rows = feed_locations.rows
    if not rows:
        return out
    held = _places(rows)
    _write_unlocated(rows, held, out)
    _write_kinds(rows, held, out)
    _write_hours(rows, held, election, out)
    _write_service(rows, held, feed_locations, election, out)
    out.warnings = _write_warnings(rows, held, source)
    return out


# --- Writing a feed ------------------------------------------------------------------------------------------------


def _offset(moment: dt.datetime) -> str:
    offset = moment.utcoffset() or dt.timedelta(0)
    minutes = int(offset.total_seconds() // 60)
    sign = "+" if minutes >= 0 else "-"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def time_with_zone(day: dt.date, at: dt.time, zone: zoneinfo.ZoneInfo, *, end: bool = False) -> str:
    """VIP's ``TimeWithZone`` of a local time on ``day``: the wall clock and the UTC offset in force then."""
    if end and at == END_OF_DAY:
        midnight = dt.datetime.combine(day + dt.timedelta(days=1), END_OF_DAY, tzinfo=zone)
        return f"24:00:00{_offset(midnight)}"
    return f"{at:%H:%M:%S}{_offset(dt.datetime.combine(day, at, tzinfo=zone))}"


def schedules(hours: list[LocationHours]) -> list[tuple[dt.date, dt.date, list[tuple[str, str]]]]:
    """(start date, end date, [(StartTime, EndTime)]) runs: consecutive dates with the same spans written the same
    way (same offsets) share one Schedule."""
    by_day: dict[dt.date, list[tuple[str, str]]] = defaultdict(list)
    for h in sorted(hours, key=lambda h: (h.date, h.opens)):
        zone = zoneinfo.ZoneInfo(h.timezone)
        by_day[h.date].append((time_with_zone(h.date, h.opens, zone), time_with_zone(h.date, h.closes, zone, end=True)))
    runs: list[tuple[dt.date, dt.date, list[tuple[str, str]]]] = []
    for day in sorted(by_day):
        if runs and runs[-1][1] + dt.timedelta(days=1) == day and runs[-1][2] == by_day[day]:
            runs[-1] = (runs[-1][0], day, runs[-1][2])
        else:
            runs.append((day, day, by_day[day]))
    return runs

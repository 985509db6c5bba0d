"""Which places serve which precincts, for many counties at once, kept by a server between requests.

``serving_table`` gives ``locations.serving_county``'s answers for every county of a nation (each in its own
election) in a handful of set-based queries, kept in flat arrays rather than objects (``ServingTable``): what a lookup
needs past the spatial query, made once per geography version (``polling.geography.lookup``).
"""

from __future__ import annotations

import bisect
import datetime as dt
import itertools
import math
import zoneinfo
from array import array
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np
from django.db.models import F, Q

from polling.geography.locations import Opening, election_day_opening_in
from polling.models import (
    Election,
    Entrance,
    LocationHours,
    PlaceKind,
    PollingPlace,
    Precinct,
    PrecinctAssignment,
    VoteCenter,
)


@dataclass(frozen=True, slots=True)
class Way:
    """How a place serves a precinct in an election: its kinds (``PlaceKind`` values, in that enum's order), as a
    vote center or not, and its hours in that election (the election's polling hours where an election-day site has
    none of its own that day). Places serving alike share one ``Way``."""

    kinds: tuple[str, ...]
    vote_center: bool
    hours: tuple[Opening, ...]

    @property
    def election_day(self) -> bool:
        return PlaceKind.ELECTION_DAY.value in self.kinds

    @property
    def assigned(self) -> bool:
        """Serves on election day as the precinct's assigned place (not one of the county's vote centers)."""
        return self.election_day and not self.vote_center

    def is_open(self, at: dt.datetime) -> bool:
        return any(o.is_open(at) for o in self.hours)


class XY(NamedTuple):
    """A point as ``geojson`` reads it (``.x``, ``.y``: longitude, latitude)."""

    x: float
    y: float


@dataclass(frozen=True, slots=True)
class EntranceRow:
    name: str
    location: XY
    accessible: bool
    in_use: bool


class _Rows(tuple):  # type: ignore[type-arg]
    """A place's entrances as a prefetched relation reads (``place.entrances.all()``)."""

    def all(self) -> tuple[EntranceRow, ...]:
        return tuple(self)


@dataclass(frozen=True, slots=True)
class PlaceRow:
    """A polling place as a lookup shows it, read from a ``ServingTable``: the attributes of ``PollingPlace`` that
    ``geojson.place_summary`` reads, its entrances by name."""

    pk: int
    code: str
    name: str
    address: str
    location: XY | None
    accessibility_notes: str
    entrances: _Rows


#: A place as ``ServingTable.place_values`` gives it.
PlaceValues = tuple[int, str, str, str, tuple[float, float] | None, str, list[tuple[str, float, float, bool, bool]]]

#: A table's serial numbers: what its rows are cached under elsewhere (never reused, unlike ``id()``).
_serials = itertools.count(1)


class ServingTable:
    """``serving_county`` for many counties, each in one election, in flat arrays rather than objects: a nation's
    130,000 places cost ~25 MiB, and a process forked after building it shares its pages (no reference count of a
    row is ever touched). What changes per request (distance, open now) is left to the caller.

    Per precinct, the places serving it in its county's election as (place row, way index) in the order
    ``serving_county`` gives them without a point: the election-day places first, then by code. Precincts served
    alike share one range of the slot arrays."""

    def __init__(self, *, elections: dict[int, int], ways: list[Way], columns: _Columns) -> None:
        self.serial = next(_serials)
        #: The election each county's rows were computed for, by county id.
        self.elections = elections
        self.ways = tuple(ways)
        c = columns
        # Typed arrays (``array.array``), read an item at a time: cheaper than numpy for one row, as compact.
        ids = np.frombuffer(c.precinct_ids, dtype=np.int64)
        order = np.argsort(ids, kind="stable")
        self._precinct_ids = array("q", ids[order].tobytes())
        self._precinct_ranges = array(
            "i", np.frombuffer(c.precinct_ranges, dtype=np.int32).reshape(-1, 2)[order].tobytes()
        )
        self._slot_place = array("i", c.slot_place)
        self._slot_way = array("i", c.slot_way)
        self._place_id = array("q", c.place_id)
        self._place_xy = array("d", c.place_xy)
        self._n_places = len(self._place_id)
        # Every string once, UTF-8, end to end: each place's code, name, address and notes, then each entrance's name.
        self._text = bytes(c.text) + bytes(c.door_text)
        shift = len(c.text)
        self._text_at = array("i" if len(self._text) < 2**31 else "q", c.text_at)
        self._text_at.extend(at + shift for at in itertools.islice(c.door_text_at, 1, None))
        door_row = np.frombuffer(c.door_row, dtype=np.int32)
        self._place_doors = array(
            "i", np.searchsorted(door_row, np.arange(self._n_places + 1), side="left").astype(np.int32).tobytes()
        )
        self._door_xy = array("d", c.door_xy)
        self._door_flags = bytes(c.door_flags)

    def __len__(self) -> int:
        """Precincts in the table."""
        return len(self._precinct_ids)

    @property
    def slots(self) -> int:
        """Entries of the slot arrays (what the table keeps beyond its places)."""
        return len(self._slot_place)

    @property
    def nbytes(self) -> int:
        """The table's size in memory, roughly: its arrays and strings."""
        arrays = (self._precinct_ids, self._precinct_ranges, self._slot_place, self._slot_way, self._place_id)
        more = (self._place_xy, self._text_at, self._place_doors, self._door_xy)
        return sum(a.itemsize * len(a) for a in (*arrays, *more)) + len(self._text) + len(self._door_flags)

    def serving(self, precinct_id: int) -> list[tuple[int, int]]:
        """(place row, way index) of each place serving the precinct; empty for a precinct not in the table."""
        i = bisect.bisect_left(self._precinct_ids, precinct_id)
        if i >= len(self._precinct_ids) or self._precinct_ids[i] != precinct_id:
            return []
        start, end = self._precinct_ranges[2 * i], self._precinct_ranges[2 * i + 1]
        return list(zip(self._slot_place[start:end], self._slot_way[start:end], strict=True))

    def place_id(self, row: int) -> int:
        return self._place_id[row]

    def location(self, row: int) -> tuple[float, float] | None:
        x = self._place_xy[2 * row]
        return None if math.isnan(x) else (x, self._place_xy[2 * row + 1])

    def _texts(self, first: int, count: int) -> list[str]:
        at = self._text_at[first : first + count + 1]
        text = self._text
        return [text[at[i] : at[i + 1]].decode() for i in range(count)]

    def place(self, row: int) -> PlaceRow:
        """The place of ``row`` as ``geojson.place_summary`` reads a ``PollingPlace``."""
        pk, code, name, address, location, notes, doors = self.place_values(row)
        return PlaceRow(
            pk,
            code,
            name,
            address,
            XY(*location) if location else None,
            notes,
            _Rows(EntranceRow(n, XY(x, y), a, u) for n, x, y, a, u in doors),
        )

    def place_values(self, row: int) -> PlaceValues:
        """The place of ``row`` as plain values: id, code, name, address, (lon, lat) or None, accessibility notes,
        and its entrances by name as (name, lon, lat, accessible, in use)."""
        code, name, address, notes = self._texts(4 * row, 4)
        first, end = self._place_doors[row], self._place_doors[row + 1]
        names = self._texts(4 * self._n_places + first, end - first)
        xy, flags = self._door_xy, self._door_flags
        doors = [
            (n, xy[2 * d], xy[2 * d + 1], bool(flags[2 * d]), bool(flags[2 * d + 1]))
            for n, d in zip(names, range(first, end), strict=True)
        ]
        return self._place_id[row], code, name, address, self.location(row), notes, doors


@dataclass
class _Columns:
    """A ``ServingTable`` while it is read: typed buffers a row at a time, no object per row."""

    precinct_ids: array[int] = field(default_factory=lambda: array("q"))
    precinct_ranges: array[int] = field(default_factory=lambda: array("i"))
    slot_place: array[int] = field(default_factory=lambda: array("i"))
    slot_way: array[int] = field(default_factory=lambda: array("i"))
    place_id: array[int] = field(default_factory=lambda: array("q"))
    place_xy: array[float] = field(default_factory=lambda: array("d"))
    place_flags: bytearray = field(default_factory=bytearray)  # 1: early voting, 2: drop box
    text: bytearray = field(default_factory=bytearray)
    text_at: array[int] = field(default_factory=lambda: array("q", [0]))
    door_row: array[int] = field(default_factory=lambda: array("i"))
    door_xy: array[float] = field(default_factory=lambda: array("d"))
    door_flags: bytearray = field(default_factory=bytearray)  # accessible, in use
    door_text: bytearray = field(default_factory=bytearray)
    door_text_at: array[int] = field(default_factory=lambda: array("q", [0]))

    def add_place(self, pk: int, texts: tuple[str, str, str, str], location: Any, flags: int) -> None:
        self.place_id.append(pk)
        self.place_xy.extend((location.x, location.y) if location is not None else (math.nan, math.nan))
        self.place_flags.append(flags)
        for t in texts:
            self.text += t.encode()
            self.text_at.append(len(self.text))

    def add_door(self, row: int, name: str, location: Any, accessible: bool, in_use: bool) -> None:
        self.door_row.append(row)
        self.door_xy.extend((location.x, location.y))
        self.door_flags.extend((accessible, in_use))
        self.door_text += name.encode()
        self.door_text_at.append(len(self.door_text))

    def code(self, row: int) -> str:
        return self.text[self.text_at[4 * row] : self.text_at[4 * row + 1]].decode()


#: Counties at most this many are read with their own filter; more, as the whole tables.
_FILTERED_COUNTIES = 50
_CHUNK = 20_000


def serving_table(elections: dict[int, tuple[Election, zoneinfo.ZoneInfo]]) -> ServingTable:
    """``serving_county`` for each county of ``elections`` (county id -> the election and the county's time zone),
    every county in the same handful of queries: the places of a whole nation (130,000, with their entrances and
    hours) are read in a few seconds. The answers are the same as ``serving_county``'s without a point."""
    counties = list(elections)
    by_county = len(counties) <= _FILTERED_COUNTIES
    election_ids = {e.pk for e, _ in elections.values()}
    precinct_rows = Precinct.objects.values_list("id", "county_id").order_by("id")
    if by_county:
        precinct_rows = precinct_rows.filter(county_id__in=counties)
    precincts_of: dict[int, list[int]] = defaultdict(list)
    for pk, county_id in precinct_rows.iterator(chunk_size=_CHUNK):
        if county_id in elections:
            precincts_of[county_id].append(pk)
    assignments = PrecinctAssignment.objects.filter(election_id__in=election_ids).values_list(
        "election_id", "precinct_id", "polling_place_id", "precinct__county_id"
    )
    if by_county:
        assignments = assignments.filter(precinct__county_id__in=counties)
    assigned: dict[int, dict[int, int]] = defaultdict(dict)
    for election_id, precinct_id, place_id, county_id in assignments.iterator(chunk_size=_CHUNK):
        if county_id in elections and elections[county_id][0].pk == election_id:
            assigned[county_id][precinct_id] = place_id
    center_rows = VoteCenter.objects.filter(election_id__in=election_ids).values_list(
        "election_id", "polling_place_id", "polling_place__county_id"
    )
    if by_county:
        center_rows = center_rows.filter(polling_place__county_id__in=counties)
    centers: dict[int, set[int]] = defaultdict(set)
    for election_id, place_id, county_id in center_rows.iterator(chunk_size=_CHUNK):
        if county_id in elections and elections[county_id][0].pk == election_id:
            centers[county_id].add(place_id)
    # Hours of the elections: of the counties' own places (early-voting sites and drop boxes are open for an
    # election when they have hours in it), and of the places assigned or vote centers elsewhere.
    day_place_ids = {p for rows in assigned.values() for p in rows.values()} | {p for c in centers.values() for p in c}
    hour_rows = LocationHours.objects.filter(election_id__in=election_ids).annotate(
        place_county=F("polling_place__county_id"),
        place_open_early=F("polling_place__is_early_voting"),
        place_drop_box=F("polling_place__is_drop_box"),
    )
    if by_county:
        hour_rows = hour_rows.filter(Q(polling_place__county_id__in=counties) | Q(polling_place_id__in=day_place_ids))
    hours: dict[tuple[int, int], list[Opening]] = defaultdict(list)
    open_for: dict[int, set[int]] = defaultdict(set)  # county id -> its early-voting sites and drop boxes open
    for row in hour_rows.order_by("date", "opens").iterator(chunk_size=_CHUNK):
        hours[(row.election_id, row.polling_place_id)].append(Opening.of(row))
        county_id = row.place_county
        if (
            county_id in elections
            and elections[county_id][0].pk == row.election_id
            and (row.place_open_early or row.place_drop_box)
        ):
            open_for[county_id].add(row.polling_place_id)
    wanted = day_place_ids | {p for c in open_for.values() for p in c}
    del day_place_ids
    place_rows = PollingPlace.objects.order_by("id").values_list(
        "id", "code", "name", "address", "location", "accessibility_notes", "is_early_voting", "is_drop_box"
    )
    door_rows = Entrance.objects.order_by("polling_place_id", "name").values_list(
        "polling_place_id", "name", "location", "accessible", "in_use"
    )
    if by_county or len(wanted) <= 2_000:
        place_rows = place_rows.filter(id__in=wanted)
        door_rows = door_rows.filter(polling_place_id__in=wanted)
    columns = _Columns()
    row_of: dict[int, int] = {}
    for pk, code, name, address, location, notes, early, drop_box in place_rows.iterator(chunk_size=_CHUNK):
        if pk in wanted:
            row_of[pk] = len(columns.place_id)
            columns.add_place(pk, (code, name, address, notes), location, int(early) | int(drop_box) << 1)
    del wanted
    for pk, name, location, accessible, in_use in door_rows.iterator(chunk_size=_CHUNK):
        if (door_of := row_of.get(pk)) is not None:
            columns.add_door(door_of, name, location, accessible, in_use)

    ways: dict[Way, int] = {}
    ranges: dict[tuple[frozenset[int], bool], tuple[int, int]] = {}
    for county_id, (election, zone) in elections.items():
        election_day = election_day_opening_in(election, zone)
        county_assigned = assigned.pop(county_id, {})
        county_centers = frozenset(centers.get(county_id, ()))
        found = set(county_assigned.values()) | county_centers | open_for.get(county_id, set())
        found &= row_of.keys()

        def judged(pk: int, day_ids: frozenset[int], vote_center: bool) -> Way | None:
            flags = columns.place_flags[row_of[pk]]
            return _way(
                pk in day_ids,
                vote_center and pk in day_ids,
                (bool(flags & 1), bool(flags & 2)),
                hours.get((election.pk, pk), []),  # noqa: B023  (called within this county's loop only)
                election,  # noqa: B023
                election_day,  # noqa: B023
            )

        others = [
            (pk, w)
            for pk in found
            if columns.place_flags[row_of[pk]] and (w := judged(pk, frozenset(), False)) is not None
        ]
        ranges.clear()
        for pk in precincts_of.pop(county_id, ()):
            day_ids = frozenset({county_assigned[pk]}) if pk in county_assigned else county_centers
            key = (day_ids, pk not in county_assigned)
            if key not in ranges:
                day = [(i, w) for i in day_ids if i in found and (w := judged(i, day_ids, key[1])) is not None]
                listed = day + [(i, w) for i, w in others if i not in day_ids]
                if len(listed) > 1:
                    listed.sort(key=lambda s: (0 if s[1].election_day else 1, columns.code(row_of[s[0]])))
                start = len(columns.slot_place)
                for i, way in listed:
                    columns.slot_place.append(row_of[i])
                    columns.slot_way.append(ways.setdefault(way, len(ways)))
                ranges[key] = (start, len(columns.slot_place))
            columns.precinct_ids.append(pk)
            columns.precinct_ranges.extend(ranges[key])
    return ServingTable(elections={c: e.pk for c, (e, _z) in elections.items()}, ways=list(ways), columns=columns)


def _way(
    election_day_site: bool,
    vote_center: bool,
    flags: tuple[bool, bool],
    own: list[Opening],
    election: Election,
    election_day: Opening,
) -> Way | None:
    """How a place serves (``_serving``, for one place): None when it does not serve the precinct at all."""
    early, drop_box = flags
    kinds = []
    hours = own
    if election_day_site:
        kinds.append(PlaceKind.ELECTION_DAY.value)
        if not any(o.date == election.date for o in own):
            hours = sorted([*own, election_day], key=lambda o: o.starts_at)
    if early and any(o.date < election.date for o in hours):
        kinds.append(PlaceKind.EARLY_VOTING.value)
    if drop_box and own:
        kinds.append(PlaceKind.DROP_BOX.value)
    if not kinds:
        return None
    return Way(tuple(kinds), vote_center, tuple(hours))

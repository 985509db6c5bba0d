"""Voting Information Project (VIP) 6.0 feeds, out (``export``) and in (``import_``), for what the model holds:
the state, its counties (VIP localities), an election, precincts with their boundaries (a shapefile in the feed,
checksummed), polling places of every kind (election-day sites, early-voting sites, drop boxes) with their hours,
which place serves which precinct, and the county vote centers (``locations``).

Ids: VIP ids are XML ``ID``s (no spaces or slashes), our codes are not, so a code is carried in the id with every
character outside ``[A-Za-z0-9.-]`` written ``_hh`` (hex); ``code_of_id`` reads it back, and a foreign feed's own id
is taken as the code. Our ids also carry the county's FIPS (``county_of_id``): the county of a location that no
Locality or Precinct lists.
"""

from __future__ import annotations

import re

SCHEMA_VERSION = "6.0"
FEED_XML = "vip_feed.xml"
SHAPES_ZIP = "precincts.zip"
SHAPES_LAYER = "precincts"

_PLAIN = re.compile(r"[A-Za-z0-9.\-]")
_OURS = re.compile(r"^(?:pre|pl)([0-9]{5})-((?:[A-Za-z0-9.\-]|_[0-9a-f]{2})+)\Z")


def encode_code(code: str) -> str:
    return "".join(ch if _PLAIN.fullmatch(ch) else f"_{ord(ch):02x}" for ch in code)


def precinct_id(county_fips: str, code: str) -> str:
    return f"pre{county_fips}-{encode_code(code)}"


def place_id(county_fips: str, code: str) -> str:
    return f"pl{county_fips}-{encode_code(code)}"


def code_of_id(vip_id: str) -> str:
    """Our code from an id written by ``precinct_id``/``place_id``; any other id is itself the code."""
    match = _OURS.match(vip_id)
    if match is None:
        return vip_id
    return re.sub(r"_([0-9a-f]{2})", lambda m: chr(int(m.group(1), 16)), match.group(2))


def county_of_id(vip_id: str) -> str | None:
    """The county FIPS an id written by ``precinct_id``/``place_id`` carries; None for any other id."""
    match = _OURS.match(vip_id)
    return None if match is None else match.group(1)

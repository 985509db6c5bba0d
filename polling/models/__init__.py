"""The polling app's tables, one module per concern; every model is importable from ``polling.models``.

- ``geography``: jurisdictions and their buffer rules, counties, precincts, polling places, entrances, elections,
  which polling place serves which precinct, and the geography version the spatial index is built for;
- ``locations``: the dated opening hours of each place in an election, and the county vote centers;
- ``imports``: defects an import kept, for a commissioner of the county to follow up;
- ``election_day``: presence quotas, the presence log, who is inside, timeline anomalies;
- ``incidents``: reports from polling places with their measured zone status.

Geometry is WGS84 lon/lat stored portably (``polling.models.fields``); exact zone geometry lives in
``polling.geometry``.
"""

from polling.models.election_day import Presence, PresenceAnomaly, PresenceEvent, PresenceLedger, PresenceRule
from polling.models.geography import (
    MAX_BUFFER_FT,
    MAX_SITE_RADIUS_M,
    POLYGONAL,
    Bounded,
    BufferRule,
    County,
    Election,
    Entrance,
    GeographyVersion,
    Jurisdiction,
    PlaceKind,
    PollingPlace,
    Precinct,
    PrecinctAssignment,
    code_validator,
    county_fips_validator,
    state_code_validator,
    validate_timezone,
)
from polling.models.imports import ImportWarning
from polling.models.incidents import Incident
from polling.models.locations import END_OF_DAY, LocationHours, VoteCenter

__all__ = [
    "END_OF_DAY",
    "MAX_BUFFER_FT",
    "MAX_SITE_RADIUS_M",
    "POLYGONAL",
    "Bounded",
    "BufferRule",
    "County",
    "Election",
    "Entrance",
    "GeographyVersion",
    "ImportWarning",
    "Incident",
    "Jurisdiction",
    "LocationHours",
    "PlaceKind",
    "PollingPlace",
    "Precinct",
    "PrecinctAssignment",
    "Presence",
    "PresenceAnomaly",
    "PresenceEvent",
    "PresenceLedger",
    "PresenceRule",
    "VoteCenter",
    "code_validator",
    "county_fips_validator",
    "state_code_validator",
    "validate_timezone",
]

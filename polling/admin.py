"""Admin registrations of the polling app: geography and elections, then election day."""

from polling.election_day import admin as election_day_admin
from polling.geography import admin as geography_admin

__all__ = ["election_day_admin", "geography_admin"]

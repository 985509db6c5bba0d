"""The product's settings without the protective and operational middleware (health, intrusion prevention,
geographic exclusion, replica routing): the "before" side of bench/guard_overhead.py. Never used by the product."""

from config.settings import *  # noqa: F403
from config.settings import MIDDLEWARE

_ADDED = {
    "ops.health_middleware.HealthCheckMiddleware",
    "guard.middleware.IntrusionPreventionMiddleware",
    "guard.middleware.GeoExclusionMiddleware",
    "ops.middleware.ReplicaReadsMiddleware",
}
MIDDLEWARE = [m for m in MIDDLEWARE if m not in _ADDED]

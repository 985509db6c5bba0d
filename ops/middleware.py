"""Which requests may read from a standby (``ops.routing``), decided once per request.

Only public reads: a safe method on a view named in :data:`PUBLIC_READ_VIEWS` (the public API's lookups and the
map) or a view that declares ``replica_reads = True``. Staff endpoints authenticate by token inside the view, so
the middleware cannot tell staff from public by the caller; it goes by the view, which it knows in
``process_view``, and anything it does not know reads from the primary.

Read-your-writes: a request that writes reads from the primary for the rest of the request (the router sees the
write), and a client that just sent a write (any unsafe method) reads from the primary for ``REPLICA_STICKY_S``
seconds after, counted per client address bucket in the shared cache (Redis in production), so a commissioner who
edits a polling place sees the edit on the public map straight away however far the standby is behind.

A standby that fails in the middle of a public read is marked down and the view runs again on the primary: a safe
method may be repeated, and the visitor gets an answer instead of an error.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import DatabaseError, connections
from django.http import HttpRequest, HttpResponse

from common.net import address_bucket, client_ip
from ops import health, routing

logger = logging.getLogger(__name__)

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

#: URL names of the public, unauthenticated reads (polling/api/urls.py, polling/web/urls.py). A name here must be a
#: view that authenticates no one (tests/ops/test_replica_routing.py checks it).
PUBLIC_READ_VIEWS = frozenset(
    {
        "lookup",
        "compliance",
        "county-list",
        "precinct-list",
        "precinct-detail",
        "pollingplace-list",
        "pollingplace-detail",
        "pollingplace-zones",
        "zones-in-box",
        "map",
    }
)

_STICKY_KEY = "ops:replica-sticky:%s"


def sticky_key(request: HttpRequest) -> str | None:
    """The cache key that marks this client (its address bucket) as having written a moment ago."""
    bucket = address_bucket(client_ip(request))
    return _STICKY_KEY % bucket if bucket else None


def is_public_read(request: HttpRequest, view_func: Callable[..., Any]) -> bool:
    """A safe method on a view that declares ``replica_reads`` or is named in :data:`PUBLIC_READ_VIEWS`."""
    if request.method not in SAFE_METHODS:
        return False
    declared = getattr(view_func, "replica_reads", None)
    if declared is None:
        declared = getattr(getattr(view_func, "cls", None), "replica_reads", None)
    if declared is not None:
        return bool(declared)
    match = request.resolver_match
    return match is not None and match.view_name in PUBLIC_READ_VIEWS


class ReplicaReadsMiddleware:
    """Marks public reads for ``ops.routing.ReplicaRouter``; a no-op without ``DATABASE_REPLICA_URL``."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        if routing.replica_aliases():
            # Once per process (the handler loads its middleware at start-up): /readyz names the standbys' state.
            health.register_check("replica", routing.readiness_check, needs_database=False)

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not routing.replica_aliases():
            return self.get_response(request)
        state = routing.RequestState()
        token = routing.begin_request(state)
        try:
            response = self.get_response(request)
        finally:
            routing.end_request(token)
        sticky_s = int(getattr(settings, "REPLICA_STICKY_S", 10))
        if sticky_s > 0 and request.method not in SAFE_METHODS:
            key = sticky_key(request)
            if key:
                cache.set(key, 1, sticky_s)
        return response

    def process_view(
        self, request: HttpRequest, view_func: Callable[..., Any], view_args: Any, view_kwargs: Any
    ) -> None:
        state = routing.current_state()
        if state is None or state.wrote or not is_public_read(request, view_func):
            return
        key = sticky_key(request)
        if key and cache.get(key):
            return  # this client wrote a moment ago: it reads its own writes from the primary
        state.replica_ok = True

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        state = routing.current_state()
        if state is None or not isinstance(exception, DatabaseError) or not state.replica_ok or not state.alias:
            return None
        if state.wrote or request.method not in SAFE_METHODS or request.resolver_match is None:
            return None
        alias = state.alias
        logger.warning("standby %s failed during a public read (%s); repeating it on the primary", alias, exception)
        text = str(exception).strip()
        routing.mark_failed(alias, text.splitlines()[0][:200] if text else type(exception).__name__)
        with contextlib.suppress(DatabaseError):
            connections[alias].close()
        state.replica_ok = False
        state.alias = None
        match = request.resolver_match
        response: HttpResponse = match.func(request, *match.args, **match.kwargs)
        return response

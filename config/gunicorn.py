"""The application server's configuration: ``gunicorn -c python:config.gunicorn config.wsgi``.

Used by ``make serve`` and by the systemd unit (deploy/systemd/pollguard.service). Every value can be changed
through the environment (or the settings file, ``ENV_FILE``, read here too); docs/configuration.md lists them.

- Workers: sync workers, ``(2 x CPUs) + 1`` by default, CPUs being those this process may run on (a container's or
  a systemd ``CPUAffinity`` limit counts). The lookups are CPU-bound geometry; nginx in front buffers slow clients,
  so a sync worker is never held by a slow network.
- The application is loaded once in the master (``preload_app``) and the spatial index built there before the
  workers fork (``when_ready``), with what every lookup needs past the spatial query (``lookup.warm``: each
  county's serving places in its upcoming election): workers share its memory and answer at once instead of each
  building it on its first request and reading each county on its first lookup. The master's database connection
  is closed before the fork.
- Access log: one JSON object per line on stdout (journald keeps it), without query strings, which carry voters'
  coordinates and one-time codes; the client address is the one the throttles see (through
  ``TRUSTED_PROXY_COUNT`` proxies).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import types
from pathlib import Path
from typing import Any

from gunicorn.glogging import Logger

from config.env import env_int, env_str, read_env_file

read_env_file(Path(__file__).resolve().parent.parent / ".env")


def _cpus() -> int:
    try:
        return len(os.sched_getaffinity(0)) or 1
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


bind = [env_str("GUNICORN_BIND") or "127.0.0.1:8000"]
workers = env_int("GUNICORN_WORKERS", 2 * _cpus() + 1, minimum=1)
worker_class = "sync"
preload_app = True
#: A request running longer than this is killed with its worker (nginx gives up at 60 s: proxy_read_timeout).
timeout = env_int("GUNICORN_TIMEOUT", 30, minimum=5)
graceful_timeout = env_int("GUNICORN_GRACEFUL_TIMEOUT", 30, minimum=1)
keepalive = 5
#: Workers are not recycled by default: a recycled worker would fork from the master's start-up index and rebuild it
#: if the geography changed since. Set it if a leak ever shows.
max_requests = env_int("GUNICORN_MAX_REQUESTS", 0, minimum=0)
max_requests_jitter = max_requests // 10
# Request line and header limits: gunicorn's defaults (4094 bytes, 100 fields of 8190 bytes); nginx's are tighter.
# Heartbeat files in memory, not on the disk (gunicorn makes them with mkstemp: private names).
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None  # noqa: S108  # nosec B108
proc_name = "pollguard"
# The proxy on this machine sets X-Forwarded-Proto; only it is believed (gunicorn's default is 127.0.0.1 as well).
forwarded_allow_ips = env_str("GUNICORN_FORWARDED_ALLOW_IPS") or "127.0.0.1,::1"
accesslog = "-"
errorlog = "-"
loglevel = (env_str("LOG_LEVEL") or "info").lower()
logger_class = "config.gunicorn.JsonAccessLogger"
# gunicorn 24+: no control socket in the service user's home (ProtectHome), and none shared between instances.
control_socket_disable = True


class JsonAccessLogger(Logger):  # type: ignore[misc]
    """One JSON object per request; every value escaped by ``json.dumps`` (a user agent cannot break a line)."""

    def access(self, resp: Any, req: Any, environ: dict[str, Any], request_time: dt.timedelta) -> None:
        if not self.access_log_enabled:
            return
        status = resp.status
        if isinstance(status, str):
            status = status.split(None, 1)[0]
        record = {
            "time": dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds"),
            "client": _client(environ),
            "method": environ.get("REQUEST_METHOD"),
            "path": environ.get("PATH_INFO"),
            "status": int(status),
            "bytes": getattr(resp, "sent", None),
            "duration_ms": round(request_time.total_seconds() * 1000, 1),
            "request_id": environ.get("HTTP_X_REQUEST_ID"),
            "user_agent": (environ.get("HTTP_USER_AGENT") or "")[:256],
            "pid": os.getpid(),
        }
        try:
            self.access_log.info("%s", json.dumps(record, separators=(",", ":")))
        except Exception:
            self.exception("access log")


def _client(environ: dict[str, Any]) -> str | None:
    """The client's address by the rule every limit uses (``common.net.client_ip``), once Django is loaded."""
    try:
        from common.net import client_ip

        return client_ip(types.SimpleNamespace(META=environ))  # type: ignore[arg-type]
    except Exception:
        return environ.get("REMOTE_ADDR")


def when_ready(server: Any) -> None:
    """Build the spatial index in the master, before the workers fork, so that they share it; then close the
    master's database connection (a forked connection shared by workers would corrupt both ends)."""
    if not preload_app:
        return
    try:
        from django.urls import get_resolver

        get_resolver().url_patterns  # noqa: B018  (imports every view module once, before the fork)
        from polling.geography import spatial

        index = spatial.current_index()
        server.log.info("spatial index v%s ready before fork (%d precincts)", index.version, len(index))
        from polling.geography import lookup

        try:
            warm = lookup.warm(index)
            if warm is not None:
                server.log.info(
                    "lookup answers warmed before fork (%d precincts) in %.1fs", len(warm.table), warm.seconds
                )
        except Exception as exc:  # workers read each county on first use (and warm a national index in the background)
            server.log.warning("lookup answers not warmed before fork (%s)", type(exc).__name__)
    except Exception as exc:  # no database yet, not migrated …: each worker builds it on first use
        server.log.warning(
            "spatial index not built before fork (%s); workers build it on first use", type(exc).__name__
        )
    finally:
        try:
            from django.db import connections

            connections.close_all()
        except Exception:
            server.log.warning("closing the master's database connections failed", exc_info=True)


def post_worker_init(worker: Any) -> None:
    """Each worker learns the geography version from PostgreSQL's notifications instead of a query per public
    request (polling.geography.version_feed; started after the fork, never in the master)."""
    try:
        from polling.geography import version_feed

        version_feed.feed.start()
    except Exception:  # the worker reads the version per request instead
        worker.log.warning("geography version feed not started", exc_info=True)

#!/usr/bin/env python
"""Benchmark of election-morning check-ins over HTTP on PostgreSQL: prints figures, asserts nothing about time
(see bench/README.md).

1. Seeds its own PostgreSQL database (``bench_checkins``, dropped and recreated on every run) through the project's
   services: one Mississippi county, N polling places, an election today (America/Chicago) with polls open
   00:00-23:59, per simulated tablet an enrolled tablet and a signed-in poll worker, a signing key, and 13 poll
   watchers per place from 6 parties (2 each, and a third for one party, so a few check-ins meet the quota).
2. Starts gunicorn (2 workers, ``--threads`` threads each) on 127.0.0.1 with ``bench.settings``: the product's
   settings plus the baseline ``POST /bench/ping/`` (same authentication and permission as a check-in, one INSERT).
3. Closed loop, one thread per tablet (``requests``, one keep-alive connection each): every tablet checks its
   place's watchers in and out with fresh ``event_id``s, and 30 % of its posts repeat an earlier post (same
   ``event_id`` and body), as a tablet retrying after a lost answer would. Then the same tablets post to
   ``/bench/ping/``. Then, if ``polling.election_day.sync`` exists, batches of 20 events through ``POST /api/v1/sync/``.

Usage: ``.venv/bin/python bench/checkins.py [--places N] [--tablets N] [--seconds S | --events N]``.

Traffic goes to 127.0.0.1 only; every loop is bounded in time (and in count with ``--events``); gunicorn runs in its
own process group and is stopped in ``finally``, on error and Ctrl-C too.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import importlib.util
import os
import platform
import random
import secrets
import shutil
import signal
import sys
import tempfile
import threading
import time
import uuid
import zoneinfo
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from serve import gunicorn  # bench/serve.py: this script's own folder is first on sys.path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DB_URL = "postgres://postgres@127.0.0.1:5432/bench_checkins"
CHICAGO = zoneinfo.ZoneInfo("America/Chicago")
SEED = 20_261_103
PARTIES = ("Democratic Party", "Republican Party", "Libertarian Party", "Green Party", "Reform Party", "Constitution")
#: 2 watchers per party (the Mississippi quota) and a third for the first party: its check-in is refused (409)
#: while the other two are inside.
WATCHERS_PER_PLACE = 2 * len(PARTIES) + 1
#: Share of posts that repeat an earlier post of the same tablet (same event_id and body).
REPEAT_SHARE = 0.30
#: Of the fresh posts, the share that checks someone out (when someone is inside and someone outside).
CHECK_OUT_SHARE = 0.40
SYNC_BATCH = 20
CHECKIN_PATHS = {"check_in": "check-ins", "check_out": "check-outs"}


def section(title: str) -> None:
    print(f"\n=== {title}", flush=True)


def fmt_num(value: float | None, digits: int = 0) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def percentiles_ms(ns: Sequence[int]) -> tuple[float | None, float | None]:
    if not ns:
        return None, None
    import numpy as np

    arr = np.asarray(ns, dtype=np.float64) / 1e6
    return float(np.percentile(arr, 50)), float(np.percentile(arr, 99))


def now_local() -> str:
    """The tablet's clock: now, Chicago time, ISO 8601 with its offset."""
    return dt.datetime.now(CHICAGO).isoformat(timespec="milliseconds")


# --------------------------------------------------------------------------------------------------- database


def db_name(url: str) -> str:
    from psycopg.conninfo import conninfo_to_dict

    return str(conninfo_to_dict(url).get("dbname") or "")


def recreate_database(url: str) -> None:
    """Drop and create the database ``url`` names. Only a database named ``bench_*``: never ``test`` or the like."""
    import psycopg
    from psycopg import sql
    from psycopg.conninfo import make_conninfo

    name = db_name(url)
    if not name.startswith("bench_"):
        raise SystemExit(f"{url}: the benchmark drops and recreates its database; give one named bench_*")
    with psycopg.connect(make_conninfo(url, dbname="postgres"), autocommit=True, connect_timeout=10) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def configure_django(url: str, var_dir: Path) -> dict[str, str]:
    """bench.settings (production settings, DEBUG off) on ``url``; returns the environment for the server too."""
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "bench.settings",
            "SECRET_KEY": secrets.token_urlsafe(48),
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "HTTPS_ONLY": "0",
            "VAR_DIR": str(var_dir),
            "DATABASE_URL": url,
            "LOG_LEVEL": "WARNING",
            # The per-account limit (600/minute) is below what 50 tablets in a closed loop send once check-ins are
            # fast: 429s would be counted as answers. Effectively off, as lookup.py turns the public limit off; the
            # throttle still runs on every request (ping and check-in alike).
            "STAFF_RATE_LIMIT": "100000000/minute",
        }
    )
    os.environ.pop("REDIS_URL", None)
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    # The server logs at INFO, as in production: one line per check-in (polling.election_day.presence), to a file.
    return os.environ | {"LOG_LEVEL": "INFO"}


# --------------------------------------------------------------------------------------------------- seeding


@dataclass
class Tablet:
    index: int
    place_id: int
    device_id: str
    bearer: str
    watchers: list[str]  # QR tokens of the place's watchers


def seed(n_places: int, n_tablets: int) -> tuple[list[Tablet], str]:
    """Everything through the project's services (real grants, enrolments, sessions, signed credentials); only the
    geography and the first administrator's grant (what ``createsuperuser`` would be) are written directly."""
    from django.conf import settings
    from shapely.geometry import Point, box

    from accounts.audit import Actor
    from accounts.credentials import issuing, keys
    from accounts.models import Credential, Role, RoleGrant, User
    from accounts.people import grants, sessions
    from accounts.people import tablets as tablet_services
    from accounts.scopes import Scope
    from polling.models import County, Election, Jurisdiction, PollingPlace

    ms = Jurisdiction.objects.get(code="MS")
    county = County.objects.create(
        jurisdiction=ms, fips="28049", name="Hinds", boundary=box(-90.55, 32.05, -90.05, 32.45)
    )
    places = [
        PollingPlace.objects.create(
            county=county,
            code=f"BENCH-{i + 1:03d}",
            name=f"Bench Community Center {i + 1}",
            address=f"{i + 1} Main St, Jackson, MS 39201",
            location=Point(-90.5 + 0.008 * (i % 50), 32.1 + 0.008 * (i // 50)),
        )
        for i in range(n_places)
    ]
    today = dt.datetime.now(CHICAGO).date()
    election = Election.objects.create(
        jurisdiction=ms, name="Bench General", date=today, polls_open=dt.time(0, 0), polls_close=dt.time(23, 59)
    )

    admin = User.objects.create_user("bench_admin")  # no password: nobody signs in with it
    RoleGrant.objects.create(user=admin, role=Role.STATE_ADMIN, jurisdiction=ms)
    commissioner = User.objects.create_user("bench_commissioner", first_name="Bench", last_name="Commissioner")
    grants.grant_create(
        actor=Actor(user=admin), scope=Scope.for_user(admin), user=commissioner, role=Role.COMMISSIONER, county=county
    )
    keys.signing_key_rotate(actor=Actor(user=admin))
    by_commissioner = Actor(user=commissioner, ip_address="127.0.0.1")
    scope = Scope.for_user(commissioner)

    tokens: dict[int, list[str]] = {}
    for place in places:
        tokens[place.pk] = []
        for j in range(WATCHERS_PER_PLACE):
            credential = issuing.credential_issue(
                actor=by_commissioner,
                request=issuing.IssueRequest(
                    kind=Credential.Kind.POLL_WATCHER,
                    holder_name=f"Watcher {place.code} {j + 1}",
                    election=election,
                    county=county,
                    polling_places=[place],
                    appointed_by_kind=Credential.AppointedBy.PARTY,
                    appointed_by_name=PARTIES[j % len(PARTIES)],
                ),
            )
            tokens[place.pk].append(issuing.credential_token(credential))

    tablets = []
    for i in range(n_tablets):
        place = places[i % n_places]
        worker = User.objects.create_user(f"bench_worker_{i + 1:03d}", first_name="Worker", last_name=str(i + 1))
        grants.grant_create(
            actor=by_commissioner,
            scope=scope,
            user=worker,
            role=Role.POLL_WORKER,
            polling_place=place,
            election=election,
        )
        _, code = tablet_services.enrolment_code_create(
            actor=by_commissioner, polling_place=place, label=f"Table {i + 1}", election=election
        )
        device, _secret = tablet_services.device_enrol(code=code, ip="127.0.0.1")
        issued = sessions.session_open(
            actor=Actor(user=worker, ip_address="127.0.0.1", device=str(device.pk)),
            user=worker,
            client_device_id=device.pk,
            device=device,
            mfa_method="",
            ttl_s=settings.AUTH_TOKEN_TTL_TABLET_S,
            ip="127.0.0.1",
            user_agent="bench/checkins.py",
        )
        tablets.append(Tablet(i, place.pk, str(device.pk), issued.token, tokens[place.pk]))
    return tablets, f"election {election.pk} on {election.date} (polls 00:00-23:59 America/Chicago)"


# --------------------------------------------------------------------------------------------------- gunicorn


def _proc_cpu(pid: str) -> tuple[int, float] | None:
    """(parent pid, user + system CPU seconds so far) of a process, from /proc/<pid>/stat."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return int(fields[1]), (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


class CpuMeter:
    """CPU time used by gunicorn (master and workers) and by the PostgreSQL backends serving ``dbname``, sampled
    every 0.25 s from /proc, so that a process ending mid-measurement (the workers recycle their database
    connections after DB_CONN_MAX_AGE, 60 s) keeps what it used up to its last sample."""

    def __init__(self, master: int, dbname: str) -> None:
        self.master = master
        self.marker = f" {dbname} "
        self.first: dict[tuple[str, int], float] = {}
        self.last: dict[tuple[str, int], float] = {}
        self.started = False
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> None:
        cpu: dict[int, tuple[int, float]] = {}
        for entry in Path("/proc").glob("[0-9]*"):
            got = _proc_cpu(entry.name)
            if got is not None:
                cpu[int(entry.name)] = got
        children: dict[int, list[int]] = {}
        for pid, (ppid, _) in cpu.items():
            children.setdefault(ppid, []).append(pid)
        server, todo = [], [self.master]
        while todo:
            pid = todo.pop()
            server.append(pid)
            todo.extend(children.get(pid, []))
        database = []
        for pid in cpu:
            with contextlib.suppress(OSError):
                title = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                if title.startswith("postgres:") and self.marker in title:
                    database.append(pid)
        for group, pids in (("server", server), ("database", database)):
            for pid in pids:
                if pid in cpu:
                    key = (group, pid)
                    # A process first seen after the start used all of its CPU time during the measurement.
                    self.first.setdefault(key, cpu[pid][1] if not self.started else 0.0)
                    self.last[key] = cpu[pid][1]

    def _run(self) -> None:
        while not self.done.wait(0.25):
            self._sample()

    def start(self) -> CpuMeter:
        self._sample()
        self.started = True
        self.thread.start()
        return self

    def stop(self) -> tuple[float, float]:
        """CPU seconds used since ``start()``: (gunicorn, PostgreSQL backends)."""
        self.done.set()
        self.thread.join(timeout=5)
        self._sample()
        used = {"server": 0.0, "database": 0.0}
        for key, last in self.last.items():
            used[key[0]] += last - self.first[key]
        return used["server"], used["database"]


# --------------------------------------------------------------------------------------------------- load


@dataclass
class Sample:
    op: str  # check_in, check_out, ping, sync
    repeat: bool  # a repeat of an earlier post (for sync: the batch holds repeats)
    status: int  # -1: no answer
    replayed: bool  # Idempotent-Replayed: true
    ns: int
    detail: str = ""  # refusal reason, or for sync the results "accepted:12,duplicate:8"
    events: int = 1


@dataclass
class Morning:
    """One tablet's view of its morning: who it believes is inside, and what it has posted (for repeats)."""

    tablet: Tablet
    rng: random.Random
    inside: set[int] = field(default_factory=set)
    sent: list[tuple[str, dict[str, Any], int]] = field(default_factory=list)  # (kind, body, watcher)

    def fresh(self) -> tuple[str, dict[str, Any], int]:
        outside = [w for w in range(len(self.tablet.watchers)) if w not in self.inside]
        if self.inside and (not outside or self.rng.random() < CHECK_OUT_SHARE):
            kind, who = "check_out", self.rng.choice(sorted(self.inside))
        else:
            kind, who = "check_in", self.rng.choice(outside)
        body = {"token": self.tablet.watchers[who], "event_id": str(uuid.uuid4()), "occurred_at": now_local()}
        return kind, body, who

    def next_post(self) -> tuple[str, dict[str, Any], int, bool]:
        if self.sent and self.rng.random() < REPEAT_SHARE:
            return (*self.rng.choice(self.sent), True)
        kind, body, who = self.fresh()
        self.sent.append((kind, body, who))
        return kind, body, who, False

    def learn(self, kind: str, who: int, accepted: bool, reason: str | None) -> None:
        """Update the belief from an answer: accepted, or refused because the server knows better."""
        if (accepted and kind == "check_in") or reason == "already_inside":
            self.inside.add(who)
        elif (accepted and kind == "check_out") or reason == "not_inside":
            self.inside.discard(who)


Step = Callable[[Any, str, Morning], Sample]


def run_load(
    port: int,
    mornings: list[Morning],
    step: Step,
    *,
    seconds: float,
    budget: int | None,
    stop: threading.Event,
    per_post: int = 1,
) -> tuple[float, list[Sample]]:
    """Closed loop: one thread per tablet, each with its own keep-alive connection, sends its next post when the
    last one is answered, until ``seconds`` have passed or ``budget`` events (``per_post`` a post) are sent."""
    import requests

    lock = threading.Lock()
    sent = 0
    samples: list[Sample] = []
    deadline = time.monotonic() + seconds
    base = f"http://127.0.0.1:{port}"

    def worker(morning: Morning) -> None:
        nonlocal sent
        mine: list[Sample] = []
        with requests.Session() as http:
            http.headers.update(
                {"Authorization": f"Bearer {morning.tablet.bearer}", "X-Device-Id": morning.tablet.device_id}
            )
            try:
                while not stop.is_set() and time.monotonic() < deadline:
                    if budget is not None:
                        with lock:
                            if sent >= budget:
                                break
                            sent += per_post
                    mine.append(step(http, base, morning))
            finally:
                with lock:
                    samples.extend(mine)

    threads = [threading.Thread(target=worker, args=(m,), daemon=True) for m in mornings]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        while t.is_alive():  # short joins, so that Ctrl-C reaches the main thread
            t.join(timeout=0.5)
    return time.perf_counter() - started, samples


def post(http: Any, url: str, body: dict[str, Any]) -> tuple[int, bool, Any, int]:
    import requests

    t = time.perf_counter_ns()
    try:
        r = http.post(url, json=body, timeout=60)
    except requests.RequestException:
        return -1, False, None, time.perf_counter_ns() - t
    ns = time.perf_counter_ns() - t
    try:
        data = r.json()
    except ValueError:
        data = None
    return r.status_code, r.headers.get("Idempotent-Replayed") == "true", data, ns


def checkin_step(http: Any, base: str, morning: Morning) -> Sample:
    kind, body, who, repeat = morning.next_post()
    url = f"{base}/api/v1/polling-places/{morning.tablet.place_id}/{CHECKIN_PATHS[kind]}/"
    status, replayed, data, ns = post(http, url, body)
    reason = data.get("reason") if isinstance(data, dict) else None
    if not repeat and status in (200, 201, 409):
        morning.learn(kind, who, status == 201, reason)
    return Sample(kind, repeat, status, replayed, ns, reason or "")


def ping_step(http: Any, base: str, morning: Morning) -> Sample:
    status, _, _, ns = post(http, f"{base}/bench/ping/", {"event_id": str(uuid.uuid4()), "occurred_at": now_local()})
    return Sample("ping", False, status, False, ns)


@dataclass
class SyncState:
    since: Any = None
    sent: list[dict[str, Any]] = field(default_factory=list)
    who: dict[str, int] = field(default_factory=dict)


SYNC: dict[int, SyncState] = {}


def sync_step(http: Any, base: str, morning: Morning) -> Sample:
    """A batch of SYNC_BATCH events planned offline (the tablet assumes its own events succeed), 30 % of them
    repeats of events it synced before; the answer's results correct the belief."""
    state = SYNC.setdefault(morning.tablet.index, SyncState())
    before = set(morning.inside)
    events, fresh = [], []
    for _ in range(SYNC_BATCH):
        if state.sent and morning.rng.random() < REPEAT_SHARE:
            events.append(morning.rng.choice(state.sent))
            continue
        kind, body, who = morning.fresh()
        event = {"event_id": body["event_id"], "kind": kind, "token": body["token"], "occurred_at": body["occurred_at"]}
        events.append(event)
        fresh.append(event)
        state.who[event["event_id"]] = who
        morning.learn(kind, who, True, None)
    status, _, data, ns = post(
        http, f"{base}/api/v1/sync/", {"sent_at": now_local(), "since": state.since, "events": events}
    )
    state.sent.extend(fresh)
    results: Counter[str] = Counter()
    morning.inside = before
    if status == 200 and isinstance(data, dict):
        state.since = data.get("next_since", state.since)
        answers = {r.get("event_id"): r for r in data.get("results", []) if isinstance(r, dict)}
        for event in events:
            answer = answers.get(event["event_id"], {})
            results[str(answer.get("result", "missing"))] += 1
        for event in fresh:
            answer = answers.get(event["event_id"], {})
            morning.learn(
                event["kind"],
                state.who[event["event_id"]],
                answer.get("result") in ("accepted", "anomaly"),
                answer.get("reason"),
            )
    detail = ",".join(f"{k}:{n}" for k, n in sorted(results.items()))
    return Sample("sync", len(fresh) < len(events), status, False, ns, detail, len(events))


# --------------------------------------------------------------------------------------------------- figures


@dataclass
class Row:
    endpoint: str
    requests: int
    rate: float
    rate_unit: str
    p50: float | None
    p99: float | None
    outcomes: str
    cpu: str


def outcome_counts(samples: list[Sample]) -> str:
    statuses = Counter(s.status for s in samples)
    text = ", ".join(f"{'no answer' if c == -1 else c}: {n:,}" for c, n in sorted(statuses.items()))
    replayed = sum(s.replayed for s in samples)
    repeats = sum(s.repeat for s in samples)
    if repeats:
        text += f"; replayed {replayed:,} of {repeats:,} repeats"
    return text


def measure(
    label: str,
    port: int,
    master: int,
    url: str,
    mornings: list[Morning],
    step: Step,
    args: argparse.Namespace,
    stop: threading.Event,
    figures: dict[str, float] | None = None,
) -> tuple[float, list[Sample], str]:
    budget = args.events
    seconds = args.seconds if args.events is None else 600.0
    meter = CpuMeter(master, db_name(url)).start()
    client_cpu = time.process_time()
    per_post = SYNC_BATCH if step is sync_step else 1
    wall, samples = run_load(port, mornings, step, seconds=seconds, budget=budget, stop=stop, per_post=per_post)
    client_s = time.process_time() - client_cpu
    server_s, db_s = meter.stop()
    n = max(len(samples), 1)
    server_ms, db_ms, client_ms = server_s / n * 1e3, db_s / n * 1e3, client_s / n * 1e3
    cpu = f"{server_ms:.1f} + {db_ms:.1f}"
    if figures is not None:
        figures[f"{label} cpu ms"] = server_ms + db_ms
        figures[f"{label} per s"] = len(samples) / wall if wall else 0.0
    print(
        f"{label}: {len(samples):,} requests in {wall:.1f} s; CPU per request: gunicorn {server_ms:.2f} ms, "
        f"PostgreSQL {db_ms:.2f} ms, load generator {client_ms:.2f} ms"
    )
    return wall, samples, cpu


def latency_breakdown(samples: list[Sample]) -> None:
    print(f"{'':<4}{'posts':<24} {'requests':>9} {'p50 ms':>8} {'p99 ms':>8}  outcomes")
    for op in ("check_in", "check_out"):
        for repeat in (False, True):
            group = [s for s in samples if s.op == op and s.repeat == repeat]
            if not group:
                continue
            p50, p99 = percentiles_ms([s.ns for s in group])
            reasons = Counter(s.detail for s in group if s.detail)
            text = outcome_counts(group)
            if reasons and not repeat:
                text += "; refused: " + ", ".join(f"{r} {n:,}" for r, n in reasons.most_common())
            label = f"{op.replace('_', '-')}, {'repeat' if repeat else 'fresh'}"
            print(f"{'':<4}{label:<24} {len(group):>9,} {fmt_num(p50, 1):>8} {fmt_num(p99, 1):>8}  {text}")


def print_targets(figures: dict[str, float]) -> None:
    """Issue 13's write targets against this run: check-ins >= 0.5x the trivial insert; sync >= 1,000 events/s and
    <= 1 ms of server CPU (gunicorn + PostgreSQL) per event. req/s depends on what else the machine runs; CPU per
    request far less, so both ratios are printed."""
    if "check-in/out per s" in figures and figures.get("ping per s"):
        rate = figures["check-in/out per s"] / figures["ping per s"]
        cpu = figures["ping cpu ms"] / figures["check-in/out cpu ms"] if figures.get("check-in/out cpu ms") else 0.0
        print(
            f"targets: check-ins {rate:.2f}x the ping by requests/s, {cpu:.2f}x by server CPU per request "
            "(target >= 0.5x)"
        )
    if "sync events per s" in figures:
        print(
            f"targets: sync {figures['sync events per s']:,.0f} events/s (target >= 1,000), "
            f"{figures['sync cpu ms per event']:.2f} ms of server CPU per event (target <= 1 ms)"
        )


def print_table(rows: list[Row]) -> None:
    print("| endpoint | requests | ops/s | p50 ms | p99 ms | outcomes | CPU ms/request (gunicorn + PostgreSQL) |")
    print("|---|---:|---:|---:|---:|---|---:|")
    for r in rows:
        rate = f"{fmt_num(r.rate)}{r.rate_unit}"
        print(
            f"| {r.endpoint} | {r.requests:,} | {rate} | {fmt_num(r.p50, 1)} | {fmt_num(r.p99, 1)} | {r.outcomes} "
            f"| {r.cpu} |"
        )


def machine_facts(url: str) -> list[str]:
    from importlib.metadata import version

    import django
    import psycopg

    cpu = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    with psycopg.connect(url, connect_timeout=5) as conn:
        pg = {
            name: str(conn.execute(f"SHOW {name}").fetchone()[0])  # type: ignore[index]
            for name in ("server_version", "synchronous_commit", "fsync", "shared_buffers", "max_connections")
        }
    return [
        f"CPU: {cpu}; {os.cpu_count()} logical cores ({len(os.sched_getaffinity(0))} usable); "
        f"load average at the end {', '.join(f'{x:.2f}' for x in os.getloadavg())}",
        f"Python {platform.python_version()}, Django {django.get_version()}, DRF {version('djangorestframework')}, "
        f"psycopg {psycopg.__version__}, gunicorn {version('gunicorn')}, requests {version('requests')}",
        f"PostgreSQL {pg.pop('server_version')} (" + ", ".join(f"{k}={v}" for k, v in pg.items()) + ")",
    ]


# --------------------------------------------------------------------------------------------------- main


def sync_available(port: int, tablet: Tablet) -> str | None:
    """None when ``POST /api/v1/sync/`` can be measured; otherwise why not."""
    if importlib.util.find_spec("polling.election_day.sync") is None:
        return "polling.election_day.sync does not exist yet"
    import requests

    headers = {"Authorization": f"Bearer {tablet.bearer}", "X-Device-Id": tablet.device_id}
    body = {"sent_at": now_local(), "since": None, "events": []}
    r = requests.post(f"http://127.0.0.1:{port}/api/v1/sync/", json=body, headers=headers, timeout=30)
    if r.status_code in (404, 405):
        return f"polling.election_day.sync exists but POST /api/v1/sync/ answers {r.status_code}"
    return None


def main(argv: Sequence[str] | None = None) -> int:
    global SYNC_BATCH
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--places", type=int, default=50, help="polling places (default 50)")
    parser.add_argument("--tablets", type=int, default=50, help="simulated tablets, one thread each (default 50)")
    limit = parser.add_mutually_exclusive_group()
    limit.add_argument("--seconds", type=float, default=30.0, help="length of each measurement (default 30 s)")
    limit.add_argument("--events", type=int, help="posts per measurement (sync: events) instead of --seconds")
    parser.add_argument(
        "--database-url",
        default=os.environ.get("BENCH_CHECKINS_DATABASE_URL", DEFAULT_DB_URL),
        help=f"PostgreSQL database, dropped and recreated; its name must start with bench_ (default {DEFAULT_DB_URL})",
    )
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (default 2)")
    parser.add_argument("--threads", type=int, default=4, help="threads per gunicorn worker (default 4)")
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument(
        "--sync-batch", type=int, default=SYNC_BATCH, help=f"events per sync upload (default {SYNC_BATCH}, at most 500)"
    )
    args = parser.parse_args(argv)
    if min(args.places, args.tablets, args.workers, args.threads) < 1 or (args.events or 1) < 1:
        parser.error("counts must be at least 1")
    if not 1 <= args.sync_batch <= 500:
        parser.error("--sync-batch: 1 to 500 events (the server's limit per upload)")
    SYNC_BATCH = args.sync_batch
    if not db_name(args.database_url).startswith("bench_"):
        parser.error("--database-url: the database is dropped and recreated, so its name must start with bench_")

    # Ctrl-C (even when started with SIGINT ignored, as a shell does for background jobs) and SIGTERM end the run
    # through the finally blocks that stop gunicorn.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    wall = time.perf_counter()
    tmp = Path(tempfile.mkdtemp(prefix="pollguard-bench-checkins-"))
    stop = threading.Event()
    try:
        print(
            f"pollguard check-in benchmark: {args.places} places, {args.tablets} tablets, "
            + (f"{args.events:,} posts" if args.events else f"{args.seconds:.0f} s")
            + f" per measurement, seed {args.seed}"
        )
        print(f"load average at the start {', '.join(f'{x:.2f}' for x in os.getloadavg())}")

        section(f"Seeding {args.database_url}")
        started = time.perf_counter()
        recreate_database(args.database_url)
        env = configure_django(args.database_url, tmp)
        from django.core.management import call_command
        from django.db import connections

        from polling.models import PresenceEvent

        call_command("migrate", verbosity=0, interactive=False)
        migrated = time.perf_counter() - started
        tablets, election = seed(args.places, args.tablets)
        connections.close_all()
        print(
            f"migrate {migrated:.1f} s, seed {time.perf_counter() - started - migrated:.1f} s: {args.places} places, "
            f"{args.tablets} tablets and poll workers signed in, {args.places * WATCHERS_PER_PLACE:,} watchers "
            f"({WATCHERS_PER_PLACE} per place, {len(PARTIES)} parties), {election}"
        )

        rng = random.Random(args.seed)
        mornings = [Morning(t, random.Random(rng.getrandbits(64))) for t in tablets]
        rows: list[Row] = []
        figures: dict[str, float] = {}
        log = tmp / "gunicorn.log"
        section(
            f"HTTP: gunicorn, {args.workers} gthread workers x {args.threads} threads, {args.tablets} tablets "
            "(closed loop, one keep-alive connection each)"
        )
        with gunicorn(env, log, workers=args.workers, threads=args.threads) as (port, master):
            # Warm-up (not measured): every tablet's first request opens its connection and the workers' database
            # connections, and loads what each worker loads on first use.
            run_load(port, mornings, ping_step, seconds=30, budget=2 * len(mornings), stop=stop)

            wall_s, samples, cpu = measure(
                "check-in/out", port, master, args.database_url, mornings, checkin_step, args, stop, figures
            )
            p50, p99 = percentiles_ms([s.ns for s in samples])
            rows.append(
                Row(
                    "check-in/out `POST …/check-ins/`, `…/check-outs/`",
                    len(samples),
                    len(samples) / wall_s,
                    "",
                    p50,
                    p99,
                    outcome_counts(samples),
                    cpu,
                )
            )
            latency_breakdown(samples)
            fresh = sum(1 for s in samples if not s.repeat and s.status in (200, 201, 409))
            print(
                f"presence events stored: {PresenceEvent.objects.count():,}; fresh check-in/out posts answered: "
                f"{fresh:,} (equal when no repeat stored anything)"
            )
            connections.close_all()

            wall_s, pings, cpu = measure(
                "ping", port, master, args.database_url, mornings, ping_step, args, stop, figures
            )
            p50, p99 = percentiles_ms([s.ns for s in pings])
            rows.append(
                Row(
                    "baseline `POST /bench/ping/`",
                    len(pings),
                    len(pings) / wall_s,
                    "",
                    p50,
                    p99,
                    outcome_counts(pings),
                    cpu,
                )
            )

            why_not = sync_available(port, tablets[0])
            if why_not is not None:
                print(f"sync skipped: {why_not}")
            else:
                wall_s, batches, cpu = measure(
                    "sync", port, master, args.database_url, mornings, sync_step, args, stop, figures
                )
                events = sum(s.events for s in batches)
                figures["sync events per s"] = events / wall_s if wall_s else 0.0
                figures["sync cpu ms per event"] = figures["sync cpu ms"] * len(batches) / max(events, 1)
                p50, p99 = percentiles_ms([s.ns for s in batches])
                results: Counter[str] = Counter()
                for s in batches:
                    for part in filter(None, s.detail.split(",")):
                        name, n = part.rsplit(":", 1)
                        results[name] += int(n)
                text = outcome_counts(batches).split(";")[0]
                text += f"; {events:,} events: " + ", ".join(f"{k} {n:,}" for k, n in results.most_common())
                rows.append(
                    Row(
                        f"sync `POST /api/v1/sync/`, {SYNC_BATCH} events/request",
                        len(batches),
                        events / wall_s,
                        " events/s",
                        p50,
                        p99,
                        text,
                        cpu,
                    )
                )

        section("Summary")
        print()
        print_table(rows)
        print()
        print("ops/s: answered requests / wall time; p50/p99: per request at the client, queueing included.")
        print_targets(figures)
        for line in machine_facts(args.database_url):
            print(line)
        print(f"\ntotal wall time {time.perf_counter() - wall:.0f} s")
    except KeyboardInterrupt:
        print("\ninterrupted: gunicorn stopped", file=sys.stderr)
        return 130
    finally:
        stop.set()
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""HTTP part of bench/national.py: ``wrk`` against gunicorn, client and server pinned to separate cores.

Servers (each in its own process group, stopped in ``finally``):

* ours: the product's gunicorn configuration (``-c python:config.gunicorn``: sync workers, the application and the
  spatial index loaded in the master before the fork, JSON access log) with ``bench.settings`` (the product's
  settings plus ``GET /bench/trivial/``) on the national database;
* GeoDjango: bench/geodjango/ (PostGIS backend, the same national data in PostGIS), gunicorn with the same worker
  class, worker count, preloading and access log.

Both are started under ``taskset -c SERVER_CPUS``; ``wrk`` runs under ``taskset -c CLIENT_CPUS`` with one thread
per client core, replaying the query points from a file (a Lua script, one path per line, in order from an offset
that moves on from run to run, so that no round replays the points an earlier round or the warm-up sent: answers
kept per precinct would otherwise make later rounds cheaper than a real crowd's). Every round measures each
endpoint in turn for ``--seconds``; the medians of the rounds are reported. CPU per request: the gunicorn process
tree and the PostgreSQL backends connected to the server's database, from /proc, over each measurement.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import lookup as mississippi
from lookup import section
from serve import free_port

ROOT = Path(__file__).resolve().parent.parent

LUA = r"""
local paths = {}
local idx = 0
local threads = 0
function setup(thread)
  thread:set("id", threads)
  threads = threads + 1
end
function init(args)
  for line in io.lines(args[1]) do paths[#paths + 1] = line end
  idx = (tonumber(args[2]) + id * 7919) % #paths
end
function request()
  idx = idx % #paths + 1
  return wrk.format("GET", paths[idx])
end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, "non2xx": %d, "socket_errors": %d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99), e.status,
    e.connect + e.read + e.write + e.timeout))
end
"""


def status_kib(pid: int, field: str, path: str = "status") -> int:
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/{path}").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


@contextlib.contextmanager
def pinned_gunicorn(
    cmd_tail: list[str], env: dict[str, str], cpus: str, log: Path, probe: str
) -> Iterator[tuple[int, int, float]]:
    """gunicorn under ``taskset -c cpus`` on a free port; yields (port, master pid, seconds until the first 200 on
    ``probe``). Stopped (process group, SIGTERM then SIGKILL) on the way out."""
    port = free_port()
    cmd = ["taskset", "-c", cpus, sys.executable, "-m", "gunicorn", *cmd_tail, "--bind", f"127.0.0.1:{port}"]
    started = time.perf_counter()
    with log.open("wb") as out:
        proc = subprocess.Popen(  # noqa: S603 - fixed arguments, our own interpreter
            cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        deadline = time.monotonic() + 600
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {proc.returncode}: {log.read_text()[-2000:]}")
            with contextlib.suppress(OSError, http.client.HTTPException):
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
                conn.request("GET", probe)
                status = conn.getresponse().status
                conn.close()
                if status == 200:
                    break
                raise RuntimeError(f"{probe}: HTTP {status}: {log.read_text()[-2000:]}")
            if time.monotonic() > deadline:
                raise RuntimeError("gunicorn did not answer within 600 s")
            time.sleep(0.05)
        yield port, proc.pid, time.perf_counter() - started
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)


WARMUP = 200


def warm_up(port: int, paths: list[str], n: int = WARMUP) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    for path in paths[:n]:
        conn.request("GET", path)
        conn.getresponse().read()
    conn.close()


def run_wrk(
    port: int, paths_file: Path, script: Path, args: argparse.Namespace, master: int, db_url: str, offset: int = 0
) -> dict[str, float]:
    threads = max(1, len(parse_cpus(args.client_cpus)))
    cmd = [
        "taskset",
        "-c",
        args.client_cpus,
        "wrk",
        f"-t{threads}",
        f"-c{args.connections}",
        f"-d{args.seconds}s",
        "--timeout",
        "10s",
        "-s",
        str(script),
        f"http://127.0.0.1:{port}",
        "--",
        str(paths_file),
        str(offset),
    ]
    import psycopg
    from psycopg.conninfo import conninfo_to_dict

    with psycopg.connect(db_url, autocommit=True) as conn:
        dbname = conninfo_to_dict(db_url).get("dbname")

        def backends() -> list[int]:
            query = "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()"
            return [r[0] for r in conn.execute(query, (dbname,)).fetchall()]

        server, db = CpuMeter(lambda: mississippi.process_tree(master)), CpuMeter(backends)
        with server.sampling(), db.sampling():
            out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout  # noqa: S603 - fixed args
    server_s, db_s = server.used(), db.used()
    result = json.loads(out.strip().splitlines()[-1])
    n = max(result["requests"], 1)
    return {
        "rps": result["requests"] / (result["duration_us"] / 1e6),
        "p50_us": result["p50_us"],
        "p99_us": result["p99_us"],
        "requests": result["requests"],
        "bad": result["non2xx"] + result["socket_errors"],
        "server_us": server_s / n * 1e6,
        "db_us": db_s / n * 1e6,
    }


class CpuMeter:
    """CPU time used by a changing set of processes (a database backend closes when its connection reaches
    ``CONN_MAX_AGE``, a new one opens): sampled every 0.25 s, each process counted from its first sample (or from
    zero when it appeared during the measurement) to its last."""

    def __init__(self, pids: Callable[[], list[int]]) -> None:
        self._pids = pids
        self._first: dict[int, float] = {}
        self._last: dict[int, float] = {}
        self._started = False

    def sample(self) -> None:
        for pid in self._pids():
            cpu = mississippi.cpu_seconds([pid])
            if pid not in self._first:
                self._first[pid] = cpu if not self._started else 0.0
            self._last[pid] = max(cpu, self._last.get(pid, 0.0))
        self._started = True

    @contextlib.contextmanager
    def sampling(self) -> Iterator[None]:
        stop = threading.Event()

        def loop() -> None:
            while not stop.wait(0.25):
                self.sample()

        self.sample()
        thread = threading.Thread(target=loop, daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()
            self.sample()

    def used(self) -> float:
        return sum(self._last[pid] - self._first[pid] for pid in self._first)


def parse_cpus(spec: str) -> list[int]:
    cpus: list[int] = []
    for part in spec.split(","):
        lo, _, hi = part.partition("-")
        cpus += list(range(int(lo), int(hi or lo) + 1))
    return cpus


def worker_memory(master: int) -> str:
    """RSS and PSS (proportional set size: shared pages divided among the processes sharing them) of the master and
    each worker, from /proc."""
    parts = []
    for pid in mississippi.process_tree(master):
        rss, pss = status_kib(pid, "VmRSS"), status_kib(pid, "Pss", "smaps_rollup")
        parts.append(f"{'master' if pid == master else 'worker'} {rss / 1024:.0f}/{pss / 1024:.0f}")
    return "RSS/PSS MiB: " + ", ".join(parts)


def bench_http(
    args: argparse.Namespace, env: dict[str, str], pts: Any, precincts: list[Any], postgis_url: str | None
) -> list[str]:
    if shutil.which("wrk") is None or shutil.which("taskset") is None:
        print("\nHTTP part skipped: wrk and taskset are needed (apt-get install wrk util-linux)")
        return []
    section(
        f"HTTP: gunicorn {args.workers} sync workers on CPU {args.server_cpus}, wrk -c{args.connections} on CPU "
        f"{args.client_cpus}, {args.rounds} rounds x {args.seconds} s per endpoint (medians)"
    )
    tmp = Path(tempfile.mkdtemp(prefix="pollguard-national-http-"))
    try:
        inside = [(lon, lat) for lon, lat, p in zip(pts.lons, pts.lats, precincts, strict=True) if p is not None]
        files = {
            "trivial": ["/bench/trivial/"],
            "lookup": ["/api/v1/lookup/?" + urlencode({"lat": repr(lat), "lon": repr(lon)}) for lon, lat in inside],
            "compliance": [
                "/api/v1/compliance/?" + urlencode({"lat": repr(lat), "lon": repr(lon), "accuracy_m": "0"})
                for lon, lat in zip(pts.lons, pts.lats, strict=True)
            ],
            "geodjango": ["/lookup/?" + urlencode({"lat": repr(lat), "lon": repr(lon)}) for lon, lat in inside],
        }
        for name, lines in files.items():
            (tmp / f"{name}.txt").write_text("\n".join(lines) + "\n")
        script = tmp / "replay.lua"
        script.write_text(LUA)
        ours_env = {**env, "GUNICORN_WORKERS": str(args.workers), "DJANGO_SETTINGS_MODULE": "bench.settings"}
        endpoints = [("trivial", "ours"), ("lookup", "ours"), ("compliance", "ours")]
        with contextlib.ExitStack() as stack:
            port, master, ready_s = stack.enter_context(
                pinned_gunicorn(
                    ["-c", "python:config.gunicorn", "config.wsgi:application"],
                    ours_env,
                    args.server_cpus,
                    tmp / "ours.log",
                    files["lookup"][0],
                )
            )
            servers = {"ours": (port, master, env["DATABASE_URL"])}
            print(f"ours: first lookup answered {ready_s:.1f} s after starting gunicorn (index built in the master)")
            if postgis_url:
                geo_env = {k: v for k, v in env.items() if k not in ("DATABASE_URL", "DJANGO_SETTINGS_MODULE")} | {
                    "DJANGO_SETTINGS_MODULE": "bench.geodjango.settings",
                    "BENCH_GEODJANGO_DATABASE_URL": postgis_url,
                }
                gport, gmaster, gready = stack.enter_context(
                    pinned_gunicorn(
                        [
                            "bench.geodjango.wsgi:application",
                            "--workers",
                            str(args.workers),
                            "--worker-class",
                            "sync",
                            "--preload",
                            "--access-logfile",
                            "-",
                            "--log-level",
                            "warning",
                        ],
                        geo_env,
                        args.server_cpus,
                        tmp / "geodjango.log",
                        files["geodjango"][0],
                    )
                )
                servers["geodjango"] = (gport, gmaster, postgis_url)
                endpoints.append(("geodjango", "geodjango"))
                print(f"GeoDjango: first lookup answered {gready:.1f} s after starting gunicorn")
            for name, server in endpoints:
                warm_up(servers[server][0], files[name])
            for server, (_p, m, _u) in servers.items():
                print(f"{server} after warm-up: {worker_memory(m)}")
            runs: dict[str, list[dict[str, float]]] = {name: [] for name, _s in endpoints}
            # Each endpoint's next run starts where its previous one (or the warm-up) stopped.
            cursor = {name: WARMUP for name, _s in endpoints}
            for r in range(args.rounds):
                for name, server in endpoints:
                    port_, master_, url = servers[server]
                    res = run_wrk(port_, tmp / f"{name}.txt", script, args, master_, url, cursor[name])
                    cursor[name] += int(res["requests"]) + 7919 * 2  # past what every wrk thread sent
                    runs[name].append(res)
                    print(
                        f"round {r + 1} {name:<11} {res['rps']:8,.0f} req/s  p50 {res['p50_us'] / 1000:6.2f} ms  "
                        f"p99 {res['p99_us'] / 1000:6.2f} ms  CPU/req server {res['server_us']:6,.0f} us + "
                        f"PostgreSQL {res['db_us']:5,.0f} us  ({res['requests']:,} req, "
                        f"{res['bad']:.0f} non-2xx/errors)  load {os.getloadavg()[0]:.2f}",
                        flush=True,
                    )
            for server, (_p, m, _u) in servers.items():
                print(f"{server} at the end: {worker_memory(m)}")
        labels = {
            "trivial": "GET /bench/trivial/ (ours, no work)",
            "lookup": "GET /api/v1/lookup/",
            "compliance": "GET /api/v1/compliance/",
            "geodjango": "GeoDjango + PostGIS lookup",
        }
        med = {name: {k: statistics.median(run[k] for run in rs) for k in rs[0]} for name, rs in runs.items()}
        print(f"\n{'endpoint':<38} {'req/s':>8} {'p50 ms':>7} {'p99 ms':>7} {'server us/req':>13} {'PG us/req':>9}")
        for name, m in med.items():
            print(
                f"{labels[name]:<38} {m['rps']:>8,.0f} {m['p50_us'] / 1000:>7.2f} {m['p99_us'] / 1000:>7.2f} "
                f"{m['server_us']:>13,.0f} {m['db_us']:>9,.0f}"
            )
        ratios = []
        pairs = [("lookup", "trivial", 0.8), ("compliance", "trivial", 0.8)]
        if "geodjango" in med:
            pairs.append(("lookup", "geodjango", 2.0))
        for ours, other, target in pairs:
            # Rounds interleave the endpoints: the ratio within each round, then the median over the rounds.
            by_rps = statistics.median(a["rps"] / b["rps"] for a, b in zip(runs[ours], runs[other], strict=True))
            cpu = [r["server_us"] + r["db_us"] for r in (med[ours], med[other])]
            label = f"HTTP {ours} / {'GeoDjango + PostGIS' if other == 'geodjango' else other}"
            ratios.append(
                f"{label:<48} {by_rps:6.2f}x  (target >= {target:g}x; req/s, median of the rounds' ratios; by CPU "
                f"per request, server + PostgreSQL: {cpu[1] / cpu[0]:.2f}x = {cpu[1]:,.0f} / {cpu[0]:,.0f} us)"
            )
        for line in ratios:
            print(line)
        return ratios
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

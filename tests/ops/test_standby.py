"""The mirrored site end to end, with a real PostgreSQL primary and a real streaming standby made by this test.

Debian's PostgreSQL 15 binaries build both in a temporary folder on ports of their own (``initdb``,
``pg_basebackup -R``), the service runs as a real gunicorn process configured only through its environment, and
the test shows: rows written on the primary stream to the standby; public reads are served by the standby (a row
the paused standby has not replayed is missing from the public answer); a standby that falls behind by more than
``REPLICA_MAX_LAG_S`` is skipped (the answer has the row again, read from the primary, while the standby still
lacks it) and ``/readyz`` says ``lagging``; and a failover (stop the primary, ``pg_ctl promote`` the standby, point
``DATABASE_URL`` at it) loses no row and serves reads and writes. Processes and folders go away even on failure.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

ROOT = Path(__file__).resolve().parents[2]
PG_BIN = Path("/usr/lib/postgresql/15/bin")
DB = "pollguard"

pytestmark = [
    pytest.mark.heavy,
    pytest.mark.skipif(not (PG_BIN / "initdb").exists(), reason="needs Debian's PostgreSQL 15 binaries"),
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(what: str, condition: Callable[[], Any], timeout: float = 20.0, every: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = condition()
        except (OSError, psycopg.Error):
            value = None
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(every)


class Cluster:
    """One PostgreSQL server in ``folder/name``, run as the postgres user when we are root."""

    def __init__(self, base: Path, name: str, port: int) -> None:
        self.base, self.data, self.port = base, base / name, port
        self.log = base / f"{name}.log"

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{DB}"

    def run(self, *argv: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        command = [str(PG_BIN / argv[0]), *argv[1:]]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)  # noqa: S603
        assert done.returncode == 0, f"{argv[0]} failed: {done.stdout}\n{done.stderr}"
        return done

    def configure(self, lines: str) -> None:
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.write(lines)

    def start(self) -> None:
        self.run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-t", "30", "start")

    def stop(self, mode: str = "fast") -> None:
        if (self.data / "postmaster.pid").exists():
            command = [str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "-t", "30", "stop"]
            if os.geteuid() == 0:
                command = ["runuser", "-u", "postgres", "--", *command]
            subprocess.run(command, capture_output=True, timeout=60, check=False)  # noqa: S603

    def connect(self, dbname: str = DB) -> psycopg.Connection[Any]:
        return psycopg.connect(host="127.0.0.1", port=self.port, user="postgres", dbname=dbname, autocommit=True)

    def sql(self, query: str, *params: Any) -> list[tuple[Any, ...]]:
        with self.connect() as conn:
            cursor = conn.execute(query, params or None)
            return cursor.fetchall() if cursor.description else []


class Service:
    """The service as a gunicorn process, configured by environment variables only."""

    def __init__(self, base: Path, env: dict[str, str]) -> None:
        self.port = _free_port()
        self.log = (base / f"gunicorn-{self.port}.log").open("w")
        self.process = subprocess.Popen(  # noqa: S603 - fixed argv
            [
                str(Path(sys.executable).parent / "gunicorn"),
                "config.wsgi:application",
                f"--bind=127.0.0.1:{self.port}",
                "--workers=1",
                "--threads=2",
            ],
            cwd=ROOT,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        _wait("gunicorn to answer", lambda: self.get("/healthz")[0] == 200)

    def get(self, path: str) -> tuple[int, Any]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=10) as answer:
                return answer.status, json.loads(answer.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"null")

    def county_names(self) -> set[str]:
        status, body = self.get("/api/v1/counties/?limit=500")
        assert status == 200, body
        return {feature["properties"]["name"] for feature in body["features"]}

    def replica_state(self) -> str:
        return str(self.get("/readyz")[1]["checks"].get("replica"))

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        self.log.close()


def _service_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "REPLICA_", "REDIS_URL"))}
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings",
        SECRET_KEY="standby-test-secret-key-0123456789-abcdefghijklmnop",
        ALLOWED_HOSTS="127.0.0.1,localhost",
        HTTPS_ONLY="0",
        DEBUG="0",
        GEO_REQUIRED="0",
        ENV_FILE="",
        PYTHONDONTWRITEBYTECODE="1",
    )
    env.update(extra)
    return env


def _manage(env: dict[str, str], *argv: str) -> str:
    done = subprocess.run(  # noqa: S603 - fixed argv
        [sys.executable, "manage.py", *argv],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


_ADD_COUNTIES = """
from polling.models import Jurisdiction
from tests.factories import CountyFactory
ms = Jurisdiction.objects.get(code="MS")
for fips, name in {rows!r}:
    CountyFactory(fips=fips, name=name, jurisdiction=ms)
"""


def _add_county_sql(cluster: Cluster, fips: str, name: str) -> None:
    """A county written straight into the primary (a copy of an existing row's shape): fast, and the service
    process has no part in it."""
    columns = [
        row[0]
        for row in cluster.sql(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'polling_county' "
            "AND column_name NOT IN ('id', 'fips', 'name') ORDER BY ordinal_position"
        )
    ]
    listed = ", ".join(columns)
    cluster.sql(
        f"INSERT INTO polling_county (fips, name, {listed}) SELECT %s, %s, {listed} FROM polling_county LIMIT 1",  # noqa: S608
        fips,
        name,
    )


def _table_counts(cluster: Cluster) -> dict[str, int]:
    tables = [r[0] for r in cluster.sql("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")]
    return {t: int(cluster.sql(f'SELECT count(*) FROM "{t}"')[0][0]) for t in sorted(tables)}  # noqa: S608


def _standby_has(standby: Cluster, fips: str) -> bool:
    return bool(standby.sql("SELECT 1 FROM polling_county WHERE fips = %s", fips))


@pytest.fixture
def workspace() -> Iterator[Path]:
    base = Path(tempfile.mkdtemp(prefix="pollguard-standby-"))
    if os.geteuid() == 0:
        postgres = pwd.getpwnam("postgres")
        os.chown(base, postgres.pw_uid, postgres.pw_gid)
    try:
        yield base
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_primary_standby_routing_lag_fallback_and_promotion(workspace: Path) -> None:
    t0 = time.monotonic()
    primary = Cluster(workspace, "primary", _free_port())
    standby = Cluster(workspace, "standby", _free_port())
    services: list[Service] = []
    try:
        # --- A primary that can be streamed from ------------------------------------------------------------
        primary.run("initdb", "-D", str(primary.data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")
        primary.configure(
            f"\nport = {primary.port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{workspace}'\n"
            "wal_level = replica\nmax_wal_senders = 5\nhot_standby = on\nfsync = off\nfull_page_writes = off\n"
            "shared_buffers = 32MB\nwal_receiver_status_interval = 1s\n"
        )
        # initdb --auth=trust lets local and 127.0.0.1 connections in, replication ones included.
        assert "replication" in (primary.data / "pg_hba.conf").read_text()
        primary.start()
        with primary.connect("postgres") as conn:
            conn.execute(f"CREATE DATABASE {DB}")
        primary_env = _service_env(DATABASE_URL=primary.url)
        _manage(primary_env, "migrate", "--no-input", "-v0")
        _manage(
            primary_env, "shell", "-c", _ADD_COUNTIES.format(rows=[(f"28{n:03d}", f"County {n}") for n in (1, 3, 5)])
        )

        # --- A streaming standby: pg_basebackup -R, its own port ---------------------------------------------
        standby.run(
            "pg_basebackup",
            "-D",
            str(standby.data),
            "-h",
            "127.0.0.1",
            "-p",
            str(primary.port),
            "-U",
            "postgres",
            "-R",
            "-X",
            "stream",
            "-c",
            "fast",
        )
        standby.configure(f"\nport = {standby.port}\n")
        standby.start()
        assert standby.sql("SELECT pg_is_in_recovery()")[0][0] is True
        _add_county_sql(primary, "28007", "Streamed")
        _wait("the standby to receive a new row", lambda: _standby_has(standby, "28007"))

        # --- The live service, reading from the standby --------------------------------------------------------
        service = Service(
            workspace,
            _service_env(
                DATABASE_URL=primary.url,
                DATABASE_REPLICA_URL=standby.url,
                REPLICA_MAX_LAG_S="3",
                REPLICA_CHECK_INTERVAL_S="1",
            ),
        )
        services.append(service)
        assert {"County 1", "County 3", "County 5", "Streamed"} <= service.county_names()
        assert _wait("the standby judged fit", lambda: service.replica_state() == "ok")

        # Pause the standby's replay just after it replayed a fresh commit: it is now behind by "nothing yet".
        _add_county_sql(primary, "28009", "Before pause")
        _wait("the standby to replay it", lambda: _standby_has(standby, "28009"))
        standby.sql("SELECT pg_wal_replay_pause()")
        _add_county_sql(primary, "28011", "Lagtest")
        names = service.county_names()
        assert "Before pause" in names
        assert "Lagtest" not in names, "a public read was not served by the standby"

        # Behind by more than REPLICA_MAX_LAG_S: skipped, the same public read comes from the primary.
        paused_at = time.monotonic()
        _wait("reads to fall back to the primary", lambda: "Lagtest" in service.county_names(), timeout=20)
        assert time.monotonic() - paused_at >= 1.0  # not at once: only once the lag passed the limit
        assert not _standby_has(standby, "28011")  # the standby still lacks it: that answer came from the primary
        assert service.replica_state() == "lagging"

        standby.sql("SELECT pg_wal_replay_resume()")
        _wait("the standby to catch up", lambda: _standby_has(standby, "28011"))
        _wait("the standby back in use", lambda: service.replica_state() == "ok")

        # --- Failover: stop the primary, promote the standby, change the configuration ------------------------
        _add_county_sql(primary, "28013", "Last write before failover")
        before = _table_counts(primary)
        names_before = {r[0] for r in primary.sql("SELECT name FROM polling_county")}
        service.stop()
        primary.stop("fast")  # a clean stop ships every WAL record to the connected standby first
        standby.run("pg_ctl", "-D", str(standby.data), "-w", "-t", "30", "promote")
        assert standby.sql("SELECT pg_is_in_recovery()")[0][0] is False
        assert _table_counts(standby) == before, "rows were lost in the failover"

        promoted_env = _service_env(DATABASE_URL=standby.url)  # the configuration change: no replica for now
        service = Service(workspace, promoted_env)
        services.append(service)
        assert service.county_names() == names_before
        _manage(promoted_env, "shell", "-c", _ADD_COUNTIES.format(rows=[("28015", "Written after failover")]))
        assert service.county_names() == names_before | {"Written after failover"}
        _status, ready = service.get("/readyz")
        assert ready["checks"]["database"] == "ok" and ready["checks"]["migrations"] == "ok", ready
        assert "replica" not in ready["checks"]
    finally:
        for service in services:
            service.stop()
        standby.stop("immediate")
        primary.stop("immediate")
        print(f"standby test took {time.monotonic() - t0:.1f} s")

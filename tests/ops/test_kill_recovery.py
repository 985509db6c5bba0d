"""No data lost under failure: a real gunicorn whose worker is SIGKILLed in the middle of a sync batch and of an
online check-in, and a tablet that retries with the same event ids until it gets an answer. Every event must end up
stored exactly once.

The kill moments are random (no sleep hook in the product): each round measures how long the request takes and kills
the worker at a random point inside that time, so rounds land before the transaction, inside it and after its
commit but before the answer. The arbiter restarts the worker; the tablet's retry is answered ``duplicate`` for what
was committed and stored anew for what was not. The invariant is checked after every round, and the test insists
that some rounds really did lose the answer (the client saw the connection die)."""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.helpers import fresh_pg_database

pytestmark = pytest.mark.heavy

ROOT = Path(__file__).resolve().parents[2]
GUNICORN = Path(sys.executable).with_name("gunicorn")
ROUNDS = int(os.environ.get("KILL_ROUNDS", "5"))

SETUP = """
import datetime as dt, json, zoneinfo
from accounts.models import Role
from tests.election_day_helpers import token_of, watcher
from tests.factories import CountyFactory, ElectionFactory, PollingPlaceFactory, UserFactory
from tests.people import grant, make_tablet, signed_in
from polling.models import Jurisdiction
ms = Jurisdiction.objects.get(code="MS")
county = CountyFactory(fips="28049", name="Hinds", jurisdiction=ms)
place = PollingPlaceFactory(county=county, code="HINDS-1", name="Hinds Community Center")
today = dt.datetime.now(zoneinfo.ZoneInfo("America/Chicago")).date()
election = ElectionFactory(jurisdiction=ms, name="General", date=today, polls_open=dt.time(0, 0),
                           polls_close=dt.time(23, 59))
commish = grant(UserFactory(username="commish"), Role.COMMISSIONER, county=county)
worker = grant(UserFactory(username="worker"), Role.POLL_WORKER, polling_place=place, election=election)
device, _ = make_tablet(place, commish)
client = signed_in(worker, device=device, ttl_s=24 * 3600)
tokens = [token_of(watcher(election, county, appointed_by_name=f"Party {n}")) for n in range(250)]
print(json.dumps({"token": client.token, "device": str(client.session_obj.client_device_id), "place": place.pk,
                  "tokens": tokens}))
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """gunicorn, one sync worker, on a database of its own."""

    def __init__(self, tmp: Path, database_url: str | None) -> None:
        self.env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
        self.env |= {"DJANGO_SETTINGS_MODULE": "tests.settings", "VAR_DIR": str(tmp), "LOG_LEVEL": "WARNING"}
        self.database_url = database_url
        self.sqlite = tmp / "db.sqlite3"
        if database_url:
            self.env["DATABASE_URL"] = database_url
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None

    def manage(self, *args: str) -> str:
        done = subprocess.run(  # noqa: S603 - our own manage.py
            [sys.executable, "manage.py", *args], cwd=ROOT, env=self.env, capture_output=True, text=True, timeout=600
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    def start(self) -> None:
        self.log = open(self.sqlite.with_name("gunicorn.log"), "wb")  # noqa: SIM115
        self.process = subprocess.Popen(  # noqa: S603 - our own server
            [str(GUNICORN), "config.wsgi:application", "--workers", "1", "--worker-class", "sync", "--bind",
             f"127.0.0.1:{self.port}", "--timeout", "120", "--graceful-timeout", "2"],
            cwd=ROOT, env=self.env, stdout=self.log, stderr=self.log,
        )  # fmt: skip
        self.wait_ready()

    def worker_pid(self) -> int | None:
        assert self.process is not None
        path = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        pids = path.read_text().split() if path.exists() else []
        return int(pids[0]) if pids else None

    def wait_ready(self, old_worker: int | None = None) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            pid = self.worker_pid()
            if pid and pid != old_worker:
                try:
                    if requests.get(f"{self.base}/api/v1/counties/", timeout=5).status_code == 200:
                        return
                except requests.RequestException:
                    pass
            time.sleep(0.05)
        log = self.sqlite.with_name("gunicorn.log").read_text(errors="replace")[-3000:]
        raise AssertionError(f"gunicorn did not come (back) up:\n{log}")

    def stop(self) -> None:
        if self.process is not None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()

    def stored(self, event_ids: list[str]) -> dict[str, int]:
        """How many rows each event id has in the presence log (read outside the server)."""
        if self.database_url:
            import psycopg

            with psycopg.connect(self.database_url) as conn:
                found = conn.execute(
                    "SELECT event_id::text, count(*) FROM polling_presenceevent WHERE event_id = ANY(%s::uuid[]) "
                    "GROUP BY event_id",
                    (event_ids,),
                ).fetchall()
            return {str(k): int(v) for k, v in found}
        with sqlite3.connect(self.sqlite) as conn:
            hexes = [uuid.UUID(e).hex for e in event_ids]
            marks = ",".join("?" * len(hexes))
            found = conn.execute(
                f"SELECT event_id, count(*) FROM polling_presenceevent WHERE event_id IN ({marks}) GROUP BY event_id",  # noqa: S608
                hexes,
            ).fetchall()
        return {str(uuid.UUID(k)): int(v) for k, v in found}


@pytest.fixture(params=["sqlite", "postgresql"])
def server(request, tmp_path):
    url = None
    if request.param == "postgresql":
        url = fresh_pg_database("h_backup_kill")
        if url is None:
            pytest.skip("no local PostgreSQL")
    srv = Server(tmp_path, url)
    srv.manage("migrate", "--no-input", "-v0")
    srv.setup = json.loads(srv.manage("shell", "-c", SETUP).strip().splitlines()[-1])
    srv.start()
    yield srv
    srv.stop()


def headers(setup: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {setup['token']}", "X-Device-Id": setup["device"]}


def killed_midway(server: Server, send: Any, window: float) -> bool:
    """Send a request and SIGKILL the worker at a random moment within ``window`` seconds; True when the request
    lost its answer (the connection died under it)."""
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["status"] = send().status_code
        except requests.RequestException as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=run)
    pid = server.worker_pid()
    assert pid is not None
    thread.start()
    time.sleep(random.uniform(0, window))
    os.kill(pid, signal.SIGKILL)
    thread.join(timeout=60)
    server.wait_ready(old_worker=pid)
    return "error" in outcome


def retry_until_answered(send: Any) -> requests.Response:
    for _ in range(20):
        try:
            return send()
        except requests.RequestException:
            time.sleep(0.2)
    raise AssertionError("the retry never got an answer")


def test_a_sync_batch_killed_midway_and_retried_stores_every_event_exactly_once(server):
    setup = server.setup
    tokens = setup["tokens"]

    def batch(n: int) -> dict[str, Any]:
        from datetime import UTC, datetime

        now = datetime.now(UTC)
        picked = random.sample(tokens, n)
        events = [
            {"kind": "check_in", "token": t, "occurred_at": now.isoformat(), "event_id": str(uuid.uuid4())}
            for t in picked
        ]
        return {"sent_at": now.isoformat(), "since": None, "events": events}

    def sender(payload: dict[str, Any]) -> Any:
        return lambda: requests.post(f"{server.base}/api/v1/sync/", json=payload, headers=headers(setup), timeout=60)

    # How long a batch takes: the kill moments are drawn within it.
    started = time.monotonic()
    first = sender(batch(200))()
    window = time.monotonic() - started
    assert first.status_code == 200, first.text
    lost = 0
    for _ in range(ROUNDS):
        payload = batch(200)
        ids = [e["event_id"] for e in payload["events"]]
        lost += killed_midway(server, sender(payload), window * 1.2)
        answer = retry_until_answered(sender(payload))
        assert answer.status_code == 200, answer.text
        results = {r["event_id"]: r["result"] for r in answer.json()["results"]}
        assert set(results) == set(ids)
        assert set(results.values()) <= {"accepted", "duplicate", "anomaly"}
        assert server.stored(ids) == dict.fromkeys(ids, 1)  # every event once: none lost, none twice
        # A second retry changes nothing: everything is a duplicate now.
        again = sender(payload)().json()["results"]
        assert {r["result"] for r in again} == {"duplicate"}
        assert server.stored(ids) == dict.fromkeys(ids, 1)
    assert lost >= 1, "no kill landed while a request was in flight"


def test_an_online_check_in_killed_midway_and_retried_is_stored_exactly_once(server):
    setup = server.setup
    place = setup["place"]
    url = f"{server.base}/api/v1/polling-places/{place}/check-ins/"
    tokens = iter(setup["tokens"])

    def sender(payload: dict[str, Any]) -> Any:
        return lambda: requests.post(url, json=payload, headers=headers(setup), timeout=60)

    def payload() -> dict[str, Any]:
        from datetime import UTC, datetime

        return {"token": next(tokens), "event_id": str(uuid.uuid4()), "occurred_at": datetime.now(UTC).isoformat()}

    started = time.monotonic()
    assert sender(payload())().status_code == 201
    window = time.monotonic() - started
    lost = 0
    for _ in range(ROUNDS * 2):
        body = payload()
        lost += killed_midway(server, sender(body), window * 1.5)
        answer = retry_until_answered(sender(body))
        assert answer.status_code in (200, 201), answer.text
        assert server.stored([body["event_id"]]) == {body["event_id"]: 1}
    assert lost >= 1, "no kill landed while a request was in flight"

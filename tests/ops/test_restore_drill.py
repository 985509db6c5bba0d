"""The restore drill: the demo state plus a day of election-day work, backed up, restored into a fresh database of
the other engine (and of the same one), where it must hold the same rows — counts and content hashes per table —
with its audit chain verified, its photos back, and the service answering lookups as before.

The restores run as a separate process (``manage.py migrate`` then ``manage.py restore``) against a fresh SQLite
file and, when the local PostgreSQL answers, a fresh database ``h_backup_restore``, exactly as an operator would."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command

from accounts.audit import Actor
from accounts.credentials import issuing
from accounts.models import AuditEvent, Role
from ops.backup import create_backup, rows
from polling.models import County, Incident, PollingPlace, PresenceEvent
from tests.election_day_helpers import at_the_door, body, day_long_tablet_client, event, local, token_of, watcher
from tests.factories import ElectionFactory, UserFactory
from tests.helpers import fresh_pg_database
from tests.people import grant

pytestmark = [pytest.mark.heavy, pytest.mark.django_db]

ROOT = Path(__file__).resolve().parents[2]
KEY = base64.b64encode(b"drill-key-0123456789abcdef-32byt").decode()
PG_DATABASE = "h_backup_restore"

INSPECT = """
import json
from django.test import Client
from ops.backup import rows
from ops.backup.restore import verify_audit
from ops.backup.archive import audit_head
points = json.loads(POINTS)
client = Client()
print(json.dumps({
    "hashes": rows.table_hashes("default"),
    "audit": verify_audit("default"),
    "head": audit_head("default"),
    "lookups": [client.get("/api/v1/lookup/", {"lat": lat, "lon": lon}).json() for lon, lat in points],
}))
"""


def png() -> bytes:
    import io

    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (16, 12), (200, 30, 30)).save(out, format="PNG")
    return out.getvalue()


def manage(env: dict[str, str], *args: str, timeout: int = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - our own manage.py
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
    )


def target_env(tmp: Path, database_url: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "BACKUP_KEY_FILE")}
    env |= {"DJANGO_SETTINGS_MODULE": "tests.settings", "BACKUP_KEY": KEY, "VAR_DIR": str(tmp / "var")}
    env["MEDIA_ROOT"] = str(tmp / "media")
    if database_url:
        env["DATABASE_URL"] = database_url
    return env


@pytest.fixture
def a_day(settings, tmp_path):
    """The demo plus a day at one Hinds polling place: credentials issued (audited) and made, online check-ins, an
    offline sync batch, an incident with a photo."""
    settings.MEDIA_ROOT = tmp_path / "source-media"
    call_command("load_demo", no_progress=True)
    county = County.objects.get(fips="28049")
    place = PollingPlace.objects.filter(county=county).order_by("pk").first()
    election = ElectionFactory(jurisdiction=county.jurisdiction, name="Drill Day", date=local_today())
    commissioner = grant(UserFactory(username="drill_commish"), Role.COMMISSIONER, county=county)
    worker = grant(UserFactory(username="drill_worker"), Role.POLL_WORKER, polling_place=place, election=election)
    client = day_long_tablet_client(place, worker, commissioner)
    issued = [
        issuing.credential_issue(
            actor=Actor(user=commissioner),
            request=issuing.IssueRequest(
                kind="poll_watcher",
                holder_name=f"Watcher {n}",
                election=election,
                county=county,
                appointed_by_kind="party",
                appointed_by_name=f"Party {n % 3}",
            ),
        )
        for n in range(6)
    ]
    made = [watcher(election, county, appointed_by_name="Offline Party") for _ in range(4)]
    for hour, credential in zip((8, 9, 10, 11), issued, strict=False):
        with at_the_door(local(election, hour)):
            response = client.post(
                f"/api/v1/polling-places/{place.pk}/check-ins/",
                body(token_of(credential), local(election, hour)),
                format="json",
            )
        assert response.status_code == 201, response.content
    with at_the_door(local(election, 13)):
        from django.utils import timezone

        events = [event("check_in", token_of(c), local(election, 12, 5 * n)) for n, c in enumerate(made)]
        events.append(event("check_out", token_of(made[0]), local(election, 12, 30)))
        payload = {"sent_at": timezone.now().isoformat(), "events": events}
        assert client.post("/api/v1/sync/", payload, format="json").status_code == 200
        from django.core.files.uploadedfile import SimpleUploadedFile

        lon, lat = place.location.x, place.location.y
        response = client.post(
            "/api/v1/incidents/",
            {
                "polling_place": place.pk,
                "activity": "campaigning",
                "lon": lon + 0.00005,
                "lat": lat,
                "occurred_at": timezone.now().replace(microsecond=0).isoformat(),
                "description": "Signs by the door.",
                "photo": SimpleUploadedFile("door.png", png(), content_type="image/png"),
            },
            format="multipart",
        )
        assert response.status_code == 201, response.content
    assert Incident.objects.exclude(photo_path="").count() == 1
    assert PresenceEvent.objects.count() == 9 and AuditEvent.objects.count() >= 6
    return place


def local_today():
    import datetime as dt
    import zoneinfo

    return dt.datetime.now(zoneinfo.ZoneInfo("America/Chicago")).date()


def test_backup_restores_into_a_fresh_database_of_each_engine_with_the_same_rows_and_answers(a_day, tmp_path, api):
    source = rows.table_hashes("default")
    points = [(p.location.x, p.location.y) for p in PollingPlace.objects.order_by("pk")[:3]]
    points.append((points[0][0] + 0.01, points[0][1] + 0.01))
    lookups = [api.get("/api/v1/lookup/", {"lat": lat, "lon": lon}).json() for lon, lat in points]

    result = create_backup(directory=tmp_path / "backups", key=base64.b64decode(KEY))
    manifest = result.manifest
    assert {t["model"]: (t["rows"], t["sha256"]) for t in manifest["tables"]} == {
        k: tuple(v) for k, v in source.items()
    }
    assert manifest["audit"]["events"] == AuditEvent.objects.count() and len(manifest["media"]) == 1
    print(f"\nbackup: {result.size:,} bytes, {result.seconds:.2f} s, {sum(source[k][0] for k in source):,} rows")

    targets = {"sqlite": None}
    url = fresh_pg_database(PG_DATABASE)
    if url:
        targets["postgresql"] = url
    for engine, database_url in targets.items():
        tmp = tmp_path / engine
        env = target_env(tmp, database_url)
        migrated = manage(env, "migrate", "--no-input", "-v0")
        assert migrated.returncode == 0, migrated.stderr
        restored = manage(env, "restore", str(result.path))
        assert restored.returncode == 0, restored.stderr
        print(f"{engine}: {restored.stdout.strip()}")
        again = manage(env, "restore", str(result.path))
        assert again.returncode != 0 and "not_empty" in again.stderr  # a database in use is refused
        inspect = manage(env, "shell", "-c", f"POINTS = {json.dumps(json.dumps(points))}\n{INSPECT}")
        assert inspect.returncode == 0, inspect.stderr
        seen = json.loads(inspect.stdout.strip().splitlines()[-1])
        assert {k: tuple(v) for k, v in seen["hashes"].items()} == source, engine
        assert seen["audit"][0] is True, seen["audit"]
        assert seen["head"] == manifest["audit"]
        assert seen["lookups"] == lookups, engine
        verified = manage(env, "verify_audit", "--no-checkpoint")
        assert verified.returncode == 0, verified.stdout + verified.stderr
        photo = manifest["media"][0]["path"]
        assert (tmp / "media" / photo).read_bytes() == (tmp_path / "source-media" / photo).read_bytes()

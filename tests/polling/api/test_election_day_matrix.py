"""One permission matrix over every election-day staff endpoint (check-ins, check-outs, the roster and its paper
fallback, offline sync, presence anomalies and their review, incidents), for every kind of caller: anonymous, a
user with no role, a poll worker of another place (on a tablet of their own place), a commissioner of another
county, the commissioner in scope, the state administrator, the place's poll worker on one of its tablets and the
same poll worker signed in without a tablet.

Each cell asserts the status and the error code, that an allowed answer shows only what is in the caller's scope,
that nothing was written (presence log, roster, anomalies, incidents, audit trail) unless the cell may write, and
exactly which audit rows an allowed write adds. A refusal that must not reveal whether an object exists is compared
with the answer for an id that does not exist. A guard fails when a staff path (or a method on one) is added to the
URLconf outside the auth and credentials APIs without a row here.

Docs: docs/api.md (Election day), docs/checkins.md, docs/incidents.md.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import uuid
from typing import Any

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, resolve
from django.utils import timezone
from PIL import Image
from rest_framework.test import APIClient
from rest_framework.views import APIView

from accounts.audit import Actor
from accounts.credentials import issuing
from accounts.models import AuditEvent
from polling.election_day.incidents import photos
from polling.election_day.incidents.selectors import place_for_measuring
from polling.election_day.incidents.services import incident_report
from polling.models import Presence, PresenceAnomaly, PresenceEvent, PresenceLedger
from polling.models.incidents import Incident
from tests.election_day_helpers import body, local, token_of, watcher
from tests.helpers import seed_reference_data
from tests.people import make_tablet, signed_in

pytestmark = pytest.mark.django_db

CALLERS = [
    "anonymous",
    "outsider",
    "other_poll_worker",
    "other_county_commissioner",
    "commissioner",
    "state_admin",
    "poll_worker_on_tablet",
    "poll_worker_without_tablet",
]
MISSING = 999_999_999  # an id no object has
PAPER = ["log.csv", "log.pdf", "roster.csv", "roster.pdf"]
ANOMALIES = "/api/v1/presence-anomalies/"
INCIDENTS = "/api/v1/incidents/"


@pytest.fixture(autouse=True)
def _seeded(db):
    seed_reference_data()


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (16, 12), (200, 30, 30)).save(out, format="PNG")
    return out.getvalue()


def _incident_body(place_id: int, place: Any, **extra: Any) -> dict[str, Any]:
    return {
        "polling_place": place_id,
        "activity": "campaigning",
        "lon": place.lon + 0.0001,
        "lat": place.lat,
        "occurred_at": (timezone.now().replace(microsecond=0) - dt.timedelta(minutes=5)).isoformat(),
        "description": "Man with signs for a candidate by the door.",
    } | extra


@pytest.fixture
def world(noon, place, election, county, commissioner, poll_worker) -> dict[str, Any]:
    """Made through the tablet's sync API: someone inside the place, and one anomaly (a check-out without its
    check-in). Through the services: a revoked credential of the county, an incident with a photo reported by the
    commissioner, and a credential not yet used (for the cells that check someone in)."""
    tablet, _ = make_tablet(place, commissioner)
    on_tablet = signed_in(poll_worker, device=tablet)

    inside = watcher(election, county, holder_name="Ida Inside", appointed_by_name="Party A")
    orphan = watcher(election, county, holder_name="Otto Orphan", appointed_by_name="Party B")
    events = [_event("check_in", inside, election, 9), _event("check_out", orphan, election, 10)]
    synced = on_tablet.post(
        "/api/v1/sync/", {"sent_at": timezone.now().isoformat(), "since": None, "events": events}, format="json"
    )
    assert synced.status_code == 200, synced.content
    assert [r["result"] for r in synced.json()["results"]] == ["accepted", "anomaly"]
    anomaly = PresenceAnomaly.objects.get()

    revoked = watcher(election, county, holder_name="Rex Revoked", appointed_by_name="Party C")
    issuing.credential_revoke(actor=Actor(user=commissioner), credential_id=revoked.pk, reason="Lost")

    photo = photos.store_photo(photos.CleanPhoto(data=_png(), content_type="image/png", extension="png"))
    incident = incident_report(
        actor=Actor(user=commissioner),
        polling_place=place_for_measuring(place.pk),
        election=election,
        activity="campaigning",
        lon=place.lon + 0.0001,
        lat=place.lat,
        accuracy_m=None,
        occurred_at=timezone.now() - dt.timedelta(minutes=30),
        description="Man with signs for a candidate by the door.",
        photo_path=photo,
        photo_content_type="image/png",
    ).incident

    return {
        "place": place,
        "election": election,
        "tablet": tablet,
        "on_tablet": on_tablet,
        "inside": inside,
        "fresh": watcher(election, county, holder_name="Fay Fresh", appointed_by_name="Party D"),
        "revoked": revoked,
        "anomaly": anomaly,
        "incident": incident,
    }


def _event(kind: str, credential: Any, election: Any, hour: int) -> dict[str, Any]:
    return {
        "event_id": str(uuid.uuid4()),
        "kind": kind,
        "token": token_of(credential),
        "occurred_at": local(election, hour).isoformat(),
    }


def client_of(request: Any, w: dict[str, Any], caller: str) -> APIClient:
    if caller == "anonymous":
        return APIClient()
    if caller == "poll_worker_on_tablet":
        return w["on_tablet"]
    if caller == "poll_worker_without_tablet":
        return signed_in(request.getfixturevalue("poll_worker"))
    if caller == "other_poll_worker":
        other_place = request.getfixturevalue("other_place")
        device, _ = make_tablet(other_place, request.getfixturevalue("other_county_commissioner"), label="Madison 1")
        return signed_in(request.getfixturevalue("other_poll_worker"), device=device)
    return signed_in(request.getfixturevalue(caller))


# --- the matrix ---------------------------------------------------------------------------------------------------

# Expected (status, error code or None) per caller, in the order of CALLERS.
A = (401, "not_authenticated")
NF = (404, "not_found")
TABLET = (403, "tablet_required")
DENIED = (403, "permission_denied")
UNKNOWN_PLACE = (400, "unknown_polling_place")


def row(*cells: Any) -> dict[str, tuple[int, str | None]]:
    """One row of the table: a bare status is an allowed answer, a (status, code) pair a refusal."""
    cells = tuple((cell, None) if isinstance(cell, int) else cell for cell in cells)
    return dict(zip(CALLERS, cells, strict=True))


# Columns: anonymous, outsider, other_poll_worker, other_county_commissioner, commissioner, state_admin,
# poll_worker_on_tablet, poll_worker_without_tablet.
# fmt: off
RECORD          = row(A, NF,     NF,            NF,            TABLET, TABLET, 201,    TABLET)
READ_ROSTER     = row(A, NF,     NF,            NF,            200,    200,    200,    200)
SYNC            = row(A, TABLET, 200,           TABLET,        TABLET, TABLET, 200,    TABLET)
ANOMALY_LIST    = row(A, DENIED, DENIED,        200,           200,    200,    DENIED, DENIED)
ANOMALY_ONE     = row(A, DENIED, DENIED,        NF,            200,    200,    DENIED, DENIED)
INCIDENT_LIST   = row(A, DENIED, 200,           200,           200,    200,    200,    200)
INCIDENT_REPORT = row(A, DENIED, UNKNOWN_PLACE, UNKNOWN_PLACE, 201,    201,    201,    201)
INCIDENT_ONE    = row(A, DENIED, NF,            NF,            200,    200,    200,    200)
HOLDERS         = row(A, NF,     NF,            NF,            200,    200,    200,    TABLET)
# fmt: on

# name -> (method, expected, audit actions an allowed call adds, whether an allowed call writes anything)
MATRIX: dict[str, tuple[str, dict[str, tuple[int, str | None]], list[str], bool]] = {
    "check in": ("post", RECORD, [], True),
    "check out": ("post", RECORD, [], True),
    "roster": ("get", READ_ROSTER, [], False),
    "paper log and roster": ("get", READ_ROSTER, [], False),  # the four documents in each cell
    "sync": ("post", SYNC, [], True),
    "list anomalies": ("get", ANOMALY_LIST, [], False),
    "read an anomaly": ("get", ANOMALY_ONE, [], False),
    "review an anomaly": ("post", ANOMALY_ONE, ["presence_anomaly.review"], True),
    "list incidents": ("get", INCIDENT_LIST, [], False),
    "report an incident": ("post", INCIDENT_REPORT, ["incident.report"], True),
    "credential holders": ("get", HOLDERS, [], False),
    "read an incident": ("get", INCIDENT_ONE, [], False),
    "an incident's photo": ("get", INCIDENT_ONE, [], False),
}


def request_of(w: dict[str, Any], endpoint: str, *, missing: bool = False) -> tuple[str, dict[str, Any] | None]:
    """The path and JSON body of ``endpoint`` on the world's objects (or on ids that do not exist)."""
    place = MISSING if missing else w["place"].pk
    anomaly = MISSING if missing else w["anomaly"].pk
    incident = MISSING if missing else w["incident"].pk
    election = w["election"]
    pp = f"/api/v1/polling-places/{place}"
    return {
        "check in": (f"{pp}/check-ins/", body(token_of(w["fresh"]), local(election, 11))),
        "check out": (f"{pp}/check-outs/", body(token_of(w["inside"]), local(election, 11))),
        "roster": (f"{pp}/roster/", None),
        "credential holders": (f"{pp}/credential-holders/", None),
        "paper log and roster": (f"{pp}/paper/log.csv", None),
        "sync": (
            "/api/v1/sync/",
            {
                "sent_at": timezone.now().isoformat(),
                "since": None,
                "events": [_event("check_in", w["fresh"], election, 11)],
            },
        ),
        "list anomalies": (ANOMALIES, None),
        "read an anomaly": (f"{ANOMALIES}{anomaly}/", None),
        "review an anomaly": (f"{ANOMALIES}{anomaly}/review/", {"note": "Paper log shows the entry at 8:55."}),
        "list incidents": (INCIDENTS, None),
        "report an incident": (INCIDENTS, _incident_body(place, w["place"], election=election.pk)),
        "read an incident": (f"{INCIDENTS}{incident}/", None),
        "an incident's photo": (f"{INCIDENTS}{incident}/photo", None),
    }[endpoint]


def call(client: APIClient, method: str, path: str, data: dict[str, Any] | None) -> Any:
    if method == "get":
        return client.get(path)
    return client.post(path, data, format="json")


def state() -> tuple[Any, ...]:
    return (
        sorted(PresenceEvent.objects.values_list("pk", "outcome")),
        sorted(Presence.objects.values_list("polling_place_id", "credential_id")),
        sorted(PresenceLedger.objects.values_list("pk", "roster_version", "last_hlc")),
        sorted(PresenceAnomaly.objects.values_list("pk", "status", "reviewed_at")),
        sorted(Incident.objects.values_list("pk", flat=True)),
    )


def audit_actions(since: int) -> list[str]:
    return list(AuditEvent.objects.filter(pk__gt=since).order_by("pk").values_list("action", flat=True))


def last_audit_pk() -> int:
    return AuditEvent.objects.order_by("-pk").values_list("pk", flat=True).first() or 0


def _csv(response: Any) -> list[list[str]]:
    return list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))


def check_what_is_shown(w: dict[str, Any], endpoint: str, caller: str, response: Any) -> None:
    """An allowed answer carries what is in the caller's scope and nothing else."""
    in_scope = caller not in ("other_poll_worker", "other_county_commissioner")
    if endpoint in ("check in", "check out"):
        data = response.json()
        assert data["outcome"] == "accepted"
        assert data["credential"]["serial"] == w["fresh" if endpoint == "check in" else "inside"].serial
    elif endpoint == "credential holders":
        data = response.json()
        assert (data["polling_place"], data["election"]) == (w["place"].pk, w["election"].pk)
        names = {c["serial"]: c["holder_name"] for c in data["credentials"]}
        assert names[w["inside"].serial] == "Ida Inside" and names[w["fresh"].serial] == "Fay Fresh"
        assert {c["serial"] for c in data["credentials"] if c["revoked"]} == {w["revoked"].serial}
    elif endpoint == "roster":
        data = response.json()
        assert (data["polling_place"], data["election"]) == (w["place"].pk, w["election"].pk)
        assert [p["serial"] for p in data["inside"]] == [w["inside"].serial]
    elif endpoint == "paper log and roster":
        path = response.wsgi_request.path
        assert response["Cache-Control"] == "private, no-store"
        if path.endswith(".pdf"):
            assert response["Content-Type"] == "application/pdf" and response.content.startswith(b"%PDF")
        else:
            assert response["Content-Type"].startswith("text/csv")
            names = {cell for line in _csv(response)[1:] for cell in line}
            assert "Ida Inside" in names
            assert ("Otto Orphan" in names) == ("/log." in path)  # the log lists the refused check-out too
    elif endpoint == "sync":
        data = response.json()
        revoked = {r["serial"] for r in data["revoked"]}
        inside = [p["serial"] for p in data["roster"]["inside"]]
        if in_scope:
            assert [r["result"] for r in data["results"]] == ["accepted"]
            assert data["roster"]["polling_place"] == w["place"].pk
            assert sorted(inside) == sorted([w["inside"].serial, w["fresh"].serial])
            assert revoked == {w["revoked"].serial}
        else:
            # Synced at their own place: a credential of another county is refused there, and nothing of this
            # county (its roster, its revocations) comes back.
            assert [(r["result"], r["reason"]) for r in data["results"]] == [("refused", "wrong_place")]
            assert data["roster"]["polling_place"] != w["place"].pk and inside == []
            assert revoked == set()
    elif endpoint == "list anomalies":
        ids = [r["id"] for r in response.json()["results"]]
        assert ids == ([w["anomaly"].pk] if in_scope else [])
        assert response.json()["count"] == len(ids)
    elif endpoint in ("read an anomaly", "review an anomaly"):
        data = response.json()
        assert data["id"] == w["anomaly"].pk
        assert data["status"] == ("reviewed" if endpoint == "review an anomaly" else "open")
    elif endpoint == "list incidents":
        ids = [r["id"] for r in response.json()["results"]]
        assert ids == ([w["incident"].pk] if in_scope else [])
        assert response.json()["count"] == len(ids)
    elif endpoint == "report an incident":
        data = response.json()
        assert data["polling_place"]["id"] == w["place"].pk and data["election"] == w["election"].pk
    elif endpoint == "read an incident":
        assert response.json()["id"] == w["incident"].pk
    elif endpoint == "an incident's photo":
        assert response["Content-Type"] == "image/png" and response.content.startswith(b"\x89PNG")
        assert response["Cache-Control"] == "private, no-store"
    else:  # pragma: no cover
        raise AssertionError(endpoint)


def requests_of(w: dict[str, Any], endpoint: str, *, missing: bool = False) -> list[tuple[str, Any]]:
    """As ``request_of``; the paper fallback's row asks for all four documents."""
    path, data = request_of(w, endpoint, missing=missing)
    if endpoint == "paper log and roster":
        base = path.removesuffix("log.csv")
        return [(base + document, None) for document in PAPER]
    return [(path, data)]


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize("endpoint", list(MATRIX))
def test_every_election_day_endpoint_for_every_kind_of_caller(request, world, endpoint, caller):
    w = world
    method, expected, audits, writes = MATRIX[endpoint]
    status, code = expected[caller]
    client = client_of(request, w, caller)
    before, audit_from = state(), last_audit_pk()

    for (path, data), (missing_path, missing_data) in zip(
        requests_of(w, endpoint), requests_of(w, endpoint, missing=True), strict=True
    ):
        response = call(client, method, path, data)

        assert response.status_code == status, (endpoint, caller, path, response.content[:300])
        if status < 400:
            check_what_is_shown(w, endpoint, caller, response)
            continue
        error = response.json()
        assert error["detail"] and error["code"] == code, error
        # No refusal tells an existing object from a missing one, except "tablet_required" (given only to callers
        # in scope of the place). The missing-id call comes before the state check, which therefore covers it.
        if code != "tablet_required" and endpoint not in ("sync", "list anomalies", "list incidents"):
            probe = call(client, method, missing_path, missing_data)
            assert (probe.status_code, probe.json()) == (response.status_code, error), (endpoint, caller, path)

    if writes and status < 300:
        assert state() != before, (endpoint, caller)
        assert audit_actions(audit_from) == audits
    else:
        assert state() == before, (endpoint, caller)
        assert audit_actions(audit_from) == []


def test_an_allowed_write_changes_exactly_what_it_should(request, world):
    """The matrix checks that a write changed something; here, what. One sample per writing endpoint."""
    w = world
    counts = lambda: (PresenceEvent.objects.count(), Presence.objects.count(), Incident.objects.count())  # noqa: E731
    on_tablet = w["on_tablet"]

    start = counts()
    synced = call(on_tablet, "post", *request_of(w, "sync"))  # the fresh credential comes in
    assert [r["result"] for r in synced.json()["results"]] == ["accepted"]
    assert counts() == (start[0] + 1, start[1] + 1, start[2])
    again = call(on_tablet, "post", *request_of(w, "check in"))  # recorded with a notice; the roster is unchanged
    assert (again.status_code, again.json()["notice"]) == (201, "already_inside")
    assert counts() == (start[0] + 2, start[1] + 1, start[2])
    assert call(on_tablet, "post", *request_of(w, "check out")).status_code == 201
    assert counts() == (start[0] + 3, start[1], start[2])
    assert call(on_tablet, "post", *request_of(w, "report an incident")).status_code == 201
    assert counts() == (start[0] + 3, start[1], start[2] + 1)
    commissioner = signed_in(request.getfixturevalue("commissioner"))
    assert call(commissioner, "post", *request_of(w, "review an anomaly")).status_code == 200
    w["anomaly"].refresh_from_db()
    assert w["anomaly"].status == "reviewed" and w["anomaly"].review_note == "Paper log shows the entry at 8:55."


def test_a_state_administrator_of_another_state_is_as_out_of_scope_as_another_countys_commissioner(
    request, world, alabama_admin
):
    w = world
    client = signed_in(alabama_admin)
    before, audit_from = state(), last_audit_pk()
    for endpoint, (method, expected, _audits, _writes) in MATRIX.items():
        status, code = expected["other_county_commissioner"]
        for path, data in requests_of(w, endpoint):
            response = call(client, method, path, data)
            assert response.status_code == status, (endpoint, path, response.content[:300])
            if status >= 400:
                assert response.json()["code"] == code, endpoint
            else:
                check_what_is_shown(w, endpoint, "other_county_commissioner", response)
    assert state() == before
    assert audit_actions(audit_from) == []


def test_other_methods_are_405_for_callers_in_scope_and_401_for_anonymous(request, world):
    w = world
    clients = {"anonymous": APIClient(), "commissioner": signed_in(request.getfixturevalue("commissioner"))}
    before, audit_from = state(), last_audit_pk()
    for endpoint in MATRIX:
        path, data = requests_of(w, endpoint)[-1]
        allowed = _methods(resolve(path).func)
        for method in sorted({"get", "post", "put", "patch", "delete"} - allowed):
            for caller, client in clients.items():
                if method == "get":
                    response = client.get(path)
                else:
                    response = getattr(client, method)(path, data or {}, format="json")
                expected = (401, "not_authenticated") if caller == "anonymous" else (405, "method_not_allowed")
                assert (response.status_code, response.json()["code"]) == expected, (endpoint, method, caller)
    assert state() == before
    assert audit_actions(audit_from) == []


@pytest.mark.parametrize("caller", ["commissioner", "poll_worker_on_tablet"])
def test_a_report_whose_json_body_is_not_an_object_is_a_400_and_stores_nothing(request, world, caller):
    client = client_of(request, world, caller)
    client.raise_request_exception = False
    before, audit_from = state(), last_audit_pk()
    for raw in ("[]", "null", "5", '"campaigning"'):
        response = client.post(INCIDENTS, raw, content_type="application/json")
        assert response.status_code == 400, (raw, response.status_code, response.content[:200])
        assert response.json()["detail"] and response.json()["code"]
    assert state() == before
    assert audit_actions(audit_from) == []


# --- the guard ----------------------------------------------------------------------------------------------------

#: The public API (docs/api.md, "Public API"): no login, read-only, covered by tests/polling/api/test_api.py.
PUBLIC = {
    "api/v1/lookup/",
    "api/v1/compliance/",
    "api/v1/elections/",
    "api/v1/counties/",
    "api/v1/precincts/",
    "api/v1/precincts/<int:pk>/",
    "api/v1/polling-places/",
    "api/v1/polling-places/<int:pk>/",
    "api/v1/polling-places/<int:pk>/zones/",
    "api/v1/zones/",
    "api/v1/schema/",
    "api/v1/credentials/keys/",
}
#: Covered by the guard of tests/accounts/test_permission_matrix.py (auth, credentials), and by the state
#: administrators' security endpoints' own tests (tests/guard/test_ips.py: blocks; tests/ops/test_security_report.py:
#: the report), each for anonymous, every other role, the right role and another state's administrator.
ELSEWHERE = ("api/v1/auth/", "api/v1/credentials/", "api/v1/security/")


def _routes() -> dict[str, Any]:
    """Every URL pattern as its full route string, with its view function."""
    found: dict[str, Any] = {}

    def walk(patterns: list[Any], prefix: str) -> None:
        for p in patterns:
            if isinstance(p, URLResolver):
                walk(p.url_patterns, prefix + str(p.pattern))
            elif isinstance(p, URLPattern):
                found[prefix + str(p.pattern)] = p.callback

    walk(get_resolver().url_patterns, "")
    return found


def _methods(view: Any) -> set[str]:
    cls = getattr(view, "view_class", None)
    if cls is None:  # a function view: no way to tell its methods, so no row can cover it
        return {"<any method>"}
    return {m for m in cls.http_method_names if m not in ("options", "head") and hasattr(cls, m)}


def without_a_row(w: dict[str, Any]) -> tuple[set[tuple[str, str]], set[tuple[str, str]]]:
    """(route, method) pairs of the staff API outside auth/ and credentials/ that no row of MATRIX requests, and
    rows whose (route, method) the URLconf does not serve."""
    routes = _routes()
    staff = {
        route: view
        for route, view in routes.items()
        if route.startswith("api/v1/") and route not in PUBLIC and not route.startswith(ELSEWHERE)
    }
    covered: set[tuple[str, str]] = set()
    for endpoint, (method, *_rest) in MATRIX.items():
        for path, _ in requests_of(w, endpoint):
            view = resolve(path).func  # the URL pattern that serves the row's request
            [route] = [r for r, v in routes.items() if v is view]
            covered.add((route, method))
    needed = {(route, method) for route, view in staff.items() for method in _methods(view)}
    return needed - covered, covered - needed


@pytest.fixture
def rows_world(place, election, county) -> dict[str, Any]:
    """Enough of a world to build every row's request (the objects need not exist)."""
    return {
        "place": place,
        "election": election,
        "anomaly": PresenceAnomaly(pk=1),
        "incident": Incident(pk=1),
        "fresh": watcher(election, county),
        "inside": watcher(election, county),
    }


def test_every_election_day_path_and_method_is_in_the_matrix(rows_world):
    missing, extra = without_a_row(rows_world)
    assert missing == set(), "staff paths or methods without a row in MATRIX (add one, or list them as PUBLIC)"
    assert extra == set()


def test_the_public_paths_are_public():
    """Nothing staff-only hides in PUBLIC: anonymous callers are never refused there."""
    routes = _routes()
    client = APIClient()
    for route in PUBLIC - {"api/v1/schema/"}:  # the schema takes seconds to build; it is public by construction
        assert route in routes, route
        response = client.get("/" + route.replace("<int:pk>", "1"))
        assert response.status_code not in (401, 403), (route, response.status_code)


class _Tallies(APIView):
    def get(self, request: Any, pk: int) -> Any:  # pragma: no cover
        raise AssertionError


def test_the_guard_catches_a_new_election_day_path(rows_world, settings, monkeypatch):
    import sys
    import types

    from django.urls import path

    import config.urls

    urlconf = types.ModuleType("tests.polling._urlconf_with_a_new_path")
    urlconf.urlpatterns = [  # type: ignore[attr-defined]
        path("api/v1/polling-places/<int:pk>/tallies/", _Tallies.as_view()),
        *config.urls.urlpatterns,
    ]
    monkeypatch.setitem(sys.modules, urlconf.__name__, urlconf)
    settings.ROOT_URLCONF = urlconf.__name__
    assert without_a_row(rows_world) == ({("api/v1/polling-places/<int:pk>/tallies/", "get")}, set())


# --- targets outside the caller's scope (issue 10: every election-day write, inside and outside the scope) ----------


def counts() -> dict[str, int]:
    return {
        "events": PresenceEvent.objects.count(),
        "refused events": PresenceEvent.objects.filter(outcome="refused").count(),
        "presence": Presence.objects.count(),
        "anomalies": PresenceAnomaly.objects.count(),
        "incidents": Incident.objects.count(),
        "audit": AuditEvent.objects.count(),
    }


@pytest.fixture
def elsewhere(world, other_place, other_county, alabama_county, other_county_commissioner, alabama_admin):
    """Objects outside the Hinds poll worker's and commissioner's scope: another county's place, credential, anomaly
    and incident; a place in another state."""
    from tests.factories import ElectionFactory, PollingPlaceFactory

    election = world["election"]
    alabama_place = PollingPlaceFactory(county=alabama_county, code="AUT-1", name="Autauga Hall")
    ElectionFactory(jurisdiction=alabama_county.jurisdiction, name="Alabama General", date=election.date)
    madison = watcher(election, other_county, holder_name="Mo Madison", appointed_by_name="Party M")
    tablet, _ = make_tablet(other_place, other_county_commissioner, label="Madison 1")
    from accounts.models import Role
    from tests.factories import UserFactory
    from tests.people import grant

    worker = grant(UserFactory(username="mad_worker"), Role.POLL_WORKER, polling_place=other_place, election=election)
    on_tablet = signed_in(worker, device=tablet)
    orphan = watcher(election, other_county, holder_name="Oz Orphan", appointed_by_name="Party O")
    synced = on_tablet.post(
        "/api/v1/sync/",
        {"sent_at": timezone.now().isoformat(), "since": None, "events": [_event("check_out", orphan, election, 10)]},
        format="json",
    )
    assert synced.json()["results"][0]["result"] == "anomaly"
    incident = incident_report(
        actor=Actor(user=other_county_commissioner),
        polling_place=place_for_measuring(other_place.pk),
        election=election,
        activity="campaigning",
        lon=other_place.lon + 0.0001,
        lat=other_place.lat,
        accuracy_m=None,
        occurred_at=timezone.now() - dt.timedelta(minutes=30),
        description="Signs by the door.",
    ).incident
    return {
        "other_place": other_place,
        "alabama_place": alabama_place,
        "madison_credential": madison,
        "madison_anomaly": PresenceAnomaly.objects.get(credential=orphan),
        "madison_incident": incident,
    }


@pytest.mark.parametrize("caller", ["poll_worker_on_tablet", "commissioner"])
def test_every_election_day_write_refuses_targets_outside_the_callers_scope(request, world, elsewhere, caller):
    """For each write (check-in, check-out, sync, anomaly review, incident report): another place of another county,
    a place of another state, another county's credential at the caller's own place, another county's anomaly. Each
    is refused, and nothing changes — except that a scan of another county's credential at one's own place is kept
    as a refused event (``wrong_place``: the contract stores every scan), which changes no roster, anomaly or audit."""
    w, e = world, elsewhere
    client = client_of(request, w, caller)
    election = w["election"]
    stranger = token_of(e["madison_credential"])
    cases: list[tuple[str, str, dict[str, Any] | None, set[tuple[int, str]]]] = []
    for target in ("other_place", "alabama_place"):
        pp = f"/api/v1/polling-places/{e[target].pk}"
        for what in ("check-ins", "check-outs"):
            expected = {(404, "not_found")}
            cases.append(
                (f"{what} at {target}", f"{pp}/{what}/", body(token_of(w["fresh"]), local(election, 11)), expected)
            )
    own = f"/api/v1/polling-places/{w['place'].pk}"
    for what in ("check-ins", "check-outs"):
        expected = {(200, "wrong_place")} if caller == "poll_worker_on_tablet" else {(403, "tablet_required")}
        cases.append(
            (f"{what} of another county's credential", f"{own}/{what}/", body(stranger, local(election, 11)), expected)
        )
    sync_body = {
        "sent_at": timezone.now().isoformat(),
        "since": None,
        "events": [_event("check_in", e["madison_credential"], election, 11)],
    }
    expected_sync = {(200, "wrong_place")} if caller == "poll_worker_on_tablet" else {(403, "tablet_required")}
    cases.append(("sync of another county's credential", "/api/v1/sync/", sync_body, expected_sync))
    review = f"{ANOMALIES}{e['madison_anomaly'].pk}/review/"
    expected_review = {(404, "not_found")} if caller == "commissioner" else {(403, "permission_denied")}
    cases.append(("review another county's anomaly", review, {"note": "Seen."}, expected_review))
    for target in ("other_place", "alabama_place"):
        report = _incident_body(e[target].pk, e[target], election=election.pk)
        cases.append((f"report at {target}", INCIDENTS, report, {(400, "unknown_polling_place"), (404, "not_found")}))

    for name, path, data, expected in cases:
        before = counts()
        response = client.post(path, data, format="json")
        answer = response.json()
        if path == "/api/v1/sync/" and response.status_code == 200:
            got = (200, answer["results"][0]["reason"])
            assert answer["results"][0]["result"] == "refused", (name, answer)
        elif response.status_code == 200:
            got = (200, answer["reason"])
            assert answer["outcome"] == "refused", (name, answer)
        else:
            got = (response.status_code, answer["code"])
        assert got in expected, (name, caller, got, answer)
        after = counts()
        if got == (200, "wrong_place"):  # the scan is kept as a refused event; nothing else moves
            before["events"] += 1
            before["refused events"] += 1
        assert after == before, (name, caller, before, after)
    e["madison_anomaly"].refresh_from_db()
    assert e["madison_anomaly"].status == "open"

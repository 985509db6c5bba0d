"""Hostile input aimed at every endpoint and page, class by class — the classes schemathesis does not generate on its
own (tests/test_schema_fuzz.py runs it over the whole schema): deeply nested JSON, numbers that overflow (``1e400``,
2^63 and above) in paths, query strings and bodies, date-times at year 1 and 9999, UTC offsets PostgreSQL cannot
store (beyond ±15:59, with seconds or fractions of one), lone surrogates and NUL bytes in JSON strings and keys, query
strings and headers, OPTIONS and HEAD on every page and endpoint, wrong content types, empty and huge bodies.

Every answer must be below 500, and every 4xx answer of the API is JSON with ``detail`` and a stable ``code``. Each
test collects every offending request and fails listing them all.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone

from accounts.models import Role
from tests.factories import PrecinctFactory, RoleGrantFactory, UserFactory
from tests.people import PASSWORD, sign_in_to_admin, signed_in

#: Raw JSON texts put in place of a value: numbers that overflow a float or a 64-bit integer, non-finite spellings,
#: wrong types, lone surrogates and NUL as JSON escapes, date-times at the ends of the calendar and offsets out of
#: PostgreSQL's range or finer than a minute, and a long string.
HOSTILE_JSON = [
    "1e400",
    "-1e400",
    "9223372036854775808",
    "-9223372036854775809",
    "18446744073709551616",
    "1" + "0" * 40,
    "-1",
    "NaN",
    "Infinity",
    "true",
    "null",
    "{}",
    '[{"a": 1}]',
    '""',
    '"\\ud800"',
    '"a\\u0000b"',
    '"0001-01-01T00:00:00Z"',
    '"0001-01-01T00:00:00+14:00"',
    '"9999-12-31T23:59:59.999999Z"',
    '"9999-12-31T23:59:59-14:00"',
    '"2026-11-03T09:00:00+23:59"',
    '"2026-11-03T09:00:00-16:00"',
    '"2026-11-03T09:00:00+05:30:15"',
    '"2026-11-03T09:00:00+00:00:00.000001"',
    '"2026-11-03T09:00:00-05:59:59.999999"',
    '"99999-01-01T00:00:00Z"',
    json.dumps("x" * 20_000),
]
#: Query-string values (already percent-encoded where it matters).
HOSTILE_QUERY = [
    "1e400",
    "9223372036854775808",
    "-9223372036854775809",
    "99999999999999999999999999",
    "%00",
    "a%00b",
    "%ED%A0%80",
    "%F4%90%80%80",
    "%FF%FE",
    "0001-01-01T00:00:00Z",
    "9999-12-31T23:59:59%2B14:00",
    "2026-11-03T09:00:00%2B23:59",
    "2026-11-03T09:00:00-16:00",
    "2026-11-03T09:00:00%2B05:30:15.5",
    "NaN",
    "-Infinity",
    "%E2%80%AE",
    "x" * 1500,
]
#: Operations that need a token (the others are the public API's).
STAFF = ("/api/v1/auth/", "/api/v1/credentials/", "/api/v1/incidents/", "/api/v1/sync/", "/api/v1/presence-anomalies/")
STAFF_SUFFIXES = ("/check-ins/", "/check-outs/", "/roster/", ".{fmt}")
#: Path ids that overflow a 64-bit integer (or only just fit).
HOSTILE_IDS = ["9223372036854775807", "9223372036854775808", "18446744073709551616", "9" * 30, "0", "00000000001"]
#: Header values a WSGI server can hand over (PEP 3333: latin-1): NUL, control characters, high latin-1, long.
HOSTILE_HEADERS = ["\x00", "a\x00b", "\r", "ÿþ", "\x7f\x80", "x" * 9000, "Bearer \x00", "Bearer pgt_\x00"]


def _paths(patterns: list, prefix: str = "") -> Iterator[str]:
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from _paths(pattern.url_patterns, prefix + str(pattern.pattern))
        elif isinstance(pattern, URLPattern):
            yield prefix + str(pattern.pattern)


def every_page() -> list[str]:
    """Every URL of the site, with ids filled in (1, or a new UUID); regular-expression routes by example."""
    pages = set()
    for route in _paths(get_resolver().url_patterns):
        route = route.replace("^", "").replace("$", "").replace("\\", "")
        route = re.sub(r"<int:\w+>|\(\?P<pk>\[0-9\]\+\)", "1", route)
        route = re.sub(r"<uuid:\w+>", str(uuid.uuid4()), route)
        route = re.sub(r"\(\?P<document>[^)]*\)", "log", route)
        route = re.sub(r"\(\?P<fmt>[^)]*\)", "csv", route)
        route = re.sub(r"<(path:|str:)?\w+>", "1", route)
        route = re.sub(r"\(\?P<\w+>([a-z_]+)[^)]*\)", r"\1", route)
        if "(" not in route and "?" not in route:
            pages.add("/" + route)
    return sorted(pages)


@pytest.fixture
def world(county, place, election, commissioner, state_admin, tablet_client, outsider) -> dict[str, Any]:
    from accounts.models import Device

    PrecinctFactory(county=county)
    extra = RoleGrantFactory(user=UserFactory(), role=Role.POLL_WORKER, polling_place=place, election=election)
    clients = {
        "anonymous": Client(),
        "poll_worker": tablet_client,
        "commissioner": signed_in(commissioner),
        "state_admin": signed_in(state_admin),
    }
    now = timezone.now().isoformat()
    device = Device.objects.filter(polling_place=place).first()
    event = {"kind": "check_in", "token": "x", "occurred_at": now, "event_id": str(uuid.uuid4())}
    # (path, role that gets past the permission checks, a plausible body whose fields are replaced one by one)
    bodies = [
        (f"/api/v1/polling-places/{place.pk}/check-ins/", "poll_worker", {**event, "sent_at": now}),
        (f"/api/v1/polling-places/{place.pk}/check-outs/", "poll_worker", {**event, "sent_at": now}),
        ("/api/v1/sync/", "poll_worker", {"sent_at": now, "since": None, "events": [event]}),
        (
            "/api/v1/incidents/",
            "poll_worker",
            {
                "polling_place": place.pk,
                "election": election.pk,
                "activity": "campaigning",
                "lon": -90.17,
                "lat": 32.35,
                "accuracy_m": 5,
                "occurred_at": now,
                "description": "A sign by the door.",
            },
        ),
        (
            "/api/v1/credentials/verify/",
            "poll_worker",
            {"token": "x", "polling_place": place.pk, "election": election.pk, "at": now},
        ),
        (
            "/api/v1/credentials/",
            "commissioner",
            {
                "kind": "poll_watcher",
                "holder_name": "Ann Example",
                "appointed_by_kind": "party",
                "appointed_by_name": "Example Party",
                "election": election.pk,
                "county": county.fips,
                "polling_places": [place.pk],
                "valid_from": now,
                "valid_until": now,
            },
        ),
        (
            "/api/v1/auth/grants/",
            "commissioner",
            {"user": outsider.pk, "role": "poll_worker", "polling_place": place.pk, "election": election.pk},
        ),
        (
            "/api/v1/auth/devices/enrolments/",
            "commissioner",
            {"polling_place": place.pk, "label": "Table 2", "election": election.pk},
        ),
        (f"/api/v1/auth/devices/{device.pk}/revoke/", "commissioner", {"reason": "lost"}),
        (f"/api/v1/auth/users/{extra.user_id}/disable/", "commissioner", {"reason": "left"}),
        ("/api/v1/presence-anomalies/1/review/", "commissioner", {"note": "seen"}),
        ("/api/v1/auth/devices/enrol/", "anonymous", {"code": "ABCD-EFGH"}),
        (
            "/api/v1/auth/token/",
            "anonymous",
            {"username": "worker", "password": "x", "otp": "1", "device_id": str(uuid.uuid4()), "device_secret": "x"},
        ),
        ("/api/v1/auth/totp/", "anonymous", {"username": "commish", "password": "x", "device_id": str(uuid.uuid4())}),
        (
            "/api/v1/auth/totp/confirm/",
            "anonymous",
            {"username": "commish", "password": "x", "device_id": str(uuid.uuid4()), "otp": "123456"},
        ),
    ]
    return {"clients": clients, "bodies": bodies}


def _api_paths(client: Client) -> list[tuple[str, str, list[str]]]:
    """(method, path template, query parameter names) of every operation of the OpenAPI schema."""
    schema = client.get("/api/v1/schema/?format=json").json()
    out = []
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            names = [p["name"] for p in operation.get("parameters", []) if p["in"] == "query"]
            out.append((method.upper(), path, names))
    return out


def _concrete(path: str, place_id: int) -> str:
    return path.replace("{id}", str(place_id)).replace("{document}", "log").replace("{fmt}", "csv")


class Offences:
    """The requests whose answer broke the rules: a 5xx, or a 4xx of the API without JSON ``detail`` and ``code``."""

    def __init__(self) -> None:
        self.found: list[str] = []
        self.requests = 0

    def check(self, response: Any, what: str) -> None:
        self.requests += 1
        status = response.status_code
        if status >= 500:
            self.found.append(f"{status} {what}")
            return
        path = response.wsgi_request.path if hasattr(response, "wsgi_request") else ""
        if 400 <= status < 500 and path.startswith("/api/") and response.wsgi_request.method != "HEAD":
            try:
                body = json.loads(response.content)
            except ValueError:
                self.found.append(f"{status} not JSON {what}: {response.content[:80]!r}")
                return
            if not (isinstance(body, dict) and body.get("detail") and isinstance(body.get("code"), str)):
                self.found.append(f"{status} no detail/code {what}: {body!r:.120}")

    def assert_none(self) -> None:
        assert not self.found, f"{len(self.found)} of {self.requests} requests:\n" + "\n".join(self.found[:60])


def _client(world: dict[str, Any], role: str) -> Client:
    client = world["clients"][role]
    client.raise_request_exception = False
    return client


def _replace(body: dict[str, Any], dotted: str, marker: str) -> dict[str, Any]:
    copy = json.loads(json.dumps(body))
    target = copy
    *head, last = dotted.split(".")
    for part in head:
        target = target[int(part)] if isinstance(target, list) else target[part]
    target[int(last) if isinstance(target, list) else last] = marker
    return copy


def _fields(body: dict[str, Any]) -> Iterator[str]:
    for key, value in body.items():
        yield key
        if isinstance(value, list) and value and isinstance(value[0], dict):
            yield from (f"{key}.0.{inner}" for inner in value[0])


@pytest.mark.django_db
def test_hostile_values_in_every_body_field(world):
    offences = Offences()
    for path, role, body in world["bodies"]:
        client = _client(world, role)
        for field in _fields(body):
            for raw in HOSTILE_JSON:
                text = json.dumps(_replace(body, field, "@@HOSTILE@@")).replace('"@@HOSTILE@@"', raw)
                response = client.generic("POST", path, text, content_type="application/json")
                offences.check(response, f"POST {path} as {role}: {field}={raw[:40]}")
        # Keys too: a lone surrogate and a NUL as a member name, and the whole body as each hostile value.
        for key in ('"\\ud800"', '"\\u0000"', '"a\\udc80"'):
            text = json.dumps(body)[:-1] + f", {key}: 1}}"
            offences.check(client.generic("POST", path, text, content_type="application/json"), f"{path} key {key}")
        for raw in HOSTILE_JSON:
            response = client.generic("POST", path, raw, content_type="application/json")
            offences.check(response, f"POST {path} as {role}: body {raw[:40]}")
    offences.assert_none()


@pytest.mark.django_db
def test_deeply_nested_json_on_every_operation(world, place):
    offences = Offences()
    deep = ["[" * 100_000 + "]" * 100_000, '{"a":' * 50_000 + "1" + "}" * 50_000]
    deep.append('{"events": ' + "[" * 5000 + "]" * 5000 + "}")
    for method, path, _ in _api_paths(_client(world, "anonymous")):
        if method not in ("POST", "PUT", "PATCH", "DELETE"):
            continue
        for role in world["clients"]:
            client = _client(world, role)
            for text in deep:
                response = client.generic(method, _concrete(path, place.pk), text, content_type="application/json")
                offences.check(response, f"{method} {path} as {role}: nested {text[:12]}")
    for path, role, _ in world["bodies"]:
        for text in deep:
            response = _client(world, role).generic("POST", path, text, content_type="application/json")
            offences.check(response, f"POST {path} as {role}: nested {text[:12]}")
    offences.assert_none()


@pytest.mark.django_db
def test_wrong_content_types_and_empty_and_huge_bodies(world, place):
    offences = Offences()
    cases = [
        ("text/plain", b'{"a": 1}'),
        ("application/xml", b"<a/>"),
        ("application/x-www-form-urlencoded", b"a=1&b=%00&c=%ED%A0%80"),
        ("multipart/form-data", b"--x\r\n"),
        ("multipart/form-data; boundary=", b"--\r\n"),
        ("multipart/form-data; boundary=x", b'--x\r\nContent-Disposition: form-data; name="a\x00"\r\n\r\n1\r\n--x--'),
        ("multipart/form-data; boundary=x", b"garbage"),
        ("application/json; charset=bogus", b'{"a": 1}'),
        ("application/json; charset=utf-16", '{"a": 1}'.encode("utf-16")),
        ("application/json; charset=latin-1", b'{"a": "\xff"}'),
        ("application/json", b"\xff\xfe\x00"),
        ("application/json", b'{"a": "\xed\xa0\x80"}'),
        ("application/json", b""),
        ("application/json", b" "),
        ("application/json", b'{"a": 1'),
        ("application/json", b"\x00"),
        ("application/json", b"[" + b"1," * 500_000 + b"1]"),
        ("application/json", b'{"a": "' + b"x" * 3_000_000 + b'"}'),
        ("text/csv", b"\x00\xff"),
        ("", b"{}"),
        ("\x00", b"{}"),
    ]
    for method, path, _ in _api_paths(_client(world, "anonymous")):
        if method not in ("POST", "PUT", "PATCH", "DELETE"):
            continue
        for role in world["clients"]:
            client = _client(world, role)
            for content_type, data in cases:
                response = client.generic(method, _concrete(path, place.pk), data, content_type=content_type)
                offences.check(response, f"{method} {path} as {role}: {content_type!r} {data[:16]!r}")
    offences.assert_none()


@pytest.mark.django_db
def test_hostile_query_values_and_path_ids_on_every_operation(world, place):
    """Each hostile value in each query parameter of each operation on its own (so no other parameter's refusal
    hides it), and overflowing ids in the path."""
    offences = Offences()
    operations = _api_paths(_client(world, "anonymous"))
    staff = {path for _, path, _ in operations if path.startswith(STAFF) or path.endswith(STAFF_SUFFIXES)}
    for role in ("anonymous", "poll_worker", "state_admin"):
        client = _client(world, role)
        for method, path, names in operations:
            if (role == "anonymous") == (path in staff):
                continue  # the public operations as anybody, the staff ones as the roles that get past sign-in
            concrete = _concrete(path, place.pk)
            for name in [*names, "page"]:
                for value in HOSTILE_QUERY:
                    response = client.generic(
                        method, f"{concrete}?{name}={value}", "{}", content_type="application/json"
                    )
                    offences.check(response, f"{method} {path}?{name}={value[:30]} as {role}")
            if "{id}" in path:
                for raw in HOSTILE_IDS:
                    target = path.replace("{id}", raw).replace("{document}", "log").replace("{fmt}", "csv")
                    response = client.generic(method, target, "{}", content_type="application/json")
                    offences.check(response, f"{method} {target} as {role}")
    offences.assert_none()


@pytest.mark.django_db
def test_hostile_query_values_on_the_admin_site(world):
    """The admin site's lists (search, filters, ordering, paging) as a superuser, with overflowing ids and NUL."""
    offences = Offences()
    superuser = UserFactory(username="site_admin", is_staff=True, is_superuser=True)
    client = sign_in_to_admin(Client(), superuser, PASSWORD)
    client.raise_request_exception = False
    lists = [page for page in every_page() if re.fullmatch(r"/admin/\w+/\w+/", page)]
    assert "/admin/polling/county/" in lists
    queries = ["q=a%00b", "q=%ED%A0%80", "id__exact=99999999999999999999", "p=99999999999999999999", "o=99999"]
    queries += ["county__jurisdiction__id__exact=99999999999999999999", "county__id__exact=9223372036854775808"]
    queries += ["jurisdiction__id__exact=99999999999999999999", "election__id__exact=1e400", "e=%00"]
    for page in lists:
        for query in queries:
            offences.check(client.get(f"{page}?{query}"), f"GET {page}?{query}")
    offences.assert_none()


@pytest.mark.django_db
def test_hostile_headers_on_every_operation(world, place):
    """Each hostile value in every header a view or middleware reads (all at once), and in the Authorization header
    alone (which otherwise refuses first)."""
    offences = Offences()
    operations = _api_paths(_client(world, "anonymous"))
    headers = ["HTTP_X_DEVICE_ID", "HTTP_USER_AGENT", "HTTP_ACCEPT", "HTTP_IF_NONE_MATCH", "HTTP_X_FORWARDED_FOR"]
    headers += ["HTTP_ACCEPT_LANGUAGE", "HTTP_ORIGIN", "HTTP_COOKIE", "HTTP_ACCEPT_ENCODING", "HTTP_RANGE"]
    for role in ("anonymous", "poll_worker"):
        client = _client(world, role)
        for method, path, _ in operations:
            for value in HOSTILE_HEADERS:
                for extra in ({header: value for header in headers}, {"HTTP_AUTHORIZATION": value}):
                    response = client.generic(
                        method, _concrete(path, place.pk), "{}", content_type="application/json", **extra
                    )
                    offences.check(response, f"{method} {path} as {role}: {sorted(extra)[0]}…={value[:12]!r}")
    offences.assert_none()


@pytest.mark.django_db
def test_options_and_head_on_every_page_and_endpoint(world):
    offences = Offences()
    superuser = UserFactory(username="site_admin", is_staff=True, is_superuser=True)
    admin_client = sign_in_to_admin(Client(), superuser, PASSWORD)
    pages = every_page()
    assert "/map/" in pages and "/api/v1/sync/" in pages and "/admin/" in pages
    clients = [*world["clients"].items(), ("admin site", admin_client)]
    for role, client in clients:
        client.raise_request_exception = False
        for page in pages:
            if role in ("poll_worker", "commissioner", "state_admin") and not page.startswith("/api/"):
                continue  # a bearer token opens no page; the admin site's session is the other client
            for method in ("OPTIONS", "HEAD"):
                response = client.generic(method, page)
                offences.check(response, f"{method} {page} as {role}")
                if method == "HEAD":
                    body = b"".join(response.streaming_content) if response.streaming else response.content
                    assert body == b"", (page, role)
    offences.assert_none()


def test_every_page_covers_the_routes():
    pages = every_page()
    assert len(pages) > 40
    assert all(page.startswith("/") and "<" not in page for page in pages)


def test_aware_datetimes_parse_to_utc():
    """The one date-time parser hands every value on in UTC, so no offset reaches the database (PostgreSQL refuses
    offsets beyond ±15:59); offsets finer than a minute and years outside 2000-2099 are refused."""
    from common.api import parsing

    value = parsing.aware_datetime_or_none("2026-11-03T09:00:00+23:59")
    assert value == dt.datetime(2026, 11, 2, 9, 1, tzinfo=dt.UTC) and value.utcoffset() == dt.timedelta(0)
    for raw in ("2026-11-03T09:00:00+05:30:15", "2026-11-03T09:00:00-05:59:59.999999", "0001-01-01T00:00:00Z"):
        assert parsing.aware_datetime_or_none(raw) is None, raw

"""Geographic exclusion (guard.geo, guard.middleware.GeoExclusionMiddleware, manage.py install_geoip).

Most tests read small MaxMind DB files built here with ``mmdb-writer`` and installed through the same path as the
real package (``geo.install_from_tarball``); ``test_real_data_*`` read the real package that ``make geoip``
installs into ``var/geoip`` (skipped outside CI when it is absent, failed in CI).
"""

from __future__ import annotations

import datetime as dt
import http.server
import io
import json
import os
import tarfile
import threading
from pathlib import Path

import pytest
import time_machine
from django.conf import settings as django_settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client
from mmdb_writer import MMDBWriter
from netaddr import IPSet

from common.errors import REFUSALS, Kind
from guard import geo
from guard.models import SecurityEvent
from tests.people import signed_in

US, GB, IE = "8.8.8.8", "81.2.69.142", "2a00:1450:4001::1"
US6 = "2001:4860:4860::8888"
ME = "/api/v1/auth/me/"

#: What the test databases hold. 192.168.0.0/16 is mapped to AU as the real data does: it must never be looked up.
V4 = {"8.8.8.0/24": "US", "81.2.69.0/24": "GB", "192.168.0.0/16": "AU", "193.0.6.0/24": "NL"}
V6 = {"2001:4860::/32": "US", "2a00:1450::/32": "IE"}


def build_tarball(v4: dict[str, str] = V4, v6: dict[str, str] = V6, *, version: str = "9.9.9") -> bytes:
    """An npm tarball shaped like the real package, with IPv4 and IPv6 country files (built at the current time, as
    ``time_machine`` has it)."""
    files: dict[str, bytes] = {}
    for family, table in ((4, v4), (6, v6)):
        writer = MMDBWriter(ip_version=family, database_type="country", description="test")
        for network, country in table.items():
            writer.insert_network(IPSet([network]), {"country_code": country})
        path = Path(django_settings.VAR_DIR) / f".test-geo-{os.getpid()}-{threading.get_ident()}-{family}.mmdb"
        try:
            writer.to_db_file(str(path))
            files[geo.FILES[family]] = path.read_bytes()
        finally:
            path.unlink(missing_ok=True)
    files["package.json"] = json.dumps({"name": geo.PACKAGE, "version": version}).encode()
    files["NRO_LICENSE"] = b"CC BY 4.0, NRO"
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(f"package/{name}")
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return out.getvalue()


@pytest.fixture(scope="session")
def tarball() -> bytes:
    return build_tarball()


@pytest.fixture(autouse=True)
def _fresh_geo_state():
    geo.reset()


@pytest.fixture
def geo_on(settings, tmp_path):
    """Exclusion on and required, with no database yet, in a directory of this test's own."""
    settings.GEO_EXCLUSION = True
    settings.GEO_REQUIRED = True
    settings.GEO_RESTRICT_PUBLIC = False
    settings.GEO_ALLOWLIST = []
    settings.GEO_NON_GLOBAL = "allow"
    settings.GEO_ALLOWED_COUNTRIES = ["US", "PR", "GU", "VI", "AS", "MP", "UM"]
    settings.GEOIP_DIR = tmp_path / "geoip"
    settings.GEOIP_MAX_AGE_DAYS = 365
    return settings


@pytest.fixture
def geodb(geo_on, tarball):
    """Exclusion on with the small test database installed."""
    geo.install_from_tarball(tarball, integrity=geo.sri_sha512(tarball), source="test")
    return geo_on


@pytest.fixture
def client(db):
    return Client()


def code_of(response) -> str | None:
    try:
        return response.json().get("code")
    except ValueError:
        return None


def events(kind: str = SecurityEvent.Kind.GEO_EXCLUDED) -> list[SecurityEvent]:
    return list(SecurityEvent.objects.filter(kind=kind).order_by("pk"))


# --- Decisions --------------------------------------------------------------------------------------------------


def test_the_refusal_codes_are_registered_as_forbidden():
    assert REFUSALS["geo_excluded"] is Kind.FORBIDDEN
    assert REFUSALS["geo_unavailable"] is Kind.FORBIDDEN


@pytest.mark.django_db
def test_country_of_reads_both_families_and_never_places_a_private_address(geodb):
    assert geo.country_of(US) == "US"
    assert geo.country_of(GB) == "GB"
    assert geo.country_of(US6) == "US"
    assert geo.country_of(IE) == "IE"
    assert geo.country_of("::ffff:81.2.69.142") == "GB"  # IPv4-mapped: looked up as IPv4
    assert geo.country_of("192.168.1.5") is None  # the file says AU
    assert geo.country_of("1.1.1.1") is None  # not in this file
    assert geo.country_of("not an address") is None
    assert geo.country_of(None) is None


@pytest.mark.django_db
def test_decide_applies_the_rules_in_order(geodb):
    assert geo.decide(US, staff=True) == geo.Decision(True, "", "US", "allowed country")
    refused = geo.decide(GB, staff=True)
    assert (refused.allowed, refused.code, refused.country) == (False, "geo_excluded", "GB")
    assert geo.decide("1.1.1.1", staff=True).code == "geo_excluded"  # not placed: refused
    assert geo.decide(None, staff=True).code == "geo_excluded"
    assert geo.decide(GB, staff=False).allowed  # public
    geodb.GEO_EXCLUSION = False
    assert geo.decide(GB, staff=True).allowed


@pytest.mark.django_db
def test_the_allow_list_takes_addresses_and_ranges_of_both_families(geodb):
    geodb.GEO_ALLOWLIST = ["81.2.69.142"]
    assert geo.decide(GB, staff=True).reason == "allow-listed"
    assert not geo.decide("81.2.69.143", staff=True).allowed
    geodb.GEO_ALLOWLIST = ["81.2.69.0/24", "2a00:1450:4001::/48"]
    assert geo.decide("81.2.69.200", staff=True).allowed
    assert geo.decide("::ffff:81.2.69.7", staff=True).allowed
    assert geo.decide(IE, staff=True).allowed
    assert not geo.decide("2a00:1450:4002::1", staff=True).allowed


@pytest.mark.django_db
def test_non_global_addresses_are_decided_by_setting_never_by_the_database(geodb):
    for address in ("192.168.1.5", "10.1.2.3", "127.0.0.1", "::1", "fe80::1", "100.64.0.1", "203.0.113.9"):
        assert geo.decide(address, staff=True).reason == "non-global address", address
    geodb.GEO_NON_GLOBAL = "deny"
    decision = geo.decide("192.168.1.5", staff=True)
    assert (decision.allowed, decision.code, decision.country) == (False, "geo_excluded", None)
    # allow-listed beats non-global
    geodb.GEO_ALLOWLIST = ["192.168.1.0/24"]
    assert geo.decide("192.168.1.5", staff=True).allowed


@pytest.mark.parametrize(
    ("method", "path", "public"),
    [
        ("GET", "/api/v1/lookup/", True),
        ("GET", "/api/v1/compliance/", True),
        ("HEAD", "/api/v1/counties/", True),
        ("GET", "/api/v1/precincts/", True),
        ("GET", "/api/v1/precincts/12/", True),
        ("GET", "/api/v1/polling-places/", True),
        ("GET", "/api/v1/polling-places/3/", True),
        ("OPTIONS", "/api/v1/polling-places/3/zones/", True),
        ("GET", "/api/v1/zones/", True),
        ("GET", "/api/v1/credentials/keys/", True),
        ("GET", "/map/", True),
        ("GET", "/", True),
        ("GET", "/static/polling/map.js", True),
        ("GET", "/api/docs/", True),
        ("GET", "/api/v1/schema/", True),
        ("GET", "/healthz", True),
        ("GET", "/readyz", True),
        ("POST", "/api/v1/lookup/", False),  # only reads of the public API are public
        ("GET", "/api/v1/polling-places/3/check-ins/", False),
        ("GET", "/api/v1/polling-places/3/roster/", False),
        ("GET", "/api/v1/polling-places/3/paper/log.pdf", False),
        ("POST", "/api/v1/sync/", False),
        ("GET", "/api/v1/incidents/", False),
        ("GET", "/api/v1/presence-anomalies/", False),
        ("GET", "/api/v1/credentials/", False),
        ("GET", "/api/v1/credentials/revoked/", False),
        ("POST", "/api/v1/credentials/verify/", False),
        ("POST", "/api/v1/auth/token/", False),
        ("GET", "/api/v1/security/report/", False),
        ("GET", "/admin/", False),
        ("GET", "/admin/login/", False),
        ("GET", "/tablet/", False),
        ("GET", "/metrics", False),
        ("GET", "/api/v1/lookup/../auth/me/", False),
        ("GET", "/static/../admin/", False),
        ("GET", "/no/such/path/", False),  # unknown: staff (fail closed)
    ],
)
def test_which_paths_are_public(method, path, public):
    assert geo.is_public(method, path) is public


# --- The middleware ---------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_staff_api_admin_and_tablet_paths_refuse_a_foreign_client_and_record_it(geodb, client, state_admin):
    staff = signed_in(state_admin)
    assert staff.get(ME, REMOTE_ADDR=US).status_code == 200
    refused = staff.get(ME, REMOTE_ADDR=GB)
    assert refused.status_code == 403
    assert refused.json() == {"detail": "This endpoint is not available from your location.", "code": "geo_excluded"}
    assert client.get("/admin/", REMOTE_ADDR=US).status_code == 302  # to the login page
    admin = client.get("/admin/login/", REMOTE_ADDR=GB)
    assert (admin.status_code, code_of(admin)) == (403, "geo_excluded")
    tablet = client.post("/api/v1/polling-places/1/check-ins/", {}, REMOTE_ADDR=IE, content_type="application/json")
    assert (tablet.status_code, code_of(tablet)) == (403, "geo_excluded")
    assert code_of(client.get("/tablet/", REMOTE_ADDR=GB)) == "geo_excluded"
    assert client.get("/tablet/", REMOTE_ADDR=US).status_code == 200  # the poll workers' app, at home
    # One row per address within a minute (guard.events coalesces a burst), the first refusal's path on it.
    rows = events()
    assert (rows[0].reason, rows[0].address, rows[0].country, rows[0].path) == ("geo_excluded", GB, "GB", ME)
    assert {(e.address, e.country) for e in rows} == {(GB, "GB"), (IE, "IE")}


@pytest.mark.django_db
def test_public_lookups_stay_open_abroad_unless_restricted(geodb, client):
    for path in ("/api/v1/counties/", "/map/", "/api/v1/credentials/keys/"):
        assert client.get(path, REMOTE_ADDR=GB).status_code == 200, path
    lookup = client.get("/api/v1/lookup/", {"lat": "32.3", "lon": "-90.18"}, REMOTE_ADDR=GB)
    assert code_of(lookup) != "geo_excluded"
    assert events() == []
    geodb.GEO_RESTRICT_PUBLIC = True
    refused = client.get("/api/v1/counties/", REMOTE_ADDR=GB)
    assert (refused.status_code, code_of(refused)) == (403, "geo_excluded")
    assert client.get("/api/v1/counties/", REMOTE_ADDR=US).status_code == 200
    assert client.get("/api/v1/counties/", REMOTE_ADDR="127.0.0.1").status_code == 200
    assert [(e.country, e.path) for e in events()] == [("GB", "/api/v1/counties/")]


@pytest.mark.django_db
def test_ipv6_clients_are_placed(geodb, state_admin):
    staff = signed_in(state_admin)
    assert staff.get(ME, REMOTE_ADDR=US6).status_code == 200
    assert code_of(staff.get(ME, REMOTE_ADDR=IE)) == "geo_excluded"
    assert code_of(staff.get(ME, REMOTE_ADDR="::ffff:81.2.69.142")) == "geo_excluded"
    assert events()[0].country == "IE"


@pytest.mark.parametrize(
    ("tunnelled", "allowed"),
    [
        # Teredo (2001::/32) carries the client's public IPv4 inverted in its last 32 bits; Python calls these
        # addresses not global, so without unwrapping them a client anywhere passed as "non-global".
        ("2001:0:4136:e378:8000:63bf:aefd:ba71", False),  # client 81.2.69.142 (GB)
        ("2001:0:4136:e378:8000:63bf:f7f7:f7f7", True),  # client 8.8.8.8 (US)
        ("2002:5102:458e::1", False),  # 6to4 of 81.2.69.142
        ("2002:808:808::1", True),  # 6to4 of 8.8.8.8
        ("64:ff9b::5102:458e", False),  # NAT64 of 81.2.69.142
    ],
)
def test_tunnelled_ipv6_is_judged_by_the_ipv4_it_carries(geodb, state_admin, tunnelled, allowed):
    response = signed_in(state_admin).get(ME, REMOTE_ADDR=tunnelled)
    assert (response.status_code == 200) is allowed, (tunnelled, response.status_code, code_of(response))


def test_a_foreign_scanner_refused_here_is_still_blocked_for_its_probes(geodb, client, settings):
    from guard import ips

    settings.IPS_THRESHOLDS = {**settings.IPS_THRESHOLDS, "probe": (3, 600)}
    for path in ("/.env", "/wp-login.php", "/.git/config"):
        assert code_of(client.get(path, REMOTE_ADDR=GB)) == "geo_excluded"
    assert ips.is_blocked(GB) > 0
    assert code_of(client.get("/api/v1/counties/", REMOTE_ADDR=GB)) == "address_blocked"


@pytest.mark.django_db
def test_a_forwarded_for_header_counts_only_through_trusted_proxies(geodb, state_admin):
    staff = signed_in(state_admin)
    # No trusted proxy (the default): a client's own X-Forwarded-For earns nothing, either way.
    assert code_of(staff.get(ME, REMOTE_ADDR=GB, HTTP_X_FORWARDED_FOR=US)) == "geo_excluded"
    assert staff.get(ME, REMOTE_ADDR=US, HTTP_X_FORWARDED_FOR=GB).status_code == 200
    # One trusted proxy: the address it saw (the rightmost) counts; what the client put on the left does not.
    geodb.REST_FRAMEWORK = {**geodb.REST_FRAMEWORK, "NUM_PROXIES": 1}
    assert code_of(staff.get(ME, REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR=GB)) == "geo_excluded"
    assert staff.get(ME, REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR=f"{GB}, {US}").status_code == 200
    assert code_of(staff.get(ME, REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR=f"{US}, {GB}")) == "geo_excluded"
    # The proxy's own private address is not the client: without a forwarded address it is decided as non-global.
    assert staff.get(ME, REMOTE_ADDR="10.0.0.2").status_code == 200


@pytest.mark.django_db
def test_a_missing_database_closes_staff_endpoints_when_required_and_leaves_public_open(geo_on, client, state_admin):
    staff = signed_in(state_admin)
    status = geo.database_status()
    assert (status.present, status.required, status.stale) == (False, True, False)
    assert "missing" in status.problem and "install_geoip" in status.problem
    closed = staff.get(ME, REMOTE_ADDR=US)
    assert (closed.status_code, code_of(closed)) == (403, "geo_unavailable")
    assert client.get("/api/v1/counties/", REMOTE_ADDR=GB).status_code == 200
    geo_on.GEO_RESTRICT_PUBLIC = True  # restricted public lookups fail open: voters before precision
    assert client.get("/api/v1/counties/", REMOTE_ADDR=GB).status_code == 200
    assert staff.get(ME, REMOTE_ADDR="127.0.0.1").status_code == 200  # the demo, the tests: non-global
    [event] = events(SecurityEvent.Kind.GEO_UNAVAILABLE)
    assert (event.reason, event.address, event.country) == ("geo_unavailable", US, "")
    geo_on.GEO_REQUIRED = False  # not required: open, but the status still says why
    assert staff.get(ME, REMOTE_ADDR=GB).status_code == 200
    assert geo.database_status().problem is not None and not geo.database_status().required


@pytest.mark.django_db
def test_stale_data_closes_staff_endpoints(geo_on, state_admin):
    with time_machine.travel(dt.datetime(2020, 1, 1, tzinfo=dt.UTC), tick=False):
        old = build_tarball()
    geo.install_from_tarball(old)
    status = geo.database_status()
    assert status.present and status.stale and status.data_date == dt.date(2020, 1, 1)
    assert status.age_days == (dt.datetime.now(dt.UTC).date() - dt.date(2020, 1, 1)).days
    assert "GEOIP_MAX_AGE_DAYS=365" in status.problem
    assert code_of(signed_in(state_admin).get(ME, REMOTE_ADDR=US)) == "geo_unavailable"
    geo_on.GEOIP_MAX_AGE_DAYS = 100_000
    assert signed_in(state_admin).get(ME, REMOTE_ADDR=US).status_code == 200


@pytest.mark.django_db
def test_an_unreadable_file_fails_closed(geodb, state_admin):
    (Path(geodb.GEOIP_DIR) / geo.FILES[6]).write_bytes(b"not a maxmind database")
    geo.reset()  # as a process notices within CHECK_INTERVAL_S
    status = geo.database_status()
    assert not status.present and "unreadable" in status.problem
    assert code_of(signed_in(state_admin).get(ME, REMOTE_ADDR=US)) == "geo_unavailable"


@pytest.mark.django_db
def test_a_refreshed_database_is_read_without_a_restart(geodb):
    assert geo.country_of(GB) == "GB"
    geo.install_from_tarball(build_tarball({**V4, "81.2.69.0/24": "US"}, version="9.9.10"))
    assert geo.country_of(GB) == "US"
    assert geo.database_status().version == "9.9.10"


# --- Installing -------------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_install_from_a_tarball_checks_its_integrity_and_changes_nothing_on_a_mismatch(geo_on, tarball, tmp_path):
    path = tmp_path / "pkg.tgz"
    path.write_bytes(tarball)
    with pytest.raises(CommandError, match="integrity mismatch"):
        call_command("install_geoip", from_tarball=str(path), integrity=geo.sri_sha512(b"other"))
    assert not geo.database_status().present
    with pytest.raises(CommandError, match="missing"):
        call_command("install_geoip", check=True, stdout=io.StringIO())
    out = io.StringIO()
    call_command("install_geoip", from_tarball=str(path), integrity=geo.sri_sha512(tarball), stdout=out)
    assert "present:      yes" in out.getvalue() and "CC BY 4.0" in out.getvalue()
    record = json.loads((Path(geo_on.GEOIP_DIR) / geo.METADATA).read_text())
    assert record["version"] == "9.9.9" and record["integrity"] == geo.sri_sha512(tarball)
    assert record["data_date"] == dt.datetime.now(dt.UTC).date().isoformat()
    call_command("install_geoip", check=True, stdout=io.StringIO())  # exits 0 now


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"not a tarball", "not a readable tarball"),
        ("no-ipv6", "holds no geo-whois-asn-country-ipv6.mmdb"),
        ("garbage-ipv4", "is not a MaxMind DB file"),
    ],
)
def test_a_broken_package_is_refused(geo_on, tarball, content, message):
    if isinstance(content, str):
        out = io.BytesIO()
        with tarfile.open(fileobj=io.BytesIO(tarball)) as src, tarfile.open(fileobj=out, mode="w:gz") as dst:
            for member in src.getmembers():
                data = src.extractfile(member).read()
                if content == "no-ipv6" and member.name.endswith("ipv6.mmdb"):
                    continue
                if content == "garbage-ipv4" and member.name.endswith("ipv4.mmdb"):
                    data = b"\x00" * 100
                    member.size = len(data)
                dst.addfile(member, io.BytesIO(data))
        content = out.getvalue()
    with pytest.raises(geo.InstallError, match=message):
        geo.install_from_tarball(content)
    assert not Path(geo_on.GEOIP_DIR).joinpath(geo.FILES[4]).exists()


@pytest.fixture
def registry(tarball):
    """A stand-in npm registry on 127.0.0.1 serving the package's metadata and tarball, as registry.npmjs.org does."""
    seen: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            seen.append(self.path)
            base = f"http://127.0.0.1:{self.server.server_port}"
            if self.path == "/@ip-location-db%2Fgeo-whois-asn-country-mmdb":
                body = json.dumps(
                    {
                        "name": geo.PACKAGE,
                        "dist-tags": {"latest": "9.9.9"},
                        "versions": {
                            "9.9.9": {"dist": {"tarball": f"{base}/pkg.tgz", "integrity": geo.sri_sha512(tarball)}}
                        },
                    }
                ).encode()
            elif self.path == "/pkg.tgz":
                body = tarball
            else:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", seen
    server.shutdown()
    server.server_close()


@pytest.mark.django_db
def test_install_fetches_the_latest_from_the_registry_once(geo_on, registry):
    url, seen = registry
    geo_on.NPM_REGISTRY_URL = url
    call_command("install_geoip", stdout=io.StringIO())
    assert seen == ["/@ip-location-db%2Fgeo-whois-asn-country-mmdb", "/pkg.tgz"]
    assert geo.country_of(GB) == "GB"
    out = io.StringIO()
    call_command("install_geoip", stdout=out)
    assert "already installed" in out.getvalue() and seen[-1] != "/pkg.tgz"
    call_command("install_geoip", if_needed=True, stdout=io.StringIO())
    assert len(seen) == 3  # present and fresh: not even the metadata


# --- The real database (make geoip) -------------------------------------------------------------------------------


@pytest.fixture
def real_geoip(geo_on):
    directory = Path(django_settings.VAR_DIR) / "geoip"
    if not (directory / geo.FILES[4]).exists():
        message = f"no real IP-to-country database in {directory}: run `make geoip`"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    geo_on.GEOIP_DIR = directory
    geo_on.GEOIP_MAX_AGE_DAYS = 100_000  # the lookups are under test here, not the data's age
    return geo_on


@pytest.mark.django_db
def test_real_data_places_well_known_addresses(real_geoip):
    status = geo.database_status()
    assert status.present and status.problem is None and status.version
    expected = {
        "8.8.8.8": "US",  # Google DNS
        "193.0.6.139": "NL",  # RIPE NCC
        "202.12.29.1": "AU",  # APNIC
        "200.160.2.3": "BR",  # NIC.br
        "2001:4860:4860::8888": "US",  # Google DNS, IPv6
        "2001:67c:2e8:22::c100:68b": "NL",  # RIPE NCC, IPv6
        "2001:dc0:2001:11::194": "AU",  # APNIC, IPv6
        "::ffff:8.8.8.8": "US",
        "192.168.1.1": None,  # the real data says AU
    }
    assert {ip: geo.country_of(ip) for ip in expected} == expected


@pytest.mark.django_db
def test_real_data_through_the_middleware(real_geoip, state_admin):
    staff = signed_in(state_admin)
    assert staff.get(ME, REMOTE_ADDR="8.8.8.8").status_code == 200
    assert staff.get(ME, REMOTE_ADDR="2001:4860:4860::8888").status_code == 200
    assert code_of(staff.get(ME, REMOTE_ADDR="193.0.6.139")) == "geo_excluded"
    assert code_of(staff.get(ME, REMOTE_ADDR="2001:dc0:2001:11::194")) == "geo_excluded"
    assert staff.get(ME, REMOTE_ADDR="192.168.1.1").status_code == 200  # non-global: allowed, never looked up

"""Geographic exclusion: which country a client address belongs to, and whether it may reach an endpoint.

Staff endpoints (the staff API, the admin site, tablets) answer only clients in the allowed countries (by default
the United States and its territories); the public lookups stay open, since overseas and military voters look up
their home precinct from abroad, unless ``GEO_RESTRICT_PUBLIC`` is set.

The country comes from an offline database: the ``@ip-location-db/geo-whois-asn-country-mmdb`` npm package (data
by the NRO, CC BY 4.0), one MaxMind DB file per address family, installed into ``GEOIP_DIR`` by
``manage.py install_geoip`` with a small JSON record beside it. The files are opened once per process and opened
again when they change on disk, so a refresh needs no restart.

A decision is taken in this order, first match wins (``decide``):

1. an allow-listed address or range (``GEO_ALLOWLIST``: trusted partners) is allowed;
2. a non-global address (loopback, private, link-local, documentation …) is decided by ``GEO_NON_GLOBAL``, never by
   the database: the data maps some private ranges to a country (192.168.0.0/16 to AU);
3. a missing or stale database closes staff endpoints when it is required (``GEO_REQUIRED``) and leaves them open
   otherwise; the public endpoints, even when restricted, stay open (voters before precision);
4. otherwise the address's country must be in ``GEO_ALLOWED_COUNTRIES``; an address the data does not place is
   refused.
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
import hashlib
import io
import ipaddress
import json
import os
import re
import tarfile
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import maxminddb
from django.conf import settings

#: The npm package the data comes from, and the files of it this service reads (one per address family).
PACKAGE = "@ip-location-db/geo-whois-asn-country-mmdb"
FILES: dict[int, str] = {4: "geo-whois-asn-country-ipv4.mmdb", 6: "geo-whois-asn-country-ipv6.mmdb"}
#: What was installed, beside the files: package version, data date, integrity, when.
METADATA = "geoip.json"
LICENSE_FILE = "NRO_LICENSE"
ATTRIBUTION = "IP-to-country data: ip-location-db (geo-whois-asn-country), from NRO data, CC BY 4.0 (nro.net)."
#: The largest file accepted from the tarball (the real ones are 3 to 5 MB).
MAX_FILE_BYTES = 64 * 1024 * 1024

EXCLUDED = "geo_excluded"
UNAVAILABLE = "geo_unavailable"

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
StatKey = tuple[int, int, int]


@dataclass(frozen=True)
class Decision:
    """Whether a client may go on; ``code`` is the refusal code (empty when allowed), ``reason`` says which rule."""

    allowed: bool
    code: str
    country: str | None
    reason: str


@dataclass(frozen=True)
class GeoStatus:
    """The database as the daily report and /readyz see it. ``problem`` is None when the database is usable;
    ``required`` tells whether a problem closes the staff endpoints (exclusion on and ``GEO_REQUIRED``)."""

    present: bool
    path: str
    data_date: dt.date | None
    installed_at: dt.datetime | None
    age_days: int | None
    stale: bool
    required: bool
    problem: str | None
    version: str | None = None


# --- Reading the files ------------------------------------------------------------------------------------------

_lock = threading.Lock()
#: path -> (stat key, reader or None, error). A changed file (new inode, mtime or size) is opened again; a file that
#: would not open is not retried until it changes.
_readers: dict[str, tuple[StatKey, maxminddb.Reader | None, str | None]] = {}
#: The files are looked at (``stat``) at most this often per process: a refresh is read within a second, and a
#: staff request costs no system call.
CHECK_INTERVAL_S = 1.0
#: directory -> (monotonic time of the look, stat keys of the IPv4 file, the IPv6 file and the record)
_looked: dict[str, tuple[float, tuple[StatKey | None, StatKey | None, StatKey | None]]] = {}


def _stat_key(path: str) -> StatKey | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_ino, st.st_mtime_ns, st.st_size)


def _keys(directory: str) -> tuple[StatKey | None, StatKey | None, StatKey | None]:
    """The files' stat keys, looked at again when the last look is older than ``CHECK_INTERVAL_S``."""
    now = time.monotonic()
    looked = _looked.get(directory)
    if looked is not None and now - looked[0] < CHECK_INTERVAL_S:
        return looked[1]
    v4, v6, record = _paths(directory)
    keys = (_stat_key(v4), _stat_key(v6), _stat_key(record))
    _looked[directory] = (now, keys)
    return keys


def reset() -> None:
    """Forget what was looked at, so that the next call reads the files' state afresh (after an install; tests)."""
    _looked.clear()


def _reader(path: str, key: StatKey | None) -> tuple[maxminddb.Reader | None, str | None]:
    """The open reader of ``path`` in the state ``key`` (None and why when it is missing or unreadable), opened again
    when the file changed. An old reader is left to the garbage collector: another thread may be in the middle of a
    lookup with it."""
    if key is None:
        return None, "missing"
    cached = _readers.get(path)
    if cached is not None and cached[0] == key:
        return cached[1], cached[2]
    with _lock:
        cached = _readers.get(path)
        if cached is not None and cached[0] == key:
            return cached[1], cached[2]
        try:
            reader: maxminddb.Reader | None = maxminddb.open_database(path)
            error = None
        except (OSError, ValueError, RuntimeError) as exc:  # InvalidDatabaseError is a RuntimeError
            reader, error = None, f"unreadable: {exc}"
        _readers[path] = (key, reader, error)
        return reader, error


def _directory() -> str:
    return os.fspath(settings.GEOIP_DIR)


@functools.lru_cache(maxsize=8)
def _paths(directory: str) -> tuple[str, str, str]:
    """The IPv4 file, the IPv6 file and the record of a directory (strings: pathlib costs more than the lookup)."""
    return os.path.join(directory, FILES[4]), os.path.join(directory, FILES[6]), os.path.join(directory, METADATA)


#: NAT64's well-known prefix (RFC 6052): the last 32 bits are the IPv4 host behind the translator.
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


def parse_address(ip: str | None) -> IPAddress | None:
    """An address as given by ``common.net.client_ip``, judged as the host it stands for: an IPv4-mapped, Teredo
    (2001::/32), 6to4 (2002::/16) or NAT64 (64:ff9b::/96) IPv6 address is the IPv4 address it carries. (Python calls
    Teredo addresses not global, so without this a client anywhere could tunnel past the country check as a
    "non-global" address.)"""
    if not ip:
        return None
    try:
        address = ipaddress.ip_address(ip.strip())
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return address.ipv4_mapped
        if address.teredo is not None:
            return address.teredo[1]  # (server, client): the client's own public IPv4 address
        if address.sixtofour is not None:
            return address.sixtofour
        if address in _NAT64:
            return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return address


def country_of(ip: str | IPAddress | None) -> str | None:
    """The ISO 3166-1 alpha-2 code the database gives an address, or None (no database, not in it, not an address).
    Non-global addresses are never looked up: the data places some private ranges in a country."""
    address = ip if isinstance(ip, ipaddress.IPv4Address | ipaddress.IPv6Address) else parse_address(ip)
    if address is None or not address.is_global:
        return None
    directory = _directory()
    index = 0 if address.version == 4 else 1
    reader, _ = _reader(_paths(directory)[index], _keys(directory)[index])
    if reader is None:
        return None
    try:
        record = reader.get(address)
    except ValueError:
        return None
    code = record.get("country_code") if isinstance(record, dict) else None
    return code.upper() if isinstance(code, str) and code else None


# --- Status of the database -------------------------------------------------------------------------------------


def _read_metadata(directory: str) -> dict[str, Any]:
    try:
        data = json.loads(Path(_paths(directory)[2]).read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _parse_datetime(value: Any) -> dt.datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return dt.datetime.fromisoformat(value)
    except ValueError:
        return None


def _required() -> bool:
    return bool(settings.GEO_EXCLUSION and settings.GEO_REQUIRED)


@functools.lru_cache(maxsize=8)
def _status_for(
    directory: str,
    keys: tuple[StatKey | None, StatKey | None, StatKey | None],
    today: dt.date,
    max_age_days: int,
    required: bool,
) -> GeoStatus:
    """The status for one state of the files (``keys`` are their stat keys) and one day, cached: a staff request
    reads no JSON and opens no file."""
    metadata = _read_metadata(directory)
    installed_at = _parse_datetime(metadata.get("installed_at"))
    version = metadata.get("version") if isinstance(metadata.get("version"), str) else None
    problems: list[str] = []
    epochs: list[int] = []
    for family, name in FILES.items():
        index = 0 if family == 4 else 1
        reader, error = _reader(_paths(directory)[index], keys[index])
        if reader is None:
            problems.append(f"{name} {error}")
            continue
        meta = reader.metadata()
        if meta.ip_version != family:
            problems.append(f"{name} holds IPv{meta.ip_version} data, not IPv{family}")
        epochs.append(int(meta.build_epoch))
    present = not problems
    data_date = dt.datetime.fromtimestamp(min(epochs), dt.UTC).date() if present and epochs else None
    age_days = (today - data_date).days if data_date is not None else None
    stale = age_days is not None and (age_days > max_age_days or age_days < -1)
    problem: str | None = None
    if not present:
        problem = f"IP-to-country database missing or unreadable in {directory}: {'; '.join(problems)}"
        problem += " (run manage.py install_geoip)"
    elif stale:
        problem = (
            f"IP-to-country data of {data_date} is {age_days} days old, past GEOIP_MAX_AGE_DAYS={max_age_days}"
            " (run manage.py install_geoip)"
        )
    return GeoStatus(
        present=present,
        path=str(directory),
        data_date=data_date,
        installed_at=installed_at,
        age_days=age_days,
        stale=stale,
        required=required,
        problem=problem,
        version=version,
    )


def database_status() -> GeoStatus:
    """The database's state now: present, its data's date and age, stale past ``GEOIP_MAX_AGE_DAYS`` (the age counts
    from the data's build date, not from the install: installing old data again does not make it fresh)."""
    directory = _directory()
    keys = _keys(directory)
    today = dt.datetime.now(dt.UTC).date()
    return _status_for(directory, keys, today, int(settings.GEOIP_MAX_AGE_DAYS), _required())


# --- Which endpoints are public ---------------------------------------------------------------------------------

#: The public API (polling.api.urls): lookups of precincts, polling places and zones, and the credential signing
#: keys (accounts.api.credential_urls ``keys/``, AllowAny: an offline verifier's public keys). Check-ins, rosters,
#: paper, sync, anomalies, incidents and every other credentials path are staff.
_PUBLIC_API = re.compile(
    r"/api/v1/(?:lookup|compliance|counties|precincts(?:/[0-9]+)?"
    r"|polling-places(?:/[0-9]+(?:/zones)?)?|zones|credentials/keys)/?"
)
#: Pages and documents anyone may read, whatever the method (a POST there gets its own 405).
_PUBLIC_PATHS = frozenset({"/", "/map/", "/map", "/api/docs/", "/api/v1/schema/", "/healthz", "/readyz"})
_READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def is_public(method: str, path: str) -> bool:
    """Whether a request is to a public endpoint: the public API read with GET/HEAD/OPTIONS, the map, the API docs
    and schema, static files and the health probes. Everything else is staff, unknown paths included (fail closed):
    a new endpoint is staff until it is named here (tests/guard/test_geo.py lists the public ones)."""
    if path in _PUBLIC_PATHS:
        return True
    static = "/" + str(settings.STATIC_URL).lstrip("/")
    if path.startswith(static) and ".." not in path:
        return True
    return method in _READ_METHODS and _PUBLIC_API.fullmatch(path) is not None


# --- Decisions --------------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=8)
def _allowlist(entries: tuple[str, ...]) -> tuple[tuple[IPNetwork, ...], tuple[IPNetwork, ...]]:
    """The allow-list as (IPv4 networks, IPv6 networks); a single address is its /32 or /128. An entry that is not an
    address or a range raises ValueError (settings.py refuses one at start-up)."""
    v4: list[IPNetwork] = []
    v6: list[IPNetwork] = []
    for entry in entries:
        network: IPNetwork = ipaddress.ip_network(entry.strip(), strict=False)
        mapped = network.network_address.ipv4_mapped if isinstance(network, ipaddress.IPv6Network) else None
        if mapped is not None and network.prefixlen >= 96:  # ::ffff:a.b.c.d/n: addresses are compared as IPv4
            network = ipaddress.ip_network(f"{mapped}/{network.prefixlen - 96}", strict=False)
        (v4 if network.version == 4 else v6).append(network)
    return tuple(v4), tuple(v6)


def allow_listed(address: IPAddress) -> bool:
    v4, v6 = _allowlist(tuple(settings.GEO_ALLOWLIST))
    return any(address in network for network in (v4 if address.version == 4 else v6))


def _allowed(reason: str, country: str | None = None) -> Decision:
    return Decision(allowed=True, code="", country=country, reason=reason)


def _refused(code: str, reason: str, country: str | None = None) -> Decision:
    return Decision(allowed=False, code=code, country=country, reason=reason)


def decide(ip: str | None, *, staff: bool) -> Decision:
    """May a client at ``ip`` (as ``common.net.client_ip`` gives it) reach a staff (or a public) endpoint? The rules
    and their order are in the module's docstring; this is the only place they are applied."""
    if not settings.GEO_EXCLUSION:
        return _allowed("geographic exclusion is off")
    if not staff and not settings.GEO_RESTRICT_PUBLIC:
        return _allowed("public endpoint")
    address = parse_address(ip)
    if address is None:
        return _refused(EXCLUDED, "no client address to place")
    if allow_listed(address):
        return _allowed("allow-listed")
    if not address.is_global:
        if settings.GEO_NON_GLOBAL == "allow":
            return _allowed("non-global address")
        return _refused(EXCLUDED, "non-global address (GEO_NON_GLOBAL=deny)")
    status = database_status()
    if status.problem is not None:
        if staff and status.required:
            return _refused(UNAVAILABLE, status.problem)
        return _allowed(f"database unavailable, not required here: {status.problem}")
    country = country_of(address)
    if country is not None and country in settings.GEO_ALLOWED_COUNTRIES:
        return _allowed("allowed country", country)
    return _refused(EXCLUDED, "country not allowed" if country else "address not placed in any country", country)


# --- Installing -------------------------------------------------------------------------------------------------


class InstallError(Exception):
    """The package could not be installed; nothing already installed was changed."""


def sri_sha512(data: bytes) -> str:
    """The Subresource Integrity string npm publishes as ``dist.integrity``."""
    return "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode("ascii")


def verify_integrity(data: bytes, integrity: str) -> None:
    """Raise InstallError unless ``data`` matches one sha512 entry of an SRI string (other algorithms are ignored;
    an SRI string without sha512 is refused)."""
    wanted = [part for part in integrity.split() if part.startswith("sha512-")]
    if not wanted:
        raise InstallError(f"no sha512 in the integrity string {integrity!r}")
    actual = sri_sha512(data)
    if actual not in {part.split("?", 1)[0] for part in wanted}:
        raise InstallError(f"integrity mismatch: the tarball is {actual}, the registry says {integrity}")


def _member(archive: tarfile.TarFile, name: str, *, required: bool = True) -> bytes | None:
    """One file of the package (npm tarballs put everything under ``package/``), read into memory, never written
    where its own name says."""
    for candidate in (f"package/{name}", name):
        try:
            info = archive.getmember(candidate)
        except KeyError:
            continue
        if not info.isfile() or info.size > MAX_FILE_BYTES:
            raise InstallError(f"{candidate} in the tarball is not a regular file of at most {MAX_FILE_BYTES} bytes")
        handle = archive.extractfile(info)
        if handle is None:
            break
        return handle.read()
    if required:
        raise InstallError(f"the tarball holds no {name}")
    return None


def _write_atomically(directory: Path, name: str, data: bytes) -> None:
    """Write beside the target and rename over it: a reader sees the old file or the new one, never half of one."""
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, directory / name)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _checked_database(data: bytes, family: int, name: str) -> int:
    """Open the file's bytes as a MaxMind DB and check it is a country database of the right family; its build
    time (seconds since the epoch)."""
    try:
        reader = maxminddb.open_database(io.BytesIO(data), maxminddb.MODE_FD)
    except (OSError, ValueError, RuntimeError) as exc:
        raise InstallError(f"{name} is not a MaxMind DB file: {exc}") from None
    try:
        meta = reader.metadata()
        if meta.ip_version != family:
            raise InstallError(f"{name} holds IPv{meta.ip_version} data, not IPv{family}")
        if meta.node_count < 1:
            raise InstallError(f"{name} is empty")
        return int(meta.build_epoch)
    finally:
        reader.close()


def install_from_tarball(tarball: bytes | IO[bytes], *, integrity: str | None = None, source: str = "") -> GeoStatus:
    """Install the package's IPv4 and IPv6 files from its npm tarball into ``GEOIP_DIR`` and
    record what was installed. With ``integrity`` (the registry's ``dist.integrity``) the tarball must match it.
    Every file is checked before any is replaced; each is replaced atomically, the record last."""
    data = tarball if isinstance(tarball, bytes) else tarball.read()
    if integrity:
        verify_integrity(data, integrity)
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as archive:
            files = {family: _member(archive, name) for family, name in FILES.items()}
            package_json = _member(archive, "package.json", required=False)
            license_text = _member(archive, LICENSE_FILE, required=False)
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise InstallError(f"not a readable tarball: {exc}") from None
    epochs = [_checked_database(files[family] or b"", family, FILES[family]) for family in FILES]
    try:
        package = json.loads(package_json or b"{}")
    except ValueError:
        package = {}
    target = Path(_directory())
    target.mkdir(parents=True, exist_ok=True)
    for family, name in FILES.items():
        _write_atomically(target, name, files[family] or b"")
    if license_text:
        _write_atomically(target, LICENSE_FILE, license_text)
    record = {
        "package": package.get("name", PACKAGE) if isinstance(package, dict) else PACKAGE,
        "version": package.get("version") if isinstance(package, dict) else None,
        "data_date": dt.datetime.fromtimestamp(min(epochs), dt.UTC).date().isoformat(),
        "integrity": sri_sha512(data),
        "files": {FILES[f]: sri_sha512(files[f] or b"") for f in FILES},
        "source": source,
        "installed_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "attribution": ATTRIBUTION,
    }
    _write_atomically(target, METADATA, (json.dumps(record, indent=2) + "\n").encode())
    reset()
    return database_status()


def installed_record() -> dict[str, Any]:
    """The JSON record of the installed package ({} when there is none)."""
    return _read_metadata(_directory())

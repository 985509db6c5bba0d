"""``manage.py install_geoip``: install or refresh the IP-to-country database that geographic exclusion reads.

Fetches ``@ip-location-db/geo-whois-asn-country-mmdb`` from the npm registry (``NPM_REGISTRY_URL``, or a mirror):
the package's metadata names the latest tarball and its ``dist.integrity`` (sha512), the tarball must match it, and
its IPv4 and IPv6 country files are checked and then put in ``GEOIP_DIR`` atomically, with a record of the package
version, the data's date and the integrity. Run it daily (cron, systemd timer): it downloads nothing when the
installed version is already the latest.

``--from-tarball PATH`` installs a tarball brought in by hand (``npm pack`` elsewhere), checked against
``--integrity`` when given; ``--check`` only reports, and exits 1 when the database is missing or stale;
``--if-needed`` installs only when it is missing or stale (for ``make geoip``).

Data: ip-location-db (geo-whois-asn-country), from NRO data under CC BY 4.0 (https://www.nro.net/).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from guard import geo

#: The largest registry answer (metadata, tarball) read; the tarball is about 8 MB.
MAX_DOWNLOAD_BYTES = 128 * 1024 * 1024
ACCEPT_METADATA = "application/vnd.npm.install-v1+json; q=1.0, application/json; q=0.8"


def _fetch(url: str, *, accept: str, timeout: float) -> bytes:
    """GET an http(s) URL whole, up to ``MAX_DOWNLOAD_BYTES``; an error of any kind is a CommandError."""
    if urllib.parse.urlsplit(url).scheme not in ("https", "http"):
        raise CommandError(f"refusing to fetch {url!r}: not an http(s) URL")
    request = urllib.request.Request(url, headers={"Accept": accept, "User-Agent": "pollguard-install-geoip"})  # noqa: S310  # nosec B310
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310  # nosec B310
            data: bytes = response.read(MAX_DOWNLOAD_BYTES + 1)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise CommandError(f"could not fetch {url}: {exc}") from None
    if len(data) > MAX_DOWNLOAD_BYTES:
        raise CommandError(f"{url} is larger than {MAX_DOWNLOAD_BYTES} bytes")
    return data


def latest_release(registry: str, *, timeout: float) -> tuple[str, str, str]:
    """(version, tarball URL, integrity) of the package's ``latest`` tag, from the registry's metadata."""
    name = urllib.parse.quote(geo.PACKAGE, safe="@")  # @scope%2Fname, as the npm client asks for it
    url = f"{registry.rstrip('/')}/{name}"
    try:
        document = json.loads(_fetch(url, accept=ACCEPT_METADATA, timeout=timeout))
        version = document["dist-tags"]["latest"]
        dist = document["versions"][version]["dist"]
        tarball, integrity = dist["tarball"], dist["integrity"]
    except (ValueError, KeyError, TypeError) as exc:
        raise CommandError(
            f"the registry's metadata at {url} names no latest tarball with an integrity: {exc}"
        ) from None
    if not all(isinstance(v, str) and v for v in (version, tarball, integrity)):
        raise CommandError(f"the registry's metadata at {url} is malformed")
    return version, tarball, integrity


class Command(BaseCommand):
    help = "Install or refresh the IP-to-country database (npm: @ip-location-db/geo-whois-asn-country-mmdb)."
    # A file install: it needs no database and must work while the rest of the configuration is being fixed.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--from-tarball", metavar="PATH", help="install this package tarball (no network)")
        parser.add_argument("--integrity", metavar="SRI", help="the sha512 SRI string the tarball must match")
        parser.add_argument("--check", action="store_true", help="report only; exit 1 when missing or stale")
        parser.add_argument("--if-needed", action="store_true", help="install only when missing or stale")
        parser.add_argument("--force", action="store_true", help="install even when the latest is installed")
        parser.add_argument("--timeout", type=float, default=60.0, help="seconds per registry request")

    def handle(self, *args: Any, **options: Any) -> None:
        status = geo.database_status()
        if options["check"]:
            self._report(status)
            if status.problem:
                raise CommandError(status.problem)
            return
        if options["if_needed"] and status.problem is None:
            self._report(status)
            return
        if options["from_tarball"]:
            path = Path(options["from_tarball"])
            try:
                data = path.read_bytes()
            except OSError as exc:
                raise CommandError(f"cannot read {path}: {exc.strerror}") from None
            status = self._install(data, integrity=options["integrity"], source=f"file:{path.name}")
        else:
            registry = settings.NPM_REGISTRY_URL
            version, tarball, integrity = latest_release(registry, timeout=options["timeout"])
            installed = geo.installed_record()
            if installed.get("version") == version and status.present and not options["force"]:
                self.stdout.write(f"{geo.PACKAGE}@{version} is already installed.")
                self._report(status)
                return
            self.stdout.write(f"Fetching {geo.PACKAGE}@{version} from {registry} …")
            data = _fetch(tarball, accept="application/octet-stream", timeout=options["timeout"])
            status = self._install(data, integrity=integrity, source=tarball)
        self.stdout.write(self.style.SUCCESS(f"Installed in {status.path}."))
        self._report(status)

    def _install(self, data: bytes, *, integrity: str | None, source: str) -> geo.GeoStatus:
        try:
            return geo.install_from_tarball(data, integrity=integrity, source=source)
        except geo.InstallError as exc:
            raise CommandError(f"not installed: {exc}") from None

    def _report(self, status: geo.GeoStatus) -> None:
        write = self.stdout.write
        write(f"  directory:    {status.path}")
        write(f"  present:      {'yes' if status.present else 'no'}")
        write(f"  version:      {status.version or '-'}")
        age = "-" if status.age_days is None else status.age_days
        write(f"  data date:    {status.data_date or '-'} ({age} days old)")
        write(f"  installed at: {status.installed_at or '-'}")
        write(f"  stale:        {'yes' if status.stale else 'no'} (limit {settings.GEOIP_MAX_AGE_DAYS} days)")
        write(f"  required:     {'yes' if status.required else 'no'}")
        if status.problem:
            write(self.style.WARNING(f"  problem:      {status.problem}"))
        write(f"  {geo.ATTRIBUTION}")

"""PostgreSQL over TLS with certificate verification (``sslmode=verify-full``), end to end through the real settings.

Each run starts its own PostgreSQL cluster (Debian's binaries) with TLS on, a server certificate from a throwaway CA
for the name ``pollguard-db.test``, and a pg_hba.conf that refuses every connection without TLS. The settings get a
DATABASE_URL exactly as docs/configuration.md documents it (``?sslmode=verify-full&sslrootcert=…``; ``hostaddr``
only because the test's host name is not in DNS) and must: connect with TLS under the right CA; refuse a server whose
certificate another CA signed; refuse a certificate for another host name; never fall back to plain text.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.ops.tls_ca import issue_server_cert, make_ca, run_with_settings

ROOT = Path(__file__).resolve().parents[2]
PG_BIN = Path(os.environ.get("PG_BIN", "/usr/lib/postgresql/15/bin"))
DB_HOST = "pollguard-db.test"  # the name in the server certificate; it resolves nowhere, hostaddr says where to go

pytestmark = [
    pytest.mark.heavy,
    pytest.mark.skipif(
        not (PG_BIN / "initdb").exists(),
        reason=f"PostgreSQL server binaries not found in {PG_BIN} (Debian: apt-get install postgresql; or set PG_BIN)",
    ),
]


def _as_postgres(args: list[str]) -> list[str]:
    """initdb and postgres refuse to run as root: run them as the postgres user there."""
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *args]
    return args


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def tls_cluster() -> Iterator[dict[str, object]]:
    """A running PostgreSQL with ssl=on on its own port, TLS-only for TCP; yields paths and the port."""
    base = Path(tempfile.mkdtemp(prefix="pollguard-pgtls-"))
    data = base / "data"
    if os.geteuid() == 0:
        shutil.chown(base, "postgres", "postgres")
    subprocess.run(  # noqa: S603 - fixed argv
        _as_postgres([str(PG_BIN / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres", "--no-sync"]),
        check=True,
        capture_output=True,
    )
    ca = make_ca()
    issue_server_cert(ca, dns_names=[DB_HOST], cert_path=data / "server.crt", key_path=data / "server.key")
    ca.write_cert(base / "ca.crt")
    make_ca("some other CA").write_cert(base / "other-ca.crt")
    port = _free_port()
    with (data / "postgresql.conf").open("a") as conf:
        conf.write(
            f"\nport = {port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{base}'\n"
            "ssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\n"
            "ssl_min_protocol_version = 'TLSv1.2'\nfsync = off\n"
        )
    (data / "pg_hba.conf").write_text(
        "local all all trust\nhostssl all all 127.0.0.1/32 trust\nhostnossl all all 0.0.0.0/0 reject\n"
    )
    if os.geteuid() == 0:
        for path in [*data.rglob("*"), data]:
            shutil.chown(path, "postgres", "postgres")
        for name in ("ca.crt", "other-ca.crt"):
            (base / name).chmod(0o644)
    pg_ctl = _as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(data), "-l", str(base / "server.log"), "-w"])
    started = subprocess.run([*pg_ctl, "start"], capture_output=True, text=True, check=False)  # noqa: S603
    if started.returncode != 0:
        log = (base / "server.log").read_text() if (base / "server.log").exists() else ""
        shutil.rmtree(base, ignore_errors=True)
        pytest.fail(f"PostgreSQL with TLS did not start: {started.stderr}\n{log}")
    try:
        yield {"port": port, "ca": base / "ca.crt", "other_ca": base / "other-ca.crt"}
    finally:
        subprocess.run([*pg_ctl, "-m", "immediate", "stop"], capture_output=True, check=False)  # noqa: S603
        shutil.rmtree(base, ignore_errors=True)


def connect_through_settings(database_url: str) -> dict[str, object]:
    """Load config.settings in a fresh process with this DATABASE_URL and ask the server whether the connection is
    encrypted; returns {"ssl": …, "version": …} or {"error": "<exception text>"}."""
    code = (
        "import django, json; django.setup()\n"
        "from django.db import connection\n"
        "try:\n"
        "    with connection.cursor() as c:\n"
        "        c.execute('SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()')\n"
        "        ssl, version = c.fetchone()\n"
        "    print(json.dumps({'ssl': ssl, 'version': version}))\n"
        "except Exception as exc:\n"
        "    print(json.dumps({'error': f'{type(exc).__name__}: {exc}'}))\n"
    )
    return run_with_settings(
        code,
        {
            "SECRET_KEY": "db-tls-test-0123456789abcdefghijklmnopqrstuvwxyz",
            "ALLOWED_HOSTS": "localhost",
            "DATABASE_URL": database_url,
        },
    )


def url(cluster: dict[str, object], *, host: str = DB_HOST, ca: object = None, sslmode: str = "verify-full") -> str:
    root = ca if ca is not None else cluster["ca"]
    return (
        f"postgres://postgres@{host}:{cluster['port']}/postgres"
        f"?sslmode={sslmode}&sslrootcert={root}&hostaddr=127.0.0.1&connect_timeout=10"
    )


def test_verify_full_with_our_ca_connects_encrypted(tls_cluster):
    answer = connect_through_settings(url(tls_cluster))
    assert answer.get("ssl") is True, answer
    assert answer["version"] in {"TLSv1.2", "TLSv1.3"}


def test_a_server_certificate_from_another_ca_is_refused(tls_cluster):
    answer = connect_through_settings(url(tls_cluster, ca=tls_cluster["other_ca"]))
    assert "certificate verify failed" in str(answer.get("error")), answer


def test_a_certificate_for_another_host_name_is_refused_under_verify_full(tls_cluster):
    answer = connect_through_settings(url(tls_cluster, host="localhost"))
    assert 'does not match host name "localhost"' in str(answer.get("error")), answer


def test_the_same_wrong_host_name_passes_verify_ca_so_verify_full_is_what_checks_it(tls_cluster):
    """Why the documentation asks for verify-full, not verify-ca (which checks the CA but not the name)."""
    answer = connect_through_settings(url(tls_cluster, host="localhost", sslmode="verify-ca"))
    assert answer.get("ssl") is True, answer


def test_the_server_refuses_a_connection_without_tls(tls_cluster):
    answer = connect_through_settings(url(tls_cluster, sslmode="disable"))
    assert "no encryption" in str(answer.get("error")), answer

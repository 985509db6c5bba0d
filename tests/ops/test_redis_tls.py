"""Redis over TLS (``rediss://``) as docs/configuration.md documents it, end to end through the real settings' cache.

Each run starts its own TLS-only redis-server (Debian's binary; password required, no plain-text port) with a server
certificate from a throwaway CA for ``localhost``. The cache must work under the right CA and refuse a server signed
by another CA, or one reached under a name its certificate does not hold.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.ops.tls_ca import issue_server_cert, make_ca, run_with_settings

ROOT = Path(__file__).resolve().parents[2]
REDIS_SERVER = shutil.which("redis-server")
PASSWORD = "tls-test-password-0123456789"

pytestmark = [
    pytest.mark.heavy,
    pytest.mark.skipif(REDIS_SERVER is None, reason="redis-server not found (Debian: apt-get install redis-server)"),
]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def tls_redis(tmp_path_factory) -> Iterator[dict[str, object]]:
    folder = tmp_path_factory.mktemp("redis-tls")
    ca = make_ca()
    issue_server_cert(ca, dns_names=["localhost"], cert_path=folder / "server.crt", key_path=folder / "server.key")
    ca.write_cert(folder / "ca.crt")
    make_ca("some other CA").write_cert(folder / "other-ca.crt")
    port = _free_port()
    server = subprocess.Popen(  # noqa: S603 - fixed argv
        [
            str(REDIS_SERVER),
            "--port", "0", "--tls-port", str(port), "--bind", "127.0.0.1",
            "--tls-cert-file", str(folder / "server.crt"), "--tls-key-file", str(folder / "server.key"),
            "--tls-ca-cert-file", str(folder / "ca.crt"), "--tls-auth-clients", "no",
            "--requirepass", PASSWORD, "--save", "", "--appendonly", "no", "--dir", str(folder),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )  # fmt: skip
    try:
        for _ in range(100):
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    break
            if server.poll() is not None:
                pytest.fail(f"redis-server with TLS did not start: {server.stdout.read() if server.stdout else ''}")
            time.sleep(0.05)
        yield {"port": port, "ca": folder / "ca.crt", "other_ca": folder / "other-ca.crt"}
    finally:
        server.terminate()
        server.wait(timeout=10)


def cache_through_settings(redis_url: str) -> dict[str, object]:
    """Load config.settings in a fresh process with this REDIS_URL, write and read one cache key."""
    code = (
        "import django, json; django.setup()\n"
        "from django.core.cache import cache\n"
        "try:\n"
        "    cache.set('tls-probe', 'ok', 30)\n"
        "    client = cache._cache.get_client('tls-probe')\n"
        "    kind = client.connection_pool.connection_class.__name__\n"
        "    print(json.dumps({'value': cache.get('tls-probe'), 'connection': kind}))\n"
        "except Exception as exc:\n"
        "    print(json.dumps({'error': f'{type(exc).__name__}: {exc}'}))\n"
    )
    return run_with_settings(code, {"DEBUG": "1", "REDIS_URL": redis_url})


def url(server: dict[str, object], *, host: str = "localhost", ca: object = None) -> str:
    return (
        f"rediss://:{PASSWORD}@{host}:{server['port']}/0?ssl_cert_reqs=required&ssl_check_hostname=true"
        f"&ssl_ca_certs={ca if ca is not None else server['ca']}&socket_connect_timeout=5"
    )


def test_the_cache_works_over_verified_tls(tls_redis):
    answer = cache_through_settings(url(tls_redis))
    assert answer == {"value": "ok", "connection": "SSLConnection"}, answer


def test_a_server_certificate_from_another_ca_is_refused(tls_redis):
    answer = cache_through_settings(url(tls_redis, ca=tls_redis["other_ca"]))
    assert "certificate verify failed" in str(answer.get("error")), answer


def test_a_certificate_for_another_host_name_is_refused(tls_redis):
    answer = cache_through_settings(url(tls_redis, host="127.0.0.1"))
    assert "certificate verify failed" in str(answer.get("error")) and "127.0.0.1" in str(answer["error"]), answer

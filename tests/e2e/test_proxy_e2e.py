"""The production stack end to end: Debian's nginx, configured from deploy/nginx/pollguard.conf.template (rendered by
deploy/nginx/render.py) with a throwaway certificate, in front of gunicorn started with config/gunicorn.py, the real
settings module (TRUSTED_PROXY_COUNT=1 BEHIND_TLS_PROXY=1 HTTPS_ONLY=1) and a database of its own (SQLite in a
temporary directory, migrated by ``manage.py migrate``), Redis for the throttle counters.

Checks what only the assembled stack can show: HTTPS works and HTTP redirects to it, HSTS is sent once, the client
address that throttling and the sign-in lockout count is the real one (a forged X-Forwarded-For earns nothing), a
too-large body is refused by the proxy before the application sees it, static files are served by nginx.

Without /usr/sbin/nginx these tests skip, except under CI (the CI environment variable set), where they fail:
.ci/run installs the package.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import ipaddress
import json
import os
import secrets
import shutil
import socket
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

pytestmark = pytest.mark.heavy

ROOT = Path(__file__).resolve().parents[2]
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
HOST = "localhost"
REDIS_URL = "redis://127.0.0.1:6379/11"  # this test's own Redis database, emptied when it starts
RATE = 5  # public requests per minute per client address
LOCKOUT = 3  # failed sign-ins per address


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _certificate(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, HOST)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName(HOST), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    key_path.chmod(0o600)
    return cert_path, key_path


def _render_site(**values: object) -> str:
    spec = importlib.util.spec_from_file_location("pollguard_nginx_render", ROOT / "deploy" / "nginx" / "render.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return str(module.render(**values))


def _wait_for(url: str, process: subprocess.Popen[bytes], log: Path, **kwargs: object) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"{process.args[0]} exited: {log.read_text(errors='replace')[-3000:]}")
        try:
            if requests.get(url, timeout=2, **kwargs).status_code == 200:  # type: ignore[arg-type]
                return
        except requests.RequestException:
            pass
        time.sleep(0.3)
    pytest.fail(f"{url} did not answer within 60 s: {log.read_text(errors='replace')[-3000:]}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@dataclass
class Stack:
    https: str
    http: str
    cert: Path
    database: Path
    static_root: Path
    gunicorn_log: Path
    client_address: str

    def app_lines(self) -> list[dict[str, object]]:
        """gunicorn's access log so far: one JSON object per request that reached the application."""
        lines = []
        for line in self.gunicorn_log.read_text(errors="replace").splitlines():
            if line.startswith("{"):
                lines.append(json.loads(line))
        return lines

    def app_lines_after(self, before: int, count: int, seconds: float = 10.0) -> list[dict[str, object]]:
        """The access-log lines after the first ``before``, once ``count`` of them are written (gunicorn writes a
        line after the answer is sent, so the client may read the answer first)."""
        deadline = time.monotonic() + seconds
        while len(lines := self.app_lines()[before:]) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        return lines


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    if not os.access(NGINX, os.X_OK):
        reason = "nginx is missing: install Debian's nginx package (apt-get install nginx) for the proxy test"
        if os.environ.get("CI"):
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)
    import redis

    redis.Redis.from_url(REDIS_URL).flushdb()

    tmp = tmp_path_factory.mktemp("proxy")
    var = tmp / "var"
    var.mkdir()
    cert, key = _certificate(tmp)
    app_port, https_port, http_port = _free_port(), _free_port(), _free_port()
    database = tmp / "db.sqlite3"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_", "PYTEST", "REDIS_"))},
        "ENV_FILE": "",  # the environment only, as in production
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": HOST,
        "CSRF_TRUSTED_ORIGINS": f"https://{HOST}:{https_port}",
        "HTTPS_ONLY": "1",
        "BEHIND_TLS_PROXY": "1",
        "TRUSTED_PROXY_COUNT": "1",
        "SECURE_SSL_REDIRECT": "1",
        "DATABASE_URL": f"sqlite:///{database}",
        "VAR_DIR": str(var),
        "REDIS_URL": REDIS_URL,
        "PUBLIC_RATE_LIMIT": f"{RATE}/minute",
        "STAFF_RATE_LIMIT": "1000/minute",
        "AUTH_LOCKOUT_PER_ADDRESS": str(LOCKOUT),
        "GEO_REQUIRED": "0",  # no IP-country database in this throwaway VAR_DIR; loopback is allowed anyway
        "GUNICORN_BIND": f"127.0.0.1:{app_port}",
        "GUNICORN_WORKERS": "2",
    }
    python = str(Path(sys.executable))
    for command in (["migrate", "--no-input"], ["collectstatic", "--no-input", "--verbosity", "0"]):
        subprocess.run(  # noqa: S603 - fixed argv
            [python, "manage.py", *command], cwd=ROOT, env=env, check=True, capture_output=True, timeout=600
        )
    gunicorn_log = tmp / "gunicorn.log"
    gunicorn_bin = str(Path(sys.executable).with_name("gunicorn"))
    with gunicorn_log.open("wb") as out:
        gunicorn = subprocess.Popen(  # noqa: S603 - fixed argv
            [gunicorn_bin, "-c", "python:config.gunicorn", "config.wsgi"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_for(f"http://127.0.0.1:{app_port}/healthz", gunicorn, gunicorn_log)
        site = _render_site(
            server_name=HOST,
            upstream=f"127.0.0.1:{app_port}",
            http_port=http_port,
            https_port=https_port,
            tls_cert=str(cert),
            tls_key=str(key),
            static_root=str(var / "static"),
        )
        (tmp / "site.conf").write_text(site)
        for sub in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
            (tmp / sub).mkdir()
        user = "user root;\n" if os.geteuid() == 0 else ""
        (tmp / "nginx.conf").write_text(
            f"""{user}worker_processes 1;
pid {tmp}/nginx.pid;
error_log {tmp}/nginx-error.log warn;
events {{ worker_connections 128; }}
http {{
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    access_log {tmp}/nginx-access.log;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    include {tmp}/site.conf;
}}
"""
        )
        nginx_log = tmp / "nginx-error.log"
        checked = subprocess.run(  # noqa: S603 - fixed argv
            [NGINX, "-t", "-p", str(tmp), "-c", str(tmp / "nginx.conf")], capture_output=True, text=True
        )
        assert checked.returncode == 0, checked.stderr
        with (tmp / "nginx.out").open("wb") as out:
            nginx = subprocess.Popen(  # noqa: S603 - fixed argv
                [NGINX, "-p", str(tmp), "-c", str(tmp / "nginx.conf"), "-g", "daemon off;"],
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        try:
            https = f"https://{HOST}:{https_port}"
            _wait_for(f"{https}/healthz", nginx, nginx_log, verify=str(cert))
            *_, sockaddr = socket.getaddrinfo(HOST, https_port, type=socket.SOCK_STREAM)[0]
            yield Stack(
                https=https,
                http=f"http://{HOST}:{http_port}",
                cert=cert,
                database=database,
                static_root=var / "static",
                gunicorn_log=gunicorn_log,
                client_address=str(sockaddr[0]),
            )
        finally:
            _stop(nginx)
    finally:
        _stop(gunicorn)
        redis.Redis.from_url(REDIS_URL).flushdb()


def _get(stack: Stack, path: str, **kwargs: object) -> requests.Response:
    return requests.get(stack.https + path, verify=str(stack.cert), timeout=15, **kwargs)  # type: ignore[arg-type]


def test_https_answers_and_plain_http_redirects_to_it(stack: Stack) -> None:
    response = _get(stack, "/readyz")
    assert response.status_code == 200 and response.json()["status"] == "ready", response.text
    assert response.json()["checks"]["cache"] == "ok"  # Redis, through the settings the proxy's app runs with

    redirect = requests.get(f"{stack.http}/map/?lat=1", allow_redirects=False, timeout=15)
    assert redirect.status_code == 301
    assert redirect.headers["Location"] == f"{stack.https}/map/?lat=1"

    # A host that is not ours gets nothing: no certificate is shown, plain HTTP is closed without an answer.
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(stack.http.replace(HOST, "127.0.0.1") + "/", timeout=15)


def test_hsts_is_sent_once_by_the_application_and_on_static_files(stack: Stack) -> None:
    page = _get(stack, "/map/")
    assert page.status_code == 200
    values = page.raw.headers.getlist("Strict-Transport-Security")
    assert len(values) == 1 and values[0].startswith("max-age=31536000")
    static = _get(stack, "/static/admin/css/base.css")
    assert static.status_code == 200
    assert static.raw.headers.getlist("Strict-Transport-Security") == ["max-age=31536000; includeSubDomains; preload"]


def test_static_files_are_served_by_the_proxy(stack: Stack) -> None:
    before = len(stack.app_lines())
    response = _get(stack, "/static/admin/css/base.css", headers={"Accept-Encoding": "identity"})
    assert response.status_code == 200
    assert response.content == (stack.static_root / "admin" / "css" / "base.css").read_bytes()
    assert response.headers["Content-Type"].startswith("text/css")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    compressed = _get(stack, "/static/admin/css/base.css", headers={"Accept-Encoding": "gzip"}, stream=True)
    assert compressed.headers.get("Content-Encoding") == "gzip"  # whitenoise's .gz, sent by gzip_static
    assert not [line for line in stack.app_lines()[before:] if str(line["path"]).startswith("/static/")]


def test_a_forged_forwarded_for_earns_no_extra_public_requests(stack: Stack) -> None:
    statuses = []
    for i in range(RATE + 3):
        response = _get(
            stack,
            "/api/v1/compliance/?lat=32.2988&lon=-90.1848",
            headers={"X-Forwarded-For": f"203.0.113.{i + 1}", "X-Real-IP": f"198.51.100.{i + 1}"},
        )
        statuses.append(response.status_code)
    assert statuses[:RATE] == [statuses[0]] * RATE and statuses[0] != 429, statuses
    assert statuses[RATE:] == [429] * 3, statuses
    # The application saw (and logged) the real client address, whatever the client claimed.
    clients = {line["client"] for line in stack.app_lines() if line["path"] == "/api/v1/compliance/"}
    assert clients == {stack.client_address}


def test_failed_sign_ins_are_counted_against_the_real_address(stack: Stack) -> None:
    statuses = []
    for i in range(LOCKOUT + 1):
        response = requests.post(
            f"{stack.https}/api/v1/auth/token/",
            json={"username": f"nobody{i}", "password": "wrong-password", "device_id": str(uuid.uuid4())},
            headers={"X-Forwarded-For": f"203.0.113.{100 + i}"},
            verify=str(stack.cert),
            timeout=15,
        )
        statuses.append(response.status_code)
    assert statuses == [401] * LOCKOUT + [429], statuses
    with sqlite3.connect(stack.database) as db:
        addresses = {row[0] for row in db.execute("SELECT ip_address FROM accounts_loginfailure")}
    assert addresses == {stack.client_address}


def test_a_body_over_the_limit_is_refused_by_the_proxy(stack: Stack) -> None:
    # Each request carries its own user agent, so the application's access log tells whose line is whose (an earlier
    # test's last line may be written after this test starts: gunicorn logs once the answer is sent).
    over_proxy, over_app = f"over-proxy-{uuid.uuid4()}", f"over-app-{uuid.uuid4()}"
    too_large = requests.post(
        f"{stack.https}/api/v1/auth/token/",
        data=b"x" * (7 * 1024 * 1024),
        headers={"Content-Type": "application/json", "User-Agent": over_proxy},
        verify=str(stack.cert),
        timeout=30,
    )
    assert too_large.status_code == 413
    assert too_large.json()["code"] == "body_too_large"
    assert too_large.headers["Content-Type"] == "application/json"
    # Under the proxy's limit but over the application's (DATA_UPLOAD_MAX_MEMORY_SIZE): refused by Django instead.
    large = requests.post(
        f"{stack.https}/api/v1/auth/token/",
        data=b"x" * (3 * 1024 * 1024),
        headers={"Content-Type": "application/json", "User-Agent": over_app},
        verify=str(stack.cert),
        timeout=30,
    )
    assert large.status_code == 413 and large.json()["code"] == "body_too_large"

    def statuses(agent: str) -> list[object]:
        return [line["status"] for line in stack.app_lines() if line.get("user_agent") == agent]

    deadline = time.monotonic() + 10
    while not statuses(over_app) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert statuses(over_app) == [413]
    assert statuses(over_proxy) == []  # the first never reached the application

"""The documented production environment (deploy/production.env.example) passes ``manage.py check --deploy`` with
no warning at all, and the secrets in it come from files (``NAME_FILE``), never from the file itself."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.core.exceptions import ImproperlyConfigured

from config import env

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "deploy" / "production.env.example"
#: Where the example expects its secret store to mount files; the test points it at a temporary folder instead.
SECRETS_DIR = "/run/secrets/pollguard/"


def production_environment() -> dict[str, str]:
    """KEY=VALUE lines of the example, comments and blanks skipped (the EnvironmentFile format)."""
    values: dict[str, str] = {}
    for line in EXAMPLE.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        assert sep and key == key.strip() and key.isupper(), f"not KEY=VALUE: {line!r}"
        values[key] = value
    return values


def with_throwaway_secrets(values: dict[str, str], folder: Path) -> dict[str, str]:
    """The same environment with every secret file made (random values) under ``folder``."""
    contents = {
        "secret_key": secrets.token_urlsafe(50),
        "credential_key": secrets.token_urlsafe(50),
        "pgpass": f"db.internal:5432:pollguard:pollguard:{secrets.token_urlsafe(24)}",
        "redis_url": f"rediss://:{secrets.token_urlsafe(24)}@redis.internal:6380/0?ssl_cert_reqs=required"
        "&ssl_check_hostname=true&ssl_ca_certs=/etc/pollguard/redis-ca.crt",
    }
    for name, content in contents.items():
        (folder / name).write_text(content + "\n", encoding="utf-8")
    return {key: value.replace(SECRETS_DIR, f"{folder}/") for key, value in values.items()}


def run_manage(environ: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - fixed argv, our own interpreter
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def clean_base_environment(tmp_path: Path) -> dict[str, str]:
    """The test runner's environment minus everything the settings read (so nothing of ours leaks in)."""
    keep = {"PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "SYSTEMROOT", "VIRTUAL_ENV"}
    base = {key: value for key, value in os.environ.items() if key in keep}
    # ENV_FILE empty: no settings file (the checkout's .env) is read; only what this test passes counts.
    return base | {"DJANGO_SETTINGS_MODULE": "config.settings", "VAR_DIR": str(tmp_path / "var"), "ENV_FILE": ""}


def test_the_example_keeps_no_secret_in_itself():
    values = production_environment()
    for name in ("SECRET_KEY", "CREDENTIAL_KEY_ENCRYPTION_KEY", "REDIS_URL"):
        assert name not in values and values[f"{name}_FILE"].startswith(SECRETS_DIR)
    assert urlsplit(values["DATABASE_URL"]).password is None, "the database password comes from a passfile"
    assert "sslmode=verify-full" in values["DATABASE_URL"] and values["REDIS_URL_FILE"]


def test_check_deploy_reports_no_issue_with_the_documented_production_environment(tmp_path):
    environ = clean_base_environment(tmp_path) | with_throwaway_secrets(production_environment(), tmp_path)

    result = run_manage(environ, "check", "--deploy", "--fail-level", "WARNING")

    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout


def test_the_check_fails_when_a_measure_is_dropped(tmp_path):
    """The test above can fail: without HSTS preload and sub-domains Django's own checks warn."""
    values = production_environment() | {"SECURE_HSTS_INCLUDE_SUBDOMAINS": "0", "SECURE_HSTS_PRELOAD": "0"}
    environ = clean_base_environment(tmp_path) | with_throwaway_secrets(values, tmp_path)

    result = run_manage(environ, "check", "--deploy", "--fail-level", "WARNING")

    assert result.returncode != 0
    assert "security.W005" in result.stderr and "security.W021" in result.stderr


def test_the_production_settings_send_what_the_documentation_promises(tmp_path):
    environ = clean_base_environment(tmp_path) | with_throwaway_secrets(production_environment(), tmp_path)
    code = (
        "import django, json; django.setup(); from django.conf import settings as s; print(json.dumps(["
        "s.SECURE_SSL_REDIRECT, s.SECURE_HSTS_SECONDS, s.SECURE_HSTS_INCLUDE_SUBDOMAINS, s.SECURE_HSTS_PRELOAD, "
        "s.SESSION_COOKIE_SECURE, s.SESSION_COOKIE_HTTPONLY, s.CSRF_COOKIE_SECURE, s.CSRF_COOKIE_HTTPONLY, "
        "s.SECURE_PROXY_SSL_HEADER, s.X_FRAME_OPTIONS, s.SECURE_REFERRER_POLICY, s.SECURE_CONTENT_TYPE_NOSNIFF, "
        "s.DATABASES['default']['OPTIONS']['sslmode'], s.CACHES['default']['LOCATION'].split(':')[0], "
        "len(s.SECRET_KEY), len(s.CREDENTIAL_KEY_ENCRYPTION_KEYS)]))"
    )
    result = subprocess.run(  # noqa: S603 - fixed argv, our own interpreter
        [sys.executable, "-c", code], cwd=ROOT, env=environ, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == (
        '[true, 31536000, true, true, true, true, true, true, ["HTTP_X_FORWARDED_PROTO", "https"], "DENY", '
        '"same-origin", true, "verify-full", "rediss", 67, 2]'
    )


# --- NAME_FILE: secrets from files ---------------------------------------------------------------------------------


def test_a_value_is_read_from_the_file_its_file_variable_names(monkeypatch, tmp_path):
    (tmp_path / "key").write_text("from-a-file\n", encoding="utf-8")
    monkeypatch.delenv("SOME_SECRET", raising=False)
    monkeypatch.setenv("SOME_SECRET_FILE", str(tmp_path / "key"))
    assert env.env_str("SOME_SECRET") == "from-a-file"
    assert env.env_list("SOME_SECRET") == ["from-a-file"]


def test_setting_both_a_value_and_its_file_is_an_error(monkeypatch, tmp_path):
    (tmp_path / "key").write_text("x", encoding="utf-8")
    monkeypatch.setenv("SOME_SECRET", "y")
    monkeypatch.setenv("SOME_SECRET_FILE", str(tmp_path / "key"))
    with pytest.raises(ImproperlyConfigured, match="either SOME_SECRET or SOME_SECRET_FILE"):
        env.env_str("SOME_SECRET")


def test_a_missing_secret_file_stops_start_up_with_its_name(monkeypatch, tmp_path):
    monkeypatch.delenv("SOME_SECRET", raising=False)
    monkeypatch.setenv("SOME_SECRET_FILE", str(tmp_path / "absent"))
    with pytest.raises(ImproperlyConfigured, match="SOME_SECRET_FILE names a file that cannot be read"):
        env.env_str("SOME_SECRET")

"""One way to configure: the settings file (config/env.py ``read_env_file``) — the checkout's .env unless ENV_FILE
names another file or none, never overriding the environment — and the real settings started from such a file."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from config.env import read_env_file

ROOT = Path(__file__).resolve().parents[1]
KEY = "x" * 40


@pytest.fixture
def clean_env(monkeypatch):
    for name in ("ENV_FILE", "PG_ENV_PROBE_A", "PG_ENV_PROBE_B", "PG_ENV_PROBE_C"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_the_default_file_is_read_and_the_environment_wins(clean_env, tmp_path):
    default = tmp_path / ".env"
    default.write_text(
        '# comment\nPG_ENV_PROBE_A=from-file\nPG_ENV_PROBE_B="quoted $HOME value"\nPG_ENV_PROBE_C=file\n'
    )
    clean_env.setenv("PG_ENV_PROBE_C", "from-environment")
    assert read_env_file(default) == default
    assert os.environ["PG_ENV_PROBE_A"] == "from-file"
    assert os.environ["PG_ENV_PROBE_B"] == "quoted $HOME value"  # literal: no expansion
    assert os.environ["PG_ENV_PROBE_C"] == "from-environment"


def test_no_default_file_reads_nothing(clean_env, tmp_path):
    assert read_env_file(tmp_path / ".env") is None


def test_env_file_names_the_only_file_read(clean_env, tmp_path):
    default = tmp_path / ".env"
    default.write_text("PG_ENV_PROBE_A=checkout\n")
    named = tmp_path / "pollguard.env"
    named.write_text("PG_ENV_PROBE_B=production\n")
    clean_env.setenv("ENV_FILE", str(named))
    assert read_env_file(default) == named
    assert "PG_ENV_PROBE_A" not in os.environ and os.environ["PG_ENV_PROBE_B"] == "production"


def test_an_empty_env_file_reads_no_file(clean_env, tmp_path):
    default = tmp_path / ".env"
    default.write_text("PG_ENV_PROBE_A=checkout\n")
    clean_env.setenv("ENV_FILE", "")
    assert read_env_file(default) is None
    assert "PG_ENV_PROBE_A" not in os.environ


def test_a_missing_named_file_stops_start_up(clean_env, tmp_path):
    clean_env.setenv("ENV_FILE", str(tmp_path / "nowhere.env"))
    with pytest.raises(ImproperlyConfigured, match="ENV_FILE"):
        read_env_file(tmp_path / ".env")


def _check(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "ALLOWED_HOSTS", "ENV_FILE", "DEBUG")}
    return subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env={**base, "DJANGO_SETTINGS_MODULE": "config.settings", **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_manage_py_runs_from_a_settings_file_with_nothing_exported(tmp_path):
    settings_file = tmp_path / "pollguard.env"
    settings_file.write_text(f"SECRET_KEY={KEY}\nALLOWED_HOSTS=localhost\nHTTPS_ONLY=0\nVAR_DIR={tmp_path}/var\n")
    done = _check({"ENV_FILE": str(settings_file)})
    assert done.returncode == 0, done.stderr
    # The same command with no file refuses to start: the key came from the file.
    refused = _check({"ENV_FILE": "", "VAR_DIR": str(tmp_path / "var")})
    assert refused.returncode != 0 and "SECRET_KEY must be set" in refused.stderr

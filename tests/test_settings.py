"""Settings fail closed: production refuses to start without a real SECRET_KEY and explicit ALLOWED_HOSTS."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from config import env

ROOT = Path(__file__).resolve().parent.parent
GOOD_KEY = "k" * 50


def load_settings(**overrides: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "ALLOWED_HOSTS", "DEBUG", "DATABASE_URL"}}
    environ.update(overrides, DJANGO_SETTINGS_MODULE="config.settings", VAR_DIR=str(ROOT / "var" / "settings-test"))
    code = (
        "import django; django.setup(); from django.conf import settings; "
        "print(settings.DATABASES['default']['ENGINE'])"
    )
    return subprocess.run(  # noqa: S603 - fixed argv, our own interpreter
        [sys.executable, "-c", code], cwd=ROOT, env=environ, capture_output=True, text=True, timeout=60, check=False
    )


def test_production_refuses_to_start_without_a_secret_key():
    result = load_settings(ALLOWED_HOSTS="polls.example.gov")
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_production_refuses_a_short_secret_key():
    result = load_settings(SECRET_KEY="short", ALLOWED_HOSTS="polls.example.gov")
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


@pytest.mark.parametrize("hosts", ["", "*", "polls.example.gov,*"])
def test_production_refuses_missing_or_wildcard_allowed_hosts(hosts):
    result = load_settings(SECRET_KEY=GOOD_KEY, ALLOWED_HOSTS=hosts)
    assert result.returncode != 0
    assert "ALLOWED_HOSTS must list" in result.stderr


def test_production_starts_with_a_real_key_and_hosts_on_sqlite_by_default():
    result = load_settings(SECRET_KEY=GOOD_KEY, ALLOWED_HOSTS="polls.example.gov")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "django.db.backends.sqlite3"


def test_debug_mode_starts_without_configuration():
    result = load_settings(DEBUG="1")
    assert result.returncode == 0, result.stderr


def test_database_url_selects_postgresql():
    result = load_settings(SECRET_KEY=GOOD_KEY, ALLOWED_HOSTS="x", DATABASE_URL="postgres://u@db.internal:5432/polls")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "django.db.backends.postgresql"


def test_a_typo_in_a_boolean_is_an_error_not_a_silent_default(monkeypatch):
    monkeypatch.setenv("SOME_FLAG", "ture")
    with pytest.raises(ImproperlyConfigured, match="SOME_FLAG"):
        env.env_bool("SOME_FLAG")


@pytest.mark.parametrize(("raw", "expected"), [("1", True), ("yes", True), ("Off", False), ("0", False)])
def test_booleans_accept_the_usual_spellings(monkeypatch, raw, expected):
    monkeypatch.setenv("SOME_FLAG", raw)
    assert env.env_bool("SOME_FLAG") is expected


def test_integers_are_checked(monkeypatch):
    monkeypatch.setenv("SOME_INT", "12x")
    with pytest.raises(ImproperlyConfigured, match="integer"):
        env.env_int("SOME_INT", 3)
    monkeypatch.setenv("SOME_INT", "-1")
    with pytest.raises(ImproperlyConfigured, match="at least 0"):
        env.env_int("SOME_INT", 3, minimum=0)


def test_lists_split_on_commas_and_drop_blanks(monkeypatch):
    monkeypatch.setenv("SOME_LIST", " a.gov, ,b.gov ")
    assert env.env_list("SOME_LIST") == ["a.gov", "b.gov"]

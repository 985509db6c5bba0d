"""Typed readers for settings taken from environment variables.

Each helper fails loudly (ImproperlyConfigured) on a value it cannot parse, so a typo in a deployment is an error
at start-up rather than a silently different behaviour on election day.
"""

from __future__ import annotations

import os
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_value(name: str) -> str | None:
    """``NAME`` from the environment, else the contents of the file that ``NAME_FILE`` names (None if neither).

    Secrets (SECRET_KEY, CREDENTIAL_KEY_ENCRYPTION_KEY, DATABASE_URL, REDIS_URL …) can so come from files that a
    secret store mounts (systemd credentials, Docker/Kubernetes secrets) instead of the process environment, which
    leaks into child processes, crash reports and ``/proc``. One trailing newline is dropped; both set is an error.
    """
    value = os.environ.get(name)
    path = os.environ.get(f"{name}_FILE")
    if path is None:
        return value
    if value is not None:
        raise ImproperlyConfigured(f"set either {name} or {name}_FILE, not both")
    try:
        content = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ImproperlyConfigured(f"{name}_FILE names a file that cannot be read: {exc.strerror} ({path})") from None
    return content.removesuffix("\n").removesuffix("\r")


def env_str(name: str, default: str | None = None) -> str | None:
    value = env_value(name)
    return default if value is None else value


def env_bool(name: str, default: bool = False) -> bool:
    value = env_value(name)
    if value is None:
        return default
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name} must be one of 1/0, true/false, yes/no, on/off; got {value!r}")


def env_int(name: str, default: int, *, minimum: int | None = None) -> int:
    value = env_value(name)
    if value is None:
        return default
    try:
        number = int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer; got {value!r}") from None
    if minimum is not None and number < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}; got {number}")
    return number


def env_list(name: str, default: list[str] | None = None) -> list[str]:
    value = env_value(name)
    if value is None:
        return list(default or [])
    return [item.strip() for item in value.split(",") if item.strip()]


def read_env_file(default: Path) -> Path | None:
    """Load a ``KEY=VALUE`` file into the environment, without overriding anything already there (the environment
    wins), and return the file read (None: none). Which file:

    - ``ENV_FILE`` unset: ``default`` (the checkout's ``.env``, which ``make run`` writes) if it exists;
    - ``ENV_FILE`` a path: that file, which must exist (production: the systemd units name
      ``/etc/pollguard/pollguard.env``), and never the checkout's ``.env``;
    - ``ENV_FILE`` empty: no file at all, the environment only.

    Called once, first thing, by the settings (and by the gunicorn configuration, for its own variables), so every
    ``manage.py`` command sees what ``make run`` configured with nothing exported. Values are taken literally
    (no ``${VAR}`` expansion: a secret may contain ``$``).
    """
    from dotenv import dotenv_values

    named = os.environ.get("ENV_FILE")
    if named is None:
        path = default
        if not path.is_file():
            return None
    elif not named.strip():
        return None
    else:
        path = Path(named)
        if not path.is_file():
            raise ImproperlyConfigured(f"ENV_FILE names a file that does not exist: {path}")
    try:
        values = dotenv_values(path, interpolate=False, encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ImproperlyConfigured(f"the settings file {path} cannot be read: {exc}") from None
    for key, value in values.items():
        if value is not None and key != "ENV_FILE":
            os.environ.setdefault(key, value)
    return path

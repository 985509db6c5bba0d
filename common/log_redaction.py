"""Keeps secrets out of the logs: bearer tokens, tablet secrets, passwords, one-time codes, TOTP seeds, recovery
codes and signing keys.

The service never logs a secret on purpose; this filter is the second line for what could carry one by accident:

* SQL logged by ``django.db.backends`` (with DEBUG on, or a forced debug cursor) holds the values written to the
  tables that store secrets in a usable form: django-otp's TOTP seeds and recovery codes, sessions, the encrypted
  signing keys. Such a record keeps its timing and table but loses its SQL text and parameters.
* Any message that holds something shaped like a secret (``Authorization: Bearer …``, ``pgt_…`` tokens, ``pgd_…``
  tablet secrets, ``password=…``-style fields) gets it replaced by ``[redacted]``.

Installed in ``config.settings.LOGGING`` on the console handler and on the ``django.db.backends`` logger itself (a
logger's filter sees its own records before any handler, including test capture). tests/test_secrets_not_logged.py
runs the sign-in, TOTP, tablet and credential flows at DEBUG and looks for every secret in every record.
"""

from __future__ import annotations

import logging
import re

REDACTED = "[redacted]"

#: Tables whose rows hold a secret as written (django-otp stores TOTP seeds and recovery codes as they are; session
#: keys are bearer secrets; signing keys are encrypted but still not log material).
SECRET_TABLES = ("otp_totp_totpdevice", "otp_static_statictoken", "django_session", "accounts_signingkey")

_SECRET_SHAPES = [
    # Authorization headers, whatever the scheme.
    re.compile(r"(?i)(authorization['\"]?\s*[:=]\s*['\"]?)[^'\"\r\n,}]+"),
    re.compile(r"(?i)\b(bearer\s+)[^\s'\",}]+"),
    # Our own bearer tokens and tablet secrets (accounts.authentication TOKEN_PREFIX / DEVICE_SECRET_PREFIX).
    re.compile(r"\b()pg[td]_[A-Za-z0-9_\-]{8,}"),
    # key=value / "key": "value" pairs naming a secret.
    re.compile(
        r"(?i)(['\"]?\b(?:password|passwd|secret|device_secret|token|otp|recovery_codes|secret_key|private_key)"
        r"['\"]?\s*[:=]\s*)(?:'[^']*'|\"[^\"]*\"|\[[^\]]*\]|[^\s,&}]+)"
    ),
]


def redact_text(text: str) -> str:
    """``text`` with every secret-shaped part replaced by ``[redacted]``."""
    for shape in _SECRET_SHAPES:
        text = shape.sub(lambda match: match.group(1) + REDACTED, text)
    return text


def _touches_secret_table(sql: object) -> str | None:
    lowered = str(sql).lower()
    return next((table for table in SECRET_TABLES if table in lowered), None)


class RedactSecrets(logging.Filter):
    """Rewrites a record that holds a secret; never drops a record (its timing and origin stay useful)."""

    def filter(self, record: logging.LogRecord) -> bool:
        sql = getattr(record, "sql", None)
        if sql is not None and record.name.startswith("django.db.backends"):
            table = _touches_secret_table(sql)
            if table is not None:
                duration = getattr(record, "duration", 0.0) or 0.0
                alias = getattr(record, "alias", "")
                record.msg = "(%.3f) query on %s; SQL and parameters redacted; alias=%s"
                record.args = (duration, table, alias)
                record.sql = REDACTED
                record.params = REDACTED
                return True
        try:
            message = record.getMessage()
        except (TypeError, ValueError):  # a malformed record: leave it to the handler to report
            return True
        redacted = redact_text(message)
        if redacted != message:
            record.msg = redacted
            record.args = ()
            for attribute in ("sql", "params"):
                if hasattr(record, attribute):
                    setattr(record, attribute, redact_text(str(getattr(record, attribute))))
        return True

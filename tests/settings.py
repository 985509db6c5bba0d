"""Test settings: the real settings module with test-only secrets and a fast password hasher."""

import os

os.environ.setdefault("ENV_FILE", "")  # tests never read the checkout's .env (make run's demo settings)
os.environ.setdefault("SECRET_KEY", "test-only-secret-key-not-for-production-0123456789")
os.environ.setdefault("ALLOWED_HOSTS", "testserver,localhost,127.0.0.1")
os.environ.setdefault("HTTPS_ONLY", "0")
os.environ.setdefault("PUBLIC_RATE_LIMIT", "100000/minute")  # throttling has its own tests
os.environ.setdefault("STAFF_RATE_LIMIT", "100000/minute")  # so has the per-account limit (tests/guard)
# Geographic exclusion has its own tests (tests/guard/test_geo.py, which turn it on): elsewhere a global test address
# would be judged by whatever var/geoip holds, or refused while it holds nothing.
os.environ.setdefault("GEO_EXCLUSION", "0")
# Most tests change the geography inside a transaction that never commits, where only a query sees the change; the
# pushed version has its own tests (tests/polling/geography/test_version_feed.py, which turn it on).
os.environ.setdefault("GEOGRAPHY_VERSION_FEED", "0")

from config.settings import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
WHITENOISE_AUTOREFRESH = True  # serve from the finders; no collectstatic before tests

# pytest-django empties the database with TRUNCATE between transactional tests: allow it in test sessions only
# (production sessions never set it, so the append-only tables refuse TRUNCATE there; common.append_only).
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":  # noqa: F405
    _options = DATABASES["default"].setdefault("OPTIONS", {})  # noqa: F405
    _options["options"] = (_options.get("options", "") + " -c pollguard.allow_truncate=on").strip()

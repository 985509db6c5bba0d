"""Test settings: the real settings module with test-only secrets and a fast password hasher."""

import os

os.environ.setdefault("SECRET_KEY", "test-only-secret-key-not-for-production-0123456789")
os.environ.setdefault("ALLOWED_HOSTS", "testserver,localhost,127.0.0.1")
os.environ.setdefault("HTTPS_ONLY", "0")
os.environ.setdefault("PUBLIC_RATE_LIMIT", "100000/minute")  # throttling has its own tests

from config.settings import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
WHITENOISE_AUTOREFRESH = True  # serve from the finders; no collectstatic before tests

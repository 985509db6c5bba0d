"""Settings of the GeoDjango comparison server: what ``startproject`` gives, with the PostGIS backend on
``BENCH_GEODJANGO_DATABASE_URL`` and production switches (DEBUG off, persistent connections as the product's)."""

from __future__ import annotations

import os
import secrets

from psycopg.conninfo import conninfo_to_dict

_db = conninfo_to_dict(
    os.environ.get("BENCH_GEODJANGO_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/bench_national_postgis")
)

SECRET_KEY = os.environ.get("SECRET_KEY") or secrets.token_urlsafe(48)
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.sessions",
    "django.contrib.gis",
    "bench.geodjango",
]
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]
ROOT_URLCONF = "bench.geodjango.urls"
WSGI_APPLICATION = "bench.geodjango.wsgi.application"
DATABASES = {
    "default": {
        "ENGINE": "django.contrib.gis.db.backends.postgis",
        "NAME": _db.get("dbname", ""),
        "USER": _db.get("user", ""),
        "PASSWORD": _db.get("password", ""),
        "HOST": _db.get("host", ""),
        "PORT": _db.get("port", ""),
        "CONN_MAX_AGE": 60,
    }
}
USE_TZ = True
TIME_ZONE = "UTC"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

"""Settings for the whole service, read from environment variables (see docs/configuration.md).

Safe in development, closed in production: with DEBUG off (the default) the process refuses to start without a
real SECRET_KEY and an explicit ALLOWED_HOSTS. SQLite is the embedded default; PostgreSQL when DATABASE_URL is set.
"""

from __future__ import annotations

from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from config.env import env_bool, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("VAR_DIR") or BASE_DIR / "var")

DEBUG = env_bool("DEBUG", default=False)

_INSECURE_KEY = "django-insecure-development-only-key"
SECRET_KEY = env_str("SECRET_KEY") or (_INSECURE_KEY if DEBUG else "")
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"] if DEBUG else [])

if not DEBUG:
    if not SECRET_KEY or SECRET_KEY == _INSECURE_KEY or len(SECRET_KEY) < 32:
        raise ImproperlyConfigured(
            "SECRET_KEY must be set to a random value of at least 32 characters when DEBUG is off"
        )
    if not ALLOWED_HOSTS or "*" in ALLOWED_HOSTS:
        raise ImproperlyConfigured("ALLOWED_HOSTS must list this service's host names (no '*') when DEBUG is off")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "accounts",
    "polling",
    "guard",
    "ops",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Content-Security-Policy on every answer, early so that refusals by the middleware below carry it too.
    "csp.middleware.CSPMiddleware",
    "config.middleware.RequestLimitsMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Marks a session verified by a second factor; the admin site (OTPAdminSite) requires it.
    "django_otp.middleware.OTPMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------------------------
_DATABASE_URL = env_str("DATABASE_URL")
if _DATABASE_URL:
    try:
        _db = dj_database_url.parse(_DATABASE_URL, conn_max_age=env_int("DB_CONN_MAX_AGE", 60, minimum=0))
    except ValueError as exc:  # unknown scheme and friends
        raise ImproperlyConfigured(f"DATABASE_URL cannot be parsed: {exc}") from None
    _db["CONN_HEALTH_CHECKS"] = True
else:
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    _db = {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": str(VAR_DIR / "db.sqlite3"),
        # Keep connections: reopening re-runs the PRAGMAs below on every request.
        "CONN_MAX_AGE": env_int("DB_CONN_MAX_AGE", 60, minimum=0),
        "OPTIONS": {
            # WAL lets readers go on while one writer commits; IMMEDIATE takes the write lock at BEGIN so two
            # writers queue (up to the timeout) instead of failing with "database is locked" half-way through.
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;",
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
        },
    }
DATABASES = {"default": _db}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "accounts.User"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

# --- Security -------------------------------------------------------------------------------------------------
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = True
# Behind TLS in production; plain HTTP only for the local demo (HTTPS_ONLY=0).
HTTPS_ONLY = env_bool("HTTPS_ONLY", default=not DEBUG)
SESSION_COOKIE_SECURE = HTTPS_ONLY
CSRF_COOKIE_SECURE = HTTPS_ONLY
SECURE_SSL_REDIRECT = HTTPS_ONLY and env_bool("SECURE_SSL_REDIRECT", default=False)
# Behind a TLS-terminating proxy that sets X-Forwarded-Proto (and strips it from clients): lets Django know the
# request was HTTPS, so HSTS is sent and CSRF origin checks pass for https:// origins.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if env_bool("BEHIND_TLS_PROXY", default=False) else None
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000 if HTTPS_ONLY else 0, minimum=0)
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("DATA_UPLOAD_MAX_MEMORY_SIZE", 2_621_440, minimum=1024)

DATA_UPLOAD_MAX_NUMBER_FIELDS = 200
MAX_QUERY_STRING_BYTES = env_int("MAX_QUERY_STRING_BYTES", 2048, minimum=256)
CSRF_FAILURE_VIEW = "config.views.csrf_failure"

# Content-Security-Policy (django-csp) on every response: pages, admin, API, docs, errors. No inline script or
# style anywhere (data reaches scripts through data- attributes and json_script), no plugins, no framing, forms post
# only here. Leaflet and Swagger UI set styles through the DOM (CSSOM), which style-src does not restrict. The map
# page adds its base-map tile host to img-src (polling.web.views) when MAP_TILE_URL is set.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
    }
}

# --- Cache (throttling counters) ----------------------------------------------------------------------------
# Redis when REDIS_URL is set, so that every server process shares one count per client; otherwise per process.
REDIS_URL = env_str("REDIS_URL")
CACHES = {
    "default": (
        {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL, "KEY_PREFIX": "polls"}
        if REDIS_URL
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    )
}

# --- API --------------------------------------------------------------------------------------------------------
REST_FRAMEWORK = {
    # Staff endpoints: bearer tokens bound to a device id (accounts.authentication). The admin site keeps Django's
    # own session login; the public API declares no authentication at all.
    "DEFAULT_AUTHENTICATION_CLASSES": ["accounts.authentication.TokenAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["common.api.parsers.JSONParser"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "common.api.errors.exception_handler",
    "DEFAULT_THROTTLE_RATES": {"public": env_str("PUBLIC_RATE_LIMIT") or "300/minute"},
    # Client addresses come from X-Forwarded-For only through this many trusted proxies (0: never).
    "NUM_PROXIES": env_int("TRUSTED_PROXY_COUNT", 0, minimum=0),
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Polling-place compliance API",
    "DESCRIPTION": (
        "Public lookups of precincts, polling places and the buffer zones around them (no login), "
        "with exact geodesic distances. Coordinates are WGS84 longitude/latitude (RFC 7946)."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    # No badge fetched from validator.swagger.io: the docs page loads nothing from elsewhere (and CSP forbids it).
    "SWAGGER_UI_SETTINGS": {"deepLinking": True, "validatorUrl": None},
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # drf-spectacular's own hook, then ours: the answers the shared plumbing gives on every operation (400, 406, 414;
    # 413 and 415 with a body; 401 and 403 with a token) are declared once, for the served and the exported schema.
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "common.api.schema.document_plumbing_errors",
    ],
}

# --- Authentication: tokens, second factor, lockout, tablets (accounts) ------------------------------------------
#: Lifetime of a bearer token: staff (administrators, commissioners) sign in for a working day; a tablet session
#: covers an election day from set-up before the polls open to the close-out after they shut.
AUTH_TOKEN_TTL_STAFF_S = env_int("AUTH_TOKEN_TTL_STAFF_S", 12 * 3600, minimum=60)
AUTH_TOKEN_TTL_TABLET_S = env_int("AUTH_TOKEN_TTL_TABLET_S", 16 * 3600, minimum=60)
#: A session's last_used_at is written at most this often (seconds), not on every request.
AUTH_TOKEN_TOUCH_INTERVAL_S = env_int("AUTH_TOKEN_TOUCH_INTERVAL_S", 60, minimum=1)
#: Failed sign-ins allowed per account and per client address within the window before further attempts get 429.
#: Each further full batch of failures (within AUTH_LOCKOUT_MAX_WINDOW_S) doubles the window, up to that maximum.
AUTH_LOCKOUT_WINDOW_S = env_int("AUTH_LOCKOUT_WINDOW_S", 15 * 60, minimum=1)
AUTH_LOCKOUT_MAX_WINDOW_S = env_int("AUTH_LOCKOUT_MAX_WINDOW_S", 24 * 3600, minimum=1)
AUTH_LOCKOUT_PER_ACCOUNT = env_int("AUTH_LOCKOUT_PER_ACCOUNT", 5, minimum=1)
AUTH_LOCKOUT_PER_ADDRESS = env_int("AUTH_LOCKOUT_PER_ADDRESS", 20, minimum=1)
#: A tablet enrolment code is good for this long (seconds), once.
AUTH_ENROLMENT_CODE_TTL_S = env_int("AUTH_ENROLMENT_CODE_TTL_S", 15 * 60, minimum=60)
#: A TOTP secret handed out by POST /auth/totp/ must be confirmed within this long (seconds).
AUTH_TOTP_ENROLMENT_TTL_S = env_int("AUTH_TOTP_ENROLMENT_TTL_S", 10 * 60, minimum=60)
AUTH_RECOVERY_CODE_COUNT = env_int("AUTH_RECOVERY_CODE_COUNT", 10, minimum=1)
#: Poll managers and workers may sign in on a tablet from this many days before their election up to its day.
AUTH_TABLET_SIGNIN_LEAD_DAYS = env_int("AUTH_TABLET_SIGNIN_LEAD_DAYS", 7, minimum=0)
#: django-otp: the issuer shown in authenticator apps; no drift learning, so the window stays ±1 step of our clock.
OTP_TOTP_ISSUER = env_str("OTP_TOTP_ISSUER") or "Pollguard"
OTP_TOTP_SYNC = False

#: Base-map tiles for the public map (an XYZ URL template such as https://tile.example.org/{z}/{x}/{y}.png) and
#: its attribution. Empty: the map shows boundaries and zones only, with no request leaving this service.
MAP_TILE_URL = env_str("MAP_TILE_URL") or ""
MAP_TILE_ATTRIBUTION = env_str("MAP_TILE_ATTRIBUTION") or ""

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL") or "INFO"},
}

# --- Credentials (watchers' and observers' signed QR credentials) ----------------------------------------------
#: Secret(s) that encrypt the Ed25519 signing keys at rest, comma-separated: the first encrypts, every one decrypts
#: (to change it, put the new one in front, run ``rotate_signing_key --reencrypt``, then drop the old one). Unset:
#: derived from SECRET_KEY, which suits development and tests; production should set its own, kept apart from the
#: database backups, so that a stolen backup plus SECRET_KEY is still not enough to forge credentials
#: (``check --deploy`` warns while it is unset). The SECRET_KEY-derived secret always stays last, to decrypt only:
#: setting the variable and running ``--reencrypt`` moves existing keys over.
CREDENTIAL_KEY_ENCRYPTION_KEYS = [*env_list("CREDENTIAL_KEY_ENCRYPTION_KEY"), f"secret-key:{SECRET_KEY}"]
#: CSV import limits (POST /api/v1/credentials/import/): bytes and data rows per file. Every row is one audit event
#: appended under the audit chain's lock: 2,000 rows take about 4 s on PostgreSQL.
CREDENTIAL_IMPORT_MAX_BYTES = env_int("CREDENTIAL_IMPORT_MAX_BYTES", 1_048_576, minimum=1024)
CREDENTIAL_IMPORT_MAX_ROWS = env_int("CREDENTIAL_IMPORT_MAX_ROWS", 2000, minimum=1)

# --- Incidents (photos reported with incidents) ------------------------------------------------------------------
#: Uploaded files live under MEDIA_ROOT; nothing there is served directly (incident photos only through the scoped
#: API endpoint), so MEDIA_URL is deliberately left unset.
MEDIA_ROOT = Path(env_str("MEDIA_ROOT") or VAR_DIR / "media")
#: An incident photo: at most this many bytes and this many pixels on either side (JPEG, PNG or WebP).
INCIDENT_PHOTO_MAX_BYTES = env_int("INCIDENT_PHOTO_MAX_BYTES", 5 * 1024 * 1024, minimum=1024)
INCIDENT_PHOTO_MAX_SIDE_PX = env_int("INCIDENT_PHOTO_MAX_SIDE_PX", 8000, minimum=16)

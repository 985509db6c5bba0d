"""Settings for the whole service, read from environment variables (see docs/configuration.md).

Safe in development, closed in production: with DEBUG off (the default) the process refuses to start without a
real SECRET_KEY and an explicit ALLOWED_HOSTS. SQLite is the embedded default; PostgreSQL when DATABASE_URL is set.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from config.env import env_bool, env_int, env_list, env_str, read_env_file

BASE_DIR = Path(__file__).resolve().parent.parent
# The checkout's .env (written by `make run`) unless ENV_FILE names another file or none; the environment wins.
ENV_FILE_READ = read_env_file(BASE_DIR / ".env")
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
    # /healthz and /readyz, answered before anything else can refuse or redirect a probe (ops.health_middleware).
    "ops.health_middleware.HealthCheckMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Content-Security-Policy on every answer, early so that refusals by the middleware below carry it too.
    "csp.middleware.CSPMiddleware",
    # Intrusion prevention (guard.ips): refuses a blocked address before anything reads its request; counts probes,
    # malformed requests (the 414 of the next middleware too) and throttled ones.
    "guard.middleware.IntrusionPreventionMiddleware",
    "config.middleware.RequestLimitsMiddleware",
    # Geographic exclusion (guard.geo): staff endpoints refuse clients outside GEO_ALLOWED_COUNTRIES (403
    # geo_excluded); public lookups, static files and health checks pass on a fast path.
    "guard.middleware.GeoExclusionMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Marks a session verified by a second factor; the admin site (OTPAdminSite) requires it.
    "django_otp.middleware.OTPMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Mirrored site (ops.routing): marks public reads that may go to a standby; a no-op without replicas.
    "ops.middleware.ReplicaReadsMiddleware",
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

# --- Mirrored database (ops.routing, docs/operations.md) ----------------------------------------------------------
#: PostgreSQL streaming standbys, comma-separated URLs (aliases replica1, replica2, …): public reads go to the first
#: healthy one; writes, staff reads and a client's reads just after its own writes go to the primary. Unset: one
#: database, nothing routed.
DATABASE_REPLICAS: list[str] = []
for _number, _replica_url in enumerate(env_list("DATABASE_REPLICA_URL"), start=1):
    if not _DATABASE_URL:
        raise ImproperlyConfigured("DATABASE_REPLICA_URL needs DATABASE_URL: standbys mirror a PostgreSQL primary")
    try:
        _replica = dj_database_url.parse(_replica_url, conn_max_age=env_int("DB_CONN_MAX_AGE", 60, minimum=0))
    except ValueError as exc:
        raise ImproperlyConfigured(f"DATABASE_REPLICA_URL cannot be parsed: {exc}") from None
    _replica["CONN_HEALTH_CHECKS"] = True
    #: A standby that does not answer costs a request this long (seconds) at most once per check interval.
    _replica.setdefault("OPTIONS", {})["connect_timeout"] = env_int("REPLICA_CONNECT_TIMEOUT_S", 2, minimum=1)
    _replica["TEST"] = {"MIRROR": "default"}  # the test runner makes no database for a standby
    DATABASES[f"replica{_number}"] = _replica
    DATABASE_REPLICAS.append(f"replica{_number}")
DATABASE_ROUTERS = ["ops.routing.ReplicaRouter"]
#: A standby further behind the primary than this (seconds) is skipped until it catches up.
REPLICA_MAX_LAG_S = env_int("REPLICA_MAX_LAG_S", 5, minimum=1)
#: How often each server process checks its standbys (seconds); between checks the verdict is reused.
REPLICA_CHECK_INTERVAL_S = env_int("REPLICA_CHECK_INTERVAL_S", 5, minimum=1)
#: After a write (any POST/PUT/PATCH/DELETE), the same client address reads from the primary this long (seconds).
REPLICA_STICKY_S = env_int("REPLICA_STICKY_S", 10, minimum=0)

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
# HSTS for every subdomain of this host too; preload asks browsers to ship the rule (submit the host at
# hstspreload.org separately; hard to undo, hence off unless the deployment says so).
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=HTTPS_ONLY)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", default=False)
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
        {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            # Several deployments (or test runs) may share one Redis: each counts under its own prefix.
            "KEY_PREFIX": env_str("CACHE_KEY_PREFIX") or "polls",
        }
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
    # Per signed-in account (guard.ips, STAFF_RATE_LIMIT); public views name their own throttle instead.
    "DEFAULT_THROTTLE_CLASSES": ["guard.ips.StaffRateThrottle"],
    # Client addresses come from X-Forwarded-For only through this many trusted proxies (0: never).
    "NUM_PROXIES": env_int("TRUSTED_PROXY_COUNT", 0, minimum=0),
}
#: An index of the geography that builds in longer than this (seconds) is rebuilt in the background after a change,
#: the previous version answering meanwhile; a faster one is rebuilt before the next answer (polling.geography.spatial).
INDEX_INLINE_BUILD_S = env_int("INDEX_INLINE_BUILD_MS", 1000, minimum=0) / 1000
#: On PostgreSQL without replicas, each process learns the geography version from a LISTEN connection instead of a
#: query per public request (polling.geography.version_feed).
GEOGRAPHY_VERSION_FEED = env_bool("GEOGRAPHY_VERSION_FEED", True)
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
#: No shared logons (accounts.session_guard): one account used within this many seconds from two device ids, or
#: from two addresses far apart (another IPv4 /16 or IPv6 /32), is flagged. ``end_older`` (the default) also ends the
#: older session(s) (the one session, when it is the same session used from far apart); ``flag`` only records it.
SHARED_LOGON_WINDOW_S = env_int("SHARED_LOGON_WINDOW_S", 15 * 60, minimum=1)
SHARED_LOGON_POLICY = env_str("SHARED_LOGON_POLICY") or "end_older"
if SHARED_LOGON_POLICY not in ("end_older", "flag"):
    raise ImproperlyConfigured("SHARED_LOGON_POLICY must be 'end_older' or 'flag'")
#: django-otp: the issuer shown in authenticator apps; no drift learning, so the window stays ±1 step of our clock.
OTP_TOTP_ISSUER = env_str("OTP_TOTP_ISSUER") or "Pollguard"
OTP_TOTP_SYNC = False

#: Base-map tiles for the public map (an XYZ URL template such as https://tile.example.org/{z}/{x}/{y}.png) and
#: its attribution. Empty: the map shows boundaries and zones only, with no request leaving this service.
MAP_TILE_URL = env_str("MAP_TILE_URL") or ""
MAP_TILE_ATTRIBUTION = env_str("MAP_TILE_ATTRIBUTION") or ""

# --- Geographic exclusion (guard.geo, guard.middleware; docs/security.md) ----------------------------------------
#: On: staff endpoints (staff API, admin, tablets) answer only clients placed in GEO_ALLOWED_COUNTRIES.
GEO_EXCLUSION = env_bool("GEO_EXCLUSION", default=True)
#: A missing or stale IP-to-country database closes the staff endpoints (403 geo_unavailable) instead of letting
#: every address through. On by default in production; loopback and private clients (the demo, the tests) are
#: decided by GEO_NON_GLOBAL before the database is consulted, so they work without one.
GEO_REQUIRED = env_bool("GEO_REQUIRED", default=not DEBUG)
#: ISO 3166-1 alpha-2 codes: the United States and its territories by default.
_US_AND_TERRITORIES = ["US", "PR", "GU", "VI", "AS", "MP", "UM"]
GEO_ALLOWED_COUNTRIES = [c.upper() for c in env_list("GEO_ALLOWED_COUNTRIES", _US_AND_TERRITORIES)]
#: Restrict the public lookups too (off: overseas and military voters look up their home precinct from abroad).
GEO_RESTRICT_PUBLIC = env_bool("GEO_RESTRICT_PUBLIC", default=False)
#: Addresses and CIDR ranges of trusted partners, allowed from anywhere (as seen through TRUSTED_PROXY_COUNT).
GEO_ALLOWLIST = env_list("GEO_ALLOWLIST")
#: Non-global client addresses (loopback, private, link-local, shared, documentation): "allow" or "deny". Never
#: looked up in the database, which places some private ranges in a country.
GEO_NON_GLOBAL = (env_str("GEO_NON_GLOBAL") or "allow").strip().lower()
#: Where manage.py install_geoip puts the database, the age (days since the data was built) past which it is stale,
#: and the npm registry (or a mirror of it) it is fetched from.
GEOIP_DIR = Path(env_str("GEOIP_DIR") or VAR_DIR / "geoip")
GEOIP_MAX_AGE_DAYS = env_int("GEOIP_MAX_AGE_DAYS", 365, minimum=1)
NPM_REGISTRY_URL = (env_str("NPM_REGISTRY_URL") or "https://registry.npmjs.org").rstrip("/")
if GEO_NON_GLOBAL not in ("allow", "deny"):
    raise ImproperlyConfigured(f"GEO_NON_GLOBAL must be 'allow' or 'deny'; got {GEO_NON_GLOBAL!r}")
for _entry in GEO_ALLOWLIST:
    try:
        ipaddress.ip_network(_entry, strict=False)
    except ValueError:
        raise ImproperlyConfigured(f"GEO_ALLOWLIST: {_entry!r} is not an address or a CIDR range") from None
for _code in GEO_ALLOWED_COUNTRIES:
    if len(_code) != 2 or not _code.isascii() or not _code.isalpha():
        raise ImproperlyConfigured(f"GEO_ALLOWED_COUNTRIES: {_code!r} is not a two-letter ISO 3166-1 code")
if not NPM_REGISTRY_URL.startswith(("https://", "http://")):
    raise ImproperlyConfigured(f"NPM_REGISTRY_URL must be an http(s) URL; got {NPM_REGISTRY_URL!r}")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler", "filters": ["redact_secrets"]}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL") or "INFO"},
    # Secrets never reach a log line (common.log_redaction): on the handler for every record, and on the SQL logger
    # itself so that its records are clean before any handler sees them (tests/test_secrets_not_logged.py).
    "filters": {"redact_secrets": {"()": "common.log_redaction.RedactSecrets"}},
    "loggers": {"django.db.backends": {"filters": ["redact_secrets"]}},
}

# --- Intrusion prevention (guard.ips) ----------------------------------------------------------------------------
#: Off: nothing is counted or blocked (the staff rate limit stays).
IPS_ENABLED = env_bool("IPS_ENABLED", default=True)
#: Offences per kind that block an address bucket (IPv6: its /64) within a fixed window: (count, window seconds).
IPS_THRESHOLDS = {
    "auth_failure": (
        env_int("IPS_AUTH_FAILURE_LIMIT", 15, minimum=1),
        env_int("IPS_AUTH_FAILURE_WINDOW_S", 300, minimum=1),
    ),
    "probe": (env_int("IPS_PROBE_LIMIT", 5, minimum=1), env_int("IPS_PROBE_WINDOW_S", 600, minimum=1)),
    "malformed": (env_int("IPS_MALFORMED_LIMIT", 50, minimum=1), env_int("IPS_MALFORMED_WINDOW_S", 60, minimum=1)),
    "throttled": (env_int("IPS_THROTTLED_LIMIT", 60, minimum=1), env_int("IPS_THROTTLED_WINDOW_S", 300, minimum=1)),
}
#: A first block lasts IPS_BLOCK_BASE_S; each further one within IPS_MEMORY_S of an earlier unlifted one doubles,
#: up to IPS_BLOCK_MAX_S.
IPS_BLOCK_BASE_S = env_int("IPS_BLOCK_BASE_S", 15 * 60, minimum=1)
IPS_BLOCK_MAX_S = env_int("IPS_BLOCK_MAX_S", 24 * 3600, minimum=1)
IPS_MEMORY_S = env_int("IPS_MEMORY_S", 7 * 86400, minimum=1)
#: Addresses and CIDR networks never counted nor blocked. Loopback by default: behind a proxy that is not declared
#: (TRUSTED_PROXY_COUNT) every client shows as the proxy's address, and blocking it would lock everyone out.
IPS_ALLOWLIST = env_list("IPS_ALLOWLIST", ["127.0.0.0/8", "::1"])
#: Requests per signed-in account (any staff API request), shared by every process through the cache.
STAFF_RATE_LIMIT = env_str("STAFF_RATE_LIMIT") or "600/minute"
_staff_count, _, _staff_period = STAFF_RATE_LIMIT.partition("/")
if not _staff_count.isdigit() or _staff_period not in ("s", "second", "m", "minute", "h", "hour", "d", "day"):
    raise ImproperlyConfigured(f"STAFF_RATE_LIMIT must read like 600/minute; got {STAFF_RATE_LIMIT!r}")

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

# --- Audit trail checkpoints (accounts.audit_chain; manage.py export_audit_checkpoint / verify_audit) ------------
#: The Ed25519 key (PEM) that signs checkpoints of the audit chain's head; made with mode 0600 on first use (the
#: log line then gives its public key). Keep it out of database backups: a stolen backup must not be able to sign.
AUDIT_CHECKPOINT_KEY_FILE = Path(env_str("AUDIT_CHECKPOINT_KEY_FILE") or VAR_DIR / "audit-checkpoint-key.pem")
#: Where exported checkpoints go (and where the newest is read from to check the chain against); copy them off-box.
AUDIT_CHECKPOINT_DIR = Path(env_str("AUDIT_CHECKPOINT_DIR") or VAR_DIR / "audit-checkpoints")

# --- Monitoring: the daily security report, its e-mail, Prometheus metrics (ops) --------------------------------
#: Who receives ``security_report --email`` (comma-separated addresses), and Django's mail settings to send it.
SECURITY_REPORT_RECIPIENTS = env_list("SECURITY_REPORT_RECIPIENTS")
#: Failed sign-ins within the report's window at which the report asks for a person.
SECURITY_REPORT_FAILED_LOGINS_ALERT = env_int("SECURITY_REPORT_FAILED_LOGINS_ALERT", 50, minimum=1)
EMAIL_HOST = env_str("EMAIL_HOST") or "localhost"
EMAIL_PORT = env_int("EMAIL_PORT", 25, minimum=1)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER") or ""
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD") or ""
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", default=False)
EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", default=False)
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 30, minimum=1)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL") or "pollguard@localhost"
SERVER_EMAIL = DEFAULT_FROM_EMAIL
EMAIL_SUBJECT_PREFIX = env_str("EMAIL_SUBJECT_PREFIX") or "[pollguard] "
#: Addresses and networks (as seen through the trusted proxies) that may read GET /metrics; anyone else gets 404.
METRICS_ALLOWED_ADDRESSES = env_list("METRICS_ALLOWED_ADDRESSES", ["127.0.0.1/32", "::1/128"])

# --- Backups (ops.backup; docs/operations.md "Backups and restore drills") ----------------------------------------
#: Where ``manage.py backup`` writes archives by default and where the daily report looks for the newest one (unset:
#: ``backup`` needs ``--to`` and the report says nothing of backups). The key is never a setting: BACKUP_KEY or
#: BACKUP_KEY_FILE in the environment of the command only.
BACKUP_DIR = env_str("BACKUP_DIR") or ""
#: The newest backup older than this many hours needs a person (daily report).
BACKUP_MAX_AGE_H = env_int("BACKUP_MAX_AGE_H", 26, minimum=1)

# --- The tablet app (polling.web.tablet; docs/tablet.md) ---------------------------------------------------------
#: A tablet signs its poll worker out after this many seconds untouched.
TABLET_IDLE_SIGN_OUT_S = env_int("TABLET_IDLE_SIGN_OUT_S", 900, minimum=60)
#: A tablet shows its keys and revocation list as out of date this many seconds after its last sync.
TABLET_STALE_AFTER_S = env_int("TABLET_STALE_AFTER_S", 1800, minimum=60)

# --- Incidents (photos reported with incidents) ------------------------------------------------------------------
#: Uploaded files live under MEDIA_ROOT; nothing there is served directly (incident photos only through the scoped
#: API endpoint), so MEDIA_URL is deliberately left unset.
MEDIA_ROOT = Path(env_str("MEDIA_ROOT") or VAR_DIR / "media")
#: An incident photo: at most this many bytes and this many pixels on either side (JPEG, PNG or WebP).
INCIDENT_PHOTO_MAX_BYTES = env_int("INCIDENT_PHOTO_MAX_BYTES", 5 * 1024 * 1024, minimum=1024)
INCIDENT_PHOTO_MAX_SIDE_PX = env_int("INCIDENT_PHOTO_MAX_SIDE_PX", 8000, minimum=16)

#!/usr/bin/env bash
# make scan: an outside scanner (Wapiti, from PyPI, in its own venv var/tools/wapiti) against the Mississippi demo
# served locally with the production security settings over TLS (gunicorn, a throwaway self-signed certificate), so
# that what it judges (headers, cookies, CSP, TLS) is what production sends. Bounded: SCAN_MAX_S seconds in all
# (default 600). Writes var/scan/wapiti.json and var/scan/findings.txt and prints the findings; each one is fixed or
# accepted with its reason in docs/security.md. Not part of the test suite.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3}"
VENV="${VENV:-.venv}"
PY="$VENV/bin/python"
TOOL="${SCAN_TOOL_DIR:-var/tools/wapiti}"
OUT="var/scan"
MAX_S="${SCAN_MAX_S:-600}"
mkdir -p "$OUT"

if [ ! -x "$TOOL/bin/wapiti" ]; then
    echo "== installing wapiti into $TOOL"
    "$PYTHON" -m venv "$TOOL"
    "$TOOL/bin/pip" install --quiet 'wapiti3>=3.2,<4'
fi

# Wapiti's TLS module runs Debian's sslscan; install it where we may (as root with apt), else that module is skipped.
if ! command -v sslscan >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        apt-get install -y -qq sslscan >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq sslscan; }
    else
        echo "note: sslscan is not installed (apt-get install sslscan): Wapiti's TLS checks will be skipped"
    fi
fi

PORT="${SCAN_PORT:-$("$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}"
BASE="https://127.0.0.1:$PORT"

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj "/CN=127.0.0.1" \
    -addext "subjectAltName=IP:127.0.0.1,DNS:localhost" -keyout "$OUT/tls.key" -out "$OUT/tls.crt" 2>/dev/null
"$PYTHON" -c "import secrets; print(secrets.token_urlsafe(50))" > "$OUT/secret_key"
"$PYTHON" -c "import secrets; print(secrets.token_urlsafe(50))" > "$OUT/credential_key"
chmod 600 "$OUT/tls.key" "$OUT/secret_key" "$OUT/credential_key"

# The production settings (deploy/production.env.example) less the parts that need the real infrastructure: SQLite
# instead of PostgreSQL, no Redis, TLS ended by gunicorn itself instead of a proxy.
unset DATABASE_URL REDIS_URL DEBUG SECRET_KEY CREDENTIAL_KEY_ENCRYPTION_KEY
export ENV_FILE=""  # never the checkout's .env (the demo's settings for make run)
export DJANGO_SETTINGS_MODULE=config.settings VAR_DIR="$OUT/var" ALLOWED_HOSTS=127.0.0.1,localhost \
    SECRET_KEY_FILE="$OUT/secret_key" CREDENTIAL_KEY_ENCRYPTION_KEY_FILE="$OUT/credential_key" \
    HTTPS_ONLY=1 SECURE_SSL_REDIRECT=1 SECURE_HSTS_SECONDS=31536000 SECURE_HSTS_INCLUDE_SUBDOMAINS=1 \
    SECURE_HSTS_PRELOAD=1 CSRF_TRUSTED_ORIGINS="$BASE" LOG_LEVEL=WARNING \
    PUBLIC_RATE_LIMIT=1000000/minute  # let the attacks reach the views instead of the throttle (429)
: > "$OUT/access.log"

echo "== demo data"
"$PY" manage.py migrate --no-input --verbosity 0
"$PY" manage.py load_demo > "$OUT/load_demo.log"
"$PY" manage.py collectstatic --no-input --verbosity 0

echo "== serving $BASE"
"$VENV/bin/gunicorn" config.wsgi:application --bind "127.0.0.1:$PORT" --workers 2 --threads 4 \
    --certfile "$OUT/tls.crt" --keyfile "$OUT/tls.key" --access-logfile "$OUT/access.log" \
    --error-logfile "$OUT/server.log" 2>>"$OUT/server.log" &
SERVER=$!
trap 'kill "$SERVER" 2>/dev/null || true; wait "$SERVER" 2>/dev/null || true' EXIT
for _ in $(seq 1 60); do
    curl -sk -o /dev/null "$BASE/healthz" && break
    sleep 0.5
done

# Wapiti tells the schema's format by its file name: hand it a .json file.
curl -sfk "$BASE/api/v1/schema/?format=json" -o "$OUT/openapi.json"
echo "== wapiti against $BASE (at most ${MAX_S}s)"
# Start points beside the crawl from /: the map, the API documentation, the public API, the admin sign-in; and
# every operation of the OpenAPI schema (--swagger).
"$TOOL/bin/wapiti" -u "$BASE/" --scope folder --flush-session --store-session "$OUT/session" \
    -s "$BASE/map/" -s "$BASE/api/docs/" -s "$BASE/api/v1/schema/" -s "$BASE/admin/login/" \
    -s "$BASE/api/v1/lookup/?lon=-90.18&lat=32.3" --swagger "$OUT/openapi.json" \
    -d 4 --max-links-per-page 40 --max-files-per-dir 40 --max-parameters 10 \
    --max-scan-time "$MAX_S" --max-attack-time "$((MAX_S / 6))" --tasks 8 \
    -f json -o "$OUT/wapiti.json" -v 1 > "$OUT/wapiti.log" 2>&1 || {
    echo "wapiti failed; its log:"
    tail -40 "$OUT/wapiti.log"
    exit 1
}

"$PYTHON" - "$OUT/wapiti.json" "$OUT/findings.txt" <<'PY'
import json
import sys

report = json.load(open(sys.argv[1], encoding="utf-8"))
lines = []
LABELS = {"vulnerabilities": "vulnerability", "anomalies": "anomaly", "additionals": "information"}
for section in ("vulnerabilities", "anomalies", "additionals"):
    for category, items in sorted(report.get(section, {}).items()):
        for item in items:
            where = f"{item.get('method', '')} {item.get('path', '')}".strip()
            lines.append(f"[{LABELS[section]}] {category}: {item.get('info', '').strip()} ({where})")
info = report.get("infos", {})
header = f"wapiti {info.get('version', '?')} on {info.get('target', '?')}: {len(lines)} finding(s)"
text = "\n".join([header, *lines]) + "\n"
open(sys.argv[2], "w", encoding="utf-8").write(text)
print(text, end="")
PY
echo "== report: $OUT/wapiti.json, summary: $OUT/findings.txt"

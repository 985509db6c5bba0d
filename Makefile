# Two commands for a newcomer:  make run  (serve the Mississippi demo)  and  make test  (the whole suite).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: install browser bench run serve demo test test-sqlite test-postgres lint format fixtures clean

# Dependencies come only from the hash-locked requirements/dev.txt (`make lock` writes it from pyproject.toml): pip
# checks every download against its hash, installs the project itself without fetching anything more (its build
# backend is in the lock too), and `pip check` fails the install when the lock lacks what pyproject.toml asks for.
LOCK := requirements/dev.txt
$(STAMP): pyproject.toml $(LOCK)
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --require-hashes -r $(LOCK)
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	$(PY) -m pip check
	@touch $(STAMP)

install: $(STAMP)

# Re-lock after changing dependencies in pyproject.toml: requirements/dev.txt (everything, for make install and CI)
# and requirements/production.txt (what a server runs). Existing pins stay unless LOCK_ARGS=--upgrade (or
# LOCK_ARGS="--upgrade-package NAME"). pip-tools lives apart in var/tools/pip-tools. docs/security.md.
PIP_COMPILE := var/tools/pip-tools/bin/pip-compile
LOCK_FLAGS := --quiet --generate-hashes --allow-unsafe --strip-extras --no-emit-index-url --no-emit-find-links
$(PIP_COMPILE):
	$(PYTHON) -m venv var/tools/pip-tools
	var/tools/pip-tools/bin/pip install --quiet 'pip-tools>=7.5,<8'

.PHONY: lock audit scan
lock: $(PIP_COMPILE)
	CUSTOM_COMPILE_COMMAND="make lock" $(PIP_COMPILE) $(LOCK_FLAGS) $(LOCK_ARGS) --extra dev \
		--build-deps-for editable -o requirements/dev.txt pyproject.toml
	CUSTOM_COMPILE_COMMAND="make lock" $(PIP_COMPILE) $(LOCK_FLAGS) $(LOCK_ARGS) \
		--build-deps-for wheel -o requirements/production.txt pyproject.toml

# Known vulnerabilities in the locked dependencies (pip-audit, PyPI's service); says so plainly when it cannot reach it.
audit:
	PYTHON=$(PYTHON) scripts/audit.sh

# An outside scanner (Wapiti) against the demo served locally over TLS with the production settings; findings in
# var/scan/findings.txt, each fixed or accepted in docs/security.md. SCAN_MAX_S bounds it (default 600 s).
scan: install
	PYTHON=$(PYTHON) VENV=$(VENV) scripts/scan.sh

# The demo's settings, which every manage.py command of this checkout reads with nothing exported (config/env.py
# read_env_file; the environment wins): written once and never overwritten, so edit it freely. Mode 0600, ignored by
# git. The demo runs with production settings (DEBUG off) on plain HTTP, bound to this machine only. A secret key
# from an older checkout's var/secret_key is kept (the demo's signing keys are encrypted with it).
.env:
	@umask 077; { \
		echo "# Written by make run for the local demo; read by every manage.py command here (docs/configuration.md)."; \
		echo "SECRET_KEY=$$(cat var/secret_key 2>/dev/null || $(PYTHON) -c 'import secrets; print(secrets.token_urlsafe(50))')"; \
		echo "ALLOWED_HOSTS=127.0.0.1,localhost"; \
		echo "HTTPS_ONLY=0"; \
		echo "# The demo's backup key (manage.py backup --to DIR); a server keeps its own in a file, never beside the archives."; \
		echo "BACKUP_KEY=$$($(PYTHON) -c 'import base64, secrets; print(base64.b64encode(secrets.token_bytes(32)).decode())')"; \
	} > .env.tmp && chmod 600 .env.tmp && mv .env.tmp .env
	@echo "wrote .env (the demo's settings)"

demo: install .env
	@$(PY) manage.py install_geoip --if-needed || echo "note: the IP-to-country database could not be fetched (make geoip); staff endpoints then admit this machine only"
	$(PY) manage.py migrate --no-input
	$(PY) manage.py load_demo
	$(PY) manage.py collectstatic --no-input --verbosity 0

run: demo
	@echo "Serving the Mississippi demo on http://$(HOST):$(PORT)/  (admin: make superuser)"
	$(PY) manage.py runserver $(HOST):$(PORT)

# The demo behind the production application server: gunicorn with the checked-in configuration (config/gunicorn.py:
# workers from the CPU count, preloaded app, JSON access log). Production runs the same under systemd (deploy/).
serve: demo
	@echo "Serving the Mississippi demo with gunicorn on http://$(HOST):$(PORT)/"
	$(VENV)/bin/gunicorn -c python:config.gunicorn --bind $(HOST):$(PORT) config.wsgi

# An admin login for the demo: password, then an authenticator app (the admin site asks for both).
ADMIN_USER ?= admin
superuser: install .env
	$(PY) manage.py createsuperuser --username $(ADMIN_USER)
	$(PY) manage.py enrol_totp $(ADMIN_USER)

# Debian's Chromium for the browser tests (tests/e2e); test tools never download a browser of their own.
browser:
	@if ! command -v chromium >/dev/null 2>&1; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
		else \
			echo "note: install Debian's chromium (sudo apt-get install chromium) or the browser tests are skipped"; \
		fi; \
	fi

# The IP-to-country database that geographic exclusion reads (guard.geo): @ip-location-db/geo-whois-asn-country-mmdb
# from the npm registry into var/geoip (NRO data, CC BY 4.0), fetched only when missing or stale. The tests that read
# real data need it (tests/guard/test_geo.py); a server runs `manage.py install_geoip` daily (docs/security.md).
.PHONY: geoip
geoip: install
	DJANGO_SETTINGS_MODULE=tests.settings $(PY) manage.py install_geoip --if-needed

# The whole suite on the database DATABASE_URL names (SQLite when unset). PYTEST_ARGS narrows it (CI runs the
# tests marked heavy, which start their own servers, once: -m "not heavy" on SQLite).
test: install browser geoip
	$(PY) -m pytest $(PYTEST_ARGS)

test-sqlite: install geoip
	env -u DATABASE_URL $(PY) -m pytest

test-postgres: install geoip
	DATABASE_URL=$${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test} $(PY) -m pytest

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports --no-cache
	$(VENV)/bin/bandit -q -r common polling accounts guard ops config -x '*/migrations/*' --severity-level medium
	SECRET_KEY=lint-only-0123456789abcdefghijklmnopqrstuv ALLOWED_HOSTS=localhost $(PY) manage.py makemigrations --check --dry-run

format: install
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

# Rebuild fixtures/mississippi from the Census and ZIP-code sources (see fixtures/README.md).
fixtures: install
	$(PY) -m pip install --quiet -e '.[dev,fixtures]'
	$(PY) fixtures/build_mississippi.py

# The benchmarks (docs/benchmarks.md): print figures, assert nothing. `make bench` builds the national data set (all
# 3,233 Census counties split into ~178,000 precincts, ~130,000 polling places) and measures the lookups in process,
# beside PostGIS, over HTTP (wrk) beside a trivial endpoint and GeoDjango, readiness and memory; then the
# election-morning writes. Needs PostGIS, GDAL and wrk from Debian (bench/README.md). ~10 min.
bench: install
	$(PY) bench/national.py $(BENCH_ARGS)
	$(PY) bench/checkins.py $(BENCH_CHECKINS_ARGS)

# The same lookups on the Mississippi demo alone (bench/README.md).
.PHONY: bench-mississippi
bench-mississippi: install
	$(PY) bench/lookup.py $(BENCH_MISSISSIPPI_ARGS)

# Election-morning check-ins over HTTP on PostgreSQL, next to a trivial authenticated insert and to offline sync
# (bench/README.md). Drops and recreates the database bench_checkins on the local PostgreSQL.
.PHONY: bench-checkins
bench-checkins: install
	$(PY) bench/checkins.py $(BENCH_CHECKINS_ARGS)

clean:
	rm -rf $(VENV) var .hypothesis

# Two commands for a newcomer:  make run  (serve the Mississippi demo)  and  make test  (the whole suite).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: install browser bench run demo test test-sqlite test-postgres lint format fixtures clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

var/secret_key:
	@mkdir -p var
	@$(PYTHON) -c "import secrets; print(secrets.token_urlsafe(50))" > var/secret_key
	@chmod 600 var/secret_key

# The demo runs with production settings (DEBUG off) on plain HTTP, bound to this machine only.
DEMO_ENV = SECRET_KEY="$$(cat var/secret_key)" ALLOWED_HOSTS=127.0.0.1,localhost HTTPS_ONLY=0

demo: install var/secret_key
	$(DEMO_ENV) $(PY) manage.py migrate --no-input
	$(DEMO_ENV) $(PY) manage.py load_demo
	$(DEMO_ENV) $(PY) manage.py collectstatic --no-input --verbosity 0

run: demo
	@echo "Serving the Mississippi demo on http://$(HOST):$(PORT)/  (admin: make superuser)"
	$(DEMO_ENV) $(PY) manage.py runserver $(HOST):$(PORT)

# An admin login for the demo: password, then an authenticator app (the admin site asks for both).
ADMIN_USER ?= admin
superuser: install var/secret_key
	$(DEMO_ENV) $(PY) manage.py createsuperuser --username $(ADMIN_USER)
	$(DEMO_ENV) $(PY) manage.py enrol_totp $(ADMIN_USER)

# Debian's Chromium for the browser tests (tests/e2e); test tools never download a browser of their own.
browser:
	@if ! command -v chromium >/dev/null 2>&1; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
		else \
			echo "note: install Debian's chromium (sudo apt-get install chromium) or the browser tests are skipped"; \
		fi; \
	fi

# The whole suite on the database DATABASE_URL names (SQLite when unset).
test: install browser
	$(PY) -m pytest

test-sqlite: install
	env -u DATABASE_URL $(PY) -m pytest

test-postgres: install
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

# Lookup and compliance throughput: in-process, PostGIS side by side, over HTTP (bench/README.md).
bench: install
	$(PY) bench/lookup.py $(BENCH_ARGS)

# Election-morning check-ins over HTTP on PostgreSQL, next to a trivial authenticated insert and to offline sync
# (bench/README.md). Drops and recreates the database bench_checkins on the local PostgreSQL.
.PHONY: bench-checkins
bench-checkins: install
	$(PY) bench/checkins.py $(BENCH_CHECKINS_ARGS)

clean:
	rm -rf $(VENV) var .hypothesis

# Majlis: `make run` runs the platform, `make test` runs the whole suite. Both set up everything
# they need (virtualenv, dependencies, PostgreSQL/Redis/RabbitMQ, roles, database, migrations).
SHELL := /bin/bash
.DEFAULT_GOAL := help
PYTHON_BIN ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
TEST_ENV := set -a && source tests/test.env && set +a
DEV_ENV := set -a && source var/dev.env && set +a

.PHONY: help run test fuzz chaos services migrate db dev-env lint fmt typecheck check bench \
	constraints clean dashboard browser openapi

help:
	@echo "make run        set everything up and run all six services (Ctrl-C stops them)"
	@echo "make test       set everything up and run the whole test suite"
	@echo "make fuzz       the bad-input tests at full size (100,000+ inputs per fuzz target)"
	@echo "make migrate    apply pending migrations to the run database"
	@echo "make dashboard  build the browser app (make run and make test do it when needed)"
	@echo "make check      ruff, ruff format --check and mypy --strict"
	@echo "make bench      benchmarks (not tests): one table, written to docs/benchmarks.md"
	@echo "make chaos      faults under load: every fault, on private servers (a table)"
	@echo "make openapi    regenerate the back ends' part of the OpenAPI document (commit it)"

$(STAMP): requirements.txt requirements-dev.txt constraints.txt pyproject.toml
	@$(PYTHON_BIN) -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' || \
		{ echo "Python 3.11 is required (found $$($(PYTHON_BIN) --version))"; exit 1; }
	test -x $(PY) || $(PYTHON_BIN) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -r requirements-dev.txt -c constraints.txt
	$(PY) -m pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e . 2>/dev/null || \
		$(PY) -m pip install -q --disable-pip-version-check --no-deps -e .
	touch $(STAMP)

services:
	@bash scripts/ensure-services.sh

# The dashboard (services/dashboard): npm ci when the lock file changes, then typecheck and
# build whenever a source changes. The gateway serves dist/ at / and /app/.
DASHBOARD := services/dashboard
DASHBOARD_DEPS := $(DASHBOARD)/node_modules/.installed-stamp
DASHBOARD_BUILD := $(DASHBOARD)/dist/index.html
DASHBOARD_SOURCES := $(shell find $(DASHBOARD)/src $(DASHBOARD)/public -type f 2>/dev/null) \
	$(addprefix $(DASHBOARD)/,index.html vite.config.ts tsconfig.json package.json)

$(DASHBOARD_DEPS): $(DASHBOARD)/package.json $(DASHBOARD)/package-lock.json
	@command -v npm >/dev/null || { echo "Node.js 20+ and npm are needed to build the dashboard (apt-get install nodejs npm)"; exit 1; }
	cd $(DASHBOARD) && npm ci --no-audit --no-fund
	touch $@

$(DASHBOARD_BUILD): $(DASHBOARD_DEPS) $(DASHBOARD_SOURCES)
	cd $(DASHBOARD) && npm run --silent build
	touch $@

dashboard: $(DASHBOARD_BUILD)

browser:
	@bash scripts/ensure-browser.sh

dev-env: $(STAMP)
	@$(PY) -m majlis.cli dev-secrets var/dev.env

db: $(STAMP) services dev-env
	$(DEV_ENV) && $(PY) -m majlis.db.setup

migrate: $(STAMP) dev-env
	$(DEV_ENV) && $(PY) -m majlis.db.setup --migrate-only

run: db dashboard
	$(DEV_ENV) && exec $(PY) -m majlis.devrun

test: $(STAMP) services dashboard browser
	$(TEST_ENV) && $(PY) -m majlis.db.setup --recreate
	$(TEST_ENV) && $(PY) -m pytest --durations=25 $(PYTEST_ARGS)

# The fuzz tests (every test module or test named *fuzz*) under the `full` hypothesis profile:
# 100,000+ generated inputs per pure target, larger HTTP and API samples; prints the counts.
# No per-test timeout: the bulk runs for minutes. `make test` runs the same tests, short form.
fuzz: $(STAMP) services dashboard
	$(TEST_ENV) && $(PY) -m majlis.db.setup --recreate
	$(TEST_ENV) && MAJLIS_FUZZ_PROFILE=full $(PY) -m pytest tests -k fuzz --timeout=0 $(PYTEST_ARGS)

# Faults under load on private PostgreSQL/Redis/RabbitMQ instances (never the shared ones);
# `make test` runs the short form (tests/chaos, marker `chaos`).
chaos: $(STAMP)
	$(TEST_ENV) && $(PY) -m majlis.testing.chaos

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

fmt: $(STAMP)
	$(PY) -m ruff format .
	$(PY) -m ruff check --fix .

typecheck: $(STAMP)
	$(PY) -m mypy shared/src services tests bench

check: lint typecheck

bench: $(STAMP) services
	$(TEST_ENV) && $(PY) -m majlis.db.setup
	$(TEST_ENV) && $(PY) bench/run.py

constraints: $(STAMP)
	{ echo "# Every installed distribution, pinned exactly (regenerate with: make constraints)."; \
	  $(PY) -m pip freeze --exclude-editable | grep -v '^majlis'; } > constraints.txt

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache

# The back ends' part of the OpenAPI document the gateway serves, generated from their route
# tables and request models (commit the result; a test fails while it is stale).
openapi: $(STAMP)
	$(TEST_ENV) && $(PY) -m majlis.cli openapi-backends

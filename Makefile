# vaxpass — the two commands: `make run` (demo on an embedded Airflow) and `make test` (the whole suite).
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export VAXPASS_HOME ?= $(CURDIR)/.vaxpass
export AIRFLOW_HOME ?= $(CURDIR)/.airflow

.PHONY: run test venv lint typecheck bench bench-postgres lock clean stop

venv: $(STAMP)

# uv installs the ~200 pinned packages in seconds instead of minutes; it comes from PyPI like the rest.
$(STAMP): requirements.txt pyproject.toml tests/interop/package-lock.json
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check uv==0.13.9
	# --compile-bytecode: uv does not write .pyc files (pip does), and with PYTHONDONTWRITEBYTECODE set (as on
	# this machine) Python never writes them either, so every process compiled Airflow, pandas and Great
	# Expectations again: importing GE + Airflow's SDK + pandas cost 7.8 CPU-s per process, 3.3 with bytecode
	$(BIN)/uv pip install --quiet --compile-bytecode --python $(BIN)/python -r requirements.txt
	$(BIN)/uv pip install --quiet --python $(BIN)/python --no-deps -e .
	# the independent JavaScript EU-DCC verifier the tests check certificates with
	npm ci --prefix tests/interop --no-audit --no-fund --silent
	# Debian packages the tests use: poppler's pdfsig (an independent PDF-signature check), NSS certutil (the
	# tests make pdfsig trust the exported root CA), SoftHSM2 (the PKCS#11 token the signing tests create) and
	# Chromium (the browser tests drive it with Playwright; no browser download)
	command -v pdfsig >/dev/null && command -v certutil >/dev/null && command -v softhsm2-util >/dev/null && \
	  command -v chromium >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
	  apt-get install -y -qq poppler-utils libnss3-tools softhsm2 chromium)
	touch $(STAMP)

run: venv
	$(BIN)/python scripts/demo.py

stop:
	$(BIN)/python scripts/demo.py stop

test: venv
	$(BIN)/ruff check include dags plugins scripts tests bench
	$(BIN)/mypy
	$(BIN)/pytest tests

# Backfill of >= 1 M doses (530 k registry persons, all faults on) plus a nightly increment of 100 k doses; the
# same backfill at 120 k persons as the baseline, and at 120 k persons over 240 sites (the city has one per
# 2,000 persons, up to 600) to tell per-site costs from per-record ones; then the projection to Hanoi, 20 M doses
# over 600 sites (bench/project.py; bench/results/scale.md says what one run measured).
BENCH_PERSONS ?= 530000
BENCH_INCREMENT ?= 100000
BENCH_BASE_PERSONS ?= 120000
BENCH_BASE_SITES ?= 240
# The ops store: SQLite in each run's work folder, or PostgreSQL with BENCH_DB_URL (a bench database, dropped and
# created afresh for every run; e.g. postgresql+psycopg://postgres@127.0.0.1:5432/vaxpass_bench). On a server on
# this machine each stage's server CPU is recorded too, and the projection charges it.
BENCH_DB_URL ?=
BENCH_STORE := $(if $(BENCH_DB_URL),--db-url $(BENCH_DB_URL) --recreate-db)
bench: venv
	$(BIN)/python -m bench.run_stages --persons $(BENCH_BASE_PERSONS) $(BENCH_STORE)
	$(BIN)/python -m bench.run_stages --persons $(BENCH_BASE_PERSONS) --sites $(BENCH_BASE_SITES) $(BENCH_STORE)
	$(BIN)/python -m bench.run_stages --persons $(BENCH_PERSONS) --increment $(BENCH_INCREMENT) $(BENCH_STORE)
	$(BIN)/python -m bench.project bench/results/stages-$(BENCH_PERSONS).json \
	  --base bench/results/stages-$(BENCH_BASE_PERSONS).json \
	  --sites-run bench/results/stages-$(BENCH_BASE_PERSONS)-sites$(BENCH_BASE_SITES).json

# The same on a private PostgreSQL server configured as a deployment's (bench/pgcluster.py: docs/production.md's
# settings for this machine's memory, recorded with the results), made in BENCH_PG_DIR and stopped afterwards.
BENCH_PG_DIR ?= /tmp/vaxpass-bench-pg
BENCH_PG_PORT ?= 5439
bench-postgres: venv
	$(BIN)/python -m bench.pgcluster start $(BENCH_PG_DIR) --port $(BENCH_PG_PORT)
	$(MAKE) bench BENCH_DB_URL=postgresql+psycopg://postgres@127.0.0.1:$(BENCH_PG_PORT)/vaxpass_bench; \
	  status=$$?; $(BIN)/python -m bench.pgcluster stop $(BENCH_PG_DIR); exit $$status

lock:
	$(BIN)/uv pip compile --python-version 3.11 --no-header --annotation-style line requirements.in -o requirements.txt

clean:
	rm -rf $(VENV) .airflow .vaxpass

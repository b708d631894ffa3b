# kedro-krt: `make demo` and `make test` work on a fresh machine (they set up .venv first).
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
export KEDRO_DISABLE_TELEMETRY := true
export PYTHONDONTWRITEBYTECODE := 1

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
# pytest-xdist workers: one per core. Modules stay whole on a worker (their servers are
# module fixtures), handed out in tests/conftest.py's order (longest first), not re-sorted by
# size; the trained example is built once for all workers (tests/helpers.py).
WORKERS ?= auto
PYTEST := $(BIN)/python -m pytest -n $(WORKERS) --dist loadscope --no-loadscope-reorder

.PHONY: setup demo test test-fast lint bench docs clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,docs]'
	touch $(STAMP)

setup: $(STAMP)  ## create .venv with kedro-krt and what its tests need

demo: setup  ## train the example model, compile, package, validate, serve, call, stop
	bash scripts/demo.sh

test: setup  ## every tier (unit, integration, e2e), in parallel: what CI runs
	$(PYTEST)

test-fast: setup  ## the unit tier: no Kedro CLI, no process, no server; the developer's loop
	$(PYTEST) -m "not integration and not e2e"

lint: setup  ## ruff and mypy
	$(BIN)/ruff check kedro_krt tests benchmarks example_project/src example_project/scripts examples docs/hooks.py
	$(BIN)/mypy

bench: setup  ## benchmarks (a separate env adds kedro-boot); writes benchmarks/RESULTS.md
	bash benchmarks/run.sh

docs: setup  ## the documentation site, strictly
	$(BIN)/mkdocs build --strict

clean:
	rm -rf $(VENV) site example_project/dist benchmarks/.venv

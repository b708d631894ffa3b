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

.PHONY: setup demo test test-fast test-plugins test-lowest lint bench docs clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,docs]'
	touch $(STAMP)

setup: $(STAMP)  ## create .venv with kedro-krt and what its tests need

demo: setup  ## train the example model, compile, package, validate, serve, call, stop
	bash scripts/demo.sh

test: setup  ## every tier (unit, integration, e2e), in parallel: what CI runs
	$(PYTEST) -m "not plugins" --durations=15

test-fast: setup  ## the unit tier: no Kedro CLI, no process, no server; the developer's loop
	$(PYTEST) -m "not integration and not e2e and not plugins"

# Real Kedro plugins (kedro-mlflow) served in a KRT, each in a virtualenv of its own under
# .venv-stock/ that takes minutes to install cold: apart from `make test`, and run by CI after it.
test-plugins: setup  ## a real Kedro plugin's hooks in a served KRT (kedro-mlflow)
	$(BIN)/python -m pytest -m plugins -p no:cacheprovider tests/e2e

# The lowest versions pyproject.toml declares, installed exactly (.ci/lowest-constraints.txt,
# which a test keeps equal to pyproject's floors); the test tools themselves come at their newest.
LOWEST := .venv-lowest
LOWEST_STAMP := $(LOWEST)/.installed-stamp
LOWEST_TESTS := tests/schema tests/runtime tests/serve tests/compiler/test_config.py \
	tests/compiler/test_config_schema.py tests/handwritten/test_build_config.py

$(LOWEST_STAMP): pyproject.toml .ci/lowest-constraints.txt
	rm -rf $(LOWEST)
	$(PYTHON) -m venv $(LOWEST)
	$(LOWEST)/bin/python -m pip install --quiet --upgrade pip
	$(LOWEST)/bin/python -m pip install --quiet -c .ci/lowest-constraints.txt -e '.[test]'
	$(LOWEST)/bin/python -m pip check
	touch $(LOWEST_STAMP)

test-lowest: $(LOWEST_STAMP)  ## the codec, runtime and serve (in-process) tests at the declared floors
	$(LOWEST)/bin/python -m pip freeze --exclude-editable \
		| grep -iE '^(kedro|kedro-datasets|pandas|numpy|protobuf|grpcio[a-z-]*|click|pydantic|pyyaml|omegaconf)==' \
		| tr '\n' ' '; echo
	$(LOWEST)/bin/python -m pytest -n $(WORKERS) --dist loadscope $(LOWEST_TESTS) -k "not nats"

lint: setup  ## ruff, mypy, and the import contract (layers, the node package, no cycles)
	$(BIN)/ruff check kedro_krt tests benchmarks example_project/src example_project/scripts examples docs/hooks.py
	$(BIN)/mypy
	$(BIN)/python -m pytest -q -p no:cacheprovider tests/test_layers.py

bench: setup  ## benchmarks (a separate env adds kedro-boot); writes benchmarks/RESULTS.md
	bash benchmarks/run.sh

docs: setup  ## the documentation site, strictly
	$(BIN)/mkdocs build --strict

clean:
	rm -rf $(VENV) $(LOWEST) .venv-stock site example_project/dist benchmarks/.venv

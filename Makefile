# flarewatch: one entry point for setting up, testing and demonstrating the project.
# `make demo` and `make test` each bootstrap .venv on their own (idempotently).

PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.stamp-install
PYTEST_ARGS ?=

.PHONY: venv demo test lint typecheck wheel-check pytest bench clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/flarewatch demo

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

# Build the wheel and import every package from it in a clean venv, so a package
# missing from pyproject.toml fails here rather than on a user's machine.
wheel-check: $(STAMP)
	@rm -rf dist .venv-wheel
	$(BIN)/python -m build --wheel --outdir dist . >/dev/null
	$(PYTHON) -m venv .venv-wheel
	.venv-wheel/bin/python -m pip install --quiet dist/*.whl
	cd /tmp && $(CURDIR)/.venv-wheel/bin/python -c "import monitor, probes, alerting, cfapi, cfsim, cfsim.services, ops; print('wheel imports ok')"
	.venv-wheel/bin/flarewatch --help >/dev/null
	@rm -rf .venv-wheel

pytest: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test: lint typecheck wheel-check pytest

bench: $(STAMP)
	$(BIN)/python benchmarks/simulator_throughput.py
	$(BIN)/python benchmarks/client_overhead.py

clean:
	rm -rf $(VENV) .venv-wheel dist build *.egg-info .mypy_cache .ruff_cache .pytest_cache

# flarewatch: one entry point for setting up, testing and demonstrating the project.
# `make demo` and `make test` each bootstrap .venv on their own (idempotently).

PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.stamp-install
PYTEST_ARGS ?=

.PHONY: venv demo test lint typecheck wheel-check pytest bench clean

venv: $(STAMP)

# The runtime dependencies are held to the container image's pins
# (deploy/container/requirements.txt, written by deploy/container/lock.py), so the tests run
# against exactly what the image and the systemd install ship, on any day.
$(STAMP): pyproject.toml deploy/container/requirements.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c deploy/container/requirements.txt -e '.[dev]'
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/flarewatch demo

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

# Build the wheel and import every package from it in a clean venv, so a package
# missing from pyproject.toml fails here rather than on a user's machine. The configs ship
# as data files (share/flarewatch/config): the demo must find its own, valid as installed.
wheel-check: $(STAMP)
	@rm -rf dist .venv-wheel
	$(BIN)/python -m build --wheel --outdir dist . >/dev/null
	$(PYTHON) -m venv .venv-wheel
	.venv-wheel/bin/python -m pip install --quiet dist/*.whl
	cd /tmp && $(CURDIR)/.venv-wheel/bin/python -c "import monitor, probes, alerting, cfapi, cfsim, cfsim.services, ops; print('wheel imports ok')"
	.venv-wheel/bin/flarewatch --help >/dev/null
	cd /tmp && $(CURDIR)/.venv-wheel/bin/python -c "import sys; from monitor.demo import find_demo_config as f; p = f(); assert str(p).startswith(sys.prefix), p; print('demo config', p)"
	cd /tmp && env CLOUDFLARE_API_BASE_URL=http://127.0.0.1:8787/client/v4 \
	    CLOUDFLARE_API_TOKEN=wheel-check-token-0123456789abcdefghij \
	    CLOUDFLARE_ACCOUNT_ID=0123456789abcdef0123456789abcdef \
	    FLAREWATCH_DEMO_EDGE=127.0.0.1:8787 FLAREWATCH_DEMO_NAMESERVER=127.0.0.1:5300 \
	    FLAREWATCH_DEMO_NAMESERVER_2=127.0.0.1:5301 FLAREWATCH_DEMO_RESOLVER_1=127.0.0.1:5302 \
	    FLAREWATCH_DEMO_RESOLVER_2=127.0.0.1:5303 FLAREWATCH_DEMO_RESOLVER_3=127.0.0.1:5304 \
	    FLAREWATCH_STATE_DIR=/tmp \
	    $(CURDIR)/.venv-wheel/bin/flarewatch check-config $(CURDIR)/.venv-wheel/share/flarewatch/config/demo.yaml
	@rm -rf .venv-wheel

pytest: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test: lint typecheck wheel-check pytest

# Every benchmark with its recorded settings (about 15 minutes; the daemon runs take real time).
bench: $(STAMP)
	$(BIN)/python benchmarks/simulator_throughput.py
	$(BIN)/python benchmarks/graphql_minutes.py
	$(BIN)/python benchmarks/client_overhead.py
	$(BIN)/python benchmarks/rule_evaluation.py
	$(BIN)/python benchmarks/statuspage_render.py
	$(BIN)/python benchmarks/log_ingest.py
	$(BIN)/python benchmarks/log_query.py
	$(BIN)/python benchmarks/daemon_http_scale.py
	$(BIN)/python benchmarks/daemon_footprint.py
	$(BIN)/python benchmarks/daemon_api_budget.py
	$(BIN)/python benchmarks/alert_latency.py
	$(BIN)/python benchmarks/vs_prometheus_stack/run.py

clean:
	rm -rf $(VENV) .venv-wheel dist build *.egg-info .mypy_cache .ruff_cache .pytest_cache

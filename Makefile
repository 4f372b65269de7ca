# The two commands a user needs: `make demo` and `make test`. Everything else is a step of those.
SHELL := /bin/bash
STATE ?= .state
VENV := $(STATE)/venv
FVENV := $(STATE)/flink-venv
PY := $(VENV)/bin/python
FPY := $(FVENV)/bin/python
HARNESS := $(VENV)/bin/harness
PYTEST_ARGS ?=

.PHONY: help bootstrap up down status demo test test-unit test-integration test-e2e bench lint clean local-llm \
	compose-env compose-build compose-up compose-down compose-test

help:
	@echo "make demo   - set up everything, start the stack, run an experiment, print the report path"
	@echo "make test   - set up everything, run unit, integration and e2e tests on the real stack"
	@echo "make up | down | status | bench | lint | clean"
	@echo "make compose-up | compose-down | compose-test  - the same system under Docker Compose (docs/compose.md)"

bootstrap:
	@bash scripts/bootstrap.sh

up: bootstrap
	@$(HARNESS) up

down:
	@if [ -x $(HARNESS) ]; then $(HARNESS) down; fi

status:
	@$(HARNESS) status

demo: bootstrap
	@bash scripts/demo.sh

test: bootstrap lint test-unit
	@$(PY) -m pytest $(wildcard tests/integration tests/e2e) -m "integration or e2e" $(PYTEST_ARGS)

test-unit: bootstrap
	@$(PY) -m pytest tests/unit -m unit --ignore=tests/unit/scoring $(PYTEST_ARGS)
	@if [ -d tests/unit/scoring ]; then $(FPY) -m pytest tests/unit/scoring -m unit -p no:cacheprovider $(PYTEST_ARGS); fi

test-integration: bootstrap
	@$(PY) -m pytest tests/integration -m integration $(PYTEST_ARGS)

test-e2e: bootstrap
	@$(PY) -m pytest tests/e2e -m e2e $(PYTEST_ARGS)

bench: bootstrap
	@for b in bench/*.py; do echo "== $$b"; done; echo "run one: $(PY) bench/<name>.py (see bench/README.md)"

# Optional, never part of bootstrap or CI: llama.cpp (built from source) and SmolLM2-135M into
# $(STATE)/llm-venv for the local-llm service and `harness calibrate` (docs/local-llm.md).
local-llm:
	@bash scripts/local_llm.sh

lint: bootstrap
	@$(VENV)/bin/ruff check foundation harness pipeline flink experiments dags tests bench
	@$(VENV)/bin/lint-imports --cache-dir $(STATE)/cache/import-linter  # layers: [tool.importlinter]
	@$(VENV)/bin/vulture  # paths, confidence: [tool.vulture] in pyproject.toml

clean: down
	rm -rf $(STATE)

# The whole system under Docker Compose (docs/compose.md), on a Docker host or on podman
# (docker/podman-host.sh first). Never part of bootstrap, `make test` or CI.
COMPOSE := bash docker/compose.sh

compose-env:  # the deployment's secrets, into .env (ignored by git) and .state/compose/
	@python3 docker/compose-env.py

compose-build: compose-env
	@$(COMPOSE) build

compose-up: compose-build  # returns once every service is healthy
	@$(COMPOSE) up -d
	@echo "Airflow UI: http://127.0.0.1:$${HARNESS_COMPOSE_AIRFLOW_PORT:-8080}  login: admin (password in .state/compose/secrets/airflow_admin_password)"

compose-down:
	@$(COMPOSE) down

compose-test:  # build, up, the demo experiment through Airflow, report and audit checked, down -v
	@bash docker/compose-test.sh

# The README's commands. Everything runs from the workspace venv (.venv/) that `make setup` makes.
SHELL := /bin/bash
.DEFAULT_GOAL := help
PYTHON ?= python3
BIN := .venv/bin
# pytest-xdist workers, one per core of the 2-core machines: 3 workers measured no faster (13.6 min vs
# 13.7 min with 2), and fewer processes keep the timing of deadline tests further from their bounds.
PYTEST_WORKERS ?= 2
PYTEST_ARGS ?=

.PHONY: help setup dist demo demo-dlt demo-orchestrated test lint bench clean

help: ## list the commands
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-9s %s\n", $$1, $$2}'

setup: ## uv (a private venv when missing), uv sync, meltano install
	@PYTHON=$(PYTHON) bash dev/scripts/setup.sh

dist: ## build the wheel of every package into dist/ (install with --find-links dist/; README)
	rm -rf dist
	@PYTHON=$(PYTHON) bash dev/scripts/setup.sh uv build --all-packages --wheel --out-dir dist
	@ls dist

demo: setup ## start the sandboxes, meltano run the three taps into DuckDB, print rows vs truth
	@$(BIN)/python dev/scripts/demo.py

demo-dlt: setup ## the same with the dlt variant (pipelines/dlt-sources/)
	@$(BIN)/python dev/scripts/demo_dlt.py

demo-orchestrated: setup ## every account of accounts.yml through Dagster (sandboxes, PostgreSQL, 4 runs at a time)
	@$(BIN)/python dev/scripts/demo_orchestrated.py

test: setup ## the whole suite: pytest over pyproject testpaths, with xdist workers
	$(BIN)/pytest -n $(PYTEST_WORKERS) --durations=15 $(PYTEST_ARGS)

lint: setup ## ruff (lint and format check) and mypy
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy kits/keyguard/keyguard kits/tapkit/tapkit kits/loaderkit/loaderkit \
		plugins/tap-crm/tap_crm plugins/tap-projects/tap_projects plugins/tap-leads/tap_leads \
		plugins/target-duckdb-bulk/target_duckdb_bulk plugins/target-postgres-bulk/target_postgres_bulk \
		pipelines/dlt-sources/dlt_sources pipelines/dlt-sources/tests pipelines/orchestration/orchestration \
		dev/sandbox/api_sandbox dev/scripts dev/bench dev/account_sandboxes.py tests

bench: setup ## benchmarks (dev/bench/, results in dev/bench/RESULTS.md)
	@PYTHONPATH=dev $(BIN)/python -m bench

clean: ## remove outputs, built wheels, plugin venvs and the test cache (keeps .venv)
	rm -rf dist output/warehouse.duckdb output/jsonl output/demo-logs output/demo-orchestrated output/accounts .meltano .tmp/meltano-test

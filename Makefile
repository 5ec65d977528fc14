# fmnist-pipeline: `make run` runs the pipeline, `make test` runs every test. Both set up .venv first.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
# Where the tests read the real Fashion-MNIST files (the four official .gz files).
FMNIST_DATA_DIR ?= ../shared/data/fashion-mnist
SPLITS ?= data/splits
PYTEST_ARGS ?=
# Test processes (pytest-xdist): most of an e2e test waits on servers and flow runs, so three share two cores
# well (docs/testing.md). TEST_WORKERS=0 runs the tests one after another.
TEST_WORKERS ?= 3
UNIT_WORKERS ?= 3
RUN_ARGS ?=

.PHONY: help venv run split lint format test test-unit screenshots bench stack-up stack-down clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(BIN)/.installed: requirements.lock pyproject.toml
	$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), "Python 3.11 is required"'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	# torch is pinned to 2.13.0 (CPU build); the lock pins every other package.
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $@

venv: $(BIN)/.installed ## Create .venv and install the locked dependencies

run: venv ## Run the whole pipeline (data: $$FMNIST_DATA_SOURCE, default the official download)
	$(BIN)/fmnist run $(RUN_ARGS)

split: venv ## Only ingest + split into $(SPLITS)
	$(BIN)/fmnist split --out $(SPLITS)

lint: venv ## ruff lint + format check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: venv ## Format the code
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

test: venv lint ## Run every test (unit, integration on the real data, end-to-end)
	FMNIST_DATA_DIR=$(abspath $(FMNIST_DATA_DIR)) $(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

test-unit: venv ## Only the fast unit tests
	$(BIN)/python -m pytest tests/unit -m "not slow" -n $(UNIT_WORKERS) --dist load $(PYTEST_ARGS)

screenshots: venv ## Refresh docs/images from the MLflow UI browser test
	FMNIST_SCREENSHOT_DIR=$(abspath docs/images) FMNIST_DATA_DIR=$(abspath $(FMNIST_DATA_DIR)) \
		$(BIN)/python -m pytest tests/e2e/test_mlflow_ui.py -q

bench: venv ## Run the benchmarks (prints figures; several minutes)
	FMNIST_DATA_DIR=$(abspath $(FMNIST_DATA_DIR)) $(BIN)/python benchmarks/bench_data.py
	$(BIN)/fmnist --quiet split --data-source $(abspath $(FMNIST_DATA_DIR)) --out $(SPLITS)
	$(BIN)/python benchmarks/bench_train.py --data $(SPLITS)

stack-up: venv ## Start the local Prefect + MLflow servers and worker
	$(BIN)/fmnist stack up

stack-down: ## Stop the local stack
	$(BIN)/fmnist stack down

clean: ## Remove the venv and generated data (never mlruns/)
	rm -rf $(VENV) data .pytest_cache .ruff_cache

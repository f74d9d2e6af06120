# kpiml: every target creates .venv with locked versions first, so a fresh clone needs only
# Python 3.11, pip and make.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
UV_VERSION := 0.13.9
DEMO_DIR ?= demo-out
DEMO_BUDGET ?= 60
# FLAML and AutoGluon, the peers of `make bench`, live in their own environment: AutoGluon needs pandas < 3
VENV_BENCH := .venv-bench

.PHONY: install install-dev demo test bench lint clean

$(BIN)/uv:
	@test -n "$(PYTHON)" || { echo "kpiml needs Python 3.11 on PATH (python3.11 or python3); set PYTHON=/path/to/python3.11"; exit 2; }
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else 1)' || { echo "kpiml needs Python 3.11; $(PYTHON) is $$($(PYTHON) --version). Set PYTHON=/path/to/python3.11"; exit 2; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet "uv==$(UV_VERSION)"

$(VENV)/.runtime-installed: requirements/runtime.lock pyproject.toml | $(BIN)/uv
	$(BIN)/uv pip sync --quiet --compile-bytecode --python $(BIN)/python requirements/runtime.lock
	$(BIN)/uv pip install --quiet --python $(BIN)/python --no-deps -e .
	@rm -f $(VENV)/.dev-installed
	@touch $@

$(VENV)/.dev-installed: requirements/dev.lock pyproject.toml | $(BIN)/uv
	$(BIN)/uv pip sync --quiet --compile-bytecode --python $(BIN)/python requirements/dev.lock
	$(BIN)/uv pip install --quiet --python $(BIN)/python --no-deps -e .
	@touch $@ $(VENV)/.runtime-installed

install: $(VENV)/.runtime-installed

install-dev: $(VENV)/.dev-installed

demo: install
	$(BIN)/kpiml plan examples/telco_churn.csv --target churn --positive Yes --out $(DEMO_DIR)
	$(BIN)/kpiml train --spec $(DEMO_DIR)/kpiml.yaml --budget $(DEMO_BUDGET) --out $(DEMO_DIR)
	$(BIN)/kpiml predict $(DEMO_DIR)/model examples/telco_churn.csv --out $(DEMO_DIR)/predictions.csv
	@echo
	@echo "Plan:        $(DEMO_DIR)/plan.md (editable spec: $(DEMO_DIR)/kpiml.yaml)"
	@echo "Model:       $(DEMO_DIR)/model, leaderboard $(DEMO_DIR)/leaderboard.csv, metrics $(DEMO_DIR)/metrics.json"
	@echo "Predictions: $(DEMO_DIR)/predictions.csv"
	@echo "MLflow UI:   $(BIN)/mlflow ui --backend-store-uri sqlite:///$(CURDIR)/$(DEMO_DIR)/mlflow.db"

test: install-dev
	bash scripts/test.sh

$(VENV_BENCH)/.installed: requirements/bench-peers.lock | $(BIN)/uv
	test -x $(VENV_BENCH)/bin/python || $(PYTHON) -m venv $(VENV_BENCH)
	$(BIN)/uv pip sync --quiet --compile-bytecode --python $(VENV_BENCH)/bin/python requirements/bench-peers.lock
	@touch $@

bench: install-dev $(VENV_BENCH)/.installed
	$(BIN)/python bench/run.py

lint: install-dev
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy

clean:
	rm -rf $(VENV) $(VENV_BENCH) $(DEMO_DIR) .pytest_cache .mypy_cache .ruff_cache

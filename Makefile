# Serverless NLP — entry points. Names are stable: docs, CI and issues rely on them.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
# the environment is rebuilt only when the dependency spec changes
VENV_STAMP := $(VENV)/.installed-$(shell sha256sum pyproject.toml | cut -c1-12)

.PHONY: help venv models test up bench package cost clean

help:
	@echo "make up       build the default models (cached) and run the service locally"
	@echo "make test     install everything the tests need and run them"
	@echo "make models   build the default models (cached by inputs)"
	@echo "make bench    benchmarks"
	@echo "make package  deployment package"
	@echo "make cost     cost report"

$(VENV_STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found (set PYTHON=...)"; exit 2; }
	rm -rf $(VENV) && $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -e '.[aws,build,dev]'
	touch $@

venv: $(VENV_STAMP)

models: venv
	$(PY) -m model_artifacts build-defaults

test: models
	$(PY) -m pytest

up: models
	$(PY) -m model_artifacts report --print

bench package cost:
	@echo "make $@: not built yet (see the open issues)"; exit 2

clean:
	rm -rf $(VENV) model_artifacts/dist .pytest_cache

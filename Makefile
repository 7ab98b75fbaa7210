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
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -e '.[aws,build,dev,keras]'
	rm -f $(VENV)/.installed-* && touch $@

venv: $(VENV_STAMP)

models: venv
	$(PY) -m model_artifacts build-defaults

# Everything CI proves: unit, functional and e2e tests (real models, local stack, Chromium),
# then the deployment package (osls package, cfn-lint, checkov, moto smoke deploy, layer check)
# and the WordPress plugin (PHPUnit + WordPress/MariaDB end to end). Installs what it needs.
test: models
	bash infra/ci/install_browser.sh
	bash infra/ci/npm_ci.sh
	$(PY) -m pytest
	PY=$(PY) bash infra/ci_checks.sh
	bash integrations/wordpress/tests/e2e.sh

up: venv
	@$(PY) -m infra.local preflight
	@bash infra/ci/npm_ci.sh || echo "warning: npm ci failed: the page's edge mode stays off"
	@$(MAKE) --no-print-directory models
	$(PY) -m infra.local up

# one run, side by side: bench/results/<date>.md + .json + PNGs. QUICK=1 for a short run.
bench: models
	$(PY) -m bench $(if $(QUICK),--quick,)

# cost report (infra/cost/results/report.md + PNGs + grid.csv + the web catalog's cost column) from
# the saved measurements in infra/cost/measurements/ (a stale build is flagged at the top).
# SWEEP=1 re-measures the current build first (5 cold starts + 15 warm runs per size; refuses a busy
# host; `python -m infra.cost sweep --plan` prints how long) and then refuses a report on another
# build (--strict). STAGE=prod|dev|local; SWEEP_ARGS="--allow-busy" / "--reps 9" / "--variants int8 fp32 pytorch-fp32"
cost: venv
	$(if $(SWEEP),$(PY) -m model_artifacts build-defaults && $(PY) -m infra.cost sweep --stage $(or $(STAGE),prod) $(SWEEP_ARGS) &&) $(PY) -m infra.cost report --stage $(or $(STAGE),prod) $(if $(SWEEP),--strict,)

# validate config/stages.yml, build the stage's layers (cached), `osls package` offline, size check
# STAGE=prod|dev|local  MODELS_FROM=dist|s3://<bucket>|none (where preload model aliases must exist)
package: venv
	$(PY) -m infra.package --stage $(or $(STAGE),prod) --models-from $(or $(MODELS_FROM),dist)

clean:
	rm -rf $(VENV) model_artifacts/dist .pytest_cache

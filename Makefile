# The two commands: `make demo` and `make test`. Each installs what it runs into .venv, and
# nothing more: the demo needs Python, Node (to build the JupyterLab extension) and PyPI; the
# tests add Chromium (apt, through scripts/install-browser.sh) and the sign-in tests' npm packages.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Two stamps, each named by a hash of what its install reads, so editing one of those files
# reinstalls; `make test` after `make demo` installs only what the tests add.
DEMO_STAMP := $(VENV)/.demo-$(shell cat pyproject.toml | sha1sum | cut -c1-12)
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml tests/oidc/package-lock.json | sha1sum | cut -c1-12)

.PHONY: install install-demo demo unit test lint format bench reliability clean-state notebooks lambda-bundle

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

# What `prompt-tester demo` runs: the package with its `demo` extra (the local stack's moto
# server, the Lambda functions' powertools, JupyterLab, ipykernel, matplotlib). No browser, no
# apt, no root: tests/unit/test_install.py holds this recipe to that.
$(DEMO_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e ".[demo]"
	@rm -f $(VENV)/.demo-*
	@touch $(DEMO_STAMP)

# What `make test` runs: the demo's install plus the test tools, Chromium and playwright for
# tests/browser, and the sign-in tests' OpenID provider (tests/support/oidc_support.py: oidc-provider,
# from the lock file). It covers the demo's install, so it stamps that one too.
$(STAMP): pyproject.toml scripts/install-browser.sh tests/oidc/package-lock.json | $(BIN)/python
	$(BIN)/python -m pip install -q -e ".[test,demo,lambda]"
	PYTHON=$(BIN)/python scripts/install-browser.sh
	npm ci --prefix tests/oidc --no-audit --no-fund
	@rm -f $(VENV)/.installed-* $(VENV)/.demo-*
	@touch $(STAMP) $(DEMO_STAMP)

install-demo: $(DEMO_STAMP)

install: $(STAMP)

demo: install-demo
	$(BIN)/prompt-tester demo

lint: install
	$(BIN)/ruff check prompt_tester_nb tests benchmarks scripts
	$(BIN)/ruff format --check prompt_tester_nb tests benchmarks scripts
	$(BIN)/lint-imports
	$(BIN)/mypy

format: install
	$(BIN)/ruff check --fix prompt_tester_nb tests benchmarks scripts
	$(BIN)/ruff format prompt_tester_nb tests benchmarks scripts

# Notebooks are tests too: nbval reruns them against a fresh stack whose demo data is pinned
# to one date, and compares every output with the committed one.
SEED_TIME := 2026-11-01T12:00:00Z
NBVAL := --nbval notebooks --nbval-sanitize-with notebooks/nbval_sanitize.cfg -p no:cacheprovider

# The quick tier alone, while editing: no local stack, under a minute (tests/unit).
unit: install
	$(BIN)/python -m pytest -q tests/unit

test: install lint
	$(BIN)/python -m pytest -q
	$(BIN)/prompt-tester run --seed-time $(SEED_TIME) -- $(BIN)/python -m pytest -q $(NBVAL)

notebooks: install
	$(BIN)/prompt-tester run --seed-time $(SEED_TIME) -- $(BIN)/python scripts/refresh_notebooks.py

bench: install
	$(BIN)/python -m benchmarks.bench_core
	$(BIN)/python -m benchmarks.bench_client
	-$(BIN)/python -m benchmarks.bench_replay
	$(BIN)/python -m benchmarks.bench_local
# bench_engine prints issue #21's figures first ([21.N]; --profile: py-spy, if installed)
	$(BIN)/python -m benchmarks.bench_engine --profile
	-$(BIN)/python -m benchmarks.bench_lambda
	$(BIN)/python -m benchmarks.bench_grids
	$(BIN)/python -m benchmarks.bench_key_writers
	$(BIN)/python -m benchmarks.bench_gc
	$(BIN)/python -m benchmarks.bench_datasets
	$(BIN)/python -m benchmarks.bench_experiment_compare
	$(BIN)/python -m benchmarks.bench_experiments

# The long suites, outside `make test` (about 6 minutes on 2 cores): the whole pytest suite with
# 100 schemathesis examples per operation and 3,000 hypothesis examples per property (the
# attack matrix is written by the same run), then 100 wrk clients for 60 s against the REST
# API. Figures land in test-output/reliability/; the last step prints them and fails when a
# goal is missed.
FUZZ_EXAMPLES ?= 100
PROPERTY_EXAMPLES ?= 3000
LOAD_CLIENTS ?= 100
LOAD_SECONDS ?= 60
reliability: install
	PROMPT_TESTER_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) PROMPT_TESTER_PROPERTY_EXAMPLES=$(PROPERTY_EXAMPLES) \
		$(BIN)/python -m pytest -q -p no:cacheprovider
	-$(BIN)/python -m benchmarks.bench_load --clients $(LOAD_CLIENTS) --duration $(LOAD_SECONDS)
	$(BIN)/python scripts/reliability_report.py

# The web backend's code artifact (deploy/template.yaml's CodeUri): the core, the Lambda
# functions and their runtime dependencies only. Then: sam deploy --guided (docs/lambda-deploy.md).
lambda-bundle: install
	$(BIN)/python scripts/lambda_bundle.py --out build/lambda

# The manual (docs/, MyST Markdown and the committed notebooks' outputs) into build/docs.
.PHONY: docs
docs: install
	$(BIN)/python -m sphinx -W --keep-going -b html docs build/docs

clean-state:
	rm -rf .prompt-tester/local

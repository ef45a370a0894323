# The two commands: `make demo` and `make test`. Both install what they need into .venv.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# The stamp's name hashes what the install reads, so editing either file reinstalls.
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml tests/oidc/package-lock.json | sha1sum | cut -c1-12)

.PHONY: install demo test lint format bench reliability clean-state notebooks lambda-bundle

$(STAMP): pyproject.toml scripts/install-browser.sh tests/oidc/package-lock.json
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[test,demo,lambda]"
	PYTHON=$(BIN)/python scripts/install-browser.sh
# The sign-in tests' OpenID provider (tests/oidc_support.py): oidc-provider, from the lock file.
	npm ci --prefix tests/oidc --no-audit --no-fund
	@rm -f $(VENV)/.installed-*
	@touch $(STAMP)

install: $(STAMP)

demo: install
	$(BIN)/prompt-tester demo

lint: install
	$(BIN)/ruff check prompt_tester_nb tests benchmarks scripts
	$(BIN)/ruff format --check prompt_tester_nb tests benchmarks scripts
	$(BIN)/lint-imports

format: install
	$(BIN)/ruff check --fix prompt_tester_nb tests benchmarks
	$(BIN)/ruff format prompt_tester_nb tests benchmarks

# Notebooks are tests too: nbval reruns them against a fresh stack whose demo data is pinned
# to one date, and compares every output with the committed one.
SEED_TIME := 2026-11-01T12:00:00Z
NBVAL := --nbval notebooks --nbval-sanitize-with notebooks/nbval_sanitize.cfg -p no:cacheprovider

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
# functions and their runtime dependencies only. Then: sam deploy --guided (README).
lambda-bundle: install
	$(BIN)/python scripts/lambda_bundle.py --out build/lambda

clean-state:
	rm -rf .prompt-tester/local

# The two commands: `make demo` and `make test`. Both install what they need into .venv.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | sha1sum | cut -c1-12)

.PHONY: install demo test lint format bench clean-state notebooks

$(STAMP): pyproject.toml scripts/install-browser.sh
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[test,demo]"
	PYTHON=$(BIN)/python scripts/install-browser.sh
	@rm -f $(VENV)/.installed-*
	@touch $(STAMP)

install: $(STAMP)

demo: install
	$(BIN)/prompt-tester demo

lint: install
	$(BIN)/ruff check prompt_tester_nb tests benchmarks scripts
	$(BIN)/ruff format --check prompt_tester_nb tests benchmarks scripts

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
	-$(BIN)/python -m benchmarks.bench_replay

clean-state:
	rm -rf .prompt-tester/local

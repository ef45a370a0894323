# The two commands: `make demo` and `make test`. Both install what they need into .venv.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | sha1sum | cut -c1-12)

.PHONY: install demo test lint format bench clean-state

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[test,demo]"
	@rm -f $(VENV)/.installed-*
	@touch $(STAMP)

install: $(STAMP)

demo: install
	$(BIN)/prompt-tester demo

lint: install
	$(BIN)/ruff check prompt_tester_nb tests benchmarks
	$(BIN)/ruff format --check prompt_tester_nb tests benchmarks

format: install
	$(BIN)/ruff check --fix prompt_tester_nb tests benchmarks
	$(BIN)/ruff format prompt_tester_nb tests benchmarks

test: install lint
	$(BIN)/python -m pytest -q

bench: install
	$(BIN)/python -m benchmarks.run_all

clean-state:
	rm -rf .prompt-tester/local

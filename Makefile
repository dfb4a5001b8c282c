# The README's commands. Only python3 and make are needed: everything else
# is installed into .venv from pyproject.toml.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed

.PHONY: run test check lint typecheck check-policies bench bench-api screenshots clean

$(INSTALLED): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

## Run the service on the embedded default (SQLite under ./data, console channel).
run: $(INSTALLED)
	$(BIN)/reminders serve

## The whole suite: lint, types, policy check and every test (SQLite and PostgreSQL).
## Most tests run on two processes (pytest-xdist: each has its own database schema and
## files); the slow process and fault tests then run alone, as their timings assume.
test: $(INSTALLED) lint typecheck check-policies
	$(BIN)/python -m pytest -n 2 -m "not slow" $(PYTEST_ARGS)
	$(BIN)/python -m pytest -m slow $(PYTEST_ARGS)

## The everyday loop (about 7 minutes): lint, types, and every test but the slow
## process and fault tests, on two processes, stopping at the first failure.
check: $(INSTALLED) lint typecheck
	$(BIN)/python -m pytest -n 2 -x -q -m "not slow" $(PYTEST_ARGS)

lint: $(INSTALLED)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(INSTALLED)
	$(BIN)/mypy

check-policies: $(INSTALLED)
	$(BIN)/reminders policies check

## Benchmarks (loopback only, bounded; not part of `make test`): tables on screen, JSON in bench/results/.
bench: $(INSTALLED)
	$(BIN)/python -m bench.run_all

bench-api: $(INSTALLED)
	$(BIN)/python -m bench.api_load

## The web pages' screenshots in docs/screenshots/ (Chromium at /usr/bin/chromium).
screenshots: $(INSTALLED)
	$(BIN)/python -m tests.browser.screenshots

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache

# The README's commands. Only python3 and make are needed: everything else
# is installed into .venv from pyproject.toml.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed

.PHONY: run test lint typecheck unit check-policies clean

$(INSTALLED): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

## Run the service on the embedded default (SQLite under ./data, console channel).
run: $(INSTALLED)
	$(BIN)/reminders serve

## The whole suite: lint, types, policy check and every test (SQLite and PostgreSQL).
test: $(INSTALLED) lint typecheck check-policies
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(INSTALLED)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(INSTALLED)
	$(BIN)/mypy

check-policies: $(INSTALLED)
	$(BIN)/reminders policies check

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache

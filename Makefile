# The two commands: `make run` (install, start everything on embedded defaults) and
# `make test` (install, then every check and test). Both create .venv themselves.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PACKAGES := providers schemas api workflows activities crm pbxhub

.PHONY: run test install install-test lint providers-check clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml $(VENV)/.installed
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $@

install: $(VENV)/.installed

install-test: $(VENV)/.installed-test

run: install
	$(BIN)/pbxhub dev

# The tests and benchmarks are type-checked too: a mistyped helper is a test that checks nothing.
lint: install-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy $(PACKAGES)
	$(BIN)/mypy tests bench

providers-check: install
	$(BIN)/pbxhub providers validate
	$(BIN)/pbxhub providers test

test: install-test lint providers-check
	bash scripts/ensure-postgres.sh
	$(BIN)/pytest

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache

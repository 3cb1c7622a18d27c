# The two commands: `make run` (install, start everything on embedded defaults) and
# `make test` (install, then every check and test). Both create .venv themselves.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PACKAGES := contracts providers schemas api workflows activities crm policies pbxhub recordings web

.PHONY: run test install install-test lint providers-check spec clean

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

# One spec alone, while writing it (seconds, not the whole suite): `make spec PROVIDER=uis` checks
# providers/uis.yaml, runs its examples (-v lists each), the spec tests filtered to it (its file,
# its schemas/uis/ and tests/fixtures/uis/), and its own end-to-end tests tests/test_uis_*.py.
spec: install-test
	@test -n "$(PROVIDER)" || { echo "usage: make spec PROVIDER=<provider id>"; exit 2; }
	@test -f providers/$(PROVIDER).yaml || { echo "no spec providers/$(PROVIDER).yaml"; exit 2; }
	$(BIN)/pbxhub providers validate providers/$(PROVIDER).yaml
	$(BIN)/pbxhub providers test -v providers/$(PROVIDER).yaml
	$(BIN)/pytest -q tests/test_provider_specs.py -k "$(PROVIDER).yaml or [$(PROVIDER)/"
	$(if $(wildcard tests/test_$(PROVIDER)_*.py),$(BIN)/pytest -q $(wildcard tests/test_$(PROVIDER)_*.py))

# The suite in TEST_WORKERS processes (each with its own Temporal dev server: a test mostly waits
# on Temporal, so three processes on two cores run it about twice as fast), then the `alone`
# tests by themselves.
TEST_WORKERS ?= 3

test: install-test lint providers-check
	bash scripts/ensure-postgres.sh
	bash scripts/ensure-chromium.sh
	$(BIN)/pytest -n $(TEST_WORKERS) -m "not alone"
	$(BIN)/pytest -m alone

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache

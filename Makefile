# The two commands a newcomer needs: `make run` and `make test`.
# Both create .venv and install the pinned dependencies first (requirements/*.txt).

PYTHON ?= $(shell for p in python3.13 python3.12 python3.11 python3; do \
	command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
	&& { echo $$p; break; }; done)
VENV ?= .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip --disable-pip-version-check -q
PYTEST_ARGS ?=
# Test processes (pytest-xdist); the `exclusive` tests run one after another on one of them.
TEST_WORKERS ?= 2
XDIST := -n $(TEST_WORKERS) --dist loadgroup

.PHONY: run test test-fast coverage install install-dev lint typecheck pytest lock bench screenshots clean

run: install
	$(BIN)/billhive dev

test: install-dev lint typecheck pytest

# The same run as `make test`'s with the per-file coverage table.
coverage: install-dev
	$(BIN)/pytest -q $(XDIST) --cov=billhive --cov-report=term-missing:skip-covered $(PYTEST_ARGS)

# The quick loop: no lint, no browser, no load tests, drills, schemathesis or wheel build.
test-fast: install-dev
	$(BIN)/pytest -q $(XDIST) -m "not browser and not slow" $(PYTEST_ARGS)

$(BIN)/python:
	@test -n "$(PYTHON)" || { echo "billhive needs Python 3.11 or newer on PATH." >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed-main: requirements/main.txt pyproject.toml | $(BIN)/python
	$(PIP) install -r requirements/main.txt
	$(PIP) install --no-deps -e .
	@touch $@

$(VENV)/.installed-dev: requirements/dev.txt pyproject.toml | $(BIN)/python
	$(PIP) install -r requirements/dev.txt
	$(PIP) install --no-deps -e .
	@touch $@ $(VENV)/.installed-main

install: $(VENV)/.installed-main

install-dev: $(VENV)/.installed-dev

lint:
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

typecheck:
	$(BIN)/mypy billhive

# Branch coverage of billhive/ is measured on every run and fails under the floor
# (pyproject.toml, [tool.coverage.report] fail_under).
pytest:
	$(BIN)/pytest $(XDIST) --cov=billhive --cov-report= $(PYTEST_ARGS)

# Re-pin every dependency (needs network); commit the changed requirements/*.txt.
lock: install-dev
	$(BIN)/pip-compile -q --strip-extras --allow-unsafe --no-emit-index-url --no-emit-find-links \
		-o requirements/main.txt pyproject.toml
	$(BIN)/pip-compile -q --strip-extras --allow-unsafe --no-emit-index-url --no-emit-find-links \
		--extra dev -o requirements/dev.txt pyproject.toml

# Regenerate docs/screenshots/ from the browser tests (a normal test run never writes them).
screenshots: install-dev
	BILLHIVE_SCREENSHOTS=1 $(BIN)/pytest -q tests/e2e

bench: install-dev
	@for b in benchmarks/bench_*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache

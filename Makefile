# Americano Research Analytics. A fresh machine needs Python 3.11+ and make; the first target
# you run creates .venv, puts uv in it and installs the locked dependencies.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
UV_VERSION := 0.13.9
PYTEST_ARGS ?=
# `make test` spreads the test modules over the cores (pytest-xdist; `PYTEST_WORKERS=0` runs one process)
PYTEST_WORKERS ?= auto

.PHONY: demo test ui bench lint format install clean screenshots

install: $(VENV)/.synced

$(VENV)/.synced: pyproject.toml uv.lock
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@test -x $(BIN)/uv || $(BIN)/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)
	$(BIN)/uv sync --frozen --quiet
	$(BIN)/python -m americano_pipelines.defs.transform.project
	@touch $@

demo: install
	$(BIN)/americano demo

test: install
	$(BIN)/pytest -n $(PYTEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

ui: install
	$(BIN)/americano ui

# docs/img/: the Dagster UI over the demo's state, photographed with Debian's chromium, and the
# pages of one protocol's CENT report (docs/cent_screenshots.py; needs poppler-utils' pdftoppm),
# and the screens of `americano serve` (docs/api_screenshots.py).
screenshots: demo
	$(BIN)/python docs/screenshots.py
	$(BIN)/python docs/cent_screenshots.py
	$(BIN)/python docs/api_screenshots.py

bench: install
	@for script in bench/[!_]*.py; do echo "== $$script"; $(BIN)/python $$script || exit 1; done

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# A fresh start on purpose: forget that .americano held a cluster (americano_pipelines/db/home.py),
# or the next run would refuse to create a new, empty one where the old one was.
clean:
	@if [ -x $(BIN)/americano ]; then $(BIN)/americano home forget .americano; fi
	rm -rf .americano data/raw dbt_project/target

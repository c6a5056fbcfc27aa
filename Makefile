# Two commands on a fresh machine: `make demo` and `make test`. Both build .venv from nothing.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat requirements/lock.txt pyproject.toml | cksum | cut -d' ' -f1)
STORE  ?= duckdb:///var/demo.duckdb
CUSTOMERS ?= 10000

.PHONY: env demo test lint format lock clean

$(STAMP): requirements/lock.txt pyproject.toml
	rm -f $(VENV)/.installed-*
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv==0.13.8
	$(BIN)/uv pip sync --quiet --python $(BIN)/python requirements/lock.txt
	$(BIN)/uv pip install --quiet --python $(BIN)/python --no-deps -e .
	touch $(STAMP)

env: $(STAMP)

## The whole demo on embedded DuckDB: data, import, quality, identity, profiles, segments, then the API.
demo: env
	$(BIN)/profilo --store $(STORE) demo --customers $(CUSTOMERS) --out demo-data --serve

## Lint, types, architecture contracts, then every test (PostgreSQL at 127.0.0.1:5432 included).
test: env lint
	$(BIN)/python -m pytest -q

lint: env
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/mypy
	$(BIN)/lint-imports

format: env
	$(BIN)/ruff format src tests benchmarks
	$(BIN)/ruff check --fix src tests benchmarks

## Re-resolve the pinned lock file after changing dependencies in pyproject.toml.
lock:
	$(BIN)/uv pip compile --quiet pyproject.toml --extra dev --python 3.11 -o requirements/lock.txt

clean:
	rm -rf $(VENV) var demo-data

# Two commands on a fresh machine:  make run  (set up, start the server)  and  make test.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test lint setup system-deps bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

setup: $(STAMP)

## run: set up (first time) and start the server on the embedded defaults
run: setup
	$(BIN)/ceres serve

## system-deps: system packages the tests need (Chromium for the browser test), via apt-get
system-deps:
	./scripts/system-deps.sh

## lint: layer contracts (import-linter), ruff, mypy (strict on domain, engine, pipeline)
lint: setup
	$(BIN)/lint-imports
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy

## test: set up (first time), check the code and run every test
test: setup system-deps lint
	$(BIN)/python -m pytest -q

## bench: print the benchmark figures (see README, Performance)
bench: setup
	$(BIN)/python bench/engine.py
	$(BIN)/python bench/journal.py
	$(BIN)/python bench/recovery.py

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info .pytest_cache .hypothesis

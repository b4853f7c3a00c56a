# qbo-toolkit: every target creates the project-local virtualenv first; nothing relies on what a
# machine happens to have.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
ARTIFACTS := artifacts
PORT ?= 0

.PHONY: help install lint typecheck test test-fast demo app emulator bench chaos clean thirdparty

help:
	@echo "make demo   - install, start the emulator, run the demo notebook with papermill"
	@echo "make test   - install, lint (ruff), type-check (mypy), run the tests (pytest)"
	@echo "make app    - serve the screens (notebooks/app.ipynb) with Voila on a loopback port"
	@echo "make bench  - the benchmarks (writes benchmarks/RESULTS.md)"
	@echo "make chaos  - the reliability harness: kills, faults, tokens, bad input, security"
	@echo "make emulator - run the QBO emulator in the foreground on port 8760"

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	$(BIN)/python -m pip check
	@# bytecode for the package (pip does not compile an editable install, and where PYTHONDONTWRITEBYTECODE
	@# is set every process and kernel would compile it from source again: ~0.2 s of CPU each)
	$(BIN)/python -m compileall -q qbo_toolkit
	@touch $(STAMP)

install: $(STAMP)

# tests/thirdparty: the Singer tap tap-quickbooks pins singer-python 6.1.1 (jsonschema 2, requests 2.33), which
# cannot share the toolkit's venv; it gets one of its own, run as a subprocess by the tests
TAP_VENV := $(VENV)/thirdparty/tap-quickbooks
TAP_STAMP := $(TAP_VENV)/.installed

$(TAP_STAMP): $(STAMP)
	@test -x $(TAP_VENV)/bin/python || $(PYTHON) -m venv $(TAP_VENV)
	$(TAP_VENV)/bin/python -m pip install --quiet 'tap-quickbooks==2.5.0'
	$(TAP_VENV)/bin/python -m pip check
	@touch $(TAP_STAMP)

# ... and node-quickbooks (a widely used client in another language) with the machine's Node.js and npm
NODE_DIR := $(VENV)/thirdparty/node
NODE_STAMP := $(NODE_DIR)/.installed

$(NODE_STAMP): $(STAMP)
	@mkdir -p $(NODE_DIR)
	npm install --prefix $(NODE_DIR) --no-audit --no-fund --silent 'node-quickbooks@2.0.50'
	@touch $(NODE_STAMP)

thirdparty: $(TAP_STAMP) $(NODE_STAMP)

lint: $(STAMP)
	$(BIN)/ruff check qbo_toolkit tests notebooks benchmarks

typecheck: $(STAMP)
	$(BIN)/mypy

test: lint typecheck thirdparty
	bash scripts/browser-deps.sh
	bash scripts/postgres.sh run $(BIN)/pytest -q -p no:cacheprovider
	bash scripts/nbval.sh

test-fast: $(STAMP)
	$(BIN)/pytest -q -x -m "not slow"

demo: $(STAMP)
	@bash scripts/demo.sh

bench: $(STAMP)
	$(BIN)/python benchmarks/run.py --size full

chaos: $(STAMP)
	$(BIN)/python benchmarks/chaos.py

app: $(STAMP)
	$(BIN)/qbo-toolkit app

emulator: $(STAMP)
	$(BIN)/qbo-toolkit emulator --port 8760 --data-dir .qbo-toolkit/emulator

clean:
	rm -rf $(VENV) $(ARTIFACTS) .pytest_cache .mypy_cache .ruff_cache build *.egg-info

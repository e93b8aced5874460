# Two commands on a fresh machine: `make serve` (set up and run), `make test` (set up and test).
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip -q --disable-pip-version-check
SERVE_ARGS ?=

.PHONY: serve test bench setup setup-test system-test-deps clean

serve: setup
	$(VENV)/bin/dewan serve $(SERVE_ARGS)

test: setup-test system-test-deps
	./scripts/run-tests.sh

bench: setup-test
	$(PY) -m bench.hub

setup: $(VENV)/.app-installed node_modules/.installed

setup-test: setup $(VENV)/.test-installed

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -U pip

$(VENV)/.app-installed: pyproject.toml | $(VENV)/bin/python
	$(PIP) install -e .
	touch $@

$(VENV)/.test-installed: pyproject.toml $(VENV)/.app-installed
	$(PIP) install -e '.[test]'
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund
	touch $@

# Debian's chromium (browser tests, never `playwright install`) and redis-server.
system-test-deps:
	@command -v chromium >/dev/null 2>&1 && command -v redis-server >/dev/null 2>&1 && command -v nft >/dev/null 2>&1 || { \
	  apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium redis-server nftables; }

clean:
	rm -rf $(VENV) node_modules .pytest_cache

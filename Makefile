# Two commands on a fresh machine: `make serve` (set up and run), `make test` (set up and test).
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip -q --disable-pip-version-check
SERVE_ARGS ?=
BUNDLE ?= .bundle

.PHONY: serve test bench bench-peers setup setup-test system-test-deps clean bundle install-offline

serve: setup
	$(VENV)/bin/dewan serve $(SERVE_ARGS)

test: setup-test system-test-deps bundle
	./scripts/run-tests.sh

bench: setup-test
	$(PY) -m bench.hub

# Dewan against Janus VideoRoom (installs Debian's janus when missing)
bench-peers: setup-test
	$(PY) -m bench.peers

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

# Debian's chromium (browser tests, never `playwright install`), redis-server, and for the
# network tests coturn (turnserver), nftables (nft) and libnss3-tools (certutil).
system-test-deps:
	@for tool in chromium redis-server turnserver nft certutil; do command -v $$tool >/dev/null 2>&1 || missing=1; done; \
	[ -z "$$missing" ] || { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y \
	  chromium redis-server coturn nftables libnss3-tools; }

# Offline install: `make bundle` (with registry access) writes $(BUNDLE)/wheels (every Python
# wheel dewan needs, and pip/setuptools to build it) and $(BUNDLE)/npm (the npm tarballs of
# package-lock.json). Copy the checkout and the bundle to the offline machine, then
# `make install-offline BUNDLE=DIR` there (no registry is asked).
bundle: $(BUNDLE)/.complete

$(BUNDLE)/.complete: pyproject.toml package.json package-lock.json | $(VENV)/bin/python
	rm -rf $(BUNDLE)/wheels $(BUNDLE)/npm && mkdir -p $(BUNDLE)/wheels $(BUNDLE)/npm
	$(PIP) wheel -w $(BUNDLE)/wheels . pip 'setuptools>=68' wheel
	rm -rf $(BUNDLE)/wheels/dewan-*.whl build
	cd $(BUNDLE)/npm && npm pack --silent $$(node -e 'const l = require(process.argv[1]); \
	  for (const [k, v] of Object.entries(l.packages)) if (k) console.log(k.replace(/.*node_modules\//, "") + "@" + v.version)' \
	  $(CURDIR)/package-lock.json) >/dev/null
	touch $@

install-offline:
	@test -d "$(BUNDLE)/wheels" -a -d "$(BUNDLE)/npm" || { echo "install-offline: no bundle at BUNDLE=$(BUNDLE) (make bundle)"; exit 2; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip -q --disable-pip-version-check install --no-index --find-links $(BUNDLE)/wheels -U pip 'setuptools>=68' wheel
	$(PY) -m pip -q --disable-pip-version-check install --no-index --find-links $(BUNDLE)/wheels --no-build-isolation -e .
	touch $(VENV)/.app-installed
	node scripts/npm-offline.js $(BUNDLE)/npm
	touch node_modules/.installed
	@echo "installed offline: $(VENV)/bin/dewan serve"

clean:
	rm -rf $(VENV) node_modules .pytest_cache $(BUNDLE)

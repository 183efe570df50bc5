# aetcd developer tasks. `make demo` and `make test` work on a fresh clone with only Python installed.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STAMP := $(VENV)/.installed
DOCS_STAMP := $(VENV)/.installed-docs

.PHONY: install demo test test-unit test-integration test-cluster test-etcd34 lint typecheck proto proto-check protoc docs bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -e ".[test,dev]"
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(PY) examples/_demo.py examples/tour.py

lint: install
	$(VENV)/bin/ruff check aetcd tests examples
	$(VENV)/bin/ruff format --check aetcd tests examples

typecheck: install
	$(VENV)/bin/mypy

# protoc comes from Debian's protobuf-compiler; the plugin from betterproto2-compiler (dev extra).
protoc:
	@command -v protoc >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq protobuf-compiler >/dev/null)

proto: install protoc
	PATH="$(abspath $(VENV))/bin:$$PATH" bash scripts/genproto.sh aetcd/_proto

proto-check: install protoc
	PATH="$(abspath $(VENV))/bin:$$PATH" bash scripts/genproto.sh --check aetcd/_proto

# The docs extra is installed so that tests/test_docs.py builds the site (strict) once.
test: install lint typecheck proto-check $(DOCS_STAMP)
	$(PY) -m pytest -q -p no:cacheprovider tests

# The documentation site, built into site/ with warnings as errors (see mkdocs.yml).
$(DOCS_STAMP): $(STAMP) pyproject.toml
	$(PIP) install -q -e ".[docs]"
	touch $(DOCS_STAMP)

docs: $(DOCS_STAMP)
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict --site-dir site

test-unit: install
	$(PY) -m pytest -q tests/unit

test-integration: install
	$(PY) -m pytest -q tests/integration

test-cluster: install
	$(PY) -m pytest -q tests/cluster

# Runs the integration and cluster suites against Debian's etcd 3.4.23.
test-etcd34: install
	@command -v /usr/bin/etcd >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq etcd-server etcd-client >/dev/null)
	ETCD_BINARY=/usr/bin/etcd ETCDCTL_BINARY=/usr/bin/etcdctl $(PY) -m pytest -q tests/integration tests/cluster

# Benchmarks aetcd against peer clients (never part of `make test`): the peers' venvs are
# created under .bench/ on first use; BENCH_ARGS="--quick" for a short run. See docs/performance.md.
bench: install
	PYTHON=$(PYTHON) bash bench/setup.sh
	$(PY) bench/run.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache site

# netra-trio: `make serve` and `make test` set everything up from a fresh clone.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

BENCH_STAMP := $(VENV)/.installed-bench

.PHONY: serve test lint typecheck pytest clean bench bench-quick mutation services

$(BIN)/python:
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "need $(PYTHON) (Python 3.11)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

# The benchmark extra is installed only for these targets; `make test` never needs it.
$(BENCH_STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	@touch $(BENCH_STAMP)

serve: $(STAMP)
	$(BIN)/netra-trio serve

lint: $(STAMP)
	$(BIN)/ruff check netra_trio tests $(wildcard benchmarks) $(wildcard examples)
	$(BIN)/ruff format --check netra_trio tests $(wildcard benchmarks) $(wildcard examples)

typecheck: $(STAMP)
	$(BIN)/mypy

# What the tests start for themselves (each test session runs its own, on a free
# loopback port), and the headless browser of tests/browser: installed from
# Debian's packages when missing.
services:
	@missing=""; \
	command -v redis-server >/dev/null 2>&1 || missing="$$missing redis-server"; \
	[ -x /usr/bin/chromium ] || missing="$$missing chromium"; \
	[ -x /usr/bin/chromedriver ] || missing="$$missing chromium-driver"; \
	{ command -v initdb >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; } \
	  || missing="$$missing postgresql"; \
	if [ -n "$$missing" ]; then \
	  echo "installing$$missing (for the tests)"; \
	  SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  $$SUDO apt-get update -q && $$SUDO apt-get install -y -q $$missing; \
	fi

# The official AsyncAPI parser (Node.js), with which the tests validate
# docs/asyncapi.json: installed from its lockfile, Node.js and npm from
# Debian's packages when missing.
ASYNCAPI_VALIDATOR := tests/protocol/asyncapi_validator
ASYNCAPI_STAMP := $(ASYNCAPI_VALIDATOR)/node_modules/.installed

$(ASYNCAPI_STAMP): $(ASYNCAPI_VALIDATOR)/package.json $(ASYNCAPI_VALIDATOR)/package-lock.json
	@command -v npm >/dev/null 2>&1 || { \
	  echo "installing nodejs npm (the AsyncAPI document's validator runs on it)"; \
	  SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  $$SUDO apt-get update -q && $$SUDO apt-get install -y -q nodejs npm; }
	npm ci --prefix $(ASYNCAPI_VALIDATOR) --ignore-scripts --no-audit --no-fund --loglevel=error
	@touch $@

# The whole suite under coverage (servers started as subprocesses included), then
# the gates: 95 % of the package's branches, all of the sans-IO cores' (the
# server's and the client's) and the protocol's.
pytest: $(STAMP) services $(ASYNCAPI_STAMP)
	rm -f .coverage .coverage.*
	$(BIN)/python -m coverage run -m pytest
	$(BIN)/python -m coverage combine -q
	$(BIN)/python -m coverage report --fail-under=95
	$(BIN)/python -m coverage report --include='netra_trio/core/*,netra_trio/client/core*,netra_trio/protocol/*' --fail-under=100

test: lint typecheck pytest

bench: $(BENCH_STAMP)
	$(BIN)/python -m benchmarks.run

bench-quick: $(BENCH_STAMP)
	$(BIN)/python -m benchmarks.run --quick

# Mutation testing of the sans-IO core ([tool.mutmut] in pyproject.toml, docs/mutation.md).
# mutmut works in a copy under mutants/ (git-ignored); each run starts afresh, so the
# score is that of the tree as it is. Timeouts count as killed, as mutmut's own badge does.
mutation: $(STAMP)
	rm -rf mutants
	$(BIN)/mutmut run
	$(BIN)/mutmut results
	$(BIN)/mutmut export-cicd-stats
	@$(BIN)/python -c 'import json; s = json.load(open("mutants/mutmut-cicd-stats.json")); \
	k, t = s["killed"] + s["timeout"], s["total"] - s["skipped"]; \
	to, sv, nt = s["timeout"], s["survived"], s["no_tests"]; \
	print(f"mutation score: {100 * k / t:.1f} % ({k} of {t} mutants killed, {to} by timeout;", \
	f"{sv} survived, {nt} reached by no test)")'

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache $(ASYNCAPI_VALIDATOR)/node_modules

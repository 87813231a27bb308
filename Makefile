# Two commands do everything on a fresh machine: `make demo` and `make test`.
# Everything lives in .venv; nothing is installed outside it.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# The second server `make test` runs the suite against when nothing else is named.
LOCAL_PG_URL := postgresql://postgres@127.0.0.1:5432/postgres

.PHONY: install browser demo serve test fuzz lint unit bench clean

$(STAMP): pyproject.toml src/candlelab/web/assets.py
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	$(BIN)/python -m candlelab.web.assets
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(BIN)/candlelab demo

# The annotator on the demo's data (or whatever DATABASE_URL holds): http://127.0.0.1:8000
serve: install
	$(BIN)/candlelab serve

lint: install
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache

# The browser tests drive Debian's chromium (Playwright's own download does not work here).
browser:
	@test -x /usr/bin/chromium || { echo "== installing Debian's chromium"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; }

# The suite runs on the embedded server, then again on a separate server (the one
# TEST_DATABASE_URL names, or the PostgreSQL answering on 127.0.0.1:5432): there, every
# test that reaches the server, but the browser's and the slowest whole commands' (`slow`).
test: lint browser
	env -u TEST_DATABASE_URL $(BIN)/pytest
	@url="$${TEST_DATABASE_URL:-}"; \
	if [ -z "$$url" ] && $(BIN)/python -c 'import socket; socket.create_connection(("127.0.0.1", 5432), 1)' 2>/dev/null; \
	then url="$(LOCAL_PG_URL)"; fi; \
	if [ -n "$$url" ]; then \
	  echo "== the suite again, on $$url"; \
	  TEST_DATABASE_URL="$$url" $(BIN)/pytest -m 'not embedded and not serverless and not slow'; \
	else echo "== no second PostgreSQL server answered; ran on the embedded one only"; fi

# The fuzz harness of the suite (tests/fuzz/), with many more examples per operation.
FUZZ_EXAMPLES ?= 1000
fuzz: install
	FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(BIN)/pytest -q --timeout=0 tests/fuzz

bench: install
	@for b in bench/bench_*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache

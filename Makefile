# The README's two commands are `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)

.PHONY: install run test test-services test-embedded test-ledger-sqlite lint stack bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/pip install --quiet --disable-pip-version-check -e ".[dev]"
	rm -f $(VENV)/.installed-* && touch $(STAMP)

install: $(STAMP)

## Run the portal on its embedded defaults (SQLite, in-process tasks, in-memory channel layer) with demo data.
run: install
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py collectstatic --noinput -v0
	$(BIN)/python manage.py seed_demo
	PORTAL_DEMO=1 $(BIN)/python manage.py runportal --demo-wallet

## Run the test suite in both runtime modes at once (portal/runtime.py): services (PostgreSQL and
## Redis on 127.0.0.1, see README) and embedded (no Redis: tasks in the calling process, the
## in-memory channel layer; its own test database) and the ledger's tests on SQLite, the
## embedded default of `make run`: the money must add up exactly on every backend.
LEDGER_TESTS := tests/contributions/test_batch_apply.py tests/contributions/test_mechanics.py \
	tests/contributions/test_drops.py tests/contributions/test_raffles.py tests/contributions/test_api.py \
	tests/portal/test_embedded_ledger.py tests/contributions/test_daily_close.py tests/contributions/test_archive.py \
	tests/contributions/test_session_tokens.py
test: install
	$(MAKE) --no-print-directory -j3 --output-sync=target test-services test-embedded test-ledger-sqlite

test-services: install
	@echo "== the suite in the services runtime (PostgreSQL, Redis)"
	$(BIN)/pytest

test-embedded: install
	@echo "== the suite in the embedded runtime (PostgreSQL, no Redis)"
	REDIS_URL= DATABASE_TEST_NAME=$${DATABASE_TEST_NAME:-test_jackpot_portal}_embedded $(BIN)/pytest

test-ledger-sqlite: install
	@echo "== the ledger's tests on SQLite, embedded (make run's defaults)"
	rm -f var/test-ledger.sqlite3 && mkdir -p var
	REDIS_URL= DATABASE_URL=sqlite:///$(CURDIR)/var/test-ledger.sqlite3 $(BIN)/pytest -m "not slow" $(LEDGER_TESTS)

## Web, worker, beat (and the demo wallet) together on PostgreSQL and Redis (DATABASE_URL and REDIS_URL must be set).
stack: install
	@test -n "$$DATABASE_URL" -a -n "$$REDIS_URL" || (echo "Set DATABASE_URL and REDIS_URL first (see README)"; exit 1)
	mkdir -p var
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py collectstatic --noinput -v0
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/honcho -f Procfile.demo start

## The benchmark on PostgreSQL and Redis (needs wrk: apt-get install wrk); appends to bench/RESULTS.md.
bench: install
	command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk)
	$(BIN)/pip install --quiet --disable-pip-version-check -e ".[dev,bench]"
	$(BIN)/python bench/run.py

## Ruff, then the import contracts of pyproject.toml (layers point one way, no import circles).
lint: install
	$(BIN)/ruff check .
	$(BIN)/lint-imports

clean:
	rm -rf $(VENV) staticfiles db.sqlite3

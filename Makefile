PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install demo test soak verify-soak replay lint format bench bench-ingest ci clean

$(STAMP): requirements.txt
	@command -v $(PYTHON) >/dev/null || { echo "$(PYTHON) not found; set PYTHON=/path/to/python3.11"; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(PY) -m devtools.demo

# Two processes (pytest-xdist); browser tests stay in one of them (tests/conftest.py). TEST_ARGS= runs in one.
TEST_ARGS ?= $(if $(REDIS_URL),,-n 2)
test: install
	$(PY) -m pytest $(TEST_ARGS)

# More randomized fault schedules than `make test` plays (200): make soak SEEDS=10000 [FIRST=1]
SEEDS ?= 10000
FIRST ?= 1
soak: install
	SCHEDULE_SEEDS=$(SEEDS) SCHEDULE_FIRST_SEED=$(FIRST) $(PY) -m pytest tests/ingest/test_schedules.py -q -p no:logging -o timeout=0

# "Verify totals" on the acceptance's 50,000-item table under live writes (make test uses 3,000)
verify-soak: install
	VERIFY_ITEMS=50000 $(PY) -m pytest tests/fundraiser/test_verify.py -q -s -p no:logging -o timeout=0

# Replay one fault schedule, with the consumers' logs: make replay SEED=1234
replay: install
	SCHEDULE_SEED=$(SEED) $(PY) -m pytest tests/ingest/test_schedules.py -q -o timeout=0

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(PY) -m pytest -q -p no:cacheprovider tests/test_architecture.py

format: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

# Every benchmark, one table (docs/PERFORMANCE.md); heavy: 20,000 connections. BENCH_ARGS=--only fanout ...
bench: install
	$(PY) -m bench.all $(BENCH_ARGS)

# The ingestion benchmark alone, with its per-stage costs and profile.
bench-ingest: install
	$(PY) bench/run.py

ci: lint test

clean:
	rm -rf $(VENV) var artifacts

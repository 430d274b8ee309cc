# AdStack Realtime — run `make dev` to run everything, `make test` to test everything.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
SRC    := libs services

.PHONY: install dev test check lint types imports fmt watch clean bench bench-smoke bench-floor bench-ingest fuzz chaos \
        deploy-check

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11+ is required"'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)  ## create .venv and install everything (editable)

dev: install  ## run Redis, the ingester, two gateways and the simulated devnet
	$(BIN)/adstack-dev

watch: install  ## print live events from the campaign contract (needs `make dev` running)
	$(BIN)/python -m adstack_devnet.watch --url ws://127.0.0.1:3002/ws --token "$$(cat .dev-token)" \
	  --contract "$${CAMPAIGN_CONTRACT:-ST1PQHQKV0RJXZFY1DGX8MNSNYVE3VGZJSRTPGZGM.promo-manager}"

test: install check  ## static checks, then the whole test suite against a real Redis
	$(BIN)/python -m pytest -q -n 2 -p no:cacheprovider

check: lint types imports  ## ruff, mypy --strict, import contracts

deploy-check: install  ## only the deploy/ checks (promtool, k8s/compose schemas, dashboard, systemd); part of `make test`
	$(BIN)/python -m pytest -q -p no:cacheprovider tests/deploy

lint: install
	$(BIN)/ruff check $(SRC) tests

types: install
	$(BIN)/mypy -p adstack_clarity -p adstack_config -p adstack_events -p adstack_bus \
	  -p adstack_protocol -p adstack_auth -p adstack_metrics -p adstack_localredis \
	  -p adstack_runtime -p adstack_client -p adstack_ingester -p adstack_gateway -p adstack_devnet -p adstack_bench

imports: install
	$(BIN)/lint-imports

fmt: install
	$(BIN)/ruff check --fix $(SRC) tests

N ?= 100000
fuzz: install  ## mutation-fuzz every untrusted-input decoder: make fuzz N=1000000
	$(BIN)/python -m tests.fuzz.fuzz --iterations $(N)

chaos: install  ## kill/pause/cut every part of a live system; report loss, duplicates, recovery
	$(BIN)/python -m tests.chaos.run --json /tmp/adstack-chaos.json $(CHAOS_ARGS)

.PHONY: security
security: install  ## bad-input catalogue, attack suite and fuzz smoke only; prints their figures
	$(BIN)/python -m pytest -q -n 2 -p no:cacheprovider tests/e2e/security tests/unit/test_fuzz_smoke.py

bench: install  ## fan-out benchmark (minutes); rewrites docs/performance.md
	$(BIN)/python -m adstack_bench.fanout

bench-smoke: install  ## seconds-long run of the same benchmark (output in /tmp)
	$(BIN)/python -m adstack_bench.fanout --quick --duration 2 --output /tmp/adstack-perf-smoke.md

bench-floor: install  ## kernel floor: a bare send loop to 1,000 and 5,000 loopback sockets
	$(BIN)/python -m adstack_bench.floor

bench-ingest: install  ## decode + publish throughput for 10,000 print events (real valkey)
	$(BIN)/python -m tests.perf.ingest

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .dev-token

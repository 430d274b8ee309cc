# AdStack Realtime — run `make dev` to run everything, `make test` to test everything.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
SRC    := libs services tools
# What the static checks need first; test-latest empties it to check another venv.
INSTALLED := install
# uv itself, pinned by hash, in its own small venv; it installs .venv from uv.lock and nothing else.
UVDIR  := .uv
UV     := $(UVDIR)/bin/uv
export UV_PYTHON := $(PYTHON)
export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(VENV)

.PHONY: install dev test test-fast test-latest lock check lint types imports fmt watch clean bench \
        bench-smoke bench-floor bench-ingest fuzz chaos chaos-smoke deploy-check

$(UV): requirements/bootstrap.txt
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11+ is required"'
	test -x $(UVDIR)/bin/python || $(PYTHON) -m venv $(UVDIR)
	$(UVDIR)/bin/python -m pip install --quiet --disable-pip-version-check --require-hashes \
	  -r requirements/bootstrap.txt
	touch $(UV)

$(STAMP): $(UV) pyproject.toml uv.lock
	$(UV) sync --frozen --extra dev --quiet
	touch $(STAMP)

install: $(STAMP)  ## create .venv with exactly the versions in uv.lock (runtime + dev, editable)

lock: $(UV)  ## refresh uv.lock on purpose: newest releases allowed by pyproject.toml, as of now
	$(UV) lock --upgrade --exclude-newer "$$(date -u +%Y-%m-%dT%H:%M:%SZ)"

# Ports of `make dev` and `make watch` (watch connects to the first gateway port):
#   make dev GATEWAY_PORTS=4002,4003 INGESTER_PORT=4700 && make watch GATEWAY_PORTS=4002,4003
GATEWAY_PORTS ?= 3002,3003
INGESTER_PORT ?= 3700
comma := ,
WATCH_PORT = $(firstword $(subst $(comma), ,$(GATEWAY_PORTS)))

dev: install  ## run Redis, the ingester, two gateways and the simulated devnet
	$(BIN)/adstack-dev --gateway-ports $(GATEWAY_PORTS) --ingester-port $(INGESTER_PORT)

# watch exits 3 when no stack answers: its own line says so, make adds no "Error" line.
watch: install  ## print live events from the campaign contract (needs `make dev` running)
	@$(BIN)/python -m adstack_devnet.watch --url ws://127.0.0.1:$(WATCH_PORT)/ws \
	  --contract "$${CAMPAIGN_CONTRACT:-ST1PQHQKV0RJXZFY1DGX8MNSNYVE3VGZJSRTPGZGM.promo-manager}"; \
	  rc=$$?; [ $$rc -eq 3 ] && exit 0; exit $$rc

test: install check  ## static checks, then the whole test suite against a real Redis
	$(BIN)/python -m pytest -q -n 2 -p no:cacheprovider

test-fast: install check  ## static checks and the unit tests only (the inner loop, well under 30 s)
	$(BIN)/python -m pytest -q -n 2 -p no:cacheprovider tests/unit

# Tests of the code that relies on other projects' private internals (docs/third-party-internals.md).
# Every guard test of the table there (tests/unit/test_third_party_internals.py checks they match).
INTERNALS_TESTS := tests/unit/test_third_party_internals.py tests/unit/gateway \
  tests/unit/libs/test_metrics_labels.py tests/integration/test_direct_write.py \
  tests/integration/test_head_timeout.py tests/integration/test_metrics_multiprocess.py \
  tests/e2e/test_workers.py tests/e2e/gateway tests/e2e/compat \
  tests/e2e/security/test_slow_bodies.py tests/e2e/security/test_engineio_abuse.py \
  tests/e2e/security/test_bad_input.py tests/deploy/test_prometheus.py \
  tests/deploy/test_grafana.py tests/deploy/test_docs.py

# The newest releases of everything (no lock, version fences lifted) in .venv-latest, then the
# static checks and the tests of the code that touches third-party internals. Allowed to fail:
# it shows what a `make lock` would break before anyone runs it.
LATEST := .venv-latest
test-latest: $(UV)  ## newest releases, no lock: make check + third-party-internals tests (may fail)
	$(UV) venv --quiet --allow-existing $(LATEST)
	$(UV) pip install --quiet --python $(LATEST)/bin/python --upgrade --reinstall-package adstack-realtime \
	  --override requirements/latest-overrides.txt -e '.[dev]'
	@echo "test-latest: installed versions that differ from uv.lock:"; \
	$(UV) export --frozen --extra dev --no-hashes --no-emit-project --quiet 2>/dev/null | grep '==' \
	  | sed 's/ *;.*//' | sort > $(LATEST)/locked.txt; \
	$(UV) pip freeze --python $(LATEST)/bin/python 2>/dev/null | grep '==' | sort > $(LATEST)/latest.txt; \
	comm -13 $(LATEST)/locked.txt $(LATEST)/latest.txt | sed 's/^/  /'
	@rc=0; \
	$(MAKE) --no-print-directory BIN=$(LATEST)/bin INSTALLED= check || rc=1; \
	$(LATEST)/bin/python -m pytest -q -n 2 -p no:cacheprovider $(INTERNALS_TESTS) || rc=1; \
	if [ $$rc -ne 0 ]; then echo "test-latest: the newest releases break something (above); keep uv.lock as it is until fixed"; fi; \
	exit $$rc

check: $(INSTALLED) lint types imports  ## ruff, mypy --strict, import contracts

deploy-check: install  ## only the deploy/ checks (promtool, k8s/compose schemas, dashboard, systemd); part of `make test`
	$(BIN)/python -m pytest -q -p no:cacheprovider tests/deploy

lint: $(INSTALLED)
	$(BIN)/ruff check $(SRC) tests

types: $(INSTALLED)
	$(BIN)/mypy -p adstack_stacks -p adstack_config -p adstack_events -p adstack_bus \
	  -p adstack_protocol -p adstack_auth -p adstack_metrics -p adstack_localredis \
	  -p adstack_runtime -p adstack_client -p adstack_ingester -p adstack_gateway -p adstack_devnet -p adstack_bench

imports: $(INSTALLED)
	$(BIN)/lint-imports

fmt: install
	$(BIN)/ruff check --fix $(SRC) tests

N ?= 100000
fuzz: install  ## mutation-fuzz every untrusted-input decoder: make fuzz N=1000000
	$(BIN)/python -m tests.fuzz.fuzz --iterations $(N)

chaos: install  ## kill/pause/cut every part of a live system; report loss, duplicates, recovery
	$(BIN)/python -m tests.chaos.run --json /tmp/adstack-chaos.json $(CHAOS_ARGS)

chaos-smoke: install  ## under a minute: the gap scenarios only (bus link cut, Redis restart empty)
	$(BIN)/python -m tests.chaos.run --smoke --json /tmp/adstack-chaos-smoke.json

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
	rm -rf $(VENV) $(UVDIR) $(LATEST) .pytest_cache .mypy_cache .ruff_cache .dev-token .dev-secret

# capacity lab — the verbs. Every target that starts processes stops them by PID (see scripts/).
SHELL := /bin/bash
CARGO ?= cargo
RELEASE_BIN := target/release
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: all build release test lint unit external check-sdk check-metrics check-openapi acceptance mocks serve serve-legacy demo bench bench-edge clean

all: build

## build: debug build of every crate
build:
	$(CARGO) build --workspace --all-targets

## release: optimised binaries (analyze-server, mocks, loadgen) in target/release
release:
	$(CARGO) build --release --workspace --bins

## test: everything CI gates on — format, lints, all tests, checks against third-party tools
test: lint unit external acceptance

## lint: rustfmt check and clippy with warnings as errors
lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

## unit: unit, integration and end-to-end tests of the workspace
unit:
	$(CARGO) test --workspace

## external: check our servers with tools nobody here wrote (official Anthropic SDK, promtool, schemathesis)
external: check-sdk check-metrics check-openapi

# The venv is (re)installed whenever the pinned requirements change.
$(PY): scripts/requirements.txt
	test -x $(PY) || python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q -r scripts/requirements.txt
	touch $(PY)

## check-sdk: the official Anthropic Python SDK against mock Claude (parsing, typed errors, retries)
check-sdk: $(PY) release
	$(PY) scripts/check_sdk.py --mocks $(RELEASE_BIN)/mocks

## check-metrics: promtool check metrics on the server's /metrics after real traffic
check-metrics: release
	bash scripts/check_metrics.sh

## acceptance: end to end with release binaries — scaled vs legacy under a short ramp, asserted from outside
acceptance: $(PY) release
	bash scripts/acceptance.sh

## check-openapi: schemathesis against the server's /openapi.json (conformance of every response)
check-openapi: $(PY) release
	bash scripts/check_openapi.sh

## mocks: both mock upstreams in the foreground (claude :9100, trading :9200), demo profile
mocks: release
	$(RELEASE_BIN)/mocks all --profile mocks/profiles/demo.toml

## serve: the scaled server on :8000 against the local mocks (run `make mocks` in another shell)
serve: release
	TRADING_API_BASE_URL=http://127.0.0.1:9200 ANTHROPIC_BASE_URL=http://127.0.0.1:9100 \
	ANTHROPIC_API_KEY=mock-key $(RELEASE_BIN)/analyze-server

## serve-legacy: the same server in legacy mode (no limits, a new connection per Trading API call)
serve-legacy: release
	TRADING_API_BASE_URL=http://127.0.0.1:9200 ANTHROPIC_BASE_URL=http://127.0.0.1:9100 \
	ANTHROPIC_API_KEY=mock-key LEGACY_MODE=true $(RELEASE_BIN)/analyze-server

## demo: the main job — mocks + scaled server + `loadgen ramp --to 50`, written to reports/runs/<ts>/
demo: release
	bash scripts/demo.sh

## bench: loadgen side by side with wrk, oha, hey on loopback (needs: make bench-deps)
bench: release
	bash scripts/bench.sh

## bench-edge: issue 9's goals — mis-set ceiling (adaptive N=40 vs fixed N), provider slowdown, light load (≈ 7 min)
bench-edge: release
	bash scripts/bench_edge.sh

clean:
	$(CARGO) clean

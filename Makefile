# capacity lab — the verbs. Every target that starts processes stops them by PID (see scripts/).
SHELL := /bin/bash
CARGO ?= cargo
RELEASE_BIN := target/release
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: all help build release test lint unit fuzz fuzz-build external check-any-service check-sdk check-metrics check-openapi check-merge check-usl check-erlang check-k8s check-dockerfile check-workflow check-dashboard demo-live report acceptance plan demo-users mocks serve serve-legacy demo bench bench-edge bench-sustained bench-users bench-ab chaos soak clean

all: build

## help: every target and what it does (a description's continuation lines indented below it)
help:
	@awk '/^## [a-z-]+:/ { sub(/^## /, ""); n = index($$0, ":"); printf "  %-16s %s\n", substr($$0, 1, n - 1), substr($$0, n + 2); more = 1; next } \
	     more && /^## / { sub(/^## /, ""); printf "  %-16s %s\n", "", $$0; next } { more = 0 }' $(MAKEFILE_LIST)

## build: debug build of every crate
build:
	$(CARGO) build --workspace --all-targets

## release: optimised binaries (analyze-server, mocks, loadgen) in target/release
release:
	@echo "== make $@ starts $$(date -u +%T)"
	$(CARGO) build --release --workspace --bins
	$(CARGO) build --release -p loadgen --example floor_client

## test: everything CI gates on — format, lints, all tests, the fuzz target built and its corpus replayed, checks against third-party tools
test: lint unit fuzz-build external acceptance

# The release binaries that make test (and make chaos) run are checked for behaviour, not timed:
# built without LTO, with 16 codegen units and no debug info, they build in about two thirds of
# the time. `make release`, `make bench*` and the container image keep Cargo.toml's release
# profile (thin LTO, 4 codegen units); switching between the two rebuilds the binaries.
test chaos: export CARGO_PROFILE_RELEASE_LTO := off
test chaos: export CARGO_PROFILE_RELEASE_CODEGEN_UNITS := 16
test chaos: export CARGO_PROFILE_RELEASE_DEBUG := false

# The fuzz crate (fuzz/) is a workspace member whose libFuzzer target needs its `fuzz` feature
# (required-features), so no plain workspace build links libFuzzer. make test builds the
# workspace with that feature on throughout (lint, unit, fuzz-build): one feature set, so the
# dependencies compile once (libFuzzer's build asks `cc` for `parallel`, which would otherwise
# rebuild `ring` and everything above it), and the fuzz crate's library and seed corpus replay
# (fuzz/tests/corpus.rs) run with the other tests.
WORKSPACE := --workspace --features capacity-lab-fuzz/fuzz

## lint: rustfmt check, clippy with warnings as errors (the workspace, the fuzz target included), no declared-but-unused dependency (cargo machete), and no import circle among a crate's top-level modules (scripts/check_layers.py)
lint:
	@echo "== make $@ starts $$(date -u +%T)"
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy $(WORKSPACE) --all-targets -- -D warnings
	@command -v cargo-machete >/dev/null || { echo "make lint: needs cargo-machete (cargo install --locked cargo-machete)"; exit 2; }
	$(CARGO) machete
	python3 scripts/check_layers.py report/src server/src loadgen/src mocks/src

## unit: unit, integration and end-to-end tests of the workspace (the fuzz seed corpus replay included)
# Four test threads on two cores: the integration tests mostly wait on real servers and timers
# (loadgen's binary used 47 s of CPU in 53 s with four threads; 95 s of wall time with two).
unit:
	@echo "== make $@ starts $$(date -u +%T)"
	$(CARGO) test $(WORKSPACE) -- --test-threads=4

## fuzz-build: the fuzz target built on stable (libFuzzer linked, not run) — what CI can do without nightly or cargo-fuzz; its seed corpus is replayed through the same checks by make unit
fuzz-build:
	@echo "== make $@ starts $$(date -u +%T)"
	$(CARGO) build $(WORKSPACE) --all-targets

## fuzz: libFuzzer on the /analyze body path for FUZZ_SECONDS (default 60) — needs nightly and `cargo install cargo-fuzz`; new inputs go to fuzz/target/corpus, crashes to fuzz/artifacts/; not part of `make test`
FUZZ_SECONDS ?= 60
fuzz:
	@command -v cargo-fuzz >/dev/null || { echo "make fuzz: needs cargo-fuzz (cargo install cargo-fuzz) and a nightly toolchain"; exit 2; }
	mkdir -p fuzz/target/corpus/analyze_body
	$(CARGO) +nightly fuzz run --features fuzz analyze_body fuzz/target/corpus/analyze_body fuzz/corpus/analyze_body -- -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1

## external: check our code with tools nobody here wrote (official Anthropic SDKs, promtool, schemathesis,
## the PyPI hdrhistogram reader, scipy), our deployment files against the Kubernetes schemas and hadolint, and the CI gate workflow against GitHub's schema
external: check-sdk check-metrics check-openapi check-merge check-usl check-erlang check-k8s check-dockerfile check-workflow check-any-service check-dashboard

# The venv is (re)installed whenever the pinned requirements change.
$(PY): scripts/requirements.txt
	test -x $(PY) || python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q -r scripts/requirements.txt
	touch $(PY)

# The TypeScript SDK is pinned in scripts/sdk-ts/package-lock.json; `npm ci` reinstalls it when
# the lock changes.
SDK_TS := scripts/sdk-ts
$(SDK_TS)/node_modules/.package-lock.json: $(SDK_TS)/package-lock.json $(SDK_TS)/package.json
	cd $(SDK_TS) && npm ci --no-audit --no-fund
	touch $@

## check-sdk: the official Anthropic Python and TypeScript SDKs against mock Claude (tool use, streams, typed errors, retries on 529 and 429)
check-sdk: $(PY) $(SDK_TS)/node_modules/.package-lock.json release
	$(PY) scripts/check_sdk.py --mocks $(RELEASE_BIN)/mocks
	node $(SDK_TS)/check_sdk.mjs --mocks $(RELEASE_BIN)/mocks

## check-usl: `loadgen report`'s USL fit and intervals against scipy.optimize.curve_fit on a fixture ramp
check-usl: $(PY) release
	rm -rf target/check-usl
	$(RELEASE_BIN)/loadgen report loadgen/tests/fixtures/ramp/ramp.csv --out-dir target/check-usl/report > /dev/null
	$(PY) scripts/check_usl_scipy.py loadgen/tests/fixtures/ramp/ramp.csv target/check-usl/report/summary.json

## check-erlang: `loadgen report`'s open-loop model (Erlang C, Allen–Cunneen mean wait, shed share) against scipy.stats on a fixture ramp, and the textbook M/M/2 case
check-erlang: $(PY) release
	rm -rf target/check-erlang
	$(RELEASE_BIN)/loadgen report loadgen/tests/fixtures/ramp/ramp.csv --out-dir target/check-erlang/report --slo 'p99<10s' > /dev/null
	$(PY) scripts/check_erlang_scipy.py target/check-erlang/report/summary.json

## check-dashboard: loadgen --dashboard in headless Chromium (Playwright, the system browser) during two short runs with a real Prometheus: the page's numbers vs the time series and CSV, nothing requested off 127.0.0.1, Stop → exit 130 with a complete CSV, promtool on loadgen's /metrics, Prometheus's totals = the CSV's (≈ 1 min)
check-dashboard: $(PY) release
	PY=$(PY) bash scripts/check_dashboard.sh

## check-metrics: promtool check metrics on the server's /metrics after real traffic
check-metrics: release
	bash scripts/check_metrics.sh

## acceptance: end to end with release binaries — scaled vs legacy under a short ramp, asserted from outside
acceptance: $(PY) release
	@echo "== make $@ starts $$(date -u +%T)"
	bash scripts/acceptance.sh

## plan: ramp at PLAN_N permits on the shipped dataset with --scrape → capacity report → the server restarted with the recommendation → runs at the recommended load, with the queue full, and Poisson arrivals at the open-loop rate and 1.3× it → `loadgen verify plan` (verify.md); fails when a prediction is >15% off, an objective fails, the provider pushes back >1% or the overload is served late (demo profile, ≈ 12 min)
plan: release
	bash scripts/plan.sh

## check-any-service: loadgen ramp + report against two services that are not analyze-server (a Python worker pool calling mock Claude through the
## Anthropic SDK, nginx limit_conn in front of the mock Trading API, and the pool's CPU-bound route): the limit, its source and neutral settings (≈ 2 min)
check-any-service: $(PY) release
	@command -v nginx >/dev/null || { echo "make check-any-service: needs nginx (apt-get install nginx-light)"; exit 2; }
	$(PY) scripts/check_any_service.py $(RELEASE_BIN) $(abspath $(PY))

## check-merge: two loadgen instances with one --start-at, `loadgen merge`, checked by the PyPI hdrhistogram reader and the target's own count
check-merge: $(PY) release
	bash scripts/check_merge.sh

## check-openapi: schemathesis against the server's /openapi.json (conformance of every response)
check-openapi: $(PY) release
	bash scripts/check_openapi.sh

## check-k8s: every manifest under deploy/k8s against the Kubernetes schemas, offline (kubernetes-validate)
check-k8s: $(PY)
	bash scripts/check_k8s.sh

## check-workflow: ci/github/capacity-gate.yml (the gate users copy) against the vendored GitHub workflow schema with check-jsonschema, offline; broken copies must be rejected; its run: scripts must parse as bash
check-workflow: $(PY)
	bash scripts/check_workflow.sh

## check-dockerfile: hadolint on the Dockerfile (the image itself needs a Docker engine: see deploy/README.md)
check-dockerfile: $(PY)
	$(VENV)/bin/hadolint Dockerfile

## demo-users: "how many users?" — users with exp:10s think time over a health/metrics/analyze mix ramped to 1000 → report's users answer → a re-run at the predicted count; fails when throughput or analyze p99 is >15% off (≈ 6 min)
demo-users: release
	bash scripts/demo_users.sh

# Ports of `make mocks`, `make serve` and `make serve-legacy`: `make serve PORT=8080
# CLAUDE_PORT=9101 TRADING_PORT=9201` (give the mock ports to both).
PORT ?= 8000
CLAUDE_PORT ?= 9100
TRADING_PORT ?= 9200

# The foreground verbs build a binary only when a source is newer than it: `make serve` and
# `make mocks` in two shells then do not both run cargo, and binaries `make test` built (without
# LTO) are used as they are rather than rebuilt with the release profile.
RUST_SOURCES := Cargo.toml Cargo.lock $(shell find server mocks loadgen report -name '*.rs' -o -name Cargo.toml 2>/dev/null)
$(RELEASE_BIN)/mocks $(RELEASE_BIN)/analyze-server: $(RUST_SOURCES)
	$(CARGO) build --release --bin $(notdir $@)

## mocks: both mock upstreams in the foreground (claude :9100, trading :9200; CLAUDE_PORT=, TRADING_PORT=
## move them), demo profile
mocks: $(RELEASE_BIN)/mocks
	$(RELEASE_BIN)/mocks all --profile mocks/profiles/demo.toml --claude-port $(CLAUDE_PORT) --trading-port $(TRADING_PORT)

## serve: the scaled server on :8000 (PORT=) against the local mocks (run `make mocks` in another shell; give it
## the same CLAUDE_PORT= and TRADING_PORT=)
serve: $(RELEASE_BIN)/analyze-server
	PORT=$(PORT) TRADING_API_BASE_URL=http://127.0.0.1:$(TRADING_PORT) ANTHROPIC_BASE_URL=http://127.0.0.1:$(CLAUDE_PORT) \
	ANTHROPIC_API_KEY=mock-key $(RELEASE_BIN)/analyze-server

## serve-legacy: the same server in legacy mode (no limits, a new connection per Trading API call)
serve-legacy: $(RELEASE_BIN)/analyze-server
	PORT=$(PORT) TRADING_API_BASE_URL=http://127.0.0.1:$(TRADING_PORT) ANTHROPIC_BASE_URL=http://127.0.0.1:$(CLAUDE_PORT) \
	ANTHROPIC_API_KEY=mock-key LEGACY_MODE=true $(RELEASE_BIN)/analyze-server

## demo-live: mocks + server + a real Prometheus scraping both and loadgen every second, the ramp with --dashboard (URL printed; Stop button = Ctrl-C); at the end Prometheus's totals must equal the CSV's
demo-live: $(PY) release
	PY=$(PY) bash scripts/demo_live.sh

## demo: the main job — mocks + scaled server + `loadgen ramp --to 50`, written to reports/runs/<ts>/
demo: release
	bash scripts/demo.sh

## report: regenerate reports/reference/ — demo ramp scaled and legacy, their capacity reports and the comparison
report: release
	bash scripts/report.sh

## bench: loadgen side by side with wrk, oha, hey on loopback (scripts/peers.py, vendored from ../shared/peers; the peers it finds on the PATH)
bench: release
	bash scripts/bench.sh

## chaos: bounded failure scenarios on loopback, each ≤ 90 s, ≈ 5–6 min in all, 312–319 s measured on 2 cores (overload at 20× capacity, Claude and Trading
## fault storms, 3200 hostile connections, SIGTERM under load, noisy neighbour behind nginx) → reports/chaos/summary.md;
## not in `make test`; needs nginx (apt-get install nginx-light). CHAOS_ONLY="storms hostile" runs a subset
chaos: release
	bash scripts/chaos.sh

## soak: 10 min (SOAK_S=…) at 80 % of capacity; RSS, open fds and latency must not grow → reports/chaos/soak.md; not in CI
soak: release
	bash scripts/soak.sh

## bench-edge: issue 9's goals — mis-set ceiling (adaptive N=40 vs fixed N), provider slowdown, light load (≈ 7 min)
bench-edge: release
	bash scripts/bench_edge.sh

## bench-sustained: issue 21's goal — 3 min through the switch from a full input-token bucket to its refill rate (mock ITPM 240k: half
## of what N=20 allows); goodput per 15 s window against the binding budget's ceiling; exits 1 when a window dips (≈ 3.5 min)
bench-sustained: release
	bash scripts/bench_sustained.sh

## bench-ab: CPU and instructions per request of two loadgen binaries A and B, paired rounds on loopback (make bench-ab A=old/loadgen B=target/release/loadgen; needs nginx, optionally valgrind; ≈ 6 min)
bench-ab: release
	@[ -n "$(A)" ] && [ -n "$(B)" ] || { echo "usage: make bench-ab A=path/to/loadgen B=path/to/loadgen"; exit 2; }
	bash scripts/bench_ab.sh $(A) $(B)

## bench-users: issue 17's goal — 10,000 users thinking 60 s in one loadgen against a mock on loopback: KB of RSS and % of a core per
## idle user (a 10-user baseline subtracted), beside k6's and Locust's documented figures; exits 1 above 20 KB or 1 % of a core per 1,000 (≈ 2 min)
bench-users: release
	python3 scripts/bench_users.py

clean:
	$(CARGO) clean

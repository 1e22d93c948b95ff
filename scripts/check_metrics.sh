#!/usr/bin/env bash
# promtool check metrics on analyze-server's /metrics after the server has been driven through
# every metric family it defines (server/src/instruments/): successes, a bad request, sheds,
# rate limiting, a 429 and a 529 from mock Claude (retries, the shared cool-down, the adaptive
# limit lowered) and tier pacing. The scrape must hold exactly the families instruments/ defines
# (our own, the OpenTelemetry HTTP ones of semconv.rs and the standard process ones of
# process.rs), each event must have moved its series, and then promtool lints it.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/procs.sh
command -v promtool >/dev/null || { echo "error: promtool not found (apt-get install prometheus)" >&2; exit 1; }

# Every family the server defines; kept here so that adding one without driving it fails below.
EXPECTED="analyze_capacity
analyze_concurrency_limit
analyze_in_flight
analyze_input_tokens
analyze_model_calls
analyze_output_tokens
analyze_queue_depth
analyze_queue_wait_seconds
analyze_rejections_total
analyze_request_duration_seconds
analyze_requests_total
http_client_request_duration_seconds
http_server_active_requests
http_server_request_duration_seconds
process_cpu_seconds_total
process_max_fds
process_open_fds
process_resident_memory_bytes
process_start_time_seconds
process_threads
process_virtual_memory_bytes
upstream_call_duration_seconds
upstream_calls_total
upstream_circuit_state
upstream_cooldown_remaining_seconds
upstream_cooldowns_total
upstream_pacing_interval_seconds
upstream_ratelimit_limit
upstream_ratelimit_remaining
upstream_retries_total
upstream_tokens_total"
described=$( {
  perl -0ne 'print "$1\n" while /describe_(?:counter|gauge|histogram)!\(\s*"([a-z_]+)"/g' server/src/instruments/mod.rs
  perl -ne 'print "$1\n" if /^pub const (?:SERVER|CLIENT)_[A-Z_]+: &str = "([a-z_]+)"/' server/src/instruments/semconv.rs
  perl -ne 'print "$1\n" if /^\s*"(process_[a-z_]+)",$/' server/src/instruments/process.rs
} | sort)
if [ "$described" != "$EXPECTED" ]; then
  echo "error: server/src/instruments/ defines other families than this script drives:" >&2
  diff <(echo "$EXPECTED") <(echo "$described") >&2 || true
  exit 1
fi

BIN=target/release
TMP=$(mktemp -d)
CP=19101 TP=19201 SP=18001
CLAUDE=http://127.0.0.1:$CP
SERVER=http://127.0.0.1:$SP
for p in $CP $TP $SP; do port_free $p; done

start mock-claude "$TMP/claude.log" $BIN/mocks claude --port $CP --profile mocks/profiles/fast.toml
start mock-trading "$TMP/trading.log" $BIN/mocks trading --port $TP --profile mocks/profiles/fast.toml
wait_http $CLAUDE/__stats
wait_http http://127.0.0.1:$TP/__stats
# Adaptive limit between 1 and 4 (it starts at 4), a one-place queue, short retry backoff, and a
# per-client burst of 60 that the phases below stay inside until the rate-limit phase.
PORT=$SP TRADING_API_BASE_URL=http://127.0.0.1:$TP ANTHROPIC_BASE_URL=$CLAUDE \
ANTHROPIC_API_KEY=mock-key CONCURRENCY_LIMIT=adaptive MAX_CONCURRENT_ANALYSES=4 MIN_CONCURRENT_ANALYSES=1 \
MAX_QUEUE_DEPTH=1 RATE_LIMIT_PER_MINUTE=60 RATE_LIMIT_BURST=60 CLAUDE_RETRY_BASE_MS=100 CLAUDE_RETRY_MAX_MS=400 \
  start analyze-server "$TMP/server.log" $BIN/analyze-server
wait_http $SERVER/health

fail() { echo "error: $*" >&2; exit 1; }
analyze() { # [curl args...] → prints the status
  curl -s -o /dev/null -w '%{http_code}\n' -H 'content-type: application/json' \
    -d '{"query":"Should I buy AAPL?"}' "$@" $SERVER/analyze || true
}
mock() { curl -sf -X POST $CLAUDE/__admin/faults -H 'content-type: application/json' -d "$1" >/dev/null; }
mock_status() { # STATUS → how many responses mock Claude answered with it
  curl -sf $CLAUDE/__stats | python3 -c 'import json,sys; print(json.load(sys.stdin)["responses_by_status"].get(sys.argv[1], 0))' "$1"
}
scrape() { curl -sf $SERVER/metrics > "$1"; }
# value FILE SERIES → the sample of one series (exact name and labels), or 0 when absent
value() { awk -v s="$2" '$1 == s { v = $2 } END { print (v == "" ? 0 : v) }' "$1"; }
# total FILE NAME → the sum of every series of one metric name, whatever its labels
total() { awk -v n="$2" '{ split($1, a, "{") } a[1] == n { v += $2 } END { print v + 0 }' "$1"; }
positive() { python3 -c 'import sys; sys.exit(0 if float(sys.argv[1]) > 0 else 1)' "$1"; }

# 1. successes, a malformed body (400), and 12 at once against 4 permits + 1 queue place: sheds.
#    Each model call takes 300 ms meanwhile, so the 12 overlap however slowly curl starts.
mock '{"ttft_ms":300}'
clients=()
for _ in $(seq 1 12); do analyze > /dev/null & clients+=($!); done
[ "$(curl -s -o /dev/null -w '%{http_code}' -H 'content-type: application/json' -d '{not json' $SERVER/analyze)" = 400 ] \
  || fail "a bad request was not answered 400"
wait "${clients[@]}"   # only the curls: a bare `wait` would also wait for the servers
mock '{"ttft_ms":0}'
scrape "$TMP/m1.prom"
[ "$(value "$TMP/m1.prom" analyze_concurrency_limit)" = 4 ] || fail "the adaptive limit did not start at its ceiling 4"
positive "$(value "$TMP/m1.prom" 'analyze_rejections_total{reason="over_capacity"}')" \
  || fail "12 concurrent analyses against 4 permits and a queue of 1 were not shed"

# 2. a 429 from mock Claude: its concurrency tier lowered to 1 under 3 concurrent analyses. A 429
#    without rate-limit headers pauses every model call (the shared cool-down, retry-after 1 s),
#    is retried, and lowers the adaptive limit. The cool-down gauge is sampled while it runs.
mock '{"max_concurrent":1}'
clients=()
for _ in 1 2 3; do analyze > /dev/null & clients+=($!); done
cooling=0
for _ in $(seq 1 100); do
  scrape "$TMP/m2.prom"
  if positive "$(value "$TMP/m2.prom" 'upstream_cooldown_remaining_seconds{api="claude"}')"; then cooling=1; break; fi
  sleep 0.05
done
wait "${clients[@]}"
mock '{"max_concurrent":20}'
[ "$(mock_status 429)" -ge 1 ] || fail "mock Claude never answered 429"
[ "$cooling" = 1 ] || fail "no scrape saw a shared cool-down after mock Claude's 429s"
scrape "$TMP/m2.prom"
limit=$(value "$TMP/m2.prom" analyze_concurrency_limit)
[ "$limit" -lt 4 ] || fail "the adaptive limit stayed at 4 after 429s (want it lowered)"
echo "after 429s: concurrency limit $limit, cool-downs $(value "$TMP/m2.prom" 'upstream_cooldowns_total{api="claude"}')"

# 3. a 529 from mock Claude: every call overloaded until the script sees the first 529, then
#    healthy again. The call is retried either way (backoff 100 ms doubling); it ends 200 when the
#    script switched the overload off before the retries ran out, else 503 (seen on a busy machine).
before=$(mock_status 529)
mock '{"overload_rate":1.0}'
analyze > "$TMP/overloaded.status" &
client=$!
for _ in $(seq 1 200); do [ "$(mock_status 529)" -gt "$before" ] && break; sleep 0.02; done
mock '{"overload_rate":0.0}'
wait $client
[ "$(mock_status 529)" -gt "$before" ] || fail "mock Claude never answered 529"
echo "analysis through a 529: HTTP $(cat "$TMP/overloaded.status")"

# 4. tier pacing: mock Claude's tier at 40 requests/min (a full bucket to start), 30 of them spent
#    by this script calling mock Claude directly (another client of the same account, as another
#    replica would be). The server's next call sees fewer than half left and from then on spaces
#    calls at 60 / (40 × 0.95) ≈ 1.6 s. The bucket refills at 0.67/s, so this holds for ~15 s
#    however slowly the machine runs; the server's own analysis reads the headers.
mock '{"rpm":40}'
for _ in $(seq 1 30); do
  curl -sf -o /dev/null $CLAUDE/v1/messages -H 'x-api-key: mock-key' -H 'anthropic-version: 2023-06-01' \
    -H 'content-type: application/json' \
    -d '{"model":"claude-sonnet-4-6","max_tokens":16,"messages":[{"role":"user","content":"hi"}]}' \
    || fail "mock Claude refused a direct call while its tier was being spent"
done
[ "$(analyze)" = 200 ] || fail "the analysis against a half-spent tier failed"
scrape "$TMP/m4.prom"
# The requests budget paces (the interval sits on the series of the budget that sets it), and
# the tier the provider reported is exported as it was reported.
positive "$(value "$TMP/m4.prom" 'upstream_pacing_interval_seconds{api="claude",budget="requests"}')" \
  || fail "the server did not pace model calls against a half-spent 40 requests/min tier"
echo "pacing interval: $(value "$TMP/m4.prom" 'upstream_pacing_interval_seconds{api="claude",budget="requests"}') s"
[ "$(value "$TMP/m4.prom" 'upstream_ratelimit_limit{api="claude",resource="requests"}')" = 40 ] \
  || fail "upstream_ratelimit_limit does not show the 40 requests/min the provider reported"
mock '{"rpm":0}'

# 5. rate limiting: another client address (127.0.0.2) spends its burst of 60 on bad requests.
limited=0
for _ in $(seq 1 70); do
  code=$(curl -s -o /dev/null -w '%{http_code}' --interface 127.0.0.2 -H 'content-type: application/json' \
    -d '{"nope":1}' $SERVER/analyze || true)
  [ "$code" = 429 ] && { limited=1; break; }
done
[ "$limited" = 1 ] || fail "70 requests from one client within seconds were never rate limited"

scrape "$TMP/metrics.prom"
echo "scraped $(wc -l < "$TMP/metrics.prom") lines"
for series in 'analyze_rejections_total{reason="over_capacity"}' 'analyze_rejections_total{reason="rate_limited"}' \
  'upstream_calls_total{api="claude",outcome="ok"}' 'upstream_calls_total{api="claude",outcome="overloaded"}' \
  'upstream_retries_total{api="claude"}' 'upstream_cooldowns_total{api="claude"}' 'analyze_queue_wait_seconds_count' \
  'analyze_requests_total{route="/analyze",status="400"}' 'analyze_model_calls_count' \
  'analyze_input_tokens_sum' 'analyze_output_tokens_sum' \
  'upstream_tokens_total{api="claude",direction="input"}' 'upstream_tokens_total{api="claude",direction="output"}'; do
  positive "$(value "$TMP/metrics.prom" "$series")" || { cat "$TMP/metrics.prom" >&2; fail "$series is not above 0"; }
done
for name in process_cpu_seconds_total process_resident_memory_bytes process_open_fds \
  http_server_request_duration_seconds_count http_client_request_duration_seconds_count; do
  positive "$(total "$TMP/metrics.prom" $name)" || { cat "$TMP/metrics.prom" >&2; fail "$name is not above 0"; }
done
families=$(awk '$1 == "#" && $2 == "TYPE" { print $3 }' "$TMP/metrics.prom" | sort)
if [ "$families" != "$EXPECTED" ]; then
  echo "error: the scrape's metric families differ from the expected list (< expected, > scraped):" >&2
  diff <(echo "$EXPECTED") <(echo "$families") >&2 || true
  exit 1
fi
echo "all $(echo "$families" | wc -l) metric families present and driven"
if ! promtool check metrics < "$TMP/metrics.prom"; then
  echo "error: promtool check metrics failed" >&2; exit 1
fi
echo "promtool check metrics: OK"

#!/usr/bin/env bash
# HTTPS keep-alive beside plain HTTP: loadgen (and wrk, when installed) against one nginx with
# both listeners, 50 connections, generator pinned to CPU 1 and nginx to CPU 0. Prints CPU
# microseconds per request for each; the goal is https ≤ 1.3 × http for loadgen (the TLS
# record layer on a keep-alive connection, handshakes amortised). Not part of `make test`.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/procs.sh
TMP=$(mktemp -d)
PORT=${PORT:-18081}
TLS_PORT=${TLS_PORT:-18443}
DURATION=${DURATION:-8}
port_free "$PORT"
port_free "$TLS_PORT"
mkdir -p "$TMP"/{body,proxy,fastcgi,uwsgi,scgi}
# A throw-away CA and a server certificate it signs (a self-signed CA cert can't be the leaf).
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=bench-ca \
  -keyout "$TMP/ca.key" -out "$TMP/ca.pem" 2>/dev/null
openssl req -newkey rsa:2048 -nodes -subj /CN=localhost \
  -keyout "$TMP/key.pem" -out "$TMP/leaf.csr" 2>/dev/null
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' > "$TMP/ext.cnf"
openssl x509 -req -in "$TMP/leaf.csr" -CA "$TMP/ca.pem" -CAkey "$TMP/ca.key" -CAcreateserial \
  -days 1 -extfile "$TMP/ext.cnf" -out "$TMP/cert.pem" 2>/dev/null
cat > "$TMP/nginx.conf" <<NGINX
worker_processes 1;
daemon off;
error_log $TMP/error.log;
pid $TMP/nginx.pid;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 100000000;
  client_body_temp_path $TMP/body; proxy_temp_path $TMP/proxy; fastcgi_temp_path $TMP/fastcgi;
  uwsgi_temp_path $TMP/uwsgi; scgi_temp_path $TMP/scgi;
  server {
    listen 127.0.0.1:$PORT;
    listen 127.0.0.1:$TLS_PORT ssl;
    ssl_certificate $TMP/cert.pem; ssl_certificate_key $TMP/key.pem;
    ssl_protocols TLSv1.2 TLSv1.3;  # nginx 1.22 (Debian 12) offers no TLS 1.3 by default
    location / { return 200 "ok\n"; }
  }
}
NGINX
start nginx "$TMP/nginx.log" taskset -c 0 nginx -c "$TMP/nginx.conf"
wait_http "http://127.0.0.1:$PORT/"

# cpu_per_request TOOL URL: prints "tool url req/s cpu_us_per_request"
run_loadgen() {
  local url=$1 extra=$2
  taskset -c 1 /usr/bin/time -f '%U %S' -o "$TMP/time" target/release/loadgen run --threads 1 \
    --concurrency 50 --duration "${DURATION}s" $extra -X GET --quiet \
    --json "$TMP/lg.json" --out "$TMP/lg.csv" "$url" >/dev/null
  python3 - "$TMP/lg.json" "$TMP/time" "$url" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))["steps"][0]
u, sy = map(float, open(sys.argv[2]).read().split()[-2:])
print(f"loadgen  {sys.argv[3]:<28} {s['throughput_rps']:>10.0f} req/s {(u + sy) / s['requests'] * 1e6:8.2f} µs CPU/request")
PY
}
run_wrk() {
  local url=$1
  taskset -c 1 /usr/bin/time -f '%U %S' -o "$TMP/time" wrk -t1 -c50 -d"${DURATION}s" "$url" > "$TMP/wrk.txt"
  python3 - "$TMP/wrk.txt" "$TMP/time" "$url" <<'PY'
import re, sys
t = open(sys.argv[1]).read()
n = int(re.search(r"(\d+) requests in", t).group(1))
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", t).group(1))
u, sy = map(float, open(sys.argv[2]).read().split()[-2:])
print(f"wrk      {sys.argv[3]:<28} {rps:>10.0f} req/s {(u + sy) / n * 1e6:8.2f} µs CPU/request")
PY
}
if [ -n "${RATE:-}" ]; then
  # Same load on both: open loop at RATE req/s (below both capacities), so the generator's wake-up
  # pattern, and with it its CPU per request, is the same for http and https.
  echo "== HTTPS vs HTTP at an equal open-loop rate of $RATE req/s (${DURATION} s)"
  for pass in $(seq 1 "${PASSES:-2}"); do
    for url in "http://127.0.0.1:$PORT/" "https://127.0.0.1:$TLS_PORT/"; do
      extra=""; [[ $url == https* ]] && extra="--cacert $TMP/ca.pem"
      taskset -c 1 /usr/bin/time -f '%U %S' -o "$TMP/time" target/release/loadgen run --threads 1 \
        --rate "$RATE" --max-in-flight 200 --duration "${DURATION}s" $extra -X GET --quiet \
        --json "$TMP/lg.json" --out "$TMP/lg.csv" "$url" >/dev/null
      python3 - "$TMP/lg.json" "$TMP/time" "$url" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))["steps"][0]
u, sy = map(float, open(sys.argv[2]).read().split()[-2:])
print(f"loadgen  {sys.argv[3]:<28} {s['throughput_rps']:>10.0f} req/s {(u + sy) / s['requests'] * 1e6:8.2f} µs CPU/request (open loop)")
PY
    done
  done
  exit 0
fi
echo "== HTTPS keep-alive vs plain HTTP (nginx fixed 200, 50 connections, ${DURATION} s)"
for pass in $(seq 1 "${PASSES:-2}"); do
  run_loadgen "http://127.0.0.1:$PORT/" ""
  run_loadgen "https://127.0.0.1:$TLS_PORT/" "--cacert $TMP/ca.pem"
  if command -v wrk >/dev/null; then
    run_wrk "http://127.0.0.1:$PORT/"
    run_wrk "https://127.0.0.1:$TLS_PORT/"
  fi
done

#!/usr/bin/env bash
# Open-loop accuracy: loadgen at fixed arrival rates against nginx (fixed 200) on loopback;
# prints asked rate, achieved rate and their ratio. Goal: within 1% up to 20k req/s.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/procs.sh
TMP=$(mktemp -d)
PORT=${PORT:-18080}
port_free $PORT
mkdir -p "$TMP"/{body,proxy,fastcgi,uwsgi,scgi}
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
  server { listen 127.0.0.1:$PORT; location / { return 200 "ok\n"; } }
}
NGINX
start nginx "$TMP/nginx.log" taskset -c 0 nginx -c "$TMP/nginx.conf"
wait_http http://127.0.0.1:$PORT/
printf '%-10s %-12s %-8s %-10s %-10s %-10s\n' asked_rps achieved_rps ratio p50_ms p99_ms late
for rate in ${RATES:-1000 5000 10000 20000}; do
  taskset -c 1 target/release/loadgen run --rate "$rate" --duration "${DURATION:-10}s" --max-in-flight 200 \
    --url "http://127.0.0.1:$PORT/" -X GET --quiet --json "$TMP/r$rate.json" --out "$TMP/r$rate.csv" >/dev/null
  python3 - "$TMP/r$rate.json" "$rate" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))["steps"][-1]
asked = float(sys.argv[2])
late = s.get("late_sends", s.get("late", ""))
print(f"{asked:<10.0f} {s['throughput_rps']:<12.1f} {s['throughput_rps']/asked:<8.4f} {s['p50_ms']:<10.3f} {s['p99_ms']:<10.3f} {late}")
PY
done

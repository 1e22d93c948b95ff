# Process bookkeeping for the Makefile's scripts: start in the background, remember the PID,
# wait for readiness over HTTP, and stop exactly what we started (by PID) on exit, error or Ctrl-C.
# Source it; do not run it.

STARTED_PIDS=()

# start NAME LOGFILE CMD... — run CMD in the background, logging to LOGFILE.
start() {
  local name=$1 log=$2; shift 2
  "$@" >"$log" 2>&1 &
  local pid=$!
  STARTED_PIDS+=("$pid")
  echo "started $name (pid $pid), log: $log" >&2
}

# stop_all — SIGTERM every PID we started, wait up to 10 s, then SIGKILL what is left.
stop_all() {
  local pid
  for pid in "${STARTED_PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for _ in $(seq 1 100); do
    local alive=0
    for pid in "${STARTED_PIDS[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [ "$alive" = 0 ] && break
    sleep 0.1
  done
  for pid in "${STARTED_PIDS[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
  STARTED_PIDS=()
}
trap stop_all EXIT
trap 'exit 130' INT TERM

# wait_http URL [SECONDS] — poll until URL answers (any HTTP status), or fail with a message.
wait_http() {
  local url=$1 secs=${2:-30}
  for _ in $(seq 1 $((secs * 10))); do
    if curl -s -o /dev/null --max-time 1 "$url"; then return 0; fi
    sleep 0.1
  done
  echo "error: $url did not answer within ${secs}s" >&2
  return 1
}

# port_free PORT — fail with a message when something already listens on 127.0.0.1:PORT.
port_free() {
  if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then
    echo "error: port $1 is already in use on 127.0.0.1; stop what runs there first" >&2
    return 1
  fi
}

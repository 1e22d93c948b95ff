#!/usr/bin/env bash
# Prints ramp-job.yaml or merge-job.yaml with K generators and the run's start time filled in
# (the lines marked `# K`, `# START_AT`, `# RUN_ID`, `# instance`), ready for `kubectl create -f -`.
#
#   render.sh ramp K [START_AT]    START_AT defaults to 2 minutes from now; printed on stderr
#   render.sh merge K START_AT     the same K and START_AT as the ramp (they name the run's files)
#
# START_AT is RFC 3339 in UTC with seconds, e.g. 2026-12-02T00:10:00Z; the run's files go to
# /results/<START_AT without - and :>/ (e.g. 20261202T001000Z) on the results volume.
set -euo pipefail

usage() {
  echo "usage: $0 ramp K [START_AT] | $0 merge K START_AT   (START_AT like 2026-12-02T00:10:00Z)" >&2
  exit 2
}

# Seconds since the epoch of an RFC 3339 UTC time, with GNU or BSD date; empty if neither parses it.
epoch_of() {
  date -u -d "$1" +%s 2>/dev/null || date -u -j -f %Y-%m-%dT%H:%M:%SZ "$1" +%s 2>/dev/null || true
}

if [ $# -lt 2 ] || [ $# -gt 3 ]; then usage; fi
job=$1 k=$2 start=${3:-}
case $job in ramp | merge) ;; *) usage ;; esac
[[ $k =~ ^[1-9][0-9]*$ ]] || { echo "$0: K must be a positive integer, got '$k'" >&2; exit 2; }
if [ -z "$start" ]; then
  [ "$job" = ramp ] || { echo "$0: merge needs the ramp's START_AT" >&2; exit 2; }
  start=$(date -u -d '+120 seconds' +%Y-%m-%dT%H:%M:%SZ 2>/dev/null || date -u -v+120S +%Y-%m-%dT%H:%M:%SZ)
  echo "START_AT=$start (use it for: $0 merge $k $start)" >&2
fi
[[ $start =~ ^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$ ]] ||
  { echo "$0: START_AT must look like 2026-12-02T00:10:00Z (UTC, seconds, Z), got '$start'" >&2; exit 2; }
if [ "$job" = ramp ]; then
  # The K pods must be scheduled, pull the image and connect before the first step.
  t=$(epoch_of "$start")
  if [ -n "$t" ] && [ "$t" -lt $(($(date -u +%s) + 30)) ]; then
    echo "$0: START_AT $start is less than 30 s away; give the pods time to start (e.g. 2 minutes)" >&2
    exit 2
  fi
fi
run_id=${start//[-:]/}

awk -v k="$k" -v start="$start" -v run="$run_id" '
  /# K$/        { sub(/[0-9]+/, k) }
  /# START_AT$/ { sub(/"[^"]*"/, "\"" start "\"") }
  /# RUN_ID$/   { sub(/"[^"]*"/, "\"" run "\"") }
  /# instance$/ {
    if (!listed) {
      for (i = 0; i < k; i++) { line = $0; sub(/instance-[0-9]+/, "instance-" i, line); print line }
      listed = 1
    }
    next
  }
  { print }
' "$(dirname "$0")/$job-job.yaml"

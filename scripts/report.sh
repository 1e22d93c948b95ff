#!/usr/bin/env bash
# `make report`: regenerates reports/reference/, the committed capacity-planning report. Runs the
# demo (mocks with the demo profile, analyze-server, `loadgen ramp --to 50`) once scaled and once
# in legacy mode, each with its capacity report, then compares them. Logs are dropped; the CSV,
# JSON, time series, metrics and stats snapshots and the reports are kept.
set -euo pipefail
cd "$(dirname "$0")/.."

REF=reports/reference
rm -rf "$REF"
mkdir -p "$REF"
export DEMO_PORTS=${DEMO_PORTS:-19301 19302 18301}
RUN=$REF/scaled bash scripts/demo.sh
LEGACY_MODE=true RUN=$REF/legacy bash scripts/demo.sh
rm -f "$REF"/*/*.log
echo
echo "before/after:"
target/release/loadgen compare "$REF/legacy/ramp.csv" "$REF/scaled/ramp.csv" --out-dir "$REF/compare"
echo
echo "reference report: $REF/scaled/report/report.md (and report.html), comparison: $REF/compare/compare.md"

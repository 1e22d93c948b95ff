#!/usr/bin/env bash
# `make check-workflow`: the GitHub Actions capacity gate users copy (ci/github/capacity-gate.yml)
# against the published GitHub workflow JSON schema, offline: check-jsonschema (pinned in
# scripts/requirements.txt) with the schema vendored in ci/schemas/ (see its README).
# Before trusting a pass it checks that the validator rejects broken copies of the same workflow,
# and that the vendored schema is the one the pinned check-jsonschema ships (so a version bump
# says to re-vendor). Then every `run:` script of the workflow must parse as bash (`bash -n`),
# which the schema cannot see.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${VENV:-.venv}
CHECK=$VENV/bin/check-jsonschema
SCHEMA=ci/schemas/github-workflow.json
WORKFLOW=${WORKFLOW:-ci/github/capacity-gate.yml}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

[ -x "$CHECK" ] || { echo "check-workflow: $CHECK not found (make $VENV/bin/python installs it)" >&2; exit 2; }

# validate FILE: the validator's verdict, offline (a local --schemafile; no $ref leaves it).
validate() {
  "$CHECK" --schemafile "$SCHEMA" "$1" >"$tmp/out" 2>&1
}

# 0. The vendored schema is the pinned package's copy.
shipped=$("$VENV/bin/python" -c 'import check_jsonschema, pathlib; print(pathlib.Path(check_jsonschema.__file__).parent / "builtin_schemas/vendor/github-workflows.json")')
if ! cmp -s "$SCHEMA" "$shipped"; then
  echo "check-workflow: $SCHEMA differs from the copy check-jsonschema $("$CHECK" --version | awk '{print $NF}') ships ($shipped):" >&2
  echo "  re-vendor it (cp \"$shipped\" $SCHEMA) and update ci/schemas/README.md" >&2
  exit 1
fi

# 1. The validator must be able to fail: broken copies of the real workflow.
broken() { # NAME SED-EXPRESSION: a copy with one fault; the edit must change the file.
  sed "$2" "$WORKFLOW" >"$tmp/$1.yml"
  if cmp -s "$WORKFLOW" "$tmp/$1.yml"; then
    echo "check-workflow: the '$1' edit no longer matches $WORKFLOW; update it" >&2
    exit 1
  fi
  if validate "$tmp/$1.yml"; then
    echo "check-workflow: the validator accepted a broken workflow ($1):" >&2
    cat "$tmp/out" >&2
    exit 1
  fi
}
broken misspelled-job-key 's/^    runs-on: /    runs_on: /'
broken wrong-type 's/^    timeout-minutes: 30$/    timeout-minutes: soon/'
broken misspelled-step-key 's/^        if: always() \&\& steps.gate.outcome/        iff: always() \&\& steps.gate.outcome/'
broken no-triggers '/^on:/,/^permissions:/{/^permissions:/!d;}'
echo "check-workflow: 4 broken copies rejected (misspelled job and step keys, wrong type, no triggers)"

# 2. The workflow itself.
if ! validate "$WORKFLOW"; then
  cat "$tmp/out" >&2
  echo "check-workflow: $WORKFLOW is not a valid GitHub workflow" >&2
  exit 1
fi
echo "check-workflow: $WORKFLOW valid against $SCHEMA ($(cat "$tmp/out"))"

# 3. Every run: script parses as bash, with each ${{ … }} expression as GitHub substitutes it: a
# word. A script with a syntax error must be caught too.
"$VENV/bin/python" - "$WORKFLOW" "$tmp/scripts" <<'PY'
import pathlib, re, sys
from ruamel.yaml import YAML

workflow, out = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
out.mkdir()
doc = YAML(typ="safe").load(workflow.read_text())
n = 0
for job_id, job in doc["jobs"].items():
    for i, step in enumerate(job.get("steps", [])):
        if "run" in step:
            script = re.sub(r"\$\{\{.*?\}\}", "EXPR", step["run"])
            (out / f"{job_id}-{i:02}.sh").write_text(script)
            n += 1
if n == 0:
    sys.exit(f"check-workflow: no run: scripts found in {workflow}")
PY
printf 'if [ -n "$X" ]; then\n  echo unclosed\n' >"$tmp/broken-script.sh"
if bash -n "$tmp/broken-script.sh" 2>/dev/null; then
  echo "check-workflow: bash -n accepted a script with an unclosed if" >&2
  exit 1
fi
count=0
for f in "$tmp"/scripts/*.sh; do
  if ! bash -n "$f"; then
    echo "check-workflow: the run: script $(basename "$f" .sh) (job-step) of $WORKFLOW does not parse as bash" >&2
    exit 1
  fi
  count=$((count + 1))
done
echo "check-workflow: $count run: scripts parse as bash"

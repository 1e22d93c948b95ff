#!/usr/bin/env bash
# Validates every manifest under deploy/k8s (and the loadgen Jobs as render.sh writes them)
# against the Kubernetes OpenAPI schemas, offline: kubernetes-validate (pinned in
# scripts/requirements.txt) bundles the schemas. Strict: unknown fields are errors, and so is a
# kind or apiVersion the schemas do not know (the tool only warns about those).
#
# Kubernetes versions: 1.30, the oldest the manifests support (the preStop `sleep` action, needed
# because the images have no shell), and 1.37, the newest this validator ships (an API removed
# by then shows up). Override with K8S_VERSIONS="1.31 1.34".
# Before trusting a pass, it checks that the validator rejects two known-bad manifests.
set -euo pipefail
cd "$(dirname "$0")/.."

VALIDATE=${KUBERNETES_VALIDATE:-.venv/bin/kubernetes-validate}
VERSIONS=${K8S_VERSIONS:-1.30 1.37}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# validate VERSION FILE…: the validator's verdict, failing also on its warnings
# (e.g. "Couldn't find schema for kind …"). Output in $tmp/out.
validate() {
  local version=$1
  shift
  local rc=0
  "$VALIDATE" --strict -k "$version" "$@" >"$tmp/out" 2>&1 || rc=$?
  if [ "$rc" -ne 0 ] || grep -qv '^INFO ' "$tmp/out"; then
    return 1
  fi
}

# 1. The validator must be able to fail: a misspelled field plus a wrong type, and an unknown kind.
cat >"$tmp/bad-field.yaml" <<'YAML'
apiVersion: apps/v1
kind: Deployment
metadata: {name: bad}
spec:
  replicas: "two"
  selector: {matchLabels: {app: bad}}
  template:
    metadata: {labels: {app: bad}}
    spec:
      containers:
        - {name: bad, image: bad, imagePullPolicyy: Always}
YAML
cat >"$tmp/bad-kind.yaml" <<'YAML'
apiVersion: apps/v2
kind: Deployment
metadata: {name: bad}
YAML
for bad in bad-field bad-kind; do
  for version in $VERSIONS; do
    if validate "$version" "$tmp/$bad.yaml"; then
      echo "check-k8s: the validator accepted a known-bad manifest ($bad) for Kubernetes $version:" >&2
      cat "$tmp/out" >&2
      exit 1
    fi
  done
done
echo "check-k8s: known-bad manifests rejected (unknown field + wrong type; unknown apiVersion)"

# 2. The loadgen Jobs as render.sh produces them, for a K other than the files' own.
mkdir -p "$tmp/rendered"
deploy/k8s/loadgen/render.sh ramp 3 2030-06-01T12:00:00Z >"$tmp/rendered/ramp-job.yaml"
deploy/k8s/loadgen/render.sh merge 3 2030-06-01T12:00:00Z >"$tmp/rendered/merge-job.yaml"
if ! { grep -q '^  completions: 3 ' "$tmp/rendered/ramp-job.yaml" &&
  grep -q '^  parallelism: 3 ' "$tmp/rendered/ramp-job.yaml" &&
  [ "$(grep -c 'instance-[0-9]*\.hdrlog   # instance$' "$tmp/rendered/merge-job.yaml")" -eq 3 ] &&
  grep -q '"20300601T120000Z"' "$tmp/rendered/merge-job.yaml"; }; then
  echo "check-k8s: render.sh did not set K=3 and the run id in the loadgen Jobs" >&2
  exit 1
fi

# 3. Every manifest, in every version.
files=()
while IFS= read -r f; do files+=("$f"); done < <(find deploy/k8s -type f \( -name '*.yaml' -o -name '*.yml' \) | sort)
[ ${#files[@]} -gt 0 ] || { echo "check-k8s: no manifests under deploy/k8s" >&2; exit 1; }
files+=("$tmp/rendered/ramp-job.yaml" "$tmp/rendered/merge-job.yaml")
# Each document has one top-level `kind:`; every one must have been validated, none skipped.
resources=$(cat "${files[@]}" | grep -c '^kind: ' || true)
for version in $VERSIONS; do
  if ! validate "$version" "${files[@]}"; then
    grep -v '^INFO ' "$tmp/out" >&2
    echo "check-k8s: FAILED against Kubernetes $version" >&2
    exit 1
  fi
  passed=$(grep -c '^INFO .* passed for resource ' "$tmp/out" || true)
  if [ "$passed" -ne "$resources" ]; then
    cat "$tmp/out" >&2
    echo "check-k8s: $passed of $resources resources validated against Kubernetes $version" >&2
    exit 1
  fi
  echo "check-k8s: $resources resources in ${#files[@]} files valid against Kubernetes $version (strict)"
done

#!/usr/bin/env bash
# run.sh — run one replay harness (or all of them): tests/replay/run.sh [argo_rollouts|flagger|...]
# Needs WG_BIN (the wavegate binary; default build/wavegate), influxd and python3-yaml.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
export WG_SRC=${WG_SRC:-$(cd "$here/../.." && pwd)}
export WG_BIN=${WG_BIN:-$WG_SRC/build/wavegate}
if ! python3 -c 'import yaml' 2>/dev/null; then
    echo "python3-yaml missing: apt-get install -y python3-yaml (scripts/deps.sh)" >&2
    exit 1
fi
rc=0
names=("$@")
[ ${#names[@]} -gt 0 ] || names=(argo_rollouts flagger argo_workflows argocd_job packaging ci_junit openapi false_fail)
for n in "${names[@]}"; do
    [ -f "$here/$n.py" ] || continue
    echo "== $n"
    python3 "$here/$n.py" || rc=1
done
exit $rc

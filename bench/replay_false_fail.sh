#!/usr/bin/env bash
# replay_false_fail.sh — tests/replay/false_fail.py with more deploys: N healthy deploys per
# consumer (Argo Rollouts' AnalysisTemplate, Flagger's Canary, as shipped) through a real
# `wavegate serve` and InfluxDB 1.x with a mann-whitney rule at `gate: {false_fail: 2%}`, and
# the same N through Argo with a fresh deploy identity per look (each look at the full budget:
# what counting looks per deploy prevents). Prints the failed counts and the binomial bounds.
# usage: WG_BIN=/path/to/wavegate bench/replay_false_fail.sh [N]   (default 300)
set -uo pipefail
N=${1:-300}
here=$(cd "$(dirname "$0")" && pwd)
export WG_SRC=${WG_SRC:-$(cd "$here/.." && pwd)}
export WG_BIN=${WG_BIN:-$WG_SRC/build/wavegate}
echo "== counted looks (as shipped), $N deploys per consumer"
python3 "$WG_SRC/tests/replay/false_fail.py" --deploys "$N" | grep -E '^# (argo|flagger):|^# [0-9]+ deploys|^not ok'
echo "== Argo, a fresh deploy identity per look (each look the full 2%), $N deploys"
python3 "$WG_SRC/tests/replay/false_fail.py" --deploys "$N" --consumers argo --uncounted | grep -E '^# (argo|flagger):|^# [0-9]+ deploys'

#!/usr/bin/env bash
# bench_fanout.sh — issue 3's fan-out target: 1,000 rules in one `wavegate check` against a
# real InfluxDB 1.x, wall time side by side with `curl --parallel` issuing the same 1,000
# rendered queries at the same concurrency. Medians of $RUNS runs, measured in one run.
# usage: bench/bench_fanout.sh [BUILD_DIR]   (needs a Release build: cmake -B build)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
build=${1:-$root/build}
WG=$build/wavegate
RUNS=${RUNS:-7}
CONC=${CONC:-8}
source "$root/tests/integration/lib.sh"

influx_deploy_scenario || exit 1

# 100 features x 10 rules, each a small aggregate over its own host/field combination.
cfg=$WG_TMP/fanout.yaml
python3 - "$INFLUX_URL" "$CONC" > "$cfg" <<'PY'
import sys
url, conc = sys.argv[1], sys.argv[2]
print(f"sources:\n  db:\n    kind: influxql\n    url: {url}\n    database: telemetry\n"
      f"    max_concurrency: {conc}\n    chunk_size: 0\n")
print("waves:\n  - name: staging\n    env: staging\n    source: db\nfeatures:")
fns = ["mean", "max", "min", "sum", "count", "median", "spread", "stddev", "first", "last"]
for f in range(100):
    print(f"  f{f}:\n    rules:")
    for r, fn in enumerate(fns):
        host = "abc"[(f + r) % 3]
        print(f"      - name: r{r}\n        query: SELECT {fn}(\"latency_ms\") FROM \"http\" WHERE "
              f"\"env\" = {{{{ env }}}} AND \"host\" = '{host}' AND time >= {{{{ start }}}} "
              f"AND time < {{{{ end }}}} AND \"requests\" > {f}\n"
              f"        window: 10m\n        threshold: {{max: 1000000}}")
PY
"$WG" validate --config "$cfg" >/dev/null
"$WG" check --config "$cfg" --wave staging --deploy-time "$T" --format json > "$WG_TMP/out.json" || true
python3 - "$WG_TMP/out.json" "$INFLUX_URL" > "$WG_TMP/curl.cfg" <<'PY'
import json, sys, urllib.parse
d = json.load(open(sys.argv[1]))
assert len(d["rules"]) == 1000, len(d["rules"])
bad = [r for r in d["rules"] if r["verdict"] not in ("pass", "warn")]
assert not bad, bad[0]
for r in d["rules"]:
    q = urllib.parse.urlencode({"db": "telemetry", "epoch": "ns", "q": r["query"]})
    print(f'url = "{sys.argv[2]}/query?{q}"\noutput = "/dev/null"')
PY

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
# wavegate sends Accept-Encoding (gzip, deflate): InfluxDB then compresses every answer, which
# on a shared loopback box costs server CPU; curl --compressed sends the same header.
t_wg=(); t_curl=(); t_curlz=()
for i in $(seq "$RUNS"); do
    s=$(date +%s.%N); "$WG" check --config "$cfg" --wave staging --deploy-time "$T" >/dev/null; e=$(date +%s.%N)
    t_wg+=("$(echo "$e - $s" | bc)")
    s=$(date +%s.%N); curl -s --no-progress-meter --parallel --parallel-max "$CONC" -K "$WG_TMP/curl.cfg"; e=$(date +%s.%N)
    t_curl+=("$(echo "$e - $s" | bc)")
    s=$(date +%s.%N); curl -s --no-progress-meter --compressed --parallel --parallel-max "$CONC" -K "$WG_TMP/curl.cfg"; e=$(date +%s.%N)
    t_curlz+=("$(echo "$e - $s" | bc)")
done
wg_med=$(printf '%s\n' "${t_wg[@]}" | median)
curl_med=$(printf '%s\n' "${t_curl[@]}" | median)
curlz_med=$(printf '%s\n' "${t_curlz[@]}" | median)
echo "1,000 rules, concurrency $CONC, median of $RUNS runs"
printf '  wavegate check                      %.3f s\n' "$wg_med"
printf '  curl --parallel                     %.3f s\n' "$curl_med"
printf '  curl --parallel --compressed        %.3f s\n' "$curlz_med"
printf '  ratio wavegate / curl               %.2f (target <= 1.10)\n' "$(echo "$wg_med / $curl_med" | bc -l)"
printf '  ratio wavegate / curl --compressed  %.2f (same request headers)\n' \
    "$(echo "$wg_med / $curlz_med" | bc -l)"

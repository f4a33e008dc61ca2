#!/usr/bin/env bash
# bench_read.sh — issue 3's large-answer targets, wavegate side by side with the named peer in
# one run, each answer served from loopback by ../shared/bench-peers/serve_file.py:
#   flux      a 248 MB, 2,000,000-row, 200-table annotated-CSV answer; peer: the official JS
#             client (@influxdata/influxdb-client queryRows); target >= 10x, wavegate <= 64 MB
#   influxql  a 91 MB, 2,000,000-point, 200-series InfluxDB 1.x /query answer, chunked as
#             InfluxDB streams it (chunk_size 10000); peer: Node fetch + JSON.parse visiting every
#             point (the plain body); target >= 5x, wavegate <= 64 MB
# wavegate reads through bench_collect (wg_collector_run + streaming parser + series sink, then
# the mean per series). Prints wall (median of $RUNS), peak RSS, the highest group mean of both
# (they must agree) and the ratio.
# usage: bench/bench_read.sh flux|influxql [BUILD_DIR]   (BUILD_DIR: a Release build, made if
# missing). env: ROWS (2000000), RUNS (3), PEERS (../shared/bench-peers beside the checkout),
# NODE_DIR (npm install dir for the JS client), DATA (the generated answer; never in the repo)
set -euo pipefail
kind=${1:?usage: bench_read.sh flux|influxql [BUILD_DIR]}
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
build=${2:-/tmp/wg-bench-build}
ROWS=${ROWS:-2000000}
RUNS=${RUNS:-3}
PEERS=${PEERS:-$(cd "$root/.." && pwd)/shared/bench-peers}
NODE_DIR=${NODE_DIR:-/tmp/wg-bench-node}
case $kind in
flux)
    data=${DATA:-/tmp/wg-bench-flux-$ROWS.csv}
    gen() { python3 "$PEERS/gen_flux_csv.py" "$data" "$ROWS"; }
    have() { [ -s "$data" ]; }
    ctype="text/csv; charset=utf-8"
    curl_args=(-X POST "/api/v2/query")
    peer_name="JS client queryRows"
    peer=(env NODE_PATH="$NODE_DIR/node_modules" node "$PEERS/node_flux_rows.js")
    target=10
    ;;
influxql)
    data=${DATA:-/tmp/wg-bench-influxql-$ROWS.json} # and $data.chunked
    gen() { python3 "$PEERS/gen_influxql_json.py" "$data" "$ROWS"; }
    have() { [ -s "$data" ] && [ -s "$data.chunked" ]; }
    ctype="application/json"
    curl_args=("/query?chunked=true")
    peer_name="Node fetch+JSON.parse"
    peer=(node "$PEERS/node_influxql_rows.js")
    target=5
    ;;
*)
    echo "bench_read.sh: kind must be flux or influxql" >&2
    exit 64
    ;;
esac
tmp=$(mktemp -d "/tmp/wg-bench-$kind.XXXXXX")
srv_pid=
cleanup() {
    [ -n "$srv_pid" ] && kill "$srv_pid" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT

# 1. the library (Release) and the C driver, linked like the wavegate binary
if [ ! -f "$build/libwg_collector.a" ]; then
    cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DWG_TESTS=OFF >/dev/null
fi
make -C "$build" -j2 wg_collector wg_config wg_common >/dev/null
cc -O2 -std=c11 -D_GNU_SOURCE -I"$root" "$here/bench_collect.c" "$build/libwg_collector.a" \
    "$build/libwg_config.a" "$build/libwg_common.a" \
    $(pkg-config --libs libcurl libcjson yaml-0.1 libmicrohttpd sqlite3 libcrypto) -lpthread -lm \
    -o "$tmp/bench_collect"

# 2. the answer and the peer
have || gen
if [ "$kind" = flux ] && [ ! -d "$NODE_DIR/node_modules/@influxdata/influxdb-client" ]; then
    mkdir -p "$NODE_DIR"
    (cd "$NODE_DIR" && npm install --no-audit --no-fund @influxdata/influxdb-client >/dev/null)
fi

# 3. serve it on a free loopback port and wait until it answers (poll, never sleep blindly)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
python3 "$PEERS/serve_file.py" "$port" "$data" "$ctype" &
srv_pid=$!
deadline=$((SECONDS + 20))
until curl -s -o /dev/null -I "http://127.0.0.1:$port/" 2>/dev/null; do # HEAD: 501, no body
    [ $SECONDS -lt $deadline ] || { echo "server did not start" >&2; exit 1; }
done
url=http://127.0.0.1:$port
echo "$kind answer: $(stat -c %s "$data") bytes, $ROWS rows, served from $url"

# 4. runs: /usr/bin/time gives wall and peak RSS for both the same way
measure() { # cmd... ; prints "wall rss_kb" and keeps the program's output
    /usr/bin/time -f '%e %M' -o "$tmp/time" "$@" > "$tmp/out" 2>"$tmp/err" || {
        cat "$tmp/err" >&2
        return 1
    }
    cat "$tmp/time"
}
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
: > "$tmp/wg"
: > "$tmp/peer"
curl_t=$( { /usr/bin/time -f '%e' curl -s -o /dev/null "${curl_args[@]/#\//$url/}"; } 2>&1 )
for i in $(seq "$RUNS"); do
    measure "$tmp/bench_collect" "$kind" "$url" >> "$tmp/wg"
    cp "$tmp/out" "$tmp/wg.out"
    measure "${peer[@]}" "$url" >> "$tmp/peer"
    cp "$tmp/out" "$tmp/peer.out"
done
wg_wall=$(awk '{print $1}' "$tmp/wg" | median)
peer_wall=$(awk '{print $1}' "$tmp/peer" | median)
wg_rss=$(awk '{print $2}' "$tmp/wg" | sort -n | tail -1)
peer_rss=$(awk '{print $2}' "$tmp/peer" | sort -n | tail -1)
echo "curl -o /dev/null: ${curl_t}s"
printf '%-22s wall %ss (median of %s)  peak RSS %d MB   %s\n' wavegate "$wg_wall" "$RUNS" \
    $((wg_rss / 1024)) "$(head -1 "$tmp/wg.out")"
printf '%-22s wall %ss (median of %s)  peak RSS %d MB   %s\n' "$peer_name" "$peer_wall" "$RUNS" \
    $((peer_rss / 1024)) "$(cat "$tmp/peer.out")"
awk -v a="$peer_wall" -v b="$wg_wall" -v t="$target" \
    'BEGIN {printf "ratio peer/wavegate: %.1fx (target >= %dx)\n", a / b, t}'
wg_max=$(grep -o 'max_mean=[^ ]*' "$tmp/wg.out" | cut -d= -f2)
peer_max=$(grep -o 'max_mean=[^ ]*' "$tmp/peer.out" | cut -d= -f2)
python3 - "$wg_max" "$peer_max" <<'PY'
import sys
a, b = float(sys.argv[1]), float(sys.argv[2])
ok = abs(a - b) <= 1e-9 * max(1.0, abs(b))
print(f"same highest group mean: {'yes' if ok else 'NO'} ({a!r} vs {b!r})")
sys.exit(0 if ok else 1)
PY
[ "$wg_rss" -le $((64 * 1024)) ] || { echo "wavegate peak RSS above 64 MB" >&2; exit 1; }

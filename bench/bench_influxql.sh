#!/usr/bin/env bash
# bench_influxql.sh — issue 3's InfluxQL target: a 91 MB, 2,000,000-point, 200-series InfluxDB
# 1.x /query response, served chunked (chunk_size 10000, one JSON object a line, as InfluxDB
# streams it) from loopback, read by wavegate (bench_collect: wg_collector_run with chunked=true,
# streaming parser + series sink, then reduce mean per series) and by Node's fetch + JSON.parse
# visiting every point (the plain, unchunked body), side by side: wall, peak RSS, the means, the
# ratio (target >= 5x, wavegate <= 64 MB). Medians of $RUNS runs, measured in one run.
# usage: bench/bench_influxql.sh [BUILD_DIR]   (BUILD_DIR: a Release build; made if missing)
# env: ROWS (2000000), RUNS (3), PEERS (../shared/bench-peers beside the checkout)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
build=${1:-/tmp/wg-bench-build}
ROWS=${ROWS:-2000000}
RUNS=${RUNS:-3}
PEERS=${PEERS:-$(cd "$root/.." && pwd)/shared/bench-peers}
tmp=$(mktemp -d /tmp/wg-bench-influxql.XXXXXX)
data=${INFLUXQL_DATA:-/tmp/wg-bench-influxql-$ROWS.json}  # and $data.chunked; never in the repo
srv_pid=
cleanup() {
    [ -n "$srv_pid" ] && kill "$srv_pid" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT

# 1. the library (Release) and the C driver, linked like the wavegate binary
if [ ! -f "$build/libwavegate.a" ]; then
    cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DWG_TESTS=OFF >/dev/null
fi
make -C "$build" -j2 wavegate_lib >/dev/null
cc -O2 -std=c11 -D_GNU_SOURCE -I"$root" "$here/bench_collect.c" "$build/libwavegate.a" \
    $(pkg-config --libs libcurl libcjson yaml-0.1 libmicrohttpd sqlite3 libcrypto) -lpthread -lm \
    -o "$tmp/bench_collect"

# 2. the response (plain and chunked) and the peer
[ -s "$data" ] && [ -s "$data.chunked" ] || python3 "$PEERS/gen_influxql_json.py" "$data" "$ROWS"

# 3. serve it on a free loopback port and wait until it answers (poll, never sleep blindly)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
python3 "$PEERS/serve_file.py" "$port" "$data" "application/json" &
srv_pid=$!
deadline=$((SECONDS + 20))
until curl -s -o /dev/null -I "http://127.0.0.1:$port/" 2>/dev/null; do  # HEAD: 501, no body
    [ $SECONDS -lt $deadline ] || { echo "server did not start" >&2; exit 1; }
done
url=http://127.0.0.1:$port
echo "response: $(stat -c %s "$data") bytes plain, $(stat -c %s "$data.chunked") bytes chunked" \
    "($(wc -l < "$data.chunked") chunks), $ROWS points, served from $url"

# 4. runs: /usr/bin/time gives wall and peak RSS for both the same way
measure() { # name cmd... ; prints "wall rss_kb" and keeps the program's output
    /usr/bin/time -f '%e %M' -o "$tmp/time" "$@" > "$tmp/out" 2>"$tmp/err" || {
        cat "$tmp/err" >&2
        return 1
    }
    echo "$(cat "$tmp/time") $(grep -o 'max_mean=[^ ]*' "$tmp/out" | head -1)"
}
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
: > "$tmp/wg"
: > "$tmp/js"
curl_t=$( { /usr/bin/time -f '%e' curl -s -o /dev/null "$url/query?chunked=true"; } 2>&1 )
for i in $(seq "$RUNS"); do
    measure "$tmp/bench_collect" influxql "$url" >> "$tmp/wg"
    cp "$tmp/out" "$tmp/wg.out"
    measure node "$PEERS/node_influxql_rows.js" "$url" >> "$tmp/js"
    cp "$tmp/out" "$tmp/js.out"
done
wg_wall=$(awk '{print $1}' "$tmp/wg" | median)
js_wall=$(awk '{print $1}' "$tmp/js" | median)
wg_rss=$(awk '{print $2}' "$tmp/wg" | sort -n | tail -1)
js_rss=$(awk '{print $2}' "$tmp/js" | sort -n | tail -1)
echo "curl -o /dev/null (chunked body): ${curl_t}s"
printf 'wavegate:  wall %ss (median of %s)  peak RSS %d MB   %s\n' "$wg_wall" "$RUNS" \
    $((wg_rss / 1024)) "$(head -1 "$tmp/wg.out")"
printf 'Node fetch+JSON.parse: wall %ss (median of %s)  peak RSS %d MB   %s\n' "$js_wall" "$RUNS" \
    $((js_rss / 1024)) "$(cat "$tmp/js.out")"
awk -v a="$js_wall" -v b="$wg_wall" 'BEGIN {printf "ratio Node/wavegate: %.1fx (target >= 5x)\n", a / b}'
wg_max=$(grep -o 'max_mean=[^ ]*' "$tmp/wg.out" | cut -d= -f2)
js_max=$(grep -o 'max_mean=[^ ]*' "$tmp/js.out" | cut -d= -f2)
python3 - "$wg_max" "$js_max" <<'PY'
import sys
a, b = float(sys.argv[1]), float(sys.argv[2])
ok = abs(a - b) <= 1e-9 * max(1.0, abs(b))
print(f"same highest group mean: {'yes' if ok else 'NO'} ({a!r} vs {b!r})")
sys.exit(0 if ok else 1)
PY
[ "$wg_rss" -le $((64 * 1024)) ] || { echo "wavegate peak RSS above 64 MB" >&2; exit 1; }

#!/usr/bin/env bash
# bench_events.sh — the events figures of the events issue, in one run on this machine:
#  1. POST /v1/events at RATE events/s (default 1,000) for SECONDS (default 60), open loop on
#     keep-alive connections (bench_events_load.c, latency from each event's due time):
#     p50/p99/max (target p99 <= 5 ms), every event answered 202 and found in the store and
#     as a marker in InfluxDB afterwards (nothing lost), RSS sampled every 5 s (flat); beside
#     it, at the same time and rate, the control GET /healthz (CTRL=PATH, "only:PATH" for the
#     control alone, "-" for none), so a noisy machine shows in both; the client's own
#     lateness; every fsync/fdatasync of the server with its duration (perf trace, when
#     installed; FSYNC_TRACE=0 to leave it out, TRACE_ARGS to trace other syscalls); which
#     slow events had a slow control within 20 ms. THREADS, CONNS, LOG_TMPFS=1 (the server's
#     log in /dev/shm);
#  2. markers: N (default 10,000) verdict rows through the batching writer into a real
#     InfluxDB 1.x, against curl posting the same line protocol in one request
#     (target: <= 1.2x curl's time; RUNS2 runs, default 5, interleaved, medians).
# usage: WG_BIN=build/wavegate bench/bench_events.sh [SECONDS] [RATE] [ROWS]
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
SRC=${WG_SRC:-$(cd "$HERE/.." && pwd)}
source "$SRC/tests/integration/lib.sh"
WG=${WG_BIN:?WG_BIN must point at the wavegate binary}
DUR=${1:-60}
RATE=${2:-1000}
ROWS=${3:-10000}

influx_start || exit 1
influx_query "" 'CREATE DATABASE "marks"' || exit 1
export WG_BENCH_TOKEN=bench-token-0123456789abcdef0123456789abcdef
cfg="$WG_TMP/wavegate.yaml"
cat > "$cfg" <<YAML
sources:
  marks: {kind: influxql, url: $INFLUX_URL, database: marks}
waves:
  - {name: prod, env: production, source: marks}
features:
  checkout:
    rules:
      - name: r
        query: 'SELECT mean("v") FROM "m" WHERE time >= {{ start }} AND time < {{ end }}'
        threshold: {max: 1}
events:
  write_to: marks
state_dir: $WG_TMP/state
server:
  listen: 127.0.0.1:0
  bearer_token_env: WG_BENCH_TOKEN
  max_connections: 512
  threads: ${THREADS:-8}
YAML
SERVE_PID=
wg_on_exit serve_stop
# LOG_TMPFS=1: the server's stderr (a line per event) in /dev/shm, not on the store's disk
if [ "${LOG_TMPFS:-0}" = 1 ] && [ -d /dev/shm ]; then
    SHM_LOG=$(mktemp /dev/shm/wavegate-bench-log.XXXXXX)
    ln -sf "$SHM_LOG" "$WG_TMP/serve.log"
    shm_log_rm() { rm -f "$SHM_LOG"; }
    wg_on_exit shm_log_rm
fi
serve_start || exit 1

echo "== 1. POST /v1/events at $RATE/s for ${DUR}s"
LOAD=${WG_BENCH_LOAD:-$(dirname "$WG")/bench/bench_events_load}
[ -x "$LOAD" ] || { echo "build bench_events_load: cmake --build build --target bench_events_load"; exit 1; }
rss() { awk '/^VmRSS:/ {print $2}' "/proc/$SERVE_PID/status"; }
scrape() { curl -sf -H "Authorization: Bearer $WG_BENCH_TOKEN" "http://127.0.0.1:$PORT/metrics" |
    grep '^wavegate_http_request_duration_seconds' > "$1"; }
scrape "$WG_TMP/m0"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg) (2 cores, shared)"
samples=("$(rss)")
# the fsync side: every fsync/fdatasync of the server with its duration (perf trace reads the
# syscall tracepoints: no ptrace stop per syscall as strace -p would add)
TRACE=
if [ "${FSYNC_TRACE:-1}" = 1 ] && command -v perf >/dev/null &&
    perf trace -e fdatasync -- true >/dev/null 2>&1; then
    # shellcheck disable=SC2086 # TRACE_ARGS: several words
    perf trace -p "$SERVE_PID" ${TRACE_ARGS:--e fsync,fdatasync} -o "$WG_TMP/fsync.trace" \
        2>/dev/null &
    TRACE=$!
    sleep 1
fi
CTRL=${CTRL:-/healthz} # the control, side by side at the same rate ("-": none)
"$LOAD" "$PORT" "$WG_BENCH_TOKEN" "$DUR" "$RATE" "${CONNS:-32}" "$CTRL" "$WG_TMP/slow.txt" \
    > "$WG_TMP/load.out" &
load_pid=$!
while kill -0 "$load_pid" 2>/dev/null; do
    for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$load_pid" 2>/dev/null && sleep 0.5; done
    samples+=("$(rss)")
done
wait "$load_pid"; load_rc=$?
[ -n "$TRACE" ] && { kill -INT "$TRACE"; wait "$TRACE"; }
cat "$WG_TMP/load.out"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
scrape "$WG_TMP/m1"
# the server's own time per request (headers in to answer out; events and control together),
# from its histogram
python3 - "$WG_TMP/m0" "$WG_TMP/m1" <<'PY'
import re, sys
def read(p):
    d = {}
    for l in open(p):
        m = re.match(r'wavegate_http_request_duration_seconds_(bucket\{le="([^"]+)"\}|sum|count) (\S+)', l)
        if m: d[m.group(2) or m.group(1)] = float(m.group(3))
    return d
a, b = read(sys.argv[1]), read(sys.argv[2])
n = b["count"] - a.get("count", 0)
les = sorted((float(k), k) for k in b if k not in ("sum", "count", "+Inf"))
within = ", ".join("%g ms %.2f%%" % (f * 1000, 100 * (b[k] - a.get(k, 0)) / n) for f, k in les if f <= 0.05)
print("server side (events and control): %d requests, mean %.3f ms; within %s"
      % (n, 1000 * (b["sum"] - a.get("sum", 0)) / n, within))
PY
# where the slow ones (> 5 ms end to end) are: with a slow control request at the same moment
# (within 20 ms: the machine), or with a slow fsync (the disk), or alone (events' own)
python3 - "$WG_TMP/slow.txt" "${TRACE:+$WG_TMP/fsync.trace}" <<'PY'
import re, sys, bisect
slow = [l.split() for l in open(sys.argv[1])]
ev = [float(t) for t, k, _ in slow if k == "events"]
ct = sorted(float(t) for t, k, _ in slow if k == "control")
def near(xs, t, w=20.0):
    i = bisect.bisect_left(xs, t - w)
    return i < len(xs) and xs[i] <= t + w
n = sum(near(ct, t) for t in ev)
print("slow (> 5 ms): events %d, control %d; slow events with a slow control within 20 ms: %d (%.0f%%)"
      % (len(ev), len(ct), n, 100.0 * n / len(ev) if ev else 0))
if len(sys.argv) > 2 and sys.argv[2]:
    d = []
    for l in open(sys.argv[2]):
        m = re.search(r'\(\s*([0-9.]+) ms\).*(fsync|fdatasync)\(', l)
        if m: d.append(float(m.group(1)))
    d.sort()
    if d:
        q = lambda p: d[min(len(d) - 1, int(len(d) * p))]
        print("server fsync/fdatasync: %d calls, p50 %.2f ms, p99 %.2f ms, max %.2f ms, > 5 ms: %d"
              % (len(d), q(0.5), q(0.99), d[-1], sum(x > 5 for x in d)))
PY
read -r ut st < <(awk '{print $14, $15}' "/proc/$SERVE_PID/stat")
echo "server CPU: $(( (ut + st) * 1000 / $(getconf CLK_TCK) )) ms (user $ut, system $st ticks)"
echo "RSS KiB every 5 s: ${samples[*]} (start ${samples[0]}, end ${samples[-1]})"
sent=$(awk '/^events .*sent/ {for (i = 1; i <= NF; i++) if ($i == "2xx") print $(i + 1)}' "$WG_TMP/load.out" | tr -d ,)
serve_stop   # the writer flushes what is queued on the way out
stored=$(python3 -c 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute("select count(*) from events where source=\"bench\"").fetchone()[0])' "$WG_TMP/state/events.db")
marked=$(curl -sf -G "$INFLUX_URL/query" --data-urlencode db=marks \
    --data-urlencode "q=SELECT count(\"id\") FROM wavegate_events WHERE \"source\"='bench'" |
    python3 -c 'import json,sys; r=json.load(sys.stdin)["results"][0]; print(r["series"][0]["values"][0][1] if "series" in r else 0)')
echo "accepted ${sent:-0}, stored $stored, markers in InfluxDB $marked; lost: $(( ${sent:-0} - stored )) in the store, $(( ${sent:-0} - marked )) markers (load exit $load_rc)"

echo "== 2. $ROWS verdict rows: the batching writer vs one curl POST"
influx_query "" 'DROP DATABASE "marks"'; influx_query "" 'CREATE DATABASE "marks"'
python3 - "$ROWS" > "$WG_TMP/rows.lp" <<'PY'
import sys
for i in range(int(sys.argv[1])):
    print(f'wavegate_rules,wave=prod,env=production,feature=f{i%50},rule=r{i%7},verdict=pass value={i*0.5},threshold=250,samples={i}i,reason="ok" {1796112000000000000 + i}')
PY
# RUNS2 runs (default 5, at least 3), each into a fresh database: curl's own time_total (no
# process start-up counted) and the writer at each flush interval, interleaved run by run so
# the shared machine's noise falls on both alike; the medians compared, the spread and the
# per-run ratios shown, the load average beside them
fresh() { influx_query "" 'DROP DATABASE "marks"'; influx_query "" 'CREATE DATABASE "marks"'; }
WRITE=${WG_BENCH_WRITE:-$(dirname "$WG")/bench/bench_events_write}
[ -x "$WRITE" ] || { echo "build bench_events_write: cmake --build build --target bench_events_write"; exit 1; }
RUNS2=${RUNS2:-5}
[ "$RUNS2" -ge 3 ] || RUNS2=3
FLUSHES=${FLUSH_MS:-200 20}
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg) (2 cores, shared)"
: > "$WG_TMP/runs2.txt"
for _ in $(seq "$RUNS2"); do
    fresh
    c=$(curl -sf -o /dev/null -w '%{time_total}\n' -XPOST "$INFLUX_URL/write?db=marks&precision=ns" \
        --data-binary @"$WG_TMP/rows.lp" | awk '{printf "%.1f", $1 * 1000}')
    line="curl ${c:-nan}"
    for fl in $FLUSHES; do
        fresh
        m=$("$WRITE" "$INFLUX_URL" "$WG_TMP/rows.lp" "$fl" | tee -a "$WG_TMP/writer.out" |
            sed -n 's/.*ms=//p')
        rows_in=$(curl -sf -G "$INFLUX_URL/query" --data-urlencode db=marks \
            --data-urlencode 'q=SELECT count("samples") FROM wavegate_rules' |
            python3 -c 'import json,sys; r=json.load(sys.stdin)["results"][0]; print(r["series"][0]["values"][0][1] if "series" in r else 0)')
        line="$line $fl ${m:-nan} ${rows_in:-0}"
    done
    echo "$line" >> "$WG_TMP/runs2.txt"
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
tail -1 "$WG_TMP/writer.out"
python3 - "$WG_TMP/runs2.txt" "$ROWS" <<'PY'
import statistics as st, sys
runs = [l.split() for l in open(sys.argv[1])]
rows = int(sys.argv[2])
curl = [float(r[1]) for r in runs]
c = st.median(curl)
print("curl, one request of %d rows: %.1f ms (median of %d; min %.1f, max %.1f)"
      % (rows, c, len(curl), min(curl), max(curl)))
for k in range(2, len(runs[0]), 3):
    fl = runs[0][k]
    ms = [float(r[k + 1]) for r in runs]
    rows_in = [int(r[k + 2]) for r in runs]
    w = st.median(ms)
    ratios = sorted(m / x for m, x in zip(ms, curl))
    print("writer, flush_interval %sms: %.1f ms (median of %d; min %.1f, max %.1f), %s rows in "
          "InfluxDB; %.2fx curl (per run: median %.2f, %.2f-%.2f): %s"
          % (fl, w, len(ms), min(ms), max(ms), "all" if min(rows_in) == rows else min(rows_in),
             w / c, st.median(ratios), ratios[0], ratios[-1],
             "met (<= 1.2x)" if w <= 1.2 * c else "MISSED (> 1.2x)"))
PY

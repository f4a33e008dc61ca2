#!/usr/bin/env bash
# bench_events.sh — the events figures of the events issue, in one run on this machine:
#  1. POST /v1/events at RATE events/s (default 1,000) for SECONDS (default 60), open loop on
#     keep-alive connections: p50/p99/max latency (target p99 <= 5 ms), every event answered
#     202 and found in the store afterwards (nothing lost), RSS sampled every 5 s (flat);
#  2. markers: N (default 10,000) verdict rows through the batching writer into a real
#     InfluxDB 1.x, against curl posting the same line protocol in one request
#     (target: <= 1.2x curl's time).
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
  threads: 8
YAML
SERVE_PID=
wg_on_exit serve_stop
serve_start || exit 1

echo "== 1. POST /v1/events at $RATE/s for ${DUR}s"
python3 - "$PORT" "$DUR" "$RATE" "$WG_BENCH_TOKEN" "$SERVE_PID" <<'PY'
import http.client, json, sys, threading, time
port, dur, rate, tok, pid = int(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
NT = 8  # connections; each sends every NT-th event on its schedule (open loop)
lat, codes, lock = [], {}, threading.Lock()
def rss():
    for l in open(f"/proc/{pid}/status"):
        if l.startswith("VmRSS:"): return int(l.split()[1])
def worker(k, t0):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    h = {"Authorization": "Bearer " + tok, "Content-Type": "application/json"}
    i, mine = k, []
    while True:
        due = t0 + i / rate
        if due - t0 >= dur: break
        now = time.monotonic()
        if due > now: time.sleep(due - now)
        body = json.dumps({"type": "flag", "feature": "checkout", "state": "on" if i % 2 else "off",
                           "env": "production", "version": str(i), "source": "bench"})
        s = time.monotonic()
        c.request("POST", "/v1/events", body, h); r = c.getresponse(); r.read()
        mine.append((time.monotonic() - max(s, due)) * 1000)  # from when it was due
        with lock: codes[r.status] = codes.get(r.status, 0) + 1
        i += NT
    with lock: lat.extend(mine)
t0 = time.monotonic(); samples = [rss()]
ths = [threading.Thread(target=worker, args=(k, t0)) for k in range(NT)]
for t in ths: t.start()
while any(t.is_alive() for t in ths):
    time.sleep(5); samples.append(rss())
lat.sort(); n = len(lat)
print(f"sent {n} in {time.monotonic()-t0:.1f}s; statuses {codes}")
print(f"latency ms: p50 {lat[n//2]:.2f}  p99 {lat[int(n*0.99)]:.2f}  max {lat[-1]:.2f}")
print("RSS KiB every 5 s:", samples)
open("/dev/shm/wg-bench-events-sent", "w").write(str(codes.get(202, 0)))
PY
sent=$(cat /dev/shm/wg-bench-events-sent); rm -f /dev/shm/wg-bench-events-sent
stored=$(python3 -c 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute("select count(*) from events where source=\"bench\"").fetchone()[0])' "$WG_TMP/state/events.db")
echo "accepted $sent, stored $stored (nothing lost: $([ "$sent" = "$stored" ] && echo yes || echo NO))"

echo "== 2. $ROWS verdict rows: the batching writer vs one curl POST"
influx_query "" 'DROP DATABASE "marks"'; influx_query "" 'CREATE DATABASE "marks"'
python3 - "$ROWS" > "$WG_TMP/rows.lp" <<'PY'
import sys
for i in range(int(sys.argv[1])):
    print(f'wavegate_rules,wave=prod,env=production,feature=f{i%50},rule=r{i%7},verdict=pass value={i*0.5},threshold=250,samples={i}i,reason="ok" {1796112000000000000 + i}')
PY
t0=$(date +%s%N)
curl -sf -XPOST "$INFLUX_URL/write?db=marks&precision=ns" --data-binary @"$WG_TMP/rows.lp" || echo "curl write failed"
t1=$(date +%s%N)
echo "curl, one request: $(( (t1 - t0) / 1000000 )) ms"
influx_query "" 'DROP DATABASE "marks"'; influx_query "" 'CREATE DATABASE "marks"'
"${WG_BENCH_WRITE:-$(dirname "$WG")/bench/bench_events_write}" "$INFLUX_URL" "$WG_TMP/rows.lp" 2>/dev/null ||
    echo "(build bench_events_write for the writer's figure: cmake --build build --target bench_events_write)"

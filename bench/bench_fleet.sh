#!/usr/bin/env bash
# bench_fleet.sh — a fleet wave of 50 targets x 20 rules on 50 sources: 49 stand-in servers on
# loopback that answer /query in InfluxDB 1.x's exact JSON format after a fixed 20 ms, plus one
# real InfluxDB 1.x. Reports (medians of $RUNS runs) the fleet's wall time against the slowest
# single target's own 20 queries (`check --target`), and the wall time at 1, 10 and 50 targets.
# usage: bench/bench_fleet.sh [BUILD_DIR]   (a Release build: cmake -B build-rel -DCMAKE_BUILD_TYPE=Release
# and `cmake --build build-rel --target wavegate fleet_standin fleet_floor`)
# STANDIN=c (default): the stand-ins are bench/fleet_standin.c, one epoll process; STANDIN=py: the
# Python asyncio one below; STANDIN="c py": the whole bench once with each, one after the other.
# Why C: the stand-ins play 49 remote InfluxDB servers, whose CPU is theirs, not the gate's; on
# this 2-core box every millisecond they spend is taken from wavegate and inflates the fleet's
# wall time, so they must cost as little of it as possible while answering the same bytes after
# the same LAT_MS (both checked below: the two kinds' answers compared byte for byte, and the
# stand-in's answer latency, p50 / p99, alone and under the 1,000-query load).
# A/B: WG_B=/path/to/other/wavegate [AB_WAVE=fleet1|fleet10|fleet50] compares BUILD_DIR's
# binary with it instead, interleaved ABBA on the same stand-ins (wall and CPU per check).
# PERF=out.data: a `perf record -g` of 10 such checks instead; HOLD=env.sh: keep the servers up.
# (A/B, PERF and HOLD use the first kind of STANDIN.)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
build=${1:-$root/build}
WG=$build/wavegate
RUNS=${RUNS:-7}
LAT_MS=${LAT_MS:-20}
STANDIN=${STANDIN:-c}
STANDIN_C=${STANDIN_C:-$build/bench/fleet_standin}
FLOOR=${FLOOR:-$build/bench/fleet_floor}
# STANDIN_RT=1 (needs chrt's privilege): the stand-ins (either kind) run SCHED_FIFO, so the box's
# other work does not delay their answers past LAT_MS (the C one's own p99 lateness went from
# ~3.4 ms to 70 us), but they then cost more CPU (37 ms per check, not 22: each answer its own
# wake-up, preempting wavegate) and the fleet's wall time did not improve; default 0
STANDIN_RT=${STANDIN_RT:-0}
rt=(); [ "$STANDIN_RT" = 1 ] && rt=(chrt -f 1)
source "$root/tests/integration/lib.sh"
[ -x "$STANDIN_C" ] && [ -x "$FLOOR" ] ||
    { echo "build them: cmake --build $build --target fleet_standin fleet_floor"; exit 1; }

influx_start || exit 1
influx_query "" 'CREATE DATABASE "telemetry"' || exit 1
now=$(date +%s)
deploy=$(( now / 60 * 60 - 11 * 60 ))
T=$(date -u -d "@$deploy" +%Y-%m-%dT%H:%M:%SZ)
: > "$WG_TMP/real.lp"
for t in $(seq "$deploy" 10 $(( deploy + 600 ))); do echo "http,region=r49 p95=100 $t" >> "$WG_TMP/real.lp"; done
influx_write telemetry "$WG_TMP/real.lp" || exit 1

# STANDIN=py: 49 stand-ins (one port each): InfluxDB 1.x's /query answer, as
# /work/shared/fixtures' real answers have it, after LAT_MS. Served by PROCS processes, each an
# asyncio loop of bare Protocols with call_later. The first version (StreamReader tasks +
# asyncio.sleep) spent 55-60 ms of CPU per 49-target check on this 2-core box, about as much as
# wavegate itself, and the box's CPU is what bounds the fleet's wall time; this one 39-46 ms
# (both measured side by side, 3 x 10 checks). bench/fleet_standin.c answers the same bytes.
# usage: standin.py N LAT_MS [PROCS] [T0: the answers' epoch seconds, default now]
cat > "$WG_TMP/standin.py" <<'PY'
import asyncio, json, os, signal, socket, sys, time
n, lat = int(sys.argv[1]), float(sys.argv[2]) / 1000
t = (int(sys.argv[4]) if len(sys.argv) > 4 else int(time.time())) * 10**9
body = json.dumps({"results": [{"statement_id": 0, "series": [{"name": "http",
       "columns": ["time", "max"], "values": [[t - 60 * 10**9, 100], [t, 101]]}]}]},
       separators=(",", ":")).encode() + b"\n"
ANSWER = (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
          b"X-Influxdb-Version: 1.6.7\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
class Conn(asyncio.Protocol):  # keep-alive; every request answered after lat, in order
    def connection_made(self, tr):
        self.tr, self.buf, self.need = tr, b"", None
        self.loop = asyncio.get_running_loop()
    def data_received(self, data):
        self.buf += data
        while True:
            if self.need is None:
                i = self.buf.find(b"\r\n\r\n")
                if i < 0:
                    return
                head, self.buf = self.buf[:i], self.buf[i + 4:]
                self.need = 0
                for line in head.split(b"\r\n"):
                    if line[:15].lower() == b"content-length:":
                        self.need = int(line.split(b":")[1])
            if len(self.buf) < self.need:
                return
            self.buf, self.need = self.buf[self.need:], None
            self.loop.call_later(lat, self.answer)
    def answer(self):
        if not self.tr.is_closing():
            self.tr.write(ANSWER)
async def serve(socks):
    loop = asyncio.get_running_loop()
    for so in socks:
        await loop.create_server(Conn, sock=so, backlog=512)
    await asyncio.Event().wait()
# every port bound here, then served by PROCS processes
socks = []
for _ in range(n):
    so = socket.socket()
    so.bind(("127.0.0.1", 0))
    so.listen(512)
    socks.append(so)
print(" ".join(str(so.getsockname()[1]) for so in socks), flush=True)
procs = int(sys.argv[3]) if len(sys.argv) > 3 else 4
kids = []
for k in range(procs - 1):
    pid = os.fork()
    if pid == 0:
        asyncio.run(serve(socks[k::procs]))
    kids.append(pid)
print(" ".join(str(p) for p in [os.getpid()] + kids), flush=True)
def stop(*_):
    for pid in kids:  # the children this process forked, by their id
        os.kill(pid, signal.SIGTERM)
    os._exit(0)
signal.signal(signal.SIGTERM, stop)
asyncio.run(serve(socks[procs - 1::procs]))
PY

# standin_start KIND N: N stand-in ports of KIND (c | py) -> ports=(...), si_pid, si_pids
t0=$(date +%s) # the answers' timestamps, the same for both kinds
all_si=()
standin_stop_all() { local p; for p in "${all_si[@]}"; do kill "$p" 2>/dev/null || true; done; }
wg_on_exit standin_stop_all
standin_start() {
    local out=$WG_TMP/standin.$1.$2 i
    case $1 in
        c) FLEET_STANDIN_STATS=$out.late FLEET_STANDIN_TRACE=$out.trace "${rt[@]}" "$STANDIN_C" \
               "$2" "$LAT_MS" "$t0" > "$out" & ;;
        py) "${rt[@]}" python3 "$WG_TMP/standin.py" "$2" "$LAT_MS" "${3:-${PROCS:-4}}" "$t0" > "$out" & ;;
        *) echo "STANDIN: c or py, not '$1'"; exit 1 ;;
    esac
    si_pid=$!; all_si+=("$si_pid")
    for i in $(seq 200); do [ -f "$out" ] && [ "$(wc -l < "$out")" -ge 2 ] && break; sleep 0.05; done
    [ -f "$out" ] && [ "$(wc -l < "$out")" -ge 2 ] || { echo "stand-in $1 did not start"; exit 1; }
    read -r -a ports < <(sed -n 1p "$out")
    si_pids=$(sed -n 2p "$out")
}
standin_stop() { kill "$si_pid" 2>/dev/null || true; wait "$si_pid" 2>/dev/null || true; }

# the two kinds answer the same bytes: one port each, a GET, a POST form and two keep-alive
# GETs on one connection (curl -i: status line, headers and body), compared byte for byte
standin_start c 1; c_port=${ports[0]}; c_pid=$si_pid
standin_start py 1 1; py_port=${ports[0]}; py_pid=$si_pid
for k in c py; do
    p=$([ $k = c ] && echo "$c_port" || echo "$py_port"); u="http://127.0.0.1:$p/query"
    q='db=telemetry&epoch=ns&q=SELECT+max%28p95%29+FROM+http'
    curl -s -i "$u?$q" > "$WG_TMP/same.$k.get"
    curl -s -i -d "$q" "$u" > "$WG_TMP/same.$k.post"
    curl -s -i "$u?$q" "$u?$q&x=2" > "$WG_TMP/same.$k.two"
done
for x in get post two; do
    cmp "$WG_TMP/same.c.$x" "$WG_TMP/same.py.$x" || { echo "stand-ins differ ($x)"; exit 1; }
done
python3 -c 'import json,sys; b=open(sys.argv[1],"rb").read().split(b"\r\n\r\n",1)[1]; json.loads(b)["results"][0]["series"][0]["values"][1][1]==101 or sys.exit(1)' "$WG_TMP/same.c.get"
echo "stand-ins c and py: the same $(wc -c < "$WG_TMP/same.c.get")-byte answer (GET, POST form, keep-alive), byte for byte"
si_pid=$c_pid; standin_stop; si_pid=$py_pid; standin_stop

# pNN of a list of seconds, in ms
pct() { python3 -c 'import sys; v=sorted(float(x) for x in sys.stdin.read().split()); print(" ".join("p%s %.2f" % (p, 1000*v[min(len(v)-1, int(len(v)*p/100))]) for p in (50, 99)) + " max %.2f ms (%d)" % (1000*v[-1], len(v)))'; }

# the bench with one kind of stand-ins (the body is not indented, to keep its history readable)
bench_kind() {
local kind=$1
case $kind in
    c) echo "== stand-ins: bench/fleet_standin.c (one epoll process), STANDIN_RT=$STANDIN_RT ==" ;;
    py) echo "== stand-ins: Python asyncio (${PROCS:-4} processes), STANDIN_RT=$STANDIN_RT ==" ;;
esac
standin_start "$kind" 49
standin_pids=$si_pids

cfg=$WG_TMP/fleet.yaml
python3 - "$INFLUX_URL" "${ports[@]}" > "$cfg" <<'PY'
import sys
url, ports = sys.argv[1], sys.argv[2:]
print("sources:")
for i, p in enumerate(ports):
    print(f"  s{i}: {{kind: influxql, url: 'http://127.0.0.1:{p}', database: telemetry, chunk_size: 0}}")
print(f"  s49: {{kind: influxql, url: '{url}', database: telemetry, chunk_size: 0}}")
print("waves:")
for n in (1, 10, 50):
    print(f"  - name: fleet{n}\n    targets:")
    # fleet1: one stand-in target; fleet10 and fleet50 add stand-ins and the real InfluxDB
    for i in ([0] if n == 1 else list(range(n - 1)) + [49]):
        print(f"      - {{name: r{i}, source: s{i}, labels: {{region: r{i}}}}}")
print("server: {cache_ttl: 0s}")  # the serve half: every call evaluated
print("features:\n  f:\n    rules:")
for r in range(20):
    print(f"      - name: q{r}\n        query: SELECT max(p95) FROM http WHERE region = {{{{ region }}}} "
          f"AND time >= {{{{ start }}}} AND time < {{{{ end }}}} AND p95 > {r - 100}\n"
          f"        reduce: max\n        window: 10m\n        threshold: {{max: 1000}}")
PY
echo "state_dir: $WG_TMP/state" >> "$cfg"
"$WG" validate --config "$cfg" >/dev/null
"$WG" check --config "$cfg" --wave fleet50 --deploy-time "$T" --format json > "$WG_TMP/out.json" || true
python3 - "$WG_TMP/out.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
assert len(d["targets"]) == 50 and len(d["rules"]) == 1000, (len(d["targets"]), len(d["rules"]))
bad = [r for r in d["rules"] if r["verdict"] not in ("pass", "warn")]
assert not bad, bad[0]
PY

# the same 1000 rendered queries through curl --parallel at the same overall concurrency
# (50 sources x 8): what the stand-ins and the box allow, whoever the client is
python3 - "$WG_TMP/out.json" "$cfg" > "$WG_TMP/curl.cfg" <<'PY'
import json, re, sys, urllib.parse
d = json.load(open(sys.argv[1]))
urls = dict(re.findall(r"^  (s\d+): \{kind: influxql, url: '([^']+)'", open(sys.argv[2]).read(), re.M))
for r in d["rules"]:
    q = urllib.parse.urlencode({"db": "telemetry", "epoch": "ns", "q": r["query"]})
    print(f'url = "{urls[r["source"]]}/query?{q}"\noutput = "/dev/null"')
PY

# The floor: the same queries by bench/fleet_floor.c, the least a client can do (prebuilt GETs on
# warm keep-alive connections, one epoll loop, nothing parsed), over the connections wavegate
# opens. Its fleet / lone ratio is the best any client reaches on this box with these
# stand-ins; what wavegate takes beyond it is its own (libcurl, parsing, judging, the report).
python3 - "$WG_TMP/out.json" "$cfg" "$WG_TMP/floor" <<'PY'
import json, re, sys, urllib.parse
d = json.load(open(sys.argv[1]))
urls = dict(re.findall(r"^  (s\d+): \{kind: influxql, url: '([^']+)'", open(sys.argv[2]).read(), re.M))
lines = {}
for r in d["rules"]:
    q = urllib.parse.urlencode({"db": "telemetry", "epoch": "ns", "q": r["query"]})
    lines.setdefault(r["target"], []).append(f'{urls[r["source"]].rsplit(":", 1)[1]} /query?{q}\n')
open(sys.argv[3] + ".fleet", "w").writelines(sum(lines.values(), []))
open(sys.argv[3] + ".lone", "w").writelines(lines["r0"])  # a stand-in target's own 20
PY

# PERF=out.data: record PERF_CHECKS (10) 50-target checks with `perf record -g` (call graphs by
# PERF_CG, default dwarf: a Release build has no frame pointers) into out.data and stop there;
# read it with `perf report -i out.data --no-children`.
if [ -n "${PERF:-}" ]; then
    perf record -q -g --call-graph "${PERF_CG:-dwarf}" -F "${PERF_FREQ:-2000}" -o "$PERF" -- \
        bash -c 'for i in $(seq "$1"); do "$2" check --config "$3" --deploy-time "$4" \
            --wave "$5" >/dev/null || true; done' _ "${PERF_CHECKS:-10}" "$WG" "$cfg" "$T" \
        "${AB_WAVE:-fleet50}"
    exit 0
fi

# HOLD=env.sh: write CFG=, T= and WG= there for other tools (strace, perf stat, a debugger) and
# keep InfluxDB and the stand-ins up until that file is removed.
if [ -n "${HOLD:-}" ]; then
    printf 'CFG=%q\nT=%q\nWG=%q\n' "$cfg" "$T" "$WG" > "$HOLD"
    while [ -e "$HOLD" ]; do sleep 1; done
    exit 0
fi

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

# A/B mode (WG_B=other/wavegate): the two binaries' 50-target (AB_WAVE) checks interleaved, RUNS rounds
# of 10 checks each, at the same moment on the same stand-ins: median wall per check and
# wavegate's own CPU per check (user + sys of the child, from /proc ticks of this shell).
if [ -n "${WG_B:-}" ]; then
    hz=$(getconf CLK_TCK)
    ab_round() { # BIN -> "wall_ms cpu_ms" per check over 10 checks
        local s e c0 c1 i
        c0=$(awk '{print $16+$17}' /proc/$$/stat); s=$(date +%s%N)
        for i in $(seq 10); do "$1" check --config "$cfg" --deploy-time "$T" --wave "${AB_WAVE:-fleet50}" >/dev/null || true; done
        e=$(date +%s%N); c1=$(awk '{print $16+$17}' /proc/$$/stat)
        echo "$(( (e - s) / 10000000 )) $(( (c1 - c0) * 1000 / hz / 10 ))"
    }
    : > "$WG_TMP/a"; : > "$WG_TMP/b"
    # ABBA: the order alternates (an A/A run of one binary against its copy showed the first
    # of each pair 2 ms of CPU and 25 ms of wall "faster": position, not code)
    for i in $(seq "$RUNS"); do
        if [ $(( i % 2 )) = 1 ]; then ab_round "$WG" >> "$WG_TMP/a"; ab_round "$WG_B" >> "$WG_TMP/b"
        else ab_round "$WG_B" >> "$WG_TMP/b"; ab_round "$WG" >> "$WG_TMP/a"; fi
    done
    for x in a b; do
        printf '%s: wall per check %s ms (runs: %s), wavegate CPU per check %s ms\n' \
            "$([ $x = a ] && echo "$WG" || echo "$WG_B")" "$(cut -d' ' -f1 "$WG_TMP/$x" | median)" \
            "$(cut -d' ' -f1 "$WG_TMP/$x" | tr '\n' ' ')" "$(cut -d' ' -f2 "$WG_TMP/$x" | median)"
    done
    exit 0
fi
ticks() { local t=0 p a; for p in "$@"; do read -r -a a < "/proc/$p/stat"; t=$(( t + a[13] + a[14] )); done; echo "$t"; }
hz=$(getconf CLK_TCK)
timed() { local s e; s=$(date +%s.%N); "$WG" check --config "$cfg" --deploy-time "$T" "$@" >/dev/null; e=$(date +%s.%N); echo "$e - $s" | bc; }
med_of() { local i; for i in $(seq "$RUNS"); do timed "$@"; done | median; }

floor_ms() { "$FLOOR" "$1" 8 "$(( RUNS * 3 ))" | sed -n 's/.*median \([0-9.]*\) ms.*/\1/p'; }
f_lone=$(floor_ms "$WG_TMP/floor.lone"); f_fleet=$(floor_ms "$WG_TMP/floor.fleet")
t_curl=$(for i in $(seq "$RUNS"); do s=$(date +%s.%N); curl -s --no-progress-meter --parallel --parallel-max 400 -K "$WG_TMP/curl.cfg"; e=$(date +%s.%N); echo "$e - $s" | bc; done | median)
t1=$(med_of --wave fleet1); t10=$(med_of --wave fleet10); t50=$(med_of --wave fleet50)
# the slowest single target's own 20 queries: each target of fleet50 alone
slow=0; slow_t=; sum=0
for i in $(seq 0 48) 49; do
    t=$(RUNS=3 med_of --wave fleet50 --target "r$i")
    sum=$(echo "$sum + $t" | bc)
    if [ "$(echo "$t > $slow" | bc)" = 1 ]; then slow=$t; slow_t=r$i; fi
done
# the largest of 50 medians of 3 is as much the noise's largest as the slowest target's (the 49
# stand-in targets are alike): the one found is timed again, over 3 x RUNS checks
slow=$(RUNS=$(( RUNS * 3 )) med_of --wave fleet50 --target "$slow_t")
printf 'fleet of 50 targets x 20 rules (1000 queries, 50 sources, %d ms stand-ins + 1 real InfluxDB)\n' "$LAT_MS"
printf '  wall time, 50 targets:             %.3f s\n' "$t50"
printf '  slowest single target (%s) alone:  %.3f s\n' "$slow_t" "$slow"
printf '  ratio fleet / slowest target:      %.2f (target <= 1.2)\n' "$(echo "$t50 / $slow" | bc -l)"
printf '  the 50 targets one after another:  %.3f s (the sum of each alone; %.0fx the fleet)\n' \
    "$sum" "$(echo "$sum / $t50" | bc -l)"
printf '  curl --parallel, same 1000 queries: %.3f s\n' "$t_curl"
printf '  floor (fleet_floor.c, warm):       lone target %.1f ms, fleet %.1f ms: %.2fx\n' \
    "$f_lone" "$f_fleet" "$(echo "$f_fleet / $f_lone" | bc -l)"
printf '  wall time at 1 / 10 / 50 targets:  %.3f / %.3f / %.3f s\n' "$t1" "$t10" "$t50"
printf '  growth 1 -> 50 targets:            %.2fx (target <= 1.5)\n' "$(echo "$t50 / $t1" | bc -l)"
# The same through `wavegate serve` (/v1/gate, cache off), as a pipeline calls it: its HTTP
# handles and their connections to the 50 sources stay alive between calls, so a call pays
# no process start, config parse or TCP handshake (the CLI pays all three every time).
"$WG" serve --config "$cfg" --listen 127.0.0.1:0 2> "$WG_TMP/serve.log" &
serve_pid=$!
wait_for 20 grep -q 'listening on port [0-9]' "$WG_TMP/serve.log" || { cat "$WG_TMP/serve.log"; exit 1; }
sport=$(sed -n 's/.*listening on port \([0-9]*\).*/\1/p' "$WG_TMP/serve.log" | head -1)
gate_t() { curl -s -o /dev/null -w '%{time_total}\n' "http://127.0.0.1:$sport/v1/gate?deploy_time=$T&$1"; }
smed() { local i; for i in $(seq "${2:-$RUNS}"); do gate_t "$1"; done | median; }
for i in 1 2 3; do gate_t wave=fleet50 > /dev/null; done # the connections, opened once
s1=$(smed wave=fleet1); s10=$(smed wave=fleet10); s50=$(smed wave=fleet50)
sslow=0; sslow_t=; ssum=0
for i in $(seq 0 48) 49; do
    t=$(smed "wave=fleet50&target=r$i" 3)
    ssum=$(echo "$ssum + $t" | bc)
    if [ "$(echo "$t > $sslow" | bc)" = 1 ]; then sslow=$t; sslow_t=r$i; fi
done
sslow=$(smed "wave=fleet50&target=$sslow_t" $(( RUNS * 3 ))) # timed again, as above
c0=$(awk '{print $14+$15}' "/proc/$serve_pid/stat"); si0=$(ticks $standin_pids)
for i in $(seq 10); do gate_t wave=fleet50 > /dev/null; done
c1=$(awk '{print $14+$15}' "/proc/$serve_pid/stat"); si1=$(ticks $standin_pids)
# Where a call's time goes, seen from the servers' side (the C stand-ins' notes: every request
# read and answer sent, by connection): RUNS fleet and lone calls through serve, timed from
# the client, and the floor's own runs. The lone target is the slowest one found above, or r0
# when that one is the real InfluxDB's (not a stand-in: nothing noted). The py kind notes
# nothing: its table stays empty (not the c kind's, with STANDIN="c py").
: > "$WG_TMP/where"
if [ "$kind" = c ]; then
    lone_t=$sslow_t; [ "$lone_t" = r49 ] && lone_t=r0
    kill -USR1 "$si_pid"; wait_for 10 test -s "$WG_TMP/standin.c.49.trace" # the notes so far: dropped
    python3 - "$sport" "$T" "$lone_t" "$RUNS" > "$WG_TMP/marks" <<'PY'
import sys, time, urllib.request
port, t, lone, runs = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
for label, q in [("serve fleet", "wave=fleet50"), ("serve lone", f"wave=fleet50&target={lone}")]:
    for _ in range(runs):
        a = time.monotonic_ns()
        urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/gate?deploy_time={t}&{q}").read()
        print(label.replace(" ", "_"), a, time.monotonic_ns())
PY
    for w in fleet lone; do
        rm -f "$WG_TMP/fm"
        FLEET_FLOOR_MARKS=$WG_TMP/fm "$FLOOR" "$WG_TMP/floor.$w" 8 "$RUNS" > /dev/null
        sed "s/^/floor_$w /" "$WG_TMP/fm" >> "$WG_TMP/marks"
    done
    rm -f "$WG_TMP/standin.c.49.trace"; kill -USR1 "$si_pid"
    wait_for 10 test -s "$WG_TMP/standin.c.49.trace"
    python3 - "$WG_TMP/standin.c.49.trace" "$WG_TMP/marks" "$lone_t" > "$WG_TMP/where" <<'PY'
import bisect, sys
notes = [l.split() for l in open(sys.argv[1])]
at = [int(n[0]) for n in notes]
med = lambda xs: sorted(xs)[len(xs) // 2] / 1e6
rows = {}
for line in open(sys.argv[2]):
    label, a, z = line.split(); a, z = int(a), int(z)
    seg = notes[bisect.bisect_left(at, a):bisect.bisect_left(at, z)]
    reqs = [(int(n[0]), n[1]) for n in seg if n[2] == "R"]
    answers = [int(n[0]) for n in seg if n[2] == "A"]
    if not reqs or not answers:
        continue
    first = {}
    for t, fd in reqs:
        first.setdefault(fd, t)
    sent, turns = {}, []  # an answer sent on a connection -> its next request read
    for n in seg:
        t, fd = int(n[0]), n[1]
        if n[2] == "A":
            sent[fd] = t
        elif fd in sent:
            turns.append(t - sent.pop(fd))
    turns.sort()
    r = rows.setdefault(label, [[] for _ in range(6)])
    for k, v in enumerate([reqs[0][0] - a, max(first.values()) - min(first.values()),
                           answers[-1] - reqs[0][0], z - answers[-1],
                           turns[len(turns) // 2] if turns else 0,
                           turns[len(turns) * 9 // 10] if turns else 0]):
        r[k].append(v)
print("  seen at the stand-ins (ms, medians of the calls; lone = %s; the floor's own runs):" % sys.argv[3])
print("    %-12s %10s %12s %9s %11s %18s" % ("", "before 1st", "1st round out", "queries",
                                            "after last", "turnaround p50/p90"))
for label in ["serve_fleet", "serve_lone", "floor_fleet", "floor_lone"]:
    if label in rows:
        r = rows[label]
        print("    %-12s %10.1f %12.1f %9.1f %11.1f %11.2f / %.2f" % (
            label.replace("_", " "), med(r[0]), med(r[1]), med(r[2]), med(r[3]), med(r[4]),
            med(r[5])))
PY
fi
kill "$serve_pid"; wait "$serve_pid" 2>/dev/null || true
printf 'through serve (/v1/gate, connections kept between calls)\n'
printf '  wall time, 50 targets:             %.3f s\n' "$s50"
printf '  slowest single target (%s) alone:  %.3f s\n' "$sslow_t" "$sslow"
printf '  ratio fleet / slowest target:      %.2f (target <= 1.2)\n' "$(echo "$s50 / $sslow" | bc -l)"
printf '  the 50 targets one after another:  %.3f s (the sum of each alone; %.0fx the fleet)\n' \
    "$ssum" "$(echo "$ssum / $s50" | bc -l)"
printf '  wall time at 1 / 10 / 50 targets:  %.3f / %.3f / %.3f s\n' "$s1" "$s10" "$s50"
printf '  growth 1 -> 50 targets:            %.2fx (target <= 1.5)\n' "$(echo "$s50 / $s1" | bc -l)"
printf '  beyond the floor:                  fleet +%.1f ms, lone target +%.1f ms\n' \
    "$(echo "$s50 * 1000 - $f_fleet" | bc -l)" "$(echo "$sslow * 1000 - $f_lone" | bc -l)"
printf '  CPU per 50-target call:            wavegate %d ms, stand-ins %d ms\n' \
    $(( (c1 - c0) * 1000 / hz / 10 )) $(( (si1 - si0) * 1000 / hz / 10 ))
cat "$WG_TMP/where"
# where the time goes: the CPU of wavegate and of the stand-ins per 50-target check (10 checks;
# /proc ticks), against the box's 2 cores: both share them with whatever else runs
s0=$(ticks $standin_pids); c0=$(awk '{print $14+$15+$16+$17}' /proc/$$/stat)
for i in $(seq 10); do "$WG" check --config "$cfg" --deploy-time "$T" --wave fleet50 >/dev/null || true; done
s1=$(ticks $standin_pids); c1=$(awk '{print $14+$15+$16+$17}' /proc/$$/stat)
printf '  CPU per 50-target check:           wavegate %d ms, stand-ins %d ms (%d cores)\n' \
    $(( (c1 - c0) * 1000 / hz / 10 )) $(( (s1 - s0) * 1000 / hz / 10 )) "$(nproc)"
printf '  load average during the run:       %s\n' "$(cut -d' ' -f1-3 /proc/loadavg)"
# the stand-in's answer latency seen by curl (first byte after the request went out): 200 requests one
# after another on one keep-alive connection, then the 1,000 queries through curl --parallel
u="http://127.0.0.1:${ports[0]}/query?db=telemetry&q=SELECT+1"
lat_alone=$(for i in $(seq 200); do echo "url = \"$u&i=$i\""; echo 'output = "/dev/null"'; done |
    curl -s -K - -w '%{time_pretransfer} %{time_starttransfer}\n' | awk '{print $2 - $1}' | pct)
lat_load=$(curl -s --no-progress-meter --parallel --parallel-max 400 -K "$WG_TMP/curl.cfg" \
    -w '%{url_effective} %{time_pretransfer} %{time_starttransfer}\n' |
    grep -v "^$INFLUX_URL" | awk '{print $3 - $2}' | pct) # the stand-ins' 980, not InfluxDB's 20
printf '  stand-in latency, one at a time:   %s\n' "$lat_alone"
printf '  stand-in latency, 980 in parallel: %s\n' "$lat_load"
printf '  load average:                      %s\n' "$(cut -d' ' -f1-3 /proc/loadavg)"
standin_stop
# the C stand-in's own account, over the whole bench: its send time minus the due time
if [ "$kind" = c ]; then
    printf '  stand-in sends after due (own):    %s\n' "$(cat "$WG_TMP/standin.c.49.late")"
fi
}
for kind in $STANDIN; do bench_kind "$kind"; done

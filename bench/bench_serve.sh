#!/usr/bin/env bash
# bench_serve.sh — `wavegate serve` figures of issue 5, in one run on this machine:
#  1. cached-verdict GET /v1/gate under wrk vs nginx serving the same JSON as a static file
#     (target: >= 50% of nginx's req/s, p99 <= 5 ms);
#  2. RSS before and after 60 s of load, sampled every 5 s (target: flat; the 10 s CI
#     version is tests/integration/test_serve_soak.sh);
#  3. idle RSS with 1,000 rules loaded (target: <= 10 MB).
# usage: WG_BIN=build/wavegate bench/bench_serve.sh [SECONDS_PER_RUN] ; needs wrk and nginx.
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
SRC=${WG_SRC:-$(cd "$HERE/.." && pwd)}
source "$SRC/tests/integration/lib.sh"
WG=${WG_BIN:?WG_BIN must point at the wavegate binary}
DUR=${1:-10}
SOAK=${SOAK:-60}
command -v wrk >/dev/null && command -v nginx >/dev/null || {
    echo "needs wrk and nginx (apt-get install -y wrk nginx)" >&2; exit 1; }

influx_deploy_scenario || exit 1
TOKEN=bench-token-0123456789abcdef0123456789abcdef
export WG_BENCH_TOKEN=$TOKEN

cfg="$WG_TMP/wavegate.yaml"
sed "s|@INFLUX_URL@|$INFLUX_URL|" "$SRC/examples/demo.yaml.in" > "$cfg"
cat >> "$cfg" <<YAML
state_dir: $WG_TMP/state
server:
  listen: 127.0.0.1:0
  bearer_token_env: WG_BENCH_TOKEN
  cache_ttl: 1h
  max_connections: 1024
  per_ip_connections: 1024
  threads: ${THREADS:-2}
YAML

start_serve() { # CONFIG LOG -> SPID, SPORT (from the "listening on port N" log line)
    "$WG" serve --config "$1" 2>"$2" &
    SPID=$!
    wait_for 20 grep -q 'listening on port [0-9]' "$2" || { cat "$2"; exit 1; }
    SPORT=$(sed -n 's/.*listening on port \([0-9]*\).*/\1/p' "$2" | head -1)
}
stop_pid() { kill -TERM "$1" 2>/dev/null; wait "$1" 2>/dev/null; }
rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }

start_serve "$cfg" "$WG_TMP/serve.log"
stop_serve() { stop_pid "$SPID"; }
wg_on_exit stop_serve
URL="http://127.0.0.1:$SPORT/v1/gate?wave=staging&feature=checkout&deploy_time=$T"
curl -sf -H "Authorization: Bearer $TOKEN" "$URL" > "$WG_TMP/verdict.json" || {
    echo "priming request failed"; cat "$WG_TMP/serve.log"; exit 1; }

# nginx: one worker, the same bytes as a static file.
NPORT=$(free_port)
mkdir -p "$WG_TMP/nginx/v1"
cp "$WG_TMP/verdict.json" "$WG_TMP/nginx/v1/gate"
cat > "$WG_TMP/nginx.conf" <<CONF
$([ "$(id -u)" = 0 ] && echo 'user root root;')
worker_processes 1;
pid $WG_TMP/nginx.pid;
error_log $WG_TMP/nginx.err warn;
daemon off;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $WG_TMP/nginx/tmp; proxy_temp_path $WG_TMP/nginx/tmp;
  fastcgi_temp_path $WG_TMP/nginx/tmp; uwsgi_temp_path $WG_TMP/nginx/tmp;
  scgi_temp_path $WG_TMP/nginx/tmp;
  server {
    listen 127.0.0.1:$NPORT;
    root $WG_TMP/nginx;
    location / { default_type application/json; }
  }
}
CONF
mkdir -p "$WG_TMP/nginx/tmp"
nginx -e "$WG_TMP/nginx.err" -c "$WG_TMP/nginx.conf" -p "$WG_TMP" &
NPID=$!
stop_nginx() { stop_pid "$NPID"; }
wg_on_exit stop_nginx
wait_for 10 curl -sf "http://127.0.0.1:$NPORT/v1/gate" || { cat "$WG_TMP/nginx.err"; exit 1; }

bytes=$(wc -c < "$WG_TMP/verdict.json")
echo "verdict body: $bytes bytes; $(nproc) cores; wrk -t2 -c50 -d${DUR}s"
# wrk_run NAME URL [HEADER] -> "req/s p99_ms"
wrk_run() {
    local out
    if [ $# -ge 3 ]; then out=$(wrk -t2 -c50 -d"${DUR}s" --latency -H "$3" "$2")
    else out=$(wrk -t2 -c50 -d"${DUR}s" --latency "$2"); fi
    local rps p99
    rps=$(awk '/^Requests\/sec/ {print $2}' <<<"$out")
    p99=$(awk '$1=="99%" {v=$2; if (v ~ /us$/) {sub(/us/,"",v); v/=1000} else if (v ~ /ms$/) {sub(/ms/,"",v)} else if (v ~ /s$/) {sub(/s/,"",v); v*=1000}; print v}' <<<"$out")
    local errs
    errs=$(grep -E 'Non-2xx|Socket errors' <<<"$out" | tr '\n' ' ')
    echo "$1: ${rps} req/s, p99 ${p99} ms ${errs}" >&2
    echo "$rps $p99"
}
read -r n1 np1 < <(wrk_run "nginx (1)  " "http://127.0.0.1:$NPORT/v1/gate")
read -r w1 wp1 < <(wrk_run "wavegate(1)" "$URL" "Authorization: Bearer $TOKEN")
read -r n2 np2 < <(wrk_run "nginx (2)  " "http://127.0.0.1:$NPORT/v1/gate")
read -r w2 wp2 < <(wrk_run "wavegate(2)" "$URL" "Authorization: Bearer $TOKEN")
python3 - "$n1" "$w1" "$n2" "$w2" "$wp1" "$wp2" <<'PY'
import sys
n1, w1, n2, w2, p1, p2 = map(float, sys.argv[1:])
ratio = (w1 + w2) / (n1 + n2)
print(f"wavegate / nginx req/s: {ratio*100:.0f}% (target >= 50%); "
      f"wavegate p99 {max(p1,p2):.2f} ms (target <= 5 ms)")
PY

# RSS over a soak.
echo "RSS under load for ${SOAK}s (kB):"
rss_before=$(rss_kb "$SPID")
wrk -t2 -c50 -d"${SOAK}s" -H "Authorization: Bearer $TOKEN" "$URL" > "$WG_TMP/soak.out" &
WPID=$!
samples=()
end=$(( $(date +%s) + SOAK ))
while [ "$(date +%s)" -lt "$end" ]; do
    samples+=("$(rss_kb "$SPID")")
    sleep 5  # sampling interval, not a wait for readiness
done
wait "$WPID"
rss_after=$(rss_kb "$SPID")
echo "  before $rss_before kB, after $rss_after kB: $((rss_after - rss_before)) kB over ${SOAK}s"
echo "  samples: ${samples[*]}"
python3 - "${samples[@]}" <<'PY'
import sys
s = [int(x) for x in sys.argv[1:] if x]
half = len(s) // 2
a, b = max(s[:half] or s), max(s[half:] or s)
print(f"  first half max {a} kB, second half max {b} kB, growth {100*(b-a)/a:+.1f}%")
PY
awk '/^Requests\/sec/ {print "  soak: " $2 " req/s"}' "$WG_TMP/soak.out"
stop_pid "$SPID"

# Idle with 1,000 rules.
big="$WG_TMP/big.yaml"
python3 - "$INFLUX_URL" "$WG_TMP/state2" > "$big" <<'PY'
import sys
url, state = sys.argv[1], sys.argv[2]
print(f"sources:\n  local: {{kind: influxql, url: \"{url}\", database: telemetry}}")
print("waves:\n  - {name: staging, env: staging, source: local}")
print("features:")
for f in range(100):
    print(f"  feature{f}:\n    rules:")
    for r in range(10):
        print(f"      - name: rule{r}\n        query: >-\n"
              f"          SELECT mean(\"latency_ms\") FROM \"http\" WHERE \"env\" = {{{{ env }}}}"
              f" AND \"f\" = 'f{f}r{r}' AND time >= {{{{ start }}}} AND time < {{{{ end }}}}\n"
              f"        window: 10m\n        threshold: {{max: {100 + r}}}")
print(f"state_dir: {state}\nserver:\n  listen: 127.0.0.1:0")
PY
start_serve "$big" "$WG_TMP/serve2.log"
curl -sf "http://127.0.0.1:$SPORT/healthz" >/dev/null
idle=$(rss_kb "$SPID")
echo "idle serve with 1,000 rules: RSS $idle kB ($(( idle / 1024 )) MB; target <= 10 MB)"
stop_pid "$SPID"

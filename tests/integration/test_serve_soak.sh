#!/usr/bin/env bash
# test_serve_soak.sh — memory stays flat under load: 10 s of wrk (WG_SOAK_SECONDS) at
# `wavegate serve` on a real InfluxDB — cached and re-evaluated verdicts (cache_ttl 1s),
# Flagger hooks, 401s and /metrics — after a warm-up; RSS growth must stay under 4 MB
# (WG_SOAK_MAX_KB). bench/bench_serve.sh runs the long (60 s) version. Skips without wrk.
set -uo pipefail
source "$(dirname "$0")/lib.sh"
WG=${WG_BIN:?WG_BIN must point at the wavegate binary}
SRC=${WG_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
SECS=${WG_SOAK_SECONDS:-10}
MAX_KB=${WG_SOAK_MAX_KB:-4096}
command -v wrk >/dev/null || { echo "SKIP: wrk not installed (apt-get install wrk)"; exit 77; }

influx_deploy_scenario || exit 1
export WG_SOAK_TOKEN=soak-token-0123456789abcdef
cfg="$WG_TMP/wavegate.yaml"
sed "s|@INFLUX_URL@|$INFLUX_URL|" "$SRC/examples/demo.yaml.in" > "$cfg"
cat >> "$cfg" <<YAML
state_dir: $WG_TMP/state
server:
  listen: 127.0.0.1:0
  bearer_token_env: WG_SOAK_TOKEN
  cache_ttl: 1s
  max_connections: 256
  per_ip_connections: 256
YAML
# ASan keeps freed memory in a quarantine that grows RSS by design; a small one measures ours.
ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=1 serve_start "$cfg" || exit 1
wg_on_exit serve_stop
rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$SERVE_PID/status"; }

# A wrk script cycling through the routes (one request kind per call).
cat > "$WG_TMP/mix.lua" <<LUA
local n = 0
local auth = "Bearer $WG_SOAK_TOKEN"
local paths = {
  "/v1/gate?wave=staging&feature=checkout&deploy_time=$T",
  "/v1/gate?wave=prod-internal&feature=checkout&deploy_time=$T&mode=status",
  "/v1/gate?wave=staging&deploy_time=$T",
}
request = function()
  n = n + 1
  local k = n % 6
  if k < 3 then
    return wrk.format("GET", paths[k + 1], {["Authorization"] = auth})
  elseif k == 3 then
    return wrk.format("POST", "/v1/flagger/confirm-rollout",
      {["Content-Type"] = "application/json"},
      '{"name":"x","metadata":{"wave":"staging","feature":"checkout","token":"' ..
      "$WG_SOAK_TOKEN" .. '","deploy_time":"$T"}}')
  elseif k == 4 then
    return wrk.format("GET", paths[1], {["Authorization"] = "Bearer wrong"})
  end
  return wrk.format("GET", "/metrics")
end
LUA
wrk -t2 -c32 -d3s -s "$WG_TMP/mix.lua" "$BASE" > "$WG_TMP/warm.out" 2>&1 # warm-up
before=$(rss_kb)
wrk -t2 -c32 -d"${SECS}s" --latency -s "$WG_TMP/mix.lua" "$BASE" > "$WG_TMP/soak.out" 2>&1
after=$(rss_kb)
rps=$(awk '/^Requests\/sec/ {print $2}' "$WG_TMP/soak.out")
echo "# ${SECS}s soak: ${rps:-?} req/s; RSS ${before} kB -> ${after} kB ($((after - before)) kB)"
expect_match "wrk ran" '^[0-9.]+$' "${rps:-}"
expect_eq "no socket errors" "" "$(grep 'Socket errors' "$WG_TMP/soak.out")"
expect_eq "RSS growth over ${SECS}s of load < ${MAX_KB} kB (got $((after - before)) kB)" 1 \
    "$([ $((after - before)) -lt "$MAX_KB" ] && echo 1)"
expect_eq "still healthy" 200 "$(curl -s -o /dev/null -w '%{http_code}' "$BASE/healthz")"
finish

# pg_lib.sh — a throwaway PostgreSQL cluster for the tests: initdb into $WG_TMP, pg_ctl start
# on 127.0.0.1 with a free port (as the postgres user when running as root), stopped on exit.
# Source after lib.sh; pg_start sets PG_DSN, PG_PORT; pg_restart and pg_stop for fault tests.
# fsync is off (tests) unless PG_FSYNC=on (benchmarks that compare with SQLite's fsyncs).

pg_bin() {
    local d
    for d in /usr/lib/postgresql/*/bin; do
        [ -x "$d/initdb" ] && { echo "$d"; return 0; }
    done
    return 1
}

_pg_as() { # run a command as the cluster's owner
    if [ "$(id -u)" -eq 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

pg_start() {
    PG_BIN=$(pg_bin) || { echo "postgresql not installed: apt-get install -y postgresql" >&2; return 1; }
    PG_HOME="$WG_TMP/pg" # data, socket and log, all owned by the cluster's user
    PG_DATA="$PG_HOME/data"
    PG_PORT=$(free_port)
    mkdir -p "$PG_DATA"
    if [ "$(id -u)" -eq 0 ]; then
        chown -R postgres "$PG_HOME" && chmod 755 "$WG_TMP"
    fi
    _pg_as "$PG_BIN/initdb" -D "$PG_DATA" -U wg --auth=trust -E UTF8 >"$WG_TMP/initdb.log" 2>&1 ||
        { cat "$WG_TMP/initdb.log" >&2; return 1; }
    wg_on_exit pg_stop
    pg_up || { cat "$PG_HOME/pg.log" >&2; return 1; }
    PG_DSN="host=127.0.0.1 port=$PG_PORT user=wg dbname=postgres connect_timeout=3"
    export PG_DSN PG_PORT
}

pg_up() {
    _pg_as "$PG_BIN/pg_ctl" -D "$PG_DATA" -w -t 30 -l "$PG_HOME/pg.log" \
        -o "-c listen_addresses=127.0.0.1 -p $PG_PORT -k $PG_HOME -c fsync=${PG_FSYNC:-off} -c max_connections=200" \
        start >/dev/null
}

pg_stop() {
    [ -n "${PG_DATA:-}" ] && [ -f "$PG_DATA/postmaster.pid" ] &&
        _pg_as "$PG_BIN/pg_ctl" -D "$PG_DATA" -m immediate -w stop >/dev/null 2>&1
    return 0
}

pg_restart() {
    pg_stop
    pg_up
}

pg_psql() { # DBNAME SQL... — psql on the test cluster (quiet, stop at the first error)
    local db=$1; shift
    "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PG_PORT" -U wg -d "$db" -At "$@"
}

# ---- delivery under kill -9 of the leader (test_replicas_pg.sh runs it short, bench_kill.sh
# the full 20 kills) -------------------------------------------------------------------------
# pg_kill_run KILLS N SEED — a database of its own (killN), three `serve` replicas on it with
# one webhook receiver to the loopback sink (tests/peers/sink_peer.py: 50 ms per answer, logs
# overlapping requests with the same key), N notifications put in the shared outbox, then
# KILLS times: wait for the leader, let it deliver for a random (seeded) 0.3-1.5 s, kill -9 it,
# time until another replica leads (must be within KILL_BOUND_S, default 10) and until the
# sink gets the first notification after the kill, start the killed replica again (a
# follower). Then waits for every notification. Needs lib.sh and pg_start, $WG and a sink
# scenario path /kill; sets KILL_TAKEOVER_MS, KILL_FAILOVER_MS (lists), KILL_DISTINCT,
# KILL_REQUESTS, KILL_OVERLAPS, KILL_OVER_BOUND, KILL_RECLAIMED.
pg_kill_run() {
    local kills=$1 n=$2 seed=$3 bound=${KILL_BOUND_S:-10} db="kill$1x$2" r k
    local rate=${KILL_RATE:-40}
    RANDOM=$seed
    pg_psql postgres -c "CREATE DATABASE $db" || return 1
    export WG_KILL_PG="host=127.0.0.1 port=$PG_PORT user=wg dbname=$db connect_timeout=3"
    declare -gA KPID KBASE
    for r in 1 2 3; do
        cat >"$WG_TMP/k$r.yaml" <<YAML
state_dir: $WG_TMP/kstate$r
state: {backend: postgres, dsn_env: WG_KILL_PG, leader_takeover: ${KILL_TAKEOVER:-2s}}
sources:
  local: {kind: influxql, url: 'http://127.0.0.1:9', database: telemetry}
waves: [{name: staging, env: staging, source: local}]
features:
  plain:
    rules:
      - name: mean-latency
        query: SELECT mean("latency_ms") FROM "http" WHERE time >= {{ start }} AND time < {{ end }}
        threshold: {max: 100000}
alerting:
  receivers:
    - {name: sink, kind: webhook, url: 'http://127.0.0.1:$SP/kill', timeout: 2s, max_in_flight: 4, rate_limit: $rate, burst: 4}
  route: {receiver: sink}
YAML
    done
    _k_start() {
        local rc=0
        serve_bg "$WG_TMP/k$1.yaml" "$WG_TMP/kserve$1.log" || rc=1
        KPID[$1]=$BG_PID KBASE[$1]=$BG_BASE
        return $rc
    }
    _k_stop_all() { local r; for r in "${!KPID[@]}"; do kill -9 "${KPID[$r]}" 2>/dev/null; done; return 0; }
    wg_on_exit _k_stop_all
    _k_is_leader() { local m; m=$(curl -s -m 5 "${KBASE[$1]}/metrics") && grep -q '^wavegate_leader 1$' <<<"$m"; }
    _k_leader() { local r; for r in "${!KPID[@]}"; do _k_is_leader "$r" && { klead=$r; return 0; }; done; return 1; }
    _k_new_leader() { local r; for r in "${!KPID[@]}"; do [ "$r" != "$1" ] && _k_is_leader "$r" && return 0; done; return 1; }
    for r in 1 2 3; do _k_start $r || return 1; done
    klead=""
    wait_for 20 _k_leader || { echo "no leader" >&2; return 1; }
    # N notifications accepted into the shared outbox (unclaimed): the leader claims them
    pg_psql "$db" -c "INSERT INTO outbox(receiver,idem,okey,url,headers,body,created)
        SELECT 'sink', 'kill-' || lpad(i::text, 5, '0'), lpad(to_hex(i), 16, '0'),
               'http://127.0.0.1:$SP/kill',
               E'Content-Type: application/json\nIdempotency-Key: kill-' || lpad(i::text, 5, '0') || E'\n',
               '{\"n\":' || i || '}', 0 FROM generate_series(1, $n) i" || return 1
    KILL_TAKEOVER_MS=() KILL_FAILOVER_MS=() KILL_OVER_BOUND=0
    if [ -n "${KILL_PG_RESTART:-}" ]; then # PostgreSQL restarted once, mid-delivery
        _k_some() { [ "$(grep -c '"/kill"' "$SINK_LOG")" -ge $((n / 4)) ]; }
        wait_for 60 _k_some
        pg_restart || return 1
    fi
    for k in $(seq 1 "$kills"); do
        klead=""
        wait_for "$bound" _k_leader || { echo "kill $k: no leader" >&2; KILL_OVER_BOUND=$((KILL_OVER_BOUND + 1)); continue; }
        sleep "$(printf '0.%03d' $((300 + RANDOM % 700)))"
        [ $((RANDOM % 3)) = 0 ] && sleep 0.5
        local t0 t0s
        # t0 once the process is gone: what the sink gets later is the new leader's
        kill -9 "${KPID[$klead]}"; t0=$(date +%s%N); t0s="${t0:0:10}.${t0:10}"
        wait "${KPID[$klead]}" 2>/dev/null; unset "KPID[$klead]"
        if wait_for "$bound" _k_new_leader "$klead"; then
            KILL_TAKEOVER_MS+=($(( ($(date +%s%N) - t0) / 1000000 )))
        else
            KILL_OVER_BOUND=$((KILL_OVER_BOUND + 1))
        fi
        # the first notification the sink gets after the kill (the new leader's)
        local f
        _k_first() { f=$(python3 - "$SINK_LOG" "$t0s" <<'PY'
import json, sys
t0 = float(sys.argv[2])
ts = [json.loads(l)["t"] for l in open(sys.argv[1]) if l.strip()]
after = [t for t in ts if t > t0]
print(int((min(after) - t0) * 1000) if after else "")
PY
); [ -n "$f" ]; }
        if wait_for 30 _k_first; then KILL_FAILOVER_MS+=("$f"); fi
        _k_start "$klead" || return 1
    done
    _k_all() { [ "$(pg_psql "$db" -c 'SELECT count(*) FROM outbox')" = 0 ]; }
    wait_for 120 _k_all || echo "outbox not empty: $(pg_psql "$db" -c 'SELECT count(*), count(claimed_by) FROM outbox')" >&2
    read -r KILL_REQUESTS KILL_DISTINCT KILL_OVERLAPS < <(python3 - "$SINK_LOG" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
keys = [r["headers"].get("idempotency-key") for r in rows if r["path"] == "/kill"]
print(len(keys), len(set(keys)), sum(1 for r in rows if r.get("overlap")))
PY
)
    KILL_RECLAIMED=0
    for r in "${!KPID[@]}"; do
        local v
        v=$(curl -s "${KBASE[$r]}/metrics" | sed -n 's/^wavegate_alert_outbox_reclaimed_total //p')
        KILL_RECLAIMED=$((KILL_RECLAIMED + ${v:-0}))
    done
    _k_stop_all
    KPID=()
}

# median_max LIST... — "median M ms, max X ms"
median_max() {
    local sorted n
    sorted=$(printf '%s\n' "$@" | sort -n)
    n=$#
    [ "$n" -gt 0 ] || { echo "median - ms, max - ms"; return; }
    echo "median $(sed -n "$(( (n + 1) / 2 ))p" <<<"$sorted") ms, max $(tail -1 <<<"$sorted") ms"
}

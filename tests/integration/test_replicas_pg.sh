#!/usr/bin/env bash
# test_replicas_pg.sh — wavegate on a real PostgreSQL: a throwaway cluster on loopback; the
# store seam's unit cases against it (binds, transactions, migrations refused when newer,
# reconnect); verdict history (`baseline: previous`) shared by replicas with separate
# state_dirs (recorded by one, read and invalidated by another); PostgreSQL down: a check that
# needs the store is "could not evaluate" (exit 3), never a pass; the events store shared
# (events seen by every replica, flips and kill switches claimed: run once, by one replica).
# Skips (77) without PostgreSQL.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
. "$here/pg_lib.sh"

if ! pg_bin >/dev/null; then
    echo "SKIP: postgresql not installed"
    [ -n "${CI:-}" ] && exit 1
    exit 77
fi
pg_start || exit 1
tests=$(dirname "$WG_BIN")/tests

check() { # name, command...
    local name=$1; shift
    if "$@" >"$WG_TMP/$name.log" 2>&1; then
        ok "$name"
    else
        not_ok "$name" "$(cat "$WG_TMP/$name.log")"
    fi
}

check store_seam env WG_TEST_PG_DSN="$PG_DSN" "$tests/test_common_store_sql"
# two alerting handles that both think they lead, one outbox: every row sent once, never two
# at once; a live lease elsewhere is left alone, an expired one is claimed and counted
pg_psql postgres -c "CREATE DATABASE claims" >/dev/null || exit 1
check outbox_claims env WG_TEST_PG_DSN="${PG_DSN/dbname=postgres/dbname=claims}" "$tests/test_alerting_claims"
grep -h '^claims:' "$WG_TMP/outbox_claims.log"
# leadership handed over: an evaluation accepted just after gaining the lead (state not read
# yet) or just before stepping down (tick not committed) reaches the next leader; links shared
pg_psql postgres -c "CREATE DATABASE handover" >/dev/null || exit 1
check alerting_handover env WG_TEST_PG_DSN="${PG_DSN/dbname=postgres/dbname=handover}" "$tests/test_alerting_handover"
# a flip's look against a source that never answers ends inside its lease (half of it) and
# is recorded by its holder: the other replica never claims the flip while the look runs
pg_psql postgres -c "CREATE DATABASE deadline" >/dev/null || exit 1
check look_deadline env WG_TEST_PG_DSN="${PG_DSN/dbname=postgres/dbname=deadline}" "$tests/test_gate_deadline"
grep -h '^replica 2 asked' "$WG_TMP/look_deadline.log"


# --- the Kubernetes manifest's config is valid and on postgres; readiness on /readyz (about
# wavegate itself, never InfluxDB), liveness on /healthz
SRC=${WG_SRC:-$(cd "$here/../.." && pwd)}
k8s="$SRC/deploy/kubernetes/wavegate-replicas.yaml"
python3 - "$k8s" "$WG_TMP/k8s.yaml" <<'PY' >"$WG_TMP/k8s.txt" 2>&1
import sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
kinds = {d["kind"]: d for d in docs}
open(sys.argv[2], "w").write(kinds["ConfigMap"]["data"]["wavegate.yaml"])
dep = kinds["Deployment"]["spec"]
c = dep["template"]["spec"]["containers"][0]
print(dep["replicas"], kinds["PodDisruptionBudget"]["spec"]["minAvailable"],
      c["readinessProbe"]["httpGet"]["path"], c["livenessProbe"]["httpGet"]["path"],
      [e["valueFrom"]["secretKeyRef"]["name"] for e in c["env"] if e["name"] == "WAVEGATE_PG_DSN"][0])
PY
expect_eq "k8s: 3 replicas, PDB 2, probes /readyz + /healthz, DSN from a Secret" \
    "3 2 /readyz /healthz wavegate-pg" "$(cat "$WG_TMP/k8s.txt")"
WAVEGATE_PG_DSN=x "$WG_BIN" validate --config "$WG_TMP/k8s.yaml" >/dev/null 2>&1
expect_eq "k8s: its config validates" 0 "$?"

# --- verdict history on the shared database: three "replicas", three state_dirs
WG=${WG_BIN:?}
influx_deploy_scenario || exit 1
export WG_PG="$PG_DSN"
for r in 1 2 3; do
    cat >"$WG_TMP/r$r.yaml" <<YAML
state_dir: $WG_TMP/state$r
state: {backend: postgres, dsn_env: WG_PG}
sources:
  local: {kind: influxql, url: $INFLUX_URL, database: telemetry}
waves: [{name: staging, env: staging, source: local}]
features:
  prev:
    rules:
      - name: mean-vs-previous
        query: SELECT mean("latency_ms") FROM "http" WHERE "env" = {{ env }} AND time >= {{ start }} AND time < {{ end }}
        baseline: previous
        max_increase: 20%
  plain:
    rules:
      - name: mean-latency
        query: SELECT mean("latency_ms") FROM "http" WHERE "env" = {{ env }} AND time >= {{ start }} AND time < {{ end }}
        threshold: {max: 100000}
alerting:
  receivers:
    - {name: hook, kind: webhook, url: 'http://127.0.0.1:9/hook'}
  route: {receiver: hook}
monitor: {interval: 200ms, waves: [staging], features: [plain]}
YAML
done
# --- the state: key is checked like every key
sed 's/backend: postgres/backend: mysql/' "$WG_TMP/r1.yaml" >"$WG_TMP/bad.yaml"
err=$("$WG" validate --config "$WG_TMP/bad.yaml" 2>&1)
expect_eq "state.backend mysql: a config error (78)" 78 "$?"
expect_match "named file:line:col: state.backend" 'bad.yaml:2:[0-9]+: state.backend' "$err"
WG_PG= "$WG" check --config "$WG_TMP/r1.yaml" --wave staging --feature prev --deploy-time "$T" >/dev/null 2>&1
expect_eq "postgres with its DSN variable empty: could not evaluate (3)" 3 "$?"

rows() { "$WG" history list --config "$WG_TMP/r$1.yaml" | grep ' mean-vs-previous ' | grep -vc invalidated; }
"$WG" check --config "$WG_TMP/r1.yaml" --wave staging --feature prev --deploy-time "$T" >/dev/null 2>&1
expect_eq "replica 1 records into postgres; replica 3 sees it" 1 "$(rows 3)"
"$WG" check --config "$WG_TMP/r2.yaml" --wave staging --feature prev --deploy-time "$T" >/dev/null 2>&1
expect_eq "replica 2's record is seen by replica 1" 2 "$(rows 1)"
out=$("$WG" check --config "$WG_TMP/r3.yaml" --wave staging --feature prev --deploy-time "$T" --format json 2>/dev/null)
expect_eq "replica 3 judges against the shared baseline" True \
    "$(jq_get "$out" 'd["rules"][0].get("baseline") is not None')"
[ -e "$WG_TMP/state3/state.db" ]
expect_eq "no SQLite file is written with backend postgres" 1 "$?"
"$WG" history invalidate --config "$WG_TMP/r2.yaml" --feature prev >/dev/null 2>&1
expect_eq "invalidated on replica 2, gone for replica 1" 0 "$(rows 1)"

# --- PostgreSQL down: the store is needed, so could not evaluate (3), never pass
pg_stop
"$WG" check --config "$WG_TMP/r1.yaml" --wave staging --feature prev --deploy-time "$T" >/dev/null 2>&1
expect_eq "postgres down: baseline previous cannot be judged (exit 3)" 3 "$?"
pg_up
"$WG" check --config "$WG_TMP/r1.yaml" --wave staging --feature prev --deploy-time "$T" >/dev/null 2>&1
expect_eq "postgres back: the check records again" 1 "$(rows 2)"

# --- three `wavegate serve` replicas on the one database
for r in 1 2 3; do
    sed -i 's/^state: .*/state: {backend: postgres, dsn_env: WG_PG, leader_takeover: 2s}/' "$WG_TMP/r$r.yaml"
done
declare -A RPID RBASE
replica_start() { # N
    : >"$WG_TMP/serve$1.log"
    "$WG" serve --config "$WG_TMP/r$1.yaml" --listen 127.0.0.1:0 2>>"$WG_TMP/serve$1.log" &
    RPID[$1]=$!
    wait_for 20 grep -q 'listening on port [0-9]' "$WG_TMP/serve$1.log" ||
        { echo "replica $1 did not start:" >&2; cat "$WG_TMP/serve$1.log" >&2; return 1; }
    RBASE[$1]="http://127.0.0.1:$(sed -n 's/.*listening on port \([0-9]*\).*/\1/p' "$WG_TMP/serve$1.log" | head -1)"
}
replicas_stop() {
    local r
    for r in "${!RPID[@]}"; do kill -9 "${RPID[$r]}" 2>/dev/null; done
    return 0
}
wg_on_exit replicas_stop
for r in 1 2 3; do replica_start $r || exit 1; done

# gate calls spread over the replicas: each answers (the gate needs no shared state)
codes=""
for i in $(seq 1 9); do
    r=$(( (i % 3) + 1 ))
    codes+=$(curl -s -o /dev/null -w '%{http_code} ' "${RBASE[$r]}/v1/gate?wave=staging&feature=prev&deploy_time=$T")
done
expect_eq "gate calls on every replica answer 200" "200 200 200 200 200 200 200 200 200 " "$codes"

# an analysis started on replica 1, read on 2, resumed on 3 after 1 is killed -9
id=$(jq_get "$(curl -s -H 'Content-Type: application/json' --data-binary \
    "{\"wave\":\"staging\",\"deploy_time\":\"$T\",\"interval\":\"500ms\",\"count\":8}" \
    "${RBASE[1]}/v1/analyses")" 'd["id"]')
expect_match "replica 1 starts the analysis" '^[0-9a-f]{32}$' "$id"
code=$(curl -s -o "$WG_TMP/an2.json" -w '%{http_code}' "${RBASE[2]}/v1/analyses/$id")
expect_eq "replica 2 answers for it (was 404: per-pod SQLite)" 200 "$code"
looks() { jq_get "$(curl -s "${RBASE[$1]}/v1/analyses/$id")" 'len(d["measurements"])'; }
has_looks() { [ "$(looks 2)" -ge "$2" ]; }
wait_for 20 has_looks 2 2
kill -9 "${RPID[1]}"; wait "${RPID[1]}" 2>/dev/null; unset 'RPID[1]'
finished() { local b; b=$(curl -s "${RBASE[3]}/v1/analyses/$id") && grep -q '"status":"\(pass\|fail\|inconclusive\|error\)"' <<<"$b"; }
wait_for 40 finished
body=$(curl -s "${RBASE[3]}/v1/analyses/$id")
expect_match "replica 3 reports it finished after replica 1 died" '"status":"(pass|fail|inconclusive|error)"' "$body"
expect_eq "every look once, in order (seq 1..8)" "1,2,3,4,5,6,7,8" \
    "$(jq_get "$body" '",".join(str(m["seq"]) for m in d["measurements"])')"
expect_eq "taken over by a surviving replica" 1 \
    "$(cat "$WG_TMP/serve2.log" "$WG_TMP/serve3.log" | grep -c "analysis $id: resumed")"

# --- one leader (advisory lock on its own session); kill -9 of the leader: another leads
# within leader_takeover (2s here), every time
replica_start 1 || exit 1
# (not curl | grep -q: with pipefail, grep leaving early fails curl's write and the pipe)
is_leader() { local m; m=$(curl -s -m 10 "${RBASE[$1]}/metrics") && grep -q '^wavegate_leader 1$' <<<"$m"; }
leaders() { local r n=0; for r in "${!RPID[@]}"; do is_leader "$r" && n=$((n + 1)); done; echo $n; }
one_leader() { [ "$(leaders)" = 1 ]; }
wait_for 10 one_leader
n=$(leaders)
expect_eq "exactly one of three replicas leads" 1 "$n"
[ "$n" = 1 ] || for r in "${!RPID[@]}"; do echo "r$r: $(curl -s -m 5 "${RBASE[$r]}/metrics" | grep -E '^wavegate_leader')"; grep -h leader: "$WG_TMP/serve$r.log"; done
KILLS=${WG_LEADER_KILLS:-5}
times=() over=0
pick_leader() { local r; for r in "${!RPID[@]}"; do is_leader "$r" && { lead=$r; return 0; }; done; return 1; }
for k in $(seq 1 "$KILLS"); do
    lead=""
    wait_for 10 pick_leader
    [ -n "$lead" ] || { not_ok "kill $k: no leader to kill" "$(grep -h leader: "$WG_TMP"/serve*.log)"; break; }
    t0=$(date +%s%N)
    kill -9 "${RPID[$lead]}"; wait "${RPID[$lead]}" 2>/dev/null; unset "RPID[$lead]"
    wait_for 10 one_leader
    ms=$(( ($(date +%s%N) - t0) / 1000000 ))
    times+=("$ms")
    [ "$ms" -le 2000 ] || over=$((over + 1))
    replica_start "$lead" || exit 1 # back as a follower
done
expect_eq "a new leader within 2s after each of $KILLS kill -9 (ms: ${times[*]})" 0 "$over"
sorted=$(printf '%s\n' "${times[@]}" | sort -n)
echo "failover over $KILLS kills: median $(sed -n "$(( (KILLS + 1) / 2 ))p" <<<"$sorted") ms, max $(tail -1 <<<"$sorted") ms"
expect_eq "still exactly one leader" 1 "$(leaders)"
for r in "${!RPID[@]}"; do
    echo "r$r /metrics took $(curl -s -o /dev/null -w '%{time_total}' "${RBASE[$r]}/metrics") s (leader: $(is_leader "$r" && echo yes || echo no))"
done
expect_match "/metrics shows store latency and errors" 'wavegate_state_query_errors_total [0-9]+' \
    "$(curl -s "${RBASE[2]}/metrics")"
expect_eq "/metrics: no metric family twice (wavegate_store_errors_total is alerting's)" "" \
    "$(curl -s "${RBASE[2]}/metrics" | awk '$1 == "#" && $2 == "TYPE" {print $3}' | sort | uniq -d)"

# only the leader runs the monitor: its turns grow, the followers' do not
turns() { curl -s "${RBASE[$1]}/metrics" | sed -n "s/^wavegate_monitor_turns_total{role=\"$2\"} //p"; }
lead=""; wait_for 10 pick_leader
declare -A before
for r in "${!RPID[@]}"; do before[$r]=$(turns "$r" leader); done
grown() { [ "$(turns "$lead" leader)" -ge $(( ${before[$lead]} + 3 )) ]; }
wait_for 10 grown
same=0
for r in "${!RPID[@]}"; do
    [ "$r" = "$lead" ] || [ "$(turns "$r" leader)" = "${before[$r]}" ] || same=1
done
expect_eq "the monitor evaluates on the leader only" 0 "$same"
f=$(for r in "${!RPID[@]}"; do [ "$r" = "$lead" ] || turns "$r" follower; done | sort -n | head -1)
expect_match "followers skip their turns" '^[1-9][0-9]*$' "$f"

# --- PostgreSQL restarted mid-run: replicas reconnect, a leader again, analyses still answer
pg_stop
no_leader() { [ "$(leaders)" = 0 ]; }
wait_for 15 no_leader
code=$(curl -s -o /dev/null -w '%{http_code}' "${RBASE[2]}/v1/gate?wave=staging&feature=plain&deploy_time=$T")
expect_eq "postgres down: a gate call needing no store still passes" 200 "$code"
body=$(curl -s "${RBASE[3]}/v1/gate?wave=staging&feature=prev&deploy_time=$T")
expect_eq "postgres down: one needing the store (baseline: previous) is error, never pass" error \
    "$(jq_get "$body" 'd["verdict"]')"
code=$(curl -s -o /dev/null -w '%{http_code}' "${RBASE[2]}/v1/analyses/$id")
expect_eq "postgres down: an analysis read is 503 (unknown), not 404" 503 "$code"
expect_eq "postgres down: nobody leads" 0 "$(leaders)"
pg_up
wait_for 20 one_leader
n=$(leaders)
expect_eq "postgres back: one leader again" 1 "$n"
[ "$n" = 1 ] || for r in "${!RPID[@]}"; do echo "r$r: $(curl -s -m 5 "${RBASE[$r]}/metrics" | grep -E '^wavegate_leader')"; grep -h "leader:\|error\|warn" "$WG_TMP/serve$r.log" | tail -5; done
code=$(curl -s -o /dev/null -w '%{http_code}' "${RBASE[2]}/v1/analyses/$id")
expect_eq "postgres back: the analysis answers again (reconnected)" 200 "$code"

# --- (pgperf) PostgreSQL down and back, in detail: nothing accepted is lost, no replica
# passes what it could not judge, every replica's pooled sessions reconnect; the store's
# cost of one gate evaluation; /metrics shows the store's latency and errors.
# a distinct deploy time whose 10-minute window holds data (never the verdict cache)
at() { date -u -d "@$(( deploy - 600 - $1 ))" +%Y-%m-%dT%H:%M:%SZ; }
K=100
gate_verdict() { # REPLICA FEATURE: each call its own deploy time (K counts in this shell)
    K=$((K + 1))
    curl -s -m 10 -o "$WG_TMP/gate.json" \
        "${RBASE[$1]}/v1/gate?wave=staging&feature=$2&deploy_time=$(at "$K")"
    jq_get "$(cat "$WG_TMP/gate.json")" 'd.get("verdict")'
}
metric() { curl -s -m 10 "${RBASE[$1]}/metrics" | awk -v n="$2" '$1 == n {print $2}'; }
pgperf_down_and_back() {
    local r verdicts="" hist0 hist1 e0 e1 code
    for r in "${!RPID[@]}"; do gate_verdict "$r" prev >"$WG_TMP/v"; verdicts+="$(cat "$WG_TMP/v") "; done
    expect_match "before the outage: every replica judges baseline previous" \
        '^((pass|fail|inconclusive) )+$' "$verdicts"
    hist0=$("$WG" history list --config "$WG_TMP/r2.yaml" | grep -c ' mean-vs-previous ')
    e0=$(metric 2 wavegate_state_query_errors_total)
    pg_stop
    verdicts=""
    for r in "${!RPID[@]}"; do gate_verdict "$r" prev >"$WG_TMP/v"; verdicts+="$(cat "$WG_TMP/v") "; done
    expect_match "postgres down: every replica answers error for baseline previous, none pass" \
        '^(error )+$' "$verdicts"
    verdicts=""
    for r in "${!RPID[@]}"; do gate_verdict "$r" plain >"$WG_TMP/v"; verdicts+="$(cat "$WG_TMP/v") "; done
    expect_match "postgres down: every replica still judges a rule needing no store" \
        '^(pass )+$' "$verdicts"
    code=$(curl -s -o "$WG_TMP/down-an.json" -w '%{http_code}' -H 'Content-Type: application/json' \
        --data-binary "{\"wave\":\"staging\",\"deploy_time\":\"$T\",\"interval\":\"1s\",\"count\":2}" \
        "${RBASE[2]}/v1/analyses")
    expect_eq "postgres down: a new analysis is refused (503), not accepted and lost" 503 "$code"
    e1=$(metric 2 wavegate_state_query_errors_total)
    expect_eq "postgres down: /metrics counts the store errors" 1 "$(( e1 > e0 ))"
    pg_up
    verdicts=""
    for r in "${!RPID[@]}"; do gate_verdict "$r" prev >"$WG_TMP/v"; verdicts+="$(cat "$WG_TMP/v") "; done
    expect_match "postgres back: every replica judges baseline previous again (reconnected)" \
        '^((pass|fail|inconclusive) )+$' "$verdicts"
    hist1=$("$WG" history list --config "$WG_TMP/r2.yaml" | grep -c ' mean-vs-previous ')
    expect_eq "postgres back: the history from before is all there, and one row per replica more" \
        "$(( hist0 + ${#RPID[@]} ))" "$hist1"
}
pgperf_down_and_back

# One uncached gate evaluation with one `baseline: previous` rule costs the store four round
# trips on a follower: read the history, one INSERT (was four: BEGIN and COMMIT around it),
# the hand-off of its gate event to the leader (alert_inbox, one INSERT), and its evidence
# record (the shared `evidence` table: insert and retention in one statement). A replica with
# rare background ticks (leader_takeover: 300s) and no monitor, so only the calls count; a
# /metrics read costs its own query, subtracted.
pgperf_round_trips() {
    sed -e 's/leader_takeover: 2s/leader_takeover: 300s/' -e '/^monitor:/d' "$WG_TMP/r1.yaml" \
        >"$WG_TMP/r4.yaml"
    replica_start 4 || return 1
    # a background tick (at start, or every 75 s) can only add queries: up to 3 tries; the
    # events runner's polls for due flips and actions (shared store: every replica claims)
    # are counted apart and taken off
    local m0 m1 m2 i try got="" q
    qp() { curl -s -m 10 "${RBASE[4]}/metrics" | awk '$1 == "wavegate_state_queries_total" {q = $2}
        $1 == "wavegate_events_polls_total" {p = $2} END {print q - p}'; }
    for try in 1 2 3; do
        m0=$(qp)
        m1=$(qp)
        for i in 1 2 3 4 5; do gate_verdict 4 prev >/dev/null; done
        m2=$(qp)
        q=$(( (m2 - m1) - (m1 - m0) ))
        got+="$q "
        [ "$q" = 20 ] && break
    done
    expect_match "5 uncached gate evaluations on a follower cost 20 store queries (4 each; tries: $got)" \
        '(^| )20 $' "$got"
    expect_match "/metrics: a store latency histogram" \
        'wavegate_state_query_duration_seconds_bucket\{le="0.001"\} [0-9]+' \
        "$(curl -s "${RBASE[4]}/metrics")"
    kill -9 "${RPID[4]}"; wait "${RPID[4]}" 2>/dev/null; unset 'RPID[4]'
}
pgperf_round_trips

# --- alerting on the shared store: alert states, notification logs, silences, one outbox ----
replicas_stop
RPID=()
PEERS=${WG_PEERS:-$SRC/tests/peers}
cat >"$WG_TMP/scenario.json" <<'J'
{"/alert": [{"status": 200, "body": "ok"}], "/kill": [{"status": 200, "body": "ok", "delay": 0.05}]}
J
sink_start
cat >"$WG_TMP/q.py" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
def at(p): return [r for r in rows if r["path"] == p]
def n(name): return sum(1 for r in at("/alert") if '"%s"' % name in r["body"])
print(eval(sys.argv[2]))
PY
pg_psql postgres -c "CREATE DATABASE alerts" || exit 1
export WG_ALERT_PG="host=127.0.0.1 port=$PG_PORT user=wg dbname=alerts connect_timeout=3"
for r in 1 2 3; do
    cat >"$WG_TMP/a$r.yaml" <<YAML
state_dir: $WG_TMP/astate$r
state: {backend: postgres, dsn_env: WG_ALERT_PG, leader_takeover: 2s}
sources:
  local: {kind: influxql, url: $INFLUX_URL, database: telemetry}
waves: [{name: staging, env: staging, source: local}]
features:
  hot:
    rules:
      - name: hot-latency
        query: SELECT mean("latency_ms") FROM "http" WHERE "env" = {{ env }} AND time >= {{ start }} AND time < {{ end }}
        threshold: {max: 1}
      - name: muted-latency
        query: SELECT max("latency_ms") FROM "http" WHERE "env" = {{ env }} AND time >= {{ start }} AND time < {{ end }}
        threshold: {max: 1}
alerting:
  receivers:
    - {name: sink, kind: webhook, url: 'http://127.0.0.1:$SP/alert'}
  route: {receiver: sink, group_by: [alertname], group_wait: 0s, group_interval: 1s, repeat_interval: 1h}
monitor: {interval: 300ms, waves: [staging], features: [hot]}
YAML
done
# a newer schema than this binary is refused with a clear error (PostgreSQL side; SQLite's
# PRAGMA user_version refusal is pinned by test_common_store)
"$WG" silence list --config "$WG_TMP/a1.yaml" >/dev/null 2>&1
expect_eq "the alerting store migrates on postgres (silence list)" 0 "$?"
expect_eq "alerting schema recorded as version 3" 3 \
    "$(pg_psql alerts -c "SELECT version FROM wg_schema WHERE name='alerting'")"
pg_psql alerts -c "UPDATE wg_schema SET version=4 WHERE name='alerting'"
err=$("$WG" silence list --config "$WG_TMP/a1.yaml" 2>&1)
code=$?
expect_eq "a newer alerting schema: refused (not 0)" 1 "$((code != 0))"
expect_match "the refusal says why" 'schema version 4 of alerting is newer than this wavegate knows \(3\)' "$err"
pg_psql alerts -c "UPDATE wg_schema SET version=3 WHERE name='alerting'"

# a silence added through the CLI before the replicas start (it lands in postgres)
"$WG" silence add --config "$WG_TMP/a1.yaml" --duration 1h alertname=muted-latency >"$WG_TMP/sil.out" 2>&1
SIL_ID=$("$WG" silence list --config "$WG_TMP/a2.yaml" 2>/dev/null | grep -o '[0-9a-f]\{8\}-[0-9a-f-]\{27\}' | head -1)
expect_match "a silence added with replica 1's config is listed with replica 2's" '^[0-9a-f-]{36}$' "$SIL_ID"
astart() { # N
    : >"$WG_TMP/aserve$1.log"
    "$WG" serve --config "$WG_TMP/a$1.yaml" --listen 127.0.0.1:0 2>>"$WG_TMP/aserve$1.log" &
    RPID[$1]=$!
    wait_for 20 grep -q 'listening on port [0-9]' "$WG_TMP/aserve$1.log" ||
        { echo "replica $1 did not start:" >&2; cat "$WG_TMP/aserve$1.log" >&2; return 1; }
    RBASE[$1]="http://127.0.0.1:$(sed -n 's/.*listening on port \([0-9]*\).*/\1/p' "$WG_TMP/aserve$1.log" | head -1)"
}
for r in 1 2 3; do astart $r || exit 1; done
seen=""
for r in 1 2 3; do
    seen+=$(jq_get "$(curl -s "${RBASE[$r]}/v1/silences")" "[s['status']['state'] for s in d if s['id'] == '$SIL_ID'][0]")" "
done
expect_eq "every replica lists the silence as active" "active active active " "$seen"
lead=""; wait_for 10 pick_leader
poll_until 20 'n("hot-latency") >= 1'
base=$(turns "$lead" leader)
turned() { [ "$(turns "$1" leader)" -ge $(( $2 + $3 )) ]; }
wait_for 20 turned "$lead" "$base" 6
expect_eq "one firing notification for hot-latency from three replicas (only the leader sends)" 1 "$(sink 'n("hot-latency")')"
expect_eq "the silenced rule is not notified (silence from the shared store)" 0 "$(sink 'n("muted-latency")')"
# the leader dies: the next one reads the alert states and logs, so no re-notification
kill -9 "${RPID[$lead]}"; wait "${RPID[$lead]}" 2>/dev/null; unset "RPID[$lead]"
old=$lead; lead=""
wait_for 10 pick_leader
[ -n "$lead" ] && [ "$lead" != "$old" ]
expect_eq "a surviving replica leads after kill -9 of the leader" 0 "$?"
base=$(turns "$lead" leader)
wait_for 20 turned "$lead" "$base" 6
expect_eq "the new leader does not notify hot-latency again (state and log shared)" 1 "$(sink 'n("hot-latency")')"
expect_eq "the new leader honours the silence too" 0 "$(sink 'n("muted-latency")')"
# expired through a follower: the leader notices and notifies the rule it muted, once
fol=""; for r in "${!RPID[@]}"; do [ "$r" != "$lead" ] && fol=$r; done
code=$(curl -s -o /dev/null -w '%{http_code}' -XDELETE "${RBASE[$fol]}/v1/silences/$SIL_ID")
expect_eq "DELETE /v1/silences/{id} on a follower" 200 "$code"
poll_until 15 'n("muted-latency") >= 1'
expect_eq "the leader notifies the un-muted rule once" 1 "$(sink 'n("muted-latency")')"
# a gate call answered by a follower: its gate event goes to the leader (alert_inbox), sent once
code=$(curl -s -o /dev/null -w '%{http_code}' "${RBASE[$fol]}/v1/gate?wave=staging&feature=hot&deploy_time=$T")
expect_eq "a follower answers the gate call" 200 "$code"
# (the monitor's own WavegateGateFailed of the wave is in the same group: count the
# notifications that carry the request's, origin=request, after a few more leader turns)
req='sum(1 for r in at("/alert") if "\"origin\":\"request\"" in r["body"])'
poll_until 15 "$req >= 1"
base=$(turns "$lead" leader)
wait_for 20 turned "$lead" "$base" 4
expect_eq "its gate event is notified by the leader, once" 1 "$(sink "$req")"
replicas_stop
RPID=()

# --- kill -9 of the leader during delivery (short: the 20-kill loop is bench/bench_kill.sh)
: >"$SINK_LOG"
KILLS=${WG_DELIVERY_KILLS:-3} NOTIF=${WG_DELIVERY_N:-100}
KILL_RATE=20 pg_kill_run "$KILLS" "$NOTIF" 42
expect_eq "kill -9 x$KILLS during delivery: all $NOTIF notifications arrive" "$NOTIF" "$KILL_DISTINCT"
expect_eq "no notification in flight from two replicas at once (sink: overlapping keys)" 0 "$KILL_OVERLAPS"
expect_eq "a new leader within 2s after each kill (takeover ms: ${KILL_TAKEOVER_MS[*]})" 0 "$KILL_OVER_BOUND"
echo "delivery kills: $((KILL_REQUESTS - KILL_DISTINCT)) resend(s) after crashes (same key, allowed), reclaimed rows counted by survivors: $KILL_RECLAIMED; failover to the first delivery: $(median_max "${KILL_FAILOVER_MS[@]}")"

# --- PostgreSQL restarted mid-delivery: replicas reconnect, nothing lost
: >"$SINK_LOG"
KILL_PG_RESTART=1 KILL_RATE=40 pg_kill_run 0 200 7
expect_eq "postgres restarted mid-delivery: all 200 arrive" 200 "$KILL_DISTINCT"
expect_eq "postgres restarted mid-delivery: none in flight twice at once" 0 "$KILL_OVERLAPS"
echo "postgres restart: $((KILL_REQUESTS - KILL_DISTINCT)) resend(s)"

# --- failover keeps each alert's evidence link (alert_links): after kill -9 of the leader the
# new one's alert still names the evaluation that fired it, not its own first tick
replicas_stop
RPID=()
: >"$SINK_LOG"
pg_psql postgres -c "CREATE DATABASE links" >/dev/null || exit 1
export WG_LINK_PG="host=127.0.0.1 port=$PG_PORT user=wg dbname=links connect_timeout=3"
now=$(date +%s)
for i in $(seq 0 5 60); do echo "http,env=staging latency_ms=50 $((now - i))"; done >"$WG_TMP/links.lp"
influx_write telemetry "$WG_TMP/links.lp" || exit 1
for r in 1 2; do
    sed -e "s|astate$r|lstate$r|; s|WG_ALERT_PG|WG_LINK_PG|" "$WG_TMP/a$r.yaml" >"$WG_TMP/l$r.yaml"
    echo "server: {external_url: 'https://wg.example'}" >>"$WG_TMP/l$r.yaml"
    cp "$WG_TMP/l$r.yaml" "$WG_TMP/a$r.yaml" # astart reads a$r.yaml
done
for r in 1 2; do astart $r || exit 1; done
home_link() { # N — replica N's overview: the firing hot-latency alert's evaluation id
    curl -s "${RBASE[$1]}/" | python3 -c '
import re, sys
rows = re.findall(r"<tr class=\"alert firing\">(.*?)</tr>", sys.stdin.read(), re.S)
ids = [re.search(r"/ui/evaluations/([0-9a-f]{32})", r) for r in rows if "hot-latency" in r]
print(ids[0].group(1) if ids and ids[0] else "")'
}
lead=""; wait_for 10 pick_leader
poll_until 20 'n("hot-latency") >= 1'
fired=$(sink '[json.loads(r["body"])["alerts"][0]["annotations"].get("report_url", "") for r in at("/alert") if "hot-latency" in r["body"]][0]')
fired=${fired##*/}
expect_match "the hot-latency notification links its evaluation" '^[0-9a-f]{32}$' "$fired"
base=$(turns "$lead" leader)
wait_for 20 turned "$lead" "$base" 4
expect_eq "the leader's overview links the same evaluation" "$fired" "$(home_link "$lead")"
kill -9 "${RPID[$lead]}"; wait "${RPID[$lead]}" 2>/dev/null; unset "RPID[$lead]"
old=$lead; lead=""
wait_for 10 pick_leader
[ -n "$lead" ] && [ "$lead" != "$old" ]
expect_eq "the other replica leads after kill -9" 0 "$?"
base=$(turns "$lead" leader)
wait_for 20 turned "$lead" "$base" 6
expect_eq "after the failover the alert still links the evaluation that fired it" "$fired" \
    "$(home_link "$lead")"
expect_eq "and hot-latency is not notified again" 1 "$(sink 'n("hot-latency")')"
replicas_stop
RPID=()
# --- (evshared) evidence pages shared by the replicas; the Unleash reconcile poll on the
# leader only (each replica's events store is its own: three pollers would analyse and act on
# every missed flip three times)
evshared() {
    replicas_stop
    RPID=()
    pg_psql postgres -c "CREATE DATABASE evidence" || return 1
    export WG_EV_PG="host=127.0.0.1 port=$PG_PORT user=wg dbname=evidence connect_timeout=3"
    check evals_store env WG_TEST_PG_DSN="$WG_EV_PG" "$tests/test_gate_evals"
    grep -h 'writers x\|other handle' "$WG_TMP/evals_store.log"
    # a stand-in for Unleash's event search: no events, and a line per request naming the
    # token that asked (each replica has its own)
    cat >"$WG_TMP/unleash.py" <<'PY'
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
log = open(sys.argv[1], "a", buffering=1)
class H(BaseHTTPRequestHandler):
    def log_message(self, *a): pass
    def do_GET(self):
        log.write("%s %s\n" % (self.headers.get("Authorization"), self.path.split("?")[0]))
        body = b'{"events": []}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
print("PORT", srv.server_address[1], flush=True)
srv.serve_forever()
PY
    : >"$WG_TMP/unleash.log"
    python3 "$WG_TMP/unleash.py" "$WG_TMP/unleash.log" >"$WG_TMP/unleash.port" &
    EV_UPID=$!
    ev_unleash_stop() { kill "$EV_UPID" 2>/dev/null; wait "$EV_UPID" 2>/dev/null; return 0; }
    wg_on_exit ev_unleash_stop
    local r
    wait_for 10 grep -q PORT "$WG_TMP/unleash.port" || return 1
    local up
    up=$(sed -n 's/PORT //p' "$WG_TMP/unleash.port")
    for r in 1 2 3; do
        export "WG_EV_UT$r=tok-r$r"
        cat >"$WG_TMP/e$r.yaml" <<YAML
state_dir: $WG_TMP/estate$r
state: {backend: postgres, dsn_env: WG_EV_PG, leader_takeover: 2s}
sources:
  local: {kind: influxql, url: $INFLUX_URL, database: telemetry}
waves: [{name: staging, env: staging, source: local}]
features:
  plain:
    rules:
      - name: mean-latency
        query: SELECT mean("latency_ms") FROM "http" WHERE "env" = {{ env }} AND time >= {{ start }} AND time < {{ end }}
        threshold: {max: 100000}
events:
  unleash: {url: 'http://127.0.0.1:$up', token_env: WG_EV_UT$r, poll_interval: 100ms}
YAML
    done
    estart() { # N
        : >"$WG_TMP/eserve$1.log"
        "$WG" serve --config "$WG_TMP/e$1.yaml" --listen 127.0.0.1:0 2>>"$WG_TMP/eserve$1.log" &
        RPID[$1]=$!
        wait_for 20 grep -q 'listening on port [0-9]' "$WG_TMP/eserve$1.log" ||
            { echo "replica $1 did not start:" >&2; cat "$WG_TMP/eserve$1.log" >&2; return 1; }
        RBASE[$1]="http://127.0.0.1:$(sed -n 's/.*listening on port \([0-9]*\).*/\1/p' "$WG_TMP/eserve$1.log" | head -1)"
    }
    for r in 1 2 3; do estart $r || return 1; done

    # an evaluation made through replica 1 is served by replicas 2 and 3 (was 404: the
    # evaluations were in each replica's own evaluations.db)
    local body id code got n
    body=$(curl -s "${RBASE[1]}/v1/gate?wave=staging&feature=plain&deploy_time=$T")
    id=$(jq_get "$body" 'd.get("evaluation_id")')
    expect_match "replica 1's gate answer links its evaluation" '^[0-9a-f]{32}$' "$id"
    for r in 2 3; do
        code=$(curl -s -o "$WG_TMP/ev$r.html" -w '%{http_code}' "${RBASE[$r]}/ui/evaluations/$id")
        expect_eq "replica $r serves replica 1's evidence page (HTML)" 200 "$code"
        expect_match "replica $r's page shows the rule and its verdict" 'mean-latency' "$(cat "$WG_TMP/ev$r.html")"
        code=$(curl -s -o "$WG_TMP/ev$r.json" -w '%{http_code}' -H 'Accept: application/json' \
            "${RBASE[$r]}/ui/evaluations/$id")
        got=$(jq_get "$(cat "$WG_TMP/ev$r.json")" 'd.get("evaluation_id")')
        expect_eq "replica $r serves it as JSON (Accept: application/json)" "200 $id" "$code $got"
    done
    code=$(curl -s -o /dev/null -w '%{http_code} %{redirect_url}' "${RBASE[3]}/v1/report/staging")
    expect_match "replica 3's /v1/report/staging: the latest evaluation, made on replica 1" \
        "^303 .*/ui/evaluations/$id\$" "$code"
    expect_eq "the evaluation is one row in the shared table, no evaluations.db written" "1 0" \
        "$(pg_psql evidence -c "SELECT count(*) FROM evidence WHERE id='$id'") $(ls "$WG_TMP"/estate*/evaluations.db 2>/dev/null | wc -l)"

    # the reconcile poll: only the leader asks Unleash, and after kill -9 of it the new one
    # (poll_interval 100ms: in 1.5 s a follower that polled would show up ~15 times)
    lead="" n=0
    pollers() { tail -n +"$((n + 1))" "$WG_TMP/unleash.log" | cut -d' ' -f1 | sort -u | tr '\n' ' '; }
    polled() { [ "$(tail -n +"$((n + 1))" "$WG_TMP/unleash.log" | grep -c "^tok-r$lead ")" -ge 15 ]; }
    wait_for 10 pick_leader
    wait_for 10 polled
    expect_eq "only the leader (replica $lead) polls Unleash's event search" "tok-r$lead " "$(pollers)"
    local old=$lead
    kill -9 "${RPID[$lead]}"; wait "${RPID[$lead]}" 2>/dev/null; unset "RPID[$lead]"
    new_leader() { pick_leader && [ "$lead" != "$old" ]; }
    lead=""
    wait_for 10 new_leader
    n=$(wc -l <"$WG_TMP/unleash.log") # (any request of the dead leader is logged by now)
    wait_for 10 polled
    expect_eq "after kill -9 of the leader only the new leader (replica $lead) polls" \
        "tok-r$lead " "$(pollers)"

    # PostgreSQL down: the page is a store error (500), never a 404 that says "expired"; a gate
    # call still answers, without a link to a page that was not stored
    pg_stop
    code=$(curl -s -o /dev/null -w '%{http_code}' "${RBASE[$lead]}/ui/evaluations/$id")
    expect_eq "postgres down: the evidence page is 500, not 404" 500 "$code"
    body=$(curl -s "${RBASE[$lead]}/v1/gate?wave=staging&feature=plain&deploy_time=$T")
    expect_eq "postgres down: the gate still judges (pass), with no evidence link" "pass None" \
        "$(jq_get "$body" 'd["verdict"] + " " + str(d.get("evaluation_id"))')"
    pg_up
    code=$(curl -s -o /dev/null -w '%{http_code}' "${RBASE[$lead]}/ui/evaluations/$id")
    expect_eq "postgres back: the page is served again" 200 "$code"
    replicas_stop
    RPID=()
}
evshared

# --- (evpg) the events store shared by the replicas: an event sent to a follower is listed by
# every replica (and the same event sent to another is one event); a flag flip sent to a
# follower is analysed (its due looks claimed by one replica at a time) and its kill-switch
# webhook runs exactly once, while another replica leads; the store's unit cases on postgres
evpg() {
    pg_psql postgres -c "CREATE DATABASE evpg" || return 1
    export WG_FL_PG="host=127.0.0.1 port=$PG_PORT user=wg dbname=evpg connect_timeout=3"
    check events_store env WG_TEST_PG_DSN="$WG_FL_PG" "$tests/test_gate_events"
    grep -h 'replicas at once\|after the lease\|through replica 2' "$WG_TMP/events_store.log"
    pg_psql evpg -c "DROP TABLE events, events_kv, flips, actions, action_attempts, markers;
        DROP SEQUENCE events_seq; DELETE FROM wg_schema WHERE name='events'" || return 1
    local now t r
    now=$(date +%s)
    for ((t = now - 120; t < now + 120; t++)); do
        echo "app,env=production,feature=checkout errors=5 $t"
    done >"$WG_TMP/app.lp"
    influx_write telemetry "$WG_TMP/app.lp" || return 1
    export WG_FL_WH="whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    for r in 1 2 3; do
        cat >"$WG_TMP/e$r.yaml" <<YAML
state_dir: $WG_TMP/fstate$r
state: {backend: postgres, dsn_env: WG_FL_PG, leader_takeover: 2s}
sources:
  local: {kind: influxql, url: $INFLUX_URL, database: telemetry}
waves: [{name: prod, env: production, source: local}]
features:
  checkout:
    flag: checkout_v2
    flip: {interval: 1s, count: 3, failure_limit: 0}
    on_fail:
      - {action: webhook, url: 'http://127.0.0.1:$SP/kill', secret_env: WG_FL_WH}
    rules:
      - name: errors
        query: SELECT mean("errors") FROM "app" WHERE "env" = {{ env }} AND "feature" = {{ feature }} AND time >= {{ start }} AND time < {{ end }}
        window: 2s
        min_samples: 1
        threshold: {max: 1}
events: {write_to: local}
YAML
    done
    "$WG" event list --config "$WG_TMP/e1.yaml" >/dev/null 2>&1
    expect_eq "the events store migrates on postgres (event list)" \
        "0 1" "$? $(pg_psql evpg -c "SELECT version FROM wg_schema WHERE name='events'")"
    pg_psql evpg -c "UPDATE wg_schema SET version=2 WHERE name='events'"
    expect_match "a newer events schema is refused, saying why" \
        'schema version 2 of events is newer than this wavegate knows \(1\)' \
        "$("$WG" event list --config "$WG_TMP/e1.yaml" 2>&1)"
    pg_psql evpg -c "UPDATE wg_schema SET version=1 WHERE name='events'"
    for r in 1 2 3; do estart $r || return 1; done
    lead=""
    wait_for 10 pick_leader
    local fol=() body id dup
    for r in 1 2 3; do [ "$r" = "$lead" ] || fol+=("$r"); done
    body=$(curl -s -H 'Content-Type: application/json' --data-binary \
        '{"type":"deploy","wave":"prod","source":"ci","version":"build-7"}' "${RBASE[${fol[0]}]}/v1/events")
    id=$(jq_get "$body" 'd.get("id")')
    expect_match "a follower (replica ${fol[0]}) records a deploy event" '^ev-[0-9a-f]{16}-[0-9a-f]{8}$' "$id"
    local listed=""
    for r in 1 2 3; do
        listed+="$(jq_get "$(curl -s "${RBASE[$r]}/v1/events")" "sum(1 for e in d if e['id'] == '$id')") "
    done
    expect_eq "every replica lists it once (was: only the one it was sent to)" "1 1 1 " "$listed"
    dup=$(curl -s -H 'Content-Type: application/json' --data-binary \
        '{"type":"deploy","wave":"prod","source":"ci","version":"build-7"}' "${RBASE[${fol[1]}]}/v1/events")
    expect_eq "the same event sent to another replica is the same event" "True $id" \
        "$(jq_get "$dup" 'str(d.get("duplicate")) + " " + d.get("id", "")')"
    : >"$SINK_LOG"
    body=$(curl -s -H 'Content-Type: application/json' --data-binary \
        '{"type":"flag","flag":"checkout_v2","env":"production","state":"on"}' "${RBASE[${fol[1]}]}/v1/events")
    id=$(jq_get "$body" 'd.get("id")')
    expect_match "a follower (replica ${fol[1]}) records a flag flip" '^ev-' "$id"
    acted() { # the flip's kill switch is done, read through the leader
        jq_get "$(curl -s "${RBASE[$lead]}/v1/events/actions")" \
            "any(a['id'] == '$id' and a['status'] == 'done' for a in d['actions'])" | grep -q True
    }
    wait_for 20 acted
    body=$(curl -s "${RBASE[$lead]}/v1/events/actions")
    expect_eq "the flip was analysed (a look failed) and its action done" "fail 1 done 1" \
        "$(jq_get "$body" "' '.join('%s %d' % (f['status'], f['looks']) for f in d['flips'] if f['id'] == '$id') + ' ' + ' '.join('%s %d' % (a['status'], a['attempts']) for a in d['actions'] if a['id'] == '$id')")"
    # done is final: no replica claims it again (a due action is pending or held)
    expect_eq "its webhook arrived exactly once (by idempotency key), never two at once" "1 0" \
        "$(python3 -c 'import json,sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
k = [r for r in rows if r["path"] == "/kill" and r["headers"].get("webhook-id") == sys.argv[2] + "-0"]
print(len(k), sum(1 for r in k if r.get("overlap")))' "$SINK_LOG" "$id")"
    local who
    who=$(cat "$WG_TMP"/eserve*.log | grep -c "flip $id: flag checkout_v2 of feature checkout in production failed")
    expect_eq "one replica recorded the failing look" 1 "$who"
    # the markers' outbox is the shared table: the events' markers reach InfluxDB and the
    # table drains (each row claimed and deleted by the replica that sent it)
    marked() {
        [ "$(curl -s -G "$INFLUX_URL/query" --data-urlencode db=telemetry --data-urlencode \
            'q=SELECT * FROM wavegate_events' | python3 -c 'import json,sys; d=json.load(sys.stdin)
print(sum(len(x["values"]) for x in d["results"][0].get("series") or []))')" -ge 2 ] &&
            [ "$(pg_psql evpg -c "SELECT count(*) FROM markers")" = 0 ]
    }
    wait_for 15 marked
    expect_eq "both events' markers are in InfluxDB and the shared outbox is empty" 0 "$?"
    # PostgreSQL down: an event is refused (503: not accepted, so nothing accepted is lost) and
    # the list is 503, never an empty 200; back: recorded again on the reconnected pool
    pg_stop
    local codes=""
    codes+=$(curl -s -o /dev/null -w '%{http_code} ' -H 'Content-Type: application/json'         --data-binary '{"type":"deploy","wave":"prod","version":"down-1"}' "${RBASE[${fol[0]}]}/v1/events")
    codes+=$(curl -s -o /dev/null -w '%{http_code}' "${RBASE[${fol[0]}]}/v1/events")
    expect_eq "postgres down: POST /v1/events and GET /v1/events are 503" "503 503" "$codes"
    pg_up
    codes=$(curl -s -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json'         --data-binary '{"type":"deploy","wave":"prod","version":"up-1"}' "${RBASE[${fol[0]}]}/v1/events")
    expect_eq "postgres back: an event is recorded again (202), and listed by the leader" "202 1"         "$codes $(jq_get "$(curl -s "${RBASE[$lead]}/v1/events")" "sum(1 for e in d if e.get('version') == 'up-1')")"
    replicas_stop
    RPID=()
}
evpg

finish

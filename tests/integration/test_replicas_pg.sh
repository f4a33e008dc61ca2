#!/usr/bin/env bash
# test_replicas_pg.sh — wavegate on a real PostgreSQL: a throwaway cluster on loopback; the
# store seam's unit cases against it (binds, transactions, migrations refused when newer,
# reconnect); verdict history (`baseline: previous`) shared by replicas with separate
# state_dirs (recorded by one, read and invalidated by another); PostgreSQL down: a check that
# needs the store is "could not evaluate" (exit 3), never a pass. Skips (77) without PostgreSQL.
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
YAML
done
# --- the state: key is checked like every key
sed 's/backend: postgres/backend: mysql/' "$WG_TMP/r1.yaml" >"$WG_TMP/bad.yaml"
err=$("$WG" validate --config "$WG_TMP/bad.yaml" 2>&1)
expect_eq "state.backend mysql: a config error (78)" 78 "$?"
expect_match "named file:line:col: state.backend" 'bad.yaml:2:[0-9]+: state.backend' "$err"
WG_PG= "$WG" check --config "$WG_TMP/r1.yaml" --wave staging --deploy-time "$T" >/dev/null 2>&1
expect_eq "postgres with its DSN variable empty: could not evaluate (3)" 3 "$?"

rows() { "$WG" history list --config "$WG_TMP/r$1.yaml" | grep ' mean-vs-previous ' | grep -vc invalidated; }
"$WG" check --config "$WG_TMP/r1.yaml" --wave staging --deploy-time "$T" >/dev/null 2>&1
expect_eq "replica 1 records into postgres; replica 3 sees it" 1 "$(rows 3)"
"$WG" check --config "$WG_TMP/r2.yaml" --wave staging --deploy-time "$T" >/dev/null 2>&1
expect_eq "replica 2's record is seen by replica 1" 2 "$(rows 1)"
out=$("$WG" check --config "$WG_TMP/r3.yaml" --wave staging --deploy-time "$T" --format json 2>/dev/null)
expect_eq "replica 3 judges against the shared baseline" True \
    "$(jq_get "$out" 'd["rules"][0].get("baseline") is not None')"
[ -e "$WG_TMP/state3/state.db" ]
expect_eq "no SQLite file is written with backend postgres" 1 "$?"
"$WG" history invalidate --config "$WG_TMP/r2.yaml" --feature prev >/dev/null 2>&1
expect_eq "invalidated on replica 2, gone for replica 1" 0 "$(rows 1)"

# --- PostgreSQL down: the store is needed, so could not evaluate (3), never pass
pg_stop
"$WG" check --config "$WG_TMP/r1.yaml" --wave staging --deploy-time "$T" >/dev/null 2>&1
expect_eq "postgres down: baseline previous cannot be judged (exit 3)" 3 "$?"
pg_up
"$WG" check --config "$WG_TMP/r1.yaml" --wave staging --deploy-time "$T" >/dev/null 2>&1
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
    codes+=$(curl -s -o /dev/null -w '%{http_code} ' "${RBASE[$r]}/v1/gate?wave=staging&deploy_time=$T")
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
finished() { curl -s "${RBASE[3]}/v1/analyses/$id" | grep -q '"status":"\(pass\|fail\|inconclusive\|error\)"'; }
wait_for 40 finished
body=$(curl -s "${RBASE[3]}/v1/analyses/$id")
expect_match "replica 3 reports it finished after replica 1 died" '"status":"(pass|fail|inconclusive|error)"' "$body"
expect_eq "every look once, in order (seq 1..8)" "1,2,3,4,5,6,7,8" \
    "$(jq_get "$body" '",".join(str(m["seq"]) for m in d["measurements"])')"
expect_eq "taken over by a surviving replica" 1 \
    "$(cat "$WG_TMP/serve2.log" "$WG_TMP/serve3.log" | grep -c "analysis $id: resumed")"

finish

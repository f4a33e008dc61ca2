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

finish

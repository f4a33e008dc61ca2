#!/usr/bin/env bash
# test_looks_pg.sh — looks counted per deploy whichever replica is asked: two `wavegate serve`
# replicas (separate state_dirs) on one throwaway PostgreSQL, asked in turn about one deploy
# (deploy_id, max_looks 4) once a simulated minute: looks 1, 2, 3, 4 of 4 across both; both
# asked at the same moment (Flagger's hooks of one tick): the same look; 12 concurrent asks
# over both replicas: one look; look 5 spends nothing. Skips (77) without PostgreSQL.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
. "$here/pg_lib.sh"
WG=${WG_BIN:?WG_BIN must point at the wavegate binary}

if ! pg_bin >/dev/null; then
    echo "SKIP: postgresql not installed"
    [ -n "${CI:-}" ] && exit 1
    exit 77
fi
pg_start || exit 1
export WG_PG="$PG_DSN"
export WG_TEST_NOW_FILE="$WG_TMP/now"
echo 1796112000 >"$WG_TMP/now"

# the source is never reached (port 1): every answer is "could not evaluate", which is a look
# all the same (the consumer asked; nothing was judged, so nothing of the budget was spent)
declare -A RPID RBASE
for r in 1 2; do
    cat >"$WG_TMP/r$r.yaml" <<YAML
state_dir: $WG_TMP/state$r
state: {backend: postgres, dsn_env: WG_PG}
sources:
  db: {kind: influxql, url: "http://127.0.0.1:1", database: telemetry}
waves: [{name: prod, env: prod, source: db}]
features:
  checkout:
    rules:
      - name: errors
        query: SELECT sum("errors") FROM "http" WHERE time >= {{ start }} AND time < {{ end }}
        window: 10m
        threshold: {max: 1}
server: {cache_ttl: 0s}
YAML
    serve_bg "$WG_TMP/r$r.yaml" "$WG_TMP/serve$r.log" || exit 1
    RPID[$r]=$BG_PID RBASE[$r]=$BG_BASE
done
replicas_stop() {
    local r
    for r in "${!RPID[@]}"; do kill -TERM "${RPID[$r]}" 2>/dev/null; wait "${RPID[$r]}" 2>/dev/null; done
    return 0
}
wg_on_exit replicas_stop

out=$(python3 - "${RBASE[1]}" "${RBASE[2]}" "$WG_TMP/now" <<'PY'
import json, os, sys, threading, urllib.request
b1, b2, nowf = sys.argv[1], sys.argv[2], sys.argv[3]
def now(t):
    with open(nowf + ".new", "w") as f:
        f.write("%d\n" % t)
    os.replace(nowf + ".new", nowf)
def ask(base, dep="d-1"):
    body = json.dumps({"wave": "prod", "feature": "checkout", "deploy_id": dep, "max_looks": 4}).encode()
    req = urllib.request.Request(base + "/v1/gate", body, {"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        d = json.load(r)
    return d["look"]["k"], d["look"]["of"], d["verdict"]
t0 = 1796112000
res = {}
seq = []
for i, base in enumerate((b1, b2, b1)):
    now(t0 + 60 * i)
    seq.append(ask(base)[0])
res["turns"] = seq
now(t0 + 180)  # one tick, both replicas (two hooks)
res["tick"] = [ask(b1)[0], ask(b2)[0]]
now(t0 + 240)  # a fresh deploy: 12 concurrent asks over both replicas
got = []
def worker(base):
    got.append(ask(base, "d-2")[0])
ths = [threading.Thread(target=worker, args=(b1 if i % 2 else b2,)) for i in range(12)]
[t.start() for t in ths]
[t.join() for t in ths]
res["burst"] = sorted(set(got))
now(t0 + 300)
k, of, v = ask(b2)
res["beyond"] = [k, of, v]
print(json.dumps(res))
PY
)
expect_eq "the asks ran" 0 "$?"
expect_eq "one deploy asked on replica 1, 2, 1: looks 1, 2, 3" "[1, 2, 3]" "$(jq_get "$out" "d['turns']")"
expect_eq "both replicas asked in one tick: the same look 4" "[4, 4]" "$(jq_get "$out" "d['tick']")"
expect_eq "12 concurrent asks over both replicas: one look" "[1]" "$(jq_get "$out" "d['burst']")"
expect_eq "look 5 of 4 spends nothing: the last planned look was 'error', so inconclusive" \
    "[5, 4, 'inconclusive']" "$(jq_get "$out" "d['beyond']")"
got=$(_pg_as "$PG_BIN/psql" -h 127.0.0.1 -p "$PG_PORT" -U wg -d postgres -Atc \
    "SELECT looks FROM deploys ORDER BY looks" 2>&1)
expect_eq "PostgreSQL holds the counts (deploy 1: 5 looks, deploy 2: 1)" "1 5" "$(echo $got)"
finish

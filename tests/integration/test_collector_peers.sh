#!/usr/bin/env bash
# test_collector_peers.sh — the real `wavegate check` against tests/peers/influx_peer.py answering
# in the exact wire formats of reference/influxdb-wire-formats.md: Flux (request shape, annotated
# CSV verdicts, error table in a 200, 2.x {"code","message"} and 1.8 {"error"} bodies), InfluxDB
# 3 SQL and InfluxQL (JSON Lines, GET and POST, plain-text errors), and what a network does:
# 429 + Retry-After, 503 forever, a truncated body, a server slower than the timeout.
set -uo pipefail
source "$(dirname "$0")/lib.sh"
WG=${WG_BIN:?WG_BIN must point at the wavegate binary}
PEERS=${WG_PEERS:-$(cd "$(dirname "$0")/../peers" && pwd)}


# ---- the answers, written to the spec (CRLF in Flux CSV, LF in JSON Lines) ----------------
python3 - "$WG_TMP/scenario.json" <<'PY'
import json, sys
H = ("#datatype,string,long,dateTime:RFC3339,dateTime:RFC3339,dateTime:RFC3339,double,string\r\n"
     "#group,false,false,true,true,false,false,true\r\n"
     "#default,_result,,,,,,\r\n"
     ",result,table,_start,_stop,_time,_value,host\r\n")
S, E = "2024-05-01T12:00:00Z", "2024-05-01T12:10:00Z"
def row(t, ts, v, host):
    return ",,%d,%s,%s,%s,%s,%s\r\n" % (t, S, E, ts, v, host)
profiler = ("\r\n#datatype,string,long,string,long\r\n#group,false,false,true,false\r\n"
            "#default,_profiler,,,\r\n,result,table,_measurement,TotalDuration\r\n"
            ",,0,profiler/query,123456789\r\n\r\n")
flux_pass = (H + row(0, "2024-05-01T12:01:00Z", "40", "a") + row(0, "2024-05-01T12:02:00Z", "42.5", "a")
             + row(1, "2024-05-01T12:01:00Z", "61", "b") + "\r\n" + profiler)
# two schema blocks (the second adds a column): host b regressed
flux_fail = (H + row(0, "2024-05-01T12:01:00Z", "40", "a") + "\r\n"
             "#datatype,string,long,dateTime:RFC3339,dateTime:RFC3339,dateTime:RFC3339,double,string,string\r\n"
             "#group,false,false,true,true,false,false,true,true\r\n"
             "#default,_result,,,,,,,\r\n"
             ",result,table,_start,_stop,_time,_value,host,dc\r\n"
             ",,1,%s,%s,2024-05-01T12:01:00Z,250,b,\"eu, west\"\r\n"
             ",,1,%s,%s,2024-05-01T12:02:00Z,+Inf,b,\"eu, west\"\r\n\r\n" % (S, E, S, E))
flux_errtable = (H + row(0, "2024-05-01T12:01:00Z", "40", "a") + "\r\n"
                 "#datatype,string,string\r\n#group,true,true\r\n#default,,\r\n"
                 ",error,reference\r\n"
                 ",\"runtime error: panic in map(), \"\"r\"\" undefined\",\r\n")
jsonl_pass = ('{"host":"a","time":"2024-05-01T12:05:00","usage":12.5}\n'
              '{"host":"b","time":"2024-05-01T12:05:00","usage":40}\n')
jsonl_fail = ('{"host":"a","usage":12.5}\n{"host":"b","usage":250}\n')
iql3 = ('{"iox::measurement":"cpu","time":"2024-05-01T12:05:00","host":"a","usage":0.5}\n'
        '{"iox::measurement":"cpu","time":"2024-05-01T12:06:00.5","host":"a","usage":0.7}\n')
ok_v1 = json.dumps({"results": [{"statement_id": 0, "series": [{"name": "cpu",
        "columns": ["time", "usage"], "values": [[1714564860000000000, 5]]}]}]})
csv = {"Content-Type": "text/csv; charset=utf-8"}
jl = {"Content-Type": "application/jsonl"}
js = {"Content-Type": "application/json"}
def r(status, body, headers, **kw):
    d = {"status": status, "headers": headers, "body": body}
    d.update(kw)
    return d
routes = [
    {"method": "POST", "path": "/api/v2/query", "body_contains": "case:flux-pass",
     "responses": [r(200, flux_pass, csv, chunked=True, chunk_bytes=37)]},
    {"method": "POST", "path": "/api/v2/query", "body_contains": "case:flux-fail",
     "responses": [r(200, flux_fail, csv)]},
    {"method": "POST", "path": "/api/v2/query", "body_contains": "case:flux-errtable",
     "responses": [r(200, flux_errtable, csv, chunked=True)]},
    {"method": "POST", "path": "/api/v2/query", "body_contains": "case:flux-400",
     "responses": [r(400, '{"code":"invalid","message":"compilation failed: loc 1:5-1:9: '
                     'expected an operator between two expressions"}',
                     dict(js, **{"X-Platform-Error-Code": "invalid"}))]},
    {"method": "POST", "path": "/api/v2/query", "body_contains": "case:flux-18",
     "responses": [r(500, '{"error":"type error 1:1-1:20: undefined identifier \\"frm\\""}', js)]},
    {"method": "GET", "path": "/api/v3/query_sql", "query": {"db": "sqlpass", "format": "jsonl"},
     "responses": [r(200, jsonl_pass, jl, chunked=True, chunk_bytes=20)]},
    {"method": "GET", "path": "/api/v3/query_sql", "query": {"db": "sqlfail"},
     "responses": [r(200, jsonl_fail, jl)]},
    {"method": "POST", "path": "/api/v3/query_sql", "body_contains": "case:sql-post",
     "responses": [r(200, jsonl_pass, jl)]},
    {"path": "/api/v3/query_sql", "query": {"db": "sqlerr"},
     "responses": [r(400, "Error during planning: table 'public.iox.nope' not found",
                     {"Content-Type": "text/plain; charset=utf-8"})]},
    {"method": "GET", "path": "/api/v3/query_influxql", "query": {"db": "iqlv3"},
     "responses": [r(200, iql3, jl)]},
    {"path": "/query", "query": {"db": "r429"},
     "responses": [r(429, "this service is overloaded, please try again later",
                     {"Retry-After": "1", "Content-Type": "text/plain"}), r(200, ok_v1, js)]},
    {"path": "/query", "query": {"db": "r503"},
     "responses": [r(503, '{"error":"unavailable"}', js)]},
    {"path": "/query", "query": {"db": "trunc"},
     "responses": [r(200, ok_v1, js, truncate_at=40)]},
    {"path": "/query", "query": {"db": "slow"},
     "responses": [r(200, ok_v1, js, delay_ms=4000)]},
]
json.dump({"routes": routes}, open(sys.argv[1], "w"))
PY
influx_peer_start "$WG_TMP/scenario.json" "$WG_TMP/requests.jsonl" || exit 1
export WG_FLUX_TOKEN=flux-secret-tok-1 WG_V3_TOKEN=v3-secret-tok-2

pad=$(printf 'x%.0s' $(seq 2100))
cat > "$WG_TMP/wg.yaml" <<EOF
sources:
  flux:
    kind: flux
    url: $PEER_URL
    org: my org
    token_env: WG_FLUX_TOKEN
    retries: 0
  sql:
    kind: sql
    url: $PEER_URL
    database: sqlpass
    token_env: WG_V3_TOKEN
  sqlfail: {kind: sql, url: "$PEER_URL", database: sqlfail, token_env: WG_V3_TOKEN}
  sqlerr: {kind: sql, url: "$PEER_URL", database: sqlerr, token_env: WG_V3_TOKEN, retries: 0}
  iql3:
    kind: influxql
    api: v3
    url: $PEER_URL
    database: iqlv3
    token_env: WG_V3_TOKEN
  r429: {kind: influxql, url: "$PEER_URL", database: r429, retries: 2, timeout: 5s}
  r503: {kind: influxql, url: "$PEER_URL", database: r503, retries: 50, timeout: 2s}
  trunc: {kind: influxql, url: "$PEER_URL", database: trunc, retries: 1, timeout: 3s}
  slow: {kind: influxql, url: "$PEER_URL", database: slow, retries: 0, timeout: 1s}
waves:
  - name: prod
    env: prod
    source: flux
features:
EOF
# feature NAME SOURCE QUERY [FIELD] — one rule "r" (max 100) per feature
feature() {
    printf '  %s:\n    rules:\n      - name: r\n        source: %s\n        query: "%s"\n' \
        "$1" "$2" "$3" >> "$WG_TMP/wg.yaml"
    printf '        window: 10m\n        threshold: {max: 100}\n' >> "$WG_TMP/wg.yaml"
    [ -z "${4:-}" ] || printf '        field: %s\n' "$4" >> "$WG_TMP/wg.yaml"
}
fq='from(bucket: \"b\") |> range(start: {{ start }}, stop: {{ end }}) |> filter(fn: (r) => r.env == {{ env }}) |> aggregateWindow(every: {{ window }}, fn: mean)'
feature fluxpass flux "$fq // case:flux-pass"
feature fluxfail flux "$fq // case:flux-fail"
feature fluxerrtable flux "$fq // case:flux-errtable"
feature flux400 flux "$fq // case:flux-400"
feature flux18 flux "$fq // case:flux-18"
sq="SELECT host, time, avg(usage) AS usage FROM cpu WHERE env = {{ env }} AND time >= {{ start }} AND time < {{ end }} GROUP BY host, time"
feature sqlpass sql "$sq"
feature sqlfail sqlfail "$sq"
feature sqlpost sql "$sq -- case:sql-post $pad"
feature sqlerr sqlerr "SELECT usage FROM nope"
feature iql3 iql3 "SELECT usage FROM cpu WHERE env = {{ env }} AND time >= {{ start }}"
feature r429 r429 "SELECT usage FROM cpu"
feature r503 r503 "SELECT usage FROM cpu"
feature trunc trunc "SELECT usage FROM cpu"
feature slow slow "SELECT usage FROM cpu"

T=2024-05-01T12:00:00Z
run() { # FEATURE — sets rc, out, err, ms
    local t0=$(date +%s%N)
    out=$("$WG" check --config "$WG_TMP/wg.yaml" --wave prod --feature "$1" --deploy-time "$T" \
        --format json 2>"$WG_TMP/stderr")
    rc=$?
    ms=$(( ($(date +%s%N) - t0) / 1000000 ))
    err=$(cat "$WG_TMP/stderr")
}
reason() { jq_get "$out" 'd["rules"][0]["reason"]'; }
# req EXPR — a Python expression over `reqs` (the requests the peer logged so far)
req() {
    python3 -c 'import json,sys; reqs=[json.loads(l) for l in open(sys.argv[1])]; print(eval(sys.argv[2]))' \
        "$WG_TMP/requests.jsonl" "$1"
}
nreq_for() { req "len([q for q in reqs if q['query'].get('db', [''])[0] == '$1'])"; }

# ---- Flux -----------------------------------------------------------------------------------
run fluxpass
expect_eq "flux: healthy tables pass (exit 0)" 0 "$rc"
expect_eq "flux: judged per host (group key), _profiler ignored" "a=42.5,b=61" \
    "$(jq_get "$out" '",".join("%s=%g" % (g["labels"]["host"], g["value"]) for g in sorted(d["rules"][0]["groups"], key=lambda g: g["labels"]["host"]))')"
F="[q for q in reqs if 'case:flux-pass' in q['body']][0]"
expect_eq "flux: POST /api/v2/query" "POST /api/v2/query" "$(req "$F['method'] + ' ' + $F['path']")"
expect_eq "flux: org in the query string" "org=my%20org" "$(req "$F['raw_query']")"
expect_eq "flux: token auth" "Token flux-secret-tok-1" "$(req "$F['headers']['authorization']")"
expect_eq "flux: JSON body" "application/json" "$(req "$F['headers']['content-type']")"
expect_eq "flux: body type and dialect" \
    "flux {'header': True, 'delimiter': ',', 'annotations': ['datatype', 'group', 'default']}" \
    "$(req "json.loads($F['body'])['type'] + ' ' + str(json.loads($F['body'])['dialect'])")"
expect_eq "flux: literals rendered (time, string, duration)" \
    'from(bucket: "b") |> range(start: 2024-05-01T12:00:00Z, stop: 2024-05-01T12:10:00Z) |> filter(fn: (r) => r.env == "prod") |> aggregateWindow(every: 10m, fn: mean) // case:flux-pass' \
    "$(req "json.loads($F['body'])['query']")"

run fluxfail
expect_eq "flux: a regressed table fails (exit 1)" 1 "$rc"
expect_eq "flux: the failing group is host b, quoted dc label intact" "b|eu, west" \
    "$(jq_get "$out" '[g["labels"]["host"] + "|" + g["labels"]["dc"] for g in d["rules"][0]["groups"] if g["verdict"] == "fail"][0]')"

run fluxerrtable
expect_eq "flux: an error table in a 200 is exit 3" 3 "$rc"
expect_match "flux: the error table's message" 'panic in map\(\), "r" undefined' "$(reason)"
expect_eq "flux: rows before the error table are not data" 0 "$(jq_get "$out" 'd["rules"][0]["samples"]')"

run flux400
expect_eq "flux: 2.x {code,message} 400 is exit 3" 3 "$rc"
expect_match "flux: 400 carries the server's message" 'HTTP 400.*compilation failed: loc 1:5-1:9' "$(reason)"
run flux18
expect_eq "flux: 1.8 {error} 500 is exit 3" 3 "$rc"
expect_match "flux: 1.8 message" 'undefined identifier "frm"' "$(reason)"

# ---- InfluxDB 3 -----------------------------------------------------------------------------
run sqlpass
expect_eq "sql: JSON Lines rows pass (exit 0)" 0 "$rc"
expect_eq "sql: each host its own series (string column = label)" "a,b" \
    "$(jq_get "$out" '",".join(sorted(g["labels"]["host"] for g in d["rules"][0]["groups"]))')"
Q="[q for q in reqs if q['path'] == '/api/v3/query_sql' and q['method'] == 'GET'][0]"
expect_eq "sql: GET with db, format=jsonl" "sqlpass jsonl" \
    "$(req "$Q['query']['db'][0] + ' ' + $Q['query']['format'][0]")"
expect_eq "sql: bearer token" "Bearer v3-secret-tok-2" "$(req "$Q['headers']['authorization']")"
expect_eq "sql: q holds SQL literals" \
    "SELECT host, time, avg(usage) AS usage FROM cpu WHERE env = 'prod' AND time >= TIMESTAMP '2024-05-01T12:00:00Z' AND time < TIMESTAMP '2024-05-01T12:10:00Z' GROUP BY host, time" \
    "$(req "$Q['query']['q'][0]")"
run sqlfail
expect_eq "sql: host b over the threshold fails (exit 1)" 1 "$rc"
expect_eq "sql: only host b fails" "b" \
    "$(jq_get "$out" '",".join(g["labels"]["host"] for g in d["rules"][0]["groups"] if g["verdict"] == "fail")')"
run sqlpost
expect_eq "sql: a long query goes as a POST and passes" 0 "$rc"
P="[q for q in reqs if q['path'] == '/api/v3/query_sql' and q['method'] == 'POST'][0]"
expect_eq "sql: POST body is JSON with db, q, format" "sqlpass jsonl True application/json" \
    "$(req "' '.join([json.loads($P['body'])['db'], json.loads($P['body'])['format'], str('case:sql-post' in json.loads($P['body'])['q']), $P['headers']['content-type']])")"
run sqlerr
expect_eq "sql: plain-text 400 is exit 3" 3 "$rc"
expect_match "sql: the plain-text message" "HTTP 400.*Error during planning: table 'public.iox.nope' not found" "$(reason)"
run iql3
expect_eq "influxql on v3: JSON Lines pass (exit 0)" 0 "$rc"
expect_eq "influxql on v3: /api/v3/query_influxql, format=jsonl, bearer" \
    "/api/v3/query_influxql jsonl Bearer v3-secret-tok-2" \
    "$(req "' '.join([[q for q in reqs if q['query'].get('db') == ['iqlv3']][0][k] for k in ['path']] + [[q for q in reqs if q['query'].get('db') == ['iqlv3']][0]['query']['format'][0], [q for q in reqs if q['query'].get('db') == ['iqlv3']][0]['headers']['authorization']])")"
expect_eq "influxql on v3: the last value (reduce: last)" "0.7" "$(jq_get "$out" 'd["rules"][0]["value"]')"

# ---- a real network -------------------------------------------------------------------------
run r429
expect_eq "429 + Retry-After then 200: pass" 0 "$rc"
expect_eq "429 + Retry-After: two attempts" 2 "$(nreq_for r429)"
expect_eq "429: Retry-After: 1 was honoured" True "$([ "$ms" -ge 950 ] && echo True || echo "False ($ms ms)")"
run r503
expect_eq "503 forever: exit 3" 3 "$rc"
expect_match "503 forever: says so" 'HTTP 503' "$(reason)"
expect_eq "503 forever: within the 2 s budget" True "$([ "$ms" -lt 3500 ] && echo True || echo "False ($ms ms)")"
expect_eq "503 forever: retried with backoff, not hammered" True \
    "$(n=$(nreq_for r503); [ "$n" -ge 3 ] && [ "$n" -le 20 ] && echo True || echo "False ($n)")"
run trunc
expect_eq "truncated body: exit 3, never 0" 3 "$rc"
expect_match "truncated body: says cut off" 'cut off|truncat|partial|transfer closed' "$(reason)"
run slow
expect_eq "server slower than the timeout: exit 3" 3 "$rc"
expect_match "slow server: timed out" 'timed out' "$(reason)"
expect_eq "slow server: gave up at the 1 s timeout" True "$([ "$ms" -lt 3000 ] && echo True || echo "False ($ms ms)")"

# ---- secrets never printed --------------------------------------------------------------------
all=$(for f in fluxpass flux400 sqlerr; do run "$f"; echo "$out$err"; done)
expect_eq "tokens never printed" "" "$(grep -o 'flux-secret-tok-1\|v3-secret-tok-2' <<< "$all" | head -1)"

finish

#!/usr/bin/env bash
# test_budget_influx.sh — one false-fail budget per gate, end to end against a real InfluxDB
# 1.x: 200 independent no-change gates of a mann-whitney rule GROUP BY "host" over 20 hosts
# (each gate its own 20-minute period, `check --deploy-time` anchored on it) fail at most the
# budget's share, while judging each host at 1% would fail ~18% of them; one host 50% slower
# fails the gate naming that host; judge: rate (errors over requests) passes an unchanged
# period and fails the host whose error rate tripled. Then the same budget through `serve`:
# /v1/gate asked repeatedly about one deploy (deploy_id, max_looks = Argo's count) is look k
# of that deploy, and its family budget per look is the share the alpha-spending function
# gives look k (half at the first judged look, the rest spread; the looks sum to the budget);
# 100 no-change deploys asked 3 looks each fail (any look failing) at most the budget's share.
set -uo pipefail
source "$(dirname "$0")/lib.sh"
WG=${WG_BIN:?WG_BIN must point at the wavegate binary}

GATES=200
HOSTS=20
BASE_T=1767225600 # 2026-01-01T00:00:00Z; period k is [BASE_T + 1200k, +1200): baseline, then current

influx_start || exit 1
influx_query "" 'CREATE DATABASE "telemetry"' || exit 1

# Seeded data: a latency point per host every 10 s (60 per side per host, min_samples 50).
# Periods 0..199: no change. Period 200: host h07 50% slower after the deploy. Periods 201
# and 202: api error counts per host per 10 s (1000 requests, 0.5% errors); in 202 host h03
# has 1.5% errors after the deploy.
python3 - "$WG_TMP" "$GATES" "$HOSTS" "$BASE_T" <<'PY' || exit 1
import math, random, sys
tmp, gates, hosts, base = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
rnd = random.Random(20261201)
lines = []
def flush(k):
    with open(f"{tmp}/lp.{k:03d}", "w") as f:
        f.write("\n".join(lines) + "\n")
    lines.clear()
chunk = 0
for g in range(gates + 1):
    t0 = base + 1200 * g
    for h in range(hosts):
        for i in range(120):
            slow = 1.5 if g == gates and h == 7 and i >= 60 else 1.0
            v = 100 * slow * math.exp(0.5 * rnd.gauss(0, 1))
            lines.append(f"http,host=h{h:02d} latency_ms={v:.3f} {t0 + 10 * i}")
    if len(lines) > 40000:
        flush(chunk); chunk += 1
def poisson(lam):
    l, k, p = math.exp(-lam), 0, 1.0
    while True:
        p *= rnd.random()
        if p <= l:
            return k
        k += 1
for g in (gates + 1, gates + 2):
    t0 = base + 1200 * g
    for h in range(hosts):
        for i in range(120):
            rate = 0.015 if g == gates + 2 and h == 3 and i >= 60 else 0.005
            lines.append(f"api,host=h{h:02d} errors={poisson(1000 * rate)}i,requests=1000i {t0 + 10 * i}")
flush(chunk)
PY
for f in "$WG_TMP"/lp.*; do influx_write telemetry "$f" || exit 1; done

cfg="$WG_TMP/budget.yaml"
cat > "$cfg" <<YAML
state_dir: $WG_TMP/state
sources:
  db: {kind: influxql, url: $INFLUX_URL, database: telemetry}
waves:
  - name: prod
    source: db
    gate: {false_fail: 1%}
features:
  latency:
    rules:
      - name: per-host
        query: SELECT "latency_ms" FROM "http" WHERE time >= {{ start }} AND time < {{ end }} GROUP BY "host"
        judge: mann-whitney
        baseline: {window: 10m}
        window: 10m
        confidence: 0.98
        direction: increase
        min_samples: 50
  errors:
    rules:
      - name: error-rate
        query: SELECT sum("errors") AS "errors", sum("requests") AS "requests" FROM "api" WHERE time >= {{ start }} AND time < {{ end }} GROUP BY time(1m), "host"
        judge: rate
        numerator: errors
        denominator: requests
        baseline: {window: 10m}
        window: 10m
        confidence: 0.98
        direction: increase
YAML

out=$("$WG" validate --config "$cfg" 2>&1)
expect_eq "config with judge rate and gate.false_fail is valid" 0 "$?"

at() { date -u -d "@$(( BASE_T + 1200 * $1 + 600 ))" +%Y-%m-%dT%H:%M:%SZ; }

# --- 200 no-change gates; two at a time (the machine has two cores)
mkdir -p "$WG_TMP/gates"
seq 0 $(( GATES - 1 )) | xargs -P 2 -I{} sh -c '
    "$0" check --config "$1" --wave prod --feature latency --deploy-time "$(date -u -d "@$(( $2 + 1200 * {} + 600 ))" +%Y-%m-%dT%H:%M:%SZ)" \
        --format json > "$3/{}.json" 2>"$3/{}.err"; echo $? > "$3/{}.rc"' \
    "$WG" "$cfg" "$BASE_T" "$WG_TMP/gates"

summary=$(python3 - "$WG_TMP/gates" "$GATES" <<'PY'
import json, sys
d, n = sys.argv[1], int(sys.argv[2])
rc = [int(open(f"{d}/{k}.rc").read()) for k in range(n)]
per_host = 0   # gates that judging each host at 1% would fail (the gate as it was)
groups = set()
for k in range(n):
    r = json.load(open(f"{d}/{k}.json"))["rules"][0]
    ps = [g["p_value"] for g in r["groups"]]
    groups.add(len(ps))
    per_host += min(ps) < 0.01
    assert all(g["budget"] == 0.01 and g["family_size"] == 20 for g in r["groups"])
print(sum(c == 1 for c in rc), sum(c not in (0, 1) for c in rc), per_host, sorted(groups))
PY
)
read -r fails others per_host groups <<< "$summary"
echo "# $GATES no-change gates: $fails failed under the family budget; $per_host would fail with each host at 1%"
expect_eq "every no-change gate judged 20 hosts, none inconclusive or error" "0 [20]" "$others $groups"
# 1% of 200 is 2 expected; at most 5 passes with P > 0.98 at 1% and catches a 5% rate
# (10 expected) with P = 0.94.
expect_eq "no-change gates: at most 5 of $GATES fail (budget 1%)" True "$([ "$fails" -le 5 ] && echo True || echo False)"
# the same p-values judged host by host: 1 - 0.99^20 = 18% -> ~36 expected
expect_eq "judging each host at 1% would fail many more (> 15)" True "$([ "$per_host" -gt 15 ] && echo True || echo False)"

# --- one host 50% slower: the gate fails and names it
out=$("$WG" check --config "$cfg" --wave prod --feature latency --deploy-time "$(at "$GATES")" --format json 2>"$WG_TMP/stderr")
expect_eq "one regressed host fails the gate" 1 "$?"
expect_match "the reason names host h07" 'host=h07: significant increase' "$(jq_get "$out" "d['rules'][0]['reason']")"
expect_match "and shows the family budget" 'adjusted .*family budget 0.01 of 20 tests' "$(jq_get "$out" "d['rules'][0]['reason']")"
expect_eq "only h07 fails" "['h07']" "$(jq_get "$out" "[g['labels']['host'] for g in d['rules'][0]['groups'] if g['verdict']=='fail']")"

# --- a look inside an unfinished window: inconclusive, yet it spent budget ("tested"), so a
# bake-time analysis does not spend that share again at its next look
mid=$(date -u -d "@$(( BASE_T + 1200 * 3 + 600 + 300 ))" +%Y-%m-%dT%H:%M:%SZ)
out=$("$WG" check --config "$cfg" --wave prod --feature latency --deploy-time "$(at 3)" --now "$mid" --format json 2>"$WG_TMP/stderr")
expect_eq "a look at half the window is inconclusive" 2 "$?"
expect_eq "and reports the test that ran as tested" True "$(jq_get "$out" "d['rules'][0].get('tested')")"

# --- through serve: looks of one deploy spend the budget once (simulated clock)
cat >> "$cfg" <<YAML
server:
  listen: 127.0.0.1:0
  cache_ttl: 0s
YAML
export WG_TEST_NOW_FILE="$WG_TMP/now"
echo "$(( BASE_T + 1200 * 5 ))" > "$WG_TMP/now"
serve_start "$cfg" || exit 1
wg_on_exit serve_stop
looks=$(python3 - "$BASE" "$BASE_T" "$WG_TMP/now" "$INFLUX_URL" <<'PY'
import json, math, os, random, sys, urllib.request
base, t0, nowf, influx = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
def ask(deploy, dep_id, now, k_max):
    with open(nowf + ".new", "w") as f:
        f.write("%d\n" % now)
    os.replace(nowf + ".new", nowf)
    body = json.dumps({"wave": "prod", "feature": "latency", "deploy_id": dep_id,
                       "deploy_time": deploy, "max_looks": k_max, "mode": "body"}).encode()
    req = urllib.request.Request(base + "/v1/gate", body, {"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.load(r)
out = {}
# one healthy deploy (period 5), five looks as Argo's count: 5 would take them, the first
# 30 s after the deploy (the window not complete: inconclusive, but judged on the data there
# is), then four on the complete window
T = t0 + 1200 * 5 + 600
seq = []
for now in (T + 30, T + 600, T + 660, T + 720, T + 780):
    d = ask(T, "healthy-5", now, 5)
    g = d["rules"][0]["groups"]
    seq.append({"k": d["look"]["k"], "of": d["look"]["of"], "share": d["look"]["share"],
                "verdict": d["verdict"], "budget": sorted({x.get("budget") for x in g if "budget" in x}),
                "min_p": min(x.get("p_value", 1) for x in g)})
out["one"] = seq
# a look that judges nothing carries its share: period 203 has no data yet; its baseline is
# written, look 1 finds no current data (inconclusive, nothing judged), then the deploy's
# data arrives and look 2 spends F(2) = 0.625 of the budget, look 1's share included
T = t0 + 1200 * 203 + 600
rnd = random.Random(203)
def write(a, b):
    lines = ["http,host=h%02d latency_ms=%.3f %d" % (h, 100 * math.exp(0.5 * rnd.gauss(0, 1)), t)
             for h in range(20) for t in range(a, b, 10)]
    urllib.request.urlopen(urllib.request.Request(influx + "/write?db=telemetry&precision=s",
                                                  "\n".join(lines).encode()), timeout=30).read()
write(T - 600, T)
carry = []
for now in (T + 660, T + 720):
    d = ask(T, "carry-203", now, 5)
    g = d["rules"][0]["groups"]
    carry.append([d["look"]["k"], d["verdict"], d["look"]["last_judged"], round(d["look"]["share"], 6),
                  sorted({round(x["budget"], 8) for x in g if "budget" in x})])
    write(T, T + 600)
out["carry"] = carry
# a question without a deploy identity: look 0, not counted
with open(nowf, "w") as f:
    f.write("%d\n" % (T + 600))
req = urllib.request.Request(base + "/v1/gate?wave=prod&feature=latency&deploy_time=%d" % T)
with urllib.request.urlopen(req, timeout=30) as r:
    out["none"] = json.load(r)["look"]
# 100 no-change deploys (periods 0..99), three looks each (Argo count 3): 50 s apart
# at the end of the window; a deploy fails when any of its looks fails (failureLimit 0)
fails = looks_fail = full = 0
for p in range(100):
    T = t0 + 1200 * p + 600
    failed = fullfail = False
    for j, now in enumerate((T + 500, T + 550, T + 600)):
        d = ask(T, "nochange-%d" % p, now, 3)
        assert d["look"]["k"] == j + 1, d["look"]
        failed |= d["verdict"] == "fail"
        looks_fail += d["verdict"] == "fail"
        ps = [x["p_value"] for x in d["rules"][0]["groups"] if "p_value" in x]
        fullfail |= bool(ps) and min(ps) * len(ps) < 0.01  # Bonferroni at the full budget
    fails += failed
    full += fullfail
out["many"] = [fails, looks_fail, full]
print(json.dumps(out))
PY
)
expect_eq "serve: the looks of one deploy ran" 0 "$?"
echo "# one deploy, 5 looks: $(jq_get "$looks" "[(x['k'], x['share'], x['budget'], x['verdict']) for x in d['one']]")"
expect_eq "each ask of the deploy is the next look k of 5" "[1, 2, 3, 4, 5] [5]" \
    "$(jq_get "$looks" "str([x['k'] for x in d['one']]) + ' ' + str(sorted({x['of'] for x in d['one']}))")"
# F(k) = a (1/2 + (k-1)/(2(K-1))): half the budget at the first look, then a/8 each
expect_eq "the family budget per look: 0.01 x (F(1), F(2)-F(1), ...) = 0.005, then 0.00125 x 4" \
    "[[0.005], [0.00125], [0.00125], [0.00125], [0.00125]]" \
    "$(jq_get "$looks" "[[round(b, 8) for b in x['budget']] for x in d['one']]")"
expect_eq "the answer's look share is the budget's fraction" "[0.5, 0.125, 0.125, 0.125, 0.125]" \
    "$(jq_get "$looks" "[round(x['share'], 6) for x in d['one']]")"
expect_eq "the looks' budgets sum to the gate's 1% (never 1% per look)" "0.01" \
    "$(jq_get "$looks" "round(sum(x['budget'][0] for x in d['one']), 8)")"
expect_eq "the healthy deploy: inconclusive until its window is complete, then pass" \
    "['inconclusive', 'pass', 'pass', 'pass', 'pass']" "$(jq_get "$looks" "[x['verdict'] for x in d['one']]")"
expect_eq "a look that judged nothing carries its share to the next (F(2) = 0.625 x 1%)" \
    "[[1, 'inconclusive', 0, 0.5, []], [2, 'pass', 0, 0.625, [0.00625]]]" "$(jq_get "$looks" "d['carry']")"
expect_eq "a question without a deploy identity says look 0, not counted" \
    "{'k': 0, 'of': 1, 'counted': False}" "$(jq_get "$looks" "d['none']")"
read -r dfails lfails full <<< "$(jq_get "$looks" "' '.join(map(str, d['many']))")"
echo "# 100 no-change deploys x 3 looks: $dfails deploys failed ($lfails looks); $full would fail at 1% per look"
# 1% of 100 is 1 expected; P(>= 5 | 1%) = 0.003
expect_eq "no-change deploys over 3 looks each: at most 4 of 100 fail (budget 1% for all looks)" True \
    "$([ "$dfails" -le 4 ] && echo True || echo False)"

# --- an analysis resumed after kill -9 spends its share, not the whole budget again: three
# looks (F = 0.5, 0.75, 1 of 1%), killed after look 1; look 2 on the restarted server was
# judged at F(2) = 0.0075 before (no notes of the rules after a restart), now 0.0025
T5=$(( BASE_T + 1200 * 6 + 600 ))
echo "$(( T5 + 700 ))" > "$WG_TMP/now"
an=$(curl -s -X POST "$BASE/v1/analyses" -H 'Content-Type: application/json' \
    -d "{\"wave\":\"prod\",\"feature\":\"latency\",\"deploy_time\":$T5,\"interval\":\"4s\",\"count\":3}")
aid=$(jq_get "$an" "d['id']")
nmeas() { curl -s "$BASE/v1/analyses/$aid" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["measurements"]))'; }
has_look() { [ "$(nmeas)" -ge 1 ]; }
decided() { ! curl -s "$BASE/v1/analyses/$aid" | grep -q '"status":"running"'; }
wait_for 30 has_look
expect_eq "the analysis took look 1" 1 "$(nmeas)"
kill -9 "$SERVE_PID"; wait "$SERVE_PID" 2>/dev/null; SERVE_PID=
serve_start "$cfg" || exit 1
wait_for 60 decided
got=$(curl -s "$BASE/v1/analyses/$aid")
expect_eq "resumed after kill -9: looks 1-3 at 0.005, 0.0025, 0.0025 (1% in all)" \
    "[[0.005], [0.0025], [0.0025]]" \
    "$(jq_get "$got" "[sorted({round(g['budget'], 8) for g in m['report']['rules'][0]['groups'] if 'budget' in g}) for m in d['measurements']]")"
serve_stop
unset WG_TEST_NOW_FILE

# --- judge: rate
out=$("$WG" check --config "$cfg" --wave prod --feature errors --deploy-time "$(at $(( GATES + 1 )))" --format json 2>"$WG_TMP/stderr")
expect_eq "rate: unchanged error rates pass" 0 "$?"
expect_eq "rate: 20 hosts judged" 20 "$(jq_get "$out" "len(d['rules'][0]['groups'])")"
out=$("$WG" check --config "$cfg" --wave prod --feature errors --deploy-time "$(at $(( GATES + 2 )))" --format json 2>"$WG_TMP/stderr")
expect_eq "rate: tripled error rate on one host fails" 1 "$?"
expect_match "rate: the reason names h03 and its rates" 'host=h03: significant increase: rate 0.01[0-9]* vs baseline 0.00[0-9]*' \
    "$(jq_get "$out" "d['rules'][0]['reason']")"

finish

#!/usr/bin/env bash
# test_collector_influx_chunked.sh — chunked InfluxQL against the real InfluxDB 1.x: 50,000 points
# in five series read with chunk_size 1000 (so every series arrives as many partial chunks); the
# count, mean and sum `wavegate check` and `wavegate query` compute, overall and per GROUP BY tag,
# equal what InfluxDB computes itself. An integer beyond 2^53 stays exact in `query` JSON.
set -uo pipefail
source "$(dirname "$0")/lib.sh"
WG=${WG_BIN:?WG_BIN must point at the wavegate binary}

influx_start || exit 1
influx_query "" 'CREATE DATABASE "chunky"'
T0=$(( $(date +%s) / 3600 * 3600 - 6 * 3600 ))
python3 - "$T0" "$WG_TMP/points.lp" <<'PY'
import sys
t0, path = int(sys.argv[1]), sys.argv[2]
with open(path, "w") as f:
    for h in range(5):
        for i in range(10000):
            # fractions that do not add up exactly in binary, and per-host offsets
            f.write("m,host=h%d v=%d.%03d %d\n" % (h, (i * 7919 + h * 13) % 1000, (i * 31) % 1000,
                                                   t0 + i))
    f.write("big v=9007199254740993i %d\n" % (t0 + 5))
    f.write("big v=-9223372036854775807i %d\n" % (t0 + 6))
PY
influx_write chunky "$WG_TMP/points.lp" || exit 1
T=$(date -u -d "@$T0" +%Y-%m-%dT%H:%M:%SZ)
END=$(date -u -d "@$((T0 + 3 * 3600))" +%Y-%m-%dT%H:%M:%SZ)

cat > "$WG_TMP/wg.yaml" <<EOF
sources:
  influx:
    kind: influxql
    url: $INFLUX_URL
    database: chunky
    chunk_size: 1000
    timeout: 30s
waves:
  - {name: w, env: e, source: influx}
features:
  f:
    rules:
EOF
rule() { # NAME REDUCE QUERY
    cat >> "$WG_TMP/wg.yaml" <<EOF
      - name: $1
        query: "$3 WHERE time >= {{ start }} AND time < {{ end }}${4:-}"
        reduce: $2
        window: 3h
        threshold: {max: 1e12}
EOF
}
rule mean-all mean 'SELECT v FROM m'
rule count-host count 'SELECT v FROM m' ' GROUP BY host'
rule sum-host sum 'SELECT v FROM m' ' GROUP BY host'
rule mean-host mean 'SELECT v FROM m' ' GROUP BY host'
rule big last 'SELECT v FROM big'

# What InfluxDB computes itself (its own aggregation, no chunking).
truth() {
    curl -sf -G "$INFLUX_URL/query" --data-urlencode db=chunky --data-urlencode \
        "q=SELECT count(v), mean(v), sum(v) FROM m WHERE time >= '$T' AND time < '$END'$1"
}
all=$(truth "")
per=$(truth " GROUP BY host")
[ -n "$all" ] && [ -n "$per" ] || { echo "InfluxDB did not answer the reference query" >&2; exit 1; }
# The server really streams this query as partial chunks (so the merge below is exercised).
chunks=$(curl -sf -G "$INFLUX_URL/query" --data-urlencode db=chunky --data-urlencode chunked=true \
    --data-urlencode chunk_size=1000 --data-urlencode \
    "q=SELECT v FROM m WHERE time >= '$T' AND time < '$END' GROUP BY host" | grep -c '"partial":true')
expect_eq "InfluxDB sends the 50,000 points as partial chunks" True \
    "$([ "${chunks:-0}" -ge 45 ] && echo True || echo "False ($chunks partial chunks)")"

out=$("$WG" check --config "$WG_TMP/wg.yaml" --wave w --deploy-time "$T" --format json \
    2>"$WG_TMP/stderr")
rc=$?
expect_eq "check over 50,000 chunked points passes" 0 "$rc"
[ "$rc" -eq 0 ] || cat "$WG_TMP/stderr"

# close A B: equal within 1e-12 relative (a sum's rounding depends on the order of addition)
cmp_py='
import json, sys
wg, ix, per = json.loads(sys.argv[1]), json.loads(sys.argv[2]), json.loads(sys.argv[3])
rules = {r["rule"]: r for r in wg["rules"]}
def close(a, b): return abs(a - b) <= 1e-12 * max(1.0, abs(b))
want_all = ix["results"][0]["series"][0]["values"][0]
bad = []
r = rules["mean-all"]
if not close(r["value"], want_all[2]) or r["samples"] != want_all[1]:
    bad.append("mean-all: want mean %r over %d, got %r over %r"
               % (want_all[2], want_all[1], r["value"], r["samples"]))
truth = {s["tags"]["host"]: s["values"][0] for s in per["results"][0]["series"]}
for name, col in (("count-host", 1), ("sum-host", 3), ("mean-host", 2)):
    got = {g["labels"]["host"]: g["value"] for g in rules[name]["groups"]}
    if sorted(got) != sorted(truth):
        bad.append("%s: want hosts %s, got %s" % (name, sorted(truth), sorted(got)))
        continue
    for h in truth:
        if not close(got[h], truth[h][col]):
            bad.append("%s host %s: want %r, got %r" % (name, h, truth[h][col], got[h]))
print("; ".join(bad) if bad else "same")
'
expect_eq "count, mean and sum equal InfluxDB's, overall and per host" same \
    "$(python3 -c "$cmp_py" "$out" "$all" "$per")"
expect_eq "GROUP BY host yields the five series once each" 5 \
    "$(jq_get "$out" '[len(r["groups"]) for r in d["rules"] if r["rule"] == "count-host"][0]')"

# wavegate query: the tables themselves, merged from the 1000-row chunks
"$WG" query --config "$WG_TMP/wg.yaml" --wave w --feature f --rule count-host \
    --deploy-time "$T" --format json > "$WG_TMP/query.json" 2>"$WG_TMP/stderr"
expect_eq "query exits 0" 0 "$?"
qget() { python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' \
    "$WG_TMP/query.json" "$1"; }
expect_eq "query: 50,000 rows in total" 50000 "$(qget 'sum(len(t["rows"]) for t in d["tables"])')"
expect_eq "query: the partial chunks merged into one table per host" 5 "$(qget 'len(d["tables"])')"
expect_eq "query: the hosts' rows" "h0:10000,h1:10000,h2:10000,h3:10000,h4:10000" \
    "$(qget '",".join("%s:%d" % (h, sum(len(t["rows"]) for t in d["tables"] if t["labels"]["host"] == h)) for h in sorted(set(t["labels"]["host"] for t in d["tables"])))')"

bout=$("$WG" query --config "$WG_TMP/wg.yaml" --wave w --feature f --rule big --deploy-time "$T" \
    --format json 2>"$WG_TMP/stderr")
expect_eq "big integers: query exits 0" 0 "$?"
expect_eq "integers beyond 2^53 stay exact" "9007199254740993,-9223372036854775807" \
    "$(jq_get "$bout" '",".join(str(r[1]) for r in d["tables"][0]["rows"])')"
expect_match "the digits are in the JSON text itself" '9007199254740993[^0-9]' "$bout"

finish

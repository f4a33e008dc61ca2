#!/usr/bin/env bash
# test_hostile_influx.sh — the real `wavegate check` against a hostile stand-in InfluxDB
# (tests/peers/influx_peer.py): every answer cut at every byte (Flux CSV, InfluxQL JSON,
# InfluxQL chunked, JSON Lines; framed by close, Content-Length, clean chunks, a short length or
# aborted chunks), a drip slower than the timeout, a reset, a gzip bomb, endless chunks, errors
# inside a 200, NaN/Inf, mixed types, 100k series, redirects. A broken answer never exits 0
# (3 could not evaluate, 2 inconclusive, 1 fail); the intact answer exits 0, so the test can fail.
set -uo pipefail
source "$(dirname "$0")/lib.sh"
WG=${WG_BIN:?WG_BIN must point at the wavegate binary}
PEERS=${WG_PEERS:-$(cd "$(dirname "$0")/../peers" && pwd)}


# ---- the answers: small and whole (value 42 passes max 100; a cut "4" would pass too) ---------
python3 - "$WG_TMP" <<'PY'
import base64, gzip, json, os, sys
tmp = sys.argv[1]
FLUX = ("#datatype,string,long,dateTime:RFC3339,double\r\n#group,false,false,false,false\r\n"
        "#default,_result,,,\r\n,result,table,_time,_value\r\n"
        ",,0,2024-05-01T12:05:00Z,42\r\n\r\n")
IQL = ('{"results":[{"statement_id":0,"series":[{"name":"cpu","columns":["time","v"],'
       '"values":[[1714565100000000000,42]]}]}]}\n')
IQLC = ('{"results":[{"statement_id":0,"series":[{"name":"cpu","columns":["time","v"],'
        '"values":[[1714565100000000000,41]],"partial":true}],"partial":true}]}\n'
        '{"results":[{"statement_id":0,"series":[{"name":"cpu","columns":["time","v"],'
        '"values":[[1714565160000000000,42]]}]}]}\n')
JSONL = '{"host":"a","time":"2024-05-01T12:05:00","v":42}\n'
answers = {"flux": FLUX, "iql": IQL, "iqlc": IQLC, "jsonl": JSONL}
for k, v in answers.items():
    open(os.path.join(tmp, k + ".len"), "w").write(str(len(v.encode())))
open(os.path.join(tmp, "iqlc.first"), "w").write(str(IQLC.index("\n") + 1))
csv = {"Content-Type": "text/csv; charset=utf-8"}
js = {"Content-Type": "application/json"}
jl = {"Content-Type": "application/jsonl"}
ctype = {"flux": csv, "iql": js, "iqlc": js, "jsonl": jl}
def r(body, headers, **kw):
    d = {"status": 200, "headers": headers, "body": body}
    d.update(kw)
    return d
def route(prefix, *resps):
    return {"path_prefix": "/" + prefix + "/", "responses": list(resps)}
routes = [route(k, r(v, ctype[k], cut_from_path=True)) for k, v in answers.items()]
# 100k series (one point each) and one more than the default cap
def series(n):
    s = ",".join('{"name":"cpu","tags":{"host":"h%d"},"columns":["time","v"],'
                 '"values":[[1714565100000000000,%d]]}' % (i, i % 50) for i in range(n))
    return '{"results":[{"statement_id":0,"series":[' + s + ']}]}\n'
for n, name in ((100000, "s100k"), (100001, "s100k1")):
    path = os.path.join(tmp, name + ".json")
    open(path, "w").write(series(n))
    routes.append(route(name, {"status": 200, "headers": js, "body_file": path}))
bomb = gzip.compress(b"0" * (64 << 20), 9)
flux_head = FLUX[:FLUX.index(",,0,")]
routes += [
    route("drip", r(FLUX, csv, chunk_bytes=4, chunk_delay_ms=150)),
    route("dripplain", r(FLUX, csv, framing="close", chunk_bytes=4, chunk_delay_ms=150)),
    route("reset", r(FLUX, csv, reset_at=60)),
    route("resetend", r(FLUX, csv, reset_at=len(FLUX) - 2)),
    route("bomb", {"status": 200, "headers": dict(csv, **{"Content-Encoding": "gzip"}),
                   "body_b64": base64.b64encode(bomb).decode()}),
    route("endless", r(flux_head, csv, endless=",,0,2024-05-01T12:05:00Z,42\r\n")),
    route("endlessslow", r(flux_head, csv, endless=",,0,2024-05-01T12:05:00Z,42\r\n",
                           chunk_delay_ms=50)),
    route("errflux", r(FLUX[:-2] + "\r\n#datatype,string,string\r\n#group,true,true\r\n"
                       "#default,,\r\n,error,reference\r\n,query terminated: out of memory,\r\n",
                       csv)),
    route("erriql", r('{"results":[{"statement_id":0,"error":"timeout: query interrupted"}]}\n',
                      js)),
    route("errtop", r('{"error":"json: unsupported value: NaN"}\n', js)),
    route("errjsonl", r(JSONL + '{"error": "query exceeded the memory limit"}\n', jl)),
    route("nan", r(FLUX.replace(",42\r\n", ",NaN\r\n"), csv)),
    route("pinf", r(FLUX.replace(",42\r\n", ",+Inf\r\n"), csv)),
    route("ninf", r(FLUX.replace(",42\r\n", ",-Inf\r\n"), csv)),
    route("mixflux", r(FLUX + FLUX.replace("double", "string").replace(",42\r\n", ",oops\r\n")
                       .replace(",,0,", ",,1,"), csv)),
    route("mixiql", r(IQL.replace("[[1714565100000000000,42]]",
                                  '[[1714565100000000000,42],[1714565160000000000,"x"]]'), js)),
    route("booljsonl", r('{"host":"a","v":true}\n', jl)),
    route("dupiql", r(IQL.replace('["time","v"]', '["time","v","v"]')
                      .replace(",42]]", ",42,1000]]"), js)),
    route("stmt", r(IQL.replace('"statement_id":0', '"statement_id":7'), js)),
]
for code in (301, 302, 307, 308):
    routes.append(route("redir%d" % code,
                        {"status": code, "headers": {"Location": "/flux/all/length/api/v2/query"},
                         "body": ""}))
json.dump({"routes": routes}, open(os.path.join(tmp, "scenario.json"), "w"))
PY
influx_peer_start "$WG_TMP/scenario.json" || exit 1

# cfg PATH KIND [SOURCE-KEYS] [THRESHOLD] — a one-rule config whose source lives under PATH
cfg() {
    local extra=${3:-} thr=${4:-"{max: 100}"} db="database: db"
    [ "$2" != flux ] || db="org: o"
    [[ "$extra" == *timeout:* ]] || extra="$extra, timeout: 2s"
    cat > "$WG_TMP/wg.yaml" <<EOF
sources:
  s: {kind: $2, url: "$PEER_URL/$1", $db, retries: 0$extra}
waves:
  - {name: prod, env: prod, source: s}
features:
  f:
    rules:
      - {name: r, source: s, query: "q", window: 10m, threshold: $thr}
EOF
}
T=2024-05-01T12:00:00Z
run() { # sets rc, out, ms
    local t0=$(date +%s%N)
    out=$("$WG" check --config "$WG_TMP/wg.yaml" --wave prod --feature f --deploy-time "$T" \
        --format json 2>"$WG_TMP/stderr")
    rc=$?
    ms=$(( ($(date +%s%N) - t0) / 1000000 ))
}
reason() { jq_get "$out" 'd["rules"][0]["reason"]' 2>/dev/null; }
kind_of() { case $1 in flux) echo flux ;; jsonl) echo sql ;; *) echo influxql ;; esac; }

# ---- the intact answers pass, in every framing --------------------------------------------
for f in flux iql iqlc jsonl; do
    for fr in length close chunked; do
        cfg "$f/all/$fr" "$(kind_of $f)"
        run
        expect_eq "$f intact ($fr): exit 0" 0 "$rc"
    done
done

# ---- cut at every byte -------------------------------------------------------------------
# Each cut point twice: framed by close (the body just stops: only the format can tell), and by
# one of the others in turn: length and chunked end cleanly too, short and abort are cut in the
# transport as well. The InfluxQL JSON bodies are whole without their last byte (the "\n" 1.x
# appends): that cut is skipped.
framings=(length chunked short abort)
for f in flux iql iqlc jsonl; do
    len=$(cat "$WG_TMP/$f.len")
    last=$((len - 1))
    case $f in iql|iqlc) last=$((len - 2)) ;; esac
    bad=""
    for n in $(seq 0 "$last"); do
        for fr in close "${framings[$((n % 4))]}"; do
            cfg "$f/$n/$fr" "$(kind_of $f)"
            run
            if [ "$rc" -eq 0 ] || [ "$rc" -gt 3 ]; then
                bad="$bad $n/$fr:rc=$rc"
            fi
        done
    done
    expect_eq "$f cut at each of bytes 0..$last: never exit 0 (cut/framing:rc listed)" "" "$bad"
done
# the reason names the cut, in each format (close framing: only the format can tell)
cfg "flux/$(( $(cat "$WG_TMP/flux.len") - 2 ))/close" flux; run
expect_match "flux cut before the final blank line: says truncated" 'truncated' "$(reason)"
cfg "iqlc/$(cat "$WG_TMP/iqlc.first")/chunked" influxql; run
expect_eq "influxql chunked, ends after a partial chunk: exit 3" 3 "$rc"
expect_match "influxql chunked partial: says so" 'still partial' "$(reason)"
cfg "jsonl/$(( $(cat "$WG_TMP/jsonl.len") - 1 ))/length" sql; run
expect_match "jsonl without its last line break: says truncated" 'truncated' "$(reason)"

# ---- a network that misbehaves ---------------------------------------------------------
cfg drip flux ", timeout: 1s"; run
expect_eq "drip (chunked) slower than the timeout: exit 3" 3 "$rc"
expect_match "drip: timed out" 'timed out|timeout' "$(reason)"
expect_eq "drip: gave up near the 1 s timeout" True "$([ "$ms" -lt 4000 ] && echo True || echo "False ($ms ms)")"
cfg dripplain flux ", timeout: 1s"; run
expect_eq "drip (no length) slower than the timeout: exit 3" 3 "$rc"
for m in reset resetend; do
    cfg $m flux; run
    expect_eq "connection reset ($m): exit 3" 3 "$rc"
done
cfg bomb flux ", compression: gzip, max_response_bytes: 1MiB"; run
expect_eq "gzip bomb (64 MiB of zeros): exit 3" 3 "$rc"
expect_match "gzip bomb: the size cap" 'larger than' "$(reason)"
cfg endless flux ", timeout: 1s, max_response_bytes: 4MiB"; run
expect_eq "endless chunks: exit 3" 3 "$rc"
expect_match "endless chunks: size cap or timeout" 'larger than|timed out' "$(reason)"
cfg endlessslow flux ", timeout: 1s"; run
expect_eq "endless slow chunks: exit 3 at the timeout" 3 "$rc"
expect_eq "endless slow chunks: within the budget" True "$([ "$ms" -lt 4000 ] && echo True || echo "False ($ms ms)")"
for code in 301 302 307 308; do
    cfg "redir$code" flux; run
    expect_eq "redirect $code is not followed: exit 3" 3 "$rc"
done

# ---- answers that are not data -------------------------------------------------------------
cfg errflux flux; run
expect_eq "Flux error table after data in a 200: exit 3" 3 "$rc"
expect_match "Flux error table: the message" 'out of memory' "$(reason)"
cfg erriql influxql; run
expect_eq "InfluxQL statement error in a 200: exit 3" 3 "$rc"
cfg errtop influxql; run
expect_eq "InfluxQL top-level error in a 200: exit 3" 3 "$rc"
cfg errjsonl sql; run
expect_eq "JSON Lines error line after data: exit 3" 3 "$rc"
expect_match "JSON Lines error line: the message" 'memory limit' "$(reason)"
cfg nan flux; run
expect_eq "NaN value: could not evaluate or inconclusive (3 or 2)" True \
    "$([ "$rc" -eq 3 ] || [ "$rc" -eq 2 ] && echo True || echo "False ($rc)")"
cfg pinf flux; run
expect_eq "+Inf value, max 100: not a pass" True "$([ "$rc" -ne 0 ] && echo True || echo "False ($rc)")"
cfg ninf flux "" "{min: 0}"; run
expect_eq "-Inf value, min 0: not a pass" True "$([ "$rc" -ne 0 ] && echo True || echo "False ($rc)")"
cfg mixflux flux; run
expect_eq "mixed types (a string _value table): exit 3" 3 "$rc"
cfg mixiql influxql; run
expect_eq "mixed types (a string among numbers): exit 3" 3 "$rc"
cfg booljsonl sql; run
expect_eq "boolean value column: exit 3" 3 "$rc"
expect_match "boolean: says so" 'boolean value in a numeric rule' "$(reason)"
cfg dupiql influxql; run
expect_eq "duplicate column names: exit 3" 3 "$rc"
cfg stmt influxql; run
expect_eq "statement_id other than the one sent: exit 3" 3 "$rc"

# ---- many series -------------------------------------------------------------------------
cfg s100k1 influxql ", timeout: 10s"; run
expect_eq "100,001 series (default max_series 100000): exit 3" 3 "$rc"
expect_match "100,001 series: names the cap" 'max_series' "$(reason)"
cfg s100k influxql ", timeout: 10s"; run
expect_eq "100,000 series: judged (exit 0)" 0 "$rc"
expect_eq "100,000 series: well within the 10 s timeout" True "$([ "$ms" -lt 8000 ] && echo True || echo "False ($ms ms)")"
echo "# 100k series: ${ms} ms"
cfg s100k influxql ", timeout: 10s, max_series: 1000"; run
expect_eq "100,000 series, max_series 1000: exit 3" 3 "$rc"
expect_match "max_series 1000: names the cap" 'more than 1000 series' "$(reason)"

finish

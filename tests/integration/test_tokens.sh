#!/usr/bin/env bash
# test_tokens.sh — the read and admin tokens of `serve` over real HTTP: the role table (the read
# token answers the gate, Flagger and the lists but may not create or delete a silence or post
# an event: 403; admin may), 401 + WWW-Authenticate, several tokens per role, Basic auth on the
# pages, token files re-read without SIGHUP (atomic rename, and Kubernetes' `..data` symlink
# swap: the new token works within a bound, the old one is refused), an emptied or deleted file
# keeping the last good tokens, the deprecated single token, and no token in any output.
set -uo pipefail
source "$(dirname "$0")/lib.sh"
WG=${WG_BIN:?WG_BIN must point at the wavegate binary}
SRC=${WG_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}

rnd() { printf '%s-%s' "$1" "$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')"; }
R1=$(rnd wgtok-read1); R2=$(rnd wgtok-read2); R3=$(rnd wgtok-read3)
A1=$(rnd wgtok-admin1); A2=$(rnd wgtok-admin2)
export WG_TK_READ_ENV=$(rnd wgtok-readenv)
tokens=("$R1" "$R2" "$R3" "$A1" "$A2" "$WG_TK_READ_ENV")

# The read tokens as a Kubernetes Secret volume lays them out: read-tokens -> ..data/read-tokens,
# ..data -> ..<timestamp> (kubelet's atomic writer swaps ..data). The admin tokens are a plain
# file replaced by rename.
SEC="$WG_TMP/secret"
mkdir -p "$SEC/..2026_12_01_00_00_00.1"
printf '# read tokens, one a line\n%s\n%s\n' "$R1" "$R3" > "$SEC/..2026_12_01_00_00_00.1/read-tokens"
ln -s ..2026_12_01_00_00_00.1 "$SEC/..data"
ln -s ..data/read-tokens "$SEC/read-tokens"
printf '%s\n' "$A1" > "$WG_TMP/admin-tokens"

DEAD=$(free_port)
cfg="$WG_TMP/wavegate.yaml"
cat > "$cfg" <<YAML
sources:
  local: {kind: influxql, url: "http://127.0.0.1:$DEAD", database: telemetry, timeout: 1s}
waves:
  - {name: staging, env: staging, source: local}
features:
  checkout:
    rules:
      - name: error-rate
        query: >-
          SELECT sum("errors") * 100 / sum("requests") AS "pct" FROM "http"
          WHERE "env" = {{ env }} AND time >= {{ start }} AND time < {{ end }}
        window: 10m
        threshold: {max: 0.1}
state_dir: $WG_TMP/state
server:
  listen: 127.0.0.1:0
  cache_ttl: 0s
  drain_timeout: 2s
  auth:
    read_tokens_file: $SEC/read-tokens
    admin_tokens_file: $WG_TMP/admin-tokens
    read_token_env: WG_TK_READ_ENV
alerting:
  receivers:
    - {name: hook, kind: webhook, url: 'http://127.0.0.1:$DEAD/hook'}
  route: {receiver: hook}
YAML
"$WG" validate --config "$cfg" > "$WG_TMP/out.validate" 2>&1
expect_eq "validate accepts server.auth" 0 "$?"

SERVE_PID=
wg_on_exit serve_stop
serve_start "$cfg" --log-level debug || exit 1

# hit TOKEN METHOD PATH [BODY] — the status; body in $WG_TMP/last, headers in last.hdr (both
# also appended to out.answers, searched for tokens at the end)
hit() {
    local tok=$1 m=$2 p=$3 auth=() data=()
    [ -n "$tok" ] && auth=(-H "Authorization: Bearer $tok")
    [ $# -ge 4 ] && data=(-H 'Content-Type: application/json' --data-binary "$4")
    curl -s -o "$WG_TMP/last" -D "$WG_TMP/last.hdr" -w '%{http_code}' -X "$m" \
        "${auth[@]}" "${data[@]}" "$BASE$p"
    cat "$WG_TMP/last.hdr" "$WG_TMP/last" >> "$WG_TMP/out.answers"
}
hdr() { tr -d '\r' < "$WG_TMP/last.hdr" | sed -n "s/^$1: //Ip" | head -1; }
body() { cat "$WG_TMP/last"; }
G="/v1/gate?wave=staging&feature=checkout&deploy_time=2026-12-01T00:00:00Z"
SIL='{"matchers":[{"name":"alertname","value":"Never","isRegex":false,"isEqual":true}],"endsAt":"2100-01-01T00:00:00Z","createdBy":"test","comment":"tokens"}'

# ---- 401: missing or wrong token ------------------------------------------------------------
expect_eq "no token: 401" 401 "$(hit '' GET "$G")"
expect_eq "no token: WWW-Authenticate Bearer" 'Bearer realm="wavegate"' "$(hdr WWW-Authenticate)"
expect_match "401 body is {\"error\": ...}" '"error": *"unauthorized' "$(body)"
expect_eq "wrong token: 401" 401 "$(hit "${R1}x" GET "$G")"
expect_eq "wrong token: invalid_token" 'Bearer realm="wavegate", error="invalid_token"' \
    "$(hdr WWW-Authenticate)"

# ---- read: the gate, Flagger, the lists --------------------------------------------------------
expect_eq "read token: /v1/gate answers" 200 "$(hit "$R1" GET "$G")"
expect_eq "second read token of the file: /v1/gate answers" 200 "$(hit "$R3" GET "$G")"
expect_eq "read token from the environment: /v1/gate answers" 200 "$(hit "$WG_TK_READ_ENV" GET "$G")"
expect_eq "admin token: read routes too" 200 "$(hit "$A1" GET "$G")"
expect_eq "read token: GET /v1/silences" 200 "$(hit "$R1" GET /v1/silences)"
expect_eq "read token: GET /v1/events" 200 "$(hit "$R1" GET /v1/events)"
fl="{\"name\":\"checkout\",\"namespace\":\"shop\",\"phase\":\"Progressing\",\"checksum\":\"c1\",\"metadata\":{\"token\":\"$R1\",\"deploy_time\":\"2026-12-01T00:00:00Z\"}}"
code=$(hit '' POST "/v1/flagger/confirm-rollout?wave=staging&feature=checkout" "$fl")
# (the source is down: Flagger hears "not now", which is not an auth answer)
expect_match "Flagger with the read token in metadata.token is answered (not 401/403)" \
    '^(200|40[0-2]|40[4-9]|4[1-9][0-9]|5[0-9][0-9])$' "$code"
expect_eq "Flagger with a wrong metadata.token: 401" 401 \
    "$(hit '' POST "/v1/flagger/confirm-rollout?wave=staging&feature=checkout" "${fl//$R1/${R1}x}")"

# ---- admin only: silences and events ------------------------------------------------------------
expect_eq "read token cannot create a silence: 403" 403 "$(hit "$R1" POST /v1/silences "$SIL")"
expect_match "403 body is {\"error\": ...} naming the admin token" '"error": *"forbidden.*admin' "$(body)"
expect_eq "admin token creates a silence" 200 "$(hit "$A1" POST /v1/silences "$SIL")"
sid=$(jq_get "$(body)" 'd["silenceID"]')
expect_eq "read token cannot delete a silence: 403" 403 "$(hit "$R1" DELETE "/v1/silences/$sid")"
expect_eq "no token cannot delete a silence: 401" 401 "$(hit '' DELETE "/v1/silences/$sid")"
expect_eq "admin token deletes the silence" 200 "$(hit "$A1" DELETE "/v1/silences/$sid")"
expect_eq "read token cannot post an event: 403" 403 \
    "$(hit "$R1" POST /v1/events '{"kind":"deploy","wave":"staging"}')"
expect_eq "read token cannot post an Unleash event: 403" 403 \
    "$(hit "$R1" POST /v1/events/unleash '{}')"
fe="{\"name\":\"checkout\",\"namespace\":\"shop\",\"phase\":\"Succeeded\",\"checksum\":\"c1\",\"metadata\":{\"token\":\"$R1\",\"wave\":\"staging\"}}"
expect_eq "read token in a Flagger event's metadata.token: 403 (known token, wrong role)" 403 \
    "$(hit '' POST /v1/events/flagger "$fe")"
expect_match "the Flagger 403 body names the admin token" '"error": *"forbidden.*admin' "$(body)"
expect_eq "wrong token in a Flagger event's metadata.token: 401" 401 \
    "$(hit '' POST /v1/events/flagger "${fe//$R1/${R1}x}")"
expect_match "admin token in a Flagger event's metadata.token is accepted (not 401/403)" \
    '^(2[0-9][0-9]|40[0245-9]|4[1-9][0-9]|5[0-9][0-9])$' "$(hit '' POST /v1/events/flagger "${fe//$R1/$A1}")"

# ---- pages: Basic auth for browsers ---------------------------------------------------------------
expect_eq "page without credentials: 401" 401 "$(hit '' GET /)"
expect_eq "page: Basic challenge (the browser prompts)" 'Basic realm="wavegate"' "$(hdr WWW-Authenticate)"
basic() {
    curl -s -o "$WG_TMP/out.basic" -w '%{http_code}' -u "$1" "$BASE$2"
    cat "$WG_TMP/out.basic" >> "$WG_TMP/out.answers"
}
expect_eq "page with Basic (any user, read token as password)" 200 "$(basic "anyone:$R1" /)"
expect_match "the page is HTML" '<html|<!DOCTYPE' "$(head -c 300 "$WG_TMP/out.basic")"
expect_eq "page with Basic, empty user name" 200 "$(basic ":$R3" /)"
expect_eq "page with Basic, wrong password: 401" 401 "$(basic "anyone:${R1}x" /)"
expect_eq "page with Bearer" 200 "$(hit "$R1" GET /)"
expect_eq "/ui/* with Basic (unknown evaluation: 404 after auth)" 404 \
    "$(basic "u:$R1" /ui/evaluations/0123456789abcdef0123456789abcdef)"
expect_eq "/ui/* without credentials: 401" 401 "$(hit '' GET /ui/evaluations/0123456789abcdef0123456789abcdef)"
expect_eq "Basic is for the pages only: /v1/gate 401" 401 "$(basic "u:$R1" "$G")"

# ---- rotation without SIGHUP -------------------------------------------------------------------
# poll_token SECS TOKEN WANT — until the gate answers WANT for TOKEN; prints the seconds it took
poll_token() {
    local t0 now deadline
    t0=$(date +%s.%N); deadline=$(( $(date +%s) + $1 ))
    until [ "$(hit "$2" GET "$G")" = "$3" ]; do
        [ "$(date +%s)" -lt "$deadline" ] || { echo timeout; return 1; }
        sleep 0.05
    done
    now=$(date +%s.%N)
    python3 -c "print('%.2f' % ($now - $t0))"
}
expect_eq "R2 is not a token yet" 401 "$(hit "$R2" GET "$G")"
# Kubernetes: a new ..<timestamp> dir, then ..data swapped by rename (the atomic writer)
mkdir "$SEC/..2026_12_01_00_05_00.2"
printf '%s\n' "$R2" > "$SEC/..2026_12_01_00_05_00.2/read-tokens"
ln -s ..2026_12_01_00_05_00.2 "$SEC/..data_tmp"
mv -T "$SEC/..data_tmp" "$SEC/..data"
rm -rf "$SEC/..2026_12_01_00_00_00.1"
took=$(poll_token 5 "$R2" 200)
expect_match "..data swap: the new read token works within 5 s" '^[0-9.]+$' "$took"
echo "# ..data swap: new read token accepted after ${took} s"
expect_eq "..data swap: the old read token is refused" 401 "$(hit "$R1" GET "$G")"
expect_eq "..data swap: the env read token still works" 200 "$(hit "$WG_TK_READ_ENV" GET "$G")"
# atomic rename of the admin file: both tokens during the overlap, then only the new one
printf '%s\n%s\n' "$A1" "$A2" > "$WG_TMP/admin-tokens.new"
mv "$WG_TMP/admin-tokens.new" "$WG_TMP/admin-tokens"
took=$(poll_token 5 "$A2" 200)
expect_match "rename: the new admin token works within 5 s" '^[0-9.]+$' "$took"
echo "# rename: new admin token accepted after ${took} s"
expect_eq "overlap: the old admin token still works" 200 "$(hit "$A1" POST /v1/silences "$SIL")"
printf '%s\n' "$A2" > "$WG_TMP/admin-tokens.new"
mv "$WG_TMP/admin-tokens.new" "$WG_TMP/admin-tokens"
took=$(poll_token 5 "$A1" 401)
expect_match "rename: the old admin token is refused within 5 s" '^[0-9.]+$' "$took"
expect_eq "the new admin token may delete" 200 "$(hit "$A2" POST /v1/silences "$SIL")"

# poll_log SECS REGEX — asks (the files are looked at on request) until serve.log matches
poll_log() {
    local deadline=$(( $(date +%s) + $1 ))
    until grep -q "$2" "$WG_TMP/serve.log"; do
        [ "$(date +%s)" -lt "$deadline" ] || return 1
        hit "$A2" GET "$G" > /dev/null
        sleep 0.05
    done
}
# ---- a file that goes bad keeps the last good tokens (never "no auth") --------------------------
: > "$WG_TMP/admin-tokens.new"
mv "$WG_TMP/admin-tokens.new" "$WG_TMP/admin-tokens"
poll_log 5 'admin_tokens_file.*no token in it.*keeping the 1 token'
expect_eq "emptied admin file: warned" 0 "$?"
expect_eq "emptied admin file: the last good admin token still works" 200 \
    "$(hit "$A2" POST /v1/silences "$SIL")"
expect_eq "emptied admin file: still no access without a token" 401 "$(hit '' GET "$G")"
rm -f "$SEC/..data"
poll_log 5 'read_tokens_file.*No such file.*keeping the 1 token'
expect_eq "deleted read file: warned" 0 "$?"
expect_eq "deleted read file: the last good read token still works" 200 "$(hit "$R2" GET "$G")"
ln -s ..2026_12_01_00_05_00.2 "$SEC/..data"
poll_log 5 'read_tokens_file readable again'
expect_eq "read file back: logged" 0 "$?"
hit "" GET /metrics > /dev/null
serve_stop
cp "$WG_TMP/serve.log" "$WG_TMP/out.serve-main.log"

# ---- config: the deprecated single token, and mixing it with auth ----------------------------------
export WG_TK_OLD=$(rnd wgtok-old)
tokens+=("$WG_TK_OLD")
old="$WG_TMP/old.yaml"
sed '/^  auth:/,/^    read_token_env/d; s/^  drain_timeout: 2s/  drain_timeout: 2s\n  bearer_token_env: WG_TK_OLD/' "$cfg" > "$old"
"$WG" validate --config "$old" > "$WG_TMP/out.validate-old" 2>&1
expect_eq "deprecated bearer_token_env still validates" 0 "$?"
expect_match "deprecated bearer_token_env: warned at file:line:col naming the new keys" \
    "old.yaml:[0-9]+:[0-9]+: warning: server.bearer_token_env: .*deprecated.*server.auth.read_tokens_file.*server.auth.admin_tokens_file" \
    "$(cat "$WG_TMP/out.validate-old")"
serve_start "$old" || exit 1
expect_eq "deprecated token: reads" 200 "$(hit "$WG_TK_OLD" GET "$G")"
expect_eq "deprecated token: is admin (creates a silence)" 200 "$(hit "$WG_TK_OLD" POST /v1/silences "$SIL")"
expect_eq "deprecated token: others refused" 401 "$(hit "${WG_TK_OLD}x" GET "$G")"
serve_stop
cp "$WG_TMP/serve.log" "$WG_TMP/out.serve-old.log"
both="$WG_TMP/both.yaml"
sed 's/^  drain_timeout: 2s/  drain_timeout: 2s\n  bearer_token_env: WG_TK_OLD/' "$cfg" > "$both"
"$WG" validate --config "$both" > "$WG_TMP/out.validate-both" 2>&1
expect_eq "bearer_token_env with server.auth: config error (exit 78)" 78 "$?"
expect_match "the error is file:line:col: key: message naming the new keys" \
    "both.yaml:[0-9]+:[0-9]+: server.bearer_token_env: replaced by server.auth.admin_tokens_file" \
    "$(cat "$WG_TMP/out.validate-both")"
bad="$WG_TMP/bad.yaml"
sed 's/read_tokens_file:/read_token_file:/' "$cfg" > "$bad"
"$WG" validate --config "$bad" > "$WG_TMP/out.validate-bad" 2>&1
expect_match "a misspelt auth key lists the allowed ones" \
    "server.auth.read_token_file: unknown key.*read_tokens_file, admin_tokens_file" "$(cat "$WG_TMP/out.validate-bad")"
: > "$WG_TMP/empty"
sed "s|admin_tokens_file: .*|admin_tokens_file: $WG_TMP/empty|" "$cfg" > "$bad"
timeout 20 "$WG" serve --config "$bad" > "$WG_TMP/out.serve-empty" 2>&1
expect_eq "an empty token file at start: config exit (78)" 78 "$?"
expect_match "...naming the key" 'server.auth.admin_tokens_file: .*empty' "$(cat "$WG_TMP/out.serve-empty")"

# ---- no token in anything written or answered ------------------------------------------------------
leaks=""
for s in "${tokens[@]}"; do
    for f in "$WG_TMP"/out.* "$WG_TMP/serve.log"; do
        grep -qF -- "$s" "$f" && leaks+="${s:0:14}... in $(basename "$f")"$'\n'
    done
done
echo "# searched $(ls "$WG_TMP"/out.* | wc -l) outputs + serve logs for ${#tokens[@]} tokens"
expect_eq "no token in any log, answer or error" "" "$leaks"
expect_eq "the search works: it finds a token where it belongs (the Secret's file)" 1 \
    "$(grep -qF -- "$R2" "$SEC/..2026_12_01_00_05_00.2/read-tokens" && echo 1)"
finish

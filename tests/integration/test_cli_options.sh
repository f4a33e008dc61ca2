#!/usr/bin/env bash
# test_cli_options.sh — every command takes only its own options: an option the command does
# not use (check --rule, validate --wave, ...) or a --wait option without --wait (check
# --failure-limit 3) is a usage error (exit 64) naming the option and the command, never
# silently ignored. No server needed: usage errors come before any query.
set -uo pipefail
source "$(dirname "$0")/lib.sh"
WG=${WG_BIN:?WG_BIN must point at the wavegate binary}

cfg="$WG_TMP/wavegate.yaml"
printf 'state_dir: %s/state\nsources:\n  db: {url: "http://127.0.0.1:9", database: d}\n' \
    "$WG_TMP" > "$cfg"
printf 'waves: [{name: staging, source: db}]\n' >> "$cfg"

run() { out=$("$WG" "$@" 2>"$WG_TMP/stderr"); rc=$?; err=$(cat "$WG_TMP/stderr"); }

# reject "COMMAND WORDS" OPTION-AS-NAMED ARGS... — exit 64, stderr names option and command
reject() {
    local cmd=$1 named=$2; shift 2
    run "$@"
    expect_eq "$cmd rejects $named: exit 64" 64 "$rc"
    expect_match "$cmd rejects $named: names the option and the command" \
        "wavegate $cmd: .*$named" "$err"
}

C=(--config "$cfg")
# check: options of other commands, unknown ones, --wait options without --wait
reject check --rule check "${C[@]}" --wave staging --rule foo
reject check --rule check "${C[@]}" --wave staging -r foo
reject check --baseline check "${C[@]}" --wave staging --baseline
reject check --id check "${C[@]}" --wave staging --id 3
reject check --bogus check "${C[@]}" --wave staging --bogus
for o in "--interval 1m" "--count 3" "--count=3" "--duration 5m" "--failure-limit 3" \
    "--consecutive-failures 2" "--inconclusive-limit 1" "--error-limit 2"; do
    name=${o%% *}; name=${name%%=*}
    # shellcheck disable=SC2086
    reject check "$name only applies with --wait" check "${C[@]}" --wave staging $o
done
reject check "--count and --duration" check "${C[@]}" --wave staging --wait --count 2 \
    --duration 5m
# validate
for o in "--wave staging" "--format json" "--state-dir /tmp" "--deploy-time now" "--wait"; do
    # shellcheck disable=SC2086
    reject validate "${o%% *}" validate "${C[@]}" $o
done
# query
for o in "--wait" "--id 1" "--state-dir /tmp" "--count 2" "--failure-limit 1"; do
    # shellcheck disable=SC2086
    reject query "${o%% *}" query "${C[@]}" --wave staging --feature f --rule r $o
done
# history list / invalidate
for o in "--id 1" "--format json" "--deploy-time now" "--wait"; do
    # shellcheck disable=SC2086
    reject "history list" "${o%% *}" history list "${C[@]}" $o
done
for o in "--format json" "--now now" "--baseline"; do
    # shellcheck disable=SC2086
    reject "history invalidate" "${o%% *}" history invalidate "${C[@]}" --id 1 $o
done
# serve
reject serve --wave serve "${C[@]}" --wave staging
reject serve --bogus serve "${C[@]}" --bogus
reject serve "unexpected argument extra" serve "${C[@]}" extra
# alert / silence
reject "alert test" --wave alert test "${C[@]}" --receiver r --wave staging
reject "alert bench" --config alert bench --url http://127.0.0.1:9 --config "$cfg"
reject "silence add" --wave silence add --state-dir "$WG_TMP/s" --duration 1h \
    'alertname="x"' --wave staging
reject "silence list" --duration silence list --state-dir "$WG_TMP/s" --duration 1h
reject "silence list" "unexpected argument extra" silence list --state-dir "$WG_TMP/s" extra
reject "silence expire" "unexpected argument two" silence expire --state-dir "$WG_TMP/s" one two
reject "silence expire" --bogus silence expire --state-dir "$WG_TMP/s" --bogus x

# the options a command does take still work
run validate "${C[@]}"
expect_eq "validate --config: exit 0" 0 "$rc"
run check "${C[@]}" --wave staging --wait --count 1 --interval 1s --failure-limit 3
expect_eq "check --wait with its options runs (nothing judged: 2)" 2 "$rc"
run check "${C[@]}" --wave staging --now now --state-dir "$WG_TMP/state" --format json
expect_eq "check with its own options runs (nothing judged: 2)" 2 "$rc"
run history list "${C[@]}" --feature f --rule r --wave staging
expect_eq "history list with its options: exit 0" 0 "$rc"
run silence list --state-dir "$WG_TMP/s"
expect_eq "silence list --state-dir: exit 0" 0 "$rc"
run check --help
expect_eq "check --help: exit 0" 0 "$rc"

finish

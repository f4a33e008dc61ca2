#!/usr/bin/env bash
# test_state_dir.sh — one state directory, decided once: the top-level state_dir holds the
# silences the CLI writes and the analyses store serve opens; server.state_dir is a config error
# saying where it moved; a config that does not load never sends `silence` to a default
# directory the daemon does not read (exit 78, nothing created).
set -uo pipefail
source "$(dirname "$0")/lib.sh"
WG=${WG_BIN:?WG_BIN must point at the wavegate binary}

cfg="$WG_TMP/wavegate.yaml"
{ dead_source_yaml; cat <<YAML
state_dir: $WG_TMP/one
alerting:
  receivers: [{name: hook, kind: webhook, url: 'http://127.0.0.1:9/hook'}]
  route: {receiver: hook}
server:
  listen: 127.0.0.1:0
YAML
} > "$cfg"
mkdir -p "$WG_TMP/cwd"
cd "$WG_TMP/cwd" || exit 1

out=$("$WG" silence add --config "$cfg" --duration 1h --comment t 'alertname="x"' 2>&1)
expect_eq "silence add --config: exit 0" 0 "$?"
expect_eq "the silence is in the top-level state_dir" 1 "$([ -f "$WG_TMP/one/alerting.db" ] && echo 1)"
out=$("$WG" silence list --config "$cfg" 2>&1)
expect_match "silence list reads it back from the same directory" '"comment": *"t"' "$out"

serve_start "$cfg" || exit 1
wg_on_exit serve_stop
expect_eq "serve opens its analyses under the same state_dir" 1 \
    "$([ -d "$WG_TMP/one" ] && [ ! -e "$WG_TMP/cwd/.wavegate" ] && echo 1)"
serve_stop

# server.state_dir moved
sed "s|^server:|server:\n  state_dir: $WG_TMP/two|" "$cfg" > "$WG_TMP/moved.yaml"
out=$("$WG" validate --config "$WG_TMP/moved.yaml" 2>&1)
rc=$?
expect_eq "server.state_dir: exit 78 and where it moved" \
    "78 $WG_TMP/moved.yaml:16:14: server.state_dir: moved to the top-level state_dir" \
    "$rc $(grep -m1 'state_dir' <<<"$out")"

# a config that does not load: no silence anywhere, least of all ./.wavegate
out=$("$WG" silence add --config "$WG_TMP/moved.yaml" --duration 1h 'alertname="y"' 2>&1)
rc=$?
expect_eq "silence add with a broken config: exit 78, nothing written" "78 0" \
    "$rc $(ls -A "$WG_TMP/cwd" | wc -l)"
expect_match "and the config error is shown" 'server.state_dir: moved' "$out"
finish

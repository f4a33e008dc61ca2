#!/usr/bin/env bash
# test_replicas_pg.sh — wavegate on a real PostgreSQL: a throwaway cluster on loopback, then the
# store seam's unit cases against it (binds, transactions, migrations refused when newer,
# reconnect). Skips (77) when PostgreSQL is not installed outside CI.
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
        echo "ok: $name"
        WG_PASSES=$((WG_PASSES + 1))
    else
        echo "FAIL: $name"; sed 's/^/    /' "$WG_TMP/$name.log"
        WG_FAILS=$((WG_FAILS + 1))
    fi
}

check store_seam env WG_TEST_PG_DSN="$PG_DSN" "$tests/test_common_store_sql"

echo "passed $WG_PASSES, failed $WG_FAILS"
[ "$WG_FAILS" -eq 0 ]

# pg_lib.sh — a throwaway PostgreSQL cluster for the tests: initdb into $WG_TMP, pg_ctl start
# on 127.0.0.1 with a free port (as the postgres user when running as root), stopped on exit.
# Source after lib.sh; pg_start sets PG_DSN, PG_PORT; pg_restart and pg_stop for fault tests.
# fsync is off (tests) unless PG_FSYNC=on (benchmarks that compare with SQLite's fsyncs).

pg_bin() {
    local d
    for d in /usr/lib/postgresql/*/bin; do
        [ -x "$d/initdb" ] && { echo "$d"; return 0; }
    done
    return 1
}

_pg_as() { # run a command as the cluster's owner
    if [ "$(id -u)" -eq 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

pg_start() {
    PG_BIN=$(pg_bin) || { echo "postgresql not installed: apt-get install -y postgresql" >&2; return 1; }
    PG_HOME="$WG_TMP/pg" # data, socket and log, all owned by the cluster's user
    PG_DATA="$PG_HOME/data"
    PG_PORT=$(free_port)
    mkdir -p "$PG_DATA"
    if [ "$(id -u)" -eq 0 ]; then
        chown -R postgres "$PG_HOME" && chmod 755 "$WG_TMP"
    fi
    _pg_as "$PG_BIN/initdb" -D "$PG_DATA" -U wg --auth=trust -E UTF8 >"$WG_TMP/initdb.log" 2>&1 ||
        { cat "$WG_TMP/initdb.log" >&2; return 1; }
    wg_on_exit pg_stop
    pg_up || { cat "$PG_HOME/pg.log" >&2; return 1; }
    PG_DSN="host=127.0.0.1 port=$PG_PORT user=wg dbname=postgres connect_timeout=3"
    export PG_DSN PG_PORT
}

pg_up() {
    _pg_as "$PG_BIN/pg_ctl" -D "$PG_DATA" -w -t 30 -l "$PG_HOME/pg.log" \
        -o "-c listen_addresses=127.0.0.1 -p $PG_PORT -k $PG_HOME -c fsync=${PG_FSYNC:-off} -c max_connections=200" \
        start >/dev/null
}

pg_stop() {
    [ -n "${PG_DATA:-}" ] && [ -f "$PG_DATA/postmaster.pid" ] &&
        _pg_as "$PG_BIN/pg_ctl" -D "$PG_DATA" -m immediate -w stop >/dev/null 2>&1
    return 0
}

pg_restart() {
    pg_stop
    pg_up
}

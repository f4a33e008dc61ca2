/* test_common_store_sql.c — the backend-neutral store seam (wg_sql_*), the same cases on SQLite
 * and on a real PostgreSQL (WG_TEST_PG_DSN, set by tests/integration/test_replicas_pg.sh which
 * starts a throwaway cluster; skipped without it): binds and columns of every type, `?N` and
 * quoted `?`, transactions, versioned migrations refused when newer, reconnect after the
 * server dropped the session.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/store.h"

static const char *const SQ1[] = {
    "CREATE TABLE IF NOT EXISTS t(id INTEGER PRIMARY KEY, v TEXT, n INTEGER, d REAL);",
};
static const char *const SQ2[] = {
    "CREATE TABLE IF NOT EXISTS t(id INTEGER PRIMARY KEY, v TEXT, n INTEGER, d REAL);",
    "ALTER TABLE t ADD COLUMN w INTEGER NOT NULL DEFAULT 7;",
};
static const char *const PG1[] = {
    "CREATE TABLE IF NOT EXISTS t(id BIGSERIAL PRIMARY KEY, v TEXT, n BIGINT,"
    " d DOUBLE PRECISION);",
};
static const char *const PG2[] = {
    "CREATE TABLE IF NOT EXISTS t(id BIGSERIAL PRIMARY KEY, v TEXT, n BIGINT,"
    " d DOUBLE PRECISION);",
    "ALTER TABLE t ADD COLUMN w INTEGER NOT NULL DEFAULT 7;",
};

struct fx {
    enum wg_store_backend be;
    char dir[64];
    const char *dsn;
};

static int setup_sqlite(void **state)
{
    static struct fx f;
    memset(&f, 0, sizeof(f));
    f.be = WG_STORE_SQLITE;
    snprintf(f.dir, sizeof(f.dir), "/tmp/wg-sql-XXXXXX");
    assert_non_null(mkdtemp(f.dir));
    *state = &f;
    return 0;
}

static int teardown_sqlite(void **state)
{
    struct fx *f = *state;
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
    assert_int_equal(system(cmd), 0);
    return 0;
}

static struct wg_sql *must_exec_admin(const char *dsn);

static int setup_pg(void **state)
{
    static struct fx f;
    memset(&f, 0, sizeof(f));
    f.be = WG_STORE_POSTGRES;
    f.dsn = getenv("WG_TEST_PG_DSN");
    if (!f.dsn || !*f.dsn) {
        return -1; /* no cluster: the group is skipped (main returns 77) */
    }
    struct wg_sql *c = must_exec_admin(f.dsn);
    char err[256];
    assert_int_equal(wg_sql_exec(c, "DROP TABLE IF EXISTS t; DELETE FROM wg_schema WHERE name='t'",
                                 err, sizeof(err)),
                     WG_OK);
    wg_sql_close(c);
    *state = &f;
    return 0;
}

static enum wg_err open_v(struct fx *f, int version, struct wg_sql **c, char *err, size_t n)
{
    struct wg_sql_opts o = {
        .own_session = 1,
        .backend = f->be,
        .sqlite = {.dir = f->dir,
                   .file = "t.db",
                   .create = 1,
                   .migrations = version == 1 ? SQ1 : SQ2,
                   .nmigrations = version},
        .dsn = f->dsn,
        .name = "t",
        .pg_migrations = version == 1 ? PG1 : PG2,
        .npg_migrations = version,
    };
    return wg_sql_open(&o, c, err, n);
}

/* A connection with no store of its own (version 0 of a store named "admin"). */
static struct wg_sql *must_exec_admin(const char *dsn)
{
    struct wg_sql_opts o = {
        .backend = WG_STORE_POSTGRES, .dsn = dsn, .name = "admin", .own_session = 1};
    struct wg_sql *c = NULL;
    char err[256];
    enum wg_err rc = wg_sql_open(&o, &c, err, sizeof(err));
    if (rc != WG_OK) {
        fail_msg("%s", err);
    }
    return c;
}

static void binds_and_columns(void **state)
{
    struct fx *f = *state;
    struct wg_sql *c = NULL;
    char err[512];
    assert_int_equal(open_v(f, 1, &c, err, sizeof(err)), WG_OK);
    assert_int_equal(wg_sql_backend(c), f->be);
    assert_int_equal(wg_sql_version(c), 1);
    struct wg_sql_q *q = wg_sql_query(c, "INSERT INTO t(v, n, d) VALUES (?, ?, ?)");
    wg_sql_bind_text(q, 1, "it's ?");
    wg_sql_bind_int64(q, 2, INT64_C(-9007199254740993));
    wg_sql_bind_double(q, 3, 0.1);
    assert_int_equal(wg_sql_run(q, err, sizeof(err)), WG_OK);
    assert_int_equal(wg_sql_changes(q), 1);
    wg_sql_end(q);
    q = wg_sql_query(c, "INSERT INTO t(v, n, d) VALUES (?1, ?2, NULL)");
    wg_sql_bind_null(q, 1);
    wg_sql_bind_int64(q, 2, 5);
    assert_int_equal(wg_sql_run(q, err, sizeof(err)), WG_OK);
    wg_sql_end(q);
    /* ?2 used twice, a '?' inside quotes left alone */
    q = wg_sql_query(c, "SELECT v, n, d, '?' FROM t WHERE n < ?1 OR n = ?1 OR v = ?2 ORDER BY id");
    wg_sql_bind_int64(q, 1, 5);
    wg_sql_bind_text(q, 2, "none");
    assert_int_equal(wg_sql_step(q), 1);
    assert_string_equal(wg_sql_col_text(q, 0), "it's ?");
    assert_true(wg_sql_col_int64(q, 1) == INT64_C(-9007199254740993));
    assert_true(wg_sql_col_double(q, 2) == 0.1);
    assert_string_equal(wg_sql_col_text(q, 3), "?");
    assert_int_equal(wg_sql_step(q), 1);
    assert_true(wg_sql_col_null(q, 0));
    assert_null(wg_sql_col_text(q, 0));
    assert_int_equal(wg_sql_col_int64(q, 1), 5);
    assert_true(wg_sql_col_null(q, 2));
    assert_int_equal(wg_sql_step(q), 0);
    wg_sql_end(q);
    /* an error is an error, with the backend's message */
    q = wg_sql_query(c, "SELECT nope FROM t");
    assert_int_equal(wg_sql_step(q), -1);
    assert_non_null(strstr(wg_sql_qerror(q), "nope"));
    wg_sql_end(q);
    wg_sql_close(c);
}

/* Blobs: every byte value, NUL included, a megabyte, an empty blob apart from NULL, a text
 * bound beside them, each row read back exactly (PostgreSQL: bytea, binary parameters). */
static void blobs(void **state)
{
    struct fx *f = *state;
    struct wg_sql *c = NULL;
    char err[512];
    assert_int_equal(open_v(f, 1, &c, err, sizeof(err)), WG_OK);
    assert_int_equal(wg_sql_exec(c,
                                 f->be == WG_STORE_POSTGRES
                                     ? "DROP TABLE IF EXISTS b; CREATE TABLE b(id INTEGER, x BYTEA,"
                                       " v TEXT)"
                                     : "DROP TABLE IF EXISTS b; CREATE TABLE b(id INTEGER, x BLOB,"
                                       " v TEXT)",
                                 err, sizeof(err)),
                     WG_OK);
    size_t big = 1u << 20;
    unsigned char *mb = malloc(big);
    assert_non_null(mb);
    for (size_t i = 0; i < big; i++) {
        mb[i] = (unsigned char)((i * 2654435761u) >> 13);
    }
    unsigned char all[256];
    for (int i = 0; i < 256; i++) {
        all[i] = (unsigned char)(255 - i);
    }
    const struct {
        const void *p;
        size_t n;
    } want[] = {{all, sizeof(all)}, {mb, big}, {"", 0}, {NULL, 0}};
    for (int i = 0; i < 4; i++) {
        struct wg_sql_q *q = wg_sql_query(c, "INSERT INTO b(id, x, v) VALUES (?, ?, ?)");
        wg_sql_bind_int64(q, 1, i);
        wg_sql_bind_blob(q, 2, want[i].p, want[i].n);
        wg_sql_bind_text(q, 3, "it's text");
        assert_int_equal(wg_sql_run(q, err, sizeof(err)), WG_OK);
        wg_sql_end(q);
    }
    /* read as text results (PostgreSQL: bytea in hex), then raw (binary results) */
    for (int raw = 0; raw < 2; raw++) {
        struct wg_sql_q *q = raw ? wg_sql_query_raw(c, "SELECT x, x, v, x FROM b ORDER BY id")
                                 : wg_sql_query(c, "SELECT id, x, v, x FROM b ORDER BY id");
        for (int i = 0; i < 4; i++) {
            assert_int_equal(wg_sql_step(q), 1);
            size_t n = 99, n2 = 99;
            const void *got = wg_sql_col_blob(q, 1, &n);
            const void *again = wg_sql_col_blob(q, 3, &n2);
            printf("blob %d%s: want %zu bytes%s, got %zu%s\n", i, raw ? " (raw)" : "", want[i].n,
                   want[i].p ? "" : " (NULL)", n, got ? "" : " (NULL)");
            if (!raw) {
                assert_int_equal(wg_sql_col_int64(q, 0), i);
            }
            assert_int_equal(n, want[i].n);
            assert_int_equal(n2, want[i].n);
            if (!want[i].p) {
                assert_null(got);
                assert_true(wg_sql_col_null(q, 1));
            } else {
                assert_non_null(got);
                assert_false(wg_sql_col_null(q, 1)); /* empty is not NULL */
                assert_true(n == 0 || memcmp(got, want[i].p, n) == 0);
                assert_true(n == 0 || memcmp(again, want[i].p, n) == 0);
            }
            assert_string_equal(wg_sql_col_text(q, 2), "it's text");
        }
        assert_int_equal(wg_sql_step(q), 0);
        wg_sql_end(q);
    }
    free(mb);
    assert_int_equal(wg_sql_exec(c, "DROP TABLE b", err, sizeof(err)), WG_OK);
    wg_sql_close(c);
}

/* The first column of the one row sql (no parameters) answers. */
static int64_t one_int(struct wg_sql *c, const char *sql)
{
    struct wg_sql_q *q = wg_sql_query(c, sql);
    assert_int_equal(wg_sql_step(q), 1);
    int64_t n = wg_sql_col_int64(q, 0);
    wg_sql_end(q);
    return n;
}

static int64_t rows(struct wg_sql *c)
{
    return one_int(c, "SELECT count(*) FROM t");
}

static void transactions(void **state)
{
    struct fx *f = *state;
    struct wg_sql *c = NULL;
    char err[512];
    assert_int_equal(open_v(f, 1, &c, err, sizeof(err)), WG_OK);
    int64_t before = rows(c);
    assert_int_equal(wg_sql_begin(c, 1, err, sizeof(err)), WG_OK);
    assert_int_equal(wg_sql_exec(c, "INSERT INTO t(v) VALUES ('a')", err, sizeof(err)), WG_OK);
    wg_sql_rollback(c);
    assert_int_equal(rows(c), before);
    wg_sql_rollback(c); /* none open: harmless */
    assert_int_equal(wg_sql_begin(c, 1, err, sizeof(err)), WG_OK);
    assert_int_equal(wg_sql_exec(c, "INSERT INTO t(v) VALUES ('b')", err, sizeof(err)), WG_OK);
    assert_int_equal(wg_sql_commit(c, err, sizeof(err)), WG_OK);
    assert_int_equal(rows(c), before + 1);
    /* a failed statement inside, then commit: nothing half-done stays, no transaction left */
    assert_int_equal(wg_sql_begin(c, 1, err, sizeof(err)), WG_OK);
    assert_int_equal(wg_sql_exec(c, "INSERT INTO t(v) VALUES ('c')", err, sizeof(err)), WG_OK);
    assert_int_equal(wg_sql_exec(c, "INSERT INTO nope VALUES (1)", err, sizeof(err)), WG_EIO);
    wg_sql_rollback(c);
    assert_int_equal(rows(c), before + 1);
    assert_int_equal(wg_sql_begin(c, 1, err, sizeof(err)), WG_OK); /* none was left open */
    wg_sql_rollback(c);
    wg_sql_close(c);
}

static void migrations(void **state)
{
    struct fx *f = *state;
    struct wg_sql *c = NULL;
    char err[512];
    assert_int_equal(open_v(f, 1, &c, err, sizeof(err)), WG_OK);
    assert_int_equal(wg_sql_exec(c, "INSERT INTO t(v) VALUES ('kept')", err, sizeof(err)), WG_OK);
    wg_sql_close(c);
    assert_int_equal(open_v(f, 2, &c, err, sizeof(err)), WG_OK);
    assert_int_equal(wg_sql_version(c), 2);
    struct wg_sql_q *q = wg_sql_query(c, "SELECT w FROM t WHERE v = 'kept'");
    assert_int_equal(wg_sql_step(q), 1);
    assert_int_equal(wg_sql_col_int64(q, 0), 7);
    wg_sql_end(q);
    wg_sql_close(c);
    /* the database is newer than this binary: refused, with a clear error */
    c = NULL;
    assert_int_equal(open_v(f, 1, &c, err, sizeof(err)), WG_EIO);
    assert_null(c);
    assert_non_null(strstr(err, "newer than this wavegate knows"));
}

/* The server drops the session (as a restart does): the next call reconnects. */
static void reconnects(void **state)
{
    struct fx *f = *state;
    struct wg_sql *c = NULL;
    char err[512];
    assert_int_equal(open_v(f, 1, &c, err, sizeof(err)), WG_OK);
    int64_t pid = one_int(c, "SELECT pg_backend_pid()");
    struct wg_sql *admin = must_exec_admin(f->dsn);
    struct wg_sql_q *q = wg_sql_query(admin, "SELECT pg_terminate_backend(?)");
    wg_sql_bind_int64(q, 1, pid);
    assert_int_equal(wg_sql_step(q), 1);
    wg_sql_end(q);
    wg_sql_close(admin);
    int64_t n = -1;
    for (int i = 0; i < 200 && n < 0; i++) {           /* the backend exits asynchronously */
        q = wg_sql_query(c, "SELECT count(*) FROM t"); /* may fail once: the session died */
        (void)wg_sql_step(q);
        wg_sql_end(q);
        q = wg_sql_query(c, "SELECT pg_backend_pid()");
        if (wg_sql_step(q) == 1 && wg_sql_col_int64(q, 0) != pid) {
            n = wg_sql_col_int64(q, 0);
        }
        wg_sql_end(q);
        usleep(10000);
    }
    assert_true(n > 0);
    wg_sql_close(c);
}

/* A closed connection is reused by the next open of the same store: the same session. */
static void pooled(void **state)
{
    struct fx *f = *state;
    struct wg_sql_opts o = {.backend = WG_STORE_POSTGRES, .dsn = f->dsn, .name = "pool"};
    struct wg_sql *c = NULL;
    char err[512];
    int64_t pid[2] = {0, 0};
    for (int i = 0; i < 2; i++) {
        assert_int_equal(wg_sql_open(&o, &c, err, sizeof(err)), WG_OK);
        pid[i] = one_int(c, "SELECT pg_backend_pid()");
        wg_sql_close(c);
    }
    assert_true(pid[0] == pid[1]);
    /* inside a transaction it is not given back: the next open is a new session */
    assert_int_equal(wg_sql_open(&o, &c, err, sizeof(err)), WG_OK);
    assert_int_equal(wg_sql_begin(c, 0, err, sizeof(err)), WG_OK);
    wg_sql_close(c);
    assert_int_equal(wg_sql_open(&o, &c, err, sizeof(err)), WG_OK);
    assert_true(one_int(c, "SELECT pg_backend_pid()") != pid[0]);
    wg_sql_close(c);
}

static int64_t count_of(struct wg_sql *c, const char *sql, const char *arg)
{
    struct wg_sql_q *q = wg_sql_query(c, sql);
    wg_sql_bind_text(q, 1, arg);
    assert_int_equal(wg_sql_step(q), 1);
    int64_t n = wg_sql_col_int64(q, 0);
    wg_sql_end(q);
    return n;
}

/* A statement is prepared once per session and then only bound and run (one round trip, no
 * parse or plan); a statement the server lost (DEALLOCATE ALL, as a pooler's session switch)
 * or whose table a migration changed is prepared again, the caller sees no error. */
static void prepared_once(void **state)
{
    struct fx *f = *state;
    struct wg_sql *c = NULL;
    char err[512];
    assert_int_equal(open_v(f, 1, &c, err, sizeof(err)), WG_OK);
    const char *seen = "SELECT count(*) FROM pg_prepared_statements WHERE statement = ?";
    for (int i = 0; i < 3; i++) {
        assert_int_equal(count_of(c, "SELECT count(*) FROM t WHERE v = ?", "x"), 0);
    }
    assert_int_equal(count_of(c, seen, "SELECT count(*) FROM t WHERE v = $1"), 1);
    /* prepared inside a transaction that rolls back: still there (not transactional) */
    assert_int_equal(wg_sql_begin(c, 1, err, sizeof(err)), WG_OK);
    assert_int_equal(count_of(c, "SELECT count(*) FROM t WHERE v <> ?", "x"), 0);
    wg_sql_rollback(c);
    assert_int_equal(count_of(c, "SELECT count(*) FROM t WHERE v <> ?", "x"), 0);
    assert_int_equal(count_of(c, seen, "SELECT count(*) FROM t WHERE v <> $1"), 1);
    /* a migration changes the table under `SELECT *`: run again, with the new column */
    struct wg_sql_q *q = wg_sql_query(c, "SELECT * FROM t WHERE v = ? OR v IS NULL");
    wg_sql_bind_text(q, 1, "x");
    assert_int_equal(wg_sql_run(q, err, sizeof(err)), WG_OK);
    wg_sql_end(q);
    assert_int_equal(wg_sql_exec(c,
                                 "INSERT INTO t(v) VALUES ('x');"
                                 "ALTER TABLE t ADD COLUMN extra INTEGER DEFAULT 3",
                                 err, sizeof(err)),
                     WG_OK);
    q = wg_sql_query(c, "SELECT * FROM t WHERE v = ? OR v IS NULL");
    wg_sql_bind_text(q, 1, "x");
    assert_int_equal(wg_sql_step(q), 1);
    assert_int_equal(wg_sql_col_int64(q, 4), 3);
    wg_sql_end(q);
    assert_int_equal(count_of(c, seen, "SELECT * FROM t WHERE v = $1 OR v IS NULL"), 1);
    /* the server forgets them: the next run runs it again (unprepared from
     * then on: a pooler moved us) */
    assert_int_equal(wg_sql_exec(c, "DEALLOCATE ALL", err, sizeof(err)), WG_OK);
    assert_int_equal(count_of(c, "SELECT count(*) FROM t WHERE v = ?", "x"), 1);
    assert_int_equal(count_of(c, seen, "SELECT count(*) FROM t WHERE v = $1"), 0);
    wg_sql_close(c);
}

int main(void)
{
    const struct CMUnitTest sq[] = {
        cmocka_unit_test_setup_teardown(binds_and_columns, setup_sqlite, teardown_sqlite),
        cmocka_unit_test_setup_teardown(blobs, setup_sqlite, teardown_sqlite),
        cmocka_unit_test_setup_teardown(transactions, setup_sqlite, teardown_sqlite),
        cmocka_unit_test_setup_teardown(migrations, setup_sqlite, teardown_sqlite),
    };
    const struct CMUnitTest pg[] = {
        cmocka_unit_test_setup(binds_and_columns, setup_pg),
        cmocka_unit_test_setup(blobs, setup_pg),
        cmocka_unit_test_setup(transactions, setup_pg),
        cmocka_unit_test_setup(migrations, setup_pg),
        cmocka_unit_test_setup(reconnects, setup_pg),
        cmocka_unit_test_setup(pooled, setup_pg),
        cmocka_unit_test_setup(prepared_once, setup_pg),
    };
    int rc = cmocka_run_group_tests_name("sqlite", sq, NULL, NULL);
    const char *dsn = getenv("WG_TEST_PG_DSN");
    if (!dsn || !*dsn) {
        fprintf(stderr, "postgres half skipped: WG_TEST_PG_DSN not set\n");
        return rc;
    }
    return rc | cmocka_run_group_tests_name("postgres", pg, NULL, NULL);
}

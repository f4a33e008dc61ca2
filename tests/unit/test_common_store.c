/* test_common_store.c — the SQLite helper under every state store: create and reopen,
 * migrations counted in user_version (an old unversioned store, an upgrade, a store from a
 * newer wavegate), a missing file when not creating, a damaged file, modes, and transactions
 * whose failure (a full store) leaves no transaction open.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/store.h"

static const char *const V1[] = {
    "CREATE TABLE IF NOT EXISTS t(id INTEGER PRIMARY KEY, v TEXT);",
};
static const char *const V2[] = {
    "CREATE TABLE IF NOT EXISTS t(id INTEGER PRIMARY KEY, v TEXT);",
    "ALTER TABLE t ADD COLUMN w INTEGER NOT NULL DEFAULT 7;",
};

static char *tmpdir(void)
{
    char *d = strdup("/tmp/wg-store-XXXXXX");
    assert_non_null(d);
    assert_non_null(mkdtemp(d));
    return d;
}

static void rmtree(const char *d)
{
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", d);
    assert_int_equal(system(cmd), 0);
}

static enum wg_err open_with(const char *dir, const char *const *m, int n, int create,
                             sqlite3 **db, char *err, size_t errlen)
{
    struct wg_store_opts o = {
        .dir = dir, .file = "s.db", .create = create, .quick_check = 1, .migrations = m,
        .nmigrations = n};
    return wg_store_open(&o, db, err, errlen);
}

static void test_create_reopen_and_modes(void **state)
{
    (void)state;
    char *top = tmpdir(), err[512];
    char dir[300];
    snprintf(dir, sizeof(dir), "%s/a/b", top); /* nested, not there yet */
    sqlite3 *db = NULL;
    assert_int_equal(open_with(dir, V1, 1, 0, &db, err, sizeof(err)), WG_ENOTFOUND);
    assert_null(db);
    assert_string_equal(err, "");
    assert_int_equal(open_with(dir, V1, 1, 1, &db, err, sizeof(err)), WG_OK);
    assert_int_equal(wg_store_version(db), 1);
    assert_int_equal(wg_store_exec(db, "INSERT INTO t(v) VALUES('x')", err, sizeof(err)), WG_OK);
    wg_store_close(db);

    char path[400];
    struct stat st;
    snprintf(path, sizeof(path), "%s/s.db", dir);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(stat(dir, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0700);

    /* Reopen without create, then upgrade to v2: the row is kept, the new column defaults. */
    assert_int_equal(open_with(dir, V1, 1, 0, &db, err, sizeof(err)), WG_OK);
    wg_store_close(db);
    assert_int_equal(open_with(dir, V2, 2, 0, &db, err, sizeof(err)), WG_OK);
    assert_int_equal(wg_store_version(db), 2);
    sqlite3_stmt *q = wg_store_stmt(db, "SELECT v, w FROM t");
    assert_non_null(q);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(q, 0), "x");
    assert_int_equal(sqlite3_column_int(q, 1), 7);
    sqlite3_reset(q);
    /* The same text gives the cached statement back. */
    assert_ptr_equal(wg_store_stmt(db, "SELECT v, w FROM t"), q);
    wg_store_close(db);

    /* An older wavegate (knows only v1) refuses the v2 store instead of misreading it. */
    assert_int_equal(open_with(dir, V1, 1, 0, &db, err, sizeof(err)), WG_EIO);
    assert_null(db);
    assert_non_null(strstr(err, "newer"));
    assert_non_null(strstr(err, "s.db"));
    rmtree(top);
    free(top);
}

/* A store written before versions existed (tables there, user_version 0) opens: migration 0
 * is idempotent. */
static void test_unversioned_store_opens(void **state)
{
    (void)state;
    char *dir = tmpdir(), path[300], err[512];
    snprintf(path, sizeof(path), "%s/s.db", dir);
    sqlite3 *raw = NULL;
    assert_int_equal(sqlite3_open(path, &raw), SQLITE_OK);
    assert_int_equal(sqlite3_exec(raw, "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT);"
                                       "INSERT INTO t(v) VALUES('old');",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(raw);
    sqlite3 *db = NULL;
    assert_int_equal(open_with(dir, V2, 2, 0, &db, err, sizeof(err)), WG_OK);
    assert_int_equal(wg_store_version(db), 2);
    sqlite3_stmt *q = wg_store_stmt(db, "SELECT count(*) FROM t WHERE v='old' AND w=7");
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(q, 0), 1);
    sqlite3_reset(q);
    wg_store_close(db);
    rmtree(dir);
    free(dir);
}

/* 1 KiB of garbage written over the middle of a store: the open says it is damaged. */
static void test_damaged_store_is_refused(void **state)
{
    (void)state;
    char *dir = tmpdir(), path[300], err[512];
    sqlite3 *db = NULL;
    assert_int_equal(open_with(dir, V1, 1, 1, &db, err, sizeof(err)), WG_OK);
    assert_int_equal(wg_store_exec(db, "PRAGMA journal_mode=DELETE", err, sizeof(err)), WG_OK);
    assert_int_equal(wg_store_begin(db, 1, err, sizeof(err)), WG_OK);
    for (int i = 0; i < 400; i++) {
        sqlite3_stmt *st = wg_store_stmt(db, "INSERT INTO t(v) VALUES(hex(randomblob(64)))");
        assert_non_null(st);
        assert_int_equal(sqlite3_step(st), SQLITE_DONE);
        sqlite3_reset(st);
    }
    assert_int_equal(wg_store_commit(db, err, sizeof(err)), WG_OK);
    wg_store_close(db);
    snprintf(path, sizeof(path), "%s/s.db", dir);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_true(st.st_size > 16384);
    int fd = open(path, O_WRONLY);
    assert_true(fd >= 0);
    char junk[1024];
    memset(junk, 0xA5, sizeof(junk));
    assert_int_equal(pwrite(fd, junk, sizeof(junk), st.st_size / 2), (ssize_t)sizeof(junk));
    close(fd);
    assert_int_equal(open_with(dir, V1, 1, 0, &db, err, sizeof(err)), WG_EIO);
    assert_null(db);
    assert_non_null(strstr(err, "corrupt"));
    rmtree(dir);
    free(dir);
}

/* A commit that cannot be written (the store is full) fails, and leaves no transaction open:
 * a rollback after it is a no-op and the next transaction starts cleanly. */
static void test_failed_commit_leaves_no_transaction(void **state)
{
    (void)state;
    char *dir = tmpdir(), err[512];
    sqlite3 *db = NULL;
    assert_int_equal(open_with(dir, V1, 1, 1, &db, err, sizeof(err)), WG_OK);
    assert_int_equal(wg_store_exec(db, "PRAGMA max_page_count=8", err, sizeof(err)), WG_OK);
    assert_int_equal(wg_store_begin(db, 1, err, sizeof(err)), WG_OK);
    enum wg_err rc = WG_OK;
    for (int i = 0; i < 200 && rc == WG_OK; i++) {
        rc = wg_store_exec(db, "INSERT INTO t(v) VALUES(hex(randomblob(500)))", err, sizeof(err));
    }
    assert_int_equal(rc, WG_EIO); /* full */
    assert_non_null(strstr(err, "full"));
    wg_store_rollback(db);
    assert_true(sqlite3_get_autocommit(db));
    wg_store_rollback(db); /* nothing open: no error, no log */
    assert_int_equal(wg_store_begin(db, 1, err, sizeof(err)), WG_OK);
    assert_int_equal(wg_store_exec(db, "INSERT INTO t(v) VALUES('small')", err, sizeof(err)),
                     WG_OK);
    assert_int_equal(wg_store_commit(db, err, sizeof(err)), WG_OK);
    assert_true(sqlite3_get_autocommit(db));
    wg_store_close(db);
    rmtree(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_create_reopen_and_modes),
        cmocka_unit_test(test_unversioned_store_opens),
        cmocka_unit_test(test_damaged_store_is_refused),
        cmocka_unit_test(test_failed_commit_leaves_no_transaction),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* common_store.c — the SQLite helper every state store opens through (store.h): directory and
 * file modes, WAL and synchronous, the busy handler, an integrity check, migrations counted
 * in PRAGMA user_version, cached statements and transactions whose results are checked.
 */
#include "common/store.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

enum wg_err wg_store_exec(sqlite3 *db, const char *sql, char *err, size_t errlen)
{
    char *msg = NULL;
    int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
    if (rc != SQLITE_OK) {
        snprintf(err, errlen, "%s", msg ? msg : sqlite3_errstr(rc));
    }
    sqlite3_free(msg);
    return rc == SQLITE_OK ? WG_OK : WG_EIO;
}

sqlite3_stmt *wg_store_stmt(sqlite3 *db, const char *sql)
{
    /* The connection's own list of statements is the cache: a few entries, looked up by text. */
    for (sqlite3_stmt *st = sqlite3_next_stmt(db, NULL); st; st = sqlite3_next_stmt(db, st)) {
        const char *t = sqlite3_sql(st);
        if (!sqlite3_stmt_busy(st) && t && strcmp(t, sql) == 0) {
            sqlite3_clear_bindings(st);
            return st;
        }
    }
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL) != SQLITE_OK) {
        sqlite3_finalize(st);
        return NULL;
    }
    return st;
}

/* SQLite's own busy handler sleeps 1, 2, 5, 10, ... ms between tries: a writer that finds the
 * lock taken by a short transaction of the other connection loses whole milliseconds. Retry
 * every 100-500 us instead, for up to about 5 s. */
static int busy_wait(void *ud, int count)
{
    (void)ud;
    long us = count < 20 ? 100 : count < 100 ? 250 : 500;
    if ((long long)count * 500 > 5000000) {
        return 0;
    }
    struct timespec ts = {0, us * 1000};
    nanosleep(&ts, NULL);
    return 1;
}

void wg_store_busy_wait(sqlite3 *db, int wait)
{
    sqlite3_busy_handler(db, wait ? busy_wait : NULL, NULL);
}

void wg_store_close(sqlite3 *db)
{
    if (!db) {
        return;
    }
    sqlite3_stmt *st;
    while ((st = sqlite3_next_stmt(db, NULL)) != NULL) {
        sqlite3_finalize(st);
    }
    sqlite3_close(db);
}

enum wg_err wg_store_begin(sqlite3 *db, int immediate, char *err, size_t errlen)
{
    return wg_store_exec(db, immediate ? "BEGIN IMMEDIATE" : "BEGIN", err, errlen);
}

void wg_store_rollback(sqlite3 *db)
{
    /* After some errors (SQLITE_FULL, SQLITE_IOERR, ...) SQLite has already rolled back:
     * a second ROLLBACK would only log "no transaction is active". */
    if (db && !sqlite3_get_autocommit(db)) {
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    }
}

enum wg_err wg_store_commit(sqlite3 *db, char *err, size_t errlen)
{
    enum wg_err rc = wg_store_exec(db, "COMMIT", err, errlen);
    if (rc != WG_OK) {
        wg_store_rollback(db);
    }
    return rc;
}

int wg_store_version(sqlite3 *db)
{
    sqlite3_stmt *st = NULL;
    int v = -1;
    if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW) {
        v = sqlite3_column_int(st, 0);
    }
    sqlite3_finalize(st);
    return v;
}

/* PRAGMA quick_check answers one row "ok", or rows naming the damage. */
static enum wg_err check_integrity(sqlite3 *db, const char *path, char *err, size_t errlen)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, "PRAGMA quick_check(1)", -1, &st, NULL);
    if (rc == SQLITE_OK) {
        rc = sqlite3_step(st);
    }
    if (rc == SQLITE_ROW) {
        const char *msg = (const char *)sqlite3_column_text(st, 0);
        if (msg && strcmp(msg, "ok") == 0) {
            sqlite3_finalize(st);
            return WG_OK;
        }
        snprintf(err, errlen,
                 "corrupt (PRAGMA quick_check: %s); refusing to use it, so what it holds is not "
                 "dropped without a word: try `sqlite3 %s .recover`, or move it aside to start "
                 "with an empty store",
                 msg ? msg : "?", path);
    } else {
        snprintf(err, errlen, "corrupt (%s); move %s aside to start with an empty store",
                 sqlite3_errmsg(db), path);
    }
    sqlite3_finalize(st);
    return WG_EIO;
}

/* Apply migrations[from..n) in one write transaction; re-read the version under the lock, so
 * two processes opening a new store at once migrate it once. */
static enum wg_err migrate(sqlite3 *db, const struct wg_store_opts *o, char *err, size_t errlen)
{
    int v = wg_store_version(db);
    if (v < 0) {
        snprintf(err, errlen, "cannot read the schema version: %s", sqlite3_errmsg(db));
        return WG_EIO;
    }
    if (v > o->nmigrations) {
        snprintf(err, errlen, "schema version %d is newer than this wavegate knows (%d)", v,
                 o->nmigrations);
        return WG_EIO;
    }
    if (v == o->nmigrations) {
        return WG_OK; /* nothing to do: no write lock taken just to open */
    }
    enum wg_err rc = wg_store_begin(db, 1, err, errlen);
    if (rc != WG_OK) {
        return rc;
    }
    v = wg_store_version(db);
    if (o->fresh && v == 0) {
        sqlite3_stmt *st = NULL;
        if (sqlite3_prepare_v2(db, "SELECT count(*) FROM sqlite_master WHERE type='table'", -1, &st,
                               NULL) == SQLITE_OK &&
            sqlite3_step(st) == SQLITE_ROW) {
            *o->fresh = sqlite3_column_int(st, 0) == 0;
        }
        sqlite3_finalize(st);
    }
    for (int i = v < 0 ? o->nmigrations : v; i < o->nmigrations && rc == WG_OK; i++) {
        char set[48];
        snprintf(set, sizeof(set), "PRAGMA user_version=%d", i + 1);
        rc = wg_store_exec(db, o->migrations[i], err, errlen);
        if (rc == WG_OK) {
            rc = wg_store_exec(db, set, err, errlen);
        }
    }
    if (rc != WG_OK) {
        wg_store_rollback(db);
        return rc;
    }
    return wg_store_commit(db, err, errlen);
}

enum wg_err wg_store_open(const struct wg_store_opts *o, sqlite3 **out, char *err, size_t errlen)
{
    char path[1100], why[1400];
    sqlite3 *db = NULL;
    enum wg_err rc = WG_OK;

    *out = NULL;
    err[0] = '\0';
    if (o->fresh) {
        *o->fresh = 0;
    }
    if (!o->dir || !*o->dir) {
        snprintf(err, errlen, "no state_dir configured");
        return WG_EINVAL;
    }
    if ((size_t)snprintf(path, sizeof(path), "%s/%s", o->dir, o->file) >= sizeof(path)) {
        snprintf(err, errlen, "state_dir path too long");
        return WG_EINVAL;
    }
    if (!o->create) {
        struct stat st;
        if (stat(path, &st) != 0) {
            return WG_ENOTFOUND; /* absent: not an error, just nothing stored */
        }
    } else if (wg_mkdirs(o->dir) != WG_OK) {
        snprintf(err, errlen, "cannot create state_dir %s: %s", o->dir, strerror(errno));
        return WG_EIO;
    }
    int flags =
        SQLITE_OPEN_READWRITE | SQLITE_OPEN_FULLMUTEX | (o->create ? SQLITE_OPEN_CREATE : 0);
    if (sqlite3_open_v2(path, &db, flags, NULL) != SQLITE_OK) {
        snprintf(err, errlen, "cannot open %s: %s", path,
                 db ? sqlite3_errmsg(db) : "out of memory");
        sqlite3_close(db);
        return db ? WG_EIO : WG_ENOMEM;
    }
    (void)chmod(path, 0600); /* rows may carry routing keys and URLs */
    wg_store_busy_wait(db, 1);
    char pragmas[96];
    snprintf(pragmas, sizeof(pragmas), "PRAGMA journal_mode=WAL; PRAGMA synchronous=%d;",
             o->synchronous == 1 ? 1 : 2);
    why[0] = '\0';
    rc = wg_store_exec(db, pragmas, why, sizeof(why));
    if (rc != WG_OK) {
        int ec = sqlite3_errcode(db);
        if (ec == SQLITE_CORRUPT || ec == SQLITE_NOTADB) {
            char msg[512];
            snprintf(msg, sizeof(msg), "%s", why);
            snprintf(why, sizeof(why),
                     "corrupt or not a database (%s); move %s aside to start with an empty store",
                     msg, path);
        }
    }
    if (rc == WG_OK && o->quick_check) {
        rc = check_integrity(db, path, why, sizeof(why));
    }
    if (rc == WG_OK) {
        rc = migrate(db, o, why, sizeof(why));
    }
    if (rc != WG_OK) {
        snprintf(err, errlen, "state store %s: %s", path, why);
        wg_store_close(db);
        return rc;
    }
    *out = db;
    return WG_OK;
}

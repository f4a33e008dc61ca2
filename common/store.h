/* store.h — the one SQLite helper behind every state store (verdict history, analyses, the
 * alert outbox): open under state_dir (0700 dir, 0600 file), WAL, a fine-grained busy handler,
 * an integrity check, schema migrations counted in PRAGMA user_version, cached prepared
 * statements and checked transactions. The seam where a PostgreSQL backend can sit later.
 */
#ifndef WG_STORE_H
#define WG_STORE_H

#include <sqlite3.h>

#include "common/common.h"

struct wg_store_opts {
    const char *dir;  /* state_dir; created (with parents, 0700) when create is set */
    const char *file; /* file name inside dir, e.g. "alerting.db" */
    int create;       /* 0: a missing file is WG_ENOTFOUND with err "" (nothing stored yet) */
    int synchronous;  /* 1 NORMAL, 2 FULL; 0: FULL */
    int quick_check;  /* run PRAGMA quick_check on open; a damaged file is WG_EIO */
    /* migrations[i] takes the schema from version i to i + 1, applied in one transaction
     * with PRAGMA user_version. Version 0 is "no version recorded": migrations[0] must be
     * idempotent (CREATE ... IF NOT EXISTS) so stores written before versions still open. */
    const char *const *migrations;
    int nmigrations;
    int *fresh; /* out, optional: 1 when the file held no table before migrating (new) */
};

/* Open (and migrate) the store. On failure *out is NULL and err names the file and cause:
 * WG_ENOTFOUND (create == 0 and no file; err ""), WG_EIO (cannot open, damaged, written by a
 * newer wavegate), WG_ENOMEM. Threads: the handle is opened FULLMUTEX. */
enum wg_err wg_store_open(const struct wg_store_opts *o, sqlite3 **out, char *err,
                          size_t errlen) WG_NODISCARD;
/* Finalize every cached statement and close. NULL-safe. */
void wg_store_close(sqlite3 *db);

/* Run SQL (one or more statements). WG_EIO with SQLite's message in err. */
enum wg_err wg_store_exec(sqlite3 *db, const char *sql, char *err, size_t errlen) WG_NODISCARD;
/* A prepared statement for sql, from the connection's own list when one is idle (bindings
 * cleared), else prepared persistent. NULL on error. Reset it after use. */
sqlite3_stmt *wg_store_stmt(sqlite3 *db, const char *sql);

/* Transactions. begin: immediate takes the write lock now. commit: on failure the
 * transaction is rolled back when SQLite left it open, so the caller never leaves one behind
 * and never rolls back one that is not there. rollback: only when a transaction is open. */
enum wg_err wg_store_begin(sqlite3 *db, int immediate, char *err, size_t errlen) WG_NODISCARD;
enum wg_err wg_store_commit(sqlite3 *db, char *err, size_t errlen) WG_NODISCARD;
void wg_store_rollback(sqlite3 *db);

/* 1: a writer waiting for the lock retries every 100-500 us for up to ~5 s (SQLite's own
 * handler sleeps whole milliseconds); 0: never wait (SQLITE_BUSY at once). */
void wg_store_busy_wait(sqlite3 *db, int wait);
/* The schema version recorded in the store (PRAGMA user_version), -1 on error. */
int wg_store_version(sqlite3 *db);

#endif

/* store.h — the one store helper behind every state store (verdict history, analyses, the
 * alert outbox). wg_store_*: the SQLite handle (0700 dir, 0600 file, WAL, busy handler,
 * quick_check, migrations in PRAGMA user_version, cached statements, checked transactions).
 * wg_sql_*: the backend-neutral seam over it or PostgreSQL (libpq, common_store_pg.c): one
 * query text with `?` placeholders, positional binds, row iteration, transactions, migrations.
 */
#ifndef WG_STORE_H
#define WG_STORE_H

#include <sqlite3.h>
#include <stdint.h>

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

/* ---- the backend-neutral seam ------------------------------------------------------------ */

enum wg_store_backend { WG_STORE_DEFAULT = 0, WG_STORE_SQLITE = 1, WG_STORE_POSTGRES = 2 };

/* The process's backend for stores opened with WG_STORE_DEFAULT, set from the config's
 * `state:` when a config loads (sqlite until then); dsn_env names the variable read at each
 * open (the DSN itself is never kept or logged). */
void wg_sql_use(enum wg_store_backend b, const char *dsn_env);
enum wg_store_backend wg_sql_default_backend(void);

struct wg_sql;   /* one connection to either backend; opaque */
struct wg_sql_q; /* one query being bound and stepped; opaque */

struct wg_sql_opts {
    enum wg_store_backend backend; /* WG_STORE_DEFAULT: wg_sql_use's */
    /* SQLite: the file and its migrations (sqlite.migrations), as wg_store_open. */
    struct wg_store_opts sqlite;
    /* PostgreSQL: a libpq conninfo or URI (never logged: it may hold a password), the
     * store's name (its row in the wg_schema table, e.g. "state", "analyses") and the
     * migrations in PostgreSQL's dialect; migrations[i] takes version i to i + 1. dsn NULL:
     * the variable wg_sql_use named. */
    const char *dsn;
    const char *name;
    const char *const *pg_migrations;
    int npg_migrations;
    /* PostgreSQL: a session of its own, never taken from or given back to the pool of idle
     * connections (session state such as an advisory lock lives on it). */
    int own_session;
};

/* Open and migrate. Errors as wg_store_open (WG_ENOTFOUND only for SQLite without create);
 * PostgreSQL: WG_EIO when the server cannot be reached or the schema is newer than this
 * binary ("schema version N of <name> is newer than this wavegate knows (M)"). */
enum wg_err wg_sql_open(const struct wg_sql_opts *o, struct wg_sql **out, char *err,
                        size_t errlen) WG_NODISCARD;
/* NULL-safe. A PostgreSQL connection outside a transaction goes back to a small pool of idle
 * ones for the next open of the same store (same DSN and name), unless own_session. */
void wg_sql_close(struct wg_sql *c);
enum wg_store_backend wg_sql_backend(const struct wg_sql *c);
/* The SQLite handle under c (NULL for PostgreSQL): for callers not yet on the seam. */
sqlite3 *wg_sql_sqlite(struct wg_sql *c);

/* Run SQL without parameters (PostgreSQL: several statements allowed). */
enum wg_err wg_sql_exec(struct wg_sql *c, const char *sql, char *err, size_t errlen) WG_NODISCARD;
/* Transactions. immediate: SQLite takes the write lock now (PostgreSQL: a plain BEGIN).
 * commit rolls back what it could not commit; rollback only when one is open. One thread at a
 * time per connection inside a transaction (the caller's lock). */
enum wg_err wg_sql_begin(struct wg_sql *c, int immediate, char *err, size_t errlen) WG_NODISCARD;
enum wg_err wg_sql_commit(struct wg_sql *c, char *err, size_t errlen) WG_NODISCARD;
void wg_sql_rollback(struct wg_sql *c);
/* The schema version recorded for this store, -1 on error. */
int wg_sql_version(struct wg_sql *c);

/* A query: `?` or `?N` placeholders (1-based, as SQLite; turned into $N for PostgreSQL; a `?`
 * inside '...' is left alone). NULL only when out of memory; binds, run and end take NULL.
 * Bind before the first step. PostgreSQL prepares each text once per connection (the first
 * run costs one more round trip; 64 texts per connection, the rest run unprepared): bind
 * values, never build them into the text. */
struct wg_sql_q *wg_sql_query(struct wg_sql *c, const char *sql);
/* The same for a query whose columns are all text or blob: PostgreSQL sends them in binary
 * format (a bytea as its bytes, not as hex text twice their size), so wg_sql_col_int64 and
 * wg_sql_col_double must not be used on it. SQLite: as wg_sql_query. */
struct wg_sql_q *wg_sql_query_raw(struct wg_sql *c, const char *sql);
void wg_sql_bind_text(struct wg_sql_q *q, int i, const char *v); /* v NULL: SQL NULL; copied */
void wg_sql_bind_textn(struct wg_sql_q *q, int i, const char *v, size_t n);
void wg_sql_bind_int64(struct wg_sql_q *q, int i, int64_t v);
void wg_sql_bind_double(struct wg_sql_q *q, int i, double v);
void wg_sql_bind_null(struct wg_sql_q *q, int i);
/* Bytes (copied; v NULL: SQL NULL; n 0: an empty blob). The column is BLOB on SQLite, bytea
 * on PostgreSQL (sent as a binary parameter: no escaping, no doubling). */
void wg_sql_bind_blob(struct wg_sql_q *q, int i, const void *v, size_t n);
/* 1: a row is there to read; 0: done; -1: error (wg_sql_qerror). The statement runs at the
 * first step. */
int wg_sql_step(struct wg_sql_q *q);
/* Columns of the current row, 0-based. text: NULL for SQL NULL, valid until the next step. */
int wg_sql_col_null(struct wg_sql_q *q, int i);
const char *wg_sql_col_text(struct wg_sql_q *q, int i);
int64_t wg_sql_col_int64(struct wg_sql_q *q, int i);
double wg_sql_col_double(struct wg_sql_q *q, int i);
/* A blob column: its bytes and *n their count, valid until the next step or end; NULL for
 * SQL NULL (an empty blob is non-NULL with *n 0). PostgreSQL: decoded from bytea's text form
 * once per row and column (NULL also when that fails: out of memory, not a bytea). */
const void *wg_sql_col_blob(struct wg_sql_q *q, int i, size_t *n);
/* Rows changed by the last INSERT/UPDATE/DELETE stepped to its end. */
int64_t wg_sql_changes(struct wg_sql_q *q);
const char *wg_sql_qerror(const struct wg_sql_q *q); /* "" when none */
/* Run a statement that returns no rows: step to the end; WG_EIO with the cause in err. */
enum wg_err wg_sql_run(struct wg_sql_q *q, char *err, size_t errlen) WG_NODISCARD;
void wg_sql_end(struct wg_sql_q *q); /* free; NULL-safe */

/* Counters for /metrics: queries run, failed, and their total time, over every connection. */
struct wg_sql_stats {
    uint64_t queries, errors, ns;
};
void wg_sql_stats(struct wg_sql_stats *out);
/* The same queries' latency for a histogram: out[i] counts those that took at most
 * wg_sql_bounds_us[i] microseconds and more than the bound before (not cumulative);
 * out[WG_SQL_NBOUNDS] those above every bound. Lock-free; any thread. */
#define WG_SQL_NBOUNDS 10
extern const unsigned wg_sql_bounds_us[WG_SQL_NBOUNDS];
void wg_sql_latency(uint64_t out[WG_SQL_NBOUNDS + 1]);

#endif

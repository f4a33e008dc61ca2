/* common_store.c — the SQLite helper every state store opens through (store.h): directory and
 * file modes, WAL and synchronous, the busy handler, an integrity check, migrations counted
 * in PRAGMA user_version, cached statements and transactions whose results are checked; and
 * the backend-neutral wg_sql_* seam over SQLite or PostgreSQL (common_store_pg.c).
 */
#include "common/common_store_int.h"
#include "common/store.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
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

/* ---- the backend-neutral seam ------------------------------------------------------------ */

struct wg_sql {
    enum wg_store_backend backend;
    sqlite3 *db;
    struct wg__common_pg *pg;
    char name[64];
    char *dsn; /* PostgreSQL: the pool's key (with name); freed, never logged */
    int own_session;
    struct wg_sql *next_idle;
};

/* PostgreSQL connections closed by a caller are kept for the next open of the same store
 * (a gate evaluation opens the history store each time: a new session costs milliseconds). */
#define POOL_MAX 16
static pthread_mutex_t pool_mu = PTHREAD_MUTEX_INITIALIZER;
static struct wg_sql *pool;
static int npool;

static struct wg_sql *pool_take(const char *dsn, const char *name)
{
    pthread_mutex_lock(&pool_mu);
    struct wg_sql **pp = &pool;
    for (; *pp; pp = &(*pp)->next_idle) {
        if (!strcmp((*pp)->dsn, dsn) && !strcmp((*pp)->name, name)) {
            struct wg_sql *c = *pp;
            *pp = c->next_idle;
            c->next_idle = NULL;
            npool--;
            pthread_mutex_unlock(&pool_mu);
            return c;
        }
    }
    pthread_mutex_unlock(&pool_mu);
    return NULL;
}

#define MAX_PARAMS 32

/* A blob column decoded from PostgreSQL's bytea text, kept until the next step or end. */
struct blobcol {
    struct blobcol *next;
    int col;
    size_t n;
    unsigned char *p;
};

struct wg_sql_q {
    struct wg_sql *c;
    sqlite3_stmt *st; /* SQLite: the cached statement */
    char *pgsql;      /* PostgreSQL: the text with $N */
    char *vals[MAX_PARAMS];
    int lens[MAX_PARAMS], fmts[MAX_PARAMS]; /* PostgreSQL: fmts 1 for a binary (blob) value */
    int binary;                             /* some value is binary: pass lens and fmts */
    int binres;                             /* results in binary format (wg_sql_query_raw) */
    struct blobcol *blobs;
    int nparams;
    void *res;
    int nrows, row;
    int started;
    int64_t changes;
    char err[512];
};

static _Atomic uint64_t n_queries, n_errors, n_ns;
static _Atomic int use_backend = WG_STORE_SQLITE;
static char use_env[128] = "WAVEGATE_PG_DSN";
static pthread_mutex_t use_mu = PTHREAD_MUTEX_INITIALIZER;

void wg_sql_use(enum wg_store_backend b, const char *dsn_env)
{
    pthread_mutex_lock(&use_mu);
    snprintf(use_env, sizeof(use_env), "%s", dsn_env && *dsn_env ? dsn_env : "WAVEGATE_PG_DSN");
    pthread_mutex_unlock(&use_mu);
    atomic_store(&use_backend, b == WG_STORE_POSTGRES ? WG_STORE_POSTGRES : WG_STORE_SQLITE);
}

enum wg_store_backend wg_sql_default_backend(void)
{
    return (enum wg_store_backend)atomic_load(&use_backend);
}

void wg_sql_stats(struct wg_sql_stats *out)
{
    out->queries = atomic_load(&n_queries);
    out->errors = atomic_load(&n_errors);
    out->ns = atomic_load(&n_ns);
}

const unsigned wg_sql_bounds_us[WG_SQL_NBOUNDS] = {100,  250,   500,   1000,   2500,
                                                   5000, 10000, 25000, 100000, 1000000};
static _Atomic uint64_t n_lat[WG_SQL_NBOUNDS + 1];

void wg_sql_latency(uint64_t out[WG_SQL_NBOUNDS + 1])
{
    for (int i = 0; i <= WG_SQL_NBOUNDS; i++) {
        out[i] = atomic_load(&n_lat[i]);
    }
}

static void count(int64_t t0, int failed)
{
    int64_t ns = wg_now_ns() - t0;
    int b = 0;
    while (b < WG_SQL_NBOUNDS && ns > (int64_t)wg_sql_bounds_us[b] * 1000) {
        b++;
    }
    atomic_fetch_add(&n_lat[b], 1);
    atomic_fetch_add(&n_queries, 1);
    atomic_fetch_add(&n_ns, (uint64_t)(ns > 0 ? ns : 0));
    if (failed) {
        atomic_fetch_add(&n_errors, 1);
    }
}

enum wg_err wg_sql_open(const struct wg_sql_opts *o, struct wg_sql **out, char *err, size_t errlen)
{
    *out = NULL;
    err[0] = '\0';
    struct wg_sql *c = calloc(1, sizeof(*c));
    if (!c) {
        return WG_ENOMEM;
    }
    struct wg_sql_opts oo = *o;
    if (oo.backend == WG_STORE_DEFAULT) {
        oo.backend = wg_sql_default_backend();
    }
    if (oo.backend == WG_STORE_POSTGRES && !oo.dsn) {
        char env[128];
        pthread_mutex_lock(&use_mu);
        snprintf(env, sizeof(env), "%s", use_env);
        pthread_mutex_unlock(&use_mu);
        oo.dsn = getenv(env);
        if (!oo.dsn || !*oo.dsn) {
            snprintf(err, errlen, "state.backend postgres: $%s is not set (the DSN)", env);
            free(c);
            return WG_EINVAL;
        }
    }
    c->backend = oo.backend;
    snprintf(c->name, sizeof(c->name), "%s", o->name ? o->name : "default");
    c->own_session = oo.own_session;
    if (oo.backend == WG_STORE_POSTGRES) {
        struct wg_sql *idle = oo.own_session ? NULL : pool_take(oo.dsn, c->name);
        if (idle) { /* migrated when it was opened */
            free(c);
            *out = idle;
            return WG_OK;
        }
        if (!(c->dsn = wg_strdup(oo.dsn))) {
            free(c);
            return WG_ENOMEM;
        }
    }
    enum wg_err rc = oo.backend == WG_STORE_POSTGRES
                         ? wg__common_pg_open(&oo, &c->pg, err, errlen)
                         : wg_store_open(&oo.sqlite, &c->db, err, errlen);
    if (rc != WG_OK) {
        free(c->dsn);
        free(c);
        return rc;
    }
    *out = c;
    return WG_OK;
}

void wg_sql_close(struct wg_sql *c)
{
    if (!c) {
        return;
    }
    if (c->pg && !c->own_session && !wg__common_pg_in_tx(c->pg)) {
        pthread_mutex_lock(&pool_mu);
        if (npool < POOL_MAX) {
            c->next_idle = pool;
            pool = c;
            npool++;
            c = NULL;
        }
        pthread_mutex_unlock(&pool_mu);
        if (!c) {
            return;
        }
    }
    free(c->dsn);
    wg_store_close(c->db);
    wg__common_pg_close(c->pg);
    free(c);
}

enum wg_store_backend wg_sql_backend(const struct wg_sql *c)
{
    return c->backend;
}

sqlite3 *wg_sql_sqlite(struct wg_sql *c)
{
    return c->db;
}

enum wg_err wg_sql_exec(struct wg_sql *c, const char *sql, char *err, size_t errlen)
{
    int64_t t0 = wg_now_ns();
    enum wg_err rc = c->pg ? wg__common_pg_exec(c->pg, sql, err, errlen)
                           : wg_store_exec(c->db, sql, err, errlen);
    count(t0, rc != WG_OK);
    return rc;
}

enum wg_err wg_sql_begin(struct wg_sql *c, int immediate, char *err, size_t errlen)
{
    if (c->pg) {
        return wg_sql_exec(c, "BEGIN", err, errlen);
    }
    return wg_store_begin(c->db, immediate, err, errlen);
}

void wg_sql_rollback(struct wg_sql *c)
{
    if (!c) {
        return;
    }
    if (c->pg) {
        char err[256];
        if (wg__common_pg_in_tx(c->pg)) {
            if (wg__common_pg_exec(c->pg, "ROLLBACK", err, sizeof(err)) != WG_OK) {
                wg_log(WG_LOG_WARN, "state store: rollback failed: %s", err);
            }
        }
        return;
    }
    wg_store_rollback(c->db);
}

enum wg_err wg_sql_commit(struct wg_sql *c, char *err, size_t errlen)
{
    if (c->pg) {
        enum wg_err rc = wg_sql_exec(c, "COMMIT", err, errlen);
        if (rc != WG_OK) {
            wg_sql_rollback(c);
        }
        return rc;
    }
    return wg_store_commit(c->db, err, errlen);
}

int wg_sql_version(struct wg_sql *c)
{
    return c->pg ? wg__common_pg_version(c->pg, c->name) : wg_store_version(c->db);
}

/* `?` and `?N` to `$N`, outside '...' and "..."; the count of parameters in *n. */
static char *to_dollars(const char *sql, int *n)
{
    size_t len = strlen(sql);
    char *out = malloc(len * 4 + 1);
    if (!out) {
        return NULL;
    }
    size_t o = 0;
    int next = 0, max = 0;
    char quote = 0;
    for (const char *p = sql; *p; p++) {
        if (quote) {
            quote = *p == quote ? 0 : quote;
            out[o++] = *p;
            continue;
        }
        if (*p == '\'' || *p == '"') {
            quote = *p;
            out[o++] = *p;
            continue;
        }
        if (*p != '?') {
            out[o++] = *p;
            continue;
        }
        int num;
        if (p[1] >= '0' && p[1] <= '9') {
            char *end;
            num = (int)strtol(p + 1, &end, 10);
            p = end - 1;
        } else {
            num = ++next;
        }
        next = num > next ? num : next;
        max = num > max ? num : max;
        o += (size_t)snprintf(out + o, 8, "$%d", num);
    }
    out[o] = '\0';
    *n = max;
    return out;
}

struct wg_sql_q *wg_sql_query(struct wg_sql *c, const char *sql)
{
    struct wg_sql_q *q = calloc(1, sizeof(*q));
    if (!q) {
        return NULL;
    }
    q->c = c;
    if (c->pg) {
        q->pgsql = to_dollars(sql, &q->nparams);
        if (!q->pgsql) {
            free(q);
            return NULL;
        }
        if (q->nparams > MAX_PARAMS) {
            snprintf(q->err, sizeof(q->err), "too many parameters (%d)", q->nparams);
        }
        return q;
    }
    q->st = wg_store_stmt(c->db, sql);
    if (!q->st) {
        snprintf(q->err, sizeof(q->err), "%s", sqlite3_errmsg(c->db));
    }
    return q;
}

struct wg_sql_q *wg_sql_query_raw(struct wg_sql *c, const char *sql)
{
    struct wg_sql_q *q = wg_sql_query(c, sql);
    if (q) {
        q->binres = 1;
    }
    return q;
}

static void set_val(struct wg_sql_q *q, int i, char *v)
{
    if (i < 1 || i > MAX_PARAMS) {
        free(v);
        return;
    }
    free(q->vals[i - 1]);
    q->vals[i - 1] = v;
    q->fmts[i - 1] = 0;
    q->lens[i - 1] = 0;
}

static void blobs_free(struct wg_sql_q *q)
{
    while (q->blobs) {
        struct blobcol *b = q->blobs;
        q->blobs = b->next;
        free(b->p);
        free(b);
    }
}

void wg_sql_bind_textn(struct wg_sql_q *q, int i, const char *v, size_t n)
{
    if (!q) {
        return;
    }
    if (q->st) {
        sqlite3_bind_text(q->st, i, v, (int)n, SQLITE_TRANSIENT);
    } else if (q->pgsql) {
        char *d = malloc(n + 1);
        if (d) {
            memcpy(d, v, n);
            d[n] = '\0';
        } else {
            snprintf(q->err, sizeof(q->err), "out of memory");
        }
        set_val(q, i, d);
    }
}

void wg_sql_bind_text(struct wg_sql_q *q, int i, const char *v)
{
    if (!q) {
        return;
    }
    if (!v) {
        wg_sql_bind_null(q, i);
    } else {
        wg_sql_bind_textn(q, i, v, strlen(v));
    }
}

void wg_sql_bind_int64(struct wg_sql_q *q, int i, int64_t v)
{
    if (!q) {
        return;
    }
    if (q->st) {
        sqlite3_bind_int64(q->st, i, v);
    } else if (q->pgsql) {
        char b[24];
        snprintf(b, sizeof(b), "%" PRId64, v);
        wg_sql_bind_text(q, i, b);
    }
}

void wg_sql_bind_double(struct wg_sql_q *q, int i, double v)
{
    if (!q) {
        return;
    }
    if (q->st) {
        sqlite3_bind_double(q->st, i, v);
    } else if (q->pgsql) {
        char b[40];
        snprintf(b, sizeof(b), "%.17g", v);
        wg_sql_bind_text(q, i, b);
    }
}

void wg_sql_bind_blob(struct wg_sql_q *q, int i, const void *v, size_t n)
{
    if (!q) {
        return;
    }
    if (!v) {
        wg_sql_bind_null(q, i);
    } else if (n > INT32_MAX) {
        snprintf(q->err, sizeof(q->err), "blob of %zu bytes is too large", n);
    } else if (q->st) {
        sqlite3_bind_blob(q->st, i, v, (int)n, SQLITE_TRANSIENT);
    } else if (q->pgsql) {
        char *d = malloc(n ? n : 1);
        if (!d) {
            snprintf(q->err, sizeof(q->err), "out of memory");
        } else {
            memcpy(d, v, n);
        }
        set_val(q, i, d);
        if (d && i >= 1 && i <= MAX_PARAMS) {
            q->lens[i - 1] = (int)n;
            q->fmts[i - 1] = 1; /* bytes as they are, no escaping (bytea) */
            q->binary = 1;
        }
    }
}

void wg_sql_bind_null(struct wg_sql_q *q, int i)
{
    if (!q) {
        return;
    }
    if (q->st) {
        sqlite3_bind_null(q->st, i);
    } else if (q->pgsql) {
        set_val(q, i, NULL);
    }
}

int wg_sql_step(struct wg_sql_q *q)
{
    if (!q || q->err[0]) {
        return -1;
    }
    if (q->st) {
        int64_t t0 = wg_now_ns();
        int rc = sqlite3_step(q->st);
        if (rc == SQLITE_ROW) {
            return 1;
        }
        count(t0, rc != SQLITE_DONE);
        if (rc == SQLITE_DONE) {
            q->changes = sqlite3_changes(q->c->db);
            return 0;
        }
        snprintf(q->err, sizeof(q->err), "%s", sqlite3_errmsg(q->c->db));
        return -1;
    }
    if (!q->started) {
        q->started = 1;
        int64_t t0 = wg_now_ns();
        enum wg_err rc = wg__common_pg_query_bin(
            q->c->pg, q->pgsql, q->nparams, (const char *const *)q->vals,
            q->binary ? q->lens : NULL, q->binary ? q->fmts : NULL, q->binres, &q->res, &q->nrows,
            &q->changes, q->err, sizeof(q->err));
        count(t0, rc != WG_OK);
        if (rc != WG_OK) {
            return -1;
        }
        q->row = -1;
    }
    blobs_free(q);
    q->row++;
    return q->row < q->nrows ? 1 : 0;
}

int wg_sql_col_null(struct wg_sql_q *q, int i)
{
    if (q->st) {
        return sqlite3_column_type(q->st, i) == SQLITE_NULL;
    }
    return wg__common_pg_value(q->res, q->row, i) == NULL;
}

const char *wg_sql_col_text(struct wg_sql_q *q, int i)
{
    if (q->st) {
        return (const char *)sqlite3_column_text(q->st, i);
    }
    return wg__common_pg_value(q->res, q->row, i);
}

int64_t wg_sql_col_int64(struct wg_sql_q *q, int i)
{
    if (q->st) {
        return sqlite3_column_int64(q->st, i);
    }
    const char *v = wg__common_pg_value(q->res, q->row, i);
    if (v && (v[0] == 't' || v[0] == 'f') && v[1] == '\0') {
        return v[0] == 't'; /* a boolean column */
    }
    return v ? strtoll(v, NULL, 10) : 0;
}

double wg_sql_col_double(struct wg_sql_q *q, int i)
{
    if (q->st) {
        return sqlite3_column_double(q->st, i);
    }
    const char *v = wg__common_pg_value(q->res, q->row, i);
    return v ? strtod(v, NULL) : 0.0;
}

const void *wg_sql_col_blob(struct wg_sql_q *q, int i, size_t *n)
{
    static const unsigned char empty[1];
    *n = 0;
    if (q->st) {
        if (sqlite3_column_type(q->st, i) == SQLITE_NULL) {
            return NULL;
        }
        const void *p = sqlite3_column_blob(q->st, i);
        int len = sqlite3_column_bytes(q->st, i);
        *n = len > 0 && p ? (size_t)len : 0;
        return *n ? p : empty;
    }
    for (struct blobcol *b = q->blobs; b; b = b->next) {
        if (b->col == i) {
            *n = b->n;
            return b->p;
        }
    }
    const char *v = wg__common_pg_value(q->res, q->row, i);
    if (!v) {
        return NULL;
    }
    if (wg__common_pg_binary(q->res, i)) { /* the bytes as they are (wg_sql_query_raw) */
        *n = wg__common_pg_length(q->res, q->row, i);
        return v;
    }
    struct blobcol *b = calloc(1, sizeof(*b));
    if (!b || !(b->p = wg__common_pg_bytea(v, &b->n))) {
        free(b);
        return NULL; /* out of memory, or not a bytea column */
    }
    b->col = i;
    b->next = q->blobs;
    q->blobs = b;
    *n = b->n;
    return b->p;
}

int64_t wg_sql_changes(struct wg_sql_q *q)
{
    return q ? q->changes : 0;
}

const char *wg_sql_qerror(const struct wg_sql_q *q)
{
    return q ? q->err : "out of memory";
}

enum wg_err wg_sql_run(struct wg_sql_q *q, char *err, size_t errlen)
{
    int rc;
    if (!q) {
        snprintf(err, errlen, "out of memory");
        return WG_ENOMEM;
    }
    while ((rc = wg_sql_step(q)) == 1) {
    }
    if (rc < 0) {
        snprintf(err, errlen, "%s", wg_sql_qerror(q));
        return WG_EIO;
    }
    return WG_OK;
}

void wg_sql_end(struct wg_sql_q *q)
{
    if (!q) {
        return;
    }
    if (q->st) {
        sqlite3_reset(q->st);
        sqlite3_clear_bindings(q->st);
    }
    for (int i = 0; i < MAX_PARAMS; i++) {
        free(q->vals[i]);
    }
    blobs_free(q);
    wg__common_pg_free(q->res);
    free(q->pgsql);
    free(q);
}

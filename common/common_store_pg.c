/* common_store_pg.c — the PostgreSQL backend of the store seam (libpq): connect (reconnecting
 * once when the server went away between calls), migrations counted per store in a wg_schema
 * table under an advisory lock, and text-parameter queries whose results the seam iterates,
 * each prepared once per connection (PQprepare) and then only bound and run; binary
 * parameters (bytea) are sent in binary format, bytea results decoded from their hex text.
 * The DSN may hold a password: it is never logged, only libpq's message is.
 */
#include "common/common_store_int.h"

#include <libpq-fe.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Statements prepared on this connection, looked up by their text. A store runs a handful of
 * distinct statements; past PREP_MAX the rest run unprepared (PQexecParams). */
#define PREP_MAX 64

struct prep {
    char *sql;
    char name[24];
};

struct wg__common_pg {
    PGconn *conn;
    pthread_mutex_t mu; /* libpq connections are not for two threads at once */
    struct prep prep[PREP_MAX];
    int nprep;
    unsigned long serial; /* statement names are never reused within a session */
    int no_prepare;       /* the server lost our statements once (a pooler): run unprepared */
};

/* libpq messages end with a newline; keep one line. */
static void pg_msg(char *err, size_t errlen, const char *what, const char *msg)
{
    snprintf(err, errlen, "%s: %s", what, msg && *msg ? msg : "unknown error");
    size_t n = strlen(err);
    while (n > 0 && (err[n - 1] == '\n' || err[n - 1] == ' ')) {
        err[--n] = '\0';
    }
}

static void quiet(void *arg, const char *msg)
{
    (void)arg;
    (void)msg; /* NOTICEs ("relation already exists, skipping") are not ours to log */
}

/* Forget the prepared statements (a new session has none; after an error, ones the server
 * may no longer have). */
static void prep_forget(struct wg__common_pg *p)
{
    for (int i = 0; i < p->nprep; i++) {
        free(p->prep[i].sql);
    }
    p->nprep = 0;
}

/* A connection that broke (server restarted, network cut) is reset once, outside any
 * transaction: inside one, the transaction is gone and the caller must see the error. */
static int ensure(struct wg__common_pg *p)
{
    if (PQstatus(p->conn) == CONNECTION_OK) {
        return 0;
    }
    prep_forget(p);
    PQreset(p->conn);
    return PQstatus(p->conn) == CONNECTION_OK ? 0 : -1;
}

/* The statement's name on this connection, preparing it first (one round trip, once per
 * session); NULL: run it unprepared (*fail set when preparing failed: the caller reports r). */
static const char *prepared(struct wg__common_pg *p, const char *sql, int n, PGresult **fail)
{
    *fail = NULL;
    for (int i = 0; i < p->nprep; i++) {
        if (strcmp(p->prep[i].sql, sql) == 0) {
            return p->prep[i].name;
        }
    }
    if (p->no_prepare || p->nprep == PREP_MAX) {
        return NULL;
    }
    struct prep *e = &p->prep[p->nprep];
    if (!(e->sql = wg_strdup(sql))) {
        return NULL;
    }
    snprintf(e->name, sizeof(e->name), "wg_%lu", ++p->serial);
    PGresult *r = PQprepare(p->conn, e->name, sql, n, NULL);
    if (!r || PQresultStatus(r) != PGRES_COMMAND_OK) {
        free(e->sql);
        *fail = r ? r : PQmakeEmptyPGresult(p->conn, PGRES_FATAL_ERROR);
        return NULL;
    }
    PQclear(r);
    return p->prep[p->nprep++].name;
}

/* The parameters of one query: text values, and for binary ones (lens, fmts: NULL when all
 * are text) their lengths and format 1. */
struct params {
    int n;
    const char *const *vals;
    const int *lens, *fmts;
    int resfmt; /* 1: results in binary format */
};

static PGresult *send(struct wg__common_pg *p, const char *sql, const struct params *a, int params)
{
    if (!params) {
        return PQexec(p->conn, sql);
    }
    PGresult *fail = NULL;
    const char *name = prepared(p, sql, a->n, &fail);
    if (fail) {
        return fail;
    }
    return name ? PQexecPrepared(p->conn, name, a->n, a->vals, a->lens, a->fmts, a->resfmt)
                : PQexecParams(p->conn, sql, a->n, NULL, a->vals, a->lens, a->fmts, a->resfmt);
}

/* The server no longer has a statement we prepared (26000: a pooler such as PgBouncer in
 * transaction mode moved us to another session; DEALLOCATE ALL), or a migration changed a
 * table under one (0A000 "cached plan must not change result type"). */
static int stale_statement(const PGresult *r)
{
    const char *st = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    return st && (strcmp(st, "26000") == 0 || strcmp(st, "0A000") == 0);
}

static enum wg_err run(struct wg__common_pg *p, const char *sql, const struct params *a, int params,
                       PGresult **out, char *err, size_t errlen)
{
    *out = NULL;
    if (ensure(p) != 0) {
        pg_msg(err, errlen, "postgres unreachable", PQerrorMessage(p->conn));
        return WG_EIO;
    }
    int idle = PQtransactionStatus(p->conn) == PQTRANS_IDLE;
    PGresult *r = send(p, sql, a, params);
    ExecStatusType st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
    if (st == PGRES_FATAL_ERROR && idle && PQstatus(p->conn) != CONNECTION_OK && ensure(p) == 0) {
        /* the server went away since the last call (restart): once more on a new connection;
         * inside a transaction the caller sees the error, the transaction being gone */
        PQclear(r);
        r = send(p, sql, a, params);
        st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
    } else if (st == PGRES_FATAL_ERROR && idle && params && stale_statement(r)) {
        /* outside a transaction nothing was done: once more, prepared afresh; statements
         * lost without our doing mean a pooler, so from now on run them unprepared */
        const char *code = PQresultErrorField(r, PG_DIAG_SQLSTATE);
        p->no_prepare |= code && strcmp(code, "26000") == 0;
        PQclear(r);
        prep_forget(p);
        PQclear(PQexec(p->conn, "DEALLOCATE ALL"));
        r = send(p, sql, a, params);
        st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
    }
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        pg_msg(err, errlen, "postgres",
               r && PQresultErrorMessage(r)[0] ? PQresultErrorMessage(r) : PQerrorMessage(p->conn));
        PQclear(r);
        return WG_EIO;
    }
    *out = r;
    return WG_OK;
}

enum wg_err wg__common_pg_exec(struct wg__common_pg *p, const char *sql, char *err, size_t errlen)
{
    PGresult *r = NULL;
    struct params none = {0, NULL, NULL, NULL, 0};
    pthread_mutex_lock(&p->mu);
    enum wg_err rc = run(p, sql, &none, 0, &r, err, errlen);
    pthread_mutex_unlock(&p->mu);
    PQclear(r);
    return rc;
}

enum wg_err wg__common_pg_query(struct wg__common_pg *p, const char *sql, int n,
                                const char *const *vals, void **res, int *nrows, int64_t *changes,
                                char *err, size_t errlen)
{
    return wg__common_pg_query_bin(p, sql, n, vals, NULL, NULL, 0, res, nrows, changes, err,
                                   errlen);
}

enum wg_err wg__common_pg_query_bin(struct wg__common_pg *p, const char *sql, int n,
                                    const char *const *vals, const int *lens, const int *fmts,
                                    int resfmt, void **res, int *nrows, int64_t *changes, char *err,
                                    size_t errlen)
{
    PGresult *r = NULL;
    struct params a = {n, vals, lens, fmts, resfmt};
    pthread_mutex_lock(&p->mu);
    /* Always PQexecParams (even without parameters): a query is exactly one statement. */
    enum wg_err rc = run(p, sql, &a, 1, &r, err, errlen);
    pthread_mutex_unlock(&p->mu);
    if (rc != WG_OK) {
        return rc;
    }
    *res = r;
    *nrows = PQntuples(r);
    const char *ct = PQcmdTuples(r);
    *changes = ct && *ct ? strtoll(ct, NULL, 10) : 0;
    return WG_OK;
}

const char *wg__common_pg_value(void *res, int row, int col)
{
    PGresult *r = res;
    if (!r || row >= PQntuples(r) || col >= PQnfields(r) || PQgetisnull(r, row, col)) {
        return NULL;
    }
    return PQgetvalue(r, row, col);
}

size_t wg__common_pg_length(void *res, int row, int col)
{
    PGresult *r = res;
    if (!r || row >= PQntuples(r) || col >= PQnfields(r) || PQgetisnull(r, row, col)) {
        return 0;
    }
    return (size_t)PQgetlength(r, row, col);
}

int wg__common_pg_binary(void *res, int col)
{
    return res && col < PQnfields(res) && PQfformat(res, col) == 1;
}

void wg__common_pg_free(void *res)
{
    PQclear(res);
}

static int hexval(unsigned char c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

unsigned char *wg__common_pg_bytea(const char *text, size_t *n)
{
    *n = 0;
    size_t len = strlen(text);
    if (len >= 2 && text[0] == '\\' && text[1] == 'x') { /* bytea_output = hex (the default) */
        size_t m = (len - 2) / 2;
        unsigned char *out = malloc(m ? m : 1);
        const unsigned char *h = (const unsigned char *)text + 2;
        for (size_t i = 0; out && i < m; i++) {
            int hi = hexval(h[2 * i]), lo = hexval(h[2 * i + 1]);
            if (hi < 0 || lo < 0) {
                free(out);
                return NULL;
            }
            out[i] = (unsigned char)(hi << 4 | lo);
        }
        *n = out ? m : 0;
        return out;
    }
    size_t m = 0; /* bytea_output = escape: libpq's own decoder */
    unsigned char *u = PQunescapeBytea((const unsigned char *)text, &m);
    unsigned char *out = u ? malloc(m ? m : 1) : NULL;
    if (out) {
        memcpy(out, u, m);
        *n = m;
    }
    PQfreemem(u);
    return out;
}

int wg__common_pg_in_tx(struct wg__common_pg *p)
{
    PGTransactionStatusType t = PQtransactionStatus(p->conn);
    return t == PQTRANS_INTRANS || t == PQTRANS_INERROR;
}

int wg__common_pg_version(struct wg__common_pg *p, const char *name)
{
    const char *vals[1] = {name};
    void *res = NULL;
    int nrows = 0;
    int64_t ch = 0;
    char err[256];
    if (wg__common_pg_query(p, "SELECT version FROM wg_schema WHERE name=$1", 1, vals, &res, &nrows,
                            &ch, err, sizeof(err)) != WG_OK) {
        return -1;
    }
    const char *v = wg__common_pg_value(res, 0, 0);
    int out = v ? (int)strtol(v, NULL, 10) : 0;
    wg__common_pg_free(res);
    return out;
}

/* Migrate in one transaction under a transaction-scoped advisory lock on the store's name, so
 * replicas starting together migrate once; the version is read under the lock. */
static enum wg_err migrate(struct wg__common_pg *p, const struct wg_sql_opts *o, char *err,
                           size_t errlen)
{
    const char *name = o->name ? o->name : "default";
    const char *vals[2] = {name, NULL};
    void *res = NULL;
    int nrows;
    int64_t ch;
    enum wg_err rc = wg__common_pg_exec(p,
                                        "CREATE TABLE IF NOT EXISTS wg_schema("
                                        " name TEXT PRIMARY KEY, version INTEGER NOT NULL)",
                                        err, errlen);
    if (rc == WG_OK) {
        rc = wg__common_pg_exec(p, "BEGIN", err, errlen);
    }
    if (rc != WG_OK) {
        return rc;
    }
    rc = wg__common_pg_query(p, "SELECT pg_advisory_xact_lock(hashtext('wg_schema:' || $1))", 1,
                             vals, &res, &nrows, &ch, err, errlen);
    wg__common_pg_free(res);
    int v = rc == WG_OK ? wg__common_pg_version(p, name) : -1;
    if (rc == WG_OK && v < 0) {
        snprintf(err, errlen, "cannot read the schema version of %s", name);
        rc = WG_EIO;
    }
    if (rc == WG_OK && v > o->npg_migrations) {
        snprintf(err, errlen,
                 "schema version %d of %s is newer than this wavegate knows (%d): run the newer "
                 "wavegate, or restore the database it was made from",
                 v, name, o->npg_migrations);
        rc = WG_EIO;
    }
    for (int i = v; rc == WG_OK && i < o->npg_migrations; i++) {
        rc = wg__common_pg_exec(p, o->pg_migrations[i], err, errlen);
    }
    if (rc == WG_OK && v < o->npg_migrations) {
        char num[16];
        snprintf(num, sizeof(num), "%d", o->npg_migrations);
        vals[1] = num;
        rc = wg__common_pg_query(p,
                                 "INSERT INTO wg_schema(name, version) VALUES ($1, $2::int)"
                                 " ON CONFLICT (name) DO UPDATE SET version=EXCLUDED.version",
                                 2, vals, &res, &nrows, &ch, err, errlen);
        if (rc == WG_OK) {
            wg__common_pg_free(res);
        }
    }
    char e2[256];
    if (rc != WG_OK) {
        if (wg__common_pg_exec(p, "ROLLBACK", e2, sizeof(e2)) != WG_OK) {
            wg_log(WG_LOG_WARN, "state store: rollback failed: %s", e2);
        }
        return rc;
    }
    return wg__common_pg_exec(p, "COMMIT", err, errlen);
}

enum wg_err wg__common_pg_open(const struct wg_sql_opts *o, struct wg__common_pg **out, char *err,
                               size_t errlen)
{
    *out = NULL;
    if (!o->dsn || !*o->dsn) {
        snprintf(err, errlen, "state.backend postgres: no DSN (set state.dsn_env's variable)");
        return WG_EINVAL;
    }
    struct wg__common_pg *p = calloc(1, sizeof(*p));
    if (!p) {
        return WG_ENOMEM;
    }
    pthread_mutex_init(&p->mu, NULL);
    p->conn = PQconnectdb(o->dsn);
    if (!p->conn || PQstatus(p->conn) != CONNECTION_OK) {
        pg_msg(err, errlen, "cannot connect to postgres",
               p->conn ? PQerrorMessage(p->conn) : "out of memory");
        wg__common_pg_close(p);
        return WG_EIO;
    }
    PQsetNoticeProcessor(p->conn, quiet, NULL);
    enum wg_err rc = migrate(p, o, err, errlen);
    if (rc != WG_OK) {
        wg__common_pg_close(p);
        return rc;
    }
    *out = p;
    return WG_OK;
}

void wg__common_pg_close(struct wg__common_pg *p)
{
    if (!p) {
        return;
    }
    prep_forget(p);
    PQfinish(p->conn);
    pthread_mutex_destroy(&p->mu);
    free(p);
}

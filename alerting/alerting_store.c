/* alerting_store.c — the SQLite database in <state_dir>/alerting.db (WAL): alert states and
 * the notification log (so resolves survive a restart), silences, and the outbox table that
 * alerting_deliver.c drains. Also the silence store API used by the CLI and serve.
 */
#include "alerting/alerting_int.h"

#include "common/store.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Each alert instance's evidence link (both backends' next migration). */
#define LINKS_SQL                                                                                  \
    "CREATE TABLE IF NOT EXISTS alert_links(fp TEXT PRIMARY KEY, eval_id TEXT NOT NULL,"           \
    " cond INTEGER NOT NULL);"

/* SQLite: version 1 is the schema that stores had before versions were counted (idempotent). */
static const char *const MIGRATIONS[] = {
    "CREATE TABLE IF NOT EXISTS outbox(id INTEGER PRIMARY KEY, receiver TEXT NOT NULL,"
    " idem TEXT NOT NULL, okey TEXT NOT NULL, url TEXT NOT NULL, headers TEXT NOT NULL,"
    " body BLOB NOT NULL,"
    " attempts INTEGER NOT NULL DEFAULT 0, state INTEGER NOT NULL DEFAULT 0,"
    " created INTEGER NOT NULL, last_error TEXT);"
    "CREATE TABLE IF NOT EXISTS alerts(fp TEXT PRIMARY KEY, scope TEXT, labels TEXT, ann TEXT,"
    " state INTEGER, resolved INTEGER, active_since INTEGER, starts_at INTEGER,"
    " ends_at INTEGER, last_breach INTEGER, for_ns INTEGER, keep_ns INTEGER);"
    "CREATE TABLE IF NOT EXISTS nflog(gkey TEXT PRIMARY KEY, firing TEXT, resolved TEXT,"
    " ts INTEGER);"
    "CREATE TABLE IF NOT EXISTS silences(id TEXT PRIMARY KEY, matchers TEXT, starts_at INTEGER,"
    " ends_at INTEGER, updated_at INTEGER, created_by TEXT, comment TEXT);",
    /* 2: each alert instance's evidence (the evaluation that last changed its condition) */
    LINKS_SQL,
};

/* PostgreSQL (state: {backend: postgres}): the same tables shared by every replica, the outbox
 * with its claims (claimed_by, lease_until: alerting_outbox.c) and one pending row per
 * idempotency key (two replicas that both think they lead make the same row once). */
static const char *const PG_MIGRATIONS[] = {
    "CREATE TABLE IF NOT EXISTS outbox(id BIGSERIAL PRIMARY KEY, receiver TEXT NOT NULL,"
    " idem TEXT NOT NULL, okey TEXT NOT NULL, url TEXT NOT NULL, headers TEXT NOT NULL,"
    " body TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,"
    " state INTEGER NOT NULL DEFAULT 0, created BIGINT NOT NULL, last_error TEXT,"
    " claimed_by TEXT, lease_until TIMESTAMPTZ, resends INTEGER NOT NULL DEFAULT 0);"
    "CREATE UNIQUE INDEX IF NOT EXISTS outbox_pending_idem ON outbox(idem) WHERE state = 0;"
    "CREATE INDEX IF NOT EXISTS outbox_claims ON outbox(state, lease_until);"
    "CREATE TABLE IF NOT EXISTS alerts(fp TEXT PRIMARY KEY, scope TEXT, labels TEXT, ann TEXT,"
    " state INTEGER, resolved INTEGER, active_since BIGINT, starts_at BIGINT,"
    " ends_at BIGINT, last_breach BIGINT, for_ns BIGINT, keep_ns BIGINT);"
    "CREATE TABLE IF NOT EXISTS nflog(gkey TEXT PRIMARY KEY, firing TEXT, resolved TEXT,"
    " ts BIGINT);"
    "CREATE TABLE IF NOT EXISTS silences(id TEXT PRIMARY KEY, matchers TEXT, starts_at BIGINT,"
    " ends_at BIGINT, updated_at BIGINT, created_by TEXT, comment TEXT);",
    /* 2: evaluations (gate events) accepted by a follower, for the leader to apply */
    "CREATE TABLE IF NOT EXISTS alert_inbox(id BIGSERIAL PRIMARY KEY, body TEXT NOT NULL);",
    /* 3: each alert instance's evidence (the evaluation that last changed its condition) */
    LINKS_SQL,
};

/* The last PostgreSQL error of this thread (SQLite keeps its own per connection). */
static _Thread_local char pg_err[256];

void wg__db_set_error(const char *msg)
{
    snprintf(pg_err, sizeof(pg_err), "%s", msg && *msg ? msg : "unknown error");
}

const char *wg__db_errmsg(struct wg_sql *c)
{
    sqlite3 *db = c ? wg_sql_sqlite(c) : NULL;
    return db ? sqlite3_errmsg(db) : pg_err[0] ? pg_err : "postgres: unknown error";
}

int wg__db_shared(const struct wg_sql *c)
{
    return c && wg_sql_backend(c) == WG_STORE_POSTGRES;
}

sqlite3 *wg__db_sqlite(struct wg_sql *c)
{
    return c ? wg_sql_sqlite(c) : NULL;
}

int wg__db_begin(struct wg_sql *c)
{
    sqlite3 *db = wg_sql_sqlite(c);
    if (db) {
        return sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
    }
    char err[256];
    if (wg_sql_begin(c, 1, err, sizeof(err)) != WG_OK) {
        wg__db_set_error(err);
        return SQLITE_ERROR;
    }
    return SQLITE_OK;
}

void wg__db_rollback(struct wg_sql *c)
{
    wg_sql_rollback(c);
}

int wg__db_commit(struct wg_sql *c)
{
    sqlite3 *db = wg_sql_sqlite(c);
    if (db) {
        int rc = sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
        if (rc != SQLITE_OK) {
            wg__db_rollback(c);
        }
        return rc;
    }
    char err[256];
    if (wg_sql_commit(c, err, sizeof(err)) != WG_OK) { /* rolled back by the seam */
        wg__db_set_error(err);
        return SQLITE_ERROR;
    }
    return SQLITE_OK;
}

void wg__db_busy_wait(struct wg_sql *c, int wait)
{
    sqlite3 *db = c ? wg_sql_sqlite(c) : NULL;
    if (db) {
        wg_store_busy_wait(db, wait);
    }
}

void wg__db_close(struct wg_sql *c)
{
    wg_sql_close(c);
}

/* Run a statement that returns no rows, bound by the caller; logs nothing (callers count). */
static enum wg_err q_run(struct wg_sql_q *q)
{
    char err[256];
    enum wg_err rc = wg_sql_run(q, err, sizeof(err));
    if (rc != WG_OK) {
        wg__db_set_error(err);
    }
    wg_sql_end(q);
    return rc;
}

int64_t wg__db_silence_version(struct wg_sql *c)
{
    sqlite3 *db = wg_sql_sqlite(c);
    int64_t v = -1;
    if (db) {
        sqlite3_stmt *st = NULL;
        if (sqlite3_prepare_v2(db, "PRAGMA data_version", -1, &st, NULL) == SQLITE_OK &&
            sqlite3_step(st) == SQLITE_ROW) {
            v = sqlite3_column_int64(st, 0);
        }
        sqlite3_finalize(st);
        return v;
    }
    /* PostgreSQL: every change of a silence moves its updated_at (and a new one the count) */
    struct wg_sql_q *q =
        wg_sql_query(c, "SELECT count(*), coalesce(max(updated_at), 0) FROM silences");
    if (wg_sql_step(q) == 1) {
        v = (int64_t)((uint64_t)wg_sql_col_int64(q, 1) * 31u + (uint64_t)wg_sql_col_int64(q, 0));
    } else {
        wg__db_set_error(wg_sql_qerror(q));
    }
    wg_sql_end(q);
    return v;
}

/* The marker next to the database: written once a store exists, so a store that later turns
 * up empty or missing (a truncated file, a restored backup without it, an operator's rm) is
 * reported instead of silently starting over. */
#define MARKER "alerting.store"

static void marker_write(const char *mpath, int64_t now)
{
    char t[48];
    FILE *f = fopen(mpath, "w");
    if (!f) {
        wg_log(WG_LOG_WARN, "alerting: cannot write %s: %s", mpath, strerror(errno));
        return;
    }
    fprintf(f, "wavegate alerting store (alerting.db) in use since %s\n",
            wg_time_format(now, t, sizeof(t)));
    if (fclose(f) != 0) {
        wg_log(WG_LOG_WARN, "alerting: cannot write %s: %s", mpath, strerror(errno));
    }
}

static enum wg_err open_pg(struct wg_sql **out, char *err, size_t errlen)
{
    struct wg_sql_opts o = {
        .backend = WG_STORE_POSTGRES,
        .name = "alerting",
        .pg_migrations = PG_MIGRATIONS,
        .npg_migrations = (int)(sizeof(PG_MIGRATIONS) / sizeof(PG_MIGRATIONS[0])),
    };
    char e[384];
    enum wg_err rc = wg_sql_open(&o, out, e, sizeof(e));
    if (rc != WG_OK) {
        snprintf(err, errlen, "alerting store (postgres): %s", e);
    }
    return rc;
}

enum wg_err wg__db_open_checked(const char *state_dir, int synchronous, int check,
                                struct wg_sql **out, int *lost, char *err, size_t errlen)
{
    struct stat sb;
    int fresh = 0;
    *out = NULL;
    if (lost) {
        *lost = 0;
    }
    if (wg_sql_default_backend() == WG_STORE_POSTGRES) {
        return open_pg(out, err, errlen);
    }
    char *path = wg_asprintf("%s/alerting.db", state_dir);
    char *mpath = wg_asprintf("%s/" MARKER, state_dir);
    if (!path || !mpath) {
        snprintf(err, errlen, "out of memory");
        free(path);
        free(mpath);
        return WG_ENOMEM;
    }
    int existed = stat(path, &sb) == 0;
    long long size = existed ? (long long)sb.st_size : -1;
    int marked = access(mpath, F_OK) == 0;
    struct wg_sql_opts o = {
        .backend = WG_STORE_SQLITE,
        .sqlite =
            {
                .dir = state_dir,
                .file = "alerting.db",
                .create = 1,
                .synchronous = synchronous,
                .quick_check = check,
                .migrations = MIGRATIONS,
                .nmigrations = (int)(sizeof(MIGRATIONS) / sizeof(MIGRATIONS[0])),
                .fresh = &fresh,
            },
    };
    enum wg_err rc = wg_sql_open(&o, out, err, errlen);
    if (rc == WG_OK && fresh && marked) {
        wg_log(WG_LOG_ERROR,
               "alerting: %s %s, but %s says a store was in use here: the alert states, "
               "notification log, silences and pending notifications it held are lost; "
               "starting an empty store",
               path,
               !existed    ? "is missing"
               : size == 0 ? "is empty (0 bytes)"
                           : "has no tables",
               mpath);
        if (lost) {
            *lost = 1;
        }
    }
    if (rc == WG_OK && !marked) {
        marker_write(mpath, wg_now_ns());
    }
    free(path);
    free(mpath);
    return rc;
}

enum wg_err wg__db_open(const char *state_dir, int synchronous, struct wg_sql **out, char *err,
                        size_t errlen)
{
    return wg__db_open_checked(state_dir, synchronous, 0, out, NULL, err, errlen);
}

static char *labels_text(const struct wg__labels *ls)
{
    struct wg_buf b;
    wg_buf_init(&b, 0);
    wg__labels_json(&b, ls);
    return wg_buf_take(&b);
}

static enum wg_err labels_parse(const char *s, struct wg__labels *ls)
{
    enum wg_err rc = WG_OK;
    cJSON *j = s ? cJSON_Parse(s) : NULL;
    for (cJSON *it = j ? j->child : NULL; it && rc == WG_OK; it = it->next) {
        if (cJSON_IsString(it)) {
            rc = wg__labels_set(ls, it->string, it->valuestring);
        }
    }
    cJSON_Delete(j);
    return rc;
}

enum wg_err wg__db_save_alert(struct wg_sql *c, const struct wg__alert *al)
{
    char *l = labels_text(&al->labels), *a = labels_text(&al->ann);
    struct wg_sql_q *q = wg_sql_query(
        c, "INSERT INTO alerts(fp,scope,labels,ann,state,resolved,active_since,starts_at,"
           "ends_at,last_breach,for_ns,keep_ns) VALUES(?,?,?,?,?,?,?,?,?,?,?,?)"
           " ON CONFLICT(fp) DO UPDATE SET scope=excluded.scope, labels=excluded.labels,"
           " ann=excluded.ann, state=excluded.state, resolved=excluded.resolved,"
           " active_since=excluded.active_since, starts_at=excluded.starts_at,"
           " ends_at=excluded.ends_at, last_breach=excluded.last_breach,"
           " for_ns=excluded.for_ns, keep_ns=excluded.keep_ns");
    wg_sql_bind_text(q, 1, al->fps);
    wg_sql_bind_text(q, 2, al->scope ? al->scope : "");
    wg_sql_bind_text(q, 3, l ? l : "{}");
    wg_sql_bind_text(q, 4, a ? a : "{}");
    wg_sql_bind_int64(q, 5, (int)al->state);
    wg_sql_bind_int64(q, 6, al->resolved);
    wg_sql_bind_int64(q, 7, al->active_since);
    wg_sql_bind_int64(q, 8, al->starts_at);
    wg_sql_bind_int64(q, 9, al->ends_at);
    wg_sql_bind_int64(q, 10, al->last_breach);
    wg_sql_bind_int64(q, 11, al->for_ns);
    wg_sql_bind_int64(q, 12, al->keep_ns);
    enum wg_err rc = q_run(q);
    free(l);
    free(a);
    return rc;
}

/* The JSON array of rows in b (its closing bracket still to come) as ?1 of sql, one statement;
 * b is freed. oom: a row could not be rendered (nothing is written then). */
static enum wg_err run_rows(struct wg_sql *c, struct wg_buf *b, int oom, const char *sql)
{
    wg_buf_adds(b, "]");
    if (wg_buf_err(b) != WG_OK || oom) {
        wg_buf_free(b);
        return WG_ENOMEM;
    }
    struct wg_sql_q *q = wg_sql_query(c, sql);
    wg_sql_bind_text(q, 1, b->p);
    enum wg_err rc = q_run(q);
    wg_buf_free(b);
    return rc;
}

/* PostgreSQL: the alerts of v in one statement (a JSON array of rows): one round trip for a
 * tick's hundreds of changed states, not one each (bench_alerting.sh PG=1: 2,000 alerts
 * accepted in 140 ms, of it 2,000 single-row upserts). */
enum wg_err wg__db_save_alerts(struct wg_sql *c, struct wg__alert *const *v, size_t n)
{
    struct wg_buf b;
    int oom = 0;
    wg_buf_init(&b, 0);
    for (size_t i = 0; i < n; i++) {
        const struct wg__alert *al = v[i];
        char *l = labels_text(&al->labels), *a = labels_text(&al->ann);
        oom |= !l || !a;
        wg_buf_adds(&b, i ? ",{\"f\":" : "[{\"f\":");
        wg_buf_add_json(&b, al->fps);
        wg_buf_adds(&b, ",\"s\":");
        wg_buf_add_json(&b, al->scope ? al->scope : "");
        wg_buf_adds(&b, ",\"l\":");
        wg_buf_add_json(&b, l ? l : "{}");
        wg_buf_adds(&b, ",\"a\":");
        wg_buf_add_json(&b, a ? a : "{}");
        free(l);
        free(a);
        wg_buf_addf(&b,
                    ",\"st\":%d,\"r\":%d,\"as\":%lld,\"sa\":%lld,\"ea\":%lld,\"lb\":%lld,"
                    "\"fo\":%lld,\"ke\":%lld}",
                    (int)al->state, al->resolved, (long long)al->active_since,
                    (long long)al->starts_at, (long long)al->ends_at, (long long)al->last_breach,
                    (long long)al->for_ns, (long long)al->keep_ns);
    }
    return run_rows(
        c, &b, oom,
        "INSERT INTO alerts(fp,scope,labels,ann,state,resolved,active_since,starts_at,"
        "ends_at,last_breach,for_ns,keep_ns) SELECT x.f, x.s, x.l, x.a, x.st, x.r, x.as,"
        " x.sa, x.ea, x.lb, x.fo, x.ke FROM json_to_recordset(CAST(?1 AS json)) AS x(f text,"
        " s text, l text, a text, st integer, r integer, \"as\" bigint, sa bigint, ea bigint,"
        " lb bigint, fo bigint, ke bigint)"
        " ON CONFLICT(fp) DO UPDATE SET scope=excluded.scope, labels=excluded.labels,"
        " ann=excluded.ann, state=excluded.state, resolved=excluded.resolved,"
        " active_since=excluded.active_since, starts_at=excluded.starts_at,"
        " ends_at=excluded.ends_at, last_breach=excluded.last_breach,"
        " for_ns=excluded.for_ns, keep_ns=excluded.keep_ns");
}

enum wg_err wg__db_delete_alert(struct wg_sql *c, uint64_t fp)
{
    char fps[17];
    snprintf(fps, sizeof(fps), "%016llx", (unsigned long long)fp);
    struct wg_sql_q *q = wg_sql_query(c, "DELETE FROM alerts WHERE fp=?");
    wg_sql_bind_text(q, 1, fps);
    return q_run(q);
}

enum wg_err wg__db_link_put(struct wg_sql *c, uint64_t fp, const char *id, int cond)
{
    char fps[17];
    snprintf(fps, sizeof(fps), "%016llx", (unsigned long long)fp);
    struct wg_sql_q *q = wg_sql_query(
        c, "INSERT INTO alert_links(fp,eval_id,cond) VALUES(?,?,?) ON CONFLICT(fp) DO UPDATE"
           " SET eval_id=excluded.eval_id, cond=excluded.cond");
    wg_sql_bind_text(q, 1, fps);
    wg_sql_bind_text(q, 2, id);
    wg_sql_bind_int64(q, 3, cond);
    return q_run(q);
}

enum wg_err wg__db_link_drop(struct wg_sql *c, uint64_t fp)
{
    char fps[17];
    snprintf(fps, sizeof(fps), "%016llx", (unsigned long long)fp);
    struct wg_sql_q *q = wg_sql_query(c, "DELETE FROM alert_links WHERE fp=?");
    wg_sql_bind_text(q, 1, fps);
    return q_run(q);
}

int wg__db_link_get(struct wg_sql *c, uint64_t fp, char *id, size_t idlen, int *cond)
{
    char fps[17];
    snprintf(fps, sizeof(fps), "%016llx", (unsigned long long)fp);
    struct wg_sql_q *q = wg_sql_query(c, "SELECT eval_id, cond FROM alert_links WHERE fp=?");
    wg_sql_bind_text(q, 1, fps);
    int r = wg_sql_step(q);
    if (r == 1) {
        const char *v = wg_sql_col_text(q, 0);
        snprintf(id, idlen, "%s", v ? v : "");
        *cond = (int)wg_sql_col_int64(q, 1);
    } else if (r < 0) {
        wg__db_set_error(wg_sql_qerror(q));
    }
    wg_sql_end(q);
    return r;
}

enum wg_err wg__db_load_alerts(struct wg_sql *c, struct wg__store *s)
{
    enum wg_err rc = WG_OK;
    int r;
    struct wg_sql_q *q =
        wg_sql_query(c, "SELECT fp,scope,labels,ann,state,resolved,active_since,"
                        "starts_at,ends_at,last_breach,for_ns,keep_ns FROM alerts");
    while ((r = wg_sql_step(q)) == 1) {
        const char *fps = wg_sql_col_text(q, 0);
        uint64_t fp = strtoull(fps ? fps : "0", NULL, 16);
        struct wg__alert *al = wg__store_add(s, fp);
        if (!al) {
            rc = WG_ENOMEM;
            break;
        }
        free(al->scope);
        al->scope = wg_strdup(wg_sql_col_text(q, 1));
        if (labels_parse(wg_sql_col_text(q, 2), &al->labels) != WG_OK ||
            labels_parse(wg_sql_col_text(q, 3), &al->ann) != WG_OK) {
            rc = WG_ENOMEM;
            break;
        }
        al->state = (enum wg__astate)wg_sql_col_int64(q, 4);
        al->resolved = (int)wg_sql_col_int64(q, 5);
        al->active_since = wg_sql_col_int64(q, 6);
        al->starts_at = wg_sql_col_int64(q, 7);
        al->ends_at = wg_sql_col_int64(q, 8);
        al->last_breach = wg_sql_col_int64(q, 9);
        al->for_ns = wg_sql_col_int64(q, 10);
        al->keep_ns = wg_sql_col_int64(q, 11);
    }
    if (r < 0) {
        wg__db_set_error(wg_sql_qerror(q));
        rc = WG_EIO;
    }
    wg_sql_end(q);
    return rc;
}

static char *fps_text(const uint64_t *v, size_t n)
{
    struct wg_buf b;
    wg_buf_init(&b, 0);
    wg_buf_adds(&b, "");
    for (size_t i = 0; i < n; i++) {
        wg_buf_addf(&b, "%s%016llx", i ? "," : "", (unsigned long long)v[i]);
    }
    return wg_buf_take(&b);
}

static uint64_t *fps_parse(const char *s, size_t *n)
{
    size_t cnt = s && *s ? 1 : 0;
    for (const char *p = s; p && *p; p++) {
        cnt += *p == ',';
    }
    uint64_t *v = calloc(cnt ? cnt : 1, sizeof(*v));
    *n = 0;
    for (const char *p = s; v && p && *p && *n < cnt;) {
        char *end = NULL;
        v[(*n)++] = strtoull(p, &end, 16);
        p = end && *end == ',' ? end + 1 : "";
    }
    return v;
}

enum wg_err wg__db_save_group(struct wg_sql *c, const struct wg__group *g)
{
    char *f = fps_text(g->log_firing, g->nlog_firing);
    char *r = fps_text(g->log_resolved, g->nlog_resolved);
    struct wg_sql_q *q =
        wg_sql_query(c, "INSERT INTO nflog(gkey,firing,resolved,ts) VALUES(?,?,?,?)"
                        " ON CONFLICT(gkey) DO UPDATE SET firing=excluded.firing,"
                        " resolved=excluded.resolved, ts=excluded.ts");
    wg_sql_bind_text(q, 1, g->key);
    wg_sql_bind_text(q, 2, f ? f : "");
    wg_sql_bind_text(q, 3, r ? r : "");
    wg_sql_bind_int64(q, 4, g->log_ts);
    enum wg_err rc = q_run(q);
    free(f);
    free(r);
    return rc;
}

/* PostgreSQL: the notification logs of v in one statement (as wg__db_save_alerts). */
enum wg_err wg__db_save_groups(struct wg_sql *c, struct wg__group *const *v, size_t n)
{
    struct wg_buf b;
    int oom = 0;
    wg_buf_init(&b, 0);
    for (size_t i = 0; i < n; i++) {
        char *f = fps_text(v[i]->log_firing, v[i]->nlog_firing);
        char *r = fps_text(v[i]->log_resolved, v[i]->nlog_resolved);
        wg_buf_adds(&b, i ? ",{\"k\":" : "[{\"k\":");
        wg_buf_add_json(&b, v[i]->key);
        wg_buf_adds(&b, ",\"f\":");
        wg_buf_add_json(&b, f ? f : "");
        wg_buf_adds(&b, ",\"r\":");
        wg_buf_add_json(&b, r ? r : "");
        wg_buf_addf(&b, ",\"t\":%lld}", (long long)v[i]->log_ts);
        oom |= !f || !r;
        free(f);
        free(r);
    }
    return run_rows(c, &b, oom,
                    "INSERT INTO nflog(gkey,firing,resolved,ts) SELECT x.k, x.f, x.r, x.t FROM"
                    " json_to_recordset(CAST(?1 AS json)) AS x(k text, f text, r text, t bigint)"
                    " ON CONFLICT(gkey) DO UPDATE SET firing=excluded.firing,"
                    " resolved=excluded.resolved, ts=excluded.ts");
}

enum wg_err wg__db_delete_group(struct wg_sql *c, const char *key)
{
    struct wg_sql_q *q = wg_sql_query(c, "DELETE FROM nflog WHERE gkey=?");
    wg_sql_bind_text(q, 1, key);
    return q_run(q);
}

enum wg_err wg__db_load_logs(struct wg_sql *c, struct wg__group ***out, size_t *n)
{
    size_t cap = 0;
    enum wg_err rc = WG_OK;
    int r;
    *out = NULL;
    *n = 0;
    struct wg_sql_q *q = wg_sql_query(c, "SELECT gkey,firing,resolved,ts FROM nflog");
    while ((r = wg_sql_step(q)) == 1) {
        struct wg__group *g = calloc(1, sizeof(*g));
        if (*n == cap) {
            cap = cap ? cap * 2 : 16;
            struct wg__group **nv = realloc(*out, cap * sizeof(*nv));
            if (!nv) {
                free(g);
                rc = WG_ENOMEM;
                break;
            }
            *out = nv;
        }
        if (!g) {
            rc = WG_ENOMEM;
            break;
        }
        g->key = wg_strdup(wg_sql_col_text(q, 0));
        g->log_firing = fps_parse(wg_sql_col_text(q, 1), &g->nlog_firing);
        g->log_resolved = fps_parse(wg_sql_col_text(q, 2), &g->nlog_resolved);
        g->log_ts = wg_sql_col_int64(q, 3);
        g->has_log = 1;
        (*out)[(*n)++] = g;
    }
    if (r < 0) {
        wg__db_set_error(wg_sql_qerror(q));
        rc = WG_EIO;
    }
    wg_sql_end(q);
    return rc;
}

/* ---- silences ---------------------------------------------------------------------------- */

struct wg_silence_store {
    struct wg_sql *db;
    int own;
};

void wg_silence_clear(struct wg_silence *s)
{
    if (s) {
        wg_matchers_clear(&s->matchers);
        free(s->created_by);
        free(s->comment);
        memset(s, 0, sizeof(*s));
    }
}

void wg__silence_set_clear(struct wg__silence_set *ss)
{
    for (size_t i = 0; i < ss->n; i++) {
        wg_silence_clear(&ss->v[i]);
    }
    free(ss->v);
    ss->v = NULL;
    ss->n = 0;
}

static char *matchers_json(const struct wg_matchers *ms)
{
    struct wg_buf b;
    wg_buf_init(&b, 0);
    wg_buf_adds(&b, "[");
    for (size_t i = 0; i < ms->n; i++) {
        const struct wg_matcher *m = &ms->v[i];
        wg_buf_adds(&b, i ? ",{\"name\":" : "{\"name\":");
        wg_buf_add_json(&b, m->name);
        wg_buf_adds(&b, ",\"value\":");
        wg_buf_add_json(&b, m->value);
        wg_buf_addf(&b, ",\"isRegex\":%s,\"isEqual\":%s}",
                    m->op == WG_MATCH_RE || m->op == WG_MATCH_NRE ? "true" : "false",
                    m->op == WG_MATCH_EQ || m->op == WG_MATCH_RE ? "true" : "false");
    }
    wg_buf_adds(&b, "]");
    return wg_buf_take(&b);
}

static int matchers_from_json(const cJSON *arr, struct wg_matchers *ms, char *err, size_t el)
{
    size_t cnt = (size_t)cJSON_GetArraySize(arr);
    if (!cJSON_IsArray(arr) || cnt == 0 || cnt > 64) {
        snprintf(err, el, "matchers must be a non-empty array (at most 64)");
        return -1;
    }
    ms->v = calloc(cnt, sizeof(*ms->v));
    for (const cJSON *it = arr->child; ms->v && it; it = it->next) {
        const cJSON *n = cJSON_GetObjectItemCaseSensitive(it, "name");
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(it, "value");
        int re = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(it, "isRegex"));
        const cJSON *eq = cJSON_GetObjectItemCaseSensitive(it, "isEqual");
        int isneq = cJSON_IsFalse(eq);
        enum wg_match_op op =
            re ? (isneq ? WG_MATCH_NRE : WG_MATCH_RE) : (isneq ? WG_MATCH_NE : WG_MATCH_EQ);
        if (!cJSON_IsString(n) || !cJSON_IsString(v) ||
            wg_matcher_init(&ms->v[ms->n], n->valuestring, op, v->valuestring, err, el) != WG_OK) {
            if (!cJSON_IsString(n) || !cJSON_IsString(v)) {
                snprintf(err, el, "each matcher needs string name and value");
            }
            return -1;
        }
        ms->n++;
    }
    return ms->v ? 0 : -1;
}

enum wg_err wg_silence_from_json(const char *body, size_t len, struct wg_silence *s, char *err,
                                 size_t errlen)
{
    cJSON *j = cJSON_ParseWithLength(body, len);
    enum wg_err rc = WG_EINVAL;
    memset(s, 0, sizeof(*s));
    if (!j || !cJSON_IsObject(j)) {
        snprintf(err, errlen, "body is not a JSON object");
        goto out;
    }
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(j, "id");
    const cJSON *sa = cJSON_GetObjectItemCaseSensitive(j, "startsAt");
    const cJSON *ea = cJSON_GetObjectItemCaseSensitive(j, "endsAt");
    const cJSON *cb = cJSON_GetObjectItemCaseSensitive(j, "createdBy");
    const cJSON *cm = cJSON_GetObjectItemCaseSensitive(j, "comment");
    if (cJSON_IsString(id)) {
        snprintf(s->id, sizeof(s->id), "%s", id->valuestring);
    }
    if (matchers_from_json(cJSON_GetObjectItemCaseSensitive(j, "matchers"), &s->matchers, err,
                           errlen) != 0) {
        goto out;
    }
    s->starts_ns = wg_now_ns();
    if ((sa && !cJSON_IsString(sa)) || !cJSON_IsString(ea) ||
        (sa && wg_time_parse(sa->valuestring, strlen(sa->valuestring), &s->starts_ns) != WG_OK) ||
        wg_time_parse(ea->valuestring, strlen(ea->valuestring), &s->ends_ns) != WG_OK ||
        s->ends_ns <= s->starts_ns) {
        snprintf(err, errlen,
                 "startsAt (optional) and endsAt must be RFC3339 times, end after start");
        goto out;
    }
    s->created_by = wg_strdup(cJSON_IsString(cb) ? cb->valuestring : "");
    s->comment = wg_strdup(cJSON_IsString(cm) ? cm->valuestring : "");
    rc = WG_OK;
out:
    cJSON_Delete(j);
    if (rc != WG_OK) {
        wg_silence_clear(s);
    }
    return rc;
}

enum wg_err wg_silence_store_open(const char *state_dir, struct wg_silence_store **out, char *err,
                                  size_t errlen)
{
    struct wg_silence_store *s = calloc(1, sizeof(*s));
    *out = NULL;
    if (!s) {
        return WG_ENOMEM;
    }
    if (wg__db_open(state_dir, 2, &s->db, err, errlen) != WG_OK) {
        free(s);
        return WG_EIO;
    }
    s->own = 1;
    *out = s;
    return WG_OK;
}

struct wg_silence_store *wg__silence_store_wrap(struct wg_sql *db)
{
    struct wg_silence_store *s = calloc(1, sizeof(*s));
    if (s) {
        s->db = db;
    }
    return s;
}

void wg_silence_store_close(struct wg_silence_store *s)
{
    if (s) {
        if (s->own) {
            wg__db_close(s->db);
        }
        free(s);
    }
}

enum wg_err wg_silence_add(struct wg_silence_store *stq, struct wg_silence *s, int64_t now_ns)
{
    if (!s->id[0]) {
        unsigned char r[16];
        if (RAND_bytes(r, sizeof(r)) != 1) {
            return WG_EIO;
        }
        r[6] = (unsigned char)((r[6] & 0x0f) | 0x40);
        r[8] = (unsigned char)((r[8] & 0x3f) | 0x80);
        snprintf(s->id, sizeof(s->id),
                 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", r[0], r[1],
                 r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10], r[11], r[12], r[13], r[14],
                 r[15]);
    }
    s->updated_ns = now_ns;
    char *mj = matchers_json(&s->matchers);
    struct wg_sql_q *q = wg_sql_query(
        stq->db, "INSERT INTO silences(id,matchers,starts_at,ends_at,updated_at,created_by,"
                 "comment) VALUES(?,?,?,?,?,?,?) ON CONFLICT(id) DO UPDATE SET"
                 " matchers=excluded.matchers, starts_at=excluded.starts_at,"
                 " ends_at=excluded.ends_at, updated_at=excluded.updated_at,"
                 " created_by=excluded.created_by, comment=excluded.comment");
    wg_sql_bind_text(q, 1, s->id);
    wg_sql_bind_text(q, 2, mj ? mj : "[]");
    wg_sql_bind_int64(q, 3, s->starts_ns);
    wg_sql_bind_int64(q, 4, s->ends_ns);
    wg_sql_bind_int64(q, 5, s->updated_ns);
    wg_sql_bind_text(q, 6, s->created_by ? s->created_by : "");
    wg_sql_bind_text(q, 7, s->comment ? s->comment : "");
    enum wg_err rc = q_run(q);
    free(mj);
    if (rc != WG_OK) {
        wg_log(WG_LOG_ERROR, "alerting: cannot store silence %s: %s", s->id,
               wg__db_errmsg(stq->db));
    }
    return rc;
}

enum wg_err wg_silence_expire(struct wg_silence_store *stq, const char *id, int64_t now_ns)
{
    char err[256];
    struct wg_sql_q *q =
        wg_sql_query(stq->db, "UPDATE silences SET"
                              " ends_at=CASE WHEN ends_at < CAST(?1 AS BIGINT) THEN ends_at"
                              " ELSE CAST(?1 AS BIGINT) END, updated_at=CAST(?1 AS BIGINT),"
                              " starts_at=CASE WHEN starts_at < CAST(?1 AS BIGINT) THEN starts_at"
                              " ELSE CAST(?1 AS BIGINT) END WHERE id=?2");
    wg_sql_bind_int64(q, 1, now_ns);
    wg_sql_bind_text(q, 2, id);
    enum wg_err rc = wg_sql_run(q, err, sizeof(err));
    int64_t changed = wg_sql_changes(q);
    wg_sql_end(q);
    if (rc != WG_OK) {
        wg_log(WG_LOG_ERROR, "alerting: cannot expire silence %s: %s", id, err);
        return WG_EIO;
    }
    return changed > 0 ? WG_OK : WG_ENOTFOUND;
}

enum wg_err wg__db_load_silences(struct wg_sql *c, struct wg__silence_set *ss)
{
    char err[128];
    enum wg_err rc = WG_OK;
    int r;
    wg__silence_set_clear(ss);
    struct wg_sql_q *q = wg_sql_query(c, "SELECT id,matchers,starts_at,ends_at,updated_at,"
                                         "created_by,comment FROM silences ORDER BY starts_at");
    while ((r = wg_sql_step(q)) == 1) {
        struct wg_silence *nv = realloc(ss->v, (ss->n + 1) * sizeof(*nv));
        if (!nv) {
            rc = WG_ENOMEM;
            break;
        }
        ss->v = nv;
        struct wg_silence *s = &ss->v[ss->n];
        memset(s, 0, sizeof(*s));
        const char *id = wg_sql_col_text(q, 0);
        snprintf(s->id, sizeof(s->id), "%s", id ? id : "");
        const char *mt = wg_sql_col_text(q, 1);
        cJSON *mj = mt ? cJSON_Parse(mt) : NULL;
        if (matchers_from_json(mj, &s->matchers, err, sizeof(err)) != 0) {
            wg_matchers_clear(&s->matchers);
        }
        cJSON_Delete(mj);
        s->starts_ns = wg_sql_col_int64(q, 2);
        s->ends_ns = wg_sql_col_int64(q, 3);
        s->updated_ns = wg_sql_col_int64(q, 4);
        s->created_by = wg_strdup(wg_sql_col_text(q, 5));
        s->comment = wg_strdup(wg_sql_col_text(q, 6));
        ss->n++;
    }
    if (r < 0) {
        wg__db_set_error(wg_sql_qerror(q));
        rc = WG_EIO;
    }
    wg_sql_end(q);
    return rc;
}

char *wg_silence_list_json(struct wg_silence_store *stq, int64_t now_ns)
{
    struct wg__silence_set ss = {0};
    struct wg_buf b;
    char t1[48], t2[48], t3[48];
    if (wg__db_load_silences(stq->db, &ss) != WG_OK) {
        wg__silence_set_clear(&ss);
        return NULL;
    }
    wg_buf_init(&b, 0);
    wg_buf_adds(&b, "[");
    for (size_t i = 0; i < ss.n; i++) {
        const struct wg_silence *s = &ss.v[i];
        const char *state = now_ns < s->starts_ns ? "pending"
                            : now_ns < s->ends_ns ? "active"
                                                  : "expired";
        char *mj = matchers_json(&s->matchers);
        wg_buf_addf(&b, "%s{\"id\":\"%s\",\"status\":{\"state\":\"%s\"},\"matchers\":%s,",
                    i ? "," : "", s->id, state, mj ? mj : "[]");
        wg_buf_addf(&b, "\"startsAt\":\"%s\",\"endsAt\":\"%s\",\"updatedAt\":\"%s\",\"createdBy\":",
                    wg_time_format(s->starts_ns, t1, sizeof(t1)),
                    wg_time_format(s->ends_ns, t2, sizeof(t2)),
                    wg_time_format(s->updated_ns, t3, sizeof(t3)));
        wg_buf_add_json(&b, s->created_by);
        wg_buf_adds(&b, ",\"comment\":");
        wg_buf_add_json(&b, s->comment);
        wg_buf_adds(&b, "}");
        free(mj);
    }
    wg_buf_adds(&b, "]");
    wg__silence_set_clear(&ss);
    return wg_buf_take(&b);
}

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

/* Version 1 is the schema that stores had before versions were counted (idempotent). */
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
};

enum wg_err wg__db_exec(sqlite3 *db, const char *sql)
{
    char *msg = NULL;
    int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
    if (rc != SQLITE_OK) {
        wg_log(WG_LOG_ERROR, "alerting: sqlite: %s", msg ? msg : sqlite3_errstr(rc));
    }
    sqlite3_free(msg);
    return rc == SQLITE_OK ? WG_OK : WG_EIO;
}

int wg__db_begin(sqlite3 *db)
{
    return sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
}

void wg__db_rollback(sqlite3 *db)
{
    wg_store_rollback(db);
}

int wg__db_commit(sqlite3 *db)
{
    int rc = sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        wg__db_rollback(db);
    }
    return rc;
}

sqlite3_stmt *wg__db_stmt(sqlite3 *db, const char *sql)
{
    return wg_store_stmt(db, sql);
}

void wg__db_busy_wait(sqlite3 *db, int wait)
{
    wg_store_busy_wait(db, wait);
}

void wg__db_close(sqlite3 *db)
{
    wg_store_close(db);
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

enum wg_err wg__db_open_checked(const char *state_dir, int synchronous, int check, sqlite3 **out,
                                int *lost, char *err, size_t errlen)
{
    struct stat sb;
    int fresh = 0;
    *out = NULL;
    if (lost) {
        *lost = 0;
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
    struct wg_store_opts o = {
        .dir = state_dir,
        .file = "alerting.db",
        .create = 1,
        .synchronous = synchronous,
        .quick_check = check,
        .migrations = MIGRATIONS,
        .nmigrations = (int)(sizeof(MIGRATIONS) / sizeof(MIGRATIONS[0])),
        .fresh = &fresh,
    };
    enum wg_err rc = wg_store_open(&o, out, err, errlen);
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

enum wg_err wg__db_open(const char *state_dir, int synchronous, sqlite3 **out, char *err,
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

enum wg_err wg__db_save_alert(sqlite3 *db, const struct wg__alert *al)
{
    char *l = labels_text(&al->labels), *a = labels_text(&al->ann);
    sqlite3_stmt *st =
        wg__db_stmt(db, "INSERT OR REPLACE INTO alerts VALUES(?,?,?,?,?,?,?,?,?,?,?,?)");
    int rc = st ? SQLITE_OK : SQLITE_ERROR;
    if (rc == SQLITE_OK) {
        sqlite3_bind_text(st, 1, al->fps, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, al->scope ? al->scope : "", -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, l ? l : "{}", -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 4, a ? a : "{}", -1, SQLITE_STATIC);
        sqlite3_bind_int(st, 5, (int)al->state);
        sqlite3_bind_int(st, 6, al->resolved);
        sqlite3_bind_int64(st, 7, al->active_since);
        sqlite3_bind_int64(st, 8, al->starts_at);
        sqlite3_bind_int64(st, 9, al->ends_at);
        sqlite3_bind_int64(st, 10, al->last_breach);
        sqlite3_bind_int64(st, 11, al->for_ns);
        sqlite3_bind_int64(st, 12, al->keep_ns);
        rc = sqlite3_step(st);
    }
    sqlite3_reset(st);
    free(l);
    free(a);
    return rc == SQLITE_DONE ? WG_OK : WG_EIO;
}

enum wg_err wg__db_delete_alert(sqlite3 *db, uint64_t fp)
{
    char fps[17];
    snprintf(fps, sizeof(fps), "%016llx", (unsigned long long)fp);
    sqlite3_stmt *st = wg__db_stmt(db, "DELETE FROM alerts WHERE fp=?");
    int rc = st ? SQLITE_OK : SQLITE_ERROR;
    if (rc == SQLITE_OK) {
        sqlite3_bind_text(st, 1, fps, -1, SQLITE_STATIC);
        rc = sqlite3_step(st);
    }
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? WG_OK : WG_EIO;
}

enum wg_err wg__db_load_alerts(sqlite3 *db, struct wg__store *s)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db,
                                "SELECT fp,scope,labels,ann,state,resolved,active_since,"
                                "starts_at,ends_at,last_breach,for_ns,keep_ns FROM alerts",
                                -1, &st, NULL);
    while (rc == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW) {
        const char *fps = (const char *)sqlite3_column_text(st, 0);
        uint64_t fp = strtoull(fps ? fps : "0", NULL, 16);
        struct wg__alert *al = wg__store_add(s, fp);
        if (!al) {
            rc = SQLITE_NOMEM;
            break;
        }
        al->scope = wg_strdup((const char *)sqlite3_column_text(st, 1));
        if (labels_parse((const char *)sqlite3_column_text(st, 2), &al->labels) != WG_OK ||
            labels_parse((const char *)sqlite3_column_text(st, 3), &al->ann) != WG_OK) {
            rc = SQLITE_NOMEM;
            break;
        }
        al->state = (enum wg__astate)sqlite3_column_int(st, 4);
        al->resolved = sqlite3_column_int(st, 5);
        al->active_since = sqlite3_column_int64(st, 6);
        al->starts_at = sqlite3_column_int64(st, 7);
        al->ends_at = sqlite3_column_int64(st, 8);
        al->last_breach = sqlite3_column_int64(st, 9);
        al->for_ns = sqlite3_column_int64(st, 10);
        al->keep_ns = sqlite3_column_int64(st, 11);
    }
    sqlite3_finalize(st);
    return rc == SQLITE_OK ? WG_OK : WG_EIO;
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

enum wg_err wg__db_save_group(sqlite3 *db, const struct wg__group *g)
{
    char *f = fps_text(g->log_firing, g->nlog_firing);
    char *r = fps_text(g->log_resolved, g->nlog_resolved);
    sqlite3_stmt *st = wg__db_stmt(db, "INSERT OR REPLACE INTO nflog VALUES(?,?,?,?)");
    int rc = st ? SQLITE_OK : SQLITE_ERROR;
    if (rc == SQLITE_OK) {
        sqlite3_bind_text(st, 1, g->key, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, f ? f : "", -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, r ? r : "", -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 4, g->log_ts);
        rc = sqlite3_step(st);
    }
    sqlite3_reset(st);
    free(f);
    free(r);
    return rc == SQLITE_DONE ? WG_OK : WG_EIO;
}

enum wg_err wg__db_delete_group(sqlite3 *db, const char *key)
{
    sqlite3_stmt *st = wg__db_stmt(db, "DELETE FROM nflog WHERE gkey=?");
    int rc = st ? SQLITE_OK : SQLITE_ERROR;
    if (rc == SQLITE_OK) {
        sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
        rc = sqlite3_step(st);
    }
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? WG_OK : WG_EIO;
}

enum wg_err wg__db_load_logs(sqlite3 *db, struct wg__group ***out, size_t *n)
{
    sqlite3_stmt *st = NULL;
    size_t cap = 0;
    *out = NULL;
    *n = 0;
    int rc = sqlite3_prepare_v2(db, "SELECT gkey,firing,resolved,ts FROM nflog", -1, &st, NULL);
    while (rc == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW) {
        struct wg__group *g = calloc(1, sizeof(*g));
        if (*n == cap) {
            cap = cap ? cap * 2 : 16;
            struct wg__group **nv = realloc(*out, cap * sizeof(*nv));
            if (!nv) {
                free(g);
                rc = SQLITE_NOMEM;
                break;
            }
            *out = nv;
        }
        if (!g) {
            rc = SQLITE_NOMEM;
            break;
        }
        g->key = wg_strdup((const char *)sqlite3_column_text(st, 0));
        g->log_firing = fps_parse((const char *)sqlite3_column_text(st, 1), &g->nlog_firing);
        g->log_resolved = fps_parse((const char *)sqlite3_column_text(st, 2), &g->nlog_resolved);
        g->log_ts = sqlite3_column_int64(st, 3);
        g->has_log = 1;
        (*out)[(*n)++] = g;
    }
    sqlite3_finalize(st);
    return rc == SQLITE_OK ? WG_OK : WG_EIO;
}

/* ---- silences ---------------------------------------------------------------------------- */

struct wg_silence_store {
    sqlite3 *db;
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
        wg__json_str(&b, m->name);
        wg_buf_adds(&b, ",\"value\":");
        wg__json_str(&b, m->value);
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

struct wg_silence_store *wg__silence_store_wrap(sqlite3 *db)
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
            sqlite3_close(s->db);
        }
        free(s);
    }
}

enum wg_err wg_silence_add(struct wg_silence_store *stq, struct wg_silence *s, int64_t now_ns)
{
    sqlite3_stmt *st = NULL;
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
    int rc = sqlite3_prepare_v2(stq->db, "INSERT OR REPLACE INTO silences VALUES(?,?,?,?,?,?,?)",
                                -1, &st, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_text(st, 1, s->id, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, mj ? mj : "[]", -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 3, s->starts_ns);
        sqlite3_bind_int64(st, 4, s->ends_ns);
        sqlite3_bind_int64(st, 5, s->updated_ns);
        sqlite3_bind_text(st, 6, s->created_by ? s->created_by : "", -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 7, s->comment ? s->comment : "", -1, SQLITE_STATIC);
        rc = sqlite3_step(st);
    }
    sqlite3_finalize(st);
    free(mj);
    return rc == SQLITE_DONE ? WG_OK : WG_EIO;
}

enum wg_err wg_silence_expire(struct wg_silence_store *stq, const char *id, int64_t now_ns)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(stq->db,
                                "UPDATE silences SET ends_at=MIN(ends_at,?1), updated_at=?1,"
                                " starts_at=MIN(starts_at,?1) WHERE id=?2",
                                -1, &st, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, now_ns);
        sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
        rc = sqlite3_step(st);
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        return WG_EIO;
    }
    return sqlite3_changes(stq->db) > 0 ? WG_OK : WG_ENOTFOUND;
}

enum wg_err wg__db_load_silences(sqlite3 *db, struct wg__silence_set *ss)
{
    sqlite3_stmt *st = NULL;
    char err[128];
    wg__silence_set_clear(ss);
    int rc = sqlite3_prepare_v2(db,
                                "SELECT id,matchers,starts_at,ends_at,updated_at,"
                                "created_by,comment FROM silences ORDER BY starts_at",
                                -1, &st, NULL);
    while (rc == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW) {
        struct wg_silence *nv = realloc(ss->v, (ss->n + 1) * sizeof(*nv));
        if (!nv) {
            rc = SQLITE_NOMEM;
            break;
        }
        ss->v = nv;
        struct wg_silence *s = &ss->v[ss->n];
        memset(s, 0, sizeof(*s));
        snprintf(s->id, sizeof(s->id), "%s", (const char *)sqlite3_column_text(st, 0));
        cJSON *mj = cJSON_Parse((const char *)sqlite3_column_text(st, 1));
        if (matchers_from_json(mj, &s->matchers, err, sizeof(err)) != 0) {
            wg_matchers_clear(&s->matchers);
        }
        cJSON_Delete(mj);
        s->starts_ns = sqlite3_column_int64(st, 2);
        s->ends_ns = sqlite3_column_int64(st, 3);
        s->updated_ns = sqlite3_column_int64(st, 4);
        s->created_by = wg_strdup((const char *)sqlite3_column_text(st, 5));
        s->comment = wg_strdup((const char *)sqlite3_column_text(st, 6));
        ss->n++;
    }
    sqlite3_finalize(st);
    return rc == SQLITE_OK ? WG_OK : WG_EIO;
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
        wg__json_str(&b, s->created_by);
        wg_buf_adds(&b, ",\"comment\":");
        wg__json_str(&b, s->comment);
        wg_buf_adds(&b, "}");
        free(mj);
    }
    wg_buf_adds(&b, "]");
    wg__silence_set_clear(&ss);
    return wg_buf_take(&b);
}

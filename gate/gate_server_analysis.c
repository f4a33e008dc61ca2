/* gate_server_analysis.c — bake-time analyses of `serve`: POST /v1/analyses starts one (a
 * gate question measured every `interval`, `count` times or for `duration`), a runner thread
 * takes the measurements and feeds them to wg_gate_analysis_step (gate_wait.c, shared with
 * check --wait: limits, fail fast, the decision recorded as history), and everything is kept
 * in SQLite (WAL) under state_dir so a restart resumes running analyses.
 */
#include "gate/gate_server_int.h"

#include "common/store.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>

#define MAX_ANALYSES 1024 /* running at once */
#define MAX_COUNT 10000
#define MAX_REPORT (256 * 1024) /* per measurement kept */

struct an {
    char id[40];
    struct wg__params p;
    int64_t interval_ns;
    struct wg_limits lim;
    struct wg_gate_analysis an; /* the step shared with check --wait (gate_wait.c) */
    int64_t next_ns;            /* wall clock */
    struct an *next;
};

struct wg__analyses {
    struct wg_server *s;
    sqlite3 *db; /* opened lazily: an idle server never touches SQLite */
    char path[1100];
    char dir[1024];
    pthread_mutex_t mu; /* guards db and the list */
    pthread_cond_t cv;
    pthread_t th;
    int started, stop;
    struct an *running;
    size_t nrunning;
};

/* Version 1 is the schema that stores had before versions were counted (idempotent). */
static const char *const MIGRATIONS[] = {
    "CREATE TABLE IF NOT EXISTS analyses ("
    " id TEXT PRIMARY KEY, spec TEXT NOT NULL, status TEXT NOT NULL,"
    " verdict TEXT, reason TEXT, created_ns INTEGER NOT NULL, next_ns INTEGER NOT NULL,"
    " updated_ns INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS measurements ("
    " id TEXT NOT NULL, seq INTEGER NOT NULL, at_ns INTEGER NOT NULL, verdict TEXT NOT NULL,"
    " report TEXT, PRIMARY KEY (id, seq));",
};

static void an_free(struct an *a)
{
    if (a) {
        wg__params_clear(&a->p);
        wg_gate_analysis_clear(&a->an);
        free(a);
    }
}

static const char *status_name(enum wg_verdict v)
{
    return v == WG_WARN ? "pass" : wg_verdict_name(v);
}

/* ---- spec --------------------------------------------------------------------------------- */

static int json_int(const cJSON *o, const char *k1, const char *k2, int dflt, int *out)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, k1);
    if (!it && k2) {
        it = cJSON_GetObjectItemCaseSensitive(o, k2);
    }
    if (!it) {
        *out = dflt;
        return 0;
    }
    if (!cJSON_IsNumber(it) || it->valuedouble < -1 || it->valuedouble > MAX_COUNT ||
        it->valuedouble != (double)(int)it->valuedouble) {
        return -1;
    }
    *out = (int)it->valuedouble;
    return 0;
}

static int json_dur(const cJSON *o, const char *k, int64_t *out)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, k);
    if (!it) {
        return 0;
    }
    if (!cJSON_IsString(it) || wg_duration_parse(it->valuestring, out) != WG_OK) {
        return -1;
    }
    return *out <= WG_DURATION_MAX_NS ? 0 : -1; /* capped like the config: now + it fits */
}

/* Parse and check a spec (POST body, or the stored copy on restart). 0, or the HTTP status
 * with err set. The spec's own params (wave, features, deploy_time) go through the same
 * parser as /v1/gate. */
static unsigned spec_parse(struct an *a, const char *body, size_t len, char *err, size_t errlen)
{
    unsigned st = 400;
    cJSON *root = NULL;
    if (wg__params_from_json(&a->p, body, len, 0, err, errlen) != WG_OK) {
        goto out;
    }
    root = cJSON_ParseWithLength(body, len);
    if (!root) {
        snprintf(err, errlen, "malformed JSON");
        goto out;
    }
    if (!a->p.wave) {
        snprintf(err, errlen, "wave: required");
        goto out;
    }
    int64_t duration = 0;
    a->interval_ns = 0;
    if (json_dur(root, "interval", &a->interval_ns) < 0 || a->interval_ns < WG_NS_PER_SEC / 10) {
        snprintf(err, errlen, "interval: required, a duration of at least 100ms (e.g. \"1m\")");
        goto out;
    }
    if (json_dur(root, "duration", &duration) < 0) {
        snprintf(err, errlen, "duration: want a duration like \"30m\"");
        goto out;
    }
    const cJSON *lim = cJSON_GetObjectItemCaseSensitive(root, "limits");
    const cJSON *lo = cJSON_IsObject(lim) ? lim : root; /* limits inline or in "limits" */
    if (json_int(root, "count", NULL, 0, &a->lim.count) < 0 || a->lim.count < 0 ||
        json_int(lo, "failure_limit", "failureLimit", 0, &a->lim.failure_limit) < 0 ||
        json_int(lo, "consecutive_failures", NULL, 0, &a->lim.consecutive_failures) < 0 ||
        json_int(lo, "inconclusive_limit", "inconclusiveLimit", 0, &a->lim.inconclusive_limit) <
            0 ||
        json_int(lo, "error_limit", "consecutiveErrorLimit", 4, &a->lim.error_limit) < 0) {
        snprintf(err, errlen, "count and limits: want integers -1..%d", MAX_COUNT);
        goto out;
    }
    if (a->lim.count == 0 && duration > 0) {
        int64_t n = duration / a->interval_ns;
        a->lim.count = n < 1 ? 1 : n > MAX_COUNT ? MAX_COUNT : (int)n;
    }
    if (a->lim.count == 0) {
        snprintf(err, errlen, "count or duration: required");
        goto out;
    }
    wg_gate_analysis_init(&a->an, &a->lim, a->lim.count, NULL);
    st = 0;
out:
    cJSON_Delete(root);
    return st;
}

/* ---- store -------------------------------------------------------------------------------- */

static void db_update(struct wg__analyses *A, const struct an *a)
{
    sqlite3_stmt *q = NULL;
    const char *sql = "UPDATE analyses SET status=?, verdict=?, reason=?, next_ns=?,"
                      " updated_ns=? WHERE id=?";
    if (sqlite3_prepare_v2(A->db, sql, -1, &q, NULL) != SQLITE_OK) {
        wg_log(WG_LOG_ERROR, "analyses: %s", sqlite3_errmsg(A->db));
        return;
    }
    sqlite3_bind_text(q, 1, a->an.st.done ? status_name(a->an.st.verdict) : "running", -1,
                      SQLITE_STATIC);
    sqlite3_bind_text(q, 2, a->an.st.done ? wg_verdict_name(a->an.st.verdict) : NULL, -1,
                      SQLITE_STATIC);
    sqlite3_bind_text(q, 3, a->an.st.reason, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(q, 4, a->next_ns);
    sqlite3_bind_int64(q, 5, wg_now_ns());
    sqlite3_bind_text(q, 6, a->id, -1, SQLITE_STATIC);
    if (sqlite3_step(q) != SQLITE_DONE) {
        wg_log(WG_LOG_ERROR, "analyses: %s", sqlite3_errmsg(A->db));
    }
    sqlite3_finalize(q);
}

static int db_measurement(struct wg__analyses *A, const struct an *a, int seq, int64_t at,
                          enum wg_verdict v, const char *report)
{
    sqlite3_stmt *q = NULL;
    int rc = -1;
    const char *sql = "INSERT OR REPLACE INTO measurements VALUES (?,?,?,?,?)";
    if (sqlite3_prepare_v2(A->db, sql, -1, &q, NULL) == SQLITE_OK) {
        sqlite3_bind_text(q, 1, a->id, -1, SQLITE_STATIC);
        sqlite3_bind_int(q, 2, seq);
        sqlite3_bind_int64(q, 3, at);
        sqlite3_bind_text(q, 4, wg_verdict_name(v), -1, SQLITE_STATIC);
        if (report && strlen(report) <= MAX_REPORT) {
            sqlite3_bind_text(q, 5, report, -1, SQLITE_STATIC);
        }
        rc = sqlite3_step(q) == SQLITE_DONE ? 0 : -1;
    }
    if (rc < 0) {
        wg_log(WG_LOG_ERROR, "analyses: %s", sqlite3_errmsg(A->db));
    }
    sqlite3_finalize(q);
    return rc;
}

/* Restart: every running analysis back in the list, its limits state replayed. */
static void db_resume(struct wg__analyses *A)
{
    sqlite3_stmt *q = NULL, *m = NULL;
    if (sqlite3_prepare_v2(A->db,
                           "SELECT id, spec, next_ns FROM analyses WHERE status="
                           "'running'",
                           -1, &q, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(A->db, "SELECT verdict FROM measurements WHERE id=? ORDER BY seq", -1,
                           &m, NULL) != SQLITE_OK) {
        goto out;
    }
    while (sqlite3_step(q) == SQLITE_ROW && A->nrunning < MAX_ANALYSES) {
        struct an *a = calloc(1, sizeof(*a));
        const char *id = (const char *)sqlite3_column_text(q, 0);
        const char *spec = (const char *)sqlite3_column_text(q, 1);
        char err[256];
        if (!a || !id || !spec || strlen(id) >= sizeof(a->id) ||
            spec_parse(a, spec, strlen(spec), err, sizeof(err)) != 0) {
            an_free(a);
            continue;
        }
        snprintf(a->id, sizeof(a->id), "%s", id);
        a->next_ns = sqlite3_column_int64(q, 2);
        sqlite3_reset(m);
        sqlite3_bind_text(m, 1, a->id, -1, SQLITE_STATIC);
        while (sqlite3_step(m) == SQLITE_ROW) {
            const char *vn = (const char *)sqlite3_column_text(m, 0);
            enum wg_verdict v = WG_NOEVAL;
            for (int i = 0; i <= WG_FAIL; i++) {
                if (vn && !strcmp(vn, wg_verdict_name((enum wg_verdict)i))) {
                    v = (enum wg_verdict)i;
                }
            }
            wg_gate_analysis_step(&a->an, v, NULL); /* replay: no report, nothing recorded */
        }
        a->next = A->running;
        A->running = a;
        A->nrunning++;
        wg_log(WG_LOG_INFO, "analysis %s: resumed after %d measurements", a->id,
               a->an.st.measurements);
    }
out:
    sqlite3_finalize(q);
    sqlite3_finalize(m);
}

/* ---- runner ------------------------------------------------------------------------------- */

static void measure(struct wg__analyses *A, struct an *a)
{
    struct wg_server *s = A->s;
    struct wg__cfgref *g = wg__server_gen_get(s);
    int64_t at = wg_now_ns();
    struct wg_check_report *rep = NULL;
    struct wg_check_req req = {0};
    wg_gate_analysis_req(&a->an, &req);
    a->p.look = req.look;
    a->p.max_looks = req.max_looks;
    a->p.last_tested = req.last_tested;
    a->p.nlast_tested = req.nlast_tested;
    struct wg__verdict *v = wg__server_eval_report(s, g, &a->p, &rep);
    enum wg_verdict mv = v ? v->verdict : WG_NOEVAL;
    /* The final look is the analysis' decision: its history is recorded (deploys, not looks). */
    a->an.record_dir = g->cfg->state_dir;
    int seq = a->an.st.measurements + 1;
    int done = wg_gate_analysis_step(&a->an, mv, rep); /* only this thread touches a->an */
    pthread_mutex_lock(&A->mu);
    db_measurement(A, a, seq, at, mv, v ? v->json : NULL);
    a->next_ns = at + a->interval_ns;
    db_update(A, a);
    pthread_mutex_unlock(&A->mu);
    a->an.record_dir = NULL;
    wg_check_report_free(rep); /* borrows g's config: before g goes */
    wg__server_gen_put(g);
    atomic_fetch_add(&s->m.requests[WG__C_ANALYSIS][mv], 1);
    wg_log(WG_LOG_INFO, "analysis %s: measurement %d: %s%s%s", a->id, seq, wg_verdict_name(mv),
           done ? "; finished: " : "", done ? wg_verdict_name(a->an.st.verdict) : "");
    wg__verdict_put(v);
}

static void *runner(void *arg)
{
    struct wg__analyses *A = arg;
    pthread_mutex_lock(&A->mu);
    while (!A->stop) {
        int64_t now = wg_now_ns(), next = now + 60 * WG_NS_PER_SEC;
        struct an *due = NULL;
        for (struct an *a = A->running; a; a = a->next) {
            if (a->next_ns <= now && (!due || a->next_ns < due->next_ns)) {
                due = a;
            }
            next = a->next_ns < next ? a->next_ns : next;
        }
        if (!due) {
            struct timespec ts = {(time_t)(next / WG_NS_PER_SEC), (long)(next % WG_NS_PER_SEC)};
            pthread_cond_timedwait(&A->cv, &A->mu, &ts);
            continue;
        }
        pthread_mutex_unlock(&A->mu);
        measure(A, due); /* only this thread removes from the list: due stays valid */
        pthread_mutex_lock(&A->mu);
        if (due->an.st.done) {
            for (struct an **pa = &A->running; *pa; pa = &(*pa)->next) {
                if (*pa == due) {
                    *pa = due->next;
                    break;
                }
            }
            A->nrunning--;
            an_free(due);
        }
    }
    pthread_mutex_unlock(&A->mu);
    return NULL;
}

/* Under A->mu (or before any thread): open the store and start the runner. */
static enum wg_err db_open(struct wg__analyses *A, char *err, size_t errlen)
{
    if (A->db) {
        return WG_OK;
    }
    struct wg_store_opts o = {
        .dir = A->dir,
        .file = "serve.db",
        .create = 1,
        .synchronous = 1,
        .migrations = MIGRATIONS,
        .nmigrations = (int)(sizeof(MIGRATIONS) / sizeof(MIGRATIONS[0])),
    };
    enum wg_err rc = wg_store_open(&o, &A->db, err, errlen);
    if (rc != WG_OK) {
        return rc;
    }
    db_resume(A);
    int e = pthread_create(&A->th, NULL, runner, A);
    if (e != 0) {
        snprintf(err, errlen, "cannot start the analysis runner: %s", strerror(e));
        return WG_EIO; /* EAGAIN / EPERM, not an allocation of ours */
    }
    A->started = 1;
    return WG_OK;
}

enum wg_err wg__analyses_open(struct wg_server *s, const char *state_dir, char *err, size_t errlen)
{
    struct stat st;
    struct wg__analyses *A = calloc(1, sizeof(*A));
    if (!A) {
        return WG_ENOMEM;
    }
    A->s = s;
    pthread_mutex_init(&A->mu, NULL);
    pthread_cond_init(&A->cv, NULL);
    s->an = A;
    const char *dir = state_dir; /* cfg->state_dir: the config decides its default */
    if (!dir || !*dir) {
        snprintf(err, errlen, "no state_dir configured");
        return WG_EINVAL;
    }
    if (wg_mkdirs(dir) != WG_OK) {
        snprintf(err, errlen, "cannot create state_dir %s: %s", dir, strerror(errno));
        return WG_EIO;
    }
    snprintf(A->dir, sizeof(A->dir), "%s", dir);
    snprintf(A->path, sizeof(A->path), "%s/serve.db", dir);
    /* A store from an earlier run may hold running analyses: resume them now. */
    return stat(A->path, &st) == 0 ? db_open(A, err, errlen) : WG_OK;
}

void wg__analyses_close(struct wg__analyses *A)
{
    if (!A) {
        return;
    }
    if (A->started) {
        pthread_mutex_lock(&A->mu);
        A->stop = 1;
        pthread_cond_broadcast(&A->cv);
        pthread_mutex_unlock(&A->mu);
        pthread_join(A->th, NULL);
    }
    while (A->running) {
        struct an *a = A->running;
        A->running = a->next;
        an_free(a);
    }
    wg_store_close(A->db);
    pthread_mutex_destroy(&A->mu);
    pthread_cond_destroy(&A->cv);
    free(A);
}

/* ---- HTTP --------------------------------------------------------------------------------- */

static char *err_json(const char *msg)
{
    cJSON *o = cJSON_CreateObject();
    char *out = NULL;
    if (o && cJSON_AddStringToObject(o, "status", "error") &&
        cJSON_AddStringToObject(o, "error", msg)) {
        out = cJSON_PrintUnformatted(o);
    }
    cJSON_Delete(o);
    return out;
}

unsigned wg__analyses_create(struct wg_server *s, struct wg__cfgref *gen, const char *body,
                             size_t len, char **out_json)
{
    struct wg__analyses *A = s->an;
    char err[512] = "";
    unsigned st;
    unsigned char rnd[16];
    struct an *a = calloc(1, sizeof(*a));
    *out_json = NULL;
    if (!a) {
        return 500;
    }
    if ((st = spec_parse(a, body, len, err, sizeof(err))) != 0) {
        goto out;
    }
    st = 404;
    if (!wg_config_wave(gen->cfg, a->p.wave)) {
        snprintf(err, sizeof(err), "unknown wave \"%s\"", a->p.wave);
        goto out;
    }
    for (size_t i = 0; i < a->p.nfeatures; i++) {
        if (!wg_config_feature(gen->cfg, a->p.features[i])) {
            snprintf(err, sizeof(err), "unknown feature \"%s\"", a->p.features[i]);
            goto out;
        }
    }
    if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd)) {
        st = 500;
        snprintf(err, sizeof(err), "no randomness for an id");
        goto out;
    }
    for (size_t i = 0; i < sizeof(rnd); i++) {
        snprintf(a->id + 2 * i, 3, "%02x", rnd[i]);
    }
    int64_t now = wg_now_ns();
    a->next_ns = now; /* the first measurement at once */
    pthread_mutex_lock(&A->mu);
    if (db_open(A, err, sizeof(err)) != WG_OK) {
        pthread_mutex_unlock(&A->mu);
        st = 503;
        goto out;
    }
    if (A->nrunning >= MAX_ANALYSES) {
        pthread_mutex_unlock(&A->mu);
        st = 503;
        snprintf(err, sizeof(err), "too many analyses running (%d)", MAX_ANALYSES);
        goto out;
    }
    sqlite3_stmt *q = NULL;
    int ok = sqlite3_prepare_v2(A->db, "INSERT INTO analyses VALUES (?,?,'running',NULL,'',?,?,?)",
                                -1, &q, NULL) == SQLITE_OK;
    if (ok) {
        sqlite3_bind_text(q, 1, a->id, -1, SQLITE_STATIC);
        sqlite3_bind_text(q, 2, body, (int)len, SQLITE_STATIC);
        sqlite3_bind_int64(q, 3, now);
        sqlite3_bind_int64(q, 4, a->next_ns);
        sqlite3_bind_int64(q, 5, now);
        ok = sqlite3_step(q) == SQLITE_DONE;
    }
    sqlite3_finalize(q);
    if (!ok) {
        snprintf(err, sizeof(err), "state store: %s", sqlite3_errmsg(A->db));
        pthread_mutex_unlock(&A->mu);
        st = 503;
        goto out;
    }
    a->next = A->running;
    A->running = a;
    A->nrunning++;
    pthread_cond_broadcast(&A->cv);
    pthread_mutex_unlock(&A->mu);
    *out_json = wg_asprintf("{\"id\":\"%s\",\"status\":\"running\",\"url\":\"/v1/analyses/%s\"}",
                            a->id, a->id);
    wg_log(WG_LOG_INFO, "analysis %s: started for wave %s, %d measurements every %llds", a->id,
           a->p.wave, a->lim.count, (long long)(a->interval_ns / WG_NS_PER_SEC));
    return 201;
out:
    an_free(a);
    *out_json = err_json(err);
    return st;
}

unsigned wg__analyses_get(struct wg_server *s, const char *id, char **out_json)
{
    struct wg__analyses *A = s->an;
    sqlite3_stmt *q = NULL, *m = NULL;
    cJSON *o = NULL;
    unsigned st = 404;
    char tb[48];
    *out_json = NULL;
    pthread_mutex_lock(&A->mu);
    if (!A->db) {
        goto out;
    }
    if (sqlite3_prepare_v2(A->db,
                           "SELECT spec, status, verdict, reason, created_ns,"
                           " updated_ns FROM analyses WHERE id=?",
                           -1, &q, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(A->db,
                           "SELECT seq, at_ns, verdict, report FROM measurements"
                           " WHERE id=? ORDER BY seq",
                           -1, &m, NULL) != SQLITE_OK) {
        st = 500;
        goto out;
    }
    sqlite3_bind_text(q, 1, id, -1, SQLITE_STATIC);
    if (sqlite3_step(q) != SQLITE_ROW) {
        goto out;
    }
    st = 500;
    if (!(o = cJSON_CreateObject())) {
        goto out;
    }
    cJSON_AddStringToObject(o, "id", id);
    cJSON_AddStringToObject(o, "status", (const char *)sqlite3_column_text(q, 1));
    if (sqlite3_column_type(q, 2) != SQLITE_NULL) {
        cJSON_AddStringToObject(o, "verdict", (const char *)sqlite3_column_text(q, 2));
    }
    cJSON_AddStringToObject(o, "reason", (const char *)sqlite3_column_text(q, 3));
    cJSON_AddStringToObject(o, "created",
                            wg_time_format(sqlite3_column_int64(q, 4), tb, sizeof(tb)));
    cJSON_AddStringToObject(o, "updated",
                            wg_time_format(sqlite3_column_int64(q, 5), tb, sizeof(tb)));
    cJSON_AddItemToObject(o, "spec", cJSON_Parse((const char *)sqlite3_column_text(q, 0)));
    cJSON *arr = cJSON_AddArrayToObject(o, "measurements");
    sqlite3_bind_text(m, 1, id, -1, SQLITE_STATIC);
    while (arr && sqlite3_step(m) == SQLITE_ROW) {
        cJSON *e = cJSON_CreateObject();
        if (!e) {
            break;
        }
        cJSON_AddNumberToObject(e, "seq", sqlite3_column_int(m, 0));
        cJSON_AddStringToObject(e, "at",
                                wg_time_format(sqlite3_column_int64(m, 1), tb, sizeof(tb)));
        cJSON_AddStringToObject(e, "verdict", (const char *)sqlite3_column_text(m, 2));
        if (sqlite3_column_type(m, 3) != SQLITE_NULL) {
            cJSON_AddItemToObject(e, "report",
                                  cJSON_Parse((const char *)sqlite3_column_text(m, 3)));
        }
        cJSON_AddItemToArray(arr, e);
    }
    *out_json = cJSON_PrintUnformatted(o);
    st = *out_json ? 200 : 500;
out:
    sqlite3_finalize(q);
    sqlite3_finalize(m);
    pthread_mutex_unlock(&A->mu);
    cJSON_Delete(o);
    if (!*out_json) {
        *out_json = err_json(st == 404 ? "no such analysis" : "state store error");
    }
    return st;
}

void wg__analyses_count(struct wg_server *s, unsigned long long counts[WG_FAIL + 2])
{
    struct wg__analyses *A = s->an;
    sqlite3_stmt *q = NULL;
    if (!A) {
        return;
    }
    pthread_mutex_lock(&A->mu);
    if (A->db && sqlite3_prepare_v2(A->db,
                                    "SELECT status, count(*) FROM analyses GROUP BY "
                                    "status",
                                    -1, &q, NULL) == SQLITE_OK) {
        while (sqlite3_step(q) == SQLITE_ROW) {
            const char *n = (const char *)sqlite3_column_text(q, 0);
            unsigned long long c = (unsigned long long)sqlite3_column_int64(q, 1);
            if (n && !strcmp(n, "running")) {
                counts[WG_FAIL + 1] = c;
            }
            for (int v = 0; n && v <= WG_FAIL; v++) {
                if (!strcmp(n, wg_verdict_name((enum wg_verdict)v))) {
                    counts[v] = c;
                }
            }
        }
    }
    sqlite3_finalize(q);
    pthread_mutex_unlock(&A->mu);
}

unsigned wg__analyses_spec_check(const char *body, size_t len, char *err, size_t errlen)
{
    struct an *a = calloc(1, sizeof(*a));
    if (!a) {
        return 500;
    }
    unsigned st = spec_parse(a, body, len, err, errlen);
    an_free(a);
    return st;
}

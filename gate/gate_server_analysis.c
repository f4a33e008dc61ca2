/* gate_server_analysis.c — bake-time analyses of `serve`: POST /v1/analyses starts one (a
 * gate question measured every `interval`, `count` times or for `duration`), a runner thread
 * takes the measurements and feeds them to wg_gate_analysis_step (gate_wait.c, shared with
 * check --wait: limits, fail fast, the decision recorded as history), and everything is kept
 * through the store seam (SQLite under state_dir, or the shared PostgreSQL) so a restart
 * resumes running analyses; on PostgreSQL any replica answers for any analysis, each running
 * one is owned by one replica under a lease, and another takes it over when the lease lapses.
 * A /v1/gate naming the deploy an analysis judges (deploy_id) reads it (gate_server_looks.c).
 */
#include "gate/gate_server_int.h"

#include "common/store.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

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
    int lost;                   /* another replica took it over: dropped from the list */
    struct an *next;
};

struct wg__analyses {
    struct wg_server *s;
    struct wg_sql *db; /* opened lazily: an idle server never touches the store */
    char owner[48];    /* this replica, for the analyses it runs */
    int64_t takeover_ns;
    int64_t claim_ns; /* next look for analyses whose owner went away (shared store) */
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
    ("CREATE TABLE IF NOT EXISTS analyses ("
     " id TEXT PRIMARY KEY, spec TEXT NOT NULL, status TEXT NOT NULL,"
     " verdict TEXT, reason TEXT, created_ns INTEGER NOT NULL, next_ns INTEGER NOT NULL,"
     " updated_ns INTEGER NOT NULL);"
     "CREATE TABLE IF NOT EXISTS measurements ("
     " id TEXT NOT NULL, seq INTEGER NOT NULL, at_ns INTEGER NOT NULL, verdict TEXT NOT NULL,"
     " report TEXT, PRIMARY KEY (id, seq));"),
    /* 2: the replica running it and until when (a shared store: another takes it over) */
    ("ALTER TABLE analyses ADD COLUMN owner TEXT NOT NULL DEFAULT '';"
     "ALTER TABLE analyses ADD COLUMN lease_ns INTEGER NOT NULL DEFAULT 0;"),
    /* 3: the deploy it judges (wave \x1f deploy_id), for /v1/gate naming that deploy */
    ("ALTER TABLE analyses ADD COLUMN deploy_key TEXT;"
     "CREATE INDEX IF NOT EXISTS analyses_deploy ON analyses (deploy_key);"),
};
static const char *const PG_MIGRATIONS[] = {
    ("CREATE TABLE IF NOT EXISTS analyses ("
     " id TEXT PRIMARY KEY, spec TEXT NOT NULL, status TEXT NOT NULL,"
     " verdict TEXT, reason TEXT, created_ns BIGINT NOT NULL, next_ns BIGINT NOT NULL,"
     " updated_ns BIGINT NOT NULL, owner TEXT NOT NULL DEFAULT '',"
     " lease_ns BIGINT NOT NULL DEFAULT 0);"
     "CREATE TABLE IF NOT EXISTS measurements ("
     " id TEXT NOT NULL, seq INTEGER NOT NULL, at_ns BIGINT NOT NULL, verdict TEXT NOT NULL,"
     " report TEXT, PRIMARY KEY (id, seq));"),
    ("ALTER TABLE analyses ADD COLUMN IF NOT EXISTS deploy_key TEXT;"
     "CREATE INDEX IF NOT EXISTS analyses_deploy ON analyses (deploy_key);"),
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

/* The lease of a running analysis: until its next measurement is due plus the takeover bound
 * (nothing is lost before it is due). */
static int64_t lease_of(const struct wg__analyses *A, const struct an *a)
{
    int64_t now = wg_now_ns();
    return (a->next_ns > now ? a->next_ns : now) + A->takeover_ns;
}

/* 0: updated; -1: a store error; 1: another replica owns it now (this one stops running it). */
static int db_update(struct wg__analyses *A, const struct an *a)
{
    const char *sql = "UPDATE analyses SET status=?, verdict=?, reason=?, next_ns=?,"
                      " updated_ns=?, lease_ns=? WHERE id=? AND owner=?";
    struct wg_sql_q *q = wg_sql_query(A->db, sql);
    char err[512];
    if (!q) {
        return -1;
    }
    wg_sql_bind_text(q, 1, a->an.st.done ? status_name(a->an.st.verdict) : "running");
    wg_sql_bind_text(q, 2, a->an.st.done ? wg_verdict_name(a->an.st.verdict) : NULL);
    wg_sql_bind_text(q, 3, a->an.st.reason);
    wg_sql_bind_int64(q, 4, a->next_ns);
    wg_sql_bind_int64(q, 5, wg_now_ns());
    wg_sql_bind_int64(q, 6, lease_of(A, a));
    wg_sql_bind_text(q, 7, a->id);
    wg_sql_bind_text(q, 8, A->owner);
    int rc = 0;
    if (wg_sql_run(q, err, sizeof(err)) != WG_OK) {
        wg_log(WG_LOG_ERROR, "analyses: %s", err);
        rc = -1;
    } else if (wg_sql_changes(q) == 0) {
        rc = 1;
    }
    wg_sql_end(q);
    return rc;
}

static int db_measurement(struct wg__analyses *A, const struct an *a, int seq, int64_t at,
                          enum wg_verdict v, const char *report)
{
    /* (id, seq) once: a look replayed by the replica that took over replaces, never adds */
    const char *sql = "INSERT INTO measurements VALUES (?,?,?,?,?) ON CONFLICT (id, seq) DO"
                      " UPDATE SET at_ns=excluded.at_ns, verdict=excluded.verdict,"
                      " report=excluded.report";
    struct wg_sql_q *q = wg_sql_query(A->db, sql);
    char err[512];
    if (!q) {
        return -1;
    }
    wg_sql_bind_text(q, 1, a->id);
    wg_sql_bind_int64(q, 2, seq);
    wg_sql_bind_int64(q, 3, at);
    wg_sql_bind_text(q, 4, wg_verdict_name(v));
    wg_sql_bind_text(q, 5, report && strlen(report) <= MAX_REPORT ? report : NULL);
    int rc = wg_sql_run(q, err, sizeof(err)) == WG_OK ? 0 : -1;
    if (rc < 0) {
        wg_log(WG_LOG_ERROR, "analyses: %s", err);
    }
    wg_sql_end(q);
    return rc;
}

static int running_has(const struct wg__analyses *A, const char *id)
{
    for (const struct an *a = A->running; a; a = a->next) {
        if (!strcmp(a->id, id)) {
            return 1;
        }
    }
    return 0;
}

/* Resume: every running analysis this replica may take (SQLite: all of them, this is the only
 * process; a shared store: those whose owner's lease lapsed, claimed in one UPDATE), back in
 * the list with its limits state replayed. */
static void db_resume(struct wg__analyses *A)
{
    int shared = wg_sql_backend(A->db) == WG_STORE_POSTGRES;
    int64_t now = wg_now_ns();
    struct wg_sql_q *c = wg_sql_query(
        A->db, shared ? "UPDATE analyses SET owner=?1, lease_ns=?2 WHERE status='running' AND"
                        " (lease_ns < ?3 OR owner=?1) RETURNING id, spec, next_ns"
                      : "UPDATE analyses SET owner=?1, lease_ns=?2 WHERE status='running'"
                        " RETURNING id, spec, next_ns");
    if (!c) {
        return;
    }
    wg_sql_bind_text(c, 1, A->owner);
    wg_sql_bind_int64(c, 2, now + A->takeover_ns);
    if (shared) {
        wg_sql_bind_int64(c, 3, now);
    }
    struct an *got = NULL;
    int step;
    while ((step = wg_sql_step(c)) == 1) {
        const char *id = wg_sql_col_text(c, 0);
        const char *spec = wg_sql_col_text(c, 1);
        char err[256];
        if (!id || running_has(A, id) || A->nrunning >= MAX_ANALYSES) {
            continue;
        }
        struct an *a = calloc(1, sizeof(*a));
        if (!a || !spec || strlen(id) >= sizeof(a->id) ||
            spec_parse(a, spec, strlen(spec), err, sizeof(err)) != 0) {
            an_free(a);
            continue;
        }
        snprintf(a->id, sizeof(a->id), "%s", id);
        a->next_ns = wg_sql_col_int64(c, 2);
        a->next = got;
        got = a;
    }
    if (step < 0) {
        wg_log(WG_LOG_WARN, "analyses: cannot resume: %s", wg_sql_qerror(c));
    }
    wg_sql_end(c);
    while (got) {
        struct an *a = got;
        got = a->next;
        struct wg_sql_q *m =
            wg_sql_query(A->db, "SELECT verdict FROM measurements WHERE id=? ORDER BY seq");
        wg_sql_bind_text(m, 1, a->id);
        while (m && wg_sql_step(m) == 1) {
            const char *vn = wg_sql_col_text(m, 0);
            enum wg_verdict v = WG_NOEVAL;
            for (int i = 0; i <= WG_FAIL; i++) {
                if (vn && !strcmp(vn, wg_verdict_name((enum wg_verdict)i))) {
                    v = (enum wg_verdict)i;
                }
            }
            wg_gate_analysis_step(&a->an, v, NULL); /* replay: no report, nothing recorded */
        }
        wg_sql_end(m);
        a->next = A->running;
        A->running = a;
        A->nrunning++;
        wg_log(WG_LOG_INFO, "analysis %s: resumed after %d measurements", a->id,
               a->an.st.measurements);
    }
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
    /* Shared store: the look ends inside its lease. At a look's start the lease has at least
     * 3/4 of the takeover bound left (renewed by db_resume every quarter of it, and the runner
     * renews before it looks), so a look cut at half of it is recorded by this replica before
     * another may take the analysis over, however the sources hang. SQLite: no other replica,
     * no cut (tests/unit/test_gate_deadline.c). */
    a->p.deadline_mono_ns =
        A->db && wg_sql_backend(A->db) == WG_STORE_POSTGRES ? wg_mono_ns() + A->takeover_ns / 2 : 0;
    struct wg__verdict *v = wg__server_eval_report(s, g, &a->p, &rep);
    a->p.deadline_mono_ns = 0;
    enum wg_verdict mv = v ? v->verdict : WG_NOEVAL;
    /* The final look is the analysis' decision: its history is recorded (deploys, not looks). */
    a->an.record_dir = g->cfg->state_dir;
    int seq = a->an.st.measurements + 1;
    int done = wg_gate_analysis_step(&a->an, mv, rep); /* only this thread touches a->an */
    pthread_mutex_lock(&A->mu);
    a->next_ns = at + a->interval_ns;
    /* one transaction: the look and the state it leads to, or neither; taken over (our lease
     * lapsed, another replica owns it): the owner records, not us */
    char err[512];
    int began = wg_sql_begin(A->db, 1, err, sizeof(err)) == WG_OK;
    int up = db_update(A, a);
    if (up == 1) {
        a->lost = 1;
    } else if (up == 0) {
        (void)db_measurement(A, a, seq, at, mv, v ? v->json : NULL);
    }
    if (began && up == 0) {
        if (wg_sql_commit(A->db, err, sizeof(err)) != WG_OK) {
            wg_log(WG_LOG_ERROR, "analyses: %s", err);
        }
    } else if (began) {
        wg_sql_rollback(A->db);
    }
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
        if (A->db && wg_sql_backend(A->db) == WG_STORE_POSTGRES && now >= A->claim_ns) {
            A->claim_ns = now + A->takeover_ns / 4; /* orphans taken within the bound */
            db_resume(A);
            continue;
        }
        if (A->db && wg_sql_backend(A->db) == WG_STORE_POSTGRES && next > A->claim_ns) {
            next = A->claim_ns;
        }
        if (!due) {
            struct timespec ts = {(time_t)(next / WG_NS_PER_SEC), (long)(next % WG_NS_PER_SEC)};
            pthread_cond_timedwait(&A->cv, &A->mu, &ts);
            continue;
        }
        pthread_mutex_unlock(&A->mu);
        measure(A, due); /* only this thread removes from the list: due stays valid */
        pthread_mutex_lock(&A->mu);
        if (due->an.st.done || due->lost) {
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
    struct wg_sql_opts o = {
        .backend = WG_STORE_DEFAULT,
        .sqlite = {.dir = A->dir,
                   .file = "serve.db",
                   .create = 1,
                   .synchronous = 1,
                   .migrations = MIGRATIONS,
                   .nmigrations = (int)(sizeof(MIGRATIONS) / sizeof(MIGRATIONS[0]))},
        .name = "analyses",
        .pg_migrations = PG_MIGRATIONS,
        .npg_migrations = (int)(sizeof(PG_MIGRATIONS) / sizeof(PG_MIGRATIONS[0])),
    };
    enum wg_err rc = wg_sql_open(&o, &A->db, err, errlen);
    if (rc != WG_OK) {
        return rc;
    }
    db_resume(A);
    A->claim_ns = wg_now_ns() + A->takeover_ns / 4;
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
    unsigned char rnd[6] = {0};
    if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd)) {
        /* the owner tag only has to differ between replicas: the monotonic clock will do */
        uint64_t t = (uint64_t)wg_mono_ns();
        memcpy(rnd, &t, sizeof(rnd));
    }
    snprintf(A->owner, sizeof(A->owner), "%d-%02x%02x%02x%02x%02x%02x", (int)getpid(), rnd[0],
             rnd[1], rnd[2], rnd[3], rnd[4], rnd[5]);
    const struct wg_config *cfg = s->gen->cfg;
    A->takeover_ns =
        cfg->state.leader_takeover_ns > 0 ? cfg->state.leader_takeover_ns : 10 * WG_NS_PER_SEC;
    if (wg_sql_default_backend() == WG_STORE_POSTGRES) {
        /* shared: analyses other replicas started are ours to answer for, and to take over;
         * PostgreSQL down now is not fatal (gate answers need no store): opened at first use */
        if (db_open(A, err, errlen) != WG_OK) {
            wg_log(WG_LOG_WARN, "analyses: %s (retried at the first request)", err);
            err[0] = '\0';
        }
        return WG_OK;
    }
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
    wg_sql_close(A->db);
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
    struct wg_sql_q *q =
        wg_sql_query(A->db, "INSERT INTO analyses(id, spec, status, verdict, reason, created_ns,"
                            " next_ns, updated_ns, owner, lease_ns, deploy_key)"
                            " VALUES (?,?,'running',NULL,'',?,?,?,?,?,?)");
    char *dkey = a->p.deploy_id ? wg_asprintf("%s\x1f%s", a->p.wave, a->p.deploy_id) : NULL;
    char qerr[400] = "out of memory";
    int ok = q != NULL;
    if (ok) {
        wg_sql_bind_text(q, 1, a->id);
        wg_sql_bind_textn(q, 2, body, len);
        wg_sql_bind_int64(q, 3, now);
        wg_sql_bind_int64(q, 4, a->next_ns);
        wg_sql_bind_int64(q, 5, now);
        wg_sql_bind_text(q, 6, A->owner);
        wg_sql_bind_int64(q, 7, lease_of(A, a));
        wg_sql_bind_text(q, 8, dkey);
        ok = (!a->p.deploy_id || dkey) && wg_sql_run(q, qerr, sizeof(qerr)) == WG_OK;
    }
    wg_sql_end(q);
    free(dkey);
    if (!ok) {
        snprintf(err, sizeof(err), "state store: %s", qerr);
        pthread_mutex_unlock(&A->mu);
        st = 503;
        goto out;
    }
    /* The answer and the log line are made before the runner sees the analysis: once it is on
     * the list the runner may finish and free it at any moment (valgrind saw the read after
     * free in test_gate_events' bake event). */
    *out_json = wg_asprintf("{\"id\":\"%s\",\"status\":\"running\",\"url\":\"/v1/analyses/%s\"}",
                            a->id, a->id);
    wg_log(WG_LOG_INFO, "analysis %s: started for wave %s, %d measurements every %llds", a->id,
           a->p.wave, a->lim.count, (long long)(a->interval_ns / WG_NS_PER_SEC));
    a->next = A->running;
    A->running = a;
    A->nrunning++;
    pthread_cond_broadcast(&A->cv);
    pthread_mutex_unlock(&A->mu);
    return 201;
out:
    an_free(a);
    *out_json = err_json(err);
    return st;
}

unsigned wg__analyses_get(struct wg_server *s, const char *id, char **out_json)
{
    struct wg__analyses *A = s->an;
    struct wg_sql_q *q = NULL, *m = NULL;
    cJSON *o = NULL;
    unsigned st = 404;
    char tb[48], err[512];
    *out_json = NULL;
    pthread_mutex_lock(&A->mu);
    if (!A->db && wg_sql_default_backend() == WG_STORE_POSTGRES &&
        db_open(A, err, sizeof(err)) != WG_OK) {
        wg_log(WG_LOG_WARN, "analyses: %s", err);
        st = 503; /* the shared store is down: unknown, not "no such analysis" */
        goto out;
    }
    if (!A->db) {
        goto out;
    }
    q = wg_sql_query(A->db, "SELECT spec, status, verdict, reason, created_ns,"
                            " updated_ns FROM analyses WHERE id=?");
    m = wg_sql_query(A->db, "SELECT seq, at_ns, verdict, report FROM measurements"
                            " WHERE id=? ORDER BY seq");
    if (!q || !m) {
        st = 500;
        goto out;
    }
    wg_sql_bind_text(q, 1, id);
    int step = wg_sql_step(q);
    if (step != 1) {
        st = step < 0 ? 503 : 404;
        goto out;
    }
    st = 500;
    if (!(o = cJSON_CreateObject())) {
        goto out;
    }
    cJSON_AddStringToObject(o, "id", id);
    cJSON_AddStringToObject(o, "status", wg_sql_col_text(q, 1));
    if (!wg_sql_col_null(q, 2)) {
        cJSON_AddStringToObject(o, "verdict", wg_sql_col_text(q, 2));
    }
    cJSON_AddStringToObject(o, "reason", wg_sql_col_text(q, 3));
    cJSON_AddStringToObject(o, "created", wg_time_format(wg_sql_col_int64(q, 4), tb, sizeof(tb)));
    cJSON_AddStringToObject(o, "updated", wg_time_format(wg_sql_col_int64(q, 5), tb, sizeof(tb)));
    const char *spec = wg_sql_col_text(q, 0);
    cJSON_AddItemToObject(o, "spec", cJSON_Parse(spec ? spec : ""));
    cJSON *arr = cJSON_AddArrayToObject(o, "measurements");
    wg_sql_bind_text(m, 1, id);
    while (arr && wg_sql_step(m) == 1) {
        cJSON *e = cJSON_CreateObject();
        if (!e) {
            break;
        }
        cJSON_AddNumberToObject(e, "seq", (double)wg_sql_col_int64(m, 0));
        cJSON_AddStringToObject(e, "at", wg_time_format(wg_sql_col_int64(m, 1), tb, sizeof(tb)));
        cJSON_AddStringToObject(e, "verdict", wg_sql_col_text(m, 2));
        if (!wg_sql_col_null(m, 3)) {
            cJSON_AddItemToObject(e, "report", cJSON_Parse(wg_sql_col_text(m, 3)));
        }
        cJSON_AddItemToArray(arr, e);
    }
    *out_json = cJSON_PrintUnformatted(o);
    st = *out_json ? 200 : 500;
out:
    wg_sql_end(q);
    wg_sql_end(m);
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
    if (!A) {
        return;
    }
    pthread_mutex_lock(&A->mu);
    struct wg_sql_q *q =
        A->db ? wg_sql_query(A->db, "SELECT status, count(*) FROM analyses GROUP BY status") : NULL;
    while (q && wg_sql_step(q) == 1) {
        const char *n = wg_sql_col_text(q, 0);
        unsigned long long c = (unsigned long long)wg_sql_col_int64(q, 1);
        if (n && !strcmp(n, "running")) {
            counts[WG_FAIL + 1] = c;
        }
        for (int v = 0; n && v <= WG_FAIL; v++) {
            if (!strcmp(n, wg_verdict_name((enum wg_verdict)v))) {
                counts[v] = c;
            }
        }
    }
    wg_sql_end(q);
    pthread_mutex_unlock(&A->mu);
}

cJSON *wg__analyses_running(struct wg_server *s, int n)
{
    struct wg__analyses *A = s->an;
    cJSON *arr = cJSON_CreateArray();
    if (!A || !arr) {
        return arr;
    }
    char tb[48];
    pthread_mutex_lock(&A->mu);
    struct wg_sql_q *q = A->db ? wg_sql_query(A->db, "SELECT id, spec, created_ns FROM analyses"
                                                     " WHERE status='running'"
                                                     " ORDER BY created_ns DESC LIMIT ?")
                               : NULL;
    if (q) {
        wg_sql_bind_int64(q, 1, n);
    }
    while (q && wg_sql_step(q) == 1) {
        cJSON *o = cJSON_CreateObject();
        const char *spec = wg_sql_col_text(q, 1);
        cJSON_AddStringToObject(o, "id", wg_sql_col_text(q, 0));
        cJSON_AddStringToObject(o, "created",
                                wg_time_format(wg_sql_col_int64(q, 2), tb, sizeof(tb)));
        cJSON_AddItemToObject(o, "spec", cJSON_Parse(spec ? spec : ""));
        cJSON_AddItemToArray(arr, o);
    }
    wg_sql_end(q);
    pthread_mutex_unlock(&A->mu);
    return arr;
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

/* The store for /v1/gate reading an analysis of its deploy (gate_server_looks.c). */
struct wg_sql *wg__analyses_lock(struct wg_server *s, int *dberr, char *err, size_t errlen)
{
    struct wg__analyses *A = s->an;
    *dberr = 0;
    if (!A) {
        return NULL;
    }
    pthread_mutex_lock(&A->mu);
    if (!A->db && wg_sql_default_backend() == WG_STORE_POSTGRES) {
        *dberr = db_open(A, err, errlen) != WG_OK;
    }
    return A->db;
}

void wg__analyses_unlock(struct wg_server *s)
{
    if (s->an) {
        pthread_mutex_unlock(&s->an->mu);
    }
}

int wg__analyses_spec_count(const char *spec, const char *wave, int *count)
{
    struct an *a = calloc(1, sizeof(*a));
    char perr[256];
    int parsed = a && spec && spec_parse(a, spec, strlen(spec), perr, sizeof(perr)) == 0;
    *count = parsed ? a->lim.count : 0;
    int other = parsed && wave && strcmp(a->p.wave, wave) != 0; /* not this wave's question */
    an_free(a);
    return other;
}

/* gate_server_deploys.c — what `serve` remembers per deploy: the first sighting of a deploy
 * identity (Argo's pod-template hash or a CI deploy_id, Flagger's namespace/name + checksum)
 * anchors its windows, every ask naming it is look k of its analysis (statistical rules spend
 * the false-fail budget across the looks), and Flagger's failing checks are counted so a
 * rollback hook says "roll back" only after the Canary's threshold. Through the store seam
 * (deploys.db under state_dir, or the shared PostgreSQL). Also /readyz, sd_notify, test clock.
 */
#include "common/store.h"
#include "gate/gate_server_int.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

struct wg__deploys {
    pthread_mutex_t mu; /* guards db */
    struct wg_sql *db;  /* through the store seam: SQLite deploys.db, or the shared PostgreSQL */
    char dir[1024];
    int64_t ready_at;
    int ready_ok;
    char ready_why[256];
};

/* Version 1 is the schema stores had before looks were counted (idempotent). */
static const char *const MIGRATIONS[] = {
    ("CREATE TABLE IF NOT EXISTS deploys ("
     " key TEXT PRIMARY KEY, first_seen_ns INTEGER NOT NULL, last_seen_ns INTEGER NOT NULL,"
     " looks INTEGER NOT NULL DEFAULT 0, failed INTEGER NOT NULL DEFAULT 0);"
     "CREATE TABLE IF NOT EXISTS probe (id INTEGER PRIMARY KEY, at_ns INTEGER NOT NULL);"),
    /* 2: when the current look began (asks within WG__SAME_LOOK_NS of it are that look), the
     * last look at which a statistical rule judged, and the verdict of the last planned look */
    ("ALTER TABLE deploys ADD COLUMN look_ns INTEGER NOT NULL DEFAULT 0;"
     "ALTER TABLE deploys ADD COLUMN tested INTEGER NOT NULL DEFAULT 0;"
     "ALTER TABLE deploys ADD COLUMN final TEXT;"),
};
static const char *const PG_MIGRATIONS[] = {
    ("CREATE TABLE IF NOT EXISTS deploys ("
     " key TEXT PRIMARY KEY, first_seen_ns BIGINT NOT NULL, last_seen_ns BIGINT NOT NULL,"
     " looks BIGINT NOT NULL DEFAULT 0, failed BIGINT NOT NULL DEFAULT 0,"
     " look_ns BIGINT NOT NULL DEFAULT 0, tested BIGINT NOT NULL DEFAULT 0, final TEXT);"
     "CREATE TABLE IF NOT EXISTS probe (id INTEGER PRIMARY KEY, at_ns BIGINT NOT NULL);"),
};

/* ---- the clock -------------------------------------------------------------------------- */

int64_t wg__server_now(void)
{
    const char *path = getenv("WG_TEST_NOW_FILE");
    if (!path || !*path) {
        return wg_now_ns();
    }
    /* Test-only: the replay harnesses (tests/replay/) drive a simulated timeline. */
    char buf[64] = "";
    FILE *f = fopen(path, "r");
    size_t n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;
    if (f) {
        fclose(f);
    }
    buf[n] = '\0';
    buf[strcspn(buf, "\r\n")] = '\0';
    char *end = NULL;
    errno = 0;
    double secs = strtod(buf, &end);
    if (buf[0] && end && *end == '\0' && errno == 0 && secs > 0 && secs < 32503680000.0) {
        return (int64_t)(secs * 1e9);
    }
    int64_t ns = 0;
    if (buf[0] && wg_time_parse(buf, strlen(buf), &ns) == WG_OK) {
        return ns;
    }
    wg_log(WG_LOG_WARN, "WG_TEST_NOW_FILE %s: want Unix seconds or RFC3339; using the real clock",
           path);
    return wg_now_ns();
}

/* ---- the store -------------------------------------------------------------------------- */

/* Under d->mu: open (and migrate) the store when it is not open yet. PostgreSQL down at start
 * is not fatal (an answer without an identity needs no store): retried at the next use. */
static enum wg_err db_open(struct wg__deploys *d, char *err, size_t errlen)
{
    if (d->db) {
        return WG_OK;
    }
    struct wg_sql_opts o = {
        .backend = WG_STORE_DEFAULT,
        .sqlite = {.dir = d->dir,
                   .file = "deploys.db",
                   .create = 1,
                   .synchronous = 1,
                   .migrations = MIGRATIONS,
                   .nmigrations = (int)(sizeof(MIGRATIONS) / sizeof(MIGRATIONS[0]))},
        .name = "deploys",
        .pg_migrations = PG_MIGRATIONS,
        .npg_migrations = (int)(sizeof(PG_MIGRATIONS) / sizeof(PG_MIGRATIONS[0])),
    };
    return wg_sql_open(&o, &d->db, err, errlen);
}

enum wg_err wg__deploys_open(struct wg_server *s, const char *state_dir, char *err, size_t errlen)
{
    if (!state_dir || !*state_dir) {
        snprintf(err, errlen, "deploy store: no state_dir configured");
        return WG_EINVAL;
    }
    struct wg__deploys *d = calloc(1, sizeof(*d));
    if (!d) {
        return WG_ENOMEM;
    }
    pthread_mutex_init(&d->mu, NULL);
    snprintf(d->dir, sizeof(d->dir), "%s", state_dir);
    enum wg_err rc = db_open(d, err, errlen);
    if (rc != WG_OK && wg_sql_default_backend() == WG_STORE_POSTGRES) {
        wg_log(WG_LOG_WARN, "deploy store: %s (retried at the first request)", err);
        err[0] = '\0';
        rc = WG_OK;
    }
    if (rc != WG_OK) {
        pthread_mutex_destroy(&d->mu);
        free(d);
        return rc;
    }
    s->dep = d;
    return WG_OK;
}

void wg__deploys_close(struct wg_server *s)
{
    struct wg__deploys *d = s ? s->dep : NULL;
    if (!d) {
        return;
    }
    wg_sql_close(d->db);
    pthread_mutex_destroy(&d->mu);
    free(d);
    s->dep = NULL;
}

/* What one sighting of a deploy identity returns. */
struct sight {
    int64_t first;   /* the first sighting: the deploy's anchor */
    long looks;      /* looks counted so far, this one included */
    long failed;     /* failing Flagger checks counted so far */
    long tested;     /* the last look at which a statistical rule judged */
    int64_t look_ns; /* when the current look began */
    char final[16];  /* the verdict of the last planned look, "" before it */
};

/* Record a sighting of key at now in one statement (atomic on either backend, so two replicas
 * asked at once never count one look twice or lose one): add_look counts a new look unless
 * the current one began less than WG__SAME_LOOK_NS ago (then it is that same look); add_failed
 * counts a failing Flagger check. */
static enum wg_err sighting(struct wg__deploys *d, const char *key, int64_t now, int add_look,
                            int add_failed, struct sight *out)
{
    static const char sql[] =
        "INSERT INTO deploys (key, first_seen_ns, last_seen_ns, looks, failed, look_ns, tested)"
        " VALUES (?1, ?2, ?2, ?3, ?4, CASE WHEN CAST(?3 AS BIGINT) > 0 THEN CAST(?2 AS BIGINT)"
        " ELSE 0 END, 0) ON CONFLICT (key) DO UPDATE SET"
        " last_seen_ns = ?2,"
        " looks = deploys.looks + CASE WHEN ?3 > 0 AND ?2 - deploys.look_ns >= ?5 THEN 1 ELSE 0"
        " END,"
        " look_ns = CASE WHEN ?3 > 0 AND ?2 - deploys.look_ns >= ?5 THEN ?2 ELSE deploys.look_ns"
        " END,"
        " failed = deploys.failed + ?4"
        " RETURNING first_seen_ns, looks, failed, tested, look_ns, final";
    char err[512] = "";
    enum wg_err rc = WG_EIO;
    memset(out, 0, sizeof(*out));
    pthread_mutex_lock(&d->mu);
    struct wg_sql_q *q = NULL;
    if (db_open(d, err, sizeof(err)) != WG_OK) {
        goto out;
    }
    if (!(q = wg_sql_query(d->db, sql))) {
        snprintf(err, sizeof(err), "out of memory");
        goto out;
    }
    wg_sql_bind_text(q, 1, key);
    wg_sql_bind_int64(q, 2, now);
    wg_sql_bind_int64(q, 3, add_look ? 1 : 0);
    wg_sql_bind_int64(q, 4, add_failed ? 1 : 0);
    wg_sql_bind_int64(q, 5, WG__SAME_LOOK_NS);
    if (wg_sql_step(q) != 1) {
        snprintf(err, sizeof(err), "%s", wg_sql_qerror(q));
        goto out;
    }
    out->first = wg_sql_col_int64(q, 0);
    out->looks = (long)wg_sql_col_int64(q, 1);
    out->failed = (long)wg_sql_col_int64(q, 2);
    out->tested = (long)wg_sql_col_int64(q, 3);
    out->look_ns = wg_sql_col_int64(q, 4);
    const char *fin = wg_sql_col_null(q, 5) ? NULL : wg_sql_col_text(q, 5);
    snprintf(out->final, sizeof(out->final), "%s", fin ? fin : "");
    while (wg_sql_step(q) == 1) {
    }
    rc = WG_OK;
out:
    if (rc != WG_OK) {
        wg_log(WG_LOG_WARN, "deploy store: %s", err[0] ? err : "not open");
    }
    wg_sql_end(q);
    pthread_mutex_unlock(&d->mu);
    return rc;
}

enum wg_err wg__deploys_look_done(struct wg_server *s, const struct wg__params *p, int tested,
                                  const char *final)
{
    struct wg__deploys *d = s ? s->dep : NULL;
    if (!d || !p->ident || !p->counted || (!tested && !final)) {
        return WG_OK;
    }
    /* tested only grows (a look that judged never goes back); final: the last planned look's */
    static const char sql[] =
        "UPDATE deploys SET tested = CASE WHEN tested < ?2 THEN ?2 ELSE tested END,"
        " final = COALESCE(?3, final) WHERE key = ?1";
    char err[512] = "";
    enum wg_err rc = WG_EIO;
    pthread_mutex_lock(&d->mu);
    struct wg_sql_q *q = NULL;
    if (db_open(d, err, sizeof(err)) == WG_OK && (q = wg_sql_query(d->db, sql)) != NULL) {
        wg_sql_bind_text(q, 1, p->ident);
        wg_sql_bind_int64(q, 2, tested ? p->look : 0);
        wg_sql_bind_text(q, 3, final);
        rc = wg_sql_run(q, err, sizeof(err));
    }
    if (rc != WG_OK) {
        wg_log(WG_LOG_WARN, "deploy store: look %d not noted: %s", p->look,
               err[0] ? err : "out of memory");
    }
    wg_sql_end(q);
    pthread_mutex_unlock(&d->mu);
    return rc;
}

/* ---- identities ------------------------------------------------------------------------- */

static int cmpstr(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* consumer \x1f identity \x1f wave \x1f sorted features: NULL without an identity. */
static char *identity_key(struct wg__server_req *r)
{
    struct wg__params *p = &r->p;
    struct wg_buf b;
    wg_buf_init(&b, 0);
    if (r->route == WG__R_FLAGGER && p->checksum && p->canary) {
        wg_buf_adds(&b, "flagger\x1f");
        wg_buf_adds(&b, p->canary);
        wg_buf_adds(&b, "\x1f");
        wg_buf_adds(&b, p->checksum);
    } else if (p->deploy_id) {
        wg_buf_adds(&b, "id\x1f");
        wg_buf_adds(&b, p->deploy_id);
    } else {
        return NULL;
    }
    wg_buf_adds(&b, "\x1f");
    wg_buf_adds(&b, p->wave ? p->wave : "");
    qsort(p->features, p->nfeatures, sizeof(p->features[0]), cmpstr);
    for (size_t i = 0; i < p->nfeatures; i++) {
        wg_buf_adds(&b, "\x1f");
        wg_buf_adds(&b, p->features[i]);
    }
    if (!b.p) {
        return NULL;
    }
    return wg_buf_take(&b);
}

static int phase_has_traffic(const char *phase)
{
    /* Flagger phases before the canary gets traffic, and after the analysis ended. */
    static const char *const no[] = {"Initializing", "Initialized", "Waiting",   "Succeeded",
                                     "Failed",       "Terminating", "Terminated"};
    for (size_t i = 0; phase && i < sizeof(no) / sizeof(no[0]); i++) {
        if (!strcmp(phase, no[i])) {
            return 0;
        }
    }
    return 1;
}

enum wg_err wg__deploys_flagger_payload(struct wg__params *p, const char *body, size_t len)
{
    cJSON *root = cJSON_ParseWithLength(body, len);
    if (!root) {
        return WG_OK; /* wg__params_from_json already answered 400 */
    }
    enum wg_err rc = WG_OK;
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(root, "name");
    const cJSON *ns = cJSON_GetObjectItemCaseSensitive(root, "namespace");
    const cJSON *sum = cJSON_GetObjectItemCaseSensitive(root, "checksum");
    const cJSON *phase = cJSON_GetObjectItemCaseSensitive(root, "phase");
    const cJSON *md = cJSON_GetObjectItemCaseSensitive(root, "metadata");
    const cJSON *thr =
        cJSON_IsObject(md) ? cJSON_GetObjectItemCaseSensitive(md, "threshold") : NULL;
    if (cJSON_IsString(name) && name->valuestring[0]) {
        p->canary =
            wg_asprintf("%s/%s", cJSON_IsString(ns) ? ns->valuestring : "", name->valuestring);
        rc = p->canary ? rc : WG_ENOMEM;
    }
    if (cJSON_IsString(sum) && sum->valuestring[0] && strlen(sum->valuestring) < WG__MAX_NAME) {
        rc = (p->checksum = wg_strdup(sum->valuestring)) ? rc : WG_ENOMEM;
    }
    if (cJSON_IsString(phase) && strlen(phase->valuestring) < 64) {
        rc = (p->phase = wg_strdup(phase->valuestring)) ? rc : WG_ENOMEM;
    }
    if (cJSON_IsString(thr)) {
        long t = strtol(thr->valuestring, NULL, 10);
        p->threshold = t > 0 && t < 1000 ? (int)t : 0;
    }
    cJSON_Delete(root);
    return rc;
}

/* The looks planned for this deploy's analysis: the request's max_looks (Argo: the metric's
 * count; Flagger: metadata.max_looks), else the wave's bake (duration / interval), else
 * WG__DEFAULT_LOOKS. */
static int planned_looks(const struct wg_config *cfg, const struct wg__params *p)
{
    if (p->looks_planned > 0) {
        return p->looks_planned;
    }
    const struct wg_wave *w = p->wave ? wg_config_wave(cfg, p->wave) : NULL;
    if (w && w->bake.present && w->bake.interval_ns > 0) {
        int64_t n = w->bake.duration_ns / w->bake.interval_ns;
        return n < 1 ? 1 : n > WG__MAX_LOOKS ? WG__MAX_LOOKS : (int)n;
    }
    return WG__DEFAULT_LOOKS;
}

enum wg_err wg__deploys_resolve(struct wg_server *s, struct wg__server_req *r, char *err,
                                size_t errlen)
{
    struct wg__params *p = &r->p;
    if (!s->dep) {
        return WG_OK;
    }
    if (r->route == WG__R_FLAGGER && !phase_has_traffic(p->phase)) {
        return WG_OK; /* the checksum is anchored (and its looks counted) once it gets traffic */
    }
    if (r->route == WG__R_GATE && wg__analyses_for_gate(s, p) == WG_OK && p->analysis) {
        return WG_OK; /* an analysis of this deploy answers (wg__server_lookup): its own looks */
    }
    char *key = identity_key(r);
    if (!key) {
        return WG_OK;
    }
    struct sight st;
    enum wg_err rc = sighting(s->dep, key, wg__server_now(), 1, 0, &st);
    if (rc != WG_OK) {
        free(key);
        snprintf(err, errlen, "cannot count the deploy's look (state store)");
        return rc;
    }
    if (!p->deploy_ns) {
        p->deploy_ns = st.first; /* an explicit deploy_time wins; else the first sighting */
    }
    free(p->ident);
    p->ident = key;
    p->counted = 1;
    p->look = st.looks < 1 ? 1 : st.looks > WG__MAX_LOOKS + 1 ? WG__MAX_LOOKS + 1 : (int)st.looks;
    p->max_looks = planned_looks(r->gen->cfg, p);
    /* the looks between the last judged one and this one spent nothing: their share carries
     * forward (never this look's own: a second ask of the same look spends it once more) */
    p->tested_look = st.tested < p->look ? (int)st.tested : p->look - 1;
    snprintf(p->final, sizeof(p->final), "%s", st.final);
    return WG_OK;
}

/* ---- Flagger ---------------------------------------------------------------------------- */

int wg__flagger_short_circuit(struct wg_server *s, struct wg__server_req *r, unsigned *status)
{
    (void)s;
    if (r->hook == WG__H_ROLLBACK && !phase_has_traffic(r->p.phase)) {
        *status = 412; /* no traffic on the canary yet: what fails is not the canary */
        return 1;
    }
    return 0;
}

/* 1 when a failing rule of the report is a key rule of cfg. */
static int key_rule_failed(const struct wg_config *cfg, const cJSON *root)
{
    const cJSON *rules = cJSON_GetObjectItemCaseSensitive(root, "rules");
    const cJSON *it;
    cJSON_ArrayForEach(it, rules)
    {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(it, "verdict");
        const cJSON *fe = cJSON_GetObjectItemCaseSensitive(it, "feature");
        const cJSON *ru = cJSON_GetObjectItemCaseSensitive(it, "rule");
        if (!cJSON_IsString(v) || strcmp(v->valuestring, "fail") || !cJSON_IsString(fe) ||
            !cJSON_IsString(ru)) {
            continue;
        }
        const struct wg_feature *f = wg_config_feature(cfg, fe->valuestring);
        for (size_t i = 0; f && i < f->nrules; i++) {
            if (!strcmp(f->rules[i].name, ru->valuestring) && f->rules[i].p.key) {
                return 1;
            }
        }
    }
    return 0;
}

/* inconclusive only because the window has not ended yet (nothing failed so far). */
static int pending(const cJSON *root)
{
    const cJSON *win = cJSON_GetObjectItemCaseSensitive(root, "window");
    const cJSON *end = cJSON_IsObject(win) ? cJSON_GetObjectItemCaseSensitive(win, "end") : NULL;
    int64_t end_ns = 0;
    if (!cJSON_IsString(end) ||
        wg_time_parse(end->valuestring, strlen(end->valuestring), &end_ns) != WG_OK) {
        return 0;
    }
    return wg__server_now() < end_ns;
}

unsigned wg__flagger_status(struct wg_server *s, struct wg__server_req *r,
                            const struct wg__verdict *v)
{
    enum wg_verdict vd = v->verdict;
    int pass = vd == WG_PASS || vd == WG_WARN;
    cJSON *root = v->json ? cJSON_Parse(v->json) : NULL;
    unsigned st = 412;
    switch (r->hook) {
    case WG__H_ROLLBACK: {
        /* Roll back only when this canary's failure persisted for the Canary's threshold
         * (metadata.threshold; default 5), or a key rule failed. */
        if (vd != WG_FAIL) {
            break;
        }
        if (root && key_rule_failed(r->gen->cfg, root)) {
            st = 200;
            break;
        }
        char *key = identity_key(r);
        struct sight sg = {0};
        int threshold = r->p.threshold > 0 ? r->p.threshold : 5;
        if (key && s->dep && sighting(s->dep, key, wg__server_now(), 0, 1, &sg) == WG_OK &&
            sg.failed >= threshold) {
            st = 200;
        }
        wg_log(WG_LOG_INFO, "flagger rollback %s: failing check %ld of threshold %d (look %d)",
               r->p.canary ? r->p.canary : "-", sg.failed, threshold, r->p.look);
        free(key);
        break;
    }
    case WG__H_ROLLOUT:
    case WG__H_PRE_ROLLOUT:
        if (vd == WG_INCONCLUSIVE && (r->p.inconclusive_pass || (root && pending(root)))) {
            st = 200; /* not yet judged is not a failed check */
        } else {
            st = pass ? 200 : vd == WG_FAIL ? 412 : vd == WG_NOEVAL ? 503 : 409;
        }
        break;
    case WG__H_CONFIRM_TRAFFIC:
        /* More traffic while nothing failed so far; an outage or a failure holds. */
        st = pass || (vd == WG_INCONCLUSIVE && root && pending(root)) ? 200
             : vd == WG_FAIL                                          ? 412
             : vd == WG_NOEVAL                                        ? 503
                                                                      : 409;
        break;
    case WG__H_CONFIRM_ROLLOUT:
    case WG__H_CONFIRM_PROMOTION:
        st = pass ? 200 : vd == WG_FAIL ? 412 : vd == WG_NOEVAL ? 503 : 409;
        break;
    default:
        st = 200;
        break;
    }
    cJSON_Delete(root);
    return st;
}

/* ---- readiness -------------------------------------------------------------------------- */

int wg__server_ready_self(struct wg_server *s, char *why, size_t whylen)
{
    struct wg__deploys *d = s->dep;
    int64_t now = wg_mono_ns();
    if (!d) {
        snprintf(why, whylen, "state store not open");
        return 0;
    }
    pthread_mutex_lock(&d->mu);
    if (!d->ready_at || now - d->ready_at >= 5 * WG_NS_PER_SEC) {
        struct wg__cfgref *g = wg__server_gen_get(s);
        char err[256] = "";
        d->ready_ok = 0;
        if (!g || !g->cfg) {
            snprintf(d->ready_why, sizeof(d->ready_why), "no config loaded");
        } else if (db_open(d, err, sizeof(err)) != WG_OK ||
                   wg_sql_exec(d->db,
                               "INSERT INTO probe (id, at_ns) VALUES (1, 0)"
                               " ON CONFLICT (id) DO UPDATE SET at_ns = 0",
                               err, sizeof(err)) != WG_OK) {
            snprintf(d->ready_why, sizeof(d->ready_why), "state store not writable: %s", err);
        } else {
            d->ready_ok = 1;
            snprintf(d->ready_why, sizeof(d->ready_why), "config loaded; state store writable");
        }
        if (g) {
            wg__server_gen_put(g);
        }
        d->ready_at = now;
    }
    int ok = d->ready_ok;
    snprintf(why, whylen, "%s", d->ready_why);
    pthread_mutex_unlock(&d->mu);
    return ok;
}

/* ---- systemd Type=notify -------------------------------------------------------------- */

void wg__server_sd_notify(const char *state)
{
    /* sd_notify(3)'s protocol without libsystemd: one datagram to $NOTIFY_SOCKET (a path or
     * an abstract name starting with '@'). Without the variable (not under systemd) nothing. */
    const char *path = getenv("NOTIFY_SOCKET");
    struct sockaddr_un sa;
    size_t n = path ? strlen(path) : 0;
    if (!path || (path[0] != '/' && path[0] != '@') || n < 2 || n >= sizeof(sa.sun_path)) {
        return;
    }
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    memcpy(sa.sun_path, path, n);
    if (sa.sun_path[0] == '@') {
        sa.sun_path[0] = '\0';
    }
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return;
    }
    if (sendto(fd, state, strlen(state), MSG_NOSIGNAL, (const struct sockaddr *)&sa,
               (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n)) < 0) {
        wg_log(WG_LOG_WARN, "sd_notify: %s", strerror(errno));
    }
    close(fd);
}

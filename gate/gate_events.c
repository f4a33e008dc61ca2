/* gate_events.c — events in: deploys and flag flips as POST /v1/events and `wavegate event`
 * take them, parsed (one JSON entry point, fuzzable), resolved against the config (flag key →
 * feature through features.<name>.flag, env → wave through the wave's env) and recorded
 * durably through the store seam (common/store.h): events.db under state_dir, or tables of the
 * shared PostgreSQL that every replica reads, where due flips, actions and marker rows are
 * claimed with a lease (FOR UPDATE SKIP LOCKED) so no two replicas run one at once.
 */
#include "gate/gate_int.h"

#include "common/store.h"

#include <cjson/cJSON.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

const char *const wg_event_type_names[2] = {"deploy", "flag"};
const char *const wg_event_state_names[4] = {"", "on", "off", "changed"};

static const char *const MIGRATIONS[] = {
    "CREATE TABLE IF NOT EXISTS events ("
    " seq INTEGER PRIMARY KEY AUTOINCREMENT,"
    " id TEXT NOT NULL UNIQUE, type TEXT NOT NULL, state TEXT,"
    " wave TEXT, env TEXT, feature TEXT, flag TEXT, version TEXT, source TEXT,"
    " time_ns INTEGER NOT NULL, received_ns INTEGER NOT NULL);"
    "CREATE INDEX IF NOT EXISTS events_feature ON events(feature, time_ns);"
    "CREATE TABLE IF NOT EXISTS events_kv (k TEXT PRIMARY KEY, v TEXT NOT NULL);",
    /* 1 → 2: flip analyses and their kill-switch actions (with every attempt) */
    "CREATE TABLE flips (id TEXT PRIMARY KEY, feature TEXT NOT NULL, wave TEXT NOT NULL,"
    " env TEXT NOT NULL, flag TEXT NOT NULL, anchor_ns INTEGER NOT NULL,"
    " interval_ns INTEGER NOT NULL, next_ns INTEGER NOT NULL, count INTEGER NOT NULL,"
    " failure_limit INTEGER NOT NULL, looks INTEGER NOT NULL DEFAULT 0,"
    " failures INTEGER NOT NULL DEFAULT 0, errors INTEGER NOT NULL DEFAULT 0,"
    " status TEXT NOT NULL);"
    "CREATE INDEX flips_running ON flips(status, next_ns);"
    "CREATE TABLE actions (id TEXT NOT NULL, idx INTEGER NOT NULL, feature TEXT NOT NULL,"
    " wave TEXT NOT NULL, env TEXT NOT NULL, flag TEXT NOT NULL, status TEXT NOT NULL,"
    " attempts INTEGER NOT NULL DEFAULT 0, next_ns INTEGER NOT NULL, PRIMARY KEY (id, idx));"
    "CREATE TABLE action_attempts (id TEXT NOT NULL, idx INTEGER NOT NULL,"
    " at_ns INTEGER NOT NULL, status TEXT NOT NULL, http_status INTEGER, answer TEXT);",
    /* 2 → 3: the reconcile poll asks "seen this sender's event?" */
    "CREATE INDEX events_source ON events(source, version);",
    /* 3 → 4: a fleet deploy's target, or its per-target deploy times ({"T": "ns"}, JSON) */
    ("ALTER TABLE events ADD COLUMN target TEXT;"
     "ALTER TABLE events ADD COLUMN deploy_times TEXT;"),
    /* 4 → 5: the markers' outbox (events.write_to): line protocol kept until InfluxDB took it */
    "CREATE TABLE markers (id INTEGER PRIMARY KEY AUTOINCREMENT, n INTEGER NOT NULL,"
    " lines BLOB NOT NULL);",
};

/* PostgreSQL (state: {backend: postgres}): the same tables, shared by every replica. The ids'
 * row numbers come from a sequence (replicas insert at once); flips, actions and marker rows
 * carry their claim (claimed_by, lease_until_ns: while the lease runs no other replica takes
 * them, after it any does). */
static const char *const PG_MIGRATIONS[] = {
    "CREATE SEQUENCE IF NOT EXISTS events_seq;"
    "CREATE TABLE IF NOT EXISTS events (seq BIGINT PRIMARY KEY,"
    " id TEXT NOT NULL UNIQUE, type TEXT NOT NULL, state TEXT,"
    " wave TEXT, env TEXT, feature TEXT, flag TEXT, version TEXT, source TEXT,"
    " time_ns BIGINT NOT NULL, received_ns BIGINT NOT NULL, target TEXT, deploy_times TEXT);"
    "CREATE INDEX IF NOT EXISTS events_feature ON events(feature, time_ns);"
    "CREATE INDEX IF NOT EXISTS events_source ON events(source, version);"
    "CREATE TABLE IF NOT EXISTS events_kv (k TEXT PRIMARY KEY, v TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS flips (id TEXT PRIMARY KEY, feature TEXT NOT NULL,"
    " wave TEXT NOT NULL, env TEXT NOT NULL, flag TEXT NOT NULL, anchor_ns BIGINT NOT NULL,"
    " interval_ns BIGINT NOT NULL, next_ns BIGINT NOT NULL, count BIGINT NOT NULL,"
    " failure_limit BIGINT NOT NULL, looks BIGINT NOT NULL DEFAULT 0,"
    " failures BIGINT NOT NULL DEFAULT 0, errors BIGINT NOT NULL DEFAULT 0,"
    " status TEXT NOT NULL, claimed_by TEXT, lease_until_ns BIGINT NOT NULL DEFAULT 0);"
    "CREATE INDEX IF NOT EXISTS flips_running ON flips(status, next_ns);"
    "CREATE TABLE IF NOT EXISTS actions (id TEXT NOT NULL, idx INTEGER NOT NULL,"
    " feature TEXT NOT NULL, wave TEXT NOT NULL, env TEXT NOT NULL, flag TEXT NOT NULL,"
    " status TEXT NOT NULL, attempts BIGINT NOT NULL DEFAULT 0, next_ns BIGINT NOT NULL,"
    " claimed_by TEXT, lease_until_ns BIGINT NOT NULL DEFAULT 0, PRIMARY KEY (id, idx));"
    "CREATE TABLE IF NOT EXISTS action_attempts (id TEXT NOT NULL, idx INTEGER NOT NULL,"
    " at_ns BIGINT NOT NULL, status TEXT NOT NULL, http_status BIGINT, answer TEXT);"
    "CREATE INDEX IF NOT EXISTS action_attempts_id ON action_attempts(id, idx);"
    "CREATE TABLE IF NOT EXISTS markers (id BIGSERIAL PRIMARY KEY, n BIGINT NOT NULL,"
    " lines BYTEA NOT NULL, claimed_by TEXT, lease_until_ns BIGINT NOT NULL DEFAULT 0);",
};

/* How long a claim holds when nobody renews it: longer than a look (a query with its
 * timeout) or an action's HTTP call; a replica that dies mid-look has its flip taken over
 * after it. */
#define LEASE_NS (30 * WG_NS_PER_SEC)

/* Group commit: recorders queue their event; the committer thread writes everything queued
 * in one transaction, so one fsync covers a whole batch. A recorder that waits (blocking) does
 * not hold the batch size down to the number of threads that can wait: an HTTP request submits
 * and its connection is suspended (done is called), so every event that arrives while an fsync
 * is slow goes into the next batch. */
struct pend {
    const struct wg_event *ev;
    struct wg_flip_rec *flip;
    int *dup;
    int64_t now_ns;
    char *id;
    char *err;
    size_t errlen;
    enum wg_err rc;
    int done;
    void (*done_fn)(void *arg, enum wg_err rc); /* NULL: a blocking recorder waits on done */
    void *arg;
    struct pend *next;
};

struct wg_events {
    pthread_mutex_t mu; /* SQLite: one caller of the handle at a time */
    struct wg_sql *db;  /* SQLite: the one handle; PostgreSQL: NULL (pooled, one per call) */
    int pg;             /* PostgreSQL: the tables are shared by every replica */
    char owner[80];     /* PostgreSQL: this handle's name in claimed_by (host:pid:random) */
    atomic_llong lease_ns, skew_ns;    /* a claim's lease; the markers' clock offset (tests) */
    struct wg_events_marker_hook hook; /* guarded by qmu; copied per batch */
    pthread_mutex_t qmu;               /* the queue */
    pthread_cond_t qcv;                /* to the committer: work (or stop, or hold off) */
    pthread_cond_t dcv;                /* to the recorders: a batch is done */
    struct pend *qhead, **qtail;
    int busy; /* the committer has a batch (until its done calls returned) */
    int stop, hold;
    long commits;
    pthread_t committer;
};

void wg_event_clear(struct wg_event *ev)
{
    if (!ev) {
        return;
    }
    free(ev->wave);
    free(ev->env);
    free(ev->feature);
    free(ev->flag);
    free(ev->version);
    free(ev->source);
    free(ev->target);
    for (size_t i = 0; i < ev->ndeploy_times; i++) {
        free((char *)ev->deploy_times[i].target);
    }
    free(ev->deploy_times);
    memset(ev, 0, sizeof(*ev));
}

/* A string member: absent or null leaves *dst NULL; anything but a non-empty string is an
 * error. */
static enum wg_err str_member(const cJSON *o, const char *key, char **dst, char *err, size_t errlen)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!v || cJSON_IsNull(v)) {
        return WG_OK;
    }
    if (!cJSON_IsString(v) || !v->valuestring || !v->valuestring[0]) {
        snprintf(err, errlen, "%s: want a non-empty string", key);
        return WG_EINVAL;
    }
    if (strlen(v->valuestring) > 1024) {
        snprintf(err, errlen, "%s: longer than 1024 bytes", key);
        return WG_EINVAL;
    }
    *dst = wg_strdup(v->valuestring);
    return *dst ? WG_OK : WG_ENOMEM;
}

static enum wg_err parse_time(const cJSON *v, int64_t *out, char *err, size_t errlen)
{
    if (!v || cJSON_IsNull(v)) {
        return WG_OK;
    }
    if (cJSON_IsString(v) && v->valuestring &&
        wg_time_parse(v->valuestring, strlen(v->valuestring), out) == WG_OK) {
        return WG_OK;
    }
    if (cJSON_IsNumber(v) && v->valuedouble >= 0 && v->valuedouble < 9.2e9) {
        /* unix seconds (fractions kept to the microsecond) */
        *out = (int64_t)(v->valuedouble * 1e6) * 1000;
        return WG_OK;
    }
    snprintf(err, errlen, "time: want RFC3339 or unix seconds");
    return WG_EINVAL;
}

#define MAX_DEPLOY_TIMES 1000 /* the config's cap on a wave's targets */

/* deploy_times: {target: RFC3339 | unix seconds}, each target once. */
static enum wg_err deploy_times(const cJSON *v, struct wg_event *ev, char *err, size_t errlen)
{
    if (!v || cJSON_IsNull(v)) {
        return WG_OK;
    }
    if (!cJSON_IsObject(v) || !v->child) {
        snprintf(err, errlen, "deploy_times: want an object of target: time");
        return WG_EINVAL;
    }
    size_t n = (size_t)cJSON_GetArraySize(v);
    if (n > MAX_DEPLOY_TIMES) {
        snprintf(err, errlen, "deploy_times: at most %d targets", MAX_DEPLOY_TIMES);
        return WG_EINVAL;
    }
    if (!(ev->deploy_times = calloc(n, sizeof(*ev->deploy_times)))) {
        return WG_ENOMEM;
    }
    for (const cJSON *it = v->child; it; it = it->next) {
        struct wg_deploy_time *d = &ev->deploy_times[ev->ndeploy_times];
        if (!it->string[0] || strlen(it->string) > 255) {
            snprintf(err, errlen, "deploy_times: want target names of 1-255 bytes");
            return WG_EINVAL;
        }
        for (size_t k = 0; k < ev->ndeploy_times; k++) {
            if (!strcmp(ev->deploy_times[k].target, it->string)) {
                snprintf(err, errlen, "deploy_times: %.64s: given twice", it->string);
                return WG_EINVAL;
            }
        }
        if (!cJSON_IsString(it) && !cJSON_IsNumber(it)) {
            snprintf(err, errlen, "deploy_times: %.64s: want RFC3339 or unix seconds", it->string);
            return WG_EINVAL;
        }
        enum wg_err rc = parse_time(it, &d->ns, err, errlen);
        if (rc != WG_OK) {
            snprintf(err, errlen, "deploy_times: %.64s: want RFC3339 or unix seconds", it->string);
            return rc;
        }
        if (!(d->target = wg_strdup(it->string))) {
            return WG_ENOMEM;
        }
        ev->ndeploy_times++;
    }
    return WG_OK;
}

static enum wg_err from_obj(const cJSON *o, struct wg_event *ev, char *err, size_t errlen)
{
    static const char *const keys[] = {"type",   "wave",   "env",         "feature",
                                       "flag",   "state",  "version",     "time",
                                       "source", "target", "deploy_times"};
    for (const cJSON *it = o->child; it; it = it->next) {
        size_t k = 0;
        while (k < sizeof(keys) / sizeof(keys[0]) && strcmp(it->string, keys[k])) {
            k++;
        }
        if (k == sizeof(keys) / sizeof(keys[0])) {
            snprintf(err, errlen,
                     "%s: unknown key (allowed: type, wave, env, feature, flag, state, version, "
                     "time, source, target, deploy_times)",
                     it->string);
            return WG_EINVAL;
        }
    }
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(o, "type");
    if (!cJSON_IsString(t) || !t->valuestring) {
        snprintf(err, errlen, "type: required, deploy or flag");
        return WG_EINVAL;
    }
    if (!strcmp(t->valuestring, "deploy")) {
        ev->type = WG_EVENT_DEPLOY;
    } else if (!strcmp(t->valuestring, "flag")) {
        ev->type = WG_EVENT_FLAG;
    } else {
        snprintf(err, errlen, "type: %.64s: want deploy or flag", t->valuestring);
        return WG_EINVAL;
    }
    enum wg_err rc = WG_OK;
    char *state = NULL;
    if ((rc = str_member(o, "wave", &ev->wave, err, errlen)) != WG_OK ||
        (rc = str_member(o, "env", &ev->env, err, errlen)) != WG_OK ||
        (rc = str_member(o, "feature", &ev->feature, err, errlen)) != WG_OK ||
        (rc = str_member(o, "flag", &ev->flag, err, errlen)) != WG_OK ||
        (rc = str_member(o, "version", &ev->version, err, errlen)) != WG_OK ||
        (rc = str_member(o, "source", &ev->source, err, errlen)) != WG_OK ||
        (rc = str_member(o, "state", &state, err, errlen)) != WG_OK ||
        (rc = str_member(o, "target", &ev->target, err, errlen)) != WG_OK ||
        (rc = deploy_times(cJSON_GetObjectItemCaseSensitive(o, "deploy_times"), ev, err, errlen)) !=
            WG_OK ||
        (rc = parse_time(cJSON_GetObjectItemCaseSensitive(o, "time"), &ev->time_ns, err, errlen)) !=
            WG_OK) {
        goto out;
    }
    rc = WG_EINVAL;
    if (state && !strcmp(state, "on")) {
        ev->state = WG_EVSTATE_ON;
    } else if (state && !strcmp(state, "off")) {
        ev->state = WG_EVSTATE_OFF;
    } else if (state) {
        snprintf(err, errlen, "state: %.64s: want on or off", state);
        goto out;
    }
    if (ev->type == WG_EVENT_DEPLOY && !ev->wave && !ev->env) {
        snprintf(err, errlen, "wave: a deploy event needs wave or env");
        goto out;
    }
    if (ev->type == WG_EVENT_DEPLOY && ev->state) {
        snprintf(err, errlen, "state: only flag events have a state");
        goto out;
    }
    if (ev->type != WG_EVENT_DEPLOY && (ev->target || ev->ndeploy_times)) {
        snprintf(err, errlen, "%s: only deploy events have one",
                 ev->target ? "target" : "deploy_times");
        goto out;
    }
    if (ev->target && ev->ndeploy_times) {
        snprintf(err, errlen, "target: one target's deploy, or deploy_times for several: not both");
        goto out;
    }
    if (ev->type == WG_EVENT_FLAG && !ev->feature && !ev->flag) {
        snprintf(err, errlen, "feature: a flag event needs feature or flag");
        goto out;
    }
    if (ev->type == WG_EVENT_FLAG && !ev->state) {
        snprintf(err, errlen, "state: a flag event needs state on or off");
        goto out;
    }
    rc = WG_OK;
out:
    free(state);
    return rc;
}

enum wg_err wg_event_from_json(const char *body, size_t len, struct wg_event *ev, char *err,
                               size_t errlen)
{
    memset(ev, 0, sizeof(*ev));
    cJSON *o = cJSON_ParseWithLength(body, len);
    enum wg_err rc = WG_EINVAL;
    if (!o || !cJSON_IsObject(o)) {
        snprintf(err, errlen, "want a JSON object");
    } else {
        rc = from_obj(o, ev, err, errlen);
    }
    cJSON_Delete(o);
    if (rc != WG_OK) {
        wg_event_clear(ev);
    }
    return rc;
}

void wg_event_resolve(const struct wg_config *cfg, struct wg_event *ev)
{
    for (size_t i = 0; cfg && i < cfg->nfeatures; i++) {
        const struct wg_feature *f = &cfg->features[i];
        /* a feature without a flag key is keyed by its name */
        if (!ev->feature && ev->flag && !strcmp(f->flag ? f->flag : f->name, ev->flag)) {
            ev->feature = wg_strdup(f->name);
        }
        if (ev->feature && !ev->flag && !strcmp(f->name, ev->feature)) {
            ev->flag = wg_strdup(f->flag ? f->flag : f->name);
        }
    }
    for (size_t i = 0; cfg && i < cfg->nwaves; i++) {
        const struct wg_wave *w = &cfg->waves[i];
        if (!ev->wave && ev->env && w->env && !strcmp(w->env, ev->env)) {
            ev->wave = wg_strdup(w->name);
        }
        if (ev->wave && !ev->env && w->env && !strcmp(w->name, ev->wave)) {
            ev->env = wg_strdup(w->env);
        }
    }
}

static void *committer_main(void *arg);

static struct wg_sql_opts store_opts(const char *state_dir)
{
    struct wg_sql_opts o = {
        .backend = WG_STORE_DEFAULT,
        .sqlite = {.dir = state_dir,
                   .file = "events.db",
                   .create = 1,
                   .synchronous = 2,
                   .quick_check = 1,
                   .migrations = MIGRATIONS,
                   .nmigrations = (int)(sizeof(MIGRATIONS) / sizeof(MIGRATIONS[0]))},
        .name = "events",
        .pg_migrations = PG_MIGRATIONS,
        .npg_migrations = (int)(sizeof(PG_MIGRATIONS) / sizeof(PG_MIGRATIONS[0])),
    };
    return o;
}

/* The connection for one call: SQLite's one handle with mu held, or a PostgreSQL connection
 * from the pool (NULL with err when the database cannot be reached). Give it back. */
static struct wg_sql *take(struct wg_events *e, char *err, size_t errlen)
{
    if (!e->pg) {
        pthread_mutex_lock(&e->mu);
        return e->db;
    }
    struct wg_sql_opts o = store_opts(NULL);
    o.backend = WG_STORE_POSTGRES;
    struct wg_sql *c = NULL;
    char e2[256];
    if (wg_sql_open(&o, &c, e2, sizeof(e2)) != WG_OK) {
        snprintf(err, errlen, "events store (postgres): %s", e2);
        /* the runner asks 20 times a second: said once per 10 s while it lasts */
        static _Atomic int64_t said;
        int64_t now = wg_mono_ns(), last = atomic_load(&said);
        if (now - last >= 10 * WG_NS_PER_SEC && atomic_compare_exchange_strong(&said, &last, now)) {
            wg_log(WG_LOG_WARN, "events store (postgres): %s", e2);
        }
        return NULL;
    }
    return c;
}

static void give(struct wg_events *e, struct wg_sql *c)
{
    if (!e->pg) {
        pthread_mutex_unlock(&e->mu);
        return;
    }
    wg_sql_rollback(c); /* only when a failed call left one open: never pooled inside one */
    wg_sql_close(c);
}

enum wg_err wg_events_open(const char *state_dir, struct wg_events **out, char *err, size_t errlen)
{
    *out = NULL;
    struct wg_events *e = calloc(1, sizeof(*e));
    if (!e) {
        return WG_ENOMEM;
    }
    struct wg_sql_opts o = store_opts(state_dir);
    struct wg_sql *c = NULL;
    enum wg_err rc = wg_sql_open(&o, &c, err, errlen); /* PostgreSQL: migrates the tables */
    if (rc != WG_OK) {
        free(e);
        return rc;
    }
    e->pg = wg_sql_backend(c) == WG_STORE_POSTGRES;
    if (e->pg) {
        wg_sql_close(c); /* into the pool, for the first call */
        unsigned char r[6] = {0};
        char host[40] = "";
        if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r) || gethostname(host, 32) != 0) {
            host[0] = '\0';
        }
        host[32] = '\0';
        snprintf(e->owner, sizeof(e->owner), "%s:%ld:%02x%02x%02x%02x%02x%02x", host,
                 (long)getpid(), r[0], r[1], r[2], r[3], r[4], r[5]);
    } else {
        e->db = c;
        wg_store_busy_wait(wg_sql_sqlite(c), 1);
    }
    atomic_init(&e->lease_ns, LEASE_NS);
    atomic_init(&e->skew_ns, 0);
    pthread_mutex_init(&e->mu, NULL);
    pthread_mutex_init(&e->qmu, NULL);
    pthread_cond_init(&e->qcv, NULL);
    pthread_cond_init(&e->dcv, NULL);
    e->qtail = &e->qhead;
    if (pthread_create(&e->committer, NULL, committer_main, e) != 0) {
        snprintf(err, errlen, "events store: cannot start the committer thread");
        wg_sql_close(e->db);
        pthread_mutex_destroy(&e->mu);
        pthread_mutex_destroy(&e->qmu);
        pthread_cond_destroy(&e->qcv);
        pthread_cond_destroy(&e->dcv);
        free(e);
        return WG_EIO;
    }
    *out = e;
    return WG_OK;
}

void wg_events_close(struct wg_events *e)
{
    if (!e) {
        return;
    }
    pthread_mutex_lock(&e->qmu);
    e->stop = 1; /* what is queued is committed first */
    e->hold = 0;
    pthread_cond_signal(&e->qcv);
    pthread_mutex_unlock(&e->qmu);
    pthread_join(e->committer, NULL);
    wg_sql_close(e->db);
    pthread_mutex_destroy(&e->mu);
    pthread_mutex_destroy(&e->qmu);
    pthread_cond_destroy(&e->qcv);
    pthread_cond_destroy(&e->dcv);
    free(e);
}

int wg_events_shared(const struct wg_events *e)
{
    return e && e->pg;
}

void wg_events_claims(struct wg_events *e, int64_t lease_ns, int64_t skew_ns)
{
    atomic_store(&e->lease_ns, lease_ns > 0 ? lease_ns : LEASE_NS);
    atomic_store(&e->skew_ns, skew_ns);
}

static void col_copy(char *dst, size_t n, struct wg_sql_q *q, int col)
{
    const char *v = wg_sql_col_text(q, col);
    snprintf(dst, n, "%s", v ? v : "");
}

/* Inside the recorder's transaction, or alone (c taken). */
static enum wg_err flip_start_on(struct wg_events *e, struct wg_sql *c, const char *id,
                                 const struct wg_event *ev, int64_t anchor_ns, int64_t interval_ns,
                                 long count, long failure_limit, char *err, size_t errlen)
{
    struct wg_sql_q *q = wg_sql_query(
        c, e->pg ? "INSERT INTO flips(id, feature, wave, env, flag, anchor_ns, interval_ns,"
                   " next_ns, count, failure_limit, status) VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,"
                   "?10,'running') ON CONFLICT DO NOTHING"
                 : "INSERT OR IGNORE INTO flips(id, feature, wave, env, flag, anchor_ns,"
                   " interval_ns, next_ns, count, failure_limit, status) VALUES (?1,?2,?3,?4,"
                   "?5,?6,?7,?8,?9,?10,'running')");
    wg_sql_bind_text(q, 1, id);
    wg_sql_bind_text(q, 2, ev->feature ? ev->feature : "");
    wg_sql_bind_text(q, 3, ev->wave ? ev->wave : "");
    wg_sql_bind_text(q, 4, ev->env ? ev->env : "");
    wg_sql_bind_text(q, 5, ev->flag ? ev->flag : "");
    wg_sql_bind_int64(q, 6, anchor_ns);
    wg_sql_bind_int64(q, 7, interval_ns);
    wg_sql_bind_int64(q, 8, anchor_ns + interval_ns);
    wg_sql_bind_int64(q, 9, count);
    wg_sql_bind_int64(q, 10, failure_limit);
    enum wg_err rc = wg_sql_run(q, err, errlen);
    wg_sql_end(q);
    return rc;
}

static enum wg_err flip_cancel_on(struct wg_sql *c, const char *feature, const char *env, int *n,
                                  char *err, size_t errlen)
{
    *n = 0;
    struct wg_sql_q *q = wg_sql_query(c, "UPDATE flips SET status='cancelled' WHERE"
                                         " feature=?1 AND env=?2 AND status='running'");
    wg_sql_bind_text(q, 1, feature ? feature : "");
    wg_sql_bind_text(q, 2, env ? env : "");
    enum wg_err rc = wg_sql_run(q, err, errlen);
    *n = (int)wg_sql_changes(q);
    wg_sql_end(q);
    return rc;
}

/* ev's deploy_times as stored: {"T": "ns", ...} (exact: a JSON number is a double); NULL when none
 * (or no memory: the caller tells them apart by ev->ndeploy_times). */
static char *deploy_times_json(const struct wg_event *ev)
{
    if (!ev->ndeploy_times) {
        return NULL;
    }
    cJSON *o = cJSON_CreateObject();
    for (size_t i = 0; o && i < ev->ndeploy_times; i++) {
        char num[32];
        snprintf(num, sizeof(num), "%lld", (long long)ev->deploy_times[i].ns);
        if (!cJSON_AddStringToObject(o, ev->deploy_times[i].target, num)) {
            cJSON_Delete(o);
            o = NULL;
        }
    }
    char *s = o ? cJSON_PrintUnformatted(o) : NULL;
    cJSON_Delete(o);
    return s;
}

/* The stored event of ev's source and version: 1 (its id in p->id, *p->dup set), 0 none, -1
 * error (p->err). */
static int find_dup(struct wg_sql *c, struct pend *p)
{
    struct wg_sql_q *q =
        wg_sql_query(c, "SELECT id FROM events WHERE source=?1 AND version=?2 LIMIT 1");
    wg_sql_bind_text(q, 1, p->ev->source);
    wg_sql_bind_text(q, 2, p->ev->version);
    int r = wg_sql_step(q);
    if (r == 1) {
        col_copy(p->id, 48, q, 0);
        *p->dup = 1;
    } else if (r < 0) {
        snprintf(p->err, p->errlen, "events store: %s", wg_sql_qerror(q));
    }
    wg_sql_end(q);
    return r;
}

/* The next row number: SQLite's one writer takes MAX + 1 (as before the seam); PostgreSQL's
 * replicas draw from one sequence. -1 with p->err. */
static long long next_seq(struct wg_events *e, struct wg_sql *c, struct pend *p)
{
    struct wg_sql_q *q = wg_sql_query(c, e->pg ? "SELECT nextval('events_seq')"
                                               : "SELECT COALESCE(MAX(seq), 0) + 1 FROM events");
    long long row = -1;
    if (wg_sql_step(q) == 1) {
        row = (long long)wg_sql_col_int64(q, 0);
    } else {
        snprintf(p->err, p->errlen, "events store: %s", wg_sql_qerror(q));
    }
    wg_sql_end(q);
    return row;
}

/* The event's marker rows in its own transaction (so an accepted event and its marker are
 * durable together), told to the writer before the commit (its count goes up before the row
 * can be sent; a failed commit leaves it high until its next read finds less). A marker that
 * cannot be built is logged and left out: the event is recorded all the same. */
static enum wg_err marker_in_tx(struct wg_sql *c, const struct wg_events_marker_hook *hook,
                                struct pend *p, char *err, size_t errlen)
{
    struct wg_buf b;
    wg_buf_init(&b, 0);
    enum wg_err rc = hook->build(hook->arg, p->ev, p->id, p->now_ns, &b);
    if (rc == WG_OK) {
        rc = wg_buf_err(&b);
    }
    if (rc != WG_OK) {
        wg_log(WG_LOG_ERROR, "markers: event %s's marker not built: %s", p->id, wg_strerror(rc));
        rc = WG_OK;
    } else if (b.len) {
        unsigned long long n = 0; /* lines, counted as the writer counts them */
        for (size_t i = 0; i < b.len; i++) {
            n += b.p[i] == '\n';
        }
        struct wg_sql_q *q = wg_sql_query(c, "INSERT INTO markers(n, lines) VALUES(?1, ?2)");
        wg_sql_bind_int64(q, 1, (int64_t)n);
        wg_sql_bind_blob(q, 2, b.p, b.len);
        rc = wg_sql_run(q, err, errlen);
        wg_sql_end(q);
        if (rc != WG_OK) {
            snprintf(p->err, p->errlen, "events store: marker: %s", err);
        } else if (hook->stored) {
            hook->stored(hook->arg, b.p, b.len);
        }
    }
    wg_buf_free(&b);
    return rc;
}

/* One row, inside the committer's transaction. */
static enum wg_err insert_one(struct wg_events *e, struct wg_sql *c, struct pend *p,
                              const struct wg_events_marker_hook *hook)
{
    const struct wg_event *ev = p->ev;
    int64_t t = ev->time_ns ? ev->time_ns : p->now_ns;
    if (p->dup && ev->source && ev->version) {
        int r = find_dup(c, p);
        if (r != 0) {
            return r > 0 ? WG_OK : WG_EIO;
        }
    }
    /* The id names the time and the row: unique, sortable, and known before the insert. */
    long long row = next_seq(e, c, p);
    if (row < 0) {
        return WG_EIO;
    }
    char *dts = deploy_times_json(ev);
    if (ev->ndeploy_times && !dts) {
        snprintf(p->err, p->errlen, "events store: out of memory");
        return WG_ENOMEM;
    }
    snprintf(p->id, 48, "ev-%016llx-%08llx", (unsigned long long)t, (unsigned long long)row);
    struct wg_sql_q *q = wg_sql_query(
        c, "INSERT INTO events(seq, id, type, state, wave, env, feature, flag, version,"
           " source, time_ns, received_ns, target, deploy_times)"
           " VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14)");
    wg_sql_bind_int64(q, 1, row);
    wg_sql_bind_text(q, 2, p->id);
    wg_sql_bind_text(q, 3, wg_event_type_names[ev->type]);
    wg_sql_bind_text(q, 4, ev->state ? wg_event_state_names[ev->state] : NULL);
    wg_sql_bind_text(q, 5, ev->wave);
    wg_sql_bind_text(q, 6, ev->env);
    wg_sql_bind_text(q, 7, ev->feature);
    wg_sql_bind_text(q, 8, ev->flag);
    wg_sql_bind_text(q, 9, ev->version);
    wg_sql_bind_text(q, 10, ev->source);
    wg_sql_bind_int64(q, 11, t);
    wg_sql_bind_int64(q, 12, p->now_ns);
    wg_sql_bind_text(q, 13, ev->target);
    wg_sql_bind_text(q, 14, dts);
    char err[256];
    enum wg_err rc = wg_sql_run(q, err, sizeof(err));
    wg_sql_end(q);
    free(dts);
    if (rc != WG_OK) {
        snprintf(p->err, p->errlen, "events store: %s", err);
        return rc;
    }
    if (p->flip && p->flip->op == WG_FLIP_START) {
        rc = flip_start_on(e, c, p->id, ev, p->flip->anchor_ns ? p->flip->anchor_ns : t,
                           p->flip->interval_ns, p->flip->count, p->flip->failure_limit, err,
                           sizeof(err));
    } else if (p->flip && p->flip->op == WG_FLIP_CANCEL) {
        rc = flip_cancel_on(c, ev->feature, ev->env, &p->flip->cancelled, err, sizeof(err));
    }
    if (rc != WG_OK) {
        snprintf(p->err, p->errlen, "events store: flip analysis: %s", err);
        return rc;
    }
    return hook && hook->build ? marker_in_tx(c, hook, p, err, sizeof(err)) : WG_OK;
}

static uint32_t key_hash(const char *a, const char *b)
{
    uint32_t h = 2166136261u; /* FNV-1a over a, a NUL, b */
    for (const char *s = a;; s++) {
        h = (h ^ (unsigned char)*s) * 16777619u;
        if (!*s) {
            break;
        }
    }
    for (const char *s = b; *s; s++) {
        h = (h ^ (unsigned char)*s) * 16777619u;
    }
    return h;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

/* PostgreSQL: the dedupe by (source, version) holds across replicas: each key of the batch is
 * locked (a transaction-scoped advisory lock, its class 'wgev') before it is looked up, so a
 * replica recording the same event waits for this commit and then finds it. In ascending
 * order: two batches never wait on each other in a circle. */
static enum wg_err lock_keys(struct wg_sql *c, struct pend *batch, char *err, size_t errlen)
{
    size_t n = 0, k = 0;
    for (struct pend *p = batch; p; p = p->next) {
        n += p->dup && p->ev->source && p->ev->version;
    }
    if (!n) {
        return WG_OK;
    }
    uint32_t *keys = malloc(n * sizeof(*keys));
    if (!keys) {
        snprintf(err, errlen, "out of memory");
        return WG_ENOMEM;
    }
    for (struct pend *p = batch; p; p = p->next) {
        if (p->dup && p->ev->source && p->ev->version) {
            keys[k++] = key_hash(p->ev->source, p->ev->version);
        }
    }
    qsort(keys, n, sizeof(*keys), cmp_u32);
    enum wg_err rc = WG_OK;
    for (size_t i = 0; rc == WG_OK && i < n; i++) {
        if (i && keys[i] == keys[i - 1]) {
            continue;
        }
        struct wg_sql_q *q =
            wg_sql_query(c, "SELECT pg_advisory_xact_lock(2003265142, CAST(?1 AS INTEGER))");
        wg_sql_bind_int64(q, 1, (int32_t)keys[i]);
        rc = wg_sql_run(q, err, errlen);
        wg_sql_end(q);
    }
    free(keys);
    return rc;
}

/* The committer: the batch in one transaction; a failed commit fails every row of it. */
static void commit_batch(struct wg_events *e, struct pend *batch,
                         const struct wg_events_marker_hook *hook)
{
    char err[256] = "";
    struct wg_sql *c = take(e, err, sizeof(err));
    enum wg_err rc = c ? wg_sql_begin(c, 1, err, sizeof(err)) : WG_EIO;
    if (rc == WG_OK && e->pg) {
        rc = lock_keys(c, batch, err, sizeof(err));
    }
    for (struct pend *p = batch; rc == WG_OK && p; p = p->next) {
        p->rc = insert_one(e, c, p, hook);
        if (p->rc != WG_OK) {
            rc = p->rc;
            snprintf(err, sizeof(err), "%s", p->err);
        }
    }
    if (rc == WG_OK) {
        rc = wg_sql_commit(c, err, sizeof(err));
    } else if (c) {
        wg_sql_rollback(c);
    }
    give(e, c);
    for (struct pend *p = batch; p; p = p->next) {
        if (rc != WG_OK) {
            p->rc = rc;
            snprintf(p->err, p->errlen, "events store: %s", err);
        }
    }
}

enum wg_err wg_events_record(struct wg_events *e, const struct wg_event *ev, int64_t now_ns,
                             char id[48], char *err, size_t errlen)
{
    return wg_events_record_flip(e, ev, now_ns, NULL, NULL, id, err, errlen);
}

static void enqueue_locked(struct wg_events *e, struct pend *p)
{
    *e->qtail = p;
    e->qtail = &p->next;
    pthread_cond_signal(&e->qcv);
}

enum wg_err wg_events_record_flip(struct wg_events *e, const struct wg_event *ev, int64_t now_ns,
                                  struct wg_flip_rec *flip, int *dup, char id[48], char *err,
                                  size_t errlen)
{
    if (dup) {
        *dup = 0;
    }
    struct pend me = {ev, flip, dup, now_ns, id, err, errlen, WG_EIO, 0, NULL, NULL, NULL};
    pthread_mutex_lock(&e->qmu);
    enqueue_locked(e, &me);
    while (!me.done) {
        pthread_cond_wait(&e->dcv, &e->qmu);
    }
    pthread_mutex_unlock(&e->qmu);
    return me.rc;
}

enum wg_err wg_events_submit(struct wg_events *e, const struct wg_event *ev, int64_t now_ns,
                             struct wg_flip_rec *flip, int *dup, char id[48], char *err,
                             size_t errlen, void (*done)(void *arg, enum wg_err rc), void *arg)
{
    struct pend *p = calloc(1, sizeof(*p));
    if (!p) {
        return WG_ENOMEM;
    }
    if (dup) {
        *dup = 0;
    }
    *p = (struct pend){ev, flip, dup, now_ns, id, err, errlen, WG_EIO, 0, done, arg, NULL};
    pthread_mutex_lock(&e->qmu);
    enqueue_locked(e, p);
    pthread_mutex_unlock(&e->qmu);
    return WG_OK;
}

/* The committer: everything queued, one transaction, then the recorders told (a blocking one
 * may return, and its pend go, as soon as its done is seen: nothing of it is read after). */
static void *committer_main(void *arg)
{
    struct wg_events *e = arg;
    pthread_mutex_lock(&e->qmu);
    for (;;) {
        while (!e->stop && (!e->qhead || e->hold)) {
            pthread_cond_wait(&e->qcv, &e->qmu);
        }
        if (!e->qhead) {
            break; /* stopping, nothing left */
        }
        struct pend *batch = e->qhead, *async = NULL;
        struct wg_events_marker_hook hook = e->hook;
        e->qhead = NULL;
        e->qtail = &e->qhead;
        e->busy = 1;
        pthread_mutex_unlock(&e->qmu);
        commit_batch(e, batch, &hook);
        pthread_mutex_lock(&e->qmu);
        e->commits++;
        for (struct pend *p = batch, *nx; p; p = nx) {
            nx = p->next;
            if (p->done_fn) {
                p->next = async;
                async = p;
            } else {
                p->done = 1;
            }
        }
        pthread_cond_broadcast(&e->dcv);
        pthread_mutex_unlock(&e->qmu);
        for (struct pend *p = async, *nx; p; p = nx) {
            nx = p->next;
            p->done_fn(p->arg, p->rc);
            free(p);
        }
        pthread_mutex_lock(&e->qmu);
        e->busy = 0;
        pthread_cond_broadcast(&e->dcv);
    }
    pthread_mutex_unlock(&e->qmu);
    return NULL;
}

void wg_events_quiesce(struct wg_events *e)
{
    if (!e) {
        return;
    }
    pthread_mutex_lock(&e->qmu);
    while (e->qhead || e->busy) {
        pthread_cond_wait(&e->dcv, &e->qmu);
    }
    pthread_mutex_unlock(&e->qmu);
}

void wg_events_marker_hook(struct wg_events *e, const struct wg_events_marker_hook *hook)
{
    pthread_mutex_lock(&e->qmu);
    if (hook) {
        e->hook = *hook;
    } else {
        memset(&e->hook, 0, sizeof(e->hook));
    }
    while (e->busy) { /* a batch in flight may use the old hook: it is done when this returns */
        pthread_cond_wait(&e->dcv, &e->qmu);
    }
    pthread_mutex_unlock(&e->qmu);
}

long wg_events_hold(struct wg_events *e, int hold)
{
    pthread_mutex_lock(&e->qmu);
    e->hold = hold;
    long n = e->commits;
    pthread_cond_signal(&e->qcv);
    pthread_mutex_unlock(&e->qmu);
    return n;
}

static void add_col(cJSON *o, const char *key, struct wg_sql_q *q, int col)
{
    const char *v = wg_sql_col_text(q, col);
    if (v) {
        cJSON_AddStringToObject(o, key, v);
    }
}

/* The stored {"T": "ns"} as "deploy_times": {"T": RFC3339} (an entry that does not parse is
 * left out, never guessed). */
static void add_deploy_times(cJSON *o, struct wg_sql_q *q, int col)
{
    const char *v = wg_sql_col_text(q, col);
    cJSON *in = v ? cJSON_Parse(v) : NULL;
    cJSON *out = cJSON_IsObject(in) ? cJSON_AddObjectToObject(o, "deploy_times") : NULL;
    const cJSON *it, *from = out ? in : NULL;
    cJSON_ArrayForEach(it, from)
    {
        char ts[64], *end = NULL;
        long long ns = cJSON_IsString(it) ? strtoll(it->valuestring, &end, 10) : 0;
        if (it->string && end && end != it->valuestring && !*end) {
            cJSON_AddStringToObject(out, it->string, wg_time_format(ns, ts, sizeof(ts)));
        }
    }
    cJSON_Delete(in);
}

enum wg_err wg_events_list_json(struct wg_events *e, size_t limit, char **out, char *err,
                                size_t errlen)
{
    *out = NULL;
    enum wg_err rc = WG_ENOMEM;
    cJSON *arr = cJSON_CreateArray();
    struct wg_sql *c = take(e, err, errlen);
    struct wg_sql_q *q = c ? wg_sql_query(c, "SELECT id, type, state, wave, env, feature, flag,"
                                             " version, source, time_ns, target, deploy_times"
                                             " FROM events ORDER BY seq DESC LIMIT ?1")
                           : NULL;
    if (!c) {
        rc = WG_EIO;
        goto out;
    }
    wg_sql_bind_int64(q, 1, (int64_t)limit);
    static const char *const names[] = {"id",      "type", "state",   "wave",  "env",
                                        "feature", "flag", "version", "source"};
    int s;
    while (arr && (s = wg_sql_step(q)) == 1) {
        cJSON *o = cJSON_CreateObject();
        if (!o || !cJSON_AddItemToArray(arr, o)) {
            cJSON_Delete(o);
            goto out;
        }
        for (int k = 0; k < 9; k++) {
            add_col(o, names[k], q, k);
        }
        char num[32], ts[64];
        int64_t t = wg_sql_col_int64(q, 9);
        snprintf(num, sizeof(num), "%lld", (long long)t);
        cJSON_AddRawToObject(o, "time_ns", num); /* exact: a double would round it */
        cJSON_AddStringToObject(o, "time", wg_time_format(t, ts, sizeof(ts)));
        add_col(o, "target", q, 10);
        add_deploy_times(o, q, 11);
    }
    if (arr && s < 0) {
        snprintf(err, errlen, "events store: %s", wg_sql_qerror(q));
        rc = WG_EIO;
    } else if (arr) {
        *out = cJSON_PrintUnformatted(arr);
        rc = *out ? WG_OK : WG_ENOMEM;
    }
out:
    wg_sql_end(q);
    if (c) {
        give(e, c);
    }
    cJSON_Delete(arr);
    return rc;
}

enum wg_err wg_events_kv_get(struct wg_events *e, const char *key, char **out)
{
    *out = NULL;
    char err[256];
    struct wg_sql *c = take(e, err, sizeof(err));
    if (!c) {
        return WG_EIO;
    }
    struct wg_sql_q *q = wg_sql_query(c, "SELECT v FROM events_kv WHERE k=?1");
    wg_sql_bind_text(q, 1, key);
    int s = wg_sql_step(q);
    enum wg_err rc = s == 0 ? WG_ENOTFOUND : s == 1 ? WG_OK : WG_EIO;
    if (rc == WG_OK) {
        *out = wg_strdup(wg_sql_col_text(q, 0));
        rc = *out ? WG_OK : WG_ENOMEM;
    }
    wg_sql_end(q);
    give(e, c);
    return rc;
}

enum wg_err wg_events_kv_set(struct wg_events *e, const char *key, const char *val)
{
    char err[256];
    struct wg_sql *c = take(e, err, sizeof(err));
    if (!c) {
        return WG_EIO;
    }
    struct wg_sql_q *q = wg_sql_query(c, "INSERT INTO events_kv(k, v) VALUES (?1, ?2)"
                                         " ON CONFLICT(k) DO UPDATE SET v=excluded.v");
    wg_sql_bind_text(q, 1, key);
    wg_sql_bind_text(q, 2, val);
    enum wg_err rc = wg_sql_run(q, err, sizeof(err));
    wg_sql_end(q);
    give(e, c);
    return rc;
}

/* ---- flip analyses and actions ------------------------------------------------------------ */

enum wg_err wg_events_flip_start(struct wg_events *e, const char *id, const struct wg_event *ev,
                                 int64_t anchor_ns, int64_t interval_ns, long count,
                                 long failure_limit)
{
    char err[256];
    struct wg_sql *c = take(e, err, sizeof(err));
    if (!c) {
        return WG_EIO;
    }
    enum wg_err rc =
        flip_start_on(e, c, id, ev, anchor_ns, interval_ns, count, failure_limit, err, sizeof(err));
    give(e, c);
    return rc;
}

enum wg_err wg_events_flip_cancel(struct wg_events *e, const char *feature, const char *env, int *n)
{
    char err[256];
    *n = 0;
    struct wg_sql *c = take(e, err, sizeof(err));
    if (!c) {
        return WG_EIO;
    }
    enum wg_err rc = flip_cancel_on(c, feature, env, n, err, sizeof(err));
    give(e, c);
    return rc;
}

#define FLIP_COLS                                                                                  \
    "id, feature, wave, env, flag, anchor_ns, interval_ns, next_ns, count, failure_limit, looks,"  \
    " failures, errors, status"

/* SQLite: one process, one runner: the due rows as they are. PostgreSQL: claimed — this
 * handle's name and a lease on each row taken, rows another replica holds (a live lease, or a
 * row locked by its claim in flight) skipped; a lease that ran out is anyone's again. */
static const char FLIP_DUE_SQ[] = "SELECT " FLIP_COLS " FROM flips WHERE status='running' AND"
                                  " next_ns <= ?1 ORDER BY next_ns LIMIT ?2";
static const char FLIP_DUE_PG[] =
    "UPDATE flips SET claimed_by=?3, lease_until_ns=?4 WHERE id IN (SELECT id FROM flips"
    " WHERE status='running' AND next_ns <= ?1 AND (lease_until_ns < ?1 OR claimed_by=?3)"
    " ORDER BY next_ns LIMIT ?2 FOR UPDATE SKIP LOCKED) RETURNING " FLIP_COLS;

enum wg_err wg_events_flip_due(struct wg_events *e, int64_t now_ns, struct wg_flip *out, size_t max,
                               size_t *n)
{
    char err[256];
    *n = 0;
    struct wg_sql *c = take(e, err, sizeof(err));
    if (!c) {
        return WG_EIO;
    }
    struct wg_sql_q *q = wg_sql_query(c, e->pg ? FLIP_DUE_PG : FLIP_DUE_SQ);
    wg_sql_bind_int64(q, 1, now_ns);
    wg_sql_bind_int64(q, 2, (int64_t)max);
    if (e->pg) {
        wg_sql_bind_text(q, 3, e->owner);
        wg_sql_bind_int64(q, 4, now_ns + atomic_load(&e->lease_ns));
    }
    int r;
    while ((r = wg_sql_step(q)) == 1 && *n < max) {
        struct wg_flip *f = &out[(*n)++];
        col_copy(f->id, sizeof(f->id), q, 0);
        col_copy(f->feature, sizeof(f->feature), q, 1);
        col_copy(f->wave, sizeof(f->wave), q, 2);
        col_copy(f->env, sizeof(f->env), q, 3);
        col_copy(f->flag, sizeof(f->flag), q, 4);
        f->anchor_ns = wg_sql_col_int64(q, 5);
        f->interval_ns = wg_sql_col_int64(q, 6);
        f->next_ns = wg_sql_col_int64(q, 7);
        f->count = (long)wg_sql_col_int64(q, 8);
        f->failure_limit = (long)wg_sql_col_int64(q, 9);
        f->looks = (long)wg_sql_col_int64(q, 10);
        f->failures = (long)wg_sql_col_int64(q, 11);
        f->errors = (long)wg_sql_col_int64(q, 12);
        col_copy(f->status, sizeof(f->status), q, 13);
    }
    enum wg_err rc = r >= 0 ? WG_OK : WG_EIO;
    if (rc != WG_OK) {
        wg_log(WG_LOG_WARN, "events store: due flips: %s", wg_sql_qerror(q));
    }
    wg_sql_end(q);
    give(e, c);
    return rc;
}

/* PostgreSQL: the look is recorded only by the claim's holder, and only while the flip still
 * runs (a flag turned off meanwhile stays cancelled); the claim is let go with it. */
static const char FLIP_LOOK_SQ[] = "UPDATE flips SET looks=?2, failures=?3, errors=?4,"
                                   " next_ns=?5, status=?6 WHERE id=?1";
static const char FLIP_LOOK_PG[] = "UPDATE flips SET looks=?2, failures=?3, errors=?4,"
                                   " next_ns=?5, status=?6, claimed_by=NULL, lease_until_ns=0"
                                   " WHERE id=?1 AND claimed_by=?7 AND status='running'";

enum wg_err wg_events_flip_look(struct wg_events *e, struct wg_flip *f, enum wg_verdict v,
                                int64_t now_ns, size_t naction)
{
    char err[256];
    f->looks++;
    f->failures += v == WG_FAIL;
    f->errors += v == WG_NOEVAL;
    const char *status = "running";
    if (f->failures > f->failure_limit) {
        status = "fail";
    } else if (f->looks >= f->count) {
        /* nothing evaluated is never a pass */
        status = f->errors >= f->looks ? "error" : "pass";
    }
    /* looks missed while down (or before an old event arrived) are not made up: the next one
     * is the first interval boundary after now, in one step (a loop over a year of 1 s
     * intervals spun the runner: valgrind saw the server stop hang behind it) */
    if (f->next_ns <= now_ns) {
        int64_t iv = f->interval_ns > 0 ? f->interval_ns : WG_NS_PER_SEC;
        f->next_ns += ((now_ns - f->next_ns) / iv + 1) * iv;
    }
    struct wg_sql *c = take(e, err, sizeof(err));
    if (!c) {
        return WG_EIO;
    }
    enum wg_err rc = wg_sql_begin(c, 1, err, sizeof(err));
    struct wg_sql_q *up = wg_sql_query(c, e->pg ? FLIP_LOOK_PG : FLIP_LOOK_SQ);
    wg_sql_bind_text(up, 1, f->id);
    wg_sql_bind_int64(up, 2, f->looks);
    wg_sql_bind_int64(up, 3, f->failures);
    wg_sql_bind_int64(up, 4, f->errors);
    wg_sql_bind_int64(up, 5, f->next_ns);
    wg_sql_bind_text(up, 6, status);
    if (e->pg) {
        wg_sql_bind_text(up, 7, e->owner);
    }
    if (rc == WG_OK) {
        rc = wg_sql_run(up, err, sizeof(err));
    }
    if (rc == WG_OK && e->pg && wg_sql_changes(up) == 0) {
        rc = WG_ENOTFOUND; /* the claim ran out (another replica has it) or it was cancelled */
    }
    wg_sql_end(up);
    for (size_t i = 0; rc == WG_OK && !strcmp(status, "fail") && i < naction; i++) {
        struct wg_sql_q *ins = wg_sql_query(
            c, e->pg ? "INSERT INTO actions(id, idx, feature, wave, env, flag, status, next_ns)"
                       " VALUES (?1,?2,?3,?4,?5,?6,'pending',?7) ON CONFLICT DO NOTHING"
                     : "INSERT OR IGNORE INTO actions(id, idx, feature, wave, env, flag, status,"
                       " next_ns) VALUES (?1,?2,?3,?4,?5,?6,'pending',?7)");
        wg_sql_bind_text(ins, 1, f->id);
        wg_sql_bind_int64(ins, 2, (int64_t)i);
        wg_sql_bind_text(ins, 3, f->feature);
        wg_sql_bind_text(ins, 4, f->wave);
        wg_sql_bind_text(ins, 5, f->env);
        wg_sql_bind_text(ins, 6, f->flag);
        wg_sql_bind_int64(ins, 7, now_ns);
        rc = wg_sql_run(ins, err, sizeof(err));
        wg_sql_end(ins);
    }
    if (rc == WG_OK) {
        rc = wg_sql_commit(c, err, sizeof(err));
    } else {
        wg_sql_rollback(c);
    }
    give(e, c);
    if (rc == WG_OK) {
        snprintf(f->status, sizeof(f->status), "%s", status);
    }
    return rc;
}

#define ACTION_COLS "id, idx, feature, wave, env, flag, attempts, status"
static const char ACTION_DUE_SQ[] = "SELECT " ACTION_COLS " FROM actions WHERE status IN"
                                    " ('pending', 'held') AND next_ns <= ?1 ORDER BY next_ns"
                                    " LIMIT ?2";
static const char ACTION_DUE_PG[] =
    "UPDATE actions SET claimed_by=?3, lease_until_ns=?4 WHERE (id, idx) IN (SELECT id, idx"
    " FROM actions WHERE status IN ('pending', 'held') AND next_ns <= ?1 AND"
    " (lease_until_ns < ?1 OR claimed_by=?3) ORDER BY next_ns LIMIT ?2 FOR UPDATE SKIP LOCKED)"
    " RETURNING " ACTION_COLS;

enum wg_err wg_events_action_due(struct wg_events *e, int64_t now_ns, struct wg_action_row *out,
                                 size_t max, size_t *n)
{
    char err[256];
    *n = 0;
    struct wg_sql *c = take(e, err, sizeof(err));
    if (!c) {
        return WG_EIO;
    }
    struct wg_sql_q *q = wg_sql_query(c, e->pg ? ACTION_DUE_PG : ACTION_DUE_SQ);
    wg_sql_bind_int64(q, 1, now_ns);
    wg_sql_bind_int64(q, 2, (int64_t)max);
    if (e->pg) {
        wg_sql_bind_text(q, 3, e->owner);
        wg_sql_bind_int64(q, 4, now_ns + atomic_load(&e->lease_ns));
    }
    int r;
    while ((r = wg_sql_step(q)) == 1 && *n < max) {
        struct wg_action_row *a = &out[(*n)++];
        col_copy(a->id, sizeof(a->id), q, 0);
        a->idx = (int)wg_sql_col_int64(q, 1);
        col_copy(a->feature, sizeof(a->feature), q, 2);
        col_copy(a->wave, sizeof(a->wave), q, 3);
        col_copy(a->env, sizeof(a->env), q, 4);
        col_copy(a->flag, sizeof(a->flag), q, 5);
        a->attempts = (long)wg_sql_col_int64(q, 6);
        col_copy(a->status, sizeof(a->status), q, 7);
    }
    enum wg_err rc = r >= 0 ? WG_OK : WG_EIO;
    if (rc != WG_OK) {
        wg_log(WG_LOG_WARN, "events store: due actions: %s", wg_sql_qerror(q));
    }
    wg_sql_end(q);
    give(e, c);
    return rc;
}

/* An attempt row and the action's new state in one transaction; counted: 1 for an attempt
 * made, 0 for a hold. PostgreSQL: only by the claim's holder, letting the claim go. */
static enum wg_err attempt_row(struct wg_events *e, const struct wg_action_row *a,
                               const char *status, long http_status, const char *answer,
                               int64_t now_ns, int64_t next_ns, int counted)
{
    char err[256];
    struct wg_sql *c = take(e, err, sizeof(err));
    if (!c) {
        return WG_EIO;
    }
    enum wg_err rc = wg_sql_begin(c, 1, err, sizeof(err));
    struct wg_sql_q *up = wg_sql_query(
        c, e->pg ? "UPDATE actions SET status=?3, attempts=attempts+?5, next_ns=?4,"
                   " claimed_by=NULL, lease_until_ns=0 WHERE id=?1 AND idx=?2 AND claimed_by=?6"
                 : "UPDATE actions SET status=?3, attempts=attempts+?5, next_ns=?4 WHERE id=?1"
                   " AND idx=?2");
    wg_sql_bind_text(up, 1, a->id);
    wg_sql_bind_int64(up, 2, a->idx);
    wg_sql_bind_text(up, 3, status);
    wg_sql_bind_int64(up, 4, next_ns);
    wg_sql_bind_int64(up, 5, counted);
    if (e->pg) {
        wg_sql_bind_text(up, 6, e->owner);
    }
    struct wg_sql_q *at = wg_sql_query(c, "INSERT INTO action_attempts(id, idx, at_ns, status,"
                                          " http_status, answer) VALUES (?1,?2,?3,?4,?5,?6)");
    wg_sql_bind_text(at, 1, a->id);
    wg_sql_bind_int64(at, 2, a->idx);
    wg_sql_bind_int64(at, 3, now_ns);
    wg_sql_bind_text(at, 4, status);
    wg_sql_bind_int64(at, 5, http_status);
    wg_sql_bind_text(at, 6, answer ? answer : "");
    if (rc == WG_OK) {
        rc = wg_sql_run(up, err, sizeof(err));
    }
    if (rc == WG_OK && e->pg && wg_sql_changes(up) == 0) {
        rc = WG_ENOTFOUND; /* the claim ran out: another replica has the action now */
    }
    if (rc == WG_OK) {
        rc = wg_sql_run(at, err, sizeof(err));
    }
    wg_sql_end(at);
    wg_sql_end(up);
    if (rc == WG_OK) {
        rc = wg_sql_commit(c, err, sizeof(err));
    } else {
        wg_sql_rollback(c);
    }
    give(e, c);
    return rc;
}

enum wg_err wg_events_action_attempt(struct wg_events *e, const struct wg_action_row *a,
                                     const char *status, long http_status, const char *answer,
                                     int64_t now_ns, int64_t next_ns)
{
    return attempt_row(e, a, status, http_status, answer, now_ns, next_ns, 1);
}

enum wg_err wg_events_action_hold(struct wg_events *e, const struct wg_action_row *a,
                                  const char *why, int64_t now_ns, int64_t next_ns)
{
    return attempt_row(e, a, "held", 0, why, now_ns, next_ns, 0);
}

enum wg_err wg_events_action_window(struct wg_events *e, const struct wg_action_row *a,
                                    int64_t since_ns, long *used, int64_t *oldest_ns)
{
    char err[256];
    *used = 0;
    *oldest_ns = 0;
    struct wg_sql *c = take(e, err, sizeof(err));
    if (!c) {
        return WG_EIO;
    }
    enum wg_err rc = WG_EIO;
    struct wg_sql_q *q = wg_sql_query(
        c, "SELECT COUNT(DISTINCT t.id), COALESCE(MIN(t.at_ns), 0) FROM action_attempts t"
           " JOIN actions a ON a.id = t.id AND a.idx = t.idx WHERE a.feature = ?1"
           " AND t.idx = ?2 AND t.at_ns >= ?3 AND t.status <> 'held' AND t.id <> ?4");
    wg_sql_bind_text(q, 1, a->feature);
    wg_sql_bind_int64(q, 2, a->idx);
    wg_sql_bind_int64(q, 3, since_ns);
    wg_sql_bind_text(q, 4, a->id);
    if (wg_sql_step(q) == 1) {
        *used = (long)wg_sql_col_int64(q, 0);
        *oldest_ns = wg_sql_col_int64(q, 1);
        rc = WG_OK;
    }
    wg_sql_end(q);
    give(e, c);
    return rc;
}

enum wg_err wg_events_actions_json(struct wg_events *e, char **out)
{
    *out = NULL;
    char err[256];
    struct wg_sql *c = take(e, err, sizeof(err));
    if (!c) {
        return WG_EIO;
    }
    cJSON *root = cJSON_CreateObject();
    cJSON *flips = cJSON_AddArrayToObject(root, "flips");
    cJSON *acts = cJSON_AddArrayToObject(root, "actions");
    enum wg_err rc = WG_ENOMEM;
    struct wg_sql_q *f = wg_sql_query(c, "SELECT id, feature, env, status, looks, failures,"
                                         " errors, (SELECT v FROM events_kv WHERE"
                                         " k='report:'||flips.id) FROM flips ORDER BY id");
    struct wg_sql_q *a = NULL;
    int r = -1;
    if (!f || !flips || !acts) {
        goto out;
    }
    while ((r = wg_sql_step(f)) == 1) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddItemToArray(flips, o);
        add_col(o, "id", f, 0);
        add_col(o, "feature", f, 1);
        add_col(o, "env", f, 2);
        add_col(o, "status", f, 3);
        cJSON_AddNumberToObject(o, "looks", (double)wg_sql_col_int64(f, 4));
        cJSON_AddNumberToObject(o, "failures", (double)wg_sql_col_int64(f, 5));
        cJSON_AddNumberToObject(o, "errors", (double)wg_sql_col_int64(f, 6));
        add_col(o, "report_url", f, 7); /* the failing look's evidence page (gate_server_ui.c) */
    }
    if (r < 0) {
        rc = WG_EIO;
        goto out;
    }
    a = wg_sql_query(
        c, "SELECT a.id, a.idx, a.status, a.attempts, (SELECT http_status FROM"
           " action_attempts t WHERE t.id=a.id AND t.idx=a.idx ORDER BY at_ns DESC LIMIT 1),"
           " (SELECT answer FROM action_attempts t WHERE t.id=a.id AND t.idx=a.idx"
           " ORDER BY at_ns DESC LIMIT 1), (SELECT v FROM events_kv WHERE"
           " k='report:'||a.id) FROM actions a ORDER BY a.id, a.idx");
    while ((r = wg_sql_step(a)) == 1) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddItemToArray(acts, o);
        add_col(o, "id", a, 0);
        cJSON_AddNumberToObject(o, "index", (double)wg_sql_col_int64(a, 1));
        add_col(o, "status", a, 2);
        cJSON_AddNumberToObject(o, "attempts", (double)wg_sql_col_int64(a, 3));
        cJSON_AddNumberToObject(o, "http_status", (double)wg_sql_col_int64(a, 4));
        add_col(o, "answer", a, 5);
        add_col(o, "report_url", a, 6);
    }
    if (r < 0) {
        rc = WG_EIO;
        goto out;
    }
    *out = cJSON_PrintUnformatted(root);
    rc = *out ? WG_OK : WG_ENOMEM;
out:
    wg_sql_end(f);
    wg_sql_end(a);
    give(e, c);
    cJSON_Delete(root);
    return rc;
}

int wg_events_seen(struct wg_events *e, const char *source, const char *version)
{
    char err[256];
    struct wg_sql *c = take(e, err, sizeof(err));
    if (!c) {
        return 0;
    }
    struct wg_sql_q *q =
        wg_sql_query(c, "SELECT 1 FROM events WHERE source=?1 AND version=?2 LIMIT 1");
    wg_sql_bind_text(q, 1, source);
    wg_sql_bind_text(q, 2, version);
    int seen = wg_sql_step(q) == 1;
    wg_sql_end(q);
    give(e, c);
    return seen;
}

/* ---- the markers' outbox (the durable writer's store, collector.h wg_lp_store) ---------- */

/* SQLite: a marker row's commit is not fsync'd (synchronous=NORMAL for it, WAL): it survives a
 * kill of the process at once, a power loss from the next event's commit on (that fsync covers
 * the WAL before it); the events' own commits stay FULL. */
enum wg_err wg_events_marker_put(struct wg_events *e, const char *lines, size_t len,
                                 unsigned long long n)
{
    char err[256];
    struct wg_sql *c = take(e, err, sizeof(err));
    if (!c) {
        return WG_EIO;
    }
    if (!e->pg) {
        if (wg_sql_exec(c, "PRAGMA synchronous=NORMAL", err, sizeof(err)) != WG_OK) {
            err[0] = '\0'; /* only the fsync is lost: the insert still goes */
        }
    }
    struct wg_sql_q *q = wg_sql_query(c, "INSERT INTO markers(n, lines) VALUES(?1, ?2)");
    wg_sql_bind_int64(q, 1, (int64_t)n);
    wg_sql_bind_blob(q, 2, lines, len);
    enum wg_err rc = wg_sql_run(q, err, sizeof(err));
    wg_sql_end(q);
    if (!e->pg) {
        if (wg_sql_exec(c, "PRAGMA synchronous=FULL", err, sizeof(err)) != WG_OK) {
            wg_log(WG_LOG_WARN, "events store: synchronous=FULL not restored: %s", err);
        }
    }
    give(e, c);
    return rc;
}

/* The rows a peek takes, oldest first, up to about max_bytes (at least one). */
static enum wg_err peek_sqlite(struct wg_sql *c, size_t max_bytes, struct wg_buf *out,
                               long long *last_id, unsigned long long *n)
{
    struct wg_sql_q *q = wg_sql_query(c, "SELECT id, n, lines FROM markers ORDER BY id");
    int r;
    while ((r = wg_sql_step(q)) == 1) {
        size_t len = 0;
        const void *p = wg_sql_col_blob(q, 2, &len);
        if (out->len && out->len + len > max_bytes) {
            break;
        }
        wg_buf_add(out, p, len);
        *last_id = (long long)wg_sql_col_int64(q, 0);
        *n += (unsigned long long)wg_sql_col_int64(q, 1);
    }
    wg_sql_end(q);
    return r >= 0 ? wg_buf_err(out) : WG_EIO;
}

/* PostgreSQL: in one transaction the oldest rows nobody else holds (a live lease elsewhere, or
 * locked by another replica's peek in flight: SKIP LOCKED) are chosen by size, claimed for
 * this handle with a lease, and read: two replicas never send one row at once; a replica that
 * dies after its peek leaves rows that are anyone's once the lease ran out (a resend: line
 * protocol with its own timestamps overwrites the same point). */
static enum wg_err peek_pg(struct wg_events *e, struct wg_sql *c, size_t max_bytes,
                           struct wg_buf *out, long long *last_id, unsigned long long *n)
{
    char err[256];
    int64_t now = wg_now_ns() + atomic_load(&e->skew_ns);
    struct wg_buf ids;
    wg_buf_init(&ids, 0);
    wg_buf_adds(&ids, "{");
    size_t bytes = 0, rows = 0;
    enum wg_err rc = wg_sql_begin(c, 1, err, sizeof(err));
    struct wg_sql_q *q = wg_sql_query(
        c, "SELECT id, length(lines) FROM markers WHERE lease_until_ns < ?1 OR claimed_by=?2"
           " ORDER BY id LIMIT 4096 FOR UPDATE SKIP LOCKED"); /* rows looked at per peek */
    wg_sql_bind_int64(q, 1, now);
    wg_sql_bind_text(q, 2, e->owner);
    int r = rc == WG_OK ? 0 : -1;
    while (rc == WG_OK && (r = wg_sql_step(q)) == 1) {
        size_t len = (size_t)wg_sql_col_int64(q, 1);
        if (rows && bytes + len > max_bytes) {
            break;
        }
        wg_buf_addf(&ids, "%s%lld", rows ? "," : "", (long long)wg_sql_col_int64(q, 0));
        bytes += len;
        rows++;
    }
    wg_buf_adds(&ids, "}");
    if (rc == WG_OK && r < 0) {
        snprintf(err, sizeof(err), "%s", wg_sql_qerror(q));
        rc = WG_EIO;
    }
    wg_sql_end(q);
    if (rc == WG_OK && (rc = wg_buf_err(&ids)) == WG_OK && rows) {
        q = wg_sql_query(c, "UPDATE markers SET claimed_by=?1, lease_until_ns=?2"
                            " WHERE id = ANY(CAST(?3 AS BIGINT[]))");
        wg_sql_bind_text(q, 1, e->owner);
        wg_sql_bind_int64(q, 2, now + atomic_load(&e->lease_ns));
        wg_sql_bind_text(q, 3, ids.p);
        rc = wg_sql_run(q, err, sizeof(err));
        wg_sql_end(q);
        q = rc == WG_OK ? wg_sql_query(c, "SELECT id, n, lines FROM markers"
                                          " WHERE id = ANY(CAST(?1 AS BIGINT[])) ORDER BY id")
                        : NULL;
        wg_sql_bind_text(q, 1, ids.p);
        while (rc == WG_OK && (r = wg_sql_step(q)) == 1) {
            size_t len = 0;
            const void *p = wg_sql_col_blob(q, 2, &len);
            if (!p) {
                rc = WG_ENOMEM;
                break;
            }
            wg_buf_add(out, p, len);
            *last_id = (long long)wg_sql_col_int64(q, 0);
            *n += (unsigned long long)wg_sql_col_int64(q, 1);
        }
        if (rc == WG_OK && r < 0) {
            snprintf(err, sizeof(err), "%s", wg_sql_qerror(q));
            rc = WG_EIO;
        }
        wg_sql_end(q);
    }
    if (rc == WG_OK) {
        rc = wg_sql_commit(c, err, sizeof(err));
    } else {
        wg_sql_rollback(c);
    }
    if (rc == WG_EIO) {
        wg_log(WG_LOG_WARN, "events store: markers: %s", err);
    }
    wg_buf_free(&ids);
    return rc == WG_OK ? wg_buf_err(out) : rc;
}

enum wg_err wg_events_marker_peek(struct wg_events *e, size_t max_bytes, struct wg_buf *out,
                                  long long *last_id, unsigned long long *n)
{
    char err[256];
    *last_id = 0;
    *n = 0;
    struct wg_sql *c = take(e, err, sizeof(err));
    if (!c) {
        return WG_EIO;
    }
    enum wg_err rc = e->pg ? peek_pg(e, c, max_bytes, out, last_id, n)
                           : peek_sqlite(c, max_bytes, out, last_id, n);
    if (rc != WG_OK) {
        *last_id = 0;
        *n = 0;
    }
    give(e, c);
    return rc;
}

/* PostgreSQL: only the rows this handle claimed (a row another replica holds, even one older
 * than last_id, is its to send and delete). */
static enum wg_err marker_del(struct wg_events *e, long long last_id, int mine)
{
    char err[256];
    struct wg_sql *c = take(e, err, sizeof(err));
    if (!c) {
        return WG_EIO;
    }
    struct wg_sql_q *q =
        wg_sql_query(c, mine && e->pg ? "DELETE FROM markers WHERE id <= ?1 AND claimed_by=?2"
                                      : "DELETE FROM markers WHERE id <= ?1");
    wg_sql_bind_int64(q, 1, last_id);
    if (mine && e->pg) {
        wg_sql_bind_text(q, 2, e->owner);
    }
    enum wg_err rc = wg_sql_run(q, err, sizeof(err));
    wg_sql_end(q);
    give(e, c);
    return rc;
}

enum wg_err wg_events_marker_del(struct wg_events *e, long long last_id)
{
    return marker_del(e, last_id, 1);
}

static enum wg_err marker_sums(struct wg_sql *c, unsigned long long *lines,
                               unsigned long long *bytes)
{
    enum wg_err rc = WG_EIO;
    *lines = *bytes = 0;
    struct wg_sql_q *q =
        wg_sql_query(c, "SELECT coalesce(sum(n), 0), coalesce(sum(length(lines)), 0) FROM markers");
    if (wg_sql_step(q) == 1) {
        *lines = (unsigned long long)wg_sql_col_int64(q, 0);
        *bytes = (unsigned long long)wg_sql_col_int64(q, 1);
        rc = WG_OK;
    }
    wg_sql_end(q);
    return rc;
}

enum wg_err wg_events_marker_count(struct wg_events *e, unsigned long long *lines,
                                   unsigned long long *bytes)
{
    char err[256];
    *lines = *bytes = 0;
    struct wg_sql *c = take(e, err, sizeof(err));
    if (!c) {
        return WG_EIO;
    }
    enum wg_err rc = marker_sums(c, lines, bytes);
    give(e, c);
    return rc;
}

enum wg_err wg_events_marker_trim(struct wg_events *e, unsigned long long max_lines,
                                  unsigned long long *lines, unsigned long long *bytes)
{
    char err[256];
    *lines = *bytes = 0;
    unsigned long long kept = 0, kb = 0;
    struct wg_sql *c = take(e, err, sizeof(err));
    if (!c) {
        return WG_EIO;
    }
    enum wg_err rc = marker_sums(c, &kept, &kb);
    long long upto = 0;
    struct wg_sql_q *q =
        rc == WG_OK && kept > max_lines
            ? wg_sql_query(c, "SELECT id, n, length(lines) FROM markers ORDER BY id")
            : NULL;
    while (q && kept - *lines > max_lines && wg_sql_step(q) == 1) {
        upto = (long long)wg_sql_col_int64(q, 0);
        *lines += (unsigned long long)wg_sql_col_int64(q, 1);
        *bytes += (unsigned long long)wg_sql_col_int64(q, 2);
    }
    wg_sql_end(q);
    give(e, c);
    /* over the backlog the oldest go, whoever holds them (dropped, counted by the caller) */
    if (upto && (rc = marker_del(e, upto, 0)) != WG_OK) {
        *lines = *bytes = 0;
    }
    return rc;
}

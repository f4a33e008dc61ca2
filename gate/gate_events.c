/* gate_events.c — events in: deploys and flag flips as POST /v1/events and `wavegate event`
 * take them, parsed (one JSON entry point, fuzzable), resolved against the config (flag key →
 * feature through features.<name>.flag, env → wave through the wave's env) and recorded
 * durably in events.db under state_dir through the one store helper (common/store.h).
 */
#include "gate/gate_int.h"

#include "common/store.h"

#include <cjson/cJSON.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

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
    pthread_mutex_t mu; /* the connection */
    sqlite3 *db;
    pthread_mutex_t qmu; /* the queue */
    pthread_cond_t qcv;  /* to the committer: work (or stop, or hold off) */
    pthread_cond_t dcv;  /* to the recorders: a batch is done */
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

enum wg_err wg_events_open(const char *state_dir, struct wg_events **out, char *err, size_t errlen)
{
    *out = NULL;
    struct wg_events *e = calloc(1, sizeof(*e));
    if (!e) {
        return WG_ENOMEM;
    }
    struct wg_store_opts o = {
        .dir = state_dir,
        .file = "events.db",
        .create = 1,
        .synchronous = 2,
        .quick_check = 1,
        .migrations = MIGRATIONS,
        .nmigrations = (int)(sizeof(MIGRATIONS) / sizeof(MIGRATIONS[0])),
    };
    enum wg_err rc = wg_store_open(&o, &e->db, err, errlen);
    if (rc != WG_OK) {
        free(e);
        return rc;
    }
    wg_store_busy_wait(e->db, 1);
    pthread_mutex_init(&e->mu, NULL);
    pthread_mutex_init(&e->qmu, NULL);
    pthread_cond_init(&e->qcv, NULL);
    pthread_cond_init(&e->dcv, NULL);
    e->qtail = &e->qhead;
    if (pthread_create(&e->committer, NULL, committer_main, e) != 0) {
        snprintf(err, errlen, "events store: cannot start the committer thread");
        wg_store_close(e->db);
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
    wg_store_close(e->db);
    pthread_mutex_destroy(&e->mu);
    pthread_mutex_destroy(&e->qmu);
    pthread_cond_destroy(&e->qcv);
    pthread_cond_destroy(&e->dcv);
    free(e);
}

static void bind_opt(sqlite3_stmt *st, int i, const char *s)
{
    if (s) {
        sqlite3_bind_text(st, i, s, -1, SQLITE_TRANSIENT);
    } else {
        sqlite3_bind_null(st, i);
    }
}

static void col_copy(char *dst, size_t n, sqlite3_stmt *st, int col);

/* e->mu held (inside the recorder's transaction, or alone). */
static enum wg_err flip_start_locked(struct wg_events *e, const char *id, const struct wg_event *ev,
                                     int64_t anchor_ns, int64_t interval_ns, long count,
                                     long failure_limit)
{
    enum wg_err rc = WG_EIO;
    sqlite3_stmt *st = wg_store_stmt(
        e->db, "INSERT OR IGNORE INTO flips(id, feature, wave, env, flag, anchor_ns, interval_ns,"
               " next_ns, count, failure_limit, status) VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,"
               "'running')");
    if (st) {
        sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 2, ev->feature ? ev->feature : "", -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 3, ev->wave ? ev->wave : "", -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 4, ev->env ? ev->env : "", -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 5, ev->flag ? ev->flag : "", -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(st, 6, anchor_ns);
        sqlite3_bind_int64(st, 7, interval_ns);
        sqlite3_bind_int64(st, 8, anchor_ns + interval_ns);
        sqlite3_bind_int64(st, 9, count);
        sqlite3_bind_int64(st, 10, failure_limit);
        rc = sqlite3_step(st) == SQLITE_DONE ? WG_OK : WG_EIO;
        sqlite3_reset(st);
    }
    return rc;
}

static enum wg_err flip_cancel_locked(struct wg_events *e, const char *feature, const char *env,
                                      int *n)
{
    enum wg_err rc = WG_EIO;
    *n = 0;
    sqlite3_stmt *st = wg_store_stmt(e->db, "UPDATE flips SET status='cancelled' WHERE"
                                            " feature=?1 AND env=?2 AND status='running'");
    if (st) {
        sqlite3_bind_text(st, 1, feature ? feature : "", -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 2, env ? env : "", -1, SQLITE_TRANSIENT);
        rc = sqlite3_step(st) == SQLITE_DONE ? WG_OK : WG_EIO;
        *n = sqlite3_changes(e->db);
        sqlite3_reset(st);
    }
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

/* One row, inside the committer's transaction (e->mu held). */
static enum wg_err insert_one(struct wg_events *e, struct pend *p)
{
    const struct wg_event *ev = p->ev;
    enum wg_err rc = WG_EIO;
    int64_t t = ev->time_ns ? ev->time_ns : p->now_ns;
    if (p->dup && ev->source && ev->version) {
        sqlite3_stmt *q = wg_store_stmt(e->db, "SELECT id FROM events WHERE source=?1 AND"
                                               " version=?2 LIMIT 1");
        int r = SQLITE_ERROR;
        if (q) {
            sqlite3_bind_text(q, 1, ev->source, -1, SQLITE_TRANSIENT);
            sqlite3_bind_text(q, 2, ev->version, -1, SQLITE_TRANSIENT);
            if ((r = sqlite3_step(q)) == SQLITE_ROW) {
                col_copy(p->id, 48, q, 0);
                *p->dup = 1;
            }
            sqlite3_reset(q);
        }
        if (r == SQLITE_ROW) {
            return WG_OK;
        }
        if (r != SQLITE_DONE) {
            snprintf(p->err, p->errlen, "events store: %s", sqlite3_errmsg(e->db));
            return WG_EIO;
        }
    }
    /* The id names the time and the row: unique, sortable, and known before the insert. */
    sqlite3_stmt *seq = wg_store_stmt(e->db, "SELECT COALESCE(MAX(seq), 0) + 1 FROM events");
    sqlite3_stmt *st = wg_store_stmt(
        e->db, "INSERT INTO events(seq, id, type, state, wave, env, feature, flag, version,"
               " source, time_ns, received_ns, target, deploy_times)"
               " VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14)");
    char *dts = deploy_times_json(ev);
    if (!seq || !st || sqlite3_step(seq) != SQLITE_ROW) {
        snprintf(p->err, p->errlen, "events store: %s", sqlite3_errmsg(e->db));
        goto out;
    }
    long long row = sqlite3_column_int64(seq, 0);
    snprintf(p->id, 48, "ev-%016llx-%08llx", (unsigned long long)t, (unsigned long long)row);
    sqlite3_bind_int64(st, 1, row);
    sqlite3_bind_text(st, 2, p->id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 3, wg_event_type_names[ev->type], -1, SQLITE_STATIC);
    bind_opt(st, 4, ev->state ? wg_event_state_names[ev->state] : NULL);
    bind_opt(st, 5, ev->wave);
    bind_opt(st, 6, ev->env);
    bind_opt(st, 7, ev->feature);
    bind_opt(st, 8, ev->flag);
    bind_opt(st, 9, ev->version);
    bind_opt(st, 10, ev->source);
    sqlite3_bind_int64(st, 11, t);
    sqlite3_bind_int64(st, 12, p->now_ns);
    bind_opt(st, 13, ev->target);
    bind_opt(st, 14, dts);
    if (ev->ndeploy_times && !dts) {
        snprintf(p->err, p->errlen, "events store: out of memory");
        rc = WG_ENOMEM;
        goto out;
    }
    if (sqlite3_step(st) != SQLITE_DONE) {
        snprintf(p->err, p->errlen, "events store: %s", sqlite3_errmsg(e->db));
        goto out;
    }
    rc = WG_OK;
    if (p->flip && p->flip->op == WG_FLIP_START) {
        rc = flip_start_locked(e, p->id, ev, p->flip->anchor_ns ? p->flip->anchor_ns : t,
                               p->flip->interval_ns, p->flip->count, p->flip->failure_limit);
    } else if (p->flip && p->flip->op == WG_FLIP_CANCEL) {
        rc = flip_cancel_locked(e, ev->feature, ev->env, &p->flip->cancelled);
    }
    if (rc != WG_OK) {
        snprintf(p->err, p->errlen, "events store: flip analysis: %s", sqlite3_errmsg(e->db));
    }
out:
    if (seq) {
        sqlite3_reset(seq);
    }
    if (st) {
        sqlite3_reset(st);
    }
    free(dts);
    return rc;
}

/* The committer: the batch in one transaction; a failed commit fails every row of it. */
static void commit_batch(struct wg_events *e, struct pend *batch)
{
    char err[256] = "";
    pthread_mutex_lock(&e->mu);
    enum wg_err rc = wg_store_begin(e->db, 1, err, sizeof(err));
    for (struct pend *p = batch; rc == WG_OK && p; p = p->next) {
        p->rc = insert_one(e, p);
        if (p->rc != WG_OK) {
            rc = p->rc;
            snprintf(err, sizeof(err), "%s", p->err);
        }
    }
    if (rc == WG_OK) {
        rc = wg_store_commit(e->db, err, sizeof(err));
    } else {
        wg_store_rollback(e->db);
    }
    pthread_mutex_unlock(&e->mu);
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
        e->qhead = NULL;
        e->qtail = &e->qhead;
        e->busy = 1;
        pthread_mutex_unlock(&e->qmu);
        commit_batch(e, batch);
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

long wg_events_hold(struct wg_events *e, int hold)
{
    pthread_mutex_lock(&e->qmu);
    e->hold = hold;
    long n = e->commits;
    pthread_cond_signal(&e->qcv);
    pthread_mutex_unlock(&e->qmu);
    return n;
}

static void add_col(cJSON *o, const char *key, sqlite3_stmt *st, int col)
{
    const unsigned char *v = sqlite3_column_text(st, col);
    if (v) {
        cJSON_AddStringToObject(o, key, (const char *)v);
    }
}

/* The stored {"T": "ns"} as "deploy_times": {"T": RFC3339} (an entry that does not parse is
 * left out, never guessed). */
static void add_deploy_times(cJSON *o, sqlite3_stmt *st, int col)
{
    const unsigned char *v = sqlite3_column_text(st, col);
    cJSON *in = v ? cJSON_Parse((const char *)v) : NULL;
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
    pthread_mutex_lock(&e->mu);
    sqlite3_stmt *st = wg_store_stmt(e->db, "SELECT id, type, state, wave, env, feature, flag,"
                                            " version, source, time_ns, target, deploy_times"
                                            " FROM events"
                                            " ORDER BY seq DESC LIMIT ?1");
    if (!st) {
        snprintf(err, errlen, "events store: %s", sqlite3_errmsg(e->db));
        rc = WG_EIO;
        goto out;
    }
    sqlite3_bind_int64(st, 1, (sqlite3_int64)limit);
    static const char *const names[] = {"id",      "type", "state",   "wave",  "env",
                                        "feature", "flag", "version", "source"};
    int s;
    while (arr && (s = sqlite3_step(st)) == SQLITE_ROW) {
        cJSON *o = cJSON_CreateObject();
        if (!o || !cJSON_AddItemToArray(arr, o)) {
            cJSON_Delete(o);
            goto out;
        }
        for (int c = 0; c < 9; c++) {
            add_col(o, names[c], st, c);
        }
        char num[32], ts[64];
        int64_t t = sqlite3_column_int64(st, 9);
        snprintf(num, sizeof(num), "%lld", (long long)t);
        cJSON_AddRawToObject(o, "time_ns", num); /* exact: a double would round it */
        cJSON_AddStringToObject(o, "time", wg_time_format(t, ts, sizeof(ts)));
        add_col(o, "target", st, 10);
        add_deploy_times(o, st, 11);
    }
    if (arr) {
        *out = cJSON_PrintUnformatted(arr);
        rc = *out ? WG_OK : WG_ENOMEM;
    }
out:
    if (st) {
        sqlite3_reset(st);
    }
    pthread_mutex_unlock(&e->mu);
    cJSON_Delete(arr);
    return rc;
}

enum wg_err wg_events_kv_get(struct wg_events *e, const char *key, char **out)
{
    *out = NULL;
    enum wg_err rc = WG_EIO;
    pthread_mutex_lock(&e->mu);
    sqlite3_stmt *st = wg_store_stmt(e->db, "SELECT v FROM events_kv WHERE k=?1");
    if (st) {
        sqlite3_bind_text(st, 1, key, -1, SQLITE_TRANSIENT);
        int s = sqlite3_step(st);
        rc = s == SQLITE_DONE ? WG_ENOTFOUND : s == SQLITE_ROW ? WG_OK : WG_EIO;
        if (rc == WG_OK) {
            *out = wg_strdup((const char *)sqlite3_column_text(st, 0));
            rc = *out ? WG_OK : WG_ENOMEM;
        }
        sqlite3_reset(st);
    }
    pthread_mutex_unlock(&e->mu);
    return rc;
}

enum wg_err wg_events_kv_set(struct wg_events *e, const char *key, const char *val)
{
    enum wg_err rc = WG_EIO;
    pthread_mutex_lock(&e->mu);
    sqlite3_stmt *st = wg_store_stmt(e->db, "INSERT INTO events_kv(k, v) VALUES (?1, ?2)"
                                            " ON CONFLICT(k) DO UPDATE SET v=excluded.v");
    if (st) {
        sqlite3_bind_text(st, 1, key, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 2, val, -1, SQLITE_TRANSIENT);
        rc = sqlite3_step(st) == SQLITE_DONE ? WG_OK : WG_EIO;
        sqlite3_reset(st);
    }
    pthread_mutex_unlock(&e->mu);
    return rc;
}

/* ---- flip analyses and actions ----------------------------------------------------------------
 */

static void col_copy(char *dst, size_t n, sqlite3_stmt *st, int col)
{
    const unsigned char *v = sqlite3_column_text(st, col);
    snprintf(dst, n, "%s", v ? (const char *)v : "");
}

enum wg_err wg_events_flip_start(struct wg_events *e, const char *id, const struct wg_event *ev,
                                 int64_t anchor_ns, int64_t interval_ns, long count,
                                 long failure_limit)
{
    pthread_mutex_lock(&e->mu);
    enum wg_err rc = flip_start_locked(e, id, ev, anchor_ns, interval_ns, count, failure_limit);
    pthread_mutex_unlock(&e->mu);
    return rc;
}

enum wg_err wg_events_flip_cancel(struct wg_events *e, const char *feature, const char *env, int *n)
{
    pthread_mutex_lock(&e->mu);
    enum wg_err rc = flip_cancel_locked(e, feature, env, n);
    pthread_mutex_unlock(&e->mu);
    return rc;
}

enum wg_err wg_events_flip_due(struct wg_events *e, int64_t now_ns, struct wg_flip *out, size_t max,
                               size_t *n)
{
    enum wg_err rc = WG_EIO;
    *n = 0;
    pthread_mutex_lock(&e->mu);
    sqlite3_stmt *st = wg_store_stmt(
        e->db, "SELECT id, feature, wave, env, flag, anchor_ns, interval_ns, next_ns, count,"
               " failure_limit, looks, failures, errors, status FROM flips"
               " WHERE status='running' AND next_ns <= ?1 ORDER BY next_ns LIMIT ?2");
    if (st) {
        sqlite3_bind_int64(st, 1, now_ns);
        sqlite3_bind_int64(st, 2, (sqlite3_int64)max);
        int r;
        while ((r = sqlite3_step(st)) == SQLITE_ROW && *n < max) {
            struct wg_flip *f = &out[(*n)++];
            col_copy(f->id, sizeof(f->id), st, 0);
            col_copy(f->feature, sizeof(f->feature), st, 1);
            col_copy(f->wave, sizeof(f->wave), st, 2);
            col_copy(f->env, sizeof(f->env), st, 3);
            col_copy(f->flag, sizeof(f->flag), st, 4);
            f->anchor_ns = sqlite3_column_int64(st, 5);
            f->interval_ns = sqlite3_column_int64(st, 6);
            f->next_ns = sqlite3_column_int64(st, 7);
            f->count = (long)sqlite3_column_int64(st, 8);
            f->failure_limit = (long)sqlite3_column_int64(st, 9);
            f->looks = (long)sqlite3_column_int64(st, 10);
            f->failures = (long)sqlite3_column_int64(st, 11);
            f->errors = (long)sqlite3_column_int64(st, 12);
            col_copy(f->status, sizeof(f->status), st, 13);
        }
        rc = r == SQLITE_ROW || r == SQLITE_DONE ? WG_OK : WG_EIO;
        sqlite3_reset(st);
    }
    pthread_mutex_unlock(&e->mu);
    return rc;
}

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
    pthread_mutex_lock(&e->mu);
    enum wg_err rc = wg_store_begin(e->db, 1, err, sizeof(err));
    sqlite3_stmt *up = wg_store_stmt(e->db, "UPDATE flips SET looks=?2, failures=?3, errors=?4,"
                                            " next_ns=?5, status=?6 WHERE id=?1");
    sqlite3_stmt *ins = wg_store_stmt(
        e->db, "INSERT OR IGNORE INTO actions(id, idx, feature, wave, env, flag, status,"
               " next_ns) VALUES (?1,?2,?3,?4,?5,?6,'pending',?7)");
    if (rc == WG_OK && (!up || !ins)) {
        rc = WG_EIO;
    }
    if (rc == WG_OK) {
        sqlite3_bind_text(up, 1, f->id, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(up, 2, f->looks);
        sqlite3_bind_int64(up, 3, f->failures);
        sqlite3_bind_int64(up, 4, f->errors);
        sqlite3_bind_int64(up, 5, f->next_ns);
        sqlite3_bind_text(up, 6, status, -1, SQLITE_STATIC);
        rc = sqlite3_step(up) == SQLITE_DONE ? WG_OK : WG_EIO;
    }
    for (size_t i = 0; rc == WG_OK && !strcmp(status, "fail") && i < naction; i++) {
        sqlite3_reset(ins);
        sqlite3_bind_text(ins, 1, f->id, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(ins, 2, (sqlite3_int64)i);
        sqlite3_bind_text(ins, 3, f->feature, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(ins, 4, f->wave, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(ins, 5, f->env, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(ins, 6, f->flag, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(ins, 7, now_ns);
        rc = sqlite3_step(ins) == SQLITE_DONE ? WG_OK : WG_EIO;
    }
    if (up) {
        sqlite3_reset(up);
    }
    if (ins) {
        sqlite3_reset(ins);
    }
    if (rc == WG_OK) {
        rc = wg_store_commit(e->db, err, sizeof(err));
    } else {
        wg_store_rollback(e->db);
    }
    pthread_mutex_unlock(&e->mu);
    if (rc == WG_OK) {
        snprintf(f->status, sizeof(f->status), "%s", status);
    }
    return rc;
}

enum wg_err wg_events_action_due(struct wg_events *e, int64_t now_ns, struct wg_action_row *out,
                                 size_t max, size_t *n)
{
    enum wg_err rc = WG_EIO;
    *n = 0;
    pthread_mutex_lock(&e->mu);
    sqlite3_stmt *st = wg_store_stmt(
        e->db, "SELECT id, idx, feature, wave, env, flag, attempts, status FROM actions"
               " WHERE status IN ('pending', 'held') AND next_ns <= ?1 ORDER BY next_ns"
               " LIMIT ?2");
    if (st) {
        sqlite3_bind_int64(st, 1, now_ns);
        sqlite3_bind_int64(st, 2, (sqlite3_int64)max);
        int r;
        while ((r = sqlite3_step(st)) == SQLITE_ROW && *n < max) {
            struct wg_action_row *a = &out[(*n)++];
            col_copy(a->id, sizeof(a->id), st, 0);
            a->idx = sqlite3_column_int(st, 1);
            col_copy(a->feature, sizeof(a->feature), st, 2);
            col_copy(a->wave, sizeof(a->wave), st, 3);
            col_copy(a->env, sizeof(a->env), st, 4);
            col_copy(a->flag, sizeof(a->flag), st, 5);
            a->attempts = (long)sqlite3_column_int64(st, 6);
            col_copy(a->status, sizeof(a->status), st, 7);
        }
        rc = r == SQLITE_ROW || r == SQLITE_DONE ? WG_OK : WG_EIO;
        sqlite3_reset(st);
    }
    pthread_mutex_unlock(&e->mu);
    return rc;
}

/* An attempt row and the action's new state in one transaction; counted: 1 for an attempt
 * made, 0 for a hold. */
static enum wg_err attempt_row(struct wg_events *e, const struct wg_action_row *a,
                               const char *status, long http_status, const char *answer,
                               int64_t now_ns, int64_t next_ns, int counted)
{
    char err[256];
    pthread_mutex_lock(&e->mu);
    enum wg_err rc = wg_store_begin(e->db, 1, err, sizeof(err));
    sqlite3_stmt *at = wg_store_stmt(e->db, "INSERT INTO action_attempts(id, idx, at_ns, status,"
                                            " http_status, answer) VALUES (?1,?2,?3,?4,?5,?6)");
    sqlite3_stmt *up = wg_store_stmt(e->db, "UPDATE actions SET status=?3, attempts=attempts+?5,"
                                            " next_ns=?4 WHERE id=?1 AND idx=?2");
    if (rc == WG_OK && (!at || !up)) {
        rc = WG_EIO;
    }
    if (rc == WG_OK) {
        sqlite3_bind_text(at, 1, a->id, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int(at, 2, a->idx);
        sqlite3_bind_int64(at, 3, now_ns);
        sqlite3_bind_text(at, 4, status, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(at, 5, http_status);
        sqlite3_bind_text(at, 6, answer ? answer : "", -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(up, 1, a->id, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int(up, 2, a->idx);
        sqlite3_bind_text(up, 3, status, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(up, 4, next_ns);
        sqlite3_bind_int(up, 5, counted);
        rc = sqlite3_step(at) == SQLITE_DONE && sqlite3_step(up) == SQLITE_DONE ? WG_OK : WG_EIO;
    }
    if (at) {
        sqlite3_reset(at);
    }
    if (up) {
        sqlite3_reset(up);
    }
    if (rc == WG_OK) {
        rc = wg_store_commit(e->db, err, sizeof(err));
    } else {
        wg_store_rollback(e->db);
    }
    pthread_mutex_unlock(&e->mu);
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
    enum wg_err rc = WG_EIO;
    *used = 0;
    *oldest_ns = 0;
    pthread_mutex_lock(&e->mu);
    sqlite3_stmt *st = wg_store_stmt(
        e->db, "SELECT COUNT(DISTINCT t.id), COALESCE(MIN(t.at_ns), 0) FROM action_attempts t"
               " JOIN actions a ON a.id = t.id AND a.idx = t.idx WHERE a.feature = ?1"
               " AND t.idx = ?2 AND t.at_ns >= ?3 AND t.status <> 'held' AND t.id <> ?4");
    if (st) {
        sqlite3_bind_text(st, 1, a->feature, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int(st, 2, a->idx);
        sqlite3_bind_int64(st, 3, since_ns);
        sqlite3_bind_text(st, 4, a->id, -1, SQLITE_TRANSIENT);
        if (sqlite3_step(st) == SQLITE_ROW) {
            *used = (long)sqlite3_column_int64(st, 0);
            *oldest_ns = sqlite3_column_int64(st, 1);
            rc = WG_OK;
        }
        sqlite3_reset(st);
    }
    pthread_mutex_unlock(&e->mu);
    return rc;
}

enum wg_err wg_events_actions_json(struct wg_events *e, char **out)
{
    *out = NULL;
    cJSON *root = cJSON_CreateObject();
    cJSON *flips = cJSON_AddArrayToObject(root, "flips");
    cJSON *acts = cJSON_AddArrayToObject(root, "actions");
    enum wg_err rc = WG_ENOMEM;
    pthread_mutex_lock(&e->mu);
    sqlite3_stmt *f = wg_store_stmt(e->db, "SELECT id, feature, env, status, looks, failures,"
                                           " errors, (SELECT v FROM events_kv WHERE"
                                           " k='report:'||flips.id) FROM flips ORDER BY id");
    sqlite3_stmt *a = wg_store_stmt(
        e->db, "SELECT a.id, a.idx, a.status, a.attempts, (SELECT http_status FROM"
               " action_attempts t WHERE t.id=a.id AND t.idx=a.idx ORDER BY at_ns DESC LIMIT 1),"
               " (SELECT answer FROM action_attempts t WHERE t.id=a.id AND t.idx=a.idx"
               " ORDER BY at_ns DESC LIMIT 1), (SELECT v FROM events_kv WHERE"
               " k='report:'||a.id) FROM actions a ORDER BY a.id, a.idx");
    if (!f || !a || !flips || !acts) {
        rc = f && a ? WG_ENOMEM : WG_EIO;
        goto out;
    }
    while (sqlite3_step(f) == SQLITE_ROW) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddItemToArray(flips, o);
        add_col(o, "id", f, 0);
        add_col(o, "feature", f, 1);
        add_col(o, "env", f, 2);
        add_col(o, "status", f, 3);
        cJSON_AddNumberToObject(o, "looks", (double)sqlite3_column_int64(f, 4));
        cJSON_AddNumberToObject(o, "failures", (double)sqlite3_column_int64(f, 5));
        cJSON_AddNumberToObject(o, "errors", (double)sqlite3_column_int64(f, 6));
        add_col(o, "report_url", f, 7); /* the failing look's evidence page (gate_server_ui.c) */
    }
    while (sqlite3_step(a) == SQLITE_ROW) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddItemToArray(acts, o);
        add_col(o, "id", a, 0);
        cJSON_AddNumberToObject(o, "index", sqlite3_column_int(a, 1));
        add_col(o, "status", a, 2);
        cJSON_AddNumberToObject(o, "attempts", (double)sqlite3_column_int64(a, 3));
        cJSON_AddNumberToObject(o, "http_status", (double)sqlite3_column_int64(a, 4));
        add_col(o, "answer", a, 5);
        add_col(o, "report_url", a, 6);
    }
    *out = cJSON_PrintUnformatted(root);
    rc = *out ? WG_OK : WG_ENOMEM;
out:
    if (f) {
        sqlite3_reset(f);
    }
    if (a) {
        sqlite3_reset(a);
    }
    pthread_mutex_unlock(&e->mu);
    cJSON_Delete(root);
    return rc;
}

int wg_events_seen(struct wg_events *e, const char *source, const char *version)
{
    int seen = 0;
    pthread_mutex_lock(&e->mu);
    sqlite3_stmt *st =
        wg_store_stmt(e->db, "SELECT 1 FROM events WHERE source=?1 AND version=?2 LIMIT 1");
    if (st) {
        sqlite3_bind_text(st, 1, source, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 2, version, -1, SQLITE_TRANSIENT);
        seen = sqlite3_step(st) == SQLITE_ROW;
        sqlite3_reset(st);
    }
    pthread_mutex_unlock(&e->mu);
    return seen;
}

/* ---- the markers' outbox (the durable writer's store, collector.h wg_lp_store) ---------- */

/* A marker row's commit is not fsync'd (synchronous=NORMAL for it, WAL): it survives a kill
 * of the process at once, a power loss from the next event's commit on (that fsync covers the
 * WAL before it); the events' own commits stay FULL. */
enum wg_err wg_events_marker_put(struct wg_events *e, const char *lines, size_t len,
                                 unsigned long long n)
{
    enum wg_err rc = WG_EIO;
    pthread_mutex_lock(&e->mu);
    (void)sqlite3_exec(e->db, "PRAGMA synchronous=NORMAL", NULL, NULL, NULL);
    sqlite3_stmt *st = wg_store_stmt(e->db, "INSERT INTO markers(n, lines) VALUES(?1, ?2)");
    if (st) {
        sqlite3_bind_int64(st, 1, (sqlite3_int64)n);
        sqlite3_bind_blob(st, 2, lines, (int)len, SQLITE_STATIC);
        rc = sqlite3_step(st) == SQLITE_DONE ? WG_OK : WG_EIO;
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
    }
    (void)sqlite3_exec(e->db, "PRAGMA synchronous=FULL", NULL, NULL, NULL);
    pthread_mutex_unlock(&e->mu);
    return rc;
}

enum wg_err wg_events_marker_peek(struct wg_events *e, size_t max_bytes, struct wg_buf *out,
                                  long long *last_id, unsigned long long *n)
{
    enum wg_err rc = WG_EIO;
    *last_id = 0;
    *n = 0;
    pthread_mutex_lock(&e->mu);
    sqlite3_stmt *st = wg_store_stmt(e->db, "SELECT id, n, lines FROM markers ORDER BY id");
    if (st) {
        int r;
        while ((r = sqlite3_step(st)) == SQLITE_ROW) {
            size_t len = (size_t)sqlite3_column_bytes(st, 2);
            if (out->len && out->len + len > max_bytes) {
                break;
            }
            wg_buf_add(out, sqlite3_column_blob(st, 2), len);
            *last_id = sqlite3_column_int64(st, 0);
            *n += (unsigned long long)sqlite3_column_int64(st, 1);
        }
        rc = r == SQLITE_ROW || r == SQLITE_DONE ? wg_buf_err(out) : WG_EIO;
        sqlite3_reset(st);
    }
    pthread_mutex_unlock(&e->mu);
    return rc;
}

enum wg_err wg_events_marker_del(struct wg_events *e, long long last_id)
{
    enum wg_err rc = WG_EIO;
    pthread_mutex_lock(&e->mu);
    sqlite3_stmt *st = wg_store_stmt(e->db, "DELETE FROM markers WHERE id <= ?1");
    if (st) {
        sqlite3_bind_int64(st, 1, last_id);
        rc = sqlite3_step(st) == SQLITE_DONE ? WG_OK : WG_EIO;
        sqlite3_reset(st);
    }
    pthread_mutex_unlock(&e->mu);
    return rc;
}

static enum wg_err marker_sums_locked(struct wg_events *e, unsigned long long *lines,
                                      unsigned long long *bytes)
{
    enum wg_err rc = WG_EIO;
    *lines = *bytes = 0;
    sqlite3_stmt *st = wg_store_stmt(
        e->db, "SELECT coalesce(sum(n), 0), coalesce(sum(length(lines)), 0) FROM markers");
    if (st) {
        if (sqlite3_step(st) == SQLITE_ROW) {
            *lines = (unsigned long long)sqlite3_column_int64(st, 0);
            *bytes = (unsigned long long)sqlite3_column_int64(st, 1);
            rc = WG_OK;
        }
        sqlite3_reset(st);
    }
    return rc;
}

enum wg_err wg_events_marker_count(struct wg_events *e, unsigned long long *lines,
                                   unsigned long long *bytes)
{
    pthread_mutex_lock(&e->mu);
    enum wg_err rc = marker_sums_locked(e, lines, bytes);
    pthread_mutex_unlock(&e->mu);
    return rc;
}

enum wg_err wg_events_marker_trim(struct wg_events *e, unsigned long long max_lines,
                                  unsigned long long *lines, unsigned long long *bytes)
{
    *lines = *bytes = 0;
    unsigned long long kept = 0, kb = 0;
    pthread_mutex_lock(&e->mu);
    enum wg_err rc = marker_sums_locked(e, &kept, &kb);
    long long upto = 0;
    sqlite3_stmt *st = rc == WG_OK && kept > max_lines
                           ? wg_store_stmt(e->db, "SELECT id, n, length(lines) FROM markers "
                                                  "ORDER BY id")
                           : NULL;
    if (st) {
        while (kept - *lines > max_lines && sqlite3_step(st) == SQLITE_ROW) {
            upto = sqlite3_column_int64(st, 0);
            *lines += (unsigned long long)sqlite3_column_int64(st, 1);
            *bytes += (unsigned long long)sqlite3_column_int64(st, 2);
        }
        sqlite3_reset(st);
    }
    pthread_mutex_unlock(&e->mu);
    if (upto && (rc = wg_events_marker_del(e, upto)) != WG_OK) {
        *lines = *bytes = 0;
    }
    return rc;
}

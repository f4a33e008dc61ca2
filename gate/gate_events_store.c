/* gate_events_store.c — the durable event store through the store seam (common/store.h):
 * events.db under state_dir, or tables of the shared PostgreSQL that every replica reads (both
 * dialects' migrations here); one connection per call (take/give), and the committer thread's
 * group commit that records events (deduped by source and version, with their flip and marker
 * rows) in one transaction per batch.
 */
#include "gate/gate_events_int.h"

#include <cjson/cJSON.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

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
struct wg__events_pend {
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
    struct wg__events_pend *next;
};

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

/* The seam's connection (gate_db.c), its failure said once per 10 s (gate_events_int.h). */
struct wg_sql *wg__events_take(struct wg_events *e, char *err, size_t errlen)
{
    char e2[256];
    struct wg_sql *c = wg__gate_db_take(&e->store, e2, sizeof(e2));
    if (!c) {
        snprintf(err, errlen, "events store (postgres): %s", e2);
        /* the runner asks 20 times a second: said once per 10 s while it lasts */
        static _Atomic int64_t said;
        int64_t now = wg_mono_ns(), last = atomic_load(&said);
        if (now - last >= 10 * WG_NS_PER_SEC && atomic_compare_exchange_strong(&said, &last, now)) {
            wg_log(WG_LOG_WARN, "events store (postgres): %s", e2);
        }
    }
    return c;
}

void wg__events_give(struct wg_events *e, struct wg_sql *c)
{
    wg__gate_db_give(&e->store, c);
}

enum wg_err wg_events_open(const char *state_dir, struct wg_events **out, char *err, size_t errlen)
{
    *out = NULL;
    struct wg_events *e = calloc(1, sizeof(*e));
    if (!e) {
        return WG_ENOMEM;
    }
    struct wg_sql_opts o = store_opts(state_dir);
    enum wg_err rc = wg__gate_db_open(&e->store, &o, err, errlen);
    if (rc != WG_OK) {
        free(e);
        return rc;
    }
    if (e->store.pg) {
        unsigned char r[6] = {0};
        char host[40] = "";
        if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r) || gethostname(host, 32) != 0) {
            host[0] = '\0';
        }
        host[32] = '\0';
        snprintf(e->owner, sizeof(e->owner), "%s:%ld:%02x%02x%02x%02x%02x%02x", host,
                 (long)getpid(), r[0], r[1], r[2], r[3], r[4], r[5]);
    } else {
        wg_store_busy_wait(wg_sql_sqlite(e->store.db), 1);
    }
    atomic_init(&e->lease_ns, LEASE_NS);
    atomic_init(&e->skew_ns, 0);
    pthread_mutex_init(&e->qmu, NULL);
    pthread_cond_init(&e->qcv, NULL);
    pthread_cond_init(&e->dcv, NULL);
    e->qtail = &e->qhead;
    if (pthread_create(&e->committer, NULL, committer_main, e) != 0) {
        snprintf(err, errlen, "events store: cannot start the committer thread");
        wg__gate_db_close(&e->store);
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
    wg__gate_db_close(&e->store);
    pthread_mutex_destroy(&e->qmu);
    pthread_cond_destroy(&e->qcv);
    pthread_cond_destroy(&e->dcv);
    free(e);
}

int wg_events_shared(const struct wg_events *e)
{
    return e && e->store.pg;
}

void wg_events_claims(struct wg_events *e, int64_t lease_ns, int64_t skew_ns)
{
    atomic_store(&e->lease_ns, lease_ns > 0 ? lease_ns : LEASE_NS);
    atomic_store(&e->skew_ns, skew_ns);
}

int64_t wg_events_lease_ns(const struct wg_events *e)
{
    return e ? (int64_t)atomic_load(&((struct wg_events *)e)->lease_ns) : 0;
}

void wg__events_col_copy(char *dst, size_t n, struct wg_sql_q *q, int col)
{
    const char *v = wg_sql_col_text(q, col);
    snprintf(dst, n, "%s", v ? v : "");
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
static int find_dup(struct wg_sql *c, struct wg__events_pend *p)
{
    struct wg_sql_q *q =
        wg_sql_query(c, "SELECT id FROM events WHERE source=?1 AND version=?2 LIMIT 1");
    wg_sql_bind_text(q, 1, p->ev->source);
    wg_sql_bind_text(q, 2, p->ev->version);
    int r = wg_sql_step(q);
    if (r == 1) {
        wg__events_col_copy(p->id, 48, q, 0);
        *p->dup = 1;
    } else if (r < 0) {
        snprintf(p->err, p->errlen, "events store: %s", wg_sql_qerror(q));
    }
    wg_sql_end(q);
    return r;
}

/* The next row number: SQLite's one writer takes MAX + 1 (as before the seam); PostgreSQL's
 * replicas draw from one sequence. -1 with p->err. */
static long long next_seq(struct wg_events *e, struct wg_sql *c, struct wg__events_pend *p)
{
    struct wg_sql_q *q =
        wg_sql_query(c, e->store.pg ? "SELECT nextval('events_seq')"
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
                                struct wg__events_pend *p, char *err, size_t errlen)
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
static enum wg_err insert_one(struct wg_events *e, struct wg_sql *c, struct wg__events_pend *p,
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
        rc = wg__events_flip_start_on(e, c, p->id, ev, p->flip->anchor_ns ? p->flip->anchor_ns : t,
                                      p->flip->interval_ns, p->flip->count, p->flip->failure_limit,
                                      err, sizeof(err));
    } else if (p->flip && p->flip->op == WG_FLIP_CANCEL) {
        rc = wg__events_flip_cancel_on(c, ev->feature, ev->env, &p->flip->cancelled, err,
                                       sizeof(err));
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
static enum wg_err lock_keys(struct wg_sql *c, struct wg__events_pend *batch, char *err,
                             size_t errlen)
{
    size_t n = 0, k = 0;
    for (struct wg__events_pend *p = batch; p; p = p->next) {
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
    for (struct wg__events_pend *p = batch; p; p = p->next) {
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
static void commit_batch(struct wg_events *e, struct wg__events_pend *batch,
                         const struct wg_events_marker_hook *hook)
{
    char err[256] = "";
    struct wg_sql *c = wg__events_take(e, err, sizeof(err));
    enum wg_err rc = c ? wg_sql_begin(c, 1, err, sizeof(err)) : WG_EIO;
    if (rc == WG_OK && e->store.pg) {
        rc = lock_keys(c, batch, err, sizeof(err));
    }
    for (struct wg__events_pend *p = batch; rc == WG_OK && p; p = p->next) {
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
    wg__events_give(e, c);
    for (struct wg__events_pend *p = batch; p; p = p->next) {
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

static void enqueue_locked(struct wg_events *e, struct wg__events_pend *p)
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
    struct wg__events_pend me = {ev,     flip,   dup, now_ns, id,   err,
                                 errlen, WG_EIO, 0,   NULL,   NULL, NULL};
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
    struct wg__events_pend *p = calloc(1, sizeof(*p));
    if (!p) {
        return WG_ENOMEM;
    }
    if (dup) {
        *dup = 0;
    }
    *p = (struct wg__events_pend){ev,     flip,   dup, now_ns, id,  err,
                                  errlen, WG_EIO, 0,   done,   arg, NULL};
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
        struct wg__events_pend *batch = e->qhead, *async = NULL;
        struct wg_events_marker_hook hook = e->hook;
        e->qhead = NULL;
        e->qtail = &e->qhead;
        e->busy = 1;
        pthread_mutex_unlock(&e->qmu);
        commit_batch(e, batch, &hook);
        pthread_mutex_lock(&e->qmu);
        e->commits++;
        for (struct wg__events_pend *p = batch, *nx; p; p = nx) {
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
        for (struct wg__events_pend *p = async, *nx; p; p = nx) {
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

/* alerting.c — the alerting handle: evaluations in (wg_alerting_eval / _observe), timers
 * (wg_alerting_tick) out through the dispatcher into the outbox, committed in one transaction
 * per tick before the worker may send (a tick whose commit fails is undone in memory and made
 * again); restore after a restart; wall-clock jumps; store health, metrics and silences.
 * On PostgreSQL the state is the replicas' own: every replica's evaluations go to the shared
 * inbox, only the leader applies them and ticks, and a replica that becomes leader reads the
 * alert states, logs and silences the last one left.
 */
#include "alerting/alerting_int.h"

#include "common/store.h"

#include <cjson/cJSON.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct wg_alerting {
    const struct wg_alert_config *cfg;
    struct wg_sql *db;
    int shared;          /* PostgreSQL: state shared with the other replicas */
    int leading;         /* shared: this replica led at its last tick (its memory is current) */
    int64_t silences_at; /* shared: the silences were last checked then (mono) */
    struct wg__store store;
    struct wg__dispatch disp;
    struct wg__deliver *dv;
    struct wg_silence_store *sil;
    struct wg__job *jobs, **jobs_tail; /* inserted in the open transaction */
    size_t chunk;                      /* jobs inserted since the last (chunk) commit */
    int chunked;                       /* this tick committed a chunk already */
    size_t chunk_max;                  /* rows in this chunk: grows through a big tick */
    int restored;                      /* restored alerts still to be routed */
    int inbox_pending;                 /* shared: this handle put evaluations in the inbox */
    int tick_bad;                      /* a write of this tick failed: it is not accepted */
    int64_t data_version;
    uint64_t seq;
    char *db_path;
    /* store health: read by other threads (/metrics, /readyz) */
    atomic_ullong store_errors; /* failed tick commits (and BEGINs) */
    atomic_int degraded;        /* the last tick could not commit */
    int64_t retry_at, backoff;  /* next tick after a failed one (wall, as the ticks) */
    char last_err[160];
    /* wall-clock jumps: the wall time of the last call against the monotonic clock */
    int64_t (*mono)(void);
    int64_t last_wall, last_mono;
};

#define RETRY_MIN_NS WG_NS_PER_SEC       /* a tick that could not commit is retried after */
#define RETRY_MAX_NS (8 * WG_NS_PER_SEC) /* doubling up to this */
#define JUMP_NS (300 * WG_NS_PER_SEC)    /* wall vs monotonic differences beyond this are jumps */

#define SHARED_SILENCES_NS (250 * INT64_C(1000000)) /* re-read shared silences this often */
#define FOLLOWER_POLL_NS (250 * INT64_C(1000000))   /* a follower looks at leadership */

static int (*leader_fn)(void);

void wg_alerting_set_leader(int (*fn)(void))
{
    leader_fn = fn;
}

int wg__alerting_leader(void)
{
    return leader_fn ? leader_fn() : 1;
}

static int64_t data_version(struct wg_sql *db)
{
    return wg__db_silence_version(db);
}

/* Read the alert states, notification logs and silences (at start, and on PostgreSQL when
 * this replica becomes leader: the memory of a follower is stale). */
static enum wg_err load_state(struct wg_alerting *a)
{
    wg__dispatch_clear(&a->disp);
    wg__store_clear(&a->store);
    if (wg__db_load_alerts(a->db, &a->store) != WG_OK ||
        wg__db_load_logs(a->db, &a->disp.orphans, &a->disp.norphans) != WG_OK ||
        wg__db_load_silences(a->db, &a->disp.silences) != WG_OK) {
        return WG_EIO;
    }
    for (size_t i = 0; i < a->store.n; i++) {
        a->store.v[i]->stored = 1;
    }
    a->restored = a->store.n > 0;
    a->data_version = data_version(a->db);
    return WG_OK;
}

enum wg_err wg_alerting_new(const struct wg_alert_config *acfg, const char *state_dir,
                            const struct wg_alerting_opts *opts, struct wg_alerting **out,
                            char *err, size_t errlen)
{
    struct wg_alerting *a = calloc(1, sizeof(*a));
    int sync = opts && opts->synchronous == 1 ? 1 : 2;
    *out = NULL;
    if (!a) {
        snprintf(err, errlen, "out of memory");
        return WG_ENOMEM;
    }
    a->cfg = acfg;
    a->disp.cfg = acfg;
    a->jobs_tail = &a->jobs;
    a->chunk_max = WG__OUTBOX_CHUNK;
    a->mono = wg_mono_ns;
    a->db_path = wg_asprintf("%s/alerting.db", state_dir);
    if (!a->db_path) {
        free(a);
        snprintf(err, errlen, "out of memory");
        return WG_ENOMEM;
    }
    int lost = 0;
    if (wg__db_open_checked(state_dir, sync, 1, &a->db, &lost, err, errlen) != WG_OK) {
        free(a->db_path);
        free(a);
        return WG_EIO;
    }
    if (lost) {
        atomic_fetch_add(&a->store_errors, 1); /* an emptied store is an error, said and counted */
    }
    a->shared = wg__db_shared(a->db);
    if (a->shared) {
        free(a->db_path);
        a->db_path = wg_strdup("the alerting store (postgres)");
    }
    a->sil = wg__silence_store_wrap(a->db);
    if (!a->sil || !a->db_path || load_state(a) != WG_OK) {
        snprintf(err, errlen, "cannot restore alerting state: %s", wg__db_errmsg(a->db));
        wg_alerting_free(a);
        return WG_EIO;
    }
    a->leading = 1; /* what was just read is current */
    if (wg__deliver_new(acfg, state_dir, sync, !(opts && opts->no_worker), &a->dv, err, errlen) !=
        WG_OK) {
        wg_alerting_free(a);
        return WG_EIO;
    }
    if (wg__deliver_load(a->dv) != WG_OK) {
        snprintf(err, errlen, "cannot restore the pending notifications from %s", a->db_path);
        wg_alerting_free(a);
        return WG_EIO;
    }
    *out = a;
    return WG_OK;
}

void wg_alerting_free(struct wg_alerting *a)
{
    if (!a) {
        return;
    }
    wg__deliver_free(a->dv);
    while (a->jobs) {
        struct wg__job *n = a->jobs->next;
        wg__job_free(a->jobs);
        a->jobs = n;
    }
    wg__dispatch_clear(&a->disp);
    wg__store_clear(&a->store);
    wg_silence_store_close(a->sil);
    wg__db_close(a->db);
    free(a->db_path);
    free(a);
}

/* ---- wall-clock jumps -------------------------------------------------------------------- */

/* The callers' time is the wall clock (it is what payloads show), and the timers (group_wait,
 * group_interval, repeat_interval, for, keep_firing_for) are kept in it. A jump of the wall
 * clock (an NTP step, a VM restored) is seen against the monotonic clock and every timer moves
 * with it, so the time left on each is what it was: no mass re-notify after +1 h, no silence
 * for an hour after -1 h. Differences below JUMP_NS (a slow evaluation handing a stale now)
 * pass as time. Pinned by test_alerting_faults.c (clock_jump_*). */
static void shift_timers(struct wg_alerting *a, int64_t d)
{
    for (size_t i = 0; i < a->store.n; i++) {
        struct wg__alert *al = a->store.v[i];
        int64_t *ts[] = {&al->active_since, &al->starts_at, &al->ends_at, &al->last_breach};
        for (size_t k = 0; k < sizeof(ts) / sizeof(ts[0]); k++) {
            if (*ts[k] != 0) {
                *ts[k] += d;
            }
        }
        al->dirty = 1;
    }
    for (size_t i = 0; i < a->disp.ngroups; i++) {
        struct wg__group *g = a->disp.groups[i];
        g->next_flush += d;
        if (g->has_log) {
            g->log_ts += d;
            g->log_dirty = 1;
        }
    }
    for (size_t i = 0; i < a->disp.norphans; i++) {
        a->disp.orphans[i]->log_ts += d;
    }
    if (a->retry_at) {
        a->retry_at += d;
    }
}

void wg_alerting_set_clock(struct wg_alerting *a, int64_t (*mono_ns)(void))
{
    a->mono = mono_ns;
    a->last_mono = a->last_wall = 0;
}

static void clock_sync(struct wg_alerting *a, int64_t now)
{
    if (!a->mono) {
        return; /* an injected wall clock is trusted as it is */
    }
    int64_t m = a->mono();
    if (a->last_mono) {
        int64_t jump = now - (a->last_wall + (m - a->last_mono));
        if (jump > JUMP_NS || jump < -JUMP_NS) {
            wg_log(WG_LOG_WARN, "alerting: the wall clock jumped by %+llds; timers moved with it",
                   (long long)(jump / WG_NS_PER_SEC));
            shift_timers(a, jump);
        }
    }
    a->last_wall = now;
    a->last_mono = m;
}

/* ---- store health ------------------------------------------------------------------------ */

static void store_failed(struct wg_alerting *a, int64_t now, const char *what)
{
    atomic_fetch_add(&a->store_errors, 1);
    a->backoff = a->backoff ? a->backoff * 2 : RETRY_MIN_NS;
    if (a->backoff > RETRY_MAX_NS) {
        a->backoff = RETRY_MAX_NS;
    }
    a->retry_at = now + a->backoff;
    snprintf(a->last_err, sizeof(a->last_err), "%s: %s", what, wg__db_errmsg(a->db));
    if (!atomic_exchange(&a->degraded, 1)) { /* said once per change, not per retry */
        wg_log(WG_LOG_ERROR,
               "alerting: %s: %s; notifications are not accepted and are made again when the "
               "store takes writes (retried every %llds at most); delivery degraded",
               a->db_path, a->last_err, (long long)(RETRY_MAX_NS / WG_NS_PER_SEC));
    }
}

static void store_ok(struct wg_alerting *a)
{
    a->backoff = 0;
    a->retry_at = 0;
    if (atomic_exchange(&a->degraded, 0)) {
        wg_log(WG_LOG_WARN, "alerting: %s takes writes again (%llu failed commits in all)",
               a->db_path, (unsigned long long)atomic_load(&a->store_errors));
    }
}

uint64_t wg_alerting_store_errors(const struct wg_alerting *a)
{
    if (!a) {
        return 0;
    }
    return atomic_load(&((struct wg_alerting *)a)->store_errors) + wg__deliver_store_errors(a->dv);
}

int wg_alerting_degraded(const struct wg_alerting *a)
{
    return a && (atomic_load(&((struct wg_alerting *)a)->degraded) || wg__deliver_degraded(a->dv));
}

const struct wg_monitor_rule *wg__monitor_rule(const struct wg_monitor *m, const char *key)
{
    const char *slash = key ? strchr(key, '/') : NULL;
    for (size_t i = 0; key && i < m->nrules; i++) {
        if (strcmp(m->rules[i].name, key) == 0 ||
            (slash && strcmp(m->rules[i].name, slash + 1) == 0)) {
            return &m->rules[i];
        }
    }
    return NULL;
}

static int map_cond(enum wg_alert_cond c, const struct wg_monitor *m,
                    const struct wg_monitor_rule *mr)
{
    enum wg_state_map mp;
    switch (c) {
    case WG_COND_OK:
        return 0;
    case WG_COND_BREACH:
        return 1;
    case WG_COND_NODATA:
        mp = mr ? mr->no_data : m->no_data;
        break;
    default:
        mp = mr ? mr->error : m->error;
        break;
    }
    return mp == WG_MAP_ALERTING ? 1 : mp == WG_MAP_OK ? 0 : -1;
}

/* ---- evaluations a follower accepted (PostgreSQL): the leader applies them ------------ */

static void labels_obj(struct wg_buf *b, const struct wg_label *v, size_t n)
{
    wg_buf_adds(b, "{");
    for (size_t i = 0; i < n; i++) {
        wg_buf_adds(b, i ? "," : "");
        wg_buf_add_json(b, v[i].key);
        wg_buf_adds(b, ":");
        wg_buf_add_json(b, v[i].value);
    }
    wg_buf_adds(b, "}");
}

/* A follower's evaluation (a gate event of a /v1/gate call it answered) goes to the inbox
 * table, durable once the insert returns; the leader's next tick applies it. */
static enum wg_err inbox_put(struct wg_alerting *a, const char *scope,
                             const struct wg_alert_eval *evs, size_t n, int64_t now_ns)
{
    struct wg_buf b;
    char err[256];
    wg_buf_init(&b, 0);
    wg_buf_addf(&b, "{\"now\":\"%lld\",\"scope\":", (long long)now_ns);
    wg_buf_add_json(&b, scope);
    wg_buf_adds(&b, ",\"evs\":[");
    for (size_t i = 0; i < n; i++) {
        wg_buf_adds(&b, i ? ",{\"k\":" : "{\"k\":");
        if (evs[i].rule_key) {
            wg_buf_add_json(&b, evs[i].rule_key);
        } else {
            wg_buf_adds(&b, "null");
        }
        wg_buf_addf(&b, ",\"c\":%d,\"l\":", (int)evs[i].cond);
        labels_obj(&b, evs[i].labels, evs[i].nlabels);
        wg_buf_adds(&b, ",\"a\":");
        labels_obj(&b, evs[i].annotations, evs[i].nannotations);
        wg_buf_adds(&b, "}");
    }
    wg_buf_adds(&b, "]}");
    struct wg_sql_q *q = wg_sql_query(a->db, "INSERT INTO alert_inbox(body) VALUES(?)");
    wg_sql_bind_text(q, 1, b.p ? b.p : "");
    enum wg_err rc = b.p ? wg_sql_run(q, err, sizeof(err)) : WG_ENOMEM;
    wg_sql_end(q);
    wg_buf_free(&b);
    if (rc == WG_EIO) {
        atomic_fetch_add(&a->store_errors, 1);
        wg_log(WG_LOG_ERROR, "alerting: cannot hand an evaluation to the leader: %s", err);
    }
    return rc;
}

static struct wg_label *labels_from(const cJSON *o, size_t *n)
{
    size_t cnt = (size_t)cJSON_GetArraySize(o), k = 0;
    struct wg_label *v = calloc(cnt ? cnt : 1, sizeof(*v));
    for (const cJSON *it = o ? o->child : NULL; v && it && k < cnt; it = it->next) {
        if (cJSON_IsString(it)) {
            v[k++] = (struct wg_label){it->string, it->valuestring};
        }
    }
    *n = k;
    return v;
}

static enum wg_err apply_one(struct wg_alerting *a, const char *body);

/* On the leader, before a tick: apply what followers accepted, oldest first. The rows go in
 * the tick's transaction (inbox_done); a tick that fails applies them again (idempotent: the
 * same condition at the same time is no new transition). */
static void inbox_take(struct wg_alerting *a, struct wg_buf *ids)
{
    struct wg_sql_q *q =
        wg_sql_query(a->db, "SELECT id, body FROM alert_inbox ORDER BY id LIMIT 1000");
    int r;
    wg_buf_adds(ids, "{");
    while ((r = wg_sql_step(q)) == 1) {
        const char *body = wg_sql_col_text(q, 1);
        if (body && apply_one(a, body) == WG_ENOMEM) {
            break; /* left in the inbox: applied at the next tick */
        }
        wg_buf_addf(ids, "%s%lld", ids->len > 1 ? "," : "", (long long)wg_sql_col_int64(q, 0));
    }
    if (r < 0) {
        wg_log(WG_LOG_WARN, "alerting: cannot read the followers' evaluations: %s",
               wg_sql_qerror(q));
    }
    wg_sql_end(q);
    wg_buf_adds(ids, "}");
}

static enum wg_err inbox_done(struct wg_alerting *a, const struct wg_buf *ids)
{
    if (!ids->p || ids->len <= 2) {
        return WG_OK;
    }
    char err[256];
    struct wg_sql_q *q =
        wg_sql_query(a->db, "DELETE FROM alert_inbox WHERE id = ANY(CAST(? AS BIGINT[]))");
    wg_sql_bind_text(q, 1, ids->p);
    enum wg_err rc = wg_sql_run(q, err, sizeof(err));
    wg_sql_end(q);
    if (rc != WG_OK) {
        wg__db_set_error(err);
    }
    return rc;
}

/* Apply evaluations to the memory of this handle (committed by the next tick). */
static enum wg_err eval_apply(struct wg_alerting *a, const char *sc,
                              const struct wg_alert_eval *evs, size_t n, int64_t now_ns)
{
    const struct wg_monitor *m = &a->cfg->monitor;
    clock_sync(a, now_ns);
    for (size_t i = 0; i < a->store.n; i++) {
        a->store.v[i]->seen = 0;
    }
    for (size_t i = 0; i < n; i++) {
        const struct wg_alert_eval *ev = &evs[i];
        const struct wg_monitor_rule *mr = wg__monitor_rule(m, ev->rule_key);
        int breach = map_cond(ev->cond, m, mr);
        uint64_t fp = wg_alerting_fingerprint(ev->labels, ev->nlabels);
        struct wg__alert *al = wg__store_find(&a->store, fp);
        if (!al && breach != 1) {
            continue;
        }
        if (!al) {
            al = wg__store_add(&a->store, fp);
            if (!al || wg__labels_copy(&al->labels, ev->labels, ev->nlabels) != WG_OK) {
                return WG_ENOMEM;
            }
            al->scope = wg_strdup(sc);
            int event = ev->rule_key && strcmp(ev->rule_key, WG__EVENT_KEY) == 0;
            al->for_ns = event ? 0 : mr ? mr->for_ns : m->for_ns;
            al->keep_ns = event ? 0 : mr ? mr->keep_firing_for_ns : m->keep_firing_for_ns;
        }
        wg__labels_clear(&al->ann); /* the latest annotations win */
        if (wg__labels_copy(&al->ann, ev->annotations, ev->nannotations) != WG_OK) {
            return WG_ENOMEM;
        }
        al->seen = 1;
        if (wg__alert_step(al, breach, now_ns) &&
            wg__dispatch_route(&a->disp, al, now_ns) != WG_OK) {
            return WG_ENOMEM;
        }
    }
    for (size_t i = 0; i < a->store.n; i++) {
        struct wg__alert *al = a->store.v[i];
        if (!al->seen && strcmp(al->scope ? al->scope : "", sc) == 0 &&
            wg__alert_step(al, 0, now_ns) && wg__dispatch_route(&a->disp, al, now_ns) != WG_OK) {
            return WG_ENOMEM;
        }
    }
    return WG_OK;
}

/* On PostgreSQL every evaluation goes through the inbox, the leader's own too: it is durable
 * once the insert returns and leaves the inbox in the transaction of the tick that applied
 * it. Applied in memory instead, it would be lost when this replica steps down before that
 * tick commits, or (just after gaining the lead) replaced by the state the next tick reads. */
enum wg_err wg_alerting_eval(struct wg_alerting *a, const char *scope,
                             const struct wg_alert_eval *evs, size_t n, int64_t now_ns)
{
    const char *sc = scope ? scope : "";
    if (a->shared) {
        enum wg_err rc = inbox_put(a, sc, evs, n, now_ns);
        a->inbox_pending |= rc == WG_OK; /* this leader ticks at once (next_tick) */
        return rc;
    }
    return eval_apply(a, sc, evs, n, now_ns);
}

static enum wg_err apply_one(struct wg_alerting *a, const char *body)
{
    cJSON *j = cJSON_Parse(body);
    const cJSON *sc = cJSON_GetObjectItemCaseSensitive(j, "scope");
    const cJSON *now = cJSON_GetObjectItemCaseSensitive(j, "now");
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(j, "evs");
    size_t n = (size_t)cJSON_GetArraySize(arr), k = 0;
    enum wg_err rc = WG_OK;
    if (!cJSON_IsString(sc) || !cJSON_IsString(now) || !cJSON_IsArray(arr)) {
        wg_log(WG_LOG_ERROR, "alerting: a follower's evaluation is malformed: dropped");
        cJSON_Delete(j);
        return WG_EINVAL;
    }
    struct wg_alert_eval *evs = calloc(n ? n : 1, sizeof(*evs));
    for (const cJSON *it = arr->child; evs && it && k < n; it = it->next, k++) {
        const cJSON *key = cJSON_GetObjectItemCaseSensitive(it, "k");
        evs[k].rule_key = cJSON_IsString(key) ? key->valuestring : NULL;
        const cJSON *cond = cJSON_GetObjectItemCaseSensitive(it, "c");
        evs[k].cond = (enum wg_alert_cond)(cJSON_IsNumber(cond) ? cond->valueint : WG_COND_ERROR);
        evs[k].labels = labels_from(cJSON_GetObjectItemCaseSensitive(it, "l"), &evs[k].nlabels);
        evs[k].annotations =
            labels_from(cJSON_GetObjectItemCaseSensitive(it, "a"), &evs[k].nannotations);
        if (!evs[k].labels || !evs[k].annotations) {
            rc = WG_ENOMEM;
        }
    }
    if (!evs) {
        rc = WG_ENOMEM;
    }
    if (rc == WG_OK) {
        rc = eval_apply(a, sc->valuestring, evs, k, strtoll(now->valuestring, NULL, 10));
    }
    for (size_t i = 0; evs && i < k; i++) {
        free((void *)evs[i].labels);
        free((void *)evs[i].annotations);
    }
    free(evs);
    cJSON_Delete(j);
    return rc;
}

static int rcv_index(const struct wg_alerting *a, const struct wg_receiver *r)
{
    return (int)(r - a->cfg->receivers);
}

static void discard_jobs(struct wg_alerting *a);

/* Commit the outbox rows inserted so far and hand them to the worker, so that sending
 * overlaps writing the rest of a big tick. Alert states and notification logs are committed
 * at the end of the tick (commit()); a crash in between re-notifies after the restart, which
 * is at-least-once, never a loss. */
/* PostgreSQL: the jobs made since the last flush go into the outbox in one statement. */
static void flush_jobs(struct wg_alerting *a)
{
    if (a->shared && !a->tick_bad && a->jobs &&
        wg__outbox_insert_many(a->db, a->dv, &a->jobs, &a->jobs_tail) != WG_OK) {
        a->tick_bad = 1; /* commit() counts it and undoes the tick */
    }
}

static void chunk_commit(struct wg_alerting *a)
{
    flush_jobs(a);
    a->chunk = 0;
    a->chunked = 1;
    if (a->chunk_max < WG__OUTBOX_CHUNK_MAX) {
        a->chunk_max *= 2;
    }
    /* A chunk that fails fails the whole tick (commit() undoes it in memory): rows of the
     * chunks already committed then go out twice, with the same idempotency keys. */
    if (a->tick_bad || wg__db_commit(a->db) != SQLITE_OK) {
        a->tick_bad = 1;
        return;
    }
    wg__deliver_submit(a->dv, a->jobs);
    a->jobs = NULL;
    a->jobs_tail = &a->jobs;
    if (wg__db_begin(a->db) != SQLITE_OK) {
        a->tick_bad = 1; /* never insert outside a transaction */
    }
}

/* The idempotency key of a notification is a function of what it says, not of when it was
 * made: receiver, group, the group's previous notification time (so a repeat is a new
 * message) and each alert's fingerprint and state. A notification re-made after a crash that
 * lost the tick's commit therefore carries the key of the one that may already have gone out,
 * and receivers that dedupe on it (webhook-id, Idempotency-Key) see one message. Test
 * notifications have no group and get a fresh key. */
static void idem_key(struct wg_alerting *a, const struct wg__notif *nt, char idhex[65])
{
    struct wg_buf seed;
    wg_buf_init(&seed, 0);
    if (!nt->g) {
        wg_buf_addf(&seed, "%s|test|%lld|%llu", nt->rcv->name, (long long)nt->now,
                    (unsigned long long)++a->seq);
    } else {
        wg_buf_addf(&seed, "%s|%s|%lld", nt->rcv->name, nt->g->key, (long long)nt->g->log_ts);
        for (size_t i = 0; i < nt->n; i++) {
            wg_buf_addf(&seed, "|%s%c", nt->alerts[i]->fps, i < nt->nfiring ? 'f' : 'r');
        }
    }
    wg__sha256_hex(seed.p ? seed.p : "", seed.len, idhex);
    wg_buf_free(&seed);
}

static void emit(void *ctx, const struct wg__notif *nt)
{
    struct wg_alerting *a = ctx;
    char idhex[65];
    if (a->tick_bad) {
        return; /* this tick is not accepted: it is made again */
    }
    struct wg__job *j = calloc(1, sizeof(*j));
    if (!j) {
        a->tick_bad = 1; /* out of memory: retried with the tick, never dropped */
        return;
    }
    idem_key(a, nt, idhex);
    char idem[40];
    snprintf(idem, sizeof(idem), "msg_%.32s", idhex);
    j->rcv = rcv_index(a, nt->rcv);
    enum wg_err prc = wg__payload_render(a->cfg, nt, idem, &j->req);
    if (prc != WG_OK) {
        free(j);
        if (prc == WG_ENOMEM) {
            /* A payload short of memory is never sent truncated: the tick is made again. */
            wg_log(WG_LOG_ERROR,
                   "alerting: receiver %s: out of memory building the payload; "
                   "retried at the next tick",
                   nt->rcv->name);
            a->tick_bad = 1;
        } else {
            wg__deliver_count_dead(a->dv, rcv_index(a, nt->rcv)); /* missing env, too big */
        }
        return;
    }
    const char *gk = nt->g ? nt->g->key : idem;
    struct wg_label l = {(char *)"k", (char *)gk};
    snprintf(j->req.okey, sizeof(j->req.okey), "%016llx",
             (unsigned long long)wg_alerting_fingerprint(&l, 1));
    j->created = nt->now;
    j->id = a->shared ? 0 : wg__outbox_insert(a->db, a->dv, nt->rcv->name, j, nt->now);
    if (j->id < 0) {
        wg__job_free(j);
        a->tick_bad = 1; /* disk full or I/O: commit() counts it and undoes the tick */
        return;
    }
    *a->jobs_tail = j; /* PostgreSQL: id 0, inserted with the rest of the chunk (flush_jobs) */
    a->jobs_tail = &j->next;
    if (++a->chunk >= a->chunk_max) {
        chunk_commit(a);
    }
}

static void discard_jobs(struct wg_alerting *a)
{
    while (a->jobs) {
        struct wg__job *n = a->jobs->next;
        wg__job_free(a->jobs);
        a->jobs = n;
    }
    a->jobs_tail = &a->jobs;
}

/* Write what changed (alerts, logs, removed groups) in the open transaction; 0 or -1. */
/* On PostgreSQL the changed alerts and logs go BATCH rows a statement (one round trip each),
 * on SQLite one statement a row (no round trips inside the process). */
#define BATCH 500

static enum wg_err write_state(struct wg_alerting *a)
{
    enum wg_err rc = WG_OK;
    int many = a->shared;
    struct wg__alert *av[BATCH];
    struct wg__group *gv[BATCH];
    size_t na = 0, ng = 0;
    for (size_t i = 0; i < a->store.n && rc == WG_OK; i++) {
        struct wg__alert *al = a->store.v[i];
        if (al->state == WG__INACTIVE && al->refs == 0) {
            rc = al->stored ? wg__db_delete_alert(a->db, al->fp) : WG_OK;
        } else if (al->dirty && many) {
            av[na++] = al;
            if (na == BATCH) {
                rc = wg__db_save_alerts(a->db, av, na);
                na = 0;
            }
        } else if (al->dirty) {
            rc = wg__db_save_alert(a->db, al);
        }
    }
    if (rc == WG_OK && na) {
        rc = wg__db_save_alerts(a->db, av, na);
    }
    for (size_t i = 0; i < a->disp.ngroups && rc == WG_OK; i++) {
        struct wg__group *g = a->disp.groups[i];
        if (g->log_dirty && many) {
            gv[ng++] = g;
            if (ng == BATCH) {
                rc = wg__db_save_groups(a->db, gv, ng);
                ng = 0;
            }
        } else if (g->log_dirty) {
            rc = wg__db_save_group(a->db, g);
        }
    }
    if (rc == WG_OK && ng) {
        rc = wg__db_save_groups(a->db, gv, ng);
    }
    for (size_t i = 0; i < a->disp.ndead && rc == WG_OK; i++) {
        rc = wg__db_delete_group(a->db, a->disp.dead[i]->key);
    }
    return rc;
}

/* The memory side of a commit that went through: written alerts are clean, the inactive
 * ones nobody holds are gone. */
static void state_committed(struct wg_alerting *a)
{
    for (size_t i = 0; i < a->store.n;) {
        struct wg__alert *al = a->store.v[i];
        if (al->state == WG__INACTIVE && al->refs == 0) {
            wg__store_remove_at(&a->store, i);
            continue;
        }
        if (al->dirty) {
            al->dirty = 0;
            al->stored = 1;
        }
        i++;
    }
    for (size_t i = 0; i < a->disp.ngroups; i++) {
        a->disp.groups[i]->log_dirty = 0;
    }
}

/* Persist what changed (alerts, logs) and hand over the new jobs, in one transaction. When
 * any write of the tick failed (disk full, I/O), nothing of it is accepted: the transaction
 * is rolled back, and the dispatcher's groups are put back as they were before the tick so
 * its notifications are made again at the next one (wg_alerting_next_tick: after a backoff).
 * Pinned by test_alerting_faults.c (full_disk_*). */
static enum wg_err commit(struct wg_alerting *a, int64_t now)
{
    if (!a->tick_bad && a->chunked && a->jobs) {
        /* A big tick: the last outbox rows go out before the (many) states are written. */
        chunk_commit(a);
    }
    flush_jobs(a);
    if (a->tick_bad || write_state(a) != WG_OK || wg__db_commit(a->db) != SQLITE_OK) {
        wg__db_rollback(a->db);
        discard_jobs(a);
        wg__dispatch_settle(&a->disp, 0);
        store_failed(a, now, "commit failed");
        a->tick_bad = 0;
        return WG_EIO;
    }
    wg__deliver_submit(a->dv, a->jobs);
    a->jobs = NULL;
    a->jobs_tail = &a->jobs;
    wg__dispatch_settle(&a->disp, 1);
    state_committed(a);
    store_ok(a);
    return WG_OK;
}

enum wg_err wg_alerting_tick(struct wg_alerting *a, int64_t now_ns)
{
    if (a->shared) {
        if (!wg__alerting_leader()) {
            a->leading = 0; /* another replica ticks; read its state when this one leads */
            return WG_OK;
        }
        if (!a->leading) {
            if (load_state(a) != WG_OK) {
                store_failed(a, now_ns, "cannot read the shared alerting state");
                return WG_EIO;
            }
            wg_log(WG_LOG_INFO,
                   "alerting: leading: %zu alert(s) and their logs read from the "
                   "shared store",
                   a->store.n);
            a->leading = 1;
            a->last_mono = a->last_wall = 0;
        }
    }
    if (a->restored) {
        for (size_t i = 0; i < a->store.n; i++) {
            struct wg__alert *al = a->store.v[i];
            if ((al->state == WG__FIRING || al->resolved) &&
                wg__dispatch_route(&a->disp, al, now_ns) != WG_OK) {
                return WG_ENOMEM; /* still restored: routed again (idempotent) next tick */
            }
        }
        a->restored = 0;
    }
    clock_sync(a, now_ns);
    int64_t dv = a->data_version;
    if (!a->shared || wg_mono_ns() - a->silences_at >= SHARED_SILENCES_NS) {
        dv = data_version(a->db);
        a->silences_at = wg_mono_ns();
    }
    if (dv != a->data_version) { /* another process (the CLI, a replica) changed silences */
        if (wg__db_load_silences(a->db, &a->disp.silences) == WG_OK) {
            a->data_version = dv;
        } else { /* data_version kept: read again next tick */
            wg_log(WG_LOG_ERROR, "alerting: cannot read the silences from %s: %s", a->db_path,
                   wg__db_errmsg(a->db));
        }
    }
    struct wg_buf inbox;
    wg_buf_init(&inbox, 0);
    if (a->shared) {
        a->inbox_pending = 0;
        inbox_take(a, &inbox); /* the replicas' evaluations, applied before the timers run */
    }
    if (wg__db_begin(a->db) != SQLITE_OK) {
        wg_buf_free(&inbox);
        store_failed(a, now_ns, "cannot begin a transaction");
        return WG_EIO;
    }
    a->chunk = 0;
    a->chunked = 0;
    a->tick_bad = inbox_done(a, &inbox) != WG_OK;
    wg_buf_free(&inbox);
    a->chunk_max = WG__OUTBOX_CHUNK;
    wg__dispatch_tick(&a->disp, &a->store, now_ns, emit, a);
    return commit(a, now_ns);
}

int64_t wg_alerting_next_tick(const struct wg_alerting *a)
{
    if (a->shared && (!a->leading || !wg__alerting_leader())) {
        return wg_now_ns() + FOLLOWER_POLL_NS; /* not leading: look again soon */
    }
    if (a->restored || (a->shared && a->inbox_pending && !a->retry_at)) {
        return INT64_MIN;
    }
    int64_t t = wg__dispatch_next(&a->disp);
    if (a->shared && t > wg_now_ns() + SHARED_SILENCES_NS) {
        t = wg_now_ns() + SHARED_SILENCES_NS; /* silences added on another replica */
    }
    return a->retry_at > t ? a->retry_at : t; /* a failed tick: not before its backoff */
}

enum wg_err wg_alerting_link_put(struct wg_alerting *a, uint64_t fp, const char *id, int cond)
{
    enum wg_err rc = wg__db_link_put(a->db, fp, id, cond);
    if (rc == WG_EIO) {
        atomic_fetch_add(&a->store_errors, 1);
    }
    return rc;
}

enum wg_err wg_alerting_link_drop(struct wg_alerting *a, uint64_t fp)
{
    enum wg_err rc = wg__db_link_drop(a->db, fp);
    if (rc == WG_EIO) {
        atomic_fetch_add(&a->store_errors, 1);
    }
    return rc;
}

enum wg_err wg_alerting_links_save(struct wg_alerting *a, const struct wg_alerting_link *v,
                                   size_t n)
{
    if (n == 0) {
        return WG_OK;
    }
    enum wg_err rc = wg__db_begin(a->db) == SQLITE_OK ? WG_OK : WG_EIO;
    for (size_t i = 0; i < n && rc == WG_OK; i++) {
        rc = v[i].cond >= 0 ? wg__db_link_put(a->db, v[i].fp, v[i].id, v[i].cond)
                            : wg__db_link_drop(a->db, v[i].fp);
    }
    if (rc == WG_OK && wg__db_commit(a->db) != SQLITE_OK) {
        rc = WG_EIO;
    }
    if (rc != WG_OK) {
        wg__db_rollback(a->db);
        atomic_fetch_add(&a->store_errors, 1);
    }
    return rc;
}

int wg_alerting_link_get(struct wg_alerting *a, uint64_t fp, char *id, size_t idlen, int *cond)
{
    int r = wg__db_link_get(a->db, fp, id, idlen, cond);
    if (r < 0) {
        atomic_fetch_add(&a->store_errors, 1);
    }
    return r;
}

enum wg_err wg_alerting_test(struct wg_alerting *a, const char *receiver, int64_t now_ns)
{
    const struct wg_receiver *r = wg_alert_config_receiver(a->cfg, receiver);
    if (!r) {
        return WG_ENOTFOUND;
    }
    struct wg__alert al = {0};
    struct wg__group g = {0};
    struct wg__alert *sel[1] = {&al};
    enum wg_err rc = WG_EIO;
    if (wg__labels_set(&al.labels, "alertname", "WavegateTest") != WG_OK ||
        wg__labels_set(&al.labels, "severity", "info") != WG_OK ||
        wg__labels_set(&al.ann, "summary", "test notification from wavegate") != WG_OK) {
        rc = WG_ENOMEM;
        goto out;
    }
    al.fp = wg_alerting_fingerprint(al.labels.v, al.labels.n);
    snprintf(al.fps, sizeof(al.fps), "%016llx", (unsigned long long)al.fp);
    al.state = WG__FIRING;
    al.starts_at = now_ns;
    g.key = wg_asprintf("test:%s:{}", r->name);
    g.rcv = r;
    struct wg__notif nt = {r, &g, "test", sel, 1, 1, now_ns};
    if (g.key && wg__db_begin(a->db) == SQLITE_OK) {
        a->tick_bad = 0;
        emit(a, &nt);
        rc = commit(a, now_ns);
    }
out:
    free(g.key);
    wg__labels_clear(&al.labels);
    wg__labels_clear(&al.ann);
    return rc;
}

size_t wg_alerting_drain(struct wg_alerting *a, int64_t deadline_mono_ns)
{
    return wg__deliver_wait(a->dv, deadline_mono_ns);
}

void wg_alerting_metrics(const struct wg_alerting *a, struct wg_buf *out)
{
    if (!a) {
        return;
    }
    wg__deliver_metrics(a->dv, out);
    wg_buf_addf(out,
                "# HELP wavegate_store_errors_total Failed writes to the alerting state store.\n"
                "# TYPE wavegate_store_errors_total counter\n"
                "wavegate_store_errors_total %llu\n"
                "# HELP wavegate_delivery_degraded 1 while the state store refuses writes "
                "(notifications held and made again, not sent).\n"
                "# TYPE wavegate_delivery_degraded gauge\n"
                "wavegate_delivery_degraded %d\n",
                (unsigned long long)wg_alerting_store_errors(a), wg_alerting_degraded(a));
}

char *wg_alerting_alerts_json(const struct wg_alerting *a, int64_t now_ns)
{
    struct wg_buf b;
    wg_buf_init(&b, 0);
    wg_buf_adds(&b, "[");
    int n = 0;
    for (int pass = 0; a && pass < 2; pass++) { /* firing first, then pending */
        for (size_t i = 0; i < a->store.n; i++) {
            const struct wg__alert *al = a->store.v[i];
            enum wg__astate want = pass ? WG__PENDING : WG__FIRING;
            if (al->state != want || al->resolved) {
                continue;
            }
            char t[48];
            wg_time_format(pass ? al->active_since : al->starts_at, t, sizeof(t));
            wg_buf_addf(&b, "%s{\"state\":\"%s\",\"labels\":", n++ ? "," : "",
                        pass ? "pending" : "firing");
            wg__labels_json(&b, &al->labels);
            wg_buf_adds(&b, ",\"annotations\":");
            wg__labels_json(&b, &al->ann);
            wg_buf_addf(&b, ",\"%s\":\"%s\",\"fingerprint\":\"%s\",\"muted\":%s}",
                        pass ? "activeSince" : "startsAt", t, al->fps,
                        wg__dispatch_muted(&a->disp, &a->store, al, now_ns) ? "true" : "false");
        }
    }
    wg_buf_adds(&b, "]");
    char *out = NULL;
    return wg_buf_finish(&b, &out) == WG_OK ? out : NULL;
}

struct wg_silence_store *wg_alerting_silences(struct wg_alerting *a)
{
    return a ? a->sil : NULL;
}

const struct wg_alert_config *wg__alerting_cfg(const struct wg_alerting *a)
{
    return a->cfg;
}

/* ---- public accessors for the gate's observations (gate/gate_observe.c) ----------------- */

const struct wg_alert_config *wg_alerting_config(const struct wg_alerting *a)
{
    return wg__alerting_cfg(a);
}

const struct wg_monitor_rule *wg_alerting_monitor_rule(const struct wg_monitor *m, const char *key)
{
    return wg__monitor_rule(m, key);
}

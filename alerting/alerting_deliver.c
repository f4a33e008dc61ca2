/* alerting_deliver.c — the delivery worker: one thread driving an HTTP pump (common/http.h:
 * timeouts, no redirects, caps, the CURLcode mapping) over per-receiver queues (in-flight caps,
 * token-bucket rate limits, 429 Retry-After holds). Jobs of one group are sent in order (resolve
 * never overtakes trigger). On PostgreSQL only the leader sends, and an attempt starts only while
 * the row's lease has the receiver's timeout and a margin left, so a row is never in flight from
 * two replicas at once. The outbox's rows, outcomes, claims and leases: alerting_outbox.c.
 */
#include "alerting/alerting_int.h"

#include "common/http.h"
#include "common/store.h"

#include <openssl/rand.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RESP_MAX (64 * 1024)
#define BACKOFF_INITIAL_NS (500 * INT64_C(1000000))
#define BACKOFF_MAX_NS (60 * WG_NS_PER_SEC)
#define RETRY_AFTER_MAX_NS (300 * WG_NS_PER_SEC)
#define GIVE_UP_NS (24 * 3600 * WG_NS_PER_SEC)
#define OPS_BATCH 512                        /* commit at once from this many on */
#define OPS_EVERY_NS (20 * INT64_C(1000000)) /* else at most this often while sending */
#define OPS_RETRY_MS 5                       /* poll again this soon when a commit was refused */
#define CKPT_IDLE_MS 50                      /* checkpoint after this long with nothing to send */
/* PostgreSQL claims: the lease is the longest receiver timeout plus LEASE_MARGIN_NS (renewed
 * by alerting_outbox.c); an attempt starts only with its timeout + START_GUARD_NS of lease
 * left. */
#define LEASE_MARGIN_NS (3 * WG_NS_PER_SEC)
#define START_GUARD_NS (500 * INT64_C(1000000))
#define SHARED_POLL_MS 100

/* One attempt in the pump: the request as a wg_http_job, with the storage it borrows. */
struct wg__xfer {
    struct wg_http_job hj;
    struct wg__job *job;
    char *hbuf;        /* the job's header lines, split in place */
    const char **hdrv; /* hj.headers */
    char ts_line[48], sig_line[200];
    struct wg__xfer *prev, *next; /* active transfers, to abandon them at shutdown */
};

void wg__job_free(struct wg__job *j)
{
    if (j) {
        wg__req_clear(&j->req);
        free(j);
    }
}

void wg__alerting_q_push(struct wg__rcvq *q, struct wg__job *j)
{
    j->next = NULL;
    if (q->tail) {
        q->tail->next = j;
    } else {
        q->head = j;
    }
    q->tail = j;
    q->depth++;
}

void wg__alerting_q_unlink(struct wg__rcvq *q, struct wg__job *j)
{
    struct wg__job **pp = &q->head, *prev = NULL;
    while (*pp && *pp != j) {
        prev = *pp;
        pp = &(*pp)->next;
    }
    if (*pp) {
        *pp = j->next;
        if (q->tail == j) {
            q->tail = prev;
        }
        q->depth--;
    }
}

/* The request headers: the rendered ones, then per attempt a fresh webhook timestamp and
 * signature (the webhook-id stays the same). */
static int build_headers(struct wg__xfer *x, const struct wg_receiver *r)
{
    const char *h = x->job->req.headers ? x->job->req.headers : "";
    size_t n = 4; /* the last line, User-Agent, timestamp, signature */
    for (const char *c = h; *c; c++) {
        n += *c == '\n';
    }
    x->hbuf = wg_strdup(h);
    x->hdrv = calloc(n, sizeof(*x->hdrv));
    if (!x->hbuf || !x->hdrv) {
        return -1;
    }
    size_t k = 0;
    for (char *p = x->hbuf; *p;) {
        char *e = strchr(p, '\n');
        x->hdrv[k++] = p;
        if (!e) {
            break;
        }
        *e = '\0';
        p = e + 1;
    }
    x->hdrv[k++] = "User-Agent: wavegate";
    if (r->kind == WG_RCV_WEBHOOK && r->secret_env) {
        const char *secret = getenv(r->secret_env);
        char sig[128];
        int64_t ts = wg_now_ns() / WG_NS_PER_SEC;
        if (!secret || wg_alerting_sign(secret, x->job->req.idem, ts, x->job->req.body,
                                        strlen(x->job->req.body), sig, sizeof(sig)) != WG_OK) {
            wg_log(WG_LOG_ERROR, "alerting: receiver %s: secret %s missing or malformed", r->name,
                   r->secret_env);
            return -1;
        }
        wg_log_add_secret(secret);
        snprintf(x->ts_line, sizeof(x->ts_line), "webhook-timestamp: %lld", (long long)ts);
        snprintf(x->sig_line, sizeof(x->sig_line), "webhook-signature: %s", sig);
        x->hdrv[k++] = x->ts_line;
        x->hdrv[k++] = x->sig_line;
    }
    x->hj.headers = x->hdrv;
    x->hj.nheaders = k;
    return 0;
}

static void xfer_free(struct wg__deliver *dv, struct wg__xfer *x)
{
    if (x->prev) {
        x->prev->next = x->next;
    } else if (dv->active == x) {
        dv->active = x->next;
    }
    if (x->next) {
        x->next->prev = x->prev;
    }
    wg_http_job_clear(&x->hj);
    free(x->hdrv);
    free(x->hbuf);
    free(x);
}

static struct wg__xfer *start(struct wg__deliver *dv, const struct wg_receiver *r,
                              struct wg__job *j)
{
    struct wg__xfer *x = calloc(1, sizeof(*x));
    if (!x) {
        return NULL;
    }
    x->job = j;
    x->hj.method = "POST";
    x->hj.url = j->req.url;
    x->hj.body = j->req.body;
    x->hj.body_len = strlen(j->req.body);
    x->hj.timeout_ns = r->timeout_ns;
    x->hj.keep_bytes = RESP_MAX; /* the head only: the body is for classification and logs */
    x->hj.no_compression = 1;
    if (build_headers(x, r) != 0 || wg_http_pump_add(dv->pump, &x->hj) != WG_OK) {
        xfer_free(dv, x); /* not linked yet */
        return NULL;
    }
    x->next = dv->active;
    if (dv->active) {
        dv->active->prev = x;
    }
    dv->active = x;
    return x;
}

static int64_t jitter_backoff(int attempts)
{
    double b = (double)BACKOFF_INITIAL_NS;
    for (int i = 1; i < attempts && b < (double)BACKOFF_MAX_NS; i++) {
        b *= 1.5;
    }
    if (b > (double)BACKOFF_MAX_NS) {
        b = (double)BACKOFF_MAX_NS;
    }
    unsigned short r = 0;
    RAND_bytes((unsigned char *)&r, sizeof(r));
    return (int64_t)(b * (0.5 + (double)r / 65535.0)); /* ±50 % */
}

enum outcome { OUT_OK, OUT_RETRY, OUT_DEAD };

static enum outcome classify(const struct wg_receiver *r, const struct wg_http_job *hj, char *err,
                             size_t errlen)
{
    const char *body = hj->errbody.p ? hj->errbody.p : "";
    long code = hj->status;
    if (hj->err != WG_OK && hj->err != WG_EHTTP) {
        snprintf(err, errlen, "%s", hj->errmsg); /* no answer, or a cut-off one */
        return OUT_RETRY;
    }
    snprintf(err, errlen, "HTTP %ld: %.80s", code, body);
    if (code >= 200 && code < 300) {
        if (r->kind == WG_RCV_SLACK && code == 200 && strcmp(body, "ok") != 0 &&
            !strstr(body, "\"ok\":true")) {
            return OUT_DEAD; /* Slack says 200 but not ok: a payload problem */
        }
        if (r->kind == WG_RCV_TEAMS && strstr(body, "HTTP error 429")) {
            return OUT_RETRY; /* legacy connectors throttle with a 200 */
        }
        return OUT_OK;
    }
    if (code == 429 || code >= 500) {
        return OUT_RETRY;
    }
    return OUT_DEAD; /* 3xx (not followed), other 4xx */
}

/* wg_http_pump_poll's callback: one attempt is over. */
static void finish(void *ud, struct wg_http_job *hj)
{
    struct wg__deliver *dv = ud;
    struct wg__xfer *x = (struct wg__xfer *)(void *)((char *)hj - offsetof(struct wg__xfer, hj));
    char err[200];
    struct wg__job *j = x->job;
    struct wg__rcvq *q = &dv->q[j->rcv];
    const struct wg_receiver *r = &dv->cfg->receivers[j->rcv];
    enum outcome o = classify(r, hj, err, sizeof(err));
    long code = hj->status;
    int64_t retry_after = code == 429 ? wg_http_retry_after(hj) : -1;
    if (retry_after > RETRY_AFTER_MAX_NS) {
        retry_after = RETRY_AFTER_MAX_NS;
    }
    int64_t now = wg_mono_ns();
    xfer_free(dv, x);
    q->inflight--;
    j->inflight = 0;
    j->attempts++;
    if (o == OUT_RETRY && now - j->first_mono > GIVE_UP_NS) {
        o = OUT_DEAD;
    }
    if (o == OUT_OK) {
        q->delivered++;
        wg__alerting_op_add(dv, j->id, 0, j->attempts, NULL);
    } else {
        q->failures++;
        wg_log(o == OUT_DEAD ? WG_LOG_ERROR : WG_LOG_WARN,
               "alerting: receiver %s: %s (attempt %d%s)", r->name, err, j->attempts,
               o == OUT_DEAD ? ", dead letter" : ", will retry");
    }
    if (o == OUT_RETRY) {
        q->retries++;
        int64_t wait = jitter_backoff(j->attempts);
        if (code == 429 && retry_after > 0) {
            wait = retry_after;
        }
        if (code == 429) {
            q->hold_until = now + wait; /* the whole receiver is throttled */
        }
        j->next_mono = now + wait;
        wg__alerting_op_add(dv, j->id, 1, j->attempts, err);
    } else {
        if (o == OUT_DEAD) {
            q->dead++;
            wg__alerting_op_add(dv, j->id, 2, j->attempts, err);
        }
        wg__alerting_q_unlink(q, j);
        pthread_mutex_lock(&dv->mu);
        dv->pending--;
        pthread_mutex_unlock(&dv->mu);
        wg__job_free(j);
    }
}

/* Open-addressing set of ordering keys seen in this pass. */
struct keyset {
    uint64_t *v;
    size_t cap;
};

static int keyset_add(struct keyset *ks, uint64_t k)
{
    k |= 1; /* 0 means empty */
    for (size_t i = (size_t)(k % ks->cap);; i = (i + 1) % ks->cap) {
        if (ks->v[i] == k) {
            return 0;
        }
        if (!ks->v[i]) {
            ks->v[i] = k;
            return 1;
        }
    }
}

/* Start every eligible job; returns the next time something becomes due (mono ns). */
static int64_t schedule(struct wg__deliver *dv, int64_t now)
{
    int64_t next = now + WG_NS_PER_SEC;
    for (size_t ri = 0; ri < dv->nq; ri++) {
        struct wg__rcvq *q = &dv->q[ri];
        const struct wg_receiver *r = &dv->cfg->receivers[ri];
        if (!q->head) {
            continue;
        }
        if (q->hold_until > now) {
            next = q->hold_until < next ? q->hold_until : next;
            continue;
        }
        if (r->rate_per_sec > 0) {
            q->tokens += (double)(now - q->refill_mono) / 1e9 * r->rate_per_sec;
            if (q->tokens > r->burst) {
                q->tokens = r->burst;
            }
            q->refill_mono = now;
        }
        struct keyset ks = {calloc(q->depth * 2 + 1, sizeof(uint64_t)), q->depth * 2 + 1};
        if (!ks.v) {
            continue;
        }
        for (struct wg__job *j = q->head; j && q->inflight < r->max_in_flight; j = j->next) {
            int first_of_key = keyset_add(&ks, strtoull(j->req.okey, NULL, 16));
            if (!first_of_key || j->inflight) {
                continue; /* an older job of this group is still queued or in flight */
            }
            if (j->next_mono > now) {
                next = j->next_mono < next ? j->next_mono : next;
                continue;
            }
            if (dv->shared && j->lease_mono - now < r->timeout_ns + START_GUARD_NS) {
                continue; /* not enough lease left for a whole attempt: after the renewal */
            }
            if (r->rate_per_sec > 0 && q->tokens < 1) {
                int64_t w = (int64_t)((1 - q->tokens) / r->rate_per_sec * 1e9);
                next = now + w < next ? now + w : next;
                break;
            }
            struct wg__xfer *x = start(dv, r, j);
            if (!x) {
                j->next_mono = now + jitter_backoff(++j->attempts);
                continue;
            }
            if (!j->first_mono) {
                j->first_mono = now;
            }
            j->inflight = 1;
            q->inflight++;
            q->tokens -= r->rate_per_sec > 0 ? 1 : 0;
        }
        free(ks.v);
    }
    return next;
}

static void take_submitted(struct wg__deliver *dv)
{
    pthread_mutex_lock(&dv->mu);
    struct wg__job *j = dv->sub_head;
    dv->sub_head = dv->sub_tail = NULL;
    dv->nsub = 0;
    pthread_mutex_unlock(&dv->mu);
    while (j) {
        struct wg__job *n = j->next;
        wg__alerting_q_push(&dv->q[j->rcv], j);
        j = n;
    }
}

/* The worker's connection does not checkpoint after its commits (that would stall sending
 * while the database file is written and synced): it notes the WAL's size here and
 * checkpoints when it has nothing to send. Ticks still checkpoint as SQLite does by default. */
static int wal_hook(void *ud, sqlite3 *db, const char *name, int pages)
{
    (void)db;
    (void)name;
    ((struct wg__deliver *)ud)->wal_pages = pages;
    return SQLITE_OK;
}

static void idle_checkpoint(struct wg__deliver *dv, int64_t now)
{
    if (!wg__db_sqlite(dv->db)) {
        return;
    }
    if (dv->active) {
        dv->idle_since = 0;
        return;
    }
    if (!dv->idle_since) {
        dv->idle_since = now;
    }
    /* Not in a pause between two chunks of a tick: only when it stays quiet. */
    if (dv->wal_pages >= 1000 && !dv->nops &&
        now - dv->idle_since >= CKPT_IDLE_MS * INT64_C(1000000)) {
        sqlite3_wal_checkpoint_v2(wg__db_sqlite(dv->db), NULL, SQLITE_CHECKPOINT_PASSIVE, NULL,
                                  NULL);
        dv->wal_pages = 0;
    }
}

static void *worker(void *arg)
{
    struct wg__deliver *dv = arg;
    for (;;) {
        pthread_mutex_lock(&dv->mu);
        int stop = dv->stop;
        pthread_mutex_unlock(&dv->mu);
        if (stop) {
            break;
        }
        take_submitted(dv);
        int64_t now = wg_mono_ns();
        int64_t next = now + WG_NS_PER_SEC;
        if (!dv->shared || wg__alerting_shared_turn(dv, now)) {
            next = schedule(dv, now);
        }
        int64_t wait_ms = (next - wg_mono_ns()) / 1000000;
        if (wait_ms < 0) {
            wait_ms = 0;
        }
        if (wait_ms > 1000) {
            wait_ms = 1000;
        }
        if (dv->nops && wait_ms > OPS_RETRY_MS) {
            wait_ms = OPS_RETRY_MS;
        }
        if (dv->wal_pages >= 1000 && wait_ms > CKPT_IDLE_MS) {
            wait_ms = CKPT_IDLE_MS;
        }
        if (dv->shared && wait_ms > SHARED_POLL_MS) {
            wait_ms = SHARED_POLL_MS; /* leadership, renewals, rows to claim */
        }
        /* Returns at once when attempts finished: slots were freed, schedule again. */
        wg_http_pump_poll(dv->pump, (int)wait_ms, finish, dv);
        if (dv->nops >= OPS_BATCH || !dv->active || wg_mono_ns() - dv->ops_at >= OPS_EVERY_NS) {
            wg__alerting_ops_commit(dv, 0);
        }
        idle_checkpoint(dv, wg_mono_ns());
        pthread_mutex_lock(&dv->mu);
        pthread_cond_broadcast(&dv->cv);
        pthread_mutex_unlock(&dv->mu);
    }
    wg__alerting_ops_commit(dv, 1);
    return NULL;
}

static int64_t longest_timeout(const struct wg_alert_config *cfg)
{
    int64_t t = 0;
    for (size_t i = 0; i < cfg->nreceivers; i++) {
        t = cfg->receivers[i].timeout_ns > t ? cfg->receivers[i].timeout_ns : t;
    }
    return t > 0 ? t : 10 * WG_NS_PER_SEC;
}

enum wg_err wg__deliver_new(const struct wg_alert_config *cfg, const char *state_dir,
                            int synchronous, int start_thread, struct wg__deliver **out, char *err,
                            size_t errlen)
{
    struct wg__deliver *dv = calloc(1, sizeof(*dv));
    *out = NULL;
    if (!dv) {
        snprintf(err, errlen, "out of memory");
        return WG_ENOMEM;
    }
    dv->cfg = cfg;
    pthread_mutex_init(&dv->mu, NULL);
    pthread_cond_init(&dv->cv, NULL);
    dv->nq = cfg->nreceivers;
    dv->q = calloc(dv->nq ? dv->nq : 1, sizeof(*dv->q));
    dv->pump = wg_http_pump_new(256);
    /* Outcomes at most at NORMAL: see ops_commit. Accepting stays at the caller's level. */
    int osync = synchronous < 1 ? synchronous : 1;
    if (!dv->q || !dv->pump) {
        snprintf(err, errlen, "out of memory");
        wg__deliver_free(dv);
        return WG_ENOMEM;
    }
    enum wg_err rc = wg__db_open(state_dir, osync, &dv->db, err, errlen);
    if (rc != WG_OK) {
        wg__deliver_free(dv);
        return rc;
    }
    dv->shared = wg__db_shared(dv->db);
    dv->lease_ns = longest_timeout(cfg) + LEASE_MARGIN_NS;
    wg__alerting_new_owner(dv);
    if (wg__db_sqlite(dv->db)) {
        sqlite3_wal_hook(wg__db_sqlite(dv->db), wal_hook, dv);
    }
    int64_t now = wg_mono_ns();
    for (size_t i = 0; i < dv->nq; i++) {
        dv->q[i].tokens = cfg->receivers[i].burst;
        dv->q[i].refill_mono = now;
    }
    if (start_thread) {
        if (pthread_create(&dv->thr, NULL, worker, dv) != 0) {
            snprintf(err, errlen, "cannot start the delivery thread");
            wg__deliver_free(dv);
            return WG_EIO;
        }
        dv->started = 1;
    }
    *out = dv;
    return WG_OK;
}

void wg__deliver_submit(struct wg__deliver *dv, struct wg__job *jobs)
{
    size_t n = 0;
    struct wg__job *last = NULL;
    for (struct wg__job *j = jobs; j; j = j->next) {
        n++;
        last = j;
    }
    if (!n) {
        return;
    }
    pthread_mutex_lock(&dv->mu);
    if (dv->sub_tail) {
        dv->sub_tail->next = jobs;
    } else {
        dv->sub_head = jobs;
    }
    dv->sub_tail = last;
    dv->nsub += n;
    dv->pending += n;
    pthread_mutex_unlock(&dv->mu);
    wg_http_pump_wakeup(dv->pump);
}

size_t wg__deliver_pending(struct wg__deliver *dv)
{
    pthread_mutex_lock(&dv->mu);
    size_t n = dv->pending;
    pthread_mutex_unlock(&dv->mu);
    return n;
}

size_t wg__deliver_wait(struct wg__deliver *dv, int64_t deadline_mono)
{
    pthread_mutex_lock(&dv->mu);
    while (dv->pending > 0 && dv->started && wg_mono_ns() < deadline_mono) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 50 * 1000000;
        if (ts.tv_nsec >= 1000000000) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000;
        }
        pthread_cond_timedwait(&dv->cv, &dv->mu, &ts);
    }
    size_t n = dv->pending;
    pthread_mutex_unlock(&dv->mu);
    return n;
}

void wg__deliver_count_dead(struct wg__deliver *dv, int rcv)
{
    if (rcv >= 0 && (size_t)rcv < dv->nq) {
        pthread_mutex_lock(&dv->mu);
        dv->q[rcv].dead++;
        dv->q[rcv].failures++;
        pthread_mutex_unlock(&dv->mu);
    }
}

void wg__deliver_metrics(struct wg__deliver *dv, struct wg_buf *out)
{
    static const char *const names[] = {"queue_depth",    "in_flight",          "delivered_total",
                                        "failures_total", "dead_letters_total", "retries_total"};
    static const char *const types[] = {"gauge",   "gauge",   "counter",
                                        "counter", "counter", "counter"};
    for (int k = 0; k < 6; k++) {
        wg_buf_addf(out, "# TYPE wavegate_alert_%s %s\n", names[k], types[k]);
        for (size_t i = 0; i < dv->nq; i++) {
            const struct wg__rcvq *q = &dv->q[i];
            /* written by the worker only: atomic loads, maybe a moment stale */
            uint64_t v = k == 0   ? q->depth
                         : k == 1 ? (uint64_t)q->inflight
                         : k == 2 ? q->delivered
                         : k == 3 ? q->failures
                         : k == 4 ? q->dead
                                  : q->retries;
            wg_buf_addf(out, "wavegate_alert_%s{receiver=\"%s\"} %llu\n", names[k],
                        dv->cfg->receivers[i].name, (unsigned long long)v);
        }
    }
    wg_buf_addf(out,
                "# TYPE wavegate_alert_outbox_pending gauge\n"
                "wavegate_alert_outbox_pending %zu\n"
                "# HELP wavegate_alert_outbox_reclaimed_total Outbox rows claimed after the lease "
                "of another replica ran out (it stopped while holding them: sent again, same "
                "key).\n# TYPE wavegate_alert_outbox_reclaimed_total counter\n"
                "wavegate_alert_outbox_reclaimed_total %llu\n"
                "# HELP wavegate_alert_outbox_claims_lost_total Rows held here whose claim "
                "another replica took after the lease ran out.\n"
                "# TYPE wavegate_alert_outbox_claims_lost_total counter\n"
                "wavegate_alert_outbox_claims_lost_total %llu\n",
                wg__deliver_pending(dv), (unsigned long long)atomic_load(&dv->reclaimed),
                (unsigned long long)atomic_load(&dv->claims_lost));
}

void wg__deliver_free(struct wg__deliver *dv)
{
    if (!dv) {
        return;
    }
    if (dv->started) {
        pthread_mutex_lock(&dv->mu);
        dv->stop = 1;
        pthread_mutex_unlock(&dv->mu);
        wg_http_pump_wakeup(dv->pump);
        pthread_join(dv->thr, NULL);
    }
    take_submitted(dv);
    if (dv->shared && dv->db && !dv->active) {
        wg__alerting_release(dv); /* the next leader claims them at once */
    }
    for (size_t i = 0; dv->q && i < dv->nq; i++) {
        struct wg__job *j = dv->q[i].head;
        while (j) {
            struct wg__job *n = j->next;
            wg__job_free(j);
            j = n;
        }
    }
    /* Abandon transfers still in flight (their rows stay in the outbox). */
    wg_http_pump_free(dv->pump);
    while (dv->active) {
        xfer_free(dv, dv->active);
    }
    free(dv->q);
    wg__alerting_ops_clear(dv);
    free(dv->ops);
    wg__db_close(dv->db);
    pthread_cond_destroy(&dv->cv);
    pthread_mutex_destroy(&dv->mu);
    free(dv);
}

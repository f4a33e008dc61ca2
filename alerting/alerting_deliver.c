/* alerting_deliver.c — the delivery worker: one thread driving an HTTP pump (common/http.h:
 * timeouts, no redirects, caps, the CURLcode mapping) over per-receiver queues (in-flight caps,
 * token-bucket rate limits, 429 Retry-After holds). Outcomes are group-committed to the outbox:
 * delivered rows are deleted, retries rescheduled with backoff + jitter, permanent failures
 * kept as dead letters. Jobs of one group are sent in order (resolve never overtakes trigger).
 * On PostgreSQL (one outbox for every replica) only the leader sends, and only rows it claimed
 * in a transaction (FOR UPDATE SKIP LOCKED) with a lease it renews: an attempt starts only
 * while the lease has the receiver's timeout and a margin left, so a row is never in flight
 * from two replicas at once; an expired lease (a replica died) is claimed again and counted.
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
#include <unistd.h>

#define RESP_MAX (64 * 1024)
#define BACKOFF_INITIAL_NS (500 * INT64_C(1000000))
#define BACKOFF_MAX_NS (60 * WG_NS_PER_SEC)
#define RETRY_AFTER_MAX_NS (300 * WG_NS_PER_SEC)
#define GIVE_UP_NS (24 * 3600 * WG_NS_PER_SEC)
#define OPS_MAX 65536                        /* outcomes waiting for a commit */
#define OPS_BATCH 512                        /* commit at once from this many on */
#define OPS_EVERY_NS (20 * INT64_C(1000000)) /* else at most this often while sending */
#define OPS_RETRY_MS 5                       /* poll again this soon when a commit was refused */
#define CKPT_IDLE_MS 50                      /* checkpoint after this long with nothing to send */
/* PostgreSQL claims: the lease is the longest receiver timeout plus LEASE_MARGIN_NS, renewed
 * every RENEW_NS; an attempt starts only with its timeout + START_GUARD_NS of lease left.
 * Rows are claimed CLAIM_BATCH at a time when fewer than CLAIM_LOW are held (so a replica
 * that dies strands few), polled every CLAIM_IDLE_NS when there was nothing to claim. */
#define LEASE_MARGIN_NS (3 * WG_NS_PER_SEC)
#define RENEW_NS WG_NS_PER_SEC
#define START_GUARD_NS (500 * INT64_C(1000000))
#define CLAIM_BATCH 32
#define CLAIM_LOW 16
#define CLAIM_IDLE_NS (200 * INT64_C(1000000))
#define SHARED_POLL_MS 100

/* The counters are written by the delivery worker and read by /metrics' thread
 * (wg__deliver_metrics): atomics, so a read is never a data race (it may be a moment stale). */
struct rcvq {
    struct wg__job *head, *tail;
    _Atomic size_t depth;
    _Atomic int inflight;
    double tokens;
    int64_t refill_mono;
    int64_t hold_until; /* 429: nothing to this receiver before then */
    _Atomic uint64_t delivered, failures, dead, retries;
};

/* One attempt in the pump: the request as a wg_http_job, with the storage it borrows. */
struct xfer {
    struct wg_http_job hj;
    struct wg__job *job;
    char *hbuf;        /* the job's header lines, split in place */
    const char **hdrv; /* hj.headers */
    char ts_line[48], sig_line[200];
    struct xfer *prev, *next; /* active transfers, to abandon them at shutdown */
};

struct dbop {
    int64_t id;
    int kind; /* 0 delete, 1 retry, 2 dead */
    int attempts;
    char *err; /* retry and dead letter only */
};

struct wg__deliver {
    const struct wg_alert_config *cfg;
    struct wg_sql *db;
    int shared;     /* PostgreSQL: claims, leases, leader only */
    int leading;    /* the worker's view of the leadership (shared only) */
    char owner[96]; /* claimed_by of this process (host:pid:random), guarded by mu */
    int64_t lease_ns;
    int64_t renew_at, claim_at; /* mono */
    atomic_ullong reclaimed;    /* rows taken over from an expired lease (a possible resend) */
    atomic_ullong claims_lost;  /* rows whose claim another replica took (dropped here) */
    struct wg_http_pump *pump;
    pthread_t thr;
    int started;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int stop;
    struct wg__job *sub_head, *sub_tail; /* submitted, not yet taken by the worker */
    size_t nsub;
    struct rcvq *q;
    size_t nq;
    size_t pending; /* jobs not yet delivered nor dead, guarded by mu */
    struct dbop *ops;
    size_t nops, capops;
    int64_t ops_at;    /* mono: last outcome commit */
    int ops_err;       /* the last failure to begin or commit one, said once */
    int64_t ops_retry; /* mono: not before, after a failed one (doubling backoff) */
    int64_t ops_backoff;
    atomic_ullong store_errors; /* failed outcome commits (not busy: that is normal) */
    atomic_int degraded;
    int wal_pages;      /* WAL size after this connection's last commit */
    int64_t idle_since; /* mono: nothing in flight since then; 0 while sending */
    struct xfer *active;
};

void wg__job_free(struct wg__job *j)
{
    if (j) {
        wg__req_clear(&j->req);
        free(j);
    }
}

int64_t wg__outbox_insert(struct wg_sql *c, struct wg__deliver *dv, const char *receiver,
                          struct wg__job *j, int64_t now)
{
    const struct wg__deliver_req *req = &j->req;
    int64_t id = -1;
    int shared = wg__db_shared(c);
    char owner[96];
    if (shared) {
        pthread_mutex_lock(&dv->mu);
        snprintf(owner, sizeof(owner), "%s", dv->owner);
        pthread_mutex_unlock(&dv->mu);
    }
    /* Claimed at once by this replica: the lease is counted from before the statement is
     * sent, so it never ends here later than on the server (clock_timestamp()). */
    int64_t t0 = wg_mono_ns();
    struct wg_sql_q *q = wg_sql_query(
        c, shared ? "INSERT INTO outbox(receiver,idem,okey,url,headers,body,created,claimed_by,"
                    "lease_until) VALUES(?,?,?,?,?,?,?,?,clock_timestamp() +"
                    " CAST(? AS BIGINT) * interval '1 millisecond')"
                    " ON CONFLICT DO NOTHING RETURNING id"
                  : "INSERT INTO outbox(receiver,idem,okey,url,headers,body,created)"
                    " VALUES(?,?,?,?,?,?,?)");
    wg_sql_bind_text(q, 1, receiver);
    wg_sql_bind_text(q, 2, req->idem);
    wg_sql_bind_text(q, 3, req->okey);
    wg_sql_bind_text(q, 4, req->url);
    wg_sql_bind_text(q, 5, req->headers);
    wg_sql_bind_text(q, 6, req->body);
    wg_sql_bind_int64(q, 7, now);
    if (shared) {
        wg_sql_bind_text(q, 8, owner);
        wg_sql_bind_int64(q, 9, dv->lease_ns / 1000000);
    }
    int r = wg_sql_step(q);
    if (shared && r == 1) {
        id = wg_sql_col_int64(q, 0);
        j->lease_mono = t0 + dv->lease_ns;
    } else if (shared && r == 0) {
        id = 0; /* pending already (another replica made it): that row is the one sent */
    } else if (!shared && r == 0) {
        id = sqlite3_last_insert_rowid(wg__db_sqlite(c));
    }
    if (r < 0) {
        wg__db_set_error(wg_sql_qerror(q));
    }
    wg_sql_end(q);
    return id;
}

enum wg_err wg__outbox_insert_many(struct wg_sql *c, struct wg__deliver *dv, struct wg__job **head,
                                   struct wg__job ***tail)
{
    struct wg_buf b;
    char owner[96], err[256];
    if (!*head) {
        return WG_OK;
    }
    pthread_mutex_lock(&dv->mu);
    snprintf(owner, sizeof(owner), "%s", dv->owner);
    pthread_mutex_unlock(&dv->mu);
    wg_buf_init(&b, 0);
    wg_buf_adds(&b, "[");
    for (struct wg__job *j = *head; j; j = j->next) {
        wg_buf_adds(&b, j == *head ? "{\"r\":" : ",{\"r\":");
        wg__json_str(&b, dv->cfg->receivers[j->rcv].name);
        wg_buf_adds(&b, ",\"i\":");
        wg__json_str(&b, j->req.idem);
        wg_buf_adds(&b, ",\"o\":");
        wg__json_str(&b, j->req.okey);
        wg_buf_adds(&b, ",\"u\":");
        wg__json_str(&b, j->req.url);
        wg_buf_adds(&b, ",\"h\":");
        wg__json_str(&b, j->req.headers);
        wg_buf_adds(&b, ",\"b\":");
        wg__json_str(&b, j->req.body);
        wg_buf_addf(&b, ",\"c\":%lld}", (long long)j->created);
    }
    wg_buf_adds(&b, "]");
    if (!b.p) {
        return WG_ENOMEM;
    }
    int64_t t0 = wg_mono_ns(); /* the lease counts from before the statement: see insert */
    struct wg_sql_q *q = wg_sql_query(
        c, "INSERT INTO outbox(receiver,idem,okey,url,headers,body,created,claimed_by,"
           "lease_until) SELECT x.r, x.i, x.o, x.u, x.h, x.b, x.c, ?2, clock_timestamp() +"
           " CAST(?3 AS BIGINT) * interval '1 millisecond' FROM json_to_recordset(CAST(?1 AS"
           " json)) AS x(r text, i text, o text, u text, h text, b text, c bigint)"
           " ON CONFLICT DO NOTHING RETURNING id, idem");
    wg_sql_bind_text(q, 1, b.p);
    wg_sql_bind_text(q, 2, owner);
    wg_sql_bind_int64(q, 3, dv->lease_ns / 1000000);
    int r;
    struct wg__job *from = *head; /* rows come back in the order sent, as a rule */
    while ((r = wg_sql_step(q)) == 1) {
        const char *idem = wg_sql_col_text(q, 1);
        struct wg__job *j = from;
        while (j && (j->id != 0 || strcmp(j->req.idem, idem ? idem : "") != 0)) {
            j = j->next;
        }
        for (j = j ? j : *head; j && (j->id != 0 || strcmp(j->req.idem, idem ? idem : ""));) {
            j = j->next; /* not in order: from the start */
        }
        if (j) {
            j->id = wg_sql_col_int64(q, 0);
            j->lease_mono = t0 + dv->lease_ns;
            from = j->next;
        }
    }
    if (r < 0) {
        snprintf(err, sizeof(err), "%s", wg_sql_qerror(q));
    }
    wg_sql_end(q);
    wg_buf_free(&b);
    if (r < 0) {
        wg__db_set_error(err);
        return WG_EIO;
    }
    /* jobs left with id 0: the same notification is pending already (made elsewhere) */
    struct wg__job **pp = head;
    *tail = head;
    while (*pp) {
        struct wg__job *j = *pp;
        if (j->id == 0) {
            *pp = j->next;
            wg__job_free(j);
            continue;
        }
        *tail = &j->next;
        pp = &j->next;
    }
    return WG_OK;
}

static void q_push(struct rcvq *q, struct wg__job *j)
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

static void q_unlink(struct rcvq *q, struct wg__job *j)
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
static int build_headers(struct xfer *x, const struct wg_receiver *r)
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

static void xfer_free(struct wg__deliver *dv, struct xfer *x)
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

static struct xfer *start(struct wg__deliver *dv, const struct wg_receiver *r, struct wg__job *j)
{
    struct xfer *x = calloc(1, sizeof(*x));
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

static void op_add(struct wg__deliver *dv, int64_t id, int kind, int attempts, const char *err)
{
    if (dv->nops >= OPS_MAX) {
        return; /* the row stays as it was: sent again after a restart, never lost */
    }
    if (dv->nops == dv->capops) {
        size_t nc = dv->capops ? dv->capops * 2 : 64;
        struct dbop *nv = realloc(dv->ops, nc * sizeof(*nv));
        if (!nv) {
            return; /* the row stays ready: delivered again after a restart, never lost */
        }
        dv->ops = nv;
        dv->capops = nc;
    }
    struct dbop *o = &dv->ops[dv->nops++];
    o->id = id;
    o->kind = kind;
    o->attempts = attempts;
    o->err = kind ? wg_strndup(err ? err : "", 127) : NULL;
}

static void ops_clear(struct wg__deliver *dv)
{
    for (size_t i = 0; i < dv->nops; i++) {
        free(dv->ops[i].err);
    }
    dv->nops = 0;
}

/* One transaction for the outcomes gathered since the last one (group commit). Outcomes only
 * record progress: a delete that is lost makes the row go out again after a restart, which is
 * at least once. So the worker never waits for the write lock while a tick is writing the
 * outbox (wait=0: try, and keep the outcomes for a later round if the lock is taken), and its
 * connection commits at synchronous=NORMAL (wg__deliver_new). */
/* A failed record of outcomes (not a busy lock): counted, said once per change, retried after
 * a doubling backoff (not every OPS_RETRY_MS: a full disk would be hammered and the log
 * flooded). */
static void ops_failed(struct wg__deliver *dv, int rc, const char *what)
{
    if (rc != dv->ops_err) {
        wg_log(WG_LOG_ERROR, "alerting: cannot record delivery outcomes (%s): %s; kept for later",
               what, wg__db_errmsg(dv->db));
    }
    dv->ops_err = rc;
    atomic_fetch_add(&dv->store_errors, 1);
    atomic_store(&dv->degraded, 1);
    dv->ops_backoff = dv->ops_backoff ? dv->ops_backoff * 2 : 10 * INT64_C(1000000);
    if (dv->ops_backoff > 2 * WG_NS_PER_SEC) {
        dv->ops_backoff = 2 * WG_NS_PER_SEC;
    }
    dv->ops_retry = wg_mono_ns() + dv->ops_backoff;
}

/* The outcomes in the open transaction. PostgreSQL: deliveries in one statement (an array
 * of ids), only rows still claimed by this replica (a lost claim is another's to send). */
static int ops_write(struct wg__deliver *dv)
{
    struct wg_buf ids;
    char owner[96];
    int rc = SQLITE_OK;
    wg_buf_init(&ids, 0);
    wg_buf_adds(&ids, "{");
    pthread_mutex_lock(&dv->mu);
    snprintf(owner, sizeof(owner), "%s", dv->owner);
    pthread_mutex_unlock(&dv->mu);
    for (size_t i = 0; i < dv->nops && rc == SQLITE_OK; i++) {
        struct dbop *o = &dv->ops[i];
        struct wg_sql_q *q;
        if (o->kind == 0 && dv->shared) {
            wg_buf_addf(&ids, "%s%lld", ids.len > 1 ? "," : "", (long long)o->id);
            continue;
        }
        if (o->kind == 0) {
            q = wg_sql_query(dv->db, "DELETE FROM outbox WHERE id=?");
            wg_sql_bind_int64(q, 1, o->id);
        } else {
            q = wg_sql_query(dv->db,
                             dv->shared && o->kind == 2
                                 ? "UPDATE outbox SET attempts=?,state=?,last_error=?,"
                                   "claimed_by=NULL,lease_until=NULL WHERE id=?"
                                 : "UPDATE outbox SET attempts=?,state=?,last_error=? WHERE id=?");
            wg_sql_bind_int64(q, 1, o->attempts);
            wg_sql_bind_int64(q, 2, o->kind == 2 ? 1 : 0);
            wg_sql_bind_text(q, 3, o->err ? o->err : "");
            wg_sql_bind_int64(q, 4, o->id);
        }
        char err[256];
        if (wg_sql_run(q, err, sizeof(err)) != WG_OK) {
            wg__db_set_error(err);
            rc = SQLITE_ERROR;
        }
        wg_sql_end(q);
    }
    if (rc == SQLITE_OK && ids.len > 1) {
        wg_buf_adds(&ids, "}");
        struct wg_sql_q *q = wg_sql_query(dv->db, "DELETE FROM outbox WHERE claimed_by=? AND"
                                                  " id = ANY(CAST(? AS BIGINT[]))");
        wg_sql_bind_text(q, 1, owner);
        wg_sql_bind_text(q, 2, ids.p);
        char err[256];
        if (wg_sql_run(q, err, sizeof(err)) != WG_OK) {
            wg__db_set_error(err);
            rc = SQLITE_ERROR;
        }
        wg_sql_end(q);
    }
    wg_buf_free(&ids);
    return rc;
}

static void ops_commit(struct wg__deliver *dv, int wait)
{
    if (!dv->nops || !dv->db) {
        ops_clear(dv);
        return;
    }
    if (!wait && dv->ops_retry && wg_mono_ns() < dv->ops_retry) {
        return;
    }
    wg__db_busy_wait(dv->db, wait);
    int rc = wg__db_begin(dv->db);
    if (rc != SQLITE_OK) {
        /* Busy is the normal case during a tick; anything else is counted and backs off. */
        if (wait || (rc & 0xff) != SQLITE_BUSY) {
            ops_failed(dv, rc, "begin");
        }
        return;
    }
    dv->ops_at = wg_mono_ns();
    rc = ops_write(dv);
    if (rc != SQLITE_OK || (rc = wg__db_commit(dv->db)) != SQLITE_OK) {
        wg__db_rollback(dv->db);
        ops_failed(dv, rc ? rc : SQLITE_ERROR, "commit");
        return; /* kept for the next round */
    }
    if (dv->ops_err != SQLITE_OK) {
        wg_log(WG_LOG_WARN, "alerting: delivery outcomes recorded again");
    }
    dv->ops_err = SQLITE_OK;
    dv->ops_retry = dv->ops_backoff = 0;
    atomic_store(&dv->degraded, 0);
    ops_clear(dv);
}

uint64_t wg__deliver_store_errors(const struct wg__deliver *dv)
{
    return dv ? atomic_load(&((struct wg__deliver *)dv)->store_errors) : 0;
}

int wg__deliver_degraded(const struct wg__deliver *dv)
{
    return dv ? atomic_load(&((struct wg__deliver *)dv)->degraded) : 0;
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
    struct xfer *x = (struct xfer *)(void *)((char *)hj - offsetof(struct xfer, hj));
    char err[200];
    struct wg__job *j = x->job;
    struct rcvq *q = &dv->q[j->rcv];
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
        op_add(dv, j->id, 0, j->attempts, NULL);
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
        op_add(dv, j->id, 1, j->attempts, err);
    } else {
        if (o == OUT_DEAD) {
            q->dead++;
            op_add(dv, j->id, 2, j->attempts, err);
        }
        q_unlink(q, j);
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
        struct rcvq *q = &dv->q[ri];
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
            struct xfer *x = start(dv, r, j);
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
        q_push(&dv->q[j->rcv], j);
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

/* ---- PostgreSQL: claims, leases, leadership ----------------------------------------------- */

static int rcv_index(const struct wg_alert_config *cfg, const char *name);

static size_t held(const struct wg__deliver *dv)
{
    size_t n = 0;
    for (size_t i = 0; i < dv->nq; i++) {
        n += dv->q[i].depth;
    }
    return n;
}

static struct wg__job *find_job(struct wg__deliver *dv, int64_t id)
{
    for (size_t i = 0; i < dv->nq; i++) {
        for (struct wg__job *j = dv->q[i].head; j; j = j->next) {
            if (j->id == id) {
                return j;
            }
        }
    }
    return NULL;
}

static int cmp_id(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

/* Drop a queued job from this replica (its claim is gone or given back). */
static void drop_job(struct wg__deliver *dv, struct rcvq *q, struct wg__job *j)
{
    q_unlink(q, j);
    pthread_mutex_lock(&dv->mu);
    dv->pending--;
    pthread_mutex_unlock(&dv->mu);
    wg__job_free(j);
}

/* Extend the lease of every row held here; a row the server no longer shows as ours (its lease
 * ran out and another replica claimed it) is dropped unless in flight. */
static void renew(struct wg__deliver *dv, int64_t now)
{
    dv->renew_at = now + RENEW_NS;
    size_t n = held(dv);
    if (!n) {
        return;
    }
    struct wg_buf ids;
    wg_buf_init(&ids, 0);
    wg_buf_adds(&ids, "{");
    for (size_t i = 0; i < dv->nq; i++) {
        for (struct wg__job *j = dv->q[i].head; j; j = j->next) {
            wg_buf_addf(&ids, "%s%lld", ids.len > 1 ? "," : "", (long long)j->id);
        }
    }
    wg_buf_adds(&ids, "}");
    int64_t *got = calloc(n, sizeof(*got));
    size_t ngot = 0;
    int64_t t0 = wg_mono_ns();
    struct wg_sql_q *q = wg_sql_query(
        dv->db, "UPDATE outbox SET lease_until = clock_timestamp() + CAST(?2 AS BIGINT) *"
                " interval '1 millisecond' WHERE claimed_by = ?1 AND state = 0 AND"
                " id = ANY(CAST(?3 AS BIGINT[])) RETURNING id");
    wg_sql_bind_text(q, 1, dv->owner);
    wg_sql_bind_int64(q, 2, dv->lease_ns / 1000000);
    wg_sql_bind_text(q, 3, ids.p ? ids.p : "{}");
    int r;
    while (got && (r = wg_sql_step(q)) == 1) {
        if (ngot < n) {
            got[ngot++] = wg_sql_col_int64(q, 0);
        }
    }
    if (!got || r < 0) { /* leases keep running down: attempts stop before they end */
        wg_log(WG_LOG_WARN, "alerting: cannot renew the outbox claims: %s", wg_sql_qerror(q));
        wg_sql_end(q);
        wg_buf_free(&ids);
        free(got);
        return;
    }
    wg_sql_end(q);
    wg_buf_free(&ids);
    qsort(got, ngot, sizeof(*got), cmp_id);
    for (size_t i = 0; i < dv->nq; i++) {
        struct rcvq *rq = &dv->q[i];
        for (struct wg__job *j = rq->head, *nx; j; j = nx) {
            nx = j->next;
            if (bsearch(&j->id, got, ngot, sizeof(*got), cmp_id)) {
                j->lease_mono = t0 + dv->lease_ns;
            } else if (!j->inflight) {
                atomic_fetch_add(&dv->claims_lost, 1);
                wg_log(WG_LOG_WARN, "alerting: outbox row %lld: claimed by another replica",
                       (long long)j->id);
                drop_job(dv, rq, j);
            }
        }
    }
    free(got);
}

/* Claim rows nobody holds (or whose lease ran out: a replica died with them) when few are
 * held here. FOR UPDATE SKIP LOCKED: two replicas claiming at once take different rows. */
/* A job from an outbox row selected as id, receiver, idem, okey, url, headers, body, attempts
 * (the claim's and the restore's queries), for receiver index ri; NULL out of memory. */
static struct wg__job *job_from_row(struct wg_sql_q *q, int ri)
{
    struct wg__job *j = calloc(1, sizeof(*j));
    if (!j) {
        return NULL;
    }
    j->id = wg_sql_col_int64(q, 0);
    j->rcv = ri;
    const char *idem = wg_sql_col_text(q, 2), *okey = wg_sql_col_text(q, 3);
    snprintf(j->req.idem, sizeof(j->req.idem), "%s", idem ? idem : "");
    snprintf(j->req.okey, sizeof(j->req.okey), "%s", okey ? okey : "");
    j->req.url = wg_strdup(wg_sql_col_text(q, 4));
    j->req.headers = wg_strdup(wg_sql_col_text(q, 5));
    j->req.body = wg_strdup(wg_sql_col_text(q, 6));
    j->attempts = (int)wg_sql_col_int64(q, 7);
    if (!j->req.url || !j->req.headers || !j->req.body) {
        wg__job_free(j);
        return NULL;
    }
    return j;
}

static void claim(struct wg__deliver *dv, int64_t now)
{
    if (now < dv->claim_at || held(dv) >= CLAIM_LOW) {
        return;
    }
    int64_t t0 = wg_mono_ns();
    struct wg_sql_q *q = wg_sql_query(
        dv->db, "UPDATE outbox o SET claimed_by = ?1,"
                " lease_until = clock_timestamp() + CAST(?2 AS BIGINT) * interval '1 millisecond',"
                " resends = o.resends + CASE WHEN s.prev IS NULL THEN 0 ELSE 1 END"
                " FROM (SELECT id, claimed_by AS prev FROM outbox WHERE state = 0 AND"
                " (claimed_by IS NULL OR lease_until < clock_timestamp())"
                " ORDER BY id LIMIT CAST(?3 AS INTEGER) FOR UPDATE SKIP LOCKED) s WHERE o.id = s.id"
                " RETURNING o.id, o.receiver, o.idem, o.okey, o.url, o.headers, o.body, o.attempts,"
                " s.prev IS NOT NULL");
    wg_sql_bind_text(q, 1, dv->owner);
    wg_sql_bind_int64(q, 2, dv->lease_ns / 1000000);
    wg_sql_bind_int64(q, 3, CLAIM_BATCH);
    int r, n = 0, again = 0;
    while ((r = wg_sql_step(q)) == 1) {
        n++;
        struct wg__job *mine = find_job(dv, wg_sql_col_int64(q, 0));
        if (mine) { /* held here already, its renewal failed: the claim is ours again */
            mine->lease_mono = t0 + dv->lease_ns;
            continue;
        }
        int ri = rcv_index(dv->cfg, wg_sql_col_text(q, 1));
        if (ri < 0) {
            wg_log(WG_LOG_ERROR, "alerting: outbox row %lld: receiver '%s' no longer configured",
                   (long long)wg_sql_col_int64(q, 0), wg_sql_col_text(q, 1));
            continue; /* its lease runs out: a replica that knows the receiver takes it */
        }
        struct wg__job *j = job_from_row(q, ri);
        if (!j) {
            continue; /* the same: claimed again after its lease */
        }
        j->lease_mono = t0 + dv->lease_ns;
        if (wg_sql_col_int64(q, 8)) { /* held by a replica (or an earlier leadership here) */
            atomic_fetch_add(&dv->reclaimed, 1);
            again++;
        }
        pthread_mutex_lock(&dv->mu);
        dv->pending++;
        pthread_mutex_unlock(&dv->mu);
        q_push(&dv->q[ri], j);
    }
    if (r < 0) {
        wg_log(WG_LOG_WARN, "alerting: cannot claim outbox rows: %s", wg_sql_qerror(q));
    }
    if (again) {
        wg_log(WG_LOG_WARN,
               "alerting: %d outbox row(s) claimed after their lease ran out (a replica "
               "stopped while holding them): sent again with the same keys",
               again);
    }
    wg_sql_end(q);
    dv->claim_at = r < 0 || n < CLAIM_BATCH ? now + CLAIM_IDLE_NS : 0;
}

/* Give back the rows held here (not leading, or shutting down): another replica claims them
 * at once, without waiting for the leases. Only with no attempt in flight. */
static void release(struct wg__deliver *dv)
{
    if (held(dv) == 0) {
        return;
    }
    char err[256];
    struct wg_sql_q *q = wg_sql_query(dv->db, "UPDATE outbox SET claimed_by = NULL,"
                                              " lease_until = NULL WHERE claimed_by = ?");
    wg_sql_bind_text(q, 1, dv->owner);
    if (wg_sql_run(q, err, sizeof(err)) != WG_OK) {
        wg_log(WG_LOG_WARN,
               "alerting: cannot give back the outbox claims (%s): their leases "
               "run out instead",
               err);
    }
    wg_sql_end(q);
    for (size_t i = 0; i < dv->nq; i++) {
        while (dv->q[i].head) {
            drop_job(dv, &dv->q[i], dv->q[i].head);
        }
    }
}

static void new_owner(struct wg__deliver *dv)
{
    char host[64] = "";
    unsigned r = 0;
    if (gethostname(host, sizeof(host) - 1) != 0) {
        snprintf(host, sizeof(host), "host");
    }
    RAND_bytes((unsigned char *)&r, sizeof(r));
    pthread_mutex_lock(&dv->mu);
    snprintf(dv->owner, sizeof(dv->owner), "%s:%ld:%08x", host, (long)getpid(), r);
    pthread_mutex_unlock(&dv->mu);
}

/* One turn of the shared outbox: returns 1 when this replica may send. */
static int shared_turn(struct wg__deliver *dv, int64_t now)
{
    int lead = wg__alerting_leader();
    if (lead && !dv->leading) {
        dv->leading = 1;
        dv->claim_at = 0;
        dv->renew_at = now + RENEW_NS;
    } else if (!lead && dv->leading) {
        dv->leading = 0;
    }
    if (!lead) {
        if (!dv->active) {
            ops_commit(dv, 1); /* outcomes first: a delivered row given back goes out twice */
            if (!dv->nops) {
                release(dv);
            }
        }
        return 0;
    }
    if (now >= dv->renew_at) {
        renew(dv, now);
    }
    claim(dv, now);
    return 1;
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
        if (!dv->shared || shared_turn(dv, now)) {
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
            ops_commit(dv, 0);
        }
        idle_checkpoint(dv, wg_mono_ns());
        pthread_mutex_lock(&dv->mu);
        pthread_cond_broadcast(&dv->cv);
        pthread_mutex_unlock(&dv->mu);
    }
    ops_commit(dv, 1);
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
    new_owner(dv);
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

static int rcv_index(const struct wg_alert_config *cfg, const char *name)
{
    for (size_t i = 0; name && i < cfg->nreceivers; i++) {
        if (strcmp(cfg->receivers[i].name, name) == 0) {
            return (int)i;
        }
    }
    return -1;
}

enum wg_err wg__deliver_load(struct wg__deliver *dv)
{
    if (dv->shared) {
        return WG_OK; /* rows are claimed by the leader's worker, a few at a time */
    }
    struct wg__job *head = NULL, **tail = &head;
    enum wg_err rc = WG_OK;
    int r;
    struct wg_sql_q *q = wg_sql_query(dv->db, "SELECT id,receiver,idem,okey,url,headers,body,"
                                              "attempts FROM outbox WHERE state=0 ORDER BY id");
    while ((r = wg_sql_step(q)) == 1) {
        int ri = rcv_index(dv->cfg, wg_sql_col_text(q, 1));
        if (ri < 0) {
            wg_log(WG_LOG_ERROR, "alerting: outbox row %lld: receiver '%s' no longer configured",
                   (long long)wg_sql_col_int64(q, 0), wg_sql_col_text(q, 1));
            continue;
        }
        struct wg__job *j = job_from_row(q, ri);
        if (!j) {
            rc = WG_ENOMEM;
            break;
        }
        *tail = j;
        tail = &j->next;
    }
    if (r < 0) {
        rc = WG_EIO;
    }
    wg_sql_end(q);
    wg__deliver_submit(dv, head);
    return rc;
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
            const struct rcvq *q = &dv->q[i];
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
        release(dv); /* the next leader claims them at once */
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
    ops_clear(dv);
    free(dv->ops);
    wg__db_close(dv->db);
    pthread_cond_destroy(&dv->cv);
    pthread_mutex_destroy(&dv->mu);
    free(dv);
}

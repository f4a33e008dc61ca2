/* alerting_outbox.c — the delivery worker's outbox, its store side: rows inserted by a tick
 * (claimed at once on PostgreSQL), outcomes group-committed (delivered rows deleted, retries
 * rescheduled with backoff + jitter, permanent failures kept as dead letters), pending rows
 * restored after a restart. On PostgreSQL (one outbox for every replica) the leader claims rows
 * in a transaction (FOR UPDATE SKIP LOCKED) with a lease it renews; an expired lease (a replica
 * died) is claimed again and counted. The worker and its transfers: alerting_deliver.c.
 */
#include "alerting/alerting_int.h"

#include "common/store.h"

#include <openssl/rand.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define OPS_MAX 65536 /* outcomes waiting for a commit */
/* PostgreSQL claims: the lease (alerting_deliver.c) is renewed every RENEW_NS. Rows are claimed
 * CLAIM_BATCH at a time when fewer than CLAIM_LOW are held (so a replica that dies strands
 * few), polled every CLAIM_IDLE_NS when there was nothing to claim. */
#define RENEW_NS WG_NS_PER_SEC
#define CLAIM_BATCH 32
#define CLAIM_LOW 16
#define CLAIM_IDLE_NS (200 * INT64_C(1000000))

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
        wg_buf_add_json(&b, dv->cfg->receivers[j->rcv].name);
        wg_buf_adds(&b, ",\"i\":");
        wg_buf_add_json(&b, j->req.idem);
        wg_buf_adds(&b, ",\"o\":");
        wg_buf_add_json(&b, j->req.okey);
        wg_buf_adds(&b, ",\"u\":");
        wg_buf_add_json(&b, j->req.url);
        wg_buf_adds(&b, ",\"h\":");
        wg_buf_add_json(&b, j->req.headers);
        wg_buf_adds(&b, ",\"b\":");
        wg_buf_add_json(&b, j->req.body);
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

void wg__alerting_op_add(struct wg__deliver *dv, int64_t id, int kind, int attempts,
                         const char *err)
{
    if (dv->nops >= OPS_MAX) {
        return; /* the row stays as it was: sent again after a restart, never lost */
    }
    if (dv->nops == dv->capops) {
        size_t nc = dv->capops ? dv->capops * 2 : 64;
        struct wg__dbop *nv = realloc(dv->ops, nc * sizeof(*nv));
        if (!nv) {
            return; /* the row stays ready: delivered again after a restart, never lost */
        }
        dv->ops = nv;
        dv->capops = nc;
    }
    struct wg__dbop *o = &dv->ops[dv->nops++];
    o->id = id;
    o->kind = kind;
    o->attempts = attempts;
    o->err = kind ? wg_strndup(err ? err : "", 127) : NULL;
}

void wg__alerting_ops_clear(struct wg__deliver *dv)
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
        struct wg__dbop *o = &dv->ops[i];
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

void wg__alerting_ops_commit(struct wg__deliver *dv, int wait)
{
    if (!dv->nops || !dv->db) {
        wg__alerting_ops_clear(dv);
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
    wg__alerting_ops_clear(dv);
}

uint64_t wg__deliver_store_errors(const struct wg__deliver *dv)
{
    return dv ? atomic_load(&((struct wg__deliver *)dv)->store_errors) : 0;
}

int wg__deliver_degraded(const struct wg__deliver *dv)
{
    return dv ? atomic_load(&((struct wg__deliver *)dv)->degraded) : 0;
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
static void drop_job(struct wg__deliver *dv, struct wg__rcvq *q, struct wg__job *j)
{
    wg__alerting_q_unlink(q, j);
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
        struct wg__rcvq *rq = &dv->q[i];
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
        wg__alerting_q_push(&dv->q[ri], j);
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
void wg__alerting_release(struct wg__deliver *dv)
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

void wg__alerting_new_owner(struct wg__deliver *dv)
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
int wg__alerting_shared_turn(struct wg__deliver *dv, int64_t now)
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
            /* outcomes first: a delivered row given back goes out twice */
            wg__alerting_ops_commit(dv, 1);
            if (!dv->nops) {
                wg__alerting_release(dv);
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

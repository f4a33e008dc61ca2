/* collector_write.c — the batching writers of line protocol (collector_lp.c builds and posts
 * it): from their own threads, so a caller (a gate answer) never waits on InfluxDB; the
 * durable one keeps the lines in a store (events.db's markers) until InfluxDB took them.
 */
#include "collector/collector.h"
#include "collector/collector_int.h"
#include "common/http.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- the batching writer -------------------------------------------------------------------- */

struct wg_lp_writer {
    const struct wg_source *src; /* borrowed */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t th;
    int stop;
    struct wg_buf queue; /* lines waiting */
    int64_t first_ns;    /* mono time the oldest waiting line came (0: none waiting) */
    size_t max_batch;    /* sent at once when this much waits */
    size_t backlog;      /* ... or this much after a write: a burst is not held back */
    int64_t last_ns;     /* mono time of the newest line (a burst's tail: none came since) */
    int64_t flush_ns;    /* no line waits longer than this */
    atomic_ullong written, dropped, failed, batches;
    /* durable (wg_lp_writer_new_store): the lines go through st, sent from there */
    struct wg_lp_store st;
    int durable;
    unsigned long long max_backlog; /* lines kept at most; over it the oldest are dropped */
    atomic_ullong stored;           /* lines in the store, not answered yet */
    atomic_ullong retries;          /* failed attempts retried later */
    atomic_ullong sbytes;           /* their bytes (a send is due past burst) */
    int64_t sfirst_ns;              /* mono time the store stopped being empty (0: empty) */
    size_t burst;                   /* this much stored or queued: a burst, sent at once */
    /* Two threads: th persists the queue into the store (never waits on the network), sth
     * sends from the store. mu guards the queue, stop, pdone and sfirst_ns; cv wakes th, scv
     * sth. smu is held by sth for a whole batch (peek, POST, delete) and by a trim: the rows
     * being sent are not trimmed under it (th only try-locks it, the sender trims after). */
    pthread_t sth;
    pthread_cond_t scv;
    pthread_mutex_t smu;
    int pdone;      /* th has stored what was queued at stop and exited */
    int persisting; /* th is storing lines it took from the queue */
    /* Answered batches whose rows are not deleted yet (under smu): their delete is folded into
     * the next ones' while a backlog drains (one commit and fsync for up to FOLD_BATCHES). They
     * are the oldest rows stored: the next peek reads them again and skips pend_bytes. */
    long long pend_last;
    unsigned long long pend_n;
    size_t pend_bytes;
    int pend_batches;
    atomic_ullong put_begun, put_done; /* puts started and finished (put_counted) */
};

#define TAIL_NS (WG_NS_PER_SEC / 500) /* 2 ms without a line: a burst is over */
/* lines that came within this of a write's end are still its burst's tail (the producer may
 * have been off the CPU meanwhile: test_burst saw the rest of a burst held for the interval) */
#define AFTER_WRITE_NS (WG_NS_PER_SEC / 50)

/* What is queued came during the last write or right after it (wrote_ns its end, 0: none). */
static int burst_tail(const struct wg_lp_writer *w, int64_t wrote_ns)
{
    return wrote_ns && w->queue.len && w->first_ns <= wrote_ns + AFTER_WRITE_NS;
}

static void *writer_main(void *arg)
{
    struct wg_lp_writer *w = arg;
    struct wg_http *h = wg_http_new();
    int64_t wrote_ns = 0; /* the last turn posted a batch, ending then */
    pthread_mutex_lock(&w->mu);
    for (;;) {
        /* Wait while what is queued is small and young: until max_batch bytes wait, the oldest
         * line is flush_ns old, or (right after a write, lines having come meanwhile) a backlog
         * worth a batch waits or no line came for 2 ms (the burst's tail): a burst goes out
         * back to back, a trickle is still batched. */
        while (!w->stop && w->queue.len < w->max_batch &&
               !(burst_tail(w, wrote_ns) &&
                 (w->queue.len >= w->backlog || wg_mono_ns() >= w->last_ns + TAIL_NS))) {
            int64_t due = w->queue.len ? w->first_ns + w->flush_ns : wg_mono_ns() + w->flush_ns;
            if (burst_tail(w, wrote_ns) && w->last_ns + TAIL_NS < due) {
                due = w->last_ns + TAIL_NS;
            }
            int64_t left = due - wg_mono_ns();
            if (left <= 0) {
                break;
            }
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            int64_t t = (int64_t)ts.tv_sec * WG_NS_PER_SEC + ts.tv_nsec + left;
            ts.tv_sec = (time_t)(t / WG_NS_PER_SEC);
            ts.tv_nsec = (long)(t % WG_NS_PER_SEC);
            (void)pthread_cond_timedwait(&w->cv, &w->mu, &ts); /* add wakes us at a first line */
        }
        wrote_ns = 0;
        if (!w->queue.len) {
            if (w->stop) {
                break;
            }
            continue;
        }
        struct wg_buf batch = w->queue;
        wg_buf_init(&w->queue, batch.max);
        w->first_ns = 0;
        pthread_mutex_unlock(&w->mu);
        char err[1024] = "";
        unsigned long long lines = 0;
        for (size_t i = 0; i < batch.len; i++) {
            lines += batch.p[i] == '\n';
        }
        if (!h || wg_lp_write(h, w->src, batch.p, batch.len, 3, err, sizeof(err)) != WG_OK) {
            atomic_fetch_add(&w->failed, lines);
            wg_log(WG_LOG_ERROR, "markers: %llu lines not written: %s", lines,
                   h ? err : "out of memory");
        } else {
            atomic_fetch_add(&w->written, lines);
            atomic_fetch_add(&w->batches, 1);
        }
        wg_buf_free(&batch);
        pthread_mutex_lock(&w->mu);
        wrote_ns = wg_mono_ns();
    }
    pthread_mutex_unlock(&w->mu);
    wg_http_free(h);
    return NULL;
}

enum wg_err wg_lp_writer_new(const struct wg_source *src, size_t max_queue, int64_t flush_ns,
                             struct wg_lp_writer **out)
{
    *out = NULL;
    struct wg_lp_writer *w = calloc(1, sizeof(*w));
    if (!w) {
        return WG_ENOMEM;
    }
    w->src = src;
    w->flush_ns = flush_ns > 0 ? flush_ns : WG_NS_PER_SEC / 5;
    w->max_batch = 1 << 20; /* 1 MiB of lines per POST (InfluxDB's default cap is 25 MB) */
    w->backlog = 64 * 1024; /* some 400 rule rows */
    wg_buf_init(&w->queue, max_queue ? max_queue : 64u << 20);
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    if (pthread_create(&w->th, NULL, writer_main, w) != 0) {
        pthread_mutex_destroy(&w->mu);
        pthread_cond_destroy(&w->cv);
        free(w);
        return WG_ENOMEM;
    }
    *out = w;
    return WG_OK;
}

static unsigned long long count_lines(const char *lines, size_t len)
{
    unsigned long long n = 0;
    for (size_t i = 0; i < len; i++) {
        n += lines[i] == '\n';
    }
    return n;
}

enum wg_err wg_lp_writer_add(struct wg_lp_writer *w, const char *lines, size_t len)
{
    unsigned long long n = 0;
    for (size_t i = 0; i < len; i++) {
        n += lines[i] == '\n';
    }
    pthread_mutex_lock(&w->mu);
    size_t before = w->queue.len;
    enum wg_err rc = wg_buf_add(&w->queue, lines, len);
    if (rc == WG_OK) {
        w->last_ns = wg_mono_ns();
        w->first_ns = before ? w->first_ns : w->last_ns;
    }
    if (rc != WG_OK) {
        /* Full: these lines are dropped (counted), the queue stays whole and usable. */
        w->queue.len = before;
        w->queue.err = WG_OK;
        atomic_fetch_add(&w->dropped, n);
    } else if (!before || w->queue.len >= w->max_batch ||
               (w->durable && before < w->burst && w->queue.len >= w->burst)) {
        /* a first line (durable: stored within 2 ms; else a burst's tail goes soon), a full
         * batch, a burst (durable: stored at once) */
        pthread_cond_signal(&w->cv);
    }
    pthread_mutex_unlock(&w->mu);
    return rc;
}

void wg_lp_writer_stats(struct wg_lp_writer *w, unsigned long long *written,
                        unsigned long long *failed, unsigned long long *dropped)
{
    *written = w ? atomic_load(&w->written) : 0;
    *failed = w ? atomic_load(&w->failed) : 0;
    *dropped = w ? atomic_load(&w->dropped) : 0;
}

void wg_lp_writer_free(struct wg_lp_writer *w)
{
    unsigned long long a, b, c;
    wg_lp_writer_free_stats(w, &a, &b, &c);
}

void wg_lp_writer_free_stats(struct wg_lp_writer *w, unsigned long long *written,
                             unsigned long long *failed, unsigned long long *dropped)
{
    *written = *failed = *dropped = 0;
    if (!w) {
        return;
    }
    pthread_mutex_lock(&w->mu);
    w->stop = 1;
    pthread_cond_broadcast(&w->cv);
    if (w->durable) {
        pthread_cond_broadcast(&w->scv);
    }
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->th, NULL);
    if (w->durable) {
        pthread_join(w->sth, NULL);
        pthread_mutex_destroy(&w->smu);
        pthread_cond_destroy(&w->scv);
    }
    wg_lp_writer_stats(w, written, failed, dropped);
    wg_buf_free(&w->queue);
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->cv);
    free(w);
}

/* ---- the durable writer: the lines kept in a store until InfluxDB took them ---------------- */

/* Rows stored of at most ROW_MAX bytes, and a burst sent at once from about as much stored:
 * the first POST of a burst goes out after some 1 ms (the rest is stored meanwhile), and a
 * small first request is cheaper for InfluxDB 1.x too (into a fresh database, 256 KiB then
 * 1 MiB batches: 40-45 ms; one 1.4 MB request: 50-55 ms; 1 MiB first: 51 ms). FOLD_BATCHES
 * answered batches share one delete while a backlog drains, as long as what the next peek
 * reads again stays within FOLD_BYTES (a delete is a commit with an fsync, some 3-4 ms here;
 * reading 1 MiB again about 1 ms). bench/bench_events.sh part 2 has the figures. */
#define ROW_MAX (256u << 10)
#define FOLD_BATCHES 4
#define FOLD_BYTES (2u << 20)

/* *a -= v, not below 0 (the writer threads and add_stored change it at the same time). */
static void sub_sat(atomic_ullong *a, unsigned long long v)
{
    unsigned long long cur = atomic_load(a);
    while (!atomic_compare_exchange_weak(a, &cur, cur > v ? cur - v : 0)) {
    }
}

/* One row into the store, counted before (the sender may send it as soon as it is committed)
 * and between put_begun and put_done: the sender takes "nothing stored" for the truth only
 * when no put was under way across its peek. */
static enum wg_err put_counted(struct wg_lp_writer *w, const char *lines, size_t len,
                               unsigned long long n)
{
    atomic_fetch_add(&w->put_begun, 1);
    atomic_fetch_add(&w->stored, n);
    atomic_fetch_add(&w->sbytes, len);
    enum wg_err rc = w->st.put(w->st.ctx, lines, len, n);
    if (rc != WG_OK) {
        sub_sat(&w->stored, n);
        sub_sat(&w->sbytes, len);
        atomic_fetch_add(&w->dropped, n);
    }
    atomic_fetch_add(&w->put_done, 1);
    return rc;
}

/* Lines of the in-memory queue into the store (th, mu not held), in rows of at most ROW_MAX
 * bytes cut at a line's end (a row is never more than a batch); the sender is woken after
 * each. */
static void persist(struct wg_lp_writer *w, struct wg_buf *lines)
{
    for (size_t at = 0; at < lines->len;) {
        size_t len = lines->len - at;
        if (len > ROW_MAX) {
            const char *nl = memrchr(lines->p + at, '\n', ROW_MAX);
            len = nl ? (size_t)(nl - (lines->p + at)) + 1 : len;
        }
        const char *p = lines->p + at;
        at += len;
        unsigned long long n = count_lines(p, len);
        enum wg_err rc = put_counted(w, p, len, n);
        if (rc != WG_OK) {
            wg_log(WG_LOG_ERROR, "markers: %llu lines not stored: %s", n, wg_strerror(rc));
            continue;
        }
        pthread_mutex_lock(&w->mu);
        pthread_cond_signal(&w->scv);
        pthread_mutex_unlock(&w->mu);
    }
}

/* The answered batches' rows deleted (smu held). 0 done (or none), -1 the store failed: they
 * stay pending (already counted, not sent again by this writer), tried again later. */
static int flush_pending(struct wg_lp_writer *w)
{
    if (!w->pend_batches) {
        return 0;
    }
    if (w->st.del(w->st.ctx, w->pend_last) != WG_OK) {
        wg_log(WG_LOG_ERROR,
               "markers: store delete failed (%llu lines written may be sent again "
               "after a restart), tried again later",
               w->pend_n);
        return -1;
    }
    w->pend_last = 0;
    w->pend_n = 0;
    w->pend_bytes = 0;
    w->pend_batches = 0;
    return 0;
}

/* The oldest rows dropped past max_backlog (smu held). The answered rows are deleted first:
 * the store's trim counts every row it keeps, and those are written already. */
static void trim_locked(struct wg_lp_writer *w)
{
    if (atomic_load(&w->stored) <= w->max_backlog || flush_pending(w) != 0) {
        return;
    }
    unsigned long long lines = 0, bytes = 0;
    if (w->st.trim(w->st.ctx, w->max_backlog, &lines, &bytes) == WG_OK && lines) {
        sub_sat(&w->stored, lines);
        sub_sat(&w->sbytes, bytes);
        atomic_fetch_add(&w->dropped, lines);
        wg_log(WG_LOG_ERROR,
               "markers: backlog over events.write_backlog (%llu lines): the oldest %llu lines "
               "dropped",
               w->max_backlog, lines);
    }
}

/* The answered rows are to be deleted before the next peek: as many batches as one delete
 * covers, or as much as the peek would read again. */
static int fold_full(const struct wg_lp_writer *w)
{
    return w->pend_batches >= FOLD_BATCHES || w->pend_bytes > FOLD_BYTES;
}

/* One batch from the store to InfluxDB (smu held). Returns 1 when it went (2xx, or refused for
 * good), 0 when it is to be retried (*wait_ns the Retry-After, 0: none said), -1 when nothing
 * is stored (the count zeroed unless a put was under way). */
static int send_one(struct wg_lp_writer *w, struct wg_http *h, int64_t *wait_ns)
{
    struct wg_buf batch;
    wg_buf_init(&batch, 64u << 20);
    long long last = 0;
    unsigned long long n = 0;
    int ret = 0;
    *wait_ns = 0;
    unsigned long long begun = atomic_load(&w->put_begun);
    int quiet = atomic_load(&w->put_done) == begun; /* no put under way as the peek starts */
    /* a delete that failed after the last answer is tried again before more is sent */
    if (fold_full(w) && flush_pending(w) != 0) {
        goto out;
    }
again:;
    enum wg_err rc = w->st.peek(w->st.ctx, w->pend_bytes + w->max_batch, &batch, &last, &n);
    if (rc != WG_OK) {
        wg_log(WG_LOG_ERROR, "markers: store read: %s", wg_strerror(rc));
        goto out;
    }
    if (w->pend_batches && (batch.len <= w->pend_bytes || n < w->pend_n || last < w->pend_last)) {
        /* nothing after the answered rows (or not them first: the store changed under us, or
         * the next row is bigger than a batch): they are deleted now, the store read afresh */
        batch.len = 0;
        if (flush_pending(w) != 0) {
            goto out;
        }
        goto again;
    }
    if (!batch.len) {
        /* nothing stored: the count says so too unless a put was under way (counted, maybe
         * not committed when the peek looked): then it stays, and the put wakes the sender */
        if (quiet && atomic_load(&w->put_begun) == begun) {
            atomic_store(&w->stored, 0);
            atomic_store(&w->sbytes, 0);
        }
        ret = -1;
        goto out;
    }
    const char *body = batch.p + w->pend_bytes;
    size_t len = batch.len - w->pend_bytes;
    unsigned long long lines = n - w->pend_n;
    char err[1024] = "";
    long status = 0;
    unsigned long long nbad = 0;
    rc = wg__collector_lp_post(h, w->src, body, len, 0, &status, wait_ns, &nbad, err, sizeof(err));
    /* a definite no: a 4xx but 401/403/404 (credentials or database missing: fixed by the
     * operator, the lines kept), 408 and 429 */
    int refused = rc != WG_OK && status >= 400 && status < 500 && status != 401 && status != 403 &&
                  status != 404 && status != 408 && status != 429;
    if (rc != WG_OK && !refused) {
        atomic_fetch_add(&w->retries, 1);
        wg_log(WG_LOG_WARN, "markers: %llu lines kept (backlog %llu), retried later: %s", lines,
               (unsigned long long)atomic_load(&w->stored), err);
        (void)flush_pending(w); /* a wait is coming: the answered rows deleted first */
        goto out;
    }
    /* Counted as soon as InfluxDB answered, before the rows are deleted: the delete is only
     * bookkeeping. A crash before it sends these lines once more after the restart, which is
     * harmless (every line has its timestamp: InfluxDB overwrites the same points). */
    unsigned long long bad = refused ? (nbad && nbad < lines ? nbad : lines) : 0;
    if (refused) {
        wg_log(WG_LOG_ERROR, "markers: %llu of %llu lines refused by %s (not retried): %s", bad,
               lines, w->src->name, err);
        atomic_fetch_add(&w->failed, bad);
    }
    sub_sat(&w->stored, lines);
    sub_sat(&w->sbytes, len);
    atomic_fetch_add(&w->batches, 1);
    atomic_fetch_add(&w->written, lines - bad);
    w->pend_last = last;
    w->pend_n = n;
    w->pend_bytes = batch.len;
    w->pend_batches++;
    if (fold_full(w) || !atomic_load(&w->stored)) {
        (void)flush_pending(w); /* folded no further, or nothing more to send now */
    }
    ret = 1;
out:
    wg_buf_free(&batch);
    return ret;
}

static void wait_on(struct wg_lp_writer *w, pthread_cond_t *cv, int64_t due_mono)
{
    int64_t left = due_mono - wg_mono_ns();
    if (left <= 0) {
        return;
    }
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int64_t t = (int64_t)ts.tv_sec * WG_NS_PER_SEC + ts.tv_nsec + left;
    ts.tv_sec = (time_t)(t / WG_NS_PER_SEC);
    ts.tv_nsec = (long)(t % WG_NS_PER_SEC);
    (void)pthread_cond_timedwait(cv, &w->mu, &ts);
}

/* th: what is queued into the store, within 2 ms of its first line (a burst in a few rows, not
 * a row per line) or at once past `burst` bytes; never waits on a POST. */
static void *persist_main(void *arg)
{
    struct wg_lp_writer *w = arg;
    int64_t hold_ns = w->flush_ns < 2000000 ? w->flush_ns : 2000000;
    pthread_mutex_lock(&w->mu);
    for (;;) {
        if (!w->queue.len) {
            if (w->stop) {
                break;
            }
            wait_on(w, &w->cv, wg_mono_ns() + 60 * WG_NS_PER_SEC);
            continue;
        }
        if (!w->stop && w->queue.len < w->burst && wg_mono_ns() < w->first_ns + hold_ns) {
            wait_on(w, &w->cv, w->first_ns + hold_ns);
            continue;
        }
        struct wg_buf lines = w->queue;
        wg_buf_init(&w->queue, lines.max);
        w->first_ns = 0;
        w->persisting = 1;
        pthread_mutex_unlock(&w->mu);
        persist(w, &lines);
        wg_buf_free(&lines);
        /* over the backlog: trimmed here unless a batch is being sent (the sender trims after
         * it: the rows in flight are not dropped under it) */
        if (atomic_load(&w->stored) > w->max_backlog && pthread_mutex_trylock(&w->smu) == 0) {
            trim_locked(w);
            pthread_mutex_unlock(&w->smu);
        }
        pthread_mutex_lock(&w->mu);
        w->persisting = 0;
        pthread_cond_signal(&w->scv);
    }
    w->pdone = 1;
    pthread_cond_broadcast(&w->scv);
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

#define BACKOFF_MIN_NS (WG_NS_PER_SEC / 4)
#define BACKOFF_MAX_NS (30 * WG_NS_PER_SEC)

/* sth: sends from the store: at once when a burst's worth is stored or right after a write
 * (a backlog drains back to back), else flush_ns after the store stopped being empty; retried
 * with backoff. At stop, once th has stored the rest: sent until empty or a failure. */
static void *send_main(void *arg)
{
    struct wg_lp_writer *w = arg;
    struct wg_http *h = wg_http_new();
    int64_t retry_at = 0, backoff = 0;
    int wrote = 0;
    pthread_mutex_lock(&w->mu);
    for (;;) {
        if (w->stop && !w->pdone) {
            wait_on(w, &w->scv, wg_mono_ns() + WG_NS_PER_SEC);
            continue;
        }
        if (atomic_load(&w->stored) > w->max_backlog) {
            pthread_mutex_unlock(&w->mu);
            pthread_mutex_lock(&w->smu);
            trim_locked(w); /* lines stored by add_stored, or while a batch was out */
            pthread_mutex_unlock(&w->smu);
            pthread_mutex_lock(&w->mu);
        }
        int64_t now = wg_mono_ns();
        unsigned long long bl = atomic_load(&w->stored);
        if (!bl) {
            w->sfirst_ns = 0;
        } else if (!w->sfirst_ns) {
            w->sfirst_ns = now;
        }
        int burst = atomic_load(&w->sbytes) >= w->burst;
        int64_t due = !bl                         ? INT64_MAX
                      : w->stop || burst || wrote ? now
                                                  : w->sfirst_ns + w->flush_ns;
        if (due < retry_at) {
            due = retry_at;
        }
        if (w->stop && (due > now || !bl)) {
            break; /* what is not sent now stays stored: sent after the next start */
        }
        if (due > now && wrote && (w->queue.len || w->persisting)) {
            /* right after a write, the burst's tail still being stored: sent as soon as it is
             * (a put wakes us), not flush_ns later */
            wait_on(w, &w->scv, now + WG_NS_PER_SEC / 100);
            continue;
        }
        if (due > now) {
            wait_on(w, &w->scv, due == INT64_MAX ? now + 60 * WG_NS_PER_SEC : due);
            wrote = 0;
            continue;
        }
        pthread_mutex_unlock(&w->mu);
        int64_t ra = 0;
        pthread_mutex_lock(&w->smu);
        int r = h ? send_one(w, h, &ra) : 0;
        pthread_mutex_unlock(&w->smu);
        pthread_mutex_lock(&w->mu);
        wrote = r == 1 || (r < 0 && wrote); /* -1: a put under way, or the tail to come */
        if (r == 1) {
            backoff = 0;
            retry_at = 0;
        } else if (r == 0) {
            backoff = backoff ? backoff * 2 : BACKOFF_MIN_NS;
            backoff = backoff > BACKOFF_MAX_NS ? BACKOFF_MAX_NS : backoff;
            retry_at = wg_mono_ns() + (ra > 0 ? ra : backoff);
        } else if (w->stop) {
            break; /* drained (a put under way at stop is sent after the next start) */
        } else if (atomic_load(&w->stored)) {
            /* nothing stored but a put under way: until it is done (it wakes us), not a spin */
            wait_on(w, &w->scv, wg_mono_ns() + WG_NS_PER_SEC / 100);
        }
    }
    pthread_mutex_unlock(&w->mu);
    pthread_mutex_lock(&w->smu);
    (void)flush_pending(w); /* failing, these are sent once more after the next start */
    pthread_mutex_unlock(&w->smu);
    wg_http_free(h);
    return NULL;
}

enum wg_err wg_lp_writer_new_store(const struct wg_source *src, const struct wg_lp_store *st,
                                   unsigned long long max_backlog, int64_t flush_ns,
                                   struct wg_lp_writer **out)
{
    *out = NULL;
    unsigned long long lines = 0, bytes = 0;
    enum wg_err rc = st->count(st->ctx, &lines, &bytes);
    if (rc != WG_OK) {
        return rc;
    }
    struct wg_lp_writer *w = calloc(1, sizeof(*w));
    if (!w) {
        return WG_ENOMEM;
    }
    w->src = src;
    w->st = *st;
    w->durable = 1;
    w->max_backlog = max_backlog ? max_backlog : 1000000;
    atomic_store(&w->stored, lines);
    atomic_store(&w->sbytes, bytes);
    w->flush_ns = flush_ns > 0 ? flush_ns : WG_NS_PER_SEC / 5;
    w->max_batch = 1 << 20;
    w->burst = ROW_MAX - ROW_MAX / 16; /* rows are cut at a line's end, just under ROW_MAX */
    if (lines) {
        w->sfirst_ns = wg_mono_ns() - w->flush_ns; /* left from before: sent at once */
        wg_log(WG_LOG_INFO, "markers: %llu lines stored from before, sending", lines);
    }
    wg_buf_init(&w->queue, 64u << 20);
    pthread_mutex_init(&w->mu, NULL);
    pthread_mutex_init(&w->smu, NULL);
    pthread_cond_init(&w->cv, NULL);
    pthread_cond_init(&w->scv, NULL);
    if (pthread_create(&w->th, NULL, persist_main, w) != 0) {
        goto fail;
    }
    if (pthread_create(&w->sth, NULL, send_main, w) != 0) {
        pthread_mutex_lock(&w->mu);
        w->stop = 1;
        pthread_cond_broadcast(&w->cv);
        pthread_mutex_unlock(&w->mu);
        pthread_join(w->th, NULL);
        goto fail;
    }
    *out = w;
    return WG_OK;
fail:
    pthread_mutex_destroy(&w->mu);
    pthread_mutex_destroy(&w->smu);
    pthread_cond_destroy(&w->cv);
    pthread_cond_destroy(&w->scv);
    wg_buf_free(&w->queue);
    free(w);
    return WG_ENOMEM;
}

enum wg_err wg_lp_writer_add_stored(struct wg_lp_writer *w, const char *lines, size_t len)
{
    if (!w->durable) {
        return wg_lp_writer_add(w, lines, len);
    }
    enum wg_err rc = put_counted(w, lines, len, count_lines(lines, len));
    if (rc != WG_OK) {
        return rc;
    }
    pthread_mutex_lock(&w->mu);
    pthread_cond_signal(&w->scv);
    pthread_mutex_unlock(&w->mu);
    return WG_OK;
}

void wg_lp_writer_counts(struct wg_lp_writer *w, struct wg_lp_writer_counts *c)
{
    memset(c, 0, sizeof(*c));
    if (!w) {
        return;
    }
    c->written = atomic_load(&w->written);
    c->failed = atomic_load(&w->failed);
    c->dropped = atomic_load(&w->dropped);
    c->batches = atomic_load(&w->batches);
    c->retries = atomic_load(&w->retries);
    c->backlog = atomic_load(&w->stored);
    pthread_mutex_lock(&w->mu);
    c->backlog += count_lines(w->queue.p, w->queue.len);
    pthread_mutex_unlock(&w->mu);
}

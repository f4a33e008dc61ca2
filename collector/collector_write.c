/* collector_write.c — the write side of InfluxDB: line protocol built with the escaping rules
 * of each element (measurement; tag keys, tag values and field keys; string fields), and a
 * batching writer that posts it to a source's write API (v1 /write, v2 /api/v2/write, v3
 * /api/v3/write_lp) from its own thread, so a caller (a gate answer) never waits on InfluxDB.
 */
#include "collector/collector.h"
#include "common/http.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- line protocol ----------------------------------------------------------------------- */

/* Backslash before each char of `special`; newlines become spaces (a newline ends a point)
 * and NUL cannot occur in a C string. A trailing backslash would escape the separator that
 * follows: it is doubled. */
static void esc(struct wg_buf *b, const char *s, const char *special)
{
    for (const char *p = s; *p; p++) {
        char ch = *p == '\n' || *p == '\r' ? ' ' : *p;
        if (strchr(special, ch) || (ch == '\\' && p[1] == '\0' && special[0] != '"')) {
            wg_buf_add(b, "\\", 1);
        }
        wg_buf_add(b, &ch, 1);
    }
}

void wg_lp_begin(struct wg_lp *lp, struct wg_buf *b, const char *measurement)
{
    lp->b = b;
    lp->nfields = 0;
    esc(b, measurement, ", ");
}

void wg_lp_tag(struct wg_lp *lp, const char *key, const char *val)
{
    if (!val || !*val || !key || !*key) {
        return; /* an empty tag value is not valid line protocol: leave the tag out */
    }
    wg_buf_add(lp->b, ",", 1);
    esc(lp->b, key, ",= ");
    wg_buf_add(lp->b, "=", 1);
    esc(lp->b, val, ",= ");
}

static void field_key(struct wg_lp *lp, const char *key)
{
    wg_buf_add(lp->b, lp->nfields++ ? "," : " ", 1);
    esc(lp->b, key, ",= ");
    wg_buf_add(lp->b, "=", 1);
}

void wg_lp_str(struct wg_lp *lp, const char *key, const char *val)
{
    if (!val) {
        return;
    }
    field_key(lp, key);
    wg_buf_add(lp->b, "\"", 1);
    esc(lp->b, val, "\"\\");
    wg_buf_add(lp->b, "\"", 1);
}

void wg_lp_float(struct wg_lp *lp, const char *key, double v)
{
    if (!isfinite(v)) {
        return; /* NaN and Inf are not line protocol */
    }
    field_key(lp, key);
    /* the shortest of %.15g / %.17g that reads back as the same double */
    char num[40];
    snprintf(num, sizeof(num), "%.15g", v);
    if (strtod(num, NULL) != v) {
        snprintf(num, sizeof(num), "%.17g", v);
    }
    wg_buf_adds(lp->b, num);
}

void wg_lp_int(struct wg_lp *lp, const char *key, long long v)
{
    field_key(lp, key);
    wg_buf_addf(lp->b, "%lldi", v);
}

enum wg_err wg_lp_end(struct wg_lp *lp, int64_t t_ns)
{
    if (!lp->nfields) {
        wg_buf_fail(lp->b, WG_EINVAL); /* a point needs a field */
    }
    wg_buf_addf(lp->b, " %lld\n", (long long)t_ns);
    return wg_buf_err(lp->b);
}

/* ---- one write ------------------------------------------------------------------------------ */

static enum wg_err write_url(const struct wg_source *src, struct wg_buf *u)
{
    wg_buf_adds(u, src->url);
    if (src->kind == WG_SRC_FLUX) {
        wg_buf_adds(u, "/api/v2/write?precision=ns&org=");
        wg_http_urlencode(u, src->org ? src->org : src->org_id ? src->org_id : "");
        wg_buf_adds(u, "&bucket=");
        wg_http_urlencode(u, src->database ? src->database : "");
    } else if (src->kind == WG_SRC_SQL) {
        wg_buf_adds(u, "/api/v3/write_lp?precision=nanosecond&db=");
        wg_http_urlencode(u, src->database ? src->database : "");
    } else {
        wg_buf_adds(u, "/write?precision=ns&db=");
        wg_http_urlencode(u, src->database ? src->database : "");
        if (src->retention_policy) {
            wg_buf_adds(u, "&rp=");
            wg_http_urlencode(u, src->retention_policy);
        }
        if (src->username) {
            const char *pw = src->password_env ? getenv(src->password_env) : "";
            wg_log_add_secret(pw ? pw : "");
            wg_buf_adds(u, "&u=");
            wg_http_urlencode(u, src->username);
            wg_buf_adds(u, "&p=");
            wg_http_urlencode(u, pw ? pw : "");
        }
    }
    return wg_buf_err(u);
}

/* The lines an InfluxDB 400/422 answer says it refused: 1.x "unable to parse" (one per line)
 * and "dropped=N" (type conflicts), 3.x "line_number" (one per line); 0 when it does not say. */
static unsigned long long bad_lines(const struct wg_buf *body)
{
    unsigned long long n = 0;
    const char *end = body->p ? body->p + body->len : NULL;
    static const char *const per_line[] = {"unable to parse", "\"line_number\""};
    for (size_t k = 0; body->p && k < 2; k++) {
        size_t kl = strlen(per_line[k]);
        for (const char *p = body->p; p + kl <= end; p++) {
            n += !memcmp(p, per_line[k], kl);
        }
    }
    for (const char *p = body->p; p && p + 8 <= end; p++) {
        if (!memcmp(p, "dropped=", 8)) {
            unsigned long long d = 0;
            for (p += 8; p < end && *p >= '0' && *p <= '9'; p++) {
                d = d * 10 + (unsigned long long)(*p - '0');
            }
            n += d;
            break;
        }
    }
    return n;
}

/* One POST; *status the last HTTP status (0: none), *retry_ns the Retry-After wait, *nbad the
 * lines a 400/422 answer names as refused. */
static enum wg_err lp_post(struct wg_http *h, const struct wg_source *src, const char *body,
                           size_t len, int retries, long *status, int64_t *retry_ns,
                           unsigned long long *nbad, char *err, size_t errlen)
{
    *status = 0;
    *retry_ns = 0;
    *nbad = 0;
    struct wg_buf u;
    wg_buf_init(&u, 8192);
    char *auth = NULL;
    const char *hdrs[2] = {"Content-Type: text/plain; charset=utf-8", NULL};
    size_t nh = 1;
    enum wg_err rc = write_url(src, &u);
    if (rc == WG_OK && src->token_env) {
        const char *tok = getenv(src->token_env);
        if (!tok || !*tok) {
            snprintf(err, errlen, "environment variable %s is not set", src->token_env);
            rc = WG_ECONFIG;
            goto out;
        }
        wg_log_add_secret(tok);
        auth =
            wg_asprintf("Authorization: %s %s", src->kind == WG_SRC_SQL ? "Bearer" : "Token", tok);
        hdrs[nh++] = auth;
        rc = auth ? WG_OK : WG_ENOMEM;
    }
    if (rc != WG_OK) {
        snprintf(err, errlen, "%s", wg_strerror(rc));
        goto out;
    }
    struct wg_http_job j;
    memset(&j, 0, sizeof(j));
    j.method = "POST";
    j.url = u.p;
    j.headers = hdrs;
    j.nheaders = nh;
    j.body = body;
    j.body_len = len;
    j.timeout_ns = src->timeout_ns;
    j.connect_timeout_ns = src->connect_timeout_ns;
    j.retries = retries;
    j.max_bytes = 1 << 20;
    j.keep_bytes = 4096;
    j.no_compression = 1;
    j.tls.ca_file = src->tls.ca_file;
    j.tls.cert_file = src->tls.cert_file;
    j.tls.key_file = src->tls.key_file;
    j.tls.insecure = src->tls.insecure_skip_verify;
    rc = wg_http_run(h, &j, 1, NULL);
    if (rc == WG_OK) {
        rc = j.err;
    }
    *status = j.status;
    if (rc != WG_OK && j.status) {
        *retry_ns = wg_http_retry_after(&j);
        *nbad = bad_lines(&j.errbody);
    }
    if (rc != WG_OK) {
        snprintf(err, errlen, "write to %s: %s%s%.*s", src->name,
                 j.errmsg[0] ? j.errmsg : wg_strerror(rc), j.errbody.len ? ": " : "",
                 (int)(j.errbody.len > 300 ? 300 : j.errbody.len), j.errbody.p ? j.errbody.p : "");
    }
    wg_http_job_clear(&j);
out:
    free(auth);
    wg_buf_free(&u);
    return rc;
}

enum wg_err wg_lp_write(struct wg_http *h, const struct wg_source *src, const char *body,
                        size_t len, int retries, char *err, size_t errlen)
{
    long status;
    int64_t retry_ns;
    unsigned long long nbad;
    return lp_post(h, src, body, len, retries, &status, &retry_ns, &nbad, err, errlen);
}

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
    atomic_ullong stored;           /* lines in the store */
    atomic_ullong retries;          /* failed attempts retried later */
    atomic_ullong sbytes;           /* bytes in the store (a send is due past max_batch) */
    int64_t sfirst_ns;              /* mono time the store stopped being empty (0: empty) */
};

#define TAIL_NS (WG_NS_PER_SEC / 500) /* 2 ms without a line: a burst is over */

static void *writer_main(void *arg)
{
    struct wg_lp_writer *w = arg;
    struct wg_http *h = wg_http_new();
    int wrote = 0; /* the last turn posted a batch */
    pthread_mutex_lock(&w->mu);
    for (;;) {
        /* Wait while what is queued is small and young: until max_batch bytes wait, the oldest
         * line is flush_ns old, or (right after a write, lines having come meanwhile) a backlog
         * worth a batch waits or no line came for 2 ms (the burst's tail): a burst goes out
         * back to back, a trickle is still batched. */
        while (!w->stop && w->queue.len < w->max_batch &&
               !(wrote && w->queue.len &&
                 (w->queue.len >= w->backlog || wg_mono_ns() >= w->last_ns + TAIL_NS))) {
            int64_t due = w->queue.len ? w->first_ns + w->flush_ns : wg_mono_ns() + w->flush_ns;
            if (wrote && w->queue.len && w->last_ns + TAIL_NS < due) {
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
            (void)pthread_cond_timedwait(&w->cv, &w->mu, &ts);
            wrote = wrote && w->queue.len; /* still the tail of what came during the write */
        }
        wrote = 0;
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
        wrote = 1;
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
    } else if (w->queue.len >= w->max_batch || (w->durable && !before)) {
        pthread_cond_signal(&w->cv); /* durable: the writer persists what comes at once */
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
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->th, NULL);
    wg_lp_writer_stats(w, written, failed, dropped);
    wg_buf_free(&w->queue);
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->cv);
    free(w);
}

/* ---- the durable writer: the lines kept in a store until InfluxDB took them ---------------- */

/* Lines of the in-memory queue into the store (the writer thread, mu not held); the oldest
 * dropped past max_backlog. */
static void persist(struct wg_lp_writer *w, struct wg_buf *lines)
{
    /* rows of at most max_batch bytes (cut at a line's end): one row is one batch at most */
    for (size_t at = 0; at < lines->len;) {
        size_t len = lines->len - at;
        if (len > w->max_batch) {
            const char *nl = memrchr(lines->p + at, '\n', w->max_batch);
            len = nl ? (size_t)(nl - (lines->p + at)) + 1 : len;
        }
        const char *p = lines->p + at;
        at += len;
        unsigned long long n = count_lines(p, len);
        enum wg_err rc = w->st.put(w->st.ctx, p, len, n);
        if (rc != WG_OK) {
            atomic_fetch_add(&w->dropped, n);
            wg_log(WG_LOG_ERROR, "markers: %llu lines not stored: %s", n, wg_strerror(rc));
            continue;
        }
        atomic_fetch_add(&w->stored, n);
        atomic_fetch_add(&w->sbytes, len);
    }
}

static void trim(struct wg_lp_writer *w)
{
    if (atomic_load(&w->stored) <= w->max_backlog) {
        return;
    }
    unsigned long long lines = 0, bytes = 0;
    if (w->st.trim(w->st.ctx, w->max_backlog, &lines, &bytes) == WG_OK && lines) {
        atomic_fetch_sub(&w->stored, lines);
        unsigned long long sb = atomic_load(&w->sbytes);
        atomic_store(&w->sbytes, sb > bytes ? sb - bytes : 0);
        atomic_fetch_add(&w->dropped, lines);
        wg_log(WG_LOG_ERROR,
               "markers: backlog over events.write_backlog (%llu lines): the oldest %llu lines "
               "dropped",
               w->max_backlog, lines);
    }
}

/* One batch from the store to InfluxDB. Returns 1 when it went (2xx, or refused for good),
 * 0 when it is to be retried (*wait_ns the Retry-After, 0: none said), -1 when nothing is
 * stored. */
static int send_one(struct wg_lp_writer *w, struct wg_http *h, int64_t *wait_ns)
{
    struct wg_buf batch;
    wg_buf_init(&batch, 64u << 20);
    long long last = 0;
    unsigned long long n = 0;
    int ret = 0;
    *wait_ns = 0;
    enum wg_err rc = w->st.peek(w->st.ctx, w->max_batch, &batch, &last, &n);
    if (rc != WG_OK || !batch.len) {
        if (rc != WG_OK) {
            wg_log(WG_LOG_ERROR, "markers: store read: %s", wg_strerror(rc));
        }
        wg_buf_free(&batch);
        return rc == WG_OK ? -1 : 0;
    }
    char err[1024] = "";
    long status = 0;
    unsigned long long nbad = 0;
    rc = lp_post(h, w->src, batch.p, batch.len, 0, &status, wait_ns, &nbad, err, sizeof(err));
    /* a definite no: a 4xx but 401/403/404 (credentials or database missing: fixed by the
     * operator, the lines kept), 408 and 429 */
    int refused = rc != WG_OK && status >= 400 && status < 500 && status != 401 && status != 403 &&
                  status != 404 && status != 408 && status != 429;
    if (rc == WG_OK || refused) {
        if (w->st.del(w->st.ctx, last) != WG_OK) {
            wg_log(WG_LOG_ERROR, "markers: store delete failed (the batch may be sent again)");
            unsigned long long kl = 0, kb = 0;
            if (w->st.count(w->st.ctx, &kl, &kb) == WG_OK) {
                atomic_store(&w->stored, kl + n); /* n taken off below */
                atomic_store(&w->sbytes, kb + batch.len);
            }
        }
        unsigned long long bad = refused ? (nbad && nbad < n ? nbad : n) : 0;
        if (refused) {
            wg_log(WG_LOG_ERROR, "markers: %llu of %llu lines refused by %s (not retried): %s", bad,
                   n, w->src->name, err);
            atomic_fetch_add(&w->failed, bad);
        }
        atomic_fetch_add(&w->written, n - bad);
        atomic_fetch_add(&w->batches, 1);
        atomic_fetch_sub(&w->stored, n);
        unsigned long long sb = atomic_load(&w->sbytes);
        atomic_store(&w->sbytes, sb > batch.len ? sb - batch.len : 0);
        ret = 1;
    } else {
        atomic_fetch_add(&w->retries, 1);
        wg_log(WG_LOG_WARN, "markers: %llu lines kept (backlog %llu), retried later: %s", n,
               (unsigned long long)atomic_load(&w->stored), err);
    }
    wg_buf_free(&batch);
    return ret;
}

static void wait_until(struct wg_lp_writer *w, int64_t due_mono)
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
    (void)pthread_cond_timedwait(&w->cv, &w->mu, &ts);
}

#define BACKOFF_MIN_NS (WG_NS_PER_SEC / 4)
#define BACKOFF_MAX_NS (30 * WG_NS_PER_SEC)

static void *durable_main(void *arg)
{
    struct wg_lp_writer *w = arg;
    struct wg_http *h = wg_http_new();
    int64_t retry_at = 0, backoff = 0;
    int wrote = 0;
    /* what comes is stored within this (a burst in a few rows, not a row per line) */
    int64_t hold_ns = w->flush_ns < 2000000 ? w->flush_ns : 2000000;
    pthread_mutex_lock(&w->mu);
    for (;;) {
        /* a batch's worth stored (rows are cut at a line's end, just under max_batch) */
        int full = atomic_load(&w->sbytes) >= w->max_batch - w->max_batch / 16;
        int young = w->queue.len && !w->stop && w->queue.len < w->max_batch &&
                    wg_mono_ns() < w->first_ns + hold_ns;
        int send_first = full && wg_mono_ns() >= retry_at; /* a batch out, then store more */
        if (young && !send_first) {
            wait_until(w, w->first_ns + hold_ns);
            continue;
        }
        if (w->queue.len && !young) {
            struct wg_buf lines = w->queue;
            wg_buf_init(&w->queue, lines.max);
            w->first_ns = 0;
            pthread_mutex_unlock(&w->mu);
            persist(w, &lines);
            trim(w);
            wg_buf_free(&lines);
            pthread_mutex_lock(&w->mu);
            continue;
        }
        if (atomic_load(&w->stored) > w->max_backlog) {
            pthread_mutex_unlock(&w->mu);
            trim(w); /* lines stored by add_stored */
            pthread_mutex_lock(&w->mu);
        }
        int64_t now = wg_mono_ns();
        unsigned long long bl = atomic_load(&w->stored);
        if (!bl) {
            w->sfirst_ns = 0;
        } else if (!w->sfirst_ns) {
            w->sfirst_ns = now;
        }
        int64_t due = !bl ? INT64_MAX : w->stop || full || wrote ? now : w->sfirst_ns + w->flush_ns;
        if (due < retry_at) {
            due = retry_at;
        }
        if (w->stop && (due > now || !bl)) {
            break; /* what is not sent now stays stored: sent after the next start */
        }
        if (due > now) {
            wait_until(w, due == INT64_MAX ? now + 60 * WG_NS_PER_SEC : due);
            wrote = 0;
            continue;
        }
        pthread_mutex_unlock(&w->mu);
        int64_t ra = 0;
        int r = h ? send_one(w, h, &ra) : 0;
        pthread_mutex_lock(&w->mu);
        wrote = r == 1;
        if (r == 1) {
            backoff = 0;
            retry_at = 0;
        } else if (r == 0) {
            backoff = backoff ? backoff * 2 : BACKOFF_MIN_NS;
            backoff = backoff > BACKOFF_MAX_NS ? BACKOFF_MAX_NS : backoff;
            retry_at = wg_mono_ns() + (ra > 0 ? ra : backoff);
        } else {
            atomic_store(&w->stored, 0); /* the store says empty */
            atomic_store(&w->sbytes, 0);
        }
    }
    pthread_mutex_unlock(&w->mu);
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
    if (lines) {
        w->sfirst_ns = wg_mono_ns() - w->flush_ns; /* left from before: sent at once */
        wg_log(WG_LOG_INFO, "markers: %llu lines stored from before, sending", lines);
    }
    wg_buf_init(&w->queue, 64u << 20);
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    if (pthread_create(&w->th, NULL, durable_main, w) != 0) {
        pthread_mutex_destroy(&w->mu);
        pthread_cond_destroy(&w->cv);
        free(w);
        return WG_ENOMEM;
    }
    *out = w;
    return WG_OK;
}

enum wg_err wg_lp_writer_add_stored(struct wg_lp_writer *w, const char *lines, size_t len)
{
    if (!w->durable) {
        return wg_lp_writer_add(w, lines, len);
    }
    unsigned long long n = count_lines(lines, len);
    atomic_fetch_add(&w->stored, n); /* before: the writer may send the row at once */
    atomic_fetch_add(&w->sbytes, len);
    enum wg_err rc = w->st.put(w->st.ctx, lines, len, n);
    if (rc != WG_OK) {
        atomic_fetch_sub(&w->stored, n);
        atomic_fetch_sub(&w->sbytes, len);
        atomic_fetch_add(&w->dropped, n);
        return rc;
    }
    pthread_mutex_lock(&w->mu);
    pthread_cond_signal(&w->cv);
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

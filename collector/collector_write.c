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

enum wg_err wg_lp_write(struct wg_http *h, const struct wg_source *src, const char *body,
                        size_t len, int retries, char *err, size_t errlen)
{
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
    int64_t flush_ns;    /* no line waits longer than this */
    atomic_ullong written, dropped, failed, batches;
};

static void *writer_main(void *arg)
{
    struct wg_lp_writer *w = arg;
    struct wg_http *h = wg_http_new();
    int wrote = 0; /* the last turn posted a batch */
    pthread_mutex_lock(&w->mu);
    for (;;) {
        /* Wait while what is queued is small and young: until max_batch bytes wait, the oldest
         * line is flush_ns old, or (right after a write, lines having come meanwhile) a backlog
         * worth a batch waits: a burst goes out back to back, a trickle is still batched. */
        while (!w->stop && w->queue.len < w->max_batch && !(wrote && w->queue.len >= w->backlog)) {
            int64_t due = w->queue.len ? w->first_ns + w->flush_ns : wg_mono_ns() + w->flush_ns;
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
            wrote = 0;
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

enum wg_err wg_lp_writer_add(struct wg_lp_writer *w, const char *lines, size_t len)
{
    unsigned long long n = 0;
    for (size_t i = 0; i < len; i++) {
        n += lines[i] == '\n';
    }
    pthread_mutex_lock(&w->mu);
    size_t before = w->queue.len;
    enum wg_err rc = wg_buf_add(&w->queue, lines, len);
    if (rc == WG_OK && !before) {
        w->first_ns = wg_mono_ns();
    }
    if (rc != WG_OK) {
        /* Full: these lines are dropped (counted), the queue stays whole and usable. */
        w->queue.len = before;
        w->queue.err = WG_OK;
        atomic_fetch_add(&w->dropped, n);
    } else if (w->queue.len >= w->max_batch) {
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
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->th, NULL);
    wg_lp_writer_stats(w, written, failed, dropped);
    wg_buf_free(&w->queue);
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->cv);
    free(w);
}

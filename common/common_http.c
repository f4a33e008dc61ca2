/* common_http.c — the libcurl wrapper behind http.h: runs a batch of jobs over one multi
 * handle with per-group and overall concurrency limits, retries (backoff + jitter, Retry-After)
 * inside each job's time budget, body size caps and streaming consumers; and the pump, single
 * attempts over a long-lived multi handle. The runner waits through curl's socket interface
 * and epoll (the poll loop when epoll is not there). Both set up easy handles and read results
 * through the same wg__http_attempt_start/wg__http_attempt_end: the one place where CURLcode
 * becomes wg_err.
 */
#include "common/http.h"

#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include "common/common_http_int.h"

/* The batch runner waits on its sockets through epoll and curl's socket interface: a wake-up
 * costs the transfers whose sockets are ready, not every one in flight (curl_multi_perform
 * walks all of them and polls each one's socket: ~24,000 poll() calls in a 1,000-query fleet
 * check over ~350 connections, against ~1,700 here). ep is the handle's own epoll set (curl
 * says which sockets to watch, for as long as the multi lives); -1: epoll could not be set
 * up, and the poll loop is used. */
struct wg_http {
    struct wg__http_multi m;
    uint64_t rng;
    int ep;
    int64_t timer_at; /* curl's timeout (monotonic ns), -1: none */
};

struct run {
    struct wg_http *h;
    struct slot *slots;
    size_t n, ndone;
    int running, max_total;
    const void **gkeys;
    int *gmax, *grun;
    size_t ngroups;
};

static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static CURLcode g_init_rc = CURLE_OK;

static void global_init(void)
{
    g_init_rc = curl_global_init(CURL_GLOBAL_ALL);
}

enum wg_err wg__http_multi_init(struct wg__http_multi *m)
{
    pthread_once(&g_once, global_init);
    memset(m, 0, sizeof(*m));
    m->multi = g_init_rc == CURLE_OK ? curl_multi_init() : NULL;
    return m->multi ? WG_OK : WG_ENOMEM;
}

void wg__http_multi_cleanup(struct wg__http_multi *m)
{
    while (m->nidle > 0) {
        curl_easy_cleanup(m->idle[--m->nidle]);
    }
    curl_multi_cleanup(m->multi);
    m->multi = NULL;
}

/* Take e off m and keep it for a later attempt (options reset), or destroy it. */
static void easy_put(struct wg__http_multi *m, CURL *e)
{
    curl_multi_remove_handle(m->multi, e);
    if (m->nidle < WG__HTTP_IDLE_MAX) {
        curl_easy_reset(e);
        m->idle[m->nidle++] = e;
    } else {
        curl_easy_cleanup(e);
    }
}

/* curl's socket callback: watch fd for what it asks. A socket curl has not seen yet
 * (sockp NULL) is added and marked; an fd closed and reused meanwhile may still be in the set
 * (ADD fails: MOD), or gone from it (MOD fails: ADD). */
static int on_socket(CURL *e, curl_socket_t fd, int what, void *userp, void *sockp)
{
    (void)e;
    struct wg_http *h = userp;
    if (what == CURL_POLL_REMOVE) {
        epoll_ctl(h->ep, EPOLL_CTL_DEL, fd, NULL);
        return 0;
    }
    struct epoll_event ev = {.data.fd = fd};
    ev.events = (what & CURL_POLL_IN ? EPOLLIN : 0u) | (what & CURL_POLL_OUT ? EPOLLOUT : 0u);
    int op = sockp ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
    if (epoll_ctl(h->ep, op, fd, &ev) != 0 &&
        epoll_ctl(h->ep, op == EPOLL_CTL_ADD ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, fd, &ev) != 0) {
        return -1;
    }
    if (!sockp) {
        curl_multi_assign(h->m.multi, fd, (void *)h);
    }
    return 0;
}

static int on_timer(CURLM *m, long ms, void *userp)
{
    (void)m;
    struct wg_http *h = userp;
    h->timer_at = ms < 0 ? -1 : wg_mono_ns() + (int64_t)ms * NS_PER_MS;
    return 0;
}

/* Idle connections a handle keeps (every source's max_concurrency of a large fleet wave). */
#define KEPT_CONNECTIONS 512

struct wg_http *wg_http_new(void)
{
    struct wg_http *h = calloc(1, sizeof(*h));
    if (!h) {
        return NULL;
    }
    if (wg__http_multi_init(&h->m) != WG_OK) {
        free(h);
        return NULL;
    }
    h->rng = (uint64_t)wg_mono_ns() ^ ((uint64_t)(uintptr_t)h << 17) ^ 0x9e3779b97f4a7c15u;
    h->timer_at = -1;
    /* libcurl's default cache holds 4 connections per transfer still added: as a fleet's last
     * transfers finish, it closed the connections returned after them (47 of 350 per 50-source
     * gate call in bench_fleet.sh), and the next call on this handle connected again. */
    (void)curl_multi_setopt(h->m.multi, CURLMOPT_MAXCONNECTS, (long)KEPT_CONNECTIONS);
    h->ep = epoll_create1(EPOLL_CLOEXEC);
    if (h->ep >= 0 &&
        (curl_multi_setopt(h->m.multi, CURLMOPT_SOCKETFUNCTION, on_socket) != CURLM_OK ||
         curl_multi_setopt(h->m.multi, CURLMOPT_SOCKETDATA, (void *)h) != CURLM_OK ||
         curl_multi_setopt(h->m.multi, CURLMOPT_TIMERFUNCTION, on_timer) != CURLM_OK ||
         curl_multi_setopt(h->m.multi, CURLMOPT_TIMERDATA, (void *)h) != CURLM_OK)) {
        curl_multi_setopt(h->m.multi, CURLMOPT_SOCKETFUNCTION, NULL);
        curl_multi_setopt(h->m.multi, CURLMOPT_TIMERFUNCTION, NULL);
        close(h->ep);
        h->ep = -1;
    }
    return h;
}

void wg_http_free(struct wg_http *h)
{
    if (!h) {
        return;
    }
    wg__http_multi_cleanup(&h->m); /* may still call on_socket: ep is closed after */
    if (h->ep >= 0) {
        close(h->ep);
    }
    free(h);
}

void wg_http_job_clear(struct wg_http_job *j)
{
    if (!j) {
        return;
    }
    wg_buf_free(&j->headers_in);
    wg_buf_free(&j->errbody);
}

static uint64_t rng_next(struct wg_http *h)
{
    uint64_t x = h->rng;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    h->rng = x;
    return x;
}

long wg_http_header(const struct wg_http_job *j, const char *name, char *out, size_t outlen)
{
    size_t nl = strlen(name);
    const char *p = j->headers_in.p;
    if (!p) {
        return -1;
    }
    while (*p) {
        const char *eol = strchr(p, '\n');
        size_t len = eol ? (size_t)(eol - p) : strlen(p);
        if (len > nl && p[nl] == ':' && strncasecmp(p, name, nl) == 0) {
            const char *v = p + nl + 1;
            const char *e = p + len;
            while (v < e && (*v == ' ' || *v == '\t')) {
                v++;
            }
            while (e > v && (e[-1] == '\r' || e[-1] == ' ' || e[-1] == '\t')) {
                e--;
            }
            size_t vl = (size_t)(e - v);
            if (outlen) {
                size_t c = vl < outlen - 1 ? vl : outlen - 1;
                memcpy(out, v, c);
                out[c] = '\0';
            }
            return (long)vl;
        }
        if (!eol) {
            break;
        }
        p = eol + 1;
    }
    return -1;
}

static size_t on_header(char *buf, size_t size, size_t nmemb, void *ud)
{
    struct slot *s = ud;
    size_t n = size * nmemb;
    if (n >= 5 && memcmp(buf, "HTTP/", 5) == 0) {
        /* A new status line (1xx interim answers come first): forget earlier headers. */
        size_t i = 5;
        while (i < n && buf[i] != ' ') {
            i++;
        }
        long st = 0;
        while (i < n && buf[i] == ' ') {
            i++;
        }
        while (i < n && buf[i] >= '0' && buf[i] <= '9' && st < 1000) {
            st = st * 10 + (buf[i++] - '0');
        }
        s->status = st;
        wg_buf_reset(&s->job->headers_in);
        return n;
    }
    /* Over the cap the rest is dropped, not fatal: only a few headers are ever read. */
    if (wg_buf_add(&s->job->headers_in, buf, n) == WG_ENOMEM) {
        return 0;
    }
    return n;
}

static size_t on_write(char *buf, size_t size, size_t nmemb, void *ud)
{
    struct slot *s = ud;
    struct wg_http_job *j = s->job;
    size_t n = size * nmemb;
    size_t max = j->max_bytes ? j->max_bytes : DEF_MAX_BYTES;
    if (n > max - s->bytes) {
        s->abort_err = WG_ETOOBIG;
        return 0;
    }
    s->bytes += n;
    if (s->status >= 200 && s->status < 300 && j->consumer.data) {
        s->delivered += n;
        enum wg_err e = j->consumer.data(j->consumer.ud, buf, n);
        if (e != WG_OK) {
            s->abort_err = e;
            return 0;
        }
        /* libcurl's timeout does not see time spent in the consumer (parsing): the budget
         * covers it too (a body that is slow to parse must not outlive the source's timeout) */
        if (s->deadline && wg_mono_ns() > s->deadline) {
            s->abort_err = WG_ETIMEOUT;
            return 0;
        }
        return n;
    }
    size_t cap = j->consumer.data ? WG_HTTP_ERRBODY_MAX : j->keep_bytes ? j->keep_bytes : max;
    size_t room = cap > j->errbody.len ? cap - j->errbody.len : 0;
    if (wg_buf_add(&j->errbody, buf, n < room ? n : room) != WG_OK) {
        s->abort_err = WG_ENOMEM;
        return 0;
    }
    return n;
}

/* CURLcode → wg_err: the one mapping. *retry says whether another attempt may help. */
static enum wg_err map_curl(CURLcode rc, int *retry)
{
    *retry = 0;
    switch (rc) {
    case CURLE_OK:
        return WG_OK;
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
        *retry = 1;
        return WG_ECONNECT;
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_URL_MALFORMAT:
        return WG_ECONNECT;
    case CURLE_OPERATION_TIMEDOUT:
        *retry = 1;
        return WG_ETIMEOUT;
    case CURLE_FILESIZE_EXCEEDED:
        return WG_ETOOBIG;
    case CURLE_OUT_OF_MEMORY:
        return WG_ENOMEM;
    case CURLE_GOT_NOTHING:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_PARTIAL_FILE:
        /* After a 200 these mean a truncated body: a failure, never data. */
        *retry = 1;
        return WG_EIO;
    default:
        return WG_EIO;
    }
}

/* ---- one attempt: shared by the batch runner and the pump ------------------------------- */

/* The out fields before a job's first attempt. */
void wg__http_job_init_out(struct wg_http_job *j)
{
    j->err = WG_OK;
    j->errmsg[0] = '\0';
    j->status = 0;
    j->attempts = 0;
    j->elapsed_ns = 0;
    wg_buf_init(&j->headers_in, WG_HTTP_HEADERS_MAX);
    wg_buf_init(&j->errbody, 0);
}

/* The request headers of s->job as a curl list (kept for all its attempts). */
enum wg_err wg__http_slot_headers(struct slot *s)
{
    struct wg_http_job *j = s->job;
    for (size_t k = 0; k < j->nheaders; k++) {
        struct curl_slist *nl = curl_slist_append(s->hdrs, j->headers[k]);
        if (!nl) {
            return WG_ENOMEM;
        }
        s->hdrs = nl;
    }
    if (j->body) {
        /* No "Expect: 100-continue" round trip for large bodies. */
        struct curl_slist *nl = curl_slist_append(s->hdrs, "Expect:");
        if (!nl) {
            return WG_ENOMEM;
        }
        s->hdrs = nl;
    }
    return WG_OK;
}

static int set_opts(struct slot *s, int64_t per_ns)
{
    struct wg_http_job *j = s->job;
    CURL *e = s->easy;
    int64_t cto = j->connect_timeout_ns ? j->connect_timeout_ns : DEF_CONNECT_NS;
    if (cto > per_ns) {
        cto = per_ns;
    }
    CURLcode rc = CURLE_OK;
#define SET(opt, val)                                                                              \
    do {                                                                                           \
        if (rc == CURLE_OK) {                                                                      \
            rc = curl_easy_setopt(e, opt, val);                                                    \
        }                                                                                          \
    } while (0)
    SET(CURLOPT_URL, j->url);
#if LIBCURL_VERSION_NUM >= 0x075500
    SET(CURLOPT_PROTOCOLS_STR, "http,https");
#else
    SET(CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
    SET(CURLOPT_PRIVATE, (void *)s);
    SET(CURLOPT_NOSIGNAL, 1L);
    SET(CURLOPT_FOLLOWLOCATION, 0L);
    if (!j->no_compression) {
        SET(CURLOPT_ACCEPT_ENCODING, "");
    }
    SET(CURLOPT_TCP_KEEPALIVE, 1L);
    if (j->consumer.data) {
        /* Streamed bodies read in 64 KiB (kept heads use the default 16 KiB). Not 128 KiB:
         * libcurl allocates this buffer for every transfer, and 128 KiB + 1 is above glibc's
         * mmap threshold, so each of a fleet check's ~350 concurrent transfers cost an mmap,
         * a munmap and fresh zeroed pages (measured: 6 ms of the 71 ms CPU of a 1,000-query
         * check; a 91 MB InfluxQL answer reads as fast at 64 KiB). */
        SET(CURLOPT_BUFFERSIZE, 64L * 1024);
    }
    SET(CURLOPT_CONNECTTIMEOUT_MS, (long)((cto + NS_PER_MS - 1) / NS_PER_MS));
    SET(CURLOPT_TIMEOUT_MS, (long)((per_ns + NS_PER_MS - 1) / NS_PER_MS));
    SET(CURLOPT_ERRORBUFFER, s->errbuf);
    SET(CURLOPT_HEADERFUNCTION, on_header);
    SET(CURLOPT_HEADERDATA, (void *)s);
    SET(CURLOPT_WRITEFUNCTION, on_write);
    SET(CURLOPT_WRITEDATA, (void *)s);
    SET(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)(j->max_bytes ? j->max_bytes : DEF_MAX_BYTES));
    if (s->hdrs) {
        SET(CURLOPT_HTTPHEADER, s->hdrs);
    }
    const char *m = j->method ? j->method : "GET";
    if (strcmp(m, "GET") != 0) {
        if (strcmp(m, "POST") == 0) {
            SET(CURLOPT_POST, 1L);
        } else {
            SET(CURLOPT_CUSTOMREQUEST, m);
        }
        SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(j->body ? j->body_len : 0));
        SET(CURLOPT_POSTFIELDS, j->body ? j->body : "");
    }
    if (j->tls.ca_file) {
        SET(CURLOPT_CAINFO, j->tls.ca_file);
    }
    if (j->tls.cert_file) {
        SET(CURLOPT_SSLCERT, j->tls.cert_file);
    }
    if (j->tls.key_file) {
        SET(CURLOPT_SSLKEY, j->tls.key_file);
    }
    if (j->tls.insecure) {
        SET(CURLOPT_SSL_VERIFYPEER, 0L);
        SET(CURLOPT_SSL_VERIFYHOST, 0L);
    }
#undef SET
    return rc == CURLE_OK ? 0 : -1;
}

/* Start an attempt of s->job on multi, limited to per_ns. -1 (job err and errmsg set) when it
 * could not be set up. */
enum wg_err wg__http_attempt_start(struct slot *s, struct wg__http_multi *m, int64_t per_ns,
                                   int64_t now)
{
    struct wg_http_job *j = s->job;
    s->bytes = s->delivered = 0;
    s->abort_err = WG_OK;
    s->status = 0;
    s->errbuf[0] = '\0';
    wg_buf_reset(&j->headers_in);
    wg_buf_reset(&j->errbody);
    s->easy = m->nidle > 0 ? m->idle[--m->nidle] : curl_easy_init();
    if (!s->easy || set_opts(s, per_ns) || curl_multi_add_handle(m->multi, s->easy) != CURLM_OK) {
        curl_easy_cleanup(s->easy);
        s->easy = NULL;
        j->err = WG_ENOMEM;
        snprintf(j->errmsg, sizeof(j->errmsg), "could not set up the request");
        return WG_ENOMEM;
    }
    s->started = now;
    return WG_OK;
}

/* The next slot whose attempt has finished on multi (with its result in *rc), or NULL. */
struct slot *wg__http_next_done(struct wg__http_multi *m, CURLcode *rc)
{
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(m->multi, &left)) != NULL) {
        if (msg->msg == CURLMSG_DONE) {
            struct slot *s = NULL;
            *rc = msg->data.result; /* msg is gone once the handle is removed */
            curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&s);
            return s;
        }
    }
    return NULL;
}

/* Give the easy handle back and free the header list; the job is left alone. */
void wg__http_slot_release(struct slot *s, struct wg__http_multi *m)
{
    if (s->easy) {
        easy_put(m, s->easy);
        s->easy = NULL;
    }
    curl_slist_free_all(s->hdrs);
    s->hdrs = NULL;
}

int64_t wg_http_retry_after(const struct wg_http_job *j)
{
    char v[128];
    if (wg_http_header(j, "Retry-After", v, sizeof(v)) <= 0) {
        return -1;
    }
    /* A long wait is the server's word and is honoured (clamped), never dropped for our own
     * faster backoff: that would hammer a server that asked for a pause. */
    if (v[0] >= '0' && v[0] <= '9') {
        size_t k = 0;
        int64_t secs = 0;
        for (; v[k] >= '0' && v[k] <= '9'; k++) {
            if (secs < WG_HTTP_RETRY_AFTER_MAX_S) {
                secs = secs * 10 + (v[k] - '0');
            }
        }
        if (v[k] != '\0') {
            return -1;
        }
        return (secs < WG_HTTP_RETRY_AFTER_MAX_S ? secs : WG_HTTP_RETRY_AFTER_MAX_S) *
               WG_NS_PER_SEC;
    }
    time_t t = curl_getdate(v, NULL);
    if (t == (time_t)-1) {
        return -1;
    }
    int64_t d = (int64_t)t * WG_NS_PER_SEC - wg_now_ns();
    int64_t max = WG_HTTP_RETRY_AFTER_MAX_S * WG_NS_PER_SEC;
    return d > 0 ? (d < max ? d : max) : 0;
}

static int is_tls_error(CURLcode rc)
{
    return rc == CURLE_SSL_CONNECT_ERROR || rc == CURLE_PEER_FAILED_VERIFICATION ||
           rc == CURLE_SSL_CERTPROBLEM || rc == CURLE_SSL_CIPHER ||
           rc == CURLE_SSL_CACERT_BADFILE || rc == CURLE_SSL_ISSUER_ERROR;
}

/* A TLS server that rejects the client's certificate (or its absence) closes the connection
 * right after the handshake (TLS 1.3), which the client only sees as a failed send or receive:
 * say so. */
static const char *tls_hint(const struct slot *s, curl_off_t tls_up)
{
    if (tls_up <= 0 || s->status != 0 || s->bytes != 0) {
        return "";
    }
    return s->job->tls.cert_file
               ? " (the server closed the TLS connection before answering: was the client "
                 "certificate accepted?)"
               : " (the server closed the TLS connection before answering: does it require a "
                 "client certificate? see tls.cert_file)";
}

/* End the attempt on s, whose easy handle finished with rc: fills the job's err, errmsg,
 * status and attempts from the transfer (the one CURLcode and status → wg_err mapping, with
 * its messages). Returns 1 when another attempt may help. */
int wg__http_attempt_end(struct slot *s, struct wg__http_multi *m, CURLcode rc, int64_t now)
{
    struct wg_http_job *j = s->job;
    long os_errno = 0;
    char base[256];
    curl_off_t tls_up = 0;
    curl_easy_getinfo(s->easy, CURLINFO_OS_ERRNO, &os_errno);
    curl_easy_getinfo(s->easy, CURLINFO_APPCONNECT_TIME_T, &tls_up);
    easy_put(m, s->easy);
    s->easy = NULL;
    j->attempts++;
    j->status = s->status;
    base[0] = '\0';
    if (s->abort_err != WG_OK || rc != CURLE_OK || s->status < 200 || s->status >= 300) {
        wg_http_url_base(j->url, base, sizeof(base)); /* for the messages below */
    }

    int retry = 0;
    if (s->abort_err != WG_OK) {
        j->err = s->abort_err;
        if (s->abort_err == WG_ETOOBIG) {
            snprintf(j->errmsg, sizeof(j->errmsg), "response from %s larger than %zu bytes", base,
                     j->max_bytes ? j->max_bytes : DEF_MAX_BYTES);
        } else if (s->abort_err == WG_ETIMEOUT) {
            snprintf(j->errmsg, sizeof(j->errmsg),
                     "timed out after %lld ms reading and parsing the answer from %s (the time "
                     "budget covers both)",
                     (long long)((now - (s->first_at ? s->first_at : s->started)) / NS_PER_MS),
                     base);
        } else {
            snprintf(j->errmsg, sizeof(j->errmsg), "response from %s rejected: %s", base,
                     wg_strerror(s->abort_err));
        }
    } else if (rc != CURLE_OK) {
        j->err = map_curl(rc, &retry);
        int64_t ms = (now - s->started) / NS_PER_MS;
        if (is_tls_error(rc)) {
            snprintf(j->errmsg, sizeof(j->errmsg), "TLS with %s failed: %s", base,
                     s->errbuf[0] ? s->errbuf : curl_easy_strerror(rc));
        } else if (j->err == WG_ECONNECT && os_errno) {
            snprintf(j->errmsg, sizeof(j->errmsg), "could not connect to %s: %s", base,
                     strerror((int)os_errno));
        } else if (j->err == WG_ECONNECT) {
            snprintf(j->errmsg, sizeof(j->errmsg), "could not connect to %s: %s", base,
                     s->errbuf[0] ? s->errbuf : curl_easy_strerror(rc));
        } else if (j->err == WG_ETIMEOUT) {
            snprintf(j->errmsg, sizeof(j->errmsg), "timed out after %lld ms waiting for %s",
                     (long long)ms, base);
        } else if (j->err == WG_ETOOBIG) {
            snprintf(j->errmsg, sizeof(j->errmsg), "response from %s larger than %zu bytes", base,
                     j->max_bytes ? j->max_bytes : DEF_MAX_BYTES);
        } else if (rc == CURLE_PARTIAL_FILE || (s->status >= 200 && s->bytes > 0)) {
            snprintf(j->errmsg, sizeof(j->errmsg), "response from %s cut off after %zu bytes: %s",
                     base, s->bytes, s->errbuf[0] ? s->errbuf : curl_easy_strerror(rc));
        } else {
            snprintf(j->errmsg, sizeof(j->errmsg), "request to %s failed: %s%s", base,
                     s->errbuf[0] ? s->errbuf : curl_easy_strerror(rc), tls_hint(s, tls_up));
        }
    } else if (s->status >= 200 && s->status < 300) {
        j->err = WG_OK;
        j->errmsg[0] = '\0';
    } else {
        j->err = WG_EHTTP;
        snprintf(j->errmsg, sizeof(j->errmsg), "HTTP %ld from %s", s->status, base);
        retry = s->status == 429 || (s->status >= 500 && s->status != 501 && s->status != 505);
    }
    return retry;
}

/* The job is over: time it from since (0: never started) and redact its message. */
void wg__http_job_done(struct wg_http_job *j, int64_t since, int64_t now)
{
    j->elapsed_ns = since ? now - since : 0;
    wg_redact(j->errmsg);
}

/* ---- the batch runner ------------------------------------------------------------------- */
static size_t group_of(struct run *r, const void *key, int max)
{
    for (size_t g = 0; g < r->ngroups; g++) {
        if (r->gkeys[g] == key) {
            if (max > 0 && (r->gmax[g] <= 0 || max < r->gmax[g])) {
                r->gmax[g] = max;
            }
            return g;
        }
    }
    r->gkeys[r->ngroups] = key;
    r->gmax[r->ngroups] = max;
    r->grun[r->ngroups] = 0;
    return r->ngroups++;
}

static void finish_job(struct run *r, struct slot *s, int64_t now)
{
    s->state = S_DONE;
    r->ndone++;
    wg__http_job_done(s->job, s->first_at, now);
}

static void start_attempt(struct run *r, struct slot *s, int64_t now)
{
    struct wg_http_job *j = s->job;
    int64_t timeout = j->timeout_ns ? j->timeout_ns : DEF_TIMEOUT_NS;
    if (!s->first_at) {
        s->first_at = now;
        s->deadline = now + (j->budget_ns ? j->budget_ns : timeout);
        if (j->deadline_ns && j->deadline_ns < s->deadline) {
            s->deadline = j->deadline_ns;
        }
    }
    int64_t left = s->deadline - now;
    if (left <= NS_PER_MS) {
        if (j->attempts == 0) {
            j->err = WG_ETIMEOUT;
            snprintf(j->errmsg, sizeof(j->errmsg), "no time left to send the request");
        }
        finish_job(r, s, now);
        return;
    }
    if (s->need_reset) {
        enum wg_err e = j->consumer.reset ? j->consumer.reset(j->consumer.ud) : WG_EINVAL;
        if (e != WG_OK) {
            j->err = e;
            snprintf(j->errmsg, sizeof(j->errmsg), "could not restart the response consumer");
            finish_job(r, s, now);
            return;
        }
        s->need_reset = 0;
    }
    if (wg__http_attempt_start(s, &r->h->m, timeout < left ? timeout : left, now) != WG_OK) {
        finish_job(r, s, now);
        return;
    }
    s->state = S_RUNNING;
    r->running++;
    r->grun[s->group]++;
}

static void finish_attempt(struct run *r, struct slot *s, CURLcode rc)
{
    struct wg_http_job *j = s->job;
    int64_t now = wg_mono_ns();
    int retry = wg__http_attempt_end(s, &r->h->m, rc, now);
    r->running--;
    r->grun[s->group]--;
    int64_t delay = retry && j->err == WG_EHTTP ? wg_http_retry_after(j) : -1;
    int asked = delay >= 0; /* the server's Retry-After, not our backoff */
    if (retry && j->attempts <= j->retries && (s->delivered == 0 || j->consumer.reset)) {
        if (delay < 0) {
            int64_t d = BACKOFF_BASE_NS << (j->attempts - 1 < 10 ? j->attempts - 1 : 10);
            if (d > BACKOFF_CAP_NS) {
                d = BACKOFF_CAP_NS;
            }
            /* "Equal jitter": half fixed, half random, so retries from many jobs spread out. */
            delay = d / 2 + (int64_t)(rng_next(r->h) % (uint64_t)(d / 2 + 1));
        }
        if (now + delay < s->deadline) {
            char base[256];
            wg_http_url_base(j->url, base, sizeof(base));
            s->need_reset = s->delivered > 0;
            s->next_at = now + delay;
            s->state = S_PENDING;
            wg_log(WG_LOG_DEBUG, "retrying %s in %lld ms (attempt %d): %s", base,
                   (long long)(delay / NS_PER_MS), j->attempts + 1, j->errmsg);
            return;
        }
        size_t l = strlen(j->errmsg);
        if (asked) {
            /* fail now with the reason rather than wait past the budget */
            snprintf(j->errmsg + l, sizeof(j->errmsg) - l,
                     " (retry after %llds exceeds the time budget: %lld ms left)",
                     (long long)((delay + WG_NS_PER_SEC - 1) / WG_NS_PER_SEC),
                     (long long)((s->deadline > now ? s->deadline - now : 0) / NS_PER_MS));
        } else {
            snprintf(j->errmsg + l, sizeof(j->errmsg) - l,
                     " (no time left for a retry after %d %s)", j->attempts,
                     j->attempts == 1 ? "attempt" : "attempts");
        }
    }
    finish_job(r, s, now);
}

static enum wg_err prepare(struct run *r)
{
    for (size_t i = 0; i < r->n; i++) {
        struct slot *s = &r->slots[i];
        wg__http_job_init_out(s->job);
        s->group = group_of(r, s->job->group, s->job->group_max);
        enum wg_err e = wg__http_slot_headers(s);
        if (e != WG_OK) {
            return e;
        }
        r->grun[s->group]++; /* counted here, zeroed below */
    }
    /* A group's jobs go out in ceil(jobs / max) rounds at its limit; as many rounds need only
     * ceil(jobs / rounds) connections (20 jobs at 8: 3 rounds, and 7 connections do them in
     * 3): the limit is lowered to that, one connect (and close) fewer each on both sides. */
    for (size_t g = 0; g < r->ngroups; g++) {
        int jobs = r->grun[g], max = r->gmax[g];
        if (max > 0 && jobs > max) {
            int rounds = (jobs + max - 1) / max;
            r->gmax[g] = (jobs + rounds - 1) / rounds;
        }
        r->grun[g] = 0;
    }
    return WG_OK;
}

static int group_room(const struct run *r)
{
    for (size_t g = 0; g < r->ngroups; g++) {
        if (r->gmax[g] <= 0 || r->grun[g] < r->gmax[g]) {
            return 1;
        }
    }
    return 0;
}

/* Start what may start now; returns 1 if anything changed, and lowers *wake to the next
 * retry time of a waiting job. */
static int start_ready(struct run *r, size_t *lo, int64_t now, int64_t *wake)
{
    int changed = 0;
    while (*lo < r->n && r->slots[*lo].state == S_DONE) {
        (*lo)++;
    }
    /* With every group at its limit nothing can start: skip the scan (1,000 queued jobs would
     * otherwise be walked on every wake-up). A finishing attempt wakes the loop again. */
    if (!group_room(r)) {
        return 0;
    }
    for (size_t i = *lo; i < r->n && r->running < r->max_total; i++) {
        struct slot *s = &r->slots[i];
        if (s->state != S_PENDING) {
            continue;
        }
        if (s->next_at > now) {
            if (s->next_at < *wake) {
                *wake = s->next_at;
            }
            continue;
        }
        if (r->gmax[s->group] > 0 && r->grun[s->group] >= r->gmax[s->group]) {
            continue;
        }
        start_attempt(r, s, now);
        changed = 1;
        if (!group_room(r)) {
            break;
        }
    }
    return changed;
}

/* The batch loop over curl's socket interface: start what may start, let curl act on its
 * timer and on the sockets epoll says are ready, conclude what finished. */
static void run_events(struct run *r, size_t *lo)
{
    struct wg_http *h = r->h;
    struct epoll_event evs[64];
    while (r->ndone < r->n) {
        int64_t now = wg_mono_ns();
        int64_t wake = now + WG_NS_PER_SEC;
        int changed = start_ready(r, lo, now, &wake);
        int still = 0;
        /* the attempts just added set curl's timer to "now": kick them in this turn */
        if (h->timer_at >= 0 && h->timer_at <= wg_mono_ns()) {
            h->timer_at = -1;
            curl_multi_socket_action(h->m.multi, CURL_SOCKET_TIMEOUT, 0, &still);
        }
        struct slot *s;
        CURLcode rc;
        while ((s = wg__http_next_done(&h->m, &rc)) != NULL) {
            finish_attempt(r, s, rc);
            changed = 1;
        }
        if (r->ndone == r->n) {
            break;
        }
        if (changed) {
            continue;
        }
        if (h->timer_at >= 0 && h->timer_at < wake) {
            wake = h->timer_at;
        }
        int64_t wait = (wake - wg_mono_ns() + NS_PER_MS - 1) / NS_PER_MS; /* never spin early */
        int k = epoll_wait(h->ep, evs, (int)(sizeof(evs) / sizeof(evs[0])),
                           wait < 0      ? 0
                           : wait > 1000 ? 1000
                                         : (int)wait);
        for (int i = 0; i < k; i++) {
            int mask = (evs[i].events & (EPOLLIN | EPOLLHUP) ? CURL_CSELECT_IN : 0) |
                       (evs[i].events & EPOLLOUT ? CURL_CSELECT_OUT : 0) |
                       (evs[i].events & EPOLLERR ? CURL_CSELECT_ERR : 0);
            curl_multi_socket_action(h->m.multi, evs[i].data.fd, mask, &still);
        }
    }
}

enum wg_err wg_http_run(struct wg_http *h, struct wg_http_job *jobs, size_t n,
                        const struct wg_http_opts *o)
{
    enum wg_err err = WG_OK;
    struct run r = {.h = h, .n = n};
    r.max_total = o && o->max_total > 0 ? o->max_total : 64;
    if (!h || (n && !jobs)) {
        return WG_EINVAL;
    }
    r.slots = calloc(n ? n : 1, sizeof(*r.slots));
    r.gkeys = calloc(n ? n : 1, sizeof(*r.gkeys));
    r.gmax = calloc(n ? n : 1, sizeof(*r.gmax));
    r.grun = calloc(n ? n : 1, sizeof(*r.grun));
    if (!r.slots || !r.gkeys || !r.gmax || !r.grun) {
        err = WG_ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        r.slots[i].job = &jobs[i];
    }
    err = prepare(&r);
    if (err != WG_OK) {
        goto out;
    }
    size_t lo = 0;
    if (h->ep >= 0) {
        run_events(&r, &lo);
        goto out;
    }
    while (r.ndone < n) {
        int64_t now = wg_mono_ns();
        int64_t wake = now + WG_NS_PER_SEC;
        int changed = start_ready(&r, &lo, now, &wake);
        int still = 0;
        curl_multi_perform(h->m.multi, &still);
        struct slot *s;
        CURLcode rc;
        while ((s = wg__http_next_done(&h->m, &rc)) != NULL) {
            finish_attempt(&r, s, rc);
            changed = 1;
        }
        if (r.ndone == n) {
            break;
        }
        if (changed) {
            continue;
        }
        int64_t wait = (wake - wg_mono_ns()) / NS_PER_MS;
        curl_multi_poll(h->m.multi, NULL, 0, wait < 0 ? 0 : (int)wait, NULL);
    }
out:
    if (r.slots) {
        for (size_t i = 0; i < n; i++) {
            wg__http_slot_release(&r.slots[i], &h->m);
        }
    }
    free(r.slots);
    free(r.gkeys);
    free(r.gmax);
    free(r.grun);
    return err;
}

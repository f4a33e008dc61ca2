/* http.h — the one libcurl wrapper: a batch runner over one libcurl multi handle (connection
 * reuse, per-group concurrency limits, retries with backoff and jitter, size caps, TLS) that
 * streams response bodies to a consumer, and a pump (single attempts over a long-lived multi
 * handle, for callers with their own retry policy). Not InfluxDB specific: the collector uses
 * the runner, the alerting receivers the pump. The only place where CURLcode becomes wg_err.
 */
#ifndef WG_HTTP_H
#define WG_HTTP_H

#include "common/common.h"

struct wg_http; /* opaque: one libcurl multi handle and its connection cache */

/* Where a 2xx response body goes. data() gets the decoded bytes in order; a non-WG_OK return
 * aborts the transfer and becomes the job's err (the consumer keeps its own message).
 * reset() (optional) rewinds the consumer before a retry; without it, a job whose body has
 * started streaming is never retried. Non-2xx bodies never reach the consumer: they are kept
 * in job->errbody (capped at WG_HTTP_ERRBODY_MAX) for the caller to read a message from. */
struct wg_http_consumer {
    enum wg_err (*data)(void *ud, const char *buf, size_t len);
    enum wg_err (*reset)(void *ud);
    void *ud;
};

struct wg_http_tls {
    const char *ca_file;   /* PEM bundle; NULL: system default */
    const char *cert_file; /* client certificate (PEM) */
    const char *key_file;  /* client key (PEM) */
    int insecure;          /* skip peer and host verification */
};

#define WG_HTTP_ERRBODY_MAX (64 * 1024)
#define WG_HTTP_HEADERS_MAX (32 * 1024)

struct wg_http_job {
    /* in: all borrowed, must outlive wg_http_run */
    const char *method;         /* "GET" (default when NULL), "POST", "PUT", ... */
    const char *url;            /* full URL; only http:// and https:// */
    const char *const *headers; /* "Name: value" strings */
    size_t nheaders;
    const char *body; /* request body (NULL: none) */
    size_t body_len;
    int64_t connect_timeout_ns; /* 0: 5 s */
    int64_t timeout_ns;         /* per attempt; 0: 10 s */
    int64_t budget_ns;          /* all attempts, counted from the first; 0: timeout_ns */
    int64_t deadline_ns;        /* absolute wg_mono_ns() deadline; 0: none */
    size_t max_bytes;           /* response body cap (decoded); 0: 256 MiB */
    size_t keep_bytes;          /* no consumer: keep only this head of the body in errbody and
                                   read the rest unkept (no WG_ETOOBIG below max_bytes); 0: all */
    int retries;                /* attempts after the first */
    const void *group;          /* jobs with the same group share group_max */
    int group_max;              /* concurrent attempts per group; 0: unlimited */
    int no_compression;         /* 1: do not send Accept-Encoding (gzip is asked otherwise) */
    struct wg_http_tls tls;
    struct wg_http_consumer consumer; /* data == NULL: the body is kept in errbody */
    /* out */
    enum wg_err err;  /* WG_OK: a 2xx answer was read to its end */
    char errmsg[512]; /* transport or status error, secrets redacted */
    long status;      /* last HTTP status, 0 if none */
    int attempts;
    int64_t elapsed_ns;
    struct wg_buf headers_in; /* the last response's header block ("Name: value\r\n"...) */
    struct wg_buf errbody;    /* non-2xx body (or the whole body without a consumer) */
};

struct wg_http_opts {
    int max_total; /* concurrent attempts overall; 0: 64 */
};

/* A handle keeps connections alive across runs. NULL on ENOMEM or libcurl failure. */
struct wg_http *wg_http_new(void);
void wg_http_free(struct wg_http *h);

/* Run every job to completion (all concurrently, within the limits). Each job's own err tells
 * how it went: WG_ECONNECT, WG_ETIMEOUT, WG_EHTTP (non-2xx; status and errbody set),
 * WG_ETOOBIG (max_bytes), WG_EIO (connection lost or body truncated), or the consumer's
 * error. Returns WG_OK unless it could not run at all. Not thread-safe per handle. */
enum wg_err wg_http_run(struct wg_http *h, struct wg_http_job *jobs, size_t n,
                        const struct wg_http_opts *o) WG_NODISCARD;

/* Release a job's out buffers (headers_in, errbody); the in fields are left alone. */
void wg_http_job_clear(struct wg_http_job *j);

/* Copy the value of response header `name` (case-insensitive, first match) into out; returns
 * its length, or -1 when absent. */
long wg_http_header(const struct wg_http_job *j, const char *name, char *out, size_t outlen);

/* The response's Retry-After (delta-seconds or an HTTP-date) as a wait in ns from now: 0 for a
 * date in the past, clamped to WG_HTTP_RETRY_AFTER_MAX_S (a longer wait is honoured as the
 * cap, never discarded); -1 when absent or malformed. wg_http_run waits it out when the job's
 * budget allows, and otherwise fails at once saying so ("retry after Ns exceeds the time
 * budget"). */
#define WG_HTTP_RETRY_AFTER_MAX_S INT64_C(3600)
int64_t wg_http_retry_after(const struct wg_http_job *j);

/* ---- the pump: single attempts over a long-lived multi handle ---------------------------- */

/* For a caller that keeps its own queue and retry policy (alerting): every job added runs one
 * attempt, set up and read exactly as one attempt of wg_http_run (timeouts, no redirects,
 * http/https only, TLS, headers, caps, headers_in, the same err/errmsg/status). group,
 * group_max, retries and budget_ns are ignored. One thread drives a pump; only
 * wg_http_pump_wakeup may be called from others. */
struct wg_http_pump;

/* max_connections: open connections overall (0: libcurl's default). NULL on ENOMEM or
 * libcurl failure. */
struct wg_http_pump *wg_http_pump_new(int max_connections);
/* Abandons the attempts still in flight (their jobs get no callback; clear them yourself). */
void wg_http_pump_free(struct wg_http_pump *p);

/* Start one attempt of j (borrowed, with everything it points to, until it is handed back by
 * wg_http_pump_poll). Its out fields are reset first. WG_OK, or j->err (WG_ENOMEM,
 * WG_ETIMEOUT past deadline_ns; errmsg set) when it could not start: then it is not queued. */
enum wg_err wg_http_pump_add(struct wg_http_pump *p, struct wg_http_job *j) WG_NODISCARD;

typedef void (*wg_http_pump_done_fn)(void *ud, struct wg_http_job *j);

/* Move the transfers on and call done(ud, job) for each finished job, its out fields filled
 * (elapsed_ns counts this attempt); the job is the caller's again from then on, and done may
 * add jobs. When none finished at once, waits up to timeout_ms for network activity or a
 * wakeup and tries again. Returns how many jobs finished. */
size_t wg_http_pump_poll(struct wg_http_pump *p, int timeout_ms, wg_http_pump_done_fn done,
                         void *ud);
/* End a wg_http_pump_poll wait early; thread-safe, NULL-safe. */
void wg_http_pump_wakeup(struct wg_http_pump *p);

/* Percent-encode s for a query string or form body (RFC 3986 unreserved kept). */
/* An append into b (its sticky error, checked once with wg_buf_err). */
enum wg_err wg_http_urlencode(struct wg_buf *b, const char *s);

/* Base URL of url for messages: scheme://host[:port], no user info, path or query. */
void wg_http_url_base(const char *url, char *out, size_t outlen);

#endif

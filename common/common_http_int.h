/* common_http_int.h — what the HTTP wrapper's two files share: one attempt's state (a slot)
 * and the functions that start an attempt on an easy handle and turn its end into the job's
 * err/status/errmsg. Not for use outside common/common_http*.c.
 */
#ifndef WG_COMMON_HTTP_INT_H
#define WG_COMMON_HTTP_INT_H

#include <curl/curl.h>

#include "common/http.h"

#define DEF_CONNECT_NS (5 * WG_NS_PER_SEC)
#define DEF_TIMEOUT_NS (10 * WG_NS_PER_SEC)
#define DEF_MAX_BYTES ((size_t)256 << 20)
#define BACKOFF_BASE_NS (100 * INT64_C(1000000))
#define BACKOFF_CAP_NS (5 * WG_NS_PER_SEC)
#define NS_PER_MS INT64_C(1000000)

enum slot_state { S_PENDING = 0, S_RUNNING, S_DONE };

struct slot {
    struct wg_http_job *job;
    CURL *easy;
    struct curl_slist *hdrs;
    enum slot_state state;
    size_t group;
    int64_t next_at;  /* monotonic: earliest start of the next attempt */
    int64_t first_at; /* monotonic: start of the first attempt; 0 before */
    int64_t started;  /* monotonic: start of this attempt */
    int64_t deadline; /* monotonic: end of the job's budget */
    size_t bytes;     /* body bytes of this attempt */
    size_t delivered; /* of which handed to the consumer */
    int need_reset;
    enum wg_err abort_err;
    long status;
    char errbuf[CURL_ERROR_SIZE];
    struct slot *prev, *next; /* pump: attempts in flight */
};

/* A multi handle and the easy handles it keeps between attempts (reset, not destroyed), so
 * that an attempt neither builds nor tears down a handle (one per notification in alerting).
 * As many as a handle keeps connections (common_http.c KEPT_CONNECTIONS): a 50-source fleet
 * call runs ~350 transfers at once, and with 32 kept it built ~320 handles at its start and
 * destroyed them at its end, every call. An idle handle is a few KB (its download buffer is
 * allocated per transfer), and a handle keeps only as many as it once ran at once. */
#define WG__HTTP_IDLE_MAX 512
struct wg__http_multi {
    CURLM *multi;
    CURL *idle[WG__HTTP_IDLE_MAX];
    size_t nidle;
};

/* WG_OK, or WG_ENOMEM (nothing to clean up). */
enum wg_err wg__http_multi_init(struct wg__http_multi *m) WG_NODISCARD;
void wg__http_multi_cleanup(struct wg__http_multi *m);
/* Reset the job's out fields before its first attempt. */
void wg__http_job_init_out(struct wg_http_job *j);
/* Build the slot's header list from the job. */
enum wg_err wg__http_slot_headers(struct slot *s) WG_NODISCARD;
/* Set up an easy handle (an idle one of m if any) for one attempt of per_ns and add it to m;
 * WG_OK, or WG_ENOMEM (also in the job's err and errmsg). */
enum wg_err wg__http_attempt_start(struct slot *s, struct wg__http_multi *m, int64_t per_ns,
                                   int64_t now) WG_NODISCARD;
/* The next finished transfer of m and its CURLcode, or NULL. */
struct slot *wg__http_next_done(struct wg__http_multi *m, CURLcode *rc);
/* Map the attempt's end into the job (err, status, errmsg); nonzero when it may be retried. */
int wg__http_attempt_end(struct slot *s, struct wg__http_multi *m, CURLcode rc, int64_t now);
void wg__http_slot_release(struct slot *s, struct wg__http_multi *m);
void wg__http_job_done(struct wg_http_job *j, int64_t since, int64_t now);

struct wg_http_pump {
    struct wg__http_multi m;
    struct slot *active;
};

#endif

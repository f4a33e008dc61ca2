/* test_common_http.c — the libcurl wrapper (common_http.c) against tests/peers/influx_peer.py on
 * loopback: Retry-After given as an HTTP-date (IMF-fixdate, RFC 850 and asctime forms) on 429
 * and 503 is honoured — waited for when it is within the budget, the end of the job when it is
 * beyond, at once when it is in the past. Delta-seconds are pinned in test_collector_run.c.
 * The pump: jobs run concurrently, one attempt each (200, 429 + Retry-After, timeout, caps).
 * The runner: a group's connections, a consumer's time counted, one handle over several runs.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pthread.h>
#include <time.h>

#include "common/http.h"
#include "peer_helper.h"

#define MS INT64_C(1000000)

enum form { IMF, RFC850, ASCTIME };

static void http_date(char *out, size_t outlen, time_t t, enum form f)
{
    static const char *fmt[] = {"%a, %d %b %Y %H:%M:%S GMT", "%A, %d-%b-%y %H:%M:%S GMT",
                                "%a %b %e %H:%M:%S %Y"};
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, outlen, fmt[f], &tm);
}

struct rcase {
    const char *name;
    int status;
    long offset_s; /* Retry-After = now + offset_s, as an HTTP-date */
    enum form form;
    int want_attempts;
    enum wg_err want_err;
    int waits;      /* 1: elapsed is the time until the date (within 0.2 s / 1 s) */
    int64_t max_ms; /* else: elapsed at most this */
};

/* Budget 5 s, one retry allowed. The date has whole seconds, so the wait is measured against
 * the date itself, taken from the wall clock when the request starts. */
static const struct rcase cases[] = {
    {"429, IMF-fixdate 3 s ahead: waited, then 200", 429, 3, IMF, 2, WG_OK, 1, 0},
    {"503, RFC 850 date 3 s ahead: waited, then 200", 503, 3, RFC850, 2, WG_OK, 1, 0},
    {"429, asctime date 3 s ahead: waited, then 200", 429, 3, ASCTIME, 2, WG_OK, 1, 0},
    {"429, date in the past: retried at once", 429, -3600, IMF, 2, WG_OK, 0, 800},
    {"429, date beyond the budget: no retry", 429, 3600, IMF, 1, WG_EHTTP, 0, 800},
    {"503, asctime date beyond the budget: no retry", 503, 3600, ASCTIME, 1, WG_EHTTP, 0, 800},
};

static void test_retry_after_http_date(void **state)
{
    (void)state;
    int failed = 0;
    struct wg_http *h = wg_http_new();
    assert_non_null(h);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct rcase *c = &cases[i];
        char date[64];
        time_t at = time(NULL) + c->offset_s;
        http_date(date, sizeof(date), at, c->form);
        char *sc = wg_asprintf("{\"routes\":[{\"responses\":[{\"status\":%d,\"headers\":{"
                               "\"Retry-After\":\"%s\"},\"body\":\"busy\"},"
                               "{\"status\":200,\"body\":\"fine\"}]}]}",
                               c->status, date);
        struct peer p;
        assert_int_equal(peer_start(&p, sc), 0);
        char url[96];
        snprintf(url, sizeof(url), "%s/query", p.url);
        struct wg_http_job j = {0};
        j.url = url;
        j.timeout_ns = 5000 * MS;
        j.retries = 1;
        int64_t until_ms = ((int64_t)at * WG_NS_PER_SEC - wg_now_ns()) / MS;
        assert_int_equal(wg_http_run(h, &j, 1, NULL), WG_OK);
        int64_t ms = j.elapsed_ns / MS;
        int64_t min_ms = c->waits ? until_ms - 200 : 0;
        int64_t max_ms = c->waits ? until_ms + 1000 : c->max_ms;
        if (j.attempts != c->want_attempts || j.err != c->want_err || ms < min_ms || ms > max_ms) {
            printf("case %zu (%s), Retry-After: %s\n"
                   "  want: attempts %d, err %s, %lld..%lld ms\n"
                   "  got:  attempts %d, err %s, %lld ms (%s)\n",
                   i, c->name, date, c->want_attempts, wg_strerror(c->want_err), (long long)min_ms,
                   (long long)max_ms, j.attempts, wg_strerror(j.err), (long long)ms, j.errmsg);
            failed++;
        }
        if (c->want_err == WG_OK && (!j.errbody.p || strcmp(j.errbody.p, "fine") != 0)) {
            printf("case %zu (%s): want body \"fine\", got \"%s\"\n", i, c->name,
                   j.errbody.p ? j.errbody.p : "(none)");
            failed++;
        }
        cJSON *reqs = peer_requests(&p);
        int nreq = cJSON_GetArraySize(reqs);
        if (nreq != j.attempts ||
            strcmp(peer_field(cJSON_GetArrayItem(reqs, 0), "path", NULL), "/query") != 0) {
            printf("case %zu (%s): want %d GET /query, got %d requests\n", i, c->name, j.attempts,
                   nreq);
            failed++;
        }
        cJSON_Delete(reqs);
        wg_http_job_clear(&j);
        peer_stop(&p);
        free(sc);
    }
    wg_http_free(h);
    assert_int_equal(failed, 0);
}

/* Retry-After above a day used to be discarded for the default backoff (10 retries in a few
 * seconds against a server that asked for a pause). Now it is clamped to an hour and, being
 * beyond the job's budget, ends the job at once with the reason. */
static void test_retry_after_long(void **state)
{
    (void)state;
    static const struct {
        int status;
        const char *value;
    } cs[] = {{429, "86401"}, {503, "86401"}, {429, "99999999999999999999999"}};
    int failed = 0;
    struct wg_http *h = wg_http_new();
    assert_non_null(h);
    for (size_t i = 0; i < sizeof(cs) / sizeof(cs[0]); i++) {
        char *sc = wg_asprintf("{\"routes\":[{\"responses\":[{\"status\":%d,\"headers\":{"
                               "\"Retry-After\":\"%s\"},\"body\":\"busy\"}]}]}",
                               cs[i].status, cs[i].value);
        struct peer p;
        assert_int_equal(peer_start(&p, sc), 0);
        char url[96];
        snprintf(url, sizeof(url), "%s/query", p.url);
        struct wg_http_job j = {0};
        j.url = url;
        j.timeout_ns = 5000 * MS;
        j.retries = 10;
        assert_int_equal(wg_http_run(h, &j, 1, NULL), WG_OK);
        int64_t ms = j.elapsed_ns / MS;
        int64_t ra = wg_http_retry_after(&j);
        cJSON *reqs = peer_requests(&p);
        int nreq = cJSON_GetArraySize(reqs);
        cJSON_Delete(reqs);
        if (j.err != WG_EHTTP || j.attempts != 1 || nreq != 1 || ms > 2000 ||
            ra != WG_HTTP_RETRY_AFTER_MAX_S * WG_NS_PER_SEC ||
            !strstr(j.errmsg, "retry after 3600s exceeds the time budget")) {
            printf("case %zu: %d + Retry-After: %s\n"
                   "  want: err %s, 1 attempt, 1 request, < 2000 ms, retry-after 3600 s, message "
                   "\"... retry after 3600s exceeds the time budget ...\"\n"
                   "  got:  err %s, %d attempts, %d requests, %lld ms, retry-after %lld ms, \"%s\"\n",
                   i, cs[i].status, cs[i].value, wg_strerror(WG_EHTTP), wg_strerror(j.err),
                   j.attempts, nreq, (long long)ms, (long long)(ra < 0 ? -1 : ra / MS), j.errmsg);
            failed++;
        }
        wg_http_job_clear(&j);
        peer_stop(&p);
        free(sc);
    }
    wg_http_free(h);
    assert_int_equal(failed, 0);
}

/* A group's jobs at its limit take ceil(jobs / max) rounds; as many rounds need only
 * ceil(jobs / rounds) connections, and no more are opened (20 jobs at 8: 7 connections, not 8;
 * 16 at 8: 8; 9 at 8: 5; 3 at 8: 3). Connections counted at the peer by client port. */
static void test_group_connections(void **state)
{
    (void)state;
    static const struct {
        int jobs, max, want;
    } cs[] = {{20, 8, 7}, {16, 8, 8}, {9, 8, 5}, {3, 8, 3}};
    int failed = 0;
    for (size_t i = 0; i < sizeof(cs) / sizeof(cs[0]); i++) {
        struct peer p;
        assert_int_equal(peer_start(&p, "{\"routes\":[{\"responses\":[{\"status\":200,"
                                        "\"delay_ms\":50,\"body\":\"ok\"}]}]}"),
                         0);
        char url[96];
        snprintf(url, sizeof(url), "%s/query", p.url);
        struct wg_http_job js[20];
        memset(js, 0, sizeof(js));
        static const int key = 0;
        for (int k = 0; k < cs[i].jobs; k++) {
            js[k].url = url;
            js[k].timeout_ns = 5000 * MS;
            js[k].group = &key;
            js[k].group_max = cs[i].max;
        }
        struct wg_http *h = wg_http_new();
        assert_non_null(h);
        assert_int_equal(wg_http_run(h, js, (size_t)cs[i].jobs, NULL), WG_OK);
        int ok = 0;
        for (int k = 0; k < cs[i].jobs; k++) {
            ok += js[k].err == WG_OK && js[k].status == 200;
            wg_http_job_clear(&js[k]);
        }
        wg_http_free(h);
        cJSON *reqs = peer_requests(&p);
        int ports[20], nports = 0;
        const cJSON *r;
        cJSON_ArrayForEach(r, reqs)
        {
            int port = cJSON_GetObjectItemCaseSensitive(r, "client_port")->valueint, seen = 0;
            for (int k = 0; k < nports; k++) {
                seen |= ports[k] == port;
            }
            if (!seen && nports < 20) {
                ports[nports++] = port;
            }
        }
        int nreq = cJSON_GetArraySize(reqs);
        cJSON_Delete(reqs);
        peer_stop(&p);
        if (ok != cs[i].jobs || nreq != cs[i].jobs || nports != cs[i].want) {
            printf("case %zu: %d jobs at most %d at once\n  want: all ok, %d requests, %d "
                   "connections\n  got:  %d ok, %d requests, %d connections\n",
                   i, cs[i].jobs, cs[i].max, cs[i].jobs, cs[i].want, ok, nreq, nports);
            failed++;
        }
    }
    assert_int_equal(failed, 0);
}

/* One handle over several runs (the markers' outbox, the writer): between runs libcurl keeps
 * the connection but takes its socket off the runner's epoll set; a later run must watch it
 * again (reused: the same client port), and a connection the server closed is replaced by a
 * new socket, which may get the old descriptor number. Every run ends OK within its timeout
 * (a socket left unwatched would hang the run until then: a timeout, not a 200). */
static void test_handle_across_runs(void **state)
{
    (void)state;
    struct peer p;
    assert_int_equal(peer_start(&p, "{\"routes\":[{\"responses\":[{\"status\":200,\"body\":\"a\","
                                    "\"close\":true},{\"status\":200,\"body\":\"b\"}]}]}"),
                     0);
    char url[96];
    snprintf(url, sizeof(url), "%s/query", p.url);
    struct wg_http *h = wg_http_new();
    assert_non_null(h);
    static const char *const want[] = {"a", "b", "b", "b"};
    int failed = 0;
    for (size_t run = 0; run < 4; run++) {
        struct wg_http_job j;
        memset(&j, 0, sizeof(j));
        j.url = url;
        j.timeout_ns = 3000 * MS;
        int64_t t0 = wg_mono_ns();
        assert_int_equal(wg_http_run(h, &j, 1, NULL), WG_OK);
        int64_t ms = (wg_mono_ns() - t0) / MS;
        if (j.err != WG_OK || j.status != 200 || j.errbody.len != 1 ||
            j.errbody.p[0] != want[run][0] || ms > 2000) {
            printf("run %zu: want 200 '%s' at once, got err %d status %ld '%.*s' after %lld ms: "
                   "%s\n",
                   run, want[run], (int)j.err, j.status, (int)j.errbody.len,
                   j.errbody.p ? j.errbody.p : "", (long long)ms, j.errmsg);
            failed++;
        }
        wg_http_job_clear(&j);
    }
    wg_http_free(h);
    cJSON *reqs = peer_requests(&p);
    int ports[4] = {0};
    for (int k = 0; k < 4 && k < cJSON_GetArraySize(reqs); k++) {
        ports[k] = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(reqs, k), "client_port")
                       ->valueint;
    }
    int nreq = cJSON_GetArraySize(reqs);
    cJSON_Delete(reqs);
    peer_stop(&p);
    /* run 1's connection was closed by the server; runs 2-4 share one */
    if (nreq != 4 || ports[1] == ports[0] || ports[2] != ports[1] || ports[3] != ports[1]) {
        printf("want 4 requests, a new connection after the close and then one reused; got %d "
               "requests on client ports %d %d %d %d\n",
               nreq, ports[0], ports[1], ports[2], ports[3]);
        failed++;
    }
    assert_int_equal(failed, 0);
}

/* A consumer that works 60 ms on every piece (a slow parse, as 100k series were): libcurl's
 * timeout does not count that time, the job's budget does. The body (256 KiB) is on the
 * socket at once; without the check the job ran to its end, well past its 300 ms budget. */
static enum wg_err slow_consumer(void *ud, const char *buf, size_t len)
{
    (void)buf;
    (void)len;
    (*(int *)ud)++;
    int64_t until = wg_mono_ns() + 60 * MS;
    while (wg_mono_ns() < until) {
        /* busy: parsing work, not a wait */
    }
    return WG_OK;
}

static void test_budget_covers_the_consumer(void **state)
{
    (void)state;
    static char body[256 * 1024 + 1];
    memset(body, 'x', sizeof(body) - 1);
    char *sc = wg_asprintf("{\"routes\":[{\"responses\":[{\"status\":200,\"body\":\"%s\"}]}]}",
                           body);
    struct peer p;
    assert_int_equal(peer_start(&p, sc), 0);
    struct wg_http *h = wg_http_new();
    assert_non_null(h);
    int calls = 0;
    struct wg_http_job j = {0};
    j.url = p.url;
    j.timeout_ns = 300 * MS;
    j.consumer.data = slow_consumer;
    j.consumer.ud = &calls;
    assert_int_equal(wg_http_run(h, &j, 1, NULL), WG_OK);
    int64_t ms = j.elapsed_ns / MS;
    if (j.err != WG_ETIMEOUT || ms > 700 || !strstr(j.errmsg, "reading and parsing")) {
        printf("want: err %s within 700 ms, \"... reading and parsing ...\"\n"
               "got:  err %s after %lld ms and %d pieces: %s\n",
               wg_strerror(WG_ETIMEOUT), wg_strerror(j.err), (long long)ms, calls, j.errmsg);
        fail();
    }
    wg_http_job_clear(&j);
    wg_http_free(h);
    peer_stop(&p);
    free(sc);
}

/* ---- the pump ------------------------------------------------------------------------ */

struct pcase {
    const char *name;
    const char *response; /* influx_peer.py RESPONSE */
    int64_t timeout_ms;
    size_t max_bytes, keep_bytes;
    enum wg_err want_err;
    long want_status;
    const char *want_body;       /* errbody, NULL: not checked */
    size_t want_body_len;        /* with want_body == NULL: errbody length */
    int64_t want_retry_after_ms; /* wg_http_retry_after, -1: absent */
    int64_t min_ms, max_ms;      /* elapsed */
};

#define KB1 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define BIG KB1 KB1 KB1 KB1 KB1 KB1 KB1 KB1 /* 512 bytes */

/* All in one pump at once; retries is 3 everywhere and must be ignored (one attempt each). */
static const struct pcase pcases[] = {
    {"200: completes, body kept", "{\"status\":200,\"body\":\"fine\"}", 5000, 0, 0, WG_OK, 200,
     "fine", 0, -1, 0, 3000},
    {"429: one attempt, Retry-After surfaces",
     "{\"status\":429,\"headers\":{\"Retry-After\":\"7\"},\"body\":\"slow down\"}", 5000, 0, 0,
     WG_EHTTP, 429, "slow down", 0, 7000, 0, 3000},
    {"503 without Retry-After: one attempt", "{\"status\":503}", 5000, 0, 0, WG_EHTTP, 503, "", 0,
     -1, 0, 3000},
    {"no answer: timeout", "{\"hang\":true}", 400, 0, 0, WG_ETIMEOUT, 0, NULL, 0, -1, 350, 3000},
    {"512-byte body, keep_bytes 100: the head, no error", "{\"status\":200,\"body\":\"" BIG "\"}",
     5000, 0, 100, WG_OK, 200, NULL, 100, -1, 0, 3000},
    {"512-byte body, max_bytes 100: too big", "{\"status\":200,\"body\":\"" BIG "\"}", 5000, 100, 0,
     WG_ETOOBIG, 200, NULL, 0, -1, 0, 3000},
};
#define NPC (sizeof(pcases) / sizeof(pcases[0]))

struct pdone {
    struct wg_http_job *jobs;
    int done[NPC];
    size_t ndone;
};

static void on_done(void *ud, struct wg_http_job *j)
{
    struct pdone *d = ud;
    d->done[j - d->jobs]++;
    d->ndone++;
}

static int check_pump_case(size_t i, const struct wg_http_job *j, struct peer *p)
{
    const struct pcase *c = &pcases[i];
    int failed = 0;
    int64_t ms = j->elapsed_ns / MS;
    int64_t ra = wg_http_retry_after(j);
    int64_t ra_ms = ra < 0 ? -1 : ra / MS;
    const char *body = j->errbody.p ? j->errbody.p : "";
    int body_ok = c->want_body ? strcmp(body, c->want_body) == 0
                               : (c->want_body_len == 0 || j->errbody.len == c->want_body_len);
    if (j->err != c->want_err || j->status != c->want_status || j->attempts != 1 || !body_ok ||
        ra_ms != c->want_retry_after_ms || ms < c->min_ms || ms > c->max_ms) {
        printf("pump case %zu (%s)\n"
               "  want: err %s, status %ld, attempts 1, body \"%s\" (%zu bytes), "
               "retry-after %lld ms, %lld..%lld ms\n"
               "  got:  err %s, status %ld, attempts %d, body \"%.40s\" (%zu bytes), "
               "retry-after %lld ms, %lld ms (%s)\n",
               i, c->name, wg_strerror(c->want_err), c->want_status,
               c->want_body ? c->want_body : "", c->want_body_len,
               (long long)c->want_retry_after_ms, (long long)c->min_ms, (long long)c->max_ms,
               wg_strerror(j->err), j->status, j->attempts, body, j->errbody.len, (long long)ra_ms,
               (long long)ms, j->errmsg);
        failed++;
    }
    cJSON *reqs = peer_requests(p);
    int nreq = cJSON_GetArraySize(reqs);
    const cJSON *r0 = cJSON_GetArrayItem(reqs, 0);
    /* peer_field: "" when absent */
    const char *method = peer_field(r0, "method", NULL);
    const char *xt = peer_field(r0, "headers", "x-test");
    const char *ae = peer_field(r0, "headers", "accept-encoding");
    const char *rbody = peer_field(r0, "body", NULL);
    if (nreq != 1 || strcmp(method, "POST") != 0 || strcmp(xt, "yes") != 0 || ae[0] ||
        strcmp(rbody, "ping") != 0) {
        printf("pump case %zu (%s): want 1 POST with body \"ping\", X-Test: yes and no "
               "Accept-Encoding, got %d requests (%s, X-Test %s, Accept-Encoding %s, body %s)\n",
               i, c->name, nreq, method, xt, ae, rbody);
        failed++;
    }
    cJSON_Delete(reqs);
    return failed;
}

static void test_pump(void **state)
{
    (void)state;
    static const char *const hdrs[] = {"X-Test: yes"};
    struct peer peers[NPC];
    struct wg_http_job jobs[NPC];
    char urls[NPC][96];
    struct pdone d = {.jobs = jobs};
    int failed = 0;
    struct wg_http_pump *pump = wg_http_pump_new(0);
    assert_non_null(pump);
    memset(jobs, 0, sizeof(jobs));
    for (size_t i = 0; i < NPC; i++) {
        const struct pcase *c = &pcases[i];
        char *sc = wg_asprintf("{\"routes\":[{\"responses\":[%s]}]}", c->response);
        assert_int_equal(peer_start(&peers[i], sc), 0);
        free(sc);
        snprintf(urls[i], sizeof(urls[i]), "%s/hook", peers[i].url);
        struct wg_http_job *j = &jobs[i];
        j->method = "POST";
        j->url = urls[i];
        j->headers = hdrs;
        j->nheaders = 1;
        j->body = "ping";
        j->body_len = 4;
        j->timeout_ns = c->timeout_ms * MS;
        j->max_bytes = c->max_bytes;
        j->keep_bytes = c->keep_bytes;
        j->retries = 3;
        j->no_compression = 1;
        assert_int_equal(wg_http_pump_add(pump, j), WG_OK);
    }
    int64_t deadline = wg_mono_ns() + 10 * WG_NS_PER_SEC;
    while (d.ndone < NPC && wg_mono_ns() < deadline) {
        wg_http_pump_poll(pump, 200, on_done, &d);
    }
    for (size_t i = 0; i < NPC; i++) {
        if (d.done[i] != 1) {
            printf("pump case %zu (%s): want 1 callback, got %d\n", i, pcases[i].name, d.done[i]);
            failed++;
            continue;
        }
        failed += check_pump_case(i, &jobs[i], &peers[i]);
    }
    for (size_t i = 0; i < NPC; i++) {
        wg_http_job_clear(&jobs[i]);
        peer_stop(&peers[i]);
    }
    wg_http_pump_free(pump);
    assert_int_equal(failed, 0);
}

static void *wake_later(void *arg)
{
    struct timespec ts = {0, 50 * 1000000};
    nanosleep(&ts, NULL); /* the wakeup must land while the poll waits */
    wg_http_pump_wakeup(arg);
    return NULL;
}

/* A wakeup from another thread ends a poll's wait early; freeing the pump abandons a job still
 * in flight without a callback (ASan finds what it would leak). */
static void test_pump_wakeup_and_abandon(void **state)
{
    (void)state;
    struct peer p;
    assert_int_equal(peer_start(&p, "{\"routes\":[{\"responses\":[{\"hang\":true}]}]}"), 0);
    struct wg_http_pump *pump = wg_http_pump_new(0);
    assert_non_null(pump);
    struct wg_http_job j = {0};
    j.url = p.url;
    j.timeout_ns = 30 * WG_NS_PER_SEC;
    assert_int_equal(wg_http_pump_add(pump, &j), WG_OK);
    struct pdone d = {.jobs = &j};
    pthread_t t;
    int64_t t0 = wg_mono_ns();
    assert_int_equal(pthread_create(&t, NULL, wake_later, pump), 0);
    size_t n = 0;
    /* Polls may return early on connection activity: poll until the wakeup is due (50 ms);
     * the one waiting then must end at the wakeup, not after its 5 s. */
    for (int k = 0; k < 50 && wg_mono_ns() - t0 < 50 * MS; k++) {
        n += wg_http_pump_poll(pump, 5000, on_done, &d);
    }
    int64_t ms = (wg_mono_ns() - t0) / MS;
    pthread_join(t, NULL);
    if (n != 0 || ms > 2000) {
        printf("wakeup: want no job done within 2000 ms, got %zu done after %lld ms\n", n,
               (long long)ms);
    }
    assert_int_equal(n, 0);
    assert_true(ms <= 2000);
    wg_http_pump_free(pump);
    wg_http_job_clear(&j);
    peer_stop(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_retry_after_http_date),
        cmocka_unit_test(test_retry_after_long),
        cmocka_unit_test(test_group_connections),
        cmocka_unit_test(test_handle_across_runs),
        cmocka_unit_test(test_budget_covers_the_consumer),
        cmocka_unit_test(test_pump),
        cmocka_unit_test(test_pump_wakeup_and_abandon),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

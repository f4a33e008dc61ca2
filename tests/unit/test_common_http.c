/* test_common_http.c — the libcurl wrapper (common_http.c) against tests/peers/influx_peer.py on
 * loopback: Retry-After given as an HTTP-date (IMF-fixdate, RFC 850 and asctime forms) on 429
 * and 503 is honoured — waited for when it is within the budget, the end of the job when it is
 * beyond, at once when it is in the past. Delta-seconds are pinned in test_collector_run.c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

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
    int waits;              /* 1: elapsed is the time until the date (within 0.2 s / 1 s) */
    int64_t max_ms;         /* else: elapsed at most this */
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
        if (j.attempts != c->want_attempts || j.err != c->want_err || ms < min_ms ||
            ms > max_ms) {
            printf("case %zu (%s), Retry-After: %s\n"
                   "  want: attempts %d, err %s, %lld..%lld ms\n"
                   "  got:  attempts %d, err %s, %lld ms (%s)\n",
                   i, c->name, date, c->want_attempts, wg_strerror(c->want_err),
                   (long long)min_ms, (long long)max_ms, j.attempts, wg_strerror(j.err),
                   (long long)ms, j.errmsg);
            failed++;
        }
        if (c->want_err == WG_OK && (!j.errbody.p || strcmp(j.errbody.p, "fine") != 0)) {
            printf("case %zu (%s): want body \"fine\", got \"%s\"\n", i, c->name,
                   j.errbody.p ? j.errbody.p : "(none)");
            failed++;
        }
        cJSON *reqs = peer_requests(&p);
        int nreq = cJSON_GetArraySize(reqs);
        if (nreq != j.attempts || strcmp(peer_field(cJSON_GetArrayItem(reqs, 0), "path", NULL),
                                         "/query") != 0) {
            printf("case %zu (%s): want %d GET /query, got %d requests\n", i, c->name,
                   j.attempts, nreq);
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_retry_after_http_date),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

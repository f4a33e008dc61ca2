/* test_gate_server.c — the HTTP gate over real loopback HTTP (libcurl → libmicrohttpd on port
 * 0) with a scripted evaluator standing in for the data: every /v1/gate mode, every Flagger
 * hook against every verdict, auth, bad input, caps, single flight and cache, metrics.
 * The evaluator's verdict is the wave's name ("pass", "fail", ...; "missing" is unknown).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "gate/gate.h"
#include "gate/gate_server_int.h"
#include "http_helper.h"

#define TOKEN "s3cret-token-for-tests-0123456789abcdef"

static atomic_int g_evals;
static int g_port;
static struct wg_server *g_srv;
static char g_state[64];

/* The "slow" evaluation waits here until the test has seen every other request join it (no
 * sleep: the test polls /metrics against a deadline, then opens the gate). */
static pthread_mutex_t g_slow_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_slow_cv = PTHREAD_COND_INITIALIZER;
static int g_slow_open = 1;

static void slow_gate(int open)
{
    pthread_mutex_lock(&g_slow_mu);
    g_slow_open = open;
    pthread_cond_broadcast(&g_slow_cv);
    pthread_mutex_unlock(&g_slow_mu);
}

static enum wg_err fake_eval(void *ud, const struct wg_config *cfg,
                             const struct wg_check_req *req, enum wg_verdict *verdict,
                             char **json, char *err, size_t errlen)
{
    (void)ud;
    (void)cfg;
    atomic_fetch_add(&g_evals, 1);
    static const char *const names[] = {"pass", "warn", "inconclusive", "error", "fail"};
    if (!strcmp(req->wave, "slow")) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += 20; /* a server that never shares the flight fails the test, not hangs */
        pthread_mutex_lock(&g_slow_mu);
        while (!g_slow_open &&
               pthread_cond_timedwait(&g_slow_cv, &g_slow_mu, &until) == 0) {
        }
        pthread_mutex_unlock(&g_slow_mu);
        *verdict = WG_PASS;
        *json = strdup("{\"verdict\":\"pass\",\"wave\":\"slow\"}");
        return WG_OK;
    }
    for (int v = 0; v <= WG_FAIL; v++) {
        if (!strcmp(req->wave, names[v])) {
            *verdict = (enum wg_verdict)v;
            char buf[256];
            snprintf(buf, sizeof(buf), "{\"verdict\":\"%s\",\"wave\":\"%s\",\"nfeatures\":%zu}",
                     names[v], req->wave, req->nfeatures);
            *json = strdup(buf);
            return WG_OK;
        }
    }
    snprintf(err, errlen, "unknown wave \"%s\"", req->wave);
    return WG_ENOTFOUND;
}

/* method "GET"/"POST"; auth NULL = no header; body NULL = none. */
static void http(const char *method, const char *path, const char *auth, const char *body,
                 struct http_resp *out)
{
    char ah[256] = "";
    if (auth) {
        snprintf(ah, sizeof(ah), "Authorization: %s", auth);
    }
    http_request(g_port, method, path, auth ? ah : NULL, body, out);
}

static int setup(void **state)
{
    (void)state;
    snprintf(g_state, sizeof(g_state), "/tmp/wg-test-serve-XXXXXX");
    if (!mkdtemp(g_state)) {
        return -1;
    }
    setenv("WG_TEST_SERVE_TOKEN", TOKEN, 1);
    struct wg_config *cfg = calloc(1, sizeof(*cfg));
    cfg->state_dir = strdup(g_state);
    cfg->server.bearer_token_env = strdup("WG_TEST_SERVE_TOKEN");
    cfg->server.max_body = 1024;
    cfg->server.cache_ttl_ns = 2 * WG_NS_PER_SEC;
    cfg->server.max_connections = 64;
    cfg->server.per_ip_connections = 64;
    cfg->server.connection_timeout_ns = 5 * WG_NS_PER_SEC;
    cfg->server.request_timeout_ns = WG_NS_PER_SEC;
    cfg->server.threads = 2;
    g_port = http_server_start(cfg, (struct wg_server_eval){fake_eval, NULL}, &g_srv);
    return g_port > 0 ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    wg_server_free(g_srv);
    return http_rm_dir(g_state);
}

struct tcase {
    const char *method, *path, *body;
    int auth; /* 0 none, 1 right, 2 wrong */
    long want;
    const char *want_body; /* substring, or NULL */
    const char *want_hdr;  /* substring of the headers, or NULL */
};

static void run_cases(const struct tcase *t, size_t n)
{
    int bad = 0;
    for (size_t i = 0; i < n; i++) {
        struct http_resp r;
        const char *auth = t[i].auth == 1 ? "Bearer " TOKEN : t[i].auth == 2 ? "Bearer nope"
                                                                            : NULL;
        http(t[i].method, t[i].path, auth, t[i].body, &r);
        int ok = r.status == t[i].want && (!t[i].want_body || strstr(r.body, t[i].want_body)) &&
                 (!t[i].want_hdr || strcasestr(r.hdrs, t[i].want_hdr));
        if (!ok) {
            print_error("case %zu: %s %s body=%s\n  want %ld %s %s\n  got  %ld %s\n", i,
                        t[i].method, t[i].path, t[i].body ? t[i].body : "-", t[i].want,
                        t[i].want_body ? t[i].want_body : "", t[i].want_hdr ? t[i].want_hdr : "",
                        r.status, r.body);
            bad++;
        }
    }
    assert_int_equal(bad, 0);
}

static void test_gate_modes(void **state)
{
    (void)state;
    static const struct tcase t[] = {
        /* body mode: 200 for every verdict, "could not evaluate" too (Argo's conditions make
         * it Inconclusive = hold, where a 503 is an Error and, repeated, an abort) */
        {"GET", "/v1/gate?wave=pass", NULL, 1, 200, "\"verdict\":\"pass\"", NULL},
        {"GET", "/v1/gate?wave=warn&mode=body", NULL, 1, 200, "\"verdict\":\"warn\"", NULL},
        {"GET", "/v1/gate?wave=fail", NULL, 1, 200, "\"verdict\":\"fail\"", NULL},
        {"GET", "/v1/gate?wave=inconclusive", NULL, 1, 200, "inconclusive", NULL},
        {"GET", "/v1/gate?wave=error", NULL, 1, 200, "\"verdict\":\"error\"", "Retry-After: 10"},
        /* status mode */
        {"GET", "/v1/gate?wave=pass&mode=status", NULL, 1, 200, "pass", NULL},
        {"GET", "/v1/gate?wave=warn&mode=status", NULL, 1, 200, "warn", NULL},
        {"GET", "/v1/gate?wave=fail&mode=status", NULL, 1, 412, "fail", NULL},
        {"GET", "/v1/gate?wave=inconclusive&mode=status", NULL, 1, 409, "inconclusive", NULL},
        {"GET", "/v1/gate?wave=error&mode=status", NULL, 1, 503, "error", "Retry-After"},
        /* POST with a JSON body; the query string wins over the body */
        {"POST", "/v1/gate", "{\"wave\":\"fail\",\"mode\":\"status\"}", 1, 412, "fail", NULL},
        {"POST", "/v1/gate", "{\"wave\":\"pass\",\"feature\":[\"a\",\"b\"]}", 1, 200,
         "\"nfeatures\":2", NULL},
        {"POST", "/v1/gate?mode=status", "{\"wave\":\"inconclusive\"}", 1, 409, NULL, NULL},
        {"GET", "/v1/gate?wave=pass&feature=a&feature=b,c", NULL, 1, 200, "\"nfeatures\":3",
         NULL},
        {"POST", "/v1/gate", "{\"stage\":\"pass\",\"deploy_time\":\"2026-01-02T03:04:05Z\"}", 1,
         200, "pass", NULL},
        /* unknown wave: 404 naming it */
        {"GET", "/v1/gate?wave=missing", NULL, 1, 404, "unknown wave \\\"missing\\\"", NULL},
        {"GET", "/v1/gate?wave=missing&mode=status", NULL, 1, 404, "missing", NULL},
    };
    run_cases(t, sizeof(t) / sizeof(t[0]));
}

static void test_flagger(void **state)
{
    (void)state;
    /* hook x verdict -> status, per the issue and consumers-and-gates.md §5.3. */
    static const char *const verdicts[] = {"pass", "warn", "inconclusive", "error", "fail"};
    static const struct {
        const char *hook;
        long want[5]; /* pass warn inconclusive error fail */
    } t[] = {
        {"rollout", {200, 200, 409, 503, 412}},
        {"pre-rollout", {200, 200, 409, 503, 412}},
        {"confirm-rollout", {200, 200, 409, 503, 412}},
        {"confirm-promotion", {200, 200, 409, 503, 412}},
        {"confirm-traffic-increase", {200, 200, 409, 503, 412}},
        {"rollback", {412, 412, 412, 412, 200}},
        {"post-rollout", {200, 200, 200, 200, 200}},
        {"event", {200, 200, 200, 200, 200}},
    };
    int bad = 0;
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        for (int v = 0; v < 5; v++) {
            char path[128], body[512];
            struct http_resp r;
            snprintf(path, sizeof(path), "/v1/flagger/%s?feature=checkout", t[i].hook);
            snprintf(body, sizeof(body),
                     "{\"name\":\"podinfo\",\"namespace\":\"test\",\"phase\":\"Progressing\","
                     "\"checksum\":\"85d557f47b\",\"metadata\":{\"wave\":\"%s\",\"token\":\"%s\","
                     "\"eventType\":\"Normal\",\"threshold\":\"1\"}}",
                     verdicts[v], TOKEN);
            http("POST", path, NULL, body, &r);
            if (r.status != t[i].want[v]) {
                print_error("flagger %s verdict %s: want %ld got %ld %s\n", t[i].hook,
                            verdicts[v], t[i].want[v], r.status, r.body);
                bad++;
            }
        }
    }
    static const struct tcase more[] = {
        /* the wave from the query string; the token in metadata */
        {"POST", "/v1/flagger/rollout?wave=fail",
         "{\"name\":\"p\",\"metadata\":{\"token\":\"" TOKEN "\"}}", 0, 412, NULL, NULL},
        /* inconclusive=pass policy for rollout */
        {"POST", "/v1/flagger/rollout?wave=inconclusive&inconclusive=pass",
         "{\"name\":\"p\",\"metadata\":{\"token\":\"" TOKEN "\"}}", 0, 200, NULL, NULL},
        /* no token, wrong token: 401 */
        {"POST", "/v1/flagger/rollout?wave=pass", "{\"name\":\"p\",\"metadata\":{}}", 0, 401,
         "unauthorized", NULL},
        {"POST", "/v1/flagger/rollout?wave=pass",
         "{\"name\":\"p\",\"metadata\":{\"token\":\"wrong\"}}", 0, 401, NULL, NULL},
        /* a header token works too */
        {"POST", "/v1/flagger/confirm-promotion?wave=pass", "{\"name\":\"p\"}", 1, 200, NULL,
         NULL},
        /* unknown hook, GET */
        {"POST", "/v1/flagger/nope?wave=pass", "{}", 1, 404, NULL, NULL},
        {"GET", "/v1/flagger/rollout?wave=pass", NULL, 1, 405, NULL, NULL},
        /* no wave anywhere */
        {"POST", "/v1/flagger/rollout", "{\"metadata\":{\"token\":\"" TOKEN "\"}}", 0, 400,
         "wave: required", NULL},
        /* a token in the URL is refused (it would end up in access logs): never a login */
        {"POST", "/v1/flagger/rollout?wave=pass&token=" TOKEN, "{\"name\":\"p\"}", 0, 401,
         NULL, NULL},
        {"GET", "/v1/gate?wave=pass&token=" TOKEN, NULL, 1, 400, "refused in the URL", NULL},
        /* rollback: never before the canary gets traffic; then only at the threshold-th
         * failing check of this canary + checksum (a new checksum starts over) */
        {"POST", "/v1/flagger/rollback?wave=fail",
         "{\"name\":\"c\",\"namespace\":\"n\",\"phase\":\"Waiting\",\"checksum\":\"a1\","
         "\"metadata\":{\"threshold\":\"1\"}}",
         1, 412, "no traffic", NULL},
        {"POST", "/v1/flagger/rollback?wave=fail",
         "{\"name\":\"c\",\"namespace\":\"n\",\"phase\":\"Progressing\",\"checksum\":\"a1\","
         "\"metadata\":{\"threshold\":\"2\"}}",
         1, 412, NULL, NULL},
        {"POST", "/v1/flagger/rollback?wave=fail",
         "{\"name\":\"c\",\"namespace\":\"n\",\"phase\":\"Progressing\",\"checksum\":\"b2\","
         "\"metadata\":{\"threshold\":\"2\"}}",
         1, 412, NULL, NULL},
        {"POST", "/v1/flagger/rollback?wave=fail",
         "{\"name\":\"c\",\"namespace\":\"n\",\"phase\":\"Progressing\",\"checksum\":\"a1\","
         "\"metadata\":{\"threshold\":\"2\"}}",
         1, 200, NULL, NULL},
    };
    run_cases(more, sizeof(more) / sizeof(more[0]));
    assert_int_equal(bad, 0);
}

static void test_auth_and_bad_input(void **state)
{
    (void)state;
    static char big[4096 + 64];
    memset(big, ' ', sizeof(big) - 1);
    memcpy(big, "{\"wave\":\"pass\"}", 15);
    static const struct tcase t[] = {
        {"GET", "/v1/gate?wave=pass", NULL, 0, 401, NULL, "WWW-Authenticate: Bearer realm"},
        {"GET", "/v1/gate?wave=pass", NULL, 2, 401, NULL, "error=\"invalid_token\""},
        {"POST", "/v1/analyses", "{}", 0, 401, NULL, NULL},
        {"GET", "/v1/analyses/abc", NULL, 0, 401, NULL, NULL},
        /* health and metrics are open */
        {"GET", "/healthz", NULL, 0, 200, "ok", NULL},
        {"GET", "/metrics", NULL, 0, 200, "wavegate_gate_requests_total", NULL},
        /* malformed JSON: 400 with the reason */
        {"POST", "/v1/gate", "{\"wave\":", 1, 400, "malformed JSON at byte", NULL},
        {"POST", "/v1/gate", "[1,2]", 1, 400, "want a JSON object", NULL},
        {"POST", "/v1/gate", "{\"wave\":42}", 1, 400, "wave: want a string", NULL},
        {"POST", "/v1/gate", "{\"wave\":\"pass\",\"feature\":[1]}", 1, 400, "want strings",
         NULL},
        {"GET", "/v1/gate?wave=pass&mode=loud", NULL, 1, 400, "mode: want body or status", NULL},
        {"GET", "/v1/gate?wave=pass&deploy_time=yesterday", NULL, 1, 400, "deploy_time", NULL},
        {"GET", "/v1/gate", NULL, 1, 400, "wave: required", NULL},
        /* over max_body (1024 here): 413 */
        {"POST", "/v1/gate", big, 1, 413, "max_body", NULL},
        /* routes and methods */
        {"GET", "/nope", NULL, 1, 404, NULL, NULL},
        {"DELETE", "/v1/gate?wave=pass", NULL, 1, 405, NULL, NULL},
        {"GET", "/v1/analyses/0123456789abcdef0123456789abcdef", NULL, 1, 404, "no such", NULL},
        {"GET", "/v1/analyses/../../etc", NULL, 1, 404, NULL, NULL},
        {"POST", "/v1/analyses", "{\"wave\":\"pass\"}", 1, 400, "interval", NULL},
    };
    run_cases(t, sizeof(t) / sizeof(t[0]));
}

static void *slow_get(void *arg)
{
    struct http_resp *r = arg;
    http("GET", "/v1/gate?wave=slow&feature=x", "Bearer " TOKEN, NULL, r);
    return NULL;
}

static unsigned long long shared_waits(void)
{
    static struct http_resp r;
    http("GET", "/metrics", NULL, NULL, &r);
    const char *p = strstr(r.body, "\nwavegate_gate_shared_evaluations_total ");
    assert_non_null(p);
    return strtoull(p + strlen("\nwavegate_gate_shared_evaluations_total "), NULL, 10);
}

static void test_single_flight_and_cache(void **state)
{
    (void)state;
    enum { N = 8 };
    pthread_t th[N];
    static struct http_resp rs[N];
    int before = (int)atomic_load(&g_evals);
    unsigned long long waits0 = shared_waits(), waits = waits0;
    slow_gate(0);
    for (int i = 0; i < N; i++) {
        pthread_create(&th[i], NULL, slow_get, &rs[i]);
    }
    /* The evaluation is held until the other N-1 requests wait on it (or 20 s passed). */
    int64_t deadline = wg_mono_ns() + 20 * WG_NS_PER_SEC;
    while ((waits = shared_waits()) < waits0 + N - 1 && wg_mono_ns() < deadline) {
        struct timespec ts = {0, 2 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    slow_gate(1);
    for (int i = 0; i < N; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(rs[i].status, 200);
    }
    if (waits < waits0 + N - 1) {
        print_error("want %d requests waiting on the one evaluation, saw %llu\n", N - 1,
                    waits - waits0);
    }
    assert_true(waits >= waits0 + N - 1);
    int evals = (int)atomic_load(&g_evals) - before;
    if (evals != 1) {
        print_error("want 1 evaluation for %d identical concurrent requests, got %d\n", N,
                    evals);
    }
    assert_int_equal(evals, 1);
    /* within the TTL (2s here) the verdict is cached */
    struct http_resp r;
    http("GET", "/v1/gate?feature=x&wave=slow", "Bearer " TOKEN, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_int_equal((int)atomic_load(&g_evals) - before, 1);
    /* a different question is another evaluation */
    http("GET", "/v1/gate?wave=slow&feature=y", "Bearer " TOKEN, NULL, &r);
    assert_int_equal((int)atomic_load(&g_evals) - before, 2);
    http("GET", "/metrics", NULL, NULL, &r);
    assert_non_null(strstr(r.body, "wavegate_gate_shared_evaluations_total"));
    assert_non_null(strstr(r.body, "wavegate_gate_requests_total{consumer=\"gate_status\","
                                   "verdict=\"fail\"}"));
}

static void test_analysis_lifecycle(void **state)
{
    (void)state;
    struct http_resp r;
    http("POST", "/v1/analyses", "Bearer " TOKEN,
         "{\"wave\":\"pass\",\"interval\":\"100ms\",\"count\":3}", &r);
    /* wg_config_wave on an empty config: the wave is unknown here -> 404 naming it */
    assert_int_equal(r.status, 404);
    assert_non_null(strstr(r.body, "unknown wave"));
}

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* request_timeout (1 s here) bounds the whole head: a byte every 100 ms is never idle for
 * connection_timeout (5 s), yet the connection is closed at about 1 s. Without the guard it
 * stays open for the whole 4 s. test_serve_limits.sh has the many-address siege. */
static void test_request_deadline(void **state)
{
    (void)state;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)g_port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    static const char head[] = "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Pad: aaaaaaaaaaaaaaaaaaaa"
                               "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    double t0 = mono_s(), closed = -1;
    for (size_t i = 0; i < sizeof(head) - 1 && mono_s() - t0 < 4; i++) {
        if (send(fd, head + i, 1, MSG_NOSIGNAL) != 1) {
            closed = mono_s() - t0;
            break;
        }
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, 100) == 1) { /* readable: EOF (or a reset) from the server */
            char c;
            if (recv(fd, &c, 1, 0) <= 0) {
                closed = mono_s() - t0;
                break;
            }
        }
    }
    close(fd);
    if (closed < 0.8 || closed > 3) {
        print_error("want closed after 0.8-3 s, got %.2f s (-1: still open)\n", closed);
    }
    assert_true(closed >= 0.8 && closed <= 3);
    /* and the server still answers */
    struct http_resp r;
    http("GET", "/healthz", NULL, NULL, &r);
    assert_int_equal(r.status, 200);
}

/* Crashes found by tests/fuzz/fuzz_body.c, named after the libFuzzer artifact, plus the
 * bodies just inside and outside the range they probed. The first three overflowed int64
 * nanoseconds (undefined behaviour, fatal under -fsanitize=undefined) before deploy_time
 * was capped at 9e9 Unix seconds. */
#define FIX(kind, lit, want)                                                                       \
    {                                                                                              \
#kind ": " lit, kind, lit, sizeof(lit) - 1, want                                           \
    }
static void test_body_fixtures(void **state)
{
    (void)state;
    static const struct {
        const char *name;
        enum wg__body kind;
        const char *body;
        size_t len;
        unsigned want;
    } t[] = {
        /* crash-b741ced0ea1a120246d2ebc842c972c5ebe66fe4: numeric deploy_time 1.7e10 s */
        FIX(WG__B_GATE,
            "{\"stage\":\"prod\",\"feature\":\"a,b\xff\xff\xff,\xff\xff,c\","
            "\"deploy_time\":17675225600}",
            400),
        /* crash-935577f46c1fd594b6010bcc10c53d327e10f697: string deploy_time in metadata */
        FIX(WG__B_FLAGGER, "{\"(m\":\"\",\"metadata\":{\"deploy_time\\u0000o\":\"23333333331\"}}",
            400),
        /* crash-c71013b7eda176f5b439ea5b688b5bb04c50479e: the analyses spec, same parser */
        FIX(WG__B_ANALYSES,
            "{\"deploy_time\":\"015532559272\",\"interval\":\"1s\",\"count\":1,"
            "\"wave\":\"w\"}",
            400),
        FIX(WG__B_GATE, "{\"wave\":\"w\",\"deploy_time\":8999999999}", 400), /* 2255 */
        FIX(WG__B_GATE, "{\"wave\":\"w\",\"deploy_time\":1700000000}", 0),
        FIX(WG__B_GATE, "{\"wave\":\"w\",\"deploy_time\":\"9000000000\"}", 400),
        FIX(WG__B_GATE, "{\"wave\":\"w\",\"deploy_time\":-1e308}", 400),
        FIX(WG__B_GATE, "{\"wave\":\"w\",\"deploy_time\":1e400}", 400),
        FIX(WG__B_ANALYSES, "{\"wave\":\"w\",\"interval\":\"1s\",\"count\":1e300}", 400),
        FIX(WG__B_SILENCES, "{\"matchers\":[],\"endsAt\":\"9999-99-99T99:99:99Z\"}", 400),
        /* oom-fb9bfed3d0b775462862989109cd6c161704bcde: "lat++++...+.*" made glibc's regcomp
         * take gigabytes; stacked quantifiers are refused before regcomp */
        FIX(WG__B_SILENCES, "{\"matchers\":[{\"name\":\"wave\",\"value\":\"staging\",\"isRex\":false,\"isEqual\":true},{\"name\":\"rule\",\"value\":\"lat+++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++.*\",\"isRegex\":true}],\"startsAt\":\"0803-00-01T00:00:00Z\",\"7\xff""777777777777777777777777777777777777777endsAt\":\"2026-01-02T00:00:00Z\",\"matche1rsent\":\"deploy\"}", 400),
        FIX(WG__B_SILENCES,
            "{\"matchers\":[{\"name\":\"wave\",\"value\":\"stag.*|prod-(a|b)+\","
            "\"isRegex\":true}],\"endsAt\":\"2030-01-02T00:00:00Z\",\"comment\":\"x\","
            "\"createdBy\":\"y\"}",
            0),
        FIX(WG__B_SILENCES,
            "{\"matchers\":[{\"name\":\"wave\",\"value\":\"a{2,9999}\",\"isRegex\":true}],"
            "\"endsAt\":\"2030-01-02T00:00:00Z\",\"comment\":\"x\",\"createdBy\":\"y\"}",
            400),
        FIX(WG__B_SILENCES,
            "{\"matchers\":[{\"name\":\"rule\",\"value\":\"lat++++.*\",\"isRegex\":true}],"
            "\"endsAt\":\"2030-01-02T00:00:00Z\",\"comment\":\"x\",\"createdBy\":\"y\"}",
            400),
        FIX(WG__B_GATE, "", 400),
        FIX(WG__B_FLAGGER, "[]", 400),
    };
    int bad = 0;
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        char err[512] = "";
        unsigned got =
            wg__route_body_check(t[i].kind, (const uint8_t *)t[i].body, t[i].len, err, sizeof(err));
        if (got != t[i].want) {
            print_error("case %zu %s\n  want %u\n  got  %u (%s)\n", i, t[i].name, t[i].want, got,
                        err);
            bad++;
        }
    }
    assert_int_equal(bad, 0);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gate_modes),
        cmocka_unit_test(test_flagger),
        cmocka_unit_test(test_auth_and_bad_input),
        cmocka_unit_test(test_single_flight_and_cache),
        cmocka_unit_test(test_analysis_lifecycle),
        cmocka_unit_test(test_body_fixtures),
        cmocka_unit_test(test_request_deadline),
    };
    int rc = cmocka_run_group_tests(tests, setup, teardown);
    curl_global_cleanup();
    return rc;
}

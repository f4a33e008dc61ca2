/* test_gate_server_looks.c — looks counted per deploy (gate_server_deploys.c, _eval.c,
 * _analysis.c) over real loopback HTTP (libcurl → libmicrohttpd) with a recording evaluator:
 * each ask naming a deploy is the next look k of max_looks (persisted across a restart), asks
 * within the same look share one evaluation (also concurrent ones), a look beyond max_looks
 * spends nothing, a question without an identity says look 0, and a gate naming a deploy that
 * a bake analysis judges reads that analysis instead of starting over.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gate/gate.h"
#include "gate/gate_server_int.h"
#include "http_helper.h"

static char g_dir[64], g_now[128];
static struct wg_server *g_srv;
static int g_port;

/* ---- the recording evaluator ------------------------------------------------------------ */

static pthread_mutex_t ev_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t ev_cv = PTHREAD_COND_INITIALIZER;
/* atomics: the evaluator runs on the server's threads, the cases read them between asks */
static atomic_int ev_calls, ev_last_look, ev_last_max, ev_verdict = WG_PASS;
static int ev_hold; /* under ev_mu */

static enum wg_err fake_eval(void *ud, const struct wg_config *cfg, const struct wg_check_req *req,
                             enum wg_verdict *verdict, char **json, char *err, size_t errlen)
{
    (void)ud;
    (void)cfg;
    (void)err;
    (void)errlen;
    pthread_mutex_lock(&ev_mu);
    while (ev_hold) { /* the concurrency case parks asks on this flight, then releases it */
        pthread_cond_wait(&ev_cv, &ev_mu);
    }
    ev_calls++;
    if (req->deploy_ns != 0 || req->look == 0) { /* gate looks, not the bake analysis' */
        ev_last_look = req->look;
        ev_last_max = req->max_looks;
    }
    *verdict = (enum wg_verdict)atomic_load(&ev_verdict);
    pthread_mutex_unlock(&ev_mu);
    *json = wg_asprintf("{\"verdict\":\"%s\"}", wg_verdict_name(*verdict));
    return WG_OK;
}

/* ---- HTTP ---------------------------------------------------------------------------------- */

static void http(const char *method, const char *path, const char *body, struct http_resp *out)
{
    http_request(g_port, method, path, NULL, body, out);
}

static void set_now(long long secs)
{
    FILE *f = fopen(g_now, "w");
    assert_non_null(f);
    fprintf(f, "%lld\n", secs);
    fclose(f);
}

/* "k/of/counted" of the answer's look object, "" without one. */
static void look_of(const char *body, char *out, size_t n)
{
    int k = -1, of = -1;
    const char *l = strstr(body, "\"look\":{\"k\":");
    out[0] = '\0';
    if (l && sscanf(l, "\"look\":{\"k\":%d,\"of\":%d", &k, &of) == 2) {
        size_t end = strcspn(l, "}");
        const char *c = strstr(l, "\"counted\":true");
        snprintf(out, n, "%d/%d/%s", k, of, c && (size_t)(c - l) < end ? "counted" : "not counted");
    }
}

/* ---- the server ------------------------------------------------------------------------- */

static struct wg_config *mini_config(const char *state_dir)
{
    struct wg_config *cfg = http_two_wave_config(state_dir);
    cfg->nfeatures = 1;
    cfg->features = calloc(1, sizeof(*cfg->features));
    cfg->features[0].name = strdup("checkout");
    cfg->server.max_body = 4096;
    cfg->server.max_connections = 64;
    cfg->server.per_ip_connections = 64;
    cfg->server.connection_timeout_ns = 10 * WG_NS_PER_SEC;
    cfg->server.request_timeout_ns = 10 * WG_NS_PER_SEC;
    cfg->server.threads = 2;
    cfg->server.cache_ttl_ns = 0; /* every look asks; a look's own answer is still shared */
    return cfg;
}

static int start_server(void)
{
    struct wg_server_eval ev = {fake_eval, NULL};
    g_port = http_server_start(mini_config(g_dir), ev, &g_srv);
    return g_port > 0 ? 0 : -1;
}

static int setup_server(void **state)
{
    (void)state;
    snprintf(g_dir, sizeof(g_dir), "/tmp/wg-test-looks-XXXXXX");
    if (!mkdtemp(g_dir)) {
        return -1;
    }
    snprintf(g_now, sizeof(g_now), "%s/now", g_dir);
    setenv("WG_TEST_NOW_FILE", g_now, 1);
    set_now(1796112000); /* 2026-12-01T08:00:00Z */
    ev_calls = 0;
    ev_hold = 0;
    ev_verdict = WG_PASS;
    return start_server();
}

static int teardown_server(void **state)
{
    (void)state;
    wg_server_free(g_srv);
    g_srv = NULL;
    unsetenv("WG_TEST_NOW_FILE");
    return http_rm_dir(g_dir);
}

/* ---- cases -------------------------------------------------------------------------------- */

#define ASK "{\"wave\":\"internal\",\"deploy_id\":\"abc123\",\"max_looks\":3}"

/* One deploy asked once a minute: looks 1, 2, 3 of 3 (the evaluator sees look and max_looks),
 * a second ask within the same look shares its one evaluation, the count survives a restart,
 * and look 4 spends nothing (the last planned look's verdict, without evaluating). */
static void test_looks_counted(void **state)
{
    (void)state;
    struct http_resp r;
    char lk[64];
    long long t = 1796112000;
    static const char *const want[] = {"1/3/counted", "2/3/counted"};
    for (int i = 0; i < 2; i++) {
        set_now(t + 60 * i);
        http("POST", "/v1/gate", ASK, &r);
        look_of(r.body, lk, sizeof(lk));
        if (r.status != 200 || strcmp(lk, want[i])) {
            print_error("look %d: want 200 %s, got %ld %s (%s)\n", i + 1, want[i], r.status, lk,
                        r.body);
        }
        assert_string_equal(lk, want[i]);
        assert_int_equal(ev_last_look, i + 1);
        assert_int_equal(ev_last_max, 3);
    }
    assert_int_equal(ev_calls, 2);
    /* Flagger's second hook of one tick, 5 s later: the same look, answered by its evaluation */
    set_now(t + 65);
    http("POST", "/v1/gate", ASK, &r);
    look_of(r.body, lk, sizeof(lk));
    assert_string_equal(lk, "2/3/counted");
    assert_int_equal(ev_calls, 2);
    /* restart: the count is in deploys.db */
    wg_server_free(g_srv);
    g_srv = NULL;
    assert_int_equal(start_server(), 0);
    set_now(t + 120);
    ev_verdict = WG_FAIL; /* the last planned look fails: what later looks answer */
    http("POST", "/v1/gate", ASK, &r);
    look_of(r.body, lk, sizeof(lk));
    assert_string_equal(lk, "3/3/counted");
    assert_int_equal(ev_calls, 3);
    set_now(t + 180);
    ev_verdict = WG_PASS;
    http("POST", "/v1/gate", ASK, &r);
    look_of(r.body, lk, sizeof(lk));
    if (!strstr(r.body, "\"verdict\":\"fail\"") || !strstr(r.body, "\"beyond_looks\":true")) {
        print_error("look 4 of 3: want the final verdict, no evaluation; got %s\n", r.body);
    }
    assert_string_equal(lk, "4/3/counted");
    assert_non_null(strstr(r.body, "\"share\":0"));
    assert_non_null(strstr(r.body, "\"verdict\":\"fail\""));
    assert_int_equal(ev_calls, 3); /* not evaluated: no fresh budget */
    /* ...and still a complete Report (docs/openapi.yaml: env, window, features, rules) */
    static const char *const parts[] = {"\"env\":\"staging\"", "\"window\":{\"start\":\"",
                                        "\"end\":\"", "\"rules\":[]", "\"features\":["};
    for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
        if (!strstr(r.body, parts[i])) {
            print_error("beyond look: want %s in %s\n", parts[i], r.body);
        }
        assert_non_null(strstr(r.body, parts[i]));
    }
    /* another deploy starts over at look 1; a question without an identity is look 0 */
    http("POST", "/v1/gate", "{\"wave\":\"internal\",\"deploy_id\":\"def456\"}", &r);
    look_of(r.body, lk, sizeof(lk));
    assert_string_equal(lk, "1/30/counted"); /* no max_looks: WG__DEFAULT_LOOKS */
    http("GET", "/v1/gate?wave=internal", NULL, &r);
    assert_non_null(strstr(r.body, "\"look\":{\"k\":0,\"of\":1,\"counted\":false}"));
    assert_int_equal(ev_last_look, 0);
}

struct asker {
    pthread_t th;
    struct http_resp r;
};

static void *ask_thread(void *arg)
{
    struct asker *a = arg;
    http("POST", "/v1/gate", ASK, &a->r);
    return NULL;
}

/* Eight asks of one deploy at once: one look, one evaluation, the same answer for all. */
static void test_concurrent_same_look(void **state)
{
    (void)state;
    enum { N = 8 };
    struct asker a[N];
    pthread_mutex_lock(&ev_mu);
    ev_hold = 1;
    pthread_mutex_unlock(&ev_mu);
    for (int i = 0; i < N; i++) {
        assert_int_equal(pthread_create(&a[i].th, NULL, ask_thread, &a[i]), 0);
    }
    /* every other ask parked on the first one's flight (or, if late, a cached hit) */
    int64_t end = wg_mono_ns() + 15 * WG_NS_PER_SEC;
    while (atomic_load(&g_srv->m.shared_waits) < N - 1 && wg_mono_ns() < end) {
        struct timespec ts = {0, 2000000};
        nanosleep(&ts, NULL);
    }
    pthread_mutex_lock(&ev_mu);
    ev_hold = 0;
    pthread_cond_broadcast(&ev_cv);
    pthread_mutex_unlock(&ev_mu);
    for (int i = 0; i < N; i++) {
        pthread_join(a[i].th, NULL);
        char lk[64];
        look_of(a[i].r.body, lk, sizeof(lk));
        assert_int_equal(a[i].r.status, 200);
        assert_string_equal(lk, "1/3/counted");
    }
    assert_int_equal(ev_calls, 1);
}

/* A deploy event of a wave with bake: starts its analysis; /v1/gate naming that deploy
 * (deploy_id = the event's version) answers from it -- its decision and look -- and counts
 * no look of its own; analysis=ID names it directly. */
static void test_gate_reads_bake(void **state)
{
    (void)state;
    struct http_resp r;
    http("POST", "/v1/events", "{\"type\":\"deploy\",\"wave\":\"external\",\"version\":\"v2\"}",
         &r);
    assert_int_equal(r.status, 202);
    const char *a = strstr(r.body, "\"analysis\":\"");
    assert_non_null(a);
    char id[64], want[128], path[160];
    snprintf(id, sizeof(id), "%s", a + 12);
    *strchr(id, '"') = '\0';
    snprintf(want, sizeof(want), "\"analysis\":{\"id\":\"%s\",\"status\":\"pass\"", id);
    /* the bake measures every second, twice (real time): poll its decision */
    int64_t end = wg_mono_ns() + 20 * WG_NS_PER_SEC;
    do {
        http("GET", "/v1/gate?wave=external&deploy_id=v2", NULL, &r);
        if (strstr(r.body, want)) {
            break;
        }
        assert_non_null(strstr(r.body, "\"analysis\":{")); /* running: answered from it too */
        assert_non_null(strstr(r.body, "\"verdict\":\"inconclusive\""));
        struct timespec ts = {0, 50000000};
        nanosleep(&ts, NULL);
    } while (wg_mono_ns() < end);
    if (!strstr(r.body, want)) {
        print_error("want %s in %s\n", want, r.body);
    }
    assert_non_null(strstr(r.body, want));
    assert_non_null(strstr(r.body, "\"verdict\":\"pass\""));
    assert_non_null(
        strstr(r.body, "\"look\":{\"k\":2,\"of\":2,\"counted\":true,\"by\":\"analysis\"}"));
    int calls = ev_calls;
    snprintf(path, sizeof(path), "/v1/gate?wave=external&analysis=%s", id);
    http("GET", path, NULL, &r);
    assert_non_null(strstr(r.body, want));
    assert_int_equal(ev_calls, calls); /* read, not evaluated */
    /* a deploy the analysis does not judge is a gate look of its own */
    http("GET", "/v1/gate?wave=external&deploy_id=v3", NULL, &r);
    assert_null(strstr(r.body, "\"analysis\":{"));
    assert_non_null(
        strstr(r.body, "\"look\":{\"k\":1,\"of\":2,\"counted\":true,\"by\":\"deploy\""));
    http("GET", "/v1/gate?wave=external&analysis=0000", NULL, &r);
    assert_int_equal(r.status, 404);
    snprintf(path, sizeof(path), "/v1/gate?wave=internal&analysis=%s", id);
    http("GET", path, NULL, &r); /* an analysis of another wave does not answer for this one */
    assert_int_equal(r.status, 404);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_looks_counted, setup_server, teardown_server),
        cmocka_unit_test_setup_teardown(test_concurrent_same_look, setup_server, teardown_server),
        cmocka_unit_test_setup_teardown(test_gate_reads_bake, setup_server, teardown_server),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}

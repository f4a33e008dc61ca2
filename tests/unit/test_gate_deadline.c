/* test_gate_deadline.c — an evaluation ends by its deadline however its sources hang: against a
 * source that accepts and never answers (influx_peer.py "hang"; timeout 10 s, retries 2,
 * max_concurrency 1) wg_gate_check with a deadline 1 s ahead (one wave, and a fleet wave whose
 * targets' queries queue behind each other), /v1/gate?timeout= (query string and JSON body),
 * and a flip's look on a 2 s lease: "could not evaluate" with the deadline in the reason, never
 * a pass, within the deadline; the flip's look is recorded by its holder inside the lease. On a
 * real PostgreSQL (WG_TEST_PG_DSN, set by test_replicas_pg.sh) another handle never claims the
 * flip while the first replica's look runs.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "gate/gate_int.h"
#include "gate/gate_server_int.h"
#include "http_helper.h"
#include "peer_helper.h"
#include "pg_helper.h"

#define SEC WG_NS_PER_SEC
#define LEASE (2 * SEC)
/* what a deadline may overrun by here (ASan, a loaded 2-core machine) */
#define SLACK (1500 * WG_NS_PER_SEC / 1000)

static struct peer g_peer;
static char g_dir[64];

static const char HANG[] = "{\"routes\":[{\"path\":\"/query\",\"responses\":[{\"hang\":true}]}]}";

static int g_pg; /* the server's state on the test cluster */

static struct wg_config *load_config(void)
{
    char *y = wg_asprintf(
        "state_dir: %s\n"
        "%s"
        "sources:\n"
        "  hang: {url: '%s', database: d, timeout: 10s, retries: 2, max_concurrency: 1}\n"
        "waves:\n"
        "  - {name: w, env: prod, source: hang}\n"
        "  - {name: fleet, source: hang, targets: [{name: a}, {name: b}, {name: c}]}\n"
        "features:\n"
        "  f:\n"
        "    flag: f_flag\n"
        "    rules:\n"
        "      - {name: r1, query: 'SELECT mean(v) FROM m', threshold: {max: 1}}\n"
        "      - {name: r2, query: 'SELECT max(v) FROM m', threshold: {max: 1}}\n",
        g_dir,
        g_pg ? "state: {backend: postgres, dsn_env: WG_TEST_PG_DSN, leader_takeover: 2s}\n" : "",
        g_peer.url);
    assert_non_null(y);
    struct wg_config *cfg = NULL;
    struct wg_diags d = {0};
    enum wg_err rc = wg_config_load_mem("t.yaml", y, strlen(y), &cfg, &d);
    if (rc != WG_OK) {
        wg_diags_print(&d, stderr);
    }
    wg_diags_free(&d);
    free(y);
    assert_int_equal(rc, WG_OK);
    return cfg;
}

static int setup_peer(void **state)
{
    (void)state;
    snprintf(g_dir, sizeof(g_dir), "/tmp/wg-test-deadline-XXXXXX");
    if (!mkdtemp(g_dir)) {
        return -1;
    }
    return peer_start(&g_peer, HANG);
}

static int teardown_peer(void **state)
{
    (void)state;
    peer_stop(&g_peer);
    return http_rm_dir(g_dir);
}

/* wg_gate_check of wave with a deadline 1 s ahead: every rule "could not evaluate" naming the
 * deadline, the gate's verdict error, back within the deadline and SLACK. */
static void check_cut(const char *wave, size_t want_rules)
{
    struct wg_config *cfg = load_config();
    int64_t t0 = wg_mono_ns();
    struct wg_check_req req = {.wave = wave, .deadline_mono_ns = t0 + SEC};
    struct wg_check_report *rep = NULL;
    char err[512];
    assert_int_equal(wg_gate_check(cfg, &req, &rep, err, sizeof(err)), WG_OK);
    int64_t took = wg_mono_ns() - t0;
    printf("%s: deadline 1s against a hung source (timeout 10s, retries 2): want error within "
           "%lld ms, got %s in %lld ms\n",
           wave, (long long)((SEC + SLACK) / 1000000), wg_verdict_name(rep->verdict),
           (long long)(took / 1000000));
    assert_true(took < SEC + SLACK);
    assert_int_equal(rep->verdict, WG_NOEVAL);
    assert_int_equal(rep->nrules, want_rules);
    int bad = 0;
    for (size_t i = 0; i < rep->nrules; i++) {
        const struct wg_rule_report *rr = &rep->rules[i];
        if (rr->res.verdict != WG_NOEVAL ||
            !strstr(rr->res.reason, "deadline of the evaluation reached")) {
            print_error("rule %zu: want error naming the deadline, got %s: %s\n", i,
                        wg_verdict_name(rr->res.verdict), rr->res.reason);
            bad++;
        }
    }
    if (rep->nrules) {
        printf("  rule 1: %s\n", rep->rules[0].res.reason);
    }
    assert_int_equal(bad, 0);
    wg_check_report_free(rep);
    wg_config_free(cfg);
}

static void test_check_deadline(void **state)
{
    (void)state;
    check_cut("w", 2);
}

/* A fleet wave: its three targets' six queries are one batch, one at a time (max_concurrency
 * 1): the queued ones are cut at the same deadline (none sent for lack of time). */
static void test_fleet_deadline(void **state)
{
    (void)state;
    check_cut("fleet", 6);
}

/* ---- the server: /v1/gate timeout= and a flip's look --------------------------------------- */

static struct wg_server *g_srv;
static int g_port;

static int setup_server(void **state)
{
    if (setup_peer(state) != 0) {
        return -1;
    }
    g_port = http_server_start(load_config(), (struct wg_server_eval){NULL, NULL}, &g_srv);
    if (g_port <= 0) {
        return -1;
    }
    wg_events_claims(g_srv->events, LEASE, 0);
    return 0;
}

static int teardown_server(void **state)
{
    wg_server_free(g_srv);
    g_srv = NULL;
    return teardown_peer(state);
}

struct tcase {
    const char *name, *method, *path, *body;
    long want_status;
    const char *want_body; /* a piece of the answer */
    int cut;               /* 1: answered by the deadline (1 s) */
};

static void test_gate_timeout(void **state)
{
    (void)state;
    static const struct tcase cases[] = {
        {"timeout=1s", "GET", "/v1/gate?wave=w&timeout=1s", NULL, 0,
         "deadline of the evaluation reached", 1},
        {"JSON body timeout", "POST", "/v1/gate", "{\"wave\":\"w\",\"timeout\":\"1s\"}", 0,
         "deadline of the evaluation reached", 1},
        {"mode=status, timeout=1s", "GET", "/v1/gate?wave=w&timeout=1s&mode=status", NULL, 503,
         "deadline of the evaluation reached", 1},
        {"Flagger metadata.timeout", "POST", "/v1/flagger/confirm-rollout",
         "{\"name\":\"app\",\"namespace\":\"ns\",\"phase\":\"Progressing\","
         "\"checksum\":\"c1\",\"metadata\":{\"wave\":\"w\",\"timeout\":\"1s\"}}",
         503, "deadline of the evaluation reached", 1},
        {"fleet wave, timeout=1s", "GET", "/v1/gate?wave=fleet&timeout=1s", NULL, 0,
         "deadline of the evaluation reached", 1},
        {"bad timeout", "GET", "/v1/gate?wave=w&timeout=bogus", NULL, 400, "timeout: want", 0},
        {"timeout above 5m", "GET", "/v1/gate?wave=w&timeout=6m", NULL, 400, "timeout: want", 0},
        {"timeout 0", "GET", "/v1/gate?wave=w&timeout=0s", NULL, 400, "timeout: want", 0},
        {"JSON timeout not a string", "POST", "/v1/gate", "{\"wave\":\"w\",\"timeout\":8}", 400,
         "timeout: want a string", 0},
    };
    int bad = 0;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct tcase *c = &cases[i];
        struct http_resp r;
        int64_t t0 = wg_mono_ns();
        http_request(g_port, c->method, c->path, NULL, c->body, &r);
        int64_t took = wg_mono_ns() - t0;
        int ok = strstr(r.body, c->want_body) != NULL &&
                 (c->want_status ? r.status == c->want_status
                                 : strstr(r.body, "\"verdict\":\"error\"") != NULL) &&
                 !strstr(r.body, "\"verdict\":\"pass\"") && (!c->cut || took < SEC + SLACK);
        printf("%s: want %ld %s%s, got %ld in %lld ms: %.300s\n", c->name, c->want_status,
               c->want_body, c->cut ? " within the deadline" : "", r.status,
               (long long)(took / 1000000), r.body);
        bad += !ok;
    }
    assert_int_equal(bad, 0);
}

/* The flip's row in the store (wg_events_actions_json): status, looks, errors. */
static int flip_state(struct wg_events *e, const char *id, char *status, size_t n, int *looks,
                      int *errors)
{
    char *json = NULL;
    if (wg_events_actions_json(e, &json) != WG_OK) {
        return -1;
    }
    cJSON *root = cJSON_Parse(json);
    free(json);
    const cJSON *f;
    int found = -1;
    cJSON_ArrayForEach(f, cJSON_GetObjectItem(root, "flips"))
    {
        const cJSON *fid = cJSON_GetObjectItem(f, "id");
        if (cJSON_IsString(fid) && !strcmp(fid->valuestring, id)) {
            snprintf(status, n, "%s", cJSON_GetObjectItem(f, "status")->valuestring);
            *looks = cJSON_GetObjectItem(f, "looks")->valueint;
            *errors = cJSON_GetObjectItem(f, "errors")->valueint;
            found = 0;
        }
    }
    cJSON_Delete(root);
    return found;
}

/* A due flip of one look (count 1): started now, the runner claims it within its 100 ms poll. */
static void start_flip(const char *id)
{
    struct wg_event ev = {.type = WG_EVENT_FLAG, .state = WG_EVSTATE_ON};
    ev.feature = "f";
    ev.flag = "f_flag";
    ev.wave = "w";
    ev.env = "prod";
    int64_t iv = 60 * SEC;
    assert_int_equal(wg_events_flip_start(g_srv->events, id, &ev, wg_now_ns() - iv, iv, 1, 0),
                     WG_OK);
}

/* Waits (polls, up to limit) until the flip is no longer running; returns how long it took. */
static int64_t wait_flip_done(struct wg_events *e, const char *id, int64_t limit, char *status,
                              int *looks, int *errors)
{
    int64_t t0 = wg_mono_ns();
    while (wg_mono_ns() - t0 < limit) {
        if (flip_state(e, id, status, 16, looks, errors) == 0 && strcmp(status, "running")) {
            break;
        }
        struct timespec ts = {0, 20 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    return wg_mono_ns() - t0;
}

/* The look ends inside the lease (at half of it) and is recorded by the runner that looked:
 * one look, an error look ("could not evaluate"), the flip over as "error" (no look could
 * evaluate). The old look waited for the source's 10 s timeout: 5x the lease. */
static void test_flip_look_in_lease(void **state)
{
    (void)state;
    char status[16] = "";
    int looks = -1, errors = -1;
    start_flip("ev-hang");
    int64_t took = wait_flip_done(g_srv->events, "ev-hang", 4 * LEASE, status, &looks, &errors);
    printf("a flip's look against a hung source, lease 2s: want recorded within the lease as "
           "error 1/1, got %s %d/%d after %lld ms\n",
           status, errors, looks, (long long)(took / 1000000));
    assert_string_equal(status, "error");
    assert_int_equal(looks, 1);
    assert_int_equal(errors, 1);
    assert_true(took < LEASE);
}

/* ---- PostgreSQL: the server is replica 1, a second handle replica 2 -------------------------- */

/* Fresh events and analyses tables on the test cluster (pg_helper.h); the analyses' are
 * emptied only if they exist already. */
static int setup_pg(void **state)
{
    static int dropped;
    if (pg_reset(&dropped,
                 "DROP TABLE IF EXISTS events, events_kv, flips, actions,"
                 " action_attempts, markers, analyses, measurements;"
                 " DROP SEQUENCE IF EXISTS events_seq;"
                 " CREATE TABLE IF NOT EXISTS wg_schema(name TEXT PRIMARY KEY,"
                 " version INTEGER NOT NULL);"
                 " DELETE FROM wg_schema WHERE name IN ('events', 'analyses')",
                 "DELETE FROM events; DELETE FROM events_kv; DELETE FROM flips;"
                 " DELETE FROM actions; DELETE FROM action_attempts;"
                 " DELETE FROM markers; DO $$ BEGIN IF to_regclass('analyses') IS NOT NULL"
                 " THEN DELETE FROM analyses; DELETE FROM measurements; END IF; END $$") != 0) {
        return -1;
    }
    g_pg = 1;
    return setup_server(state);
}

/* While replica 1's look runs (against the hung source) replica 2 asks for due flips every
 * 20 ms until well past the lease: it never gets this one, and replica 1 records its look. The
 * old look outlived the 2 s lease and replica 2 claimed the flip at 2 s. */
static void pg_no_second_claim(void **state)
{
    (void)state;
    assert_int_equal(wg_events_shared(g_srv->events), 1);
    struct wg_events *r2 = NULL;
    char err[256] = "";
    assert_int_equal(wg_events_open("/nonexistent/never-written", &r2, err, sizeof(err)), WG_OK);
    wg_events_claims(r2, LEASE, 0);
    start_flip("ev-pg-hang");
    /* replica 1's look has begun when the source got its first query */
    int64_t t0 = wg_mono_ns();
    cJSON *reqs = NULL;
    while (wg_mono_ns() - t0 < 5 * SEC) {
        cJSON_Delete(reqs);
        reqs = peer_requests(&g_peer);
        if (cJSON_GetArraySize(reqs) > 0) {
            break;
        }
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    assert_true(cJSON_GetArraySize(reqs) > 0);
    const char *path = peer_field(cJSON_GetArrayItem(reqs, 0), "path", NULL);
    assert_non_null(path);
    assert_string_equal(path, "/query");
    cJSON_Delete(reqs);
    size_t claims = 0, asks = 0;
    int64_t start = wg_mono_ns();
    while (wg_mono_ns() - start < LEASE + LEASE / 2) {
        struct wg_flip f[2];
        size_t n = 0;
        assert_int_equal(wg_events_flip_due(r2, wg_now_ns(), f, 2, &n), WG_OK);
        claims += n;
        asks++;
        struct timespec ts = {0, 20 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    char status[16] = "";
    int looks = -1, errors = -1;
    assert_int_equal(flip_state(r2, "ev-pg-hang", status, sizeof(status), &looks, &errors), 0);
    printf("replica 2 asked %zu times during replica 1's look and past its 2s lease: want 0 "
           "claims and the look recorded by replica 1 (error 1/1), got %zu claims, %s %d/%d\n",
           asks, claims, status, errors, looks);
    assert_int_equal(claims, 0);
    assert_string_equal(status, "error");
    assert_int_equal(looks, 1);
    assert_int_equal(errors, 1);
    wg_events_close(r2);
}

/* An analysis on the shared store (takeover bound 2 s: its lease runs until its next look is
 * due + 2 s): its first look, at once, against the hung source ends at half the bound and is
 * recorded by this replica as an error measurement, within the bound. The old look waited
 * for the source's 10 s timeout: any replica could take the analysis over meanwhile. */
static void pg_analysis_look_in_lease(void **state)
{
    (void)state;
    struct http_resp r;
    int64_t t0 = wg_mono_ns();
    http_request(g_port, "POST", "/v1/analyses", NULL,
                 "{\"wave\":\"w\",\"interval\":\"1m\",\"count\":3}", &r);
    assert_int_equal(r.status, 201);
    cJSON *a = cJSON_Parse(r.body);
    char path[128];
    snprintf(path, sizeof(path), "%s", cJSON_GetObjectItem(a, "url")->valuestring);
    cJSON_Delete(a);
    int n = 0;
    char verdict[16] = "";
    while (wg_mono_ns() - t0 < 4 * LEASE && n == 0) {
        struct timespec ts = {0, 20 * 1000 * 1000};
        nanosleep(&ts, NULL);
        http_request(g_port, "GET", path, NULL, NULL, &r);
        cJSON *o = cJSON_Parse(r.body);
        const cJSON *m = cJSON_GetObjectItem(o, "measurements");
        n = cJSON_GetArraySize(m);
        if (n > 0) {
            snprintf(verdict, sizeof(verdict), "%s",
                     cJSON_GetObjectItem(cJSON_GetArrayItem(m, 0), "verdict")->valuestring);
        }
        cJSON_Delete(o);
    }
    int64_t took = wg_mono_ns() - t0;
    printf("an analysis look against a hung source, takeover bound 2s: want 1 error measurement "
           "within it, got %d (%s) after %lld ms\n",
           n, verdict, (long long)(took / 1000000));
    assert_int_equal(n, 1);
    assert_string_equal(verdict, "error");
    assert_true(took < LEASE);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_check_deadline, setup_peer, teardown_peer),
        cmocka_unit_test_setup_teardown(test_fleet_deadline, setup_peer, teardown_peer),
        cmocka_unit_test_setup_teardown(test_gate_timeout, setup_server, teardown_server),
        cmocka_unit_test_setup_teardown(test_flip_look_in_lease, setup_server, teardown_server),
    };
    const struct CMUnitTest pg[] = {
        cmocka_unit_test_setup_teardown(pg_no_second_claim, setup_pg, teardown_server),
        cmocka_unit_test_setup_teardown(pg_analysis_look_in_lease, setup_pg, teardown_server),
    };
    int rc = pg_run_halves(tests, pg);
    curl_global_cleanup();
    return rc;
}

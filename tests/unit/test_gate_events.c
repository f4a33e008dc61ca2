/* test_gate_events.c — events in: the POST /v1/events body parser (table of accepted and
 * refused bodies, want/got printed), flag → feature and env → wave resolution, the durable
 * store (record, list, reopen, the reconcile cursor), and the HTTP routes over real loopback
 * HTTP (libcurl → libmicrohttpd): 202 + id, 400, 401, 404/405, the Unleash addon's body. On
 * a real PostgreSQL (WG_TEST_PG_DSN, set by test_replicas_pg.sh) two handles stand for two
 * replicas: each sees the other's events, one event sent to both is one, and a due flip, a
 * pending action or a marker row asked for by both at once is claimed by exactly one, and by
 * the other once the lease ran out.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alerting/alerting.h"
#include "common/store.h"
#include "gate/gate.h"
#include "gate/gate_server_int.h"
#include "http_helper.h"
#include "pg_helper.h"

#define TOKEN "events-token-0123456789abcdef"
#define GB_SECRET "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

struct pcase {
    const char *body;
    int ok;
    const char *want; /* ok: "type state wave env feature flag"; else a substring of err */
};

/* 1 (and says want and got) when case i's answer is not what it wants: ok cases their "got"
 * text, the others WG_EINVAL with the wanted words in err. */
static int case_failed(const char *what, size_t i, const struct pcase *c, enum wg_err rc,
                       const char *got, const char *err)
{
    int pass = c->ok ? rc == WG_OK && !strcmp(got, c->want)
                     : rc == WG_EINVAL && strstr(err, c->want) != NULL;
    if (!pass) {
        print_error("%s %zu %s: want %s%s, got %s\n", what, i, c->body,
                    c->ok ? "" : "error: ", c->want, got);
    }
    return !pass;
}

/* A fleet wave's deploy: one target, or deploy_times per target (deploy events only). */
static int fleet_cases(void)
{
    static const struct pcase cases[] = {
        {"{\"type\":\"deploy\",\"wave\":\"p\",\"target\":\"aws-use1\"}", 1, "aws-use1 0"},
        {"{\"type\":\"deploy\",\"wave\":\"p\",\"deploy_times\":{\"a\":\"2026-12-01T08:00:00Z\","
         "\"b\":1796112060}}",
         1, "- 2 a=1796112000 b=1796112060"},
        {"{\"type\":\"flag\",\"feature\":\"f\",\"state\":\"on\",\"target\":\"a\"}", 0,
         "target: only deploy events"},
        {"{\"type\":\"flag\",\"feature\":\"f\",\"state\":\"on\",\"deploy_times\":{\"a\":1}}", 0,
         "deploy_times: only deploy events"},
        {"{\"type\":\"deploy\",\"wave\":\"p\",\"target\":\"a\",\"deploy_times\":{\"a\":1}}", 0,
         "not both"},
        {"{\"type\":\"deploy\",\"wave\":\"p\",\"deploy_times\":[1]}", 0, "want an object"},
        {"{\"type\":\"deploy\",\"wave\":\"p\",\"deploy_times\":{}}", 0, "want an object"},
        {"{\"type\":\"deploy\",\"wave\":\"p\",\"deploy_times\":{\"a\":\"soon\"}}", 0,
         "deploy_times: a: want RFC3339"},
        {"{\"type\":\"deploy\",\"wave\":\"p\",\"deploy_times\":{\"a\":true}}", 0,
         "deploy_times: a: want RFC3339"},
        {"{\"type\":\"deploy\",\"wave\":\"p\",\"deploy_times\":{\"a\":1,\"a\":2}}", 0,
         "given twice"},
        {"{\"type\":\"deploy\",\"wave\":\"p\",\"target\":\"\"}", 0, "target: want a non-empty"},
    };
    int bad = 0;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct pcase *c = &cases[i];
        struct wg_event ev;
        char err[256] = "", got[512] = "";
        enum wg_err rc = wg_event_from_json(c->body, strlen(c->body), &ev, err, sizeof(err));
        if (rc == WG_OK) {
            size_t at = (size_t)snprintf(got, sizeof(got), "%s %zu", ev.target ? ev.target : "-",
                                         ev.ndeploy_times);
            for (size_t k = 0; k < ev.ndeploy_times && at < sizeof(got); k++) {
                at += (size_t)snprintf(got + at, sizeof(got) - at, " %s=%lld",
                                       ev.deploy_times[k].target,
                                       (long long)(ev.deploy_times[k].ns / WG_NS_PER_SEC));
            }
        } else {
            snprintf(got, sizeof(got), "error: %s", err);
        }
        bad += case_failed("fleet case", i, c, rc, got, err);
        wg_event_clear(&ev);
    }
    return bad;
}

static void test_parse(void **state)
{
    (void)state;
    static const struct pcase cases[] = {
        {"{\"type\":\"deploy\",\"wave\":\"prod\",\"version\":\"1.2\"}", 1, "deploy - prod - - -"},
        {"{\"type\":\"deploy\",\"env\":\"production\"}", 1, "deploy - - production - -"},
        {"{\"type\":\"flag\",\"flag\":\"k\",\"state\":\"on\",\"env\":\"production\"}", 1,
         "flag on - production - k"},
        {"{\"type\":\"flag\",\"feature\":\"f\",\"state\":\"off\"}", 1, "flag off - - f -"},
        {"{\"type\":\"flag\",\"feature\":\"f\",\"state\":\"on\",\"time\":\"2026-12-01T08:00:00Z\"}",
         1, "flag on - - f -"},
        {"{\"type\":\"flag\",\"feature\":\"f\",\"state\":\"on\",\"time\":1796112000.5}", 1,
         "flag on - - f -"},
        {"", 0, "want a JSON object"},
        {"[1]", 0, "want a JSON object"},
        {"{\"wave\":\"prod\"}", 0, "type: required"},
        {"{\"type\":\"rollout\",\"wave\":\"prod\"}", 0, "want deploy or flag"},
        {"{\"type\":\"deploy\"}", 0, "needs wave or env"},
        {"{\"type\":\"deploy\",\"wave\":\"p\",\"state\":\"on\"}", 0, "only flag events"},
        {"{\"type\":\"flag\",\"state\":\"on\"}", 0, "needs feature or flag"},
        {"{\"type\":\"flag\",\"feature\":\"f\"}", 0, "needs state on or off"},
        {"{\"type\":\"flag\",\"feature\":\"f\",\"state\":\"maybe\"}", 0, "want on or off"},
        {"{\"type\":\"flag\",\"feature\":3,\"state\":\"on\"}", 0, "feature: want a non-empty"},
        {"{\"type\":\"flag\",\"feature\":\"\",\"state\":\"on\"}", 0, "feature: want a non-empty"},
        {"{\"type\":\"deploy\",\"wave\":\"p\",\"time\":\"yesterday\"}", 0, "time: want RFC3339"},
        {"{\"type\":\"deploy\",\"wave\":\"p\",\"colour\":\"red\"}", 0, "colour: unknown key"},
    };
    int bad = 0;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct pcase *c = &cases[i];
        struct wg_event ev;
        char err[256] = "", got[512];
        enum wg_err rc = wg_event_from_json(c->body, strlen(c->body), &ev, err, sizeof(err));
        if (rc == WG_OK) {
            snprintf(got, sizeof(got), "%s %s %s %s %s %s", wg_event_type_names[ev.type],
                     ev.state ? wg_event_state_names[ev.state] : "-", ev.wave ? ev.wave : "-",
                     ev.env ? ev.env : "-", ev.feature ? ev.feature : "-", ev.flag ? ev.flag : "-");
        } else {
            snprintf(got, sizeof(got), "error: %s", err);
        }
        bad += case_failed("case", i, c, rc, got, err);
        wg_event_clear(&ev);
    }
    bad += fleet_cases();
    struct wg_event ev;
    char err[64];
    assert_int_equal(wg_event_from_json("{\"type\":\"deploy\",\"wave\":\"p\",\"time\":"
                                        "\"2026-12-01T08:00:00.5Z\"}",
                                        62, &ev, err, sizeof(err)),
                     WG_OK);
    assert_true(ev.time_ns == 1796112000500000000LL);
    wg_event_clear(&ev);
    assert_int_equal(bad, 0);
}

static struct wg_config *mini_config(const char *state_dir)
{
    struct wg_config *cfg = http_two_wave_config(state_dir);
    cfg->nfeatures = 2;
    cfg->features = calloc(2, sizeof(*cfg->features));
    cfg->features[0].name = strdup("checkout");
    cfg->features[0].flag = strdup("checkout_v2");
    cfg->features[1].name = strdup("search");
    return cfg;
}

static void test_resolve(void **state)
{
    (void)state;
    struct wg_config *cfg = mini_config("/nonexistent");
    struct wg_event ev = {.type = WG_EVENT_FLAG, .state = WG_EVSTATE_ON};
    ev.flag = strdup("checkout_v2");
    ev.env = strdup("production");
    wg_event_resolve(cfg, &ev);
    assert_string_equal(ev.feature, "checkout");
    assert_string_equal(ev.wave, "external");
    wg_event_clear(&ev);
    ev = (struct wg_event){.type = WG_EVENT_FLAG, .state = WG_EVSTATE_OFF};
    ev.feature = strdup("search");
    ev.wave = strdup("internal");
    wg_event_resolve(cfg, &ev);
    assert_string_equal(ev.flag, "search"); /* no flag key: the feature's name */
    assert_string_equal(ev.env, "staging");
    wg_event_clear(&ev);
    ev = (struct wg_event){.type = WG_EVENT_FLAG, .state = WG_EVSTATE_ON};
    ev.flag = strdup("unknown_flag");
    ev.env = strdup("dev");
    wg_event_resolve(cfg, &ev);
    assert_null(ev.feature);
    assert_null(ev.wave);
    wg_event_clear(&ev);
    wg_config_free(cfg);
}

static char g_dir[64];

/* A fresh store in a new dir (dir: a mkdtemp template, filled in); close_store removes both. */
static struct wg_events *open_store(char *dir)
{
    char err[256] = "";
    struct wg_events *e = NULL;
    assert_non_null(mkdtemp(dir));
    assert_int_equal(wg_events_open(dir, &e, err, sizeof(err)), WG_OK);
    return e;
}

static void close_store(struct wg_events *e, const char *dir)
{
    wg_events_close(e);
    assert_int_equal(http_rm_dir(dir), 0);
}

/* what stands in text exactly once */
static void assert_once(const char *text, const char *what)
{
    const char *p = strstr(text, what);
    assert_non_null(p);
    assert_null(strstr(p + 1, what));
}

static void test_store(void **state)
{
    (void)state;
    char dir[64] = "/tmp/wg-test-events-XXXXXX", err[256] = "", id1[48], id2[48];
    struct wg_events *e = open_store(dir);
    struct wg_event ev = {.type = WG_EVENT_FLAG, .state = WG_EVSTATE_ON};
    ev.feature = strdup("a b,c=d\"e");
    ev.time_ns = 1796112000000000000LL;
    assert_int_equal(wg_events_record(e, &ev, 5, id1, err, sizeof(err)), WG_OK);
    wg_event_clear(&ev);
    ev = (struct wg_event){.type = WG_EVENT_DEPLOY};
    ev.wave = strdup("prod");
    assert_int_equal(wg_events_record(e, &ev, 1796112001000000000LL, id2, err, sizeof(err)), WG_OK);
    wg_event_clear(&ev);
    assert_string_equal(id1, "ev-18ed125908d10000-00000001");
    assert_string_not_equal(id1, id2);
    assert_int_equal(wg_events_kv_set(e, "unleash:http://x", "17"), WG_OK);
    assert_int_equal(wg_events_kv_set(e, "unleash:http://x", "18"), WG_OK);
    wg_events_close(e);
    /* reopened: everything is still there (durable), newest first */
    assert_int_equal(wg_events_open(dir, &e, err, sizeof(err)), WG_OK);
    char *json = NULL, *v = NULL;
    assert_int_equal(wg_events_list_json(e, 10, &json, err, sizeof(err)), WG_OK);
    const char *p2 = strstr(json, id2), *p1 = strstr(json, id1);
    assert_non_null(p1);
    assert_non_null(p2);
    assert_true(p2 < p1);
    assert_non_null(strstr(json, "\"feature\":\"a b,c=d\\\"e\""));
    assert_non_null(strstr(json, "\"time_ns\":1796112000000000000"));
    free(json);
    assert_int_equal(wg_events_kv_get(e, "unleash:http://x", &v), WG_OK);
    assert_string_equal(v, "18");
    free(v);
    assert_int_equal(wg_events_kv_get(e, "nothing", &v), WG_ENOTFOUND);
    close_store(e, dir);
}

/* Markers with their events (wg_events_marker_hook): when a record returns, its marker row is
 * stored (it was inside the event's transaction: before, the server stored it in a separate
 * transaction after the commit, and a kill between the two lost it) and the writer was told
 * once; a duplicate stores none; a marker that cannot be built leaves the event recorded. */
struct hook_seen {
    int stored, fail;
    size_t bytes;
};

static enum wg_err hook_build(void *arg, const struct wg_event *ev, const char *id, int64_t now,
                              struct wg_buf *out)
{
    struct hook_seen *h = arg;
    (void)ev;
    wg_buf_addf(out, "wavegate_events,id=%s v=1 %lld\n", id, (long long)now);
    return h->fail ? WG_EINVAL : WG_OK;
}

static void hook_stored(void *arg, const char *lines, size_t len)
{
    struct hook_seen *h = arg;
    (void)lines;
    h->stored++;
    h->bytes += len;
}

static void marker_hook_case(struct wg_events *e)
{
    struct hook_seen h = {0, 0, 0};
    struct wg_events_marker_hook hook = {hook_build, hook_stored, &h};
    wg_events_marker_hook(e, &hook);
    struct wg_event ev = {.type = WG_EVENT_DEPLOY};
    ev.wave = "prod";
    ev.source = "ci";
    ev.version = "hook-1";
    char id[48], id2[48], err[256];
    unsigned long long lines = 0, bytes = 0;
    int dup = 0;
    assert_int_equal(wg_events_record_flip(e, &ev, 5, NULL, &dup, id, err, sizeof(err)), WG_OK);
    assert_int_equal(wg_events_marker_count(e, &lines, &bytes), WG_OK);
    printf("record returned: want 1 marker line stored and told once, got %llu (told %d)\n", lines,
           h.stored);
    assert_int_equal(lines, 1);
    assert_int_equal(h.stored, 1);
    assert_int_equal(bytes, h.bytes);
    assert_int_equal(wg_events_record_flip(e, &ev, 6, NULL, &dup, id2, err, sizeof(err)), WG_OK);
    assert_int_equal(dup, 1);
    assert_int_equal(wg_events_marker_count(e, &lines, &bytes), WG_OK);
    assert_int_equal(lines, 1); /* a duplicate: no second marker */
    h.fail = 1;
    ev.version = "hook-2";
    assert_int_equal(wg_events_record_flip(e, &ev, 7, NULL, &dup, id2, err, sizeof(err)), WG_OK);
    assert_int_equal(dup, 0);
    assert_int_equal(wg_events_marker_count(e, &lines, &bytes), WG_OK);
    assert_int_equal(lines, 1); /* not built: the event recorded, no marker */
    assert_int_equal(wg_events_seen(e, "ci", "hook-2"), 1);
    wg_events_marker_hook(e, NULL);
    ev.version = "hook-3";
    assert_int_equal(wg_events_record_flip(e, &ev, 8, NULL, &dup, id2, err, sizeof(err)), WG_OK);
    assert_int_equal(h.stored, 1); /* unhooked: none */
    assert_int_equal(wg_events_marker_count(e, &lines, &bytes), WG_OK);
    assert_int_equal(lines, 1);
}

static void test_marker_hook(void **state)
{
    (void)state;
    char dir[64] = "/tmp/wg-test-evmk-XXXXXX";
    struct wg_events *e = open_store(dir);
    marker_hook_case(e);
    close_store(e, dir);
}

/* A store of schema 3 (before targets) opens, keeps its rows, and records and lists a fleet
 * deploy's target and per-target deploy times (exact to the nanosecond as stored). */
static void test_store_targets(void **state)
{
    (void)state;
    char dir[64] = "/tmp/wg-test-events-XXXXXX", path[128], err[256] = "", id[48];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/events.db", dir);
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(
        sqlite3_exec(db,
                     "CREATE TABLE events (seq INTEGER PRIMARY KEY AUTOINCREMENT,"
                     " id TEXT NOT NULL UNIQUE, type TEXT NOT NULL, state TEXT, wave TEXT,"
                     " env TEXT, feature TEXT, flag TEXT, version TEXT, source TEXT,"
                     " time_ns INTEGER NOT NULL, received_ns INTEGER NOT NULL);"
                     "CREATE TABLE events_kv (k TEXT PRIMARY KEY, v TEXT NOT NULL);"
                     "CREATE TABLE flips (id TEXT PRIMARY KEY, feature TEXT NOT NULL,"
                     " wave TEXT NOT NULL, env TEXT NOT NULL, flag TEXT NOT NULL,"
                     " anchor_ns INTEGER NOT NULL, interval_ns INTEGER NOT NULL,"
                     " next_ns INTEGER NOT NULL, count INTEGER NOT NULL,"
                     " failure_limit INTEGER NOT NULL, looks INTEGER NOT NULL DEFAULT 0,"
                     " failures INTEGER NOT NULL DEFAULT 0, errors INTEGER NOT NULL DEFAULT 0,"
                     " status TEXT NOT NULL);"
                     "CREATE TABLE actions (id TEXT NOT NULL, idx INTEGER NOT NULL,"
                     " feature TEXT NOT NULL, wave TEXT NOT NULL, env TEXT NOT NULL,"
                     " flag TEXT NOT NULL, status TEXT NOT NULL, attempts INTEGER NOT NULL"
                     " DEFAULT 0, next_ns INTEGER NOT NULL, PRIMARY KEY (id, idx));"
                     "CREATE TABLE action_attempts (id TEXT NOT NULL, idx INTEGER NOT NULL,"
                     " at_ns INTEGER NOT NULL, status TEXT NOT NULL, http_status INTEGER,"
                     " answer TEXT);"
                     "INSERT INTO events VALUES (1, 'ev-old', 'deploy', NULL, 'prod', NULL,"
                     " NULL, NULL, 'v1', NULL, 1796112000000000000, 1796112000000000000);"
                     "PRAGMA user_version=3;",
                     NULL, NULL, NULL),
        SQLITE_OK);
    sqlite3_close(db);
    struct wg_events *e = NULL;
    assert_int_equal(wg_events_open(dir, &e, err, sizeof(err)), WG_OK);
    struct wg_deploy_time *dts = calloc(2, sizeof(*dts));
    assert_non_null(dts);
    dts[0] =
        (struct wg_deploy_time){.target = strdup("gcp-europe-west1"), .ns = 1796112180123456789LL};
    dts[1] = (struct wg_deploy_time){.target = strdup("a b,c=d\"e"), .ns = 1796112000000000000LL};
    struct wg_event ev = {.type = WG_EVENT_DEPLOY, .deploy_times = dts, .ndeploy_times = 2};
    ev.wave = strdup("prod");
    assert_int_equal(wg_events_record(e, &ev, 1796112001000000000LL, id, err, sizeof(err)), WG_OK);
    wg_event_clear(&ev);
    ev = (struct wg_event){.type = WG_EVENT_DEPLOY};
    ev.wave = strdup("prod");
    ev.target = strdup("aws-us-east-1");
    assert_int_equal(wg_events_record(e, &ev, 1796112002000000000LL, id, err, sizeof(err)), WG_OK);
    wg_event_clear(&ev);
    char *json = NULL;
    assert_int_equal(wg_events_list_json(e, 10, &json, err, sizeof(err)), WG_OK);
    assert_non_null(strstr(json, "\"version\":\"v1\""));
    assert_non_null(strstr(json, "\"target\":\"aws-us-east-1\""));
    assert_non_null(strstr(json, "\"deploy_times\":{\"gcp-europe-west1\":\"2026-12-01T08:03:00."
                                 "123456789Z\",\"a b,c=d\\\"e\":\"2026-12-01T08:00:00Z\"}"));
    free(json);
    wg_events_close(e);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

/* A flag event and its flip analysis in one transaction: START names the analysis by the
 * event's id (anchored at the event's time), CANCEL ends the running ones of (feature, env)
 * and says how many; both due and visible as soon as the record returns. */
static void test_record_flip(void **state)
{
    (void)state;
    char dir[64] = "/tmp/wg-test-evfl-XXXXXX", err[256] = "", id1[48], id2[48], id3[48];
    struct wg_events *e = open_store(dir);
    struct wg_event ev = {.type = WG_EVENT_FLAG, .state = WG_EVSTATE_ON};
    ev.feature = "checkout";
    ev.flag = "checkout_v2";
    ev.wave = "prod";
    ev.env = "production";
    ev.time_ns = 1796112000000000000LL;
    struct wg_flip_rec fr = {WG_FLIP_START, 0, 5 * WG_NS_PER_SEC, 3, 1, 0};
    assert_int_equal(wg_events_record_flip(e, &ev, 7, &fr, NULL, id1, err, sizeof(err)), WG_OK);
    ev.time_ns += WG_NS_PER_SEC;
    assert_int_equal(wg_events_record_flip(e, &ev, 7, &fr, NULL, id2, err, sizeof(err)), WG_OK);
    struct wg_flip f[4];
    size_t n = 0;
    assert_int_equal(wg_events_flip_due(e, ev.time_ns + 10 * WG_NS_PER_SEC, f, 4, &n), WG_OK);
    assert_int_equal(n, 2);
    assert_string_equal(f[0].id, id1);
    assert_int_equal(f[0].anchor_ns, 1796112000000000000LL);
    assert_int_equal(f[0].next_ns, 1796112005000000000LL);
    assert_int_equal(f[0].count, 3);
    assert_int_equal(f[0].failure_limit, 1);
    assert_string_equal(f[0].status, "running");
    ev.state = WG_EVSTATE_OFF;
    struct wg_flip_rec off = {WG_FLIP_CANCEL, 0, 0, 0, 0, 0};
    assert_int_equal(wg_events_record_flip(e, &ev, 7, &off, NULL, id3, err, sizeof(err)), WG_OK);
    assert_int_equal(off.cancelled, 2);
    assert_int_equal(wg_events_flip_due(e, ev.time_ns + 10 * WG_NS_PER_SEC, f, 4, &n), WG_OK);
    assert_int_equal(n, 0);
    close_store(e, dir);
}

/* One delivery recorded, however many arrive at once: 8 threads record the same sender event
 * (source, version) together; one is recorded, the others are told dup with its id. Before the
 * check moved into the transaction, two could pass a separate "seen?" read at once. */
struct dup_arg {
    struct wg_events *e;
    int dup;
    char id[48];
    enum wg_err rc;
};

static void *dup_recorder(void *arg)
{
    struct dup_arg *a = arg;
    struct wg_event ev = {.type = WG_EVENT_FLAG, .state = WG_EVSTATE_ON};
    char err[256];
    ev.flag = "checkout_v2";
    ev.source = "unleash";
    ev.version = "17";
    struct wg_flip_rec fr = {WG_FLIP_NONE, 0, 0, 0, 0, 0};
    a->rc = wg_events_record_flip(a->e, &ev, 1000, &fr, &a->dup, a->id, err, sizeof(err));
    return NULL;
}

static void test_dedupe(void **state)
{
    (void)state;
    char dir[64] = "/tmp/wg-test-evdup-XXXXXX", err[256];
    struct wg_events *e = open_store(dir);
    pthread_t th[8];
    struct dup_arg args[8];
    for (int k = 0; k < 8; k++) {
        memset(&args[k], 0, sizeof(args[k]));
        args[k].e = e;
        assert_int_equal(pthread_create(&th[k], NULL, dup_recorder, &args[k]), 0);
    }
    int dups = 0;
    for (int k = 0; k < 8; k++) {
        pthread_join(th[k], NULL);
        assert_int_equal(args[k].rc, WG_OK);
        dups += args[k].dup;
        assert_string_equal(args[k].id, args[0].id);
    }
    assert_int_equal(dups, 7);
    char *json = NULL;
    assert_int_equal(wg_events_list_json(e, 100, &json, err, sizeof(err)), WG_OK);
    assert_once(json, "\"version\":\"17\"");
    free(json);
    close_store(e, dir);
}

/* Group commit: recorders on many threads at once, every event stored once with its own id. */
struct rec_arg {
    struct wg_events *e;
    int k, bad;
};

static void *recorder(void *arg)
{
    struct rec_arg *a = arg;
    for (int i = 0; i < 200; i++) {
        struct wg_event ev = {.type = WG_EVENT_DEPLOY};
        char v[32], id[48], err[256];
        snprintf(v, sizeof(v), "%d-%d", a->k, i);
        ev.wave = "w";
        ev.version = v;
        a->bad += wg_events_record(a->e, &ev, 1000 + i, id, err, sizeof(err)) != WG_OK;
    }
    return NULL;
}

static void test_group_commit(void **state)
{
    (void)state;
    char dir[64] = "/tmp/wg-test-evgc-XXXXXX", err[256];
    struct wg_events *e = open_store(dir);
    pthread_t th[8];
    struct rec_arg args[8];
    for (int k = 0; k < 8; k++) {
        args[k] = (struct rec_arg){e, k, 0};
        assert_int_equal(pthread_create(&th[k], NULL, recorder, &args[k]), 0);
    }
    for (int k = 0; k < 8; k++) {
        pthread_join(th[k], NULL);
        assert_int_equal(args[k].bad, 0);
    }
    char *json = NULL;
    assert_int_equal(wg_events_list_json(e, 5000, &json, err, sizeof(err)), WG_OK);
    size_t n = 0;
    for (const char *p = json; (p = strstr(p, "\"id\":\"ev-")); p++) {
        n++;
    }
    assert_int_equal(n, 1600);
    for (int k = 0; k < 8; k++) { /* each event exactly once */
        char v[40];
        snprintf(v, sizeof(v), "\"version\":\"%d-199\"", k);
        assert_once(json, v);
    }
    free(json);
    close_store(e, dir);
}

/* The committer: events submitted while it is busy (held here, as a slow fsync would) all go
 * into its next transaction, however few threads submitted them (one here: before, a batch held
 * at most one event per waiting thread, the server's thread count); each is told once, after
 * its commit; events still queued at close are committed, not dropped. */
struct sub_arg {
    int calls;
    enum wg_err rc;
};

static void sub_done(void *arg, enum wg_err rc)
{
    struct sub_arg *a = arg;
    a->calls++;
    a->rc = rc;
}

static void test_submit_batches(void **state)
{
    (void)state;
    char dir[64] = "/tmp/wg-test-evsub-XXXXXX", err[64][256], ids[64][48], v[64][16];
    assert_non_null(mkdtemp(dir));
    struct wg_events *e = NULL;
    assert_int_equal(wg_events_open(dir, &e, err[0], sizeof(err[0])), WG_OK);
    struct wg_event evs[64];
    struct sub_arg args[64];
    int dups[64];
    for (int round = 0; round < 2; round++) {
        long c0 = wg_events_hold(e, 1);
        for (int i = 0; i < 32; i++) {
            int k = round * 32 + i;
            snprintf(v[k], sizeof(v[k]), "%d", k);
            evs[k] = (struct wg_event){.type = WG_EVENT_FLAG, .state = WG_EVSTATE_ON};
            evs[k].flag = "checkout_v2";
            evs[k].source = "bench";
            evs[k].version = v[k];
            args[k] = (struct sub_arg){0, WG_EIO};
            assert_int_equal(wg_events_submit(e, &evs[k], 1000 + k, NULL, &dups[k], ids[k], err[k],
                                              sizeof(err[k]), sub_done, &args[k]),
                             WG_OK);
        }
        for (int i = 0; i < 32; i++) {
            assert_int_equal(args[round * 32 + i].calls, 0); /* held: nothing committed yet */
        }
        if (round == 1) {
            wg_events_close(e); /* queued and held: committed on the way out */
            assert_int_equal(wg_events_open(dir, &e, err[0], sizeof(err[0])), WG_OK);
            c0 = wg_events_hold(e, 0);
        } else {
            wg_events_hold(e, 0);
            wg_events_quiesce(e);
            assert_int_equal(wg_events_hold(e, 0) - c0, 1); /* one transaction for the 32 */
        }
        for (int i = 0; i < 32; i++) {
            int k = round * 32 + i;
            assert_int_equal(args[k].calls, 1);
            assert_int_equal(args[k].rc, WG_OK);
            assert_int_equal(dups[k], 0);
            assert_non_null(strstr(ids[k], "ev-"));
            for (int j = 0; j < k; j++) {
                assert_string_not_equal(ids[j], ids[k]);
            }
        }
    }
    char *json = NULL;
    assert_int_equal(wg_events_list_json(e, 1000, &json, err[0], sizeof(err[0])), WG_OK);
    size_t n = 0;
    for (const char *p = json; (p = strstr(p, "\"id\":\"ev-")); p++) {
        n++;
    }
    assert_int_equal(n, 64);
    free(json);
    wg_events_close(e);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

/* ---- over HTTP ------------------------------------------------------------------------------ */

static struct wg_server *g_srv;
static int g_port;

/* auth: send the bearer token; hdr: more header lines ('\n'), or NULL. */
static void http_h(const char *method, const char *path, int auth, const char *body,
                   const char *hdr, struct http_resp *out)
{
    char hl[2048];
    snprintf(hl, sizeof(hl), "%s%s%s", auth ? "Authorization: Bearer " TOKEN : "",
             auth && hdr ? "\n" : "", hdr ? hdr : "");
    http_request(g_port, method, path, hl, body, out);
}

static void http(const char *method, const char *path, int auth, const char *body,
                 struct http_resp *out)
{
    http_h(method, path, auth, body, NULL, out);
}

static int setup_server(void **state)
{
    (void)state;
    snprintf(g_dir, sizeof(g_dir), "/tmp/wg-test-evsrv-XXXXXX");
    if (!mkdtemp(g_dir)) {
        return -1;
    }
    setenv("WG_TEST_EVENTS_TOKEN", TOKEN, 1);
    struct wg_config *cfg = mini_config(g_dir);
    cfg->server.bearer_token_env = strdup("WG_TEST_EVENTS_TOKEN");
    setenv("WG_TEST_LD_SECRET", "ld-secret", 1);
    setenv("WG_TEST_FS_SECRET", "fs-secret", 1);
    cfg->events.secret_env[0] = strdup("WG_TEST_LD_SECRET");
    cfg->events.secret_env[1] = strdup("WG_TEST_FS_SECRET");
    setenv("WG_TEST_GB_SECRET", GB_SECRET, 1);
    cfg->events.secret_env[2] = strdup("WG_TEST_GB_SECRET");
    cfg->events.sig_tolerance_ns = 300 * WG_NS_PER_SEC;
    cfg->server.max_body = 4096;
    cfg->server.max_connections = 64;
    cfg->server.per_ip_connections = 64;
    cfg->server.connection_timeout_ns = 5 * WG_NS_PER_SEC;
    cfg->server.request_timeout_ns = 5 * WG_NS_PER_SEC;
    cfg->server.threads = 2;
    g_port = http_server_start(cfg, (struct wg_server_eval){NULL, NULL}, &g_srv);
    return g_port > 0 ? 0 : -1;
}

static int teardown_server(void **state)
{
    (void)state;
    wg_server_free(g_srv);
    return http_rm_dir(g_dir);
}

struct hcase {
    const char *method, *path, *body;
    int auth;
    long want;
    const char *want_body;
};

static void test_routes(void **state)
{
    (void)state;
    static const char unleash_on[] =
        "{\"id\":17,\"type\":\"feature-environment-enabled\",\"createdBy\":\"wavegate-admin\","
        "\"createdAt\":\"2026-12-01T08:54:11.725Z\",\"createdByUserId\":-42,\"data\":null,"
        "\"preData\":null,\"tags\":[],\"featureName\":\"checkout_v2\",\"project\":\"default\","
        "\"environment\":\"production\",\"groupType\":\"transaction\","
        "\"groupId\":\"01M8RCZGGG80K9FQVR34DKSAXF\"}";
    static const struct hcase cases[] = {
        {"POST", "/v1/events", "{\"type\":\"deploy\",\"wave\":\"external\"}", 1, 202,
         "{\"id\":\"ev-"},
        {"POST", "/v1/events", "{\"type\":\"deploy\",\"wave\":\"external\"}", 0, 401, NULL},
        {"POST", "/v1/events", "{\"type\":\"flag\",\"feature\":\"x\"}", 1, 400,
         "needs state on or off"},
        {"POST", "/v1/events", "not json", 1, 400, "want a JSON object"},
        {"PUT", "/v1/events", "{}", 1, 405, NULL},
        {"POST", "/v1/events/unleash", unleash_on, 1, 202, "{\"id\":\"ev-"},
        {"POST", "/v1/events/unleash", "{\"type\":\"feature-created\",\"featureName\":\"x\"}", 1,
         200, "not a flag flip"},
        {"POST", "/v1/events/unleash", "{\"type\":\"feature-environment-enabled\"}", 1, 400,
         "featureName"},
        {"GET", "/v1/events/unleash", NULL, 1, 405, NULL},
        {"POST", "/v1/events/nosuch", "{}", 1, 404, NULL},
        {"POST", "/v1/events/flagger",
         "{\"name\":\"podinfo\",\"namespace\":\"test\",\"phase\":\"Succeeded\",\"checksum\":"
         "\"abc\",\"metadata\":{\"wave\":\"external\",\"timestamp\":\"1796112000000\",\"token\":"
         "\"" TOKEN "\"}}",
         0, 202, "{\"id\":"},
        {"POST", "/v1/events/flagger",
         "{\"name\":\"podinfo\",\"phase\":\"Succeeded\",\"metadata\":{\"token\":\"wrong\"}}", 0,
         401, "metadata.token"},
        {"POST", "/v1/events/flagger",
         "{\"name\":\"podinfo\",\"phase\":\"Progressing\",\"metadata\":{\"token\":\"" TOKEN "\"}}",
         0, 200, "not a finished rollout"},
        {"GET", "/v1/events", NULL, 1, 200, "\"feature\":\"checkout\""},
    };
    int bad = 0;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct hcase *c = &cases[i];
        struct http_resp r;
        http(c->method, c->path, c->auth, c->body, &r);
        if (r.status != c->want || (c->want_body && !strstr(r.body, c->want_body))) {
            print_error("case %zu %s %s: want %ld %s, got %ld %s\n", i, c->method, c->path, c->want,
                        c->want_body ? c->want_body : "", r.status, r.body);
            bad++;
        }
    }
    /* the Unleash flip was resolved to the feature and the wave, anchored at createdAt */
    struct http_resp r;
    http("GET", "/v1/events", 1, NULL, &r);
    assert_non_null(strstr(r.body, "\"type\":\"flag\",\"state\":\"on\",\"wave\":\"external\","
                                   "\"env\":\"production\",\"feature\":\"checkout\","
                                   "\"flag\":\"checkout_v2\",\"version\":\"17\","
                                   "\"source\":\"unleash\""));
    assert_non_null(strstr(r.body, "\"time\":\"2026-12-01T08:54:11.725Z\""));
    assert_non_null(strstr(r.body, "\"type\":\"deploy\",\"wave\":\"external\",\"env\":"
                                   "\"production\",\"version\":\"abc\",\"source\":\"flagger\","
                                   "\"time_ns\":1796112000000000000"));
    assert_int_equal(bad, 0);
}

static void sign(const char *secret, const char *body, char hex[65])
{
    unsigned char mac[32];
    unsigned int n = 0;
    HMAC(EVP_sha256(), secret, (int)strlen(secret), (const unsigned char *)body, strlen(body), mac,
         &n);
    for (unsigned i = 0; i < 32; i++) {
        snprintf(hex + 2 * i, 3, "%02x", mac[i]);
    }
}

struct scase {
    const char *path, *header, *secret, *body;
    int tamper;
    long want;
    const char *want_body;
};

struct wcase {
    long dt;         /* webhook-timestamp minus now, seconds */
    int tamper;      /* 1: body changed after signing; 2: a second, wrong v1 entry first */
    const char *sig; /* NULL: computed; "": header left out */
    long want;
    const char *want_body;
};

/* GrowthBook SDK webhooks over HTTP: Standard Webhooks signed, within the tolerance. */
static int stdwh_cases(const char *gb)
{
    static const struct wcase cases[] = {
        {0, 0, NULL, 202, "{\"id\":"},
        {-200, 2, NULL, 202, "{\"id\":"}, /* secret rotation: any v1 entry may match */
        {0, 1, NULL, 401, "does not match"},
        {-301, 0, NULL, 401, "tolerance"}, /* a replay 5 minutes later */
        {400, 0, NULL, 401, "tolerance"},
        {0, 0, "", 401, "missing"},
        {0, 0, "v1,AAAA", 401, "does not match"},
    };
    int bad = 0;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct wcase *c = &cases[i];
        char sig[128], hdr[600], body[1024], id[32];
        long long ts = (long long)(wg_now_ns() / WG_NS_PER_SEC) + c->dt;
        snprintf(id, sizeof(id), "msg_%zu", i);
        snprintf(body, sizeof(body), "%s", gb);
        assert_int_equal(wg_alerting_sign(GB_SECRET, id, ts, body, strlen(body), sig, sizeof(sig)),
                         WG_OK);
        if (c->tamper == 1) {
            body[strlen(body) - 3] = 'X';
        }
        snprintf(hdr, sizeof(hdr), "webhook-id: %s\nwebhook-timestamp: %lld%s%s%s%s", id, ts,
                 c->sig && !*c->sig ? "" : "\nwebhook-signature: ",
                 c->tamper == 2 ? "v1,bm90IGl0 " : "", c->sig ? c->sig : sig, "");
        struct http_resp r;
        http_h("POST", "/v1/events/growthbook", 0, body, hdr, &r);
        if (r.status != c->want || !strstr(r.body, c->want_body)) {
            print_error("stdwh case %zu: want %ld %s, got %ld %s\n", i, c->want, c->want_body,
                        r.status, r.body);
            bad++;
        }
    }
    return bad;
}

/* Signed webhooks: accepted with the right HMAC (bare hex or sha256=), refused (401) unsigned,
 * tampered, or when no secret is configured; no bearer token needed. */
static void test_signed(void **state)
{
    (void)state;
    char logf[64];
    snprintf(logf, sizeof(logf), "%s/stderr.log", g_dir);
    fflush(stderr);
    int saved = dup(2), fd = open(logf, O_CREAT | O_WRONLY | O_TRUNC, 0600);
    assert_true(saved >= 0 && fd >= 0);
    dup2(fd, 2);
    close(fd);
    static const char ld[] =
        "{\"_id\":\"ld-1\",\"kind\":\"flag\",\"date\":1796112000000,\"accesses\":[{\"action\":"
        "\"updateOn\",\"resource\":\"proj/default:env/production:flag/checkout_v2\"}],"
        "\"currentVersion\":{\"environments\":{\"production\":{\"on\":true}}}}";
    static const char fs[] =
        "{\"data\":{\"changed_by\":\"x\",\"new_state\":{\"enabled\":false,\"environment\":"
        "{\"id\":1,\"name\":\"staging\"},\"feature\":{\"id\":2,\"name\":\"search\"}},"
        "\"timestamp\":\"2026-12-01T08:00:00Z\"},\"event_type\":\"FLAG_UPDATED\"}";
    static const char gb[] = "{\"event\":\"feature.updated\",\"data\":{\"object\":{\"id\":"
                             "\"checkout_v2\"}},\"environments\":[\"production\"]}";
    static const struct scase cases[] = {
        {"/v1/events/launchdarkly", "X-LD-Signature", "ld-secret", ld, 0, 202, "{\"id\":"},
        {"/v1/events/launchdarkly", "X-LD-Signature", NULL, ld, 0, 401, "missing"},
        {"/v1/events/launchdarkly", "X-LD-Signature", "ld-secret", ld, 1, 401, "does not match"},
        {"/v1/events/launchdarkly", "X-LD-Signature", "wrong", ld, 0, 401, "does not match"},
        {"/v1/events/flagsmith", "X-Flagsmith-Signature", "fs-secret", fs, 0, 202, "{\"id\":"},
        {"/v1/events/flagsmith", "X-Flagsmith-Signature", "ld-secret", fs, 0, 401, NULL},
        {"/v1/events/growthbook", "X-GrowthBook-Signature", GB_SECRET, gb, 0, 202, "{\"id\":"},
        {"/v1/events/growthbook", "X-GrowthBook-Signature", "wrong", gb, 0, 401, "does not match"},
    };
    int bad = 0;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct scase *c = &cases[i];
        char hex[65], hdr[160], body[1024];
        snprintf(body, sizeof(body), "%s", c->body);
        hdr[0] = '\0';
        if (c->secret) {
            sign(c->secret, body, hex);
            snprintf(hdr, sizeof(hdr), "%s: %s%s", c->header, i == 4 ? "sha256=" : "", hex);
        }
        if (c->tamper) {
            body[strlen(body) - 3] = 'X'; /* signed before, sent after the change */
        }
        struct http_resp r;
        http_h("POST", c->path, 0, body, hdr[0] ? hdr : NULL, &r);
        if (r.status != c->want || (c->want_body && !strstr(r.body, c->want_body))) {
            print_error("case %zu %s: want %ld %s, got %ld %s\n", i, c->path, c->want,
                        c->want_body ? c->want_body : "", r.status, r.body);
            bad++;
        }
    }
    bad += stdwh_cases(gb);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    /* every refusal logged, with why, and no secret in the log */
    char log[65536];
    FILE *lf = fopen(logf, "r");
    assert_non_null(lf);
    size_t ll = fread(log, 1, sizeof(log) - 1, lf);
    fclose(lf);
    log[ll] = '\0';
    if (bad || !strstr(log, "launchdarkly webhook refused (signature): missing") ||
        !strstr(log, "growthbook webhook refused (signature): webhook-timestamp outside") ||
        strstr(log, "ld-secret") || strstr(log, "fs-secret") ||
        strstr(log, "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")) {
        print_error("the server's log:\n%s\n", log);
        bad++;
    }
    struct http_resp r;
    http("GET", "/v1/events", 1, NULL, &r);
    assert_non_null(strstr(r.body, "\"type\":\"flag\",\"state\":\"on\",\"wave\":\"external\","
                                   "\"env\":\"production\",\"feature\":\"checkout\","
                                   "\"flag\":\"checkout_v2\",\"version\":\"ld-1\","
                                   "\"source\":\"launchdarkly\""));
    assert_non_null(strstr(r.body, "\"type\":\"flag\",\"state\":\"off\",\"wave\":\"internal\","
                                   "\"env\":\"staging\",\"feature\":\"search\","
                                   "\"flag\":\"search\",\"version\":\"2026-12-01T08:00:00Z\","
                                   "\"source\":\"flagsmith\""));
    assert_int_equal(bad, 0);
}

struct vcase {
    const char *adapter, *secret, *sig, *wh_id, *wh_ts, *wh_sig, *body;
    const char *want; /* NULL: accepted; else a substring of why */
};

/* Each sender's signature check alone, over a table (want and got printed): the hex HMAC of
 * LaunchDarkly, Flagsmith and GrowthBook's event webhooks; Standard Webhooks (GrowthBook SDK
 * webhooks) with the replay tolerance at its edges. now is fixed: 1796112000. */
static void test_verify(void **state)
{
    (void)state;
    static const char body[] = "{\"kind\":\"flag\"}";
    char hex[65], up[80], pre[80], sw[128], sw_old[128], sw_new[128], sw_late[128], ts0[32],
        tsm[32], tsp[32], tsl[32];
    sign("k1", body, hex);
    snprintf(pre, sizeof(pre), "sha256=%s", hex);
    for (size_t i = 0; i <= 64; i++) {
        up[i] = hex[i] >= 'a' && hex[i] <= 'f' ? (char)(hex[i] - 32) : hex[i];
    }
    const long long now = 1796112000;
    snprintf(ts0, sizeof(ts0), "%lld", now);
    snprintf(tsm, sizeof(tsm), "%lld", now - 300);
    snprintf(tsp, sizeof(tsp), "%lld", now + 300);
    snprintf(tsl, sizeof(tsl), "%lld", now - 301);
    assert_int_equal(wg_alerting_sign(GB_SECRET, "m1", now, body, strlen(body), sw, 128), WG_OK);
    assert_int_equal(wg_alerting_sign(GB_SECRET, "m1", now - 300, body, strlen(body), sw_old, 128),
                     WG_OK);
    assert_int_equal(wg_alerting_sign(GB_SECRET, "m1", now + 300, body, strlen(body), sw_new, 128),
                     WG_OK);
    assert_int_equal(wg_alerting_sign(GB_SECRET, "m1", now - 301, body, strlen(body), sw_late, 128),
                     WG_OK);
    char two[300];
    snprintf(two, sizeof(two), "v1,Zm9v %s", sw);
    const struct vcase cases[] = {
        {"launchdarkly", "k1", hex, NULL, NULL, NULL, body, NULL},
        {"launchdarkly", "k1", up, NULL, NULL, NULL, body, NULL},
        {"launchdarkly", "k1", pre, NULL, NULL, NULL, body, NULL},
        {"launchdarkly", "k1", NULL, NULL, NULL, NULL, body, "missing"},
        {"launchdarkly", NULL, hex, NULL, NULL, NULL, body, "no secret configured"},
        {"launchdarkly", "", hex, NULL, NULL, NULL, body, "no secret configured"},
        {"launchdarkly", "k2", hex, NULL, NULL, NULL, body, "does not match"},
        {"launchdarkly", "k1", hex, NULL, NULL, NULL, "{\"kind\":\"flaG\"}", "does not match"},
        {"launchdarkly", "k1", "zz", NULL, NULL, NULL, body, "does not match"},
        {"launchdarkly", "k1", hex + 1, NULL, NULL, NULL, body, "does not match"},
        {"flagsmith", "k1", hex, NULL, NULL, NULL, body, NULL},
        {"flagsmith", "k1", NULL, NULL, NULL, NULL, body, "missing"},
        {"flagsmith", "k1", hex, NULL, NULL, NULL, "{}", "does not match"},
        {"growthbook", "k1", hex, NULL, NULL, NULL, body, NULL},
        {"growthbook", "k1", NULL, NULL, NULL, NULL, body, "missing"},
        {"growthbook", GB_SECRET, NULL, "m1", ts0, sw, body, NULL},
        {"growthbook", GB_SECRET, NULL, "m1", ts0, two, body, NULL},
        {"growthbook", GB_SECRET, NULL, "m1", tsm, sw_old, body, NULL},
        {"growthbook", GB_SECRET, NULL, "m1", tsp, sw_new, body, NULL},
        {"growthbook", GB_SECRET, NULL, "m1", tsl, sw_late, body, "tolerance"},
        {"growthbook", GB_SECRET, NULL, "m1", ts0, sw_old, body, "does not match"},
        {"growthbook", GB_SECRET, NULL, "m2", ts0, sw, body, "does not match"},
        {"growthbook", GB_SECRET, NULL, "m1", ts0, sw, "{}", "does not match"},
        {"growthbook", GB_SECRET, NULL, "m1", ts0, NULL, body, "missing"},
        {"growthbook", GB_SECRET, NULL, NULL, ts0, sw, body, "missing"},
        {"growthbook", GB_SECRET, hex, "m1", NULL, sw, body, "missing"},
        {"growthbook", GB_SECRET, NULL, "m1", "17961x", sw, body, "not a unix time"},
        {"growthbook", "whsec_***", NULL, "m1", ts0, sw, body, "not a whsec_"},
        {"growthbook", NULL, NULL, "m1", ts0, sw, body, "no secret configured"},
        {"unleash", "k1", hex, NULL, NULL, NULL, body, "not a signed sender"},
        {"flagger", "k1", hex, NULL, NULL, NULL, body, "not a signed sender"},
    };
    int bad = 0;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct vcase *c = &cases[i];
        struct wg__sig_in in = {c->secret, c->sig, c->wh_id, c->wh_ts, c->wh_sig, now, 300};
        const char *got =
            wg__events_verify(wg__events_adapter(c->adapter), &in, c->body, strlen(c->body));
        if (c->want ? !got || !strstr(got, c->want) : got != NULL) {
            print_error("case %zu %s: want %s, got %s\n", i, c->adapter,
                        c->want ? c->want : "accepted", got ? got : "accepted");
            bad++;
        }
    }
    assert_int_equal(bad, 0);
}

/* A deploy of a wave with bake: starts its analysis, named in the answer and served at
 * /v1/analyses/{id}; a wave without bake starts none. */
static void test_bake(void **state)
{
    (void)state;
    struct http_resp r;
    http("POST", "/v1/events", 1, "{\"type\":\"deploy\",\"wave\":\"external\",\"version\":\"v2\"}",
         &r);
    assert_int_equal(r.status, 202);
    const char *a = strstr(r.body, "\"analysis\":\"");
    if (!a) {
        print_error("no analysis in %s\n", r.body);
    }
    assert_non_null(a);
    char path[128], id[64];
    snprintf(id, sizeof(id), "%s", a + 12);
    *strchr(id, '"') = '\0';
    snprintf(path, sizeof(path), "/v1/analyses/%s", id);
    http("GET", path, 1, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "\"wave\":\"external\""));
    http("POST", "/v1/events", 1, "{\"type\":\"deploy\",\"wave\":\"internal\"}", &r);
    assert_int_equal(r.status, 202);
    assert_null(strstr(r.body, "analysis"));
}

static void test_body_check(void **state)
{
    (void)state;
    char err[128];
    static const char ok[] = "{\"type\":\"deploy\",\"wave\":\"w\"}";
    assert_int_equal(wg__events_body_check((const uint8_t *)ok, sizeof(ok) - 1, err, 128), 0);
    assert_int_equal(wg__events_body_check((const uint8_t *)"{", 1, err, 128), 400);
}

/* ---- PostgreSQL: two handles on one database stand for two replicas ---------------------- */

/* Fresh tables on the test cluster (pg_helper.h). */
static int setup_pg(void **state)
{
    static int dropped;
    (void)state;
    return pg_reset(&dropped,
                    "DROP TABLE IF EXISTS events, events_kv, flips, actions,"
                    " action_attempts, markers; DROP SEQUENCE IF EXISTS events_seq;"
                    " CREATE TABLE IF NOT EXISTS wg_schema(name TEXT PRIMARY KEY,"
                    " version INTEGER NOT NULL);"
                    " DELETE FROM wg_schema WHERE name='events'",
                    "DELETE FROM events; DELETE FROM events_kv; DELETE FROM flips;"
                    " DELETE FROM actions; DELETE FROM action_attempts;"
                    " DELETE FROM markers");
}

static struct wg_events *pg_open(void)
{
    char err[256] = "";
    struct wg_events *e = NULL;
    enum wg_err rc = wg_events_open("/nonexistent/never-written", &e, err, sizeof(err));
    if (rc != WG_OK) {
        fail_msg("open: %s", err);
    }
    assert_int_equal(wg_events_shared(e), 1);
    return e;
}

#define T0 1796112000000000000LL
#define LEASE (30 * WG_NS_PER_SEC)

static void pg_shared(void **state)
{
    (void)state;
    struct wg_events *r1 = pg_open(), *r2 = pg_open();
    struct wg_event ev = {.type = WG_EVENT_FLAG, .state = WG_EVSTATE_ON};
    ev.feature = "checkout";
    ev.source = "unleash";
    ev.version = "41";
    ev.time_ns = T0;
    char id1[48], id2[48], err[256], *json = NULL, *v = NULL;
    int dup = 0;
    assert_int_equal(wg_events_record_flip(r1, &ev, 5, NULL, &dup, id1, err, sizeof(err)), WG_OK);
    assert_int_equal(dup, 0);
    assert_string_equal(id1, "ev-18ed125908d10000-00000001");
    assert_int_equal(wg_events_list_json(r2, 10, &json, err, sizeof(err)), WG_OK);
    printf("replica 2 lists replica 1's event: %s\n", json);
    assert_once(json, id1);
    assert_non_null(strstr(json, "\"time_ns\":1796112000000000000"));
    free(json);
    assert_int_equal(wg_events_seen(r2, "unleash", "41"), 1);
    assert_int_equal(wg_events_record_flip(r2, &ev, 6, NULL, &dup, id2, err, sizeof(err)), WG_OK);
    printf("the same event through replica 2: want dup 1 id %s, got dup %d id %s\n", id1, dup, id2);
    assert_int_equal(dup, 1);
    assert_string_equal(id2, id1);
    ev.version = "42";
    assert_int_equal(wg_events_record(r2, &ev, 7, id2, err, sizeof(err)), WG_OK);
    assert_string_equal(id2, "ev-18ed125908d10000-00000002"); /* one sequence for both */
    assert_int_equal(wg_events_kv_set(r1, "unleash:http://x", "17"), WG_OK);
    assert_int_equal(wg_events_kv_set(r2, "unleash:http://x", "18"), WG_OK);
    assert_int_equal(wg_events_kv_get(r1, "unleash:http://x", &v), WG_OK);
    assert_string_equal(v, "18");
    free(v);
    wg_events_close(r1);
    wg_events_close(r2);
}

/* Two threads, each on its own handle, released together by a barrier. */
struct race {
    pthread_barrier_t *b;
    struct wg_events *e;
    int what; /* 0 record, 1 flip_due, 2 action_due, 3 marker peek */
    int64_t now;
    enum wg_err rc;
    size_t n;
    int dup;
    char id[48];
    struct wg_buf buf;
    long long last;
};

static void *racer(void *arg)
{
    struct race *r = arg;
    struct wg_flip f[4];
    struct wg_action_row a[4];
    char err[256];
    unsigned long long lines = 0;
    pthread_barrier_wait(r->b);
    if (r->what == 0) {
        struct wg_event ev = {.type = WG_EVENT_FLAG, .state = WG_EVSTATE_ON};
        ev.feature = "checkout";
        char v[24];
        snprintf(v, sizeof(v), "77-%lld", (long long)r->now);
        ev.source = "unleash";
        ev.version = v;
        r->rc = wg_events_record_flip(r->e, &ev, 9, NULL, &r->dup, r->id, err, sizeof(err));
    } else if (r->what == 1) {
        r->rc = wg_events_flip_due(r->e, r->now, f, 4, &r->n);
    } else if (r->what == 2) {
        r->rc = wg_events_action_due(r->e, r->now, a, 4, &r->n);
    } else {
        r->rc = wg_events_marker_peek(r->e, 1 << 20, &r->buf, &r->last, &lines);
        r->n = (size_t)lines;
    }
    return NULL;
}

/* Both handles at once; the sum of what they got, each one's in out[]. */
static size_t race2(struct wg_events *a, struct wg_events *b, int what, int64_t now,
                    struct race out[2])
{
    pthread_barrier_t bar;
    pthread_t th[2];
    pthread_barrier_init(&bar, NULL, 2);
    for (int i = 0; i < 2; i++) {
        memset(&out[i], 0, sizeof(out[i]));
        out[i] = (struct race){.b = &bar, .e = i ? b : a, .what = what, .now = now};
        wg_buf_init(&out[i].buf, 0);
        assert_int_equal(pthread_create(&th[i], NULL, racer, &out[i]), 0);
    }
    for (int i = 0; i < 2; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(out[i].rc, WG_OK);
    }
    pthread_barrier_destroy(&bar);
    return out[0].n + out[1].n;
}

static void pg_dedupe_race(void **state)
{
    (void)state;
    struct wg_events *r1 = pg_open(), *r2 = pg_open();
    struct race r[2];
    int dups = 0;
    for (int round = 0; round < 20; round++) { /* (without the key lock most rounds stored 2) */
        race2(r1, r2, 0, round, r);
        dups += r[0].dup + r[1].dup;
        assert_string_equal(r[0].id, r[1].id);
        wg_buf_free(&r[0].buf);
        wg_buf_free(&r[1].buf);
    }
    printf("20 events each sent to two replicas at once: want 20 dups, got %d\n", dups);
    assert_int_equal(dups, 20);
    char *json = NULL, err[256];
    assert_int_equal(wg_events_list_json(r1, 100, &json, err, sizeof(err)), WG_OK);
    assert_once(json, "\"version\":\"77-0\"");
    assert_once(json, "\"version\":\"77-19\"");
    free(json);
    wg_events_close(r1);
    wg_events_close(r2);
}

/* A due flip asked for by two replicas at once: one claims it, the other gets nothing (also
 * when it asks again while the lease runs); after the lease the other takes it, and the first
 * one's late look is refused (never two looks of one flip at once, never counted twice). Its
 * failing look turns into a pending action, claimed the same way. */
static void pg_claims(void **state)
{
    (void)state;
    struct wg_events *r1 = pg_open(), *r2 = pg_open();
    struct wg_event ev = {.type = WG_EVENT_FLAG, .state = WG_EVSTATE_ON};
    ev.feature = "checkout";
    ev.flag = "checkout_v2";
    ev.wave = "prod";
    ev.env = "production";
    assert_int_equal(wg_events_flip_start(r1, "ev-flip", &ev, T0, WG_NS_PER_SEC, 3, 0), WG_OK);
    struct race r[2];
    int64_t now = T0 + 2 * WG_NS_PER_SEC;
    size_t got = race2(r1, r2, 1, now, r);
    printf("a due flip asked for by two replicas at once: want 1 claim, got %zu + %zu\n", r[0].n,
           r[1].n);
    assert_int_equal(got, 1);
    struct wg_events *win = r[0].n ? r1 : r2, *lose = r[0].n ? r2 : r1;
    struct wg_flip f[2], g[2];
    size_t n = 9;
    assert_int_equal(wg_events_flip_due(lose, now + LEASE - 1, f, 2, &n), WG_OK);
    assert_int_equal(n, 0); /* the lease still runs */
    assert_int_equal(wg_events_flip_due(win, now, f, 2, &n), WG_OK);
    assert_int_equal(n, 1); /* the holder may take its own claim again (a failed record) */
    assert_int_equal(wg_events_flip_due(lose, now + LEASE + 1, g, 2, &n), WG_OK);
    printf("after the lease the other replica claims it: want 1, got %zu\n", n);
    assert_int_equal(n, 1);
    assert_string_equal(g[0].id, "ev-flip");
    assert_int_equal(wg_events_flip_look(win, &f[0], WG_PASS, now, 1), WG_ENOTFOUND);
    assert_int_equal(wg_events_flip_look(lose, &g[0], WG_FAIL, now + LEASE + 1, 1), WG_OK);
    assert_string_equal(g[0].status, "fail");
    assert_int_equal(wg_events_flip_due(win, now + 10 * LEASE, f, 2, &n), WG_OK);
    assert_int_equal(n, 0); /* failed: no more looks */

    /* the kill-switch action it queued */
    now += LEASE + 2;
    got = race2(r1, r2, 2, now, r);
    printf("a pending action asked for by two replicas at once: want 1 claim, got %zu + %zu\n",
           r[0].n, r[1].n);
    assert_int_equal(got, 1);
    win = r[0].n ? r1 : r2;
    lose = r[0].n ? r2 : r1;
    struct wg_action_row a[2], b[2];
    assert_int_equal(wg_events_action_due(win, now, a, 2, &n), WG_OK);
    assert_int_equal(n, 1);
    assert_int_equal(wg_events_action_due(lose, now + LEASE - 1, b, 2, &n), WG_OK);
    assert_int_equal(n, 0);
    assert_int_equal(wg_events_action_due(lose, now + LEASE + 1, b, 2, &n), WG_OK);
    assert_int_equal(n, 1);
    assert_int_equal(wg_events_action_attempt(win, &a[0], "done", 200, "ok", now, now),
                     WG_ENOTFOUND);
    assert_int_equal(wg_events_action_attempt(lose, &b[0], "done", 200, "ok", now + LEASE + 1, now),
                     WG_OK);
    assert_int_equal(wg_events_action_due(win, now + 10 * LEASE, a, 2, &n), WG_OK);
    assert_int_equal(n, 0);
    char *json = NULL;
    assert_int_equal(wg_events_actions_json(r1, &json), WG_OK);
    printf("actions: %s\n", json);
    assert_non_null(strstr(json, "\"status\":\"done\",\"attempts\":1,"));
    free(json);
    wg_events_close(r1);
    wg_events_close(r2);
}

/* The markers' outbox: rows peeked by two replicas at once go to one or the other, never to
 * both; rows one holds are the other's after the lease (a resend after a crash), and a delete
 * removes only the deleter's claimed rows. */
static void pg_markers(void **state)
{
    (void)state;
    struct wg_events *r1 = pg_open(), *r2 = pg_open();
    static const char *const rows[] = {"m,t=a v=1 1\n", "m,t=b v=2 2\n", "m,t=c v=3 3\n"};
    for (int i = 0; i < 3; i++) {
        assert_int_equal(wg_events_marker_put(r1, rows[i], strlen(rows[i]), 1), WG_OK);
    }
    struct race r[2];
    size_t got = race2(r1, r2, 3, 0, r);
    printf("3 marker rows peeked by two replicas at once: want 3 lines in all, got %zu + %zu\n",
           r[0].n, r[1].n);
    assert_int_equal(got, 3);
    for (int i = 0; i < 3; i++) { /* each row in exactly one of the two peeks */
        int in0 = r[0].buf.p && strstr(r[0].buf.p, rows[i]) != NULL;
        int in1 = r[1].buf.p && strstr(r[1].buf.p, rows[i]) != NULL;
        assert_int_equal(in0 + in1, 1);
    }
    struct wg_buf b;
    wg_buf_init(&b, 0);
    long long last = 0, last2 = 0;
    unsigned long long n = 0, lines = 0, bytes = 0;
    assert_int_equal(wg_events_marker_peek(r2, 1 << 20, &b, &last, &n), WG_OK);
    assert_int_equal(n, r[1].n); /* its own claims again (a retry), none of the other's */
    wg_buf_free(&b);
    wg_buf_init(&b, 0);
    wg_events_claims(r2, 0, LEASE + WG_NS_PER_SEC); /* r2 looks after the lease */
    assert_int_equal(wg_events_marker_peek(r2, 1 << 20, &b, &last2, &n), WG_OK);
    printf("after the lease one replica takes all: want 3, got %llu\n", n);
    assert_int_equal(n, 3);
    assert_int_equal(wg_events_marker_del(r1, r[0].last ? r[0].last : last2), WG_OK);
    assert_int_equal(wg_events_marker_count(r1, &lines, &bytes), WG_OK);
    assert_int_equal(lines, 3); /* r1's claims were taken over: r1 deletes none */
    assert_int_equal(wg_events_marker_del(r2, last2), WG_OK);
    assert_int_equal(wg_events_marker_count(r1, &lines, &bytes), WG_OK);
    assert_int_equal(lines, 0);
    wg_buf_free(&b);
    for (int i = 0; i < 2; i++) {
        wg_buf_free(&r[i].buf);
    }
    wg_events_close(r1);
    wg_events_close(r2);
}

static void pg_marker_hook(void **state)
{
    (void)state;
    struct wg_events *e = pg_open();
    marker_hook_case(e);
    wg_events_close(e);
}

/* Each sender's decode of its kinds (the kind tables of gate_server_events.c): a flip, another
 * kind (nothing recorded, said why), a body without a kind or without the key (400), each with
 * its exact why; the kind in why cut at 64 bytes. */
static void test_decode_kinds(void **state)
{
    (void)state;
    char longer[200];
    snprintf(longer, sizeof(longer), "{\"type\":\"%0100d\"}", 0);
    struct dcase {
        const char *adapter, *body;
        enum wg_err rc;
        int n;
        const char *why; /* NULL: not looked at (an event came out) */
        enum wg_event_state st;
    } cases[] = {
        {"unleash", "{}", WG_EINVAL, 0, "want an Unleash event object with a type", 0},
        {"unleash", "{\"type\":\"feature-created\"}", WG_OK, 0,
         "Unleash event type feature-created is not a flag flip", 0},
        {"unleash", longer, WG_OK, 0,
         "Unleash event type 0000000000000000000000000000000000000000000000000000000000000000 is "
         "not a flag flip",
         0},
        {"unleash", "{\"type\":\"feature-environment-enabled\"}", WG_EINVAL, 0,
         "featureName: want a string", 0},
        {"unleash", "{\"type\":\"feature-environment-enabled\",\"featureName\":\"f\"}", WG_OK, 1,
         NULL, WG_EVSTATE_ON},
        {"unleash", "{\"type\":\"feature-environment-disabled\",\"featureName\":\"f\"}", WG_OK, 1,
         NULL, WG_EVSTATE_OFF},
        {"unleash", "{\"type\":\"feature-strategy-remove\",\"featureName\":\"f\"}", WG_OK, 1, NULL,
         WG_EVSTATE_CHANGED},
        {"flagsmith", "{\"event_type\":3}", WG_EINVAL, 0,
         "want a Flagsmith webhook with event_type", 0},
        {"flagsmith", "{\"event_type\":\"FLAG_DELETED\"}", WG_OK, 0,
         "Flagsmith event FLAG_DELETED is not a flag update", 0},
        {"flagsmith", "{\"event_type\":\"FLAG_UPDATED\"}", WG_EINVAL, 0,
         "data.new_state: want enabled and feature.name", 0},
        {"flagsmith",
         "{\"event_type\":\"FLAG_UPDATED\",\"data\":{\"new_state\":{\"enabled\":false,"
         "\"feature\":{\"name\":\"f\"}}}}",
         WG_OK, 1, NULL, WG_EVSTATE_OFF},
        {"growthbook", "{}", WG_EINVAL, 0, "want a GrowthBook event webhook with event", 0},
        {"growthbook", "{\"event\":\"experiment.created\"}", WG_OK, 0,
         "GrowthBook event experiment.created is not a feature update", 0},
        {"growthbook", "{\"event\":\"feature.updated\"}", WG_EINVAL, 0,
         "data.object.id: want the feature key", 0},
        {"growthbook", "{\"event\":\"feature.updated\",\"data\":{\"current\":{\"id\":\"f\"}}}",
         WG_OK, 1, NULL, WG_EVSTATE_CHANGED},
        {"flagger", "{\"phase\":\"Succeeded\"}", WG_EINVAL, 0,
         "want Flagger's event payload (name, phase)", 0},
        {"flagger", "{\"name\":\"c\"}", WG_EINVAL, 0, "want Flagger's event payload (name, phase)",
         0},
        {"flagger", "{\"name\":\"c\",\"phase\":\"Progressing\"}", WG_OK, 0,
         "Flagger phase Progressing is not a finished rollout", 0},
        {"flagger", "{\"name\":\"c\",\"phase\":\"Succeeded\"}", WG_OK, 1, NULL, 0},
        {"launchdarkly", "{}", WG_OK, 0, "LaunchDarkly entry is not a flag turned on or off", 0},
    };
    int bad = 0;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct dcase *c = &cases[i];
        struct wg_event ev;
        char why[256] = "";
        int n = -1;
        enum wg_err rc = wg__events_decode(wg__events_adapter(c->adapter), c->body, strlen(c->body),
                                           &ev, &n, why, sizeof(why));
        if (rc != c->rc || n != c->n || (c->why && strcmp(why, c->why)) ||
            (n == 1 && ev.state != c->st)) {
            print_error("case %zu %s %s: want rc %d n %d why \"%s\" state %d, got rc %d n %d why "
                        "\"%s\" state %d\n",
                        i, c->adapter, c->body, c->rc, c->n, c->why ? c->why : "", c->st, rc, n,
                        why, n == 1 ? ev.state : 0);
            bad++;
        }
        wg_event_clear(&ev);
    }
    assert_int_equal(bad, 0);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_resolve),
        cmocka_unit_test(test_store),
        cmocka_unit_test(test_store_targets),
        cmocka_unit_test(test_marker_hook),
        cmocka_unit_test(test_group_commit),
        cmocka_unit_test(test_submit_batches),
        cmocka_unit_test(test_record_flip),
        cmocka_unit_test(test_dedupe),
        cmocka_unit_test(test_body_check),
        cmocka_unit_test(test_verify),
        cmocka_unit_test(test_decode_kinds),
        cmocka_unit_test_setup_teardown(test_routes, setup_server, teardown_server),
        cmocka_unit_test_setup_teardown(test_signed, setup_server, teardown_server),
        cmocka_unit_test_setup_teardown(test_bake, setup_server, teardown_server),
    };
    const struct CMUnitTest pg[] = {
        cmocka_unit_test_setup(pg_shared, setup_pg),
        cmocka_unit_test_setup(pg_dedupe_race, setup_pg),
        cmocka_unit_test_setup(pg_claims, setup_pg),
        cmocka_unit_test_setup(pg_markers, setup_pg),
        cmocka_unit_test_setup(pg_marker_hook, setup_pg),
    };
    int rc = pg_run_halves(tests, pg);
    curl_global_cleanup();
    return rc;
}

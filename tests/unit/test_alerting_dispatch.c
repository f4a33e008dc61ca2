/* test_alerting_dispatch.c — the pure parts of alerting with an injected clock: the state
 * machine (for, keep_firing_for), routing (nested, continue, matchers, `...`), grouping timers
 * (group_wait, group_interval, repeat_interval), dedup reasons, silences and inhibition.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alerting/alerting_int.h"
#include "alert_helper.h"

#define S(x) ((int64_t)(x) * WG_NS_PER_SEC)

struct sent {
    char receiver[64];
    char reason[64];
    char key[256];
    size_t n, nfiring;
    int64_t at;
};

struct rec {
    struct sent v[64];
    size_t n;
};

static void emit(void *ctx, const struct wg__notif *nt)
{
    struct rec *r = ctx;
    if (r->n < 64) {
        struct sent *s = &r->v[r->n++];
        snprintf(s->receiver, sizeof(s->receiver), "%s", nt->rcv->name);
        snprintf(s->reason, sizeof(s->reason), "%s", nt->reason);
        snprintf(s->key, sizeof(s->key), "%s", nt->g->key);
        s->n = nt->n;
        s->nfiring = nt->nfiring;
        s->at = nt->now;
    }
}

struct world {
    struct wg_alert_config *cfg;
    struct wg__store st;
    struct wg__dispatch d;
    struct rec rec;
};

static void world_init(struct world *w, const char *yaml)
{
    memset(w, 0, sizeof(*w));
    w->cfg = alert_cfg_load(yaml);
    w->d.cfg = w->cfg;
}

static void world_free(struct world *w)
{
    wg__dispatch_clear(&w->d);
    wg__store_clear(&w->st);
    wg_alert_config_free(w->cfg);
}

/* Set an alert (labels "k=v,k=v") to breach (1) or ok (0) at time t. */
static struct wg__alert *set(struct world *w, const char *labels, int breach, int64_t t)
{
    struct wg__labels ls = {0};
    char buf[256];
    snprintf(buf, sizeof(buf), "%s", labels);
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok;
         tok = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(tok, '=');
        *eq = '\0';
        assert_int_equal(wg__labels_set(&ls, tok, eq + 1), WG_OK);
    }
    uint64_t fp = wg_alerting_fingerprint(ls.v, ls.n);
    struct wg__alert *al = wg__store_find(&w->st, fp);
    if (!al) {
        al = wg__store_add(&w->st, fp);
        assert_int_equal(wg__labels_copy(&al->labels, ls.v, ls.n), WG_OK);
    }
    wg__labels_clear(&ls);
    if (wg__alert_step(al, breach, t)) {
        assert_int_equal(wg__dispatch_route(&w->d, al, t), WG_OK);
    }
    return al;
}

static void tick(struct world *w, int64_t t)
{
    wg__dispatch_tick(&w->d, &w->st, t, emit, &w->rec);
}

static const char *base_cfg =
    "alerting:\n"
    "  receivers:\n"
    "    - {name: hook, kind: webhook, url: 'http://127.0.0.1:9/x'}\n"
    "    - {name: chat, kind: slack, url: 'http://127.0.0.1:9/s'}\n"
    "    - {name: db, kind: webhook, url: 'http://127.0.0.1:9/d'}\n"
    "  route:\n"
    "    receiver: hook\n"
    "    group_by: [alertname]\n"
    "    group_wait: 30s\n"
    "    group_interval: 5m\n"
    "    repeat_interval: 4h\n"
    "    routes:\n"
    "      - receiver: db\n"
    "        matchers: ['service=~\"mysql|cassandra\"']\n"
    "        continue: true\n"
    "        group_by: ['...']\n"
    "      - receiver: chat\n"
    "        match: {team: frontend}\n"
    "        group_wait: 10s\n"
    "  inhibit_rules:\n"
    "    - source_matchers: ['alertname=\"GateFailed\"']\n"
    "      target_matchers: ['severity=~\"warning|info\"']\n"
    "      equal: [env]\n";

static void test_state_machine(void **st)
{
    (void)st;
    struct wg__alert al = {0};
    al.for_ns = S(120);
    al.keep_ns = S(90);
    struct {
        int64_t t;
        int breach;
        int want_ret;
        enum wg__astate want;
        int want_resolved;
    } steps[] = {
        {0, 1, 0, WG__PENDING, 0},    {S(60), 1, 0, WG__PENDING, 0},
        {S(120), 1, 1, WG__FIRING, 0}, {S(180), 0, 0, WG__FIRING, 0}, /* keep_firing_for */
        {S(200), -1, 0, WG__FIRING, 0}, {S(240), 0, 1, WG__INACTIVE, 1},
        {S(300), 1, 0, WG__PENDING, 1}, {S(310), 0, 0, WG__INACTIVE, 1},
    };
    for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
        int r = wg__alert_step(&al, steps[i].breach, steps[i].t);
        if (r != steps[i].want_ret || al.state != steps[i].want ||
            al.resolved != steps[i].want_resolved) {
            fprintf(stderr, "step %zu: want ret=%d state=%d resolved=%d got %d %d %d\n", i,
                    steps[i].want_ret, steps[i].want, steps[i].want_resolved, r, al.state,
                    al.resolved);
            fail();
        }
    }
    assert_int_equal(al.starts_at, S(120));
    assert_int_equal(al.ends_at, S(240));
}

static void test_grouping_timers(void **st)
{
    (void)st;
    struct world w;
    world_init(&w, base_cfg);
    set(&w, "alertname=A,instance=1", 1, 0);
    set(&w, "alertname=A,instance=2", 1, S(10));
    for (int64_t t = 0; t < S(30); t += S(5)) {
        tick(&w, t);
    }
    assert_int_equal(w.rec.n, 0); /* group_wait not over */
    tick(&w, S(30));
    assert_int_equal(w.rec.n, 1);
    assert_string_equal(w.rec.v[0].reason, "first notification");
    assert_int_equal(w.rec.v[0].n, 2);
    set(&w, "alertname=A,instance=3", 1, S(40));
    tick(&w, S(100));
    assert_int_equal(w.rec.n, 1); /* waits for the group_interval tick */
    tick(&w, S(330));
    assert_int_equal(w.rec.n, 2);
    assert_string_equal(w.rec.v[1].reason, "new alerts added");
    assert_int_equal(w.rec.v[1].n, 3);
    for (int64_t t = S(630); t < S(330 + 14400); t += S(300)) {
        tick(&w, t);
    }
    assert_int_equal(w.rec.n, 2); /* nothing changed, repeat not due */
    tick(&w, S(330 + 14400));
    assert_int_equal(w.rec.n, 3);
    assert_string_equal(w.rec.v[2].reason, "repeat interval elapsed");
    /* one resolves: announced at the next tick (webhook send_resolved defaults to true) */
    set(&w, "alertname=A,instance=2", 0, S(14800));
    tick(&w, S(330 + 14700));
    assert_int_equal(w.rec.n, 4);
    assert_string_equal(w.rec.v[3].reason, "some alerts resolved");
    assert_int_equal(w.rec.v[3].nfiring, 2);
    assert_int_equal(w.rec.v[3].n, 3);
    set(&w, "alertname=A,instance=1", 0, S(15100));
    set(&w, "alertname=A,instance=3", 0, S(15100));
    tick(&w, S(330 + 15000));
    assert_int_equal(w.rec.n, 5);
    assert_string_equal(w.rec.v[4].reason, "all alerts resolved");
    assert_int_equal(w.rec.v[4].nfiring, 0);
    assert_int_equal(w.d.ngroups, 0); /* empty group removed */
    world_free(&w);
}

static void test_resolved_within_group_wait(void **st)
{
    (void)st;
    struct world w;
    world_init(&w, base_cfg);
    set(&w, "alertname=Flap", 1, 0);
    set(&w, "alertname=Flap", 0, S(10));
    tick(&w, S(30));
    tick(&w, S(330));
    assert_int_equal(w.rec.n, 0);
    world_free(&w);
}

static void test_routing(void **st)
{
    (void)st;
    struct world w;
    world_init(&w, base_cfg);
    set(&w, "alertname=Slow,service=mysql,team=frontend", 1, 0); /* db (continue) + chat */
    set(&w, "alertname=Down,team=frontend", 1, 0);               /* chat only */
    set(&w, "alertname=Other", 1, 0);                            /* root: hook */
    tick(&w, S(10));
    assert_int_equal(w.rec.n, 2); /* chat's group_wait is 10s: two chat groups */
    for (size_t i = 0; i < 2; i++) {
        assert_string_equal(w.rec.v[i].receiver, "chat");
    }
    tick(&w, S(30));
    assert_int_equal(w.rec.n, 4);
    int db = 0, hook = 0;
    for (size_t i = 2; i < 4; i++) {
        db += strcmp(w.rec.v[i].receiver, "db") == 0;
        hook += strcmp(w.rec.v[i].receiver, "hook") == 0;
        if (strcmp(w.rec.v[i].receiver, "db") == 0) {
            /* group_by '...': every label is a group label */
            assert_non_null(strstr(w.rec.v[i].key, "\"service\":\"mysql\""));
            assert_non_null(strstr(w.rec.v[i].key, "\"team\":\"frontend\""));
        }
    }
    assert_int_equal(db, 1);
    assert_int_equal(hook, 1);
    world_free(&w);
}

static void test_inhibit_and_silence(void **st)
{
    (void)st;
    struct world w;
    world_init(&w, base_cfg);
    set(&w, "alertname=GateFailed,env=prod,severity=critical", 1, 0);
    struct wg__alert *warn = set(&w, "alertname=Latency,env=prod,severity=warning", 1, 0);
    struct wg__alert *other = set(&w, "alertname=Latency2,env=staging,severity=warning", 1, 0);
    assert_true(wg__dispatch_muted(&w.d, &w.st, warn, S(1)));
    assert_false(wg__dispatch_muted(&w.d, &w.st, other, S(1))); /* env differs */
    /* a silence on Latency2 for [10s, 100s) */
    w.d.silences.v = calloc(1, sizeof(struct wg_silence));
    w.d.silences.n = 1;
    w.d.silences.v[0].matchers.v = calloc(1, sizeof(struct wg_matcher));
    w.d.silences.v[0].matchers.n = 1;
    char err[128];
    assert_int_equal(wg_matcher_parse("alertname=\"Latency2\"", &w.d.silences.v[0].matchers.v[0],
                                      err, sizeof(err)), WG_OK);
    w.d.silences.v[0].starts_ns = S(10);
    w.d.silences.v[0].ends_ns = S(100);
    assert_false(wg__dispatch_muted(&w.d, &w.st, other, S(5)));
    assert_true(wg__dispatch_muted(&w.d, &w.st, other, S(50)));
    assert_false(wg__dispatch_muted(&w.d, &w.st, other, S(100)));
    tick(&w, S(30));
    /* GateFailed notified; Latency inhibited; Latency2 silenced → 1 notification */
    assert_int_equal(w.rec.n, 1);
    assert_non_null(strstr(w.rec.v[0].key, "GateFailed"));
    world_free(&w);
}

static void test_slack_send_resolved_default(void **st)
{
    (void)st;
    struct world w;
    world_init(&w, base_cfg);
    set(&w, "alertname=Down,team=frontend", 1, 0);
    tick(&w, S(10));
    assert_int_equal(w.rec.n, 1);
    set(&w, "alertname=Down,team=frontend", 0, S(20));
    tick(&w, S(310));
    assert_int_equal(w.rec.n, 1); /* slack: send_resolved false, log cleared silently */
    assert_int_equal(w.d.ngroups, 0);
    world_free(&w);
}

static void test_matchers(void **st)
{
    (void)st;
    struct {
        const char *m, *labels;
        int want;
    } cases[] = {
        {"a=\"x\"", "x", 1},  {"a!=\"x\"", "x", 0}, {"a=~\"x|y\"", "y", 1},
        {"a=~\"x\"", "xx", 0}, {"a!~\"x.*\"", "xy", 0}, {"a=\"\"", NULL, 1},
        {"a = x", "x", 1},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct wg_matchers ms = {calloc(1, sizeof(struct wg_matcher)), 1};
        struct wg__labels ls = {0};
        char err[128];
        assert_int_equal(wg_matcher_parse(cases[i].m, &ms.v[0], err, sizeof(err)), WG_OK);
        if (cases[i].labels) {
            assert_int_equal(wg__labels_set(&ls, "a", cases[i].labels), WG_OK);
        }
        int got = wg__matchers_match(&ms, &ls);
        if (got != cases[i].want) {
            fprintf(stderr, "%s on a=%s: want %d got %d\n", cases[i].m,
                    cases[i].labels ? cases[i].labels : "(none)", cases[i].want, got);
            fail();
        }
        wg_matchers_clear(&ms);
        wg__labels_clear(&ls);
    }
}

static void test_fingerprint(void **st)
{
    (void)st;
    /* Order-insensitive and equal to Prometheus' model.LabelSet{}.Fingerprint():
     * {} hashes to the FNV-64a offset basis. */
    struct wg_label a[] = {{"b", "2"}, {"a", "1"}};
    struct wg_label b[] = {{"a", "1"}, {"b", "2"}};
    assert_true(wg_alerting_fingerprint(a, 2) == wg_alerting_fingerprint(b, 2));
    assert_true(wg_alerting_fingerprint(NULL, 0) == 14695981039346656037ULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_state_machine),
        cmocka_unit_test(test_grouping_timers),
        cmocka_unit_test(test_resolved_within_group_wait),
        cmocka_unit_test(test_routing),
        cmocka_unit_test(test_inhibit_and_silence),
        cmocka_unit_test(test_slack_send_resolved_default),
        cmocka_unit_test(test_matchers),
        cmocka_unit_test(test_fingerprint),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* test_rules_peers.c — `judge: peers` (rules/rules_peers.c): a target that moved alone fails
 * and is named, a fleet-wide shift fails nobody, noise within the peers passes, fewer than 3
 * targets with data is inconclusive, direction and max_increase are honoured; the self part
 * goes through wg_rules_eval (errors and no data as for every judge).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "rules/rules.h"

#define MAXT 8

/* One target's series: 30 points around v (a fixed +-1% wobble); NAN: no data. */
static void fill(struct wg_seriesset *ss, double v)
{
    memset(ss, 0, sizeof(*ss));
    if (isnan(v)) {
        return;
    }
    struct wg_series *s = wg_seriesset_get(ss, NULL, 0);
    assert_non_null(s);
    for (int i = 0; i < 30; i++) {
        assert_int_equal(wg_series_push(s, i, v * (1 + 0.01 * ((i % 3) - 1))), WG_OK);
    }
}

static void test_table(void **state)
{
    (void)state;
    static const struct {
        const char *name;
        double v[MAXT];
        size_t n;
        enum wg_direction dir;
        double max_increase_pct; /* 0: default */
        const char *want;        /* per target: P pass, F fail, I inconclusive */
    } cases[] = {
        {"one region 30% slower fails alone",
         {100, 101, 130, 99, 100},
         5,
         WG_DIR_INCREASE,
         0,
         "PPFPP"},
        {"three regions, one 30% slower", {101, 130, 99}, 3, WG_DIR_INCREASE, 0, "PFP"},
        {"fleet-wide shift fails nobody",
         {130, 131, 129, 130, 132},
         5,
         WG_DIR_INCREASE,
         0,
         "PPPPP"},
        {"noise within the peers passes", {100, 104, 96, 108, 92}, 5, WG_DIR_INCREASE, 0, "PPPPP"},
        {"identical peers, +5% under the tolerance",
         {100, 100, 105, 100},
         4,
         WG_DIR_INCREASE,
         0,
         "PPPP"},
        {"max_increase 50% lets +30% pass",
         {100, 101, 130, 99, 100},
         5,
         WG_DIR_INCREASE,
         50,
         "PPPPP"},
        {"faster is no regression when increase fails",
         {100, 101, 70, 99},
         4,
         WG_DIR_INCREASE,
         0,
         "PPPP"},
        {"decrease: the lower one fails", {100, 101, 70, 99}, 4, WG_DIR_DECREASE, 0, "PPFP"},
        {"either catches both", {100, 130, 70, 99, 101}, 5, WG_DIR_EITHER, 0, "PFFPP"},
        {"two targets cannot compare", {100, 130}, 2, WG_DIR_INCREASE, 0, "II"},
        {"three targets, one without data", {100, NAN, 130}, 3, WG_DIR_INCREASE, 0, "III"},
    };
    int bad = 0;
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        struct wg_rule r = {0};
        r.name = "p95";
        r.judge = WG_JUDGE_PEERS;
        struct wg_rule_params p = {0};
        p.min_samples = 1;
        p.confidence = 0.98;
        p.reduce = WG_REDUCE_P95;
        p.direction = cases[c].dir;
        if (cases[c].max_increase_pct > 0) {
            p.max_increase = (struct wg_limit){1, 1, cases[c].max_increase_pct};
        }
        struct wg_seriesset ss[MAXT];
        struct wg_rule_result res[MAXT];
        struct wg_peer peers[MAXT];
        char got[MAXT + 1] = "";
        for (size_t i = 0; i < cases[c].n; i++) {
            fill(&ss[i], cases[c].v[i]);
            struct wg_rule_input in = {.rule = &r, .p = &p, .current = &ss[i]};
            memset(&res[i], 0, sizeof(res[i]));
            assert_int_equal(wg_rules_eval(&in, &res[i]), WG_OK);
            peers[i].name = "t";
            peers[i].res = &res[i];
        }
        wg_rules_peers(&p, peers, cases[c].n, (1 - p.confidence) / 2);
        for (size_t i = 0; i < cases[c].n; i++) {
            got[i] = "PWIEF"[res[i].verdict];
            assert_int_equal(res[i].peers_pending, 0);
        }
        if (strcmp(got, cases[c].want) != 0) {
            printf("case %zu \"%s\": want %s got %s\n", c, cases[c].name, cases[c].want, got);
            for (size_t i = 0; i < cases[c].n; i++) {
                printf("  [%zu] %s\n", i, res[i].reason);
            }
            bad++;
        }
        for (size_t i = 0; i < cases[c].n; i++) {
            wg_seriesset_free(&ss[i]);
            wg_rule_result_clear(&res[i]);
        }
    }
    assert_int_equal(bad, 0);
}

/* The failing target's result carries its value, the peers' median and a reason saying so. */
static void test_reason(void **state)
{
    (void)state;
    double v[3] = {101, 130, 99};
    struct wg_rule r = {0};
    r.judge = WG_JUDGE_PEERS;
    struct wg_rule_params p = {0};
    p.min_samples = 1;
    p.confidence = 0.98;
    p.reduce = WG_REDUCE_MAX;
    struct wg_rule_result res[3];
    struct wg_peer peers[3];
    for (int i = 0; i < 3; i++) {
        struct wg_seriesset ss;
        memset(&ss, 0, sizeof(ss));
        struct wg_series *s = wg_seriesset_get(&ss, NULL, 0);
        assert_int_equal(wg_series_push(s, 1, v[i]), WG_OK);
        struct wg_rule_input in = {.rule = &r, .p = &p, .current = &ss};
        memset(&res[i], 0, sizeof(res[i]));
        assert_int_equal(wg_rules_eval(&in, &res[i]), WG_OK);
        assert_int_equal(res[i].peers_pending, 1);
        peers[i] = (struct wg_peer){"t", &res[i]};
        wg_seriesset_free(&ss);
    }
    wg_rules_peers(&p, peers, 3, 0.01);
    assert_int_equal(res[1].verdict, WG_FAIL);
    assert_true(res[1].has_value && res[1].value == 130);
    assert_true(res[1].has_baseline && res[1].baseline == 100);
    assert_non_null(strstr(res[1].reason, "above its 2 peers' median 100"));
    for (int i = 0; i < 3; i++) {
        wg_rule_result_clear(&res[i]);
    }
}

/* A query error is "could not evaluate", no data follows no_data: never a peer. */
static void test_self_errors(void **state)
{
    (void)state;
    struct wg_rule r = {0};
    r.judge = WG_JUDGE_PEERS;
    struct wg_rule_params p = {0};
    p.min_samples = 5;
    struct wg_seriesset empty = {0};
    struct wg_rule_result res = {0};
    struct wg_rule_input in = {.rule = &r, .p = &p, .current = &empty, .error = "refused"};
    assert_int_equal(wg_rules_eval(&in, &res), WG_OK);
    assert_int_equal(res.verdict, WG_NOEVAL);
    assert_int_equal(res.peers_pending, 0);
    wg_rule_result_clear(&res);
    in.error = NULL;
    assert_int_equal(wg_rules_eval(&in, &res), WG_OK);
    assert_int_equal(res.verdict, WG_INCONCLUSIVE);
    assert_int_equal(res.peers_pending, 0);
    wg_rule_result_clear(&res);
    p.no_data = WG_NODATA_FAIL;
    assert_int_equal(wg_rules_eval(&in, &res), WG_OK);
    assert_int_equal(res.verdict, WG_FAIL);
    wg_rule_result_clear(&res);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table),
        cmocka_unit_test(test_reason),
        cmocka_unit_test(test_self_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

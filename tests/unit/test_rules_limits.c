/* test_rules_limits.c — the limits state machine over repeated measurements: failure_limit,
 * consecutive_failures, inconclusive_limit, error_limit (errors apart from failures: an outage
 * pauses, then ends as error, never fail), count, early finish, and steps after the end.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "rules/rules.h"

#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

#define P WG_PASS
#define W WG_WARN
#define F WG_FAIL
#define I WG_INCONCLUSIVE
#define E WG_NOEVAL

struct lcase {
    const char *name;
    struct wg_limits l;
    enum wg_verdict m[10];
    int n;
    int finish;          /* call wg_limits_finish after the steps */
    enum wg_verdict want;
    int want_done_at;    /* 1-based step that ended the run; 0: still running / finished */
    const char *reason;  /* substring of the final reason, or NULL */
};

static const struct lcase cases[] = {
    {"zeroed: first fail fails", {0}, {P, F}, 2, 0, F, 2, "1 failed measurements > failure_limit 0"},
    {"zeroed: first inconclusive ends", {0}, {P, I}, 2, 0, I, 2, "inconclusive_limit 0"},
    {"zeroed: first error ends as error", {0}, {E}, 1, 0, E, 1, "error_limit 0"},
    {"failure_limit 2: third fail", {.failure_limit = 2, .count = 10}, {F, F, P, F}, 4, 0, F, 4,
     "3 failed measurements > failure_limit 2"},
    {"failures are cumulative", {.failure_limit = 1, .count = 10}, {F, P, P, P, F}, 5, 0, F, 5,
     NULL},
    {"consecutive 3", {.failure_limit = -1, .consecutive_failures = 3, .count = 10},
     {F, F, P, F, F, F}, 6, 0, F, 6, "3 failed measurements in a row"},
    {"consecutive broken by pass", {.failure_limit = -1, .consecutive_failures = 3, .count = 6},
     {F, F, P, F, F, P}, 6, 0, P, 6, "2 of 6"},
    {"consecutive with failure_limit: first to trip",
     {.failure_limit = 2, .consecutive_failures = 3, .count = 10}, {F, P, F, P, F}, 5, 0, F, 5,
     "failure_limit 2"},
    {"outage pauses: errors never fail", {.error_limit = 4, .count = 6}, {E, E, E, E, P, P}, 6,
     0, P, 6, NULL},
    {"long outage ends as error", {.error_limit = 2, .count = 10}, {P, E, E, P, E, E, E}, 7, 0,
     E, 7, "3 errors in a row > error_limit 2"},
    {"error then fail: fail counted once", {.error_limit = 4, .count = 10}, {E, E, F}, 3, 0, F,
     3, NULL},
    {"inconclusive_limit 1", {.inconclusive_limit = 1, .count = 10}, {I, P, I}, 3, 0, I, 3,
     "2 inconclusive measurements > inconclusive_limit 1"},
    {"count reached: pass", {.count = 3}, {P, P, P}, 3, 0, P, 3, "3 of 3"},
    {"count reached with a warn: warn", {.count = 3}, {P, W, P}, 3, 0, W, 3, NULL},
    {"count reached, no evidence: inconclusive",
     {.inconclusive_limit = -1, .error_limit = -1, .count = 3}, {I, E, I}, 3, 0, I, 3,
     "no passing measurement"},
    {"running: pass so far", {.count = 5}, {P, P}, 2, 0, P, 0, NULL},
    {"finish early: pass", {.count = 0}, {P, P}, 2, 1, P, 0, "2 of 2"},
    {"finish with nothing: inconclusive", {.count = 0}, {P}, 0, 1, I, 0, "no passing"},
    {"steps after the end change nothing", {.count = 10}, {F, P, P, P}, 4, 1, F, 1, NULL},
};

static void test_limits(void **state)
{
    (void)state;
    int bad = 0;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct lcase *c = &cases[i];
        struct wg_limits_state st;
        memset(&st, 0, sizeof(st));
        enum wg_verdict got = WG_PASS;
        int done_at = 0;
        for (int k = 0; k < c->n; k++) {
            int done = 0;
            got = wg_limits_step(&c->l, &st, c->m[k], &done);
            if (done && !done_at) {
                done_at = k + 1;
            }
        }
        if (c->finish) {
            got = wg_limits_finish(&c->l, &st);
        }
        int ok = got == c->want && done_at == c->want_done_at &&
                 (!c->reason || strstr(st.reason, c->reason));
        if (!ok) {
            printf("FAIL %s:\n  want %s done at %d reason \"%s\"\n  got  %s done at %d "
                   "reason \"%s\"\n",
                   c->name, wg_verdict_name(c->want), c->want_done_at,
                   c->reason ? c->reason : "", wg_verdict_name(got), done_at, st.reason);
            bad++;
        }
    }
    assert_int_equal(bad, 0);
}

/* Every pair of two looks (count 2), under the zeroed (Argo-strict) limits and under the
 * defaults of `check --wait` (failure_limit 0, inconclusive_limit = count, error_limit 3).
 * want[a][b] is the verdict after look a then look b; no look at all is inconclusive. */
static const struct {
    const char *name;
    struct wg_limits l;
    enum wg_verdict want[5][5];
} pair_tables[] = {
    {"zeroed",
     {.count = 2},
     {{P, W, I, E, F}, {W, W, I, E, F}, {I, I, I, I, I}, {E, E, E, E, E}, {F, F, F, F, F}}},
    {"check --wait defaults",
     {.failure_limit = 0, .consecutive_failures = -1, .inconclusive_limit = 2, .error_limit = 3,
      .count = 2},
     {{P, W, P, P, F}, {W, W, W, W, F}, {P, W, I, I, F}, {P, W, I, I, F}, {F, F, F, F, F}}},
};

static void test_limits_pairs(void **state)
{
    (void)state;
    int bad = 0;
    for (size_t t = 0; t < sizeof(pair_tables) / sizeof(pair_tables[0]); t++) {
        const struct wg_limits *l = &pair_tables[t].l;
        for (int a = 0; a <= WG_FAIL; a++) {
            for (int b = 0; b <= WG_FAIL; b++) {
                struct wg_limits_state st;
                memset(&st, 0, sizeof(st));
                int done = 0;
                wg_limits_step(l, &st, (enum wg_verdict)a, &done);
                enum wg_verdict got = wg_limits_step(l, &st, (enum wg_verdict)b, &done);
                enum wg_verdict want = pair_tables[t].want[a][b];
                printf("%-22s %-12s then %-12s want %-12s got %s%s\n", pair_tables[t].name,
                       wg_verdict_name((enum wg_verdict)a), wg_verdict_name((enum wg_verdict)b),
                       wg_verdict_name(want), wg_verdict_name(got), done ? "" : " (not done)");
                bad += got != want || !done;
            }
        }
        struct wg_limits_state st;
        memset(&st, 0, sizeof(st));
        enum wg_verdict none = wg_limits_finish(l, &st);
        printf("%-22s no look                  want inconclusive got %s\n", pair_tables[t].name,
               wg_verdict_name(none));
        bad += none != WG_INCONCLUSIVE;
    }
    assert_int_equal(bad, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_limits_pairs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

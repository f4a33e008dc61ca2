/* test_rules_eval.c — wg_rules_eval and wg_rules_combine decision by decision: thresholds and
 * warn levels, the no-data policy, min_samples, NaN/Inf values, groups and the worst group,
 * baselines (percent and absolute, zero, missing, errors), the Mann-Whitney judge (direction,
 * effect size, power guard, ties, split by tag, IQR outliers, sequential alpha) and scoring.
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

/* The case tables leave unused fields to their zero defaults. */
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

#define END 1e300 /* terminates a value list */
#define N_ NAN
#define I_ INFINITY

/* One series: up to 3 labels ("k=v" strings) and values up to END. */
struct sdef {
    const char *labels[3];
    double v[16];
};

static void build(struct wg_seriesset *ss, const struct sdef *d, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        struct wg_label l[3];
        char kv[3][2][32];
        size_t nl = 0;
        for (; nl < 3 && d[i].labels[nl]; nl++) {
            const char *eq = strchr(d[i].labels[nl], '=');
            snprintf(kv[nl][0], sizeof(kv[nl][0]), "%.*s", (int)(eq - d[i].labels[nl]),
                     d[i].labels[nl]);
            snprintf(kv[nl][1], sizeof(kv[nl][1]), "%s", eq + 1);
            l[nl].key = kv[nl][0];
            l[nl].value = kv[nl][1];
        }
        struct wg_series *s = wg_seriesset_get(ss, l, nl);
        assert_non_null(s);
        for (size_t j = 0; j < 16 && d[i].v[j] != END; j++) {
            assert_int_equal(wg_series_push(s, (int64_t)j, d[i].v[j]), WG_OK);
        }
    }
}

/* ---- threshold and baseline cases ------------------------------------------------------- */

struct tcase {
    const char *name;
    struct wg_rule_params p;
    enum wg_baseline_kind bkind;
    struct sdef cur[3];
    size_t ncur; /* 0: no series at all */
    struct sdef base[2];
    size_t nbase;
    const char *error, *baseline_error;
    enum wg_verdict want;
    const char *want_reason; /* substring */
    double want_value;       /* NAN: no value expected */
    size_t want_groups;
};

#define MAX250 .threshold = {.has_max = 1, .max = 250}
#define PCT(x) {.set = 1, .percent = 1, .value = (x)}
#define ABS(x) {.set = 1, .percent = 0, .value = (x)}

static const struct tcase tcases[] = {
    {"pass within max", {MAX250, .reduce = WG_REDUCE_MAX}, 0, {{{0}, {100, 200, END}}}, 1,
     {{{0}}}, 0, NULL, NULL, WG_PASS, "max 200 within max 250", 200, 1},
    {"fail over max", {MAX250, .reduce = WG_REDUCE_P95}, 0,
     {{{0}, {100, 312.5, 200, END}}}, 1, {{{0}}}, 0, NULL, NULL, WG_FAIL,
     "p95 312.5 > max 250", 312.5, 1},
    {"equal to max passes", {MAX250, .reduce = WG_REDUCE_LAST}, 0, {{{0}, {250, END}}}, 1,
     {{{0}}}, 0, NULL, NULL, WG_PASS, "last 250 within max 250", 250, 1},
    {"fail under min", {.threshold = {.has_min = 1, .min = 0.99}, .reduce = WG_REDUCE_MEAN}, 0,
     {{{0}, {0.9, 0.95, END}}}, 1, {{{0}}}, 0, NULL, NULL, WG_FAIL, "mean 0.925 < min 0.99",
     0.925, 1},
    {"warn over warn_max",
     {.threshold = {.has_max = 1, .max = 250, .has_warn_max = 1, .warn_max = 200},
      .reduce = WG_REDUCE_LAST},
     0, {{{0}, {220, END}}}, 1, {{{0}}}, 0, NULL, NULL, WG_WARN, "last 220 > warn_max 200", 220,
     1},
    {"warn under warn_min", {.threshold = {.has_warn_min = 1, .warn_min = 10}}, 0,
     {{{0}, {5, END}}}, 1, {{{0}}}, 0, NULL, NULL, WG_WARN, "last 5 < warn_min 10", 5, 1},
    {"no threshold passes", {.reduce = WG_REDUCE_SUM}, 0, {{{0}, {1, 2, END}}}, 1, {{{0}}}, 0,
     NULL, NULL, WG_PASS, "sum 3 (no threshold)", 3, 1},
    {"single point", {MAX250, .reduce = WG_REDUCE_P99}, 0, {{{0}, {300, END}}}, 1, {{{0}}}, 0,
     NULL, NULL, WG_FAIL, "p99 300 > max 250", 300, 1},
    {"no series: no_data inconclusive", {MAX250}, 0, {{{0}}}, 0, {{{0}}}, 0, NULL, NULL,
     WG_INCONCLUSIVE, "no data", N_, 0},
    {"no series: no_data fail", {MAX250, .no_data = WG_NODATA_FAIL}, 0, {{{0}}}, 0, {{{0}}}, 0,
     NULL, NULL, WG_FAIL, "no data", N_, 0},
    {"no series: no_data pass", {MAX250, .no_data = WG_NODATA_PASS}, 0, {{{0}}}, 0, {{{0}}}, 0,
     NULL, NULL, WG_PASS, "no data", N_, 0},
    {"empty series: no data", {MAX250}, 0, {{{0}, {END}}}, 1, {{{0}}}, 0, NULL, NULL,
     WG_INCONCLUSIVE, "no data", N_, 1},
    {"only NaN: no data, policy fail", {MAX250, .no_data = WG_NODATA_FAIL}, 0,
     {{{0}, {N_, N_, END}}}, 1, {{{0}}}, 0, NULL, NULL, WG_FAIL, "no data", N_, 1},
    {"below min_samples never passes", {MAX250, .min_samples = 10}, 0, {{{0}, {1, 2, 3, END}}},
     1, {{{0}}}, 0, NULL, NULL, WG_INCONCLUSIVE, "3 samples < min_samples 10", N_, 1},
    {"NaN not counted as a sample", {MAX250, .min_samples = 3}, 0, {{{0}, {1, N_, 3, END}}}, 1,
     {{{0}}}, 0, NULL, NULL, WG_INCONCLUSIVE, "2 samples < min_samples 3", N_, 1},
    {"mean of +Inf fails max", {MAX250, .reduce = WG_REDUCE_MEAN}, 0, {{{0}, {1, I_, END}}}, 1,
     {{{0}}}, 0, NULL, NULL, WG_FAIL, "mean +Inf > max 250", I_, 1},
    {"-Inf fails min", {.threshold = {.has_min = 1, .min = 0}}, 0, {{{0}, {-I_, END}}}, 1,
     {{{0}}}, 0, NULL, NULL, WG_FAIL, "last -Inf < min 0", -I_, 1},
    {"reduced NaN is an error", {MAX250, .reduce = WG_REDUCE_MEAN}, 0, {{{0}, {I_, -I_, END}}},
     1, {{{0}}}, 0, NULL, NULL, WG_NOEVAL, "mean of 2 samples is NaN", N_, 1},
    {"source error", {MAX250}, 0, {{{0}, {1, END}}}, 1, {{{0}}}, 0, "connection refused", NULL,
     WG_NOEVAL, "connection refused", N_, 0},
    {"worst group wins", {MAX250, .reduce = WG_REDUCE_MAX}, 0,
     {{{"host=a"}, {100, END}}, {{"host=b"}, {300, END}}, {{"host=c"}, {50, END}}}, 3, {{{0}}},
     0, NULL, NULL, WG_FAIL, "host=b: max 300 > max 250 (1 of 3 groups fail)", 300, 3},
    {"tie: most extreme failing group", {MAX250, .reduce = WG_REDUCE_MAX}, 0,
     {{{"host=a"}, {260, END}}, {{"host=b"}, {900, END}}, {{"host=c"}, {270, END}}}, 3,
     {{{0}}}, 0, NULL, NULL, WG_FAIL, "host=b: max 900 > max 250 (3 of 3 groups fail)", 900, 3},
    {"tie under min: lowest value", {.threshold = {.has_min = 1, .min = 10}}, 0,
     {{{"host=a"}, {5, END}}, {{"host=b"}, {1, END}}}, 2, {{{0}}}, 0, NULL, NULL, WG_FAIL,
     "host=b: last 1 < min 10", 1, 2},
    {"fail beats no-data group", {MAX250}, 0,
     {{{"host=a"}, {N_, END}}, {{"host=b"}, {300, END}}}, 2, {{{0}}}, 0, NULL, NULL, WG_FAIL,
     "host=b", 300, 2},
    {"baseline +30% over max +20%", {.max_increase = PCT(20), .reduce = WG_REDUCE_P95},
     WG_BASELINE_WINDOW, {{{0}, {260, END}}}, 1, {{{0}, {200, END}}}, 1, NULL, NULL, WG_FAIL,
     "p95 260 is +30.0% over baseline 200 (max +20%)", 260, 1},
    {"baseline within +20%", {.max_increase = PCT(20)}, WG_BASELINE_WINDOW,
     {{{0}, {210, END}}}, 1, {{{0}, {200, END}}}, 1, NULL, NULL, WG_PASS,
     "last 210 is +5.0% vs baseline 200 (within max +20%)", 210, 1},
    {"baseline absolute over", {.max_increase = ABS(50)}, WG_BASELINE_WINDOW,
     {{{0}, {260, END}}}, 1, {{{0}, {200, END}}}, 1, NULL, NULL, WG_FAIL,
     "last 260 is +60 over baseline 200 (max +50)", 260, 1},
    {"baseline decrease", {.max_decrease = PCT(20)}, WG_BASELINE_WINDOW, {{{0}, {150, END}}}, 1,
     {{{0}, {200, END}}}, 1, NULL, NULL, WG_FAIL,
     "last 150 is -25.0% under baseline 200 (max -20%)", 150, 1},
    {"negative baseline uses |baseline|", {.max_increase = PCT(20)}, WG_BASELINE_WINDOW,
     {{{0}, {-50, END}}}, 1, {{{0}, {-100, END}}}, 1, NULL, NULL, WG_FAIL,
     "last -50 is +50.0% over baseline -100", -50, 1},
    {"baseline 0, value 0", {.max_increase = PCT(20)}, WG_BASELINE_WINDOW, {{{0}, {0, END}}}, 1,
     {{{0}, {0, END}}}, 1, NULL, NULL, WG_PASS, "is +0.0% vs baseline 0", 0, 1},
    {"baseline 0, value not", {.max_increase = PCT(20)}, WG_BASELINE_WINDOW, {{{0}, {3, END}}},
     1, {{{0}, {0, END}}}, 1, NULL, NULL, WG_INCONCLUSIVE, "percent change is undefined", 3, 1},
    {"baseline 0 absolute", {.max_increase = ABS(2)}, WG_BASELINE_WINDOW, {{{0}, {3, END}}}, 1,
     {{{0}, {0, END}}}, 1, NULL, NULL, WG_FAIL, "last 3 is +3 over baseline 0 (max +2)", 3, 1},
    {"no baseline data", {.max_increase = PCT(20)}, WG_BASELINE_WINDOW, {{{0}, {3, END}}}, 1,
     {{{0}, {N_, END}}}, 1, NULL, NULL, WG_INCONCLUSIVE, "no baseline data", 3, 1},
    {"no baseline series", {.max_increase = PCT(20)}, WG_BASELINE_WINDOW, {{{0}, {3, END}}}, 1,
     {{{0}}}, 0, NULL, NULL, WG_INCONCLUSIVE, "no baseline data", 3, 1},
    {"baseline error", {.max_increase = PCT(20)}, WG_BASELINE_WINDOW, {{{0}, {3, END}}}, 1,
     {{{0}}}, 0, NULL, "timeout", WG_NOEVAL, "baseline: timeout", N_, 0},
    {"baseline +Inf vs +Inf cannot compare", {.max_increase = ABS(1)}, WG_BASELINE_WINDOW,
     {{{0}, {I_, END}}}, 1, {{{0}, {I_, END}}}, 1, NULL, NULL, WG_NOEVAL, "could not compare",
     I_, 1},
    {"labelled baseline matched by labels", {.max_increase = PCT(10), .reduce = WG_REDUCE_MEAN},
     WG_BASELINE_WINDOW, {{{"host=a"}, {100, END}}, {{"host=b"}, {100, END}}}, 2,
     {{{"host=a"}, {100, END}}, {{"host=b"}, {50, END}}}, 2, NULL, NULL, WG_FAIL,
     "host=b: mean 100 is +100.0% over baseline 50", 100, 2},
    {"single unlabelled baseline serves every group", {.max_increase = PCT(10)},
     WG_BASELINE_PREVIOUS, {{{"host=a"}, {100, END}}, {{"host=b"}, {105, END}}}, 2,
     {{{0}, {90, 100, END}}}, 1, NULL, NULL, WG_PASS, "+5.0% vs baseline 100", 105, 2},
    {"threshold fail with baseline pass", {MAX250, .max_increase = PCT(50)}, WG_BASELINE_WINDOW,
     {{{0}, {300, END}}}, 1, {{{0}, {290, END}}}, 1, NULL, NULL, WG_FAIL,
     "last 300 > max 250; last 300 is +3.4% vs baseline 290", 300, 1},
    {"baseline fail with threshold pass", {MAX250, .max_increase = PCT(10)},
     WG_BASELINE_WINDOW, {{{0}, {200, END}}}, 1, {{{0}, {100, END}}}, 1, NULL, NULL, WG_FAIL,
     "last 200 is +100.0% over baseline 100 (max +10%); last 200 within max 250", 200, 1},
    {"baseline not judged: its error is ignored", {MAX250}, WG_BASELINE_WINDOW,
     {{{0}, {100, END}}}, 1, {{{0}}}, 0, NULL, "timeout", WG_PASS, "last 100 within max 250",
     100, 1},
};

static void test_threshold_and_baseline(void **state)
{
    (void)state;
    int bad = 0;
    for (size_t i = 0; i < sizeof(tcases) / sizeof(tcases[0]); i++) {
        const struct tcase *c = &tcases[i];
        struct wg_rule rule = {.name = "r", .judge = WG_JUDGE_THRESHOLD};
        rule.baseline.kind = c->bkind;
        struct wg_seriesset cur = {0}, base = {0};
        build(&cur, c->cur, c->ncur);
        build(&base, c->base, c->nbase);
        struct wg_rule_input in = {.rule = &rule, .p = &c->p, .current = &cur,
                                   .baseline = c->bkind ? &base : NULL, .error = c->error,
                                   .baseline_error = c->baseline_error};
        struct wg_rule_result res;
        assert_int_equal(wg_rules_eval(&in, &res), WG_OK);
        int ok = res.verdict == c->want && strstr(res.reason, c->want_reason) &&
                 res.ngroups == c->want_groups &&
                 (isnan(c->want_value) ? !res.has_value : (res.has_value && res.value == c->want_value));
        if (!ok) {
            printf("FAIL %s:\n  want %s \"%s\" value %g groups %zu\n  got  %s \"%s\" value %s%g "
                   "groups %zu\n",
                   c->name, wg_verdict_name(c->want), c->want_reason, c->want_value,
                   c->want_groups, wg_verdict_name(res.verdict), res.reason,
                   res.has_value ? "" : "(none) ", res.value, res.ngroups);
            bad++;
        }
        /* every group is listed with its labels, verdict and samples */
        for (size_t g = 0; g < res.ngroups && c->cur[0].labels[0]; g++) {
            if (res.groups[g].nlabels != 1 || !res.groups[g].reason[0]) {
                printf("FAIL %s: group %zu has %zu labels, reason \"%s\"\n", c->name, g,
                       res.groups[g].nlabels, res.groups[g].reason);
                bad++;
            }
        }
        wg_rule_result_clear(&res);
        wg_seriesset_free(&cur);
        wg_seriesset_free(&base);
    }
    assert_int_equal(bad, 0);
}

static void test_group_details(void **state)
{
    (void)state;
    struct sdef d[] = {{{"host=a", "dc=x"}, {1, 2, N_, END}}, {{"host=b", "dc=x"}, {9, END}}};
    struct wg_seriesset cur = {0};
    build(&cur, d, 2);
    struct wg_rule rule = {.name = "r"};
    struct wg_rule_params p = {MAX250, .reduce = WG_REDUCE_SUM, .dry_run = 1};
    struct wg_rule_input in = {.rule = &rule, .p = &p, .current = &cur};
    struct wg_rule_result res;
    assert_int_equal(wg_rules_eval(&in, &res), WG_OK);
    assert_int_equal(res.ngroups, 2);
    assert_int_equal(res.dry_run, 1);
    assert_int_equal(res.groups[0].samples, 2);
    assert_true(res.groups[0].has_value && res.groups[0].value == 3);
    assert_string_equal(res.groups[0].labels[0].key, "host");
    assert_string_equal(res.groups[0].labels[0].value, "a");
    assert_string_equal(res.groups[1].labels[1].value, "x");
    assert_int_equal(res.samples, 1); /* the worst (most extreme) group's: host=b, value 9 */
    assert_true(res.value == 9);
    wg_rule_result_clear(&res);
    wg_rule_result_clear(&res); /* idempotent */
    wg_rule_result_clear(NULL);
    wg_seriesset_free(&cur);
    assert_int_equal(wg_rules_eval(NULL, &res), WG_EINVAL);
}

/* ---- Mann-Whitney ------------------------------------------------------------------------ */

struct mcase {
    const char *name;
    enum wg_direction dir;
    double allowed_inc, allowed_dec; /* percent; < 0: unset */
    long min_samples;
    int n_cur, n_base; /* sizes of the generated series */
    double cur_shift, base_shift; /* added to i (0..n-1) */
    double cur_const, base_const; /* non-zero: every value equal to this */
    int outliers, iqr;            /* current gets 5 values of 1e6 */
    int infs;                     /* current gets 3 +Inf and 2 NaN on top */
    int sequential;
    double look_alpha;
    enum wg_verdict want;
    const char *want_reason;
};

static const struct mcase mcases[] = {
    {"clear increase fails", WG_DIR_INCREASE, 0, -1, 50, 60, 60, 30, 0, 0, 0, 0, 0, 0, 0, 0,
     WG_FAIL, "significant increase: mean ratio"},
    {"increase, direction decrease passes", WG_DIR_DECREASE, -1, 0, 50, 60, 60, 30, 0, 0, 0, 0,
     0, 0, 0, 0, WG_PASS, "no significant decrease"},
    {"increase, direction either fails", WG_DIR_EITHER, 0, 0, 50, 60, 60, 30, 0, 0, 0, 0, 0, 0,
     0, 0, WG_FAIL, "significant increase"},
    {"decrease, direction either fails", WG_DIR_EITHER, 0, 0, 50, 60, 60, 0, 30, 0, 0, 0, 0, 0,
     0, 0, WG_FAIL, "significant decrease"},
    {"decrease, direction increase passes", WG_DIR_INCREASE, 0, -1, 50, 60, 60, 0, 30, 0, 0, 0,
     0, 0, 0, 0, WG_PASS, "no significant increase"},
    {"within allowed_increase passes", WG_DIR_INCREASE, 200, -1, 50, 60, 60, 30, 0, 0, 0, 0, 0,
     0, 0, 0, WG_PASS, "but mean ratio"},
    {"no shift passes", WG_DIR_INCREASE, 0, -1, 50, 60, 60, 0, 0, 0, 0, 0, 0, 0, 0, 0, WG_PASS,
     "no significant increase: p="},
    {"current below min_samples", WG_DIR_INCREASE, 0, -1, 50, 40, 60, 30, 0, 0, 0, 0, 0, 0, 0,
     0, WG_INCONCLUSIVE, "current 40 samples < min_samples 50"},
    {"baseline below min_samples", WG_DIR_INCREASE, 0, -1, 50, 60, 49, 30, 0, 0, 0, 0, 0, 0, 0,
     0, WG_INCONCLUSIVE, "baseline 49 samples < min_samples 50"},
    {"all equal: no shift", WG_DIR_EITHER, 0, 0, 50, 60, 60, 0, 0, 7, 7, 0, 0, 0, 0, 0, WG_PASS,
     "p=1"},
    {"both constant, apart: fails", WG_DIR_INCREASE, 0, -1, 50, 60, 60, 0, 0, 9, 7, 0, 0, 0, 0,
     0, WG_FAIL, "significant increase"},
    {"outliers drive the mean ratio", WG_DIR_INCREASE, 50, -1, 50, 60, 60, 12, 0, 0, 0, 1, 0,
     0, 0, 0, WG_FAIL, "significant increase: mean ratio"},
    {"IQR removal drops them", WG_DIR_INCREASE, 50, -1, 50, 60, 60, 12, 0, 0, 0, 1, 1, 0, 0, 0,
     WG_PASS, "but mean ratio 1.3"},
    {"Inf and NaN dropped", WG_DIR_INCREASE, 0, -1, 50, 60, 60, 0, 0, 0, 0, 0, 0, 1, 0, 0,
     WG_PASS, "no significant increase"},
    {"sequential look with no alpha never fails", WG_DIR_INCREASE, 0, -1, 50, 60, 60, 30, 0, 0,
     0, 0, 0, 0, 1, 0, WG_PASS, "alpha 0"},
    {"sequential look alpha 0.3 fails a small shift", WG_DIR_INCREASE, 0, -1, 50, 60, 60, 3, 0,
     0, 0, 0, 0, 0, 1, 0.3, WG_FAIL, "< alpha 0.3"},
    {"default alpha passes the same small shift", WG_DIR_INCREASE, 0, -1, 50, 60, 60, 3, 0, 0,
     0, 0, 0, 0, 0, 0, WG_PASS, "no significant increase"},
};

static void fill(struct wg_series *s, int n, double shift, double cval)
{
    for (int i = 0; i < n; i++) {
        /* interleaved order so arrival order plays no role */
        double v = cval != 0 ? cval : (double)((i * 37) % n) + shift + 1;
        assert_int_equal(wg_series_push(s, i, v), WG_OK);
    }
}

static void test_mann_whitney_judge(void **state)
{
    (void)state;
    int bad = 0;
    for (size_t i = 0; i < sizeof(mcases) / sizeof(mcases[0]); i++) {
        const struct mcase *c = &mcases[i];
        struct wg_rule rule = {.name = "mw", .judge = WG_JUDGE_MANN_WHITNEY};
        rule.baseline.kind = WG_BASELINE_WINDOW;
        rule.outliers_iqr = c->iqr;
        struct wg_rule_params p = {.min_samples = c->min_samples, .confidence = 0.98,
                                   .direction = c->dir};
        if (c->allowed_inc >= 0) {
            p.allowed_increase = (struct wg_limit)PCT(c->allowed_inc);
        }
        if (c->allowed_dec >= 0) {
            p.allowed_decrease = (struct wg_limit)PCT(c->allowed_dec);
        }
        struct wg_seriesset cur = {0}, base = {0};
        struct wg_series *sc = wg_seriesset_get(&cur, NULL, 0);
        struct wg_series *sb = wg_seriesset_get(&base, NULL, 0);
        assert_non_null(sc);
        assert_non_null(sb);
        fill(sc, c->n_cur, c->cur_shift, c->cur_const);
        fill(sb, c->n_base, c->base_shift, c->base_const);
        for (int k = 0; c->outliers && k < 5; k++) {
            assert_int_equal(wg_series_push(sc, 100 + k, 1e6), WG_OK);
        }
        for (int k = 0; c->infs && k < 5; k++) {
            assert_int_equal(wg_series_push(sc, 100 + k, k < 3 ? I_ : N_), WG_OK);
        }
        struct wg_rule_input in = {.rule = &rule, .p = &p, .current = &cur, .baseline = &base,
                                   .sequential = c->sequential, .look_alpha = c->look_alpha};
        struct wg_rule_result res;
        assert_int_equal(wg_rules_eval(&in, &res), WG_OK);
        if (res.verdict != c->want || !strstr(res.reason, c->want_reason)) {
            printf("FAIL %s:\n  want %s \"%s\"\n  got  %s \"%s\" (p+ %g p- %g ratio %g)\n",
                   c->name, wg_verdict_name(c->want), c->want_reason,
                   wg_verdict_name(res.verdict), res.reason, res.mw.p_increase,
                   res.mw.p_decrease, res.mw.ratio);
            bad++;
        }
        if (c->infs && res.mw.n_current != (size_t)c->n_cur) {
            printf("FAIL %s: want n_current %d, got %zu\n", c->name, c->n_cur,
                   res.mw.n_current);
            bad++;
        }
        if (c->want != WG_INCONCLUSIVE && !res.has_mw) {
            printf("FAIL %s: no Mann-Whitney details\n", c->name);
            bad++;
        }
        wg_rule_result_clear(&res);
        wg_seriesset_free(&cur);
        wg_seriesset_free(&base);
    }
    assert_int_equal(bad, 0);
}

/* Canary and baseline in one query, told apart by a tag; groups keyed by the other labels. */
static void test_split(void **state)
{
    (void)state;
    struct wg_rule rule = {.name = "split", .judge = WG_JUDGE_MANN_WHITNEY};
    rule.baseline = (struct wg_baseline){.kind = WG_BASELINE_SPLIT, .split_tag = "version",
                                         .split_baseline = "stable", .split_canary = "canary"};
    struct wg_rule_params p = {.min_samples = 50, .confidence = 0.98,
                               .direction = WG_DIR_INCREASE};
    struct wg_seriesset cur = {0};
    struct wg_label l[2] = {{"region", "eu"}, {"version", "stable"}};
    fill(wg_seriesset_get(&cur, l, 2), 60, 0, 0);
    l[1].value = "canary";
    fill(wg_seriesset_get(&cur, l, 2), 60, 0, 0);
    l[0].value = "us";
    fill(wg_seriesset_get(&cur, l, 2), 60, 40, 0); /* us canary regressed */
    l[1].value = "stable";
    fill(wg_seriesset_get(&cur, l, 2), 60, 0, 0);
    l[1].value = "other"; /* neither canary nor baseline: ignored */
    fill(wg_seriesset_get(&cur, l, 2), 60, 900, 0);
    l[0].value = "ap"; /* canary without a baseline */
    l[1].value = "canary";
    fill(wg_seriesset_get(&cur, l, 2), 60, 0, 0);

    struct wg_rule_input in = {.rule = &rule, .p = &p, .current = &cur};
    struct wg_rule_result res;
    assert_int_equal(wg_rules_eval(&in, &res), WG_OK);
    printf("split: %s \"%s\"\n", wg_verdict_name(res.verdict), res.reason);
    assert_int_equal(res.verdict, WG_FAIL);
    assert_int_equal(res.ngroups, 3);
    assert_non_null(strstr(res.reason, "region=us: significant increase"));
    for (size_t g = 0; g < res.ngroups; g++) {
        assert_int_equal(res.groups[g].nlabels, 1); /* the tag is not part of the group */
        assert_string_equal(res.groups[g].labels[0].key, "region");
        const char *r = res.groups[g].labels[0].value;
        enum wg_verdict want = strcmp(r, "us") == 0   ? WG_FAIL
                               : strcmp(r, "eu") == 0 ? WG_PASS
                                                      : WG_INCONCLUSIVE;
        if (res.groups[g].verdict != want) {
            printf("FAIL split group %s: want %s got %s (%s)\n", r, wg_verdict_name(want),
                   wg_verdict_name(res.groups[g].verdict), res.groups[g].reason);
        }
        assert_int_equal(res.groups[g].verdict, want);
    }
    wg_rule_result_clear(&res);

    /* no canary series at all: the no-data policy */
    struct wg_seriesset only_stable = {0};
    l[1].value = "stable";
    fill(wg_seriesset_get(&only_stable, l, 2), 60, 0, 0);
    in.current = &only_stable;
    p.no_data = WG_NODATA_FAIL;
    assert_int_equal(wg_rules_eval(&in, &res), WG_OK);
    assert_int_equal(res.verdict, WG_FAIL);
    assert_non_null(strstr(res.reason, "no data"));
    wg_rule_result_clear(&res);
    wg_seriesset_free(&only_stable);
    wg_seriesset_free(&cur);
}

static void test_mann_whitney_rule_level(void **state)
{
    (void)state;
    struct wg_rule rule = {.name = "mw", .judge = WG_JUDGE_MANN_WHITNEY};
    struct wg_rule_params p = {.min_samples = 50};
    struct wg_seriesset cur = {0}, base = {0};
    fill(wg_seriesset_get(&cur, NULL, 0), 60, 0, 0);
    struct wg_rule_input in = {.rule = &rule, .p = &p, .current = &cur, .baseline = &base};
    struct wg_rule_result res;
    /* no baseline configured */
    assert_int_equal(wg_rules_eval(&in, &res), WG_OK);
    assert_int_equal(res.verdict, WG_NOEVAL);
    wg_rule_result_clear(&res);
    /* baseline failed to load */
    rule.baseline.kind = WG_BASELINE_WINDOW;
    in.baseline_error = "HTTP 500";
    assert_int_equal(wg_rules_eval(&in, &res), WG_OK);
    assert_int_equal(res.verdict, WG_NOEVAL);
    assert_string_equal(res.reason, "baseline: HTTP 500");
    wg_rule_result_clear(&res);
    /* baseline empty */
    in.baseline_error = NULL;
    assert_int_equal(wg_rules_eval(&in, &res), WG_OK);
    assert_int_equal(res.verdict, WG_INCONCLUSIVE);
    assert_string_equal(res.reason, "no baseline data");
    wg_rule_result_clear(&res);
    wg_seriesset_free(&cur);
    wg_seriesset_free(&base);
}

/* ---- combine ----------------------------------------------------------------------------- */

struct ccase {
    const char *name;
    int scoring;
    enum wg_verdict v[4];
    double w[4];
    int key[4], dry[4];
    size_t n;
    enum wg_verdict want;
    double want_score; /* -1: none */
};

static const struct ccase ccases[] = {
    {"worst of pass, warn", 0, {WG_PASS, WG_WARN}, {1, 1}, {0}, {0}, 2, WG_WARN, -1},
    {"dry-run fail ignored", 0, {WG_PASS, WG_FAIL}, {1, 1}, {0}, {0, 1}, 2, WG_PASS, -1},
    {"error beats inconclusive", 0, {WG_INCONCLUSIVE, WG_NOEVAL}, {1, 1}, {0}, {0}, 2, WG_NOEVAL,
     -1},
    {"fail beats error", 0, {WG_NOEVAL, WG_FAIL}, {1, 1}, {0}, {0}, 2, WG_FAIL, -1},
    {"all dry-run: inconclusive", 0, {WG_PASS}, {1}, {0}, {1}, 1, WG_INCONCLUSIVE, -1},
    {"no rules: inconclusive", 0, {WG_PASS}, {1}, {0}, {0}, 0, WG_INCONCLUSIVE, -1},
    {"score 100", 1, {WG_PASS, WG_PASS}, {1, 1}, {0}, {0}, 2, WG_PASS, 100},
    {"score 75 -> warn", 1, {WG_PASS, WG_PASS, WG_WARN}, {1, 1, 2}, {0}, {0}, 3, WG_WARN, 75},
    {"score 37.5 -> fail", 1, {WG_PASS, WG_WARN, WG_FAIL}, {1, 1, 2}, {0}, {0}, 3, WG_FAIL,
     37.5},
    {"score 90.9 passes despite a fail", 1, {WG_PASS, WG_FAIL}, {10, 1}, {0}, {0}, 2, WG_PASS,
     1000.0 / 11},
    {"failing key rule fails", 1, {WG_PASS, WG_FAIL}, {10, 1}, {0, 1}, {0}, 2, WG_FAIL,
     1000.0 / 11},
    /* was PASS: a key rule that could not be evaluated never passes (fail closed) */
    {"key rule in error: could not evaluate", 1, {WG_PASS, WG_NOEVAL}, {10, 1}, {0, 1}, {0}, 2,
     WG_NOEVAL, 1000.0 / 11},
    /* an error scores 0 but is not evidence: error, neither pass nor fail */
    {"error scores 0, feature errors", 1, {WG_PASS, WG_NOEVAL}, {1, 1}, {0}, {0}, 2, WG_NOEVAL, 50},
    {"non-key error beside a heavier pass: error", 1, {WG_PASS, WG_NOEVAL}, {10, 1}, {0}, {0}, 2,
     WG_NOEVAL, 1000.0 / 11},
    {"fail even if the errors passed: fail", 1, {WG_FAIL, WG_NOEVAL, WG_PASS}, {8, 1, 1}, {0}, {0},
     3, WG_FAIL, 10},
    {"key rule inconclusive: at best inconclusive", 1, {WG_PASS, WG_INCONCLUSIVE}, {10, 1},
     {0, 1}, {0}, 2, WG_INCONCLUSIVE, 1000.0 / 11},
    {"key inconclusive, score fails: fail", 1, {WG_FAIL, WG_INCONCLUSIVE}, {10, 1}, {0, 1}, {0},
     2, WG_FAIL, 0},
    {"only inconclusive rules: inconclusive, not fail", 1, {WG_INCONCLUSIVE, WG_INCONCLUSIVE},
     {1, 1}, {0}, {0}, 2, WG_INCONCLUSIVE, 0},
    {"every rule errored", 1, {WG_NOEVAL, WG_NOEVAL}, {1, 1}, {0}, {0}, 2, WG_NOEVAL, 0},
    {"dry-run excluded from score", 1, {WG_PASS, WG_FAIL}, {1, 5}, {0}, {0, 1}, 2, WG_PASS, 100},
    {"inconclusive scores 0", 1, {WG_PASS, WG_INCONCLUSIVE}, {3, 1}, {0}, {0}, 2, WG_WARN, 75},
};

static void test_combine(void **state)
{
    (void)state;
    int bad = 0;
    for (size_t i = 0; i < sizeof(ccases) / sizeof(ccases[0]); i++) {
        const struct ccase *c = &ccases[i];
        struct wg_feature f = {.name = "f"};
        f.score = (struct wg_score){.enabled = c->scoring, .pass_pct = 90, .warn_pct = 75};
        struct wg_rule_result rs[4];
        struct wg_rule_params pv[4];
        const struct wg_rule_params *ps[4];
        memset(rs, 0, sizeof(rs));
        memset(pv, 0, sizeof(pv));
        for (size_t k = 0; k < 4; k++) {
            rs[k].verdict = c->v[k];
            rs[k].dry_run = c->dry[k];
            pv[k].weight = c->w[k];
            pv[k].key = c->key[k];
            pv[k].dry_run = c->dry[k];
            ps[k] = &pv[k];
        }
        double score = -2;
        enum wg_verdict got = wg_rules_combine(&f, rs, ps, c->n, &score);
        if (got != c->want || fabs(score - c->want_score) > 1e-9) {
            printf("FAIL %s: want %s score %g, got %s score %g\n", c->name,
                   wg_verdict_name(c->want), c->want_score, wg_verdict_name(got), score);
            bad++;
        }
    }
    assert_int_equal(bad, 0);
}

/* ---- every pair of rule verdicts, for each way a feature combines its rules ---------------- */

#define P_ WG_PASS
#define W_ WG_WARN
#define IN WG_INCONCLUSIVE
#define E_ WG_NOEVAL
#define F_ WG_FAIL

/* want[a][b] for two rules of weight 1 with verdicts a and b (pass 90, warn 75). */
static const struct {
    const char *name;
    int scoring, key_b; /* key_b: the second rule is a key rule */
    enum wg_verdict want[5][5];
} pair_tables[] = {
    {"worst",
     0,
     0,
     {{P_, W_, IN, E_, F_},
      {W_, W_, IN, E_, F_},
      {IN, IN, IN, E_, F_},
      {E_, E_, E_, E_, F_},
      {F_, F_, F_, F_, F_}}},
    /* pass+warn 75: warn; pass+inconclusive 50 could be 100: inconclusive; an error never
     * passes and fails only when the score fails even if it had passed */
    {"score",
     1,
     0,
     {{P_, W_, IN, E_, F_},
      {W_, F_, IN, E_, F_},
      {IN, IN, IN, E_, F_},
      {E_, E_, E_, E_, F_},
      {F_, F_, F_, F_, F_}}},
    {"score, second rule key",
     1,
     1,
     {{P_, W_, IN, E_, F_},
      {W_, F_, IN, E_, F_},
      {IN, IN, IN, E_, F_},
      {E_, E_, E_, E_, F_},
      {F_, F_, F_, F_, F_}}},
};

static void test_combine_pairs(void **state)
{
    (void)state;
    int bad = 0;
    for (size_t t = 0; t < sizeof(pair_tables) / sizeof(pair_tables[0]); t++) {
        struct wg_feature f = {.name = "f"};
        f.score = (struct wg_score){.enabled = pair_tables[t].scoring, .pass_pct = 90,
                                    .warn_pct = 75};
        for (int a = 0; a <= WG_FAIL; a++) {
            for (int b = 0; b <= WG_FAIL; b++) {
                struct wg_rule_result rs[2];
                struct wg_rule_params pv[2];
                const struct wg_rule_params *ps[2] = {&pv[0], &pv[1]};
                memset(rs, 0, sizeof(rs));
                memset(pv, 0, sizeof(pv));
                rs[0].verdict = (enum wg_verdict)a;
                rs[1].verdict = (enum wg_verdict)b;
                pv[0].weight = pv[1].weight = 1;
                pv[1].key = pair_tables[t].key_b;
                double score;
                enum wg_verdict got = wg_rules_combine(&f, rs, ps, 2, &score);
                enum wg_verdict want = pair_tables[t].want[a][b];
                printf("%-24s %-12s + %-12s want %-12s got %s\n", pair_tables[t].name,
                       wg_verdict_name((enum wg_verdict)a), wg_verdict_name((enum wg_verdict)b),
                       wg_verdict_name(want), wg_verdict_name(got));
                bad += got != want;
            }
        }
        /* nothing judged: no rules, or every rule dry-run */
        struct wg_rule_result rs[2];
        struct wg_rule_params pv[2];
        const struct wg_rule_params *ps[2] = {&pv[0], &pv[1]};
        memset(rs, 0, sizeof(rs));
        memset(pv, 0, sizeof(pv));
        pv[0].weight = pv[1].weight = 1;
        pv[0].dry_run = pv[1].dry_run = 1;
        double score;
        enum wg_verdict none = wg_rules_combine(&f, rs, ps, 0, &score);
        enum wg_verdict dry = wg_rules_combine(&f, rs, ps, 2, &score);
        printf("%-24s no rules / all dry-run  want inconclusive got %s / %s\n",
               pair_tables[t].name, wg_verdict_name(none), wg_verdict_name(dry));
        bad += none != WG_INCONCLUSIVE;
        bad += dry != WG_INCONCLUSIVE;
    }
    assert_int_equal(bad, 0);
}

/* A rule over its groups: every pair of group verdicts, made by real series (threshold
 * warn_max 10, max 20, mean, min_samples 2): pass 1,1; warn 15,15; inconclusive one sample;
 * error +Inf,-Inf (mean NaN); fail 30,30. No series at all is the no-data policy. */
static void test_groups_pairs(void **state)
{
    (void)state;
    static const double vals[5][3] = {
        {1, 1, END}, {15, 15, END}, {1, END, END}, {I_, -I_, END}, {30, 30, END}};
    static const enum wg_verdict want[5][5] = {{P_, W_, IN, E_, F_},
                                               {W_, W_, IN, E_, F_},
                                               {IN, IN, IN, E_, F_},
                                               {E_, E_, E_, E_, F_},
                                               {F_, F_, F_, F_, F_}};
    struct wg_rule rule = {.name = "r"};
    struct wg_rule_params p = {.reduce = WG_REDUCE_MEAN, .min_samples = 2};
    p.threshold.has_max = 1;
    p.threshold.max = 20;
    p.threshold.has_warn_max = 1;
    p.threshold.warn_max = 10;
    int bad = 0;
    for (int a = 0; a <= WG_FAIL; a++) {
        for (int b = 0; b <= WG_FAIL; b++) {
            struct sdef d[2] = {{{"host=a"}, {0}}, {{"host=b"}, {0}}};
            memcpy(d[0].v, vals[a], sizeof(vals[a]));
            memcpy(d[1].v, vals[b], sizeof(vals[b]));
            struct wg_seriesset cur = {0};
            build(&cur, d, 2);
            struct wg_rule_input in = {.rule = &rule, .p = &p, .current = &cur};
            struct wg_rule_result res;
            assert_int_equal(wg_rules_eval(&in, &res), WG_OK);
            printf("groups %-12s + %-12s want %-12s got %s (%s)\n",
                   wg_verdict_name((enum wg_verdict)a), wg_verdict_name((enum wg_verdict)b),
                   wg_verdict_name(want[a][b]), wg_verdict_name(res.verdict), res.reason);
            bad += res.verdict != want[a][b];
            wg_rule_result_clear(&res);
            wg_seriesset_free(&cur);
        }
    }
    struct wg_seriesset none = {0};
    struct wg_rule_input in = {.rule = &rule, .p = &p, .current = &none};
    struct wg_rule_result res;
    assert_int_equal(wg_rules_eval(&in, &res), WG_OK);
    printf("groups: no series  want inconclusive got %s\n", wg_verdict_name(res.verdict));
    bad += res.verdict != WG_INCONCLUSIVE;
    wg_rule_result_clear(&res);
    assert_int_equal(bad, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_combine_pairs),
        cmocka_unit_test(test_groups_pairs),
        cmocka_unit_test(test_threshold_and_baseline),
        cmocka_unit_test(test_group_details),
        cmocka_unit_test(test_mann_whitney_judge),
        cmocka_unit_test(test_split),
        cmocka_unit_test(test_mann_whitney_rule_level),
        cmocka_unit_test(test_combine),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

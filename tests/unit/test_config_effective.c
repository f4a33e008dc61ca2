/* test_config_effective.c — which parameters apply to a rule in a wave: built-in defaults <
 * wave defaults < the rule's own < the rule's per-wave override, field by field, with the
 * mann-whitney min_samples default; plus wg_reduce_name and wg_placeholders.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"

#define M(x) ((int64_t)(x)*60 * WG_NS_PER_SEC)

static const char yaml[] =
    "sources:\n"
    "  db: {url: http://h, database: d}\n"
    "waves:\n"
    "  - name: staging\n"
    "    source: db\n"
    "    defaults:\n"
    "      min_samples: 3\n"
    "      window: 5m\n"
    "      no_data: pass\n"
    "      severity: warning\n"
    "      threshold: {max: 900}\n"
    "  - name: production\n"
    "    source: db\n"
    "  - name: canary\n"
    "    source: db\n"
    "    defaults: {min_samples: 20, confidence: 0.95}\n"
    "features:\n"
    "  f:\n"
    "    rules:\n"
    "      - name: plain\n"
    "        query: SELECT 1\n"
    "      - name: tuned\n"
    "        query: SELECT 1\n"
    "        window: 15m\n"
    "        severity: page\n"
    "        threshold: {max: 250, warn_max: 200}\n"
    "        waves:\n"
    "          staging: {threshold: {max: 400}, delay: 2m, dry_run: true}\n"
    "          production: {min_samples: 10}\n"
    "      - name: shift\n"
    "        query: SELECT 1\n"
    "        judge: mann-whitney\n"
    "        baseline: {window: 30m}\n"
    "      - name: shift-tuned\n"
    "        query: SELECT 1\n"
    "        judge: mann-whitney\n"
    "        baseline: {window: 30m}\n"
    "        min_samples: 80\n"
    "        waves:\n"
    "          canary: {min_samples: 30, weight: 3, key: true, reduce: p99, direction: either}\n";

struct ecase {
    const char *rule, *wave;
    long min_samples;
    int64_t window_ns, delay_ns;
    enum wg_no_data no_data;
    const char *severity;
    int has_max;
    double max;
    int has_warn_max;
    double confidence;
    int dry_run;
    double weight;
    int key;
    enum wg_reduce reduce;
    enum wg_direction direction;
};

static const struct ecase cases[] = {
    /* built-in defaults only */
    {"plain", "production", 1, M(10), 0, WG_NODATA_INCONCLUSIVE, "critical", 0, 0, 0, 0.98, 0, 1, 0,
     WG_REDUCE_LAST, WG_DIR_INCREASE},
    /* wave defaults over built-ins */
    {"plain", "staging", 3, M(5), 0, WG_NODATA_PASS, "warning", 1, 900, 0, 0.98, 0, 1, 0,
     WG_REDUCE_LAST, WG_DIR_INCREASE},
    /* the rule's own over wave defaults; the rule's threshold replaces the wave's entirely;
     * the override's threshold replaces the rule's */
    {"tuned", "production", 10, M(15), 0, WG_NODATA_INCONCLUSIVE, "page", 1, 250, 1, 0.98, 0, 1, 0,
     WG_REDUCE_LAST, WG_DIR_INCREASE},
    {"tuned", "staging", 3, M(15), M(2), WG_NODATA_PASS, "page", 1, 400, 0, 0.98, 1, 1, 0,
     WG_REDUCE_LAST, WG_DIR_INCREASE},
    {"tuned", "canary", 20, M(15), 0, WG_NODATA_INCONCLUSIVE, "page", 1, 250, 1, 0.95, 0, 1, 0,
     WG_REDUCE_LAST, WG_DIR_INCREASE},
    /* mann-whitney: 50 by default, but an explicit wave default still applies */
    {"shift", "production", 50, M(10), 0, WG_NODATA_INCONCLUSIVE, "critical", 0, 0, 0, 0.98, 0, 1,
     0, WG_REDUCE_LAST, WG_DIR_INCREASE},
    {"shift", "staging", 3, M(5), 0, WG_NODATA_PASS, "warning", 1, 900, 0, 0.98, 0, 1, 0,
     WG_REDUCE_LAST, WG_DIR_INCREASE},
    {"shift-tuned", "production", 80, M(10), 0, WG_NODATA_INCONCLUSIVE, "critical", 0, 0, 0, 0.98,
     0, 1, 0, WG_REDUCE_LAST, WG_DIR_INCREASE},
    {"shift-tuned", "staging", 80, M(5), 0, WG_NODATA_PASS, "warning", 1, 900, 0, 0.98, 0, 1, 0,
     WG_REDUCE_LAST, WG_DIR_INCREASE},
    {"shift-tuned", "canary", 30, M(10), 0, WG_NODATA_INCONCLUSIVE, "critical", 0, 0, 0, 0.95, 0, 3,
     1, WG_REDUCE_P99, WG_DIR_EITHER},
};

static const struct wg_rule *find_rule(const struct wg_feature *f, const char *name)
{
    for (size_t i = 0; i < f->nrules; i++) {
        if (strcmp(f->rules[i].name, name) == 0) {
            return &f->rules[i];
        }
    }
    return NULL;
}

static void test_precedence(void **state)
{
    (void)state;
    struct wg_diags d = {0};
    struct wg_config *cfg = NULL;
    enum wg_err rc = wg_config_load_mem("e.yaml", yaml, strlen(yaml), &cfg, &d);
    if (rc != WG_OK) {
        wg_diags_print(&d, stderr);
    }
    assert_int_equal(rc, WG_OK);
    const struct wg_feature *f = wg_config_feature(cfg, "f");
    assert_non_null(f);
    int failed = 0;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct ecase *w = &cases[i];
        const struct wg_rule *r = find_rule(f, w->rule);
        const struct wg_wave *wave = wg_config_wave(cfg, w->wave);
        assert_non_null(r);
        assert_non_null(wave);
        struct wg_rule_params g;
        wg_config_effective(r, wave, &g);
        int bad = g.min_samples != w->min_samples || g.window_ns != w->window_ns ||
                  g.delay_ns != w->delay_ns || g.no_data != w->no_data ||
                  strcmp(g.severity, w->severity) != 0 || g.threshold.has_max != w->has_max ||
                  (w->has_max && g.threshold.max != w->max) ||
                  g.threshold.has_warn_max != w->has_warn_max || g.confidence != w->confidence ||
                  g.dry_run != w->dry_run || g.weight != w->weight || g.key != w->key ||
                  g.reduce != w->reduce || g.direction != w->direction;
        if (bad) {
            print_error("case %zu (%s in %s):\n"
                        "  want min_samples=%ld window=%lld delay=%lld no_data=%d severity=%s "
                        "max=%d/%g warn_max=%d confidence=%g dry_run=%d weight=%g key=%d "
                        "reduce=%d direction=%d\n"
                        "  got  min_samples=%ld window=%lld delay=%lld no_data=%d severity=%s "
                        "max=%d/%g warn_max=%d confidence=%g dry_run=%d weight=%g key=%d "
                        "reduce=%d direction=%d\n",
                        i, w->rule, w->wave, w->min_samples, (long long)w->window_ns,
                        (long long)w->delay_ns, w->no_data, w->severity, w->has_max, w->max,
                        w->has_warn_max, w->confidence, w->dry_run, w->weight, w->key, w->reduce,
                        w->direction, g.min_samples, (long long)g.window_ns, (long long)g.delay_ns,
                        g.no_data, g.severity, g.threshold.has_max, g.threshold.max,
                        g.threshold.has_warn_max, g.confidence, g.dry_run, g.weight, g.key,
                        g.reduce, g.direction);
            failed++;
        }
    }
    assert_int_equal(failed, 0);

    /* severity is borrowed from the config, not copied */
    struct wg_rule_params g;
    const struct wg_rule *tuned = find_rule(f, "tuned");
    wg_config_effective(tuned, wg_config_wave(cfg, "production"), &g);
    assert_ptr_equal(g.severity, tuned->p.severity);
    assert_true(g.set & WG_P_SEVERITY);
    assert_true(g.set & WG_P_MIN_SAMPLES);
    assert_false(g.set & WG_P_DRY_RUN);
    /* no wave: the rule's own over built-ins */
    wg_config_effective(tuned, NULL, &g);
    assert_int_equal(g.min_samples, 1);
    assert_true(g.window_ns == M(15));
    wg_config_free(cfg);
    wg_diags_free(&d);
}

static void test_names(void **state)
{
    (void)state;
    static const struct {
        enum wg_reduce r;
        const char *name;
    } reduces[] = {
        {WG_REDUCE_LAST, "last"},   {WG_REDUCE_MEAN, "mean"},     {WG_REDUCE_MIN, "min"},
        {WG_REDUCE_MAX, "max"},     {WG_REDUCE_SUM, "sum"},       {WG_REDUCE_COUNT, "count"},
        {WG_REDUCE_FIRST, "first"}, {WG_REDUCE_MEDIAN, "median"}, {WG_REDUCE_P90, "p90"},
        {WG_REDUCE_P95, "p95"},     {WG_REDUCE_P99, "p99"},       {(enum wg_reduce)99, "unknown"},
    };
    for (size_t i = 0; i < sizeof(reduces) / sizeof(reduces[0]); i++) {
        if (strcmp(wg_reduce_name(reduces[i].r), reduces[i].name) != 0) {
            print_error("reduce %d: want %s, got %s\n", reduces[i].r, reduces[i].name,
                        wg_reduce_name(reduces[i].r));
            fail();
        }
    }
    static const char *const want[] = {"env", "wave", "feature", "flag", "start", "end", "window", "target"};
    size_t n = 0;
    while (wg_placeholders[n]) {
        n++;
    }
    assert_int_equal(n, sizeof(want) / sizeof(want[0]));
    for (size_t i = 0; i < n; i++) {
        assert_string_equal(wg_placeholders[i], want[i]);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_precedence),
        cmocka_unit_test(test_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

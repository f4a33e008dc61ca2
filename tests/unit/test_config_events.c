/* test_config_events.c — the `events:` section and a feature's `on_fail:` / `flip:` keys
 * (config_events.c): defaults, decoded values, and each error as file:line:col: key: message
 * (table, want/got printed).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"

static const char BASE[] = "sources:\n"
                           "  s: {kind: influxql, url: http://127.0.0.1:1, database: d}\n"
                           "waves:\n"
                           "  - {name: prod, env: production, source: s}\n"
                           "features:\n"
                           "  f:\n"
                           "    flag: f_v2\n"
                           "%s"
                           "    rules:\n"
                           "      - name: r\n"
                           "        query: 'SELECT 1 FROM m WHERE time >= {{ start }}'\n"
                           "        threshold: {max: 1}\n"
                           "%s";

static struct wg_config *load(const char *feat, const char *tail, char *diag, size_t n)
{
    char text[4096];
    snprintf(text, sizeof(text), BASE, feat, tail);
    struct wg_diags d = {0};
    struct wg_config *cfg = NULL;
    enum wg_err rc = wg_config_load_mem("t.yaml", text, strlen(text), &cfg, &d);
    diag[0] = '\0';
    FILE *f = fmemopen(diag, n, "w");
    wg_diags_print(&d, f);
    fclose(f);
    wg_diags_free(&d);
    if (rc != WG_OK) {
        wg_config_free(cfg);
        return NULL;
    }
    return cfg;
}

static void test_decoded(void **state)
{
    (void)state;
    char diag[2048];
    struct wg_config *cfg =
        load("    flip: {interval: 5s, count: 3, failure_limit: 1}\n"
             "    on_fail:\n"
             "      - {action: unleash, url: http://u:4242, token_env: T, project: p}\n"
             "      - {action: webhook, url: 'http://h/{{ flag }}', body: '{}', dry_run: true,\n"
             "         rate_limit: {per: 10m, max: 2}}\n",
             "events:\n  write_to: s\n  flush_interval: 1s\n"
             "  unleash: {url: http://u:4242, token_env: T, poll_interval: 2s}\n"
             "  signing: {launchdarkly: LD, tolerance: 90s}\n",
             diag, sizeof(diag));
    if (!cfg) {
        print_error("%s", diag);
    }
    assert_non_null(cfg);
    const struct wg_feature *f = &cfg->features[0];
    assert_true(f->flip.interval_ns == 5 * WG_NS_PER_SEC);
    assert_int_equal(f->flip.count, 3);
    assert_int_equal(f->flip.failure_limit, 1);
    assert_int_equal(f->non_fail, 2);
    assert_int_equal(f->on_fail[0].kind, WG_ACTION_UNLEASH);
    assert_string_equal(f->on_fail[0].project, "p");
    assert_int_equal(f->on_fail[1].kind, WG_ACTION_WEBHOOK);
    assert_true(f->on_fail[1].dry_run);
    assert_true(f->on_fail[1].rate_per_ns == 600 * WG_NS_PER_SEC);
    assert_int_equal(f->on_fail[1].rate_max, 2);
    assert_int_equal(f->on_fail[0].rate_max, 0); /* no limit */
    assert_true(cfg->events.sig_tolerance_ns == 90 * WG_NS_PER_SEC);
    assert_string_equal(cfg->events.write_to, "s");
    assert_true(cfg->events.flush_ns == WG_NS_PER_SEC);
    assert_string_equal(cfg->events.unleash_url, "http://u:4242");
    assert_true(cfg->events.unleash_poll_ns == 2 * WG_NS_PER_SEC);
    assert_string_equal(cfg->events.secret_env[0], "LD");
    assert_null(cfg->events.secret_env[2]);
    wg_config_free(cfg);
    /* defaults */
    cfg = load("", "", diag, sizeof(diag));
    assert_non_null(cfg);
    assert_true(cfg->features[0].flip.interval_ns == 60 * WG_NS_PER_SEC);
    assert_int_equal(cfg->features[0].flip.count, 10);
    assert_int_equal(cfg->features[0].non_fail, 0);
    assert_null(cfg->events.write_to);
    assert_true(cfg->events.sig_tolerance_ns == 300 * WG_NS_PER_SEC);
    wg_config_free(cfg);
}

struct ecase {
    const char *feat, *tail, *want;
};

static void test_errors(void **state)
{
    (void)state;
    static const struct ecase cases[] = {
        {"", "events:\n  write_to: nope\n", "t.yaml:13:13: events.write_to: unknown source 'nope'"},
        {"", "events:\n  writeto: s\n", "t.yaml:13:3: events.writeto: unknown key 'writeto'"},
        {"    on_fail: {action: unleash}\n", "",
         "t.yaml:8:14: features.f.on_fail: expected a sequence of actions"},
        {"    on_fail:\n      - {action: kill, url: http://x}\n", "",
         "features.f.on_fail[0].action"},
        {"    on_fail:\n      - {action: unleash, url: http://x}\n", "",
         "t.yaml:9:9: features.f.on_fail[0]: token_env: required for action unleash"},
        {"    on_fail:\n      - {action: webhook, url: ftp://x}\n", "",
         "features.f.on_fail[0]: url: want http:// or https://"},
        {"    on_fail:\n      - {action: webhook}\n", "", "missing required key 'url'"},
        {"    flip: {interval: 0s}\n", "", "features.f.flip.interval"},
        {"    flip: {count: 0}\n", "", "features.f.flip.count"},
        {"", "events:\n  unleash: {url: http://u}\n", "missing required key 'token_env'"},
        {"", "events:\n  signing: {unleash: X}\n", "events.signing.unleash: unknown key"},
        {"", "events:\n  signing: {tolerance: 0s}\n", "events.signing.tolerance"},
        {"    on_fail:\n      - {action: webhook, url: http://x, rate_limit: {max: 1}}\n", "",
         "t.yaml:9:54: features.f.on_fail[0].rate_limit.per: missing required key 'per'"},
        {"    on_fail:\n      - {action: webhook, url: http://x, rate_limit: {per: 1m, max: 0}}\n",
         "", "features.f.on_fail[0].rate_limit.max"},
        {"    on_fail:\n      - {action: webhook, url: http://x, rate_limit: {per: 1m, max: 1, n: "
         "2}}\n",
         "", "features.f.on_fail[0].rate_limit.n: unknown key"},
    };
    int bad = 0;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char diag[2048];
        struct wg_config *cfg = load(cases[i].feat, cases[i].tail, diag, sizeof(diag));
        if (cfg || !strstr(diag, cases[i].want)) {
            print_error("case %zu: want %s\n  got: %s\n", i, cases[i].want,
                        cfg ? "(loaded)" : diag);
            bad++;
        }
        wg_config_free(cfg);
    }
    assert_int_equal(bad, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decoded),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

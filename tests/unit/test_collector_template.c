/* test_collector_template.c — placeholders rendered as literals of InfluxQL, Flux and SQL:
 * strings escaped so hostile values (quotes, backslashes, newlines, '; DROP, ${) stay inside
 * their literal, times as RFC3339 literals, windows as duration literals; unknown names fail.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "collector/collector.h"

struct rcase {
    enum wg_source_kind kind;
    const char *tmpl;
    const char *env;
    const char *want;
};

/* 2024-05-01T12:00:00Z and 12:10:00.5Z */
#define T0 INT64_C(1714564800000000000)
#define T1 (T0 + 600 * WG_NS_PER_SEC + 500000000)

static const struct rcase rcases[] = {
    {WG_SRC_INFLUXQL, "WHERE e = {{ env }} AND time >= {{start}} AND time < {{  end  }}", "prod",
     "WHERE e = 'prod' AND time >= '2024-05-01T12:00:00Z' AND time < '2024-05-01T12:10:00.5Z'"},
    {WG_SRC_INFLUXQL, "GROUP BY time({{ window }})", "x", "GROUP BY time(10m)"},
    {WG_SRC_INFLUXQL, "{{env}}", "it's", "'it\\'s'"},
    {WG_SRC_INFLUXQL, "{{env}}", "a\\'; DROP DATABASE x; --", "'a\\\\\\'; DROP DATABASE x; --'"},
    {WG_SRC_INFLUXQL, "{{env}}", "line1\nline2", "'line1\\nline2'"},
    {WG_SRC_INFLUXQL, "{{env}}", "a\\", "'a\\\\'"},
    {WG_SRC_INFLUXQL, "{{ wave }}/{{ feature }}/{{ flag }}", "x", "'staging'/'checkout'/''"},
    {WG_SRC_FLUX, "r.env == {{ env }} and range(start: {{ start }}, stop: {{ end }})", "prod",
     "r.env == \"prod\" and range(start: 2024-05-01T12:00:00Z, stop: 2024-05-01T12:10:00.5Z)"},
    {WG_SRC_FLUX, "every: {{ window }}", "x", "every: 10m"},
    {WG_SRC_FLUX, "{{env}}", "a\"b\\c${d}$e", "\"a\\\"b\\\\c\\${d}$e\""},
    {WG_SRC_FLUX, "{{env}}", "x\") |> drop() //\n\r\t", "\"x\\\") |> drop() //\\n\\r\\t\""},
    {WG_SRC_SQL, "env = {{ env }} AND time >= {{ start }} AND time < {{ end }}", "o'neil",
     "env = 'o''neil' AND time >= TIMESTAMP '2024-05-01T12:00:00Z' AND time < TIMESTAMP "
     "'2024-05-01T12:10:00.5Z'"},
    {WG_SRC_SQL, "{{ window }}", "x", "INTERVAL '600 seconds'"},
    {WG_SRC_SQL, "{{env}}", "'; DROP TABLE m; --\\", "'''; DROP TABLE m; --\\'"},
    {WG_SRC_INFLUXQL, "no placeholders { here }", "x", "no placeholders { here }"},
};

static void test_render(void **state)
{
    (void)state;
    int failures = 0;
    for (size_t i = 0; i < sizeof(rcases) / sizeof(rcases[0]); i++) {
        const struct rcase *c = &rcases[i];
        struct wg_vars v = {.env = c->env, .wave = "staging", .feature = "checkout",
                            .flag = NULL, .start_ns = T0, .end_ns = T1,
                            .window_ns = 600 * WG_NS_PER_SEC};
        char *out = NULL, err[200];
        enum wg_err e = wg_collector_render(c->kind, c->tmpl, &v, &out, err, sizeof(err));
        if (e != WG_OK || strcmp(out, c->want) != 0) {
            fprintf(stderr, "case %zu: want [%s]\n            got  [%s] (%s)\n", i, c->want,
                    out ? out : "", err);
            failures++;
        }
        free(out);
    }
    assert_int_equal(failures, 0);
}

static void test_windows(void **state)
{
    (void)state;
    const struct {
        enum wg_source_kind k;
        int64_t ns;
        const char *want;
    } w[] = {
        {WG_SRC_INFLUXQL, 90 * WG_NS_PER_SEC, "90s"},
        {WG_SRC_INFLUXQL, 7200 * WG_NS_PER_SEC, "2h"},
        {WG_SRC_INFLUXQL, 1500 * INT64_C(1000000), "1500ms"},
        {WG_SRC_FLUX, 5400 * WG_NS_PER_SEC, "1h30m"},
        {WG_SRC_SQL, 1500 * INT64_C(1000000), "INTERVAL '1500 milliseconds'"},
    };
    for (size_t i = 0; i < sizeof(w) / sizeof(w[0]); i++) {
        struct wg_vars v = {.window_ns = w[i].ns};
        char *out = NULL, err[100];
        assert_int_equal(wg_collector_render(w[i].k, "{{window}}", &v, &out, err, sizeof(err)),
                         WG_OK);
        if (strcmp(out, w[i].want) != 0) {
            fprintf(stderr, "window %zu: want %s got %s\n", i, w[i].want, out);
        }
        assert_string_equal(out, w[i].want);
        free(out);
    }
}

/* Whatever the value, the rendered InfluxQL holds exactly one literal: scanning it with the
 * language's own rules finds the closing quote at the very end. */
static void test_no_breakout(void **state)
{
    (void)state;
    const char *hostile[] = {"'", "\\", "\\'", "''", "'; DROP DATABASE d; --", "\n'\n",
                             "${x}", "\"", "\\\\'", "a'b\\c\"d${e}\nf"};
    for (size_t i = 0; i < sizeof(hostile) / sizeof(hostile[0]); i++) {
        struct wg_vars v = {.env = hostile[i]};
        char *out = NULL, err[100];
        assert_int_equal(wg_collector_render(WG_SRC_INFLUXQL, "{{env}}", &v, &out, err,
                                             sizeof(err)),
                         WG_OK);
        size_t n = strlen(out), j = 1;
        for (; j < n; j++) {
            if (out[j] == '\\') {
                j++;
            } else if (out[j] == '\'' || out[j] == '\n') {
                break;
            }
        }
        if (j != n - 1) {
            fprintf(stderr, "InfluxQL literal of [%s] ends early: %s\n", hostile[i], out);
        }
        assert_int_equal(j, n - 1);
        free(out);
        /* SQL: quotes come in pairs inside */
        assert_int_equal(wg_collector_render(WG_SRC_SQL, "{{env}}", &v, &out, err, sizeof(err)),
                         WG_OK);
        n = strlen(out);
        for (j = 1; j < n; j++) {
            if (out[j] == '\'' && j + 1 < n && out[j + 1] == '\'') {
                j++;
            } else if (out[j] == '\'') {
                break;
            }
        }
        assert_int_equal(j, n - 1);
        free(out);
        /* Flux: no unescaped quote and no live ${ inside */
        assert_int_equal(wg_collector_render(WG_SRC_FLUX, "{{env}}", &v, &out, err, sizeof(err)),
                         WG_OK);
        n = strlen(out);
        for (j = 1; j < n; j++) {
            if (out[j] == '\\') {
                j++;
            } else if (out[j] == '"' || (out[j] == '$' && out[j + 1] == '{')) {
                break;
            }
        }
        assert_int_equal(j, n - 1);
        free(out);
    }
}

static void test_errors(void **state)
{
    (void)state;
    struct wg_vars v = {0};
    char *out = (char *)1, err[200];
    assert_int_equal(wg_collector_render(WG_SRC_INFLUXQL, "x {{ region }} y", &v, &out, err,
                                         sizeof(err)),
                     WG_EINVAL);
    assert_null(out);
    assert_string_equal(err, "unknown placeholder {{ region }} (known: env, wave, feature, flag, "
                             "start, end, window, target, the target's labels)");
    assert_int_equal(wg_collector_render(WG_SRC_FLUX, "x {{ env ", &v, &out, err, sizeof(err)),
                     WG_EINVAL);
    assert_string_equal(err, "unclosed placeholder at offset 2");
    assert_int_equal(wg_collector_render(WG_SRC_SQL, "{{}}", &v, &out, err, sizeof(err)),
                     WG_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_render),
        cmocka_unit_test(test_windows),
        cmocka_unit_test(test_no_breakout),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

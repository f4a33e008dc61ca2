/* test_common.c — the shared core: RFC3339 times (offsets, fractions, pre-1970, errors),
 * durations, bounded buffers, series sets, verdict ordering, redaction, diagnostics.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/common.h"

static void test_time_parse(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        int ok;
        int64_t want;
    } cases[] = {
        {"1970-01-01T00:00:00Z", 1, 0},
        {"1970-01-01T00:00:00.000000001Z", 1, 1},
        {"2024-05-01T12:00:00Z", 1, INT64_C(1714564800) * WG_NS_PER_SEC},
        {"2024-05-01T12:00:00.5Z", 1, INT64_C(1714564800) * WG_NS_PER_SEC + 500000000},
        {"2024-05-01T12:00:00.123456789Z", 1, INT64_C(1714564800) * WG_NS_PER_SEC + 123456789},
        {"2024-05-01T12:00:00.1234567891Z", 1, INT64_C(1714564800) * WG_NS_PER_SEC + 123456789},
        {"2000-10-29T01:00:00-07:00", 1, INT64_C(972806400) * WG_NS_PER_SEC},
        {"2000-10-29T10:00:00+02:00", 1, INT64_C(972806400) * WG_NS_PER_SEC},
        {"2024-05-01 12:00:00", 1, INT64_C(1714564800) * WG_NS_PER_SEC}, /* no zone = UTC */
        {"2024-05-01T12:00:00", 1, INT64_C(1714564800) * WG_NS_PER_SEC},
        {"1969-12-31T23:59:59Z", 1, -WG_NS_PER_SEC},
        {"1900-01-01T00:00:00Z", 1, INT64_C(-2208988800) * WG_NS_PER_SEC},
        {"2024-02-29T00:00:00Z", 1, INT64_C(1709164800) * WG_NS_PER_SEC},
        {"1677-09-21T00:12:43.145224192Z", 1, INT64_MIN},
        {"2262-04-11T23:47:16.854775807Z", 1, INT64_MAX},
        {"2262-04-11T23:47:16.854775808Z", 0, 0},
        {"1677-09-21T00:12:43.145224191Z", 0, 0},
        {"2023-02-29T00:00:00Z", 0, 0},
        {"2024-13-01T00:00:00Z", 0, 0},
        {"2024-05-01T24:00:00Z", 0, 0},
        {"2024-05-01T12:00:00.Z", 0, 0},
        {"2024-05-01T12:00:00+0700", 0, 0},
        {"2024-05-01T12:00:00Zjunk", 0, 0},
        {"2024-05-01", 0, 0},
        /* out-of-range fields and times outside int64 ns */
        {"2024-05-01T12:60:00Z", 0, 0},
        {"2024-05-01T12:00:61Z", 0, 0},
        {"2024-05-01T12:00:00+24:00", 0, 0},
        {"2024-05-01T12:00:00+05:60", 0, 0},
        {"2024-00-10T00:00:00Z", 0, 0},
        {"2024-04-31T00:00:00Z", 0, 0},
        {"2024-05-00T00:00:00Z", 0, 0},
        {"0000-01-01T00:00:00Z", 0, 0},
        {"9999-12-31T23:59:59Z", 0, 0},
        {"2300-01-01T00:00:00Z", 0, 0},
        {"1600-01-01T00:00:00Z", 0, 0},
        {"2262-04-11T23:40:00Z", 1, INT64_C(9223371600) * WG_NS_PER_SEC},
        {"2262-04-11T23:47:17Z", 0, 0},
        {"2262-04-11T23:47:16.854775807-00:01", 0, 0},
        {"", 0, 0},
        {"not a time at all", 0, 0},
    };
    int failed = 0;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int64_t got = 0;
        enum wg_err rc = wg_time_parse(cases[i].in, strlen(cases[i].in), &got);
        int ok = rc == WG_OK;
        if (ok != cases[i].ok || (ok && got != cases[i].want)) {
            print_error("time_parse(%s): want ok=%d %lld, got ok=%d %lld\n", cases[i].in,
                        cases[i].ok, (long long)cases[i].want, ok, (long long)got);
            failed++;
        }
    }
    assert_int_equal(failed, 0);
}

static void test_time_format_roundtrip(void **state)
{
    (void)state;
    static const struct {
        int64_t ns;
        const char *want;
    } cases[] = {
        {0, "1970-01-01T00:00:00Z"},
        {1, "1970-01-01T00:00:00.000000001Z"},
        {INT64_C(1714564800) * WG_NS_PER_SEC + 500000000, "2024-05-01T12:00:00.5Z"},
        {-WG_NS_PER_SEC, "1969-12-31T23:59:59Z"},
        {-1, "1969-12-31T23:59:59.999999999Z"},
        {INT64_C(-2208988800) * WG_NS_PER_SEC, "1900-01-01T00:00:00Z"},
    };
    int failed = 0;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char b[48];
        wg_time_format(cases[i].ns, b, sizeof(b));
        int64_t back = 0;
        if (strcmp(b, cases[i].want) != 0 || wg_time_parse(b, strlen(b), &back) != WG_OK ||
            back != cases[i].ns) {
            print_error("time_format(%lld): want %s, got %s (back %lld)\n",
                        (long long)cases[i].ns, cases[i].want, b, (long long)back);
            failed++;
        }
    }
    assert_int_equal(failed, 0);
}

static void test_duration(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        int ok;
        int64_t want;
        const char *fmt;
    } cases[] = {
        {"0", 1, 0, "0s"},
        {"10s", 1, 10 * WG_NS_PER_SEC, "10s"},
        {"1m30s", 1, 90 * WG_NS_PER_SEC, "1m30s"},
        {"500ms", 1, 500000000, "500ms"},
        {"250us", 1, 250000, "250us"},
        {"1.5h", 1, 5400 * WG_NS_PER_SEC, "1h30m"},
        {"2h", 1, 7200 * WG_NS_PER_SEC, "2h"},
        {"1d", 1, 86400 * WG_NS_PER_SEC, "24h"},
        {"1w", 1, 7 * 86400 * WG_NS_PER_SEC, "168h"},
        {"10", 0, 0, NULL},
        {"10 minutes", 0, 0, NULL},
        {"-5s", 0, 0, NULL},
        {"s", 0, 0, NULL},
        {"", 0, 0, NULL},
        {"1.s", 0, 0, NULL},
        {"99999999999999999999h", 0, 0, NULL},
        {"9223372036s", 1, INT64_C(9223372036) * WG_NS_PER_SEC, "2562047h47m16s"},
        {"106751d", 1, INT64_C(106751) * 86400 * WG_NS_PER_SEC, "2562024h"},
        {"9223372036.9s", 0, 0, NULL},
        {"106752d", 0, 0, NULL},
        {"106751d1d", 0, 0, NULL},
        {"9223372036854775807ns", 1, INT64_MAX, "2562047h47m16s854ms775us807ns"},
        {"9223372036854775808ns", 0, 0, NULL},
        {"+5s", 0, 0, NULL},
        {"5s ", 0, 0, NULL},
    };
    int failed = 0;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int64_t got = -1;
        int ok = wg_duration_parse(cases[i].in, &got) == WG_OK;
        char b[64] = "";
        if (ok) {
            wg_duration_format(got, b, sizeof(b));
        }
        if (ok != cases[i].ok || (ok && (got != cases[i].want || strcmp(b, cases[i].fmt)))) {
            print_error("duration(%s): want ok=%d %lld %s, got ok=%d %lld %s\n", cases[i].in,
                        cases[i].ok, (long long)cases[i].want, cases[i].fmt ? cases[i].fmt : "",
                        ok, (long long)got, b);
            failed++;
        }
    }
    assert_int_equal(failed, 0);
}

/* A well-formed duration past int64 is WG_ETOOBIG (the config says "too large"), a malformed
 * one WG_EINVAL, even when it overflows before the bad byte. */
static void test_duration_too_big(void **state)
{
    (void)state;
    int64_t got = 7;
    assert_int_equal(wg_duration_parse("106752d", &got), WG_ETOOBIG);
    assert_int_equal(wg_duration_parse("9223372036.9s", &got), WG_ETOOBIG);
    assert_int_equal(wg_duration_parse("99999999999999999999999h", &got), WG_ETOOBIG);
    assert_int_equal(wg_duration_parse("106751d106751d", &got), WG_ETOOBIG);
    assert_int_equal(wg_duration_parse("99999999999999999999999hx", &got), WG_EINVAL);
    assert_int_equal(wg_duration_parse("99999999999999999999999", &got), WG_EINVAL);
    assert_int_equal(got, 7);
    assert_int_equal(wg_duration_parse("366d", &got), WG_OK);
    assert_int_equal(got, WG_DURATION_MAX_NS);
}

/* Checked time arithmetic: every sum that wraps is refused and leaves *out alone. */
static void test_time_checked(void **state)
{
    (void)state;
    static const struct {
        int64_t a, b;
        int add_ok, sub_ok;
        int64_t add, sub;
    } cases[] = {
        {1, 2, 1, 1, 3, -1},
        {INT64_MAX, 0, 1, 1, INT64_MAX, INT64_MAX},
        {INT64_MAX, 1, 0, 1, 0, INT64_MAX - 1},
        {INT64_MIN, -1, 0, 1, 0, INT64_MIN + 1},
        {INT64_MIN, 1, 1, 0, INT64_MIN + 1, 0},
        {0, INT64_MIN, 1, 0, INT64_MIN, 0},
        /* 2262-04-11T23:40:00Z + 10m: the false pass of the old gate */
        {INT64_C(9223371600) * WG_NS_PER_SEC, 600 * WG_NS_PER_SEC, 0, 1, 0,
         INT64_C(9223371000) * WG_NS_PER_SEC},
    };
    int failed = 0;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int64_t add = 42, sub = 42;
        int add_ok = wg_time_add(cases[i].a, cases[i].b, &add) == WG_OK;
        int sub_ok = wg_time_sub(cases[i].a, cases[i].b, &sub) == WG_OK;
        if (add_ok != cases[i].add_ok || sub_ok != cases[i].sub_ok ||
            add != (add_ok ? cases[i].add : 42) || sub != (sub_ok ? cases[i].sub : 42)) {
            print_error("case %zu: %lld, %lld: want add ok=%d %lld sub ok=%d %lld, got add ok=%d "
                        "%lld sub ok=%d %lld\n",
                        i, (long long)cases[i].a, (long long)cases[i].b, cases[i].add_ok,
                        (long long)cases[i].add, cases[i].sub_ok, (long long)cases[i].sub, add_ok,
                        (long long)add, sub_ok, (long long)sub);
            failed++;
        }
    }
    assert_int_equal(failed, 0);
    int64_t ns = 5;
    assert_int_equal(wg_time_from_secs(1714564800, &ns), WG_OK);
    assert_int_equal(ns, INT64_C(1714564800) * WG_NS_PER_SEC);
    assert_int_equal(wg_time_from_secs(9223372037LL, &ns), WG_EINVAL);
    assert_int_equal(wg_time_from_secs(32503680000LL, &ns), WG_EINVAL);
    assert_int_equal(wg_time_from_secs(-9223372037LL, &ns), WG_EINVAL);
    assert_int_equal(ns, INT64_C(1714564800) * WG_NS_PER_SEC);
}

/* Deploy times: after 1970, before 2200, at most a day ahead of now. */
static void test_time_check_deploy(void **state)
{
    (void)state;
    const int64_t now = INT64_C(1714564800) * WG_NS_PER_SEC; /* 2024-05-01T12:00:00Z */
    static const struct {
        const char *t;
        int ok;
        const char *why;
    } cases[] = {
        {"2024-05-01T11:00:00Z", 1, NULL},
        {"1970-01-01T00:00:01Z", 1, NULL},
        {"2024-05-02T12:00:00Z", 1, NULL}, /* exactly 24 h ahead */
        {"2024-05-02T12:00:01Z", 0, "is more than 24h after now (2024-05-01T12:00:00Z)"},
        {"2199-12-31T23:59:59Z", 0, "more than 24h after now"},
        {"1970-01-01T00:00:00Z", 0, "1970-01-01T00:00:00Z is too early: must be after"},
        {"1969-07-20T20:17:00Z", 0, "is too early"},
        {"2200-01-01T00:00:00Z", 0, "2200-01-01T00:00:00Z is too late: must be before 2200"},
        {"2262-04-11T23:40:00Z", 0, "2262-04-11T23:40:00Z is too late"},
    };
    int failed = 0;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int64_t d = 0;
        char err[256] = "";
        assert_int_equal(wg_time_parse(cases[i].t, strlen(cases[i].t), &d), WG_OK);
        int ok = wg_time_check_deploy(d, now, err, sizeof(err)) == WG_OK;
        if (ok != cases[i].ok || (!ok && !strstr(err, cases[i].why))) {
            print_error("deploy %s: want ok=%d \"%s\", got ok=%d \"%s\"\n", cases[i].t,
                        cases[i].ok, cases[i].why ? cases[i].why : "", ok, err);
            failed++;
        }
    }
    assert_int_equal(failed, 0);
    char err[256];
    /* a `now` so late that now + 24 h wraps: nothing can be judged */
    assert_int_equal(wg_time_check_deploy(now, INT64_MAX - 1, err, sizeof(err)), WG_EINVAL);
    /* the caps keep the worst sum in range: latest deploy + max delay + max window */
    int64_t end;
    assert_int_equal(wg_time_add(WG_DEPLOY_MAX_NS, 2 * WG_DURATION_MAX_NS, &end), WG_OK);
}

static void test_buf_cap(void **state)
{
    (void)state;
    struct wg_buf b;
    wg_buf_init(&b, 10);
    assert_int_equal(wg_buf_adds(&b, "hello"), WG_OK);
    assert_int_equal(wg_buf_addf(&b, "%d", 1234), WG_OK);
    assert_string_equal(b.p, "hello1234");
    /* two bytes do not fit: the cap is exact and nothing is half-written */
    assert_int_equal(wg_buf_adds(&b, "xy"), WG_ETOOBIG);
    assert_int_equal(b.len, 9);
    /* the error sticks: a later append that would fit is refused too (no hole in the middle),
     * and the builder's one check at the end sees it */
    assert_int_equal(wg_buf_adds(&b, "x"), WG_ETOOBIG);
    assert_int_equal(b.len, 9);
    assert_int_equal(wg_buf_err(&b), WG_ETOOBIG);
    char *s = (char *)"unset";
    assert_int_equal(wg_buf_finish(&b, &s), WG_ETOOBIG);
    assert_null(s);
    assert_null(b.p);
    /* a reset buffer starts clean */
    wg_buf_init(&b, 10);
    assert_int_equal(wg_buf_adds(&b, "0123456789x"), WG_ETOOBIG);
    wg_buf_reset(&b);
    assert_int_equal(wg_buf_err(&b), WG_OK);
    assert_int_equal(wg_buf_adds(&b, "x"), WG_OK);
    assert_int_equal(wg_buf_finish(&b, &s), WG_OK);
    assert_string_equal(s, "x");
    free(s);
    wg_buf_free(&b);
}

/* An allocation that fails in the middle of a builder (the test hook stands for malloc
 * returning NULL) leaves a sticky WG_ENOMEM, and nothing built after it is handed out. */
/* The one JSON string writer (reports, alert payloads, error answers, action bodies): cJSON's
 * escapes, and every other byte as it is. */
static void test_buf_json(void **state)
{
    (void)state;
    static const struct {
        const char *in, *want;
    } cases[] = {
        {NULL, "\"\""},
        {"", "\"\""},
        {"plain /slash", "\"plain /slash\""},
        {"q\"b\\", "\"q\\\"b\\\\\""},
        {"\b\f\n\r\t", "\"\\b\\f\\n\\r\\t\""},
        {"\x01x\x1f\x7f", "\"\\u0001x\\u001f\x7f\""},
        {"caf\xc3\xa9", "\"caf\xc3\xa9\""},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct wg_buf b;
        wg_buf_init(&b, 0);
        wg_buf_add_json(&b, cases[i].in);
        assert_int_equal(wg_buf_err(&b), WG_OK);
        if (strcmp(b.p, cases[i].want) != 0) {
            print_error("case %zu: want %s, got %s\n", i, cases[i].want, b.p);
        }
        assert_string_equal(b.p, cases[i].want);
        wg_buf_reset(&b);
        wg_buf_add_json_chars(&b, cases[i].in); /* the same, unquoted */
        size_t wl = strlen(cases[i].want);
        assert_int_equal(b.len, wl - 2);
        assert_memory_equal(b.p, cases[i].want + 1, wl - 2);
        wg_buf_free(&b);
    }
}

static void test_buf_alloc_failure(void **state)
{
    (void)state;
    struct wg_buf b;
    wg_buf_init(&b, 0);
    assert_int_equal(wg_buf_adds(&b, "head,"), WG_OK); /* 256 bytes allocated */
    char big[600];
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    wg_buf_test_fail_alloc(1);
    assert_int_equal(wg_buf_adds(&b, big), WG_ENOMEM); /* the grow fails */
    wg_buf_test_fail_alloc(0);
    assert_int_equal(wg_buf_adds(&b, "tail"), WG_ENOMEM); /* sticky: not appended */
    assert_int_equal(wg_buf_addf(&b, "%d", 7), WG_ENOMEM);
    assert_string_equal(b.p, "head,");
    char *s = NULL;
    assert_int_equal(wg_buf_finish(&b, &s), WG_ENOMEM);
    assert_null(s);
}

static void test_seriesset(void **state)
{
    (void)state;
    struct wg_seriesset ss = {0};
    struct wg_label ab[] = {{"a", "1"}, {"b", "2"}};
    struct wg_label ba[] = {{"b", "2"}, {"a", "1"}};
    struct wg_label a2[] = {{"a", "2"}, {"b", "2"}};
    struct wg_series *s1 = wg_seriesset_get(&ss, ab, 2);
    assert_non_null(s1);
    for (int i = 0; i < 100; i++) {
        assert_int_equal(wg_series_push(s1, i, i * 1.5), WG_OK);
    }
    /* label order does not make another series */
    assert_ptr_equal(wg_seriesset_get(&ss, ba, 2), &ss.s[0]);
    struct wg_series *s2 = wg_seriesset_get(&ss, a2, 2);
    assert_non_null(s2);
    assert_int_equal(wg_series_push(s2, 0, 7), WG_OK);
    assert_int_equal(ss.n, 2);
    assert_int_equal(wg_seriesset_points(&ss), 101);
    assert_true(ss.s[0].v[99] == 99 * 1.5);
    wg_seriesset_free(&ss);
    assert_int_equal(ss.n, 0);
}

static void test_verdict_order(void **state)
{
    (void)state;
    assert_int_equal(wg_verdict_worst(WG_PASS, WG_WARN), WG_WARN);
    assert_int_equal(wg_verdict_worst(WG_INCONCLUSIVE, WG_WARN), WG_INCONCLUSIVE);
    assert_int_equal(wg_verdict_worst(WG_INCONCLUSIVE, WG_NOEVAL), WG_NOEVAL);
    assert_int_equal(wg_verdict_worst(WG_FAIL, WG_NOEVAL), WG_FAIL);
    assert_string_equal(wg_verdict_name(WG_INCONCLUSIVE), "inconclusive");
}

static void test_redact_and_diags(void **state)
{
    (void)state;
    wg_log_add_secret("s3cr3t-token");
    char line[] = "GET /query?p=s3cr3t-token&u=x failed; token s3cr3t-token";
    wg_redact(line);
    assert_string_equal(line, "GET /query?p=***&u=x failed; token ***");

    struct wg_diags d = {0};
    struct wg_pos pos = {"w.yaml", 3, 7};
    wg_diags_add(&d, &pos, "sources.x.url", 0, "must start with %s", "http://");
    wg_diags_add(&d, &pos, "sources.x.tls", 1, "insecure");
    assert_int_equal(d.nerrors, 1);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    wg_diags_print(&d, f);
    fclose(f);
    assert_string_equal(buf, "w.yaml:3:7: sources.x.url: must start with http://\n"
                             "w.yaml:3:7: warning: sources.x.tls: insecure\n");
    free(buf);
    wg_diags_free(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_time_parse),    cmocka_unit_test(test_time_format_roundtrip),
        cmocka_unit_test(test_duration),      cmocka_unit_test(test_buf_cap),
        cmocka_unit_test(test_buf_alloc_failure),
        cmocka_unit_test(test_buf_json),
        cmocka_unit_test(test_seriesset),     cmocka_unit_test(test_verdict_order),
        cmocka_unit_test(test_redact_and_diags), cmocka_unit_test(test_duration_too_big),
        cmocka_unit_test(test_time_checked),      cmocka_unit_test(test_time_check_deploy),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

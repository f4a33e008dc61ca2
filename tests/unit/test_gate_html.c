/* test_gate_html.c — the evidence page renderer (gate_html.c) and the evaluation store
 * (gate_evals.c): user text escaped everywhere (HTML and SVG), the deploy marker and the
 * threshold line at the computed positions, the failing group highlighted, secrets out of the
 * rendered query, min/max-preserving downsampling, the series blob round trip and bounded
 * retention.
 */
/* clang-format off */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
/* clang-format on */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gate/gate_int.h"

#define SEC 1000000000LL
/* deploy 2026-01-01T00:30:00Z; baseline 00:00..00:30, window 00:30..00:40 */
static const char REPORT[] =
    "{\"verdict\":\"fail\",\"wave\":\"prod<i>\",\"env\":\"prod\","
    "\"deploy_time\":\"2026-01-01T00:30:00Z\","
    "\"window\":{\"start\":\"2026-01-01T00:30:00Z\",\"end\":\"2026-01-01T00:40:00Z\"},"
    "\"features\":[{\"feature\":\"<script>alert(1)</script>\",\"verdict\":\"fail\"}],"
    "\"rules\":[{\"feature\":\"<script>alert(1)</script>\",\"rule\":\"r\\\"'&\",\"verdict\":"
    "\"fail\",\"value\":300,\"threshold\":{\"max\":250},\"samples\":60,\"reason\":\"<b>x</b>\","
    "\"baseline\":100,\"severity\":\"critical\","
    "\"window\":{\"start\":\"2026-01-01T00:30:00Z\",\"end\":\"2026-01-01T00:40:00Z\"},"
    "\"baseline_window\":{\"start\":\"2026-01-01T00:00:00Z\",\"end\":\"2026-01-01T00:30:00Z\"},"
    "\"mann_whitney\":{\"p_value\":0.0012,\"u\":3,\"z\":-3.1},"
    "\"groups\":[{\"labels\":{\"host\":\"a\"},\"verdict\":\"pass\",\"value\":100},"
    "{\"labels\":{\"host\":\"<c>\"},\"verdict\":\"fail\",\"value\":300}],"
    "\"query\":\"SELECT x FROM y WHERE password='hunter2' AND token=s3cr3t&u=me\"}]}";

static const int64_t T0 = 1767225600LL * SEC; /* 2026-01-01T00:00:00Z */

static void fill(struct wg_seriesset *ss, const char *host, int64_t from, int n, double v)
{
    struct wg_label l = {"host", (char *)host};
    struct wg_series *s = wg_seriesset_get(ss, &l, 1);
    assert_non_null(s);
    for (int i = 0; i < n; i++) {
        assert_int_equal(wg_series_push(s, from + i * 10 * SEC, v), WG_OK);
    }
}

static char *render(struct wg_seriesset *cur, struct wg_seriesset *base)
{
    cJSON *o = cJSON_Parse(REPORT);
    assert_non_null(o);
    struct wg__html_series s = {cur, base};
    char *html = wg__html_evaluation(o, &s, 1);
    cJSON_Delete(o);
    assert_non_null(html);
    return html;
}

/* The value of attr in the first element carrying id="id". */
static double attr(const char *html, const char *id, const char *name)
{
    char key[64];
    snprintf(key, sizeof(key), "id=\"%s\"", id);
    const char *p = strstr(html, key);
    assert_non_null(p);
    const char *end = strchr(p, '>');
    char k2[64];
    snprintf(k2, sizeof(k2), " %s=\"", name);
    const char *a = strstr(p, k2);
    assert_true(a && a < end);
    return strtod(a + strlen(k2), NULL);
}

/* Each of `in` stands in html and none of `out` does (NULL-terminated lists, either NULL). */
static void want_text(const char *html, const char *const *in, const char *const *out)
{
    int bad = 0;
    for (; in && *in; in++) {
        if (!strstr(html, *in)) {
            print_error("want in the page: %s\n", *in);
            bad++;
        }
    }
    for (; out && *out; out++) {
        if (strstr(html, *out)) {
            print_error("want out of the page: %s\n", *out);
            bad++;
        }
    }
    assert_int_equal(bad, 0);
}

/* Removes a test's scratch dir. */
static void rm_dir(const char *dir)
{
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

static void test_escaping(void **state)
{
    (void)state;
    char *html = render(NULL, NULL);
    static const char *const in[] = {
        "&lt;script&gt;alert(1)&lt;/script&gt;", "&lt;b&gt;x&lt;/b&gt;", "r&quot;&#39;&amp;",
        "prod&lt;i&gt;", "default-src 'none'; style-src 'unsafe-inline'; img-src data:", NULL};
    static const char *const out[] = {"<script", "<b>x</b>", NULL};
    want_text(html, in, out);
    free(html);
}

/* The Mann-Whitney test's figures in their order; a member the report lacks is "-". */
static void test_mann_whitney_line(void **state)
{
    (void)state;
    char *html = render(NULL, NULL);
    static const char *const in[] = {
        "<dt>Mann-Whitney</dt><dd>p = 0.0012, U = 3, z = -3.1, shift - [-, -], n - vs -</dd>",
        NULL};
    want_text(html, in, NULL);
    free(html);
}

/* A fleet wave: the targets' table, each rule section named by its target, and each
 * target's deploy marker at its own deploy time (b deployed at 00:20, the wave at 00:30). */
#define WIN "\"window\":{\"start\":\"2026-01-01T00:00:00Z\",\"end\":\"2026-01-01T00:40:00Z\"}"
static const char FLEET[] =
    "{\"verdict\":\"fail\",\"wave\":\"prod\",\"deploy_time\":\"2026-01-01T00:30:00Z\","
    "\"targets\":[{\"target\":\"aws-a\",\"verdict\":\"pass\","
    "\"deploy_time\":\"2026-01-01T00:30:00Z\",\"reason\":\"fine\"},"
    "{\"target\":\"gcp-<b>\",\"verdict\":\"fail\",\"deploy_time\":\"2026-01-01T00:20:00Z\","
    "\"reason\":\"p95 over\"}],"
    "\"features\":[{\"target\":\"aws-a\",\"feature\":\"f\",\"verdict\":\"pass\"},"
    "{\"target\":\"gcp-<b>\",\"feature\":\"f\",\"verdict\":\"fail\"}],"
    "\"rules\":[{\"target\":\"aws-a\",\"feature\":\"f\",\"rule\":\"r\",\"verdict\":\"pass\"," WIN
    "},"
    "{\"target\":\"gcp-<b>\",\"feature\":\"f\",\"rule\":\"r\",\"verdict\":\"fail\"," WIN "}]}";

static void test_fleet(void **state)
{
    (void)state;
    struct wg_seriesset c0 = {0}, c1 = {0};
    fill(&c0, "a", T0, 240, 100); /* 00:00 .. 00:40 */
    fill(&c1, "a", T0, 240, 100);
    cJSON *o = cJSON_Parse(FLEET);
    assert_non_null(o);
    struct wg__html_series s[2] = {{&c0, NULL}, {&c1, NULL}};
    char *html = wg__html_evaluation(o, s, 2);
    cJSON_Delete(o);
    assert_non_null(html);
    static const char *const in[] = {"<table id=\"targets\">", "<td>gcp-&lt;b&gt;</td>",
                                     "p95 over", "<h2>aws-a / f / r",
                                     "<h2>gcp-&lt;b&gt; / f / r", "<td>gcp-&lt;b&gt; / f</td>",
                                     NULL};
    want_text(html, in, NULL);
    double x0 = attr(html, "r0-deploy", "data-t"), x1 = attr(html, "r1-deploy", "data-t");
    printf("deploy markers: want %lld %lld got %.0f %.0f\n", (long long)(T0 + 1800 * SEC),
           (long long)(T0 + 1200 * SEC), x0, x1);
    assert_true(x0 == (double)(T0 + 1800 * SEC));
    assert_true(x1 == (double)(T0 + 1200 * SEC));
    free(html);
    wg_seriesset_free(&c0);
    wg_seriesset_free(&c1);
}

static void test_chart_positions(void **state)
{
    (void)state;
    struct wg_seriesset cur = {0}, base = {0};
    fill(&cur, "a", T0 + 1800 * SEC, 60, 100);
    fill(&cur, "<c>", T0 + 1800 * SEC, 60, 300);
    fill(&base, "a", T0, 180, 100);
    fill(&base, "<c>", T0, 180, 100);
    char *html = render(&cur, &base);
    /* x axis 00:00 .. 00:40 over [58, 630]: the deploy at 00:30 is 58 + 0.75 * 572 */
    double x = attr(html, "r0-deploy", "x1");
    printf("deploy x: want 487.0 got %.1f\n", x);
    assert_true(fabs(x - 487.0) < 0.06);
    double v0 = attr(html, "r0-chart", "data-v0"), v1 = attr(html, "r0-chart", "data-v1");
    double y = attr(html, "r0-threshold", "y1");
    double want = 192 - (250 - v0) * (192 - 10) / (v1 - v0);
    printf("threshold y: want %.1f got %.1f\n", want, y);
    assert_true(fabs(y - want) < 0.06);
    assert_true(fabs(attr(html, "r0-threshold", "data-value") - 250) < 1e-9);
    /* host <c> fails: its two series are highlighted, its label escaped in the SVG title */
    size_t nfail = 0;
    for (const char *p = html; (p = strstr(p, "<polyline class=\"s fail\"")); p++) {
        nfail++;
    }
    for (const char *p = html; (p = strstr(p, "<polyline class=\"b fail\"")); p++) {
        nfail++;
    }
    assert_int_equal(nfail, 2);
    static const char *const in[] = {"<title>host=&lt;c&gt;</title>",
                                     "<tr id=\"r0-g1\" class=\"fail\">",
                                     "<tr id=\"r0-g0\"><td>", NULL};
    want_text(html, in, NULL);
    free(html);
    wg_seriesset_free(&cur);
    wg_seriesset_free(&base);
}

static void test_query_redacted(void **state)
{
    (void)state;
    char *html = render(NULL, NULL);
    static const char *const in[] = {"password=&#39;REDACTED", "token=REDACTED&amp;u=REDACTED",
                                     "p = 0.0012", NULL};
    static const char *const out[] = {"hunter2", "s3cr3t", NULL};
    want_text(html, in, out);
    free(html);
}

static void test_downsample(void **state)
{
    (void)state;
    struct wg_seriesset in = {0}, out = {0};
    fill(&in, "a", T0, 1000, 1.0);
    in.s[0].v[417] = 99; /* a spike */
    in.s[0].v[901] = -5; /* a dip */
    assert_int_equal(wg__gate_downsample(&in, &out), WG_OK);
    assert_int_equal(out.n, 1);
    printf("points: want <= %d got %zu\n", WG_GATE_KEEP_POINTS, out.s[0].n);
    assert_true(out.s[0].n <= WG_GATE_KEEP_POINTS);
    int spike = 0, dip = 0;
    for (size_t i = 0; i < out.s[0].n; i++) {
        spike |= out.s[0].v[i] == 99 && out.s[0].t[i] == T0 + 4170 * SEC;
        dip |= out.s[0].v[i] == -5;
        assert_true(i == 0 || out.s[0].t[i] > out.s[0].t[i - 1]);
    }
    assert_true(spike && dip);
    assert_string_equal(out.s[0].labels[0].value, "a");
    wg_seriesset_free(&in);
    wg_seriesset_free(&out);
}

static void test_blob_round_trip(void **state)
{
    (void)state;
    struct wg_rule_report rr[2];
    memset(rr, 0, sizeof(rr));
    fill(&rr[0].kept, "a", T0, 5, 1.5);
    fill(&rr[0].kept_baseline, "b", T0, 3, 2.5);
    fill(&rr[1].kept, "c", T0, 1, -1);
    /* a series spanning more than 49 days keeps whole nanoseconds (mode 1) */
    assert_int_equal(wg_series_push(&rr[1].kept.s[0], T0 + 60LL * 86400 * SEC + 7, 3), WG_OK);
    struct wg_check_report rep = {.rules = rr, .nrules = 2};
    struct wg_buf b;
    wg_buf_init(&b, 0);
    assert_int_equal(wg__evals_series_encode(&rep, &b), WG_OK);
    struct wg_seriesset *sets = NULL;
    size_t n = 0;
    assert_int_equal(wg__evals_series_decode(b.p, b.len, &sets, &n), WG_OK);
    assert_int_equal(n, 2);
    assert_int_equal(sets[0].s[0].n, 5);
    assert_string_equal(sets[1].s[0].labels[0].value, "b");
    assert_true(sets[1].s[0].v[2] == 2.5 && sets[1].s[0].t[2] == T0 + 20 * SEC);
    assert_int_equal(sets[3].n, 0);
    assert_true(sets[2].s[0].n == 2 && sets[2].s[0].t[1] == T0 + 60LL * 86400 * SEC + 7);
    assert_true(sets[2].s[0].v[0] == -1 && sets[2].s[0].v[1] == 3);
    wg__evals_series_free(sets, n);
    /* truncated blobs are refused, never read past their end */
    for (size_t cut = 0; cut < b.len; cut += 7) {
        assert_int_not_equal(wg__evals_series_decode(b.p, cut, &sets, &n), WG_OK);
        assert_null(sets);
    }
    wg_buf_free(&b);
    for (int i = 0; i < 2; i++) {
        wg_seriesset_free(&rr[i].kept);
        wg_seriesset_free(&rr[i].kept_baseline);
    }
}

static enum wg_err put_one(struct wg__evals *e, char *id)
{
    return wg__evals_put(e, "gate", "prod", "fail", NULL, REPORT, "", 0, id, 40);
}

static enum wg_err page_rc(const char *dir, int64_t max_age, const char *id)
{
    struct wg__evals *e = NULL;
    char err[256], *html = NULL;
    assert_int_equal(wg__evals_open(dir, 100, max_age, &e, err, sizeof(err)), WG_OK);
    enum wg_err rc = wg__evals_page(e, id, &html);
    free(html);
    wg__evals_close(e);
    return rc;
}

/* server.evaluations.max_age: a read never answers an evaluation older than max_age, and the
 * next insert deletes it (max_age of 1 ns: everything stored before is past it). */
static void test_store_max_age(void **state)
{
    (void)state;
    char dir[] = "/tmp/wg-evals-XXXXXX";
    assert_non_null(mkdtemp(dir));
    struct wg__evals *e = NULL;
    char err[256], a[40] = "", b[40] = "";
    assert_int_equal(wg__evals_open(dir, 100, 1, &e, err, sizeof(err)), WG_OK);
    assert_int_equal(put_one(e, a), WG_OK);
    wg__evals_close(e);
    printf("aged: want %s got %s\n", wg_strerror(WG_ENOTFOUND), wg_strerror(page_rc(dir, 1, a)));
    assert_int_equal(page_rc(dir, 1, a), WG_ENOTFOUND);
    assert_int_equal(page_rc(dir, 0, a), WG_OK); /* still stored: reads filter by age */
    assert_int_equal(wg__evals_open(dir, 100, 1, &e, err, sizeof(err)), WG_OK);
    assert_int_equal(put_one(e, b), WG_OK); /* deletes a (past max_age) */
    wg__evals_close(e);
    assert_int_equal(page_rc(dir, 0, a), WG_ENOTFOUND);
    assert_int_equal(page_rc(dir, 0, b), WG_OK);
    rm_dir(dir);
}

static void test_store_retention(void **state)
{
    (void)state;
    char dir[] = "/tmp/wg-evals-XXXXXX";
    assert_non_null(mkdtemp(dir));
    struct wg__evals *e = NULL;
    char err[256];
    assert_int_equal(wg__evals_open(dir, 3, 0, &e, err, sizeof(err)), WG_OK);
    char ids[5][40];
    for (int i = 0; i < 5; i++) {
        ids[i][0] = '\0';
        assert_int_equal(wg__evals_put(e, "gate", "prod", "fail",
                                       "[{\"feature\":\"f\",\"verdict\":\"fail\"}]", REPORT, "", 0,
                                       ids[i], sizeof(ids[i])),
                         WG_OK);
        assert_int_equal(strlen(ids[i]), 32);
    }
    char *html = NULL;
    for (int i = 0; i < 5; i++) {
        enum wg_err rc = wg__evals_page(e, ids[i], &html);
        printf("evaluation %d: want %s got %s\n", i, i < 2 ? "gone" : "kept", wg_strerror(rc));
        assert_int_equal(rc, i < 2 ? WG_ENOTFOUND : WG_OK);
        if (rc == WG_OK) {
            assert_non_null(strstr(html, "&lt;script&gt;"));
        }
        free(html);
        html = NULL;
    }
    cJSON *recent = wg__evals_recent(e, 10);
    assert_int_equal(cJSON_GetArraySize(recent), 3);
    const cJSON *f0 = cJSON_GetArrayItem(
        cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(recent, 0), "features"), 0);
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(f0, "verdict")->valuestring, "fail");
    cJSON_Delete(recent);
    wg__evals_close(e);
    rm_dir(dir);
}

/* report_url joins server.external_url and the page path with one slash. */
static void test_report_url(void **state)
{
    (void)state;
    struct wg_check_report rep = {.verdict = WG_FAIL, .wave = "w", .env = "w"};
    const char *bases[] = {"https://wg.example", "https://wg.example/", NULL};
    const char *want[] = {"https://wg.example/ui/evaluations/ab12",
                          "https://wg.example/ui/evaluations/ab12", "/ui/evaluations/ab12"};
    for (int i = 0; i < 3; i++) {
        char *js = wg__gate_report_json_linked(&rep, "ab12", bases[i]);
        cJSON *o = cJSON_Parse(js);
        const char *got = cJSON_GetObjectItemCaseSensitive(o, "report_url")->valuestring;
        printf("report_url: want %s got %s\n", want[i], got);
        assert_string_equal(got, want[i]);
        assert_string_equal(cJSON_GetObjectItemCaseSensitive(o, "evaluation_id")->valuestring,
                            "ab12");
        cJSON_Delete(o);
        free(js);
    }
    char *plain = wg__gate_report_json_linked(&rep, "", "https://wg.example");
    assert_null(strstr(plain, "report_url"));
    free(plain);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_escaping),
        cmocka_unit_test(test_mann_whitney_line),
        cmocka_unit_test(test_chart_positions),
        cmocka_unit_test(test_query_redacted),  cmocka_unit_test(test_downsample),
        cmocka_unit_test(test_blob_round_trip), cmocka_unit_test(test_store_retention),
        cmocka_unit_test(test_store_max_age),
        cmocka_unit_test(test_report_url),
        cmocka_unit_test(test_fleet),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* test_collector_sink.c — the series sink (collector_sink.c) over each wire format: which column
 * is the value when the rule names none, which labels a series gets (tags, Flux group key, or a
 * JSON Lines row's string columns), Flux `_profiler` results skipped, and the errors it reports.
 * Each case prints the series it got ("labels: values; ...") next to the one it wanted.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "collector/collector.h"

struct scase {
    const char *name;
    enum wg_parser_kind kind;
    const char *field;
    int row_labels;
    const char *body;
    const char *want; /* series dump, or "ERR <sink message>" */
};

#define FLUX_HEAD                                                                                  \
    "#datatype,string,long,dateTime:RFC3339,double,string\r\n"                                     \
    "#group,false,false,false,false,true\r\n"                                                      \
    "#default,_result,,,,\r\n"                                                                     \
    ",result,table,_time,_value,host\r\n"

/* clang-format off */
static const struct scase cases[] = {
    {"jsonl: the first numeric column is the value, string columns are labels",
     WG_PARSE_JSONL, NULL, 1,
     "{\"host\":\"a\",\"time\":\"2024-05-01T00:00:00\",\"usage\":1.5}\n"
     "{\"host\":\"b\",\"time\":\"2024-05-01T00:00:00\",\"usage\":7}\n"
     "{\"host\":\"a\",\"time\":\"2024-05-01T00:00:10\",\"usage\":2.5}\n",
     "host=a: 1.5,2.5; host=b: 7"},
    {"jsonl: SELECT host, dc, avg(usage) GROUP BY host, dc: one series per pair",
     WG_PARSE_JSONL, NULL, 1,
     "{\"host\":\"a\",\"dc\":\"x\",\"avg(usage)\":1}\n"
     "{\"host\":\"a\",\"dc\":\"y\",\"avg(usage)\":2}\n"
     "{\"host\":\"b\",\"dc\":\"x\",\"avg(usage)\":3}\n",
     "host=a,dc=x: 1; host=a,dc=y: 2; host=b,dc=x: 3"},
    {"jsonl: no string column, one unlabelled series",
     WG_PARSE_JSONL, NULL, 1,
     "{\"time\":\"2024-05-01T00:00:00\",\"p95\":120.5}\n"
     "{\"time\":\"2024-05-01T00:00:10\",\"p95\":130}\n",
     ": 120.5,130"},
    {"jsonl: a leading null does not decide, the first numeric does",
     WG_PARSE_JSONL, NULL, 1,
     "{\"time\":\"2024-05-01T00:00:00\",\"host\":\"a\",\"n\":null,\"m\":4}\n"
     "{\"time\":\"2024-05-01T00:00:10\",\"host\":\"a\",\"n\":5,\"m\":6}\n",
     "host=a: 4,6"},
    {"jsonl: a named field is taken as is, other strings still label",
     WG_PARSE_JSONL, "m", 1,
     "{\"host\":\"a\",\"n\":1,\"m\":4}\n"
     "{\"host\":\"b\",\"n\":2,\"m\":6}\n",
     "host=a: 4; host=b: 6"},
    /* true is not 1: a rule over a boolean column is reported, not judged */
    {"jsonl: a boolean value column is an error, not 1",
     WG_PARSE_JSONL, NULL, 1,
     "{\"svc\":\"a\",\"ok\":true}\n{\"svc\":\"a\",\"ok\":false}\n",
     "ERR boolean value in a numeric rule (column ok)"},
    {"jsonl: a named boolean field is an error",
     WG_PARSE_JSONL, "ok", 1,
     "{\"svc\":\"a\",\"ok\":true}\n",
     "ERR boolean value in a numeric rule (column ok)"},
    {"flux: a boolean _value is an error",
     WG_PARSE_FLUX_CSV, NULL, 0,
     "#datatype,string,long,boolean\r\n#group,false,false,false\r\n#default,_result,,\r\n"
     ",result,table,_value\r\n,,0,true\r\n\r\n",
     "ERR boolean value in a numeric rule (column _value)"},
    {"jsonl: a boolean column is skipped for a numeric one",
     WG_PARSE_JSONL, NULL, 1,
     "{\"svc\":\"a\",\"ok\":true,\"n\":3}\n",
     "svc=a: 3"},
    {"influxql: two columns of one name are an error",
     WG_PARSE_INFLUXQL_JSON, "v", 0,
     "{\"results\":[{\"statement_id\":0,\"series\":[{\"name\":\"m\","
     "\"columns\":[\"time\",\"v\",\"v\"],\"values\":[[1,1,1000]]}]}]}",
     "ERR duplicate column name v in the answer"},
    {"jsonl: only strings is an error naming the columns",
     WG_PARSE_JSONL, NULL, 1,
     "{\"host\":\"a\",\"dc\":\"x\"}\n",
     "ERR no numeric value column (columns: host, dc)"},
    {"jsonl: a value column that turns to text later is an error",
     WG_PARSE_JSONL, NULL, 1,
     "{\"v\":1}\n{\"v\":\"oops\"}\n",
     "ERR column v is not numeric"},
    {"influxql: labels stay the tags, string columns are skipped for the value",
     WG_PARSE_INFLUXQL_JSON, NULL, 0,
     "{\"results\":[{\"statement_id\":0,\"series\":[{\"name\":\"cpu\",\"tags\":{\"dc\":\"x\"},"
     "\"columns\":[\"time\",\"host\",\"usage\"],\"values\":[[1,\"a\",0.5],[2,\"b\",0.7]]}]}]}",
     "dc=x: 0.5,0.7"},
    {"influxql: first non-time column when it is numeric (unchanged)",
     WG_PARSE_INFLUXQL_JSON, NULL, 0,
     "{\"results\":[{\"statement_id\":0,\"series\":[{\"name\":\"cpu\","
     "\"columns\":[\"time\",\"mean\",\"p95\"],\"values\":[[1,1,10],[2,2,20]]}]}]}",
     ": 1,2"},
    {"flux: _value with the group key as labels; _profiler results skipped",
     WG_PARSE_FLUX_CSV, NULL, 0,
     FLUX_HEAD
     ",,0,2024-05-01T00:00:00Z,1.5,a\r\n"
     ",,0,2024-05-01T00:00:10Z,2.5,a\r\n"
     ",,1,2024-05-01T00:00:00Z,10,b\r\n"
     "\r\n"
     "#datatype,string,long,string,long,long\r\n"
     "#group,false,false,true,false,false\r\n"
     "#default,_profiler,,,,\r\n"
     ",result,table,_measurement,TotalDuration,Concurrency\r\n"
     ",,0,profiler/query,12345,0\r\n\r\n",
     "host=a: 1.5,2.5; host=b: 10"},
    {"flux: a _profiler result first, data after",
     WG_PARSE_FLUX_CSV, NULL, 0,
     "#datatype,string,long,string,string\r\n"
     "#group,false,false,true,false\r\n"
     "#default,_profiler,,,\r\n"
     ",result,table,_measurement,Query\r\n"
     ",,0,profiler/query,\"from(bucket: \"\"b\"\")\"\r\n"
     "\r\n"
     FLUX_HEAD
     ",,0,2024-05-01T00:00:00Z,3,a\r\n\r\n",
     "host=a: 3"},
    {"flux: without _value, the first numeric non-time column",
     WG_PARSE_FLUX_CSV, NULL, 0,
     "#datatype,string,long,dateTime:RFC3339,string,double\r\n"
     "#group,false,false,false,true,false\r\n"
     "#default,_result,,,,\r\n"
     ",result,table,_time,host,mean\r\n"
     ",,0,2024-05-01T00:00:00Z,a,4.25\r\n\r\n",
     "host=a: 4.25"},
};
/* clang-format on */

static void dump(const struct wg_seriesset *ss, char *out, size_t outlen)
{
    size_t at = 0;
    out[0] = '\0';
#define PUT(...)                                                                                   \
    do {                                                                                           \
        int w_ = snprintf(out + at, outlen - at, __VA_ARGS__);                                     \
        at += w_ > 0 && (size_t)w_ < outlen - at ? (size_t)w_ : 0;                                 \
    } while (0)
    for (size_t i = 0; i < ss->n; i++) {
        const struct wg_series *s = &ss->s[i];
        PUT("%s", i ? "; " : "");
        for (size_t k = 0; k < s->nlabels; k++) {
            PUT("%s%s=%s", k ? "," : "", s->labels[k].key, s->labels[k].value);
        }
        PUT(":");
        for (size_t k = 0; k < s->n; k++) {
            PUT("%s%g", k ? "," : " ", s->v[k]);
        }
    }
#undef PUT
}

static void test_cases(void **state)
{
    (void)state;
    int failed = 0;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct scase *c = &cases[i];
        struct wg_seriesset ss = {0};
        struct wg_series_sink sk;
        struct wg_sink sink;
        char err[256], got[1024];
        wg_series_sink_init(&sk, &ss, c->field, &sink);
        sk.row_labels = c->row_labels;
        enum wg_err e = wg_collector_parse_buffer(c->kind, (const uint8_t *)c->body, strlen(c->body), &sink,
                                        err, sizeof(err));
        if (e != WG_OK) {
            snprintf(got, sizeof(got), "ERR %s", sk.err[0] ? sk.err : err);
        } else {
            dump(&ss, got, sizeof(got));
        }
        if (strcmp(got, c->want) != 0) {
            printf("case %zu (%s)\n  want: %s\n  got:  %s\n", i, c->name, c->want, got);
            failed++;
        }
        wg_series_sink_done(&sk);
        wg_seriesset_free(&ss);
    }
    assert_int_equal(failed, 0);
}

/* Times come from the time column; done() is NULL-safe and idempotent. */
static void test_times_and_done(void **state)
{
    (void)state;
    const char *body = "{\"host\":\"a\",\"time\":\"2024-05-01T00:00:01\",\"usage\":1.5}\n";
    struct wg_seriesset ss = {0};
    struct wg_series_sink sk;
    struct wg_sink sink;
    char err[128];
    wg_series_sink_init(&sk, &ss, NULL, &sink);
    sk.row_labels = 1;
    assert_int_equal(wg_collector_parse_buffer(WG_PARSE_JSONL, (const uint8_t *)body, strlen(body), &sink,
                                     err, sizeof(err)),
                     WG_OK);
    assert_int_equal(ss.n, 1);
    assert_int_equal(ss.s[0].n, 1);
    assert_true(ss.s[0].t[0] == INT64_C(1714521601000000000));
    wg_series_sink_done(&sk);
    wg_series_sink_done(&sk);
    wg_series_sink_done(NULL);
    wg_seriesset_free(&ss);
}

/* An InfluxQL answer with n distinct series (one point each), parsed into a series sink with
 * the given cap; returns the parse time in seconds and the series count in *nseries. */
static double parse_many(size_t n, size_t cap, enum wg_err *e, size_t *nseries, char *msg,
                         size_t msglen)
{
    struct wg_buf b;
    wg_buf_init(&b, 0);
    wg_buf_adds(&b, "{\"results\":[{\"statement_id\":0,\"series\":[");
    for (size_t i = 0; i < n; i++) {
        wg_buf_addf(&b,
                    "%s{\"name\":\"cpu\",\"tags\":{\"dc\":\"x\",\"host\":\"h%zu\"},"
                    "\"columns\":[\"time\",\"v\"],\"values\":[[%zu,%zu]]}",
                    i ? "," : "", i, i + 1, i);
    }
    wg_buf_adds(&b, "]}]}\n");
    struct wg_seriesset ss = {0};
    struct wg_series_sink sk;
    struct wg_sink sink;
    char err[256];
    wg_series_sink_init(&sk, &ss, NULL, &sink);
    sk.max_series = cap;
    int64_t t0 = wg_mono_ns();
    *e = wg_collector_parse_buffer(WG_PARSE_INFLUXQL_JSON, (const uint8_t *)b.p, b.len, &sink, err,
                         sizeof(err));
    double secs = (double)(wg_mono_ns() - t0) / 1e9;
    *nseries = ss.n;
    snprintf(msg, msglen, "%s", sk.err[0] ? sk.err : err);
    wg_series_sink_done(&sk);
    wg_seriesset_free(&ss);
    wg_buf_free(&b);
    return secs;
}

/* Finding a series by its labels is a hash lookup: 100k distinct series took 31 s with the old
 * linear scan (quadratic); now linear. Generous bounds (ASan, a shared CI machine): 100k under
 * 10 s, and no more than 15x the time of 20k (linear: 5x; the old scan: 25x). */
static void test_many_series_linear(void **state)
{
    (void)state;
    enum wg_err e;
    size_t n;
    char msg[256];
    double t20 = parse_many(20000, 0, &e, &n, msg, sizeof(msg));
    assert_int_equal(e, WG_OK);
    assert_int_equal(n, 20000);
    double t100 = parse_many(100000, 0, &e, &n, msg, sizeof(msg));
    assert_int_equal(e, WG_OK);
    assert_int_equal(n, 100000);
    printf("series sink: 20k series %.3f s, 100k series %.3f s\n", t20, t100);
    assert_true(t100 < 10.0);
    assert_true(t100 < 15.0 * t20 + 0.05);
}

/* More series than the source's max_series is an error naming the cap; the cap itself fits. */
static void test_max_series(void **state)
{
    (void)state;
    enum wg_err e;
    size_t n;
    char msg[256];
    parse_many(1000, 1000, &e, &n, msg, sizeof(msg));
    assert_int_equal(e, WG_OK);
    assert_int_equal(n, 1000);
    parse_many(1001, 1000, &e, &n, msg, sizeof(msg));
    assert_int_not_equal(e, WG_OK);
    assert_string_equal(msg, "the answer has more than 1000 series (the source's max_series); "
                             "narrow the query or raise max_series");
}

/* Labels match in any order, across tables: the index finds the earlier series. */
static void test_index_order_insensitive(void **state)
{
    (void)state;
    const char *body =
        "{\"results\":[{\"statement_id\":0,\"series\":["
        "{\"name\":\"m\",\"tags\":{\"a\":\"1\",\"b\":\"2\"},\"columns\":[\"time\",\"v\"],"
        "\"values\":[[1,1]]},"
        "{\"name\":\"m\",\"tags\":{\"a\":\"2\",\"b\":\"1\"},\"columns\":[\"time\",\"v\"],"
        "\"values\":[[1,5]]},"
        "{\"name\":\"m\",\"tags\":{\"b\":\"2\",\"a\":\"1\"},\"columns\":[\"time\",\"v\"],"
        "\"values\":[[2,3]]}]}]}\n";
    struct wg_seriesset ss = {0};
    struct wg_series_sink sk;
    struct wg_sink sink;
    char err[128], got[256];
    wg_series_sink_init(&sk, &ss, NULL, &sink);
    assert_int_equal(wg_collector_parse_buffer(WG_PARSE_INFLUXQL_JSON, (const uint8_t *)body, strlen(body),
                                     &sink, err, sizeof(err)),
                     WG_OK);
    dump(&ss, got, sizeof(got));
    assert_string_equal(got, "a=1,b=2: 1,3; a=2,b=1: 5");
    wg_series_sink_done(&sk);
    wg_seriesset_free(&ss);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cases),
        cmocka_unit_test(test_times_and_done),
        cmocka_unit_test(test_many_series_linear),
        cmocka_unit_test(test_max_series),
        cmocka_unit_test(test_index_order_insensitive),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

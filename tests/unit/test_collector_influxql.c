/* test_collector_influxql.c — the streaming InfluxQL JSON parser: every response shape of the
 * wire-format reference (plain, chunked with and without newlines, partial series, statement
 * and top-level errors, nulls, offsets, epoch integers, big integers, escapes, truncation),
 * each fed whole, byte by byte and in random splits, compared as a transcript (want vs got).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "collector/collector_int.h"
#include "collector_recsink.h"

struct tcase {
    const char *name;
    const char *body;
    const char *want;
};

static const struct tcase cases[] = {
    {"plain",
     "{\"results\":[{\"statement_id\":0,\"series\":[{\"name\":\"cpu\",\"columns\":[\"time\","
     "\"value\"],\"values\":[[\"2024-05-01T12:00:00Z\",1.5],[\"2024-05-01T12:00:01.25Z\",2]]}]}"
     "]}\n",
     "B 0 name=cpu labels= cols=time,value\n"
     "R t:2024-05-01T12:00:00Z|f:1.5\n"
     "R t:2024-05-01T12:00:01.25Z|i:2\n"
     "END OK \n"},
    {"no data", "{\"results\":[{\"statement_id\":0}]}\n", "END OK \n"},
    {"statement error in 200",
     "{\"results\":[{\"statement_id\":0,\"error\":\"database not found: db1\"}]}\n",
     "END EQUERY database not found: db1\n"},
    {"top-level NaN error", "{\"error\":\"json: unsupported value: NaN\"}\n",
     "END EQUERY json: unsupported value: NaN\n"},
    {"pretty top-level error", "{\n    \"error\": \"json: unsupported value: +Inf\"\n}\n",
     "END EQUERY json: unsupported value: +Inf\n"},
    {"group by tags with nulls",
     "{\"results\":[{\"statement_id\":0,\"series\":[{\"name\":\"cpu\",\"tags\":{\"host\":\"a\"},"
     "\"columns\":[\"time\",\"usage\"],\"values\":[[\"2010-07-01T18:47:00Z\",null],"
     "[\"2010-07-01T18:47:01Z\",20]]},{\"name\":\"cpu\",\"tags\":{\"host\":\"b\"},\"columns\":["
     "\"time\",\"usage\"],\"values\":[[\"2010-07-01T18:47:00Z\",5]]}]}]}",
     "B 0 name=cpu labels=host=a cols=time,usage\n"
     "R t:2010-07-01T18:47:00Z|-\n"
     "R t:2010-07-01T18:47:01Z|i:20\n"
     "B 0 name=cpu labels=host=b cols=time,usage\n"
     "R t:2010-07-01T18:47:00Z|i:5\n"
     "END OK \n"},
    {"chunked partial series merged, newline separated",
     "{\"results\":[{\"statement_id\":0,\"series\":[{\"name\":\"m\",\"tags\":{\"t\":\"x\"},"
     "\"columns\":[\"time\",\"f\"],\"values\":[[1,1],[2,2]],\"partial\":true}],\"partial\":true}"
     "]}\n"
     "{\"results\":[{\"statement_id\":0,\"series\":[{\"name\":\"m\",\"tags\":{\"t\":\"x\"},"
     "\"columns\":[\"time\",\"f\"],\"values\":[[3,3]]}],\"partial\":true}]}\n"
     "{\"results\":[{\"statement_id\":0,\"series\":[{\"name\":\"m\",\"tags\":{\"t\":\"y\"},"
     "\"columns\":[\"time\",\"f\"],\"values\":[[4,4]]}]}]}\n",
     "B 0 name=m labels=t=x cols=time,f\n"
     "R t:1970-01-01T00:00:00.000000001Z|i:1\n"
     "R t:1970-01-01T00:00:00.000000002Z|i:2\n"
     "R t:1970-01-01T00:00:00.000000003Z|i:3\n"
     "B 0 name=m labels=t=y cols=time,f\n"
     "R t:1970-01-01T00:00:00.000000004Z|i:4\n"
     "END OK \n"},
    {"chunked back to back, no separator, two statements",
     "{\"results\":[{\"statement_id\":0,\"series\":[{\"name\":\"m1\",\"columns\":[\"time\","
     "\"f1\"],\"values\":[[\"1970-01-01T00:00:01Z\",1]],\"partial\":true}],\"partial\":true}]}"
     "{\"results\":[{\"statement_id\":0,\"series\":[{\"name\":\"m1\",\"columns\":[\"time\","
     "\"f1\"],\"values\":[[\"1970-01-01T00:00:02Z\",2]]}]}]}"
     "{\"results\":[{\"statement_id\":1,\"series\":[{\"name\":\"m1\",\"columns\":[\"time\","
     "\"f1\"],\"values\":[[\"1970-01-01T00:00:03Z\",3]]}]}]}",
     "B 0 name=m1 labels= cols=time,f1\n"
     "R t:1970-01-01T00:00:01Z|i:1\n"
     "R t:1970-01-01T00:00:02Z|i:2\n"
     "B 1 name=m1 labels= cols=time,f1\n"
     "R t:1970-01-01T00:00:03Z|i:3\n"
     "END OK \n"},
    /* A stream that ends while a result or series is still partial was cut: never data. */
    {"chunked: the stream ends while the result is partial",
     "{\"results\":[{\"statement_id\":0,\"series\":[{\"name\":\"m\",\"columns\":[\"time\",\"f\"],"
     "\"values\":[[1,1]]}],\"partial\":true}]}\n",
     "B 0 name=m labels= cols=time,f\n"
     "R t:1970-01-01T00:00:00.000000001Z|i:1\n"
     "END EPARSE truncated answer: the stream ended while statement 0 was still partial\n"},
    {"chunked: the stream ends while a series is partial",
     "{\"results\":[{\"statement_id\":0,\"series\":[{\"name\":\"m\",\"columns\":[\"time\",\"f\"],"
     "\"values\":[[1,1]],\"partial\":true}]}]}\n",
     "B 0 name=m labels= cols=time,f\n"
     "R t:1970-01-01T00:00:00.000000001Z|i:1\n"
     "END EPARSE truncated answer: the stream ended while statement 0 was still partial\n"},
    {"chunked: another statement while the previous one is partial",
     "{\"results\":[{\"statement_id\":0,\"series\":[{\"name\":\"m\",\"columns\":[\"time\",\"f\"],"
     "\"values\":[[1,1]]}],\"partial\":true}]}\n"
     "{\"results\":[{\"statement_id\":1}]}\n",
     "B 0 name=m labels= cols=time,f\n"
     "R t:1970-01-01T00:00:00.000000001Z|i:1\n"
     "END EPARSE statement_id 1 after statement 0 was still partial\n"},
    {"statement ids going back",
     "{\"results\":[{\"statement_id\":1},{\"statement_id\":0}]}\n",
     "END EPARSE statement_id 0 after statement 1\n"},
    {"statement_id that is not an integer",
     "{\"results\":[{\"statement_id\":\"0\"}]}\n",
     "END EPARSE statement_id is not an integer\n"},
    {"chunked error after data",
     "{\"results\":[{\"statement_id\":0,\"series\":[{\"name\":\"m\",\"columns\":[\"time\",\"f\"],"
     "\"values\":[[1,1]],\"partial\":true}],\"partial\":true}]}\n"
     "{\"results\":[{\"statement_id\":0,\"error\":\"query-timeout limit exceeded\"}]}\n",
     "B 0 name=m labels= cols=time,f\n"
     "R t:1970-01-01T00:00:00.000000001Z|i:1\n"
     "END EQUERY query-timeout limit exceeded\n"},
    {"series with only a name",
     "{\"results\":[{\"statement_id\":1,\"series\":[{\"name\":\"series0\"}]}]}\n"
     "{\"results\":[{\"statement_id\":1,\"series\":[{\"name\":\"series1\"}]}]}\n\n",
     "B 1 name=series0 labels= cols=\n"
     "B 1 name=series1 labels= cols=\n"
     "END OK \n"},
    {"time zone offsets and epoch ns",
     "{\"results\":[{\"statement_id\":0,\"series\":[{\"name\":\"c\",\"columns\":[\"time\","
     "\"count\"],\"values\":[[\"2000-10-29T01:00:00-07:00\",12],[\"2000-10-29T01:00:00+01:30\","
     "12],[1714564800000000000,-3]]}]}]}",
     "B 0 name=c labels= cols=time,count\n"
     "R t:2000-10-29T08:00:00Z|i:12\n"
     "R t:2000-10-28T23:30:00Z|i:12\n"
     "R t:2024-05-01T12:00:00Z|i:-3\n"
     "END OK \n"},
    {"numbers",
     "{\"results\":[{\"series\":[{\"columns\":[\"a\"],\"values\":[[9223372036854775807],"
     "[9223372036854775808],[18446744073709551615],[-9223372036854775808],[1e3],[-0.5e-3],"
     "[1.5E+2],[0],[-0],[0.1],[9007199254740993],[123456.789012345]]}]}]}",
     "B 0 name=- labels= cols=a\n"
     "R i:9223372036854775807\nR u:9223372036854775808\nR u:18446744073709551615\n"
     "R i:-9223372036854775808\nR f:1000\nR f:-0.0005\nR f:150\nR i:0\nR i:0\nR f:0.1\n"
     "R i:9007199254740993\nR f:123456.789012345\n"
     "END OK \n"},
    {"strings, escapes, bools, no time column",
     "{\"results\":[{\"statement_id\":0,\"series\":[{\"name\":\"databases\",\"columns\":["
     "\"name\",\"on\"],\"values\":[[\"a\\\"b\\\\c\\/d\\ne\",true],[\"\\u00e9\\ud83d\\ude00\","
     "false],[\"\",null]]}]}]}",
     "B 0 name=databases labels= cols=name,on\n"
     "R s:a\"b\\\\c/d\\ne|b:true\n"
     "R s:\xc3\xa9\xf0\x9f\x98\x80|b:false\n"
     "R s:|-\n"
     "END OK \n"},
    {"messages and unknown keys ignored, any key order",
     "{\"x\":{\"y\":[1,{\"z\":null}]},\"results\":[{\"messages\":[{\"level\":\"warning\","
     "\"text\":\"deprecated\"}],\"series\":[{\"columns\":[\"time\",\"v\"],\"extra\":[[1]],"
     "\"name\":\"h\",\"partial\":false,\"tags\":{\"a\":\"1\",\"b\":\"\"},\"values\":[["
     "\"2024-01-01T00:00:00Z\",7.25]]}],\"statement_id\":0}]}",
     "B 0 name=h labels=a=1,b= cols=time,v\n"
     "R t:2024-01-01T00:00:00Z|f:7.25\n"
     "END OK \n"},
    {"time shapes",
     "{\"results\":[{\"series\":[{\"columns\":[\"time\"],\"values\":[[\"2024-05-01T12:00:00."
     "123456789Z\"],[\"2024-02-29T23:59:59.1Z\"],[\"2023-02-29T00:00:00Z\"],[\"2024-05-01T12:00:"
     "00.1234567891Z\"],[\"2024-05-01T12:00:00.Z\"],[\"2024-05-01t12:00:00z\"],[\"2024-05-01T24:"
     "00:00Z\"],[\"1969-12-31T23:59:59.5Z\"]]}]}]}",
     "B 0 name=- labels= cols=time\n"
     "R t:2024-05-01T12:00:00.123456789Z\nR t:2024-02-29T23:59:59.1Z\nR s:2023-02-29T00:00:00Z\n"
     "R t:2024-05-01T12:00:00.123456789Z\nR s:2024-05-01T12:00:00.Z\nR t:2024-05-01T12:00:00Z\n"
     "R s:2024-05-01T24:00:00Z\nR t:1969-12-31T23:59:59.5Z\n"
     "END OK \n"},
    {"time column with a non-time string stays a string",
     "{\"results\":[{\"series\":[{\"columns\":[\"time\"],\"values\":[[\"yesterday\"]]}]}]}",
     "B 0 name=- labels= cols=time\nR s:yesterday\nEND OK \n"},
    {"truncated mid-row",
     "{\"results\":[{\"statement_id\":0,\"series\":[{\"name\":\"m\",\"columns\":[\"time\",\"f\"],"
     "\"values\":[[\"2024-05-01T12:00:00Z\",1],[\"2024-05-01T12:0",
     "B 0 name=m labels= cols=time,f\n"
     "R t:2024-05-01T12:00:00Z|i:1\n"
     "END EPARSE response ended in the middle of a JSON value\n"},
    {"truncated in a number", "{\"results\":[{\"statement_id\":12",
     "END EPARSE response ended in the middle of a JSON value\n"},
    {"empty body", "", "END EPARSE empty response\n"},
    {"whitespace body", " \r\n\t", "END EPARSE empty response\n"},
    {"malformed close", "{\"results\":[}", "END EPARSE malformed JSON: unexpected '}'\n"},
    {"missing colon", "{\"results\" []}", "END EPARSE malformed JSON: unexpected '['\n"},
    {"bad literal", "{\"results\":[nul]}", "END EPARSE malformed JSON: unexpected 'nul'\n"},
    {"bad number", "{\"results\":[{\"series\":[{\"columns\":[\"a\"],\"values\":[[01]]}]}]}",
     "B 0 name=- labels= cols=a\nEND EPARSE malformed number '01'\n"},
    {"bad escape", "{\"error\":\"a\\qb\"}", "END EPARSE malformed JSON string escape\n"},
    {"top-level array", "[1,2]", "END EPARSE expected a JSON object at the top level\n"},
    {"row arity",
     "{\"results\":[{\"series\":[{\"columns\":[\"a\",\"b\"],\"values\":[[1]]}]}]}",
     "B 0 name=- labels= cols=a,b\n"
     "END EPARSE a row has 1 values but the series has 2 columns\n"},
    {"nested row value",
     "{\"results\":[{\"series\":[{\"columns\":[\"a\"],\"values\":[[[1]]]}]}]}",
     "B 0 name=- labels= cols=a\nEND EPARSE nested value in a row of \"values\"\n"},
    {"trailing garbage after a document", "{\"results\":[]}x",
     "END EPARSE malformed JSON: unexpected 'x'\n"},
};

static void test_cases(void **state)
{
    (void)state;
    int failures = 0;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct tcase *c = &cases[i];
        for (int mode = 0; mode < 40; mode++) {
            char *got = rec_run(wg__influxql_new, c->body, strlen(c->body), mode);
            if (strcmp(got, c->want) != 0) {
                fprintf(stderr, "case '%s' mode %d\n--- want\n%s--- got\n%s", c->name, mode,
                        c->want, got);
                failures++;
                free(got);
                break;
            }
            free(got);
        }
    }
    assert_int_equal(failures, 0);
}

/* Integers past UINT64_MAX and exponents must be floats with the right value. */
struct cap1 {
    struct wg_value v[8];
    size_t n;
};
static int cap_row(void *ud, const struct wg_value *c, size_t n)
{
    struct cap1 *k = ud;
    if (n && k->n < 8) {
        k->v[k->n++] = c[0];
    }
    return 0;
}

/* The query sent n statements: an answer for another statement_id, or one without the last
 * statement's result, is an error (wg_parser_set_statements). */
static void test_statement_ids(void **state)
{
    (void)state;
    static const struct {
        int nstmt;
        const char *body;
        enum wg_err want;
        const char *msg;
    } cs[] = {
        {1, "{\"results\":[{\"statement_id\":0}]}\n", WG_OK, ""},
        {1, "{\"results\":[{\"statement_id\":3,\"series\":[{\"name\":\"m\",\"columns\":[\"v\"],"
            "\"values\":[[1]]}]}]}\n",
         WG_EPARSE,
         "the answer is for statement_id 3, but the query sent has 1 statement (ids 0 to 0)"},
        {2, "{\"results\":[{\"statement_id\":0},{\"statement_id\":1}]}\n", WG_OK, ""},
        {2, "{\"results\":[{\"statement_id\":0,\"series\":[{\"name\":\"m\",\"columns\":[\"v\"],"
            "\"values\":[[1]]}]}]}\n",
         WG_EPARSE, "truncated answer: no result for statement 1 of 2"},
        {1, "{\"results\":[{\"statement_id\":-1}]}\n", WG_EPARSE,
         "the answer is for statement_id -1, but the query sent has 1 statement (ids 0 to 0)"},
    };
    for (size_t i = 0; i < sizeof(cs) / sizeof(cs[0]); i++) {
        struct wg_parser *p = NULL;
        struct wg_sink sink = {0};
        assert_int_equal(wg_parser_new(WG_PARSE_INFLUXQL_JSON, &sink, &p), WG_OK);
        wg_parser_set_statements(p, cs[i].nstmt);
        enum wg_err e = wg_parser_feed(p, cs[i].body, strlen(cs[i].body));
        if (e == WG_OK) {
            e = wg_parser_finish(p);
        }
        if (e != cs[i].want || strcmp(wg_parser_error(p), cs[i].msg) != 0) {
            print_error("case %zu: want %d \"%s\" got %d \"%s\"\n", i, cs[i].want, cs[i].msg, e,
                        wg_parser_error(p));
            wg_parser_free(p);
            fail();
        }
        wg_parser_free(p);
    }
}

static void test_big_floats(void **state)
{
    (void)state;
    const char *body = "{\"results\":[{\"series\":[{\"columns\":[\"a\"],\"values\":["
                       "[18446744073709551616],[1.7976931348623157e308],[2.5e-310],"
                       "[0.30000000000000004]]}]}]}";
    struct cap1 k = {0};
    struct wg_sink sink = {NULL, cap_row, &k};
    char err[128];
    assert_int_equal(wg_collector_parse_buffer(WG_PARSE_INFLUXQL_JSON, (const uint8_t *)body, strlen(body),
                                     &sink, err, sizeof(err)),
                     WG_OK);
    assert_int_equal(k.n, 4);
    const double want[] = {18446744073709551616.0, 1.7976931348623157e308, 2.5e-310,
                           0.30000000000000004};
    for (size_t i = 0; i < 4; i++) {
        if (k.v[i].t != WG_V_FLOAT || k.v[i].u.f != want[i]) {
            fprintf(stderr, "value %zu: want %.17g got type %d %.17g\n", i, want[i], k.v[i].t,
                    k.v[i].u.f);
        }
        assert_int_equal(k.v[i].t, WG_V_FLOAT);
        assert_true(k.v[i].u.f == want[i]);
    }
}

/* A sink that aborts stops the parse; the parser reports it and takes no more input. */
static int stop_row(void *ud, const struct wg_value *c, size_t n)
{
    (void)c;
    (void)n;
    return ++*(int *)ud >= 2;
}

static void test_sink_abort(void **state)
{
    (void)state;
    const char *body = "{\"results\":[{\"series\":[{\"columns\":[\"a\"],\"values\":[[1],[2],[3]]}"
                       "]}]}";
    int rows = 0;
    struct wg_sink sink = {NULL, stop_row, &rows};
    char err[128];
    enum wg_err e = wg_collector_parse_buffer(WG_PARSE_INFLUXQL_JSON, (const uint8_t *)body, strlen(body),
                                    &sink, err, sizeof(err));
    assert_int_equal(e, WG_EINVAL);
    assert_int_equal(rows, 2);
    assert_string_equal(err, "stopped by the consumer");
}

/* Series sink over InfluxQL: the value column by name, nulls skipped, labels = tags. */
static void test_series_sink(void **state)
{
    (void)state;
    const char *body =
        "{\"results\":[{\"statement_id\":0,\"series\":[{\"name\":\"http\",\"tags\":{\"host\":"
        "\"a\"},\"columns\":[\"time\",\"mean\",\"p95\"],\"values\":[[\"2024-05-01T12:00:00Z\",1,"
        "null],[\"2024-05-01T12:00:10Z\",2,250.5]]}]}]}";
    struct wg_seriesset ss = {0};
    struct wg_series_sink sk;
    struct wg_sink sink;
    char err[128];
    wg_series_sink_init(&sk, &ss, "p95", &sink);
    assert_int_equal(wg_collector_parse_buffer(WG_PARSE_INFLUXQL_JSON, (const uint8_t *)body, strlen(body),
                                     &sink, err, sizeof(err)),
                     WG_OK);
    assert_int_equal(ss.n, 1);
    assert_int_equal(ss.s[0].n, 1);
    assert_true(ss.s[0].v[0] == 250.5);
    assert_int_equal(ss.s[0].t[0], INT64_C(1714564810) * WG_NS_PER_SEC);
    assert_int_equal(ss.s[0].nlabels, 1);
    assert_string_equal(ss.s[0].labels[0].key, "host");
    assert_string_equal(ss.s[0].labels[0].value, "a");
    wg_seriesset_free(&ss);
    wg_series_sink_done(&sk);

    /* default column: the first that is not time */
    wg_series_sink_init(&sk, &ss, NULL, &sink);
    assert_int_equal(wg_collector_parse_buffer(WG_PARSE_INFLUXQL_JSON, (const uint8_t *)body, strlen(body),
                                     &sink, err, sizeof(err)),
                     WG_OK);
    assert_int_equal(ss.s[0].n, 2);
    assert_true(ss.s[0].v[1] == 2.0);
    wg_seriesset_free(&ss);
    wg_series_sink_done(&sk);

    /* missing column */
    wg_series_sink_init(&sk, &ss, "p99", &sink);
    assert_int_equal(wg_collector_parse_buffer(WG_PARSE_INFLUXQL_JSON, (const uint8_t *)body, strlen(body),
                                     &sink, err, sizeof(err)),
                     WG_EINVAL);
    assert_string_equal(sk.err, "no column named p99 (columns: time, mean, p95)");
    wg_seriesset_free(&ss);
    wg_series_sink_done(&sk);

    /* a string value column */
    const char *sbody = "{\"results\":[{\"series\":[{\"columns\":[\"time\",\"host\"],\"values\":"
                        "[[1,\"a\"]]}]}]}";
    wg_series_sink_init(&sk, &ss, NULL, &sink);
    assert_int_equal(wg_collector_parse_buffer(WG_PARSE_INFLUXQL_JSON, (const uint8_t *)sbody,
                                     strlen(sbody), &sink, err, sizeof(err)),
                     WG_EINVAL);
    assert_string_equal(sk.err, "column host is not numeric");
    wg_seriesset_free(&ss);
    wg_series_sink_done(&sk);
}

/* Table sink: deep copies survive the parser. */
static void test_table_sink(void **state)
{
    (void)state;
    const char *body =
        "{\"results\":[{\"statement_id\":3,\"series\":[{\"name\":\"m\",\"tags\":{\"k\":\"v\"},"
        "\"columns\":[\"time\",\"s\",\"n\"],\"values\":[[\"2024-05-01T12:00:00Z\",\"x\",1],"
        "[\"2024-05-01T12:00:01Z\",\"y\",null]]}]}]}";
    struct wg_tableset ts = {0};
    struct wg_sink sink;
    char err[128];
    wg_table_sink_init(&ts, &sink);
    assert_int_equal(wg_collector_parse_buffer(WG_PARSE_INFLUXQL_JSON, (const uint8_t *)body, strlen(body),
                                     &sink, err, sizeof(err)),
                     WG_OK);
    assert_int_equal(ts.n, 1);
    struct wg_table *t = &ts.t[0];
    assert_string_equal(t->result, "3");
    assert_string_equal(t->name, "m");
    assert_int_equal(t->nlabels, 1);
    assert_string_equal(t->labels[0].value, "v");
    assert_int_equal(t->ncols, 3);
    assert_int_equal(t->nrows, 2);
    assert_int_equal(t->cells[1].t, WG_V_STRING);
    assert_string_equal(t->cells[4].s, "y");
    assert_int_equal(t->cells[5].t, WG_V_NULL);
    assert_int_equal(t->cells[3].t, WG_V_TIME);
    wg_tableset_free(&ts);
    wg_tableset_free(&ts); /* idempotent */
    wg_tableset_free(NULL);
}

/* The JSON pieces say which failure it was: bad syntax (the peer's answer) apart from a full
 * buffer (our cap), both once a plain -1. */
static void test_json_piece_errors(void **state)
{
    (void)state;
    struct wg_buf b;
    struct wg_value v;
    wg_buf_init(&b, 8);
    assert_int_equal(wg__json_unescape(&b, "a\\nb", 4), WG_OK);
    assert_string_equal(b.p, "a\nb");
    assert_int_equal(wg__json_unescape(&b, "a\\qb", 4), WG_EPARSE);
    assert_int_equal(wg__json_unescape(&b, "0123456789", 10), WG_ETOOBIG);
    wg_buf_free(&b);
    assert_int_equal(wg__json_number("12", 2, &v), WG_OK);
    assert_int_equal(v.t, WG_V_INT);
    assert_int_equal(wg__json_number("01", 2, &v), WG_EPARSE);
    assert_int_equal(wg__json_number("1.", 2, &v), WG_EPARSE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cases),        cmocka_unit_test(test_big_floats),
        cmocka_unit_test(test_sink_abort),   cmocka_unit_test(test_series_sink),
        cmocka_unit_test(test_table_sink),   cmocka_unit_test(test_statement_ids),
        cmocka_unit_test(test_json_piece_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

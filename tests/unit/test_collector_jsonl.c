/* test_collector_jsonl.c — the InfluxDB 3 JSON Lines parser (collector_jsonl.c): bodies written
 * to reference/influxdb-wire-formats.md §3.2 (format=jsonl), fed whole, byte by byte and in
 * random splits; the begin/row/END transcript must match exactly.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "tests/unit/collector_recsink.h"

struct jcase {
    const char *name;
    const char *body;
    const char *want;
};

/* The bodies are laid out as they are on the wire. */
/* clang-format off */
static const struct jcase cases[] = {
    {"influxql rows: measurement is the table name, time without zone is UTC",
     "{\"iox::measurement\":\"cpu\",\"time\":\"2065-01-07T17:28:51\",\"host\":\"a\","
     "\"usage\":0.9}\n"
     "{\"iox::measurement\":\"cpu\",\"time\":\"2065-01-07T17:28:52.25\",\"host\":\"b\","
     "\"usage\":1}\n",
     "B 0 name=cpu labels= cols=time,host,usage\n"
     "R t:2065-01-07T17:28:51Z|s:a|f:0.9\n"
     "R t:2065-01-07T17:28:52.25Z|s:b|i:1\n"
     "END OK \n"},
    {"sql rows: absent key is null, key order may vary",
     "{\"time\":\"2024-05-01T00:00:00\",\"host\":\"a\",\"v\":1.5}\n"
     "{\"v\":2.5,\"time\":\"2024-05-01T00:00:01\"}\n",
     "B 0 name=- labels= cols=time,host,v\n"
     "R t:2024-05-01T00:00:00Z|s:a|f:1.5\n"
     "R t:2024-05-01T00:00:01Z|-|f:2.5\n"
     "END OK \n"},
    {"a new key starts a new table with the union of columns",
     "{\"time\":\"2024-05-01T00:00:00\",\"v\":1}\n"
     "{\"time\":\"2024-05-01T00:00:01\",\"err\":\"x\"}\n"
     "{\"time\":\"2024-05-01T00:00:02\",\"v\":3}\n",
     "B 0 name=- labels= cols=time,v\n"
     "R t:2024-05-01T00:00:00Z|i:1\n"
     "B 0 name=- labels= cols=time,v,err\n"
     "R t:2024-05-01T00:00:01Z|-|s:x\n"
     "R t:2024-05-01T00:00:02Z|i:3|-\n"
     "END OK \n"},
    {"another measurement starts a table with its own columns",
     "{\"iox::measurement\":\"cpu\",\"time\":\"2024-05-01T00:00:00Z\",\"a\":1}\n"
     "{\"iox::measurement\":\"mem\",\"time\":\"2024-05-01T00:00:00+02:00\",\"b\":true}\n",
     "B 0 name=cpu labels= cols=time,a\n"
     "R t:2024-05-01T00:00:00Z|i:1\n"
     "B 0 name=mem labels= cols=time,b\n"
     "R t:2024-04-30T22:00:00Z|b:true\n"
     "END OK \n"},
    {"numbers: int64 and uint64 exact, beyond is double, fractions and exponents",
     "{\"a\":-9223372036854775808,\"b\":18446744073709551615,\"c\":18446744073709551616,"
     "\"d\":-0.5e-3,\"e\":0,\"f\":1E2}\n",
     "B 0 name=- labels= cols=a,b,c,d,e,f\n"
     "R i:-9223372036854775808|u:18446744073709551615|f:1.8446744073709552e+19|f:-0.0005|i:0|"
     "f:100\n"
     "END OK \n"},
    {"strings: escapes, unicode, surrogate pairs; nested values kept as JSON text",
     "{\"s\":\"a\\\"b\\\\c\\/d\\n\\t\\u00e9\\ud83d\\ude00\\ud800x\",\"n\":null,\"o\":{\"k\":[1,"
     "\"]}\"]},\"b\":false}\n",
     "B 0 name=- labels= cols=s,n,o,b\n"
     "R s:a\"b\\\\c/d\\n\t\xc3\xa9\xf0\x9f\x98\x80\xef\xbf\xbdx|-|s:{\"k\":[1,\"]}\"]}|b:false\n"
     "END OK \n"},
    {"CRLF and blank lines",
     "{\"v\":1}\r\n\r\n  \n{\"v\":2}\n  ",
     "B 0 name=- labels= cols=v\nR i:1\nR i:2\nEND OK \n"},
    /* Every line ends with \n: one without it was cut, even when it reads as an object. */
    {"truncated: the last line has no line break",
     "{\"v\":1000}\n{\"v\":1}",
     "B 0 name=- labels= cols=v\nR i:1000\n"
     "END EPARSE line 2: truncated answer: the last line has no line break\n"},
    {"an error line after data is a query error",
     "{\"v\":1}\n{\"error\": \"query exceeded its memory budget\"}\n",
     "B 0 name=- labels= cols=v\nR i:1\n"
     "END EQUERY line 2: query exceeded its memory budget\n"},
    {"a key twice in one line",
     "{\"v\":1,\"w\":2,\"v\":3}\n",
     "END EPARSE line 1: duplicate key \"v\"\n"},
    {"empty body (no rows)", "", "END OK \n"},
    {"empty object", "{}\n", "B 0 name=- labels= cols=\nR\nEND OK \n"},
    {"a line that is not an object",
     "{\"v\":1}\n[{\"v\":2}]\n",
     "B 0 name=- labels= cols=v\nR i:1\nEND EPARSE line 2: not a JSON object\n"},
    {"a plain-text line",
     "error in InfluxQL statement: parsing error\n",
     "END EPARSE line 1: not a JSON object\n"},
    {"truncated object at the end of the body",
     "{\"v\":1}\n{\"v\":",
     "B 0 name=- labels= cols=v\nR i:1\n"
     "END EPARSE line 2: truncated answer: the last line has no line break\n"},
    {"two objects on one line",
     "{\"v\":1} {\"v\":2}\n",
     "END EPARSE line 1: text after the object at byte 8\n"},
    {"NaN is not JSON",
     "{\"v\":NaN}\n",
     "END EPARSE line 1: bad value for \"v\" at byte 5\n"},
    {"leading zero is not JSON",
     "{\"v\":01}\n",
     "END EPARSE line 1: expected ',' or '}' at byte 6\n"},
    {"control character inside a string",
     "{\"v\":\"a\tb\"}\n",
     "END EPARSE line 1: bad value for \"v\" at byte 8\n"},
    {"bad time",
     "{\"time\":\"yesterday\"}\n",
     "END EPARSE line 1: bad time \"yesterday\"\n"},
    {"missing colon",
     "{\"v\" 1}\n",
     "END EPARSE line 1: missing ':' at byte 5\n"},
};
/* clang-format on */

static void test_cases(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct jcase *c = &cases[i];
        for (int mode = 0; mode < 8; mode++) {
            char *got = rec_run(wg__jsonl_new, c->body, strlen(c->body), mode);
            int same = strcmp(got, c->want) == 0;
            if (!same) {
                print_error("case \"%s\", feed mode %d\n--- want\n%s--- got\n%s", c->name, mode,
                            c->want, got);
            }
            free(got); /* once, before fail_msg (gcc -O2: use after free otherwise) */
            if (!same) {
                fail_msg("case \"%s\" failed", c->name);
            }
        }
    }
}

/* A line longer than the cap is WG_ETOOBIG, found while it streams in. */
static void test_line_cap(void **state)
{
    (void)state;
    void *st;
    const struct wg__parser_ops *ops;
    static char chunk[1 << 16];
    memset(chunk, ' ', sizeof(chunk));
    chunk[0] = '{';
    assert_int_equal(wg__jsonl_new(NULL, &st, &ops), WG_OK);
    enum wg_err e = WG_OK;
    int i;
    for (i = 0; i < 100 && e == WG_OK; i++) {
        e = ops->feed(st, chunk, sizeof(chunk));
        chunk[0] = ' ';
    }
    assert_int_equal(e, WG_ETOOBIG);
    assert_true(i <= 17); /* 1 MiB cap, 64 KiB pieces */
    ops->free(st);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cases),
        cmocka_unit_test(test_line_cap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

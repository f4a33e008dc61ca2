/* test_collector_fluxcsv.c — the streaming Flux annotated-CSV parser (collector_fluxcsv.c):
 * every trap of reference/influxdb-wire-formats.md §2.2, each body written here to the spec
 * and fed whole, byte by byte and in random splits; the full begin/row/END transcript must
 * match. Plus the fast time and double paths checked against wg_time_parse and strtod.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "tests/unit/collector_recsink.h"

struct fcase {
    const char *name;
    const char *body;
    const char *want;
};

/* The bodies are laid out as they are on the wire. */
/* clang-format off */
/* A compact schema used by most cases: _time, _measurement*, host*, _value (double). */
#define ANN "#datatype,string,long,dateTime:RFC3339,string,string,double\r\n"                  \
            "#group,false,false,false,true,true,false\r\n"
#define HDR ",result,table,_time,_measurement,host,_value\r\n"
#define COLS "cols=_time:dateTime:RFC3339,_measurement:string,host:string,_value:double\n"
#define BEGIN(res, m, h) "B " res " name=- labels=_measurement=" m ",host=" h " " COLS

static const struct fcase cases[] = {
    {"single result",
     ANN "#default,_result,,,,,\r\n" HDR
         ",,0,2024-05-01T12:00:00Z,cpu,a,42\r\n"
         ",,0,2024-05-01T12:00:10.5Z,cpu,a,43.25\r\n"
         "\r\n",
     BEGIN("_result", "cpu", "a")
     "R t:2024-05-01T12:00:00Z|s:cpu|s:a|f:42\n"
     "R t:2024-05-01T12:00:10.5Z|s:cpu|s:a|f:43.25\n"
     "END OK \n"},
    {"two tables under one header, told apart by the table column",
     ANN "#default,_result,,,,,\r\n" HDR
         ",,0,2024-05-01T12:00:00Z,cpu,a,1\r\n"
         ",,1,2024-05-01T12:00:00Z,cpu,b,2\r\n"
         ",,1,2024-05-01T12:00:01Z,cpu,b,3\r\n"
         "\r\n",
     BEGIN("_result", "cpu", "a")
     "R t:2024-05-01T12:00:00Z|s:cpu|s:a|f:1\n"
     BEGIN("_result", "cpu", "b")
     "R t:2024-05-01T12:00:00Z|s:cpu|s:b|f:2\n"
     "R t:2024-05-01T12:00:01Z|s:cpu|s:b|f:3\n"
     "END OK \n"},
    {"group-key column change starts a new block",
     ANN "#default,_result,,,,,\r\n" HDR
         ",,0,2024-05-01T12:00:00Z,cpu,a,1\r\n"
         "\r\n"
         "#datatype,string,long,dateTime:RFC3339,string,string,double\r\n"
         "#group,false,false,false,true,false,false\r\n"
         "#default,_result,,,,,\r\n" HDR
         ",,1,2024-05-01T12:00:00Z,cpu,a,2\r\n"
         "\r\n",
     BEGIN("_result", "cpu", "a")
     "R t:2024-05-01T12:00:00Z|s:cpu|s:a|f:1\n"
     "B _result name=- labels=_measurement=cpu " COLS
     "R t:2024-05-01T12:00:00Z|s:cpu|s:a|f:2\n"
     "END OK \n"},
    {"two results, table ids restart at 0",
     ANN "#default,_result,,,,,\r\n" HDR
         ",,0,2024-05-01T12:00:00Z,cpu,a,1\r\n"
         "\r\n" ANN "#default,p99,,,,,\r\n" HDR
         ",,0,2024-05-01T12:00:00Z,cpu,a,812.5\r\n"
         "\r\n",
     BEGIN("_result", "cpu", "a")
     "R t:2024-05-01T12:00:00Z|s:cpu|s:a|f:1\n"
     BEGIN("p99", "cpu", "a")
     "R t:2024-05-01T12:00:00Z|s:cpu|s:a|f:812.5\n"
     "END OK \n"},
    {"empty table: begin with the #default group key, no rows",
     ANN "#default,_result,0,,mem,z,\r\n" HDR "\r\n",
     BEGIN("_result", "mem", "z") "END OK \n"},
    {"empty table then a table with rows",
     ANN "#default,_result,0,,mem,z,\r\n" HDR "\r\n"
         ANN "#default,_result,,,,,\r\n" HDR
         ",,1,2024-05-01T12:00:00Z,cpu,a,5\r\n\r\n",
     BEGIN("_result", "mem", "z")
     BEGIN("_result", "cpu", "a")
     "R t:2024-05-01T12:00:00Z|s:cpu|s:a|f:5\n"
     "END OK \n"},
    {"error after a result: rows delivered, then EQUERY",
     ANN "#default,mean,,,,,\r\n" HDR
         ",,0,2024-05-01T12:00:00Z,cpu,a,40\r\n"
         "\r\n\r\n"
         "#datatype,string,string\r\n#group,true,true\r\n#default,,\r\n"
         ",error,reference\r\n"
         ",panic: runtime error,\r\n",
     BEGIN("mean", "cpu", "a")
     "R t:2024-05-01T12:00:00Z|s:cpu|s:a|f:40\n"
     "END EQUERY panic: runtime error\n"},
    {"empty table then error",
     ANN "#default,_result,0,,mem,z,\r\n" HDR "\r\n"
         "#datatype,string,string\r\n#group,true,true\r\n#default,,\r\n"
         ",error,reference\r\n,boom,\r\n",
     BEGIN("_result", "mem", "z") "END EQUERY boom\n"},
    {"error only, quoted message with a comma, with a reference",
     "#datatype,string,string\r\n#group,true,true\r\n#default,,\r\n"
     ",error,reference\r\n"
     ",\"compile failed: a, b\",1234\r\n",
     "END EQUERY compile failed: a, b (reference 1234)\n"},
    {"error without annotations and without a trailing newline",
     ",error,reference\r\n,too many points,",
     "END EQUERY too many points\n"},
    {"error header and the body ends",
     ",error,reference\r\n",
     "END EQUERY query error (the body ended before the message)\n"},
    {"error block right after rows, no blank line",
     ANN "#default,_result,,,,,\r\n" HDR
         ",,0,2024-05-01T12:00:00Z,cpu,a,1\r\n"
         ",error,reference\r\n,late failure,\r\n",
     BEGIN("_result", "cpu", "a")
     "R t:2024-05-01T12:00:00Z|s:cpu|s:a|f:1\n"
     "END EQUERY late failure\n"},
    {"user columns named result, table and error are data",
     "#datatype,string,long,string,string,string,double\r\n"
     "#group,false,false,true,true,false,false\r\n"
     "#default,_result,,,,,\r\n"
     ",result,table,result,table,error,_value\r\n"
     ",,0,r1,t1,e1,7\r\n\r\n",
     "B _result name=- labels=result=r1,table=t1 "
     "cols=result:string,table:string,error:string,_value:double\n"
     "R s:r1|s:t1|s:e1|f:7\n"
     "END OK \n"},
    {"no annotations: strings, _value and times inferred",
     HDR ",_result,0,2024-05-01T12:00:00Z,cpu,a,42\r\n"
         ",_result,0,2024-05-01T12:00:01Z,cpu,a,42.5\r\n"
         ",_result,1,2024-05-01T12:00:00Z,mem,a,18446744073709551615\r\n"
         ",_result,1,not-a-time,mem,a,n/a\r\n\r\n",
     "B _result name=- labels=_measurement=cpu,host=a cols=_time,_measurement,host,_value\n"
     "R t:2024-05-01T12:00:00Z|s:cpu|s:a|i:42\n"
     "R t:2024-05-01T12:00:01Z|s:cpu|s:a|f:42.5\n"
     "B _result name=- labels=_measurement=mem,host=a cols=_time,_measurement,host,_value\n"
     "R t:2024-05-01T12:00:00Z|s:mem|s:a|u:18446744073709551615\n"
     "R s:not-a-time|s:mem|s:a|s:n/a\n"
     "END OK \n"},
    {"#default fills empty result, table and data cells",
     "#datatype,string,long,dateTime:RFC3339,dateTime:RFC3339,string,double\r\n"
     "#group,false,false,true,false,true,false\r\n"
     "#default,_result,3,2024-05-01T00:00:00Z,,cpu,\r\n"
     ",result,table,_start,_time,_measurement,_value\r\n"
     ",,,,2024-05-01T00:00:01Z,,1.5\r\n"
     ",,,,2024-05-01T00:00:02Z,gpu,\r\n\r\n",
     "B _result name=- labels=_measurement=cpu "
     "cols=_start:dateTime:RFC3339,_time:dateTime:RFC3339,_measurement:string,_value:double\n"
     "R t:2024-05-01T00:00:00Z|t:2024-05-01T00:00:01Z|s:cpu|f:1.5\n"
     "R t:2024-05-01T00:00:00Z|t:2024-05-01T00:00:02Z|s:gpu|-\n"
     "END OK \n"},
    {"differing schemas in one result",
     ANN "#default,_result,,,,,\r\n" HDR
         ",,0,2024-05-01T12:00:00Z,cpu,a,1\r\n\r\n"
         "#datatype,string,long,string,long,boolean\r\n"
         "#group,false,false,true,false,false\r\n"
         "#default,_result,,,,\r\n"
         ",result,table,region,count,ok\r\n"
         ",,1,eu,-9223372036854775808,true\r\n"
         ",,1,eu,9223372036854775807,false\r\n\r\n",
     BEGIN("_result", "cpu", "a")
     "R t:2024-05-01T12:00:00Z|s:cpu|s:a|f:1\n"
     "B _result name=- labels=region=eu cols=region:string,count:long,ok:boolean\n"
     "R s:eu|i:-9223372036854775808|b:true\n"
     "R s:eu|i:9223372036854775807|b:false\n"
     "END OK \n"},
    {"quoted fields: commas, doubled quotes, CRLF and LF inside",
     "#datatype,string,long,string,string\r\n"
     "#group,false,false,true,false\r\n"
     "#default,_result,,,\r\n"
     ",result,table,k,msg\r\n"
     ",,0,x,\"a,b\"\r\n"
     ",,0,x,\"say \"\"hi\"\"\"\r\n"
     ",,0,x,\"line1\r\nline2\"\r\n"
     ",,0,x,\"l1\nl2,\"\"\r\n\"\"\"\r\n"
     ",,0,\"x\",\"\"\r\n"
     ",,0,x,\" lead\"\r\n\r\n",
     "B _result name=- labels=k=x cols=k:string,msg:string\n"
     "R s:x|s:a,b\n"
     "R s:x|s:say \"hi\"\n"
     "R s:x|s:line1\\nline2\n"
     "R s:x|s:l1\\nl2,\"\\n\"\n"
     "R s:x|-\n"
     "R s:x|s: lead\n"
     "END OK \n"},
    {"unknown annotations ignored, even one-field ones",
     "#datatype,string,long,string,double\r\n"
     "#unsupportedAnnotation\r\n"
     "#group,false,false,true,false\r\n"
     "#future,a,b,c,d,e,f,g\r\n"
     "#default,_result,,,\r\n"
     ",result,table,k,_value\r\n"
     ",,0,x,1\r\n\r\n",
     "B _result name=- labels=k=x cols=k:string,_value:double\n"
     "R s:x|f:1\n"
     "END OK \n"},
    {"double: integers, NaN, +Inf, -Inf, exponent, long mantissa",
     "#datatype,string,long,string,double\r\n"
     "#group,false,false,true,false\r\n"
     "#default,_result,,,\r\n"
     ",result,table,k,_value\r\n"
     ",,0,x,42\r\n,,0,x,-0.125\r\n,,0,x,NaN\r\n,,0,x,+Inf\r\n,,0,x,-Inf\r\n"
     ",,0,x,1e300\r\n,,0,x,0.1000000000000000055511151231257827\r\n"
     ",,0,x,123456789012345678901234567890\r\n\r\n",
     "B _result name=- labels=k=x cols=k:string,_value:double\n"
     "R s:x|f:42\nR s:x|f:-0.125\nR s:x|f:nan\nR s:x|f:inf\nR s:x|f:-inf\n"
     "R s:x|f:1e+300\nR s:x|f:0.1\nR s:x|f:1.2345678901234568e+29\n"
     "END OK \n"},
    {"unsignedLong above INT64_MAX stays exact; empty is null",
     "#datatype,string,long,string,unsignedLong\r\n"
     "#group,false,false,true,false\r\n"
     "#default,_result,,,\r\n"
     ",result,table,k,n\r\n"
     ",,0,x,17916881237904312345\r\n,,0,x,18446744073709551615\r\n,,0,x,\r\n\r\n",
     "B _result name=- labels=k=x cols=k:string,n:unsignedLong\n"
     "R s:x|u:17916881237904312345\nR s:x|u:18446744073709551615\nR s:x|-\n"
     "END OK \n"},
    {"empty string and quoted empty string both take the default",
     "#datatype,string,long,string,string,string\r\n"
     "#group,false,false,true,false,false\r\n"
     "#default,_result,,,nana,\r\n"
     ",result,table,k,owner,v\r\n"
     ",,0,x,,\r\n,,0,x,\"\",\"\"\r\n,,0,x,bob,z\r\n\r\n",
     "B _result name=- labels=k=x cols=k:string,owner:string,v:string\n"
     "R s:x|s:nana|-\nR s:x|s:nana|-\nR s:x|s:bob|s:z\n"
     "END OK \n"},
    {"annotation order varied: default, group, datatype",
     "#default,_result,,,\r\n"
     "#group,false,false,true,false\r\n"
     "#datatype,string,long,string,long\r\n"
     ",result,table,k,n\r\n,,0,x,-5\r\n\r\n",
     "B _result name=- labels=k=x cols=k:string,n:long\nR s:x|i:-5\nEND OK \n"},
    {"LF line ends",
     "#datatype,string,long,string,double\n#group,false,false,true,false\n"
     "#default,_result,,,\n,result,table,k,_value\n,,0,x,1\n,,0,x,2\n\n",
     "B _result name=- labels=k=x cols=k:string,_value:double\nR s:x|f:1\nR s:x|f:2\n"
     "END OK \n"},
    /* A cut answer is never data: the cut value (1 of 1000) must not be judged. */
    {"truncated: the last row has no line break",
     "#datatype,string,long,string,double\n#group,false,false,true,false\n"
     "#default,_result,,,\n,result,table,k,_value\n,,0,x,5\n,,0,x,1",
     "B _result name=- labels=k=x cols=k:string,_value:double\nR s:x|f:5\n"
     "END EPARSE truncated answer: record 6 has no line break (the body was cut)\n"},
    {"truncated: complete rows but no blank line after the result",
     ANN "#default,_result,,,,,\r\n" HDR ",,0,2024-05-01T12:00:00Z,cpu,a,1000\r\n",
     BEGIN("_result", "cpu", "a")
     "R t:2024-05-01T12:00:00Z|s:cpu|s:a|f:1000\n"
     "END EPARSE truncated answer: the body ended inside a table, without the blank line "
     "that ends every result\n"},
    {"truncated: cut inside the final CRLF CRLF",
     ANN "#default,_result,,,,,\r\n" HDR ",,0,2024-05-01T12:00:00Z,cpu,a,1000\r\n\r",
     BEGIN("_result", "cpu", "a")
     "R t:2024-05-01T12:00:00Z|s:cpu|s:a|f:1000\n"
     "END EPARSE truncated answer: record 6 has no line break (the body was cut)\n"},
    {"truncated: header only",
     ANN "#default,_result,,,,,\r\n" HDR,
     "END EPARSE truncated answer: the body ended inside a table, without the blank line "
     "that ends every result\n"},
    {"truncated: empty table without its blank line",
     "#datatype,string,long,string\r\n#group,false,false,true\r\n#default,_result,0,x\r\n"
     ",result,table,k\r\n",
     "END EPARSE truncated answer: the body ended inside a table, without the blank line "
     "that ends every result\n"},
    {"a new block without a blank line",
     ANN "#default,_result,,,,,\r\n" HDR ",,0,2024-05-01T12:00:00Z,cpu,a,1\r\n"
         "#datatype,string,long,string\r\n#group,false,false,false\r\n#default,_result,,\r\n"
         ",result,table,s\r\n,,1,x\r\n\r\n",
     BEGIN("_result", "cpu", "a")
     "R t:2024-05-01T12:00:00Z|s:cpu|s:a|f:1\n"
     "B _result name=- labels= cols=s:string\nR s:x\nEND OK \n"},
    {"dateTime: 0-9 fraction digits, offsets, pre-1970, RFC3339Nano label",
     "#datatype,string,long,dateTime:RFC3339Nano\r\n#group,false,false,false\r\n"
     "#default,_result,,\r\n,result,table,t\r\n"
     ",,0,1970-01-01T00:00:00.000000001Z\r\n"
     ",,0,2024-02-29T23:59:59.123456789Z\r\n"
     ",,0,2000-10-29T01:00:00-07:00\r\n"
     ",,0,1969-12-31T23:59:59.9Z\r\n"
     ",,0,1677-09-21T00:12:43.145224192Z\r\n"
     ",,0,2262-04-11T23:47:16.854775807Z\r\n\r\n",
     "B _result name=- labels= cols=t:dateTime:RFC3339Nano\n"
     "R t:1970-01-01T00:00:00.000000001Z\nR t:2024-02-29T23:59:59.123456789Z\n"
     "R t:2000-10-29T08:00:00Z\nR t:1969-12-31T23:59:59.9Z\n"
     "R t:1677-09-21T00:12:43.145224192Z\nR t:2262-04-11T23:47:16.854775807Z\n"
     "END OK \n"},
    {"duration, base64Binary and unknown types are strings",
     "#datatype,string,long,duration,base64Binary,int,dateTime:number\r\n"
     "#group,false,false,false,false,false,false\r\n#default,_result,,,,,\r\n"
     ",result,table,d,b,i,n\r\n,,0,1m1s,ZGF0YQ==,5,1714564800\r\n\r\n",
     "B _result name=- labels= cols=d:duration,b:base64Binary,i:int,n:dateTime:number\n"
     "R s:1m1s|s:ZGF0YQ==|s:5|s:1714564800\nEND OK \n"},
    {"zero tables: the body is one blank line", "\r\n", "END OK \n"},
    {"empty body is a cut answer", "",
     "END EPARSE empty body (a Flux answer ends with a blank line, even without tables)\n"},
    {"truncated inside a quoted field",
     "#datatype,string,long,string\r\n#group,false,false,false\r\n#default,_result,,\r\n"
     ",result,table,s\r\n,,0,\"abc\r\ndef",
     "END EPARSE the body ended inside a quoted field (record 5)\n"},
    {"bad long",
     "#datatype,string,long,long\r\n#group,false,false,false\r\n#default,_result,,\r\n"
     ",result,table,n\r\n,,0,12x\r\n",
     "B _result name=- labels= cols=n:long\n"
     "END EPARSE record 5: column n: bad long value \"12x\"\n"},
    {"long overflow",
     "#datatype,string,long,long\r\n#group,false,false,false\r\n#default,_result,,\r\n"
     ",result,table,n\r\n,,0,9223372036854775808\r\n",
     "B _result name=- labels= cols=n:long\n"
     "END EPARSE record 5: column n: bad long value \"9223372036854775808\"\n"},
    {"bad boolean is not guessed",
     "#datatype,string,long,boolean\r\n#group,false,false,false\r\n#default,_result,,\r\n"
     ",result,table,b\r\n,,0,True\r\n",
     "B _result name=- labels= cols=b:boolean\n"
     "END EPARSE record 5: column b: bad boolean value \"True\"\n"},
    {"dateTime beyond int64 nanoseconds",
     "#datatype,string,long,dateTime:RFC3339\r\n#group,false,false,false\r\n"
     "#default,_result,,\r\n,result,table,t\r\n,,0,1677-09-21T00:12:43.145224191Z\r\n",
     "B _result name=- labels= cols=t:dateTime:RFC3339\n"
     "END EPARSE record 5: column t: bad dateTime value \"1677-09-21T00:12:43.145224191Z\"\n"},
    {"bad dateTime",
     "#datatype,string,long,dateTime:RFC3339\r\n#group,false,false,false\r\n"
     "#default,_result,,\r\n,result,table,t\r\n,,0,2024-02-30T00:00:00Z\r\n",
     "B _result name=- labels= cols=t:dateTime:RFC3339\n"
     "END EPARSE record 5: column t: bad dateTime value \"2024-02-30T00:00:00Z\"\n"},
    {"row with the wrong field count",
     "#datatype,string,long,string\r\n#group,false,false,false\r\n#default,_result,,\r\n"
     ",result,table,s\r\n,,0,a,b\r\n",
     "END EPARSE record 5: 5 fields, the header has 4\n"},
    {"annotation with the wrong field count",
     "#datatype,string,long,string\r\n#group,false,false\r\n,result,table,s\r\n",
     "END EPARSE record 3: #group has 3 fields, the header 4\n"},
    {"bare quote in an unquoted field",
     "#datatype,string,long,string\r\n#group,false,false,false\r\n#default,_result,,\r\n"
     ",result,table,s\r\n,,0,ab\"c\"\r\n",
     "END EPARSE record 5: bare quote in an unquoted field\n"},
    {"text after a closing quote",
     "#datatype,string,long,string\r\n#group,false,false,false\r\n#default,_result,,\r\n"
     ",result,table,s\r\n,,0,\"ab\"c\r\n",
     "END EPARSE record 5: text after a closing quote\n"},
    {"annotations and no header",
     "#datatype,string,long,string\r\n#group,false,false,false\r\n",
     "END EPARSE the body ended after annotations without a header\n"},
};
/* clang-format on */

static void run_case(const struct fcase *c)
{
    size_t len = strlen(c->body);
    int fails = 0;
    for (int mode = 0; mode < 8; mode++) {
        char *got = rec_run(wg__fluxcsv_new, c->body, len, mode);
        if (strcmp(got, c->want) != 0) {
            print_error("case \"%s\", feed mode %d\n--- want\n%s--- got\n%s", c->name, mode,
                        c->want, got);
            fails++;
        }
        free(got);
        if (fails) {
            break;
        }
    }
    if (fails) {
        fail_msg("case \"%s\" failed", c->name);
    }
}

static void test_cases(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        run_case(&cases[i]);
    }
}

/* Same body, CRLF vs LF: identical transcripts. */
static void test_crlf_equals_lf(void **state)
{
    (void)state;
    const char *crlf = cases[0].body;
    struct wg_buf lf;
    wg_buf_init(&lf, 0);
    for (const char *s = crlf; *s; s++) {
        if (!(s[0] == '\r' && s[1] == '\n')) {
            wg_buf_add(&lf, s, 1);
        }
    }
    char *a = rec_run(wg__fluxcsv_new, crlf, strlen(crlf), 0);
    char *b = rec_run(wg__fluxcsv_new, lf.p, lf.len, 3);
    assert_string_equal(a, b);
    free(a);
    free(b);
    wg_buf_free(&lf);
}

/* ---- fast paths against the reference functions ----------------------------------------- */

struct collect {
    int64_t *t;
    double *d;
    size_t n;
};

static int col_row(void *ud, const struct wg_value *c, size_t n)
{
    struct collect *k = ud;
    (void)n;
    k->t[k->n] = c[0].t == WG_V_TIME ? c[0].u.time : INT64_MIN;
    k->d[k->n] = c[1].t == WG_V_FLOAT ? c[1].u.f : -1.0;
    k->n++;
    return 0;
}

static unsigned lcg(unsigned *s)
{
    *s = *s * 1103515245u + 12345u;
    return *s >> 8;
}

static void test_fast_paths_match_reference(void **state)
{
    (void)state;
    enum { N = 4000 };
    static char times[N][40], nums[N][40];
    struct wg_buf body;
    unsigned seed = 42;
    wg_buf_init(&body, 0);
    wg_buf_adds(&body, "#datatype,string,long,dateTime:RFC3339,double\r\n"
                       "#group,false,false,false,false\r\n#default,_result,,,\r\n"
                       ",result,table,_time,_value\r\n");
    for (int i = 0; i < N; i++) {
        int nd = (int)(lcg(&seed) % 10);
        char frac[12] = "";
        if (nd) {
            frac[0] = '.';
            for (int k = 1; k <= nd; k++) {
                frac[k] = (char)('0' + lcg(&seed) % 10);
            }
            frac[nd + 1] = '\0';
        }
        snprintf(times[i], sizeof(times[i]), "%04u-%02u-%02uT%02u:%02u:%02u%sZ",
                 1678 + lcg(&seed) % 584, 1 + lcg(&seed) % 12, 1 + lcg(&seed) % 28, lcg(&seed) % 24,
                 lcg(&seed) % 60, lcg(&seed) % 60, frac);
        snprintf(nums[i], sizeof(nums[i]), "%s%u.%0*u", lcg(&seed) % 2 ? "-" : "",
                 lcg(&seed) % 100000, (int)(lcg(&seed) % 9 + 1), lcg(&seed) % 1000000);
        wg_buf_addf(&body, ",,0,%s,%s\r\n", times[i], nums[i]);
    }
    wg_buf_adds(&body, "\r\n");
    struct collect k = {calloc(N, sizeof(int64_t)), calloc(N, sizeof(double)), 0};
    struct wg_sink sink = {NULL, col_row, &k};
    void *st;
    const struct wg__parser_ops *ops;
    assert_int_equal(wg__fluxcsv_new(&sink, &st, &ops), WG_OK);
    assert_int_equal(ops->feed(st, body.p, body.len), WG_OK);
    assert_int_equal(ops->finish(st), WG_OK);
    ops->free(st);
    assert_int_equal(k.n, N);
    for (int i = 0; i < N; i++) {
        int64_t want;
        assert_int_equal(wg_time_parse(times[i], strlen(times[i]), &want), WG_OK);
        if (want != k.t[i]) {
            fail_msg("%s: want %lld got %lld", times[i], (long long)want, (long long)k.t[i]);
        }
        double dw = strtod(nums[i], NULL);
        if (dw != k.d[i]) {
            fail_msg("%s: want %.17g got %.17g", nums[i], dw, k.d[i]);
        }
    }
    free(k.t);
    free(k.d);
    wg_buf_free(&body);
}

/* A sink that says stop: the parser returns at once and stays stopped. */
static int stop_row(void *ud, const struct wg_value *c, size_t n)
{
    (void)ud;
    (void)c;
    (void)n;
    return 1;
}

static void test_sink_abort(void **state)
{
    (void)state;
    const char *b = cases[0].body;
    struct wg_sink sink = {NULL, stop_row, NULL};
    void *st;
    const struct wg__parser_ops *ops;
    assert_int_equal(wg__fluxcsv_new(&sink, &st, &ops), WG_OK);
    assert_int_equal(ops->feed(st, b, strlen(b)), WG_EINVAL);
    assert_int_equal(ops->feed(st, "x", 1), WG_EINVAL);
    assert_int_equal(ops->finish(st), WG_EINVAL);
    ops->free(st);
}

/* A record longer than the cap is refused, not buffered without end. */
static void test_record_cap(void **state)
{
    (void)state;
    void *st;
    const struct wg__parser_ops *ops;
    static char chunk[1 << 16];
    memset(chunk, 'a', sizeof(chunk));
    chunk[0] = '"';
    assert_int_equal(wg__fluxcsv_new(NULL, &st, &ops), WG_OK);
    enum wg_err e = WG_OK;
    for (int i = 0; i < 1000 && e == WG_OK; i++) {
        e = ops->feed(st, chunk, sizeof(chunk));
        chunk[0] = 'a';
    }
    assert_int_equal(e, WG_ETOOBIG);
    ops->free(st);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cases),
        cmocka_unit_test(test_crlf_equals_lf),
        cmocka_unit_test(test_fast_paths_match_reference),
        cmocka_unit_test(test_sink_abort),
        cmocka_unit_test(test_record_cap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

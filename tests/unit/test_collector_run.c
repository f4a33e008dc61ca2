/* test_collector_run.c — wg_collector_run against tests/peers/influx_peer.py on loopback: the
 * request each source kind sends (path, params, auth, body), status and body errors, truncated
 * and oversized bodies, retries (503, 429 + Retry-After), timeouts, refused connections,
 * concurrency limits and secret redaction. Never a mock of the HTTP wrapper.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <netinet/in.h>
#include <sys/socket.h>

#include "collector/collector.h"
#include "peer_helper.h"

#define MS INT64_C(1000000)

static const char *OK_BODY =
    "{\"results\":[{\"statement_id\":0,\"series\":[{\"name\":\"http\",\"tags\":{\"host\":\"a\"},"
    "\"columns\":[\"time\",\"p95\"],\"values\":[[1714564800000000000,240.5],"
    "[1714564810000000000,null],[1714564820000000000,260]]}]}]}\n";

static void source_init(struct wg_source *s, const char *url)
{
    memset(s, 0, sizeof(*s));
    s->name = "tools";
    s->kind = WG_SRC_INFLUXQL;
    s->url = (char *)url;
    s->database = "telemetry";
    s->timeout_ns = 5000 * MS;
    s->connect_timeout_ns = 2000 * MS;
    s->max_response_bytes = 1 << 20;
    s->max_concurrency = 4;
    s->retries = 0;
}

static void query_init(struct wg_query *q, const struct wg_source *src, const char *text)
{
    memset(q, 0, sizeof(*q));
    q->src = src;
    q->query = strdup(text);
}

/* A scenario with one route answering `resp` (a RESPONSE object's JSON) on any path. */
static char *one_route(const char *resp)
{
    return wg_asprintf("{\"routes\":[{\"responses\":[%s]}]}", resp);
}

static char *json_str(const char *s)
{
    cJSON *v = cJSON_CreateString(s);
    char *out = cJSON_PrintUnformatted(v);
    cJSON_Delete(v);
    return out;
}

static void run_one(struct wg_query *q)
{
    assert_int_equal(wg_collector_run(q, 1, NULL), WG_OK);
}

/* Starts p on one route answering `first` (RESPONSE objects' JSON, each followed by a comma; or
 * "") and then 200 with OK_BODY, that answer carrying `extra` too ("" or `"key":value,`). */
static void start_ok_peer(struct peer *p, const char *first, const char *extra)
{
    char *body = json_str(OK_BODY);
    char *sc = wg_asprintf("{\"routes\":[{\"responses\":[%s{\"status\":200,%s\"body\":%s}]}]}",
                           first, extra, body);
    assert_int_equal(peer_start(p, sc), 0);
    free(sc);
    free(body);
}

/* One query `text` to url with `retries`, src and q set up fresh. */
static void ask(struct wg_query *q, struct wg_source *src, const char *url, int retries,
                const char *text)
{
    source_init(src, url);
    src->retries = retries;
    query_init(q, src, text);
    run_one(q);
}

static void test_v1_request_shape(void **state)
{
    (void)state;
    struct peer p;
    start_ok_peer(&p, "", "\"headers\":{\"Content-Type\":\"application/json\"},\"gzip\":true,");
    setenv("WG_TEST_TOKEN", "s3cr3t-token-value", 1);
    struct wg_source src;
    source_init(&src, p.url);
    src.retention_policy = "autogen";
    src.token_env = "WG_TEST_TOKEN";
    src.compression = WG_COMPRESS_GZIP; /* the peer answers gzip'd: decoded transparently */
    struct wg_query q;
    query_init(&q, &src, "SELECT percentile(\"latency\", 95) AS p95 FROM \"http\" WHERE e = 'x'");
    q.field = "p95";
    run_one(&q);
    if (q.err) {
        fprintf(stderr, "err %d: %s\n", q.err, q.errmsg);
    }
    assert_int_equal(q.err, WG_OK);
    assert_int_equal(q.http_status, 200);
    assert_int_equal(q.series.n, 1);
    assert_int_equal(q.series.s[0].n, 2); /* the null row is skipped */
    assert_true(q.series.s[0].v[0] == 240.5 && q.series.s[0].v[1] == 260.0);
    assert_int_equal(q.series.s[0].t[1], INT64_C(1714564820000000000));

    cJSON *reqs = peer_requests(&p);
    assert_int_equal(cJSON_GetArraySize(reqs), 1);
    cJSON *r = cJSON_GetArrayItem(reqs, 0);
    assert_string_equal(peer_field(r, "method", NULL), "GET");
    assert_string_equal(peer_field(r, "path", NULL), "/query");
    assert_string_equal(peer_field(r, "query", "db"), "telemetry");
    assert_string_equal(peer_field(r, "query", "rp"), "autogen");
    assert_string_equal(peer_field(r, "query", "epoch"), "ns");
    assert_string_equal(peer_field(r, "query", "q"),
                        "SELECT percentile(\"latency\", 95) AS p95 FROM \"http\" WHERE e = 'x'");
    assert_null(cJSON_GetObjectItem(cJSON_GetObjectItem(r, "query"), "chunked"));
    assert_string_equal(peer_field(r, "headers", "authorization"), "Token s3cr3t-token-value");
    assert_non_null(strstr(peer_field(r, "headers", "accept-encoding"), "gzip"));
    cJSON_Delete(reqs);
    wg_query_clear(&q);
    peer_stop(&p);
}

/* compression: auto asks for gzip except on loopback; none never; gzip always. */
static void test_compression_choice(void **state)
{
    (void)state;
    static const struct {
        enum wg_compression c;
        int want_gzip;
    } cases[] = {{WG_COMPRESS_AUTO, 0}, {WG_COMPRESS_NONE, 0}, {WG_COMPRESS_GZIP, 1}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct peer p;
        start_ok_peer(&p, "", "");
        struct wg_source src;
        source_init(&src, p.url); /* http://127.0.0.1:port: loopback */
        src.compression = cases[i].c;
        struct wg_query q;
        query_init(&q, &src, "SELECT mean(v) FROM m");
        run_one(&q);
        cJSON *reqs = peer_requests(&p);
        const char *ae = peer_field(cJSON_GetArrayItem(reqs, 0), "headers", "accept-encoding");
        int got = ae && strstr(ae, "gzip") != NULL;
        if (got != cases[i].want_gzip || q.err != WG_OK) {
            print_error("compression %d: want gzip=%d, got %d (Accept-Encoding: %s, err %d)\n",
                        (int)cases[i].c, cases[i].want_gzip, got, ae ? ae : "(none)", q.err);
        }
        assert_int_equal(got, cases[i].want_gzip);
        assert_int_equal(q.err, WG_OK);
        cJSON_Delete(reqs);
        wg_query_clear(&q);
        peer_stop(&p);
    }
}

static void test_v1_chunked_basic_post(void **state)
{
    (void)state;
    struct peer p;
    const char *chunks =
        "{\"results\":[{\"statement_id\":0,\"series\":[{\"name\":\"m\",\"columns\":[\"time\","
        "\"v\"],\"values\":[[1,1],[2,2]],\"partial\":true}],\"partial\":true}]}\n"
        "{\"results\":[{\"statement_id\":0,\"series\":[{\"name\":\"m\",\"columns\":[\"time\","
        "\"v\"],\"values\":[[3,3]]}]}]}\n";
    char *body = json_str(chunks);
    char *resp = wg_asprintf("{\"status\":200,\"body\":%s,\"chunked\":true,\"chunk_bytes\":7}",
                             body);
    char *sc = one_route(resp);
    assert_int_equal(peer_start(&p, sc), 0);
    setenv("WG_TEST_PW", "pa55word", 1);
    struct wg_source src;
    source_init(&src, p.url);
    src.chunk_size = 2;
    src.username = "reader";
    src.password_env = "WG_TEST_PW";
    /* a query too long for a URL goes as a form body */
    char *longq = calloc(1, 4000);
    memcpy(longq, "SELECT v FROM m WHERE x = '", 27);
    memset(longq + 27, 'a', 3000);
    longq[27 + 3000] = '\'';
    struct wg_query q;
    query_init(&q, &src, longq);
    q.mode = WG_COLLECT_TABLES;
    run_one(&q);
    assert_int_equal(q.err, WG_OK);
    assert_int_equal(q.tables.n, 1); /* two chunks, one table */
    assert_int_equal(q.tables.t[0].nrows, 3);
    cJSON *reqs = peer_requests(&p);
    cJSON *r = cJSON_GetArrayItem(reqs, 0);
    assert_string_equal(peer_field(r, "method", NULL), "POST");
    assert_string_equal(peer_field(r, "query", "chunked"), "true");
    assert_string_equal(peer_field(r, "query", "chunk_size"), "2");
    assert_string_equal(peer_field(r, "form", "q"), longq);
    /* base64("reader:pa55word") */
    assert_string_equal(peer_field(r, "headers", "authorization"),
                        "Basic cmVhZGVyOnBhNTV3b3Jk");
    cJSON_Delete(reqs);
    wg_query_clear(&q);
    peer_stop(&p);
    free(longq);
    free(sc);
    free(resp);
    free(body);
}

/* Each case: one response, the error it must give, and text the message must contain. */
struct ecase {
    const char *name;
    const char *resp;
    enum wg_err want;
    const char *msg;
};

static const struct ecase ecases[] = {
    {"400 1.x error", "{\"status\":400,\"body\":\"{\\\"error\\\":\\\"error parsing query: found "
                      "EOF\\\"}\"}",
     WG_EHTTP, "HTTP 400 from http://127.0.0.1:"},
    {"400 1.x error message", "{\"status\":400,\"body\":\"{\\\"error\\\":\\\"error parsing query: "
                              "found EOF\\\"}\"}",
     WG_EHTTP, ": error parsing query: found EOF"},
    {"401 2.x code/message", "{\"status\":401,\"body\":\"{\\\"code\\\":\\\"unauthorized\\\","
                             "\\\"message\\\":\\\"unauthorized access\\\"}\"}",
     WG_EHTTP, "unauthorized access"},
    {"404 plain text", "{\"status\":404,\"body\":\"Not found\"}", WG_EHTTP, "HTTP 404"},
    {"500 header only", "{\"status\":500,\"headers\":{\"X-InfluxDB-Error\":\"engine down\"}}",
     WG_EHTTP, "engine down"},
    {"statement error in 200",
     "{\"status\":200,\"body\":\"{\\\"results\\\":[{\\\"statement_id\\\":0,\\\"error\\\":"
     "\\\"database not found: telemetry\\\"}]}\"}",
     WG_EQUERY, "database not found: telemetry"},
    {"NaN in 200", "{\"status\":200,\"body\":\"{\\\"error\\\":\\\"json: unsupported value: "
                   "NaN\\\"}\"}",
     WG_EQUERY, "json: unsupported value: NaN"},
    {"error after data",
     "{\"status\":200,\"chunked\":true,\"body\":\"{\\\"results\\\":[{\\\"statement_id\\\":0,"
     "\\\"series\\\":[{\\\"name\\\":\\\"m\\\",\\\"columns\\\":[\\\"time\\\",\\\"p95\\\"],"
     "\\\"values\\\":[[1,1]]}],\\\"partial\\\":true}]}\\n{\\\"results\\\":[{\\\"statement_id"
     "\\\":0,\\\"error\\\":\\\"max-select-series limit exceeded\\\"}]}\\n\"}",
     WG_EQUERY, "max-select-series limit exceeded"},
    {"truncated connection", "{\"status\":200,\"body\":\"{\\\"results\\\":[{\\\"statement_id"
                             "\\\":0,\\\"series\\\":[]}]}\",\"truncate_at\":20}",
     WG_EIO, "cut off"},
    {"truncated chunked", "{\"status\":200,\"chunked\":true,\"body\":\"{\\\"results\\\":[{"
                          "\\\"statement_id\\\":0}]}\",\"truncate_at\":15}",
     WG_EIO, "cut off"},
    {"malformed JSON in full framing", "{\"status\":200,\"body\":\"{\\\"results\\\":[{\"}",
     WG_EPARSE, "middle of a JSON value"},
    {"not JSON", "{\"status\":200,\"body\":\"<html>proxy</html>\"}", WG_EPARSE, "malformed"},
    {"wrong field", "{\"status\":200,\"body\":\"{\\\"results\\\":[{\\\"series\\\":[{\\\"columns"
                    "\\\":[\\\"time\\\",\\\"mean\\\"],\\\"values\\\":[[1,2]]}]}]}\"}",
     WG_EQUERY, "no column named p95 (columns: time, mean)"},
    {"size cap", "{\"status\":200,\"body\":\"{\\\"results\\\":[{\\\"statement_id\\\":0,"
                 "\\\"series\\\":[]}]}                                                       "
                 "                                                                          \"}",
     WG_ETOOBIG, "larger than 100 bytes"},
    {"size cap streamed", "{\"status\":200,\"chunked\":true,\"chunk_bytes\":10,\"body\":\""
                          "                                                              "
                          "                                                              \"}",
     WG_ETOOBIG, "larger than 100 bytes"},
    {"redirect not followed", "{\"status\":302,\"headers\":{\"Location\":\"http://example.com/\"}"
                              "}",
     WG_EHTTP, "HTTP 302"},
};

static void test_errors(void **state)
{
    (void)state;
    int failures = 0;
    for (size_t i = 0; i < sizeof(ecases) / sizeof(ecases[0]); i++) {
        const struct ecase *c = &ecases[i];
        struct peer p;
        char *sc = one_route(c->resp);
        assert_int_equal(peer_start(&p, sc), 0);
        struct wg_source src;
        source_init(&src, p.url);
        if (strncmp(c->name, "size cap", 8) == 0) {
            src.max_response_bytes = 100;
        }
        struct wg_query q;
        query_init(&q, &src, "SELECT p95 FROM m");
        q.field = "p95";
        run_one(&q);
        if (q.err != c->want || !strstr(q.errmsg, c->msg) || q.series.n || q.tables.n) {
            fprintf(stderr, "case '%s': want %s containing '%s'\n  got %s '%s' (series %zu)\n",
                    c->name, wg_strerror(c->want), c->msg, wg_strerror(q.err), q.errmsg,
                    q.series.n);
            failures++;
        }
        wg_query_clear(&q);
        peer_stop(&p);
        free(sc);
    }
    assert_int_equal(failures, 0);
}

/* The statements the query sent are counted (';' outside literals, regexes and comments): the
 * answer must hold each of them, and no other. */
static void test_statement_count(void **state)
{
    (void)state;
    static const struct {
        const char *query;
        enum wg_err want;
        const char *msg;
    } cs[] = {
        {"SELECT p95 FROM m;", WG_OK, ""},
        {"SELECT p95 FROM m WHERE h =~ /a;b/ AND s = 'x;y' AND \"c;d\" = 1 -- ; no\n", WG_OK, ""},
        {"SELECT p95 FROM m; SELECT p95 FROM n", WG_EPARSE, "no result for statement 1 of 2"},
    };
    struct peer p;
    start_ok_peer(&p, "", "");
    int failures = 0;
    for (size_t i = 0; i < sizeof(cs) / sizeof(cs[0]); i++) {
        struct wg_source src;
        source_init(&src, p.url);
        struct wg_query q;
        query_init(&q, &src, cs[i].query);
        q.field = "p95";
        run_one(&q);
        if (q.err != cs[i].want || !strstr(q.errmsg, cs[i].msg)) {
            fprintf(stderr, "query '%s': want %s '%s', got %s '%s'\n", cs[i].query,
                    wg_strerror(cs[i].want), cs[i].msg, wg_strerror(q.err), q.errmsg);
            failures++;
        }
        wg_query_clear(&q);
    }
    peer_stop(&p);
    assert_int_equal(failures, 0);
}

static void test_retry_503_then_ok(void **state)
{
    (void)state;
    struct peer p;
    start_ok_peer(&p, "{\"status\":503,\"body\":\"busy\",\"repeat\":2},", "");
    struct wg_source src;
    struct wg_query q;
    ask(&q, &src, p.url, 2, "SELECT p95 FROM http");
    assert_int_equal(q.err, WG_OK);
    assert_int_equal(q.attempts, 3);
    assert_int_equal(q.series.s[0].n, 2);
    cJSON *reqs = peer_requests(&p);
    assert_int_equal(cJSON_GetArraySize(reqs), 3);
    cJSON_Delete(reqs);
    wg_query_clear(&q);

    /* out of retries: the last status is the error */
    source_init(&src, p.url);
    src.retries = 0;
    struct peer p2;
    char *sc2 = one_route("{\"status\":503,\"body\":\"{\\\"error\\\":\\\"overloaded\\\"}\"}");
    assert_int_equal(peer_start(&p2, sc2), 0);
    src.url = p2.url;
    query_init(&q, &src, "SELECT 1");
    run_one(&q);
    assert_int_equal(q.err, WG_EHTTP);
    assert_int_equal(q.attempts, 1);
    assert_non_null(strstr(q.errmsg, "HTTP 503"));
    assert_non_null(strstr(q.errmsg, "overloaded"));
    wg_query_clear(&q);
    peer_stop(&p2);
    peer_stop(&p);
    free(sc2);
}

static void test_retry_429_retry_after(void **state)
{
    (void)state;
    struct peer p;
    start_ok_peer(&p, "{\"status\":429,\"headers\":{\"Retry-After\":\"1\"}},", "");
    struct wg_source src;
    struct wg_query q;
    ask(&q, &src, p.url, 1, "SELECT p95 FROM http");
    assert_int_equal(q.err, WG_OK);
    assert_int_equal(q.attempts, 2);
    assert_true(q.elapsed_ns >= 950 * MS); /* honoured Retry-After: 1 */
    wg_query_clear(&q);

    /* a Retry-After beyond the budget ends the job at once with the 429 */
    src.timeout_ns = 500 * MS;
    query_init(&q, &src, "SELECT p95 FROM http");
    peer_stop(&p);
    char *sc2 = one_route("{\"status\":429,\"headers\":{\"Retry-After\":\"30\"}}");
    assert_int_equal(peer_start(&p, sc2), 0);
    src.url = p.url;
    int64_t t0 = wg_mono_ns();
    run_one(&q);
    assert_int_equal(q.err, WG_EHTTP);
    assert_int_equal(q.http_status, 429);
    assert_true(wg_mono_ns() - t0 < 2000 * MS);
    wg_query_clear(&q);
    peer_stop(&p);
    free(sc2);
}

static void test_timeout(void **state)
{
    (void)state;
    struct peer p;
    char *sc = one_route("{\"hang\":true}");
    assert_int_equal(peer_start(&p, sc), 0);
    struct wg_source src;
    source_init(&src, p.url);
    src.timeout_ns = 300 * MS;
    struct wg_query q;
    query_init(&q, &src, "SELECT 1");
    int64_t t0 = wg_mono_ns();
    run_one(&q);
    int64_t took = wg_mono_ns() - t0;
    assert_int_equal(q.err, WG_ETIMEOUT);
    assert_non_null(strstr(q.errmsg, "timed out"));
    assert_true(took >= 250 * MS && took < 3000 * MS);
    wg_query_clear(&q);
    peer_stop(&p);
    free(sc);
}

static int closed_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t l = sizeof(a);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &l), 0);
    close(fd);
    return ntohs(a.sin_port);
}

static void test_connection_refused(void **state)
{
    (void)state;
    char url[64], want[128];
    int port = closed_port();
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", port);
    snprintf(want, sizeof(want), "could not connect to http://127.0.0.1:%d: Connection refused",
             port);
    struct wg_source src;
    struct wg_query q;
    ask(&q, &src, url, 1, "SELECT 1");
    assert_int_equal(q.err, WG_ECONNECT);
    assert_int_equal(q.attempts, 2);
    assert_string_equal(q.errmsg, want);
    wg_query_clear(&q);
}

static void test_secret_redacted_and_missing_env(void **state)
{
    (void)state;
    struct peer p;
    char *sc = one_route("{\"status\":401,\"body\":\"{\\\"error\\\":\\\"bad token "
                         "hunter2-token-xyz\\\"}\"}");
    assert_int_equal(peer_start(&p, sc), 0);
    setenv("WG_TEST_TOKEN2", "hunter2-token-xyz", 1);
    struct wg_source src;
    source_init(&src, p.url);
    src.token_env = "WG_TEST_TOKEN2";
    struct wg_query q;
    query_init(&q, &src, "SELECT 1");
    run_one(&q);
    assert_int_equal(q.err, WG_EHTTP);
    assert_null(strstr(q.errmsg, "hunter2"));
    assert_non_null(strstr(q.errmsg, "bad token ***"));
    wg_query_clear(&q);

    src.token_env = "WG_TEST_NO_SUCH_VAR";
    query_init(&q, &src, "SELECT 1");
    run_one(&q);
    assert_int_equal(q.err, WG_ECONFIG);
    assert_string_equal(q.errmsg, "environment variable WG_TEST_NO_SUCH_VAR is not set");
    wg_query_clear(&q);
    cJSON *reqs = peer_requests(&p);
    assert_int_equal(cJSON_GetArraySize(reqs), 1); /* the second never left */
    cJSON_Delete(reqs);
    peer_stop(&p);
    free(sc);
}

/* Six slow answers with at most two in flight take at least three rounds. */
static void test_concurrency_limit(void **state)
{
    (void)state;
    struct peer p;
    start_ok_peer(&p, "", "\"delay_ms\":150,");
    struct wg_source src;
    source_init(&src, p.url);
    src.max_concurrency = 2;
    struct wg_query qs[6];
    for (size_t i = 0; i < 6; i++) {
        query_init(&qs[i], &src, "SELECT p95 FROM http");
    }
    int64_t t0 = wg_mono_ns();
    assert_int_equal(wg_collector_run(qs, 6, NULL), WG_OK);
    int64_t took = wg_mono_ns() - t0;
    for (size_t i = 0; i < 6; i++) {
        assert_int_equal(qs[i].err, WG_OK);
        assert_int_equal(qs[i].series.s[0].n, 2);
        wg_query_clear(&qs[i]);
    }
    assert_true(took >= 440 * MS);
    peer_stop(&p);
}

static void test_v3_and_flux_request_shape(void **state)
{
    (void)state;
    struct peer p;
    const char *sc =
        "{\"routes\":["
        "{\"path\":\"/api/v3/query_sql\",\"responses\":[{\"status\":200,\"body\":"
        "\"{\\\"time\\\":\\\"2024-05-01T12:00:00\\\",\\\"v\\\":1.5}\\n\"}]},"
        "{\"path\":\"/api/v3/query_influxql\",\"responses\":[{\"status\":200,\"body\":\"\"}]},"
        "{\"path\":\"/api/v2/query\",\"responses\":[{\"status\":200,\"body\":"
        "\"#datatype,string,long,double\\r\\n#group,false,false,false\\r\\n#default,_result,,\\r"
        "\\n,result,table,_value\\r\\n,,0,2.5\\r\\n\\r\\n\"}]}]}";
    assert_int_equal(peer_start(&p, sc), 0);
    setenv("WG_TEST_TOKEN3", "v3-token-abcdef", 1);
    struct wg_source sql, iql3, flux;
    source_init(&sql, p.url);
    sql.kind = WG_SRC_SQL;
    sql.token_env = "WG_TEST_TOKEN3";
    iql3 = sql;
    iql3.kind = WG_SRC_INFLUXQL;
    iql3.api = WG_API_V3;
    source_init(&flux, p.url);
    flux.kind = WG_SRC_FLUX;
    flux.org = "my org";
    flux.token_env = "WG_TEST_TOKEN3";
    struct wg_query qs[3];
    query_init(&qs[0], &sql, "SELECT v FROM m WHERE time >= TIMESTAMP '2024-05-01T12:00:00Z'");
    query_init(&qs[1], &iql3, "SELECT v FROM m");
    query_init(&qs[2], &flux, "from(bucket: \"b\") |> range(start: -1h)");
    assert_int_equal(wg_collector_run(qs, 3, NULL), WG_OK);
    cJSON *reqs = peer_requests(&p);
    assert_int_equal(cJSON_GetArraySize(reqs), 3);
    int seen = 0;
    cJSON *r;
    cJSON_ArrayForEach(r, reqs)
    {
        const char *path = peer_field(r, "path", NULL);
        if (strcmp(path, "/api/v3/query_sql") == 0 || strcmp(path, "/api/v3/query_influxql") == 0) {
            seen++;
            assert_string_equal(peer_field(r, "method", NULL), "GET");
            assert_string_equal(peer_field(r, "query", "db"), "telemetry");
            assert_string_equal(peer_field(r, "query", "format"), "jsonl");
            assert_string_equal(peer_field(r, "headers", "authorization"),
                                "Bearer v3-token-abcdef");
            assert_string_equal(peer_field(r, "query", "q"), path[14] == 's' ? qs[0].query
                                                                             : qs[1].query);
        } else {
            seen++;
            assert_string_equal(path, "/api/v2/query");
            assert_string_equal(peer_field(r, "method", NULL), "POST");
            assert_string_equal(peer_field(r, "query", "org"), "my org");
            assert_string_equal(peer_field(r, "headers", "authorization"),
                                "Token v3-token-abcdef");
            assert_string_equal(peer_field(r, "headers", "content-type"), "application/json");
            assert_string_equal(peer_field(r, "headers", "accept"), "application/csv");
            cJSON *b = cJSON_Parse(peer_field(r, "body", NULL));
            assert_non_null(b);
            assert_string_equal(peer_field(b, "query", NULL), qs[2].query);
            assert_string_equal(peer_field(b, "type", NULL), "flux");
            cJSON *d = cJSON_GetObjectItem(b, "dialect");
            assert_true(cJSON_IsTrue(cJSON_GetObjectItem(d, "header")));
            assert_string_equal(peer_field(d, "delimiter", NULL), ",");
            cJSON *ann = cJSON_GetObjectItem(d, "annotations");
            assert_int_equal(cJSON_GetArraySize(ann), 3);
            assert_string_equal(cJSON_GetArrayItem(ann, 2)->valuestring, "default");
            cJSON_Delete(b);
        }
    }
    assert_int_equal(seen, 3);
    for (size_t i = 0; i < 3; i++) {
        if (qs[i].err) {
            fprintf(stderr, "query %zu: %s: %s\n", i, wg_strerror(qs[i].err), qs[i].errmsg);
        }
        assert_int_equal(qs[i].err, WG_OK);
    }
    assert_int_equal(qs[0].series.n, 1);
    assert_true(qs[0].series.s[0].v[0] == 1.5);
    assert_int_equal(qs[1].series.n, 0); /* empty JSONL: no data */
    assert_int_equal(qs[2].series.n, 1);
    assert_true(qs[2].series.s[0].v[0] == 2.5);
    for (size_t i = 0; i < 3; i++) {
        wg_query_clear(&qs[i]);
    }
    cJSON_Delete(reqs);
    peer_stop(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_v1_request_shape),
        cmocka_unit_test(test_compression_choice),
        cmocka_unit_test(test_v1_chunked_basic_post),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_statement_count),
        cmocka_unit_test(test_retry_503_then_ok),
        cmocka_unit_test(test_retry_429_retry_after),
        cmocka_unit_test(test_timeout),
        cmocka_unit_test(test_connection_refused),
        cmocka_unit_test(test_secret_redacted_and_missing_env),
        cmocka_unit_test(test_concurrency_limit),
        cmocka_unit_test(test_v3_and_flux_request_shape),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* bench_collect.c — issue 3's collector benchmarks, wavegate side: one query through
 * wg_collector_run (HTTP, streaming parser, series sink) against a loopback server, then
 * `reduce: mean` per series. Prints the same figures as the Node peers (rows, sum, groups,
 * highest group mean) plus wall time and peak RSS, so bench_read.sh can put them side by side.
 * usage: bench_collect flux|influxql URL [QUERY]
 * With WG_BENCH_MEM=FILE it parses FILE from memory instead (the parser alone, no HTTP).
 */
#include "collector/collector.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

static void report(const struct wg_seriesset *ss, double secs)
{
    size_t rows = 0;
    double sum = 0, max = -1.0 / 0.0;
    for (size_t i = 0; i < ss->n; i++) {
        const struct wg_series *s = &ss->s[i];
        double m = 0;
        for (size_t k = 0; k < s->n; k++) {
            m += s->v[k];
        }
        sum += m;
        rows += s->n;
        if (s->n && m / (double)s->n > max) {
            max = m / (double)s->n;
        }
    }
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("rows=%zu sum=%.3f groups=%zu max_mean=%.17g\n", rows, sum, ss->n, max);
    printf("wall_s=%.3f peak_rss_mb=%.1f\n", secs, (double)ru.ru_maxrss / 1024.0);
}

static int from_memory(const char *path, enum wg_parser_kind kind)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        return 1;
    }
    struct wg_seriesset ss = {0};
    struct wg_series_sink sk;
    struct wg_sink sink;
    wg_series_sink_init(&sk, &ss, NULL, &sink);
    struct wg_parser *p = NULL;
    if (wg_parser_new(kind, &sink, &p) != WG_OK) {
        fclose(f);
        return 1;
    }
    static char buf[1 << 16]; /* libcurl hands 16 KiB at a time; a file read is similar */
    int64_t t0 = wg_mono_ns();
    enum wg_err e = WG_OK;
    size_t n;
    while (e == WG_OK && (n = fread(buf, 1, sizeof(buf), f)) > 0) {
        e = wg_parser_feed(p, buf, n);
    }
    if (e == WG_OK) {
        e = wg_parser_finish(p);
    }
    double secs = (double)(wg_mono_ns() - t0) / 1e9;
    fclose(f);
    if (e != WG_OK) {
        fprintf(stderr, "parse: %s: %s %s\n", wg_strerror(e), wg_parser_error(p), sk.err);
        wg_parser_free(p);
        wg_series_sink_done(&sk);
        return 1;
    }
    wg_parser_free(p);
    wg_series_sink_done(&sk);
    report(&ss, secs);
    wg_seriesset_free(&ss);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s flux|influxql URL [QUERY]\n", argv[0]);
        return 2;
    }
    int flux = strcmp(argv[1], "flux") == 0;
    const char *mem = getenv("WG_BENCH_MEM");
    if (mem && *mem) {
        return from_memory(mem, flux ? WG_PARSE_FLUX_CSV : WG_PARSE_INFLUXQL_JSON);
    }
    setenv("WG_BENCH_TOKEN", "bench-token", 1);
    struct wg_source src = {0};
    src.name = "bench";
    src.kind = flux ? WG_SRC_FLUX : WG_SRC_INFLUXQL;
    src.url = argv[2];
    src.org = "org";
    src.database = "bench";
    src.token_env = flux ? "WG_BENCH_TOKEN" : NULL;
    src.timeout_ns = 600 * WG_NS_PER_SEC;
    src.connect_timeout_ns = 5 * WG_NS_PER_SEC;
    src.max_response_bytes = (size_t)1 << 30;
    src.max_concurrency = 1;
    src.retries = 0;
    src.chunk_size = flux ? 0 : 10000;
    struct wg_query q = {0};
    q.src = &src;
    q.query = wg_strdup(argc > 3 ? argv[3]
                        : flux   ? "from(bucket:\"b\") |> range(start: -1h)"
                                 : "SELECT value FROM m");
    q.mode = WG_COLLECT_SERIES;
    int64_t t0 = wg_mono_ns();
    enum wg_err e = wg_collector_run(&q, 1, NULL);
    double secs = (double)(wg_mono_ns() - t0) / 1e9;
    if (e != WG_OK || q.err != WG_OK) {
        fprintf(stderr, "collect: %s / %s: %s (HTTP %ld)\n", wg_strerror(e), wg_strerror(q.err),
                q.errmsg, q.http_status);
        wg_query_clear(&q);
        return 1;
    }
    report(&q.series, secs);
    wg_query_clear(&q);
    return 0;
}

/* bench_events_write.c — the marker writer's figure for bench/bench_events.sh: the rows of a
 * line-protocol file queued one by one into wg_lp_writer (batched, its own thread) and flushed
 * into a real InfluxDB 1.x; prints the wall time from the first row to InfluxDB's answer for
 * the last one, the writer running as in serve. usage: bench_events_write INFLUX_URL FILE
 * [FLUSH_MS]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "collector/collector.h"

int main(int argc, char **argv)
{
    if (argc != 3 && argc != 4) {
        fprintf(stderr, "usage: bench_events_write INFLUX_URL FILE [FLUSH_MS]\n");
        return 64;
    }
    FILE *f = fopen(argv[2], "r");
    if (!f) {
        perror(argv[2]);
        return 1;
    }
    struct wg_source src;
    memset(&src, 0, sizeof(src));
    src.name = "marks";
    src.url = argv[1];
    src.database = "marks";
    src.timeout_ns = 30 * WG_NS_PER_SEC;
    struct wg_lp_writer *w = NULL;
    char line[4096];
    int64_t t0 = wg_mono_ns();
    int64_t flush = argc == 4 ? strtoll(argv[3], NULL, 10) * 1000000 : WG_NS_PER_SEC / 5;
    if (wg_lp_writer_new(&src, 0, flush, &w) != WG_OK) {
        fclose(f);
        return 1;
    }
    size_t n = 0;
    while (fgets(line, sizeof(line), f)) {
        if (wg_lp_writer_add(w, line, strlen(line)) != WG_OK) {
            fprintf(stderr, "row %zu not queued\n", n);
        }
        n++;
    }
    fclose(f);
    /* the writer keeps running: the time until InfluxDB has answered for every row (the last
     * partial batch waits for the flush interval or the 1 MiB batch size) */
    unsigned long long ok = 0, failed = 0, dropped = 0;
    int64_t deadline = wg_mono_ns() + 60 * WG_NS_PER_SEC;
    while (ok + failed + dropped < n && wg_mono_ns() < deadline) {
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
        wg_lp_writer_stats(w, &ok, &failed, &dropped);
    }
    int64_t t1 = wg_mono_ns();
    wg_lp_writer_free_stats(w, &ok, &failed, &dropped);
    printf("writer: %zu rows queued one by one, %llu written, %llu failed, %llu dropped: "
           "ms=%.1f\n",
           n, ok, failed, dropped, (double)(t1 - t0) / 1e6);
    return failed || dropped || ok != n;
}

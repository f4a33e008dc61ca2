/* bench_events_write.c — the marker writer's figure for bench/bench_events.sh: the rows of a
 * line-protocol file queued one by one into wg_lp_writer (batched, its own thread) and flushed
 * into a real InfluxDB 1.x; prints the wall time from the first row to the last write.
 * usage: bench_events_write INFLUX_URL FILE
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "collector/collector.h"

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: bench_events_write INFLUX_URL FILE\n");
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
    if (wg_lp_writer_new(&src, 0, WG_NS_PER_SEC / 5, &w) != WG_OK) {
        fclose(f);
        return 1;
    }
    size_t n = 0;
    while (fgets(line, sizeof(line), f)) {
        (void)wg_lp_writer_add(w, line, strlen(line));
        n++;
    }
    fclose(f);
    unsigned long long ok = 0, failed = 0, dropped = 0;
    wg_lp_writer_free_stats(w, &ok, &failed, &dropped);
    printf("writer: %zu rows queued one by one, %llu written, %llu failed, %llu dropped: %lld ms\n",
           n, ok, failed, dropped, (long long)((wg_mono_ns() - t0) / 1000000));
    return failed || dropped || ok != n;
}

/* bench_events_write.c — the marker writer's figure for bench/bench_events.sh: the rows of a
 * line-protocol file queued one by one into the durable wg_lp_writer (as in serve: kept in
 * events.db's outbox by its own thread, sent from there in batches) and written into a real
 * InfluxDB 1.x; prints the wall time from the writer's start to InfluxDB's answer for the last
 * row (the writer counts a batch written at the answer; the store's delete after it is not
 * timed, as curl's figure has none).
 * usage: bench_events_write INFLUX_URL FILE [FLUSH_MS [STATE_DIR]] (default a fresh temp dir)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "collector/collector.h"
#include "gate/gate.h"

int main(int argc, char **argv)
{
    if (argc < 3 || argc > 5) {
        fprintf(stderr, "usage: bench_events_write INFLUX_URL FILE [FLUSH_MS [STATE_DIR]]\n");
        return 64;
    }
    char tmpl[] = "/tmp/bench_events_write.XXXXXX";
    const char *dir = argc == 5 ? argv[4] : mkdtemp(tmpl);
    char err[512] = "";
    struct wg_events *ev = NULL;
    if (!dir || wg_events_open(dir, &ev, err, sizeof(err)) != WG_OK) {
        fprintf(stderr, "events store: %s\n", err);
        return 1;
    }
    FILE *f = fopen(argv[2], "r");
    if (!f) {
        perror(argv[2]);
        wg_events_close(ev);
        return 1;
    }
    struct wg_source src;
    memset(&src, 0, sizeof(src));
    src.name = "marks";
    src.url = argv[1];
    src.database = "marks";
    src.timeout_ns = 30 * WG_NS_PER_SEC;
    struct wg_lp_store st;
    wg_events_marker_store(ev, &st);
    struct wg_lp_writer *w = NULL;
    char line[4096];
    int64_t t0 = wg_mono_ns();
    int64_t flush = argc >= 4 ? strtoll(argv[3], NULL, 10) * 1000000 : WG_NS_PER_SEC / 5;
    if (wg_lp_writer_new_store(&src, &st, 0, flush, &w) != WG_OK) {
        fclose(f);
        wg_events_close(ev);
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
    struct wg_lp_writer_counts c;
    memset(&c, 0, sizeof(c));
    int64_t deadline = wg_mono_ns() + 60 * WG_NS_PER_SEC;
    while (c.written + c.failed + c.dropped < n && wg_mono_ns() < deadline) {
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
        wg_lp_writer_counts(w, &c);
    }
    int64_t t1 = wg_mono_ns();
    wg_lp_writer_free(w);
    unsigned long long left = 0, bytes = 0;
    if (wg_events_marker_count(ev, &left, &bytes) != WG_OK) {
        left = ~0ull;
    }
    wg_events_close(ev);
    if (argc != 5) { /* our own temp dir: removed */
        static const char *const files[] = {"events.db", "events.db-wal", "events.db-shm"};
        for (size_t i = 0; i < 3; i++) {
            char p[sizeof(tmpl) + 32];
            snprintf(p, sizeof(p), "%s/%s", dir, files[i]);
            (void)unlink(p);
        }
        (void)rmdir(dir);
    }
    printf("writer (durable): %zu rows queued one by one, %llu written in %llu batches, %llu "
           "failed, %llu dropped, %llu left stored: ms=%.1f\n",
           n, c.written, c.batches, c.failed, c.dropped, left, (double)(t1 - t0) / 1e6);
    return c.failed || c.dropped || c.written != n || left;
}

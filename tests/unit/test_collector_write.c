/* test_collector_write.c — the batching line-protocol writer against a real loopback HTTP
 * peer (a thread answering 204 like InfluxDB's /write, counting requests and lines): a burst
 * goes out back to back, not held for the flush interval; a trickle is still one batch; a
 * line never waits much past flush_interval.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <arpa/inet.h>
#include <cmocka.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "collector/collector.h"

static int g_lfd, g_port;
static atomic_int g_requests, g_lines;

/* One keep-alive connection: requests with a Content-Length body, each answered 204. */
static void *serve_conn(void *arg)
{
    int fd = (int)(intptr_t)arg;
    size_t cap = 4u << 20, len = 0;
    char *buf = malloc(cap + 1);
    for (;;) {
        char *eoh;
        buf[len] = '\0';
        while (!(eoh = strstr(buf, "\r\n\r\n"))) {
            ssize_t k = read(fd, buf + len, cap - len);
            if (k <= 0) {
                goto out;
            }
            len += (size_t)k;
            buf[len] = '\0';
        }
        const char *cl = strcasestr(buf, "\r\nContent-Length:");
        size_t body = cl && cl < eoh ? strtoul(cl + 17, NULL, 10) : 0;
        size_t total = (size_t)(eoh + 4 - buf) + body;
        while (len < total) {
            ssize_t k = read(fd, buf + len, cap - len);
            if (k <= 0) {
                goto out;
            }
            len += (size_t)k;
        }
        int n = 0;
        for (size_t i = (size_t)(eoh + 4 - buf); i < total; i++) {
            n += buf[i] == '\n';
        }
        atomic_fetch_add(&g_lines, n);
        atomic_fetch_add(&g_requests, 1);
        static const char ans[] = "HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n";
        if (write(fd, ans, sizeof(ans) - 1) != (ssize_t)sizeof(ans) - 1) {
            goto out;
        }
        memmove(buf, buf + total, len - total);
        len -= total;
    }
out:
    free(buf);
    close(fd);
    return NULL;
}

static void *accept_loop(void *arg)
{
    (void)arg;
    for (;;) {
        int fd = accept(g_lfd, NULL, NULL);
        if (fd < 0) {
            return NULL;
        }
        pthread_t th;
        pthread_create(&th, NULL, serve_conn, (void *)(intptr_t)fd);
        pthread_detach(th);
    }
}

static int setup(void **state)
{
    (void)state;
    struct sockaddr_in a;
    socklen_t al = sizeof(a);
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    g_lfd = socket(AF_INET, SOCK_STREAM, 0);
    if (g_lfd < 0 || bind(g_lfd, (struct sockaddr *)&a, sizeof(a)) || listen(g_lfd, 16) ||
        getsockname(g_lfd, (struct sockaddr *)&a, &al)) {
        return -1;
    }
    g_port = ntohs(a.sin_port);
    pthread_t th;
    pthread_create(&th, NULL, accept_loop, NULL);
    pthread_detach(th);
    return 0;
}

static void source(struct wg_source *src, char *url, size_t n)
{
    snprintf(url, n, "http://127.0.0.1:%d", g_port);
    memset(src, 0, sizeof(*src));
    src->name = "marks";
    src->url = url;
    src->database = "marks";
    src->timeout_ns = 10 * WG_NS_PER_SEC;
}

/* Polls (1 ms) until written reaches want or the deadline; returns the time it took. */
static int64_t until_written(struct wg_lp_writer *w, unsigned long long want, int64_t limit_ns)
{
    unsigned long long ok = 0, failed = 0, dropped = 0;
    int64_t t0 = wg_mono_ns();
    while (ok < want && wg_mono_ns() - t0 < limit_ns) {
        usleep(1000);
        wg_lp_writer_stats(w, &ok, &failed, &dropped);
    }
    assert_int_equal(failed + dropped, 0);
    return ok >= want ? wg_mono_ns() - t0 : -1;
}

/* 10,000 rule rows (1.5 MiB) at once with a 10 s flush interval: every row is written within
 * 5 s (the batch past 1 MiB at once, the rest right after it as a backlog), in a few POSTs.
 * Before the backlog rule the rest waited out the whole interval (seen failing: -1). */
static void test_burst(void **state)
{
    (void)state;
    char url[64], line[256];
    struct wg_source src;
    source(&src, url, sizeof(url));
    struct wg_lp_writer *w = NULL;
    atomic_store(&g_requests, 0);
    atomic_store(&g_lines, 0);
    assert_int_equal(wg_lp_writer_new(&src, 0, 10 * WG_NS_PER_SEC, &w), WG_OK);
    for (int i = 0; i < 10000; i++) {
        int n = snprintf(line, sizeof(line),
                         "wavegate_rules,wave=prod,env=production,feature=f%d,rule=r%d,verdict=pass"
                         " value=%d.5,threshold=250,samples=%di,reason=\"ok ok ok ok ok ok ok\" "
                         "%lld\n",
                         i % 50, i % 7, i, i, 1796112000000000000LL + i);
        assert_int_equal(wg_lp_writer_add(w, line, (size_t)n), WG_OK);
    }
    int64_t took = until_written(w, 10000, 5 * WG_NS_PER_SEC);
    int reqs = atomic_load(&g_requests);
    if (took < 0 || reqs > 4) {
        print_error("want 10000 rows within 5 s in <= 4 POSTs; got %d rows in %d POSTs (%lld ms)\n",
                    atomic_load(&g_lines), reqs, (long long)(took / 1000000));
    }
    assert_true(took >= 0);
    assert_true(reqs >= 2 && reqs <= 4);
    wg_lp_writer_free(w);
}

/* A trickle (10 small lines) is still one batch, out within about the flush interval. */
static void test_trickle(void **state)
{
    (void)state;
    char url[64];
    struct wg_source src;
    source(&src, url, sizeof(url));
    struct wg_lp_writer *w = NULL;
    atomic_store(&g_requests, 0);
    atomic_store(&g_lines, 0);
    assert_int_equal(wg_lp_writer_new(&src, 0, WG_NS_PER_SEC / 5, &w), WG_OK);
    for (int i = 0; i < 10; i++) {
        char line[64];
        int n = snprintf(line, sizeof(line), "m v=%di %d\n", i, i + 1);
        assert_int_equal(wg_lp_writer_add(w, line, (size_t)n), WG_OK);
    }
    int64_t took = until_written(w, 10, 5 * WG_NS_PER_SEC);
    assert_true(took >= 0);
    assert_int_equal(atomic_load(&g_requests), 1);
    assert_int_equal(atomic_load(&g_lines), 10);
    wg_lp_writer_free(w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_burst),
        cmocka_unit_test(test_trickle),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}

/* fleet_floor.c — the floor of bench/bench_fleet.sh on this machine: the same queries sent by
 * the least a client can do (prebuilt GET requests on warm keep-alive connections, one epoll
 * loop, a response read to its end and nothing parsed), over the same connections wavegate
 * opens (per port ceil(jobs / rounds), rounds = ceil(jobs / max_concurrency)). What this takes
 * for a fleet against what it takes for one target is the best ratio any client reaches here:
 * whatever wavegate does beyond it (libcurl, parsing, judging, the report) is its own cost.
 * usage: fleet_floor FILE MAX RUNS [THREADS]   FILE: one "port path" per line (e.g.
 * "8086 /query?q=..."); THREADS (default 1) loops, each with its share of the ports, started
 * together at each run (a run ends with the last answer of any). Prints "floor (...): median M
 * ms (runs: ...)" over RUNS runs; with $FLEET_FLOOR_MARKS=PATH it also appends each run's
 * "BEGIN_NS END_NS" (CLOCK_MONOTONIC) to PATH, for bench_fleet.sh's trace of the stand-ins.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "bench_tool.h"

struct port {
    int port;
    size_t *jobs, njobs, next;
};

struct conn {
    int fd;
    struct port *p;
    char buf[1 << 16];
    size_t len;
};

static char **reqs;
static size_t nreqs;

/* 1 when buf holds one whole response (Content-Length, or a chunked body's last chunk) */
static int complete(const char *buf, size_t len)
{
    const char *end = memmem(buf, len, "\r\n\r\n", 4);
    if (!end) {
        return 0;
    }
    size_t head = (size_t)(end - buf) + 4;
    for (const char *l = buf; l < end; l = strstr(l, "\r\n") + 2) {
        if (strncasecmp(l, "content-length:", 15) == 0) {
            return len >= head + strtoul(l + 15, NULL, 10);
        }
        if (strncasecmp(l, "transfer-encoding: chunked", 26) == 0) {
            return len >= head + 5 && memcmp(buf + len - 5, "0\r\n\r\n", 5) == 0;
        }
    }
    return 1;
}

static int send_next(struct conn *c)
{
    if (c->p->next >= c->p->njobs) {
        return 0;
    }
    const char *r = reqs[c->p->jobs[c->p->next++]];
    size_t n = strlen(r);
    if (write(c->fd, r, n) != (ssize_t)n) {
        die("write");
    }
    return 1;
}

/* one event loop: the connections of its ports (port index % nthreads == tid) */
struct loop {
    int ep;
    struct conn *conns;
    size_t nconns, nreqs, tid, nthreads;
    struct port *ports;
    size_t nports;
    int runs;
    int64_t *begin, *end;
};

static pthread_barrier_t start;

static void *loop_main(void *arg)
{
    struct loop *l = arg;
    for (int run = 0; run < l->runs; run++) {
        pthread_barrier_wait(&start);
        size_t done = 0;
        l->begin[run] = mono_ns();
        for (size_t k = l->tid; k < l->nports; k += l->nthreads) {
            l->ports[k].next = 0;
        }
        for (size_t i = 0; i < l->nconns; i++) {
            struct conn *c = &l->conns[i];
            if ((size_t)(c->p - l->ports) % l->nthreads == l->tid) {
                c->len = 0;
                send_next(c);
            }
        }
        struct epoll_event evs[64];
        while (done < l->nreqs) {
            int n = epoll_wait(l->ep, evs, 64, 5000);
            if (n <= 0) {
                fprintf(stderr, "fleet_floor: no answer in 5 s (%zu of %zu)\n", done, l->nreqs);
                exit(1);
            }
            for (int e = 0; e < n; e++) {
                struct conn *c = evs[e].data.ptr;
                ssize_t got = read(c->fd, c->buf + c->len, sizeof(c->buf) - c->len - 1);
                if (got <= 0) {
                    die("read");
                }
                c->len += (size_t)got;
                if (complete(c->buf, c->len)) {
                    done++;
                    c->len = 0;
                    send_next(c);
                }
            }
        }
        l->end[run] = mono_ns();
    }
    return NULL;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    if (argc != 4 && argc != 5) {
        fprintf(stderr, "usage: fleet_floor FILE MAX RUNS [THREADS]\n");
        return 64;
    }
    FILE *f = fopen(argv[1], "r");
    int max = (int)strtol(argv[2], NULL, 10), runs = (int)strtol(argv[3], NULL, 10);
    if (!f || max < 1 || runs < 1) {
        fprintf(stderr, "fleet_floor: bad arguments\n");
        return 64;
    }
    struct port ports[1024];
    size_t nports = 0, cap = 0;
    int *req_port = NULL;
    char line[8192];
    while (fgets(line, sizeof(line), f)) {
        int port;
        char path[8000];
        if (sscanf(line, "%d %7999s", &port, path) != 2) {
            continue;
        }
        if (nreqs == cap) {
            cap = cap ? cap * 2 : 1024;
            reqs = realloc(reqs, cap * sizeof(*reqs));
            req_port = realloc(req_port, cap * sizeof(*req_port));
        }
        char *r = NULL;
        if (asprintf(&r, "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nAccept: */*\r\n\r\n", path,
                     port) < 0) {
            die("asprintf");
        }
        req_port[nreqs] = port;
        reqs[nreqs++] = r;
    }
    fclose(f);
    for (size_t i = 0; i < nreqs; i++) {
        size_t k = 0;
        while (k < nports && ports[k].port != req_port[i]) {
            k++;
        }
        if (k == nports) {
            if (nports == 1024) {
                fprintf(stderr, "fleet_floor: more than 1024 ports\n");
                return 1;
            }
            ports[nports++] =
                (struct port){.port = req_port[i], .jobs = calloc(nreqs, sizeof(size_t))};
        }
        ports[k].jobs[ports[k].njobs++] = i;
    }
    /* the connections, opened before the clock starts (kept ones, as serve has) */
    struct conn *conns = NULL;
    size_t nconns = 0;
    for (size_t k = 0; k < nports; k++) {
        size_t rounds = (ports[k].njobs + (size_t)max - 1) / (size_t)max;
        size_t want = (ports[k].njobs + rounds - 1) / rounds;
        conns = realloc(conns, (nconns + want) * sizeof(*conns));
        for (size_t c = 0; c < want; c++) {
            struct sockaddr_in a = {.sin_family = AF_INET,
                                    .sin_port = htons((uint16_t)ports[k].port)};
            a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
            int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
            if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
                die("connect");
            }
            setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
            conns[nconns] = (struct conn){.fd = fd, .p = &ports[k]};
            nconns++;
        }
    }
    struct loop lp[16];
    int nthreads = argc > 4 ? (int)strtol(argv[4], NULL, 10) : 1;
    if (nthreads < 1 || nthreads > 16) {
        fprintf(stderr, "fleet_floor: THREADS 1..16\n");
        return 64;
    }
    pthread_barrier_init(&start, NULL, (unsigned)nthreads);
    for (int t = 0; t < nthreads; t++) {
        lp[t] = (struct loop){.ep = epoll_create1(0), .conns = conns, .nconns = nconns};
        for (size_t i = 0; i < nconns; i++) {
            if ((size_t)(conns[i].p - ports) % (size_t)nthreads != (size_t)t) {
                continue;
            }
            struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &conns[i]};
            if (epoll_ctl(lp[t].ep, EPOLL_CTL_ADD, conns[i].fd, &ev) != 0) {
                die("epoll_ctl");
            }
        }
        for (size_t k = 0; k < nports; k++) {
            lp[t].nreqs += k % (size_t)nthreads == (size_t)t ? ports[k].njobs : 0;
        }
        lp[t].tid = (size_t)t;
        lp[t].nthreads = (size_t)nthreads;
        lp[t].ports = ports;
        lp[t].nports = nports;
        lp[t].runs = runs;
        lp[t].end = calloc((size_t)runs, sizeof(int64_t));
        lp[t].begin = calloc((size_t)runs, sizeof(int64_t));
    }
    pthread_t th[16];
    for (int t = 1; t < nthreads; t++) {
        pthread_create(&th[t], NULL, loop_main, &lp[t]);
    }
    loop_main(&lp[0]);
    for (int t = 1; t < nthreads; t++) {
        pthread_join(th[t], NULL);
    }
    int64_t *ms = calloc((size_t)runs, sizeof(*ms));
    const char *marks_path = getenv("FLEET_FLOOR_MARKS");
    FILE *marks = marks_path ? fopen(marks_path, "a") : NULL;
    if (marks_path && !marks) {
        die(marks_path);
    }
    for (int run = 0; run < runs; run++) {
        int64_t b = lp[0].begin[run], e = lp[0].end[run];
        for (int t = 1; t < nthreads; t++) {
            b = lp[t].begin[run] < b ? lp[t].begin[run] : b;
            e = lp[t].end[run] > e ? lp[t].end[run] : e;
        }
        ms[run] = (e - b) / 1000;
        if (marks) {
            fprintf(marks, "%lld %lld\n", (long long)b, (long long)e);
        }
    }
    if (marks && fclose(marks) != 0) {
        die(marks_path);
    }
    printf("floor (%zu requests, %zu ports, %zu connections, %d thread%s): ", nreqs, nports, nconns,
           nthreads, nthreads > 1 ? "s" : "");
    int64_t *sorted = malloc((size_t)runs * sizeof(*sorted));
    memcpy(sorted, ms, (size_t)runs * sizeof(*ms));
    qsort(sorted, (size_t)runs, sizeof(*sorted), cmp_i64);
    printf("median %.1f ms (runs:", (double)sorted[runs / 2] / 1000);
    for (int run = 0; run < runs; run++) {
        printf(" %.1f", (double)ms[run] / 1000);
    }
    printf(")\n");
    return 0;
}

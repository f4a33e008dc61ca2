/* bench_events_load.c — the open-loop load of bench/bench_events.sh: POST /v1/events at RATE
 * events/s for SECONDS over CONNS keep-alive connections (one thread, poll). Each event has a
 * due time; its latency runs from that time (not from the send) to the end of its answer, so a
 * slow answer that delays the next ones is counted (no coordinated omission).
 * usage: bench_events_load PORT TOKEN SECONDS RATE CONNS  → p50/p99/max, statuses, ids file.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAXC 256

struct conn {
    int fd;
    int busy;
    int64_t due; /* of the request in flight */
    char in[4096];
    size_t inlen;
};

static int64_t mono(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000000LL + t.tv_nsec;
}

static int dial(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    struct sockaddr_in a;
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
        perror("connect");
        exit(1);
    }
    return fd;
}

static int cmp(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

/* 1 when c->in holds a whole answer: its status in *st, the rest kept for the next one. */
static int answer_done(struct conn *c, int *st)
{
    c->in[c->inlen < sizeof(c->in) ? c->inlen : sizeof(c->in) - 1] = '\0';
    char *eoh = strstr(c->in, "\r\n\r\n");
    if (!eoh) {
        return 0;
    }
    const char *cl = strcasestr(c->in, "\r\nContent-Length:");
    size_t blen = cl && cl < eoh ? strtoul(cl + 17, NULL, 10) : 0;
    size_t total = (size_t)(eoh + 4 - c->in) + blen;
    if (c->inlen < total) {
        return 0;
    }
    *st = (int)strtol(c->in + 9, NULL, 10);
    memmove(c->in, c->in + total, c->inlen - total);
    c->inlen -= total;
    return 1;
}

int main(int argc, char **argv)
{
    if (argc != 6) {
        fprintf(stderr, "usage: bench_events_load PORT TOKEN SECONDS RATE CONNS\n");
        return 64;
    }
    int port = (int)strtol(argv[1], NULL, 10), nc = (int)strtol(argv[5], NULL, 10);
    double secs = strtod(argv[3], NULL), rate = strtod(argv[4], NULL);
    long total = (long)(secs * rate);
    nc = nc < 1 ? 1 : nc > MAXC ? MAXC : nc;
    int64_t *lat = calloc((size_t)total + 1, sizeof(*lat));
    static struct conn cs[MAXC];
    for (int i = 0; i < nc; i++) {
        cs[i].fd = dial(port);
    }
    long sent = 0, done = 0, codes[6] = {0}, reconnects = 0;
    int rr = 0;
    int64_t t0 = mono() + 50000000LL;
    while (done < total) {
        int64_t now = mono();
        /* send every due event on an idle connection (a due event with none idle waits) */
        for (int j = 0; j < nc && sent < total; j++) {
            int i = (rr + j) % nc; /* round robin: every connection stays in use */
            int64_t due = t0 + (int64_t)((double)sent * 1e9 / rate);
            if (due > now) {
                break;
            }
            if (cs[i].busy) {
                continue;
            }
            rr = i + 1;
            char body[256], req[768];
            int bl = snprintf(body, sizeof(body),
                              "{\"type\":\"flag\",\"feature\":\"checkout\",\"state\":\"%s\","
                              "\"env\":\"production\",\"version\":\"%ld\",\"source\":\"bench\"}",
                              sent % 2 ? "on" : "off", sent);
            int rl = snprintf(req, sizeof(req),
                              "POST /v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: "
                              "Bearer %s\r\nContent-Type: application/json\r\nContent-Length: "
                              "%d\r\n\r\n%s",
                              argv[2], bl, body);
            if (write(cs[i].fd, req, (size_t)rl) != rl) {
                perror("write");
                return 1;
            }
            cs[i].busy = 1;
            cs[i].due = due;
            sent++;
        }
        struct pollfd p[MAXC];
        for (int i = 0; i < nc; i++) {
            p[i].fd = cs[i].fd;
            p[i].events = cs[i].busy ? POLLIN : 0;
            p[i].revents = 0;
        }
        /* sleep until the next due time or an answer (ns precision: no spinning, the server
         * shares the machine's two cores with this client) */
        int64_t wait =
            sent < total ? t0 + (int64_t)((double)sent * 1e9 / rate) - mono() : 1000000000LL;
        struct timespec to = {0, 0};
        int idle = 0;
        for (int i = 0; i < nc; i++) {
            idle += !cs[i].busy;
        }
        if (wait <= 0 && !idle) {
            wait = 1000000000LL; /* due, but every connection waits on its answer */
        }
        if (wait > 0) {
            to.tv_sec = (time_t)(wait / 1000000000LL);
            to.tv_nsec = (long)(wait % 1000000000LL);
        }
        if (ppoll(p, (nfds_t)nc, &to, NULL) < 0 && errno != EINTR) {
            perror("poll");
            return 1;
        }
        for (int i = 0; i < nc; i++) {
            if (!(p[i].revents & (POLLIN | POLLHUP | POLLERR))) {
                continue;
            }
            struct conn *c = &cs[i];
            ssize_t k = read(c->fd, c->in + c->inlen, sizeof(c->in) - 1 - c->inlen);
            if (k <= 0 && !c->busy) { /* an idle keep-alive closed by the server: redial */
                close(c->fd);
                c->fd = dial(port);
                c->inlen = 0;
                reconnects++;
                continue;
            }
            if (k <= 0) {
                fprintf(stderr, "connection %d closed by the server before its answer\n", i);
                return 1;
            }
            c->inlen += (size_t)k;
            int st = 0;
            if (c->busy && answer_done(c, &st)) {
                lat[done++] = mono() - c->due;
                codes[st / 100 < 6 ? st / 100 : 0]++;
                c->busy = 0;
            }
        }
    }
    double el = (double)(mono() - t0) / 1e9;
    qsort(lat, (size_t)done, sizeof(*lat), cmp);
    printf("sent %ld in %.1fs over %d connections (%ld redialled); 2xx %ld, 4xx %ld, 5xx %ld\n",
           done, el, nc, reconnects, codes[2], codes[4], codes[5]);
    printf("latency ms: p50 %.2f  p99 %.2f  p99.9 %.2f  max %.2f\n", lat[done / 2] / 1e6,
           lat[(long)(done * 0.99)] / 1e6, lat[(long)(done * 0.999)] / 1e6, lat[done - 1] / 1e6);
    free(lat);
    return codes[2] == total ? 0 : 2;
}

/* bench_events_load.c — the open-loop load of bench/bench_events.sh: POST /v1/events at RATE
 * events/s for SECONDS over CONNS keep-alive connections and, at the same time and rate on CONNS
 * more, a control GET (CTRL_PATH, e.g. /healthz: no store, no lock) so a noisy machine shows in
 * both (one thread, poll). Each request has a due time; its latency runs from that time (not
 * from the send) to the end of its answer, so a slow answer that delays the next ones is counted
 * (no coordinated omission). The part of it before the send (this client late) is reported too.
 * usage: bench_events_load PORT TOKEN SECONDS RATE CONNS [CTRL_PATH|only:CTRL_PATH|-] [SLOW_FILE]
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

struct stream {
    const char *name, *path;
    int post;
    long total, sent, done, codes[6], reconnects;
    int first, nc, rr; /* its connections: cs[first .. first + nc) */
    int64_t *lat, *lag;
};

struct conn {
    int fd;
    int busy;
    int64_t due; /* of the request in flight */
    char in[4096];
    size_t inlen;
};

static struct conn cs[MAXC];
static FILE *slow;
static int64_t t0;
static int64_t *oversleep; /* each timed sleep of this client: how late it woke */
static long noversleep, maxoversleep;

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

static int64_t due_of(const struct stream *s, double rate)
{
    return t0 + (int64_t)((double)s->sent * 1e9 / rate);
}

/* Send every due request of s on an idle connection of its own (none idle: it waits). */
static void send_due(struct stream *s, double rate, const char *token, int64_t now)
{
    for (int j = 0; j < s->nc && s->sent < s->total; j++) {
        int i = s->first + (s->rr + j) % s->nc; /* round robin: every connection in use */
        int64_t due = due_of(s, rate);
        if (due > now) {
            break;
        }
        if (cs[i].busy) {
            continue;
        }
        s->rr = i - s->first + 1;
        char body[256], req[768];
        int bl = 0, rl;
        if (s->post) {
            bl = snprintf(body, sizeof(body),
                          "{\"type\":\"flag\",\"feature\":\"checkout\",\"state\":\"%s\","
                          "\"env\":\"production\",\"version\":\"%ld\",\"source\":\"bench\"}",
                          s->sent % 2 ? "on" : "off", s->sent);
            rl = snprintf(req, sizeof(req),
                          "POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer %s\r\n"
                          "Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s",
                          s->path, token, bl, body);
        } else {
            rl = snprintf(req, sizeof(req),
                          "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer %s\r\n\r\n",
                          s->path, token);
        }
        if (write(cs[i].fd, req, (size_t)rl) != rl) {
            perror("write");
            exit(1);
        }
        s->lag[s->sent] = mono() - due;
        cs[i].busy = 1;
        cs[i].due = due;
        s->sent++;
    }
}

static double pct(const int64_t *v, long n, double q)
{
    return n ? (double)v[(long)((double)n * q) < n ? (long)((double)n * q) : n - 1] / 1e6 : 0;
}

static void report(struct stream *s, double el)
{
    qsort(s->lat, (size_t)s->done, sizeof(*s->lat), cmp);
    qsort(s->lag, (size_t)s->sent, sizeof(*s->lag), cmp);
    long over = 0;
    for (long k = 0; k < s->done; k++) {
        over += s->lat[k] > 5000000LL;
    }
    printf("%s %s: sent %ld in %.1fs over %d connections (%ld redialled); 2xx %ld, 4xx %ld, "
           "5xx %ld\n",
           s->name, s->path, s->done, el, s->nc, s->reconnects, s->codes[2], s->codes[4],
           s->codes[5]);
    printf("%s latency ms: p50 %.2f  p99 %.2f  p99.9 %.2f  max %.2f  (> 5 ms: %ld = %.3f%%)\n",
           s->name, pct(s->lat, s->done, 0.5), pct(s->lat, s->done, 0.99),
           pct(s->lat, s->done, 0.999), pct(s->lat, s->done, 1.0), over,
           s->done ? 100.0 * (double)over / (double)s->done : 0);
    printf("%s client late to send ms: p50 %.2f  p99 %.2f  max %.2f\n", s->name,
           pct(s->lag, s->sent, 0.5), pct(s->lag, s->sent, 0.99), pct(s->lag, s->sent, 1.0));
}

int main(int argc, char **argv)
{
    if (argc < 6 || argc > 8) {
        fprintf(stderr, "usage: bench_events_load PORT TOKEN SECONDS RATE CONNS [CTRL_PATH|-] "
                        "[SLOW_FILE]\n");
        return 64;
    }
    int port = (int)strtol(argv[1], NULL, 10), nc = (int)strtol(argv[5], NULL, 10);
    double secs = strtod(argv[3], NULL), rate = strtod(argv[4], NULL);
    const char *ctrl = argc > 6 && strcmp(argv[6], "-") ? argv[6] : NULL;
    int only = ctrl && !strncmp(ctrl, "only:", 5); /* the control alone, no events */
    ctrl += only ? 5 : 0;
    if (argc > 7 && !(slow = fopen(argv[7], "w"))) {
        perror(argv[7]);
        return 1;
    }
    int ns = ctrl ? 2 : 1;
    nc = nc < 1 ? 1 : nc > MAXC / ns ? MAXC / ns : nc;
    struct stream ss[2] = {{.name = "events", .path = "/v1/events", .post = 1},
                           {.name = "control", .path = ctrl}};
    for (int k = 0; k < ns; k++) {
        ss[k].total = k == 0 && only ? 0 : (long)(secs * rate);
        ss[k].first = k * nc;
        ss[k].nc = nc;
        ss[k].lat = calloc((size_t)ss[k].total + 1, sizeof(int64_t));
        ss[k].lag = calloc((size_t)ss[k].total + 1, sizeof(int64_t));
        if (!ss[k].lat || !ss[k].lag) {
            return 1;
        }
    }
    for (int i = 0; i < ns * nc; i++) {
        cs[i].fd = dial(port);
    }
    maxoversleep = (long)(secs * rate) * ns + 1;
    if (!(oversleep = calloc((size_t)maxoversleep, sizeof(*oversleep)))) {
        return 1;
    }
    t0 = mono() + 50000000LL;
    for (;;) {
        int finished = 1;
        for (int k = 0; k < ns; k++) {
            finished &= ss[k].done >= ss[k].total;
        }
        if (finished) {
            break;
        }
        int64_t now = mono();
        for (int k = 0; k < ns; k++) {
            send_due(&ss[k], rate, argv[2], now);
        }
        struct pollfd p[MAXC];
        for (int i = 0; i < ns * nc; i++) {
            p[i].fd = cs[i].fd;
            p[i].events = cs[i].busy ? POLLIN : 0;
            p[i].revents = 0;
        }
        /* sleep until the next due time or an answer (ns precision: no spinning, the server
         * shares the machine's two cores with this client); a stream due with every connection
         * waiting on its answer waits for an answer */
        int64_t wait = 1000000000LL;
        for (int k = 0; k < ns; k++) {
            struct stream *s = &ss[k];
            int idle = 0;
            for (int i = s->first; i < s->first + s->nc; i++) {
                idle += !cs[i].busy;
            }
            int64_t w = s->sent < s->total ? due_of(s, rate) - mono() : 1000000000LL;
            if (w <= 0 && !idle) {
                w = 1000000000LL;
            }
            wait = w < wait ? w : wait;
        }
        struct timespec to = {0, 0};
        if (wait > 0) {
            to.tv_sec = (time_t)(wait / 1000000000LL);
            to.tv_nsec = (long)(wait % 1000000000LL);
        }
        int64_t want = mono() + (wait > 0 ? wait : 0);
        int pr = ppoll(p, (nfds_t)(ns * nc), &to, NULL);
        if (pr < 0 && errno != EINTR) {
            perror("poll");
            return 1;
        }
        if (pr == 0 && wait < 1000000000LL && noversleep < maxoversleep) {
            oversleep[noversleep++] = mono() - want; /* the machine kept this client off a core */
        }
        for (int i = 0; i < ns * nc; i++) {
            if (!(p[i].revents & (POLLIN | POLLHUP | POLLERR))) {
                continue;
            }
            struct stream *s = &ss[i / nc];
            struct conn *c = &cs[i];
            ssize_t k = read(c->fd, c->in + c->inlen, sizeof(c->in) - 1 - c->inlen);
            if (k <= 0 && !c->busy) { /* an idle keep-alive closed by the server: redial */
                close(c->fd);
                c->fd = dial(port);
                c->inlen = 0;
                s->reconnects++;
                continue;
            }
            if (k <= 0) {
                fprintf(stderr, "connection %d closed by the server before its answer\n", i);
                return 1;
            }
            c->inlen += (size_t)k;
            int st = 0;
            if (c->busy && answer_done(c, &st)) {
                int64_t l = mono() - c->due;
                s->lat[s->done++] = l;
                s->codes[st / 100 < 6 ? st / 100 : 0]++;
                c->busy = 0;
                if (slow && l > 5000000LL) { /* when (ms since the start), which, how long */
                    fprintf(slow, "%.3f %s %.3f\n", (double)(c->due - t0) / 1e6, s->name,
                            (double)l / 1e6);
                }
            }
        }
    }
    double el = (double)(mono() - t0) / 1e9;
    int ok = 1;
    for (int k = only; k < ns; k++) {
        report(&ss[k], el);
        ok &= ss[k].codes[2] == ss[k].total;
    }
    for (int k = 0; k < ns; k++) {
        free(ss[k].lat);
        free(ss[k].lag);
    }
    qsort(oversleep, (size_t)noversleep, sizeof(*oversleep), cmp);
    printf("client woke late from its timed sleeps ms (%ld sleeps): p50 %.2f  p99 %.2f  "
           "max %.2f\n",
           noversleep, pct(oversleep, noversleep, 0.5), pct(oversleep, noversleep, 0.99),
           pct(oversleep, noversleep, 1.0));
    free(oversleep);
    if (slow) {
        fclose(slow);
    }
    return ok ? 0 : 2;
}

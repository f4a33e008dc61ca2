/* fleet_standin.c — the stand-in InfluxDB 1.x servers of bench/bench_fleet.sh: N ports on
 * 127.0.0.1, each answering every request (GET /query?... or a POST form: headers and a
 * Content-Length body read to their end) with InfluxDB 1.x's /query JSON exactly LAT_MS after it
 * was read, in order per keep-alive connection. One process, one epoll loop; the answers wait in
 * one FIFO (a constant latency keeps it sorted by due time) whose head is epoll's timeout.
 * usage: fleet_standin N LAT_MS [T0]   (T0: the answers' epoch seconds, default now) prints the
 * ports on one line, then its pid on the next; SIGTERM exits, first writing to
 * $FLEET_STANDIN_STATS (if set) how late the answers went out after their due time.
 * $FLEET_STANDIN_TRACE=PATH: every request read and every answer sent is noted ("NS FD R" and
 * "NS FD A", CLOCK_MONOTONIC nanoseconds) in memory; each SIGUSR1 writes the notes so far to
 * PATH (whole: written beside it, then renamed) and starts afresh. bench_fleet.sh reads them
 * to show where a gate call's time goes, seen from the servers' side.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "bench_tool.h"

#define LISTENER (1ULL << 32)
#define MAX_HEAD (1 << 20)
#define LATE_BUCKETS 10001 /* 10 us each, the last one for 100 ms and more */

struct conn {
    int open;
    uint32_t gen;  /* bumped at each close: a queued answer for an older connection is dropped */
    int pending;   /* answers queued, not yet written */
    int continued; /* a 100 Continue was sent for the request being read */
    int want_out;  /* EPOLLOUT registered */
    char *in, *out;
    size_t in_len, in_cap, out_off, out_len, out_cap;
};

struct due {
    int64_t at;
    int fd;
    uint32_t gen;
};

static struct conn *conns;
static size_t nconns;
static struct due *q;
static size_t q_head, q_len, q_cap;
static int ep;
static int64_t lat_ns;
static char answer[512];
static size_t answer_len;
static volatile sig_atomic_t stopping;
static uint64_t late_hist[LATE_BUCKETS], answered;
static int64_t late_max;

struct note {
    int64_t at;
    int fd;
    char kind; /* 'R' a request read whole, 'A' its answer sent */
};
static const char *trace_path;
static struct note *notes;
static size_t nnotes, notes_cap;
static volatile sig_atomic_t dump_asked;

static void *grow(void *p, size_t *cap, size_t need, size_t elem)
{
    size_t c = *cap ? *cap : 16;
    while (c < need) {
        c *= 2;
    }
    if (c == *cap) {
        return p;
    }
    p = realloc(p, c * elem);
    if (!p) {
        die("realloc");
    }
    *cap = c;
    return p;
}

static void note(int64_t at, int fd, char kind)
{
    if (trace_path) {
        notes = grow(notes, &notes_cap, nnotes + 1, sizeof(*notes));
        notes[nnotes++] = (struct note){at, fd, kind};
    }
}

static void trace_dump(void)
{
    char tmp[4096];
    snprintf(tmp, sizeof(tmp), "%s.part", trace_path);
    FILE *f = fopen(tmp, "w");
    if (!f) {
        die("trace");
    }
    for (size_t i = 0; i < nnotes; i++) {
        fprintf(f, "%lld %d %c\n", (long long)notes[i].at, notes[i].fd, notes[i].kind);
    }
    if (fclose(f) != 0 || rename(tmp, trace_path) != 0) {
        die("trace");
    }
    nnotes = 0;
}

static void q_push(int64_t at, int fd, uint32_t gen)
{
    if (q_len == q_cap) { /* ring of a power-of-two size: unwrap into the bigger one */
        size_t old = q_cap, c = q_cap;
        struct due *n = NULL;
        n = grow(n, &c, old + 1, sizeof(*n));
        for (size_t i = 0; i < q_len; i++) {
            n[i] = q[(q_head + i) & (old - 1)];
        }
        free(q);
        q = n;
        q_cap = c;
        q_head = 0;
    }
    q[(q_head + q_len) & (q_cap - 1)] = (struct due){at, fd, gen};
    q_len++;
}

static void conn_close(int fd)
{
    struct conn *c = &conns[fd];
    close(fd); /* leaves the epoll set with it */
    c->open = 0;
    c->gen++;
    c->pending = c->continued = c->want_out = 0;
    c->in_len = c->out_off = c->out_len = 0;
}

static void want_out(int fd, int on)
{
    struct epoll_event ev = {.events = EPOLLIN | (on ? EPOLLOUT : 0), .data.u64 = (uint64_t)fd};
    if (epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ev) < 0) {
        die("epoll_ctl mod");
    }
    conns[fd].want_out = on;
}

/* sends what is queued in c->out, then (if nothing is left) b; keeps the rest for EPOLLOUT */
static void conn_send(int fd, const char *b, size_t n)
{
    struct conn *c = &conns[fd];
    if (c->out_len == 0 && n > 0) {
        ssize_t w = send(fd, b, n, MSG_NOSIGNAL);
        if (w < 0 && errno != EAGAIN && errno != EINTR) {
            conn_close(fd);
            return;
        }
        size_t sent = w > 0 ? (size_t)w : 0;
        b += sent;
        n -= sent;
    }
    if (n > 0) {
        if (c->out_off > 0 && c->out_off == c->out_len) {
            c->out_off = c->out_len = 0;
        }
        c->out = grow(c->out, &c->out_cap, c->out_len + n, 1);
        memcpy(c->out + c->out_len, b, n);
        c->out_len += n;
    }
    while (c->out_off < c->out_len) {
        ssize_t w = send(fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR) {
                continue;
            }
            if (errno != EAGAIN) {
                conn_close(fd);
                return;
            }
            break;
        }
        c->out_off += (size_t)w;
    }
    if (c->out_off == c->out_len) {
        c->out_off = c->out_len = 0;
    }
    if ((c->out_len > 0) != (c->want_out != 0)) {
        want_out(fd, c->out_len > 0);
    }
}

/* the requests complete in c->in: one queued answer each; 0, or -1 when the peer misbehaves */
static int conn_parse(int fd, int64_t now)
{
    struct conn *c = &conns[fd];
    size_t off = 0;
    for (;;) {
        char *h = c->in + off, *end = memmem(h, c->in_len - off, "\r\n\r\n", 4);
        if (!end) {
            if (c->in_len - off > MAX_HEAD) {
                return -1;
            }
            break;
        }
        size_t body = (size_t)(end + 4 - c->in), need = 0;
        int expect = 0;
        for (char *l = h; l < end;) {
            char *eol = memmem(l, (size_t)(end - l), "\r\n", 2);
            size_t ll = eol ? (size_t)(eol - l) : (size_t)(end - l);
            if (ll > 15 && strncasecmp(l, "content-length:", 15) == 0) {
                char *e = NULL;
                errno = 0;
                unsigned long long v = strtoull(l + 15, &e, 10);
                if (errno || e == l + 15 || v > (1ULL << 30)) {
                    return -1;
                }
                need = (size_t)v;
            } else if (ll > 7 && strncasecmp(l, "expect:", 7) == 0) {
                expect = 1;
            }
            l = eol ? eol + 2 : end;
        }
        if (c->in_len - body < need) {
            /* the client waits for an interim answer only when no earlier answer is due first */
            if (expect && !c->continued && c->pending == 0) {
                static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
                c->continued = 1;
                conn_send(fd, cont, sizeof(cont) - 1);
                if (!c->open) {
                    return 0;
                }
            }
            break;
        }
        off = body + need;
        c->continued = 0;
        c->pending++;
        note(now, fd, 'R');
        q_push(now + lat_ns, fd, c->gen);
    }
    if (off > 0) {
        memmove(c->in, c->in + off, c->in_len - off);
        c->in_len -= off;
    }
    return 0;
}

static void conn_read(int fd)
{
    struct conn *c = &conns[fd];
    for (;;) {
        c->in = grow(c->in, &c->in_cap, c->in_len + 4096, 1);
        size_t room = c->in_cap - c->in_len;
        ssize_t r = read(fd, c->in + c->in_len, room);
        if (r > 0) {
            c->in_len += (size_t)r;
            if ((size_t)r < room) {
                break; /* drained for now: level-triggered epoll reports the rest */
            }
            continue;
        }
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r < 0 && errno == EAGAIN) {
            break;
        }
        conn_close(fd); /* the client closed (or failed): its queued answers are dropped */
        return;
    }
    if (conn_parse(fd, mono_ns()) < 0) {
        conn_close(fd);
    }
}

static void do_accept(int lfd)
{
    for (;;) {
        int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED) {
                continue;
            }
            if (errno != EAGAIN) {
                perror("accept4");
            }
            return;
        }
        if ((size_t)fd >= nconns) {
            size_t old = nconns;
            conns = grow(conns, &nconns, (size_t)fd + 1, sizeof(*conns));
            memset(conns + old, 0, (nconns - old) * sizeof(*conns));
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)); /* as asyncio does */
        conns[fd].open = 1;
        struct epoll_event ev = {.events = EPOLLIN, .data.u64 = (uint64_t)fd};
        if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
            die("epoll_ctl add");
        }
    }
}

static void build_answer(long long t0)
{
    long long t = t0 * 1000000000LL;
    char body[256];
    int b = snprintf(body, sizeof(body),
                     "{\"results\":[{\"statement_id\":0,\"series\":[{\"name\":\"http\",\"columns\":"
                     "[\"time\",\"max\"],\"values\":[[%lld,100],[%lld,101]]}]}]}\n",
                     t - 60 * 1000000000LL, t);
    int n = snprintf(answer, sizeof(answer),
                     "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                     "X-Influxdb-Version: 1.6.7\r\nContent-Length: %d\r\n\r\n%s",
                     b, body);
    if (b <= 0 || (size_t)b >= sizeof(body) || n <= 0 || (size_t)n >= sizeof(answer)) {
        die("answer");
    }
    answer_len = (size_t)n;
}

/* the answers due by now, oldest first; called between events too, so a burst of reads and
 * accepts does not hold back an answer that is due */
static void send_due(void)
{
    int64_t now = mono_ns();
    while (q_len > 0 && q[q_head].at <= now) {
        struct due d = q[q_head];
        q_head = (q_head + 1) & (q_cap - 1);
        q_len--;
        struct conn *c = &conns[d.fd];
        if (c->open && c->gen == d.gen) {
            c->pending--;
            conn_send(d.fd, answer, answer_len);
            int64_t late = mono_ns() - d.at;
            late_hist[late / 10000 < LATE_BUCKETS - 1 ? late / 10000 : LATE_BUCKETS - 1]++;
            late_max = late > late_max ? late : late_max;
            answered++;
            now = late + d.at;
            note(now, d.fd, 'A');
        }
    }
}

static void on_signal(int sig)
{
    if (sig == SIGUSR1) {
        dump_asked = 1;
    } else {
        stopping = 1;
    }
}

/* "answers N late_us p50 A p99 B max C": the send time minus the due time, 10 us resolution */
static void write_stats(void)
{
    const char *path = getenv("FLEET_STANDIN_STATS");
    FILE *f = path ? fopen(path, "w") : NULL;
    if (!f) {
        return;
    }
    long p[2] = {-1, -1};
    uint64_t seen = 0, want[2] = {(answered + 1) / 2, answered - answered / 100}; /* ranks */
    for (size_t b = 0; b < LATE_BUCKETS && p[1] < 0; b++) {
        seen += late_hist[b];
        for (int k = 0; k < 2; k++) {
            if (p[k] < 0 && seen >= want[k]) {
                p[k] = (long)b * 10;
            }
        }
    }
    fprintf(f, "answers %llu late_us p50 %ld p99 %ld max %lld\n", (unsigned long long)answered,
            p[0], p[1], (long long)(late_max / 1000));
    fclose(f);
}

static long long arg_num(const char *s, long long lo, long long hi)
{
    char *e = NULL;
    errno = 0;
    long long v = strtoll(s, &e, 10);
    if (errno || e == s || *e || v < lo || v > hi) {
        fprintf(stderr, "fleet_standin: bad number '%s'\n", s);
        exit(2);
    }
    return v;
}

int main(int argc, char **argv)
{
    if (argc < 3 || argc > 4) {
        fprintf(stderr, "usage: fleet_standin N LAT_MS [T0]\n");
        return 2;
    }
    int n = (int)arg_num(argv[1], 1, 10000);
    lat_ns = arg_num(argv[2], 0, 3600000) * 1000000;
    build_answer(argc > 3 ? arg_num(argv[3], 0, 1LL << 40) : (long long)time(NULL));
    trace_path = getenv("FLEET_STANDIN_TRACE");
    /* SIGTERM and SIGUSR1 are let in only while waiting in epoll (no lost wake-up between
     * check and wait) */
    sigset_t sigs, waitmask;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGUSR1);
    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    if (sigprocmask(SIG_BLOCK, &sigs, &waitmask) < 0 || sigaction(SIGTERM, &sa, NULL) < 0 ||
        sigaction(SIGUSR1, &sa, NULL) < 0) {
        die("signals");
    }
    sigdelset(&waitmask, SIGTERM);
    sigdelset(&waitmask, SIGUSR1);
    /* the timeout's slack: max(0.1% of it, this) instead of max(0.1%, 50 us) */
    prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);
    ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0) {
        die("epoll_create1");
    }
    for (int i = 0; i < n; i++) {
        int s = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), one = 1;
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        socklen_t al = sizeof(a);
        if (s < 0 || setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
            bind(s, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(s, 512) < 0 ||
            getsockname(s, (struct sockaddr *)&a, &al) < 0) {
            die("listen");
        }
        struct epoll_event ev = {.events = EPOLLIN, .data.u64 = LISTENER | (uint64_t)s};
        if (epoll_ctl(ep, EPOLL_CTL_ADD, s, &ev) < 0) {
            die("epoll_ctl listen");
        }
        printf("%s%u", i ? " " : "", (unsigned)ntohs(a.sin_port));
    }
    printf("\n%ld\n", (long)getpid());
    fflush(stdout);

    struct epoll_event evs[256];
    while (!stopping) {
        struct timespec ts = {0, 0}, *tp = NULL;
        if (q_len > 0) {
            int64_t d = q[q_head].at - mono_ns();
            if (d > 0) {
                ts.tv_sec = d / 1000000000;
                ts.tv_nsec = d % 1000000000;
            }
            tp = &ts;
        }
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 35))
        int k = epoll_pwait2(ep, evs, 256, tp, &waitmask);
#else /* millisecond timeouts, rounded up: answers up to 1 ms late */
        int ms = tp ? (int)((ts.tv_sec * 1000000000 + ts.tv_nsec + 999999) / 1000000) : -1;
        int k = epoll_pwait(ep, evs, 256, ms, &waitmask);
#endif
        if (dump_asked) {
            dump_asked = 0;
            if (trace_path) {
                trace_dump();
            }
        }
        if (k < 0) {
            if (errno == EINTR) {
                continue;
            }
            die("epoll_pwait2");
        }
        for (int i = 0; i < k; i++) {
            if (q_len > 0) {
                send_due();
            }
            uint64_t u = evs[i].data.u64;
            int fd = (int)(u & 0xffffffffu);
            if (u & LISTENER) {
                do_accept(fd);
                continue;
            }
            if (conns[fd].open && (evs[i].events & EPOLLOUT)) {
                conn_send(fd, NULL, 0);
            }
            if (conns[fd].open && (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))) {
                conn_read(fd);
            }
        }
        send_due();
    }
    write_stats();
    return 0;
}

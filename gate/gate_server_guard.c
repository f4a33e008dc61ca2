/* gate_server_guard.c — the connection guard of `serve`: a deadline for a whole request head
 * and body (libmicrohttpd's connection timeout is an idle timeout, so a peer trickling a byte
 * a second keeps its slot forever), and capacity kept for new clients: near the connection
 * limit the oldest connection still waiting for its request is closed first.
 * Driven by MHD's connection notifications; tests/integration/test_serve_limits.sh pins it.
 */
#include "gate/gate_server_int.h"

#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>

/* One open connection. Listed (oldest first) while the server waits for a request head and
 * body on it: from accept, and again after each response on a keep-alive connection. */
struct wg__conn {
    struct wg__conn *prev, *next;
    int fd;
    int listed;
    int shed; /* shut down by the guard; MHD closes and reports it */
    int64_t since;
};

static void unlink_conn(struct wg__guard *g, struct wg__conn *c)
{
    if (!c->listed) {
        return;
    }
    if (c->prev) {
        c->prev->next = c->next;
    } else {
        g->head = c->next;
    }
    if (c->next) {
        c->next->prev = c->prev;
    } else {
        g->tail = c->prev;
    }
    c->prev = c->next = NULL;
    c->listed = 0;
}

static void append_conn(struct wg__guard *g, struct wg__conn *c, int64_t now)
{
    unlink_conn(g, c);
    c->since = now;
    c->prev = g->tail;
    if (g->tail) {
        g->tail->next = c;
    } else {
        g->head = c;
    }
    g->tail = c;
    c->listed = 1;
}

/* Close a waiting connection: shutdown() wakes MHD's poll on it, MHD reads EOF and closes
 * the connection itself (so the fd is never closed under MHD, and the CLOSED notification,
 * which needs g->mu, comes before MHD closes the fd: it cannot be a reused one). */
static void shed(struct wg__guard *g, struct wg__conn *c, atomic_ullong *counter)
{
    unlink_conn(g, c);
    c->shed = 1;
    shutdown(c->fd, SHUT_RDWR);
    atomic_fetch_add(counter, 1);
}

static void *reaper(void *arg)
{
    struct wg__guard *g = arg;
    pthread_mutex_lock(&g->mu);
    while (!g->stop) {
        int64_t now = wg_mono_ns();
        while (g->head && now - g->head->since >= g->deadline_ns) {
            shed(g, g->head, &g->shed_deadline);
        }
        int64_t wake = g->head ? g->head->since + g->deadline_ns : now + WG_NS_PER_SEC;
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        int64_t at = (int64_t)ts.tv_sec * WG_NS_PER_SEC + ts.tv_nsec + (wake - now);
        ts.tv_sec = (time_t)(at / WG_NS_PER_SEC);
        ts.tv_nsec = (long)(at % WG_NS_PER_SEC);
        pthread_cond_timedwait(&g->cv, &g->mu, &ts);
    }
    pthread_mutex_unlock(&g->mu);
    return NULL;
}

enum wg_err wg__guard_start(struct wg__guard *g, unsigned limit, int64_t deadline_ns)
{
    pthread_condattr_t ca;
    pthread_mutex_init(&g->mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&g->cv, &ca);
    pthread_condattr_destroy(&ca);
    g->deadline_ns = deadline_ns > 0 ? deadline_ns : 10 * WG_NS_PER_SEC;
    /* Keep an eighth of the slots (at least one) free for new clients. */
    unsigned reserve = limit / 8 ? limit / 8 : 1;
    g->high = limit > reserve ? limit - reserve : 0;
    g->inited = 1;
    if (pthread_create(&g->th, NULL, reaper, g) != 0) {
        return WG_ENOMEM;
    }
    g->started = 1;
    return WG_OK;
}

void wg__guard_set_deadline(struct wg__guard *g, int64_t deadline_ns)
{
    pthread_mutex_lock(&g->mu);
    g->deadline_ns = deadline_ns > 0 ? deadline_ns : 10 * WG_NS_PER_SEC;
    pthread_cond_signal(&g->cv); /* a shorter deadline may be due already */
    pthread_mutex_unlock(&g->mu);
}

void wg__guard_stop(struct wg__guard *g)
{
    if (!g->inited) {
        return;
    }
    if (g->started) {
        pthread_mutex_lock(&g->mu);
        g->stop = 1;
        pthread_cond_signal(&g->cv);
        pthread_mutex_unlock(&g->mu);
        pthread_join(g->th, NULL);
        g->started = 0;
    }
}

/* After MHD_stop_daemon: every connection was reported closed. */
void wg__guard_free(struct wg__guard *g)
{
    if (!g->inited) {
        return;
    }
    wg__guard_stop(g);
    pthread_mutex_destroy(&g->mu);
    pthread_cond_destroy(&g->cv);
    g->inited = 0;
}

void wg__guard_notify(void *cls, struct MHD_Connection *mc, void **socket_context,
                      enum MHD_ConnectionNotificationCode code)
{
    struct wg__guard *g = &((struct wg_server *)cls)->guard;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(mc, MHD_CONNECTION_INFO_CONNECTION_FD);
        struct wg__conn *c = ci ? calloc(1, sizeof(*c)) : NULL;
        *socket_context = c;
        if (!c) {
            return; /* unguarded: only the idle timeout applies */
        }
        c->fd = ci->connect_fd;
        pthread_mutex_lock(&g->mu);
        g->nconns++;
        append_conn(g, c, wg_mono_ns());
        /* Near the limit, the oldest connection still waiting for a request makes room (the
         * new one is the youngest, so it goes last). */
        if (g->nconns > g->high && g->head && g->head != c) {
            shed(g, g->head, &g->shed_capacity);
        }
        if (g->head == c) {
            pthread_cond_signal(&g->cv); /* the reaper may be sleeping on an empty list */
        }
        pthread_mutex_unlock(&g->mu);
        return;
    }
    struct wg__conn *c = *socket_context;
    if (!c) {
        return;
    }
    pthread_mutex_lock(&g->mu);
    unlink_conn(g, c);
    g->nconns--;
    pthread_mutex_unlock(&g->mu);
    free(c);
    *socket_context = NULL;
}

static struct wg__conn *conn_of(struct MHD_Connection *mc)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(mc, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return ci ? ci->socket_context : NULL;
}

void wg__guard_busy(struct wg__guard *g, struct MHD_Connection *mc)
{
    struct wg__conn *c = conn_of(mc);
    if (c) {
        pthread_mutex_lock(&g->mu);
        unlink_conn(g, c);
        pthread_mutex_unlock(&g->mu);
    }
}

void wg__guard_waiting(struct wg__guard *g, struct MHD_Connection *mc)
{
    struct wg__conn *c = conn_of(mc);
    if (c) {
        pthread_mutex_lock(&g->mu);
        if (!c->shed) {
            int was_empty = g->head == NULL;
            append_conn(g, c, wg_mono_ns());
            if (was_empty) {
                pthread_cond_signal(&g->cv);
            }
        }
        pthread_mutex_unlock(&g->mu);
    }
}

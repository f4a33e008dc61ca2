/* collector_recsink.h — a recording wg_sink for the parser tests: every begin and row becomes
 * one line of text, so a test compares the whole event sequence (want vs got) at once, and a
 * driver that feeds a body whole, byte by byte and in random splits. Header-only (static).
 */
#ifndef WG_TEST_RECSINK_H
#define WG_TEST_RECSINK_H

#include "collector/collector_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct rec {
    struct wg_buf out;
};

static void rec_str(struct wg_buf *b, const char *s)
{
    for (; s && *s; s++) {
        if (*s == '\n') {
            wg_buf_adds(b, "\\n");
        } else if (*s == '\r') {
            wg_buf_adds(b, "\\r");
        } else if (*s == '|' || *s == '\\') {
            wg_buf_addf(b, "\\%c", *s);
        } else {
            wg_buf_add(b, s, 1);
        }
    }
}

/* Shortest text that reads back as the same double. */
static void rec_double(struct wg_buf *b, double d)
{
    char t[64];
    if (d == (double)(long long)d && d > -1e15 && d < 1e15) {
        wg_buf_addf(b, "%.0f", d);
        return;
    }
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(t, sizeof(t), "%.*g", prec, d);
        if (strtod(t, NULL) == d || d != d) {
            break;
        }
    }
    wg_buf_adds(b, t);
}

static int rec_begin(void *ud, const char *result, const char *name, const struct wg_label *labels,
                     size_t nlabels, const struct wg_column *cols, size_t ncols)
{
    struct wg_buf *b = &((struct rec *)ud)->out;
    wg_buf_adds(b, "B ");
    rec_str(b, result ? result : "(null)");
    wg_buf_adds(b, " name=");
    rec_str(b, name ? name : "-");
    wg_buf_adds(b, " labels=");
    for (size_t i = 0; i < nlabels; i++) {
        wg_buf_adds(b, i ? "," : "");
        rec_str(b, labels[i].key);
        wg_buf_adds(b, "=");
        rec_str(b, labels[i].value);
    }
    wg_buf_adds(b, " cols=");
    for (size_t i = 0; i < ncols; i++) {
        wg_buf_adds(b, i ? "," : "");
        rec_str(b, cols[i].name);
        if (cols[i].type) {
            wg_buf_adds(b, ":");
            rec_str(b, cols[i].type);
        }
    }
    wg_buf_adds(b, "\n");
    return 0;
}

static int rec_row(void *ud, const struct wg_value *c, size_t n)
{
    struct wg_buf *b = &((struct rec *)ud)->out;
    char t[64];
    wg_buf_adds(b, "R");
    for (size_t i = 0; i < n; i++) {
        wg_buf_adds(b, i ? "|" : " ");
        switch (c[i].t) {
        case WG_V_NULL:
            wg_buf_adds(b, "-");
            break;
        case WG_V_FLOAT:
            wg_buf_adds(b, "f:");
            rec_double(b, c[i].u.f);
            break;
        case WG_V_INT:
            wg_buf_addf(b, "i:%lld", (long long)c[i].u.i);
            break;
        case WG_V_UINT:
            wg_buf_addf(b, "u:%llu", (unsigned long long)c[i].u.u);
            break;
        case WG_V_BOOL:
            wg_buf_adds(b, c[i].u.b ? "b:true" : "b:false");
            break;
        case WG_V_STRING:
            wg_buf_adds(b, "s:");
            rec_str(b, c[i].s);
            break;
        case WG_V_TIME:
            wg_buf_addf(b, "t:%s", wg_time_format(c[i].u.time, t, sizeof(t)));
            break;
        }
    }
    wg_buf_adds(b, "\n");
    return 0;
}

static const char *rec_ename(enum wg_err e)
{
    static const char *const n[] = {"OK",     "ENOMEM",   "EINVAL",   "ECONFIG",
                                    "EIO",    "ECONNECT", "ETIMEOUT", "EHTTP",
                                    "EPARSE", "EQUERY",   "ETOOBIG",  "ENOTFOUND"};
    return (unsigned)e < sizeof(n) / sizeof(n[0]) ? n[e] : "E?";
}

typedef enum wg_err (*rec_ctor)(const struct wg_sink *, void **, const struct wg__parser_ops **);

/* Feed body in pieces: mode 0 whole, 1 byte by byte, >=2 random splits seeded by mode.
 * Returns the transcript (caller frees), ending with "END <err> <message>". */
static char *rec_run(rec_ctor ctor, const char *body, size_t len, int mode)
{
    struct rec r;
    wg_buf_init(&r.out, 0);
    struct wg_sink sink = {rec_begin, rec_row, &r};
    void *st = NULL;
    const struct wg__parser_ops *ops = NULL;
    enum wg_err e = ctor(&sink, &st, &ops);
    if (e != WG_OK) {
        wg_buf_addf(&r.out, "END ctor %s\n", rec_ename(e));
        return wg_buf_take(&r.out);
    }
    unsigned seed = (unsigned)mode * 2654435761u;
    size_t at = 0;
    while (at < len && e == WG_OK) {
        size_t n = len - at;
        if (mode == 1) {
            n = 1;
        } else if (mode >= 2) {
            seed = seed * 1103515245u + 12345u;
            size_t want = 1 + (seed >> 16) % 23;
            n = want < n ? want : n;
        }
        /* feed from a private copy, so reading past the piece is caught by ASan */
        char *piece = malloc(n ? n : 1);
        memcpy(piece, body + at, n);
        e = ops->feed(st, piece, n);
        free(piece);
        at += n;
    }
    if (e == WG_OK) {
        e = ops->finish(st);
    }
    const char *m = e == WG_OK ? "" : ops->error(st);
    wg_buf_addf(&r.out, "END %s %s\n", rec_ename(e), m ? m : "(null)");
    ops->free(st);
    return wg_buf_take(&r.out);
}

#endif

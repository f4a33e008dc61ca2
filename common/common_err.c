/* common_err.c — error names, configuration diagnostics and verdict ordering.
 * Diagnostics collect every config problem with its file:line:col so `validate` can list all.
 */
#include "common/common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *wg_strerror(enum wg_err e)
{
    static const char *const names[WG_ERR_LAST] = {
        [WG_OK] = "ok",
        [WG_ENOMEM] = "out of memory",
        [WG_EINVAL] = "invalid argument",
        [WG_ECONFIG] = "configuration error",
        [WG_EIO] = "I/O error",
        [WG_ECONNECT] = "could not connect",
        [WG_ETIMEOUT] = "timed out",
        [WG_EHTTP] = "HTTP error",
        [WG_EPARSE] = "malformed response",
        [WG_EQUERY] = "query error",
        [WG_ETOOBIG] = "size limit reached",
        [WG_ENOTFOUND] = "not found",
    };
    if ((unsigned)e >= WG_ERR_LAST || !names[e]) {
        return "unknown error";
    }
    return names[e];
}

void wg_diags_add(struct wg_diags *d, const struct wg_pos *pos, const char *key, int warning,
                  const char *fmt, ...)
{
    if (!warning) {
        d->nerrors++;
    }
    if (d->n == d->cap) {
        size_t ncap = d->cap ? d->cap * 2 : 8;
        struct wg_diag *nv = realloc(d->v, ncap * sizeof(*nv));
        if (!nv) {
            return;
        }
        d->v = nv;
        d->cap = ncap;
    }
    va_list ap;
    va_start(ap, fmt);
    char *msg = NULL;
    if (vasprintf(&msg, fmt, ap) < 0) {
        msg = NULL;
    }
    va_end(ap);
    struct wg_diag *e = &d->v[d->n++];
    memset(e, 0, sizeof(*e));
    e->file = wg_strdup(pos && pos->file ? pos->file : "");
    e->line = pos ? pos->line : 0;
    e->col = pos ? pos->col : 0;
    e->key = key ? wg_strdup(key) : NULL;
    e->msg = msg;
    e->warning = warning;
}

void wg_diags_print(const struct wg_diags *d, void *FILE_stream)
{
    FILE *f = FILE_stream;
    for (size_t i = 0; i < d->n; i++) {
        const struct wg_diag *e = &d->v[i];
        fprintf(f, "%s:%d:%d: %s%s%s%s\n", e->file ? e->file : "", e->line, e->col,
                e->warning ? "warning: " : "", e->key ? e->key : "", e->key ? ": " : "",
                e->msg ? e->msg : "(out of memory)");
    }
}

void wg_diags_free(struct wg_diags *d)
{
    if (!d) {
        return;
    }
    for (size_t i = 0; i < d->n; i++) {
        free(d->v[i].file);
        free(d->v[i].key);
        free(d->v[i].msg);
    }
    free(d->v);
    memset(d, 0, sizeof(*d));
}

const char *wg_verdict_name(enum wg_verdict v)
{
    switch (v) {
    case WG_PASS:
        return "pass";
    case WG_WARN:
        return "warn";
    case WG_INCONCLUSIVE:
        return "inconclusive";
    case WG_NOEVAL:
        return "error";
    case WG_FAIL:
        return "fail";
    }
    return "error";
}

enum wg_verdict wg_verdict_worst(enum wg_verdict a, enum wg_verdict b)
{
    return a > b ? a : b;
}

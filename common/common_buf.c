/* common_buf.c — string helpers and the bounded growable buffer every peer-filled byte
 * stream goes through (curl's dynbuf): nothing a peer sends can grow past its cap. A failed
 * append sticks (SQLite's StrAccum accError), so builders check once, at wg_buf_finish.
 */
#include "common/common.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char *wg_strdup(const char *s)
{
    return s ? strdup(s) : NULL;
}

char *wg_strndup(const char *s, size_t n)
{
    char *p = malloc(n + 1);
    if (p) {
        memcpy(p, s, n);
        p[n] = '\0';
    }
    return p;
}

char *wg_asprintf(const char *fmt, ...)
{
    va_list ap;
    char *s = NULL;
    va_start(ap, fmt);
    if (vasprintf(&s, fmt, ap) < 0) {
        s = NULL;
    }
    va_end(ap);
    return s;
}

static atomic_long fail_alloc; /* wg_buf_test_fail_alloc: allocations left before one fails */

long wg_buf_test_fail_alloc(long n)
{
    return atomic_exchange(&fail_alloc, n);
}

static void *buf_realloc(void *p, size_t n)
{
    long left = atomic_load(&fail_alloc);
    if (left > 0 && atomic_fetch_sub(&fail_alloc, 1) == 1) {
        return NULL;
    }
    return realloc(p, n);
}

void wg_buf_init(struct wg_buf *b, size_t max)
{
    b->p = NULL;
    b->len = b->cap = 0;
    b->max = max ? max : SIZE_MAX;
    b->err = WG_OK;
}

static enum wg_err fail(struct wg_buf *b, enum wg_err e)
{
    if (b->err == WG_OK) {
        b->err = e;
    }
    return e;
}

void wg_buf_fail(struct wg_buf *b, enum wg_err e)
{
    if (e != WG_OK) {
        (void)fail(b, e);
    }
}

enum wg_err wg_buf_err(const struct wg_buf *b)
{
    return b->err;
}

enum wg_err wg_buf_add(struct wg_buf *b, const void *p, size_t n)
{
    size_t max = b->max ? b->max : SIZE_MAX;
    if (b->err != WG_OK) {
        return b->err; /* after a hole nothing more is appended */
    }
    if (n > max - b->len) {
        return fail(b, WG_ETOOBIG);
    }
    if (b->len + n + 1 > b->cap) {
        size_t ncap = b->cap ? b->cap : 256;
        while (ncap < b->len + n + 1) {
            ncap *= 2;
        }
        char *np = buf_realloc(b->p, ncap);
        if (!np) {
            return fail(b, WG_ENOMEM);
        }
        b->p = np;
        b->cap = ncap;
    }
    if (n) {
        memcpy(b->p + b->len, p, n);
    }
    b->len += n;
    b->p[b->len] = '\0';
    return WG_OK;
}

enum wg_err wg_buf_adds(struct wg_buf *b, const char *s)
{
    return wg_buf_add(b, s, strlen(s));
}

enum wg_err wg_buf_addf(struct wg_buf *b, const char *fmt, ...)
{
    va_list ap;
    char small[256];
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof(small), fmt, ap);
    va_end(ap);
    if (b->err != WG_OK) {
        return b->err;
    }
    if (n < 0) {
        return fail(b, WG_EINVAL);
    }
    if ((size_t)n < sizeof(small)) {
        return wg_buf_add(b, small, (size_t)n);
    }
    char *big = buf_realloc(NULL, (size_t)n + 1);
    if (!big) {
        return fail(b, WG_ENOMEM);
    }
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    enum wg_err rc = wg_buf_add(b, big, (size_t)n);
    free(big);
    return rc;
}

void wg_buf_reset(struct wg_buf *b)
{
    b->len = 0;
    b->err = WG_OK;
    if (b->p) {
        b->p[0] = '\0';
    }
}

void wg_buf_free(struct wg_buf *b)
{
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
    b->err = WG_OK;
}

char *wg_buf_take(struct wg_buf *b)
{
    char *p = b->p ? b->p : strdup("");
    b->p = NULL;
    b->len = b->cap = 0;
    b->err = WG_OK;
    return p;
}

enum wg_err wg_buf_finish(struct wg_buf *b, char **out)
{
    enum wg_err rc = b->err;
    *out = NULL;
    if (rc != WG_OK) {
        wg_buf_free(b);
        return rc;
    }
    *out = wg_buf_take(b);
    return *out ? WG_OK : WG_ENOMEM;
}

void wg_buf_add_json_chars(struct wg_buf *b, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    /* runs of plain bytes go in at once: this renders every label of every notification and
     * every rule of a fleet's report */
    const unsigned char *p = (const unsigned char *)(s ? s : ""), *run = p;
    for (; *p; p++) {
        if (*p >= 0x20 && *p != '"' && *p != '\\') {
            continue;
        }
        wg_buf_add(b, run, (size_t)(p - run));
        run = p + 1;
        char e[6] = {'\\', (char)*p, '0', '0', 0, 0};
        switch (*p) {
        case '"':
        case '\\':
            break;
        case '\b':
            e[1] = 'b';
            break;
        case '\f':
            e[1] = 'f';
            break;
        case '\n':
            e[1] = 'n';
            break;
        case '\r':
            e[1] = 'r';
            break;
        case '\t':
            e[1] = 't';
            break;
        default: /* \u00xx */
            e[1] = 'u';
            e[4] = hex[*p >> 4];
            e[5] = hex[*p & 15];
            wg_buf_add(b, e, 6);
            continue;
        }
        wg_buf_add(b, e, 2);
    }
    wg_buf_add(b, run, (size_t)(p - run));
}

void wg_buf_add_json(struct wg_buf *b, const char *s)
{
    wg_buf_add(b, "\"", 1);
    wg_buf_add_json_chars(b, s);
    wg_buf_add(b, "\"", 1);
}

/* common_buf.c — string helpers and the bounded growable buffer every peer-filled byte
 * stream goes through (curl's dynbuf): nothing a peer sends can grow past its cap.
 */
#include "common/common.h"

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

void wg_buf_init(struct wg_buf *b, size_t max)
{
    b->p = NULL;
    b->len = b->cap = 0;
    b->max = max ? max : SIZE_MAX;
}

enum wg_err wg_buf_add(struct wg_buf *b, const void *p, size_t n)
{
    size_t max = b->max ? b->max : SIZE_MAX;
    if (n > max - b->len) {
        return WG_ETOOBIG;
    }
    if (b->len + n + 1 > b->cap) {
        size_t ncap = b->cap ? b->cap : 256;
        while (ncap < b->len + n + 1) {
            ncap *= 2;
        }
        char *np = realloc(b->p, ncap);
        if (!np) {
            return WG_ENOMEM;
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
    if (n < 0) {
        return WG_EINVAL;
    }
    if ((size_t)n < sizeof(small)) {
        return wg_buf_add(b, small, (size_t)n);
    }
    char *big = malloc((size_t)n + 1);
    if (!big) {
        return WG_ENOMEM;
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
    if (b->p) {
        b->p[0] = '\0';
    }
}

void wg_buf_free(struct wg_buf *b)
{
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

char *wg_buf_take(struct wg_buf *b)
{
    char *p = b->p ? b->p : strdup("");
    b->p = NULL;
    b->len = b->cap = 0;
    return p;
}

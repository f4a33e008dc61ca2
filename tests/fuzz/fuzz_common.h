/* fuzz_common.h — the shared body of the libFuzzer targets: parse the input with
 * wg_collector_parse_buffer into a sink that touches every cell (so a bad pointer is read under ASan),
 * then parse it again in two pieces split at a byte taken from the input, and require the
 * same outcome: a streaming parser must not depend on where the body was cut.
 */
#ifndef WG_FUZZ_COMMON_H
#define WG_FUZZ_COMMON_H

#include "collector/collector.h"

#include <stdlib.h>
#include <string.h>

struct fz_acc {
    size_t events;
    uint64_t h;
};

static void fz_mix(struct fz_acc *a, const void *p, size_t n)
{
    const unsigned char *s = p;
    for (size_t i = 0; i < n; i++) {
        a->h = (a->h ^ s[i]) * 1099511628211u;
    }
}

static int fz_begin(void *ud, const char *result, const char *name, const struct wg_label *l,
                    size_t nl, const struct wg_column *c, size_t nc)
{
    struct fz_acc *a = ud;
    a->events++;
    fz_mix(a, "B", 1);
    if (result) {
        fz_mix(a, result, strlen(result) + 1);
    }
    if (name) {
        fz_mix(a, name, strlen(name) + 1);
    }
    for (size_t i = 0; i < nl; i++) {
        fz_mix(a, l[i].key, strlen(l[i].key) + 1);
        fz_mix(a, l[i].value, strlen(l[i].value) + 1);
    }
    for (size_t i = 0; i < nc; i++) {
        fz_mix(a, c[i].name, strlen(c[i].name) + 1);
        if (c[i].type) {
            fz_mix(a, c[i].type, strlen(c[i].type) + 1);
        }
    }
    return 0;
}

static int fz_row(void *ud, const struct wg_value *c, size_t n)
{
    struct fz_acc *a = ud;
    a->events++;
    for (size_t i = 0; i < n; i++) {
        fz_mix(a, &c[i].t, sizeof(c[i].t));
        if (c[i].t == WG_V_STRING) {
            fz_mix(a, c[i].s, strlen(c[i].s) + 1);
        } else if (c[i].t != WG_V_NULL) {
            fz_mix(a, &c[i].u, sizeof(c[i].u.i));
        }
    }
    return 0;
}

static inline int fz_run(enum wg_parser_kind kind, const uint8_t *data, size_t size)
{
    struct fz_acc a = {0, 14695981039346656037u}, b = {0, 14695981039346656037u};
    struct wg_sink sa = {fz_begin, fz_row, &a}, sb = {fz_begin, fz_row, &b};
    char err[256];
    enum wg_err ea = wg_collector_parse_buffer(kind, data, size, &sa, err, sizeof(err));

    /* the same body in two pieces, each in its own allocation */
    size_t cut = size ? data[0] % (size + 1) : 0;
    struct wg_parser *p = NULL;
    if (wg_parser_new(kind, &sb, &p) != WG_OK) {
        return 0;
    }
    char *p1 = malloc(cut + 1), *p2 = malloc(size - cut + 1);
    memcpy(p1, data, cut);
    memcpy(p2, data + cut, size - cut);
    enum wg_err eb = wg_parser_feed(p, p1, cut);
    if (eb == WG_OK) {
        eb = wg_parser_feed(p, p2, size - cut);
    }
    if (eb == WG_OK) {
        eb = wg_parser_finish(p);
    }
    wg_parser_free(p);
    free(p1);
    free(p2);
    if (ea != eb || a.events != b.events || a.h != b.h) {
        abort(); /* the outcome depended on the split */
    }
    return 0;
}

#endif

/* common_series.c — series sets: labelled (time, value) points, the collector's output and
 * the rules' input. Label sets are compared order-insensitively.
 */
#include "common/common.h"

#include <stdlib.h>
#include <string.h>

static int labels_equal(const struct wg_label *a, size_t na, const struct wg_label *b, size_t nb)
{
    if (na != nb) {
        return 0;
    }
    for (size_t i = 0; i < na; i++) {
        size_t j;
        for (j = 0; j < nb; j++) {
            if (strcmp(a[i].key, b[j].key) == 0) {
                break;
            }
        }
        if (j == nb || strcmp(a[i].value, b[j].value) != 0) {
            return 0;
        }
    }
    return 1;
}

struct wg_series *wg_seriesset_get(struct wg_seriesset *ss, const struct wg_label *labels,
                                   size_t nlabels)
{
    /* Newest first: parsers emit a series' rows together, so the hit is usually the last. */
    for (size_t i = ss->n; i-- > 0;) {
        if (labels_equal(ss->s[i].labels, ss->s[i].nlabels, labels, nlabels)) {
            return &ss->s[i];
        }
    }
    return wg_seriesset_add(ss, labels, nlabels);
}

struct wg_series *wg_seriesset_add(struct wg_seriesset *ss, const struct wg_label *labels,
                                   size_t nlabels)
{
    if (ss->n == ss->cap) {
        size_t ncap = ss->cap ? ss->cap * 2 : 4;
        struct wg_series *nv = realloc(ss->s, ncap * sizeof(*nv));
        if (!nv) {
            return NULL;
        }
        ss->s = nv;
        ss->cap = ncap;
    }
    struct wg_series *s = &ss->s[ss->n];
    memset(s, 0, sizeof(*s));
    if (nlabels) {
        s->labels = calloc(nlabels, sizeof(*s->labels));
        if (!s->labels) {
            return NULL;
        }
        for (size_t i = 0; i < nlabels; i++) {
            s->labels[i].key = strdup(labels[i].key ? labels[i].key : "");
            s->labels[i].value = strdup(labels[i].value ? labels[i].value : "");
            s->nlabels = i + 1;
            if (!s->labels[i].key || !s->labels[i].value) {
                ss->n++; /* so that free releases it */
                return NULL;
            }
        }
    }
    ss->n++;
    return s;
}

enum wg_err wg_series_push(struct wg_series *s, int64_t t, double v)
{
    if (s->n == s->cap) {
        size_t ncap = s->cap ? s->cap * 2 : 16;
        int64_t *nt = realloc(s->t, ncap * sizeof(*nt));
        if (!nt) {
            return WG_ENOMEM;
        }
        s->t = nt;
        double *nv = realloc(s->v, ncap * sizeof(*nv));
        if (!nv) {
            return WG_ENOMEM;
        }
        s->v = nv;
        s->cap = ncap;
    }
    s->t[s->n] = t;
    s->v[s->n] = v;
    s->n++;
    return WG_OK;
}

size_t wg_seriesset_points(const struct wg_seriesset *ss)
{
    size_t n = 0;
    for (size_t i = 0; i < ss->n; i++) {
        n += ss->s[i].n;
    }
    return n;
}

void wg_seriesset_free(struct wg_seriesset *ss)
{
    if (!ss) {
        return;
    }
    for (size_t i = 0; i < ss->n; i++) {
        struct wg_series *s = &ss->s[i];
        for (size_t j = 0; j < s->nlabels; j++) {
            free(s->labels[j].key);
            free(s->labels[j].value);
        }
        free(s->labels);
        free(s->t);
        free(s->v);
    }
    free(ss->s);
    memset(ss, 0, sizeof(*ss));
}

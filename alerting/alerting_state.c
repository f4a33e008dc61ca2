/* alerting_state.c — the alert store (sorted by fingerprint) and the per-instance state
 * machine: inactive → pending (for:) → firing → resolved, with keep_firing_for. Pure: time
 * comes from the caller. Also maps a gate report onto alert evaluations.
 */
#include "alerting/alerting_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static size_t lower_bound(const struct wg__store *s, uint64_t fp)
{
    size_t lo = 0, hi = s->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (s->v[mid]->fp < fp) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return lo;
}

struct wg__alert *wg__store_find(struct wg__store *s, uint64_t fp)
{
    size_t i = lower_bound(s, fp);
    return i < s->n && s->v[i]->fp == fp ? s->v[i] : NULL;
}

struct wg__alert *wg__store_add(struct wg__store *s, uint64_t fp)
{
    size_t i = lower_bound(s, fp);
    if (i < s->n && s->v[i]->fp == fp) {
        return s->v[i];
    }
    if (s->n == s->cap) {
        size_t nc = s->cap ? s->cap * 2 : 64;
        struct wg__alert **nv = realloc(s->v, nc * sizeof(*nv));
        if (!nv) {
            return NULL;
        }
        s->v = nv;
        s->cap = nc;
    }
    struct wg__alert *al = calloc(1, sizeof(*al));
    if (!al) {
        return NULL;
    }
    al->fp = fp;
    snprintf(al->fps, sizeof(al->fps), "%016llx", (unsigned long long)fp);
    memmove(&s->v[i + 1], &s->v[i], (s->n - i) * sizeof(*s->v));
    s->v[i] = al;
    s->n++;
    return al;
}

void wg__alert_free(struct wg__alert *al)
{
    if (!al) {
        return;
    }
    free(al->scope);
    wg__labels_clear(&al->labels);
    wg__labels_clear(&al->ann);
    free(al);
}

void wg__store_remove_at(struct wg__store *s, size_t i)
{
    wg__alert_free(s->v[i]);
    memmove(&s->v[i], &s->v[i + 1], (s->n - i - 1) * sizeof(*s->v));
    s->n--;
}

void wg__store_clear(struct wg__store *s)
{
    for (size_t i = 0; i < s->n; i++) {
        wg__alert_free(s->v[i]);
    }
    free(s->v);
    memset(s, 0, sizeof(*s));
}

int wg__alert_step(struct wg__alert *al, int breach, int64_t now)
{
    if (breach < 0) {
        return 0;
    }
    if (breach) {
        al->last_breach = now;
        if (al->state == WG__INACTIVE) {
            al->state = WG__PENDING;
            al->active_since = now;
            al->dirty = 1;
        }
        if (al->state == WG__PENDING && now - al->active_since >= al->for_ns) {
            al->state = WG__FIRING;
            al->starts_at = now;
            al->ends_at = 0;
            al->resolved = 0;
            al->dirty = 1;
            return 1;
        }
        return 0;
    }
    if (al->state == WG__PENDING) {
        al->state = WG__INACTIVE;
        al->dirty = 1;
        return 0;
    }
    if (al->state == WG__FIRING) {
        if (al->keep_ns > 0 && now - al->last_breach < al->keep_ns) {
            return 0; /* keep_firing_for: still firing though healthy */
        }
        al->state = WG__INACTIVE;
        al->resolved = 1;
        al->ends_at = now;
        al->dirty = 1;
        return 1;
    }
    return 0;
}

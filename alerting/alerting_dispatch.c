/* alerting_dispatch.c — Alertmanager's dispatcher: the routing tree (first match unless
 * continue, children inherit), aggregation groups (group_by, `...`), group_wait /
 * group_interval / repeat_interval timers, silences and inhibition, and the notification-log
 * dedup rule (first notification, new alerts added, some/all resolved, repeat elapsed).
 */
#include "alerting/alerting_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_MATCHED_ROUTES 64

static size_t match_routes(const struct wg_route *r, const struct wg__labels *ls,
                           const struct wg_route **out, char (*paths)[64], const char *path,
                           size_t nout)
{
    size_t n = 0;
    if (!wg__matchers_match(&r->match, ls)) {
        return 0;
    }
    for (size_t i = 0; i < r->nroutes && n < nout; i++) {
        char cp[64];
        snprintf(cp, sizeof(cp), "%s/%zu", path, i);
        size_t m = match_routes(&r->routes[i], ls, out + n, paths + n, cp, nout - n);
        n += m;
        if (m && !r->routes[i].cont) {
            break;
        }
    }
    if (n == 0 && nout > 0) {
        out[0] = r;
        snprintf(paths[0], 64, "%s", path);
        n = 1;
    }
    return n;
}

static const struct wg_receiver *find_rcv(const struct wg_alert_config *c, const char *name)
{
    return wg_alert_config_receiver(c, name);
}

static size_t key_hash(const char *k)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (; *k; k++) {
        h = (h ^ (unsigned char)*k) * 1099511628211ull;
    }
    return (size_t)h;
}

static void index_put(struct wg__group **ix, size_t cap, struct wg__group *g)
{
    size_t i = key_hash(g->key) & (cap - 1);
    while (ix[i]) {
        i = (i + 1) & (cap - 1);
    }
    ix[i] = g;
}

/* Rebuild the index for the current groups, growing it to keep it at most half full. */
static int index_rebuild(struct wg__dispatch *d, size_t want)
{
    size_t cap = d->index_cap ? d->index_cap : 64;
    while (cap < 2 * want) {
        cap *= 2;
    }
    struct wg__group **ix = calloc(cap, sizeof(*ix));
    if (!ix) {
        return -1;
    }
    for (size_t i = 0; i < d->ngroups; i++) {
        index_put(ix, cap, d->groups[i]);
    }
    free(d->index);
    d->index = ix;
    d->index_cap = cap;
    return 0;
}

struct wg__group *wg__dispatch_group(struct wg__dispatch *d, const char *key)
{
    if (!d->index_cap) {
        return NULL;
    }
    for (size_t i = key_hash(key) & (d->index_cap - 1); d->index[i];
         i = (i + 1) & (d->index_cap - 1)) {
        if (strcmp(d->index[i]->key, key) == 0) {
            return d->index[i];
        }
    }
    return NULL;
}

void wg__group_free(struct wg__group *g)
{
    if (!g) {
        return;
    }
    free(g->key);
    wg__labels_clear(&g->glabels);
    free(g->alerts);
    free(g->log_firing);
    free(g->log_resolved);
    free(g);
}

/* The labels of r's group for an alert's label set ls: all of them, or r's group_by ones. */
static enum wg_err group_labels(const struct wg_route *r, const struct wg__labels *ls,
                                struct wg__labels *out)
{
    if (r->group_by_all) {
        return wg__labels_copy(out, ls->v, ls->n);
    }
    for (size_t i = 0; i < r->ngroup_by; i++) {
        const char *v = wg__labels_get(ls, r->group_by[i]);
        if (v && wg__labels_set(out, r->group_by[i], v) != WG_OK) {
            return WG_ENOMEM;
        }
    }
    return WG_OK;
}

static struct wg__group *group_new(struct wg__dispatch *d, const struct wg_route *r,
                                   const char *path, const struct wg__labels *ls, int64_t now)
{
    struct wg__group *g = calloc(1, sizeof(*g));
    struct wg_buf key;
    if (!g) {
        return NULL;
    }
    if (group_labels(r, ls, &g->glabels) != WG_OK) {
        wg__group_free(g);
        return NULL;
    }
    wg_buf_init(&key, 0);
    wg_buf_addf(&key, "%s:%s:", path, r->receiver);
    wg__labels_json(&key, &g->glabels);
    g->key = wg_buf_take(&key);
    g->route = r;
    g->rcv = find_rcv(d->cfg, r->receiver);
    g->next_flush = now + r->group_wait_ns;
    for (size_t i = 0; i < d->norphans; i++) {
        struct wg__group *o = d->orphans[i];
        if (strcmp(o->key, g->key) == 0) { /* adopt the restored notification log */
            g->has_log = 1;
            g->log_firing = o->log_firing;
            g->nlog_firing = o->nlog_firing;
            g->log_resolved = o->log_resolved;
            g->nlog_resolved = o->nlog_resolved;
            g->log_ts = o->log_ts;
            o->log_firing = o->log_resolved = NULL;
            wg__group_free(o);
            d->orphans[i] = d->orphans[--d->norphans];
            break;
        }
    }
    if (d->ngroups == d->cap) {
        size_t nc = d->cap ? d->cap * 2 : 64;
        struct wg__group **nv = realloc(d->groups, nc * sizeof(*nv));
        if (!nv) {
            wg__group_free(g);
            return NULL;
        }
        d->groups = nv;
        d->cap = nc;
    }
    if (2 * (d->ngroups + 1) > d->index_cap && index_rebuild(d, d->ngroups + 1) != 0) {
        wg__group_free(g);
        return NULL;
    }
    d->groups[d->ngroups++] = g;
    index_put(d->index, d->index_cap, g);
    return g;
}

enum wg_err wg__dispatch_route(struct wg__dispatch *d, struct wg__alert *al, int64_t now)
{
    const struct wg_route *rs[MAX_MATCHED_ROUTES];
    char paths[MAX_MATCHED_ROUTES][64];
    size_t n = match_routes(&d->cfg->route, &al->labels, rs, paths, "r", MAX_MATCHED_ROUTES);
    for (size_t i = 0; i < n; i++) {
        struct wg__group tmp = {0};
        struct wg_buf key;
        /* Compute the key first to find an existing group. */
        if (group_labels(rs[i], &al->labels, &tmp.glabels) != WG_OK) {
            wg__labels_clear(&tmp.glabels);
            return WG_ENOMEM;
        }
        wg_buf_init(&key, 0);
        wg_buf_addf(&key, "%s:%s:", paths[i], rs[i]->receiver);
        wg__labels_json(&key, &tmp.glabels);
        wg__labels_clear(&tmp.glabels);
        struct wg__group *g = key.p ? wg__dispatch_group(d, key.p) : NULL;
        int orphan = 0;
        for (size_t k = 0; !g && key.p && k < d->norphans; k++) {
            orphan |= strcmp(d->orphans[k]->key, key.p) == 0;
        }
        wg_buf_free(&key);
        if (!g) {
            if (al->resolved && !orphan) {
                continue; /* no group ever saw it firing: nothing to announce */
            }
            g = group_new(d, rs[i], paths[i], &al->labels, now);
            if (!g) {
                return WG_ENOMEM;
            }
        }
        size_t j = 0;
        while (j < g->n && g->alerts[j] != al) {
            j++;
        }
        if (j < g->n) {
            continue;
        }
        if (g->n == g->cap) {
            size_t nc = g->cap ? g->cap * 2 : 4;
            struct wg__alert **nv = realloc(g->alerts, nc * sizeof(*nv));
            if (!nv) {
                return WG_ENOMEM;
            }
            g->alerts = nv;
            g->cap = nc;
        }
        g->alerts[g->n++] = al;
        al->refs++;
    }
    return WG_OK;
}

static int eq_labels(const struct wg__alert *a, const struct wg__alert *b, char **names, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const char *x = wg__labels_get(&a->labels, names[i]);
        const char *y = wg__labels_get(&b->labels, names[i]);
        if (strcmp(x ? x : "", y ? y : "") != 0) {
            return 0;
        }
    }
    return 1;
}

/* The built-in rule: one "source unreachable" alert mutes the per-rule error alerts of its
 * source and wave, pending as well as firing. A round that ran while the source went down
 * sees some of its rules answered and some not: their error alerts start pending a round
 * before "source unreachable" can, and with the same for: they would fire a round before it
 * and be sent. Pending, it mutes them until it fires; if it clears instead (the source
 * answers again), the next flush of their group sends whatever still errors. */
static int builtin_inhibit(const struct wg__store *st, const struct wg__alert *al)
{
    static char *eq[] = {"source", "wave"};
    const char *an = wg__labels_get(&al->labels, "alertname");
    if (!an || strcmp(an, "WavegateRuleError") != 0) {
        return 0;
    }
    for (size_t i = 0; i < st->n; i++) {
        const struct wg__alert *s = st->v[i];
        const char *sn = wg__labels_get(&s->labels, "alertname");
        if (s->state != WG__INACTIVE && sn && strcmp(sn, "WavegateSourceUnreachable") == 0 &&
            eq_labels(s, al, eq, 2)) {
            return 1;
        }
    }
    return 0;
}

int wg__dispatch_muted(const struct wg__dispatch *d, const struct wg__store *st,
                       const struct wg__alert *al, int64_t now)
{
    for (size_t i = 0; i < d->silences.n; i++) {
        const struct wg_silence *s = &d->silences.v[i];
        if (s->starts_ns <= now && now < s->ends_ns && s->matchers.n &&
            wg__matchers_match(&s->matchers, &al->labels)) {
            return 1;
        }
    }
    if (builtin_inhibit(st, al)) {
        return 1;
    }
    for (size_t r = 0; r < d->cfg->ninhibit; r++) {
        const struct wg_inhibit_rule *ir = &d->cfg->inhibit[r];
        if (!wg__matchers_match(&ir->target, &al->labels)) {
            continue;
        }
        int tboth = wg__matchers_match(&ir->source, &al->labels);
        for (size_t i = 0; i < st->n; i++) {
            const struct wg__alert *s = st->v[i];
            if (s == al || s->state != WG__FIRING || !wg__matchers_match(&ir->source, &s->labels) ||
                !eq_labels(s, al, ir->equal, ir->nequal)) {
                continue;
            }
            if (tboth && wg__matchers_match(&ir->target, &s->labels)) {
                continue; /* self-inhibition guard */
            }
            return 1;
        }
    }
    return 0;
}

static int has_fp(const uint64_t *v, size_t n, uint64_t fp)
{
    for (size_t i = 0; i < n; i++) {
        if (v[i] == fp) {
            return 1;
        }
    }
    return 0;
}

static int is_subset(const uint64_t *a, size_t na, const uint64_t *b, size_t nb)
{
    for (size_t i = 0; i < na; i++) {
        if (!has_fp(b, nb, a[i])) {
            return 0;
        }
    }
    return 1;
}

/* Alertmanager's DedupStage.needsUpdate; returns the reason or NULL. */
static const char *needs_update(const struct wg__group *g, const uint64_t *fir, size_t nf,
                                const uint64_t *res, size_t nr, int send_resolved, int64_t repeat,
                                int64_t now)
{
    if (!g->has_log) {
        return nf ? "first notification" : NULL;
    }
    if (!is_subset(fir, nf, g->log_firing, g->nlog_firing)) {
        return g->nlog_firing ? "new alerts added" : "first notification";
    }
    if (nf == 0) {
        return g->nlog_firing ? "all alerts resolved" : NULL;
    }
    if (send_resolved && !is_subset(res, nr, g->log_resolved, g->nlog_resolved)) {
        return "some alerts resolved";
    }
    return now - g->log_ts >= repeat ? "repeat interval elapsed" : NULL;
}

/* Journal g before its flush; -1 without memory (the group then waits for the next tick). */
static int undo_push(struct wg__dispatch *d, struct wg__group *g)
{
    if (d->nundo == d->undo_cap) {
        size_t nc = d->undo_cap ? d->undo_cap * 2 : 16;
        struct wg__undo *nv = realloc(d->undo, nc * sizeof(*nv));
        if (!nv) {
            return -1;
        }
        d->undo = nv;
        d->undo_cap = nc;
    }
    struct wg__undo *u = &d->undo[d->nundo];
    memset(u, 0, sizeof(*u));
    u->alerts = malloc((g->n ? g->n : 1) * sizeof(*u->alerts));
    if (!u->alerts) {
        return -1;
    }
    if (g->n) {
        memcpy(u->alerts, g->alerts, g->n * sizeof(*u->alerts));
    }
    u->g = g;
    u->n = g->n;
    u->log_firing = g->log_firing;
    u->log_resolved = g->log_resolved;
    u->nlog_firing = g->nlog_firing;
    u->nlog_resolved = g->nlog_resolved;
    u->log_ts = g->log_ts;
    u->next_flush = g->next_flush;
    u->has_log = g->has_log;
    u->log_dirty = g->log_dirty;
    u->flushed = g->flushed;
    d->nundo++;
    return 0;
}

static void undo_restore(struct wg__undo *u)
{
    struct wg__group *g = u->g;
    if (u->replaced) {
        free(g->log_firing);
        free(g->log_resolved);
        g->log_firing = u->log_firing;
        g->log_resolved = u->log_resolved;
        g->nlog_firing = u->nlog_firing;
        g->nlog_resolved = u->nlog_resolved;
    }
    for (size_t i = 0; i < u->n; i++) {
        if (u->alerts[i]->resolved) {
            u->alerts[i]->refs++; /* the flush dropped it */
        }
    }
    free(g->alerts);
    g->alerts = u->alerts;
    g->n = g->cap = u->n;
    g->log_ts = u->log_ts;
    g->next_flush = u->next_flush;
    g->has_log = u->has_log;
    g->log_dirty = u->log_dirty;
    g->flushed = u->flushed;
}

void wg__dispatch_settle(struct wg__dispatch *d, int ok)
{
    for (size_t i = d->nundo; i-- > 0;) {
        struct wg__undo *u = &d->undo[i];
        if (ok) {
            if (u->replaced) {
                free(u->log_firing);
                free(u->log_resolved);
            }
            free(u->alerts);
        } else {
            undo_restore(u);
        }
    }
    d->nundo = 0;
    for (size_t i = 0; i < d->ndead; i++) {
        if (ok) {
            wg__group_free(d->dead[i]);
        } else {
            d->groups[d->ngroups++] = d->dead[i]; /* its slot is still allocated */
        }
    }
    if (!ok && d->ndead && index_rebuild(d, d->ngroups) != 0) {
        free(d->index); /* as in wg__dispatch_tick: lookups find nothing, groups re-made */
        d->index = NULL;
        d->index_cap = 0;
    }
    d->ndead = 0;
}

static void flush(struct wg__dispatch *d, const struct wg__store *st, struct wg__group *g,
                  int64_t now, wg__emit_fn emit, void *ctx)
{
    struct wg__undo *u = &d->undo[d->nundo - 1]; /* pushed by the caller */
    size_t n = g->n;
    struct wg__alert **sel = calloc(n ? n : 1, sizeof(*sel));
    uint64_t *fir = calloc(n ? n : 1, sizeof(*fir));
    uint64_t *res = calloc(n ? n : 1, sizeof(*res));
    size_t nf = 0, nr = 0;
    if (!sel || !fir || !res) {
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        struct wg__alert *al = g->alerts[i];
        if (!al->resolved && al->state == WG__FIRING && !wg__dispatch_muted(d, st, al, now)) {
            sel[nf] = al;
            fir[nf++] = al->fp;
        }
    }
    for (size_t i = 0; i < n; i++) {
        struct wg__alert *al = g->alerts[i];
        /* Only announce resolves of alerts this group told someone about. */
        if (al->resolved && g->has_log && has_fp(g->log_firing, g->nlog_firing, al->fp)) {
            sel[nf + nr] = al;
            res[nr++] = al->fp;
        }
    }
    int send_resolved = g->rcv ? g->rcv->send_resolved : 1;
    int64_t repeat = g->route->repeat_interval_ns;
    if (g->rcv && g->rcv->kind == WG_RCV_ALERTMANAGER && d->cfg->resend_ns < repeat) {
        repeat = d->cfg->resend_ns; /* keep an Alertmanager's copy alive while firing */
    }
    const char *reason = needs_update(g, fir, nf, res, nr, send_resolved, repeat, now);
    if (reason) {
        struct wg__notif nt = {g->rcv, g, reason, sel, nf + (send_resolved ? nr : 0), nf, now};
        if (g->rcv && nt.n > 0) {
            emit(ctx, &nt);
        }
        u->replaced = 1; /* the old log now belongs to the journal */
        g->log_firing = fir;
        g->nlog_firing = nf;
        g->log_resolved = res;
        g->nlog_resolved = nr;
        g->log_ts = now;
        g->has_log = 1;
        g->log_dirty = 1;
        fir = res = NULL;
    }
    /* Drop resolved alerts from the group: they were announced or never will be. */
    size_t k = 0;
    for (size_t i = 0; i < g->n; i++) {
        if (g->alerts[i]->resolved) {
            g->alerts[i]->refs--;
        } else {
            g->alerts[k++] = g->alerts[i];
        }
    }
    g->n = k;
out:
    free(sel);
    free(fir);
    free(res);
}

/* Keep a removed group until the commit settles (-1 without memory: it stays this tick). */
static int dead_push(struct wg__dispatch *d, struct wg__group *g)
{
    if (d->ndead == d->dead_cap) {
        size_t nc = d->dead_cap ? d->dead_cap * 2 : 16;
        struct wg__group **nv = realloc(d->dead, nc * sizeof(*nv));
        if (!nv) {
            return -1;
        }
        d->dead = nv;
        d->dead_cap = nc;
    }
    d->dead[d->ndead++] = g;
    return 0;
}

void wg__dispatch_tick(struct wg__dispatch *d, const struct wg__store *st, int64_t now,
                       wg__emit_fn emit, void *ctx)
{
    size_t before = d->ngroups;
    for (size_t i = 0; i < d->ngroups;) {
        struct wg__group *g = d->groups[i];
        if (g->next_flush <= now && undo_push(d, g) == 0) {
            flush(d, st, g, now, emit, ctx);
            g->flushed = 1;
            /* Keep the timer phase: next tick on the group_interval grid. */
            g->next_flush += g->route->group_interval_ns;
            if (g->next_flush <= now) {
                g->next_flush = now + g->route->group_interval_ns;
            }
        }
        if (g->n == 0 && g->next_flush > now && dead_push(d, g) == 0) {
            d->groups[i] = d->groups[--d->ngroups];
            continue;
        }
        i++;
    }
    if (d->ngroups != before && index_rebuild(d, d->ngroups) != 0) {
        /* Without memory for a new index the old one holds freed groups: drop it; lookups
         * then find nothing and groups are re-created, which only re-sends. */
        free(d->index);
        d->index = NULL;
        d->index_cap = 0;
    }
}

int64_t wg__dispatch_next(const struct wg__dispatch *d)
{
    int64_t t = INT64_MAX;
    for (size_t i = 0; i < d->ngroups; i++) {
        if (d->groups[i]->next_flush < t) {
            t = d->groups[i]->next_flush;
        }
    }
    return t;
}

void wg__dispatch_clear(struct wg__dispatch *d)
{
    for (size_t i = 0; i < d->ngroups; i++) {
        wg__group_free(d->groups[i]);
    }
    free(d->groups);
    free(d->index);
    for (size_t i = 0; i < d->norphans; i++) {
        wg__group_free(d->orphans[i]);
    }
    free(d->orphans);
    wg__dispatch_settle(d, 1);
    free(d->dead);
    free(d->undo);
    wg__silence_set_clear(&d->silences);
    const struct wg_alert_config *cfg = d->cfg;
    memset(d, 0, sizeof(*d));
    d->cfg = cfg;
}

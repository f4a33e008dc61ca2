/* config_alerting.c — decodes the `alerting:` and `monitor:` sections (libyaml document API)
 * into struct wg_alert_config: routes with inheritance resolved, receivers with their defaults,
 * inhibit rules, templates (checked here), and the monitor loop's settings.
 * Unknown and duplicate keys are errors that list the allowed keys.
 */
#include "config/config_alerting.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#define MAX_FILE_BYTES (16u << 20)
#define MAX_ROUTE_DEPTH 16

struct dec {
    yaml_document_t *doc;
    const char *file;
    struct wg_diags *diags;
};

static const char *const kind_names[] = {"webhook",  "slack",    "teams",
                                         "pagerduty", "opsgenie", "alertmanager"};

const char *wg_receiver_kind_name(enum wg_receiver_kind k)
{
    return (unsigned)k < sizeof(kind_names) / sizeof(kind_names[0]) ? kind_names[k] : "?";
}

static struct wg_pos pos_of(const struct dec *d, const yaml_node_t *n)
{
    struct wg_pos p = {d->file, n ? (int)n->start_mark.line + 1 : 0,
                       n ? (int)n->start_mark.column + 1 : 0};
    return p;
}

static void err_at(struct dec *d, const yaml_node_t *n, const char *key, const char *fmt,
                   const char *arg)
{
    struct wg_pos p = pos_of(d, n);
    wg_diags_add(d->diags, &p, key, 0, fmt, arg ? arg : "");
}

static const char *scalar(const yaml_node_t *n)
{
    return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

/* Checks a mapping's keys against an allowed list (and duplicates). 0 if all good. */
static int check_keys(struct dec *d, yaml_node_t *map, const char *path,
                      const char *const *allowed)
{
    int bad = 0;
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        yaml_node_t *k = yaml_document_get_node(d->doc, p->key);
        const char *ks = scalar(k);
        int ok = 0;
        for (size_t i = 0; ks && allowed[i]; i++) {
            ok |= strcmp(ks, allowed[i]) == 0;
        }
        for (yaml_node_pair_t *q = map->data.mapping.pairs.start; ks && q < p; q++) {
            const char *qs = scalar(yaml_document_get_node(d->doc, q->key));
            if (qs && strcmp(qs, ks) == 0) {
                err_at(d, k, path, "duplicate key '%s'", ks);
                bad = 1;
            }
        }
        if (!ok) {
            struct wg_buf b;
            wg_buf_init(&b, 4096);
            for (size_t i = 0; allowed[i]; i++) {
                wg_buf_addf(&b, "%s%s", i ? ", " : "", allowed[i]);
            }
            struct wg_pos ps = pos_of(d, k);
            wg_diags_add(d->diags, &ps, path, 0, "unknown key '%s' (allowed: %s)",
                         ks ? ks : "?", b.p ? b.p : "");
            wg_buf_free(&b);
            bad = 1;
        }
    }
    return bad ? -1 : 0;
}

static yaml_node_t *get(struct dec *d, yaml_node_t *map, const char *key)
{
    if (!map || map->type != YAML_MAPPING_NODE) {
        return NULL;
    }
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        const char *ks = scalar(yaml_document_get_node(d->doc, p->key));
        if (ks && strcmp(ks, key) == 0) {
            return yaml_document_get_node(d->doc, p->value);
        }
    }
    return NULL;
}

static int get_str(struct dec *d, yaml_node_t *map, const char *key, const char *path,
                   char **out)
{
    yaml_node_t *n = get(d, map, key);
    if (!n) {
        return 0;
    }
    if (!scalar(n)) {
        err_at(d, n, path, "'%s' must be a string", key);
        return -1;
    }
    free(*out);
    *out = wg_strdup(scalar(n));
    return 1;
}

static int get_dur(struct dec *d, yaml_node_t *map, const char *key, const char *path,
                   int64_t *out)
{
    yaml_node_t *n = get(d, map, key);
    if (!n) {
        return 0;
    }
    if (!scalar(n) || wg_duration_parse(scalar(n), out) != WG_OK) {
        err_at(d, n, path, "'%s' must be a duration like 30s, 5m, 4h", key);
        return -1;
    }
    return 1;
}

static int get_bool(struct dec *d, yaml_node_t *map, const char *key, const char *path,
                    int *out)
{
    yaml_node_t *n = get(d, map, key);
    const char *s = scalar(n);
    if (!n) {
        return 0;
    }
    if (s && (strcmp(s, "true") == 0 || strcmp(s, "yes") == 0)) {
        *out = 1;
    } else if (s && (strcmp(s, "false") == 0 || strcmp(s, "no") == 0)) {
        *out = 0;
    } else {
        err_at(d, n, path, "'%s' must be true or false", key);
        return -1;
    }
    return 1;
}

static int get_num(struct dec *d, yaml_node_t *map, const char *key, const char *path,
                   double lo, double hi, double *out)
{
    yaml_node_t *n = get(d, map, key);
    const char *s = scalar(n);
    char *end = NULL;
    if (!n) {
        return 0;
    }
    errno = 0;
    double v = s ? strtod(s, &end) : 0;
    if (!s || end == s || *end || errno || v < lo || v > hi) {
        err_at(d, n, path, "'%s' must be a number in range", key);
        return -1;
    }
    *out = v;
    return 1;
}

/* A sequence of strings (a lone scalar counts as one). */
static int get_strs(struct dec *d, yaml_node_t *map, const char *key, const char *path,
                    char ***out, size_t *nout)
{
    yaml_node_t *n = get(d, map, key);
    if (!n) {
        return 0;
    }
    if (scalar(n)) {
        *out = calloc(1, sizeof(char *));
        if (*out) {
            (*out)[0] = wg_strdup(scalar(n));
            *nout = 1;
        }
        return 1;
    }
    if (n->type != YAML_SEQUENCE_NODE) {
        err_at(d, n, path, "'%s' must be a list of strings", key);
        return -1;
    }
    size_t cnt = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
    *out = calloc(cnt ? cnt : 1, sizeof(char *));
    *nout = 0;
    for (yaml_node_item_t *it = n->data.sequence.items.start;
         *out && it < n->data.sequence.items.top; it++) {
        yaml_node_t *e = yaml_document_get_node(d->doc, *it);
        if (!scalar(e)) {
            err_at(d, e, path, "'%s' entries must be strings", key);
            return -1;
        }
        (*out)[(*nout)++] = wg_strdup(scalar(e));
    }
    return 1;
}

static void free_strs(char **v, size_t n)
{
    for (size_t i = 0; v && i < n; i++) {
        free(v[i]);
    }
    free(v);
}

static int matchers_add(struct wg_matchers *ms, struct wg_matcher *m)
{
    struct wg_matcher *nv = realloc(ms->v, (ms->n + 1) * sizeof(*nv));
    if (!nv) {
        wg_matcher_clear(m);
        return -1;
    }
    ms->v = nv;
    ms->v[ms->n++] = *m;
    return 0;
}

/* match: {k: v}, match_re: {k: re}, matchers: ['k="v"', ...] (prefix selects the key names). */
static int get_matchers(struct dec *d, yaml_node_t *map, const char *prefix, const char *path,
                        struct wg_matchers *out)
{
    static const char *const sfx[] = {"match", "match_re", "matchers"};
    char key[64], err[256];
    int bad = 0;
    for (int k = 0; k < 3; k++) {
        snprintf(key, sizeof(key), "%s%s", prefix, sfx[k]);
        yaml_node_t *n = get(d, map, key);
        if (!n) {
            continue;
        }
        if (k < 2 && n->type == YAML_MAPPING_NODE) {
            for (yaml_node_pair_t *p = n->data.mapping.pairs.start;
                 p < n->data.mapping.pairs.top; p++) {
                yaml_node_t *kn = yaml_document_get_node(d->doc, p->key);
                yaml_node_t *vn = yaml_document_get_node(d->doc, p->value);
                struct wg_matcher m;
                if (!scalar(kn) || !scalar(vn) ||
                    wg_matcher_init(&m, scalar(kn), k ? WG_MATCH_RE : WG_MATCH_EQ, scalar(vn),
                                    err, sizeof(err)) != 0) {
                    err_at(d, vn, path, "bad %s entry: %s", scalar(vn) ? err : "not a string");
                    bad = 1;
                    continue;
                }
                matchers_add(out, &m);
            }
        } else if (k == 2 && n->type == YAML_SEQUENCE_NODE) {
            for (yaml_node_item_t *it = n->data.sequence.items.start;
                 it < n->data.sequence.items.top; it++) {
                yaml_node_t *e = yaml_document_get_node(d->doc, *it);
                struct wg_matcher m;
                if (!scalar(e) || wg_matcher_parse(scalar(e), &m, err, sizeof(err)) != 0) {
                    err_at(d, e, path, "bad matcher: %s", scalar(e) ? err : "not a string");
                    bad = 1;
                    continue;
                }
                matchers_add(out, &m);
            }
        } else {
            err_at(d, n, path, "'%s' has the wrong type", key);
            bad = 1;
        }
    }
    return bad ? -1 : 0;
}

static void route_clear(struct wg_route *r)
{
    free(r->receiver);
    wg_matchers_clear(&r->match);
    free_strs(r->group_by, r->ngroup_by);
    for (size_t i = 0; i < r->nroutes; i++) {
        route_clear(&r->routes[i]);
    }
    free(r->routes);
    memset(r, 0, sizeof(*r));
}

static int decode_route(struct dec *d, yaml_node_t *n, const struct wg_route *parent,
                        struct wg_route *r, int depth)
{
    static const char *const keys[] = {"receiver", "match", "match_re", "matchers", "continue",
                                       "group_by", "group_wait", "group_interval",
                                       "repeat_interval", "routes", NULL};
    const char *path = parent ? "alerting.route.routes" : "alerting.route";
    int bad = 0;
    r->pos = pos_of(d, n);
    if (n->type != YAML_MAPPING_NODE) {
        err_at(d, n, path, "a route must be a mapping%s", NULL);
        return -1;
    }
    if (depth > MAX_ROUTE_DEPTH) {
        err_at(d, n, path, "routes nested too deeply%s", NULL);
        return -1;
    }
    bad |= check_keys(d, n, path, keys);
    if (parent) {
        r->receiver = wg_strdup(parent->receiver);
        r->group_wait_ns = parent->group_wait_ns;
        r->group_interval_ns = parent->group_interval_ns;
        r->repeat_interval_ns = parent->repeat_interval_ns;
        r->group_by_all = parent->group_by_all;
        r->group_by = calloc(parent->ngroup_by + 1, sizeof(char *));
        for (size_t i = 0; r->group_by && i < parent->ngroup_by; i++) {
            r->group_by[r->ngroup_by++] = wg_strdup(parent->group_by[i]);
        }
    } else {
        r->group_wait_ns = 30 * WG_NS_PER_SEC;
        r->group_interval_ns = 300 * WG_NS_PER_SEC;
        r->repeat_interval_ns = 4 * 3600 * WG_NS_PER_SEC;
    }
    bad |= get_str(d, n, "receiver", path, &r->receiver) < 0;
    if (!r->receiver) {
        err_at(d, n, path, "the root route needs a receiver%s", NULL);
        bad = 1;
    }
    if (parent) {
        bad |= get_matchers(d, n, "", path, &r->match);
    } else if (get(d, n, "match") || get(d, n, "match_re") || get(d, n, "matchers")) {
        err_at(d, n, path, "the root route matches every alert; matchers not allowed%s", NULL);
        bad = 1;
    }
    bad |= get_bool(d, n, "continue", path, &r->cont) < 0;
    bad |= get_dur(d, n, "group_wait", path, &r->group_wait_ns) < 0;
    bad |= get_dur(d, n, "group_interval", path, &r->group_interval_ns) < 0;
    bad |= get_dur(d, n, "repeat_interval", path, &r->repeat_interval_ns) < 0;
    if (r->group_interval_ns <= 0 || r->repeat_interval_ns <= 0) {
        err_at(d, n, path, "group_interval and repeat_interval must be > 0%s", NULL);
        bad = 1;
    }
    char **gb = NULL;
    size_t ngb = 0;
    int g = get_strs(d, n, "group_by", path, &gb, &ngb);
    if (g < 0) {
        bad = 1;
    } else if (g > 0) {
        free_strs(r->group_by, r->ngroup_by);
        r->group_by = gb;
        r->ngroup_by = ngb;
        r->group_by_all = 0;
        for (size_t i = 0; i < ngb; i++) {
            if (strcmp(gb[i], "...") == 0) {
                r->group_by_all = 1;
            }
        }
        if (r->group_by_all && ngb != 1) {
            err_at(d, n, path, "group_by '...' must be alone%s", NULL);
            bad = 1;
        }
        gb = NULL;
    }
    free_strs(gb, ngb);
    yaml_node_t *rs = get(d, n, "routes");
    if (rs && rs->type != YAML_SEQUENCE_NODE) {
        err_at(d, rs, path, "'routes' must be a list%s", NULL);
        bad = 1;
    } else if (rs) {
        size_t cnt = (size_t)(rs->data.sequence.items.top - rs->data.sequence.items.start);
        r->routes = calloc(cnt ? cnt : 1, sizeof(*r->routes));
        for (yaml_node_item_t *it = rs->data.sequence.items.start;
             r->routes && it < rs->data.sequence.items.top; it++) {
            struct wg_route *c = &r->routes[r->nroutes++];
            bad |= decode_route(d, yaml_document_get_node(d->doc, *it), r, c, depth + 1) < 0;
        }
    }
    return bad ? -1 : 0;
}

static int parse_kind(const char *s, enum wg_receiver_kind *k)
{
    for (size_t i = 0; i < sizeof(kind_names) / sizeof(kind_names[0]); i++) {
        if (s && strcmp(s, kind_names[i]) == 0) {
            *k = (enum wg_receiver_kind)i;
            return 0;
        }
    }
    return -1;
}

static int decode_receiver(struct dec *d, yaml_node_t *n, struct wg_receiver *r)
{
    static const char *const keys[] = {
        "name",  "type",          "url",        "secret_env",    "routing_key_env",
        "api_key_env", "source",  "title",      "text",          "send_resolved",
        "timeout", "rate_limit",  "burst",      "max_in_flight", "max_alerts", NULL};
    const char *path = "alerting.receivers";
    char err[256];
    int bad = 0;
    r->pos = pos_of(d, n);
    if (n->type != YAML_MAPPING_NODE) {
        err_at(d, n, path, "a receiver must be a mapping%s", NULL);
        return -1;
    }
    bad |= check_keys(d, n, path, keys);
    bad |= get_str(d, n, "name", path, &r->name) < 0;
    char *type = NULL;
    bad |= get_str(d, n, "type", path, &type) < 0;
    if (!r->name) {
        err_at(d, n, path, "a receiver needs a name%s", NULL);
        bad = 1;
    }
    if (parse_kind(type, &r->kind) != 0) {
        err_at(d, n, path,
               "type '%s' unknown (allowed: webhook, slack, teams, pagerduty, opsgenie, "
               "alertmanager)",
               type ? type : "(missing)");
        bad = 1;
    }
    free(type);
    bad |= get_str(d, n, "url", path, &r->url) < 0;
    bad |= get_str(d, n, "secret_env", path, &r->secret_env) < 0;
    bad |= get_str(d, n, "routing_key_env", path, &r->routing_key_env) < 0;
    bad |= get_str(d, n, "api_key_env", path, &r->api_key_env) < 0;
    bad |= get_str(d, n, "source", path, &r->source) < 0;
    bad |= get_str(d, n, "title", path, &r->title) < 0;
    bad |= get_str(d, n, "text", path, &r->text) < 0;
    if (!r->url && r->kind == WG_RCV_PAGERDUTY) {
        r->url = wg_strdup("https://events.pagerduty.com/v2/enqueue");
    } else if (!r->url && r->kind == WG_RCV_OPSGENIE) {
        r->url = wg_strdup("https://api.opsgenie.com/v2/alerts");
    } else if (!r->url) {
        err_at(d, n, path, "receiver '%s' needs a url", r->name);
        bad = 1;
    }
    if (r->kind == WG_RCV_PAGERDUTY && !r->routing_key_env) {
        err_at(d, n, path, "pagerduty receiver '%s' needs routing_key_env", r->name);
        bad = 1;
    }
    if (r->kind == WG_RCV_OPSGENIE && !r->api_key_env) {
        err_at(d, n, path, "opsgenie receiver '%s' needs api_key_env", r->name);
        bad = 1;
    }
    for (int t = 0; t < 2; t++) {
        const char *tm = t ? r->text : r->title;
        if (tm && wg_template_check(tm, err, sizeof(err)) != 0) {
            err_at(d, get(d, n, t ? "text" : "title"), path, "bad template: %s", err);
            bad = 1;
        }
    }
    r->send_resolved = r->kind != WG_RCV_SLACK;
    r->timeout_ns = 10 * WG_NS_PER_SEC;
    r->rate_per_sec = r->kind == WG_RCV_SLACK ? 1 : r->kind == WG_RCV_PAGERDUTY ? 2 : 0;
    r->burst = 5;
    r->max_in_flight = (r->kind == WG_RCV_SLACK || r->kind == WG_RCV_PAGERDUTY) ? 1 : 64;
    double v;
    bad |= get_bool(d, n, "send_resolved", path, &r->send_resolved) < 0;
    bad |= get_dur(d, n, "timeout", path, &r->timeout_ns) < 0;
    if (get_num(d, n, "rate_limit", path, 0, 1e6, &v) > 0) {
        r->rate_per_sec = v;
    }
    if (get_num(d, n, "burst", path, 1, 1e6, &v) > 0) {
        r->burst = (int)v;
    }
    if (get_num(d, n, "max_in_flight", path, 1, 1024, &v) > 0) {
        r->max_in_flight = (int)v;
    }
    if (get_num(d, n, "max_alerts", path, 0, 1e6, &v) > 0) {
        r->max_alerts = (int)v;
    }
    if (r->timeout_ns <= 0) {
        r->timeout_ns = 10 * WG_NS_PER_SEC;
    }
    return bad ? -1 : 0;
}

static int decode_inhibit(struct dec *d, yaml_node_t *n, struct wg_inhibit_rule *ir)
{
    static const char *const keys[] = {"name", "source_match", "source_match_re",
                                       "source_matchers", "target_match", "target_match_re",
                                       "target_matchers", "equal", NULL};
    const char *path = "alerting.inhibit_rules";
    int bad = 0;
    ir->pos = pos_of(d, n);
    if (n->type != YAML_MAPPING_NODE) {
        err_at(d, n, path, "an inhibit rule must be a mapping%s", NULL);
        return -1;
    }
    bad |= check_keys(d, n, path, keys);
    bad |= get_matchers(d, n, "source_", path, &ir->source);
    bad |= get_matchers(d, n, "target_", path, &ir->target);
    bad |= get_strs(d, n, "equal", path, &ir->equal, &ir->nequal) < 0;
    return bad ? -1 : 0;
}

static int parse_map(struct dec *d, yaml_node_t *map, const char *key, enum wg_state_map *out)
{
    static const char *const names[] = {"alerting", "ok", "keep_last", "separate"};
    yaml_node_t *n = get(d, map, key);
    if (!n) {
        return 0;
    }
    for (int i = 0; i < 4; i++) {
        if (scalar(n) && strcmp(scalar(n), names[i]) == 0) {
            *out = (enum wg_state_map)i;
            return 1;
        }
    }
    err_at(d, n, "monitor", "'%s' must be alerting, ok, keep_last or separate", key);
    return -1;
}

static int decode_monitor(struct dec *d, yaml_node_t *n, struct wg_monitor *m)
{
    static const char *const keys[] = {"interval", "waves", "features", "for",
                                       "keep_firing_for", "no_data", "error", "alert_on_pass",
                                       "external_url", "rules", NULL};
    static const char *const rkeys[] = {"for", "keep_firing_for", "no_data", "error", NULL};
    int bad = 0;
    m->enabled = 1;
    if (n->type != YAML_MAPPING_NODE) {
        err_at(d, n, "monitor", "'monitor' must be a mapping%s", NULL);
        return -1;
    }
    bad |= check_keys(d, n, "monitor", keys);
    bad |= get_dur(d, n, "interval", "monitor", &m->interval_ns) < 0;
    bad |= get_strs(d, n, "waves", "monitor", &m->waves, &m->nwaves) < 0;
    bad |= get_strs(d, n, "features", "monitor", &m->features, &m->nfeatures) < 0;
    bad |= get_dur(d, n, "for", "monitor", &m->for_ns) < 0;
    bad |= get_dur(d, n, "keep_firing_for", "monitor", &m->keep_firing_for_ns) < 0;
    bad |= parse_map(d, n, "no_data", &m->no_data) < 0;
    bad |= parse_map(d, n, "error", &m->error) < 0;
    bad |= get_bool(d, n, "alert_on_pass", "monitor", &m->alert_on_pass) < 0;
    bad |= get_str(d, n, "external_url", "monitor", &m->external_url) < 0;
    if (m->interval_ns <= 0) {
        err_at(d, n, "monitor", "interval must be > 0%s", NULL);
        bad = 1;
    }
    yaml_node_t *rs = get(d, n, "rules");
    if (rs && rs->type != YAML_MAPPING_NODE) {
        err_at(d, rs, "monitor.rules", "'rules' must map rule names to settings%s", NULL);
        return -1;
    }
    size_t cnt = rs ? (size_t)(rs->data.mapping.pairs.top - rs->data.mapping.pairs.start) : 0;
    m->rules = calloc(cnt ? cnt : 1, sizeof(*m->rules));
    for (yaml_node_pair_t *p = rs ? rs->data.mapping.pairs.start : NULL;
         m->rules && p && p < rs->data.mapping.pairs.top; p++) {
        yaml_node_t *kn = yaml_document_get_node(d->doc, p->key);
        yaml_node_t *vn = yaml_document_get_node(d->doc, p->value);
        struct wg_monitor_rule *mr = &m->rules[m->nrules++];
        mr->name = wg_strdup(scalar(kn) ? scalar(kn) : "");
        mr->for_ns = m->for_ns;
        mr->keep_firing_for_ns = m->keep_firing_for_ns;
        mr->no_data = m->no_data;
        mr->error = m->error;
        if (vn->type != YAML_MAPPING_NODE) {
            err_at(d, vn, "monitor.rules", "settings of '%s' must be a mapping", mr->name);
            bad = 1;
            continue;
        }
        bad |= check_keys(d, vn, "monitor.rules", rkeys);
        int r;
        bad |= (r = get_dur(d, vn, "for", "monitor.rules", &mr->for_ns)) < 0;
        mr->set |= r > 0 ? 1u : 0u;
        bad |= (r = get_dur(d, vn, "keep_firing_for", "monitor.rules", &mr->keep_firing_for_ns)) <
               0;
        mr->set |= r > 0 ? 2u : 0u;
        bad |= (r = parse_map(d, vn, "no_data", &mr->no_data)) < 0;
        mr->set |= r > 0 ? 4u : 0u;
        bad |= (r = parse_map(d, vn, "error", &mr->error)) < 0;
        mr->set |= r > 0 ? 8u : 0u;
    }
    return bad ? -1 : 0;
}

/* Every receiver a route names must exist. */
static int check_route_receivers(struct dec *d, const struct wg_alert_config *c,
                                 const struct wg_route *r)
{
    int bad = 0;
    if (r->receiver && !wg_alert_config_receiver(c, r->receiver)) {
        wg_diags_add(d->diags, &r->pos, "alerting.route", 0, "unknown receiver '%s'",
                     r->receiver);
        bad = 1;
    }
    for (size_t i = 0; i < r->nroutes; i++) {
        bad |= check_route_receivers(d, c, &r->routes[i]) < 0;
    }
    return bad ? -1 : 0;
}

static int decode_alerting(struct dec *d, yaml_node_t *n, struct wg_alert_config *c)
{
    static const char *const keys[] = {"route", "receivers", "inhibit_rules", "templates",
                                       "resend_interval", NULL};
    static const char *const tkeys[] = {"title", "text", NULL};
    char err[256];
    int bad = 0;
    c->enabled = 1;
    if (n->type != YAML_MAPPING_NODE) {
        err_at(d, n, "alerting", "'alerting' must be a mapping%s", NULL);
        return -1;
    }
    bad |= check_keys(d, n, "alerting", keys);
    bad |= get_dur(d, n, "resend_interval", "alerting", &c->resend_ns) < 0;
    yaml_node_t *rv = get(d, n, "receivers");
    if (!rv || rv->type != YAML_SEQUENCE_NODE) {
        err_at(d, rv ? rv : n, "alerting.receivers", "a list of receivers is required%s", NULL);
        bad = 1;
    } else {
        size_t cnt = (size_t)(rv->data.sequence.items.top - rv->data.sequence.items.start);
        c->receivers = calloc(cnt ? cnt : 1, sizeof(*c->receivers));
        for (yaml_node_item_t *it = rv->data.sequence.items.start;
             c->receivers && it < rv->data.sequence.items.top; it++) {
            yaml_node_t *e = yaml_document_get_node(d->doc, *it);
            struct wg_receiver *r = &c->receivers[c->nreceivers++];
            bad |= decode_receiver(d, e, r) < 0;
            for (size_t j = 0; r->name && j + 1 < c->nreceivers; j++) {
                if (c->receivers[j].name && strcmp(c->receivers[j].name, r->name) == 0) {
                    err_at(d, e, "alerting.receivers", "duplicate receiver '%s'", r->name);
                    bad = 1;
                }
            }
        }
    }
    yaml_node_t *rt = get(d, n, "route");
    if (!rt) {
        err_at(d, n, "alerting.route", "a route is required%s", NULL);
        bad = 1;
    } else if (decode_route(d, rt, NULL, &c->route, 0) != 0) {
        bad = 1;
    } else {
        bad |= check_route_receivers(d, c, &c->route) < 0;
    }
    yaml_node_t *ih = get(d, n, "inhibit_rules");
    if (ih && ih->type == YAML_SEQUENCE_NODE) {
        size_t cnt = (size_t)(ih->data.sequence.items.top - ih->data.sequence.items.start);
        c->inhibit = calloc(cnt ? cnt : 1, sizeof(*c->inhibit));
        for (yaml_node_item_t *it = ih->data.sequence.items.start;
             c->inhibit && it < ih->data.sequence.items.top; it++) {
            bad |= decode_inhibit(d, yaml_document_get_node(d->doc, *it),
                                  &c->inhibit[c->ninhibit++]) < 0;
        }
    } else if (ih) {
        err_at(d, ih, "alerting.inhibit_rules", "must be a list%s", NULL);
        bad = 1;
    }
    yaml_node_t *tp = get(d, n, "templates");
    if (tp && tp->type == YAML_MAPPING_NODE) {
        bad |= check_keys(d, tp, "alerting.templates", tkeys);
        bad |= get_str(d, tp, "title", "alerting.templates", &c->title_tmpl) < 0;
        bad |= get_str(d, tp, "text", "alerting.templates", &c->text_tmpl) < 0;
        for (int t = 0; t < 2; t++) {
            const char *tm = t ? c->text_tmpl : c->title_tmpl;
            if (tm && wg_template_check(tm, err, sizeof(err)) != 0) {
                err_at(d, get(d, tp, t ? "text" : "title"), "alerting.templates",
                       "bad template: %s", err);
                bad = 1;
            }
        }
    } else if (tp) {
        err_at(d, tp, "alerting.templates", "must be a mapping%s", NULL);
        bad = 1;
    }
    return bad ? -1 : 0;
}

enum wg_err wg_alert_config_load_mem(const char *name, const char *text, size_t len,
                                     struct wg_alert_config **out, struct wg_diags *diags)
{
    yaml_parser_t parser;
    yaml_document_t doc;
    struct wg_alert_config *c = calloc(1, sizeof(*c));
    enum wg_err rc = WG_OK;
    int have_doc = 0;
    *out = NULL;
    if (!c) {
        return WG_ENOMEM;
    }
    c->resend_ns = 60 * WG_NS_PER_SEC;
    c->monitor.interval_ns = 60 * WG_NS_PER_SEC;
    c->monitor.no_data = WG_MAP_KEEP_LAST;
    c->monitor.error = WG_MAP_SEPARATE;
    yaml_parser_initialize(&parser);
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    if (!yaml_parser_load(&parser, &doc)) {
        struct wg_pos p = {name, (int)parser.problem_mark.line + 1,
                           (int)parser.problem_mark.column + 1};
        wg_diags_add(diags, &p, NULL, 0, "YAML: %s",
                     parser.problem ? parser.problem : "parse error");
        rc = WG_ECONFIG;
        goto out;
    }
    have_doc = 1;
    struct dec d = {&doc, name, diags};
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (root && root->type == YAML_MAPPING_NODE) {
        int bad = 0;
        yaml_node_t *a = get(&d, root, "alerting");
        yaml_node_t *m = get(&d, root, "monitor");
        if (a) {
            bad |= decode_alerting(&d, a, c) < 0;
        }
        if (m) {
            bad |= decode_monitor(&d, m, &c->monitor) < 0;
        }
        if (bad) {
            rc = WG_ECONFIG;
        }
    }
out:
    if (have_doc) {
        yaml_document_delete(&doc);
    }
    yaml_parser_delete(&parser);
    if (rc != WG_OK) {
        wg_alert_config_free(c);
        return rc;
    }
    *out = c;
    return WG_OK;
}

enum wg_err wg_alert_config_load(const char *path, struct wg_alert_config **out,
                                 struct wg_diags *diags)
{
    struct wg_buf b;
    char chunk[8192];
    size_t n;
    enum wg_err rc = WG_OK;
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) {
        struct wg_pos p = {path, 0, 0};
        wg_diags_add(diags, &p, NULL, 0, "cannot open: %s", strerror(errno));
        return WG_EIO;
    }
    wg_buf_init(&b, MAX_FILE_BYTES);
    while (rc == WG_OK && (n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
        rc = wg_buf_add(&b, chunk, n);
    }
    fclose(f);
    if (rc == WG_OK) {
        rc = wg_alert_config_load_mem(path, b.p ? b.p : "", b.len, out, diags);
    }
    wg_buf_free(&b);
    return rc;
}

void wg_alert_config_free(struct wg_alert_config *c)
{
    if (!c) {
        return;
    }
    route_clear(&c->route);
    for (size_t i = 0; i < c->nreceivers; i++) {
        struct wg_receiver *r = &c->receivers[i];
        free(r->name);
        free(r->url);
        free(r->secret_env);
        free(r->routing_key_env);
        free(r->api_key_env);
        free(r->source);
        free(r->title);
        free(r->text);
    }
    free(c->receivers);
    for (size_t i = 0; i < c->ninhibit; i++) {
        wg_matchers_clear(&c->inhibit[i].source);
        wg_matchers_clear(&c->inhibit[i].target);
        free_strs(c->inhibit[i].equal, c->inhibit[i].nequal);
    }
    free(c->inhibit);
    free(c->title_tmpl);
    free(c->text_tmpl);
    free_strs(c->monitor.waves, c->monitor.nwaves);
    free_strs(c->monitor.features, c->monitor.nfeatures);
    free(c->monitor.external_url);
    for (size_t i = 0; i < c->monitor.nrules; i++) {
        free(c->monitor.rules[i].name);
    }
    free(c->monitor.rules);
    free(c);
}

const struct wg_receiver *wg_alert_config_receiver(const struct wg_alert_config *c,
                                                   const char *name)
{
    for (size_t i = 0; c && name && i < c->nreceivers; i++) {
        if (c->receivers[i].name && strcmp(c->receivers[i].name, name) == 0) {
            return &c->receivers[i];
        }
    }
    return NULL;
}

/* ---- hook for config_load.c's section table ---------------------------------------------- */

#include "config/config_int.h"

int wg__config_alerting_decode(struct wg__config_ctx *c, struct wg_alert_config **out)
{
    struct wg_alert_config *ac = NULL;
    *out = NULL;
    if (!c->doc || !c->doc->root ||
        (!wg__config_get(c->doc->root, "alerting") && !wg__config_get(c->doc->root, "monitor"))) {
        return 0;
    }
    /* Re-read the same text with the libyaml document API: positions match the file. */
    enum wg_err rc = wg_alert_config_load_mem(c->doc->file, c->doc->text, c->doc->len, &ac,
                                              c->diags);
    if (rc == WG_ENOMEM) {
        c->oom = 1;
    }
    *out = ac;
    return rc == WG_OK ? 0 : -1;
}

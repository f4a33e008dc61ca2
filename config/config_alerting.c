/* config_alerting.c — the `alerting:` (route tree with inheritance resolved, receivers with their
 * per-kind defaults, inhibit rules, templates) and `monitor:` sections, decoded from the shared
 * node tree with config_load.c's field tables: two rows of wg__config_sections. Also
 * wg_alert_config_load(_mem): the same decoders on a file whose other top-level keys are ignored.
 */
#include "config/config_alerting_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ROUTE_DEPTH 16

static const struct wg__config_range positive = {0, 1e12, 1, 0}; /* seconds, > 0 */
static const struct wg__config_range nonneg = {0, 1e12, 0, 0};   /* seconds, >= 0 */

static const struct wg__config_enum kinds[] = {{"webhook", WG_RCV_WEBHOOK},
                                               {"slack", WG_RCV_SLACK},
                                               {"teams", WG_RCV_TEAMS},
                                               {"pagerduty", WG_RCV_PAGERDUTY},
                                               {"opsgenie", WG_RCV_OPSGENIE},
                                               {"alertmanager", WG_RCV_ALERTMANAGER},
                                               {NULL, 0}};

const char *wg_receiver_kind_name(enum wg_receiver_kind k)
{
    for (size_t i = 0; kinds[i].name; i++) {
        if (kinds[i].value == (int)k) {
            return kinds[i].name;
        }
    }
    return "?";
}

/* ---- field decoders: string lists, matchers, templates ----------------------------------- */

/* The zeroed array for n's items when n is of type t (else "expected <want>" is reported); NULL
 * when there are none, on that error, or with c->oom set. */
/* Where a list of strings (char **v, size_t n) lives inside the decoded struct. */
struct strs_at {
    size_t v, n;
};

static void free_strs(char **v, size_t n)
{
    for (size_t i = 0; v && i < n; i++) {
        free(v[i]);
    }
    free(v);
}

/* A sequence of strings; a lone string counts as a list of one. Replaces the old list. */
static int dec_strs(struct wg__config_ctx *c, const struct wg__cfg_node *n, const char *path,
                    void *dst, const void *arg)
{
    const struct strs_at *at = arg;
    char sub[WG__CONFIG_PATH_MAX];
    int seq = n->type == WG__CFG_SEQ, bad = 0;
    size_t cnt = seq ? n->n : 1;
    if (n->type == WG__CFG_MAP) {
        return wg__config_type_err(c, n, path, "a string or a sequence of strings");
    }
    char **v = calloc(cnt ? cnt : 1, sizeof(*v));
    if (!v) {
        c->oom = 1;
        return -1;
    }
    for (size_t i = 0; i < cnt; i++) {
        wg__config_path_index(sub, sizeof(sub), path, i);
        bad |= wg__config_dec_str(c, seq ? n->vals[i] : n, seq ? sub : path, &v[i], NULL) != 0;
    }
    if (bad) {
        free_strs(v, cnt);
        return -1;
    }
    char ***dv = (char ***)(void *)((char *)dst + at->v);
    size_t *dn = (size_t *)(void *)((char *)dst + at->n);
    free_strs(*dv, *dn);
    *dv = v;
    *dn = cnt;
    return 0;
}

/* The three spellings of matchers; each appends to the same struct wg_matchers. */
enum { M_EQ, M_RE, M_LIST };
static const int form_eq = M_EQ, form_re = M_RE, form_list = M_LIST;

/* match: {name: value}, match_re: {name: regex}, matchers: ['name="v"', 'name=~"re"', ...] */
static int dec_matchers(struct wg__config_ctx *c, const struct wg__cfg_node *n, const char *path,
                        void *dst, const void *arg)
{
    struct wg_matchers *ms = dst;
    int form = *(const int *)arg, bad = 0;
    char sub[WG__CONFIG_PATH_MAX], err[256];
    if (form == M_LIST ? n->type != WG__CFG_SEQ : n->type != WG__CFG_MAP) {
        return wg__config_type_err(c, n, path,
                                   form == M_LIST ? "a sequence of matchers like 'name=\"value\"'"
                                                  : "a mapping of label names to values");
    }
    struct wg_matcher *nv = realloc(ms->v, (ms->n + n->n + 1) * sizeof(*nv));
    if (!nv) {
        c->oom = 1;
        return -1;
    }
    ms->v = nv;
    for (size_t i = 0; i < n->n; i++) {
        const struct wg__cfg_node *v = n->vals[i];
        struct wg_matcher m;
        if (form == M_LIST) {
            wg__config_path_index(sub, sizeof(sub), path, i);
        } else if (n->keys[i]->type == WG__CFG_SCALAR) {
            wg__config_path_key(sub, sizeof(sub), path, n->keys[i]->str);
        } else {
            continue; /* reported by the parser */
        }
        if (v->type != WG__CFG_SCALAR || wg__config_is_null(v)) {
            bad |= wg__config_type_err(c, v, sub, "a string");
            continue;
        }
        enum wg_err rc = form == M_LIST ? wg_matcher_parse(v->str, &m, err, sizeof(err))
                                        : wg_matcher_init(&m, n->keys[i]->str,
                                                          form == M_RE ? WG_MATCH_RE : WG_MATCH_EQ,
                                                          v->str, err, sizeof(err));
        if (rc != WG_OK) {
            wg__config_err(c, v, sub, "bad matcher: %s", err);
            bad = 1;
            continue;
        }
        ms->v[ms->n++] = m;
    }
    return bad ? -1 : 0;
}

/* A title/text template: a non-empty string whose {{ fields }} are known; the error points
 * at the offending {{ inside the scalar. */
static int dec_template(struct wg__config_ctx *c, const struct wg__cfg_node *n, const char *path,
                        void *dst, const void *arg)
{
    char *t = NULL, err[256];
    size_t off = 0;
    (void)arg;
    if (wg__config_dec_str(c, n, path, &t, NULL) != 0) {
        return -1;
    }
    if (wg__config_message_check(t, &off, err, sizeof(err)) != WG_OK) {
        struct wg_pos pos;
        wg__config_scalar_pos(c->doc, n, off, &pos);
        wg__config_err_at(c, &pos, path, "bad template: %s", err);
        free(t);
        return -1;
    }
    char **d = dst;
    free(*d);
    *d = t;
    return 0;
}

/* ---- routes ------------------------------------------------------------------------------ */

enum { R_RECEIVER = 1u };

/* group_by: label names, or '...' alone for "every label". */
static int dec_group_by(struct wg__config_ctx *c, const struct wg__cfg_node *n, const char *path,
                        void *dst, const void *arg)
{
    static const struct strs_at at = {offsetof(struct wg_route, group_by),
                                      offsetof(struct wg_route, ngroup_by)};
    struct wg_route *r = dst;
    (void)arg;
    if (dec_strs(c, n, path, r, &at) != 0) {
        return -1;
    }
    r->group_by_all = 0;
    for (size_t i = 0; i < r->ngroup_by; i++) {
        r->group_by_all |= strcmp(r->group_by[i], "...") == 0;
    }
    if (r->group_by_all && r->ngroup_by != 1) {
        wg__config_err(c, n, path, "'...' (group by every label) must be alone");
        return -1;
    }
    return 0;
}

/* The root route matches every alert: its matcher keys are known but refused. */
static int dec_root_match(struct wg__config_ctx *c, const struct wg__cfg_node *n, const char *path,
                          void *dst, const void *arg)
{
    (void)dst;
    (void)arg;
    wg__config_err(c, n, path, "the root route matches every alert: matchers are not allowed here");
    return -1;
}

#define RT(f) offsetof(struct wg_route, f)
static const struct wg__config_field route_fields[] = {
    {"receiver", wg__config_dec_str, RT(receiver), NULL, R_RECEIVER, 0},
    {"continue", wg__config_dec_bool, RT(cont), NULL, 0, 0},
    {"group_by", dec_group_by, 0, NULL, 0, 0},
    {"group_wait", wg__config_dec_duration, RT(group_wait_ns), &nonneg, 0, 0},
    {"group_interval", wg__config_dec_duration, RT(group_interval_ns), &positive, 0, 0},
    {"repeat_interval", wg__config_dec_duration, RT(repeat_interval_ns), &positive, 0, 0},
};
static const struct wg__config_field match_fields[] = {
    {"match", dec_matchers, RT(match), &form_eq, 0, 0},
    {"match_re", dec_matchers, RT(match), &form_re, 0, 0},
    {"matchers", dec_matchers, RT(match), &form_list, 0, 0},
};
static const struct wg__config_field root_match_fields[] = {
    {"match", dec_root_match, 0, NULL, 0, 0},
    {"match_re", dec_root_match, 0, NULL, 0, 0},
    {"matchers", dec_root_match, 0, NULL, 0, 0},
};
#undef RT
static const char *const route_extra[] = {"routes", NULL};

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

/* A route starts from its parent's settings (the root from the defaults). 0 or -1. */
static int route_inherit(struct wg__config_ctx *c, const struct wg_route *parent,
                         struct wg_route *r)
{
    if (!parent) {
        r->group_wait_ns = 30 * WG_NS_PER_SEC;
        r->group_interval_ns = 300 * WG_NS_PER_SEC;
        r->repeat_interval_ns = 4 * 3600 * WG_NS_PER_SEC;
        return 0;
    }
    r->group_wait_ns = parent->group_wait_ns;
    r->group_interval_ns = parent->group_interval_ns;
    r->repeat_interval_ns = parent->repeat_interval_ns;
    r->group_by_all = parent->group_by_all;
    r->receiver = wg_strdup(parent->receiver);
    r->group_by = calloc(parent->ngroup_by + 1, sizeof(char *));
    for (size_t i = 0; r->group_by && i < parent->ngroup_by; i++) {
        if ((r->group_by[i] = wg_strdup(parent->group_by[i])) != NULL) {
            r->ngroup_by++;
        }
    }
    if ((parent->receiver && !r->receiver) || r->ngroup_by != parent->ngroup_by) {
        c->oom = 1;
        return -1;
    }
    return 0;
}

static void unknown_receiver(struct wg__config_ctx *c, const struct wg_alert_config *ac,
                             const struct wg__cfg_node *n, const char *path, const char *name)
{
    struct wg_buf b;
    wg_buf_init(&b, 4096);
    for (size_t i = 0; i < ac->nreceivers; i++) {
        if (ac->receivers[i].name) {
            (void)wg_buf_addf(&b, "%s%s", b.len ? ", " : "", ac->receivers[i].name);
        }
    }
    wg__config_err(c, n, path, "unknown receiver '%s' (defined: %s)", name, b.len ? b.p : "none");
    wg_buf_free(&b);
}

static int decode_route(struct wg__config_ctx *c, const struct wg_alert_config *ac,
                        const struct wg__cfg_node *n, const char *path,
                        const struct wg_route *parent, struct wg_route *r, int depth)
{
    char sub[WG__CONFIG_PATH_MAX], sub2[WG__CONFIG_PATH_MAX];
    unsigned set = 0;
    r->pos = n->pos;
    if (depth > MAX_ROUTE_DEPTH) {
        wg__config_err(c, n, path, "routes nested deeper than %d levels", MAX_ROUTE_DEPTH);
        return -1;
    }
    if (route_inherit(c, parent, r) != 0) {
        return -1;
    }
    struct wg__config_fieldset fs[2] = {
        {route_fields, sizeof(route_fields) / sizeof(route_fields[0]), r, &set},
        {parent ? match_fields : root_match_fields, 3, r, NULL},
    };
    int bad = wg__config_fields(c, n, path, fs, 2, route_extra);
    if (bad < 0) {
        return -1;
    }
    wg__config_path_key(sub, sizeof(sub), path, "receiver");
    if (!parent && !wg__config_get(n, "receiver")) {
        wg__config_err(c, n, sub, "missing required key 'receiver'");
        bad++;
    } else if ((set & R_RECEIVER) && !wg_alert_config_receiver(ac, r->receiver)) {
        unknown_receiver(c, ac, wg__config_get(n, "receiver"), sub, r->receiver);
        bad++;
    }
    const struct wg__cfg_node *rs = wg__config_get(n, "routes");
    wg__config_path_key(sub, sizeof(sub), path, "routes");
    if (rs) {
        bad += rs->type != WG__CFG_SEQ;
        r->routes =
            wg__config_items(c, rs, sub, WG__CFG_SEQ, "a sequence of routes", sizeof(*r->routes));
    }
    for (size_t i = 0; r->routes && i < rs->n && !c->oom; i++) {
        wg__config_path_index(sub2, sizeof(sub2), sub, i);
        bad += decode_route(c, ac, rs->vals[i], sub2, r, &r->routes[r->nroutes++], depth + 1) != 0;
    }
    return bad || c->oom ? -1 : 0;
}

/* ---- receivers --------------------------------------------------------------------------- */

enum {
    RV_KIND = 1u << 0,
    RV_URL = 1u << 1,
    RV_SEND_RESOLVED = 1u << 2,
    RV_RATE = 1u << 3,
    RV_IN_FLIGHT = 1u << 4,
};

static const struct wg__config_range r_rate = {0, 1e6, 0, 0};
static const struct wg__config_range r_burst = {1, 1e6, 0, 0};
static const struct wg__config_range r_in_flight = {1, 1024, 0, 0};
static const struct wg__config_range r_max_alerts = {0, 1e6, 0, 0};

#define RV(f) offsetof(struct wg_receiver, f)
static const struct wg__config_field receiver_fields[] = {
    {"name", wg__config_dec_str, RV(name), NULL, 0, 1},
    /* `kind:` names the plugin everywhere (sources too); required, checked in receiver_finish */
    {"kind", wg__config_dec_enum, RV(kind), kinds, RV_KIND, 0},
    {"type", wg__config_dec_moved, 0, "use \"kind\"", 0, 0},
    {"url", wg__config_dec_str, RV(url), NULL, RV_URL, 0},
    {"secret_env", wg__config_dec_str, RV(secret_env), NULL, 0, 0},
    {"routing_key_env", wg__config_dec_str, RV(routing_key_env), NULL, 0, 0},
    {"api_key_env", wg__config_dec_str, RV(api_key_env), NULL, 0, 0},
    {"source", wg__config_dec_str, RV(source), NULL, 0, 0},
    {"title", dec_template, RV(title), NULL, 0, 0},
    {"text", dec_template, RV(text), NULL, 0, 0},
    {"send_resolved", wg__config_dec_bool, RV(send_resolved), NULL, RV_SEND_RESOLVED, 0},
    {"timeout", wg__config_dec_duration, RV(timeout_ns), &positive, 0, 0},
    {"rate_limit", wg__config_dec_number, RV(rate_per_sec), &r_rate, RV_RATE, 0},
    {"burst", wg__config_dec_int, RV(burst), &r_burst, 0, 0},
    {"max_in_flight", wg__config_dec_int, RV(max_in_flight), &r_in_flight, RV_IN_FLIGHT, 0},
    {"max_alerts", wg__config_dec_int, RV(max_alerts), &r_max_alerts, 0, 0},
};
#undef RV

/* Per-kind defaults of what was not given, and the keys a kind needs. */
static int receiver_finish(struct wg__config_ctx *c, const struct wg__cfg_node *n, const char *path,
                           struct wg_receiver *r, unsigned set)
{
    static const struct {
        enum wg_receiver_kind kind;
        const char *key, *url;
    } needs[] = {
        {WG_RCV_PAGERDUTY, "routing_key_env", "https://events.pagerduty.com/v2/enqueue"},
        {WG_RCV_OPSGENIE, "api_key_env", "https://api.opsgenie.com/v2/alerts"},
    };
    char sub[WG__CONFIG_PATH_MAX];
    const char *kind = wg_receiver_kind_name(r->kind);
    const char *default_url = NULL;
    int bad = 0;
    if (!(set & RV_KIND)) {
        /* an unknown kind or a `type:` key is reported already */
        if (!wg__config_get(n, "kind") && !wg__config_get(n, "type")) {
            wg__config_path_key(sub, sizeof(sub), path, "kind");
            wg__config_err(c, n, sub, "missing required key 'kind'");
        }
        return -1;
    }
    for (size_t i = 0; i < sizeof(needs) / sizeof(needs[0]); i++) {
        if (needs[i].kind != r->kind) {
            continue;
        }
        default_url = needs[i].url;
        if (!wg__config_get(n, needs[i].key)) {
            wg__config_path_key(sub, sizeof(sub), path, needs[i].key);
            wg__config_err(c, n, sub, "missing required key '%s' (needed by kind %s)", needs[i].key,
                           kind);
            bad = 1;
        }
    }
    if (!(set & RV_URL) && !wg__config_get(n, "url")) {
        if (!default_url) {
            wg__config_path_key(sub, sizeof(sub), path, "url");
            wg__config_err(c, n, sub, "missing required key 'url' (needed by kind %s)", kind);
            bad = 1;
        } else if (!(r->url = wg_strdup(default_url))) {
            c->oom = 1;
        }
    }
    if (!(set & RV_SEND_RESOLVED)) {
        r->send_resolved = r->kind != WG_RCV_SLACK; /* like Alertmanager */
    }
    if (!(set & RV_RATE)) {
        r->rate_per_sec = r->kind == WG_RCV_SLACK ? 1 : r->kind == WG_RCV_PAGERDUTY ? 2 : 0;
    }
    if (!(set & RV_IN_FLIGHT)) {
        r->max_in_flight = (r->kind == WG_RCV_SLACK || r->kind == WG_RCV_PAGERDUTY) ? 1 : 64;
    }
    return bad ? -1 : 0;
}

static void decode_receivers(struct wg__config_ctx *c, struct wg_alert_config *ac,
                             const struct wg__cfg_node *n, const char *path)
{
    char sub[WG__CONFIG_PATH_MAX], sub2[WG__CONFIG_PATH_MAX];
    ac->receivers = wg__config_items(c, n, path, WG__CFG_SEQ, "a sequence of receivers",
                                     sizeof(*ac->receivers));
    for (size_t i = 0; ac->receivers && i < n->n && !c->oom; i++) {
        const struct wg__cfg_node *item = n->vals[i];
        struct wg_receiver *r = &ac->receivers[ac->nreceivers++];
        unsigned set = 0;
        wg__config_path_index(sub, sizeof(sub), path, i);
        r->pos = item->pos;
        r->timeout_ns = 10 * WG_NS_PER_SEC;
        r->burst = 5;
        struct wg__config_fieldset fs = {
            receiver_fields, sizeof(receiver_fields) / sizeof(receiver_fields[0]), r, &set};
        if (wg__config_fields(c, item, sub, &fs, 1, NULL) < 0) {
            continue;
        }
        (void)receiver_finish(c, item, sub, r, set);
        for (size_t j = 0; r->name && j + 1 < ac->nreceivers; j++) {
            const struct wg_receiver *o = &ac->receivers[j];
            if (o->name && strcmp(o->name, r->name) == 0) {
                wg__config_path_key(sub2, sizeof(sub2), sub, "name");
                wg__config_err(c, wg__config_get(item, "name"), sub2,
                               "duplicate receiver name '%s' (first defined at line %d:%d)",
                               r->name, o->pos.line, o->pos.col);
                break;
            }
        }
    }
}

/* ---- inhibit rules and templates --------------------------------------------------------- */

#define IR(f) offsetof(struct wg_inhibit_rule, f)
static const struct strs_at equal_at = {IR(equal), IR(nequal)};
static const struct wg__config_field inhibit_fields[] = {
    {"source_match", dec_matchers, IR(source), &form_eq, 0, 0},
    {"source_match_re", dec_matchers, IR(source), &form_re, 0, 0},
    {"source_matchers", dec_matchers, IR(source), &form_list, 0, 0},
    {"target_match", dec_matchers, IR(target), &form_eq, 0, 0},
    {"target_match_re", dec_matchers, IR(target), &form_re, 0, 0},
    {"target_matchers", dec_matchers, IR(target), &form_list, 0, 0},
    {"equal", dec_strs, 0, &equal_at, 0, 0},
};
#undef IR
/* An inhibit rule may be named for the reader; the name is not kept. */
static const struct wg__config_field inhibit_name_field[] = {
    {"name", wg__config_dec_str, 0, NULL, 0, 0},
};

static void decode_inhibit(struct wg__config_ctx *c, struct wg_alert_config *ac,
                           const struct wg__cfg_node *n, const char *path)
{
    char sub[WG__CONFIG_PATH_MAX];
    ac->inhibit = wg__config_items(c, n, path, WG__CFG_SEQ, "a sequence of inhibit rules",
                                   sizeof(*ac->inhibit));
    for (size_t i = 0; ac->inhibit && i < n->n; i++) {
        struct wg_inhibit_rule *ir = &ac->inhibit[ac->ninhibit++];
        char *name = NULL;
        ir->pos = n->vals[i]->pos;
        wg__config_path_index(sub, sizeof(sub), path, i);
        struct wg__config_fieldset fs[2] = {
            {inhibit_name_field, 1, &name, NULL},
            {inhibit_fields, sizeof(inhibit_fields) / sizeof(inhibit_fields[0]), ir, NULL},
        };
        (void)wg__config_fields(c, n->vals[i], sub, fs, 2, NULL);
        free(name);
    }
}

#define AC(f) offsetof(struct wg_alert_config, f)
static const struct wg__config_field template_fields[] = {
    {"title", dec_template, AC(title_tmpl), NULL, 0, 0},
    {"text", dec_template, AC(text_tmpl), NULL, 0, 0},
};

static int dec_templates(struct wg__config_ctx *c, const struct wg__cfg_node *n, const char *path,
                         void *dst, const void *arg)
{
    struct wg__config_fieldset fs = {template_fields, 2, dst, NULL};
    (void)arg;
    return wg__config_fields(c, n, path, &fs, 1, NULL) ? -1 : 0;
}

static const struct wg__config_field alerting_fields[] = {
    {"resend_interval", wg__config_dec_duration, AC(resend_ns), &positive, 0, 0},
    {"templates", dec_templates, 0, NULL, 0, 0},
};
#undef AC
/* Decoded by hand after the fields, receivers first: routes refer to them. */
static const char *const alerting_extra[] = {"route", "receivers", "inhibit_rules", NULL};

/* ---- the sections ------------------------------------------------------------------------ */

/* cfg->alerting, allocated with its defaults on first use (either section may come alone). */
static struct wg_alert_config *alert_config_of(struct wg__config_ctx *c)
{
    struct wg_alert_config *ac = c->cfg->alerting;
    if (ac) {
        return ac;
    }
    if (!(ac = calloc(1, sizeof(*ac)))) {
        c->oom = 1;
        return NULL;
    }
    ac->resend_ns = 60 * WG_NS_PER_SEC;
    ac->monitor.interval_ns = 60 * WG_NS_PER_SEC;
    ac->monitor.no_data = WG_MAP_KEEP_LAST;
    ac->monitor.error = WG_MAP_SEPARATE;
    c->cfg->alerting = ac;
    return ac;
}

void wg__config_decode_alerting(struct wg__config_ctx *c, const struct wg__cfg_node *n,
                                const char *path)
{
    char sub[WG__CONFIG_PATH_MAX];
    struct wg_alert_config *ac;
    if (!n || !(ac = alert_config_of(c))) {
        return;
    }
    ac->enabled = 1;
    struct wg__config_fieldset fs = {
        alerting_fields, sizeof(alerting_fields) / sizeof(alerting_fields[0]), ac, NULL};
    if (wg__config_fields(c, n, path, &fs, 1, alerting_extra) < 0) {
        return; /* not a mapping: reported */
    }
    const struct wg__cfg_node *rv = wg__config_get(n, "receivers");
    const struct wg__cfg_node *rt = wg__config_get(n, "route");
    const struct wg__cfg_node *ih = wg__config_get(n, "inhibit_rules");
    wg__config_path_key(sub, sizeof(sub), path, "receivers");
    if (!rv) {
        wg__config_err(c, n, sub, "missing required key 'receivers'");
    } else {
        decode_receivers(c, ac, rv, sub);
    }
    wg__config_path_key(sub, sizeof(sub), path, "route");
    if (!rt) {
        wg__config_err(c, n, sub, "missing required key 'route'");
    } else if (!c->oom) {
        (void)decode_route(c, ac, rt, sub, NULL, &ac->route, 0);
    }
    wg__config_path_key(sub, sizeof(sub), path, "inhibit_rules");
    if (ih && !c->oom) {
        decode_inhibit(c, ac, ih, sub);
    }
}

static const struct wg__config_enum state_maps[] = {{"alerting", WG_MAP_ALERTING},
                                                    {"ok", WG_MAP_OK},
                                                    {"keep_last", WG_MAP_KEEP_LAST},
                                                    {"separate", WG_MAP_SEPARATE},
                                                    {NULL, 0}};

#define MO(f) offsetof(struct wg_monitor, f)
static const struct strs_at waves_at = {MO(waves), MO(nwaves)};
static const struct strs_at features_at = {MO(features), MO(nfeatures)};
static const struct wg__config_field monitor_fields[] = {
    {"interval", wg__config_dec_duration, MO(interval_ns), &positive, 0, 0},
    {"waves", dec_strs, 0, &waves_at, 0, 0},
    {"features", dec_strs, 0, &features_at, 0, 0},
    {"for", wg__config_dec_duration, MO(for_ns), &nonneg, 0, 0},
    {"keep_firing_for", wg__config_dec_duration, MO(keep_firing_for_ns), &nonneg, 0, 0},
    {"no_data", wg__config_dec_enum, MO(no_data), state_maps, 0, 0},
    {"error", wg__config_dec_enum, MO(error), state_maps, 0, 0},
    {"alert_on_pass", wg__config_dec_bool, MO(alert_on_pass), NULL, 0, 0},
    {"external_url", wg__config_dec_str, MO(external_url), NULL, 0, 0},
};
#undef MO
static const char *const monitor_extra[] = {"rules", NULL};

/* Per-rule settings; the bits are struct wg_monitor_rule.set's. */
#define MR(f) offsetof(struct wg_monitor_rule, f)
static const struct wg__config_field monitor_rule_fields[] = {
    {"for", wg__config_dec_duration, MR(for_ns), &nonneg, 1, 0},
    {"keep_firing_for", wg__config_dec_duration, MR(keep_firing_for_ns), &nonneg, 2, 0},
    {"no_data", wg__config_dec_enum, MR(no_data), state_maps, 4, 0},
    {"error", wg__config_dec_enum, MR(error), state_maps, 8, 0},
};
#undef MR

/* rules: {"feature/rule": {for: ..., ...}}; each starts from the monitor-wide settings. */
static void decode_monitor_rules(struct wg__config_ctx *c, struct wg_monitor *m,
                                 const struct wg__cfg_node *n, const char *path)
{
    char sub[WG__CONFIG_PATH_MAX];
    m->rules = wg__config_items(c, n, path, WG__CFG_MAP, "a mapping of rule names to settings",
                                sizeof(*m->rules));
    for (size_t i = 0; m->rules && i < n->n; i++) {
        const struct wg__cfg_node *k = n->keys[i];
        if (k->type != WG__CFG_SCALAR) {
            continue; /* reported by the parser */
        }
        wg__config_path_key(sub, sizeof(sub), path, k->str);
        struct wg_monitor_rule *mr = &m->rules[m->nrules++];
        if (!(mr->name = wg_strdup(k->str))) {
            c->oom = 1;
            return;
        }
        if (k->len == 0) {
            wg__config_err(c, k, sub, "a rule name must not be empty");
        }
        mr->for_ns = m->for_ns;
        mr->keep_firing_for_ns = m->keep_firing_for_ns;
        mr->no_data = m->no_data;
        mr->error = m->error;
        struct wg__config_fieldset fs = {
            monitor_rule_fields, sizeof(monitor_rule_fields) / sizeof(monitor_rule_fields[0]), mr,
            &mr->set};
        (void)wg__config_fields(c, n->vals[i], sub, &fs, 1, NULL);
    }
}

/* Each element of a string or list of strings, with its own node for positions. */
static void each_str(const struct wg__cfg_node *n,
                     void (*fn)(struct wg__config_ctx *, const struct wg__cfg_node *, const char *,
                                const char *),
                     struct wg__config_ctx *c, const char *path)
{
    char sub[WG__CONFIG_PATH_MAX];
    if (n && n->type == WG__CFG_SCALAR && n->str) {
        fn(c, n, path, n->str);
    }
    for (size_t i = 0; n && n->type == WG__CFG_SEQ && i < n->n; i++) {
        if (n->vals[i]->type == WG__CFG_SCALAR && n->vals[i]->str) {
            wg__config_path_index(sub, sizeof(sub), path, i);
            fn(c, n->vals[i], sub, n->vals[i]->str);
        }
    }
}

static void check_feature(struct wg__config_ctx *c, const struct wg__cfg_node *n, const char *path,
                          const char *name)
{
    if (!wg_config_feature(c->cfg, name)) {
        char known[512] = "";
        size_t len = 0;
        for (size_t i = 0; i < c->cfg->nfeatures && len < sizeof(known); i++) {
            int w = snprintf(known + len, sizeof(known) - len, "%s%s", i ? ", " : "",
                             c->cfg->features[i].name);
            len += w > 0 ? (size_t)w : 0;
        }
        wg__config_err(c, n, path, "unknown feature '%s' (defined: %s)", name, known);
    }
}

/* Monitor rule keys are "feature/rule". */
static void check_rule(struct wg__config_ctx *c, const struct wg__cfg_node *n, const char *path,
                       const char *name)
{
    const char *slash = strchr(name, '/');
    char feat[256];
    snprintf(feat, sizeof(feat), "%.*s", slash ? (int)(slash - name) : 0, name);
    const struct wg_feature *f = slash ? wg_config_feature(c->cfg, feat) : NULL;
    for (size_t i = 0; f && i < f->nrules; i++) {
        if (strcmp(f->rules[i].name, slash + 1) == 0) {
            return;
        }
    }
    wg__config_err(c, n, path, "unknown rule '%s' (write feature/rule)", name);
}

/* The main loader knows the waves and features (decoded before this section); the
 * alerting-only loader does not, and checks nothing here. */
static void check_monitor_refs(struct wg__config_ctx *c, const struct wg__cfg_node *n,
                               const char *path)
{
    char sub[WG__CONFIG_PATH_MAX];
    if (c->cfg->nwaves) {
        wg__config_path_key(sub, sizeof(sub), path, "waves");
        each_str(wg__config_get(n, "waves"), wg__config_check_wave_ref, c, sub);
    }
    if (c->cfg->nfeatures) {
        wg__config_path_key(sub, sizeof(sub), path, "features");
        each_str(wg__config_get(n, "features"), check_feature, c, sub);
        const struct wg__cfg_node *rs = wg__config_get(n, "rules");
        for (size_t i = 0; rs && rs->type == WG__CFG_MAP && i < rs->n; i++) {
            if (rs->keys[i]->str) {
                wg__config_path_key(sub, sizeof(sub), path, "rules");
                check_rule(c, rs->keys[i], sub, rs->keys[i]->str);
            }
        }
    }
}

void wg__config_decode_monitor(struct wg__config_ctx *c, const struct wg__cfg_node *n,
                               const char *path)
{
    char sub[WG__CONFIG_PATH_MAX];
    struct wg_alert_config *ac;
    if (!n || !(ac = alert_config_of(c))) {
        return;
    }
    struct wg_monitor *m = &ac->monitor;
    m->enabled = 1;
    struct wg__config_fieldset fs = {monitor_fields,
                                     sizeof(monitor_fields) / sizeof(monitor_fields[0]), m, NULL};
    if (wg__config_fields(c, n, path, &fs, 1, monitor_extra) < 0) {
        return;
    }
    const struct wg__cfg_node *rs = wg__config_get(n, "rules");
    if (rs) {
        wg__config_path_key(sub, sizeof(sub), path, "rules");
        decode_monitor_rules(c, m, rs, sub);
    }
    check_monitor_refs(c, n, path);
}

void wg__config_free_alerting(struct wg_config *cfg)
{
    wg_alert_config_free(cfg->alerting);
    cfg->alerting = NULL;
}

/* ---- loading just these two sections ----------------------------------------------------- */

/* The parser's diagnostics about `alerting:` / `monitor:` or the document as a whole; the rest
 * (a duplicate key under sources:, say) is the core loader's to report. */
static void keep_ours(const struct wg_diags *from, struct wg_diags *to)
{
    static const char *const keys[] = {"alerting", "monitor"};
    size_t errors = 0;
    for (size_t i = 0; i < from->n; i++) {
        const struct wg_diag *dg = &from->v[i];
        int ours = !dg->key; /* the document as a whole: syntax, size, several documents */
        errors += !dg->warning;
        for (size_t k = 0; k < 2 && !ours; k++) {
            size_t l = strlen(keys[k]);
            /* the key itself or below it: followed by '\0', '.' or '[' */
            ours = strncmp(dg->key, keys[k], l) == 0 && strchr(".[", dg->key[l]) != NULL;
        }
        if (ours) {
            struct wg_pos pos = {dg->file, dg->line, dg->col};
            wg_diags_add(to, &pos, dg->key, dg->warning, "%s", dg->msg ? dg->msg : "");
        }
    }
    to->nerrors += from->nerrors > errors ? from->nerrors - errors : 0; /* dropped on ENOMEM */
}

enum wg_err wg_alert_config_load_mem(const char *name, const char *text, size_t len,
                                     struct wg_alert_config **out, struct wg_diags *diags)
{
    struct wg_diags local = {0}, parsed = {0};
    struct wg_diags *d = diags ? diags : &local;
    struct wg__cfg_doc doc = {0};
    struct wg_config cfg;
    struct wg__config_ctx c;
    const char *file = name ? name : "<config>";
    size_t before = d->nerrors;
    enum wg_err rc;
    *out = NULL;
    memset(&cfg, 0, sizeof(cfg));
    memset(&c, 0, sizeof(c));
    c.cfg = &cfg;
    c.doc = &doc;
    c.diags = d;
    if (len > WG__CONFIG_MAX_BYTES) {
        struct wg_pos pos = {file, 0, 0};
        wg_diags_add(d, &pos, NULL, 0, "the config is larger than %u bytes", WG__CONFIG_MAX_BYTES);
        rc = WG_ECONFIG;
        goto out;
    }
    rc = wg__config_parse(file, text, len, &doc, &parsed);
    keep_ours(&parsed, d);
    if (rc != WG_OK) {
        goto out;
    }
    if (doc.root && doc.root->type != WG__CFG_MAP) {
        wg__config_type_err(&c, doc.root, NULL, "a mapping at the top level");
    } else if (doc.root) {
        wg__config_decode_alerting(&c, wg__config_get(doc.root, "alerting"), "alerting");
        wg__config_decode_monitor(&c, wg__config_get(doc.root, "monitor"), "monitor");
    }
    (void)alert_config_of(&c); /* neither section: a disabled config */
    rc = c.oom ? WG_ENOMEM : d->nerrors > before ? WG_ECONFIG : WG_OK;
out:
    wg__config_doc_free(&doc);
    wg_diags_free(&parsed);
    wg_diags_free(&local);
    if (rc != WG_OK) {
        wg__config_free_alerting(&cfg);
        return rc;
    }
    *out = cfg.alerting;
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
    wg_buf_init(&b, WG__CONFIG_MAX_BYTES);
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

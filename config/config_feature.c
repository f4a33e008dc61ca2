/* config_feature.c — the `features:` section: features, their rules, the rule parameters that
 * wave defaults and per-wave overrides share, baselines and query placeholders. Rules are
 * checked against the sources and waves decoded before them (config_load.c).
 */
#include "config/config_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- rule parameters --------------------------------------------------------------------- */

enum { T_MIN = 1u << 0, T_MAX = 1u << 1, T_WMIN = 1u << 2, T_WMAX = 1u << 3 };

#define THR(f) offsetof(struct wg_threshold, f)
static const struct wg__config_field threshold_fields[] = {
    {"min", wg__config_dec_number, THR(min), NULL, T_MIN, 0},
    {"max", wg__config_dec_number, THR(max), NULL, T_MAX, 0},
    {"warn_min", wg__config_dec_number, THR(warn_min), NULL, T_WMIN, 0},
    {"warn_max", wg__config_dec_number, THR(warn_max), NULL, T_WMAX, 0},
};
#undef THR

static int order(struct wg__config_ctx *c, const struct wg__cfg_node *n, const char *path, int both,
                 double lo, double hi, const char *lo_name, const char *hi_name)
{
    if (both && lo > hi) {
        wg__config_err(c, n, path, "%s (%g) must be <= %s (%g)", lo_name, lo, hi_name, hi);
        return 1;
    }
    return 0;
}

static int dec_threshold(struct wg__config_ctx *c, const struct wg__cfg_node *n, const char *path,
                         void *dst, const void *arg)
{
    struct wg_threshold t;
    unsigned set = 0;
    memset(&t, 0, sizeof(t));
    struct wg__config_fieldset fs = {
        threshold_fields, sizeof(threshold_fields) / sizeof(threshold_fields[0]), &t, &set};
    (void)arg;
    int rc = wg__config_fields(c, n, path, &fs, 1, NULL);
    if (rc < 0) {
        return -1;
    }
    t.has_min = !!(set & T_MIN);
    t.has_max = !!(set & T_MAX);
    t.has_warn_min = !!(set & T_WMIN);
    t.has_warn_max = !!(set & T_WMAX);
    if (rc == 0 && set == 0) {
        wg__config_err(c, n, path,
                       "a threshold needs at least one of min, max, warn_min, "
                       "warn_max");
        rc++;
    }
    rc += order(c, n, path, t.has_min && t.has_max, t.min, t.max, "min", "max");
    rc += order(c, n, path, t.has_min && t.has_warn_min, t.min, t.warn_min, "min", "warn_min");
    rc += order(c, n, path, t.has_warn_max && t.has_max, t.warn_max, t.max, "warn_max", "max");
    rc += order(c, n, path, t.has_warn_min && t.has_warn_max, t.warn_min, t.warn_max, "warn_min",
                "warn_max");
    if (rc) {
        return -1;
    }
    *(struct wg_threshold *)dst = t;
    return 0;
}

static const struct wg__config_enum reduces[] = {
    {"last", WG_REDUCE_LAST},   {"mean", WG_REDUCE_MEAN},     {"min", WG_REDUCE_MIN},
    {"max", WG_REDUCE_MAX},     {"sum", WG_REDUCE_SUM},       {"count", WG_REDUCE_COUNT},
    {"first", WG_REDUCE_FIRST}, {"median", WG_REDUCE_MEDIAN}, {"p90", WG_REDUCE_P90},
    {"p95", WG_REDUCE_P95},     {"p99", WG_REDUCE_P99},       {NULL, 0}};
static const struct wg__config_enum no_datas[] = {{"pass", WG_NODATA_PASS},
                                                  {"fail", WG_NODATA_FAIL},
                                                  {"inconclusive", WG_NODATA_INCONCLUSIVE},
                                                  {NULL, 0}};
static const struct wg__config_enum directions[] = {{"increase", WG_DIR_INCREASE},
                                                    {"decrease", WG_DIR_DECREASE},
                                                    {"either", WG_DIR_EITHER},
                                                    {NULL, 0}};
static const struct wg__config_range nonneg = {0, 1e15, 0, 0};
static const struct wg__config_range positive_s = {0, 1e12, 1, 0};
static const struct wg__config_range any_s = {0, 1e12, 0, 0};
static const struct wg__config_range confidence = {0.5, 0.9999, 0, 0};
static const struct wg__config_range weight = {0, 1e12, 1, 0};

#define P(f) offsetof(struct wg_rule_params, f)
const struct wg__config_field wg__config_param_fields[] = {
    {"threshold", dec_threshold, P(threshold), NULL, WG_P_THRESHOLD, 0},
    {"min_samples", wg__config_dec_long, P(min_samples), &nonneg, WG_P_MIN_SAMPLES, 0},
    {"no_data", wg__config_dec_enum, P(no_data), no_datas, WG_P_NO_DATA, 0},
    {"window", wg__config_dec_duration, P(window_ns), &positive_s, WG_P_WINDOW, 0},
    {"delay", wg__config_dec_duration, P(delay_ns), &any_s, WG_P_DELAY, 0},
    {"max_increase", wg__config_dec_limit, P(max_increase), NULL, WG_P_MAX_INCREASE, 0},
    {"max_decrease", wg__config_dec_limit, P(max_decrease), NULL, WG_P_MAX_DECREASE, 0},
    {"allowed_increase", wg__config_dec_limit, P(allowed_increase), NULL, WG_P_ALLOWED_INCREASE, 0},
    {"allowed_decrease", wg__config_dec_limit, P(allowed_decrease), NULL, WG_P_ALLOWED_DECREASE, 0},
    {"confidence", wg__config_dec_number, P(confidence), &confidence, WG_P_CONFIDENCE, 0},
    {"severity", wg__config_dec_str, P(severity), NULL, WG_P_SEVERITY, 0},
    {"dry_run", wg__config_dec_bool, P(dry_run), NULL, WG_P_DRY_RUN, 0},
    {"weight", wg__config_dec_number, P(weight), &weight, WG_P_WEIGHT, 0},
    {"key", wg__config_dec_bool, P(key), NULL, WG_P_KEY, 0},
    {"reduce", wg__config_dec_enum, P(reduce), reduces, WG_P_REDUCE, 0},
    {"direction", wg__config_dec_enum, P(direction), directions, WG_P_DIRECTION, 0},
    {"min_events", wg__config_dec_long, P(min_events), &nonneg, WG_P_MIN_EVENTS, 0},
};
#undef P
const size_t wg__config_nparam_fields =
    sizeof(wg__config_param_fields) / sizeof(wg__config_param_fields[0]);

void wg__config_params_init(struct wg_rule_params *p)
{
    memset(p, 0, sizeof(*p));
    p->min_samples = 1;
    p->no_data = WG_NODATA_INCONCLUSIVE;
    p->window_ns = 600 * WG_NS_PER_SEC;
    p->delay_ns = 0;
    p->confidence = 0.98;
    p->weight = 1;
    p->reduce = WG_REDUCE_LAST;
    p->direction = WG_DIR_INCREASE;
    p->min_events = 5;
}

void wg__config_params_finish(struct wg__config_ctx *c, struct wg_rule_params *p)
{
    if (!p->severity && !(p->severity = wg_strdup("critical"))) {
        c->oom = 1;
    }
}

void wg__config_params_free(struct wg_rule_params *p)
{
    if (p) {
        free(p->severity);
        p->severity = NULL;
    }
}

/* ---- query placeholders ------------------------------------------------------------------ */

static void placeholder_list(struct wg_buf *b)
{
    for (size_t i = 0; wg_placeholders[i]; i++) {
        (void)wg_buf_addf(b, "%s%s", i ? ", " : "", wg_placeholders[i]);
    }
}

int wg__config_check_query(struct wg__config_ctx *c, const struct wg__cfg_node *n, const char *path)
{
    const char *s = n->str;
    int errors = 0;
    struct wg_pos pos;
    struct wg_buf known;
    wg_buf_init(&known, 1024);
    placeholder_list(&known);
    /* at most 20 reports per query: each one may scan the file for its line */
    for (const char *p = strstr(s, "{{"); p && errors < 20; p = strstr(p, "{{")) {
        size_t off = (size_t)(p - s);
        wg__config_scalar_pos(c->doc, n, off, &pos);
        const char *close = strstr(p + 2, "}}");
        if (!close) {
            wg__config_err_at(c, &pos, path, "unclosed '{{' in the query (placeholders: %s)",
                              known.p ? known.p : "");
            errors++;
            break;
        }
        const char *a = p + 2, *e = close;
        while (a < e && (*a == ' ' || *a == '\t')) {
            a++;
        }
        while (e > a && (e[-1] == ' ' || e[-1] == '\t')) {
            e--;
        }
        int found = 0;
        for (size_t i = 0; wg_placeholders[i] && !found; i++) {
            found = strlen(wg_placeholders[i]) == (size_t)(e - a) &&
                    memcmp(wg_placeholders[i], a, (size_t)(e - a)) == 0;
        }
        found = found || wg__config_target_placeholder(c->cfg, a, (size_t)(e - a));
        if (!found) {
            wg__config_err_at(c, &pos, path, "unknown placeholder '%.*s' (known: %s)",
                              (int)(close + 2 - p), p, known.p ? known.p : "");
            errors++;
        }
        p = close + 2;
    }
    wg_buf_free(&known);
    return errors ? -1 : 0;
}

/* ---- rule-only fields -------------------------------------------------------------------- */

static int dec_query(struct wg__config_ctx *c, const struct wg__cfg_node *n, const char *path,
                     void *dst, const void *arg)
{
    struct wg_rule *r = dst;
    (void)arg;
    if (wg__config_dec_str(c, n, path, &r->query, NULL)) {
        return -1;
    }
    r->query_pos = n->pos;
    return wg__config_check_query(c, n, path);
}

enum {
    B_WINDOW = 1u << 0,
    B_START = 1u << 1,
    B_END = 1u << 2,
    B_PREV = 1u << 3,
    B_SPLIT = 1u << 4
};

#define BL(f) offsetof(struct wg_baseline, f)
static const struct wg__config_field split_fields[] = {
    {"tag", wg__config_dec_str, BL(split_tag), NULL, 0, 1},
    {"baseline", wg__config_dec_str, BL(split_baseline), NULL, 0, 1},
    {"canary", wg__config_dec_str, BL(split_canary), NULL, 0, 1},
};

static void baseline_free(struct wg_baseline *b)
{
    free(b->split_tag);
    free(b->split_baseline);
    free(b->split_canary);
    memset(b, 0, sizeof(*b));
}

static int dec_split(struct wg__config_ctx *c, const struct wg__cfg_node *n, const char *path,
                     void *dst, const void *arg)
{
    struct wg_baseline *b = dst;
    struct wg__config_fieldset fs = {split_fields, 3, b, NULL};
    (void)arg;
    if (b->kind != WG_BASELINE_NONE) {
        wg__config_err(c, n, path, "a baseline is given twice (baseline and split)");
        return -1;
    }
    if (wg__config_fields(c, n, path, &fs, 1, NULL)) {
        return -1;
    }
    if (strcmp(b->split_baseline, b->split_canary) == 0) {
        wg__config_err(c, n, path, "baseline and canary must be different tag values");
        return -1;
    }
    b->kind = WG_BASELINE_SPLIT;
    return 0;
}

static const struct wg__config_range previous = {1, 1000, 0, 0};
static const struct wg__config_field baseline_fields[] = {
    {"window", wg__config_dec_duration, BL(window_ns), &positive_s, B_WINDOW, 0},
    {"start", wg__config_dec_time, BL(start_ns), NULL, B_START, 0},
    {"end", wg__config_dec_time, BL(end_ns), NULL, B_END, 0},
    {"previous", wg__config_dec_long, BL(previous_count), &previous, B_PREV, 0},
    {"split", dec_split, 0, NULL, B_SPLIT, 0},
};
#undef BL

static const char *const baseline_forms =
    "previous, {window: 30m}, {start: T, end: T}, {previous: N} or "
    "{split: {tag, baseline, canary}}";

static int dec_baseline(struct wg__config_ctx *c, const struct wg__cfg_node *n, const char *path,
                        void *dst, const void *arg)
{
    struct wg_baseline b;
    unsigned set = 0;
    (void)arg;
    memset(&b, 0, sizeof(b));
    if (((struct wg_baseline *)dst)->kind != WG_BASELINE_NONE) {
        wg__config_err(c, n, path, "a baseline is given twice (baseline and split)");
        return -1;
    }
    if (n->type == WG__CFG_SCALAR && strcmp(n->str, "previous") == 0) {
        b.kind = WG_BASELINE_PREVIOUS;
        b.previous_count = 5;
        goto done;
    }
    if (n->type != WG__CFG_MAP) {
        char got[96];
        wg__config_err(c, n, path, "expected %s, got %s", baseline_forms,
                       wg__config_describe(n, got, sizeof(got)));
        return -1;
    }
    struct wg__config_fieldset fs = {
        baseline_fields, sizeof(baseline_fields) / sizeof(baseline_fields[0]), &b, &set};
    if (wg__config_fields(c, n, path, &fs, 1, NULL)) {
        baseline_free(&b);
        return -1;
    }
    if (set == B_WINDOW) {
        b.kind = WG_BASELINE_WINDOW;
    } else if (set == (B_START | B_END)) {
        b.kind = WG_BASELINE_PINNED;
        if (b.start_ns >= b.end_ns) {
            wg__config_err(c, n, path, "baseline start must be before its end");
            return -1;
        }
    } else if (set == B_PREV) {
        b.kind = WG_BASELINE_PREVIOUS;
    } else if (set == B_SPLIT) {
        b.kind = WG_BASELINE_SPLIT;
    } else {
        wg__config_err(c, n, path, "a baseline is one of %s", baseline_forms);
        baseline_free(&b);
        return -1;
    }
done:
    *(struct wg_baseline *)dst = b;
    return 0;
}

static int dec_labels(struct wg__config_ctx *c, const struct wg__cfg_node *n, const char *path,
                      void *dst, const void *arg)
{
    char sub[WG__CONFIG_PATH_MAX];
    struct wg_rule *r = dst;
    int errors = 0;
    (void)arg;
    r->labels = wg__config_items(c, n, path, WG__CFG_MAP, "a mapping of label names to values",
                                 sizeof(*r->labels));
    if (!r->labels) {
        return c->oom || n->type != WG__CFG_MAP ? -1 : 0;
    }
    for (size_t i = 0; i < n->n; i++) {
        const struct wg__cfg_node *k = n->keys[i], *v = n->vals[i];
        if (k->type != WG__CFG_SCALAR) {
            continue;
        }
        wg__config_path_key(sub, sizeof(sub), path, k->str);
        if (k->len == 0) {
            wg__config_err(c, k, sub, "a label name must not be empty");
            errors++;
            continue;
        }
        if (v->type != WG__CFG_SCALAR || wg__config_is_null(v)) {
            char got[96];
            wg__config_err(c, v, sub, "expected a string label value, got %s",
                           wg__config_describe(v, got, sizeof(got)));
            errors++;
            continue;
        }
        struct wg_label *l = &r->labels[r->nlabels++];
        l->key = wg_strdup(k->str);
        l->value = wg_strdup(v->str);
        if (!l->key || !l->value) {
            c->oom = 1;
            return -1;
        }
    }
    return errors ? -1 : 0;
}

static int dec_overrides(struct wg__config_ctx *c, const struct wg__cfg_node *n, const char *path,
                         void *dst, const void *arg)
{
    char sub[WG__CONFIG_PATH_MAX];
    struct wg_rule *r = dst;
    int errors = 0;
    (void)arg;
    r->overrides = wg__config_items(c, n, path, WG__CFG_MAP, "a mapping of wave names to overrides",
                                    sizeof(*r->overrides));
    if (!r->overrides) {
        return c->oom || n->type != WG__CFG_MAP ? -1 : 0;
    }
    for (size_t i = 0; i < n->n; i++) {
        const struct wg__cfg_node *k = n->keys[i];
        if (k->type != WG__CFG_SCALAR) {
            continue;
        }
        wg__config_path_key(sub, sizeof(sub), path, k->str);
        struct wg_wave_override *o = &r->overrides[r->noverrides++];
        o->pos = k->pos;
        wg__config_params_init(&o->p);
        if (!(o->wave = wg_strdup(k->str))) {
            c->oom = 1;
            return -1;
        }
        if (!wg_config_wave(c->cfg, k->str)) {
            wg__config_check_wave_ref(c, k, sub, k->str);
            errors++;
        }
        struct wg__config_fieldset fs = {wg__config_param_fields, wg__config_nparam_fields, &o->p,
                                         &o->p.set};
        if (wg__config_fields(c, n->vals[i], sub, &fs, 1, NULL)) {
            errors++;
        }
        wg__config_params_finish(c, &o->p);
    }
    return errors ? -1 : 0;
}

static const struct wg__config_enum judges[] = {{"threshold", WG_JUDGE_THRESHOLD},
                                                {"mann-whitney", WG_JUDGE_MANN_WHITNEY},
                                                {"rate", WG_JUDGE_RATE},
                                                {"peers", WG_JUDGE_PEERS},
                                                {NULL, 0}};
static const struct wg__config_enum outliers[] = {{"iqr", 1}, {"none", 0}, {NULL, 0}};

#define R(f) offsetof(struct wg_rule, f)
static const struct wg__config_field rule_fields[] = {
    {"name", wg__config_dec_str, R(name), NULL, 0, 1},
    {"source", wg__config_dec_str, R(source), NULL, 0, 0},
    {"query", dec_query, 0, NULL, 0, 1},
    {"field", wg__config_dec_str, R(field), NULL, 0, 0},
    {"judge", wg__config_dec_enum, R(judge), judges, 0, 0},
    {"baseline", dec_baseline, R(baseline), NULL, 0, 0},
    {"split", dec_split, R(baseline), NULL, 0, 0},
    {"outliers", wg__config_dec_enum, R(outliers_iqr), outliers, 0, 0},
    {"labels", dec_labels, 0, NULL, 0, 0},
    {"waves", dec_overrides, 0, NULL, 0, 0},
};
/* judge: rate's columns (listed last among the allowed keys) */
static const struct wg__config_field rate_fields[] = {
    {"numerator", wg__config_dec_str, R(numerator), NULL, 0, 0},
    {"denominator", wg__config_dec_str, R(denominator), NULL, 0, 0},
};
#undef R

/* ---- rules ------------------------------------------------------------------------------- */

/* A limit against the baseline (rule's own or a per-wave one) without a baseline. */
static void check_limits(struct wg__config_ctx *c, const struct wg__cfg_node *item,
                         const char *path, const struct wg_rule *r)
{
    static const char *const keys[] = {"max_increase", "max_decrease"};
    char sub[WG__CONFIG_PATH_MAX], sub2[WG__CONFIG_PATH_MAX];
    if (r->baseline.kind != WG_BASELINE_NONE) {
        return;
    }
    for (size_t k = 0; k < 2; k++) {
        const struct wg__cfg_node *v = wg__config_get(item, keys[k]);
        if (v) {
            wg__config_path_key(sub, sizeof(sub), path, keys[k]);
            wg__config_err(c, v, sub,
                           "%s compares against a baseline: add baseline: "
                           "{window: 30m} (or another baseline form)",
                           keys[k]);
        }
    }
    const struct wg__cfg_node *waves = wg__config_get(item, "waves");
    for (size_t i = 0; waves && waves->type == WG__CFG_MAP && i < waves->n; i++) {
        for (size_t k = 0; k < 2; k++) {
            const struct wg__cfg_node *v = wg__config_get(waves->vals[i], keys[k]);
            if (v && waves->keys[i]->type == WG__CFG_SCALAR) {
                wg__config_path_key(sub, sizeof(sub), path, "waves");
                wg__config_path_key(sub2, sizeof(sub2), sub, waves->keys[i]->str);
                wg__config_path_key(sub, sizeof(sub), sub2, keys[k]);
                wg__config_err(c, v, sub,
                               "%s compares against a baseline: add baseline: "
                               "{window: 30m} to the rule",
                               keys[k]);
            }
        }
    }
}

/* judge: rate takes its two counts from two columns of one query (numerator events over
 * denominator exposure) and compares them with a baseline of the same query; the keys mean
 * nothing to another judge, and `field` would be ambiguous beside them. */
static void check_rate(struct wg__config_ctx *c, const struct wg__cfg_node *item, const char *path,
                       const struct wg_rule *r)
{
    static const char *const keys[] = {"numerator", "denominator"};
    char sub[WG__CONFIG_PATH_MAX];
    const char *vals[] = {r->numerator, r->denominator};
    for (size_t k = 0; k < 2; k++) {
        const struct wg__cfg_node *v = wg__config_get(item, keys[k]);
        wg__config_path_key(sub, sizeof(sub), path, keys[k]);
        if (r->judge != WG_JUDGE_RATE && v) {
            wg__config_err(c, v, sub, "%s is only for judge: rate", keys[k]);
        } else if (r->judge == WG_JUDGE_RATE && !vals[k] && !v) {
            wg__config_err(c, item, sub, "judge rate needs %s: the column of the query with the %s",
                           keys[k], k ? "exposure (e.g. requests)" : "events (e.g. errors)");
        }
    }
    if (r->judge != WG_JUDGE_RATE) {
        return;
    }
    const struct wg__cfg_node *f = wg__config_get(item, "field");
    if (f) {
        wg__config_path_key(sub, sizeof(sub), path, "field");
        wg__config_err(c, f, sub, "judge rate reads numerator and denominator, not field");
    }
    if (r->numerator && r->denominator && strcmp(r->numerator, r->denominator) == 0) {
        wg__config_path_key(sub, sizeof(sub), path, "denominator");
        wg__config_err(c, wg__config_get(item, "denominator"), sub,
                       "numerator and denominator must be different columns");
    }
    if (r->baseline.kind == WG_BASELINE_NONE || r->baseline.kind == WG_BASELINE_PREVIOUS) {
        wg__config_path_key(sub, sizeof(sub), path, "judge");
        wg__config_err(c, wg__config_get(item, "judge"), sub,
                       "judge rate needs a baseline of the same query (baseline: {window: 30m}, "
                       "{start, end} or split)");
    }
}

static void rule_check(struct wg__config_ctx *c, const struct wg__cfg_node *item, const char *path,
                       struct wg_rule *r)
{
    char sub[WG__CONFIG_PATH_MAX];
    const struct wg_config *cfg = c->cfg;
    if (r->judge == WG_JUDGE_MANN_WHITNEY && !(r->p.set & WG_P_MIN_SAMPLES)) {
        r->p.min_samples = 50;
    }
    if (r->source) {
        wg__config_path_key(sub, sizeof(sub), path, "source");
        wg__config_check_source_ref(c, wg__config_get(item, "source"), sub, r->source);
    } else {
        for (size_t w = 0; w < cfg->nwaves; w++) {
            if (!wg__config_wave_sourced(&cfg->waves[w])) {
                wg__config_err(c, item, path,
                               "rule '%s' has no source and wave '%s' has none: set source on "
                               "the rule or on the wave",
                               r->name ? r->name : "?", cfg->waves[w].name);
            }
        }
    }
    if (r->judge == WG_JUDGE_MANN_WHITNEY && r->baseline.kind == WG_BASELINE_NONE) {
        wg__config_path_key(sub, sizeof(sub), path, "judge");
        wg__config_err(c, wg__config_get(item, "judge"), sub,
                       "judge mann-whitney needs a baseline (baseline: {window: 30m} or split)");
    }
    check_limits(c, item, path, r);
    check_rate(c, item, path, r);
}

static void rule_free(struct wg_rule *r)
{
    free(r->name);
    free(r->source);
    free(r->query);
    free(r->field);
    free(r->numerator);
    free(r->denominator);
    baseline_free(&r->baseline);
    wg__config_params_free(&r->p);
    for (size_t i = 0; i < r->nlabels; i++) {
        free(r->labels[i].key);
        free(r->labels[i].value);
    }
    free(r->labels);
    for (size_t i = 0; i < r->noverrides; i++) {
        free(r->overrides[i].wave);
        wg__config_params_free(&r->overrides[i].p);
    }
    free(r->overrides);
    memset(r, 0, sizeof(*r));
}

static void decode_rules(struct wg__config_ctx *c, const struct wg__cfg_node *n, const char *path,
                         struct wg_feature *f)
{
    char sub[WG__CONFIG_PATH_MAX], sub2[WG__CONFIG_PATH_MAX];
    f->rules = wg__config_items(c, n, path, WG__CFG_SEQ, "a sequence of rules", sizeof(*f->rules));
    if (!f->rules) {
        if (n->type == WG__CFG_SEQ && n->n == 0) {
            wg__config_warn(c, n, path, "feature '%s' has no rules", f->name);
        }
        return;
    }
    for (size_t i = 0; i < n->n && !c->oom; i++) {
        const struct wg__cfg_node *item = n->vals[i];
        struct wg_rule *r = &f->rules[f->nrules];
        wg__config_path_index(sub, sizeof(sub), path, i);
        r->feature = f->name;
        r->pos = item->pos;
        wg__config_params_init(&r->p);
        struct wg__config_fieldset fs[3] = {
            {rule_fields, sizeof(rule_fields) / sizeof(rule_fields[0]), r, NULL},
            {wg__config_param_fields, wg__config_nparam_fields, &r->p, &r->p.set},
            {rate_fields, sizeof(rate_fields) / sizeof(rate_fields[0]), r, NULL},
        };
        int rc = wg__config_fields(c, item, sub, fs, 3, NULL);
        wg__config_params_finish(c, &r->p);
        if (rc < 0 || !r->name) {
            rule_free(r);
            continue;
        }
        for (size_t j = 0; j < f->nrules; j++) {
            if (strcmp(f->rules[j].name, r->name) == 0) {
                wg__config_path_key(sub2, sizeof(sub2), sub, "name");
                wg__config_err(c, wg__config_get(item, "name"), sub2,
                               "duplicate rule name '%s' in feature '%s' (first defined at line "
                               "%d:%d)",
                               r->name, f->name, f->rules[j].pos.line, f->rules[j].pos.col);
                break;
            }
        }
        rule_check(c, item, sub, r);
        f->nrules++;
    }
}

/* ---- the wave's gate: one false-fail budget ---------------------------------------------- */

static const struct wg__config_field gate_fields[] = {
    {"false_fail", wg__config_dec_limit, 0, NULL, 0, 1},
};

int wg__config_dec_wave_gate(struct wg__config_ctx *c, const struct wg__cfg_node *n,
                             const char *path, void *dst, const void *arg)
{
    struct wg_limit l = {0};
    struct wg__config_fieldset fs = {gate_fields, 1, &l, NULL};
    char sub[WG__CONFIG_PATH_MAX];
    (void)arg;
    if (wg__config_fields(c, n, path, &fs, 1, NULL)) {
        return -1;
    }
    /* "1%" or 0.01: a probability, and one that leaves the gate able to fail. */
    double v = l.percent ? l.value / 100.0 : l.value;
    if (!(v > 0 && v <= 0.5)) {
        wg__config_path_key(sub, sizeof(sub), path, "false_fail");
        wg__config_err(c, wg__config_get(n, "false_fail"), sub,
                       "a false-fail rate is above 0 and at most 50%% (e.g. 1%% or 0.01), got %s",
                       wg__config_get(n, "false_fail")->str);
        return -1;
    }
    *(double *)dst = v;
    return 0;
}

/* ---- features ---------------------------------------------------------------------------- */

static int dec_percent(struct wg__config_ctx *c, const struct wg__cfg_node *n, const char *path,
                       void *dst, const void *arg)
{
    struct wg_limit l;
    (void)arg;
    if (wg__config_dec_limit(c, n, path, &l, NULL)) {
        return -1;
    }
    if (l.value > 100) {
        wg__config_err(c, n, path, "a score is a percentage from 0%% to 100%%, got %s", n->str);
        return -1;
    }
    *(double *)dst = l.value;
    return 0;
}

enum { SC_PASS = 1u << 0, SC_WARN = 1u << 1 };
static const struct wg__config_field score_fields[] = {
    {"pass", dec_percent, offsetof(struct wg_score, pass_pct), NULL, SC_PASS, 1},
    {"warning", dec_percent, offsetof(struct wg_score, warn_pct), NULL, SC_WARN, 0},
};

static int dec_score(struct wg__config_ctx *c, const struct wg__cfg_node *n, const char *path,
                     void *dst, const void *arg)
{
    struct wg_score s = {1, 0, 0};
    unsigned set = 0;
    struct wg__config_fieldset fs = {score_fields, 2, &s, &set};
    (void)arg;
    if (wg__config_fields(c, n, path, &fs, 1, NULL)) {
        return -1;
    }
    if (!(set & SC_WARN)) {
        s.warn_pct = s.pass_pct;
    }
    if (s.warn_pct > s.pass_pct) {
        wg__config_err(c, n, path, "warning (%g%%) must be <= pass (%g%%)", s.warn_pct, s.pass_pct);
        return -1;
    }
    *(struct wg_score *)dst = s;
    return 0;
}

static const struct wg__config_field feature_fields[] = {
    {"flag", wg__config_dec_str, offsetof(struct wg_feature, flag), NULL, 0, 0},
    {"score", dec_score, offsetof(struct wg_feature, score), NULL, 0, 0},
};
static const char *const feature_extra[] = {"rules", "on_fail", "flip", NULL};

/* A wave no rule judges passes every check without looking at anything: valid (a feature may
 * be added later) but worth a warning. A dry-run rule is evaluated and reported, never
 * counted, so it does not judge. */
static void check_waves_judged(struct wg__config_ctx *c, const struct wg__cfg_node *n,
                               const char *path)
{
    char sub[WG__CONFIG_PATH_MAX];
    const struct wg_config *cfg = c->cfg;
    size_t nrules = 0;
    for (size_t f = 0; f < cfg->nfeatures; f++) {
        nrules += cfg->features[f].nrules;
    }
    if (cfg->nfeatures == 0) {
        struct wg_pos start = {cfg->path, 1, 1};
        wg__config_warn_at(c, n ? &n->pos : &start, path,
                           "no features are defined: every wave has no rules, so a check has "
                           "nothing to judge");
        return;
    }
    for (size_t i = 0; i < cfg->nwaves; i++) {
        const struct wg_wave *w = &cfg->waves[i];
        size_t judging = 0;
        for (size_t f = 0; f < cfg->nfeatures; f++) {
            for (size_t r = 0; r < cfg->features[f].nrules; r++) {
                struct wg_rule_params p;
                wg_config_effective(&cfg->features[f].rules[r], w, &p);
                judging += !p.dry_run;
            }
        }
        if (judging == 0) {
            wg__config_path_index(sub, sizeof(sub), "waves", i);
            wg__config_warn_at(c, &w->pos, sub,
                               nrules ? "wave '%s' has no rules: every rule is dry_run in this "
                                        "wave, so a check has nothing to judge"
                                      : "wave '%s' has no rules: no feature has any, so a check "
                                        "has nothing to judge",
                               w->name);
        }
    }
}

void wg__config_decode_features(struct wg__config_ctx *c, const struct wg__cfg_node *n,
                                const char *path)
{
    char sub[WG__CONFIG_PATH_MAX], sub2[WG__CONFIG_PATH_MAX];
    struct wg_config *cfg = c->cfg;
    if (!n || (n->type == WG__CFG_MAP && n->n == 0)) {
        check_waves_judged(c, n, path);
        return;
    }
    cfg->features = wg__config_items(
        c, n, path, WG__CFG_MAP, "a mapping of feature names to features", sizeof(*cfg->features));
    if (!cfg->features) {
        return;
    }
    for (size_t i = 0; i < n->n && !c->oom; i++) {
        const struct wg__cfg_node *k = n->keys[i], *v = n->vals[i];
        if (k->type != WG__CFG_SCALAR) {
            continue;
        }
        wg__config_path_key(sub, sizeof(sub), path, k->str);
        struct wg_feature *f = &cfg->features[cfg->nfeatures++];
        f->pos = k->pos;
        if (!(f->name = wg_strdup(k->str))) {
            c->oom = 1;
            return;
        }
        if (k->len == 0) {
            wg__config_err(c, k, sub, "a feature name must not be empty");
        }
        struct wg__config_fieldset fs = {feature_fields, 2, f, NULL};
        if (wg__config_fields(c, v, sub, &fs, 1, feature_extra) < 0) {
            continue;
        }
        wg__config_decode_feature_events(c, v, sub, f); /* on_fail, flip (config_events.c) */
        const struct wg__cfg_node *rules = wg__config_get(v, "rules");
        wg__config_path_key(sub2, sizeof(sub2), sub, "rules");
        if (!rules) {
            wg__config_err(c, v, sub2, "missing required key 'rules'");
            continue;
        }
        decode_rules(c, rules, sub2, f);
    }
    check_waves_judged(c, n, path);
}

void wg__config_free_features(struct wg_config *cfg)
{
    for (size_t i = 0; i < cfg->nfeatures; i++) {
        struct wg_feature *f = &cfg->features[i];
        for (size_t j = 0; j < f->nrules; j++) {
            rule_free(&f->rules[j]);
        }
        free(f->rules);
        free(f->name);
        free(f->flag);
        wg__config_free_feature_events(f);
    }
    free(cfg->features);
    cfg->features = NULL;
    cfg->nfeatures = 0;
}

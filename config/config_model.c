/* config_model.c — the loaded model: freeing it, looking things up by name, and the
 * effective parameters of a rule in a wave (built-in defaults < wave defaults < the rule's own
 * < the rule's per-wave override). No YAML here.
 */
#include "config/config_int.h"

#include <stdlib.h>
#include <string.h>

const char *const wg_placeholders[] = {"env", "wave",   "feature", "flag", "start",
                                       "end", "window", "target",  NULL};

const char *wg_reduce_name(enum wg_reduce r)
{
    static const char *const names[] = {
        [WG_REDUCE_LAST] = "last",   [WG_REDUCE_MEAN] = "mean",     [WG_REDUCE_MIN] = "min",
        [WG_REDUCE_MAX] = "max",     [WG_REDUCE_SUM] = "sum",       [WG_REDUCE_COUNT] = "count",
        [WG_REDUCE_FIRST] = "first", [WG_REDUCE_MEDIAN] = "median", [WG_REDUCE_P90] = "p90",
        [WG_REDUCE_P95] = "p95",     [WG_REDUCE_P99] = "p99",
    };
    if ((unsigned)r >= sizeof(names) / sizeof(names[0]) || !names[r]) {
        return "unknown";
    }
    return names[r];
}

void wg__config_free_sources(struct wg_config *cfg)
{
    for (size_t i = 0; i < cfg->nsources; i++) {
        struct wg_source *s = &cfg->sources[i];
        free(s->name);
        free(s->url);
        free(s->database);
        free(s->retention_policy);
        free(s->org);
        free(s->org_id);
        free(s->token_env);
        free(s->username);
        free(s->password_env);
        free(s->tls.ca_file);
        free(s->tls.cert_file);
        free(s->tls.key_file);
    }
    free(cfg->sources);
    cfg->sources = NULL;
    cfg->nsources = 0;
}

void wg__config_free_wave(struct wg_wave *w)
{
    free(w->name);
    free(w->env);
    free(w->source);
    wg__config_params_free(&w->defaults);
    wg__config_free_targets(w);
    memset(w, 0, sizeof(*w));
}

void wg__config_free_waves(struct wg_config *cfg)
{
    for (size_t i = 0; i < cfg->nwaves; i++) {
        wg__config_free_wave(&cfg->waves[i]);
    }
    free(cfg->waves);
    cfg->waves = NULL;
    cfg->nwaves = 0;
}

void wg__config_free_state_dir(struct wg_config *cfg)
{
    free(cfg->state_dir);
    cfg->state_dir = NULL;
}

void wg_config_free(struct wg_config *cfg)
{
    if (!cfg) {
        return;
    }
    for (size_t i = 0; i < wg__config_nsections; i++) {
        if (wg__config_sections[i].free) {
            wg__config_sections[i].free(cfg);
        }
    }
    free(cfg->path);
    free(cfg);
}

const struct wg_source *wg_config_source(const struct wg_config *cfg, const char *name)
{
    for (size_t i = 0; cfg && name && i < cfg->nsources; i++) {
        if (cfg->sources[i].name && strcmp(cfg->sources[i].name, name) == 0) {
            return &cfg->sources[i];
        }
    }
    return NULL;
}

const struct wg_wave *wg_config_wave(const struct wg_config *cfg, const char *name)
{
    for (size_t i = 0; cfg && name && i < cfg->nwaves; i++) {
        if (cfg->waves[i].name && strcmp(cfg->waves[i].name, name) == 0) {
            return &cfg->waves[i];
        }
    }
    return NULL;
}

const struct wg_feature *wg_config_feature(const struct wg_config *cfg, const char *name)
{
    for (size_t i = 0; cfg && name && i < cfg->nfeatures; i++) {
        if (cfg->features[i].name && strcmp(cfg->features[i].name, name) == 0) {
            return &cfg->features[i];
        }
    }
    return NULL;
}

/* Copies into dst every field src sets explicitly. */
static void apply(struct wg_rule_params *dst, const struct wg_rule_params *src)
{
    unsigned s = src->set;
    if (s & WG_P_THRESHOLD) {
        dst->threshold = src->threshold; /* a threshold replaces the whole threshold */
    }
    if (s & WG_P_MIN_SAMPLES) {
        dst->min_samples = src->min_samples;
    }
    if (s & WG_P_NO_DATA) {
        dst->no_data = src->no_data;
    }
    if (s & WG_P_WINDOW) {
        dst->window_ns = src->window_ns;
    }
    if (s & WG_P_DELAY) {
        dst->delay_ns = src->delay_ns;
    }
    if (s & WG_P_MAX_INCREASE) {
        dst->max_increase = src->max_increase;
    }
    if (s & WG_P_MAX_DECREASE) {
        dst->max_decrease = src->max_decrease;
    }
    if (s & WG_P_ALLOWED_INCREASE) {
        dst->allowed_increase = src->allowed_increase;
    }
    if (s & WG_P_ALLOWED_DECREASE) {
        dst->allowed_decrease = src->allowed_decrease;
    }
    if (s & WG_P_CONFIDENCE) {
        dst->confidence = src->confidence;
    }
    if (s & WG_P_SEVERITY) {
        dst->severity = src->severity;
    }
    if (s & WG_P_DRY_RUN) {
        dst->dry_run = src->dry_run;
    }
    if (s & WG_P_WEIGHT) {
        dst->weight = src->weight;
    }
    if (s & WG_P_KEY) {
        dst->key = src->key;
    }
    if (s & WG_P_REDUCE) {
        dst->reduce = src->reduce;
    }
    if (s & WG_P_DIRECTION) {
        dst->direction = src->direction;
    }
    if (s & WG_P_MIN_EVENTS) {
        dst->min_events = src->min_events;
    }
    dst->set |= s;
}

void wg_config_effective(const struct wg_rule *r, const struct wg_wave *w,
                         struct wg_rule_params *out)
{
    static char critical[] = "critical";
    wg__config_params_init(out);
    out->severity = critical;
    /* The built-in default depends on the judge: a rank test needs 50 samples per side to have
     * power (tests/unit/test_config_effective.c pins this). An explicit min_samples in the wave
     * defaults still wins over it, like any other wave default. */
    if (r && r->judge == WG_JUDGE_MANN_WHITNEY) {
        out->min_samples = 50;
    }
    if (w) {
        apply(out, &w->defaults);
    }
    if (!r) {
        return;
    }
    apply(out, &r->p);
    for (size_t i = 0; w && w->name && i < r->noverrides; i++) {
        if (r->overrides[i].wave && strcmp(r->overrides[i].wave, w->name) == 0) {
            apply(out, &r->overrides[i].p);
        }
    }
}

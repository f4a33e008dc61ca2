/* config_events.c — decodes the `events:` section: where markers and verdicts are written
 * back as line protocol (write_to: a source of `sources:`) and how often the batch is sent.
 * A row of wg__config_sections (config_load.c), after `sources:` so the name is checked.
 */
#include "config/config_int.h"

#include <stdlib.h>
#include <string.h>

#define OFF(m) offsetof(struct wg_events_cfg, m)

static const struct wg__config_range r_flush = {0.001, 60, 0, 0}; /* seconds */
static const struct wg__config_range r_backlog = {1, 1e9, 0, 0};  /* lines */

static const struct wg__config_range r_poll = {0.1, 3600, 0, 0};     /* seconds */
static const struct wg__config_range r_tolerance = {1, 86400, 0, 0}; /* seconds */
static const struct wg__config_field unleash_fields[] = {
    {"url", wg__config_dec_str, OFF(unleash_url), NULL, 0, 1},
    {"token_env", wg__config_dec_str, OFF(unleash_token_env), NULL, 0, 1},
    {"poll_interval", wg__config_dec_duration, OFF(unleash_poll_ns), &r_poll, 0, 0},
};
static const struct wg__config_field signing_fields[] = {
    {"launchdarkly", wg__config_dec_str, OFF(secret_env[0]), NULL, 0, 0},
    {"flagsmith", wg__config_dec_str, OFF(secret_env[1]), NULL, 0, 0},
    {"growthbook", wg__config_dec_str, OFF(secret_env[2]), NULL, 0, 0},
    {"tolerance", wg__config_dec_duration, OFF(sig_tolerance_ns), &r_tolerance, 0, 0},
};
static const struct wg__config_field events_fields[] = {
    {"write_to", wg__config_dec_str, OFF(write_to), NULL, 0, 0},
    {"flush_interval", wg__config_dec_duration, OFF(flush_ns), &r_flush, 0, 0},
    {"write_backlog", wg__config_dec_long, OFF(write_backlog), &r_backlog, 0, 0},
};

void wg__config_decode_events(struct wg__config_ctx *c, const struct wg__cfg_node *n,
                              const char *path)
{
    struct wg_events_cfg *e = &c->cfg->events;
    memset(e, 0, sizeof(*e));
    e->flush_ns = WG_NS_PER_SEC / 5;
    e->write_backlog = 1000000;
    e->unleash_poll_ns = 10 * WG_NS_PER_SEC;
    e->sig_tolerance_ns = 300 * WG_NS_PER_SEC; /* Standard Webhooks' suggested 5 minutes */
    if (!n || wg__config_is_null(n)) {
        return;
    }
    e->present = 1;
    e->pos = n->pos;
    struct wg__config_fieldset set = {events_fields,
                                      sizeof(events_fields) / sizeof(events_fields[0]), e, NULL};
    static const char *const extra[] = {"unleash", "signing", NULL};
    if (wg__config_fields(c, n, path, &set, 1, extra) != 0) {
        return;
    }
    (void)wg__config_sub_fields(c, n, path, "unleash", unleash_fields, 3, e);
    (void)wg__config_sub_fields(c, n, path, "signing", signing_fields, 4, e);
    if (!e->write_to) {
        return;
    }
    for (size_t i = 0; i < c->cfg->nsources; i++) {
        if (!strcmp(c->cfg->sources[i].name, e->write_to)) {
            return;
        }
    }
    const struct wg__cfg_node *w = wg__config_get(n, "write_to");
    char p[WG__CONFIG_PATH_MAX];
    wg__config_path_key(p, sizeof(p), path, "write_to");
    wg__config_err(c, w ? w : n, p, "unknown source '%s'", e->write_to);
}

void wg__config_free_events(struct wg_config *cfg)
{
    free(cfg->events.write_to);
    free(cfg->events.unleash_url);
    free(cfg->events.unleash_token_env);
    for (int i = 0; i < 3; i++) {
        free(cfg->events.secret_env[i]);
    }
    memset(&cfg->events, 0, sizeof(cfg->events));
}

/* ---- per feature: on_fail (kill switches) and flip (the flip analysis) ---------------------- */

#define AOFF(m) offsetof(struct wg_action, m)
#define FOFF(m) offsetof(struct wg_flip_cfg, m)

static const struct wg__config_enum action_kinds[] = {
    {"unleash", WG_ACTION_UNLEASH}, {"webhook", WG_ACTION_WEBHOOK}, {NULL, 0}};
static const struct wg__config_field action_fields[] = {
    {"action", wg__config_dec_enum, AOFF(kind), action_kinds, 0, 1},
    {"url", wg__config_dec_str, AOFF(url), NULL, 0, 1},
    {"token_env", wg__config_dec_str, AOFF(token_env), NULL, 0, 0},
    {"project", wg__config_dec_str, AOFF(project), NULL, 0, 0},
    {"environment", wg__config_dec_str, AOFF(environment), NULL, 0, 0},
    {"method", wg__config_dec_str, AOFF(method), NULL, 0, 0},
    {"body", wg__config_dec_str, AOFF(body), NULL, 0, 0},
    {"dry_run", wg__config_dec_bool, AOFF(dry_run), NULL, 0, 0},
    {"secret_env", wg__config_dec_str, AOFF(secret_env), NULL, 0, 0},
};
static const struct wg__config_range r_interval = {0.1, 86400, 0, 0};
static const struct wg__config_range r_per = {1, 7 * 86400, 0, 0};
static const struct wg__config_range r_max = {1, 100000, 0, 0};
static const struct wg__config_field rate_fields[] = {
    {"per", wg__config_dec_duration, AOFF(rate_per_ns), &r_per, 0, 1},
    {"max", wg__config_dec_long, AOFF(rate_max), &r_max, 0, 1},
};
static const struct wg__config_range r_count = {1, 10000, 0, 0};
static const struct wg__config_range r_limit = {0, 10000, 0, 0};
static const struct wg__config_field flip_fields[] = {
    {"interval", wg__config_dec_duration, FOFF(interval_ns), &r_interval, 0, 0},
    {"count", wg__config_dec_long, FOFF(count), &r_count, 0, 0},
    {"failure_limit", wg__config_dec_long, FOFF(failure_limit), &r_limit, 0, 0},
};

void wg__config_decode_feature_events(struct wg__config_ctx *c, const struct wg__cfg_node *n,
                                      const char *path, struct wg_feature *f)
{
    char p[WG__CONFIG_PATH_MAX], q[WG__CONFIG_PATH_MAX];
    f->flip.interval_ns = 60 * WG_NS_PER_SEC;
    f->flip.count = 10;
    f->flip.failure_limit = 0;
    (void)wg__config_sub_fields(c, n, path, "flip", flip_fields, 3, &f->flip);
    const struct wg__cfg_node *of = wg__config_get(n, "on_fail");
    if (!of || wg__config_is_null(of)) {
        return;
    }
    wg__config_path_key(p, sizeof(p), path, "on_fail");
    if (of->type != WG__CFG_SEQ) {
        (void)wg__config_type_err(c, of, p, "a sequence of actions");
        return;
    }
    f->on_fail = calloc(of->n ? of->n : 1, sizeof(*f->on_fail));
    if (!f->on_fail) {
        c->oom = 1;
        return;
    }
    for (size_t i = 0; i < of->n; i++) {
        struct wg_action *a = &f->on_fail[f->non_fail++];
        a->pos = of->vals[i]->pos;
        wg__config_path_index(q, sizeof(q), p, i);
        struct wg__config_fieldset set = {
            action_fields, sizeof(action_fields) / sizeof(action_fields[0]), a, NULL};
        static const char *const extra[] = {"rate_limit", NULL};
        if (wg__config_fields(c, of->vals[i], q, &set, 1, extra) != 0) {
            continue;
        }
        (void)wg__config_sub_fields(c, of->vals[i], q, "rate_limit", rate_fields, 2, a);
        if (a->url && strncmp(a->url, "http://", 7) && strncmp(a->url, "https://", 8)) {
            wg__config_err(c, of->vals[i], q, "url: want http:// or https://");
        }
        if (a->kind == WG_ACTION_UNLEASH && !a->token_env) {
            wg__config_err(c, of->vals[i], q,
                           "token_env: required for action unleash (an admin API token)");
        }
    }
}

void wg__config_free_feature_events(struct wg_feature *f)
{
    for (size_t i = 0; i < f->non_fail; i++) {
        struct wg_action *a = &f->on_fail[i];
        free(a->url);
        free(a->token_env);
        free(a->project);
        free(a->environment);
        free(a->method);
        free(a->body);
        free(a->secret_env);
    }
    free(f->on_fail);
    f->on_fail = NULL;
    f->non_fail = 0;
}

/* ---- waves[].bake ------------------------------------------------------------------------------
 */

#define BOFF(m) offsetof(struct wg_bake_cfg, m)
static const struct wg__config_field bake_fields[] = {
    {"interval", wg__config_dec_duration, BOFF(interval_ns), &r_interval, 0, 1},
    {"duration", wg__config_dec_duration, BOFF(duration_ns), NULL, 0, 1},
};
static const struct wg__config_field limit_fields[] = {
    {"failure_limit", wg__config_dec_long, BOFF(failure_limit), &r_limit, 0, 0},
    {"consecutive_failures", wg__config_dec_long, BOFF(consecutive_failures), &r_limit, 0, 0},
    {"inconclusive_limit", wg__config_dec_long, BOFF(inconclusive_limit), &r_limit, 0, 0},
    {"error_limit", wg__config_dec_long, BOFF(error_limit), &r_limit, 0, 0},
};

int wg__config_dec_bake(struct wg__config_ctx *c, const struct wg__cfg_node *n, const char *path,
                        void *dst, const void *arg)
{
    (void)arg;
    struct wg_bake_cfg *b = dst;
    b->failure_limit = b->consecutive_failures = b->inconclusive_limit = b->error_limit = -1;
    if (wg__config_is_null(n)) {
        return 0;
    }
    static const char *const extra[] = {"limits", NULL};
    struct wg__config_fieldset set = {bake_fields, 2, b, NULL};
    if (wg__config_fields(c, n, path, &set, 1, extra) != 0) {
        return -1;
    }
    if (wg__config_sub_fields(c, n, path, "limits", limit_fields, 4, b) != 0) {
        return -1;
    }
    if (b->duration_ns < b->interval_ns) {
        wg__config_err(c, n, path, "duration: shorter than interval");
        return -1;
    }
    b->present = 1;
    return 0;
}

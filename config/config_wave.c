/* config_wave.c — the `waves:` section (name, env, source, rule defaults, targets and their
 * `require:` policy, decoded in config_target.c), references to
 * sources and waves checked for the sections decoded after them, and the top-level
 * `state_dir:` with its default, decided here only (wg_config_default_state_dir).
 */
#include "config/config_int.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

/* ---- waves ------------------------------------------------------------------------------- */

static int dec_params(struct wg__config_ctx *c, const struct wg__cfg_node *n, const char *path,
                      void *dst, const void *arg)
{
    struct wg_rule_params *p = dst;
    struct wg__config_fieldset fs = {wg__config_param_fields, wg__config_nparam_fields, p, &p->set};
    (void)arg;
    return wg__config_fields(c, n, path, &fs, 1, NULL) ? -1 : 0;
}

#define WAVE(f) offsetof(struct wg_wave, f)
static const struct wg__config_field wave_fields[] = {
    {"name", wg__config_dec_str, WAVE(name), NULL, 0, 1},
    {"env", wg__config_dec_str, WAVE(env), NULL, 0, 0},
    {"source", wg__config_dec_str, WAVE(source), NULL, 0, 0},
    {"defaults", dec_params, WAVE(defaults), NULL, 0, 0},
    {"gate", wg__config_dec_wave_gate, WAVE(gate_false_fail), NULL, 0, 0},
    {"targets", wg__config_dec_targets, 0, NULL, 0, 0},
    {"require", wg__config_dec_policy, WAVE(policy), NULL, 0, 0},
    {"bake", wg__config_dec_bake, WAVE(bake), NULL, 0, 0}, /* config_events.c */
};
#undef WAVE

static void unknown_ref(struct wg__config_ctx *c, const struct wg__cfg_node *n, const char *path,
                        const char *what, const char *name)
{
    struct wg_buf b;
    wg_buf_init(&b, 4096);
    const struct wg_config *cfg = c->cfg;
    size_t count = strcmp(what, "source") == 0 ? cfg->nsources : cfg->nwaves;
    for (size_t i = 0; i < count; i++) {
        const char *nm = strcmp(what, "source") == 0 ? cfg->sources[i].name : cfg->waves[i].name;
        if (nm) {
            (void)wg_buf_addf(&b, "%s%s", b.len ? ", " : "", nm);
        }
    }
    wg__config_err(c, n, path, "unknown %s '%s' (defined: %s)", what, name, b.len ? b.p : "none");
    wg_buf_free(&b);
}

void wg__config_check_source_ref(struct wg__config_ctx *c, const struct wg__cfg_node *n,
                                 const char *path, const char *name)
{
    if (name && !wg_config_source(c->cfg, name)) {
        unknown_ref(c, n, path, "source", name);
    }
}

void wg__config_check_wave_ref(struct wg__config_ctx *c, const struct wg__cfg_node *n,
                               const char *path, const char *name)
{
    if (name && !wg_config_wave(c->cfg, name)) {
        unknown_ref(c, n, path, "wave", name);
    }
}

void wg__config_decode_waves(struct wg__config_ctx *c, const struct wg__cfg_node *n,
                             const char *path)
{
    char sub[WG__CONFIG_PATH_MAX], sub2[WG__CONFIG_PATH_MAX];
    struct wg_config *cfg = c->cfg;
    if (!n) {
        return;
    }
    cfg->waves =
        wg__config_items(c, n, path, WG__CFG_SEQ, "a sequence of waves", sizeof(*cfg->waves));
    if (!cfg->waves) {
        return;
    }
    for (size_t i = 0; i < n->n; i++) {
        const struct wg__cfg_node *item = n->vals[i];
        wg__config_path_index(sub, sizeof(sub), path, i);
        struct wg_wave *w = &cfg->waves[cfg->nwaves];
        w->pos = item->pos;
        wg__config_params_init(&w->defaults);
        struct wg__config_fieldset fs = {wave_fields, sizeof(wave_fields) / sizeof(wave_fields[0]),
                                         w, NULL};
        int rc = wg__config_fields(c, item, sub, &fs, 1, NULL);
        wg__config_params_finish(c, &w->defaults);
        if (rc < 0 || !w->name) {
            wg__config_free_wave(w);
            continue;
        }
        for (size_t j = 0; j < cfg->nwaves; j++) {
            if (strcmp(cfg->waves[j].name, w->name) == 0) {
                wg__config_path_key(sub2, sizeof(sub2), sub, "name");
                wg__config_err(c, wg__config_get(item, "name"), sub2,
                               "duplicate wave name '%s' (first defined at line %d:%d)", w->name,
                               cfg->waves[j].pos.line, cfg->waves[j].pos.col);
                break;
            }
        }
        if (!w->env && !(w->env = wg_strdup(w->name))) {
            c->oom = 1;
        }
        wg__config_path_key(sub2, sizeof(sub2), sub, "source");
        wg__config_check_source_ref(c, wg__config_get(item, "source"), sub2, w->source);
        wg__config_check_targets(c, item, sub, w);
        cfg->nwaves++;
    }
}

/* ---- state_dir --------------------------------------------------------------------------- */

void wg__config_decode_state_dir(struct wg__config_ctx *c, const struct wg__cfg_node *n,
                                 const char *path)
{
    struct wg_config *cfg = c->cfg;
    if (n) {
        (void)wg__config_dec_str(c, n, path, &cfg->state_dir, NULL);
    }
    if (!cfg->state_dir && !(cfg->state_dir = wg_config_default_state_dir())) {
        c->oom = 1;
    }
}

/* ---- state: {backend, dsn_env, leader_takeover} ----------------------------------------- */

#define ST(f) offsetof(struct wg_state_cfg, f)
static const struct wg__config_enum backends[] = {
    {"sqlite", WG_STATE_SQLITE}, {"postgres", WG_STATE_POSTGRES}, {NULL, 0}};
static const struct wg__config_range r_takeover = {1, 300, 0, 0};
static const struct wg__config_field state_fields[] = {
    {"backend", wg__config_dec_enum, ST(backend), backends, 0, 0},
    {"dsn_env", wg__config_dec_str, ST(dsn_env), NULL, 0, 0},
    {"leader_takeover", wg__config_dec_duration, ST(leader_takeover_ns), &r_takeover, 0, 0},
};

void wg__config_decode_state(struct wg__config_ctx *c, const struct wg__cfg_node *n,
                             const char *path)
{
    struct wg_state_cfg *st = &c->cfg->state;
    st->backend = WG_STATE_SQLITE;
    st->leader_takeover_ns = 10 * WG_NS_PER_SEC;
    if (n) {
        struct wg__config_fieldset set = {state_fields,
                                          sizeof(state_fields) / sizeof(state_fields[0]), st, NULL};
        (void)wg__config_fields(c, n, path, &set, 1, NULL);
    }
    if (!st->dsn_env && !(st->dsn_env = wg_strdup("WAVEGATE_PG_DSN"))) {
        c->oom = 1;
    }
}

void wg__config_free_state(struct wg_config *cfg)
{
    free(cfg->state.dsn_env);
    cfg->state.dsn_env = NULL;
}

char *wg_config_default_state_dir(void)
{
    const char *xdg = getenv("XDG_STATE_HOME");
    return xdg && xdg[0] ? wg_asprintf("%s/wavegate", xdg) : wg_strdup("./.wavegate");
}

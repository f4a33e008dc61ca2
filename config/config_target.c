/* config_target.c — a fleet wave's `targets:` (a list, or a matrix expanded at load time into
 * concrete targets) and its `require:` policy; target labels as query placeholders. Decoded
 * from config_wave.c; the gate (gate/gate_fleet.c) only ever sees concrete targets.
 */
#include "config/config_int.h"

#include <stdlib.h>
#include <string.h>

#define MAX_TARGETS 1000 /* a typo in a matrix must not plan a million queries */
#define MAX_LABEL_KEY 64

/* A label key is a placeholder name: an identifier that is no built-in placeholder. */
static int check_label_key(struct wg__config_ctx *c, const struct wg__cfg_node *k, const char *path)
{
    const char *s = k->str;
    int ok = k->len > 0 && k->len <= MAX_LABEL_KEY &&
             ((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z') || s[0] == '_');
    for (size_t i = 1; ok && i < k->len; i++) {
        ok = (s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
             (s[i] >= '0' && s[i] <= '9') || s[i] == '_';
    }
    if (!ok) {
        wg__config_err(c, k, path,
                       "label key '%.64s' must be an identifier ([A-Za-z_][A-Za-z0-9_]*)", s);
        return -1;
    }
    for (size_t i = 0; wg_placeholders[i]; i++) {
        if (strcmp(wg_placeholders[i], s) == 0) {
            wg__config_err(c, k, path, "label key '%s' is a built-in placeholder", s);
            return -1;
        }
    }
    return 0;
}

static int add_label(struct wg_target *t, const char *k, const char *v)
{
    struct wg_label *nl = realloc(t->labels, (t->nlabels + 1) * sizeof(*nl));
    if (!nl) {
        return -1;
    }
    t->labels = nl;
    nl[t->nlabels].key = wg_strdup(k);
    nl[t->nlabels].value = wg_strdup(v);
    t->nlabels++;
    return nl[t->nlabels - 1].key && nl[t->nlabels - 1].value ? 0 : -1;
}

static void free_target(struct wg_target *t)
{
    free(t->name);
    free(t->env);
    free(t->source);
    for (size_t i = 0; i < t->nlabels; i++) {
        free(t->labels[i].key);
        free(t->labels[i].value);
    }
    free(t->labels);
    memset(t, 0, sizeof(*t));
}

void wg__config_free_targets(struct wg_wave *w)
{
    for (size_t i = 0; i < w->ntargets; i++) {
        free_target(&w->targets[i]);
    }
    free(w->targets);
    w->targets = NULL;
    w->ntargets = 0;
}

/* ---- the list form ----------------------------------------------------------------------- */

static int dec_labels(struct wg__config_ctx *c, const struct wg__cfg_node *n, const char *path,
                      void *dst, const void *arg)
{
    struct wg_target *t = dst;
    char sub[WG__CONFIG_PATH_MAX];
    (void)arg;
    if (n->type != WG__CFG_MAP) {
        return wg__config_type_err(c, n, path, "a mapping of label: value");
    }
    for (size_t i = 0; i < n->n; i++) {
        wg__config_path_key(sub, sizeof(sub), path, n->keys[i]->str);
        const struct wg__cfg_node *v = n->vals[i];
        if (check_label_key(c, n->keys[i], sub)) {
            return -1;
        }
        if (v->type != WG__CFG_SCALAR || wg__config_is_null(v)) {
            return wg__config_type_err(c, v, sub, "a string");
        }
        if (add_label(t, n->keys[i]->str, v->str)) {
            c->oom = 1;
            return -1;
        }
    }
    return 0;
}

#define TGT(f) offsetof(struct wg_target, f)
static const struct wg__config_field target_fields[] = {
    {"name", wg__config_dec_str, TGT(name), NULL, 0, 1},
    {"env", wg__config_dec_str, TGT(env), NULL, 0, 0},
    {"source", wg__config_dec_str, TGT(source), NULL, 0, 0},
    {"labels", dec_labels, 0, NULL, 0, 0},
};
#undef TGT

static void decode_list(struct wg__config_ctx *c, const struct wg__cfg_node *n, const char *path,
                        struct wg_wave *w)
{
    char sub[WG__CONFIG_PATH_MAX];
    if (n->n > MAX_TARGETS) {
        wg__config_err(c, n, path, "at most %d targets, got %zu", MAX_TARGETS, n->n);
        return;
    }
    w->targets = wg__config_items(c, n, path, WG__CFG_SEQ, "a sequence of targets or {matrix: ...}",
                                  sizeof(*w->targets));
    if (!w->targets) {
        return;
    }
    for (size_t i = 0; i < n->n; i++) {
        struct wg_target *t = &w->targets[w->ntargets];
        wg__config_path_index(sub, sizeof(sub), path, i);
        t->pos = n->vals[i]->pos;
        struct wg__config_fieldset fs = {target_fields,
                                         sizeof(target_fields) / sizeof(target_fields[0]), t, NULL};
        if (wg__config_fields(c, n->vals[i], sub, &fs, 1, NULL) != 0 || !t->name) {
            free_target(t);
            continue;
        }
        w->ntargets++;
    }
}

/* ---- the matrix form --------------------------------------------------------------------- */

struct axes {
    const struct wg__cfg_node *m; /* the matrix mapping: keys[i] -> sequence of values */
    size_t *at;                   /* the current combination */
};

/* Expand tmpl's {{ key }} with the combination's values (plain text: these are names, not
 * queries). NULL with c's error reported on an unknown key. */
static char *expand(struct wg__config_ctx *c, const struct wg__cfg_node *tn, const char *path,
                    const struct axes *ax)
{
    struct wg_buf b;
    wg_buf_init(&b, 4096);
    const char *s = tn->str;
    while (*s) {
        const char *open = strstr(s, "{{");
        const char *close = open ? strstr(open + 2, "}}") : NULL;
        if (!open || !close) {
            (void)wg_buf_adds(&b, s);
            break;
        }
        (void)wg_buf_add(&b, s, (size_t)(open - s));
        const char *a = open + 2, *z = close;
        while (a < z && (*a == ' ' || *a == '\t')) {
            a++;
        }
        while (z > a && (z[-1] == ' ' || z[-1] == '\t')) {
            z--;
        }
        size_t k = 0;
        while (k < ax->m->n && !(strlen(ax->m->keys[k]->str) == (size_t)(z - a) &&
                                 memcmp(ax->m->keys[k]->str, a, (size_t)(z - a)) == 0)) {
            k++;
        }
        if (k == ax->m->n) {
            wg__config_err(c, tn, path, "unknown placeholder '%.*s' (the matrix keys are known)",
                           (int)(close + 2 - open), open);
            wg_buf_free(&b);
            return NULL;
        }
        (void)wg_buf_adds(&b, ax->m->vals[k]->vals[ax->at[k]]->str);
        s = close + 2;
    }
    char *out = wg_buf_take(&b);
    if (!out) {
        c->oom = 1;
    }
    wg_buf_free(&b);
    return out;
}

static const char *const matrix_keys[] = {"matrix", "name", "env", "source", NULL};

static int check_matrix(struct wg__config_ctx *c, const struct wg__cfg_node *m, const char *path,
                        size_t *count)
{
    char sub[WG__CONFIG_PATH_MAX];
    if (!m || m->type != WG__CFG_MAP || m->n == 0) {
        return wg__config_type_err(c, m, path, "a non-empty mapping of label: [values]");
    }
    *count = 1;
    for (size_t i = 0; i < m->n; i++) {
        const struct wg__cfg_node *v = m->vals[i];
        wg__config_path_key(sub, sizeof(sub), path, m->keys[i]->str);
        if (check_label_key(c, m->keys[i], sub)) {
            return -1;
        }
        if (v->type != WG__CFG_SEQ || v->n == 0) {
            return wg__config_type_err(c, v, sub, "a non-empty sequence of values");
        }
        for (size_t j = 0; j < v->n; j++) {
            if (v->vals[j]->type != WG__CFG_SCALAR || wg__config_is_null(v->vals[j])) {
                char s2[WG__CONFIG_PATH_MAX];
                wg__config_path_index(s2, sizeof(s2), sub, j);
                return wg__config_type_err(c, v->vals[j], s2, "a string");
            }
        }
        if (*count > MAX_TARGETS / v->n) {
            wg__config_err(c, m, path, "the matrix makes more than %d targets", MAX_TARGETS);
            return -1;
        }
        *count *= v->n;
    }
    return 0;
}

static const struct wg__cfg_node *templ(struct wg__config_ctx *c, const struct wg__cfg_node *n,
                                        const char *key, const char *path, int *bad)
{
    const struct wg__cfg_node *t = wg__config_get(n, key);
    if (t && (t->type != WG__CFG_SCALAR || wg__config_is_null(t))) {
        char sub[WG__CONFIG_PATH_MAX];
        wg__config_path_key(sub, sizeof(sub), path, key);
        wg__config_type_err(c, t, sub, "a string template");
        *bad = 1;
    }
    return t;
}

/* One target per combination, the first matrix key varying slowest. Default name: the
 * values joined by '-'. */
static void decode_matrix(struct wg__config_ctx *c, const struct wg__cfg_node *n, const char *path,
                          struct wg_wave *w)
{
    char sub[WG__CONFIG_PATH_MAX], tsub[WG__CONFIG_PATH_MAX];
    size_t count = 0;
    int bad = 0;
    for (size_t i = 0; i < n->n; i++) {
        int known = 0;
        for (size_t k = 0; matrix_keys[k]; k++) {
            known |= strcmp(matrix_keys[k], n->keys[i]->str) == 0;
        }
        if (!known) {
            wg__config_path_key(sub, sizeof(sub), path, n->keys[i]->str);
            wg__config_err(c, n->keys[i], sub,
                           "unknown key '%s' (allowed: matrix, name, env, source)",
                           n->keys[i]->str);
            bad = 1;
        }
    }
    wg__config_path_key(sub, sizeof(sub), path, "matrix");
    const struct wg__cfg_node *m = wg__config_get(n, "matrix");
    if (!m) {
        wg__config_err(c, n, path, "targets: want a sequence of targets or {matrix: ...}");
        return;
    }
    const struct wg__cfg_node *tn = templ(c, n, "name", path, &bad);
    const struct wg__cfg_node *te = templ(c, n, "env", path, &bad);
    const struct wg__cfg_node *ts = templ(c, n, "source", path, &bad);
    if (check_matrix(c, m, sub, &count) || bad) {
        return;
    }
    struct axes ax = {m, calloc(m->n, sizeof(size_t))};
    w->targets = calloc(count, sizeof(*w->targets));
    if (!ax.at || !w->targets) {
        c->oom = 1;
        free(ax.at);
        return;
    }
    for (size_t i = 0; i < count && !c->oom; i++) {
        struct wg_target *t = &w->targets[w->ntargets];
        t->pos = n->pos;
        for (size_t k = 0; k < m->n; k++) {
            if (add_label(t, m->keys[k]->str, m->vals[k]->vals[ax.at[k]]->str)) {
                c->oom = 1;
            }
        }
        wg__config_path_key(tsub, sizeof(tsub), path, "name");
        if (tn) {
            t->name = expand(c, tn, tsub, &ax);
        } else {
            struct wg_buf b;
            wg_buf_init(&b, 4096);
            for (size_t k = 0; k < t->nlabels; k++) {
                (void)wg_buf_addf(&b, "%s%s", k ? "-" : "", t->labels[k].value);
            }
            t->name = wg_buf_take(&b);
            wg_buf_free(&b);
        }
        wg__config_path_key(tsub, sizeof(tsub), path, "env");
        t->env = te ? expand(c, te, tsub, &ax) : NULL;
        wg__config_path_key(tsub, sizeof(tsub), path, "source");
        t->source = ts ? expand(c, ts, tsub, &ax) : NULL;
        if (!t->name || (te && !t->env) || (ts && !t->source)) {
            free_target(t);
            break; /* a template error repeats for every combination: report it once */
        }
        w->ntargets++;
        for (size_t k = m->n; k-- > 0;) { /* next combination, last key fastest */
            if (++ax.at[k] < m->vals[k]->n) {
                break;
            }
            ax.at[k] = 0;
        }
    }
    free(ax.at);
}

int wg__config_dec_targets(struct wg__config_ctx *c, const struct wg__cfg_node *n, const char *path,
                           void *dst, const void *arg)
{
    struct wg_wave *w = dst;
    size_t before = c->diags->nerrors;
    (void)arg;
    wg__config_free_targets(w);
    if (n->type == WG__CFG_MAP) {
        decode_matrix(c, n, path, w);
    } else {
        decode_list(c, n, path, w);
    }
    return c->diags->nerrors > before ? -1 : 0;
}

/* ---- require: --------------------------------------------------------------------------- */

static const struct wg__config_range min_targets_range = {0, MAX_TARGETS, 0, 0};

#define POL(f) offsetof(struct wg_wave_policy, f)
static const struct wg__config_field policy_fields[] = {
    {"max_failed", wg__config_dec_limit, POL(max_failed), NULL, 0, 0},
    {"max_unreachable", wg__config_dec_limit, POL(max_unreachable), NULL, 0, 0},
    {"min_targets", wg__config_dec_long, POL(min_targets), &min_targets_range, 0, 0},
};
#undef POL

int wg__config_dec_policy(struct wg__config_ctx *c, const struct wg__cfg_node *n, const char *path,
                          void *dst, const void *arg)
{
    struct wg_wave_policy *p = dst;
    (void)arg;
    memset(p, 0, sizeof(*p));
    p->pos = n->pos;
    if (n->type == WG__CFG_SCALAR && !n->quoted && strcmp(n->str, "all") == 0) {
        return 0;
    }
    if (n->type != WG__CFG_MAP) {
        return wg__config_type_err(
            c, n, path, "all, or {max_failed: N|P%, max_unreachable: N|P%, min_targets: N}");
    }
    struct wg__config_fieldset fs = {policy_fields,
                                     sizeof(policy_fields) / sizeof(policy_fields[0]), p, NULL};
    int rc = wg__config_fields(c, n, path, &fs, 1, NULL);
    const struct wg_limit *l[2] = {&p->max_failed, &p->max_unreachable};
    for (size_t i = 0; i < 2 && rc == 0; i++) {
        if (l[i]->set && l[i]->percent && l[i]->value > 100) {
            wg__config_err(c, n, path, "a percentage of targets is at most 100%%");
            rc = 1;
        } else if (l[i]->set && !l[i]->percent && l[i]->value != (double)(long)l[i]->value) {
            wg__config_err(c, n, path, "a number of targets is a whole number");
            rc = 1;
        }
    }
    return rc ? -1 : 0;
}

/* ---- after a wave is decoded ------------------------------------------------------------- */

void wg__config_check_targets(struct wg__config_ctx *c, const struct wg__cfg_node *item,
                              const char *path, struct wg_wave *w)
{
    char sub[WG__CONFIG_PATH_MAX];
    wg__config_path_key(sub, sizeof(sub), path, "targets");
    const struct wg__cfg_node *tn = wg__config_get(item, "targets");
    for (size_t i = 0; i < w->ntargets; i++) {
        struct wg_target *t = &w->targets[i];
        for (size_t j = 0; j < i; j++) {
            if (strcmp(w->targets[j].name, t->name) == 0) {
                wg__config_err_at(c, &t->pos, sub, "duplicate target name '%s'", t->name);
                break;
            }
        }
        if (!t->env && !(t->env = wg_strdup(w->env ? w->env : w->name))) {
            c->oom = 1;
        }
        if (t->source) {
            if (!wg_config_source(c->cfg, t->source)) {
                char s2[WG__CONFIG_PATH_MAX];
                wg__config_path_key(s2, sizeof(s2), sub, t->name);
                wg__config_check_source_ref(c, tn && tn->type == WG__CFG_MAP ? tn : item, s2,
                                            t->source);
            }
        } else if (!w->source) {
            wg__config_err_at(c, &t->pos, sub,
                              "target '%s' has no source and the wave has none: set source on "
                              "the target or the wave",
                              t->name);
        }
    }
    if (!w->ntargets && w->policy.pos.line) {
        wg__config_warn_at(c, &w->policy.pos, path,
                           "require: applies to targets; the wave has none");
    }
    if (w->ntargets && w->policy.min_targets > (long)w->ntargets) {
        wg__config_err_at(c, &w->policy.pos, path, "min_targets %ld is more than the %zu targets",
                          w->policy.min_targets, w->ntargets);
    }
}

/* ---- lookups ----------------------------------------------------------------------------- */

int wg__config_target_placeholder(const struct wg_config *cfg, const char *s, size_t n)
{
    if (n == 6 && memcmp(s, "target", 6) == 0) {
        return 1;
    }
    for (size_t w = 0; w < cfg->nwaves; w++) {
        for (size_t t = 0; t < cfg->waves[w].ntargets; t++) {
            const struct wg_target *tg = &cfg->waves[w].targets[t];
            for (size_t k = 0; k < tg->nlabels; k++) {
                if (strlen(tg->labels[k].key) == n && memcmp(tg->labels[k].key, s, n) == 0) {
                    return 1;
                }
            }
        }
    }
    return 0;
}

int wg__config_wave_sourced(const struct wg_wave *w)
{
    if (w->source) {
        return 1;
    }
    for (size_t i = 0; i < w->ntargets; i++) {
        if (!w->targets[i].source) {
            return 0;
        }
    }
    return w->ntargets > 0;
}

const struct wg_target *wg_config_target(const struct wg_wave *w, const char *name)
{
    for (size_t i = 0; w && name && i < w->ntargets; i++) {
        if (strcmp(w->targets[i].name, name) == 0) {
            return &w->targets[i];
        }
    }
    return NULL;
}

const char *wg_config_target_label(const struct wg_target *t, const char *key)
{
    for (size_t i = 0; t && i < t->nlabels; i++) {
        if (strcmp(t->labels[i].key, key) == 0) {
            return t->labels[i].value;
        }
    }
    return NULL;
}

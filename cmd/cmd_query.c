/* cmd_query.c — `wavegate query`: render one rule's query exactly as `check` would (for a
 * fleet wave: for one --target, its source and placeholders), run it, and print the parsed
 * tables (JSON or a plain table), or the server's error with exit 3.
 * The tool for writing a rule: see what the query returns before trusting a verdict on it.
 */
#include "cmd/cmd_int.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static cJSON *value_json(const struct wg_value *v)
{
    char b[48];
    switch (v->t) {
    case WG_V_NULL:
        return cJSON_CreateNull();
    case WG_V_FLOAT:
        if (!isfinite(v->u.f)) {
            return cJSON_CreateString(isnan(v->u.f) ? "NaN" : v->u.f > 0 ? "+Inf" : "-Inf");
        }
        return cJSON_CreateNumber(v->u.f);
    case WG_V_INT:
        /* exact beyond 2^53: cJSON prints doubles, so print the digits ourselves */
        snprintf(b, sizeof(b), "%" PRId64, v->u.i);
        return cJSON_CreateRaw(b);
    case WG_V_UINT:
        snprintf(b, sizeof(b), "%" PRIu64, v->u.u);
        return cJSON_CreateRaw(b);
    case WG_V_BOOL:
        return cJSON_CreateBool(v->u.b);
    case WG_V_STRING:
        return cJSON_CreateString(v->s ? v->s : "");
    case WG_V_TIME:
        return cJSON_CreateString(wg_time_format(v->u.time, b, sizeof(b)));
    }
    return cJSON_CreateNull();
}

static void value_text(const struct wg_value *v, char *b, size_t n)
{
    switch (v->t) {
    case WG_V_NULL:
        snprintf(b, n, "null");
        break;
    case WG_V_FLOAT:
        snprintf(b, n, "%.17g", v->u.f);
        break;
    case WG_V_INT:
        snprintf(b, n, "%" PRId64, v->u.i);
        break;
    case WG_V_UINT:
        snprintf(b, n, "%" PRIu64, v->u.u);
        break;
    case WG_V_BOOL:
        snprintf(b, n, "%s", v->u.b ? "true" : "false");
        break;
    case WG_V_STRING:
        snprintf(b, n, "%s", v->s ? v->s : "");
        break;
    case WG_V_TIME:
        wg_time_format(v->u.time, b, n);
        break;
    }
}

static void print_json(const struct wg_query *q, const char *target, int failed)
{
    cJSON *o = cJSON_CreateObject();
    if (target) {
        cJSON_AddStringToObject(o, "target", target);
    }
    cJSON_AddStringToObject(o, "source", q->src->name);
    cJSON_AddStringToObject(o, "query", q->query);
    cJSON *tables = cJSON_AddArrayToObject(o, "tables");
    for (size_t i = 0; !failed && i < q->tables.n; i++) {
        const struct wg_table *t = &q->tables.t[i];
        cJSON *to = cJSON_CreateObject();
        if (t->result) {
            cJSON_AddStringToObject(to, "result", t->result);
        } else {
            cJSON_AddNullToObject(to, "result");
        }
        if (t->name) {
            cJSON_AddStringToObject(to, "name", t->name);
        }
        cJSON *labels = cJSON_AddObjectToObject(to, "labels");
        for (size_t k = 0; k < t->nlabels; k++) {
            cJSON_AddStringToObject(labels, t->labels[k].key, t->labels[k].value);
        }
        cJSON *cols = cJSON_AddArrayToObject(to, "columns");
        for (size_t c = 0; c < t->ncols; c++) {
            cJSON *co = cJSON_CreateObject();
            cJSON_AddStringToObject(co, "name", t->cols[c].name);
            if (t->cols[c].type) {
                cJSON_AddStringToObject(co, "type", t->cols[c].type);
            } else {
                cJSON_AddNullToObject(co, "type");
            }
            cJSON_AddItemToArray(cols, co);
        }
        cJSON *rows = cJSON_AddArrayToObject(to, "rows");
        for (size_t r = 0; r < t->nrows; r++) {
            cJSON *row = cJSON_CreateArray();
            for (size_t c = 0; c < t->ncols; c++) {
                cJSON_AddItemToArray(row, value_json(&t->cells[r * t->ncols + c]));
            }
            cJSON_AddItemToArray(rows, row);
        }
        cJSON_AddItemToArray(tables, to);
    }
    if (failed) {
        char e[1200];
        snprintf(e, sizeof(e), "%s: %s", wg_strerror(q->err), q->errmsg);
        cJSON_AddStringToObject(o, "error", e);
    } else {
        cJSON_AddNullToObject(o, "error");
    }
    char *s = cJSON_Print(o);
    if (s) {
        printf("%s\n", s);
    }
    free(s);
    cJSON_Delete(o);
}

static void print_table(const struct wg_query *q, const char *target)
{
    if (target) {
        printf("target: %s\n", target);
    }
    printf("source: %s\nquery:  %s\n", q->src->name, q->query);
    for (size_t i = 0; i < q->tables.n; i++) {
        const struct wg_table *t = &q->tables.t[i];
        printf("\ntable %zu", i);
        if (t->result) {
            printf(" result=%s", t->result);
        }
        if (t->name) {
            printf(" name=%s", t->name);
        }
        for (size_t k = 0; k < t->nlabels; k++) {
            printf(" %s=%s", t->labels[k].key, t->labels[k].value);
        }
        printf(" (%zu rows)\n", t->nrows);
        for (size_t c = 0; c < t->ncols; c++) {
            printf("%s%s", c ? "\t" : "", t->cols[c].name);
        }
        printf("\n");
        for (size_t r = 0; r < t->nrows; r++) {
            for (size_t c = 0; c < t->ncols; c++) {
                char b[256];
                value_text(&t->cells[r * t->ncols + c], b, sizeof(b));
                printf("%s%s", c ? "\t" : "", b);
            }
            printf("\n");
        }
    }
    if (q->tables.n == 0) {
        printf("\n(no tables: the query returned no data)\n");
    }
}

/* The target a query runs for (NULL: a wave without targets) and its deploy time; an exit
 * code when the names do not fit the wave. A fleet wave without --target is a usage error
 * listing its targets: each target has its own source and placeholders, and one region is
 * what a user debugging a rule looks at. */
static int pick_target(const struct wg_wave *w, const struct wg__cmd_query *a,
                       const struct wg_target **t, int64_t *deploy_ns)
{
    char known[1024];
    *t = NULL;
    *deploy_ns = a->deploy_ns;
    if (a->target && !w->ntargets) {
        fprintf(stderr, "wavegate: wave %s has no targets (--target %s)\n", w->name, a->target);
        return WG_EXIT_USAGE;
    }
    if (w->ntargets && !a->target) {
        wg_gate_target_names(w, known, sizeof(known));
        fprintf(stderr,
                "wavegate: wave %s is a fleet of %zu targets, each with its own source: pass "
                "--target NAME (one of: %s)\n",
                w->name, w->ntargets, known);
        return WG_EXIT_USAGE;
    }
    if (a->target && !(*t = wg_config_target(w, a->target))) {
        wg_gate_target_names(w, known, sizeof(known));
        fprintf(stderr, "wavegate: unknown target \"%s\" of wave %s (known: %s)\n", a->target,
                w->name, known);
        return WG_EXIT_USAGE;
    }
    for (size_t i = 0; i < a->ndeploy_times; i++) {
        const char *name = a->deploy_times[i].target;
        if (!*t || !wg_config_target(w, name)) {
            wg_gate_target_names(w, known, sizeof(known));
            fprintf(stderr,
                    "wavegate: deploy time for unknown target \"%s\" of wave %s (known: %s)\n",
                    name, w->name, known);
            return WG_EXIT_USAGE;
        }
        if (strcmp(name, (*t)->name) == 0) {
            *deploy_ns = a->deploy_times[i].ns;
        }
    }
    return 0;
}

int wg__cmd_query_run(const struct wg_config *cfg, const struct wg__cmd_query *a)
{
    const struct wg_wave *w = wg_config_wave(cfg, a->wave);
    const struct wg_feature *f = wg_config_feature(cfg, a->feature);
    const struct wg_rule *r = NULL;
    const struct wg_target *t = NULL;
    int64_t deploy_ns = 0;
    if (!w || !f) {
        fprintf(stderr, "wavegate: unknown %s \"%s\"\n", w ? "feature" : "wave",
                w ? a->feature : a->wave);
        return WG_EXIT_USAGE;
    }
    for (size_t i = 0; i < f->nrules; i++) {
        if (strcmp(f->rules[i].name, a->rule) == 0) {
            r = &f->rules[i];
        }
    }
    if (!r) {
        fprintf(stderr, "wavegate: feature %s has no rule \"%s\"\n", a->feature, a->rule);
        return WG_EXIT_USAGE;
    }
    int code = pick_target(w, a, &t, &deploy_ns);
    if (code) {
        return code;
    }
    const struct wg_source *src = wg_gate_target_source(cfg, w, t, r);
    if (!src) {
        fprintf(stderr, "wavegate: no source for rule %s in wave %s%s%s\n", a->rule, a->wave,
                t ? " target " : "", t ? t->name : "");
        return WG_EXIT_CONFIG;
    }
    struct wg_rule_params p;
    struct wg_gate_windows win;
    wg_config_effective(r, w, &p);
    if (wg_gate_windows(r, &p, deploy_ns, a->now_ns ? a->now_ns : wg_now_ns(), &win) != WG_OK) {
        fprintf(stderr, "wavegate: rule %s: window out of range (deploy time + delay + window)\n",
                a->rule);
        return WG_EXIT_USAGE;
    }
    if (a->baseline && !win.has_baseline) {
        fprintf(stderr, "wavegate: rule %s has no baseline window\n", a->rule);
        return WG_EXIT_USAGE;
    }
    struct wg_query q;
    memset(&q, 0, sizeof(q));
    char err[256];
    int64_t s = a->baseline ? win.baseline_start_ns : win.start_ns;
    int64_t e = a->baseline ? win.baseline_end_ns : win.end_ns;
    if (wg_gate_target_render(src, w, t, f, r, s, e, &q.query, err, sizeof(err)) != WG_OK) {
        fprintf(stderr, "wavegate: %s\n", err);
        return WG_EXIT_CONFIG;
    }
    q.src = src;
    q.field = r->field;
    q.mode = WG_COLLECT_TABLES;
    enum wg_err rc = wg_collector_run(&q, 1, NULL);
    int failed = rc != WG_OK || q.err != WG_OK;
    if (rc != WG_OK && q.err == WG_OK) {
        q.err = rc;
    }
    const char *tname = t ? t->name : NULL;
    if (a->json) {
        print_json(&q, tname, failed);
    } else if (!failed) {
        print_table(&q, tname);
    }
    if (failed) {
        fprintf(stderr, "wavegate: query failed%s%s: %s: %s\n", tname ? " for target " : "",
                tname ? tname : "", wg_strerror(q.err), q.errmsg);
    }
    wg_query_clear(&q);
    return failed ? WG_EXIT_ERROR : 0;
}

/* cmd_query.c — `wavegate query`: render one rule's query exactly as `check` would, run it,
 * and print the parsed tables (JSON or a plain table), or the server's error with exit 3.
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

static void print_json(const struct wg_query *q, int failed)
{
    cJSON *o = cJSON_CreateObject();
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

static void print_table(const struct wg_query *q)
{
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

int wg__cmd_query_run(const struct wg_config *cfg, const char *wave, const char *feature,
                      const char *rule, int64_t deploy_ns, int64_t now_ns, int baseline, int json)
{
    const struct wg_wave *w = wg_config_wave(cfg, wave);
    const struct wg_feature *f = wg_config_feature(cfg, feature);
    const struct wg_rule *r = NULL;
    if (!w || !f) {
        fprintf(stderr, "wavegate: unknown %s \"%s\"\n", w ? "feature" : "wave",
                w ? feature : wave);
        return WG_EXIT_USAGE;
    }
    for (size_t i = 0; i < f->nrules; i++) {
        if (strcmp(f->rules[i].name, rule) == 0) {
            r = &f->rules[i];
        }
    }
    if (!r) {
        fprintf(stderr, "wavegate: feature %s has no rule \"%s\"\n", feature, rule);
        return WG_EXIT_USAGE;
    }
    const struct wg_source *src = wg_gate_rule_source(cfg, w, r);
    if (!src) {
        fprintf(stderr, "wavegate: no source for rule %s in wave %s\n", rule, wave);
        return WG_EXIT_CONFIG;
    }
    struct wg_rule_params p;
    struct wg_gate_windows win;
    wg_config_effective(r, w, &p);
    if (wg_gate_windows(r, &p, deploy_ns, now_ns ? now_ns : wg_now_ns(), &win) != WG_OK) {
        fprintf(stderr, "wavegate: rule %s: window out of range (deploy time + delay + window)\n",
                rule);
        return WG_EXIT_USAGE;
    }
    if (baseline && !win.has_baseline) {
        fprintf(stderr, "wavegate: rule %s has no baseline window\n", rule);
        return WG_EXIT_USAGE;
    }
    struct wg_query q;
    memset(&q, 0, sizeof(q));
    char err[256];
    int64_t s = baseline ? win.baseline_start_ns : win.start_ns;
    int64_t e = baseline ? win.baseline_end_ns : win.end_ns;
    if (wg_gate_render(src, w, f, r, s, e, &q.query, err, sizeof(err)) != WG_OK) {
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
    if (json) {
        print_json(&q, failed);
    } else if (!failed) {
        print_table(&q);
    }
    if (failed) {
        fprintf(stderr, "wavegate: query failed: %s: %s\n", wg_strerror(q.err), q.errmsg);
    }
    wg_query_clear(&q);
    return failed ? WG_EXIT_ERROR : 0;
}

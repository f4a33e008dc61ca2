/* collector_sink.c — the two consumers of parsed tables: the series sink (picks the value and
 * time columns and fills a wg_seriesset for the rules) and the table sink (deep copies every
 * table into a wg_tableset for `wavegate query`).
 */
#include "collector/collector.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int is_time_col(const char *n)
{
    return strcmp(n, "time") == 0 || strcmp(n, "_time") == 0;
}

static void list_columns(char *out, size_t outlen, const struct wg_column *cols, size_t ncols)
{
    size_t at = 0;
    out[0] = '\0';
    for (size_t i = 0; i < ncols && at < outlen; i++) {
        int w = snprintf(out + at, outlen - at, "%s%s", i ? ", " : "", cols[i].name);
        if (w < 0) {
            break;
        }
        at += (size_t)w;
    }
}

static int ss_begin(void *ud, const char *result, const char *name,
                    const struct wg_label *labels, size_t nlabels, const struct wg_column *cols,
                    size_t ncols)
{
    struct wg_series_sink *ss = ud;
    char names[160];
    (void)result;
    ss->vcol = -1;
    ss->tcol = -1;
    ss->cur = NULL;
    for (size_t i = 0; i < ncols; i++) {
        if (ss->tcol < 0 && is_time_col(cols[i].name)) {
            ss->tcol = (int)i;
        }
    }
    if (ss->field) {
        for (size_t i = 0; i < ncols && ss->vcol < 0; i++) {
            if (strcmp(cols[i].name, ss->field) == 0) {
                ss->vcol = (int)i;
            }
        }
    } else {
        /* Flux tables (no measurement name) carry the value in _value. */
        for (size_t i = 0; !name && i < ncols && ss->vcol < 0; i++) {
            if (strcmp(cols[i].name, "_value") == 0) {
                ss->vcol = (int)i;
            }
        }
        for (size_t i = 0; i < ncols && ss->vcol < 0; i++) {
            const char *n = cols[i].name;
            if (!is_time_col(n) && strcmp(n, "_start") != 0 && strcmp(n, "_stop") != 0) {
                ss->vcol = (int)i;
            }
        }
    }
    if (ss->vcol < 0) {
        list_columns(names, sizeof(names), cols, ncols);
        if (ss->field) {
            snprintf(ss->err, sizeof(ss->err), "no column named %s (columns: %s)", ss->field,
                     names);
        } else {
            snprintf(ss->err, sizeof(ss->err), "no value column (columns: %s)",
                     ncols ? names : "none");
        }
        return 1;
    }
    snprintf(ss->vname, sizeof(ss->vname), "%s", cols[ss->vcol].name);
    ss->cur = wg_seriesset_get(ss->out, labels, nlabels);
    if (!ss->cur) {
        snprintf(ss->err, sizeof(ss->err), "out of memory");
        return 1;
    }
    return 0;
}

static int ss_row(void *ud, const struct wg_value *cells, size_t ncells)
{
    struct wg_series_sink *ss = ud;
    double v;
    if (!ss->cur || ss->vcol < 0 || (size_t)ss->vcol >= ncells) {
        return 0;
    }
    const struct wg_value *c = &cells[ss->vcol];
    switch (c->t) {
    case WG_V_NULL:
        return 0;
    case WG_V_FLOAT:
        v = c->u.f;
        break;
    case WG_V_INT:
        v = (double)c->u.i;
        break;
    case WG_V_UINT:
        v = (double)c->u.u;
        break;
    case WG_V_BOOL:
        v = c->u.b ? 1.0 : 0.0;
        break;
    default:
        snprintf(ss->err, sizeof(ss->err), "column %s is not numeric", ss->vname);
        return 1;
    }
    int64_t t = 0;
    if (ss->tcol >= 0 && (size_t)ss->tcol < ncells && cells[ss->tcol].t == WG_V_TIME) {
        t = cells[ss->tcol].u.time;
    }
    if (wg_series_push(ss->cur, t, v) != WG_OK) {
        snprintf(ss->err, sizeof(ss->err), "out of memory");
        return 1;
    }
    return 0;
}

void wg_series_sink_init(struct wg_series_sink *ss, struct wg_seriesset *out, const char *field,
                         struct wg_sink *sink)
{
    memset(ss, 0, sizeof(*ss));
    ss->out = out;
    ss->field = field;
    ss->vcol = ss->tcol = -1;
    sink->begin = ss_begin;
    sink->row = ss_row;
    sink->ud = ss;
}

/* ---- tables ------------------------------------------------------------------------------- */

static void value_free(struct wg_value *v)
{
    if (v->t == WG_V_STRING) {
        free(v->s);
    }
}

static void table_free(struct wg_table *t)
{
    free(t->result);
    free(t->name);
    for (size_t i = 0; i < t->nlabels; i++) {
        free(t->labels[i].key);
        free(t->labels[i].value);
    }
    free(t->labels);
    for (size_t i = 0; i < t->ncols; i++) {
        free(t->cols[i].name);
        free(t->cols[i].type);
    }
    free(t->cols);
    for (size_t i = 0; i < t->nrows * t->ncols; i++) {
        value_free(&t->cells[i]);
    }
    free(t->cells);
}

void wg_tableset_free(struct wg_tableset *ts)
{
    if (!ts) {
        return;
    }
    for (size_t i = 0; i < ts->n; i++) {
        table_free(&ts->t[i]);
    }
    free(ts->t);
    memset(ts, 0, sizeof(*ts));
}

static int dup_or_null(char **dst, const char *s)
{
    *dst = NULL;
    if (s && !(*dst = strdup(s))) {
        return -1;
    }
    return 0;
}

static int ts_begin(void *ud, const char *result, const char *name,
                    const struct wg_label *labels, size_t nlabels, const struct wg_column *cols,
                    size_t ncols)
{
    struct wg_tableset *ts = ud;
    if (ts->n == ts->cap) {
        size_t nc = ts->cap ? ts->cap * 2 : 4;
        struct wg_table *nt = realloc(ts->t, nc * sizeof(*nt));
        if (!nt) {
            return 1;
        }
        ts->t = nt;
        ts->cap = nc;
    }
    struct wg_table *t = &ts->t[ts->n++];
    memset(t, 0, sizeof(*t));
    if (dup_or_null(&t->result, result) || dup_or_null(&t->name, name)) {
        return 1;
    }
    if (nlabels && !(t->labels = calloc(nlabels, sizeof(*t->labels)))) {
        return 1;
    }
    for (size_t i = 0; i < nlabels; i++) {
        t->nlabels = i + 1;
        if (dup_or_null(&t->labels[i].key, labels[i].key ? labels[i].key : "") ||
            dup_or_null(&t->labels[i].value, labels[i].value ? labels[i].value : "")) {
            return 1;
        }
    }
    if (ncols && !(t->cols = calloc(ncols, sizeof(*t->cols)))) {
        return 1;
    }
    for (size_t i = 0; i < ncols; i++) {
        t->ncols = i + 1;
        if (dup_or_null(&t->cols[i].name, cols[i].name ? cols[i].name : "") ||
            dup_or_null(&t->cols[i].type, cols[i].type)) {
            return 1;
        }
    }
    return 0;
}

static int ts_row(void *ud, const struct wg_value *cells, size_t ncells)
{
    struct wg_tableset *ts = ud;
    if (!ts->n) {
        return 1;
    }
    struct wg_table *t = &ts->t[ts->n - 1];
    if (!t->ncols) {
        return 0;
    }
    if (t->nrows == t->cap) {
        size_t nc = t->cap ? t->cap * 2 : 16;
        struct wg_value *nv = realloc(t->cells, nc * t->ncols * sizeof(*nv));
        if (!nv) {
            return 1;
        }
        t->cells = nv;
        t->cap = nc;
    }
    struct wg_value *row = &t->cells[t->nrows * t->ncols];
    for (size_t i = 0; i < t->ncols; i++) {
        row[i] = i < ncells ? cells[i] : (struct wg_value){.t = WG_V_NULL};
        if (row[i].t != WG_V_STRING) {
            row[i].s = NULL;
        }
    }
    for (size_t i = 0; i < t->ncols; i++) {
        if (row[i].t == WG_V_STRING && !(row[i].s = strdup(row[i].s ? row[i].s : ""))) {
            for (size_t k = i; k < t->ncols; k++) {
                row[k].t = WG_V_NULL; /* nothing owned past the failure */
            }
            t->nrows++;
            return 1;
        }
    }
    t->nrows++;
    return 0;
}

void wg_table_sink_init(struct wg_tableset *ts, struct wg_sink *sink)
{
    sink->begin = ts_begin;
    sink->row = ts_row;
    sink->ud = ts;
}

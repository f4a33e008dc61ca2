/* collector_sink.c — the two consumers of parsed tables: the series sink (picks the value and
 * time columns and fills a wg_seriesset for the rules, finding each series through a hash of
 * its label set, within the source's max_series) and the table sink (deep copies every table
 * into a wg_tableset for `wavegate query`).
 */
#include "collector/collector.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the series index: label sets hashed, so that 100k series are found in O(1) each ------ */

static uint64_t mix64(uint64_t x)
{
    x ^= x >> 33;
    x *= UINT64_C(0xff51afd7ed558ccd);
    x ^= x >> 33;
    x *= UINT64_C(0xc4ceb9fe1a85ec53);
    x ^= x >> 33;
    return x;
}

static uint64_t fnv(const char *s, uint64_t h)
{
    for (; s && *s; s++) {
        h = (h ^ (unsigned char)*s) * UINT64_C(0x100000001b3);
    }
    return h;
}

/* Order-insensitive, as wg_seriesset_get compares: a sum of one hash per label. */
static uint64_t labels_hash(const struct wg_label *l, size_t n)
{
    uint64_t h = n;
    for (size_t i = 0; i < n; i++) {
        uint64_t k = fnv(l[i].key, UINT64_C(0xcbf29ce484222325));
        h += mix64(fnv(l[i].value, (k ^ 0xff) * UINT64_C(0x100000001b3)));
    }
    return mix64(h);
}

static int labels_equal(const struct wg_label *a, size_t na, const struct wg_label *b, size_t nb)
{
    if (na != nb) {
        return 0;
    }
    for (size_t i = 0; i < na; i++) {
        size_t j = i < nb && strcmp(a[i].key, b[i].key) == 0 ? i : nb; /* same order: fast */
        for (size_t k = 0; j == nb && k < nb; k++) {
            if (strcmp(a[i].key, b[k].key) == 0) {
                j = k;
            }
        }
        if (j == nb || strcmp(a[i].value, b[j].value) != 0) {
            return 0;
        }
    }
    return 1;
}

static void index_put(struct wg_series_sink *ss, size_t idx)
{
    const struct wg_series *s = &ss->out->s[idx];
    size_t m = ss->hcap - 1;
    size_t i = (size_t)labels_hash(s->labels, s->nlabels) & m;
    while (ss->hidx[i]) {
        i = (i + 1) & m;
    }
    ss->hidx[i] = idx + 1;
}

/* Index the series of out not indexed yet (all of them after a reset); -1 on ENOMEM. */
static int index_sync(struct wg_series_sink *ss)
{
    size_t n = ss->out->n;
    if (ss->hn > n) {
        ss->hn = 0; /* out was emptied under us: start again */
        memset(ss->hidx, 0, ss->hcap * sizeof(*ss->hidx));
    }
    if ((n + 1) * 2 > ss->hcap) {
        size_t cap = ss->hcap ? ss->hcap : 64;
        while ((n + 1) * 2 > cap) {
            cap *= 2;
        }
        size_t *nh = calloc(cap, sizeof(*nh));
        if (!nh) {
            return -1;
        }
        free(ss->hidx);
        ss->hidx = nh;
        ss->hcap = cap;
        ss->hn = 0;
    }
    for (; ss->hn < n; ss->hn++) {
        index_put(ss, ss->hn);
    }
    return 0;
}

/* The series with these labels, created when new (within max_series). NULL with err set. */
static struct wg_series *series_for(struct wg_series_sink *ss, const struct wg_label *lab, size_t n)
{
    if (index_sync(ss)) {
        snprintf(ss->err, sizeof(ss->err), "out of memory");
        return NULL;
    }
    size_t m = ss->hcap - 1;
    for (size_t i = (size_t)labels_hash(lab, n) & m; ss->hidx[i]; i = (i + 1) & m) {
        struct wg_series *s = &ss->out->s[ss->hidx[i] - 1];
        if (labels_equal(s->labels, s->nlabels, lab, n)) {
            return s;
        }
    }
    if (ss->max_series && ss->out->n >= ss->max_series) {
        snprintf(ss->err, sizeof(ss->err),
                 "the answer has more than %zu series (the source's max_series); narrow the query "
                 "or raise max_series",
                 ss->max_series);
        return NULL;
    }
    struct wg_series *s = wg_seriesset_add(ss->out, lab, n);
    if (!s) {
        snprintf(ss->err, sizeof(ss->err), "out of memory");
        return NULL;
    }
    index_put(ss, ss->hn++); /* room was made by index_sync: (n + 1) * 2 <= hcap */
    return s;
}

/* ---- columns ------------------------------------------------------------------------------ */

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

/* Copy the column names (labels and messages need them after begin returns). */
static int keep_columns(struct wg_series_sink *ss, const struct wg_column *cols, size_t ncols)
{
    size_t text = 0;
    for (size_t i = 0; i < ncols; i++) {
        text += strlen(cols[i].name ? cols[i].name : "") + 1;
    }
    free(ss->cname);
    ss->cname = NULL;
    ss->nonnum = NULL;
    ss->ncols = 0;
    char *mem = malloc(ncols * (sizeof(char *) + 1) + text + 1);
    if (!mem) {
        return -1;
    }
    ss->cname = (char **)(void *)mem;
    ss->nonnum = (unsigned char *)(mem + ncols * sizeof(char *));
    char *at = (char *)ss->nonnum + ncols;
    for (size_t i = 0; i < ncols; i++) {
        size_t l = strlen(cols[i].name ? cols[i].name : "");
        memcpy(at, cols[i].name ? cols[i].name : "", l + 1);
        ss->cname[i] = at;
        ss->nonnum[i] = 0;
        at += l + 1;
    }
    ss->ncols = ncols;
    return 0;
}

/* A column name that appears twice, or NULL (a sort of pointers: tables may be wide). */
static int cmp_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static const char *dup_column(const struct wg_series_sink *ss)
{
    if (ss->ncols < 2) {
        return NULL;
    }
    if (ss->ncols <= 16) {
        for (size_t i = 1; i < ss->ncols; i++) {
            for (size_t k = 0; k < i; k++) {
                if (strcmp(ss->cname[i], ss->cname[k]) == 0) {
                    return ss->cname[i];
                }
            }
        }
        return NULL;
    }
    const char *found = NULL;
    char **v = malloc(ss->ncols * sizeof(*v));
    if (!v) {
        return NULL;
    }
    memcpy(v, ss->cname, ss->ncols * sizeof(*v));
    qsort(v, ss->ncols, sizeof(*v), cmp_name);
    for (size_t i = 1; i < ss->ncols && !found; i++) {
        if (strcmp(v[i], v[i - 1]) == 0) {
            found = v[i];
        }
    }
    free(v);
    return found;
}

static int is_candidate(const char *n)
{
    return !is_time_col(n) && strcmp(n, "_start") != 0 && strcmp(n, "_stop") != 0;
}

static int ss_begin(void *ud, const char *result, const char *name, const struct wg_label *labels,
                    size_t nlabels, const struct wg_column *cols, size_t ncols)
{
    struct wg_series_sink *ss = ud;
    char names[160];
    ss->vcol = -1;
    ss->tcol = -1;
    ss->cur = NULL;
    ss->skip = 0;
    /* Flux's profiler results (`option profiler.enabledProfilers`) describe the query, not
     * the data. Flux tables are the ones without a measurement name. */
    if (!name && result && strcmp(result, "_profiler") == 0) {
        ss->skip = 1;
        return 0;
    }
    if (keep_columns(ss, cols, ncols)) {
        snprintf(ss->err, sizeof(ss->err), "out of memory");
        return 1;
    }
    for (size_t i = 0; i < ncols; i++) {
        if (ss->tcol < 0 && is_time_col(ss->cname[i])) {
            ss->tcol = (int)i;
        }
    }
    /* Which of two same-named columns is meant cannot be known: never pick the first. */
    const char *dup = dup_column(ss);
    if (dup) {
        snprintf(ss->err, sizeof(ss->err), "duplicate column name %s in the answer", dup);
        return 1;
    }
    int candidates = 0;
    if (ss->field) {
        for (size_t i = 0; i < ncols && ss->vcol < 0; i++) {
            if (strcmp(ss->cname[i], ss->field) == 0) {
                ss->vcol = (int)i;
            }
        }
    } else {
        /* Flux tables (no measurement name) carry the value in _value. */
        for (size_t i = 0; !name && i < ncols && ss->vcol < 0; i++) {
            if (strcmp(ss->cname[i], "_value") == 0) {
                ss->vcol = (int)i;
            }
        }
        for (size_t i = 0; i < ncols; i++) {
            candidates += is_candidate(ss->cname[i]);
        }
        if (ss->vcol < 0 && candidates) {
            ss->vcol = -2; /* chosen by the first rows: the first numeric candidate */
        }
    }
    if (ss->vcol == -1) {
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
    if (ss->vcol >= 0) {
        snprintf(ss->vname, sizeof(ss->vname), "%s", ss->cname[ss->vcol]);
    }
    if (!ss->row_labels && !(ss->cur = series_for(ss, labels, nlabels))) {
        return 1;
    }
    return 0;
}

/* Booleans are not numbers: a rule over a true/false column is a mistake to report. */
static int is_numeric(enum wg_vtype t)
{
    return t == WG_V_FLOAT || t == WG_V_INT || t == WG_V_UINT;
}

/* vcol not chosen yet: the first candidate numeric in this row whose earlier values were not
 * of another type. Returns 0 when chosen or still open (all null), 1 when no column can be. */
static int choose_vcol(struct wg_series_sink *ss, const struct wg_value *cells, size_t ncells)
{
    size_t n = ncells < ss->ncols ? ncells : ss->ncols;
    int open = 0, seen = 0;
    const char *only = NULL, *boolean = NULL;
    for (size_t i = 0; i < n; i++) {
        if (!is_candidate(ss->cname[i])) {
            continue;
        }
        seen++;
        only = ss->cname[i];
        if (cells[i].t != WG_V_NULL && !is_numeric(cells[i].t)) {
            ss->nonnum[i] = cells[i].t == WG_V_BOOL ? 2 : 1;
        }
        if (ss->nonnum[i] == 2 && !boolean) {
            boolean = ss->cname[i];
        }
        if (ss->nonnum[i]) {
            continue;
        }
        if (cells[i].t == WG_V_NULL) {
            open = 1;
            continue;
        }
        ss->vcol = (int)i;
        snprintf(ss->vname, sizeof(ss->vname), "%s", ss->cname[i]);
        return 0;
    }
    if (open) {
        return 0;
    }
    if (boolean) {
        snprintf(ss->err, sizeof(ss->err), "boolean value in a numeric rule (column %s)", boolean);
    } else if (seen == 1) {
        snprintf(ss->err, sizeof(ss->err), "column %s is not numeric", only);
    } else {
        char names[160];
        size_t at = 0;
        names[0] = '\0';
        for (size_t i = 0; i < ss->ncols && at < sizeof(names); i++) {
            int w = snprintf(names + at, sizeof(names) - at, "%s%s", at ? ", " : "", ss->cname[i]);
            at += w > 0 ? (size_t)w : 0;
        }
        snprintf(ss->err, sizeof(ss->err), "no numeric value column (columns: %s)", names);
    }
    return 1;
}

/* Row labels: this row's string cells other than the value column, in column order. */
static int row_series(struct wg_series_sink *ss, const struct wg_value *cells, size_t ncells)
{
    size_t n = ncells < ss->ncols ? ncells : ss->ncols, nl = 0;
    struct wg_label lab[WG_SERIES_SINK_MAX_LABELS];
    for (size_t i = 0; i < n; i++) {
        if ((int)i == ss->vcol || cells[i].t != WG_V_STRING) {
            continue;
        }
        if (nl == WG_SERIES_SINK_MAX_LABELS) {
            snprintf(ss->err, sizeof(ss->err), "more than %d string columns",
                     WG_SERIES_SINK_MAX_LABELS);
            return 1;
        }
        lab[nl].key = ss->cname[i];
        lab[nl].value = cells[i].s ? cells[i].s : (char *)"";
        nl++;
    }
    /* Rows of one series usually come together: reuse the last one when the labels match. */
    int same = ss->cur && ss->cur->nlabels == nl;
    for (size_t i = 0; same && i < nl; i++) {
        same = strcmp(ss->cur->labels[i].key, lab[i].key) == 0 &&
               strcmp(ss->cur->labels[i].value, lab[i].value) == 0;
    }
    if (!same && !(ss->cur = series_for(ss, nl ? lab : NULL, nl))) {
        return 1;
    }
    return 0;
}

static int ss_row(void *ud, const struct wg_value *cells, size_t ncells)
{
    struct wg_series_sink *ss = ud;
    double v;
    if (ss->skip) {
        return 0;
    }
    if (ss->vcol == -2 && choose_vcol(ss, cells, ncells)) {
        return 1;
    }
    if (ss->vcol < 0 || (size_t)ss->vcol >= ncells) {
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
        snprintf(ss->err, sizeof(ss->err), "boolean value in a numeric rule (column %s)",
                 ss->vname);
        return 1;
    default:
        snprintf(ss->err, sizeof(ss->err), "column %s is not numeric", ss->vname);
        return 1;
    }
    if (ss->row_labels && row_series(ss, cells, ncells)) {
        return 1;
    }
    if (!ss->cur) {
        return 0;
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

void wg_series_sink_done(struct wg_series_sink *ss)
{
    if (!ss) {
        return;
    }
    free(ss->cname);
    ss->cname = NULL;
    ss->nonnum = NULL;
    ss->ncols = 0;
    ss->cur = NULL;
    free(ss->hidx);
    ss->hidx = NULL;
    ss->hcap = ss->hn = 0;
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

static int ts_begin(void *ud, const char *result, const char *name, const struct wg_label *labels,
                    size_t nlabels, const struct wg_column *cols, size_t ncols)
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

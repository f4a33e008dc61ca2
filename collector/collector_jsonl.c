/* collector_jsonl.c — streaming parser for InfluxDB 3 JSON Lines (`format=jsonl` on
 * /api/v3/query_sql and /api/v3/query_influxql): one flat JSON object per line, keys are
 * columns. A small scanner of its own (not cJSON) keeps integers exact (int64, uint64) and
 * copies nothing but unescaped strings. Plain-text error bodies are the HTTP layer's business.
 *
 * Decisions (pinned by tests/unit/test_collector_jsonl.c):
 * - `iox::measurement` is the table name, not a column; result is "0" (one statement).
 * - Columns are the keys in first-seen order. A key absent from a line is null (InfluxDB 3
 *   omits null columns). A line with a key not seen yet, or another measurement, starts a new
 *   table (begin again) whose columns are the union so far (same measurement) or that line's
 *   keys (new measurement). There is no group key in this format: labels are empty.
 * - `time` (a string, no zone = UTC) becomes WG_V_TIME; integer numbers WG_V_INT, or WG_V_UINT
 *   above INT64_MAX, or WG_V_FLOAT beyond; other numbers WG_V_FLOAT; nested arrays/objects are
 *   kept as their JSON text (WG_V_STRING).
 * - A line that is not one JSON object is WG_EPARSE; blank lines are skipped; a line longer
 *   than JL_MAX_LINE is WG_ETOOBIG. The sink's arguments are valid only during the call.
 * - A line {"error": "..."} (InfluxDB 3 failing after rows went out) is WG_EQUERY; a key twice
 *   in one line, and a last line without its '\n' (a cut answer), are WG_EPARSE.
 */
#include "collector/collector_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define JL_MAX_LINE ((size_t)1 << 20)
#define JL_MAX_COLS 4096

enum jl_kind { JV_NULL = 0, JV_STR, JV_INT, JV_FLOAT, JV_TRUE, JV_FALSE, JV_RAW };

struct jl_pair {
    const char *key;
    size_t klen;
    enum jl_kind kind;
    const char *val; /* NUL-terminated in the arena */
    size_t vlen;
};

struct jl {
    struct wg_sink sink;
    enum wg_err err;
    char msg[512];
    size_t lineno;

    char *line; /* the incomplete line carried between feeds */
    size_t llen, lcap;

    char *arena; /* unescaped strings of the current line */
    size_t alen, acap;
    struct jl_pair *pairs;
    size_t npairs, pcap;

    /* current table */
    int in_table;
    char *meas; /* NULL: no iox::measurement */
    struct wg_column *cols;
    size_t ncols, ccap;
    struct wg_value *cells;
    size_t cellcap;
    int *map; /* pair index -> column */
    size_t mapcap;
    size_t *stamp; /* per column: the line that last set it (duplicate keys) */
    size_t nstamp, stampcap;
};

static enum wg_err fail(struct jl *p, enum wg_err e, const char *fmt, ...) WG_PRINTF(3, 4);
static enum wg_err fail(struct jl *p, enum wg_err e, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = snprintf(p->msg, sizeof(p->msg), "line %zu: ", p->lineno);
    if (n < 0 || (size_t)n >= sizeof(p->msg)) {
        n = 0;
    }
    vsnprintf(p->msg + n, sizeof(p->msg) - (size_t)n, fmt, ap);
    va_end(ap);
    p->err = e;
    return e;
}

static int grow(void **ptr, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap) {
        return 0;
    }
    size_t nc = *cap ? *cap : 16;
    while (nc < need) {
        nc *= 2;
    }
    void *np = realloc(*ptr, nc * elem);
    if (!np) {
        return -1;
    }
    *ptr = np;
    *cap = nc;
    return 0;
}

/* ---- the scanner ------------------------------------------------------------------------ */

struct scan {
    const char *s;
    size_t i, n;
};

static void ws(struct scan *c)
{
    while (c->i < c->n &&
           (c->s[c->i] == ' ' || c->s[c->i] == '\t' || c->s[c->i] == '\r' || c->s[c->i] == '\n')) {
        c->i++;
    }
}

/* A JSON string at c->i (on the opening quote), unescaped into the arena. The arena was sized
 * for the whole line, and unescaping never makes a string longer. */
static int str(struct jl *p, struct scan *c, const char **out, size_t *olen)
{
    char *o = p->arena + p->alen, *start = o;
    c->i++;
    for (;;) {
        if (c->i >= c->n) {
            return -1;
        }
        unsigned char ch = (unsigned char)c->s[c->i++];
        if (ch == '"') {
            break;
        }
        if (ch < 0x20) {
            return -1;
        }
        if (ch != '\\') {
            *o++ = (char)ch;
            continue;
        }
        /* "\uXXXX" is 6 bytes and at most 3 out; a pair is 12 bytes and 4 out */
        size_t used;
        int k = wg__json_escape(c->s + c->i, c->n - c->i, &used, o);
        if (k < 0) {
            return -1;
        }
        o += k;
        c->i += used;
    }
    *o = '\0';
    *out = start;
    *olen = (size_t)(o - start);
    p->alen += *olen + 1;
    return 0;
}

/* A JSON number: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)? ; *isint when no . or e. */
static int num(struct scan *c, int *isint)
{
    size_t i = c->i;
    const char *s = c->s;
    *isint = 1;
    if (i < c->n && s[i] == '-') {
        i++;
    }
    if (i >= c->n || s[i] < '0' || s[i] > '9') {
        return -1;
    }
    if (s[i] == '0') {
        i++;
    } else {
        while (i < c->n && s[i] >= '0' && s[i] <= '9') {
            i++;
        }
    }
    if (i < c->n && s[i] == '.') {
        *isint = 0;
        if (++i >= c->n || s[i] < '0' || s[i] > '9') {
            return -1;
        }
        while (i < c->n && s[i] >= '0' && s[i] <= '9') {
            i++;
        }
    }
    if (i < c->n && (s[i] == 'e' || s[i] == 'E')) {
        *isint = 0;
        i++;
        if (i < c->n && (s[i] == '+' || s[i] == '-')) {
            i++;
        }
        if (i >= c->n || s[i] < '0' || s[i] > '9') {
            return -1;
        }
        while (i < c->n && s[i] >= '0' && s[i] <= '9') {
            i++;
        }
    }
    c->i = i;
    return 0;
}

/* Skip a nested array or object, strings included; returns -1 if it does not close. */
static int skip_nested(struct scan *c)
{
    size_t depth = 0;
    int instr = 0;
    for (; c->i < c->n; c->i++) {
        char ch = c->s[c->i];
        if (instr) {
            if (ch == '\\') {
                c->i++;
            } else if (ch == '"') {
                instr = 0;
            }
            continue;
        }
        if (ch == '"') {
            instr = 1;
        } else if (ch == '[' || ch == '{') {
            depth++;
        } else if (ch == ']' || ch == '}') {
            if (--depth == 0) {
                c->i++;
                return 0;
            }
        }
    }
    return -1;
}

static int lit(struct scan *c, const char *w)
{
    size_t l = strlen(w);
    if (c->i + l > c->n || memcmp(c->s + c->i, w, l) != 0) {
        return -1;
    }
    c->i += l;
    return 0;
}

/* One value into pair *pr. Numbers and raw JSON are copied into the arena, NUL-terminated. */
static int value(struct jl *p, struct scan *c, struct jl_pair *pr)
{
    char ch = c->s[c->i];
    size_t at = c->i;
    int isint;
    if (ch == '"') {
        pr->kind = JV_STR;
        return str(p, c, &pr->val, &pr->vlen);
    }
    if (ch == 't' || ch == 'f' || ch == 'n') {
        pr->kind = ch == 't' ? JV_TRUE : ch == 'f' ? JV_FALSE : JV_NULL;
        pr->val = NULL;
        return lit(c, ch == 't' ? "true" : ch == 'f' ? "false" : "null");
    }
    if (ch == '[' || ch == '{') {
        pr->kind = JV_RAW;
        if (skip_nested(c)) {
            return -1;
        }
    } else {
        if (num(c, &isint)) {
            return -1;
        }
        pr->kind = isint ? JV_INT : JV_FLOAT;
    }
    pr->vlen = c->i - at;
    char *o = p->arena + p->alen;
    memcpy(o, c->s + at, pr->vlen);
    o[pr->vlen] = '\0';
    pr->val = o;
    p->alen += pr->vlen + 1;
    return 0;
}

/* Split one line into key/value pairs. */
static enum wg_err parse_object(struct jl *p, const char *s, size_t n)
{
    struct scan c = {s, 0, n};
    p->alen = 0;
    p->npairs = 0;
    if (grow((void **)&p->arena, &p->acap, n + 2, 1)) {
        return fail(p, WG_ENOMEM, "out of memory");
    }
    ws(&c);
    if (c.i >= n || s[c.i] != '{') {
        return fail(p, WG_EPARSE, "not a JSON object");
    }
    c.i++;
    ws(&c);
    if (c.i < n && s[c.i] == '}') {
        c.i++;
        goto end;
    }
    for (;;) {
        if (p->npairs >= JL_MAX_COLS) {
            return fail(p, WG_ETOOBIG, "more than %d keys", JL_MAX_COLS);
        }
        if (grow((void **)&p->pairs, &p->pcap, p->npairs + 1, sizeof(*p->pairs))) {
            return fail(p, WG_ENOMEM, "out of memory");
        }
        struct jl_pair *pr = &p->pairs[p->npairs];
        ws(&c);
        if (c.i >= n || s[c.i] != '"' || str(p, &c, &pr->key, &pr->klen)) {
            return fail(p, WG_EPARSE, "bad key at byte %zu", c.i);
        }
        ws(&c);
        if (c.i >= n || s[c.i] != ':') {
            return fail(p, WG_EPARSE, "missing ':' at byte %zu", c.i);
        }
        c.i++;
        ws(&c);
        if (c.i >= n || value(p, &c, pr)) {
            return fail(p, WG_EPARSE, "bad value for \"%.64s\" at byte %zu", pr->key, c.i);
        }
        p->npairs++;
        ws(&c);
        if (c.i < n && s[c.i] == ',') {
            c.i++;
            continue;
        }
        if (c.i < n && s[c.i] == '}') {
            c.i++;
            break;
        }
        return fail(p, WG_EPARSE, "expected ',' or '}' at byte %zu", c.i);
    }
end:
    ws(&c);
    if (c.i != n) {
        return fail(p, WG_EPARSE, "text after the object at byte %zu", c.i);
    }
    return WG_OK;
}

/* ---- tables ----------------------------------------------------------------------------- */

static const char MEAS_KEY[] = "iox::measurement";

static int is_meas(const struct jl_pair *pr)
{
    return pr->klen == sizeof(MEAS_KEY) - 1 && memcmp(pr->key, MEAS_KEY, pr->klen) == 0;
}

static void cols_clear(struct jl *p)
{
    for (size_t j = 0; j < p->ncols; j++) {
        free(p->cols[j].name);
    }
    p->ncols = 0;
}

static long find_col(const struct jl *p, const struct jl_pair *pr, size_t hint)
{
    if (hint < p->ncols && strcmp(p->cols[hint].name, pr->key) == 0) {
        return (long)hint;
    }
    for (size_t j = 0; j < p->ncols; j++) {
        if (strcmp(p->cols[j].name, pr->key) == 0) {
            return (long)j;
        }
    }
    return -1;
}

static enum wg_err add_col(struct jl *p, const char *name)
{
    if (p->ncols >= JL_MAX_COLS) {
        return fail(p, WG_ETOOBIG, "more than %d columns", JL_MAX_COLS);
    }
    if (grow((void **)&p->cols, &p->ccap, p->ncols + 1, sizeof(*p->cols))) {
        return fail(p, WG_ENOMEM, "out of memory");
    }
    p->cols[p->ncols].name = wg_strdup(name);
    p->cols[p->ncols].type = NULL;
    if (!p->cols[p->ncols].name) {
        return fail(p, WG_ENOMEM, "out of memory");
    }
    p->ncols++;
    return WG_OK;
}

static enum wg_err cell(struct jl *p, const struct jl_pair *pr, const char *col, struct wg_value *v)
{
    v->s = NULL;
    int is_time = strcmp(col, "time") == 0;
    switch (pr->kind) {
    case JV_NULL:
        v->t = WG_V_NULL;
        return WG_OK;
    case JV_TRUE:
    case JV_FALSE:
        v->t = WG_V_BOOL;
        v->u.b = pr->kind == JV_TRUE;
        return WG_OK;
    case JV_STR:
        if (is_time) {
            v->t = WG_V_TIME;
            if (wg_time_parse(pr->val, pr->vlen, &v->u.time) != WG_OK) {
                return fail(p, WG_EPARSE, "bad time \"%.64s\"", pr->val);
            }
            return WG_OK;
        }
        /* fall through */
    case JV_RAW:
        v->t = WG_V_STRING;
        v->s = (char *)pr->val;
        return WG_OK;
    default: /* JV_INT, JV_FLOAT: exact when integral and within 64 bits */
        if (wg__json_number(pr->val, pr->vlen, v) != WG_OK) {
            return fail(p, WG_EPARSE, "bad number \"%.64s\"", pr->val);
        }
        if (is_time && v->t == WG_V_INT) {
            v->t = WG_V_TIME;
            v->u.time = v->u.i;
        }
        return WG_OK;
    }
}

static enum wg_err on_line(struct jl *p, const char *s, size_t n)
{
    p->lineno++;
    size_t k = 0;
    while (k < n && (s[k] == ' ' || s[k] == '\t' || s[k] == '\r')) {
        k++;
    }
    if (k == n) {
        return WG_OK; /* blank line */
    }
    if (parse_object(p, s, n) != WG_OK) {
        return p->err;
    }
    /* InfluxDB 3 reports a failure after rows have gone out as one more line {"error": "..."} */
    if (p->npairs == 1 && p->pairs[0].kind == JV_STR && p->pairs[0].klen == 5 &&
        memcmp(p->pairs[0].key, "error", 5) == 0) {
        return fail(p, WG_EQUERY, "%.480s", p->pairs[0].val);
    }
    const char *meas = NULL;
    for (size_t i = 0; i < p->npairs; i++) {
        if (is_meas(&p->pairs[i]) && p->pairs[i].kind == JV_STR) {
            meas = p->pairs[i].val;
        }
    }
    int newtab =
        !p->in_table || (meas == NULL) != (p->meas == NULL) || (meas && strcmp(meas, p->meas) != 0);
    if (newtab) {
        cols_clear(p);
    }
    if (grow((void **)&p->map, &p->mapcap, p->npairs + 1, sizeof(int))) {
        return fail(p, WG_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < p->npairs; i++) {
        p->map[i] = -1;
        if (is_meas(&p->pairs[i])) {
            continue;
        }
        long j = find_col(p, &p->pairs[i], i);
        if (j < 0) {
            if (add_col(p, p->pairs[i].key) != WG_OK) {
                return p->err;
            }
            j = (long)p->ncols - 1;
            newtab = 1;
        }
        if (grow((void **)&p->stamp, &p->stampcap, p->ncols, sizeof(size_t))) {
            return fail(p, WG_ENOMEM, "out of memory");
        }
        if ((size_t)j < p->nstamp && p->stamp[j] == p->lineno) {
            return fail(p, WG_EPARSE, "duplicate key \"%.64s\"", p->pairs[i].key);
        }
        while (p->nstamp <= (size_t)j) {
            p->stamp[p->nstamp++] = 0;
        }
        p->stamp[j] = p->lineno;
        p->map[i] = (int)j;
    }
    if (grow((void **)&p->cells, &p->cellcap, p->ncols + 1, sizeof(*p->cells))) {
        return fail(p, WG_ENOMEM, "out of memory");
    }
    /* convert first: a bad line emits nothing, not even its begin */
    for (size_t j = 0; j < p->ncols; j++) {
        p->cells[j].t = WG_V_NULL;
        p->cells[j].s = NULL;
    }
    for (size_t i = 0; i < p->npairs; i++) {
        int j = p->map[i];
        if (j >= 0 && cell(p, &p->pairs[i], p->cols[j].name, &p->cells[j]) != WG_OK) {
            return p->err;
        }
    }
    if (newtab) {
        free(p->meas);
        p->meas = meas ? wg_strdup(meas) : NULL;
        if (meas && !p->meas) {
            return fail(p, WG_ENOMEM, "out of memory");
        }
        p->in_table = 1;
        if (p->sink.begin &&
            p->sink.begin(p->sink.ud, "0", p->meas, NULL, 0, p->cols, p->ncols) != 0) {
            return fail(p, WG_EINVAL, "the sink aborted the parse");
        }
    }
    if (p->sink.row && p->sink.row(p->sink.ud, p->cells, p->ncols) != 0) {
        return fail(p, WG_EINVAL, "the sink aborted the parse");
    }
    return WG_OK;
}

/* ---- the byte stream -------------------------------------------------------------------- */

static enum wg_err jl_feed(void *st, const char *buf, size_t len)
{
    struct jl *p = st;
    const char *cur = buf, *end = buf + len;
    if (p->err != WG_OK) {
        return p->err;
    }
    while (cur < end) {
        const char *nl = memchr(cur, '\n', (size_t)(end - cur));
        size_t n = nl ? (size_t)(nl - cur) : (size_t)(end - cur);
        if (p->llen + n > JL_MAX_LINE) {
            p->lineno++;
            return fail(p, WG_ETOOBIG, "longer than %zu bytes", JL_MAX_LINE);
        }
        if (!nl || p->llen > 0) {
            if (grow((void **)&p->line, &p->lcap, p->llen + n + 1, 1)) {
                return fail(p, WG_ENOMEM, "out of memory");
            }
            memcpy(p->line + p->llen, cur, n);
            p->llen += n;
            if (!nl) {
                break;
            }
            size_t ln = p->llen;
            p->llen = 0;
            if (on_line(p, p->line, ln) != WG_OK) {
                return p->err;
            }
        } else if (on_line(p, cur, n) != WG_OK) {
            return p->err;
        }
        cur = nl + 1;
    }
    return p->err;
}

static enum wg_err jl_finish(void *st)
{
    struct jl *p = st;
    if (p->err == WG_OK && p->llen > 0) {
        /* every line ends with '\n' on the wire: one without it was cut */
        size_t k = 0;
        while (k < p->llen && (p->line[k] == ' ' || p->line[k] == '\t' || p->line[k] == '\r')) {
            k++;
        }
        p->lineno++;
        if (k < p->llen) {
            return fail(p, WG_EPARSE, "truncated answer: the last line has no line break");
        }
    }
    return p->err;
}

static const char *jl_error(const void *st)
{
    return ((const struct jl *)st)->msg;
}

static void jl_free(void *st)
{
    struct jl *p = st;
    if (!p) {
        return;
    }
    cols_clear(p);
    free(p->cols);
    free(p->cells);
    free(p->map);
    free(p->stamp);
    free(p->meas);
    free(p->line);
    free(p->arena);
    free(p->pairs);
    free(p);
}

static const struct wg__parser_ops jl_ops = {jl_feed, jl_finish, jl_error, jl_free, NULL};

enum wg_err wg__jsonl_new(const struct wg_sink *sink, void **st, const struct wg__parser_ops **ops)
{
    *st = NULL;
    struct jl *p = calloc(1, sizeof(*p));
    if (!p) {
        return WG_ENOMEM;
    }
    if (sink) {
        p->sink = *sink;
    }
    *st = p;
    *ops = &jl_ops;
    return WG_OK;
}

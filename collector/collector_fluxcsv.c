/* collector_fluxcsv.c — streaming parser for Flux annotated CSV (InfluxDB 2.x and 1.8+
 * /api/v2/query). Fed arbitrary byte splits from libcurl's write callback, it cuts RFC 4180
 * records (CRLF or LF, quoted fields with commas, doubled quotes and newlines), tracks the
 * annotation/header blocks and hands each table to a wg_sink: begin once per (result, table),
 * row once per data row. An error table in the body ends the parse with WG_EQUERY.
 *
 * Decisions (see tests/unit/test_collector_fluxcsv.c for the pinned behaviour):
 * - Columns are addressed by position: 0 = annotation column, 1 = result, 2 = table, 3.. user.
 * - An empty table (its id in #default, no rows) is reported as begin with no rows; its labels
 *   are the group-key values of #default. Nothing is invented: no row is emitted for it.
 * - Labels are the group-key (#group true) user columns except _start and _stop. Without
 *   annotations (no #group) they are every user column except _start, _stop, _time, _value.
 * - Without #datatype every cell is a string, except _value (inferred: long, unsignedLong or
 *   double when it parses as one) and _time/_start/_stop (time when they parse as RFC3339).
 * - An empty cell takes the column's #default; empty again means null. A quoted "" is the same
 *   as an empty cell, as on the wire (the encoder never quotes an empty string).
 * - A malformed typed value (a long that is not one, a bad dateTime) is WG_EPARSE; so are a bare
 *   quote in an unquoted field, a row whose field count differs from the header, and a body
 *   that ends inside a quoted field. Records are capped at FX_MAX_RECORD bytes (WG_ETOOBIG).
 * - A body that is empty, whose last record has no line break, or that ends inside a table
 *   (without the blank line closing every result) was cut: WG_EPARSE, never data.
 * - The labels, columns and cells passed to the sink are valid only during the call.
 */
#include "collector/collector_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FX_MAX_RECORD ((size_t)8 << 20)
#define FX_MAX_COLS 4096

enum fx_state { ST_SCHEMA = 0, ST_ROWS, ST_ERRHDR, ST_DONE };

/* One annotation row kept for the current block: the record's fields, NUL-separated. */
struct fx_ann {
    char *buf;
    size_t *off;
    size_t n;
};

struct fx_col {
    enum wg__fx_ctype t;
    int group, label;
    const char *dflt; /* points into the #default annotation, NULL when empty */
    size_t dlen;
    /* cache of the last converted value of a group-key column (constant within a table) */
    char *last;
    size_t lastlen, lastcap;
    int havelast;
    struct wg_value lastv;
};

/* The current record, split: field i is buf + off[i], len[i] bytes, NUL-terminated. */
struct fx_rec {
    char *buf;
    size_t cap;
    size_t *off, *len;
    size_t n, ncap;
};

struct fx {
    struct wg_sink sink;
    enum fx_state state;
    enum wg_err err; /* sticky once set */
    char msg[1024];
    size_t nrec; /* records seen, for messages */

    /* bytes of an incomplete record carried between feeds, and its quote parity */
    char *carry;
    size_t clen, ccap;
    int cpar;

    struct fx_rec rec;

    /* current block: annotations (index 0 datatype, 1 group, 2 default) and header */
    struct fx_ann ann[3];
    int have[3];
    size_t hdr_n; /* header field count (incl. the 3 meta columns) */
    struct wg_column *cols;
    struct fx_col *fc;
    size_t ncols;
    int pending_empty; /* #default names a table id and no row has come yet */

    /* current table */
    int in_table;
    char *cur_res, *cur_tab;
    size_t cur_res_cap, cur_tab_cap;

    struct wg_value *cells;
    struct wg_label *labels;
};

enum { A_DATATYPE = 0, A_GROUP, A_DEFAULT };

static enum wg_err fail(struct fx *p, enum wg_err e, const char *fmt, ...) WG_PRINTF(3, 4);
static enum wg_err fail(struct fx *p, enum wg_err e, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->msg, sizeof(p->msg), fmt, ap);
    va_end(ap);
    p->err = e;
    p->state = ST_DONE;
    return e;
}

static enum wg_err grow(void **ptr, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap) {
        return WG_OK;
    }
    size_t nc = *cap ? *cap : 16;
    while (nc < need) {
        nc *= 2;
    }
    void *np = realloc(*ptr, nc * elem);
    if (!np) {
        return WG_ENOMEM;
    }
    *ptr = np;
    *cap = nc;
    return WG_OK;
}

/* ---- record splitting ------------------------------------------------------------------- */

static enum wg_err rec_reserve(struct fx *p, size_t bytes, size_t fields)
{
    if (grow((void **)&p->rec.buf, &p->rec.cap, bytes, 1) != WG_OK) {
        return WG_ENOMEM;
    }
    if (fields > p->rec.ncap) {
        size_t nc = p->rec.ncap;
        if (grow((void **)&p->rec.off, &nc, fields, sizeof(size_t)) != WG_OK) {
            return WG_ENOMEM;
        }
        nc = p->rec.ncap;
        if (grow((void **)&p->rec.len, &nc, fields, sizeof(size_t)) != WG_OK) {
            return WG_ENOMEM;
        }
        p->rec.ncap = nc;
    }
    return WG_OK;
}

static enum wg_err rec_push(struct fx *p, size_t off, size_t len)
{
    if (p->rec.n >= FX_MAX_COLS + 3) {
        return fail(p, WG_ETOOBIG, "record %zu has more than %d fields", p->nrec, FX_MAX_COLS);
    }
    if (p->rec.n == p->rec.ncap && rec_reserve(p, p->rec.cap, p->rec.n + 1) != WG_OK) {
        return fail(p, WG_ENOMEM, "out of memory");
    }
    p->rec.off[p->rec.n] = off;
    p->rec.len[p->rec.n] = len;
    p->rec.n++;
    return WG_OK;
}

/* A record without quotes: copy, then cut at each comma. The commas are found a word at a
 * time (the exact zero-byte test of Hacker's Delight on x ^ ",,,,,,,,"): memchr per field
 * costs more than the fields are long. */
static enum wg_err split_plain(struct fx *p, const char *s, size_t n)
{
    size_t maxf = n + 1 < FX_MAX_COLS + 3 ? n + 1 : FX_MAX_COLS + 3;
    if (rec_reserve(p, n + 8, maxf) != WG_OK) {
        return fail(p, WG_ENOMEM, "out of memory");
    }
    char *b = p->rec.buf;
    size_t *off = p->rec.off, *len = p->rec.len;
    size_t nf = 0, start = 0;
    memcpy(b, s, n);
    b[n] = ','; /* sentinel: every field ends at a comma */
    memset(b + n + 1, 0, 7);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    const uint64_t lo7 = UINT64_C(0x7f7f7f7f7f7f7f7f), commas = UINT64_C(0x2c2c2c2c2c2c2c2c);
    for (size_t w = 0; w <= n; w += 8) {
        uint64_t x;
        memcpy(&x, b + w, 8);
        x ^= commas;
        uint64_t m = ~(((x & lo7) + lo7) | x | lo7);
        while (m) {
            size_t pos = w + ((size_t)__builtin_ctzll(m) >> 3);
            m &= m - 1;
#else
    for (size_t pos = 0; pos <= n; pos++) {
        if (b[pos] == ',') {
#endif
            if (nf == maxf) {
                return fail(p, WG_ETOOBIG, "record %zu has more than %d fields", p->nrec,
                            FX_MAX_COLS);
            }
            b[pos] = '\0';
            off[nf] = start;
            len[nf] = pos - start;
            nf++;
            start = pos + 1;
        }
    }
    p->rec.n = nf;
    return WG_OK;
}

/* A record with quotes: RFC 4180 unquoting; CRLF inside quotes becomes LF. */
static enum wg_err split_quoted(struct fx *p, const char *s, size_t n)
{
    if (rec_reserve(p, n + 1, 16) != WG_OK) {
        return fail(p, WG_ENOMEM, "out of memory");
    }
    char *b = p->rec.buf;
    size_t i = 0, o = 0;
    p->rec.n = 0;
    for (;;) {
        size_t start = o;
        if (i < n && s[i] == '"') {
            i++;
            for (;;) {
                if (i >= n) {
                    return fail(p, WG_EPARSE, "record %zu: unterminated quoted field", p->nrec);
                }
                if (s[i] == '"') {
                    if (i + 1 < n && s[i + 1] == '"') {
                        b[o++] = '"';
                        i += 2;
                        continue;
                    }
                    i++;
                    break;
                }
                if (s[i] == '\r' && i + 1 < n && s[i + 1] == '\n') {
                    i++;
                }
                b[o++] = s[i++];
            }
            if (i < n && s[i] != ',') {
                return fail(p, WG_EPARSE, "record %zu: text after a closing quote", p->nrec);
            }
        } else {
            while (i < n && s[i] != ',') {
                if (s[i] == '"') {
                    return fail(p, WG_EPARSE, "record %zu: bare quote in an unquoted field",
                                p->nrec);
                }
                b[o++] = s[i++];
            }
        }
        b[o++] = '\0';
        if (rec_push(p, start, o - 1 - start) != WG_OK) {
            return p->err;
        }
        if (i >= n) {
            return WG_OK;
        }
        i++; /* the comma */
    }
}

#define FIELD(p, i) ((p)->rec.buf + (p)->rec.off[i])
#define FLEN(p, i) ((p)->rec.len[i])

static int field_is(const struct fx *p, size_t i, const char *lit)
{
    size_t l = strlen(lit);
    return i < p->rec.n && p->rec.len[i] == l && memcmp(FIELD(p, i), lit, l) == 0;
}

/* ---- blocks and tables ------------------------------------------------------------------ */

static void ann_clear(struct fx_ann *a)
{
    free(a->buf);
    free(a->off);
    a->buf = NULL;
    a->off = NULL;
    a->n = 0;
}

static const char *ann_get(const struct fx *p, int which, size_t i, size_t *len)
{
    if (!p->have[which] || i >= p->ann[which].n) {
        *len = 0;
        return "";
    }
    const char *s = p->ann[which].buf + p->ann[which].off[i];
    *len = strlen(s);
    return s;
}

static void cols_clear(struct fx *p)
{
    for (size_t j = 0; j < p->ncols; j++) {
        free(p->cols[j].name);
        free(p->cols[j].type);
        free(p->fc[j].last);
    }
    free(p->cols);
    free(p->fc);
    free(p->cells);
    free(p->labels);
    p->cols = NULL;
    p->fc = NULL;
    p->cells = NULL;
    p->labels = NULL;
    p->ncols = 0;
}

static void block_reset(struct fx *p)
{
    for (int k = 0; k < 3; k++) {
        ann_clear(&p->ann[k]);
        p->have[k] = 0;
    }
    p->state = ST_SCHEMA;
    p->pending_empty = 0;
}

static enum wg_err set_key(char **dst, size_t *cap, const char *s, size_t n)
{
    if (grow((void **)dst, cap, n + 1, 1) != WG_OK) {
        return WG_ENOMEM;
    }
    memcpy(*dst, s, n);
    (*dst)[n] = '\0';
    return WG_OK;
}

/* Call begin for a table whose group-key values are raw[j] (user column j). */
static enum wg_err emit_begin(struct fx *p, const char *res, size_t rlen, const char *tab,
                              size_t tlen, const char *const *raw)
{
    if (set_key(&p->cur_res, &p->cur_res_cap, res, rlen) != WG_OK ||
        set_key(&p->cur_tab, &p->cur_tab_cap, tab, tlen) != WG_OK) {
        return fail(p, WG_ENOMEM, "out of memory");
    }
    p->in_table = 1;
    size_t nl = 0;
    for (size_t j = 0; j < p->ncols; j++) {
        p->fc[j].havelast = 0;
        if (p->fc[j].label) {
            p->labels[nl].key = p->cols[j].name;
            p->labels[nl].value = (char *)raw[j];
            nl++;
        }
    }
    if (p->sink.begin && p->sink.begin(p->sink.ud, p->cur_res, NULL, nl ? p->labels : NULL, nl,
                                       p->cols, p->ncols) != 0) {
        return fail(p, WG_EINVAL, "the sink aborted the parse");
    }
    return WG_OK;
}

/* An empty table announced by #default: begin with its group-key defaults, no rows. */
static enum wg_err flush_empty(struct fx *p)
{
    if (!p->pending_empty) {
        return WG_OK;
    }
    p->pending_empty = 0;
    const char **raw = calloc(p->ncols ? p->ncols : 1, sizeof(*raw));
    if (!raw) {
        return fail(p, WG_ENOMEM, "out of memory");
    }
    for (size_t j = 0; j < p->ncols; j++) {
        raw[j] = p->fc[j].dflt ? p->fc[j].dflt : "";
    }
    size_t rl, tl;
    const char *r = ann_get(p, A_DEFAULT, 1, &rl);
    const char *t = ann_get(p, A_DEFAULT, 2, &tl);
    enum wg_err e = emit_begin(p, r, rl, t, tl, raw);
    free(raw);
    return e;
}

static enum wg_err on_annotation(struct fx *p)
{
    if (p->state == ST_ROWS) {
        /* a new block without the blank line: some producers do that */
        if (flush_empty(p) != WG_OK) {
            return p->err;
        }
        block_reset(p);
    } else if (p->state == ST_ERRHDR) {
        return fail(p, WG_EPARSE, "record %zu: annotation where the error message belongs",
                    p->nrec);
    }
    int which;
    if (field_is(p, 0, "#datatype")) {
        which = A_DATATYPE;
    } else if (field_is(p, 0, "#group")) {
        which = A_GROUP;
    } else if (field_is(p, 0, "#default")) {
        which = A_DEFAULT;
    } else {
        return WG_OK; /* unknown annotations are ignored */
    }
    struct fx_ann *a = &p->ann[which];
    ann_clear(a);
    size_t used = p->rec.off[p->rec.n - 1] + p->rec.len[p->rec.n - 1] + 1;
    a->buf = malloc(used);
    a->off = malloc(p->rec.n * sizeof(size_t));
    if (!a->buf || !a->off) {
        return fail(p, WG_ENOMEM, "out of memory");
    }
    memcpy(a->buf, p->rec.buf, used);
    memcpy(a->off, p->rec.off, p->rec.n * sizeof(size_t));
    a->n = p->rec.n;
    p->have[which] = 1;
    return WG_OK;
}

static int is_bound(const char *name)
{
    return strcmp(name, "_start") == 0 || strcmp(name, "_stop") == 0;
}

static enum wg_err on_header(struct fx *p)
{
    if (field_is(p, 1, "error")) {
        p->state = ST_ERRHDR;
        return WG_OK;
    }
    size_t n = p->rec.n;
    if (n < 3) {
        return fail(p, WG_EPARSE, "record %zu: header has %zu fields, want result and table",
                    p->nrec, n);
    }
    static const char *const aname[3] = {"#datatype", "#group", "#default"};
    for (int k = 0; k < 3; k++) {
        if (p->have[k] && p->ann[k].n != n) {
            return fail(p, WG_EPARSE, "record %zu: %s has %zu fields, the header %zu", p->nrec,
                        aname[k], p->ann[k].n, n);
        }
    }
    cols_clear(p);
    size_t nc = n - 3;
    p->cols = calloc(nc ? nc : 1, sizeof(*p->cols));
    p->fc = calloc(nc ? nc : 1, sizeof(*p->fc));
    p->cells = calloc(nc ? nc : 1, sizeof(*p->cells));
    p->labels = calloc(nc ? nc : 1, sizeof(*p->labels));
    if (!p->cols || !p->fc || !p->cells || !p->labels) {
        return fail(p, WG_ENOMEM, "out of memory");
    }
    p->ncols = nc;
    int typed = p->have[A_DATATYPE];
    for (size_t j = 0; j < nc; j++) {
        size_t l;
        struct fx_col *c = &p->fc[j];
        p->cols[j].name = wg_strndup(FIELD(p, j + 3), FLEN(p, j + 3));
        const char *dt = ann_get(p, A_DATATYPE, j + 3, &l);
        p->cols[j].type = typed ? wg_strndup(dt, l) : NULL;
        if (!p->cols[j].name || (typed && !p->cols[j].type)) {
            return fail(p, WG_ENOMEM, "out of memory");
        }
        const char *name = p->cols[j].name;
        if (typed) {
            c->t = wg__fx_ctype_of(dt);
        } else if (strcmp(name, "_value") == 0) {
            c->t = WG__CT_GUESS_NUM;
        } else if (is_bound(name) || strcmp(name, "_time") == 0) {
            c->t = WG__CT_GUESS_TIME;
        } else {
            c->t = WG__CT_STRING;
        }
        const char *g = ann_get(p, A_GROUP, j + 3, &l);
        c->group = l == 4 && memcmp(g, "true", 4) == 0;
        if (p->have[A_GROUP]) {
            c->label = c->group && !is_bound(name);
        } else {
            c->label = !is_bound(name) && strcmp(name, "_time") != 0 && strcmp(name, "_value") != 0;
        }
        const char *d = ann_get(p, A_DEFAULT, j + 3, &l);
        c->dflt = l ? d : NULL;
        c->dlen = l;
    }
    size_t tl;
    ann_get(p, A_DEFAULT, 2, &tl);
    p->pending_empty = tl > 0;
    p->in_table = 0; /* a new block always starts a new table */
    p->state = ST_ROWS;
    return WG_OK;
}

static enum wg_err on_error_row(struct fx *p)
{
    const char *m = p->rec.n > 1 ? FIELD(p, 1) : "";
    const char *r = p->rec.n > 2 ? FIELD(p, 2) : "";
    if (!*m) {
        m = "query error (the server sent no message)";
    }
    if (*r) {
        return fail(p, WG_EQUERY, "%s (reference %s)", m, r);
    }
    return fail(p, WG_EQUERY, "%s", m);
}

static enum wg_err on_data(struct fx *p)
{
    if (p->rec.n != p->hdr_n) {
        if (field_is(p, 1, "error") && field_is(p, 2, "reference")) {
            p->state = ST_ERRHDR; /* an error block without the blank line before it */
            return WG_OK;
        }
        return fail(p, WG_EPARSE, "record %zu: %zu fields, the header has %zu", p->nrec, p->rec.n,
                    p->hdr_n);
    }
    size_t rl = FLEN(p, 1), tl = FLEN(p, 2);
    const char *r = FIELD(p, 1), *t = FIELD(p, 2);
    if (!rl) {
        r = ann_get(p, A_DEFAULT, 1, &rl);
    }
    if (!tl) {
        t = ann_get(p, A_DEFAULT, 2, &tl);
    }
    p->pending_empty = 0;
    const size_t nc = p->ncols;
    int newtab = !p->in_table || strcmp(p->cur_res, r) != 0 || strcmp(p->cur_tab, t) != 0;
    if (newtab) {
        const char **vals = calloc(nc ? nc : 1, sizeof(*vals));
        if (!vals) {
            return fail(p, WG_ENOMEM, "out of memory");
        }
        for (size_t j = 0; j < nc; j++) {
            vals[j] = FLEN(p, j + 3) ? FIELD(p, j + 3) : (p->fc[j].dflt ? p->fc[j].dflt : "");
        }
        enum wg_err e = emit_begin(p, r, rl, t, tl, vals);
        free(vals);
        if (e != WG_OK) {
            return e;
        }
    }
    for (size_t j = 0; j < nc; j++) {
        struct fx_col *c = &p->fc[j];
        const char *s = FIELD(p, j + 3);
        size_t l = FLEN(p, j + 3);
        if (!l) {
            s = c->dflt;
            l = c->dlen;
        }
        struct wg_value *v = &p->cells[j];
        if (!l) {
            v->t = WG_V_NULL;
            v->s = NULL;
            continue;
        }
        if (c->t == WG__CT_STRING) {
            v->t = WG_V_STRING;
            v->s = (char *)s;
            continue;
        }
        /* group-key values repeat on every row of a table: convert them once */
        if (c->group && c->havelast && c->lastlen == l && memcmp(c->last, s, l) == 0) {
            *v = c->lastv;
            if (v->t == WG_V_STRING) {
                v->s = (char *)s;
            }
            continue;
        }
        if (wg__fx_convert(c->t, s, l, v) != WG_OK) {
            return fail(p, WG_EPARSE, "record %zu: column %s: bad %s value \"%.64s\"", p->nrec,
                        p->cols[j].name, wg__fx_ctype_name(c->t), s);
        }
        if (c->group) {
            if (grow((void **)&c->last, &c->lastcap, l, 1) != WG_OK) {
                return fail(p, WG_ENOMEM, "out of memory");
            }
            memcpy(c->last, s, l);
            c->lastlen = l;
            c->lastv = *v;
            c->havelast = 1;
        }
    }
    if (p->sink.row && p->sink.row(p->sink.ud, p->cells, nc) != 0) {
        return fail(p, WG_EINVAL, "the sink aborted the parse");
    }
    return WG_OK;
}

/* One complete record (without its line end). */
static enum wg_err on_record(struct fx *p, const char *s, size_t n, int quoted)
{
    p->nrec++;
    if (n > 0 && s[n - 1] == '\r') {
        n--;
    }
    if (n == 0) { /* blank line: end of a block (or of a result) */
        if (p->state == ST_ROWS) {
            if (flush_empty(p) != WG_OK) {
                return p->err;
            }
            block_reset(p);
        }
        return WG_OK;
    }
    enum wg_err e = quoted ? split_quoted(p, s, n) : split_plain(p, s, n);
    if (e != WG_OK) {
        return e;
    }
    if (FLEN(p, 0) > 0 && FIELD(p, 0)[0] == '#') {
        return on_annotation(p);
    }
    switch (p->state) {
    case ST_SCHEMA:
        p->hdr_n = p->rec.n;
        return on_header(p);
    case ST_ROWS:
        return on_data(p);
    case ST_ERRHDR:
        return on_error_row(p);
    default:
        return p->err;
    }
}

/* ---- the byte stream -------------------------------------------------------------------- */

static int quote_parity(const char *s, const char *e)
{
    int par = 0;
    while ((s = memchr(s, '"', (size_t)(e - s))) != NULL) {
        par ^= 1;
        s++;
    }
    return par;
}

static enum wg_err carry_add(struct fx *p, const char *s, size_t n)
{
    if (p->clen + n > FX_MAX_RECORD) {
        return fail(p, WG_ETOOBIG, "record %zu is longer than %zu bytes", p->nrec + 1,
                    FX_MAX_RECORD);
    }
    if (grow((void **)&p->carry, &p->ccap, p->clen + n, 1) != WG_OK) {
        return fail(p, WG_ENOMEM, "out of memory");
    }
    memcpy(p->carry + p->clen, s, n);
    p->clen += n;
    return WG_OK;
}

static enum wg_err fx_feed(void *st, const char *buf, size_t len)
{
    struct fx *p = st;
    const char *cur = buf, *end = buf + len;
    if (p->err != WG_OK) {
        return p->err;
    }
    /* finish the record carried over from the previous feed */
    while (p->clen > 0 && cur < end) {
        const char *nl = memchr(cur, '\n', (size_t)(end - cur));
        const char *se = nl ? nl + 1 : end;
        p->cpar ^= quote_parity(cur, se);
        if (carry_add(p, cur, (size_t)(se - cur)) != WG_OK) {
            return p->err;
        }
        cur = se;
        if (nl && !p->cpar) {
            int q = memchr(p->carry, '"', p->clen) != NULL;
            size_t n = p->clen - 1; /* without the '\n' */
            p->clen = 0;
            if (on_record(p, p->carry, n, q) != WG_OK) {
                return p->err;
            }
        }
    }
    while (cur < end) {
        const char *nl = memchr(cur, '\n', (size_t)(end - cur));
        if (!nl) {
            p->cpar = quote_parity(cur, end);
            return carry_add(p, cur, (size_t)(end - cur));
        }
        if ((size_t)(nl - cur) >= FX_MAX_RECORD) {
            return fail(p, WG_ETOOBIG, "record %zu is longer than %zu bytes", p->nrec + 1,
                        FX_MAX_RECORD);
        }
        if (!memchr(cur, '"', (size_t)(nl - cur))) {
            if (on_record(p, cur, (size_t)(nl - cur), 0) != WG_OK) {
                return p->err;
            }
            cur = nl + 1;
            continue;
        }
        /* quoted fields may hold newlines: the record ends at the first even-parity one */
        int par = quote_parity(cur, nl);
        while (par) {
            const char *nx = memchr(nl + 1, '\n', (size_t)(end - (nl + 1)));
            if (!nx) {
                p->cpar = quote_parity(cur, end);
                return carry_add(p, cur, (size_t)(end - cur));
            }
            par ^= quote_parity(nl + 1, nx);
            nl = nx;
        }
        if ((size_t)(nl - cur) >= FX_MAX_RECORD) {
            return fail(p, WG_ETOOBIG, "record %zu is longer than %zu bytes", p->nrec + 1,
                        FX_MAX_RECORD);
        }
        if (on_record(p, cur, (size_t)(nl - cur), 1) != WG_OK) {
            return p->err;
        }
        cur = nl + 1;
    }
    return p->err;
}

/* InfluxDB's encoder ends every row with a line break and every result (even one without
 * tables: the body is then "\r\n") with a blank line, so a body that stops anywhere else was
 * cut: never data (tests/unit/test_collector_fluxcsv.c, "truncated" cases). */
static enum wg_err fx_finish(void *st)
{
    struct fx *p = st;
    if (p->err != WG_OK) {
        return p->err;
    }
    if (p->clen > 0) {
        if (p->cpar) {
            return fail(p, WG_EPARSE, "the body ended inside a quoted field (record %zu)",
                        p->nrec + 1);
        }
        if (p->state != ST_ERRHDR) {
            return fail(p, WG_EPARSE,
                        "truncated answer: record %zu has no line break (the body was cut)",
                        p->nrec + 1);
        }
        /* the error message row: after it nothing is sent, its line end may be missing */
        size_t n = p->clen;
        p->clen = 0;
        if (on_record(p, p->carry, n, memchr(p->carry, '"', n) != NULL) != WG_OK) {
            return p->err;
        }
    }
    if (p->state == ST_ERRHDR) {
        return fail(p, WG_EQUERY, "query error (the body ended before the message)");
    }
    if (p->state == ST_ROWS) {
        return fail(p, WG_EPARSE,
                    "truncated answer: the body ended inside a table, without the blank line "
                    "that ends every result");
    }
    if (p->state == ST_SCHEMA && (p->have[0] || p->have[1] || p->have[2])) {
        return fail(p, WG_EPARSE, "the body ended after annotations without a header");
    }
    if (p->nrec == 0) {
        return fail(p, WG_EPARSE,
                    "empty body (a Flux answer ends with a blank line, even without tables)");
    }
    p->state = ST_DONE;
    return WG_OK;
}

static const char *fx_error(const void *st)
{
    const struct fx *p = st;
    return p->msg;
}

static void fx_free(void *st)
{
    struct fx *p = st;
    if (!p) {
        return;
    }
    block_reset(p);
    cols_clear(p);
    free(p->carry);
    free(p->rec.buf);
    free(p->rec.off);
    free(p->rec.len);
    free(p->cur_res);
    free(p->cur_tab);
    free(p);
}

static const struct wg__parser_ops fx_ops = {fx_feed, fx_finish, fx_error, fx_free, NULL};

enum wg_err wg__fluxcsv_new(const struct wg_sink *sink, void **st,
                            const struct wg__parser_ops **ops)
{
    *st = NULL;
    struct fx *p = calloc(1, sizeof(*p));
    if (!p) {
        return WG_ENOMEM;
    }
    if (sink) {
        p->sink = *sink;
    }
    *st = p;
    *ops = &fx_ops;
    return WG_OK;
}

/* collector_influxql.c — streaming parser of InfluxDB /query JSON ({"results":[...]}, and the
 * chunked form: top-level objects back to back). A hand-written incremental tokenizer (any byte
 * split; only a token cut by a feed boundary is copied) drives a small state machine over the
 * response shape, merges consecutive pieces of one series and feeds rows to a wg_sink.
 * Server errors in the body (per statement or top-level) become WG_EQUERY.
 */
#include "collector/collector_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DEPTH 64
#define MAX_TOKEN ((size_t)16 << 20)

enum expect { E_VALUE, E_VALUE_OR_END, E_KEY_OR_END, E_KEY, E_COLON, E_COMMA_OR_END };
enum ctx {
    X_SKIP,
    X_TOP,
    X_RESULTS,
    X_RESULT,
    X_SERIES_ARR,
    X_SERIES,
    X_TAGS,
    X_COLUMNS,
    X_VALUES,
    X_ROW
};
enum key {
    K_OTHER,
    K_RESULTS,
    K_ERROR,
    K_STATEMENT_ID,
    K_SERIES,
    K_NAME,
    K_TAGS,
    K_COLUMNS,
    K_VALUES,
    K_PARTIAL
};
enum tok { T_STRING, T_NUMBER, T_TRUE, T_FALSE, T_NULL };

struct iq {
    struct wg_sink sink;
    enum wg_err err;
    char msg[512];
    /* tokenizer */
    enum expect expect;
    int depth;
    char kind[MAX_DEPTH]; /* '{' or '[' */
    unsigned char ctx[MAX_DEPTH];
    int ntop;              /* top-level values completed */
    char carry_kind;       /* 0, '"' (string) or 'b' (bare: number or literal) */
    int carry_esc;         /* string carry ended on an unescaped backslash */
    struct wg_buf carry;   /* the token cut by the end of the previous feed */
    struct wg_buf scratch; /* unescaped strings */
    /* shape */
    enum key key;         /* key of the value being read in X_TOP/X_RESULT/X_SERIES */
    struct wg_buf tagkey; /* the key of the tag being read */
    int64_t stmt;
    char stmt_txt[24];
    int64_t nstmt;                  /* statements sent (0: not known, ids not checked) */
    int64_t last_stmt;              /* statement id of the last result closed, -1 before */
    int res_partial;                /* this result says "partial": true ... */
    int ser_partial;                /* ... or its last series does */
    int open_partial;               /* the last result closed was partial: more must follow */
    struct wg_buf name, tags, cols; /* current series piece: NUL-separated strings */
    int have_name, values_seen, began;
    size_t ntags, ncols;
    struct wg_buf id, prev_id; /* series identity: statement, name, tags, columns */
    int tcol;
    struct wg_label *labels;
    struct wg_column *colv;
    size_t labcap, colcap;
    /* row */
    struct wg_value *cells;
    size_t *soff;
    size_t ncell, cellcap;
    struct wg_buf rowbuf;
    struct wg__time_cache tcache; /* the day of the last time value */
};

static enum wg_err fail(struct iq *p, enum wg_err e, const char *fmt, ...) WG_PRINTF(3, 4);
static enum wg_err fail(struct iq *p, enum wg_err e, const char *fmt, ...)
{
    if (p->err == WG_OK) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(p->msg, sizeof(p->msg), fmt, ap);
        va_end(ap);
        p->err = e;
    }
    return p->err;
}

static enum key key_id(const char *s, size_t n)
{
#define K(lit, id)                                                                                 \
    if (n == sizeof(lit) - 1 && memcmp(s, lit, n) == 0) {                                          \
        return id;                                                                                 \
    }
    K("values", K_VALUES)
    K("name", K_NAME)
    K("tags", K_TAGS)
    K("columns", K_COLUMNS)
    K("series", K_SERIES)
    K("statement_id", K_STATEMENT_ID)
    K("results", K_RESULTS)
    K("error", K_ERROR)
    K("partial", K_PARTIAL)
#undef K
    return K_OTHER;
}

/* ---- series identity and begin ------------------------------------------------------------ */

static enum wg_err strlist_add(struct wg_buf *b, const char *s, size_t n)
{
    enum wg_err e = wg_buf_add(b, s, n);
    return e ? e : wg_buf_add(b, "", 1);
}

static void series_reset(struct iq *p)
{
    wg_buf_reset(&p->name);
    wg_buf_reset(&p->tags);
    wg_buf_reset(&p->cols);
    p->have_name = p->values_seen = 0;
    p->ntags = p->ncols = 0;
}

static enum wg_err grow(void **v, size_t *cap, size_t need, size_t sz)
{
    if (need <= *cap) {
        return WG_OK;
    }
    size_t nc = *cap ? *cap : 8;
    while (nc < need) {
        nc *= 2;
    }
    void *nv = realloc(*v, nc * sz);
    if (!nv) {
        return WG_ENOMEM;
    }
    *v = nv;
    *cap = nc;
    return WG_OK;
}

/* Called when a series piece's values start (or it ends without values): a begin for the sink
 * unless it continues the previous piece (same statement, name, tags and columns). */
static enum wg_err series_open(struct iq *p)
{
    struct wg_buf *id = &p->id;
    wg_buf_reset(id);
    if (wg_buf_add(id, &p->stmt, sizeof(p->stmt)) || wg_buf_add(id, &p->have_name, 1) ||
        wg_buf_add(id, p->name.p ? p->name.p : "", p->name.len) || wg_buf_add(id, "\x01", 1) ||
        wg_buf_add(id, p->tags.p ? p->tags.p : "", p->tags.len) || wg_buf_add(id, "\x01", 1) ||
        wg_buf_add(id, p->cols.p ? p->cols.p : "", p->cols.len)) {
        return fail(p, WG_ENOMEM, "out of memory");
    }
    if (p->began && id->len == p->prev_id.len && memcmp(id->p, p->prev_id.p, id->len) == 0) {
        return WG_OK;
    }
    struct wg_buf t = p->prev_id;
    p->prev_id = p->id;
    p->id = t;
    p->began = 1;
    if (grow((void **)&p->labels, &p->labcap, p->ntags + 1, sizeof(*p->labels)) ||
        grow((void **)&p->colv, &p->colcap, p->ncols + 1, sizeof(*p->colv))) {
        return fail(p, WG_ENOMEM, "out of memory");
    }
    const char *s = p->tags.p;
    for (size_t i = 0; i < p->ntags; i++) {
        p->labels[i].key = (char *)s;
        s += strlen(s) + 1;
        p->labels[i].value = (char *)s;
        s += strlen(s) + 1;
    }
    s = p->cols.p;
    p->tcol = -1;
    for (size_t i = 0; i < p->ncols; i++) {
        p->colv[i].name = (char *)s;
        p->colv[i].type = NULL;
        if (p->tcol < 0 && strcmp(s, "time") == 0) {
            p->tcol = (int)i;
        }
        s += strlen(s) + 1;
    }
    snprintf(p->stmt_txt, sizeof(p->stmt_txt), "%lld", (long long)p->stmt);
    if (p->sink.begin && p->sink.begin(p->sink.ud, p->stmt_txt, p->have_name ? p->name.p : NULL,
                                       p->labels, p->ntags, p->colv, p->ncols)) {
        return fail(p, WG_EINVAL, "stopped by the consumer");
    }
    return WG_OK;
}

/* ---- rows --------------------------------------------------------------------------------- */

static enum wg_err cell_add(struct iq *p, enum tok t, const char *s, size_t n)
{
    if (p->ncell == p->cellcap) {
        size_t nc = p->cellcap ? p->cellcap * 2 : 16;
        struct wg_value *nv = realloc(p->cells, nc * sizeof(*nv));
        if (!nv) {
            return fail(p, WG_ENOMEM, "out of memory");
        }
        p->cells = nv;
        size_t *no = realloc(p->soff, nc * sizeof(*no));
        if (!no) {
            return fail(p, WG_ENOMEM, "out of memory");
        }
        p->soff = no;
        p->cellcap = nc;
    }
    struct wg_value *v = &p->cells[p->ncell];
    int is_time = (int)p->ncell == p->tcol;
    v->s = NULL;
    switch (t) {
    case T_NULL:
        v->t = WG_V_NULL;
        break;
    case T_TRUE:
    case T_FALSE:
        v->t = WG_V_BOOL;
        v->u.b = t == T_TRUE;
        break;
    case T_NUMBER:
        if (wg__json_number(s, n, v) != WG_OK) {
            return fail(p, WG_EPARSE, "malformed number '%.*s'", (int)(n < 40 ? n : 40), s);
        }
        if (is_time && v->t == WG_V_INT) {
            v->t = WG_V_TIME; /* epoch=ns */
            v->u.time = v->u.i;
        }
        break;
    case T_STRING:
        if (is_time && (wg__json_fast_time(&p->tcache, s, n, &v->u.time) == WG_OK ||
                        wg_time_parse(s, n, &v->u.time) == WG_OK)) {
            v->t = WG_V_TIME;
            break;
        }
        v->t = WG_V_STRING;
        p->soff[p->ncell] = p->rowbuf.len;
        if (strlist_add(&p->rowbuf, s, n)) {
            return fail(p, WG_ENOMEM, "out of memory");
        }
        break;
    }
    p->ncell++;
    return WG_OK;
}

static enum wg_err row_end(struct iq *p)
{
    if (p->ncell != p->ncols) {
        return fail(p, WG_EPARSE, "a row has %zu values but the series has %zu columns", p->ncell,
                    p->ncols);
    }
    for (size_t i = 0; i < p->ncell; i++) {
        if (p->cells[i].t == WG_V_STRING) {
            p->cells[i].s = p->rowbuf.p + p->soff[i];
        }
    }
    if (p->sink.row && p->sink.row(p->sink.ud, p->cells, p->ncell)) {
        return fail(p, WG_EINVAL, "stopped by the consumer");
    }
    return WG_OK;
}

/* ---- shape: what each container and scalar means ------------------------------------------ */

static enum wg_err sem_open(struct iq *p, char kind)
{
    enum ctx parent = p->depth > 1 ? (enum ctx)p->ctx[p->depth - 2] : X_SKIP;
    enum ctx c = X_SKIP;
    if (p->depth == 1) {
        if (kind != '{') {
            return fail(p, WG_EPARSE, "expected a JSON object at the top level");
        }
        c = X_TOP;
    } else {
        switch (parent) {
        case X_TOP:
            c = p->key == K_RESULTS && kind == '[' ? X_RESULTS : X_SKIP;
            break;
        case X_RESULTS:
            if (kind == '{') {
                c = X_RESULT;
                p->res_partial = p->ser_partial = 0;
            }
            break;
        case X_RESULT:
            c = p->key == K_SERIES && kind == '[' ? X_SERIES_ARR : X_SKIP;
            break;
        case X_SERIES_ARR:
            if (kind == '{') {
                c = X_SERIES;
                series_reset(p);
                p->ser_partial = 0;
            }
            break;
        case X_SERIES:
            if (p->values_seen && (p->key == K_TAGS || p->key == K_COLUMNS)) {
                return fail(p, WG_EPARSE, "series keys after \"values\" are not supported");
            }
            if (p->key == K_TAGS && kind == '{') {
                c = X_TAGS;
                wg_buf_reset(&p->tags);
                p->ntags = 0;
            } else if (p->key == K_COLUMNS && kind == '[') {
                c = X_COLUMNS;
                wg_buf_reset(&p->cols);
                p->ncols = 0;
            } else if (p->key == K_VALUES && kind == '[') {
                c = X_VALUES;
                p->values_seen = 1;
                if (series_open(p)) {
                    return p->err;
                }
            }
            break;
        case X_VALUES:
            if (kind != '[') {
                return fail(p, WG_EPARSE, "a row of \"values\" is not an array");
            }
            c = X_ROW;
            p->ncell = 0;
            wg_buf_reset(&p->rowbuf);
            break;
        case X_ROW:
            return fail(p, WG_EPARSE, "nested value in a row of \"values\"");
        default:
            break;
        }
    }
    p->ctx[p->depth - 1] = (unsigned char)c;
    return WG_OK;
}

/* A result ends: its statement must be one that was sent, in order; remember whether it (or
 * its last series) said more is coming (chunked answers: "partial": true). */
static enum wg_err result_close(struct iq *p)
{
    if (p->nstmt > 0 && (p->stmt < 0 || p->stmt >= p->nstmt)) {
        return fail(p, WG_EPARSE,
                    "the answer is for statement_id %lld, but the query sent has "
                    "%lld statement%s (ids 0 to %lld)",
                    (long long)p->stmt, (long long)p->nstmt, p->nstmt == 1 ? "" : "s",
                    (long long)p->nstmt - 1);
    }
    if (p->stmt < p->last_stmt || (p->open_partial && p->stmt != p->last_stmt)) {
        return fail(p, WG_EPARSE, "statement_id %lld after statement %lld%s", (long long)p->stmt,
                    (long long)p->last_stmt, p->open_partial ? " was still partial" : "");
    }
    p->last_stmt = p->stmt;
    p->open_partial = p->res_partial || p->ser_partial;
    return WG_OK;
}

static enum wg_err sem_close(struct iq *p)
{
    switch ((enum ctx)p->ctx[p->depth - 1]) {
    case X_ROW:
        return row_end(p);
    case X_RESULT:
        return result_close(p);
    case X_SERIES:
        if (!p->values_seen) {
            return series_open(p);
        }
        return WG_OK;
    default:
        return WG_OK;
    }
}

static enum wg_err sem_key(struct iq *p, const char *s, size_t n)
{
    switch ((enum ctx)p->ctx[p->depth - 1]) {
    case X_TOP:
    case X_RESULT:
    case X_SERIES:
        p->key = key_id(s, n);
        return WG_OK;
    case X_TAGS:
        wg_buf_reset(&p->tagkey);
        if (wg_buf_add(&p->tagkey, s, n) || wg_buf_add(&p->tagkey, "", 0)) {
            return fail(p, WG_ENOMEM, "out of memory");
        }
        return WG_OK;
    default:
        return WG_OK;
    }
}

static enum wg_err sem_scalar(struct iq *p, enum tok t, const char *s, size_t n)
{
    if (p->depth == 0) {
        return fail(p, WG_EPARSE, "expected a JSON object at the top level");
    }
    switch ((enum ctx)p->ctx[p->depth - 1]) {
    case X_ROW:
        return cell_add(p, t, s, n);
    case X_TOP:
    case X_RESULT:
        if (p->key == K_ERROR && t == T_STRING) {
            return fail(p, WG_EQUERY, "%.*s", (int)(n < 480 ? n : 480), s);
        }
        if (p->key == K_STATEMENT_ID && p->ctx[p->depth - 1] == X_RESULT) {
            struct wg_value v;
            if (t != T_NUMBER || wg__json_number(s, n, &v) != WG_OK || v.t != WG_V_INT) {
                return fail(p, WG_EPARSE, "statement_id is not an integer");
            }
            p->stmt = v.u.i;
        }
        if (p->key == K_PARTIAL && p->ctx[p->depth - 1] == X_RESULT) {
            p->res_partial = t == T_TRUE;
        }
        return WG_OK;
    case X_SERIES:
        if (p->key == K_PARTIAL) {
            p->ser_partial = t == T_TRUE;
        }
        if (p->key == K_NAME && t == T_STRING) {
            if (p->values_seen) {
                return fail(p, WG_EPARSE, "series keys after \"values\" are not supported");
            }
            wg_buf_reset(&p->name);
            if (wg_buf_add(&p->name, s, n) || wg_buf_add(&p->name, "", 0)) {
                return fail(p, WG_ENOMEM, "out of memory");
            }
            p->have_name = 1;
        }
        return WG_OK;
    case X_TAGS:
        if (t == T_STRING || t == T_NULL) {
            if (strlist_add(&p->tags, p->tagkey.p, p->tagkey.len) ||
                strlist_add(&p->tags, s, t == T_STRING ? n : 0)) {
                return fail(p, WG_ENOMEM, "out of memory");
            }
            p->ntags++;
        }
        return WG_OK;
    case X_COLUMNS:
        if (t == T_STRING) {
            if (strlist_add(&p->cols, s, n)) {
                return fail(p, WG_ENOMEM, "out of memory");
            }
            p->ncols++;
        }
        return WG_OK;
    default:
        return WG_OK;
    }
}

/* ---- tokenizer ---------------------------------------------------------------------------- */

static inline void after_value(struct iq *p)
{
    if (p->depth == 0) {
        p->ntop++;
        p->expect = E_VALUE;
    } else {
        p->expect = E_COMMA_OR_END;
    }
}

static enum wg_err bad(struct iq *p, char c)
{
    if (c >= 0x20 && c < 0x7f) {
        return fail(p, WG_EPARSE, "malformed JSON: unexpected '%c'", c);
    }
    return fail(p, WG_EPARSE, "malformed JSON: unexpected byte 0x%02x", (unsigned char)c);
}

/* A complete string token: s at the opening quote, e just after the closing one. */
static enum wg_err tok_string(struct iq *p, const char *s, const char *e, int has_bs)
{
    const char *str = s + 1;
    size_t n = (size_t)(e - s) - 2;
    if (has_bs) {
        enum wg_err rc = wg__json_unescape(&p->scratch, str, n);
        if (rc == WG_EPARSE) {
            return fail(p, WG_EPARSE, "malformed JSON string escape");
        }
        if (rc != WG_OK) {
            return fail(p, rc, "cannot decode a JSON string: %s", wg_strerror(rc));
        }
        str = p->scratch.p;
        n = p->scratch.len;
    }
    if (p->expect == E_KEY_OR_END || p->expect == E_KEY) {
        p->expect = E_COLON;
        return sem_key(p, str, n);
    }
    if (p->expect != E_VALUE && p->expect != E_VALUE_OR_END) {
        return bad(p, '"');
    }
    if (sem_scalar(p, T_STRING, str, n)) {
        return p->err;
    }
    after_value(p);
    return WG_OK;
}

/* A complete bare token: a number, true, false or null. */
static enum wg_err tok_bare(struct iq *p, const char *s, size_t n)
{
    enum tok t;
    if (p->expect != E_VALUE && p->expect != E_VALUE_OR_END) {
        return bad(p, s[0]);
    }
    if ((s[0] >= '0' && s[0] <= '9') || s[0] == '-') {
        t = T_NUMBER;
    } else if (n == 4 && memcmp(s, "true", 4) == 0) {
        t = T_TRUE;
    } else if (n == 5 && memcmp(s, "false", 5) == 0) {
        t = T_FALSE;
    } else if (n == 4 && memcmp(s, "null", 4) == 0) {
        t = T_NULL;
    } else {
        return fail(p, WG_EPARSE, "malformed JSON: unexpected '%.*s'", (int)(n < 20 ? n : 20), s);
    }
    if (sem_scalar(p, t, s, n)) {
        return p->err;
    }
    after_value(p);
    return WG_OK;
}

static inline int is_bare(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || c == '-' || c == '+' || c == '.' ||
           c == 'E';
}

static enum wg_err carry_start(struct iq *p, char kind, const char *s, size_t n, int esc)
{
    wg_buf_reset(&p->carry);
    if (n > MAX_TOKEN || wg_buf_add(&p->carry, s, n)) {
        return fail(p, WG_EPARSE, "a JSON token is too long");
    }
    p->carry_kind = kind;
    p->carry_esc = esc;
    return WG_OK;
}

/* Complete the token cut at the end of the previous feed; returns bytes of buf consumed. */
static size_t carry_finish(struct iq *p, const char *buf, size_t len)
{
    size_t i = 0;
    if (p->carry_kind == '"') {
        int esc = p->carry_esc;
        for (; i < len; i++) {
            if (esc) {
                esc = 0;
            } else if (buf[i] == '\\') {
                esc = 1;
            } else if (buf[i] == '"') {
                break;
            }
        }
        if (i == len) {
            p->carry_esc = esc;
            if (p->carry.len + len > MAX_TOKEN || wg_buf_add(&p->carry, buf, len)) {
                fail(p, WG_EPARSE, "a JSON string is too long");
            }
            return len;
        }
        i++; /* the closing quote */
        if (wg_buf_add(&p->carry, buf, i)) {
            fail(p, WG_ENOMEM, "out of memory");
            return i;
        }
        p->carry_kind = 0;
        tok_string(p, p->carry.p, p->carry.p + p->carry.len,
                   memchr(p->carry.p, '\\', p->carry.len) != NULL);
        return i;
    }
    while (i < len && is_bare((unsigned char)buf[i])) {
        i++;
    }
    if (p->carry.len + i > 64 * 1024 || wg_buf_add(&p->carry, buf, i)) {
        fail(p, WG_EPARSE, "a JSON number is too long");
        return i;
    }
    if (i == len) {
        return len;
    }
    p->carry_kind = 0;
    tok_bare(p, p->carry.p, p->carry.len);
    return i;
}

static enum wg_err iq_feed(void *st, const char *buf, size_t len)
{
    struct iq *p = st;
    if (p->err) {
        return p->err;
    }
    if (p->carry_kind) {
        size_t used = carry_finish(p, buf, len);
        if (p->err) {
            return p->err;
        }
        buf += used;
        len -= used;
    }
    const char *s = buf, *end = buf + len;
    while (s < end) {
        char c = *s;
        switch (c) {
        case ' ':
        case '\t':
        case '\n':
        case '\r':
            s++;
            continue;
        case '{':
        case '[':
            if (p->expect != E_VALUE && p->expect != E_VALUE_OR_END) {
                return bad(p, c);
            }
            if (p->depth == MAX_DEPTH) {
                return fail(p, WG_EPARSE, "malformed JSON: nesting deeper than %d", MAX_DEPTH);
            }
            p->kind[p->depth++] = c;
            if (sem_open(p, c)) {
                return p->err;
            }
            p->expect = c == '{' ? E_KEY_OR_END : E_VALUE_OR_END;
            s++;
            continue;
        case '}':
        case ']':
            if (p->depth == 0 || p->kind[p->depth - 1] != (c == '}' ? '{' : '[') ||
                (p->expect != E_COMMA_OR_END &&
                 p->expect != (c == '}' ? E_KEY_OR_END : E_VALUE_OR_END))) {
                return bad(p, c);
            }
            if (sem_close(p)) {
                return p->err;
            }
            p->depth--;
            after_value(p);
            s++;
            continue;
        case ',':
            if (p->expect != E_COMMA_OR_END) {
                return bad(p, c);
            }
            p->expect = p->kind[p->depth - 1] == '{' ? E_KEY : E_VALUE;
            s++;
            continue;
        case ':':
            if (p->expect != E_COLON) {
                return bad(p, c);
            }
            p->expect = E_VALUE;
            s++;
            continue;
        case '"': {
            const char *q = memchr(s + 1, '"', (size_t)(end - s - 1));
            if (!q) {
                const char *t = s + 1;
                while (t < end) {
                    t += *t == '\\' ? 2 : 1;
                }
                return carry_start(p, '"', s, (size_t)(end - s), t > end);
            }
            const char *b = memchr(s + 1, '\\', (size_t)(q - s - 1));
            if (b) {
                const char *t = b;
                while (t < end && *t != '"') {
                    t += *t == '\\' ? 2 : 1;
                }
                if (t >= end) {
                    return carry_start(p, '"', s, (size_t)(end - s), t > end);
                }
                q = t;
            }
            if (tok_string(p, s, q + 1, b != NULL)) {
                return p->err;
            }
            s = q + 1;
            continue;
        }
        default: {
            const char *t = s;
            while (t < end && is_bare((unsigned char)*t)) {
                t++;
            }
            if (t == s ||
                !((c >= '0' && c <= '9') || c == '-' || c == 't' || c == 'f' || c == 'n')) {
                return bad(p, c);
            }
            if (t == end) {
                return carry_start(p, 'b', s, (size_t)(t - s), 0);
            }
            if (tok_bare(p, s, (size_t)(t - s))) {
                return p->err;
            }
            s = t;
            continue;
        }
        }
    }
    return WG_OK;
}

static enum wg_err iq_finish(void *st)
{
    struct iq *p = st;
    if (p->err) {
        return p->err;
    }
    if (p->carry_kind || p->depth > 0) {
        return fail(p, WG_EPARSE, "response ended in the middle of a JSON value");
    }
    if (p->ntop == 0) {
        return fail(p, WG_EPARSE, "empty response");
    }
    if (p->open_partial) {
        return fail(p, WG_EPARSE,
                    "truncated answer: the stream ended while statement %lld was still partial",
                    (long long)p->last_stmt);
    }
    if (p->nstmt > 0 && p->last_stmt >= 0 && p->last_stmt < p->nstmt - 1) {
        return fail(p, WG_EPARSE, "truncated answer: no result for statement %lld of %lld",
                    (long long)p->last_stmt + 1, (long long)p->nstmt);
    }
    return WG_OK;
}

static const char *iq_error(const void *st)
{
    const struct iq *p = st;
    return p->err ? p->msg : NULL;
}

static void iq_free(void *st)
{
    struct iq *p = st;
    if (!p) {
        return;
    }
    wg_buf_free(&p->carry);
    wg_buf_free(&p->scratch);
    wg_buf_free(&p->tagkey);
    wg_buf_free(&p->name);
    wg_buf_free(&p->tags);
    wg_buf_free(&p->cols);
    wg_buf_free(&p->id);
    wg_buf_free(&p->prev_id);
    wg_buf_free(&p->rowbuf);
    free(p->labels);
    free(p->colv);
    free(p->cells);
    free(p->soff);
    free(p);
}

static void iq_set_statements(void *st, int n)
{
    ((struct iq *)st)->nstmt = n > 0 ? n : 0;
}

static const struct wg__parser_ops iq_ops = {iq_feed, iq_finish, iq_error, iq_free,
                                             iq_set_statements};

enum wg_err wg__influxql_new(const struct wg_sink *sink, void **st,
                             const struct wg__parser_ops **ops)
{
    *st = NULL;
    struct iq *p = calloc(1, sizeof(*p));
    if (!p) {
        return WG_ENOMEM;
    }
    if (sink) {
        p->sink = *sink;
    }
    p->expect = E_VALUE;
    p->tcol = -1;
    p->last_stmt = -1;
    struct wg_buf *bufs[] = {&p->carry, &p->scratch, &p->tagkey,  &p->name,  &p->tags,
                             &p->cols,  &p->id,      &p->prev_id, &p->rowbuf};
    for (size_t i = 0; i < sizeof(bufs) / sizeof(bufs[0]); i++) {
        wg_buf_init(bufs[i], 0);
    }
    *st = p;
    *ops = &iq_ops;
    return WG_OK;
}

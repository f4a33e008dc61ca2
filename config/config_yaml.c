/* config_yaml.c — libyaml events to a position-tracked node tree (scalar, mapping, sequence),
 * each node with its 1-based line:col. Rejects what a config does not need and would make
 * positions ambiguous or memory unbounded: anchors, aliases, tags, several documents.
 * Duplicate keys are reported with where the first one was. The loader (config_load.c) reads
 * the tree; nothing here knows the schema.
 */
#include "config/config_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

struct yp {
    yaml_parser_t p;
    const char *file;
    const char *text;
    size_t len;
    struct wg_diags *d;
    enum wg_err fatal; /* WG_OK, WG_ECONFIG (syntax) or WG_ENOMEM */
};

static void mark_pos(const struct yp *y, const yaml_mark_t *m, struct wg_pos *out)
{
    out->file = y->file;
    out->line = (int)m->line + 1;
    out->col = (int)m->column + 1;
}

/* Line:col of a byte offset, for reader errors that only carry an offset. */
static void offset_pos(const struct yp *y, size_t off, struct wg_pos *out)
{
    out->file = y->file;
    out->line = 1;
    out->col = 1;
    for (size_t i = 0; i < off && i < y->len; i++) {
        if (y->text[i] == '\n') {
            out->line++;
            out->col = 1;
        } else if (((unsigned char)y->text[i] & 0xc0) != 0x80) {
            out->col++;
        }
    }
}

static void syntax_error(struct yp *y)
{
    struct wg_pos pos;
    if (y->p.error == YAML_MEMORY_ERROR) {
        y->fatal = WG_ENOMEM;
        return;
    }
    y->fatal = WG_ECONFIG;
    if (y->p.error == YAML_READER_ERROR) {
        offset_pos(y, y->p.problem_offset, &pos);
        wg_diags_add(y->d, &pos, NULL, 0, "YAML error: %s",
                     y->p.problem ? y->p.problem : "cannot read input");
        return;
    }
    mark_pos(y, &y->p.problem_mark, &pos);
    if (y->p.context) {
        wg_diags_add(y->d, &pos, NULL, 0, "YAML syntax error: %s (%s at line %d:%d)",
                     y->p.problem ? y->p.problem : "malformed YAML", y->p.context,
                     (int)y->p.context_mark.line + 1, (int)y->p.context_mark.column + 1);
    } else {
        wg_diags_add(y->d, &pos, NULL, 0, "YAML syntax error: %s",
                     y->p.problem ? y->p.problem : "malformed YAML");
    }
}

static int next_event(struct yp *y, yaml_event_t *ev)
{
    if (!yaml_parser_parse(&y->p, ev)) {
        syntax_error(y);
        return -1;
    }
    return 0;
}

static void node_free(struct wg__cfg_node *n)
{
    if (!n) {
        return;
    }
    for (size_t i = 0; i < n->n; i++) {
        if (n->keys) {
            node_free(n->keys[i]);
        }
        node_free(n->vals[i]);
    }
    free(n->keys);
    free(n->vals);
    free(n->str);
    free(n);
}

static struct wg__cfg_node *node_new(struct yp *y, enum wg__cfg_type type, const yaml_event_t *ev)
{
    struct wg__cfg_node *n = calloc(1, sizeof(*n));
    if (!n) {
        y->fatal = WG_ENOMEM;
        return NULL;
    }
    n->type = type;
    mark_pos(y, &ev->start_mark, &n->pos);
    mark_pos(y, &ev->end_mark, &n->end);
    return n;
}

static int node_push(struct yp *y, struct wg__cfg_node *parent, struct wg__cfg_node *key,
                     struct wg__cfg_node *val)
{
    if (parent->n == parent->cap) {
        size_t ncap = parent->cap ? parent->cap * 2 : 4;
        struct wg__cfg_node **nv = realloc(parent->vals, ncap * sizeof(*nv));
        if (!nv) {
            goto oom;
        }
        parent->vals = nv;
        if (parent->type == WG__CFG_MAP) {
            struct wg__cfg_node **nk = realloc(parent->keys, ncap * sizeof(*nk));
            if (!nk) {
                goto oom;
            }
            parent->keys = nk;
        }
        parent->cap = ncap;
    }
    if (parent->keys) {
        parent->keys[parent->n] = key;
    }
    parent->vals[parent->n++] = val;
    return 0;
oom:
    y->fatal = WG_ENOMEM;
    node_free(key);
    node_free(val);
    return -1;
}

/* Anchors and tags are reported but the node is kept, so later errors still surface. */
static void check_props(struct yp *y, const yaml_event_t *ev, const unsigned char *anchor,
                        const unsigned char *tag, const char *path, int *is_str)
{
    struct wg_pos pos;
    mark_pos(y, &ev->start_mark, &pos);
    if (anchor) {
        wg_diags_add(y->d, &pos, path[0] ? path : NULL, 0,
                     "YAML anchors (&%s) are not supported: repeat the value instead",
                     (const char *)anchor);
    }
    if (tag) {
        if (is_str && strcmp((const char *)tag, YAML_STR_TAG) == 0) {
            *is_str = 1;
        } else {
            wg_diags_add(y->d, &pos, path[0] ? path : NULL, 0, "YAML tags (%s) are not supported",
                         (const char *)tag);
        }
    }
}

static struct wg__cfg_node *scalar_node(struct yp *y, const yaml_event_t *ev, const char *path)
{
    struct wg__cfg_node *n = node_new(y, WG__CFG_SCALAR, ev);
    if (!n) {
        return NULL;
    }
    const char *v = (const char *)ev->data.scalar.value;
    size_t len = ev->data.scalar.length;
    n->str = wg_strndup(v, len);
    if (!n->str) {
        y->fatal = WG_ENOMEM;
        node_free(n);
        return NULL;
    }
    n->len = len;
    switch (ev->data.scalar.style) {
    case YAML_SINGLE_QUOTED_SCALAR_STYLE:
        n->style = WG__CFG_SQUOTED;
        break;
    case YAML_DOUBLE_QUOTED_SCALAR_STYLE:
        n->style = WG__CFG_DQUOTED;
        break;
    case YAML_LITERAL_SCALAR_STYLE:
        n->style = WG__CFG_LITERAL;
        break;
    case YAML_FOLDED_SCALAR_STYLE:
        n->style = WG__CFG_FOLDED;
        break;
    default:
        n->style = WG__CFG_PLAIN;
        break;
    }
    n->quoted = n->style != WG__CFG_PLAIN;
    check_props(y, ev, ev->data.scalar.anchor, ev->data.scalar.tag, path, &n->quoted);
    if (memchr(v, '\0', len)) {
        wg_diags_add(y->d, &n->pos, path[0] ? path : NULL, 0,
                     "a NUL character is not allowed in a value");
    }
    return n;
}

static struct wg__cfg_node *parse_node(struct yp *y, yaml_event_t *ev, const char *path, int depth);

static int key_text(const struct wg__cfg_node *k, char *out, size_t outlen)
{
    if (k->type != WG__CFG_SCALAR) {
        return -1;
    }
    snprintf(out, outlen, "%s", k->str);
    return 0;
}

/* Children of a mapping or sequence until its end event. */
static int parse_children(struct yp *y, struct wg__cfg_node *parent, const char *path, int depth)
{
    char sub[WG__CONFIG_PATH_MAX];
    for (;;) {
        yaml_event_t ev;
        if (next_event(y, &ev)) {
            return -1;
        }
        if (ev.type == YAML_MAPPING_END_EVENT || ev.type == YAML_SEQUENCE_END_EVENT) {
            mark_pos(y, &ev.end_mark, &parent->end);
            yaml_event_delete(&ev);
            return 0;
        }
        struct wg__cfg_node *key = NULL;
        if (parent->type == WG__CFG_MAP) {
            key = parse_node(y, &ev, path, depth + 1);
            yaml_event_delete(&ev);
            if (!key) {
                return -1;
            }
            if (next_event(y, &ev)) {
                node_free(key);
                return -1;
            }
            char kt[WG__CONFIG_PATH_MAX];
            if (key_text(key, kt, sizeof(kt))) {
                wg_diags_add(y->d, &key->pos, path[0] ? path : NULL, 0,
                             "a mapping key must be a plain string, not a %s",
                             key->type == WG__CFG_MAP ? "mapping" : "sequence");
                kt[0] = '\0';
            }
            wg__config_path_key(sub, sizeof(sub), path, kt);
        } else {
            wg__config_path_index(sub, sizeof(sub), path, parent->n);
        }
        struct wg__cfg_node *val = parse_node(y, &ev, sub, depth + 1);
        yaml_event_delete(&ev);
        if (!val) {
            node_free(key);
            return -1;
        }
        if (key && key->type == WG__CFG_SCALAR) {
            const struct wg__cfg_node *first = NULL;
            for (size_t i = 0; i < parent->n && !first; i++) {
                const struct wg__cfg_node *k = parent->keys[i];
                if (k->type == WG__CFG_SCALAR && k->len == key->len &&
                    memcmp(k->str, key->str, key->len) == 0) {
                    first = k;
                }
            }
            if (first) {
                wg_diags_add(y->d, &key->pos, sub, 0,
                             "duplicate key '%s' (first defined at line %d:%d)", key->str,
                             first->pos.line, first->pos.col);
                node_free(key);
                node_free(val);
                continue;
            }
        }
        if (node_push(y, parent, key, val)) {
            return -1;
        }
    }
}

/* Builds the node that starts with ev (which the caller deletes). */
static struct wg__cfg_node *parse_node(struct yp *y, yaml_event_t *ev, const char *path, int depth)
{
    struct wg_pos pos;
    struct wg__cfg_node *n = NULL;
    if (depth > WG__CONFIG_MAX_DEPTH) {
        mark_pos(y, &ev->start_mark, &pos);
        wg_diags_add(y->d, &pos, path[0] ? path : NULL, 0, "nesting deeper than %d levels",
                     WG__CONFIG_MAX_DEPTH);
        y->fatal = WG_ECONFIG;
        return NULL;
    }
    switch (ev->type) {
    case YAML_SCALAR_EVENT:
        return scalar_node(y, ev, path);
    case YAML_ALIAS_EVENT:
        mark_pos(y, &ev->start_mark, &pos);
        wg_diags_add(y->d, &pos, path[0] ? path : NULL, 0,
                     "YAML aliases (*%s) are not supported: repeat the value instead",
                     (const char *)ev->data.alias.anchor);
        /* stands in as a null so decoding goes on */
        n = node_new(y, WG__CFG_SCALAR, ev);
        if (n && !(n->str = wg_strdup(""))) {
            y->fatal = WG_ENOMEM;
            node_free(n);
            n = NULL;
        }
        return n;
    case YAML_MAPPING_START_EVENT:
        n = node_new(y, WG__CFG_MAP, ev);
        if (n) {
            check_props(y, ev, ev->data.mapping_start.anchor, ev->data.mapping_start.tag, path,
                        NULL);
        }
        break;
    case YAML_SEQUENCE_START_EVENT:
        n = node_new(y, WG__CFG_SEQ, ev);
        if (n) {
            check_props(y, ev, ev->data.sequence_start.anchor, ev->data.sequence_start.tag, path,
                        NULL);
        }
        break;
    default:
        mark_pos(y, &ev->start_mark, &pos);
        wg_diags_add(y->d, &pos, NULL, 0, "YAML syntax error: unexpected event");
        y->fatal = WG_ECONFIG;
        return NULL;
    }
    if (!n) {
        return NULL;
    }
    if (parse_children(y, n, path, depth)) {
        node_free(n);
        return NULL;
    }
    return n;
}

/* Skips events until the one of `type`; returns -1 on a syntax error. */
static int expect_event(struct yp *y, yaml_event_type_t type, yaml_event_t *ev)
{
    if (next_event(y, ev)) {
        return -1;
    }
    if (ev->type != type) {
        struct wg_pos pos;
        mark_pos(y, &ev->start_mark, &pos);
        wg_diags_add(y->d, &pos, NULL, 0, "YAML syntax error: unexpected event");
        yaml_event_delete(ev);
        y->fatal = WG_ECONFIG;
        return -1;
    }
    return 0;
}

enum wg_err wg__config_parse(const char *file, const char *text, size_t len,
                             struct wg__cfg_doc *doc, struct wg_diags *d)
{
    struct yp y;
    yaml_event_t ev;
    memset(doc, 0, sizeof(*doc));
    doc->file = file;
    doc->text = text;
    doc->len = len;
    memset(&y, 0, sizeof(y));
    y.file = file;
    y.text = text;
    y.len = len;
    y.d = d;
    if (!yaml_parser_initialize(&y.p)) {
        return WG_ENOMEM;
    }
    yaml_parser_set_input_string(&y.p, (const unsigned char *)text, len);
    if (expect_event(&y, YAML_STREAM_START_EVENT, &ev)) {
        goto out;
    }
    yaml_event_delete(&ev);
    if (next_event(&y, &ev)) {
        goto out;
    }
    if (ev.type == YAML_STREAM_END_EVENT) { /* empty file */
        yaml_event_delete(&ev);
        goto out;
    }
    yaml_event_delete(&ev); /* DOCUMENT_START */
    if (next_event(&y, &ev)) {
        goto out;
    }
    doc->root = parse_node(&y, &ev, "", 0);
    yaml_event_delete(&ev);
    if (!doc->root) {
        goto out;
    }
    if (expect_event(&y, YAML_DOCUMENT_END_EVENT, &ev)) {
        goto out;
    }
    yaml_event_delete(&ev);
    if (next_event(&y, &ev)) {
        goto out;
    }
    if (ev.type == YAML_DOCUMENT_START_EVENT) {
        struct wg_pos pos;
        mark_pos(&y, &ev.start_mark, &pos);
        wg_diags_add(d, &pos, NULL, 0, "only one YAML document is allowed in a config");
    }
    yaml_event_delete(&ev);
out:
    yaml_parser_delete(&y.p);
    if (y.fatal != WG_OK) {
        node_free(doc->root);
        doc->root = NULL;
        return y.fatal;
    }
    return WG_OK;
}

void wg__config_doc_free(struct wg__cfg_doc *doc)
{
    if (!doc) {
        return;
    }
    node_free(doc->root);
    doc->root = NULL;
}

int wg__config_is_null(const struct wg__cfg_node *n)
{
    if (!n || n->type != WG__CFG_SCALAR || n->quoted) {
        return 0;
    }
    return n->len == 0 || strcmp(n->str, "~") == 0 || strcmp(n->str, "null") == 0 ||
           strcmp(n->str, "Null") == 0 || strcmp(n->str, "NULL") == 0;
}

const struct wg__cfg_node *wg__config_get(const struct wg__cfg_node *map, const char *key)
{
    if (!map || map->type != WG__CFG_MAP) {
        return NULL;
    }
    for (size_t i = 0; i < map->n; i++) {
        if (map->keys[i]->type == WG__CFG_SCALAR && strcmp(map->keys[i]->str, key) == 0) {
            return map->vals[i];
        }
    }
    return NULL;
}

const char *wg__config_describe(const struct wg__cfg_node *n, char *buf, size_t buflen)
{
    if (!n) {
        snprintf(buf, buflen, "nothing");
    } else if (n->type == WG__CFG_MAP) {
        snprintf(buf, buflen, "a mapping");
    } else if (n->type == WG__CFG_SEQ) {
        snprintf(buf, buflen, "a sequence");
    } else if (wg__config_is_null(n)) {
        snprintf(buf, buflen, "null");
    } else if (n->quoted) {
        snprintf(buf, buflen, "a quoted string \"%.40s%s\"", n->str, n->len > 40 ? "..." : "");
    } else {
        snprintf(buf, buflen, "'%.40s%s'", n->str, n->len > 40 ? "..." : "");
    }
    return buf;
}

static int utf8_cols(const char *s, size_t n)
{
    int cols = 0;
    for (size_t i = 0; i < n; i++) {
        if (((unsigned char)s[i] & 0xc0) != 0x80) {
            cols++;
        }
    }
    return cols;
}

/* Start of 1-based line `line` in text, its length without the line break; -1 if absent. */
static int find_line(const char *text, size_t len, int line, const char **start, size_t *n)
{
    size_t i = 0;
    for (int l = 1; l < line; l++) {
        const char *nl = memchr(text + i, '\n', len - i);
        if (!nl) {
            return -1;
        }
        i = (size_t)(nl - text) + 1;
    }
    const char *nl = memchr(text + i, '\n', len - i);
    size_t e = nl ? (size_t)(nl - text) : len;
    if (e > i && text[e - 1] == '\r') {
        e--;
    }
    *start = text + i;
    *n = e - i;
    return 0;
}

/* Byte offset of 1-based column col in a line of n bytes. */
static size_t col_bytes(const char *s, size_t n, int col)
{
    size_t i = 0;
    for (int c = 1; c < col && i < n; c++) {
        i++;
        while (i < n && ((unsigned char)s[i] & 0xc0) == 0x80) {
            i++;
        }
    }
    return i;
}

/* Folded block and multi-line plain scalars join their lines with spaces (or keep a line
 * break for blank lines): walk the source lines and match each one's trimmed text against the
 * value in order. Any mismatch gives up (-1) and the caller keeps the scalar's start. */
static int fold_pos(const struct wg__cfg_doc *doc, const struct wg__cfg_node *n, size_t off,
                    struct wg_pos *out)
{
    int first = n->pos.line + (n->style == WG__CFG_FOLDED ? 1 : 0);
    size_t cur = 0;
    const char *src;
    size_t slen;
    if (find_line(doc->text, doc->len, first, &src, &slen)) {
        return -1;
    }
    for (int line = first; line <= n->end.line && cur < n->len; line++) {
        if (line > first) { /* the next line, without rescanning the file */
            const char *next = memchr(src, '\n', (size_t)(doc->text + doc->len - src));
            if (!next) {
                return -1;
            }
            src = next + 1;
            const char *nl = memchr(src, '\n', (size_t)(doc->text + doc->len - src));
            slen = nl ? (size_t)(nl - src) : (size_t)(doc->text + doc->len - src);
            if (slen > 0 && src[slen - 1] == '\r') {
                slen--;
            }
        }
        size_t a = line == n->pos.line ? col_bytes(src, slen, n->pos.col) : 0;
        size_t e = slen;
        while (a < e && (src[a] == ' ' || src[a] == '\t')) {
            a++;
        }
        while (e > a && (src[e - 1] == ' ' || src[e - 1] == '\t')) {
            e--;
        }
        if (a == e) {
            continue;
        }
        while (cur < n->len && (n->str[cur] == ' ' || n->str[cur] == '\n')) {
            cur++;
        }
        size_t clen = e - a < n->len - cur ? e - a : n->len - cur; /* a trailing comment */
        if (clen == 0 || memcmp(src + a, n->str + cur, clen) != 0) {
            return -1;
        }
        if (off >= cur && off < cur + clen) {
            out->line = line;
            out->col = utf8_cols(src, a) + 1 + utf8_cols(n->str + cur, off - cur);
            return 0;
        }
        cur += clen;
    }
    return -1;
}

void wg__config_scalar_pos(const struct wg__cfg_doc *doc, const struct wg__cfg_node *n, size_t off,
                           struct wg_pos *out)
{
    *out = n->pos;
    if (n->type != WG__CFG_SCALAR || off > n->len) {
        return;
    }
    int same_line = n->pos.line == n->end.line;
    int width = n->end.col - n->pos.col;
    int cols = utf8_cols(n->str, n->len);
    if (n->style == WG__CFG_PLAIN && same_line && width == cols) {
        out->col = n->pos.col + utf8_cols(n->str, off);
    } else if ((n->style == WG__CFG_SQUOTED || n->style == WG__CFG_DQUOTED) && same_line &&
               width == cols + 2) {
        /* no escapes: the value is the source between the quotes */
        out->col = n->pos.col + 1 + utf8_cols(n->str, off);
    } else if (n->style == WG__CFG_LITERAL && doc && doc->text) {
        /* a literal block keeps its lines: line k of the value is source line start+1+k,
         * after the block's indentation */
        int k = 0;
        size_t ls = 0;
        for (size_t i = 0; i < off; i++) {
            if (n->str[i] == '\n') {
                k++;
                ls = i + 1;
            }
        }
        const char *le = memchr(n->str + ls, '\n', n->len - ls);
        size_t vlen = le ? (size_t)(le - (n->str + ls)) : n->len - ls;
        const char *src;
        size_t slen;
        if (find_line(doc->text, doc->len, n->pos.line + 1 + k, &src, &slen) == 0 && slen >= vlen &&
            memcmp(src + slen - vlen, n->str + ls, vlen) == 0) {
            out->line = n->pos.line + 1 + k;
            out->col = utf8_cols(src, slen - vlen) + 1 + utf8_cols(n->str + ls, off - ls);
        }
    } else if ((n->style == WG__CFG_FOLDED || n->style == WG__CFG_PLAIN) && doc && doc->text) {
        struct wg_pos p = *out;
        if (fold_pos(doc, n, off, &p) == 0) {
            *out = p;
        }
    }
}

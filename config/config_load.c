/* config_load.c — the loader: file → node tree (config_yaml.c) → typed model, validated from
 * tables. Holds the generic field decoders and the table of top-level sections; sources are in
 * config_source.c, waves and state_dir in config_wave.c, features and rules in config_feature.c.
 * Every problem is reported as file:line:col: key.path: message and decoding goes on.
 */
#include "config/config_alerting_int.h"
#include "config/config_int.h"

#include "common/store.h"
#include "config/config_server_int.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The top-level keys, decoded in this order: later sections may check references to earlier
 * ones. Add a row (and a decode/free pair) to add a section. */
const struct wg__config_section wg__config_sections[] = {
    {"sources", wg__config_decode_sources, wg__config_free_sources},
    {"waves", wg__config_decode_waves, wg__config_free_waves},
    {"features", wg__config_decode_features, wg__config_free_features},
    {"state_dir", wg__config_decode_state_dir, wg__config_free_state_dir},
    {"state", wg__config_decode_state, wg__config_free_state},
    {"server", wg__config_decode_server, wg__config_free_server},
    /* both fill cfg->alerting (config_alerting.c), allocated when either key is present */
    {"alerting", wg__config_decode_alerting, wg__config_free_alerting},
    {"monitor", wg__config_decode_monitor, NULL},
    {"events", wg__config_decode_events, wg__config_free_events},
};
const size_t wg__config_nsections = sizeof(wg__config_sections) / sizeof(wg__config_sections[0]);

/* ---- reporting and key paths ------------------------------------------------------------- */

static void vreport(struct wg__config_ctx *c, const struct wg_pos *pos, const char *path,
                    int warning, const char *fmt, va_list ap)
{
    char *msg = NULL;
    if (vasprintf(&msg, fmt, ap) < 0) {
        msg = NULL;
        c->oom = 1;
    }
    wg_diags_add(c->diags, pos, path && path[0] ? path : NULL, warning, "%s",
                 msg ? msg : "(out of memory)");
    free(msg);
}

void wg__config_err(struct wg__config_ctx *c, const struct wg__cfg_node *n, const char *path,
                    const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vreport(c, n ? &n->pos : NULL, path, 0, fmt, ap);
    va_end(ap);
}

void wg__config_warn(struct wg__config_ctx *c, const struct wg__cfg_node *n, const char *path,
                     const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vreport(c, n ? &n->pos : NULL, path, 1, fmt, ap);
    va_end(ap);
}

void wg__config_err_at(struct wg__config_ctx *c, const struct wg_pos *pos, const char *path,
                       const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vreport(c, pos, path, 0, fmt, ap);
    va_end(ap);
}

void wg__config_warn_at(struct wg__config_ctx *c, const struct wg_pos *pos, const char *path,
                        const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vreport(c, pos, path, 1, fmt, ap);
    va_end(ap);
}

/* Appends s to out (of outlen, holding len bytes), cutting it short: a key path is for
 * reading, a cut one still points at the right place. */
static size_t path_add(char *out, size_t outlen, size_t len, const char *s)
{
    size_t n = strlen(s);
    if (len + 1 >= outlen) {
        return len;
    }
    if (n > outlen - 1 - len) {
        n = outlen - 1 - len;
    }
    memcpy(out + len, s, n);
    out[len + n] = '\0';
    return len + n;
}

void wg__config_path_key(char *out, size_t outlen, const char *parent, const char *key)
{
    size_t len = 0;
    if (outlen == 0) {
        return;
    }
    out[0] = '\0';
    if (parent && parent[0]) {
        len = path_add(out, outlen, len, parent);
        len = path_add(out, outlen, len, ".");
    }
    path_add(out, outlen, len, key);
}

void wg__config_path_index(char *out, size_t outlen, const char *parent, size_t i)
{
    char idx[32];
    size_t len = 0;
    if (outlen == 0) {
        return;
    }
    out[0] = '\0';
    snprintf(idx, sizeof(idx), "[%zu]", i);
    len = path_add(out, outlen, len, parent ? parent : "");
    path_add(out, outlen, len, idx);
}

/* ---- scalar decoders --------------------------------------------------------------------- */

int wg__config_type_err(struct wg__config_ctx *c, const struct wg__cfg_node *n, const char *path,
                        const char *want)
{
    char got[96];
    wg__config_err(c, n, path, "expected %s, got %s", want,
                   wg__config_describe(n, got, sizeof(got)));
    return -1;
}

void *wg__config_items(struct wg__config_ctx *c, const struct wg__cfg_node *n, const char *path,
                       enum wg__cfg_type t, const char *want, size_t size)
{
    if (n->type != t) {
        wg__config_type_err(c, n, path, want);
        return NULL;
    }
    void *v = n->n ? calloc(n->n, size) : NULL;
    c->oom |= n->n && !v;
    return v;
}

/* A scalar that is not null (quoted or not). */
static int want_scalar(struct wg__config_ctx *c, const struct wg__cfg_node *n, const char *path,
                       const char *want)
{
    if (n->type != WG__CFG_SCALAR || wg__config_is_null(n)) {
        return wg__config_type_err(c, n, path, want);
    }
    return 0;
}

/* A plain scalar: numbers and booleans must not be quoted. */
static int want_plain(struct wg__config_ctx *c, const struct wg__cfg_node *n, const char *path,
                      const char *want)
{
    if (n->type != WG__CFG_SCALAR || n->quoted || wg__config_is_null(n)) {
        return wg__config_type_err(c, n, path, want);
    }
    return 0;
}

static int in_range(struct wg__config_ctx *c, const struct wg__cfg_node *n, const char *path,
                    double v, const struct wg__config_range *r)
{
    if (!r) {
        return 0;
    }
    int lo_bad = r->lo_open ? !(v > r->lo) : !(v >= r->lo);
    int hi_bad = r->hi_open ? !(v < r->hi) : !(v <= r->hi);
    if (lo_bad || hi_bad) {
        wg__config_err(c, n, path, "%s is out of range: must be %s %g and %s %g", n->str,
                       r->lo_open ? ">" : ">=", r->lo, r->hi_open ? "<" : "<=", r->hi);
        return -1;
    }
    return 0;
}

int wg__config_dec_str(struct wg__config_ctx *c, const struct wg__cfg_node *n, const char *path,
                       void *dst, const void *arg)
{
    (void)arg;
    if (want_scalar(c, n, path, "a string")) {
        return -1;
    }
    if (n->len == 0) {
        wg__config_err(c, n, path, "must not be empty");
        return -1;
    }
    char *s = wg_strdup(n->str);
    if (!s) {
        c->oom = 1;
        return -1;
    }
    char **d = dst;
    free(*d);
    *d = s;
    return 0;
}

int wg__config_dec_bool(struct wg__config_ctx *c, const struct wg__cfg_node *n, const char *path,
                        void *dst, const void *arg)
{
    (void)arg;
    if (want_plain(c, n, path, "true or false")) {
        return -1;
    }
    if (strcmp(n->str, "true") == 0) {
        *(int *)dst = 1;
    } else if (strcmp(n->str, "false") == 0) {
        *(int *)dst = 0;
    } else {
        return wg__config_type_err(c, n, path, "true or false");
    }
    return 0;
}

static size_t skip_digits(const char *s, size_t i)
{
    while (s[i] >= '0' && s[i] <= '9') {
        i++;
    }
    return i;
}

/* 1 when s is exactly -?D+(.D+)?([eE][+-]?D+)?: what strtod takes beyond that (hex floats
 * "0x1p3", "inf", "nan", a leading '+', ".5", "5.", blanks) is not a config number. */
static int number_syntax(const char *s)
{
    size_t i = s[0] == '-', j;
    if ((j = skip_digits(s, i)) == i) {
        return 0;
    }
    i = j;
    if (s[i] == '.') {
        if ((j = skip_digits(s, i + 1)) == i + 1) {
            return 0;
        }
        i = j;
    }
    if (s[i] == 'e' || s[i] == 'E') {
        i += 1 + (s[i + 1] == '+' || s[i + 1] == '-');
        if ((j = skip_digits(s, i)) == i) {
            return 0;
        }
        i = j;
    }
    return s[i] == '\0';
}

enum wg_err wg__config_parse_number(const char *s, double *out)
{
    char *end = NULL;
    if (!s || !number_syntax(s)) {
        return WG_EINVAL;
    }
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end != '\0' || errno == ERANGE || !isfinite(v)) {
        return WG_EINVAL;
    }
    *out = v;
    return WG_OK;
}

/* Why s is not a number, for the error message. */
static void number_err(struct wg__config_ctx *c, const struct wg__cfg_node *n, const char *path,
                       const char *want)
{
    if (number_syntax(n->str)) {
        wg__config_err(c, n, path, "number %s is out of range", n->str);
    } else {
        char got[96];
        wg__config_err(c, n, path, "expected %s, got %s (write a decimal like 12, -0.5 or 1e3)",
                       want, wg__config_describe(n, got, sizeof(got)));
    }
}

int wg__config_dec_number(struct wg__config_ctx *c, const struct wg__cfg_node *n, const char *path,
                          void *dst, const void *arg)
{
    double v;
    if (want_plain(c, n, path, "a number")) {
        return -1;
    }
    if (wg__config_parse_number(n->str, &v) != WG_OK) {
        number_err(c, n, path, "a number");
        return -1;
    }
    if (in_range(c, n, path, v, arg)) {
        return -1;
    }
    *(double *)dst = v;
    return 0;
}

static int parse_integer(struct wg__config_ctx *c, const struct wg__cfg_node *n, const char *path,
                         const struct wg__config_range *r, long long *out)
{
    char *end = NULL;
    if (want_plain(c, n, path, "an integer")) {
        return -1;
    }
    /* strtoll also takes blanks and a leading '+': a config integer is -?D+ */
    const char *d = n->str + (n->str[0] == '-');
    if (*d < '0' || *d > '9') {
        return wg__config_type_err(c, n, path, "an integer");
    }
    errno = 0;
    long long v = strtoll(n->str, &end, 10);
    if (end == n->str || *end != '\0') {
        return wg__config_type_err(c, n, path, "an integer");
    }
    if (errno == ERANGE) {
        wg__config_err(c, n, path, "integer %s is out of range", n->str);
        return -1;
    }
    if (in_range(c, n, path, (double)v, r)) {
        return -1;
    }
    *out = v;
    return 0;
}

int wg__config_dec_long(struct wg__config_ctx *c, const struct wg__cfg_node *n, const char *path,
                        void *dst, const void *arg)
{
    static const struct wg__config_range def = {(double)LONG_MIN, (double)LONG_MAX, 0, 0};
    long long v = 0; /* gcc -O2 cannot see parse_integer set it */
    if (parse_integer(c, n, path, arg ? arg : &def, &v)) {
        return -1;
    }
    *(long *)dst = (long)v;
    return 0;
}

int wg__config_dec_int(struct wg__config_ctx *c, const struct wg__cfg_node *n, const char *path,
                       void *dst, const void *arg)
{
    static const struct wg__config_range def = {(double)INT_MIN, (double)INT_MAX, 0, 0};
    long long v = 0; /* gcc -O2 cannot see parse_integer set it */
    if (parse_integer(c, n, path, arg ? arg : &def, &v)) {
        return -1;
    }
    *(int *)dst = (int)v;
    return 0;
}

int wg__config_dec_count(struct wg__config_ctx *c, const struct wg__cfg_node *n, const char *path,
                         void *dst, const void *arg)
{
    static const struct wg__config_range def = {0, 1e15, 0, 0};
    long long v = 0; /* gcc -O2 cannot see parse_integer set it */
    if (parse_integer(c, n, path, arg ? arg : &def, &v)) {
        return -1;
    }
    if (v < 0) {
        wg__config_err(c, n, path, "must be >= 0");
        return -1;
    }
    *(size_t *)dst = (size_t)v;
    return 0;
}

int wg__config_dec_duration(struct wg__config_ctx *c, const struct wg__cfg_node *n,
                            const char *path, void *dst, const void *arg)
{
    int64_t ns;
    if (want_scalar(c, n, path, "a duration (e.g. 30s, 10m, 1h30m)")) {
        return -1;
    }
    enum wg_err rc = wg_duration_parse(n->str, &ns);
    if (rc != WG_OK && rc != WG_ETOOBIG) {
        wg__config_err(c, n, path, "invalid duration '%s' (use e.g. 500ms, 30s, 10m, 1h30m)",
                       n->str);
        return -1;
    }
    /* Every config duration is added to a deploy time: capped so the sum always fits. */
    if (rc == WG_ETOOBIG || ns > WG_DURATION_MAX_NS) {
        wg__config_err(c, n, path, "duration too large (max 366d)");
        return -1;
    }
    const struct wg__config_range *r = arg;
    if (r) {
        double s = (double)ns / (double)WG_NS_PER_SEC;
        int lo_bad = r->lo_open ? !(s > r->lo) : !(s >= r->lo);
        int hi_bad = r->hi_open ? !(s < r->hi) : !(s <= r->hi);
        if (lo_bad || hi_bad) {
            wg__config_err(c, n, path, "duration %s is out of range (must be %s %gs)", n->str,
                           lo_bad ? (r->lo_open ? ">" : ">=") : (r->hi_open ? "<" : "<="),
                           lo_bad ? r->lo : r->hi);
            return -1;
        }
    }
    *(int64_t *)dst = ns;
    return 0;
}

int wg__config_dec_size(struct wg__config_ctx *c, const struct wg__cfg_node *n, const char *path,
                        void *dst, const void *arg)
{
    static const struct {
        const char *u;
        double mult;
    } units[] = {
        {"", 1},     {"B", 1},        {"KB", 1e3},        {"kB", 1e3},           {"MB", 1e6},
        {"GB", 1e9}, {"KiB", 1024.0}, {"MiB", 1048576.0}, {"GiB", 1073741824.0},
    };
    (void)arg;
    if (want_scalar(c, n, path, "a size (e.g. 256MiB, 10MB or a number of bytes)")) {
        return -1;
    }
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(n->str, &end, 10);
    if (end == n->str || n->str[0] < '0' || n->str[0] > '9' || errno == ERANGE) {
        goto bad;
    }
    while (*end == ' ') {
        end++;
    }
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (strcmp(end, units[i].u) == 0) {
            if (units[i].u[0] == '\0' && n->quoted) {
                return wg__config_type_err(c, n, path,
                                           "a size (e.g. 256MiB, 10MB or a number of bytes)");
            }
            double bytes = (double)v * units[i].mult;
            if (v == 0 || bytes > (double)SIZE_MAX / 2) {
                wg__config_err(c, n, path, "size %s is out of range (must be > 0)", n->str);
                return -1;
            }
            *(size_t *)dst = (size_t)bytes;
            return 0;
        }
    }
bad:
    wg__config_err(c, n, path, "invalid size '%s' (use e.g. 256MiB, 10MB, 65536)", n->str);
    return -1;
}

int wg__config_dec_moved(struct wg__config_ctx *c, const struct wg__cfg_node *n, const char *path,
                         void *dst, const void *arg)
{
    (void)dst;
    wg__config_err(c, n, path, "%s", (const char *)arg);
    return -1;
}

static void enum_names(const struct wg__config_enum *e, struct wg_buf *b)
{
    for (size_t i = 0; e[i].name; i++) {
        (void)wg_buf_addf(b, "%s%s", i ? ", " : "", e[i].name);
    }
}

int wg__config_dec_enum(struct wg__config_ctx *c, const struct wg__cfg_node *n, const char *path,
                        void *dst, const void *arg)
{
    const struct wg__config_enum *e = arg;
    struct wg_buf b;
    wg_buf_init(&b, 4096);
    int rc = -1;
    if (n->type == WG__CFG_SCALAR && !wg__config_is_null(n)) {
        for (size_t i = 0; e[i].name; i++) {
            if (strcmp(n->str, e[i].name) == 0) {
                *(int *)dst = e[i].value;
                return 0;
            }
        }
    }
    enum_names(e, &b);
    char got[96];
    wg__config_err(c, n, path, "expected one of %s, got %s", b.p ? b.p : "",
                   wg__config_describe(n, got, sizeof(got)));
    wg_buf_free(&b);
    return rc;
}

int wg__config_dec_time(struct wg__config_ctx *c, const struct wg__cfg_node *n, const char *path,
                        void *dst, const void *arg)
{
    int64_t ns;
    (void)arg;
    if (want_scalar(c, n, path, "an RFC3339 time (e.g. 2024-05-01T12:00:00Z)")) {
        return -1;
    }
    if (wg_time_parse(n->str, n->len, &ns) != WG_OK) {
        wg__config_err(c, n, path, "invalid time '%s' (use RFC3339, e.g. 2024-05-01T12:00:00Z)",
                       n->str);
        return -1;
    }
    /* the range of deploy times, so end - start and the queries' bounds always fit */
    if (ns <= WG_DEPLOY_MIN_NS || ns >= WG_DEPLOY_MAX_NS) {
        wg__config_err(c, n, path, "time %s is out of range (must be after 1970 and before 2200)",
                       n->str);
        return -1;
    }
    *(int64_t *)dst = ns;
    return 0;
}

int wg__config_dec_limit(struct wg__config_ctx *c, const struct wg__cfg_node *n, const char *path,
                         void *dst, const void *arg)
{
    struct wg_limit l = {1, 0, 0};
    (void)arg;
    static const char *want = "a number or a percentage (e.g. 25 or 20%)";
    if (want_scalar(c, n, path, want)) {
        return -1;
    }
    if (n->len > 1 && n->str[n->len - 1] == '%') {
        char num[64];
        if (n->len - 1 >= sizeof(num)) {
            return wg__config_type_err(c, n, path, want);
        }
        memcpy(num, n->str, n->len - 1);
        num[n->len - 1] = '\0';
        if (wg__config_parse_number(num, &l.value) != WG_OK) {
            return wg__config_type_err(c, n, path, want);
        }
        l.percent = 1;
    } else if (n->quoted || wg__config_parse_number(n->str, &l.value) != WG_OK) {
        return wg__config_type_err(c, n, path, want);
    }
    if (l.value < 0) {
        wg__config_err(c, n, path, "must be >= 0, got %s", n->str);
        return -1;
    }
    *(struct wg_limit *)dst = l;
    return 0;
}

/* ---- mappings from field tables ---------------------------------------------------------- */

static const struct wg__config_field *find_field(const struct wg__config_fieldset *sets,
                                                 size_t nsets, const char *key, size_t *set)
{
    for (size_t s = 0; s < nsets; s++) {
        for (size_t i = 0; i < sets[s].n; i++) {
            if (strcmp(sets[s].f[i].key, key) == 0) {
                *set = s;
                return &sets[s].f[i];
            }
        }
    }
    return NULL;
}

static int is_extra(const char *const *extra, const char *key)
{
    for (size_t i = 0; extra && extra[i]; i++) {
        if (strcmp(extra[i], key) == 0) {
            return 1;
        }
    }
    return 0;
}

static void unknown_key(struct wg__config_ctx *c, const struct wg__cfg_node *k, const char *path,
                        const struct wg__config_fieldset *sets, size_t nsets,
                        const char *const *extra)
{
    struct wg_buf b;
    wg_buf_init(&b, 4096);
    for (size_t s = 0; s < nsets; s++) {
        for (size_t i = 0; i < sets[s].n; i++) {
            if (sets[s].f[i].decode != wg__config_dec_moved) {
                (void)wg_buf_addf(&b, "%s%s", b.len ? ", " : "", sets[s].f[i].key);
            }
        }
    }
    for (size_t i = 0; extra && extra[i]; i++) {
        (void)wg_buf_addf(&b, "%s%s", b.len ? ", " : "", extra[i]);
    }
    wg__config_err(c, k, path, "unknown key '%s' (allowed: %s)", k->str, b.p ? b.p : "");
    wg_buf_free(&b);
}

int wg__config_fields(struct wg__config_ctx *c, const struct wg__cfg_node *n, const char *path,
                      const struct wg__config_fieldset *sets, size_t nsets,
                      const char *const *extra)
{
    char sub[WG__CONFIG_PATH_MAX];
    size_t before = c->diags->nerrors;
    if (n->type != WG__CFG_MAP) {
        wg__config_type_err(c, n, path, "a mapping");
        return -1;
    }
    for (size_t i = 0; i < n->n; i++) {
        const struct wg__cfg_node *k = n->keys[i];
        if (k->type != WG__CFG_SCALAR) {
            continue; /* reported by the parser */
        }
        wg__config_path_key(sub, sizeof(sub), path, k->str);
        size_t s = 0;
        const struct wg__config_field *f = find_field(sets, nsets, k->str, &s);
        if (!f) {
            if (!is_extra(extra, k->str)) {
                unknown_key(c, k, sub, sets, nsets, extra);
            }
            continue;
        }
        if (f->decode(c, n->vals[i], sub, (char *)sets[s].base + f->off, f->arg) == 0 &&
            sets[s].set) {
            *sets[s].set |= f->bit;
        }
    }
    for (size_t s = 0; s < nsets; s++) {
        for (size_t i = 0; i < sets[s].n; i++) {
            if (sets[s].f[i].required && !wg__config_get(n, sets[s].f[i].key)) {
                wg__config_path_key(sub, sizeof(sub), path, sets[s].f[i].key);
                wg__config_err(c, n, sub, "missing required key '%s'", sets[s].f[i].key);
            }
        }
    }
    return (int)(c->diags->nerrors - before);
}

int wg__config_sub_fields(struct wg__config_ctx *c, const struct wg__cfg_node *n, const char *path,
                          const char *key, const struct wg__config_field *fields, size_t nfields,
                          void *base)
{
    const struct wg__cfg_node *v = wg__config_get(n, key);
    if (!v || wg__config_is_null(v)) {
        return 0;
    }
    char sub[WG__CONFIG_PATH_MAX];
    wg__config_path_key(sub, sizeof(sub), path, key);
    struct wg__config_fieldset set = {fields, nfields, base, NULL};
    return wg__config_fields(c, v, sub, &set, 1, NULL);
}

/* ---- entry points ------------------------------------------------------------------------ */

static void decode_root(struct wg__config_ctx *c, const struct wg__cfg_node *root)
{
    struct wg_pos start = {c->cfg->path, 1, 1};
    if (!root) {
        wg__config_err_at(c, &start, NULL, "the config is empty");
        return;
    }
    if (root->type != WG__CFG_MAP) {
        wg__config_type_err(c, root, NULL, "a mapping at the top level");
        return;
    }
    for (size_t i = 0; i < root->n; i++) {
        const struct wg__cfg_node *k = root->keys[i];
        int known = 0;
        for (size_t s = 0; s < wg__config_nsections && !known; s++) {
            known = k->type == WG__CFG_SCALAR && strcmp(k->str, wg__config_sections[s].key) == 0;
        }
        if (!known && k->type == WG__CFG_SCALAR) {
            struct wg_buf b;
            wg_buf_init(&b, 4096);
            for (size_t s = 0; s < wg__config_nsections; s++) {
                (void)wg_buf_addf(&b, "%s%s", s ? ", " : "", wg__config_sections[s].key);
            }
            wg__config_err(c, k, k->str, "unknown key '%s' (allowed: %s)", k->str, b.p ? b.p : "");
            wg_buf_free(&b);
        }
    }
    for (size_t s = 0; s < wg__config_nsections && !c->oom; s++) {
        const struct wg__config_section *sec = &wg__config_sections[s];
        sec->decode(c, wg__config_get(root, sec->key), sec->key);
    }
}

enum wg_err wg_config_load_mem(const char *name, const char *text, size_t len,
                               struct wg_config **out, struct wg_diags *diags)
{
    struct wg_diags local = {0};
    struct wg__cfg_doc doc = {0};
    struct wg__config_ctx c;
    enum wg_err rc = WG_OK;
    struct wg_diags *d = diags ? diags : &local;
    size_t before = d->nerrors;
    *out = NULL;
    struct wg_config *cfg = calloc(1, sizeof(*cfg));
    if (!cfg || !(cfg->path = wg_strdup(name ? name : "<config>"))) {
        rc = WG_ENOMEM;
        goto out;
    }
    if (len > WG__CONFIG_MAX_BYTES) {
        struct wg_pos pos = {cfg->path, 0, 0};
        wg_diags_add(d, &pos, NULL, 0, "the config is larger than %u bytes", WG__CONFIG_MAX_BYTES);
        rc = WG_ECONFIG;
        goto out;
    }
    rc = wg__config_parse(cfg->path, text, len, &doc, d);
    if (rc != WG_OK) {
        goto out;
    }
    memset(&c, 0, sizeof(c));
    c.cfg = cfg;
    c.doc = &doc;
    c.diags = d;
    decode_root(&c, doc.root);
    if (c.oom) {
        rc = WG_ENOMEM;
    } else if (d->nerrors > before) {
        rc = WG_ECONFIG;
    }
out:
    wg__config_doc_free(&doc);
    if (rc == WG_OK) {
        /* every store the process opens from now on: the configured backend (store.h) */
        wg_sql_use(cfg->state.backend == WG_STATE_POSTGRES ? WG_STORE_POSTGRES : WG_STORE_SQLITE,
                   cfg->state.dsn_env);
        *out = cfg;
    } else {
        wg_config_free(cfg);
    }
    wg_diags_free(&local);
    return rc;
}

enum wg_err wg_config_load(const char *path, struct wg_config **out, struct wg_diags *diags)
{
    struct wg_diags local = {0};
    struct wg_diags *d = diags ? diags : &local;
    struct wg_pos pos = {path, 0, 0};
    struct wg_buf b;
    enum wg_err rc = WG_OK;
    char chunk[65536];
    *out = NULL;
    wg_buf_init(&b, WG__CONFIG_MAX_BYTES);
    FILE *f = fopen(path, "rb");
    if (!f) {
        wg_diags_add(d, &pos, NULL, 0, "cannot open the config: %s", strerror(errno));
        rc = WG_EIO;
        goto out;
    }
    for (;;) {
        size_t n = fread(chunk, 1, sizeof(chunk), f);
        if (n > 0 && (rc = wg_buf_add(&b, chunk, n)) != WG_OK) {
            if (rc == WG_ETOOBIG) {
                wg_diags_add(d, &pos, NULL, 0, "the config is larger than %u bytes",
                             WG__CONFIG_MAX_BYTES);
                rc = WG_ECONFIG;
            }
            goto out;
        }
        if (n < sizeof(chunk)) {
            break;
        }
    }
    if (ferror(f)) {
        wg_diags_add(d, &pos, NULL, 0, "cannot read the config: %s", strerror(errno));
        rc = WG_EIO;
        goto out;
    }
    rc = wg_config_load_mem(path, b.p ? b.p : "", b.len, out, d);
out:
    if (f) {
        fclose(f);
    }
    wg_buf_free(&b);
    wg_diags_free(&local);
    return rc;
}

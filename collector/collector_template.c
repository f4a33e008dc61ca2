/* collector_template.c — renders a rule's query template: {{ name }} placeholders become
 * literals of the query language (InfluxQL, Flux or SQL), escaped so that no value can leave
 * its literal. The only way user-controlled text (env, wave, feature, flag) enters a query.
 */
#include "collector/collector.h"

#include <stdio.h>
#include <string.h>

/* InfluxQL '...': backslash escapes \\ and \'; a raw newline ends a literal, so it is \n. */
static enum wg_err influxql_string(struct wg_buf *b, const char *s)
{
    enum wg_err e = wg_buf_add(b, "'", 1);
    for (; !e && *s; s++) {
        if (*s == '\\' || *s == '\'') {
            char t[2] = {'\\', *s};
            e = wg_buf_add(b, t, 2);
        } else if (*s == '\n') {
            e = wg_buf_add(b, "\\n", 2);
        } else {
            e = wg_buf_add(b, s, 1);
        }
    }
    return e ? e : wg_buf_add(b, "'", 1);
}

/* Flux "...": \\ \" and \${ (interpolation); control characters as \n \r \t. */
static enum wg_err flux_string(struct wg_buf *b, const char *s)
{
    enum wg_err e = wg_buf_add(b, "\"", 1);
    for (; !e && *s; s++) {
        if (*s == '\\' || *s == '"') {
            char t[2] = {'\\', *s};
            e = wg_buf_add(b, t, 2);
        } else if (*s == '$' && s[1] == '{') {
            e = wg_buf_add(b, "\\$", 2);
        } else if (*s == '\n') {
            e = wg_buf_add(b, "\\n", 2);
        } else if (*s == '\r') {
            e = wg_buf_add(b, "\\r", 2);
        } else if (*s == '\t') {
            e = wg_buf_add(b, "\\t", 2);
        } else {
            e = wg_buf_add(b, s, 1);
        }
    }
    return e ? e : wg_buf_add(b, "\"", 1);
}

/* SQL '...': a quote is doubled; backslashes are plain characters in standard strings. */
static enum wg_err sql_string(struct wg_buf *b, const char *s)
{
    enum wg_err e = wg_buf_add(b, "'", 1);
    for (; !e && *s; s++) {
        e = *s == '\'' ? wg_buf_add(b, "''", 2) : wg_buf_add(b, s, 1);
    }
    return e ? e : wg_buf_add(b, "'", 1);
}

static enum wg_err render_string(enum wg_source_kind kind, struct wg_buf *b, const char *s)
{
    s = s ? s : "";
    switch (kind) {
    case WG_SRC_FLUX:
        return flux_string(b, s);
    case WG_SRC_SQL:
        return sql_string(b, s);
    default:
        return influxql_string(b, s);
    }
}

static enum wg_err render_time(enum wg_source_kind kind, struct wg_buf *b, int64_t ns)
{
    char t[48];
    wg_time_format(ns, t, sizeof(t));
    switch (kind) {
    case WG_SRC_FLUX:
        return wg_buf_adds(b, t);
    case WG_SRC_SQL:
        return wg_buf_addf(b, "TIMESTAMP '%s'", t);
    default:
        return wg_buf_addf(b, "'%s'", t);
    }
}

static enum wg_err render_window(enum wg_source_kind kind, struct wg_buf *b, int64_t ns)
{
    static const struct {
        const char *u;
        int64_t ns;
    } units[] = {{"h", 3600 * WG_NS_PER_SEC},
                 {"m", 60 * WG_NS_PER_SEC},
                 {"s", WG_NS_PER_SEC},
                 {"ms", 1000000},
                 {"u", 1000}};
    char t[64];
    if (ns < 0) {
        ns = 0;
    }
    if (kind == WG_SRC_FLUX) {
        return wg_buf_adds(b, wg_duration_format(ns, t, sizeof(t)));
    }
    if (kind == WG_SRC_SQL) {
        if (ns % WG_NS_PER_SEC == 0) {
            return wg_buf_addf(b, "INTERVAL '%lld seconds'", (long long)(ns / WG_NS_PER_SEC));
        }
        if (ns % 1000000 == 0) {
            return wg_buf_addf(b, "INTERVAL '%lld milliseconds'", (long long)(ns / 1000000));
        }
        return wg_buf_addf(b, "INTERVAL '%lld nanoseconds'", (long long)ns);
    }
    /* InfluxQL duration literals take one unit: the largest that divides exactly. */
    for (size_t k = 0; k < sizeof(units) / sizeof(units[0]); k++) {
        if (ns && ns % units[k].ns == 0) {
            return wg_buf_addf(b, "%lld%s", (long long)(ns / units[k].ns), units[k].u);
        }
    }
    return wg_buf_addf(b, "%lldns", (long long)ns);
}

static enum wg_err render_one(enum wg_source_kind kind, struct wg_buf *b, const char *name,
                              size_t n, const struct wg_vars *v)
{
#define IS(lit) (n == sizeof(lit) - 1 && memcmp(name, lit, n) == 0)
    if (IS("env")) {
        return render_string(kind, b, v->env);
    }
    if (IS("wave")) {
        return render_string(kind, b, v->wave);
    }
    if (IS("feature")) {
        return render_string(kind, b, v->feature);
    }
    if (IS("flag")) {
        return render_string(kind, b, v->flag);
    }
    if (IS("start")) {
        return render_time(kind, b, v->start_ns);
    }
    if (IS("end")) {
        return render_time(kind, b, v->end_ns);
    }
    if (IS("window")) {
        return render_window(kind, b, v->window_ns);
    }
    if (IS("target")) {
        return render_string(kind, b, v->target);
    }
    for (size_t i = 0; i < v->nlabels; i++) {
        const char *k = v->labels[i].key;
        if (strlen(k) == n && memcmp(name, k, n) == 0) {
            return render_string(kind, b, v->labels[i].value);
        }
    }
#undef IS
    return WG_ENOTFOUND;
}

enum wg_err wg_collector_render(enum wg_source_kind kind, const char *tmpl,
                                const struct wg_vars *vars, char **out, char *err, size_t errlen)
{
    struct wg_buf b;
    enum wg_err e = WG_OK;
    static const struct wg_vars none;
    wg_buf_init(&b, 0);
    *out = NULL;
    if (errlen) {
        err[0] = '\0';
    }
    if (!tmpl) {
        e = WG_EINVAL;
        snprintf(err, errlen, "no query");
        goto out;
    }
    vars = vars ? vars : &none;
    const char *s = tmpl;
    while (*s) {
        const char *open = strstr(s, "{{");
        if (!open) {
            e = wg_buf_adds(&b, s);
            break;
        }
        if ((e = wg_buf_add(&b, s, (size_t)(open - s))) != WG_OK) {
            goto out;
        }
        const char *close = strstr(open + 2, "}}");
        if (!close) {
            e = WG_EINVAL;
            snprintf(err, errlen, "unclosed placeholder at offset %zu", (size_t)(open - tmpl));
            goto out;
        }
        const char *a = open + 2, *z = close;
        while (a < z && (*a == ' ' || *a == '\t')) {
            a++;
        }
        while (z > a && (z[-1] == ' ' || z[-1] == '\t')) {
            z--;
        }
        e = render_one(kind, &b, a, (size_t)(z - a), vars);
        if (e == WG_ENOTFOUND) {
            e = WG_EINVAL;
            snprintf(err, errlen,
                     "unknown placeholder {{ %.*s }} (known: env, wave, feature, flag, start, "
                     "end, window, target, the target's labels)",
                     (int)(z - a < 64 ? z - a : 64), a);
        }
        if (e != WG_OK) {
            goto out;
        }
        s = close + 2;
    }
out:
    if (e == WG_OK) {
        *out = wg_buf_take(&b);
        if (!*out) {
            e = WG_ENOMEM;
        }
    } else if (e == WG_ENOMEM && errlen) {
        snprintf(err, errlen, "out of memory");
    }
    wg_buf_free(&b);
    return e;
}

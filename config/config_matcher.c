/* config_matcher.c — Alertmanager-style label matchers (=, !=, =~, !~; regexes anchored) and
 * the static check of title/text templates. Used by the alerting config decoder, the routing
 * tree and silences.
 */
#include "config/config_alerting_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_MATCHER_LEN 4096
#define MAX_RE_LEN 512
#define MAX_RE_REPEAT 64 /* repetition operators in one regex */
#define MAX_RE_BOUND 255 /* the n of {m,n} (POSIX RE_DUP_MAX) */

/* glibc's regcomp builds its automaton eagerly: stacked quantifiers ("a+++...") or large
 * bounds make it take gigabytes for a 300-byte pattern (the silences fuzz target found
 * one: tests/unit/test_gate_server.c, oom-fb9bfed3). A silence or route regex is a label
 * pattern, not a program: refuse the shapes that explode. NULL when fine, else why. */
static const char *regex_too_complex(const char *v)
{
    size_t n = strlen(v), repeats = 0;
    int in_class = 0, prev_quant = 0;
    if (n > MAX_RE_LEN) {
        return "longer than 512 bytes";
    }
    for (size_t i = 0; i < n; i++) {
        char c = v[i];
        if (c == '\\' && i + 1 < n) {
            i++;
            prev_quant = 0;
            continue;
        }
        if (in_class) {
            in_class = c != ']';
            continue;
        }
        int quant = c == '*' || c == '+' || c == '?' || c == '{';
        if (quant && prev_quant) {
            return "a repetition of a repetition (like a++ or a*{2})";
        }
        if (quant && ++repeats > MAX_RE_REPEAT) {
            return "more than 64 repetition operators";
        }
        if (c == '{') {
            const char *q = v + i + 1;
            char *end = NULL;
            for (int k = 0; k < 2; k++) {
                long b = strtol(q, &end, 10);
                if (end != q && b > MAX_RE_BOUND) {
                    return "a repetition bound above 255";
                }
                q = *end == ',' ? end + 1 : end;
            }
            const char *close = strchr(v + i, '}');
            i = close ? (size_t)(close - v) : n;
        }
        in_class = c == '[';
        if (in_class && i + 1 < n && v[i + 1] == ']') {
            i++; /* "[]...]": the first ] is a member */
        }
        prev_quant = quant;
    }
    return NULL;
}

enum wg_err wg_matcher_init(struct wg_matcher *m, const char *name, enum wg_match_op op,
                            const char *value, char *err, size_t errlen)
{
    memset(m, 0, sizeof(*m));
    if (!name || !*name || !value || strlen(value) > MAX_MATCHER_LEN) {
        snprintf(err, errlen, "empty name or oversized value");
        return WG_EINVAL;
    }
    m->name = wg_strdup(name);
    m->value = wg_strdup(value);
    m->op = op;
    if (!m->name || !m->value) {
        snprintf(err, errlen, "out of memory");
        wg_matcher_clear(m);
        return WG_ENOMEM;
    }
    const char *why = NULL;
    if ((op == WG_MATCH_RE || op == WG_MATCH_NRE) && (why = regex_too_complex(value)) != NULL) {
        snprintf(err, errlen, "regular expression '%.80s' refused: %s", value, why);
        wg_matcher_clear(m);
        return WG_EINVAL;
    }
    if (op == WG_MATCH_RE || op == WG_MATCH_NRE) {
        char *pat = wg_asprintf("^(%s)$", value);
        int rc = pat ? regcomp(&m->re, pat, REG_EXTENDED | REG_NOSUB) : REG_ESPACE;
        free(pat);
        if (rc != 0) {
            snprintf(err, errlen, "bad regular expression '%s'", value);
            wg_matcher_clear(m);
            return WG_EINVAL;
        }
        m->has_re = 1;
    }
    return WG_OK;
}

static int is_name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

enum wg_err wg_matcher_parse(const char *s, struct wg_matcher *out, char *err, size_t errlen)
{
    const char *p = s, *ns, *ne;
    enum wg_match_op op;
    memset(out, 0, sizeof(*out));
    if (!s || strlen(s) > MAX_MATCHER_LEN) {
        snprintf(err, errlen, "matcher missing or too long");
        return WG_EINVAL;
    }
    while (*p == ' ') {
        p++;
    }
    ns = p;
    while (is_name_char(*p)) {
        p++;
    }
    ne = p;
    while (*p == ' ') {
        p++;
    }
    if (ne == ns) {
        snprintf(err, errlen, "'%s': expected a label name", s);
        return WG_EINVAL;
    }
    if (p[0] == '=' && p[1] == '~') {
        op = WG_MATCH_RE;
        p += 2;
    } else if (p[0] == '!' && p[1] == '~') {
        op = WG_MATCH_NRE;
        p += 2;
    } else if (p[0] == '!' && p[1] == '=') {
        op = WG_MATCH_NE;
        p += 2;
    } else if (p[0] == '=') {
        op = WG_MATCH_EQ;
        p += p[1] == '=' ? 2 : 1;
    } else {
        snprintf(err, errlen, "'%s': expected =, !=, =~ or !~", s);
        return WG_EINVAL;
    }
    while (*p == ' ') {
        p++;
    }
    size_t vl = strlen(p);
    while (vl && p[vl - 1] == ' ') {
        vl--;
    }
    char *val;
    if (vl >= 2 && p[0] == '"' && p[vl - 1] == '"') {
        /* Unescape \" and \\ inside the quotes. */
        val = malloc(vl);
        size_t o = 0;
        for (size_t i = 1; val && i + 1 < vl; i++) {
            if (p[i] == '\\' && i + 2 < vl) {
                i++;
            }
            val[o++] = p[i];
        }
        if (val) {
            val[o] = '\0';
        }
    } else {
        val = wg_strndup(p, vl);
    }
    char *name = wg_strndup(ns, (size_t)(ne - ns));
    enum wg_err rc = WG_ENOMEM;
    if (val && name) {
        rc = wg_matcher_init(out, name, op, val, err, errlen);
    } else {
        snprintf(err, errlen, "out of memory");
    }
    free(val);
    free(name);
    return rc;
}

void wg_matcher_clear(struct wg_matcher *m)
{
    if (!m) {
        return;
    }
    free(m->name);
    free(m->value);
    if (m->has_re) {
        regfree(&m->re);
    }
    memset(m, 0, sizeof(*m));
}

void wg_matchers_clear(struct wg_matchers *ms)
{
    for (size_t i = 0; ms && i < ms->n; i++) {
        wg_matcher_clear(&ms->v[i]);
    }
    if (ms) {
        free(ms->v);
        ms->v = NULL;
        ms->n = 0;
    }
}

enum wg_err wg__config_message_check(const char *t, size_t *off, char *err, size_t errlen)
{
    static const char *const plain[] = {"status", "receiver", "count", "alertname", NULL};
    static const char *const dotted[] = {"labels.", "annotations.", "group.", "common.", NULL};
    const char *p = t;
    *off = 0;
    while (p && (p = strstr(p, "{{")) != NULL) {
        *off = (size_t)(p - t);
        const char *e = strstr(p + 2, "}}");
        if (!e) {
            snprintf(err, errlen, "unclosed '{{' at offset %zu", (size_t)(p - t));
            return WG_EINVAL;
        }
        const char *a = p + 2, *b = e;
        while (a < b && *a == ' ') {
            a++;
        }
        while (b > a && b[-1] == ' ') {
            b--;
        }
        size_t n = (size_t)(b - a);
        int ok = 0;
        for (int i = 0; plain[i]; i++) {
            ok |= n == strlen(plain[i]) && memcmp(a, plain[i], n) == 0;
        }
        for (int i = 0; dotted[i]; i++) {
            size_t pl = strlen(dotted[i]);
            if (n > pl && memcmp(a, dotted[i], pl) == 0) {
                ok = 1;
                for (size_t k = pl; k < n; k++) {
                    ok &= is_name_char(a[k]);
                }
            }
        }
        if (!ok) {
            snprintf(err, errlen,
                     "unknown field '%.*s' (allowed: status, receiver, count, "
                     "alertname, labels.X, annotations.X, group.X, common.X)",
                     (int)n, a);
            return WG_EINVAL;
        }
        p = e + 2;
    }
    if (t && strstr(t, "}}") && !strstr(t, "{{")) {
        *off = (size_t)(strstr(t, "}}") - t);
        snprintf(err, errlen, "'}}' without '{{'");
        return WG_EINVAL;
    }
    return WG_OK;
}

enum wg_err wg_config_message_check(const char *t, char *err, size_t errlen)
{
    size_t off;
    return wg__config_message_check(t, &off, err, errlen);
}

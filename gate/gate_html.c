/* gate_html.c — the evidence page of one evaluation: plain HTML and inline SVG, no script.
 * Pure: it reads the `check --format json` document and the series each rule judged (kept
 * downsampled by gate_check.c) and writes one self-contained page, light and dark. Every text
 * from the config, the sources or the request is escaped. Used by `check --format html` and
 * by the server's /ui/evaluations/{id} (gate_server_ui.c).
 */
#include "gate/gate.h"
#include "gate/gate_int.h"

#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- a sticky-error builder over wg_buf ------------------------------------------------ */

/* A failed append poisons the buffer (max = len: every later append fails), so a page is
 * never shipped truncated: wg__html_take returns NULL then. Buffers start with max 0. */
void wg__html_add(struct wg_buf *b, const void *p, size_t n)
{
    if (wg_buf_add(b, p, n) != WG_OK) {
        b->max = b->len;
    }
}

void wg__html_adds(struct wg_buf *b, const char *s)
{
    wg__html_add(b, s, strlen(s));
}

void wg__html_addf(struct wg_buf *b, const char *fmt, ...)
{
    char small[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof(small), fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof(small)) {
        b->max = b->len; /* the page's formats are short; longer text goes through esc */
        return;
    }
    wg__html_add(b, small, (size_t)n);
}

char *wg__html_take(struct wg_buf *b)
{
    if (b->max != SIZE_MAX) {
        wg_buf_free(b);
        return NULL;
    }
    return wg_buf_take(b);
}

/* ---- escaping and the page frame --------------------------------------------------------- */

void wg__html_esc(struct wg_buf *b, const char *s)
{
    const char *run = s;
    for (; s && *s; s++) {
        const char *rep = NULL;
        switch (*s) {
        case '&':
            rep = "&amp;";
            break;
        case '<':
            rep = "&lt;";
            break;
        case '>':
            rep = "&gt;";
            break;
        case '"':
            rep = "&quot;";
            break;
        case '\'':
            rep = "&#39;";
            break;
        default:
            continue;
        }
        wg__html_add(b, run, (size_t)(s - run));
        wg__html_adds(b, rep);
        run = s + 1;
    }
    if (s && s > run) {
        wg__html_add(b, run, (size_t)(s - run));
    }
}

static const char CSS[] =
    ":root{color-scheme:light dark;--bg:#fff;--fg:#1b1f24;--mut:#57606a;--line:#d0d7de;"
    "--card:#f6f8fa;--pass:#1a7f37;--warn:#9a6700;--inc:#6e7781;--err:#8250df;--fail:#cf222e;"
    "--s:#0969da;--b:#8c959f;--bw:rgba(140,149,159,.14);--cw:rgba(9,105,218,.08)}"
    "@media (prefers-color-scheme:dark){:root{--bg:#0d1117;--fg:#e6edf3;--mut:#8d96a0;"
    "--line:#30363d;--card:#161b22;--pass:#3fb950;--warn:#d29922;--inc:#8d96a0;--err:#a371f7;"
    "--fail:#f85149;--s:#58a6ff;--b:#6e7681;--bw:rgba(110,118,129,.18);"
    "--cw:rgba(88,166,255,.10)}}"
    "body{margin:0 auto;max-width:980px;padding:12px;background:var(--bg);color:var(--fg);"
    "font:15px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif}"
    "h1{font-size:1.4em;margin:.2em 0}h2{font-size:1.1em;margin:.2em 0}"
    "a{color:var(--s)}.mut{color:var(--mut)}"
    "section,.card{background:var(--card);border:1px solid var(--line);border-radius:8px;"
    "padding:10px 12px;margin:12px 0}section.v-fail{border-left:4px solid var(--fail)}"
    "table{border-collapse:collapse;width:100%;font-size:.92em}"
    "th,td{text-align:left;padding:3px 6px;border-bottom:1px solid var(--line);"
    "vertical-align:top}td:last-child{overflow-wrap:anywhere}.tw{overflow-x:auto}"
    "tr.fail td{background:rgba(207,34,46,.12);font-weight:600}"
    ".badge{display:inline-block;white-space:nowrap;padding:0 "
    ".5em;border-radius:1em;color:#fff;font-weight:600;"
    "font-size:.85em;text-transform:uppercase;background:var(--inc)}"
    ".v-pass.badge{background:var(--pass)}.v-warn.badge{background:var(--warn)}"
    ".v-error.badge{background:var(--err)}.v-fail.badge{background:var(--fail)}"
    "dl{display:grid;grid-template-columns:max-content 1fr;gap:2px 12px;margin:6px 0}"
    "dt{color:var(--mut)}dd{margin:0;overflow-wrap:anywhere}"
    "pre{white-space:pre-wrap;overflow-wrap:anywhere;font-size:.85em;margin:4px 0}"
    "svg{width:100%;height:auto;display:block}"
    "svg text{fill:var(--mut);font-size:11px}"
    "svg .ax{stroke:var(--line)}svg .bw{fill:var(--bw)}svg .cw{fill:var(--cw)}"
    "svg polyline{fill:none;stroke-width:1.2}svg .s{stroke:var(--s);opacity:.55}"
    "svg .b{stroke:var(--b);opacity:.7}svg .s.fail,svg .b.fail{opacity:1;stroke-width:2.2}"
    "svg .s.fail{stroke:var(--fail)}svg circle.s{fill:var(--s)}svg circle.b{fill:var(--b)}"
    "svg circle.fail{fill:var(--fail)}"
    "svg .threshold{stroke:var(--fail);stroke-dasharray:6 4;stroke-width:1.5}"
    "svg .warnline{stroke:var(--warn);stroke-dasharray:4 4}"
    "svg .baseline{stroke:var(--b);stroke-dasharray:2 3;stroke-width:1.5}"
    "svg .deploy{stroke:var(--fg);stroke-width:1.5}"
    "@media (max-width:600px){body{padding:6px;font-size:14px}section,.card{padding:8px}"
    "th,td{padding:2px 4px}td:last-child{min-width:11em}dl{grid-template-columns:1fr}"
    "dt{margin-top:4px}}";

void wg__html_head(struct wg_buf *b, const char *title)
{
    wg__html_adds(b, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                     "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
                     "style-src 'unsafe-inline'; img-src data:\">"
                     "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">"
                     "<meta name=\"color-scheme\" content=\"light dark\"><title>");
    wg__html_esc(b, title);
    wg__html_adds(b, "</title><style>");
    wg__html_adds(b, CSS);
    wg__html_adds(b, "</style></head><body>\n");
}

void wg__html_tail(struct wg_buf *b)
{
    wg__html_adds(b, "<p class=\"mut\">wavegate evidence page</p></body></html>\n");
}

void wg__html_badge(struct wg_buf *b, const char *verdict)
{
    verdict = verdict ? verdict : "error"; /* no verdict is never shown as a pass */
    wg__html_adds(b, "<span class=\"badge v-");
    wg__html_esc(b, verdict);
    wg__html_adds(b, "\">");
    wg__html_esc(b, verdict);
    wg__html_adds(b, "</span>");
}

void wg__html_a(struct wg_buf *b, const char *href, const char *text)
{
    wg__html_adds(b, "<a href=\"");
    wg__html_esc(b, href);
    wg__html_adds(b, "\">");
    wg__html_esc(b, text);
    wg__html_adds(b, "</a>");
}

void wg__html_cell(struct wg_buf *b, const char *text)
{
    wg__html_adds(b, "</td><td>");
    wg__html_esc(b, text);
}

/* ---- small JSON readers ------------------------------------------------------------------ */

const char *wg__html_jstr(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static int jnum(const cJSON *o, const char *k, double *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    if (!cJSON_IsNumber(v)) {
        return 0;
    }
    *out = v->valuedouble;
    return 1;
}

static int64_t jtime(const cJSON *o, const char *obj, const char *k)
{
    const cJSON *w = obj ? cJSON_GetObjectItemCaseSensitive(o, obj) : o;
    const char *s = wg__html_jstr(w, k);
    int64_t ns = 0;
    if (!s || wg_time_parse(s, strlen(s), &ns) != WG_OK) {
        return 0;
    }
    return ns;
}

/* A number as text: %.6g, "-" when absent. */
static void put_num(struct wg_buf *b, const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    if (cJSON_IsNumber(v)) {
        wg__html_addf(b, "%.6g", v->valuedouble);
    } else if (cJSON_IsString(v)) {
        wg__html_esc(b, v->valuestring);
    } else {
        wg__html_adds(b, "-");
    }
}

/* ---- the chart --------------------------------------------------------------------------- */

enum { CW = 640, CH = 220, PL = 58, PR = 630, PT = 10, PB = 192 };

struct scale {
    int64_t t0, t1;
    double v0, v1;
};

static double sx(const struct scale *k, int64_t t)
{
    return PL + (double)(t - k->t0) * (PR - PL) / (double)(k->t1 - k->t0);
}

static double sy(const struct scale *k, double v)
{
    return PB - (v - k->v0) * (PB - PT) / (k->v1 - k->v0);
}

/* One decimal, fast (charts have tens of thousands of points): "123.4". */
static size_t fix1(char *p, double x)
{
    long long q = llround(x * 10);
    size_t n = 0;
    char tmp[24];
    int neg = q < 0;
    unsigned long long u = neg ? (unsigned long long)(-q) : (unsigned long long)q;
    size_t k = 0;
    tmp[k++] = (char)('0' + u % 10);
    u /= 10;
    tmp[k++] = '.';
    do {
        tmp[k++] = (char)('0' + u % 10);
        u /= 10;
    } while (u && k < sizeof(tmp));
    if (neg) {
        p[n++] = '-';
    }
    while (k) {
        p[n++] = tmp[--k];
    }
    return n;
}

static void extend(struct scale *k, double v, int *any)
{
    if (!isfinite(v)) {
        return;
    }
    if (!*any) {
        k->v0 = k->v1 = v;
        *any = 1;
    }
    k->v0 = v < k->v0 ? v : k->v0;
    k->v1 = v > k->v1 ? v : k->v1;
}

/* Horizontal reference lines of a rule: absolute thresholds, the baseline value and the
 * relative limits resolved against it. */
struct hline {
    const char *cls, *label;
    double v;
};

static size_t hlines(const cJSON *rule, struct hline *h)
{
    const cJSON *th = cJSON_GetObjectItemCaseSensitive(rule, "threshold");
    size_t n = 0;
    double v, base = 0;
    int has_base = jnum(rule, "baseline", &base);
    static const struct {
        const char *k, *cls;
        int dir; /* +1 increase, -1 decrease */
    } lims[] = {{"max", "threshold", 0},
                {"min", "threshold", 0},
                {"warn_max", "warnline", 0},
                {"warn_min", "warnline", 0},
                {"max_increase", "threshold", 1},
                {"max_decrease", "threshold", -1},
                {"allowed_increase", "threshold", 1},
                {"allowed_decrease", "threshold", -1}};
    for (size_t i = 0; i < sizeof(lims) / sizeof(lims[0]); i++) {
        const cJSON *x = cJSON_GetObjectItemCaseSensitive(th, lims[i].k);
        if (!lims[i].dir && cJSON_IsNumber(x)) {
            h[n++] = (struct hline){lims[i].cls, lims[i].k, x->valuedouble};
        } else if (lims[i].dir && has_base && cJSON_IsNumber(x)) {
            h[n++] = (struct hline){lims[i].cls, lims[i].k, base + lims[i].dir * x->valuedouble};
        } else if (lims[i].dir && has_base && cJSON_IsString(x)) {
            double pct = strtod(x->valuestring, NULL);
            v = base * (1 + lims[i].dir * pct / 100);
            h[n++] = (struct hline){lims[i].cls, lims[i].k, v};
        }
    }
    if (has_base) {
        h[n++] = (struct hline){"baseline", "baseline", base};
    }
    return n;
}

/* The group (index into the rule's "groups") a series belongs to: the first whose labels
 * all appear in the series' labels; -1 when none. */
static int group_of(const cJSON *groups, const struct wg_series *s)
{
    int gi = 0;
    const cJSON *g;
    cJSON_ArrayForEach(g, groups)
    {
        const cJSON *lab = cJSON_GetObjectItemCaseSensitive(g, "labels");
        int ok = 1;
        const cJSON *kv;
        cJSON_ArrayForEach(kv, lab)
        {
            int found = 0;
            for (size_t i = 0; i < s->nlabels && !found; i++) {
                found = cJSON_IsString(kv) && !strcmp(s->labels[i].key, kv->string) &&
                        !strcmp(s->labels[i].value, kv->valuestring);
            }
            ok &= found;
        }
        if (ok) {
            return gi;
        }
        gi++;
    }
    return -1;
}

static void points(struct wg_buf *b, const struct scale *k, const struct wg_series *s)
{
    char tmp[4096];
    size_t n = 0;
    for (size_t i = 0; i < s->n; i++) {
        if (!isfinite(s->v[i]) || !s->t || s->t[i] < k->t0 || s->t[i] > k->t1) {
            continue;
        }
        if (n > sizeof(tmp) - 64) {
            wg__html_add(b, tmp, n);
            n = 0;
        }
        n += fix1(tmp + n, sx(k, s->t[i]));
        tmp[n++] = ',';
        n += fix1(tmp + n, sy(k, s->v[i]));
        tmp[n++] = ' ';
    }
    wg__html_add(b, tmp, n);
}

static void series_lines(struct wg_buf *b, const struct scale *k, const struct wg_seriesset *ss,
                         const cJSON *groups, const char *cls)
{
    for (size_t i = 0; ss && i < ss->n; i++) {
        const struct wg_series *s = &ss->s[i];
        int gi = group_of(groups, s);
        const char *gv = gi >= 0 ? wg__html_jstr(cJSON_GetArrayItem(groups, gi), "verdict") : NULL;
        int fail = gv && !strcmp(gv, "fail");
        wg__html_addf(b, "<polyline class=\"%s%s\" data-group=\"%d\" points=\"", cls,
                      fail ? " fail" : "", gi);
        points(b, k, s);
        wg__html_adds(b, "\"><title>");
        for (size_t j = 0; j < s->nlabels; j++) {
            wg__html_adds(b, j ? ", " : "");
            wg__html_esc(b, s->labels[j].key);
            wg__html_adds(b, "=");
            wg__html_esc(b, s->labels[j].value);
        }
        wg__html_adds(b, "</title></polyline>\n");
        for (size_t p = 0; s->n <= 20 && s->t && p < s->n; p++) {
            /* few points (an aggregate per window): a line alone would not show them */
            if (isfinite(s->v[p]) && s->t[p] >= k->t0 && s->t[p] <= k->t1) {
                wg__html_addf(b, "<circle class=\"%s%s\" cx=\"%.1f\" cy=\"%.1f\" r=\"3\"/>", cls,
                              fail ? " fail" : "", sx(k, s->t[p]), sy(k, s->v[p]));
            }
        }
    }
}

static void hms(int64_t ns, char *out, size_t len)
{
    char t[48];
    wg_time_format(ns, t, sizeof(t));
    char *p = strchr(t, 'T');
    snprintf(out, len, "%.8s", p ? p + 1 : t);
}

void wg__html_chart(struct wg_buf *b, const cJSON *rule, const struct wg__html_series *s,
                    int64_t deploy_ns, const char *id)
{
    struct scale k = {0};
    int64_t ws = jtime(rule, "window", "start"), we = jtime(rule, "window", "end");
    int64_t bs = jtime(rule, "baseline_window", "start");
    int64_t be = jtime(rule, "baseline_window", "end");
    k.t0 = ws;
    k.t1 = we;
    if (bs && bs < k.t0) {
        k.t0 = bs;
    }
    if (deploy_ns && deploy_ns < k.t0) {
        k.t0 = deploy_ns;
    }
    if (be > k.t1) {
        k.t1 = be;
    }
    if (!ws || !we || k.t1 <= k.t0) {
        wg__html_adds(b, "<p class=\"mut\">no chart: the window is not known</p>");
        return;
    }
    struct hline hl[16];
    size_t nh = hlines(rule, hl);
    int any = 0;
    for (size_t i = 0; i < nh; i++) {
        extend(&k, hl[i].v, &any);
    }
    const struct wg_seriesset *sets[2] = {s ? s->cur : NULL, s ? s->base : NULL};
    for (int j = 0; j < 2; j++) {
        for (size_t i = 0; sets[j] && i < sets[j]->n; i++) {
            const struct wg_series *x = &sets[j]->s[i];
            for (size_t p = 0; p < x->n; p++) {
                if (x->t && x->t[p] >= k.t0 && x->t[p] <= k.t1) {
                    extend(&k, x->v[p], &any);
                }
            }
        }
    }
    if (!any) {
        k.v0 = 0;
        k.v1 = 1;
    }
    double pad = (k.v1 - k.v0) * 0.06;
    pad = pad > 0 ? pad : (fabs(k.v1) > 0 ? fabs(k.v1) * 0.1 : 1);
    k.v0 -= pad;
    k.v1 += pad;
    wg__html_addf(b,
                  "<svg id=\"%s-chart\" viewBox=\"0 0 %d %d\" role=\"img\" data-t0=\"%lld\" "
                  "data-t1=\"%lld\" data-x0=\"%d\" data-x1=\"%d\" data-v0=\"%.17g\" "
                  "data-v1=\"%.17g\" data-y0=\"%d\" data-y1=\"%d\">",
                  id, CW, CH, (long long)k.t0, (long long)k.t1, PL, PR, k.v0, k.v1, PB, PT);
    if (bs && be > bs) {
        wg__html_addf(b, "<rect class=\"bw\" x=\"%.1f\" y=\"%d\" width=\"%.1f\" height=\"%d\"/>",
                      sx(&k, bs), PT, sx(&k, be) - sx(&k, bs), PB - PT);
        wg__html_addf(b, "<text x=\"%.1f\" y=\"%d\">baseline</text>", sx(&k, bs) + 3, PT + 11);
    }
    wg__html_addf(b, "<rect class=\"cw\" x=\"%.1f\" y=\"%d\" width=\"%.1f\" height=\"%d\"/>",
                  sx(&k, ws), PT, sx(&k, we) - sx(&k, ws), PB - PT);
    wg__html_addf(b, "<text x=\"%.1f\" y=\"%d\">post-deploy</text>", sx(&k, ws) + 3, PT + 11);
    wg__html_addf(b,
                  "<line class=\"ax\" x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\"/>"
                  "<line class=\"ax\" x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\"/>",
                  PL, PB, PR, PB, PL, PT, PL, PB);
    wg__html_addf(b, "<text x=\"2\" y=\"%d\">%.4g</text><text x=\"2\" y=\"%d\">%.4g</text>", PT + 8,
                  k.v1, PB, k.v0);
    char t0[16], t1[16];
    hms(k.t0, t0, sizeof(t0));
    hms(k.t1, t1, sizeof(t1));
    wg__html_addf(b,
                  "<text x=\"%d\" y=\"%d\">%s</text>"
                  "<text x=\"%d\" y=\"%d\" text-anchor=\"end\">%s UTC</text>\n",
                  PL, CH - 8, t0, PR, CH - 8, t1);
    const cJSON *groups = cJSON_GetObjectItemCaseSensitive(rule, "groups");
    series_lines(b, &k, sets[1], groups, "b");
    series_lines(b, &k, sets[0], groups, "s");
    int first_threshold = 1;
    for (size_t i = 0; i < nh; i++) {
        double y = sy(&k, hl[i].v);
        int is_th = !strcmp(hl[i].cls, "threshold");
        char idattr[64] = "";
        if (is_th && first_threshold) {
            snprintf(idattr, sizeof(idattr), " id=\"%s-threshold\"", id);
            first_threshold = 0;
        } else if (!strcmp(hl[i].cls, "baseline")) {
            snprintf(idattr, sizeof(idattr), " id=\"%s-baseline\"", id);
        }
        wg__html_addf(b,
                      "<line%s class=\"%s\" data-name=\"%s\" data-value=\"%.17g\" x1=\"%d\" "
                      "y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\"><title>%s %.6g</title></line>",
                      idattr, hl[i].cls, hl[i].label, hl[i].v, PL, y, PR, y, hl[i].label, hl[i].v);
        wg__html_addf(b, "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%s</text>", PR - 2, y - 3,
                      hl[i].label);
    }
    if (deploy_ns >= k.t0 && deploy_ns <= k.t1 && deploy_ns) {
        double x = sx(&k, deploy_ns);
        wg__html_addf(b,
                      "<line id=\"%s-deploy\" class=\"deploy\" data-t=\"%lld\" x1=\"%.1f\" "
                      "y1=\"%d\" x2=\"%.1f\" y2=\"%d\"><title>deploy</title></line>"
                      "<text x=\"%.1f\" y=\"%d\">deploy</text>",
                      id, (long long)deploy_ns, x, PT, x, PB, x + 3, PB - 4);
    }
    wg__html_adds(b, "</svg>\n");
}

/* ---- the page ---------------------------------------------------------------------------- */

/* The rendered query with secrets out: the value after password=, token=, secret=, p=, u=,
 * api_key=, authorization: and Bearer is replaced (a template may carry them in the text). */
static void put_query(struct wg_buf *b, const char *q)
{
    static const char *const keys[] = {"password", "passwd",        "token",  "secret", "api_key",
                                       "apikey",   "authorization", "bearer", "p",      "u"};
    struct wg_buf tmp;
    wg_buf_init(&tmp, 0);
    const char *s = q;
    while (*s) {
        size_t skip = 0;
        int word_start = s == q || !((s[-1] >= 'a' && s[-1] <= 'z') ||
                                     (s[-1] >= 'A' && s[-1] <= 'Z') || s[-1] == '_');
        for (size_t i = 0; word_start && !skip && i < sizeof(keys) / sizeof(keys[0]); i++) {
            size_t n = strlen(keys[i]);
            if (strncasecmp(s, keys[i], n) != 0) {
                continue;
            }
            const char *v = s + n;
            int sep = *v == '=' || *v == ':' || (*v == ' ' && !strcmp(keys[i], "bearer"));
            if (!sep) {
                continue;
            }
            v++;
            while (*v == ' ' || *v == '\'' || *v == '"') {
                v++;
            }
            const char *e = v;
            while (*e && *e != ' ' && *e != '&' && *e != '\'' && *e != '"' && *e != '\n' &&
                   *e != ',' && *e != ';') {
                e++;
            }
            if (e > v) {
                wg__html_add(&tmp, s, (size_t)(v - s));
                wg__html_adds(&tmp, "REDACTED");
                skip = (size_t)(e - s);
            }
        }
        if (skip) {
            s += skip;
        } else {
            wg__html_add(&tmp, s, 1);
            s++;
        }
    }
    if (tmp.max != SIZE_MAX) {
        b->max = b->len; /* poison: never a half-redacted query */
    } else {
        wg__html_esc(b, tmp.p ? tmp.p : "");
    }
    wg_buf_free(&tmp);
}

static void put_labels(struct wg_buf *b, const cJSON *labels)
{
    const cJSON *kv;
    int first = 1;
    cJSON_ArrayForEach(kv, labels)
    {
        wg__html_adds(b, first ? "" : ", ");
        wg__html_esc(b, kv->string);
        wg__html_adds(b, "=");
        wg__html_esc(b, cJSON_IsString(kv) ? kv->valuestring : "");
        first = 0;
    }
    if (first) {
        wg__html_adds(b, "(all)");
    }
}

static void put_threshold(struct wg_buf *b, const cJSON *th)
{
    const cJSON *kv;
    int first = 1;
    cJSON_ArrayForEach(kv, th)
    {
        wg__html_adds(b, first ? "" : ", ");
        wg__html_esc(b, kv->string);
        wg__html_adds(b, " ");
        if (cJSON_IsNumber(kv)) {
            wg__html_addf(b, "%.6g", kv->valuedouble);
        } else if (cJSON_IsString(kv)) {
            wg__html_esc(b, kv->valuestring);
        }
        first = 0;
    }
    if (first) {
        wg__html_adds(b, "-");
    }
}

static void dd_text(struct wg_buf *b, const char *dt, const char *text)
{
    wg__html_adds(b, "<dt>");
    wg__html_adds(b, dt);
    wg__html_adds(b, "</dt><dd>");
    wg__html_esc(b, text ? text : "-");
    wg__html_adds(b, "</dd>");
}

static void dd_num(struct wg_buf *b, const char *dt, const cJSON *o, const char *k)
{
    wg__html_adds(b, "<dt>");
    wg__html_adds(b, dt);
    wg__html_adds(b, "</dt><dd>");
    put_num(b, o, k);
    wg__html_adds(b, "</dd>");
}

static void rule_section(struct wg_buf *b, const cJSON *rule, size_t i,
                         const struct wg__html_series *s, int64_t deploy_ns)
{
    const char *v = wg__html_jstr(rule, "verdict");
    char id[32];
    snprintf(id, sizeof(id), "r%zu", i);
    wg__html_addf(b, "<section id=\"%s\" class=\"rule v-", id);
    wg__html_esc(b, v ? v : "error");
    wg__html_adds(b, "\"><h2>");
    if (wg__html_jstr(rule, "target")) { /* a fleet wave: the same rule once per target */
        wg__html_esc(b, wg__html_jstr(rule, "target"));
        wg__html_adds(b, " / ");
    }
    wg__html_esc(b, wg__html_jstr(rule, "feature"));
    wg__html_adds(b, " / ");
    wg__html_esc(b, wg__html_jstr(rule, "rule"));
    wg__html_adds(b, " ");
    wg__html_badge(b, v ? v : "error");
    if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(rule, "dry_run"))) {
        wg__html_adds(b, " <span class=\"mut\">dry-run</span>");
    }
    wg__html_adds(b, "</h2><dl>");
    dd_text(b, "reason", wg__html_jstr(rule, "reason"));
    dd_num(b, "value", rule, "value");
    wg__html_adds(b, "<dt>threshold</dt><dd>");
    put_threshold(b, cJSON_GetObjectItemCaseSensitive(rule, "threshold"));
    wg__html_adds(b, "</dd>");
    if (cJSON_GetObjectItemCaseSensitive(rule, "baseline")) {
        dd_num(b, "baseline", rule, "baseline");
    }
    dd_num(b, "samples", rule, "samples");
    dd_text(b, "severity", wg__html_jstr(rule, "severity"));
    const cJSON *mw = cJSON_GetObjectItemCaseSensitive(rule, "mann_whitney");
    if (mw) {
        /* "p = P, U = U, z = Z, shift S [LO, HI], n NC vs NB": each member after its text */
        static const char *const parts[][2] = {
            {"<dt>Mann-Whitney</dt><dd>p = ", "p_value"},
            {", U = ", "u"},
            {", z = ", "z"},
            {", shift ", "shift"},
            {" [", "shift_low"},
            {", ", "shift_high"},
            {"], n ", "n_current"},
            {" vs ", "n_baseline"},
        };
        for (size_t k = 0; k < sizeof(parts) / sizeof(parts[0]); k++) {
            wg__html_adds(b, parts[k][0]);
            put_num(b, mw, parts[k][1]);
        }
        wg__html_adds(b, "</dd>");
    }
    const cJSON *win = cJSON_GetObjectItemCaseSensitive(rule, "window");
    wg__html_adds(b, "<dt>window</dt><dd>");
    wg__html_esc(b, wg__html_jstr(win, "start"));
    wg__html_adds(b, " .. ");
    wg__html_esc(b, wg__html_jstr(win, "end"));
    wg__html_adds(b, "</dd>");
    const cJSON *bw = cJSON_GetObjectItemCaseSensitive(rule, "baseline_window");
    if (bw) {
        wg__html_adds(b, "<dt>baseline window</dt><dd>");
        wg__html_esc(b, wg__html_jstr(bw, "start"));
        wg__html_adds(b, " .. ");
        wg__html_esc(b, wg__html_jstr(bw, "end"));
        wg__html_adds(b, "</dd>");
    }
    dd_text(b, "source", wg__html_jstr(rule, "source"));
    wg__html_adds(b, "</dl>\n");
    wg__html_chart(b, rule, s, deploy_ns, id);
    const cJSON *groups = cJSON_GetObjectItemCaseSensitive(rule, "groups");
    wg__html_adds(
        b,
        "<div class=\"tw\"><table><tr><th>group</th><th>verdict</th><th>value</th><th>baseline</th>"
        "<th>samples</th><th>reason</th></tr>\n");
    const cJSON *g;
    int gi = 0;
    cJSON_ArrayForEach(g, groups)
    {
        const char *gv = wg__html_jstr(g, "verdict");
        int fail = gv && !strcmp(gv, "fail");
        wg__html_addf(b, "<tr id=\"%s-g%d\"%s><td>", id, gi++, fail ? " class=\"fail\"" : "");
        put_labels(b, cJSON_GetObjectItemCaseSensitive(g, "labels"));
        wg__html_adds(b, "</td><td>");
        wg__html_badge(b, gv ? gv : "error");
        wg__html_adds(b, "</td><td>");
        put_num(b, g, "value");
        wg__html_adds(b, "</td><td>");
        put_num(b, g, "baseline");
        wg__html_adds(b, "</td><td>");
        put_num(b, g, "samples");
        wg__html_cell(b, wg__html_jstr(g, "reason"));
        wg__html_adds(b, "</td></tr>\n");
    }
    wg__html_adds(b, "</table></div>");
    const char *q = wg__html_jstr(rule, "query");
    if (q) {
        wg__html_adds(b, "<details><summary>query</summary><pre>");
        put_query(b, q);
        wg__html_adds(b, "</pre></details>");
    }
    wg__html_adds(b, "</section>\n");
}

/* A fleet wave: each target's verdict, deploy time and reason. */
static void target_table(struct wg_buf *b, const cJSON *targets)
{
    wg__html_adds(b, "</dl><table id=\"targets\"><tr><th>target</th><th>verdict</th>"
                     "<th>deploy</th><th>reason</th></tr>");
    const cJSON *t;
    cJSON_ArrayForEach(t, targets)
    {
        wg__html_adds(b, "<tr><td>");
        wg__html_esc(b, wg__html_jstr(t, "target"));
        wg__html_adds(b, "</td><td>");
        wg__html_badge(b, wg__html_jstr(t, "verdict"));
        wg__html_cell(b, wg__html_jstr(t, "deploy_time"));
        wg__html_cell(b, wg__html_jstr(t, "reason"));
        wg__html_adds(b, "</td></tr>");
    }
    wg__html_adds(b, "</table><dl>");
}

char *wg__html_evaluation(const cJSON *rep, const struct wg__html_series *series, size_t nseries)
{
    struct wg_buf b;
    wg_buf_init(&b, 0);
    /* One allocation of about the page's size: ~13 bytes a point plus the text (growing by
     * doubling copied megabytes on a large page; bench_pages.c). */
    size_t pts = 0;
    for (size_t i = 0; i < nseries; i++) {
        pts += series[i].cur ? wg_seriesset_points(series[i].cur) : 0;
        pts += series[i].base ? wg_seriesset_points(series[i].base) : 0;
    }
    b.cap = 65536 + 14 * pts;
    b.p = malloc(b.cap);
    if (!b.p) {
        return NULL;
    }
    b.p[0] = '\0';
    const char *verdict = wg__html_jstr(rep, "verdict");
    const char *wave = wg__html_jstr(rep, "wave");
    verdict = verdict ? verdict : "error";
    char *title = wg_asprintf("%s: %s — wavegate", wave ? wave : "?", verdict);
    wg__html_head(&b, title ? title : "wavegate");
    free(title);
    wg__html_adds(&b, "<header class=\"card\"><h1 id=\"verdict\" class=\"v-");
    wg__html_esc(&b, verdict);
    wg__html_adds(&b, "\">");
    wg__html_badge(&b, verdict);
    wg__html_adds(&b, " wave ");
    wg__html_esc(&b, wave);
    wg__html_adds(&b, "</h1><dl>");
    dd_text(&b, "env", wg__html_jstr(rep, "env"));
    if (wg__html_jstr(rep, "deploy_time")) {
        dd_text(&b, "deploy", wg__html_jstr(rep, "deploy_time"));
    }
    const cJSON *win = cJSON_GetObjectItemCaseSensitive(rep, "window");
    if (cJSON_IsObject(win)) {
        wg__html_adds(&b, "<dt>window</dt><dd>");
        wg__html_esc(&b, wg__html_jstr(win, "start"));
        wg__html_adds(&b, " .. ");
        wg__html_esc(&b, wg__html_jstr(win, "end"));
        wg__html_adds(&b, "</dd>");
    }
    if (wg__html_jstr(rep, "reason")) {
        dd_text(&b, "reason", wg__html_jstr(rep, "reason"));
    }
    if (wg__html_jstr(rep, "evaluation_id")) {
        dd_text(&b, "evaluation", wg__html_jstr(rep, "evaluation_id"));
    }
    const cJSON *targets = cJSON_GetObjectItemCaseSensitive(rep, "targets");
    if (cJSON_GetArraySize(targets) > 0) {
        target_table(&b, targets);
    }
    wg__html_adds(&b, "</dl><table><tr><th>feature</th><th>verdict</th><th>score</th></tr>");
    const cJSON *f;
    cJSON_ArrayForEach(f, cJSON_GetObjectItemCaseSensitive(rep, "features"))
    {
        wg__html_adds(&b, "<tr><td>");
        if (wg__html_jstr(f, "target")) {
            wg__html_esc(&b, wg__html_jstr(f, "target"));
            wg__html_adds(&b, " / ");
        }
        wg__html_esc(&b, wg__html_jstr(f, "feature"));
        wg__html_adds(&b, "</td><td>");
        wg__html_badge(&b, wg__html_jstr(f, "verdict"));
        wg__html_adds(&b, "</td><td>");
        put_num(&b, f, "score");
        wg__html_adds(&b, "</td></tr>");
    }
    wg__html_adds(&b, "</table></header>\n");
    int64_t deploy_ns = jtime(rep, NULL, "deploy_time");
    const cJSON *rule;
    size_t i = 0;
    cJSON_ArrayForEach(rule, cJSON_GetObjectItemCaseSensitive(rep, "rules"))
    {
        /* a fleet target's deploy marker at its own deploy time */
        int64_t at = deploy_ns;
        const cJSON *t;
        cJSON_ArrayForEach(t, targets)
        {
            const char *tn = wg__html_jstr(t, "target"), *rn = wg__html_jstr(rule, "target");
            if (tn && rn && !strcmp(tn, rn) && jtime(t, NULL, "deploy_time")) {
                at = jtime(t, NULL, "deploy_time");
            }
        }
        rule_section(&b, rule, i, i < nseries ? &series[i] : NULL, at);
        i++;
    }
    wg__html_tail(&b);
    return wg__html_take(&b);
}

char *wg_gate_report_html(const struct wg_check_report *r)
{
    char *json = wg_gate_report_json(r);
    cJSON *o = json ? cJSON_Parse(json) : NULL;
    struct wg__html_series *ss = calloc(r->nrules ? r->nrules : 1, sizeof(*ss));
    char *html = NULL;
    if (o && ss) {
        for (size_t i = 0; i < r->nrules; i++) {
            ss[i].cur = &r->rules[i].kept;
            ss[i].base = &r->rules[i].kept_baseline;
        }
        html = wg__html_evaluation(o, ss, r->nrules);
    }
    free(ss);
    cJSON_Delete(o);
    free(json);
    return html;
}

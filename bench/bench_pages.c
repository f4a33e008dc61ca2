/* bench_pages.c — how long the evidence page of a large evaluation takes server-side: 20
 * rules × 20 groups × 600 points (current and baseline windows), downsampled as gate_check.c
 * keeps them, rendered (a) from the report JSON and the kept series, (b) as /ui/evaluations/{id}
 * does: read from the evaluation store, parse, decode, render. `make bench`, then
 * bench/bench_pages [iterations]; WG_BENCH_PG_DSN=<libpq DSN> puts the store on PostgreSQL.
 */
#include "common/store.h"
#include "gate/gate_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NR 20
#define NG 20
#define NP 600
#define SEC 1000000000LL

static int cmp(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static void fill(struct wg_seriesset *ss, int64_t from, int64_t step, unsigned *seed)
{
    char host[16];
    struct wg_seriesset raw = {0};
    for (int g = 0; g < NG; g++) {
        snprintf(host, sizeof(host), "h%02d", g);
        struct wg_label l = {"host", host};
        struct wg_series *s = wg_seriesset_get(&raw, &l, 1);
        for (int i = 0; s && i < NP; i++) {
            *seed = *seed * 1103515245u + 12345u;
            if (wg_series_push(s, from + i * step, 100 + (*seed >> 16) % 50) != WG_OK) {
                exit(1);
            }
        }
    }
    if (wg__gate_downsample(&raw, ss) != WG_OK) {
        exit(1);
    }
    wg_seriesset_free(&raw);
}

static char *report_json(void)
{
    struct wg_buf b;
    wg_buf_init(&b, 0);
    wg__html_adds(&b, "{\"verdict\":\"fail\",\"wave\":\"prod\",\"env\":\"prod\","
                      "\"deploy_time\":\"2026-01-01T00:30:00Z\",\"features\":[{\"feature\":"
                      "\"checkout\",\"verdict\":\"fail\"}],\"rules\":[");
    for (int r = 0; r < NR; r++) {
        wg__html_addf(&b,
                      "%s{\"feature\":\"checkout\",\"rule\":\"rule-%d\",\"verdict\":\"fail\","
                      "\"value\":149,\"threshold\":{\"max\":140},\"baseline\":125,\"samples\":"
                      "600,\"reason\":\"mean 149 > max 140\",\"window\":{\"start\":"
                      "\"2026-01-01T00:30:00Z\",\"end\":\"2026-01-01T00:40:00Z\"},"
                      "\"baseline_window\":{\"start\":\"2026-01-01T00:00:00Z\",\"end\":"
                      "\"2026-01-01T00:30:00Z\"},\"query\":\"SELECT mean(x) FROM y\",\"groups\":[",
                      r ? "," : "", r);
        for (int g = 0; g < NG; g++) {
            wg__html_addf(&b,
                          "%s{\"labels\":{\"host\":\"h%02d\"},\"verdict\":\"%s\",\"value\":1,"
                          "\"samples\":600}",
                          g ? "," : "", g, g == 3 ? "fail" : "pass");
        }
        wg__html_adds(&b, "]}");
    }
    wg__html_adds(&b, "]}");
    return wg__html_take(&b);
}

static void report(const char *what, int64_t *ns, int n, size_t bytes)
{
    qsort(ns, (size_t)n, sizeof(*ns), cmp);
    printf("%-44s median %.2f ms  p95 %.2f ms  max %.2f ms  (%zu bytes)\n", what, ns[n / 2] / 1e6,
           ns[n * 95 / 100] / 1e6, ns[n - 1] / 1e6, bytes);
}

int main(int argc, char **argv)
{
    int iters = argc > 1 ? (int)strtol(argv[1], NULL, 10) : 100;
    iters = iters > 0 ? iters : 100;
    const char *pg = getenv("WG_BENCH_PG_DSN");
    if (pg && *pg) {
        wg_sql_use(WG_STORE_POSTGRES, "WG_BENCH_PG_DSN"); /* the `evidence` table there */
        printf("store: PostgreSQL\n");
    }
    int64_t t0 = 1767225600LL * SEC;
    unsigned seed = 42;
    struct wg_rule_report *rr = calloc(NR, sizeof(*rr));
    struct wg__html_series hs[NR];
    for (int r = 0; r < NR; r++) {
        fill(&rr[r].kept, t0 + 1800 * SEC, SEC, &seed); /* 600 points over 10 min */
        fill(&rr[r].kept_baseline, t0, 3 * SEC, &seed); /* 600 points over 30 min */
        hs[r] = (struct wg__html_series){&rr[r].kept, &rr[r].kept_baseline};
    }
    char *json = report_json();
    cJSON *o = cJSON_Parse(json);
    int64_t *ns = calloc((size_t)iters, sizeof(*ns));
    size_t bytes = 0;
    for (int i = 0; i < iters; i++) {
        int64_t a = wg_mono_ns();
        char *html = wg__html_evaluation(o, hs, NR);
        ns[i] = wg_mono_ns() - a;
        bytes = html ? strlen(html) : 0;
        free(html);
    }
    report("render (report JSON + kept series)", ns, iters, bytes);

    char dir[] = "/tmp/wg-bench-pages-XXXXXX", err[256], id[40] = "";
    struct wg__evals *e = NULL;
    struct wg_check_report rep = {.rules = rr, .nrules = NR};
    struct wg_buf blob;
    wg_buf_init(&blob, 0);
    if (!mkdtemp(dir) || wg__evals_open(dir, 10, 0, &e, err, sizeof(err)) != WG_OK ||
        wg__evals_series_encode(&rep, &blob) != WG_OK ||
        wg__evals_put(e, "gate", "prod", "fail", NULL, json, blob.p, blob.len, id, sizeof(id)) !=
            WG_OK) {
        fprintf(stderr, "store: %s\n", err);
        return 1;
    }
    for (int i = 0; i < iters; i++) {
        char *html = NULL;
        int64_t a = wg_mono_ns();
        if (wg__evals_page(e, id, &html) != WG_OK) {
            return 1;
        }
        ns[i] = wg_mono_ns() - a;
        bytes = strlen(html);
        free(html);
    }
    report("/ui/evaluations/{id} (store + decode + render)", ns, iters, bytes);
    /* what serve pays per evaluation to keep it: encode the kept series and insert (with
     * the retention delete) */
    for (int i = 0; i < iters; i++) {
        struct wg_buf bl;
        char nid[40] = "";
        wg_buf_init(&bl, 0);
        int64_t a = wg_mono_ns();
        if (wg__evals_series_encode(&rep, &bl) != WG_OK ||
            wg__evals_put(e, "gate", "prod", "fail", NULL, json, bl.p, bl.len, nid, sizeof(nid)) !=
                WG_OK) {
            return 1;
        }
        ns[i] = wg_mono_ns() - a;
        wg_buf_free(&bl);
    }
    report("keep one evaluation (encode + insert)", ns, iters, 0);
    printf("stored blob: %zu bytes for %d rules x %d groups x 2 windows\n", blob.len, NR, NG);
    wg__evals_close(e);
    /* the overview (/) reads the last 200 evaluations and their per-(target, feature)
     * verdicts: 200 stored with 20 features x 3 targets each */
    char dir2[] = "/tmp/wg-bench-pages-XXXXXX";
    struct wg_buf fb;
    wg_buf_init(&fb, 0);
    (void)wg_buf_adds(&fb, "[");
    for (int f = 0; f < NR * 3; f++) {
        (void)wg_buf_addf(&fb,
                          "%s{\"feature\":\"feature-%02d\",\"verdict\":\"pass\","
                          "\"target\":\"t%d\"}",
                          f ? "," : "", f % NR, f / NR);
    }
    (void)wg_buf_adds(&fb, "]");
    if (!mkdtemp(dir2) || wg__evals_open(dir2, 1000, 0, &e, err, sizeof(err)) != WG_OK) {
        return 1;
    }
    for (int i = 0; i < 200; i++) {
        char nid[40] = "";
        if (wg__evals_put(e, "gate", "prod", "pass", fb.p, "{}", "", 0, nid, sizeof(nid)) !=
            WG_OK) {
            return 1;
        }
    }
    for (int i = 0; i < iters; i++) {
        int64_t a = wg_mono_ns();
        cJSON *recent = wg__evals_recent(e, 200);
        ns[i] = wg_mono_ns() - a;
        cJSON_Delete(recent);
    }
    report("overview: the 200 recent evaluations (60 cells each)", ns, iters, 0);
    wg__evals_close(e);
    wg_buf_free(&fb);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s' '%s'", dir2, dir);
    if (system(cmd) != 0) {
        return 1;
    }
    wg_buf_free(&blob);
    cJSON_Delete(o);
    free(json);
    free(ns);
    for (int r = 0; r < NR; r++) {
        wg_seriesset_free(&rr[r].kept);
        wg_seriesset_free(&rr[r].kept_baseline);
    }
    free(rr);
    return 0;
}

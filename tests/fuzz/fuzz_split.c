/* fuzz_split.c — differential libFuzzer target over the three streaming parsers: the same body
 * fed whole, one byte at a time, and split at points the fuzzer chooses must give the same
 * events (begin/row, every cell), the same error and message, and the same series out of the
 * series sink (label index included). Input: byte 0 picks the parser, byte 1 the number of
 * split points (0-15), then two bytes per point, then the body. Built when WG_FUZZ=ON (clang).
 */
#include "tests/fuzz/fuzz_common.h"

#include <stdio.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FZ_MAX_SPLITS 16
#define FZ_BYTEWISE_MAX 4096 /* byte-by-byte feeding for bodies up to this size */

struct fz_out {
    struct fz_acc acc;
    enum wg_err err;
    char msg[512];
    uint64_t series; /* hash of the series sink's output */
    size_t nseries;
};

static uint64_t series_hash(const struct wg_seriesset *ss)
{
    struct fz_acc a = {0, 14695981039346656037u};
    for (size_t i = 0; i < ss->n; i++) {
        const struct wg_series *s = &ss->s[i];
        for (size_t k = 0; k < s->nlabels; k++) {
            fz_mix(&a, s->labels[k].key, strlen(s->labels[k].key) + 1);
            fz_mix(&a, s->labels[k].value, strlen(s->labels[k].value) + 1);
        }
        fz_mix(&a, s->t, s->n * sizeof(*s->t));
        fz_mix(&a, s->v, s->n * sizeof(*s->v));
    }
    return a.h;
}

/* Feed body cut at cuts[0..ncuts) (sorted offsets), each piece in its own allocation. */
static enum wg_err feed_cuts(struct wg_parser *p, const uint8_t *body, size_t len,
                             const size_t *cuts, size_t ncuts)
{
    size_t at = 0;
    enum wg_err e = WG_OK;
    for (size_t i = 0; i <= ncuts && e == WG_OK; i++) {
        size_t end = i < ncuts ? cuts[i] : len;
        if (end < at) {
            continue;
        }
        char *piece = malloc(end - at + 1);
        if (!piece) {
            return WG_ENOMEM;
        }
        memcpy(piece, body + at, end - at);
        e = wg_parser_feed(p, piece, end - at);
        free(piece);
        at = end;
    }
    return e == WG_OK ? wg_parser_finish(p) : e;
}

/* cuts == NULL with ncuts == 1: byte by byte. */
static void run(enum wg_parser_kind kind, const uint8_t *body, size_t len, const size_t *cuts,
                size_t ncuts, int bytewise, struct fz_out *o)
{
    memset(o, 0, sizeof(*o));
    o->acc.h = 14695981039346656037u;
    struct wg_sink sink = {fz_begin, fz_row, &o->acc};
    struct wg_parser *p = NULL;
    if (wg_parser_new(kind, &sink, &p) != WG_OK) {
        o->err = WG_ENOMEM;
        return;
    }
    if (bytewise) {
        enum wg_err e = WG_OK;
        for (size_t i = 0; i < len && e == WG_OK; i++) {
            char c = (char)body[i];
            e = wg_parser_feed(p, &c, 1);
        }
        o->err = e == WG_OK ? wg_parser_finish(p) : e;
    } else {
        o->err = feed_cuts(p, body, len, cuts, ncuts);
    }
    snprintf(o->msg, sizeof(o->msg), "%s", o->err == WG_OK ? "" : wg_parser_error(p));
    wg_parser_free(p);

    /* the series sink over the same pieces */
    struct wg_seriesset ss = {0};
    struct wg_series_sink sk;
    wg_series_sink_init(&sk, &ss, NULL, &sink);
    sk.row_labels = kind == WG_PARSE_JSONL;
    sk.max_series = 1000;
    if (wg_parser_new(kind, &sink, &p) == WG_OK) {
        enum wg_err e = bytewise ? WG_OK : feed_cuts(p, body, len, cuts, ncuts);
        for (size_t i = 0; bytewise && i < len && e == WG_OK; i++) {
            char c = (char)body[i];
            e = wg_parser_feed(p, &c, 1);
        }
        if (bytewise && e == WG_OK) {
            e = wg_parser_finish(p);
        }
        o->series = e == WG_OK ? series_hash(&ss) : (uint64_t)e;
        o->nseries = e == WG_OK ? ss.n : 0;
        wg_parser_free(p);
    }
    wg_series_sink_done(&sk);
    wg_seriesset_free(&ss);
}

static void same(const struct fz_out *a, const struct fz_out *b, const char *how)
{
    if (a->err != b->err || a->acc.events != b->acc.events || a->acc.h != b->acc.h ||
        strcmp(a->msg, b->msg) != 0 || a->series != b->series || a->nseries != b->nseries) {
        fprintf(stderr,
                "fuzz_split: whole and %s differ:\n  whole: err %d, %zu events, \"%s\", %zu "
                "series\n  split: err %d, %zu events, \"%s\", %zu series\n",
                how, a->err, a->acc.events, a->msg, a->nseries, b->err, b->acc.events, b->msg,
                b->nseries);
        abort();
    }
}

static int cmp_size(const void *x, const void *y)
{
    size_t a = *(const size_t *)x, b = *(const size_t *)y;
    return a < b ? -1 : a > b;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2) {
        return 0;
    }
    enum wg_parser_kind kind = (enum wg_parser_kind)(data[0] % 3);
    size_t nsplit = data[1] % FZ_MAX_SPLITS;
    if (size < 2 + 2 * nsplit) {
        return 0;
    }
    const uint8_t *body = data + 2 + 2 * nsplit;
    size_t len = size - 2 - 2 * nsplit;
    size_t cuts[FZ_MAX_SPLITS];
    for (size_t i = 0; i < nsplit; i++) {
        cuts[i] = ((size_t)data[2 + 2 * i] << 8 | data[3 + 2 * i]) % (len + 1);
    }
    qsort(cuts, nsplit, sizeof(cuts[0]), cmp_size);

    struct fz_out whole, other;
    run(kind, body, len, NULL, 0, 0, &whole);
    run(kind, body, len, cuts, nsplit, 0, &other);
    same(&whole, &other, "the fuzzer's splits");
    if (len <= FZ_BYTEWISE_MAX) {
        run(kind, body, len, NULL, 0, 1, &other);
        same(&whole, &other, "byte by byte");
    }
    return 0;
}

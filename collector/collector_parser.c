/* collector_parser.c — the public streaming-parser API (wg_parser_*): dispatches on the wire
 * format to the wg__*_new constructors of collector_influxql.c, collector_fluxcsv.c and
 * collector_jsonl.c, and the one-shot wg_collector_parse_buffer used by tests and fuzzers.
 */
#include "collector/collector_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct wg_parser {
    const struct wg__parser_ops *ops;
    void *st;
};

/* Until collector_jsonl.c lands, a stub keeps the library linking. It is compiled only when
 * that file is absent, so it can never shadow the real parser in a static link. */
#if !__has_include("collector_jsonl.c")
__attribute__((weak)) enum wg_err wg__jsonl_new(const struct wg_sink *sink, void **st,
                                                const struct wg__parser_ops **ops)
{
    (void)sink;
    (void)ops;
    *st = NULL;
    return WG_EINVAL;
}
#endif
#if !__has_include("collector_fluxcsv.c")
__attribute__((weak)) enum wg_err wg__fluxcsv_new(const struct wg_sink *sink, void **st,
                                                  const struct wg__parser_ops **ops)
{
    (void)sink;
    (void)ops;
    *st = NULL;
    return WG_EINVAL;
}
#endif

enum wg_err wg_parser_new(enum wg_parser_kind kind, const struct wg_sink *sink,
                          struct wg_parser **out)
{
    enum wg_err e;
    *out = NULL;
    struct wg_parser *p = calloc(1, sizeof(*p));
    if (!p) {
        return WG_ENOMEM;
    }
    switch (kind) {
    case WG_PARSE_INFLUXQL_JSON:
        e = wg__influxql_new(sink, &p->st, &p->ops);
        break;
    case WG_PARSE_FLUX_CSV:
        e = wg__fluxcsv_new(sink, &p->st, &p->ops);
        break;
    case WG_PARSE_JSONL:
        e = wg__jsonl_new(sink, &p->st, &p->ops);
        break;
    default:
        e = WG_EINVAL;
        break;
    }
    if (e != WG_OK) {
        free(p);
        return e;
    }
    *out = p;
    return WG_OK;
}

enum wg_err wg_parser_feed(struct wg_parser *p, const char *buf, size_t len)
{
    if (!p) {
        return WG_EINVAL;
    }
    return len ? p->ops->feed(p->st, buf, len) : WG_OK;
}

void wg_parser_set_statements(struct wg_parser *p, int n)
{
    if (p && p->ops->set_statements) {
        p->ops->set_statements(p->st, n);
    }
}

enum wg_err wg_parser_finish(struct wg_parser *p)
{
    return p ? p->ops->finish(p->st) : WG_EINVAL;
}

const char *wg_parser_error(const struct wg_parser *p)
{
    const char *m = p ? p->ops->error(p->st) : NULL;
    return m ? m : "";
}

void wg_parser_free(struct wg_parser *p)
{
    if (!p) {
        return;
    }
    p->ops->free(p->st);
    free(p);
}

enum wg_err wg_collector_parse_buffer(enum wg_parser_kind kind, const uint8_t *data, size_t len,
                                      const struct wg_sink *sink, char *err, size_t errlen)
{
    struct wg_parser *p = NULL;
    enum wg_err e = wg_parser_new(kind, sink, &p);
    if (errlen) {
        err[0] = '\0';
    }
    if (e != WG_OK) {
        if (errlen) {
            snprintf(err, errlen, "%s", wg_strerror(e));
        }
        return e;
    }
    e = wg_parser_feed(p, (const char *)data, len);
    if (e == WG_OK) {
        e = wg_parser_finish(p);
    }
    if (e != WG_OK && errlen) {
        snprintf(err, errlen, "%s", wg_parser_error(p));
    }
    wg_parser_free(p);
    return e;
}

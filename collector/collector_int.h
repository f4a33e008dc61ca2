/* collector_int.h — what the collector's files share: the parser vtable each wire format
 * implements, and request building. Not for use outside collector/.
 */
#ifndef WG_COLLECTOR_INT_H
#define WG_COLLECTOR_INT_H

#include "collector/collector.h"

/* Each wire format implements one of these; wg_parser_new dispatches on kind. */
struct wg__parser_ops {
    enum wg_err (*feed)(void *st, const char *buf, size_t len);
    enum wg_err (*finish)(void *st);
    const char *(*error)(const void *st);
    void (*free)(void *st);
};

/* Constructors: InfluxQL JSON (plain, chunked NDJSON or back-to-back objects), Flux annotated
 * CSV, InfluxDB 3 JSON Lines. On success *st and *ops are set. */
enum wg_err wg__influxql_new(const struct wg_sink *sink, void **st,
                             const struct wg__parser_ops **ops);
enum wg_err wg__fluxcsv_new(const struct wg_sink *sink, void **st,
                            const struct wg__parser_ops **ops);
enum wg_err wg__jsonl_new(const struct wg_sink *sink, void **st, const struct wg__parser_ops **ops);

#endif

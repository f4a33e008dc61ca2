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
    /* optional (InfluxQL): how many statements the query sent, so that an answer for another
     * statement, or one missing the last, is an error */
    void (*set_statements)(void *st, int n);
};

/* Constructors: InfluxQL JSON (plain, chunked NDJSON or back-to-back objects), Flux annotated
 * CSV, InfluxDB 3 JSON Lines. On success *st and *ops are set. */
enum wg_err wg__influxql_new(const struct wg_sink *sink, void **st,
                             const struct wg__parser_ops **ops) WG_NODISCARD;
enum wg_err wg__fluxcsv_new(const struct wg_sink *sink, void **st,
                            const struct wg__parser_ops **ops) WG_NODISCARD;
enum wg_err wg__jsonl_new(const struct wg_sink *sink, void **st,
                          const struct wg__parser_ops **ops) WG_NODISCARD;

/* ---- Flux annotated-CSV cells (collector_fluxcsv_value.c) -------------------------------- */

/* Column types of annotated CSV; the GUESS ones are for a body without #datatype. */
enum wg__fx_ctype {
    WG__CT_STRING = 0,
    WG__CT_LONG,
    WG__CT_ULONG,
    WG__CT_DOUBLE,
    WG__CT_BOOL,
    WG__CT_TIME,
    WG__CT_GUESS_NUM,
    WG__CT_GUESS_TIME
};

enum wg__fx_ctype wg__fx_ctype_of(const char *datatype);
const char *wg__fx_ctype_name(enum wg__fx_ctype t);
/* A field's n bytes as type t into v (strings point into s). WG_OK, or WG_EPARSE when it is
 * not one. */
enum wg_err wg__fx_convert(enum wg__fx_ctype t, const char *s, size_t n,
                           struct wg_value *v) WG_NODISCARD;

/* ---- JSON pieces shared by the InfluxQL and JSON Lines readers (collector_json.c) ------- */

/* A JSON number literal (n bytes, syntax checked or not: WG_EPARSE on bad syntax) into v:
 * INT, UINT above INT64_MAX, or FLOAT. */
enum wg_err wg__json_number(const char *s, size_t n, struct wg_value *v) WG_NODISCARD;
/* Decode the escape that follows a backslash: s points past the backslash, n bytes remain.
 * Writes 1-4 UTF-8 bytes to out and returns their count, with *used the input bytes taken
 * (a \uD83D\uDE00 pair is one character; a lone surrogate becomes U+FFFD). -1: malformed. */
int wg__json_escape(const char *s, size_t n, size_t *used, char out[4]);
/* Unescape the body of a JSON string (between the quotes) into b (NUL-terminated, b->p never
 * NULL on success). WG_EPARSE: bad escape; WG_ENOMEM / WG_ETOOBIG: b's append failed. */
enum wg_err wg__json_unescape(struct wg_buf *b, const char *s, size_t n) WG_NODISCARD;
/* The common time shape "YYYY-MM-DDTHH:MM:SS[.f{1,9}]Z" into ns, with the day cached in c
 * across calls (most rows of a series share it). WG_EINVAL: another shape (use wg_time_parse). */
struct wg__time_cache {
    char date[10];
    int64_t base;
};
enum wg_err wg__json_fast_time(struct wg__time_cache *c, const char *s, size_t n,
                               int64_t *out) WG_NODISCARD;

/* One POST of line protocol to src's write API (collector_lp.c): *status the last HTTP status
 * (0: none), *retry_ns the Retry-After wait, *nbad the lines a 400/422 answer names as refused. */
struct wg_http;
enum wg_err wg__collector_lp_post(struct wg_http *h, const struct wg_source *src, const char *body,
                                  size_t len, int retries, long *status, int64_t *retry_ns,
                                  unsigned long long *nbad, char *err, size_t errlen) WG_NODISCARD;

#endif

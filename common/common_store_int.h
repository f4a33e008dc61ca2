/* common_store_int.h — the PostgreSQL half of the store seam (common_store_pg.c), called only
 * by common_store.c behind wg_sql_*: connect and migrate, run text-parameter queries, results.
 */
#ifndef WG_COMMON_STORE_INT_H
#define WG_COMMON_STORE_INT_H

#include "common/store.h"

struct wg__common_pg;

/* The PostgreSQL half (common_store_pg.c), behind wg_sql_*. */
struct wg__common_pg;
enum wg_err wg__common_pg_open(const struct wg_sql_opts *o, struct wg__common_pg **out, char *err,
                               size_t errlen) WG_NODISCARD;
void wg__common_pg_close(struct wg__common_pg *p);
enum wg_err wg__common_pg_exec(struct wg__common_pg *p, const char *sql, char *err,
                               size_t errlen) WG_NODISCARD;
int wg__common_pg_version(struct wg__common_pg *p, const char *name);
int wg__common_pg_in_tx(struct wg__common_pg *p);
/* Run sql (already $N) with n text parameters (NULL: SQL NULL). On success *res is an opaque
 * result with *nrows rows, *changes rows changed. err on failure. */
enum wg_err wg__common_pg_query(struct wg__common_pg *p, const char *sql, int n,
                                const char *const *vals, void **res, int *nrows, int64_t *changes,
                                char *err, size_t errlen) WG_NODISCARD;
/* The same with binary parameters: lens[i] and fmts[i] (1: binary) for each, as libpq's
 * PQexecParams takes them (both NULL: all text); resfmt 1: results in binary format. */
enum wg_err wg__common_pg_query_bin(struct wg__common_pg *p, const char *sql, int n,
                                    const char *const *vals, const int *lens, const int *fmts,
                                    int resfmt, void **res, int *nrows, int64_t *changes, char *err,
                                    size_t errlen) WG_NODISCARD;
/* A value's length in bytes (binary results), 0 for SQL NULL; 1 when column col came in
 * binary format. */
size_t wg__common_pg_length(void *res, int row, int col);
int wg__common_pg_binary(void *res, int col);
const char *wg__common_pg_value(void *res, int row, int col); /* NULL for SQL NULL */
/* A bytea value's bytes from its text form (hex, or the old escape format): malloc'd, *n its
 * length; NULL when out of memory or not bytea text. */
unsigned char *wg__common_pg_bytea(const char *text, size_t *n);
void wg__common_pg_free(void *res);

#endif

/* config_int.h — internals shared by the config/ files: the position-tracked YAML node tree
 * (config_yaml.c), the table-driven decoders (config_load.c, config_feature.c) and the table of
 * top-level sections. A new section (server:, alerting:, monitor:) adds a row to
 * wg__config_sections in config_load.c and its decode/free pair, nothing else.
 */
#ifndef WG_CONFIG_INT_H
#define WG_CONFIG_INT_H

#include "config/config.h"

#include <stddef.h>

/* ---- the YAML node tree ------------------------------------------------------------------ */

enum wg__cfg_type { WG__CFG_SCALAR = 0, WG__CFG_MAP, WG__CFG_SEQ };

enum wg__cfg_style {
    WG__CFG_PLAIN = 0,
    WG__CFG_SQUOTED,
    WG__CFG_DQUOTED,
    WG__CFG_LITERAL,
    WG__CFG_FOLDED
};

struct wg__cfg_node {
    enum wg__cfg_type type;
    struct wg_pos pos; /* where the node starts (1-based) */
    struct wg_pos end; /* where it ends (1-based, exclusive) */
    /* scalar: NUL-terminated value (never contains NUL), its length and how it was written;
     * a plain scalar written as "", "~" or "null" is YAML null. `quoted` is also set for
     * block scalars and for an explicit !!str tag: such a value is always a string. */
    char *str;
    size_t len;
    enum wg__cfg_style style;
    int quoted;
    /* mapping: keys[i] (scalars) -> vals[i]; sequence: vals[i] (keys is NULL) */
    struct wg__cfg_node **keys;
    struct wg__cfg_node **vals;
    size_t n, cap;
};

struct wg__cfg_doc {
    const char *file; /* borrowed, used in every wg_pos of the tree */
    const char *text; /* borrowed source text, used to locate positions inside scalars */
    size_t len;
    struct wg__cfg_node *root; /* NULL: empty document */
};

/* Caps on what a config may contain (a config is trusted, but a typo must not eat memory). */
#define WG__CONFIG_MAX_BYTES (16u * 1024 * 1024)
#define WG__CONFIG_MAX_DEPTH 64
#define WG__CONFIG_PATH_MAX 512

/* Parse text into doc. Duplicate keys, anchors, aliases and tags are reported into d and
 * parsing goes on (the first of duplicate keys is kept) so every error is collected; returns
 * WG_OK then even though d->nerrors grew. A YAML syntax error returns WG_ECONFIG with libyaml's
 * problem at its line:col and doc->root NULL; WG_ENOMEM likewise. file and text are borrowed
 * and must outlive doc. */
enum wg_err wg__config_parse(const char *file, const char *text, size_t len,
                             struct wg__cfg_doc *doc, struct wg_diags *d) WG_NODISCARD;
void wg__config_doc_free(struct wg__cfg_doc *doc);

/* 1 when n is a plain null scalar ("", "~", "null", "Null", "NULL"). NULL-safe (returns 0). */
int wg__config_is_null(const struct wg__cfg_node *n);
/* The value of key in mapping n, or NULL. */
const struct wg__cfg_node *wg__config_get(const struct wg__cfg_node *map, const char *key);
/* What n is, for "expected X, got Y" messages: "a mapping", "a sequence", "null",
 * "a quoted string", "'value'" (plain scalars quoted and cut at 40 bytes). Writes into buf. */
const char *wg__config_describe(const struct wg__cfg_node *n, char *buf, size_t buflen);
/* The position of byte offset off inside scalar n: exact for plain scalars, quoted
 * single-line ones without escapes, and literal and folded blocks; else the scalar's start. */
void wg__config_scalar_pos(const struct wg__cfg_doc *doc, const struct wg__cfg_node *n, size_t off,
                           struct wg_pos *out);

/* ---- the decoding context ---------------------------------------------------------------- */

struct wg__config_ctx {
    struct wg_config *cfg;
    const struct wg__cfg_doc *doc;
    struct wg_diags *diags;
    int oom; /* an allocation failed: the load returns WG_ENOMEM */
};

/* Report an error / warning at n (or at pos) for key path `path` (may be NULL). */
void wg__config_err(struct wg__config_ctx *c, const struct wg__cfg_node *n, const char *path,
                    const char *fmt, ...) WG_PRINTF(4, 5);
void wg__config_warn(struct wg__config_ctx *c, const struct wg__cfg_node *n, const char *path,
                     const char *fmt, ...) WG_PRINTF(4, 5);
void wg__config_err_at(struct wg__config_ctx *c, const struct wg_pos *pos, const char *path,
                       const char *fmt, ...) WG_PRINTF(4, 5);
void wg__config_warn_at(struct wg__config_ctx *c, const struct wg_pos *pos, const char *path,
                        const char *fmt, ...) WG_PRINTF(4, 5);

/* Report "expected <want>, got <what n is>" at n; returns -1. */
/* The array for a mapping's or sequence's n items (zeroed), after checking n is of type t
 * (reported as "expected <want>, got ..."). NULL when it is not, when it is empty, or on
 * ENOMEM (c->oom set). */
void *wg__config_items(struct wg__config_ctx *c, const struct wg__cfg_node *n, const char *path,
                       enum wg__cfg_type t, const char *want, size_t size);
int wg__config_type_err(struct wg__config_ctx *c, const struct wg__cfg_node *n, const char *path,
                        const char *want);

/* Key paths: "parent.key" (or "key" when parent is empty) and "parent[i]", cut to outlen. */
void wg__config_path_key(char *out, size_t outlen, const char *parent, const char *key);
void wg__config_path_index(char *out, size_t outlen, const char *parent, size_t i);

/* ---- table-driven mapping decoding ------------------------------------------------------- */

/* A field decoder: decode n into dst (arg is the field's arg). Returns 0, or -1 after
 * reporting the error. dst is left untouched on error. */
struct wg__config_field {
    const char *key;
    int (*decode)(struct wg__config_ctx *c, const struct wg__cfg_node *n, const char *path,
                  void *dst, const void *arg);
    size_t off;      /* offset of the destination inside the fieldset's base */
    const void *arg; /* decoder-specific: enum table, range, ... */
    unsigned bit;    /* or-ed into *set when the field decodes */
    int required;
};

struct wg__config_fieldset {
    const struct wg__config_field *f;
    size_t n;
    void *base;
    unsigned *set; /* may be NULL */
};

/* Decode mapping n with the fields of every set: unknown keys (listing all allowed keys),
 * missing required keys and each field's own errors are reported. Keys named in `extra`
 * (NULL-terminated, may be NULL) are accepted and left to the caller. Returns the number of
 * errors reported (0 = all good); -1 when n is not a mapping. */
int wg__config_fields(struct wg__config_ctx *c, const struct wg__cfg_node *n, const char *path,
                      const struct wg__config_fieldset *sets, size_t nsets,
                      const char *const *extra);

/* The optional mapping under `key` of n (one of n's `extra` keys) decoded with fields[nfields]
 * into base, at path.key: wg__config_fields' answer, or 0 when it is absent or null. */
int wg__config_sub_fields(struct wg__config_ctx *c, const struct wg__cfg_node *n, const char *path,
                          const char *key, const struct wg__config_field *fields, size_t nfields,
                          void *base);

struct wg__config_enum {
    const char *name; /* NULL ends the table */
    int value;
};

/* A numeric range for dec_number / dec_long / dec_int (inclusive unless *_open). */
struct wg__config_range {
    double lo, hi;
    int lo_open, hi_open;
};

/* Decoders for struct wg__config_field.decode. dst types: str char** (non-empty; replaces
 * and frees the old value), bool int*, number double* (arg: range or NULL), long long* / int
 * int* (arg: range or NULL), duration int64_t* ns (arg: range in seconds or NULL), size
 * size_t* ("256MiB", "10MB", or an integer; > 0), count size_t* (integer, arg: range or
 * NULL), enum int* (arg: enum table), time int64_t* ns (RFC3339), limit struct wg_limit*
 * (number or "20%", >= 0). Numbers, integers and booleans must be plain (unquoted). */
int wg__config_dec_str(struct wg__config_ctx *c, const struct wg__cfg_node *n, const char *path,
                       void *dst, const void *arg);
int wg__config_dec_bool(struct wg__config_ctx *c, const struct wg__cfg_node *n, const char *path,
                        void *dst, const void *arg);
int wg__config_dec_number(struct wg__config_ctx *c, const struct wg__cfg_node *n, const char *path,
                          void *dst, const void *arg);
int wg__config_dec_long(struct wg__config_ctx *c, const struct wg__cfg_node *n, const char *path,
                        void *dst, const void *arg);
int wg__config_dec_int(struct wg__config_ctx *c, const struct wg__cfg_node *n, const char *path,
                       void *dst, const void *arg);
int wg__config_dec_duration(struct wg__config_ctx *c, const struct wg__cfg_node *n,
                            const char *path, void *dst, const void *arg);
int wg__config_dec_size(struct wg__config_ctx *c, const struct wg__cfg_node *n, const char *path,
                        void *dst, const void *arg);
int wg__config_dec_count(struct wg__config_ctx *c, const struct wg__cfg_node *n, const char *path,
                         void *dst, const void *arg);
int wg__config_dec_enum(struct wg__config_ctx *c, const struct wg__cfg_node *n, const char *path,
                        void *dst, const void *arg);
int wg__config_dec_time(struct wg__config_ctx *c, const struct wg__cfg_node *n, const char *path,
                        void *dst, const void *arg);
int wg__config_dec_limit(struct wg__config_ctx *c, const struct wg__cfg_node *n, const char *path,
                         void *dst, const void *arg);

/* A key that moved or was renamed: always the error "<arg>" (arg: a const char * message,
 * e.g. "moved to the top-level state_dir"). Such fields are not listed among the allowed
 * keys of an unknown-key error. */
int wg__config_dec_moved(struct wg__config_ctx *c, const struct wg__cfg_node *n, const char *path,
                         void *dst, const void *arg);

/* A wave's `gate:` map ({false_fail: 1%}) into double* (config_feature.c). */
int wg__config_dec_wave_gate(struct wg__config_ctx *c, const struct wg__cfg_node *n,
                             const char *path, void *dst, const void *arg);

/* Parse a plain decimal number, -?D+(.D+)?([eE][+-]?D+)?, finite. WG_OK or WG_EINVAL; no
 * reporting. */
enum wg_err wg__config_parse_number(const char *s, double *out) WG_NODISCARD;

/* ---- top-level sections ------------------------------------------------------------------ */

/* decode is called once per load in table order, with n = NULL when the key is absent, so a
 * section can fill defaults and check references to sections decoded before it (features
 * come after sources and waves). free releases what decode stored in cfg; it must cope with
 * a partly decoded config. */
struct wg__config_section {
    const char *key;
    void (*decode)(struct wg__config_ctx *c, const struct wg__cfg_node *n, const char *path);
    void (*free)(struct wg_config *cfg);
};
extern const struct wg__config_section wg__config_sections[];
extern const size_t wg__config_nsections;

void wg__config_decode_sources(struct wg__config_ctx *c, const struct wg__cfg_node *n,
                               const char *path);
void wg__config_decode_state_dir(struct wg__config_ctx *c, const struct wg__cfg_node *n,
                                 const char *path);
void wg__config_decode_waves(struct wg__config_ctx *c, const struct wg__cfg_node *n,
                             const char *path);
void wg__config_decode_features(struct wg__config_ctx *c, const struct wg__cfg_node *n,
                                const char *path);
void wg__config_free_sources(struct wg_config *cfg);
void wg__config_free_wave(struct wg_wave *w); /* one wave's contents; zeroes it */
void wg__config_free_state_dir(struct wg_config *cfg);
void wg__config_decode_state(struct wg__config_ctx *c, const struct wg__cfg_node *n,
                             const char *path);
void wg__config_free_state(struct wg_config *cfg);
void wg__config_free_waves(struct wg_config *cfg);
void wg__config_free_features(struct wg_config *cfg);

/* Report a reference (n: the referencing scalar) to a source / wave not in cfg, listing the
 * defined ones. NULL name: nothing to check. */
void wg__config_check_source_ref(struct wg__config_ctx *c, const struct wg__cfg_node *n,
                                 const char *path, const char *name);
void wg__config_check_wave_ref(struct wg__config_ctx *c, const struct wg__cfg_node *n,
                               const char *path, const char *name);

/* ---- targets (config_target.c) --------------------------------------------------------- */

/* Field decoders of a wave's `targets:` (dst: the struct wg_wave) and `require:` (dst: its
 * struct wg_wave_policy). */
int wg__config_dec_targets(struct wg__config_ctx *c, const struct wg__cfg_node *n, const char *path,
                           void *dst, const void *arg);
int wg__config_dec_policy(struct wg__config_ctx *c, const struct wg__cfg_node *n, const char *path,
                          void *dst, const void *arg);
/* After a wave decoded: duplicate target names, each target's env (default the wave's) and
 * source (known, or the wave's), the policy against the target count. */
void wg__config_check_targets(struct wg__config_ctx *c, const struct wg__cfg_node *item,
                              const char *path, struct wg_wave *w);
void wg__config_free_targets(struct wg_wave *w);
/* 1 when s[0..n) is `target` or a label key of some wave's target (a query placeholder). */
int wg__config_target_placeholder(const struct wg_config *cfg, const char *s, size_t n);
/* 1 when every target of w has a source (its own or the wave's). */
int wg__config_wave_sourced(const struct wg_wave *w);

/* ---- rule parameters (shared by wave defaults, rules and per-wave overrides) ------------- */

/* The fields of struct wg_rule_params, keyed as in YAML. */
extern const struct wg__config_field wg__config_param_fields[];
extern const size_t wg__config_nparam_fields;

/* Built-in defaults (threshold judge): min_samples 1, no_data inconclusive, window 10m,
 * delay 0, confidence 0.98, weight 1, reduce last, direction increase, set 0; severity NULL
 * here, filled with an owned "critical" by wg__config_params_finish so it is never NULL in a
 * loaded config. */
void wg__config_params_init(struct wg_rule_params *p);
void wg__config_params_finish(struct wg__config_ctx *c, struct wg_rule_params *p);
void wg__config_params_free(struct wg_rule_params *p);

/* Validate the placeholders of a query template; errors point inside the scalar. */
int wg__config_check_query(struct wg__config_ctx *c, const struct wg__cfg_node *n,
                           const char *path);

/* `events:` (config_events.c). */
void wg__config_decode_events(struct wg__config_ctx *c, const struct wg__cfg_node *n,
                              const char *path);
void wg__config_free_events(struct wg_config *cfg);
/* A feature's `on_fail:` and `flip:` keys (defaults set when absent). */
void wg__config_decode_feature_events(struct wg__config_ctx *c, const struct wg__cfg_node *n,
                                      const char *path, struct wg_feature *f);
void wg__config_free_feature_events(struct wg_feature *f);
/* waves[].bake (a field decoder; dst is a struct wg_bake_cfg *). */
int wg__config_dec_bake(struct wg__config_ctx *c, const struct wg__cfg_node *n, const char *path,
                        void *dst, const void *arg);

#endif

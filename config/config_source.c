/* config_source.c — the `sources:` section: where wavegate reads metrics from (InfluxQL v1/v3,
 * Flux, SQL), how it authenticates, its TLS files, timeouts, caps and concurrency, with the
 * checks that depend on the kind. Decoded first, so waves and rules can refer to sources.
 */
#include "config/config_int.h"

#include <stdlib.h>
#include <string.h>

/* ---- sources ----------------------------------------------------------------------------- */

enum {
    S_KIND = 1u << 0,
    S_API = 1u << 1,
    S_DATABASE = 1u << 2,
    S_RP = 1u << 3,
    S_ORG = 1u << 4,
    S_ORG_ID = 1u << 5,
    S_TOKEN = 1u << 6,
    S_USER = 1u << 7,
    S_PASS = 1u << 8,
};

static int dec_url(struct wg__config_ctx *c, const struct wg__cfg_node *n, const char *path,
                   void *dst, const void *arg)
{
    (void)arg;
    if (n->type != WG__CFG_SCALAR || wg__config_is_null(n)) {
        return wg__config_type_err(c, n, path, "a URL");
    }
    const char *host = NULL;
    if (strncmp(n->str, "http://", 7) == 0) {
        host = n->str + 7;
    } else if (strncmp(n->str, "https://", 8) == 0) {
        host = n->str + 8;
    }
    if (!host || !*host || *host == '/' || strpbrk(n->str, " \t\r\n?#")) {
        wg__config_err(c, n, path,
                       "invalid URL '%s': must start with http:// or https:// and name a host",
                       n->str);
        return -1;
    }
    size_t len = n->len;
    while (len > 0 && n->str[len - 1] == '/') {
        len--;
    }
    char *s = wg_strndup(n->str, len);
    if (!s) {
        c->oom = 1;
        return -1;
    }
    char **d = dst;
    free(*d);
    *d = s;
    return 0;
}

static const struct wg__config_field tls_fields[] = {
    {"ca_file", wg__config_dec_str, offsetof(struct wg_tls, ca_file), NULL, 0, 0},
    {"cert_file", wg__config_dec_str, offsetof(struct wg_tls, cert_file), NULL, 0, 0},
    {"key_file", wg__config_dec_str, offsetof(struct wg_tls, key_file), NULL, 0, 0},
    {"insecure_skip_verify", wg__config_dec_bool, offsetof(struct wg_tls, insecure_skip_verify),
     NULL, 0, 0},
};

static int dec_tls(struct wg__config_ctx *c, const struct wg__cfg_node *n, const char *path,
                   void *dst, const void *arg)
{
    struct wg_tls *t = dst;
    struct wg__config_fieldset fs = {tls_fields, sizeof(tls_fields) / sizeof(tls_fields[0]), t,
                                     NULL};
    (void)arg;
    int rc = wg__config_fields(c, n, path, &fs, 1, NULL);
    if (rc < 0) {
        return -1;
    }
    if (!t->cert_file != !t->key_file) {
        wg__config_err(c, n, path, "cert_file and key_file must be given together");
        rc++;
    }
    if (t->insecure_skip_verify) {
        char sub[WG__CONFIG_PATH_MAX];
        wg__config_path_key(sub, sizeof(sub), path, "insecure_skip_verify");
        wg__config_warn(c, wg__config_get(n, "insecure_skip_verify"), sub,
                        "insecure_skip_verify is true: the server's TLS certificate is not "
                        "checked");
    }
    return rc ? -1 : 0;
}

static const struct wg__config_enum kinds[] = {
    {"influxql", WG_SRC_INFLUXQL}, {"flux", WG_SRC_FLUX}, {"sql", WG_SRC_SQL}, {NULL, 0}};
static const struct wg__config_enum apis[] = {{"v1", WG_API_V1}, {"v3", WG_API_V3}, {NULL, 0}};
static const struct wg__config_enum compressions[] = {
    {"auto", WG_COMPRESS_AUTO}, {"gzip", WG_COMPRESS_GZIP}, {"none", WG_COMPRESS_NONE}, {NULL, 0}};
static const struct wg__config_range positive = {0, 1e300, 1, 0};
static const struct wg__config_range concurrency = {1, 1024, 0, 0};
static const struct wg__config_range retries = {0, 100, 0, 0};

#define SRC(f) offsetof(struct wg_source, f)
static const struct wg__config_field source_fields[] = {
    {"kind", wg__config_dec_enum, SRC(kind), kinds, S_KIND, 0},
    {"api", wg__config_dec_enum, SRC(api), apis, S_API, 0},
    {"url", dec_url, SRC(url), NULL, 0, 1},
    {"database", wg__config_dec_str, SRC(database), NULL, S_DATABASE, 0},
    {"retention_policy", wg__config_dec_str, SRC(retention_policy), NULL, S_RP, 0},
    {"org", wg__config_dec_str, SRC(org), NULL, S_ORG, 0},
    {"org_id", wg__config_dec_str, SRC(org_id), NULL, S_ORG_ID, 0},
    {"token_env", wg__config_dec_str, SRC(token_env), NULL, S_TOKEN, 0},
    {"username", wg__config_dec_str, SRC(username), NULL, S_USER, 0},
    {"password_env", wg__config_dec_str, SRC(password_env), NULL, S_PASS, 0},
    {"timeout", wg__config_dec_duration, SRC(timeout_ns), &positive, 0, 0},
    {"connect_timeout", wg__config_dec_duration, SRC(connect_timeout_ns), &positive, 0, 0},
    {"max_response_bytes", wg__config_dec_size, SRC(max_response_bytes), NULL, 0, 0},
    {"max_concurrency", wg__config_dec_int, SRC(max_concurrency), &concurrency, 0, 0},
    {"retries", wg__config_dec_int, SRC(retries), &retries, 0, 0},
    {"chunk_size", wg__config_dec_count, SRC(chunk_size), NULL, 0, 0},
    {"compression", wg__config_dec_enum, SRC(compression), compressions, 0, 0},
    {"tls", dec_tls, SRC(tls), NULL, 0, 0},
    {"max_series", wg__config_dec_count, SRC(max_series), NULL, 0, 0},
};
#undef SRC

static void source_check(struct wg__config_ctx *c, const struct wg__cfg_node *n, const char *path,
                         const struct wg_source *s, unsigned set)
{
    char sub[WG__CONFIG_PATH_MAX];
    const char *kind = s->kind == WG_SRC_FLUX ? "flux" : s->kind == WG_SRC_SQL ? "sql" : "influxql";
    if ((s->kind == WG_SRC_INFLUXQL || s->kind == WG_SRC_SQL) && !s->database) {
        wg__config_path_key(sub, sizeof(sub), path, "database");
        wg__config_err(c, n, sub, "missing required key 'database' (needed by kind %s)", kind);
    }
    if (s->kind == WG_SRC_FLUX && !s->org && !s->org_id) {
        wg__config_path_key(sub, sizeof(sub), path, "org");
        wg__config_err(c, n, sub, "kind flux needs org or org_id");
    }
    if ((set & S_API) && s->kind != WG_SRC_INFLUXQL) {
        wg__config_path_key(sub, sizeof(sub), path, "api");
        wg__config_err(c, wg__config_get(n, "api"), sub, "api applies to kind influxql only");
    }
    if ((set & S_RP) && s->kind != WG_SRC_INFLUXQL) {
        wg__config_path_key(sub, sizeof(sub), path, "retention_policy");
        wg__config_err(c, wg__config_get(n, "retention_policy"), sub,
                       "retention_policy applies to kind influxql only");
    }
    if ((set & S_USER) && !(set & S_PASS)) {
        wg__config_path_key(sub, sizeof(sub), path, "password_env");
        wg__config_err(c, wg__config_get(n, "username"), sub,
                       "username needs password_env (the variable holding the password)");
    }
    if ((set & S_PASS) && !(set & S_USER)) {
        wg__config_path_key(sub, sizeof(sub), path, "username");
        wg__config_err(c, wg__config_get(n, "password_env"), sub, "password_env needs username");
    }
    if ((set & S_TOKEN) && (set & S_USER)) {
        wg__config_path_key(sub, sizeof(sub), path, "token_env");
        wg__config_err(c, wg__config_get(n, "token_env"), sub,
                       "token_env and username are exclusive: use a token or a password");
    }
}

void wg__config_decode_sources(struct wg__config_ctx *c, const struct wg__cfg_node *n,
                               const char *path)
{
    char sub[WG__CONFIG_PATH_MAX];
    struct wg_config *cfg = c->cfg;
    if (!n) {
        return;
    }
    cfg->sources = wg__config_items(c, n, path, WG__CFG_MAP, "a mapping of source names to sources",
                                    sizeof(*cfg->sources));
    if (!cfg->sources) {
        return;
    }
    for (size_t i = 0; i < n->n; i++) {
        const struct wg__cfg_node *k = n->keys[i];
        if (k->type != WG__CFG_SCALAR) {
            continue;
        }
        wg__config_path_key(sub, sizeof(sub), path, k->str);
        struct wg_source *s = &cfg->sources[cfg->nsources++];
        s->name = wg_strdup(k->str);
        if (!s->name) {
            c->oom = 1;
            return;
        }
        s->pos = k->pos;
        s->kind = WG_SRC_INFLUXQL;
        s->api = WG_API_V1;
        s->timeout_ns = 10 * WG_NS_PER_SEC;
        s->connect_timeout_ns = 5 * WG_NS_PER_SEC;
        s->max_response_bytes = (size_t)256 * 1024 * 1024;
        s->max_concurrency = 8;
        s->retries = 2;
        s->chunk_size = 10000;
        s->max_series = 100000;
        if (k->len == 0) {
            wg__config_err(c, k, sub, "a source name must not be empty");
        }
        unsigned set = 0;
        struct wg__config_fieldset fs = {source_fields,
                                         sizeof(source_fields) / sizeof(source_fields[0]), s, &set};
        if (wg__config_fields(c, n->vals[i], sub, &fs, 1, NULL) >= 0) {
            source_check(c, n->vals[i], sub, s, set);
        }
    }
}

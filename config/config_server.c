/* config_server.c — decodes and validates the `server:` section (listen address, the read and
 * admin token sources of `auth:`, TLS files, body cap, cache and connection limits) for
 * `wavegate serve`, with config_load.c's table-driven field decoders; a row of
 * wg__config_sections. The old single `bearer_token_*` keys still work (both roles, warned).
 */
#include "config/config_server_int.h"

#include <stdlib.h>
#include <string.h>

#define OFF(m) offsetof(struct wg_server_cfg, m)

static const struct wg__config_range r_conn = {1, 65535, 0, 0};
static const struct wg__config_range r_threads = {1, 64, 0, 0};
static const struct wg__config_range r_ttl = {0, 3600, 0, 0};     /* seconds */
static const struct wg__config_range r_timeout = {1, 3600, 0, 0}; /* seconds */

static int dec_listen(struct wg__config_ctx *c, const struct wg__cfg_node *n, const char *path,
                      void *dst, const void *arg)
{
    (void)arg;
    if (n->type == WG__CFG_SCALAR && n->str) {
        const char *colon = strrchr(n->str, ':');
        char *end = NULL;
        long port = colon && colon[1] ? strtol(colon + 1, &end, 10) : -1;
        if (colon && end && *end == '\0' && port >= 0 && port <= 65535) {
            return wg__config_dec_str(c, n, path, dst, NULL);
        }
    }
    char buf[64];
    wg__config_err(c, n, path, "expected ADDR:PORT (e.g. 127.0.0.1:8080), got %s",
                   wg__config_describe(n, buf, sizeof(buf)));
    return -1;
}

/* unsigned fields go through an int. */
static int dec_uint(struct wg__config_ctx *c, const struct wg__cfg_node *n, const char *path,
                    void *dst, const void *arg)
{
    int v = 0;
    if (wg__config_dec_int(c, n, path, &v, arg) != 0) {
        return -1;
    }
    *(unsigned *)dst = (unsigned)v;
    return 0;
}

/* `evaluations: {keep: N, max_age: 7d}` (the evidence pages' store, gate_evals.c). */
static const struct wg__config_range r_keep = {1, 1000000, 0, 0};
static const struct wg__config_range r_age = {60, 366 * 86400, 0, 0}; /* seconds */
static const struct wg__config_field evals_fields[] = {
    {"keep", wg__config_dec_count, offsetof(struct wg_server_cfg, evals.keep), &r_keep, 0, 0},
    {"max_age", wg__config_dec_duration, offsetof(struct wg_server_cfg, evals.max_age_ns), &r_age,
     0, 0},
};

static int dec_evals(struct wg__config_ctx *c, const struct wg__cfg_node *n, const char *path,
                     void *dst, const void *arg)
{
    (void)arg;
    struct wg__config_fieldset set = {evals_fields, 2, dst, NULL};
    int e = wg__config_is_null(n) ? 0 : wg__config_fields(c, n, path, &set, 1, NULL);
    return e == 0 ? 0 : -1;
}

static const struct wg__config_field server_fields[] = {
    {"listen", dec_listen, OFF(listen), NULL, 0, 0},
    {"bearer_token_env", wg__config_dec_str, OFF(bearer_token_env), NULL, 0, 0},
    {"bearer_token_file", wg__config_dec_str, OFF(bearer_token_file), NULL, 0, 0},
    {"max_body", wg__config_dec_size, OFF(max_body), NULL, 0, 0},
    /* one state directory for everything, the top-level one (issue "Fail closed everywhere") */
    {"state_dir", wg__config_dec_moved, 0, "moved to the top-level state_dir", 0, 0},
    {"external_url", wg__config_dec_str, OFF(external_url), NULL, 0, 0},
    {"cache_ttl", wg__config_dec_duration, OFF(cache_ttl_ns), &r_ttl, 0, 0},
    {"max_connections", dec_uint, OFF(max_connections), &r_conn, 0, 0},
    {"per_ip_connections", dec_uint, OFF(per_ip_connections), &r_conn, 0, 0},
    {"connection_timeout", wg__config_dec_duration, OFF(connection_timeout_ns), &r_timeout, 0, 0},
    {"request_timeout", wg__config_dec_duration, OFF(request_timeout_ns), &r_timeout, 0, 0},
    {"threads", dec_uint, OFF(threads), &r_threads, 0, 0},
    {"drain_timeout", wg__config_dec_duration, OFF(drain_timeout_ns), &r_timeout, 0, 0},
    {"evaluations", dec_evals, 0, NULL, 0, 0},
};

static const struct wg__config_field auth_fields[] = {
    {"read_tokens_file", wg__config_dec_str, OFF(read_tokens_file), NULL, 0, 0},
    {"admin_tokens_file", wg__config_dec_str, OFF(admin_tokens_file), NULL, 0, 0},
    {"read_token_env", wg__config_dec_str, OFF(read_token_env), NULL, 0, 0},
    {"admin_token_env", wg__config_dec_str, OFF(admin_token_env), NULL, 0, 0},
};

static const struct wg__config_field tls_fields[] = {
    {"cert", wg__config_dec_str, OFF(tls_cert), NULL, 0, 1},
    {"key", wg__config_dec_str, OFF(tls_key), NULL, 0, 1},
};

void wg__config_server_defaults(struct wg_server_cfg *s)
{
    memset(s, 0, sizeof(*s));
    s->max_body = 64 * 1024;
    s->cache_ttl_ns = 5 * WG_NS_PER_SEC;
    s->max_connections = 256;
    s->per_ip_connections = 64;
    s->connection_timeout_ns = 15 * WG_NS_PER_SEC;
    s->request_timeout_ns = 10 * WG_NS_PER_SEC;
    s->threads = 2;
    s->drain_timeout_ns = 30 * WG_NS_PER_SEC;
    s->evals.keep = 1000;
    s->evals.max_age_ns = 7 * 86400 * WG_NS_PER_SEC;
}

/* `auth:` and the deprecated single-token keys (one or the other). */
static void decode_auth(struct wg__config_ctx *c, const struct wg__cfg_node *n, const char *path,
                        struct wg_server_cfg *s)
{
    const struct wg__cfg_node *auth = wg__config_get(n, "auth");
    const struct wg__cfg_node *old = wg__config_get(n, "bearer_token_file");
    const char *oldkey = "bearer_token_file";
    if (!old) {
        old = wg__config_get(n, "bearer_token_env");
        oldkey = "bearer_token_env";
    }
    char apath[WG__CONFIG_PATH_MAX], opath[WG__CONFIG_PATH_MAX];
    wg__config_path_key(apath, sizeof(apath), path, "auth");
    wg__config_path_key(opath, sizeof(opath), path, oldkey);
    if (s->bearer_token_env && s->bearer_token_file) {
        wg__config_err(c, n, path,
                       "bearer_token_env and bearer_token_file are exclusive; "
                       "give one");
    }
    if (auth && !wg__config_is_null(auth)) {
        struct wg__config_fieldset aset = {auth_fields,
                                           sizeof(auth_fields) / sizeof(auth_fields[0]), s, NULL};
        (void)wg__config_fields(c, auth, apath, &aset, 1, NULL);
        if (old) {
            wg__config_err(c, old, opath,
                           "replaced by %s.admin_tokens_file / admin_token_env (and "
                           "read_tokens_file / read_token_env); give only %s",
                           apath, apath);
        }
    } else if (old) {
        wg__config_warn(c, old, opath,
                        "deprecated: this one token is both the read and the admin token; "
                        "use %s.read_tokens_file (pipelines) and %s.admin_tokens_file "
                        "(operators)",
                        apath, apath);
    }
}

void wg__config_decode_server(struct wg__config_ctx *c, const struct wg__cfg_node *n,
                              const char *path)
{
    struct wg_server_cfg *s = &c->cfg->server;
    wg__config_server_defaults(s);
    if (!n || wg__config_is_null(n)) {
        return;
    }
    s->present = 1;
    s->pos = n->pos;
    static const char *const extra[] = {"tls", "auth", NULL};
    struct wg__config_fieldset set = {server_fields,
                                      sizeof(server_fields) / sizeof(server_fields[0]), s, NULL};
    if (wg__config_fields(c, n, path, &set, 1, extra) < 0) {
        return; /* not a mapping: reported */
    }
    (void)wg__config_sub_fields(c, n, path, "tls", tls_fields, 2, s);
    decode_auth(c, n, path, s);
}

void wg__config_free_server(struct wg_config *cfg)
{
    struct wg_server_cfg *s = &cfg->server;
    free(s->listen);
    free(s->bearer_token_env);
    free(s->bearer_token_file);
    free(s->read_tokens_file);
    free(s->admin_tokens_file);
    free(s->read_token_env);
    free(s->admin_token_env);
    free(s->tls_cert);
    free(s->tls_key);
    free(s->external_url);
    memset(s, 0, sizeof(*s));
}

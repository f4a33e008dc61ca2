/* config_server.c — decodes and validates the `server:` section (listen address, bearer token
 * source, TLS files, body cap, state dir, cache and connection limits) for `wavegate serve`.
 * Table-driven like the rest of config/: unknown keys are rejected with the allowed ones listed.
 */
#include "config/config_server_int.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum kind { K_STR, K_SIZE, K_DUR, K_UINT, K_LISTEN };

struct field {
    const char *key;
    enum kind kind;
    size_t off;
};

#define F(k, kind, m) { k, kind, offsetof(struct wg_server_cfg, m) }
static const struct field fields[] = {
    F("listen", K_LISTEN, listen),
    F("bearer_token_env", K_STR, bearer_token_env),
    F("bearer_token_file", K_STR, bearer_token_file),
    F("tls.cert", K_STR, tls_cert),
    F("tls.key", K_STR, tls_key),
    F("max_body", K_SIZE, max_body),
    F("state_dir", K_STR, state_dir),
    F("external_url", K_STR, external_url),
    F("cache_ttl", K_DUR, cache_ttl_ns),
    F("max_connections", K_UINT, max_connections),
    F("per_ip_connections", K_UINT, per_ip_connections),
    F("connection_timeout", K_DUR, connection_timeout_ns),
    F("threads", K_UINT, threads),
    F("drain_timeout", K_DUR, drain_timeout_ns),
};
#undef F
#define NFIELDS (sizeof(fields) / sizeof(fields[0]))

static const char allowed[] = "listen, bearer_token_env, bearer_token_file, tls, max_body, "
                              "state_dir, external_url, cache_ttl, max_connections, "
                              "per_ip_connections, connection_timeout, threads, drain_timeout";

void wg__config_server_defaults(struct wg_server_cfg *s)
{
    memset(s, 0, sizeof(*s));
    s->max_body = 64 * 1024;
    s->cache_ttl_ns = 5 * WG_NS_PER_SEC;
    s->max_connections = 256;
    s->per_ip_connections = 64;
    s->connection_timeout_ns = 15 * WG_NS_PER_SEC;
    s->threads = 2;
    s->drain_timeout_ns = 30 * WG_NS_PER_SEC;
}

/* "65536", "64k", "64KiB", "1m", "1MiB" (binary multiples). */
static int parse_size(const char *v, size_t *out)
{
    char *end = NULL;
    errno = 0;
    unsigned long long n = strtoull(v, &end, 10);
    if (end == v || errno || v[0] == '-') {
        return -1;
    }
    unsigned long long mul = 1;
    if (!strcasecmp(end, "") || !strcasecmp(end, "b")) {
        mul = 1;
    } else if (!strcasecmp(end, "k") || !strcasecmp(end, "kb") || !strcasecmp(end, "kib")) {
        mul = 1024;
    } else if (!strcasecmp(end, "m") || !strcasecmp(end, "mb") || !strcasecmp(end, "mib")) {
        mul = 1024 * 1024;
    } else {
        return -1;
    }
    if (n > SIZE_MAX / mul) {
        return -1;
    }
    *out = (size_t)(n * mul);
    return 0;
}

/* "ADDR:PORT", "[v6]:PORT" or ":PORT"; the port 0..65535. */
static int valid_listen(const char *v)
{
    const char *colon = strrchr(v, ':');
    if (!colon || !colon[1]) {
        return 0;
    }
    char *end = NULL;
    long port = strtol(colon + 1, &end, 10);
    return *end == '\0' && port >= 0 && port <= 65535;
}

enum wg_err wg__config_server_set(struct wg_server_cfg *s, const char *key, const char *value,
                                  const struct wg_pos *pos, struct wg_diags *d)
{
    char dotted[96];
    snprintf(dotted, sizeof(dotted), "server.%s", key);
    const struct field *f = NULL;
    for (size_t i = 0; i < NFIELDS; i++) {
        if (!strcmp(fields[i].key, key)) {
            f = &fields[i];
            break;
        }
    }
    if (!f) {
        wg_diags_add(d, pos, dotted, 0, "unknown key; allowed: %s (tls: cert, key)", allowed);
        return WG_ECONFIG;
    }
    char *base = (char *)s + f->off;
    switch (f->kind) {
    case K_LISTEN:
        if (!valid_listen(value)) {
            wg_diags_add(d, pos, dotted, 0, "want ADDR:PORT (e.g. 127.0.0.1:8080), got \"%s\"",
                         value);
            return WG_ECONFIG;
        }
        /* fall through */
    case K_STR: {
        char *dup = wg_strdup(value);
        if (!dup) {
            return WG_ENOMEM;
        }
        free(*(char **)base);
        *(char **)base = dup;
        break;
    }
    case K_SIZE:
        if (parse_size(value, (size_t *)base) < 0 || *(size_t *)base == 0) {
            wg_diags_add(d, pos, dotted, 0, "want a positive size like 65536, 64KiB or 1MiB, "
                         "got \"%s\"", value);
            return WG_ECONFIG;
        }
        break;
    case K_DUR:
        if (wg_duration_parse(value, (int64_t *)base) != WG_OK) {
            wg_diags_add(d, pos, dotted, 0, "want a duration like 5s or 1m, got \"%s\"", value);
            return WG_ECONFIG;
        }
        break;
    case K_UINT: {
        char *end = NULL;
        errno = 0;
        long n = strtol(value, &end, 10);
        if (end == value || *end || errno || n <= 0 || n > 65535) {
            wg_diags_add(d, pos, dotted, 0, "want an integer 1..65535, got \"%s\"", value);
            return WG_ECONFIG;
        }
        *(unsigned *)base = (unsigned)n;
        break;
    }
    }
    return WG_OK;
}

static struct wg_pos node_pos(const char *file, const yaml_node_t *n)
{
    struct wg_pos p = {file, (int)n->start_mark.line + 1, (int)n->start_mark.column + 1};
    return p;
}

/* Walk one mapping; prefix is "" or "tls.". */
static void decode_map(struct wg_server_cfg *s, yaml_document_t *doc, yaml_node_t *node,
                       const char *file, const char *prefix, struct wg_diags *d)
{
    struct wg_pos pos = node_pos(file, node);
    if (node->type != YAML_MAPPING_NODE) {
        wg_diags_add(d, &pos, *prefix ? "server.tls" : "server", 0, "want a mapping");
        return;
    }
    for (yaml_node_pair_t *p = node->data.mapping.pairs.start;
         p < node->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(doc, p->key);
        yaml_node_t *v = yaml_document_get_node(doc, p->value);
        if (!k || !v || k->type != YAML_SCALAR_NODE) {
            continue;
        }
        const char *ks = (const char *)k->data.scalar.value;
        struct wg_pos kp = node_pos(file, k), vp = node_pos(file, v);
        char key[64];
        snprintf(key, sizeof(key), "%s%s", prefix, ks);
        for (yaml_node_pair_t *q = node->data.mapping.pairs.start; q < p; q++) {
            yaml_node_t *qk = yaml_document_get_node(doc, q->key);
            if (qk && qk->type == YAML_SCALAR_NODE &&
                !strcmp((const char *)qk->data.scalar.value, ks)) {
                wg_diags_add(d, &kp, key, 0, "duplicate key");
            }
        }
        if (!*prefix && !strcmp(ks, "tls")) {
            decode_map(s, doc, v, file, "tls.", d);
            continue;
        }
        if (*prefix && strcmp(ks, "cert") && strcmp(ks, "key")) {
            wg_diags_add(d, &kp, key, 0, "unknown key; allowed: cert, key");
            continue;
        }
        if (v->type != YAML_SCALAR_NODE) {
            wg_diags_add(d, &vp, key, 0, "want a scalar");
            continue;
        }
        (void)wg__config_server_set(s, key, (const char *)v->data.scalar.value, &vp, d);
    }
}

void wg__config_server_decode(struct wg_server_cfg *s, yaml_document_t *doc, yaml_node_t *node,
                              const char *file, struct wg_diags *d)
{
    s->present = 1;
    s->pos = node_pos(file, node);
    decode_map(s, doc, node, file, "", d);
}

void wg__config_server_validate(const struct wg_server_cfg *s, struct wg_diags *d)
{
    if (!s->tls_cert != !s->tls_key) {
        wg_diags_add(d, &s->pos, "server.tls", 0, "cert and key go together");
    }
    if (s->bearer_token_env && s->bearer_token_file) {
        wg_diags_add(d, &s->pos, "server", 0,
                     "bearer_token_env and bearer_token_file are exclusive; give one");
    }
}

void wg__config_server_free(struct wg_server_cfg *s)
{
    if (!s) {
        return;
    }
    free(s->listen);
    free(s->bearer_token_env);
    free(s->bearer_token_file);
    free(s->tls_cert);
    free(s->tls_key);
    free(s->state_dir);
    free(s->external_url);
    memset(s, 0, sizeof(*s));
}

/* http_helper.h — loopback HTTP for the server's unit tests: the server started on 127.0.0.1:0
 * (and its scratch dir removed after), and one libcurl request to it with a JSON content type
 * and the caller's extra headers, keeping the status, the body and the response headers (each
 * capped); a curl failure is printed, the status then 0. Header-only (static inline).
 */
#ifndef WG_TEST_HTTP_HELPER_H
#define WG_TEST_HTTP_HELPER_H

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gate/gate.h"

/* A config (calloc'd, for wg_server_start to take) of two waves: internal (env staging) and
 * external (env production, whose deploy event starts a bake of 2 looks 1 s apart), state in
 * state_dir. The caller adds features and server settings. */
static inline struct wg_config *http_two_wave_config(const char *state_dir)
{
    struct wg_config *cfg = calloc(1, sizeof(*cfg));
    cfg->state_dir = strdup(state_dir);
    cfg->nwaves = 2;
    cfg->waves = calloc(2, sizeof(*cfg->waves));
    cfg->waves[0].name = strdup("internal");
    cfg->waves[0].env = strdup("staging");
    cfg->waves[1].name = strdup("external");
    cfg->waves[1].env = strdup("production");
    cfg->waves[1].bake = (struct wg_bake_cfg){1, WG_NS_PER_SEC, 2 * WG_NS_PER_SEC, 0, -1, -1, -1};
    return cfg;
}

/* wg_server_start of cfg (taken) with eval on 127.0.0.1:0: the bound port, or -1 (said why). */
static inline int http_server_start(struct wg_config *cfg, struct wg_server_eval eval,
                                    struct wg_server **srv)
{
    struct wg_server_opts o = {NULL, "127.0.0.1:0", eval};
    char err[256] = "";
    if (wg_server_start(cfg, &o, srv, err, sizeof(err)) != WG_OK) {
        fprintf(stderr, "start: %s\n", err);
        return -1;
    }
    int port = wg_server_port(*srv);
    return port > 0 ? port : -1;
}

/* rm -rf dir (a test's mkdtemp); 0 or -1. */
static inline int http_rm_dir(const char *dir)
{
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

struct http_resp {
    long status;
    char body[8192];
    size_t len;
    char hdrs[4096];
    size_t hlen;
};

static inline size_t http_keep(char *dst, size_t cap, size_t *len, const char *p, size_t k)
{
    size_t room = cap - 1 - *len, take = k < room ? k : room;
    memcpy(dst + *len, p, take);
    *len += take;
    dst[*len] = '\0';
    return k;
}

static inline size_t http_on_body(char *p, size_t sz, size_t n, void *ud)
{
    struct http_resp *r = ud;
    return http_keep(r->body, sizeof(r->body), &r->len, p, sz * n);
}

static inline size_t http_on_hdr(char *p, size_t sz, size_t n, void *ud)
{
    struct http_resp *r = ud;
    return http_keep(r->hdrs, sizeof(r->hdrs), &r->hlen, p, sz * n);
}

/* method "GET"/"POST"/...; hdrs: extra request headers, one a line ('\n'), or NULL; body NULL =
 * none. The answer lands in *out (cleared first). */
static inline void http_request(int port, const char *method, const char *path, const char *hdrs,
                                const char *body, struct http_resp *out)
{
    char url[2048];
    memset(out, 0, sizeof(*out));
    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", port, path);
    CURL *h = curl_easy_init();
    struct curl_slist *hl = curl_slist_append(NULL, "Content-Type: application/json");
    for (const char *h0 = hdrs; h0 && *h0;) {
        char one[512];
        size_t k = strcspn(h0, "\n");
        snprintf(one, sizeof(one), "%.*s", (int)k, h0);
        hl = curl_slist_append(hl, one);
        h0 += k + (h0[k] == '\n');
    }
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, http_on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, out);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, http_on_hdr);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, out);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 20L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    if (body) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    }
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    CURLcode rc = curl_easy_perform(h);
    if (rc != CURLE_OK) {
        fprintf(stderr, "curl %s %s: %s\n", method, path, curl_easy_strerror(rc));
    }
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &out->status);
    curl_slist_free_all(hl);
    curl_easy_cleanup(h);
}

#endif

/* alerting_labels.c — sorted label sets, matcher evaluation, Prometheus-compatible
 * fingerprints, JSON string escaping, SHA-256 and Standard Webhooks HMAC signing (OpenSSL).
 */
#include "alerting/alerting_int.h"

#include <openssl/evp.h>
#include <openssl/params.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum wg_err wg__labels_set(struct wg__labels *ls, const char *k, const char *v)
{
    size_t i = 0;
    if (!k || !v) {
        return WG_ENOMEM;
    }
    while (i < ls->n && strcmp(ls->v[i].key, k) < 0) {
        i++;
    }
    if (i < ls->n && strcmp(ls->v[i].key, k) == 0) {
        char *nv = wg_strdup(v);
        if (!nv) {
            return WG_ENOMEM;
        }
        free(ls->v[i].value);
        ls->v[i].value = nv;
        return WG_OK;
    }
    struct wg_label *nv = realloc(ls->v, (ls->n + 1) * sizeof(*nv));
    if (!nv) {
        return WG_ENOMEM;
    }
    ls->v = nv;
    memmove(&ls->v[i + 1], &ls->v[i], (ls->n - i) * sizeof(*nv));
    ls->v[i].key = wg_strdup(k);
    ls->v[i].value = wg_strdup(v);
    ls->n++;
    return ls->v[i].key && ls->v[i].value ? WG_OK : WG_ENOMEM;
}

const char *wg__labels_get(const struct wg__labels *ls, const char *k)
{
    for (size_t i = 0; ls && i < ls->n; i++) {
        if (strcmp(ls->v[i].key, k) == 0) {
            return ls->v[i].value;
        }
    }
    return NULL;
}

enum wg_err wg__labels_copy(struct wg__labels *dst, const struct wg_label *src, size_t n)
{
    enum wg_err rc = WG_OK;
    for (size_t i = 0; i < n; i++) {
        enum wg_err e = wg__labels_set(dst, src[i].key, src[i].value);
        rc = rc == WG_OK ? e : rc;
    }
    return rc;
}

void wg__labels_clear(struct wg__labels *ls)
{
    for (size_t i = 0; ls && i < ls->n; i++) {
        free(ls->v[i].key);
        free(ls->v[i].value);
    }
    if (ls) {
        free(ls->v);
        ls->v = NULL;
        ls->n = 0;
    }
}

static int matcher_match(const struct wg_matcher *m, const struct wg__labels *ls)
{
    const char *v = wg__labels_get(ls, m->name);
    if (!v) {
        v = ""; /* a missing label equals the empty label, as in Alertmanager */
    }
    switch (m->op) {
    case WG_MATCH_EQ:
        return strcmp(v, m->value) == 0;
    case WG_MATCH_NE:
        return strcmp(v, m->value) != 0;
    case WG_MATCH_RE:
        return regexec(&m->re, v, 0, NULL, 0) == 0;
    case WG_MATCH_NRE:
        return regexec(&m->re, v, 0, NULL, 0) != 0;
    }
    return 0;
}

int wg__matchers_match(const struct wg_matchers *ms, const struct wg__labels *ls)
{
    for (size_t i = 0; i < ms->n; i++) {
        if (!matcher_match(&ms->v[i], ls)) {
            return 0;
        }
    }
    return 1;
}

uint64_t wg_alerting_fingerprint(const struct wg_label *labels, size_t n)
{
    /* Sort indices by name (n is small) and hash like prometheus/common model.Fingerprint. */
    uint64_t h = 14695981039346656037ULL;
    const char *last = NULL;
    for (size_t k = 0; k < n; k++) {
        const struct wg_label *best = NULL;
        for (size_t i = 0; i < n; i++) {
            if ((!last || strcmp(labels[i].key, last) > 0) &&
                (!best || strcmp(labels[i].key, best->key) < 0)) {
                best = &labels[i];
            }
        }
        if (!best) {
            break;
        }
        for (int part = 0; part < 2; part++) {
            for (const unsigned char *p = (const unsigned char *)(part ? best->value : best->key);
                 *p; p++) {
                h ^= *p;
                h *= 1099511628211ULL;
            }
            h ^= 0xff;
            h *= 1099511628211ULL;
        }
        last = best->key;
    }
    return h;
}

void wg__labels_json(struct wg_buf *b, const struct wg__labels *ls)
{
    wg_buf_add(b, "{", 1);
    for (size_t i = 0; i < ls->n; i++) {
        if (i) {
            wg_buf_add(b, ",", 1);
        }
        wg_buf_add_json(b, ls->v[i].key);
        wg_buf_add(b, ":", 1);
        wg_buf_add_json(b, ls->v[i].value);
    }
    wg_buf_add(b, "}", 1);
}

static pthread_once_t g_md_once = PTHREAD_ONCE_INIT;
static const EVP_MD *g_sha256;

/* OpenSSL 3 looks EVP_sha256() up in its provider table on every digest: fetch it once. The
 * fetched method lives until exit. */
static void md_init(void)
{
#if OPENSSL_VERSION_NUMBER >= 0x30000000L
    g_sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
#endif
    if (!g_sha256) {
        g_sha256 = EVP_sha256();
    }
}

void wg__sha256_hex(const void *p, size_t n, char *out)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    static const char hex[] = "0123456789abcdef";
    pthread_once(&g_md_once, md_init);
    EVP_Digest(p, n, md, &len, g_sha256, NULL);
    for (unsigned int i = 0; i < len && i < 32; i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 15];
    }
    out[64] = '\0';
}

enum wg_err wg_alerting_sign(const char *secret, const char *id, int64_t ts_sec, const char *body,
                             size_t body_len, char *out, size_t outlen)
{
    unsigned char key[256], mac[EVP_MAX_MD_SIZE];
    unsigned int maclen = 0;
    const char *b64 = secret;
    enum wg_err rc = WG_ENOMEM;
    if (!secret || !id || outlen < 64) {
        return WG_EINVAL;
    }
    if (strncmp(b64, "whsec_", 6) == 0) {
        b64 += 6;
    }
    size_t bl = strlen(b64);
    if (bl == 0 || bl % 4 != 0 || bl / 4 * 3 > sizeof(key)) {
        return WG_EINVAL;
    }
    int kl = EVP_DecodeBlock(key, (const unsigned char *)b64, (int)bl);
    if (kl < 0) {
        return WG_EINVAL;
    }
    /* EVP_DecodeBlock counts padding bytes as zeros; drop them. */
    for (size_t i = bl; i > 0 && b64[i - 1] == '='; i--) {
        kl--;
    }
    char prefix[160];
    int pl = snprintf(prefix, sizeof(prefix), "%s.%lld.", id, (long long)ts_sec);
    if (pl < 0 || (size_t)pl >= sizeof(prefix)) {
        return WG_EINVAL;
    }
    EVP_MAC *macalg = EVP_MAC_fetch(NULL, "HMAC", NULL);
    EVP_MAC_CTX *mctx = macalg ? EVP_MAC_CTX_new(macalg) : NULL;
    OSSL_PARAM params[2] = {OSSL_PARAM_construct_utf8_string("digest", (char *)"SHA256", 0),
                            OSSL_PARAM_construct_end()};
    size_t ml = 0;
    if (!mctx || !EVP_MAC_init(mctx, key, (size_t)kl, params) ||
        !EVP_MAC_update(mctx, (const unsigned char *)prefix, (size_t)pl) ||
        !EVP_MAC_update(mctx, (const unsigned char *)body, body_len) ||
        !EVP_MAC_final(mctx, mac, &ml, sizeof(mac))) {
        goto out;
    }
    maclen = (unsigned int)ml;
    memcpy(out, "v1,", 3);
    EVP_EncodeBlock((unsigned char *)out + 3, mac, (int)maclen);
    rc = WG_OK;
out:
    EVP_MAC_CTX_free(mctx);
    EVP_MAC_free(macalg);
    return rc;
}

/* ---- the public label-set builder (alerting.h), the same sorted set ---------------------- */

enum wg_err wg_alert_labels_set(struct wg_alert_labels *ls, const char *k, const char *v)
{
    struct wg__labels t = {ls->v, ls->n};
    enum wg_err rc = wg__labels_set(&t, k, v);
    ls->v = t.v;
    ls->n = t.n;
    return rc;
}

void wg_alert_labels_clear(struct wg_alert_labels *ls)
{
    if (!ls) {
        return;
    }
    struct wg__labels t = {ls->v, ls->n};
    wg__labels_clear(&t);
    ls->v = NULL;
    ls->n = 0;
}

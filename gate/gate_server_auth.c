/* gate_server_auth.c — who may ask `serve` what: the read and admin tokens (several per role,
 * for rotation overlap) from files and environment variables, hashed and compared in constant
 * time; token files re-read when they change (checked at most once a second, on request), so a
 * Kubernetes Secret rotation needs no SIGHUP; Bearer everywhere, Basic (password = token) on
 * the pages. The route -> role table is wg__route_role (gate_server_routes.c).
 * tests/integration/test_tokens.sh pins it.
 */
#include "gate/gate_server_int.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#define MAX_TOKEN 4096
#define MAX_TOKENS 32                      /* per source */
#define MAX_FILE (64 * 1024)               /* a token file */
#define CHECK_EVERY_NS (1 * WG_NS_PER_SEC) /* the files' stat, at most this often */

struct tokset {
    unsigned char h[MAX_TOKENS][32]; /* SHA-256 of each token */
    size_t n;
};

/* One token file: its last good contents and the identity they were read from. */
struct tokfile {
    char *path;
    int role;
    const char *key; /* the config key, for messages */
    struct tokset set;
    dev_t dev;
    ino_t ino;
    struct timespec mtim;
    off_t size;
    int bad; /* the last look failed (warned once) */
};

struct wg__auth {
    pthread_mutex_t mu;
    atomic_llong next_check; /* monotonic ns */
    struct tokfile files[2];
    size_t nfiles;
    struct tokset env[2]; /* read, admin */
    int configured;
};

/* Tokens of text into set: separated by whitespace or commas, '#' to the end of the line is a
 * comment. Each is registered for log redaction, then only its hash is kept. */
static const char *parse_tokens(char *text, struct tokset *set)
{
    set->n = 0;
    char *p = text;
    while (*p) {
        if (*p == '#') {
            while (*p && *p != '\n') {
                p++;
            }
            continue;
        }
        if (strchr(" \t\r\n,", *p)) {
            p++;
            continue;
        }
        char *t = p;
        while (*p && !strchr(" \t\r\n,#", *p)) {
            p++;
        }
        size_t len = (size_t)(p - t);
        if (len > MAX_TOKEN) {
            return "a token is longer than 4096 bytes";
        }
        if (set->n == MAX_TOKENS) {
            return "more than 32 tokens";
        }
        char save = *p;
        *p = '\0';
        wg_log_add_secret(t);
        SHA256((const unsigned char *)t, len, set->h[set->n++]);
        *p = save;
    }
    return set->n ? NULL : "no token in it (empty)";
}

/* Read f's file into fresh (nothing changes on failure); *why says what went wrong. */
static int read_file(struct tokfile *f, struct tokset *fresh, struct stat *st, const char **why,
                     int *eno)
{
    *eno = 0;
    FILE *fp = fopen(f->path, "rb");
    if (!fp || fstat(fileno(fp), st) != 0) {
        *eno = errno;
        *why = NULL;
        if (fp) {
            fclose(fp);
        }
        return -1;
    }
    char *buf = malloc(MAX_FILE + 1);
    size_t n = buf ? fread(buf, 1, MAX_FILE + 1, fp) : 0;
    fclose(fp);
    if (!buf || n > MAX_FILE) {
        *why = buf ? "larger than 64 KiB" : "out of memory";
        free(buf);
        return -1;
    }
    buf[n] = '\0';
    *why = parse_tokens(buf, fresh);
    OPENSSL_cleanse(buf, n);
    free(buf);
    return *why ? -1 : 0;
}

static int same_file(const struct tokfile *f, const struct stat *st)
{
    return f->dev == st->st_dev && f->ino == st->st_ino && f->size == st->st_size &&
           f->mtim.tv_sec == st->st_mtim.tv_sec && f->mtim.tv_nsec == st->st_mtim.tv_nsec;
}

/* Under a->mu: re-read a file whose (dev, inode, mtime, size) moved. A file that cannot be read
 * or holds no token keeps the last good tokens (warned once): failing closed would lock every
 * pipeline out on a half-written Secret; it never falls back to "no auth". */
static void refresh(struct tokfile *f)
{
    struct stat st;
    if (stat(f->path, &st) == 0 && same_file(f, &st) && !f->bad) {
        return;
    }
    struct tokset *fresh = calloc(1, sizeof(*fresh));
    const char *why = "out of memory";
    int eno = 0;
    if (fresh && read_file(f, fresh, &st, &why, &eno) == 0) {
        f->set = *fresh;
        f->dev = st.st_dev;
        f->ino = st.st_ino;
        f->mtim = st.st_mtim;
        f->size = st.st_size;
        wg_log(WG_LOG_INFO, "auth: %s %s: %zu %s token(s)", f->key,
               f->bad ? "readable again" : "changed, re-read", f->set.n,
               f->role == WG__ROLE_ADMIN ? "admin" : "read");
        f->bad = 0;
    } else if (!f->bad) {
        f->bad = 1;
        wg_log(WG_LOG_WARN, "auth: %s %s: %s; keeping the %zu token(s) read before", f->key,
               f->path, why ? why : strerror(eno), f->set.n);
    }
    if (fresh) {
        OPENSSL_cleanse(fresh, sizeof(*fresh));
        free(fresh);
    }
}

static enum wg_err add_env(struct wg__auth *a, const char *key, const char *var, int role,
                           char *err, size_t errlen)
{
    const char *v = var ? getenv(var) : NULL;
    if (!var) {
        return WG_OK;
    }
    char *copy = v ? wg_strdup(v) : NULL;
    const char *why = copy ? parse_tokens(copy, &a->env[role - 1]) : "is not set";
    if (copy) {
        OPENSSL_cleanse(copy, strlen(copy));
        free(copy);
    }
    if (why) {
        snprintf(err, errlen, "%s: $%s %s", key, var, why);
        return WG_ECONFIG;
    }
    a->configured = 1;
    return WG_OK;
}

static enum wg_err add_file(struct wg__auth *a, const char *key, const char *path, int role,
                            char *err, size_t errlen)
{
    if (!path) {
        return WG_OK;
    }
    struct tokfile *f = &a->files[a->nfiles];
    struct stat st;
    const char *why = NULL;
    int eno = 0;
    f->path = wg_strdup(path);
    f->key = key;
    f->role = role;
    if (!f->path) {
        return WG_ENOMEM;
    }
    a->nfiles++;
    if (read_file(f, &f->set, &st, &why, &eno) != 0) {
        snprintf(err, errlen, "%s: %s: %s", key, path, why ? why : strerror(eno));
        return WG_ECONFIG;
    }
    f->dev = st.st_dev;
    f->ino = st.st_ino;
    f->mtim = st.st_mtim;
    f->size = st.st_size;
    a->configured = 1;
    return WG_OK;
}

enum wg_err wg__auth_new(const struct wg_server_cfg *sc, struct wg__auth **out, char *err,
                         size_t errlen)
{
    struct wg__auth *a = calloc(1, sizeof(*a));
    enum wg_err rc = WG_ENOMEM;
    *out = NULL;
    if (!a) {
        goto out;
    }
    pthread_mutex_init(&a->mu, NULL);
    atomic_init(&a->next_check, wg_mono_ns() + CHECK_EVERY_NS);
    /* The deprecated single token is an admin token (admin also answers every read route). */
    rc = add_env(a, "server.auth.read_token_env", sc->read_token_env, WG__ROLE_READ, err, errlen);
    if (rc == WG_OK) {
        rc = add_env(
            a, sc->admin_token_env ? "server.auth.admin_token_env" : "server.bearer_token_env",
            sc->admin_token_env ? sc->admin_token_env : sc->bearer_token_env, WG__ROLE_ADMIN, err,
            errlen);
    }
    if (rc == WG_OK) {
        rc = add_file(a, "server.auth.read_tokens_file", sc->read_tokens_file, WG__ROLE_READ, err,
                      errlen);
    }
    if (rc == WG_OK) {
        rc = add_file(
            a, sc->admin_tokens_file ? "server.auth.admin_tokens_file" : "server.bearer_token_file",
            sc->admin_tokens_file ? sc->admin_tokens_file : sc->bearer_token_file, WG__ROLE_ADMIN,
            err, errlen);
    }
    if (rc != WG_OK) {
        goto out;
    }
    *out = a;
    a = NULL;
out:
    wg__auth_free(a);
    return rc;
}

void wg__auth_free(struct wg__auth *a)
{
    if (!a) {
        return;
    }
    for (size_t i = 0; i < a->nfiles; i++) {
        free(a->files[i].path);
    }
    pthread_mutex_destroy(&a->mu);
    OPENSSL_cleanse(a, sizeof(*a));
    free(a);
}

int wg__auth_configured(const struct wg__auth *a)
{
    return a && a->configured;
}

/* Every stored hash is compared (no early exit), so the time does not say which matched. */
static int role_in(const struct tokset *set, const unsigned char h[32], int role)
{
    int hit = 0;
    for (size_t i = 0; i < set->n; i++) {
        hit |= CRYPTO_memcmp(h, set->h[i], 32) == 0;
    }
    return hit ? role : WG__ROLE_NONE;
}

int wg__auth_role(struct wg__auth *a, const char *tok, size_t len)
{
    if (!a || !tok || len == 0 || len > MAX_TOKEN) {
        return WG__ROLE_NONE;
    }
    unsigned char h[32];
    SHA256((const unsigned char *)tok, len, h); /* equal-length compares, whatever was sent */
    int64_t now = wg_mono_ns();
    pthread_mutex_lock(&a->mu);
    if (a->nfiles && now >= atomic_load(&a->next_check)) {
        atomic_store(&a->next_check, now + CHECK_EVERY_NS);
        for (size_t i = 0; i < a->nfiles; i++) {
            refresh(&a->files[i]);
        }
    }
    int role = WG__ROLE_NONE, r;
    for (int k = 0; k < 2; k++) {
        r = role_in(&a->env[k], h, k + 1);
        role = r > role ? r : role;
    }
    for (size_t i = 0; i < a->nfiles; i++) {
        r = role_in(&a->files[i].set, h, a->files[i].role);
        role = r > role ? r : role;
    }
    pthread_mutex_unlock(&a->mu);
    OPENSSL_cleanse(h, sizeof(h));
    return role;
}

int wg__server_token_ok(const struct wg__cfgref *g, const char *tok, size_t len)
{
    return tok ? wg__auth_role(g->auth, tok, len) : WG__ROLE_NONE;
}

/* ---- the request ------------------------------------------------------------------------ */

int wg__auth_header_role(struct wg__auth *a, const char *h, int basic)
{
    if (!h) {
        return WG__ROLE_NONE;
    }
    if (!strncasecmp(h, "Bearer ", 7)) {
        h += 7;
        while (*h == ' ') {
            h++;
        }
        size_t n = strnlen(h, MAX_TOKEN + 1);
        return wg__auth_role(a, h, n);
    }
    if (!basic || strncasecmp(h, "Basic ", 6)) {
        return WG__ROLE_NONE;
    }
    h += 6;
    while (*h == ' ') {
        h++;
    }
    size_t n = strnlen(h, 2 * MAX_TOKEN);
    while (n && h[n - 1] == ' ') {
        n--;
    }
    if (n == 0 || n >= 2 * MAX_TOKEN || n % 4) {
        return WG__ROLE_NONE;
    }
    unsigned char *dec = malloc(n / 4 * 3 + 1);
    int dn = dec ? EVP_DecodeBlock(dec, (const unsigned char *)h, (int)n) : -1;
    int role = WG__ROLE_NONE;
    if (dn > 0) {
        dn -= (h[n - 1] == '=') + (h[n - 2] == '='); /* DecodeBlock counts the padding */
        unsigned char *colon = memchr(dec, ':', (size_t)dn);
        if (colon) {
            size_t pl = (size_t)(dn - (colon + 1 - dec));
            role = wg__auth_role(a, (const char *)colon + 1, pl);
        }
    }
    if (dec) {
        OPENSSL_cleanse(dec, n / 4 * 3 + 1);
        free(dec);
    }
    return role;
}

static enum MHD_Result refuse(struct wg_server *s, struct MHD_Connection *c, unsigned status,
                              const char *challenge, const char *msg)
{
    char body[256];
    int n = snprintf(body, sizeof(body), "{\"verdict\":\"error\",\"error\":\"%s\"}", msg);
    struct MHD_Response *resp =
        MHD_create_response_from_buffer((size_t)n, body, MHD_RESPMEM_MUST_COPY);
    if (!resp) {
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    if (challenge) {
        MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE, challenge);
    }
    atomic_fetch_add(&s->m.errors[WG__E_UNAUTHORIZED], 1);
    wg__metrics_response(&s->m, status);
    enum MHD_Result ret = MHD_queue_response(c, status, resp);
    MHD_destroy_response(resp);
    return ret;
}

enum MHD_Result wg__auth_request(struct wg_server *s, struct MHD_Connection *c,
                                 struct wg__server_req *r, int *done)
{
    int body_token = 0, pages = 0;
    int need = wg__route_role(r, &body_token, &pages);
    *done = 0;
    if (need == WG__ROLE_NONE || !r->gen->has_token) {
        return MHD_YES;
    }
    const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    int role = wg__auth_header_role(r->gen->auth, h, pages);
    if (role >= need) {
        r->header_authed = role;
        return MHD_YES;
    }
    if (body_token) {
        /* Flagger sends no headers (metadata.token) and signed senders carry their own
         * signature: decided once the body is in. */
        r->header_authed = WG__ROLE_NONE;
        return MHD_YES;
    }
    *done = 1;
    if (role != WG__ROLE_NONE) {
        return refuse(s, c, 403, NULL,
                      "forbidden: this route needs the admin token (the read token may not "
                      "change state)");
    }
    if (pages) {
        return refuse(s, c, 401, "Basic realm=\"wavegate\"", "unauthorized");
    }
    return refuse(s, c, 401,
                  h ? "Bearer realm=\"wavegate\", error=\"invalid_token\""
                    : "Bearer realm=\"wavegate\"",
                  "unauthorized");
}

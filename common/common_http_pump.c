/* common_http_pump.c — the pump: single attempts over a long-lived multi handle, for callers
 * that keep their own queue and retry policy (alert delivery). Easy handles are set up and
 * results read exactly as in the batch runner (common_http.c). At the end, the URL helpers
 * both halves and their callers use (percent-encoding, a URL's base for messages).
 */
#include "common/common_http_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct wg_http_pump *wg_http_pump_new(int max_connections)
{
    struct wg_http_pump *p = calloc(1, sizeof(*p));
    if (!p) {
        return NULL;
    }
    if (wg__http_multi_init(&p->m) != WG_OK) {
        free(p);
        return NULL;
    }
    if (max_connections > 0) {
        curl_multi_setopt(p->m.multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, (long)max_connections);
    }
    return p;
}

static void pump_unlink(struct wg_http_pump *p, struct slot *s)
{
    if (s->prev) {
        s->prev->next = s->next;
    } else {
        p->active = s->next;
    }
    if (s->next) {
        s->next->prev = s->prev;
    }
}

void wg_http_pump_free(struct wg_http_pump *p)
{
    if (!p) {
        return;
    }
    while (p->active) {
        struct slot *s = p->active;
        pump_unlink(p, s);
        wg__http_slot_release(s, &p->m);
        free(s);
    }
    wg__http_multi_cleanup(&p->m);
    free(p);
}

enum wg_err wg_http_pump_add(struct wg_http_pump *p, struct wg_http_job *j)
{
    if (!p || !j) {
        return WG_EINVAL;
    }
    wg__http_job_init_out(j);
    int64_t now = wg_mono_ns();
    int64_t per = j->timeout_ns ? j->timeout_ns : DEF_TIMEOUT_NS;
    if (j->deadline_ns && j->deadline_ns - now < per) {
        per = j->deadline_ns - now;
    }
    if (per <= NS_PER_MS) {
        j->err = WG_ETIMEOUT;
        snprintf(j->errmsg, sizeof(j->errmsg), "no time left to send the request");
        return j->err;
    }
    struct slot *s = calloc(1, sizeof(*s));
    if (s) {
        s->job = j;
    }
    if (!s || wg__http_slot_headers(s) != WG_OK ||
        wg__http_attempt_start(s, &p->m, per, now) != WG_OK) {
        if (s) {
            wg__http_slot_release(s, &p->m);
            free(s);
        }
        j->err = WG_ENOMEM;
        snprintf(j->errmsg, sizeof(j->errmsg), "could not set up the request");
        return j->err;
    }
    s->next = p->active;
    if (p->active) {
        p->active->prev = s;
    }
    p->active = s;
    return WG_OK;
}

/* Run the transfers once and hand every finished job to done(); returns how many. */
static size_t pump_drain(struct wg_http_pump *p, wg_http_pump_done_fn done, void *ud)
{
    size_t n = 0;
    int still = 0;
    curl_multi_perform(p->m.multi, &still);
    struct slot *s;
    CURLcode rc;
    while ((s = wg__http_next_done(&p->m, &rc)) != NULL) {
        int64_t now = wg_mono_ns();
        wg__http_attempt_end(s, &p->m, rc, now);
        struct wg_http_job *j = s->job;
        wg__http_job_done(j, s->started, now);
        pump_unlink(p, s);
        wg__http_slot_release(s, &p->m);
        free(s);
        n++;
        done(ud, j);
    }
    return n;
}

size_t wg_http_pump_poll(struct wg_http_pump *p, int timeout_ms, wg_http_pump_done_fn done,
                         void *ud)
{
    size_t n = pump_drain(p, done, ud);
    if (n == 0 && timeout_ms > 0) {
        curl_multi_poll(p->m.multi, NULL, 0, timeout_ms, NULL);
        n = pump_drain(p, done, ud);
    }
    return n;
}

void wg_http_pump_wakeup(struct wg_http_pump *p)
{
    if (p) {
        curl_multi_wakeup(p->m.multi);
    }
}

/* ---- URL helpers -------------------------------------------------------------------------- */

void wg_http_url_base(const char *url, char *out, size_t outlen)
{
    if (!outlen) {
        return;
    }
    out[0] = '\0';
    if (!url) {
        return;
    }
    const char *p = strstr(url, "://");
    const char *auth = p ? p + 3 : url;
    size_t alen = strcspn(auth, "/?#");
    const char *at = memchr(auth, '@', alen);
    size_t slen = p ? (size_t)(p + 3 - url) : 0;
    if (at) {
        alen -= (size_t)(at + 1 - auth);
        auth = at + 1;
    }
    snprintf(out, outlen, "%.*s%.*s", (int)slen, url, (int)alen, auth);
}

enum wg_err wg_http_urlencode(struct wg_buf *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        unsigned char c = *p;
        char tmp[3];
        enum wg_err e;
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '.' || c == '_' || c == '~') {
            e = wg_buf_add(b, p, 1);
        } else {
            tmp[0] = '%';
            tmp[1] = hex[c >> 4];
            tmp[2] = hex[c & 15];
            e = wg_buf_add(b, tmp, 3);
        }
        if (e) {
            return e;
        }
    }
    return WG_OK;
}

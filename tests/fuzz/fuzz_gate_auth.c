/* fuzz_gate_auth.c — libFuzzer target for what a client sends as credentials: the
 * Authorization header value of `serve` (Bearer anywhere, Basic on the pages;
 * gate_server_auth.c), NUL-terminated as libmicrohttpd hands it over, both ways. Only the one
 * configured token may pass, and only in one of its two exact spellings. Built when WG_FUZZ=ON.
 */
#include "gate/gate_server_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct wg__auth *g_auth;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!g_auth) {
        struct wg_server_cfg sc;
        char err[256];
        memset(&sc, 0, sizeof(sc));
        setenv("WG_FUZZ_AUTH_TOKEN", "fuzz-token", 1);
        sc.read_token_env = "WG_FUZZ_AUTH_TOKEN";
        if (wg__auth_new(&sc, &g_auth, err, sizeof(err)) != WG_OK) {
            abort();
        }
    }
    char *h = malloc(size + 1);
    if (!h) {
        return 0;
    }
    memcpy(h, data, size);
    h[size] = '\0';
    for (int basic = 0; basic < 2; basic++) {
        int role = wg__auth_header_role(g_auth, h, basic);
        if (role != WG__ROLE_NONE && role != WG__ROLE_READ) {
            abort();
        }
        /* a pass needs the token itself: after "Bearer " or, decoded, after "user:" */
        if (role == WG__ROLE_READ && !strstr(h, "fuzz-token") &&
            !(basic && strcasestr(h, "basic "))) {
            abort();
        }
    }
    free(h);
    return 0;
}

/* fuzz_body.c — libFuzzer targets for the JSON request bodies of `serve`: POST /v1/gate,
 * /v1/flagger/{hook}, /v1/analyses and /v1/silences, one target per body kind (built four
 * times with WG_FUZZ_BODY = the enum wg__body value). The body is handed over in an
 * allocation of exactly its size (no terminator to lean on); gate and Flagger bodies also
 * check what an accepted body leaves in the parameters. Built when WG_FUZZ=ON (clang).
 */
#include "gate/gate_server_int.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_name(const char *s)
{
    size_t n = s ? strlen(s) : 1;
    if (n == 0 || n >= WG__MAX_NAME) {
        abort();
    }
    for (size_t i = 0; s && i < n; i++) {
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) {
            abort();
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[512] = "";
    uint8_t *copy = malloc(size ? size : 1);
    if (!copy) {
        return 0;
    }
    memcpy(copy, data, size);
    unsigned st = wg__route_body_check((enum wg__body)WG_FUZZ_BODY, copy, size, err, sizeof(err));
    if (st != 0 && st != 400 && st != 500) {
        abort();
    }
    if (st != 0 && !err[0]) {
        abort(); /* a refusal always says why */
    }
    if (WG_FUZZ_BODY == WG__B_GATE || WG_FUZZ_BODY == WG__B_FLAGGER) {
        struct wg__params p;
        memset(&p, 0, sizeof(p));
        if (wg__params_from_json(&p, (const char *)copy, size, WG_FUZZ_BODY == WG__B_FLAGGER, err,
                                 sizeof(err)) == WG_OK) {
            if (p.wave) {
                check_name(p.wave);
            }
            if (p.nfeatures > WG__MAX_FEATURES) {
                abort();
            }
            for (size_t i = 0; i < p.nfeatures; i++) {
                check_name(p.features[i]);
            }
        }
        wg__params_clear(&p);
    }
    free(copy);
    return 0;
}

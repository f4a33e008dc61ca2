/* diag_helper.h — shared by the config tests: every diagnostic rendered exactly as
 * `wavegate validate` prints it, to compare with the wanted lines. Include after cmocka.h.
 */
#ifndef WG_TEST_DIAG_HELPER_H
#define WG_TEST_DIAG_HELPER_H

#include <stdio.h>

#include "common/common.h"

/* A malloc'd string ("" when there is nothing); the caller frees it. */
static char *render_diags(const struct wg_diags *d)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    wg_diags_print(d, f);
    fclose(f);
    return buf;
}

#endif

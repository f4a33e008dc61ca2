/* test_collector_events_lp.c — the line protocol of markers and verdicts (collector_write.c):
 * each element's escaping as the line-protocol reference and influxd 1.6.7 agree (table,
 * want/got printed), points without fields refused, non-finite floats left out.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>
#include <math.h>
#include <string.h>

#include "collector/collector.h"

struct lcase {
    const char *meas, *tk, *tv, *fk, *fv;
    const char *want;
};

static void test_escaping(void **state)
{
    (void)state;
    static const struct lcase cases[] = {
        {"m", "t", "v", "f", "s", "m,t=v f=\"s\" 1\n"},
        {"flag events", "flag,name", "checkout v2", "text", "say \"hi\", back\\slash",
         "flag\\ events,flag\\,name=checkout\\ v2 text=\"say \\\"hi\\\", back\\\\slash\" 1\n"},
        {"m=x", "k=ey", "a=b", "f k", "v", "m=x,k\\=ey=a\\=b f\\ k=\"v\" 1\n"},
        {"wavegate_rules", "feature", "a b,c=d\"e", "why", "a b,c=d\"e",
         "wavegate_rules,feature=a\\ b\\,c\\=d\"e why=\"a b,c=d\\\"e\" 1\n"},
        {"m", "t", "line1\nline2", "f", "x\ry", "m,t=line1\\ line2 f=\"x y\" 1\n"},
        {"m", "t", "", "f", "s", "m f=\"s\" 1\n"},                /* empty tag value: left out */
        {"m", "t", "end\\", "f", "s", "m,t=end\\\\ f=\"s\" 1\n"}, /* trailing backslash */
        {"m", "t", "v", "f", "", "m,t=v f=\"\" 1\n"},
    };
    int bad = 0;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct lcase *c = &cases[i];
        struct wg_buf b;
        struct wg_lp lp;
        wg_buf_init(&b, 4096);
        wg_lp_begin(&lp, &b, c->meas);
        wg_lp_tag(&lp, c->tk, c->tv);
        wg_lp_str(&lp, c->fk, c->fv);
        enum wg_err rc = wg_lp_end(&lp, 1);
        if (rc != WG_OK || strcmp(b.p, c->want)) {
            print_error("case %zu: want %s got %s (rc %d)\n", i, c->want, b.p ? b.p : "", rc);
            bad++;
        }
        wg_buf_free(&b);
    }
    assert_int_equal(bad, 0);
}

static void test_numbers(void **state)
{
    (void)state;
    struct wg_buf b;
    struct wg_lp lp;
    wg_buf_init(&b, 4096);
    wg_lp_begin(&lp, &b, "wavegate_rules");
    wg_lp_tag(&lp, "verdict", "fail");
    wg_lp_float(&lp, "value", 0.1);
    wg_lp_float(&lp, "p_value", NAN); /* left out */
    wg_lp_float(&lp, "threshold", INFINITY);
    wg_lp_int(&lp, "samples", 42);
    assert_int_equal(wg_lp_end(&lp, 1796112000000000000LL), WG_OK);
    assert_string_equal(b.p, "wavegate_rules,verdict=fail value=0.1,samples=42i "
                             "1796112000000000000\n");
    wg_buf_reset(&b);
    wg_lp_begin(&lp, &b, "m");
    wg_lp_float(&lp, "v", NAN);
    assert_int_equal(wg_lp_end(&lp, 1), WG_EINVAL); /* no field at all: not a point */
    wg_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_escaping),
        cmocka_unit_test(test_numbers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

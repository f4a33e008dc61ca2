/* test_gate_server_auth.c — the token store of `serve` (gate_server_auth.c): token files and
 * variables (comments, commas, several per role), the deprecated single token as admin, start-up
 * errors naming the key, re-reading a file replaced by rename (polled against a deadline), a
 * file that goes empty or away keeping the last good tokens, and the route -> role table
 * (gate_server_routes.c). The HTTP side is tests/integration/test_tokens.sh.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "gate/gate_server_int.h"

static char g_dir[64];

static void write_file(const char *name, const char *text)
{
    char tmp[128], path[128];
    snprintf(tmp, sizeof(tmp), "%s/%s.tmp", g_dir, name);
    snprintf(path, sizeof(path), "%s/%s", g_dir, name);
    FILE *f = fopen(tmp, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    assert_int_equal(rename(tmp, path), 0); /* atomic, as a Secret update */
}

static char *path_of(const char *name)
{
    static char p[4][128];
    static int i;
    i = (i + 1) % 4;
    snprintf(p[i], sizeof(p[i]), "%s/%s", g_dir, name);
    return p[i];
}

static int role(struct wg__auth *a, const char *tok)
{
    return wg__auth_role(a, tok, strlen(tok));
}

static int setup(void **state)
{
    (void)state;
    snprintf(g_dir, sizeof(g_dir), "/tmp/wg-auth-test.XXXXXX");
    return mkdtemp(g_dir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", g_dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void test_sources_and_roles(void **state)
{
    (void)state;
    write_file("read", "# pipelines\nread-one\n  read-two , read-three # old one\n\n");
    write_file("admin", "admin-one\n");
    setenv("WG_TEST_AUTH_READ", "env-read-a env-read-b", 1);
    struct wg_server_cfg sc;
    memset(&sc, 0, sizeof(sc));
    sc.read_tokens_file = path_of("read");
    sc.admin_tokens_file = path_of("admin");
    sc.read_token_env = "WG_TEST_AUTH_READ";
    struct wg__auth *a = NULL;
    char err[256] = "";
    assert_int_equal(wg__auth_new(&sc, &a, err, sizeof(err)), WG_OK);
    assert_true(wg__auth_configured(a));
    static const struct {
        const char *tok;
        int want;
    } cases[] = {
        {"read-one", WG__ROLE_READ},   {"read-two", WG__ROLE_READ},   {"read-three", WG__ROLE_READ},
        {"env-read-a", WG__ROLE_READ}, {"env-read-b", WG__ROLE_READ}, {"admin-one", WG__ROLE_ADMIN},
        {"read-on", WG__ROLE_NONE},    {"read-one ", WG__ROLE_NONE},  {"#", WG__ROLE_NONE},
        {"pipelines", WG__ROLE_NONE},  {"old", WG__ROLE_NONE},        {"", WG__ROLE_NONE},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int got = role(a, cases[i].tok);
        if (got != cases[i].want) {
            print_error("token '%s': want role %d, got %d\n", cases[i].tok, cases[i].want, got);
        }
        assert_int_equal(got, cases[i].want);
    }
    assert_int_equal(wg__auth_role(a, NULL, 0), WG__ROLE_NONE);
    wg__auth_free(a);
    unsetenv("WG_TEST_AUTH_READ");
}

static void test_deprecated_and_errors(void **state)
{
    (void)state;
    struct wg_server_cfg sc;
    struct wg__auth *a = NULL;
    char err[256] = "";
    memset(&sc, 0, sizeof(sc));
    assert_int_equal(wg__auth_new(&sc, &a, err, sizeof(err)), WG_OK);
    assert_false(wg__auth_configured(a)); /* nothing configured: open, as before */
    wg__auth_free(a);

    setenv("WG_TEST_AUTH_OLD", "old-single-token", 1);
    sc.bearer_token_env = "WG_TEST_AUTH_OLD";
    assert_int_equal(wg__auth_new(&sc, &a, err, sizeof(err)), WG_OK);
    assert_int_equal(role(a, "old-single-token"), WG__ROLE_ADMIN);
    wg__auth_free(a);
    unsetenv("WG_TEST_AUTH_OLD");

    static const struct {
        const char *file_text; /* NULL: no file */
        const char *env;       /* for admin_token_env */
        const char *want;
    } cases[] = {
        {"", NULL, "server.auth.read_tokens_file: "},
        {"# only a comment\n", NULL, "no token in it (empty)"},
        {NULL, NULL, "No such file"},
        {"ok-token\n", "", "server.auth.admin_token_env: $WG_TEST_AUTH_ADMIN no token in it"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        memset(&sc, 0, sizeof(sc));
        unlink(path_of("bad"));
        if (cases[i].file_text) {
            write_file("bad", cases[i].file_text);
        }
        sc.read_tokens_file = path_of("bad");
        if (cases[i].env) {
            setenv("WG_TEST_AUTH_ADMIN", cases[i].env, 1);
            sc.admin_token_env = "WG_TEST_AUTH_ADMIN";
        }
        err[0] = '\0';
        a = NULL;
        enum wg_err rc = wg__auth_new(&sc, &a, err, sizeof(err));
        if (rc != WG_ECONFIG || !strstr(err, cases[i].want)) {
            print_error("case %zu: want WG_ECONFIG with '%s', got %d '%s'\n", i, cases[i].want, rc,
                        err);
        }
        assert_int_equal(rc, WG_ECONFIG);
        assert_non_null(strstr(err, cases[i].want));
        assert_null(a);
        unsetenv("WG_TEST_AUTH_ADMIN");
    }
}

/* Polls (at most deadline_s) until tok has role want; returns the seconds it took, -1. */
static double poll_role(struct wg__auth *a, const char *tok, int want, double deadline_s)
{
    struct timespec t0, t, nap = {0, 20 * 1000 * 1000};
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        clock_gettime(CLOCK_MONOTONIC, &t);
        double el = (double)(t.tv_sec - t0.tv_sec) + (double)(t.tv_nsec - t0.tv_nsec) / 1e9;
        if (role(a, tok) == want) {
            return el;
        }
        if (el > deadline_s) {
            return -1;
        }
        nanosleep(&nap, NULL);
    }
}

static void test_rotation(void **state)
{
    (void)state;
    write_file("rot", "first-token\n");
    struct wg_server_cfg sc;
    memset(&sc, 0, sizeof(sc));
    sc.admin_tokens_file = path_of("rot");
    struct wg__auth *a = NULL;
    char err[256] = "";
    assert_int_equal(wg__auth_new(&sc, &a, err, sizeof(err)), WG_OK);
    assert_int_equal(role(a, "first-token"), WG__ROLE_ADMIN);

    write_file("rot", "first-token\nsecond-token\n"); /* overlap */
    double took = poll_role(a, "second-token", WG__ROLE_ADMIN, 5);
    print_message("# renamed file: new token after %.2f s\n", took);
    assert_true(took >= 0 && took <= 2.5); /* checked at most once a second */
    assert_int_equal(role(a, "first-token"), WG__ROLE_ADMIN);

    write_file("rot", "second-token\n");
    assert_true(poll_role(a, "first-token", WG__ROLE_NONE, 5) >= 0);
    assert_int_equal(role(a, "second-token"), WG__ROLE_ADMIN);

    /* empty, then gone: the last good tokens stay (never "no auth", never locked out) */
    write_file("rot", "\n");
    assert_true(poll_role(a, "second-token", WG__ROLE_NONE, 1.3) < 0); /* past one check */
    unlink(path_of("rot"));
    assert_true(poll_role(a, "second-token", WG__ROLE_NONE, 1.3) < 0); /* past one check */
    assert_int_equal(role(a, "second-token"), WG__ROLE_ADMIN);
    write_file("rot", "third-token\n");
    assert_true(poll_role(a, "third-token", WG__ROLE_ADMIN, 5) >= 0);
    assert_int_equal(role(a, "second-token"), WG__ROLE_NONE);
    wg__auth_free(a);
}

/* Hostile and odd Authorization headers (under ASan in CI): only the exact token passes. */
static void test_header_forms(void **state)
{
    (void)state;
    setenv("WG_TEST_AUTH_HDR", "hdr-token", 1);
    struct wg_server_cfg sc;
    memset(&sc, 0, sizeof(sc));
    sc.read_token_env = "WG_TEST_AUTH_HDR";
    struct wg__auth *a = NULL;
    char err[256] = "";
    assert_int_equal(wg__auth_new(&sc, &a, err, sizeof(err)), WG_OK);
    static char big[3 * 4096];
    memset(big, 'A', sizeof(big) - 1);
    memcpy(big, "Basic ", 6);
    static const struct {
        const char *h;
        int basic, want;
    } cases[] = {
        {"Bearer hdr-token", 0, WG__ROLE_READ},
        {"bearer   hdr-token", 0, WG__ROLE_READ},
        {"Bearer hdr-token ", 0, WG__ROLE_NONE},
        {"Bearer hdr-toke", 0, WG__ROLE_NONE},
        {"Bearer ", 0, WG__ROLE_NONE},
        {"Bearer", 0, WG__ROLE_NONE},
        {"hdr-token", 0, WG__ROLE_NONE},
        {"Basic dTpoZHItdG9rZW4=", 1, WG__ROLE_READ},   /* u:hdr-token */
        {"Basic Omhkci10b2tlbg==", 1, WG__ROLE_READ},   /* :hdr-token */
        {"basic dTpoZHItdG9rZW4=  ", 1, WG__ROLE_READ}, /* trailing blanks */
        {"Basic dTpoZHItdG9rZW4=", 0, WG__ROLE_NONE},   /* not on this route */
        {"Basic aGRyLXRva2Vu", 1, WG__ROLE_NONE},       /* hdr-token: no colon */
        {"Basic dTpoZHItdG9rZW4", 1, WG__ROLE_NONE},    /* not a multiple of 4 */
        {"Basic dTpo!HItdG9rZW4=", 1, WG__ROLE_NONE},   /* not base64 */
        {"Basic ====", 1, WG__ROLE_NONE},
        {"Basic =", 1, WG__ROLE_NONE},
        {"Basic ", 1, WG__ROLE_NONE},
        {"Basic dTpoZHItdG9rZW4A", 1, WG__ROLE_NONE}, /* u:hdr-token + a NUL byte */
        {"Basic OmhkciOmhkci10b2tlbg==", 1, WG__ROLE_NONE},
        {big, 1, WG__ROLE_NONE},
        {NULL, 1, WG__ROLE_NONE},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int got = wg__auth_header_role(a, cases[i].h, cases[i].basic);
        if (got != cases[i].want) {
            print_error("case %zu '%.40s' basic %d: want %d, got %d\n", i,
                        cases[i].h ? cases[i].h : "(null)", cases[i].basic, cases[i].want, got);
        }
        assert_int_equal(got, cases[i].want);
    }
    wg__auth_free(a);
    unsetenv("WG_TEST_AUTH_HDR");
}

static void test_route_roles(void **state)
{
    (void)state;
    static const struct {
        enum wg__route route;
        int post, hook; /* hook: the adapter index for events */
        int want, body_token, pages;
    } cases[] = {
        {WG__R_GATE, 0, 0, WG__ROLE_READ, 0, 0},
        {WG__R_GATE, 1, 0, WG__ROLE_READ, 0, 0},
        {WG__R_FLAGGER, 1, 0, WG__ROLE_READ, 1, 0},
        {WG__R_ANALYSES, 1, 0, WG__ROLE_READ, 0, 0},
        {WG__R_ANALYSIS, 0, 0, WG__ROLE_READ, 0, 0},
        {WG__R_SILENCES, 0, 0, WG__ROLE_READ, 0, 0},
        {WG__R_SILENCES, 1, 0, WG__ROLE_ADMIN, 0, 0},
        {WG__R_SILENCE, 0, 0, WG__ROLE_ADMIN, 0, 0}, /* DELETE */
        {WG__R_EVENTS, 0, 0, WG__ROLE_READ, 0, 0},
        {WG__R_EVENTS, 1, 0, WG__ROLE_ADMIN, 0, 0},
        {WG__R_EVENTS_ADAPTER, 1, 0, WG__ROLE_ADMIN, 0, 0}, /* unleash: bearer only */
        {WG__R_EVENTS_ADAPTER, 1, 1, WG__ROLE_ADMIN, 1, 0}, /* launchdarkly: signed */
        {WG__R_UI_HOME, 0, 0, WG__ROLE_READ, 0, 1},
        {WG__R_UI_EVAL, 0, 0, WG__ROLE_READ, 0, 1},
        {WG__R_UI_REPORT, 0, 0, WG__ROLE_READ, 0, 1},
        {WG__R_HEALTHZ, 0, 0, WG__ROLE_NONE, 0, 0},
        {WG__R_METRICS, 0, 0, WG__ROLE_NONE, 0, 0},
        {(enum wg__route)999, 0, 0, WG__ROLE_ADMIN, 0, 0}, /* unlisted: fail closed */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct wg__server_req r;
        memset(&r, 0, sizeof(r));
        r.route = cases[i].route;
        r.method_post = cases[i].post;
        r.hook = (enum wg__hook)cases[i].hook;
        int bt = -1, pg = -1;
        int got = wg__route_role(&r, &bt, &pg);
        if (got != cases[i].want || bt != cases[i].body_token || pg != cases[i].pages) {
            print_error("case %zu (route %d post %d): want %d/%d/%d, got %d/%d/%d\n", i,
                        (int)cases[i].route, cases[i].post, cases[i].want, cases[i].body_token,
                        cases[i].pages, got, bt, pg);
        }
        assert_int_equal(got, cases[i].want);
        assert_int_equal(bt, cases[i].body_token);
        assert_int_equal(pg, cases[i].pages);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sources_and_roles), cmocka_unit_test(test_deprecated_and_errors),
        cmocka_unit_test(test_rotation),          cmocka_unit_test(test_header_forms),
        cmocka_unit_test(test_route_roles),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

/* test_config_yaml.c — the YAML node tree under the loader: line:col of every node kind,
 * scalar styles and nulls, positions inside scalars (and when they fall back to the scalar's
 * start), CRLF input, tags, the nesting cap.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "diag_helper.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config_int.h"

static struct wg__cfg_node *parse_ok(const char *text, struct wg__cfg_doc *doc)
{
    struct wg_diags d = {0};
    enum wg_err rc = wg__config_parse("y.yaml", text, strlen(text), doc, &d);
    if (rc != WG_OK || d.n) {
        wg_diags_print(&d, stderr);
    }
    assert_int_equal(rc, WG_OK);
    assert_int_equal(d.n, 0);
    wg_diags_free(&d);
    return doc->root;
}

static void test_tree_positions(void **state)
{
    (void)state;
    static const char y[] = "top:\n"
                            "  seq: [x, 'y', \"z\"]\n"
                            "  lit: |\n"
                            "    line one\n"
                            "  nul: ~\n"
                            "  empty:\n"
                            "  str: !!str 5\n"
                            "  blk:\n"
                            "    - a\n";
    struct wg__cfg_doc doc;
    const struct wg__cfg_node *root = parse_ok(y, &doc);
    assert_int_equal(root->type, WG__CFG_MAP);
    const struct wg__cfg_node *top = wg__config_get(root, "top");
    assert_non_null(top);
    assert_int_equal(top->type, WG__CFG_MAP);
    assert_int_equal(top->pos.line, 2);
    assert_int_equal(top->pos.col, 3);
    assert_string_equal(top->pos.file, "y.yaml");

    const struct wg__cfg_node *seq = wg__config_get(top, "seq");
    assert_int_equal(seq->type, WG__CFG_SEQ);
    assert_int_equal(seq->n, 3);
    static const struct {
        int col;
        enum wg__cfg_style style;
        const char *s;
    } items[] = {{9, WG__CFG_PLAIN, "x"}, {12, WG__CFG_SQUOTED, "y"}, {17, WG__CFG_DQUOTED, "z"}};
    for (size_t i = 0; i < 3; i++) {
        const struct wg__cfg_node *it = seq->vals[i];
        if (it->pos.line != 2 || it->pos.col != items[i].col || it->style != items[i].style ||
            strcmp(it->str, items[i].s) != 0) {
            print_error("item %zu: want 2:%d style %d '%s', got %d:%d style %d '%s'\n", i,
                        items[i].col, items[i].style, items[i].s, it->pos.line, it->pos.col,
                        it->style, it->str);
            fail();
        }
    }
    assert_int_equal(seq->vals[0]->quoted, 0);
    assert_int_equal(seq->vals[1]->quoted, 1);

    const struct wg__cfg_node *lit = wg__config_get(top, "lit");
    assert_int_equal(lit->style, WG__CFG_LITERAL);
    assert_string_equal(lit->str, "line one\n");
    assert_true(wg__config_is_null(wg__config_get(top, "nul")));
    assert_true(wg__config_is_null(wg__config_get(top, "empty")));
    assert_false(wg__config_is_null(seq->vals[1]));
    const struct wg__cfg_node *str = wg__config_get(top, "str");
    assert_string_equal(str->str, "5");
    assert_int_equal(str->quoted, 1); /* !!str makes it a string */
    const struct wg__cfg_node *blk = wg__config_get(top, "blk");
    assert_int_equal(blk->type, WG__CFG_SEQ);
    assert_int_equal(blk->vals[0]->pos.line, 9);
    assert_int_equal(blk->vals[0]->pos.col, 7);
    assert_null(wg__config_get(top, "nope"));

    char buf[96];
    assert_string_equal(wg__config_describe(seq, buf, sizeof(buf)), "a sequence");
    assert_string_equal(wg__config_describe(top, buf, sizeof(buf)), "a mapping");
    assert_string_equal(wg__config_describe(seq->vals[0], buf, sizeof(buf)), "'x'");
    assert_string_equal(wg__config_describe(seq->vals[2], buf, sizeof(buf)),
                        "a quoted string \"z\"");
    wg__config_doc_free(&doc);
}

/* Where offset `off` of the `q` scalar lands, for each way of writing it. */
static void test_scalar_pos(void **state)
{
    (void)state;
    static const struct {
        const char *yaml;
        size_t off;
        int line, col;
    } cases[] = {
        {"q: abc {{x}}\n", 4, 1, 8},                         /* plain */
        {"q: 'abc {{x}}'\n", 4, 1, 9},                       /* single-quoted */
        {"q: \"abc {{x}}\"\n", 4, 1, 9},                     /* double-quoted */
        {"q: \"\\tbc {{x}}\"\n", 4, 1, 4},                   /* an escape: the scalar's start */
        {"q: 'it''s {{x}}'\n", 5, 1, 4},                     /* '' escape: the scalar's start */
        {"q: abc\n  def {{x}}\n", 8, 2, 7},                  /* multi-line plain */
        {"q: abc {{y}}\n  def\n", 4, 1, 8},                  /* multi-line plain, first line */
        {"q: abc\n  def {{x}} # c\n", 8, 2, 7},              /* multi-line plain, a comment after */
        {"q: |\n  abc\n    def {{x}}\n", 10, 3, 9},          /* literal, second line, indented */
        {"q: |  # note\n  abc {{x}}\n", 4, 2, 7},            /* literal with a comment */
        {"q: |\n\n  abc {{x}}\n", 5, 3, 7},                  /* literal with a blank first line */
        {"q: >\n  abc\n  def {{x}}\n", 8, 3, 7},             /* folded block */
        {"q: >-\n  abc\n\n  def {{x}}\n", 8, 4, 7},          /* folded, a blank line */
        {"q: >\n  abc\n    more {{x}}\n  end\n", 11, 3, 10}, /* folded, more indented */
        {"q: >\n  abc\n  def\n", 3, 1, 4},                   /* the line break: the start */
        {"q: caf\xc3\xa9 {{x}}\n", 6, 1, 9},                 /* columns count characters */
        {"a: 1\r\nq: |\r\n  ab {{x}}\r\n", 3, 3, 6},         /* CRLF */
    };
    int failed = 0;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct wg__cfg_doc doc;
        const struct wg__cfg_node *root = parse_ok(cases[i].yaml, &doc);
        const struct wg__cfg_node *q = wg__config_get(root, "q");
        assert_non_null(q);
        struct wg_pos pos;
        wg__config_scalar_pos(&doc, q, cases[i].off, &pos);
        if (pos.line != cases[i].line || pos.col != cases[i].col) {
            print_error("case %zu %s: want %d:%d, got %d:%d\n", i, cases[i].yaml, cases[i].line,
                        cases[i].col, pos.line, pos.col);
            failed++;
        }
        wg__config_doc_free(&doc);
    }
    assert_int_equal(failed, 0);
}

static void test_rejects(void **state)
{
    (void)state;
    static const struct {
        const char *yaml;
        enum wg_err rc;
        const char *want;
    } cases[] = {
        {"a: !foo x\n", WG_OK, "y.yaml:1:4: a: YAML tags (!foo) are not supported"},
        {"a: {[1]: x}\n", WG_OK, "y.yaml:1:5: a: a mapping key must be a plain string"},
        {"a: \"x\\0y\"\n", WG_OK, "y.yaml:1:4: a: a NUL character is not allowed"},
        {"a: 1\nb: 2\na: 3\n", WG_OK,
         "y.yaml:3:1: a: duplicate key 'a' (first defined at line "
         "1:1)"},
        {"l: [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]"
         "]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]\n",
         WG_ECONFIG, "nesting deeper than 64 levels"},
    };
    int failed = 0;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct wg__cfg_doc doc;
        struct wg_diags d = {0};
        enum wg_err rc = wg__config_parse("y.yaml", cases[i].yaml, strlen(cases[i].yaml), &doc, &d);
        char *got = render_diags(&d);
        if (rc != cases[i].rc || d.nerrors != 1 || !strstr(got, cases[i].want)) {
            print_error("case %zu: want rc=%d 1 error '%s', got rc=%d %zu errors:\n%s\n", i,
                        cases[i].rc, cases[i].want, rc, d.nerrors, got);
            failed++;
        }
        if (rc != WG_OK) {
            assert_null(doc.root);
        }
        free(got);
        wg__config_doc_free(&doc);
        wg_diags_free(&d);
    }
    assert_int_equal(failed, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tree_positions),
        cmocka_unit_test(test_scalar_pos),
        cmocka_unit_test(test_rejects),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

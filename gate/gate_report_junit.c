/* gate_report_junit.c — `check --format junit`: the report as a JUnit XML document, one
 * testcase per rule, so CI test-report viewers (GitHub, GitLab, Jenkins) show each rule.
 * fail -> <failure>, could not evaluate -> <error>, inconclusive -> <skipped>; warn and dry-run
 * results pass with the reason in <system-out>. The exit code stays the verdict's. A fleet
 * wave's testcases are classed wave.target.feature: one per rule and target.
 */
#include "gate/gate.h"

#include <stdio.h>
#include <string.h>

/* XML 1.0 text/attribute escaping; control characters other than tab/newline dropped. */
static void xml_esc(FILE *f, const char *s)
{
    for (; s && *s; s++) {
        unsigned char ch = (unsigned char)*s;
        switch (ch) {
        case '&':
            fputs("&amp;", f);
            break;
        case '<':
            fputs("&lt;", f);
            break;
        case '>':
            fputs("&gt;", f);
            break;
        case '"':
            fputs("&quot;", f);
            break;
        case '\'':
            fputs("&apos;", f);
            break;
        default:
            if (ch >= 0x20 || ch == '\t' || ch == '\n') {
                fputc(ch, f);
            }
            break;
        }
    }
}

static void detail(FILE *f, const struct wg_rule_report *rr)
{
    char s[48], e[48];
    if (rr->res.has_value) {
        fprintf(f, "value %.6g, ", rr->res.value);
    }
    if (rr->p.threshold.has_max) {
        fprintf(f, "max %.6g, ", rr->p.threshold.max);
    }
    if (rr->p.threshold.has_min) {
        fprintf(f, "min %.6g, ", rr->p.threshold.min);
    }
    fprintf(f, "samples %ld, window %s .. %s", (long)rr->res.samples,
            wg_time_format(rr->start_ns, s, sizeof(s)), wg_time_format(rr->end_ns, e, sizeof(e)));
    if (rr->source) {
        fputs(", source ", f);
        xml_esc(f, rr->source);
    }
}

void wg_gate_report_junit(const struct wg_check_report *r, FILE *f)
{
    size_t failures = 0, errors = 0, skipped = 0;
    for (size_t i = 0; i < r->nrules; i++) {
        const struct wg_rule_report *rr = &r->rules[i];
        int dry = rr->res.dry_run || rr->p.dry_run;
        failures += !dry && rr->res.verdict == WG_FAIL;
        errors += !dry && rr->res.verdict == WG_NOEVAL;
        skipped += !dry && rr->res.verdict == WG_INCONCLUSIVE;
    }
    char ts[48];
    fputs("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n", f);
    fprintf(f,
            "<testsuites name=\"wavegate\" tests=\"%zu\" failures=\"%zu\" errors=\"%zu\" "
            "skipped=\"%zu\">\n",
            r->nrules, failures, errors, skipped);
    fputs("  <testsuite name=\"wavegate.", f);
    xml_esc(f, r->wave);
    fprintf(f,
            "\" tests=\"%zu\" failures=\"%zu\" errors=\"%zu\" skipped=\"%zu\" timestamp=\"%s\">\n",
            r->nrules, failures, errors, skipped,
            wg_time_format(r->end_ns / WG_NS_PER_SEC * WG_NS_PER_SEC, ts, sizeof(ts)));
    fprintf(f, "    <properties>\n      <property name=\"verdict\" value=\"%s\"/>\n",
            wg_verdict_name(r->verdict));
    fputs("      <property name=\"wave\" value=\"", f);
    xml_esc(f, r->wave);
    fputs("\"/>\n      <property name=\"env\" value=\"", f);
    xml_esc(f, r->env);
    fputs("\"/>\n", f);
    if (r->deploy_ns) {
        fprintf(f, "      <property name=\"deploy_time\" value=\"%s\"/>\n",
                wg_time_format(r->deploy_ns, ts, sizeof(ts)));
    }
    fputs("    </properties>\n", f);
    for (size_t i = 0; i < r->nrules; i++) {
        const struct wg_rule_report *rr = &r->rules[i];
        int dry = rr->res.dry_run || rr->p.dry_run;
        fputs("    <testcase classname=\"", f);
        xml_esc(f, r->wave);
        fputc('.', f);
        if (r->fleet && rr->target < r->ntargets) { /* a fleet's rule once per target */
            xml_esc(f, r->targets[rr->target].name);
            fputc('.', f);
        }
        xml_esc(f, rr->feature->name);
        fputs("\" name=\"", f);
        xml_esc(f, rr->rule->name);
        fprintf(f, "\" time=\"%.3f\">\n", (double)rr->query_ns / 1e9);
        const char *tag = dry                                  ? NULL
                          : rr->res.verdict == WG_FAIL         ? "failure"
                          : rr->res.verdict == WG_NOEVAL       ? "error"
                          : rr->res.verdict == WG_INCONCLUSIVE ? "skipped"
                                                               : NULL;
        if (tag) {
            fprintf(f, "      <%s message=\"", tag);
            xml_esc(f, rr->res.reason);
            fprintf(f, "\" type=\"%s\">", wg_verdict_name(rr->res.verdict));
            detail(f, rr);
            fprintf(f, "</%s>\n", tag);
        }
        fputs("      <system-out>", f);
        fprintf(f, "%s%s: ", dry ? "dry run, " : "", wg_verdict_name(rr->res.verdict));
        xml_esc(f, rr->res.reason);
        fputs("; ", f);
        detail(f, rr);
        if (rr->query) {
            fputs("\nquery: ", f);
            xml_esc(f, rr->query);
        }
        fputs("</system-out>\n    </testcase>\n", f);
    }
    fputs("  </testsuite>\n</testsuites>\n", f);
}

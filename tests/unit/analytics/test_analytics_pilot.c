/* SPDX-License-Identifier: Apache-2.0 */
/* The rebuild's comparison of recomputed and published figures (an_figures_diff). */
#include <string.h>

#include "analytics.h"
#include "bf_test.h"

static json_t *parse(const char *s)
{
    return json_loads(s, 0, NULL);
}

static char *diff_text(const char *a, const char *b)
{
    json_t *ja = parse(a), *jb = parse(b), *d = an_figures_diff(ja, jb);
    char *s = json_dumps(d, JSON_COMPACT);

    json_decref(ja);
    json_decref(jb);
    json_decref(d);
    return s;
}

static void check_diff(const char *a, const char *b, const char *want)
{
    char *got = diff_text(a, b);

    CHECK_STR(got, want);
    free(got);
}

static void test_diff(void)
{
    const char *rec = "{\"reached\": 3, \"reach_ratio\": 0.75, \"backlog\": null,"
                      " \"time_to_earn\": {\"p50_s\": 86400, \"p90_s\": 432000},"
                      " \"suppressed\": [\"backlog\"]}";

    check_diff(rec, rec, "[]");
    check_diff(rec,
               "{\"reached\": 4, \"reach_ratio\": 0.75, \"backlog\": null,"
               " \"time_to_earn\": {\"p50_s\": 86400, \"p90_s\": 86400},"
               " \"suppressed\": [\"backlog\"]}",
               "[\"reached\",\"time_to_earn\"]");
    /* null against a number (a count crossing k), and keys on one side only */
    check_diff("{\"backlog\": null, \"a\": 1}", "{\"backlog\": 5, \"b\": 1}",
               "[\"backlog\",\"a\",\"b\"]");
    check_diff("{}", "{\"x\": 1}", "[\"x\"]");
}

int main(void)
{
    BF_TEST_RUN(test_diff);
    return BF_TEST_DONE();
}

/* SPDX-License-Identifier: Apache-2.0 */
/* Per-assessor agreement with the final decision: a worked example counted by hand. */
#include <stdio.h>

#include "bf_test.h"
#include "scorer.h"

#define PAIRS(p, N, E, A) ((p).n == (N) && (p).exact == (E) && (p).adjacent == (A))

/*
 * Two criteria (levels 0..3) and the outcome (column 2). Each line: the final decision, then
 * one assessor's levels and own outcome.
 *   unit 1: final 2 2 earned    A: 2 3 earned     B: 2 0 not_yet
 *   unit 2: final 1 2 not_yet   A: 0 2 not_yet    C: 3 2 earned
 *   unit 3: final 2 2 earned    B: 1 1 not_yet    C: 2 2 earned   (e.g. after an override)
 * By hand, (n, exact, adjacent) per column:
 *   A: (2,1,2) (2,1,2) (2,2,2)    B: (2,1,2) (2,0,1) (2,0,2)    C: (2,1,1) (2,2,2) (2,1,2)
 * Outcome pairs are always "adjacent" (two values): the outcome rows read exact only.
 */
static void test_worked_example(void)
{
    static const struct {
        const char *who;
        int lv[3], fin[3];
    } rows[] = {
        {"A", {2, 3, 1}, {2, 2, 1}}, {"B", {2, 0, 0}, {2, 2, 1}}, {"A", {0, 2, 0}, {1, 2, 0}},
        {"C", {3, 2, 1}, {1, 2, 0}}, {"B", {1, 1, 0}, {2, 2, 1}}, {"C", {2, 2, 1}, {2, 2, 1}},
    };
    struct scorer_raters rs = {0};

    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
        CHECK(scorer_raters_add(&rs, rows[i].who, rows[i].lv, rows[i].fin, 2) == 0);
    CHECK(rs.n == 3);
    CHECK_STR(rs.r[0].id, "A");
    CHECK_STR(rs.r[1].id, "B");
    CHECK_STR(rs.r[2].id, "C");
    CHECK(PAIRS(rs.r[0].c[0], 2, 1, 2) && PAIRS(rs.r[0].c[1], 2, 1, 2));
    CHECK(PAIRS(rs.r[0].c[2], 2, 2, 2));
    CHECK(PAIRS(rs.r[1].c[0], 2, 1, 2) && PAIRS(rs.r[1].c[1], 2, 0, 1));
    CHECK(PAIRS(rs.r[1].c[2], 2, 0, 2));
    CHECK(PAIRS(rs.r[2].c[0], 2, 1, 1) && PAIRS(rs.r[2].c[1], 2, 2, 2));
    CHECK(PAIRS(rs.r[2].c[2], 2, 1, 2));
    scorer_raters_free(&rs);
    CHECK(rs.n == 0 && rs.r == NULL);
}

/* More assessors than the first allocation: rows stay apart, none lost. */
static void test_many_assessors(void)
{
    struct scorer_raters rs = {0};
    const int lv[2] = {1, 1}, fin[2] = {1, 0};
    char id[16];

    for (int round = 0; round < 2; round++)
        for (int i = 0; i < 40; i++) {
            snprintf(id, sizeof(id), "as-%d", i);
            CHECK(scorer_raters_add(&rs, id, lv, fin, 1) == 0);
        }
    CHECK(rs.n == 40);
    for (size_t i = 0; i < rs.n; i++)
        CHECK(PAIRS(rs.r[i].c[0], 2, 2, 2) && PAIRS(rs.r[i].c[1], 2, 0, 2));
    CHECK_STR(rs.r[39].id, "as-39");
    scorer_raters_free(&rs);
}

int main(void)
{
    BF_TEST_RUN(test_worked_example);
    BF_TEST_RUN(test_many_assessors);
    return BF_TEST_DONE();
}

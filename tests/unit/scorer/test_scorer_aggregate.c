/* SPDX-License-Identifier: Apache-2.0 */
/* Aggregation worked examples: medians (odd/even), conjunctive and minimum_count, disagreement. */
#include "bf_test.h"
#include "scorer.h"

/* A 3-criterion, 4-level rubric (not_yet 0, developing 1, proficient 2, exemplary 3),
 * passing at proficient, conjunctive, threshold 1: like cl.cultivating-a-shared-purpose. */
static struct scorer_rule conj_rule(void)
{
    struct scorer_rule r = {.n_criteria = 3,
                            .passing_index = {2, 2, 2},
                            .required = {true, true, true},
                            .min_count = 3,
                            .conjunctive = true,
                            .disagreement_threshold = 1};
    return r;
}

static void test_median_odd_and_even(void)
{
    int odd[] = {3, 1, 2};
    int even[] = {1, 3};
    int four[] = {0, 2, 3, 1};

    CHECK(scorer_median(odd, 3, SCORER_MEDIAN_LOWER) == 2);
    CHECK(scorer_median(odd, 3, SCORER_MEDIAN_UPPER) == 2);
    /* even: developing/exemplary has no middle level: lower = developing, upper = exemplary */
    CHECK(scorer_median(even, 2, SCORER_MEDIAN_LOWER) == 1);
    CHECK(scorer_median(even, 2, SCORER_MEDIAN_UPPER) == 3);
    CHECK(scorer_median(four, 4, SCORER_MEDIAN_LOWER) == 1);
    CHECK(scorer_median(four, 4, SCORER_MEDIAN_UPPER) == 2);
    CHECK(scorer_median(odd, 0, SCORER_MEDIAN_LOWER) == -1);
}

static void test_conjunctive_no_averaging(void)
{
    struct scorer_rule r = conj_rule();
    int strong_but_one_low[] = {3, 3, 1}; /* mean 2.33 >= passing, yet one criterion fails */
    int all_proficient[] = {2, 2, 2};

    CHECK(!scorer_rule_passes(&r, strong_but_one_low));
    CHECK(scorer_rule_passes(&r, all_proficient));
}

static void test_minimum_count_with_required(void)
{
    /* 4 criteria, at least 3 pass, criterion 0 required (cl.building-relational-trust style) */
    struct scorer_rule r = {.n_criteria = 4,
                            .passing_index = {2, 2, 2, 2},
                            .required = {true, false, false, false},
                            .min_count = 3,
                            .conjunctive = false,
                            .disagreement_threshold = 1};
    int three_pass[] = {2, 2, 2, 0};
    int two_pass[] = {2, 2, 1, 0};
    int required_fails[] = {1, 3, 3, 3};

    CHECK(scorer_rule_passes(&r, three_pass));
    CHECK(!scorer_rule_passes(&r, two_pass));
    CHECK(!scorer_rule_passes(&r, required_fails));
}

static void test_two_agreeing_scores(void)
{
    struct scorer_rule r = conj_rule();
    struct scorer_sheet s[2] = {{{2, 3, 2}}, {{2, 2, 3}}};
    struct scorer_result res;

    scorer_aggregate(&r, s, 2, SCORER_MEDIAN_LOWER, &res);
    CHECK(!res.disagree);
    CHECK(res.earned);
    CHECK(res.level[0] == 2 && res.level[1] == 2 && res.level[2] == 2);
    scorer_aggregate(&r, s, 2, SCORER_MEDIAN_UPPER, &res);
    CHECK(res.level[1] == 3 && res.level[2] == 3);
}

static void test_threshold_disagreement(void)
{
    struct scorer_rule r = conj_rule();
    /* same outcome (both earned) but criterion 1 is exemplary vs proficient: 1 apart: fine;
     * then not_yet(0)... vs exemplary(3): 3 apart > 1: tie-break */
    struct scorer_sheet near[2] = {{{2, 3, 2}}, {{2, 2, 2}}};
    struct scorer_sheet far[2] = {{{3, 3, 3}}, {{3, 3, 2}}};
    struct scorer_sheet spread[2] = {{{3, 0, 3}}, {{3, 3, 3}}};
    struct scorer_result res;

    scorer_aggregate(&r, near, 2, SCORER_MEDIAN_LOWER, &res);
    CHECK(!res.disagree && res.spread_criterion == -1);
    scorer_aggregate(&r, far, 2, SCORER_MEDIAN_LOWER, &res);
    CHECK(!res.disagree); /* 1 apart, same outcome */
    scorer_aggregate(&r, spread, 2, SCORER_MEDIAN_LOWER, &res);
    CHECK(res.disagree && res.spread_criterion == 1);
    r.disagreement_threshold = 3; /* a credential that tolerates it: still differs on outcome */
    scorer_aggregate(&r, spread, 2, SCORER_MEDIAN_LOWER, &res);
    CHECK(res.disagree && res.spread_criterion == -1);
}

static void test_outcome_disagreement_and_tie_break(void)
{
    struct scorer_rule r = conj_rule();
    /* one level apart everywhere, but one assessor passes and the other does not */
    struct scorer_sheet s[3] = {{{2, 2, 2}}, {{2, 1, 2}}, {{2, 2, 3}}};
    struct scorer_result res;

    scorer_aggregate(&r, s, 2, SCORER_MEDIAN_LOWER, &res);
    CHECK(res.disagree && res.spread_criterion == -1);
    CHECK(!res.earned); /* lower median of proficient/developing is developing */
    /* the tie-break (third) score: medians of three: 2, 2, 2: earned */
    scorer_aggregate(&r, s, 3, SCORER_MEDIAN_LOWER, &res);
    CHECK(res.earned);
    CHECK(res.level[1] == 2 && res.level[2] == 2);
}

int main(void)
{
    BF_TEST_RUN(test_median_odd_and_even);
    BF_TEST_RUN(test_conjunctive_no_averaging);
    BF_TEST_RUN(test_minimum_count_with_required);
    BF_TEST_RUN(test_two_agreeing_scores);
    BF_TEST_RUN(test_threshold_disagreement);
    BF_TEST_RUN(test_outcome_disagreement_and_tie_break);
    return BF_TEST_DONE();
}

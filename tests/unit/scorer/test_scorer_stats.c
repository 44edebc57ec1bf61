/* SPDX-License-Identifier: Apache-2.0 */
/* Agreement statistics against published worked examples. */
#include <math.h>

#include "bf_test.h"
#include "scorer.h"

#define NEAR(a, b, eps) (fabs((a) - (b)) < (eps))

/*
 * Krippendorff, K. (2011). "Computing Krippendorff's Alpha-Reliability". Annenberg School
 * for Communication, University of Pennsylvania, https://repository.upenn.edu/asc_papers/43,
 * section C (four observers, values 1..5, missing data). Published: nominal alpha = 0.743,
 * ordinal alpha = 0.815, interval alpha = 0.849. Values here are shifted to 0..4; unit 12
 * (one value) is not pairable. Units, observers A B C D (. = missing):
 *   1: 1 1 . 1   2: 2 2 3 2   3: 3 3 3 3   4: 3 3 3 3   5: 2 2 2 2   6: 1 2 3 4
 *   7: 4 4 4 4   8: 1 1 2 1   9: 2 2 2 2  10: . 5 5 5  11: . . 1 1  12: . 3 . .
 */
static const int k11_values[] = {0, 0, 0, 1, 1, 2, 1, 2, 2, 2, 2, 2, 2, 2, 2, 1, 1, 1, 1, 0, 1,
                                 2, 3, 3, 3, 3, 3, 0, 0, 1, 0, 1, 1, 1, 1, 4, 4, 4, 0, 0, 2};
static const size_t k11_counts[] = {3, 4, 4, 4, 4, 4, 4, 4, 4, 3, 2, 1};

static void test_krippendorff_2011(void)
{
    double nom = scorer_kripp_alpha(k11_values, k11_counts, 12, 5, SCORER_ALPHA_NOMINAL);
    double ord = scorer_kripp_alpha(k11_values, k11_counts, 12, 5, SCORER_ALPHA_ORDINAL);
    double itv = scorer_kripp_alpha(k11_values, k11_counts, 12, 5, SCORER_ALPHA_INTERVAL);

    fprintf(stderr, "alpha nominal %.4f ordinal %.4f interval %.4f\n", nom, ord, itv);
    CHECK(NEAR(nom, 0.743, 0.0005));
    CHECK(NEAR(ord, 0.815, 0.0005));
    CHECK(NEAR(itv, 0.849, 0.0005));
}

static void test_alpha_undefined_and_perfect(void)
{
    const int same[] = {1, 1, 2, 2};
    const size_t pairs[] = {2, 2};
    const int lone[] = {1};
    const size_t one[] = {1};

    CHECK(NEAR(scorer_kripp_alpha(same, pairs, 2, 4, SCORER_ALPHA_ORDINAL), 1.0, 1e-12));
    CHECK(isnan(scorer_kripp_alpha(lone, one, 1, 4, SCORER_ALPHA_ORDINAL)));
}

/*
 * Cohen's kappa: the worked example of Wikipedia's "Cohen's kappa" article (50 proposals,
 * two readers: yes/yes 20, yes/no 5, no/yes 10, no/no 15): p_o = 0.7, p_e = 0.5,
 * kappa = 0.4.
 */
static void test_cohen_kappa_wikipedia(void)
{
    int a[50], b[50];
    size_t i = 0;

    for (; i < 20; i++)
        a[i] = 1, b[i] = 1;
    for (; i < 25; i++)
        a[i] = 1, b[i] = 0;
    for (; i < 35; i++)
        a[i] = 0, b[i] = 1;
    for (; i < 50; i++)
        a[i] = 0, b[i] = 0;
    CHECK(NEAR(scorer_cohen_kappa(a, b, 50, 2), 0.4, 1e-12));
    CHECK(isnan(scorer_cohen_kappa(a, b, 0, 2)));
}

static void test_pairs(void)
{
    struct scorer_pairs p = {0};
    const int v[] = {2, 2, 3, 0};

    scorer_pairs_add(&p, v, 4); /* 6 pairs: (2,2) exact; (2,3)x2 adjacent; 3 more apart */
    CHECK(p.n == 6 && p.exact == 1 && p.adjacent == 3);
}

int main(void)
{
    BF_TEST_RUN(test_krippendorff_2011);
    BF_TEST_RUN(test_alpha_undefined_and_perfect);
    BF_TEST_RUN(test_cohen_kappa_wikipedia);
    BF_TEST_RUN(test_pairs);
    return BF_TEST_DONE();
}

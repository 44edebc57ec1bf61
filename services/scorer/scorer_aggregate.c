/* SPDX-License-Identifier: Apache-2.0 */
/* Aggregation of assessors' rubric scores: medians, the passing rule, disagreement. Pure. */
#include <stdlib.h>

#include "scorer.h"

void scorer_rule_from_cat(const struct bf_cat_cred *c, struct scorer_rule *rule)
{
    size_t n = bf_cat_criterion_count(c);

    rule->n_criteria = n;
    for (size_t i = 0; i < n; i++) {
        const struct bf_cat_criterion *k = bf_cat_criterion_at(c, i);
        rule->passing_index[i] = (int)bf_cat_level_index(bf_cat_criterion_passing(k));
        rule->required[i] = bf_cat_cred_rule_requires(c, k);
    }
    rule->conjunctive = bf_cat_cred_rule(c) == BF_CAT_RULE_CONJUNCTIVE;
    rule->min_count = bf_cat_cred_rule_count(c);
    rule->disagreement_threshold = bf_cat_cred_policy(c)->disagreement_threshold;
}

bool scorer_rule_passes(const struct scorer_rule *rule, const int *levels)
{
    int passed = 0;

    for (size_t i = 0; i < rule->n_criteria; i++) {
        bool ok = levels[i] >= rule->passing_index[i];
        /* conjunctive: every criterion is required; no averaging across criteria */
        if (!ok && (rule->conjunctive || rule->required[i]))
            return false;
        passed += ok;
    }
    return passed >= (rule->conjunctive ? (int)rule->n_criteria : rule->min_count);
}

static int cmp_int(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

int scorer_median(const int *v, size_t n, enum scorer_median how)
{
    int s[SCORER_MAX_SHEETS];

    if (n == 0 || n > SCORER_MAX_SHEETS)
        return -1;
    for (size_t i = 0; i < n; i++)
        s[i] = v[i];
    qsort(s, n, sizeof(s[0]), cmp_int);
    if (n % 2 == 1)
        return s[n / 2];
    /* even count: no level lies between the two middles; pick one, never average */
    return how == SCORER_MEDIAN_LOWER ? s[n / 2 - 1] : s[n / 2];
}

/* First criterion whose levels are more than the threshold apart, or -1. */
static int spread_over(const struct scorer_rule *rule, const struct scorer_sheet *sheets, size_t n)
{
    for (size_t k = 0; k < rule->n_criteria; k++) {
        int lo = sheets[0].level[k], hi = lo;
        for (size_t i = 1; i < n; i++) {
            lo = sheets[i].level[k] < lo ? sheets[i].level[k] : lo;
            hi = sheets[i].level[k] > hi ? sheets[i].level[k] : hi;
        }
        if (hi - lo > rule->disagreement_threshold)
            return (int)k;
    }
    return -1;
}

/* True if the assessors' own outcomes differ. */
static bool outcomes_differ(const struct scorer_rule *rule, const struct scorer_sheet *sheets,
                            size_t n)
{
    bool first = scorer_rule_passes(rule, sheets[0].level);

    for (size_t i = 1; i < n; i++)
        if (scorer_rule_passes(rule, sheets[i].level) != first)
            return true;
    return false;
}

void scorer_aggregate(const struct scorer_rule *rule, const struct scorer_sheet *sheets, size_t n,
                      enum scorer_median how, struct scorer_result *out)
{
    int col[SCORER_MAX_SHEETS];

    if (n > SCORER_MAX_SHEETS)
        n = SCORER_MAX_SHEETS;
    for (size_t k = 0; k < rule->n_criteria; k++) {
        for (size_t i = 0; i < n; i++)
            col[i] = sheets[i].level[k];
        out->level[k] = scorer_median(col, n, how);
    }
    out->earned = scorer_rule_passes(rule, out->level);
    out->spread_criterion = spread_over(rule, sheets, n);
    out->disagree = out->spread_criterion >= 0 || outcomes_differ(rule, sheets, n);
}

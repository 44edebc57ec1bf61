/* SPDX-License-Identifier: Apache-2.0 */
/* The scorer's core API: rubric rules, aggregation, agreement statistics, the service. */
#ifndef BADGEFLOW_SCORER_H
#define BADGEFLOW_SCORER_H

#include <stdbool.h>
#include <stddef.h>

#include "badgeflow/catalogue.h"
#include "badgeflow/daemon.h"

#define SCORER_MAX_CRITERIA BF_CAT_MAX_CRITERIA
#define SCORER_MAX_SHEETS   16 /* scores aggregated for one submission (schema: assessor_ids) */

/* How an even number of levels is split (the rule is written in the decision). */
enum scorer_median { SCORER_MEDIAN_LOWER, SCORER_MEDIAN_UPPER };

/*
 * A rubric's passing rule as plain numbers, so aggregation is a pure function. Levels are
 * indexes (0 = lowest, no gaps) as bf_cat_level_index() gives them.
 */
struct scorer_rule {
    size_t n_criteria;
    int passing_index[SCORER_MAX_CRITERIA]; /* lowest passing level of each criterion */
    bool required[SCORER_MAX_CRITERIA];     /* must pass whatever the count */
    int min_count;                          /* criteria that must pass (all: conjunctive) */
    bool conjunctive;
    int disagreement_threshold; /* levels apart above which a tie-break is asked */
};

/* One assessor's levels (indexes, rubric order). */
struct scorer_sheet {
    int level[SCORER_MAX_CRITERIA];
};

/* What aggregate() found. */
struct scorer_result {
    bool disagree;        /* outcomes differ, or a criterion spread > threshold */
    int spread_criterion; /* first criterion over the threshold, -1 if none */
    bool earned;          /* the passing rule over the medians */
    int level[SCORER_MAX_CRITERIA];
};

/* The rule of credential version c into *rule. */
void scorer_rule_from_cat(const struct bf_cat_cred *c, struct scorer_rule *rule);

/* True if levels (one index per criterion) pass rule. */
bool scorer_rule_passes(const struct scorer_rule *rule, const int *levels);

/* The median of n (>= 1) level indexes; an even count takes the lower or upper middle. */
int scorer_median(const int *v, size_t n, enum scorer_median how);

/* Aggregate n (1..SCORER_MAX_SHEETS) sheets under rule into *out. */
void scorer_aggregate(const struct scorer_rule *rule, const struct scorer_sheet *sheets, size_t n,
                      enum scorer_median how, struct scorer_result *out);

/* ---- agreement statistics (scorer_stats.c) ------------------------------------------ */

/* Pairs within one unit (submission) compared: exact and within one level. */
struct scorer_pairs {
    long n, exact, adjacent;
};

/* Add the pairs of the m values of one unit (every pair of values once) to *p. */
void scorer_pairs_add(struct scorer_pairs *p, const int *v, size_t m);

/*
 * One assessor against the final decisions of the units they scored: per criterion, and the
 * outcome at c[n_criteria] (the assessor's own levels under the rule vs the decision's).
 */
struct scorer_rater {
    char id[129];
    struct scorer_pairs c[SCORER_MAX_CRITERIA + 1];
};

/* The assessors seen so far, in order of first appearance. */
struct scorer_raters {
    size_t n, cap;
    struct scorer_rater *r;
};

/*
 * Count one score of assessor id: levels[0..nk-1] and its outcome (0/1) at levels[nk] against
 * the final decision's final[0..nk]: n, exact, adjacent (within one level) per column.
 * Returns 0 or -BF_ENOMEM.
 */
int scorer_raters_add(struct scorer_raters *rs, const char *id, const int *levels, const int *final,
                      size_t nk) BF_MUST_CHECK;
void scorer_raters_free(struct scorer_raters *rs);

/*
 * Cohen's kappa of two raters over n items with categories 0..k-1 (a[i], b[i]).
 * Returns NaN when undefined (n == 0, or chance agreement 1).
 */
double scorer_cohen_kappa(const int *a, const int *b, size_t n, int k);

/*
 * Krippendorff's alpha, ordinal metric, for units of values 0..k-1: unit u holds
 * counts[u] values at values + offsets[u] (offsets[u + 1] = offsets[u] + counts[u]).
 * Units with fewer than two values are not pairable and ignored. NaN when undefined
 * (no pairable unit, or a single value used). Metric SCORER_ALPHA_NOMINAL/INTERVAL are
 * there for checking against published examples.
 */
enum scorer_alpha_metric { SCORER_ALPHA_NOMINAL, SCORER_ALPHA_ORDINAL, SCORER_ALPHA_INTERVAL };
double scorer_kripp_alpha(const int *values, const size_t *counts, size_t n_units, int k,
                          enum scorer_alpha_metric metric);

/* ---- the service -------------------------------------------------------------------- */

extern const struct bf_service scorer_service;
extern const struct bf_cfg_def scorer_cfg_defs[];

#endif

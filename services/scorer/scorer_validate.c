/* SPDX-License-Identifier: Apache-2.0 */
/* A score against its credential version's rubric: each criterion once, real levels, feedback. */
#include <stdio.h>

#include "badgeflow/util.h"

#include "scorer_int.h"

static bool refuse(struct scorer_refusal *r, const char *code, const char *field)
{
    r->code = code;
    bf_strlcpy(r->field, field, sizeof(r->field));
    return false;
}

/* Feedback the credential requires on this level (below passing, or everywhere). */
static bool feedback_needed(const struct bf_cat_cred *c, const struct bf_cat_level *l)
{
    switch (bf_cat_cred_policy(c)->feedback_required) {
    case BF_CAT_FEEDBACK_ALL:
        return true;
    case BF_CAT_FEEDBACK_BELOW_PASSING:
        return !bf_cat_level_passes(l);
    default:
        return false;
    }
}

/* One criterion score i: known criterion, not seen before, real level, feedback. */
static bool check_one(const struct bf_cat_cred *c, const struct bf_ev_criterion_score *cs, size_t i,
                      bool feedback, bool *seen, struct scorer_sheet *sheet,
                      struct scorer_refusal *r)
{
    char field[64];
    const struct bf_cat_criterion *k = bf_cat_criterion_find(c, cs->criterion_id);
    const struct bf_cat_level *l;
    size_t at;

    if (!k) {
        snprintf(field, sizeof(field), "criteria[%zu].criterion_id", i);
        snprintf(r->reason, sizeof(r->reason), "%s: '%.64s' is not a criterion of %s v%d", field,
                 cs->criterion_id, bf_cat_cred_id(c), bf_cat_cred_version(c));
        return refuse(r, "unknown_criterion", field);
    }
    at = bf_cat_criterion_index(k);
    if (seen[at]) {
        snprintf(field, sizeof(field), "criteria[%zu].criterion_id", i);
        snprintf(r->reason, sizeof(r->reason), "%s: criterion '%s' is scored more than once", field,
                 cs->criterion_id);
        return refuse(r, "duplicate_criterion", field);
    }
    seen[at] = true;
    l = bf_cat_level_find(k, cs->level_id);
    if (!l) {
        snprintf(field, sizeof(field), "criteria[%zu].level_id", i);
        snprintf(r->reason, sizeof(r->reason), "%s: '%.64s' is not a level of criterion '%s'",
                 field, cs->level_id, cs->criterion_id);
        return refuse(r, "unknown_level", field);
    }
    if (feedback && !cs->feedback && feedback_needed(c, l)) {
        snprintf(field, sizeof(field), "criteria[%zu].feedback", i);
        snprintf(r->reason, sizeof(r->reason),
                 "%s: feedback is required on criterion '%s' at level '%s'", field,
                 cs->criterion_id, cs->level_id);
        return refuse(r, "feedback_required", field);
    }
    sheet->level[at] = (int)bf_cat_level_index(l);
    return true;
}

bool scorer_check_rubric(const struct bf_cat_cred *c, const struct bf_ev_score_submitted *s,
                         struct scorer_sheet *sheet, struct scorer_refusal *r)
{
    bool seen[SCORER_MAX_CRITERIA] = {false};
    size_t n = bf_cat_criterion_count(c);

    for (size_t i = 0; i < s->n_criteria; i++)
        if (!check_one(c, &s->criteria[i], i, true, seen, sheet, r))
            return false;
    for (size_t k = 0; k < n; k++) {
        if (seen[k])
            continue;
        snprintf(r->reason, sizeof(r->reason), "criteria: criterion '%s' is not scored",
                 bf_cat_criterion_id(bf_cat_criterion_at(c, k)));
        return refuse(r, "missing_criterion", "criteria");
    }
    return true;
}

bool scorer_check_levels(const struct bf_cat_cred *c, const struct bf_ev_criterion_score *cs,
                         size_t n, bool *seen, struct scorer_sheet *sheet, struct scorer_refusal *r)
{
    /* a reviewer's levels need no feedback: the override's reason says why */
    for (size_t i = 0; i < n; i++)
        if (!check_one(c, &cs[i], i, false, seen, sheet, r))
            return false;
    return true;
}

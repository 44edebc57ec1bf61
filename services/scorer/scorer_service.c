/* SPDX-License-Identifier: Apache-2.0 */
/* The scorer service: its config keys, handlers, metrics, and state. */
#include <stdlib.h>
#include <string.h>

#include "badgeflow/catalogue_pg.h"
#include "badgeflow/log.h"
#include "scorer_int.h"

const struct bf_cfg_def scorer_cfg_defs[] = {
    {"scorer", "aggregation", BF_CFG_ENUM, "median_lower", 0, 0, "median_lower|median_upper", 0,
     "Per criterion the median level; an even count takes the lower (conservative) or upper "
     "middle level. Written in each decision's rule."},
    {"scorer", "tie_break", BF_CFG_BOOL, "true", 0, 0, NULL, 0,
     "On disagreement (different outcomes, or levels further apart than the credential's "
     "disagreement_threshold) ask the router for one more assessor before deciding."},
    {"scorer", "agreement_window", BF_CFG_INT, "2000", 10, 1000000, NULL, 0,
     "Agreement statistics cover the most recently decided double-scored submissions of a "
     "credential version, at most this many: the work per decision is bounded by it."},
    {NULL, NULL, 0, NULL, 0, 0, NULL, 0, NULL},
};

static const struct bf_event_handler scorer_handlers[] = {
    {"scores", BF_EV_SCORE_SUBMITTED, scorer_on_score},
    {"scores", BF_EV_DECISION_OVERRIDE_REQUESTED, scorer_on_override},
    {NULL, NULL, NULL},
};

static void metrics_init(struct scorer *st)
{
    st->accepted = bf_metrics_counter("scorer_scores_accepted_total", "Scores accepted", NULL);
    st->refused =
        bf_metrics_counter("scorer_scores_refused_total",
                           "Scores refused (score.rejected), by reason code", "reason_code");
    st->decisions =
        bf_metrics_counter("scorer_decisions_total", "Decisions made, by outcome", "outcome");
    st->tie_breaks = bf_metrics_counter("scorer_tie_breaks_total",
                                        "Tie-break assessors asked for on disagreement", NULL);
    st->agreement = bf_metrics_gauge("scorer_agreement_alpha",
                                     "Krippendorff's ordinal alpha over double-scored "
                                     "submissions, all tenants",
                                     "credential,criterion");
    st->overrides = bf_metrics_counter(
        "scorer_overrides_total", "Decisions replaced by a reviewer, by new outcome", "outcome");
    st->overrides_refused = bf_metrics_counter("scorer_overrides_refused_total",
                                               "Overrides refused, by reason code", "reason_code");
    st->rater_exact = bf_metrics_gauge("scorer_assessor_exact_ratio",
                                       "Share of an assessor's criterion levels equal to the "
                                       "final decision's, all tenants",
                                       "credential,assessor");
    st->rater_adjacent = bf_metrics_gauge("scorer_assessor_adjacent_ratio",
                                          "Share of an assessor's criterion levels at most one "
                                          "level from the final decision's, all tenants",
                                          "credential,assessor");
}

static int scorer_init(struct bf_daemon *d, void **state, struct bf_err *err)
{
    const struct bf_cfg *cfg = bf_daemon_cfg(d);
    struct scorer *st = calloc(1, sizeof(*st));

    if (!st)
        return bf_err_set(err, BF_ENOMEM, "out of memory");
    st->d = d;
    st->median = strcmp(bf_cfg_str(cfg, "scorer.aggregation"), "median_upper") == 0
                     ? SCORER_MEDIAN_UPPER
                     : SCORER_MEDIAN_LOWER;
    st->tie_break = bf_cfg_bool(cfg, "scorer.tie_break");
    st->dlq = bf_cfg_bool(cfg, "kafka.dlq");
    st->agreement_window = (int)bf_cfg_int(cfg, "scorer.agreement_window");
    /* an empty catalogue is not fatal: versions are loaded on first use */
    st->cat = bf_cat_load_pg(bf_daemon_pg(d), err);
    if (!st->cat)
        bf_log_warn("BF_SCORER_CATALOGUE", "catalogue not loaded yet: %s", err->msg);
    metrics_init(st);
    *state = st;
    return 0;
}

static void scorer_fini(void *state)
{
    struct scorer *st = state;

    if (st)
        bf_cat_free(st->cat);
    free(st);
}

const struct bf_service scorer_service = {
    .name = "scorer",
    .cfg_defs = scorer_cfg_defs,
    .handlers = scorer_handlers,
    .needs = BF_NEEDS_KAFKA_CONSUMER,
    .init = scorer_init,
    .fini = scorer_fini,
};

/* SPDX-License-Identifier: Apache-2.0 */
/* The scorer's internals shared between its files (not for tests: see scorer.h). */
#ifndef BADGEFLOW_SCORER_INT_H
#define BADGEFLOW_SCORER_INT_H

#include <libpq-fe.h>

#include "badgeflow/events.h"
#include "badgeflow/metrics.h"
#include "scorer.h"

struct scorer {
    struct bf_daemon *d;
    struct bf_cat *cat; /* reloaded from PostgreSQL when a version is missing */
    enum scorer_median median;
    bool tie_break; /* ask for one more assessor on disagreement */
    bool dlq;       /* kafka.dlq: refusals also get a dead-letter copy */
    struct bf_metric *accepted, *refused, *decisions, *tie_breaks, *agreement;
    struct bf_metric *overrides, *overrides_refused, *rater_exact, *rater_adjacent;
    int agreement_window; /* decided double-scored submissions the statistics cover */
};

/* A refusal of a score: a stable code (score.rejected reason_code), the field, words. */
struct scorer_refusal {
    const char *code;
    char field[64]; /* "" when it is about the whole score */
    char reason[400];
};

/* What the database says about the assignment a score names, and its submission. */
struct scorer_ctx {
    bool found;
    char submission_id[129], assessor_id[129], a_state[16], s_state[16], role[16];
    char credential_id[65], educator_id[129], pilot_id[129];
    int credential_version, attempt;
    bool scored; /* the assignment already has a score */
    const struct bf_cat_cred *cred;
};

/* Run prepared statement name (sql registered lazily). Result or NULL with err. */
PGresult *scorer_sql(struct bf_pg *pg, const char *name, const char *sql, int n,
                     const char *const *params, struct bf_err *err);
/* The same for the effect only. */
int scorer_sql_cmd(struct bf_pg *pg, const char *name, const char *sql, int n,
                   const char *const *params, struct bf_err *err) BF_MUST_CHECK;

/* Credential version from the catalogue, reloading it from PostgreSQL once if missing. */
int scorer_cred(struct scorer *st, struct bf_pg *pg, const char *id, int version,
                const struct bf_cat_cred **out, struct bf_err *err) BF_MUST_CHECK;

/* Refuse the score: record it, emit score.rejected, dead-letter copy, inbox outcome. */
int scorer_refuse(struct scorer *st, struct bf_event *ev, const struct bf_ev_score_submitted *s,
                  const struct scorer_refusal *r, struct bf_err *err) BF_MUST_CHECK;

/* Refuse an override: record it, dead-letter copy, inbox outcome (no event type fits). */
int scorer_refuse_override(struct scorer *st, struct bf_event *ev,
                           const struct bf_ev_decision_override_requested *o,
                           const struct scorer_refusal *r, struct bf_err *err) BF_MUST_CHECK;

/* Check an override's levels: known criteria, each once, real levels; none required.
 * seen[k] and sheet->level[k] are set for each criterion given. false with *r set. */
bool scorer_check_levels(const struct bf_cat_cred *c, const struct bf_ev_criterion_score *cs,
                         size_t n, bool *seen, struct scorer_sheet *sheet,
                         struct scorer_refusal *r);

/* Check the score's criteria against the rubric; fills sheet. false with *r set. */
bool scorer_check_rubric(const struct bf_cat_cred *c, const struct bf_ev_score_submitted *s,
                         struct scorer_sheet *sheet, struct scorer_refusal *r);

/* Decide (or ask for a tie-break) once enough scores of the submission are in. */
int scorer_maybe_decide(struct scorer *st, struct bf_event *ev, const char *tenant,
                        const struct scorer_ctx *ctx, struct bf_err *err) BF_MUST_CHECK;

/* Recompute agreement_stats of a credential after a decision. */
int scorer_agreement_update(struct scorer *st, struct bf_pg *pg, const char *tenant,
                            const struct bf_cat_cred *c, struct bf_err *err) BF_MUST_CHECK;

bf_event_fn scorer_on_score;
bf_event_fn scorer_on_override;

#endif

/* SPDX-License-Identifier: Apache-2.0 */
/* Once the required scores are in: aggregate, ask for a tie-break on disagreement, decide. */
#include <stdio.h>
#include <string.h>

#include "badgeflow/log.h"
#include "badgeflow/util.h"
#include "scorer_int.h"

#define SCORES_SQL                                                                                 \
    "SELECT assessor_id, criteria::text, overall_feedback FROM scores"                             \
    " WHERE tenant_id = $1 AND submission_id = $2 ORDER BY recorded_at, id"
#define DECISION_SQL                                                                               \
    "INSERT INTO decisions (id, tenant_id, submission_id, outcome, criteria, rule, attempt,"       \
    " attempts_left, decided_by, event_id, decided_at) VALUES ($1, $2, $3, $4, $5::jsonb,"         \
    " $6::jsonb, $7, $8, 'scorer', $9, $10)"
#define DECIDED_SQL                                                                                \
    "UPDATE submissions SET state = 'decided', outcome = $3 WHERE tenant_id = $1 AND id = $2"

/* The scores of one submission as the aggregation needs them. */
struct scorer_scores {
    size_t n;
    const char *assessor[SCORER_MAX_SHEETS];
    const char *overall[SCORER_MAX_SHEETS]; /* NULL when none */
    json_t *criteria[SCORER_MAX_SHEETS];    /* owned */
    struct scorer_sheet sheet[SCORER_MAX_SHEETS];
    PGresult *res;
};

static void scores_clear(struct scorer_scores *sc)
{
    for (size_t i = 0; i < sc->n; i++)
        json_decref(sc->criteria[i]);
    PQclear(sc->res);
    memset(sc, 0, sizeof(*sc));
}

/* Level indexes of one stored score (it was checked against the rubric when accepted). */
static int sheet_of(const struct bf_cat_cred *c, json_t *criteria, struct scorer_sheet *sheet,
                    struct bf_err *err)
{
    size_t i;
    json_t *cs;

    json_array_foreach(criteria, i, cs)
    {
        const struct bf_cat_criterion *k =
            bf_cat_criterion_find(c, json_string_value(json_object_get(cs, "criterion_id")));
        const struct bf_cat_level *l =
            k ? bf_cat_level_find(k, json_string_value(json_object_get(cs, "level_id"))) : NULL;
        if (!l)
            return bf_err_set(err, BF_EINTERNAL, "stored score does not match its rubric");
        sheet->level[bf_cat_criterion_index(k)] = (int)bf_cat_level_index(l);
    }
    return 0;
}

static int load_scores(struct bf_pg *pg, const char *tenant, const struct scorer_ctx *ctx,
                       struct scorer_scores *sc, struct bf_err *err)
{
    const char *p[2] = {tenant, ctx->submission_id};
    int rows;

    memset(sc, 0, sizeof(*sc));
    sc->res = scorer_sql(pg, "scorer_scores", SCORES_SQL, 2, p, err);
    if (!sc->res)
        return -err->code;
    rows = PQntuples(sc->res);
    for (int i = 0; i < rows && sc->n < SCORER_MAX_SHEETS; i++) {
        sc->n = (size_t)i + 1; /* counted first: scores_clear() frees what was loaded */
        sc->assessor[i] = PQgetvalue(sc->res, i, 0);
        sc->criteria[i] = json_loads(PQgetvalue(sc->res, i, 1), 0, NULL);
        sc->overall[i] = PQgetisnull(sc->res, i, 2) ? NULL : PQgetvalue(sc->res, i, 2);
        if (!sc->criteria[i])
            return bf_err_set(err, BF_EINTERNAL, "stored score criteria are not JSON");
        if (sheet_of(ctx->cred, sc->criteria[i], &sc->sheet[i], err) < 0)
            return -BF_EINTERNAL;
    }
    return 0;
}

static json_t *assessors_json(const struct scorer_scores *sc)
{
    json_t *a = json_array();

    for (size_t i = 0; a && i < sc->n; i++)
        json_array_append_new(a, json_string(sc->assessor[i]));
    return a;
}

/* routing.requested (tie_break), excluding every assessor who scored. */
static int ask_tie_break(struct scorer *st, struct bf_event *ev, const char *tenant,
                         const struct scorer_ctx *ctx, const struct scorer_scores *sc,
                         const struct scorer_result *res, struct bf_err *err)
{
    json_t *data =
        json_pack("{ss ss ss so}", "submission_id", ctx->submission_id, "tenant_id", tenant,
                  "reason", "tie_break", "exclude_assessor_ids", assessors_json(sc));
    int rc;

    if (!data)
        return bf_err_set(err, BF_ENOMEM, "out of memory");
    struct bf_emit e = {
        "routing", BF_EV_ROUTING_REQUESTED, ctx->submission_id, ctx->submission_id, NULL, data};
    rc = bf_daemon_emit(ev, &e, NULL, err);
    json_decref(data);
    if (rc < 0)
        return rc;
    bf_metrics_add(st->tie_breaks, NULL, 1);
    bf_log_kv(BF_LOG_INFO, "BF_SCORER_TIE_BREAK", "assessors disagree: one more assessor asked",
              "submission_id", ctx->submission_id, "criterion",
              res->spread_criterion >= 0 ? bf_cat_criterion_id(bf_cat_criterion_at(
                                               ctx->cred, (size_t)res->spread_criterion))
                                         : "(outcome)",
              NULL);
    return 0;
}

/* Every assessor's feedback on criterion id, in scoring order. */
static json_t *feedback_json(const struct scorer_scores *sc, const char *id)
{
    json_t *out = json_array();

    for (size_t i = 0; out && i < sc->n; i++) {
        size_t j;
        json_t *cs;
        json_array_foreach(sc->criteria[i], j, cs)
        {
            json_t *fb = json_object_get(cs, "feedback");
            if (fb && strcmp(json_string_value(json_object_get(cs, "criterion_id")), id) == 0)
                json_array_append(out, fb);
        }
    }
    return out;
}

static json_t *criteria_json(const struct bf_cat_cred *c, const struct scorer_scores *sc,
                             const struct scorer_result *res)
{
    json_t *arr = json_array();

    for (size_t k = 0; arr && k < bf_cat_criterion_count(c); k++) {
        const struct bf_cat_criterion *crit = bf_cat_criterion_at(c, k);
        const struct bf_cat_level *l = bf_cat_level_at(crit, (size_t)res->level[k]);
        json_array_append_new(
            arr, json_pack("{ss ss sb so}", "criterion_id", bf_cat_criterion_id(crit), "level_id",
                           bf_cat_level_id(l), "passing", bf_cat_level_passes(l), "feedback",
                           feedback_json(sc, bf_cat_criterion_id(crit))));
    }
    return arr;
}

static json_t *rule_json(const struct scorer *st, const struct bf_cat_cred *c)
{
    json_t *r =
        json_pack("{ss ss si}", "aggregation",
                  st->median == SCORER_MEDIAN_LOWER ? "median_lower" : "median_upper", "passing",
                  bf_cat_cred_rule(c) == BF_CAT_RULE_CONJUNCTIVE ? "conjunctive" : "min_criteria",
                  "disagreement_levels", bf_cat_cred_policy(c)->disagreement_threshold);

    if (r && bf_cat_cred_rule(c) == BF_CAT_RULE_MINIMUM_COUNT)
        json_object_set_new(r, "min_passing_criteria", json_integer(bf_cat_cred_rule_count(c)));
    return r;
}

/* The decision.made data (every field but decision_id and decided_at). */
static json_t *decision_json(const struct scorer *st, const char *tenant,
                             const struct scorer_ctx *ctx, const struct scorer_scores *sc,
                             const struct scorer_result *res)
{
    int allowed = bf_cat_cred_policy(ctx->cred)->attempts_allowed;
    int left = allowed > ctx->attempt ? allowed - ctx->attempt : 0;
    json_t *d = json_pack(
        "{ss ss ss ss si ss so so si si si sb so}", "submission_id", ctx->submission_id,
        "tenant_id", tenant, "educator_id", ctx->educator_id, "credential_id", ctx->credential_id,
        "credential_version", ctx->credential_version, "outcome",
        res->earned ? "earned" : "not_yet", "criteria", criteria_json(ctx->cred, sc, res), "rule",
        rule_json(st, ctx->cred), "attempt", ctx->attempt, "attempts_allowed", allowed,
        "attempts_left", left, "final_attempt", left == 0, "assessor_ids", assessors_json(sc));
    json_t *overall = json_array();

    for (size_t i = 0; d && overall && i < sc->n; i++)
        if (sc->overall[i])
            json_array_append_new(overall, json_string(sc->overall[i]));
    if (d && overall && json_array_size(overall) > 0)
        json_object_set(d, "overall_feedback", overall);
    json_decref(overall);
    if (d && ctx->pilot_id[0])
        json_object_set_new(d, "pilot_id", json_string(ctx->pilot_id));
    return d;
}

/* The decisions row and the submission's state, then decision.made. */
static int store_decision(struct bf_event *ev, const char *tenant, const struct scorer_ctx *ctx,
                          json_t *d, struct bf_err *err)
{
    char id[BF_UUID_STRLEN + 1], at[BF_TIME_STRLEN], attempt[16], left[16];
    char *crit = NULL, *rule = NULL;
    int rc = bf_uuid_v4(id);

    if (rc < 0)
        return bf_err_set(err, BF_EINTERNAL, "no random bytes for a decision id");
    bf_time_format(bf_now_ms(), at);
    json_object_set_new(d, "decision_id", json_string(id));
    json_object_set_new(d, "decided_at", json_string(at));
    snprintf(attempt, sizeof(attempt), "%d", ctx->attempt);
    snprintf(left, sizeof(left), "%d",
             (int)json_integer_value(json_object_get(d, "attempts_left")));
    crit = json_dumps(json_object_get(d, "criteria"), JSON_COMPACT);
    rule = json_dumps(json_object_get(d, "rule"), JSON_COMPACT);
    if (!crit || !rule) {
        rc = bf_err_set(err, BF_ENOMEM, "out of memory");
        goto out;
    }
    const char *outcome = json_string_value(json_object_get(d, "outcome"));
    const char *p[10] = {id,     tenant, ctx->submission_id, outcome, crit, rule, attempt, left,
                         ev->id, at};
    const char *q[3] = {tenant, ctx->submission_id, outcome};
    rc = scorer_sql_cmd(ev->pg, "scorer_decision", DECISION_SQL, 10, p, err);
    if (rc == 0)
        rc = scorer_sql_cmd(ev->pg, "scorer_decided", DECIDED_SQL, 3, q, err);
    struct bf_emit e = {
        "decisions", BF_EV_DECISION_MADE, ctx->submission_id, ctx->submission_id, NULL, d};
    if (rc == 0)
        rc = bf_daemon_emit(ev, &e, NULL, err);
out:
    free(crit);
    free(rule);
    return rc;
}

static int decide(struct scorer *st, struct bf_event *ev, const char *tenant,
                  const struct scorer_ctx *ctx, const struct scorer_scores *sc,
                  const struct scorer_result *res, struct bf_err *err)
{
    json_t *d = decision_json(st, tenant, ctx, sc, res);
    int rc;

    if (!d)
        return bf_err_set(err, BF_ENOMEM, "out of memory");
    rc = store_decision(ev, tenant, ctx, d, err);
    json_decref(d);
    if (rc < 0)
        return rc;
    bf_metrics_add(st->decisions, res->earned ? "earned" : "not_yet", 1);
    bf_log_kv(BF_LOG_INFO, "BF_SCORER_DECIDED", "submission decided", "submission_id",
              ctx->submission_id, "outcome", res->earned ? "earned" : "not_yet", NULL);
    return sc->n >= 2 ? scorer_agreement_update(st, ev->pg, tenant, ctx->cred, err) : 0;
}

int scorer_maybe_decide(struct scorer *st, struct bf_event *ev, const char *tenant,
                        const struct scorer_ctx *ctx, struct bf_err *err)
{
    struct scorer_rule rule;
    struct scorer_scores sc;
    struct scorer_result res;
    size_t required = (size_t)bf_cat_cred_policy(ctx->cred)->assessors_required;
    int rc = load_scores(ev->pg, tenant, ctx, &sc, err);

    /* never decide with fewer scores than required */
    if (rc < 0 || sc.n < required)
        goto out;
    scorer_rule_from_cat(ctx->cred, &rule);
    scorer_aggregate(&rule, sc.sheet, sc.n, st->median, &res);
    /* exactly the required scores and they disagree: one more assessor; the tie-break's
     * score makes n > required and is decided on the median of all */
    if (res.disagree && sc.n == required && required >= 2 && st->tie_break)
        rc = ask_tie_break(st, ev, tenant, ctx, &sc, &res, err);
    else
        rc = decide(st, ev, tenant, ctx, &sc, &res, err);
out:
    scores_clear(&sc);
    return rc;
}

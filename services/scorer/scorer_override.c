/* SPDX-License-Identifier: Apache-2.0 */
/* decision.override_requested: a reviewer replaces the current decision; the old one stays. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "badgeflow/log.h"
#include "badgeflow/util.h"
#include "scorer_int.h"

#define OV_SUB_SQL                                                                                 \
    "SELECT credential_id, credential_version, educator_id, coalesce(pilot_id, '')"                \
    " FROM submissions WHERE tenant_id = $1 AND id = $2 FOR UPDATE"
#define OV_CUR_SQL                                                                                 \
    "SELECT id, criteria::text, attempt, attempts_left FROM decisions"                             \
    " WHERE tenant_id = $1 AND submission_id = $2 AND superseded_at IS NULL"
#define OV_ASSESSORS_SQL                                                                           \
    "SELECT assessor_id FROM scores WHERE tenant_id = $1 AND submission_id = $2"                   \
    " ORDER BY recorded_at, id"
#define OV_SUPERSEDE_SQL "UPDATE decisions SET superseded_at = $2 WHERE id = $1"
#define OV_INSERT_SQL                                                                              \
    "INSERT INTO decisions (id, tenant_id, submission_id, outcome, criteria, rule, attempt,"       \
    " attempts_left, supersedes_id, decided_by, reason, event_id, decided_at) VALUES ($1, $2,"     \
    " $3, $4, $5::jsonb, $6::jsonb, $7, $8, $9, $10, $11, $12, $13)"
#define OV_OUTCOME_SQL "UPDATE submissions SET outcome = $3 WHERE tenant_id = $1 AND id = $2"

/* The submission (locked) and its current decision. */
struct ov_ctx {
    bool found, decided;
    char credential_id[65], educator_id[129], pilot_id[129];
    char current_id[BF_UUID_STRLEN + 1];
    int credential_version, attempt, attempts_left;
    json_t *criteria; /* the current decision's, owned; becomes the new one's */
    const struct bf_cat_cred *cred;
};

static bool no(struct scorer_refusal *r, const char *code, const char *field, const char *why)
{
    r->code = code;
    bf_strlcpy(r->field, field, sizeof(r->field));
    bf_strlcpy(r->reason, why, sizeof(r->reason));
    return false;
}

static int int_at(const PGresult *res, int col, int lo, int hi)
{
    long long v = lo;

    return bf_parse_ll(PQgetvalue(res, 0, col), lo, hi, &v) ? lo : (int)v;
}

/* Lock the submission first: a score or another override of it waits for this one. */
static int load_submission(struct bf_pg *pg, const struct bf_ev_decision_override_requested *o,
                           struct ov_ctx *c, struct bf_err *err)
{
    const char *p[2] = {o->tenant_id, o->submission_id};
    PGresult *res = scorer_sql(pg, "scorer_ov_sub", OV_SUB_SQL, 2, p, err);

    if (!res)
        return -err->code;
    c->found = PQntuples(res) == 1;
    if (c->found) {
        bf_strlcpy(c->credential_id, PQgetvalue(res, 0, 0), sizeof(c->credential_id));
        c->credential_version = int_at(res, 1, 1, 1000000);
        bf_strlcpy(c->educator_id, PQgetvalue(res, 0, 2), sizeof(c->educator_id));
        bf_strlcpy(c->pilot_id, PQgetvalue(res, 0, 3), sizeof(c->pilot_id));
    }
    PQclear(res);
    return 0;
}

static int load_current(struct bf_pg *pg, const struct bf_ev_decision_override_requested *o,
                        struct ov_ctx *c, struct bf_err *err)
{
    const char *p[2] = {o->tenant_id, o->submission_id};
    PGresult *res = scorer_sql(pg, "scorer_ov_cur", OV_CUR_SQL, 2, p, err);
    int rc = 0;

    if (!res)
        return -err->code;
    c->decided = PQntuples(res) == 1;
    if (c->decided) {
        bf_strlcpy(c->current_id, PQgetvalue(res, 0, 0), sizeof(c->current_id));
        c->criteria = json_loads(PQgetvalue(res, 0, 1), 0, NULL);
        c->attempt = int_at(res, 2, 1, 100);
        c->attempts_left = int_at(res, 3, 0, 99);
        if (!json_is_array(c->criteria))
            rc = bf_err_set(err, BF_EINTERNAL, "stored decision criteria are not a JSON array");
    }
    PQclear(res);
    return rc;
}

/* The override may apply: a decided submission, its current decision named (if named). */
static bool check_target(const struct bf_ev_decision_override_requested *o, const struct ov_ctx *c,
                         struct scorer_refusal *r)
{
    if (!c->found)
        return no(r, "unknown_submission", "submission_id",
                  "submission_id: no such submission for this tenant");
    if (!c->decided)
        return no(r, "submission_not_decided", "submission_id",
                  "submission_id: the submission has no decision to override");
    if (o->overrides_decision_id && strcmp(o->overrides_decision_id, c->current_id) != 0)
        return no(r, "decision_superseded", "overrides_decision_id",
                  "overrides_decision_id: not the submission's current decision (already "
                  "superseded, or another submission's)");
    return true;
}

/* The reviewer's level on one criterion of the decision's criteria (feedback appended). */
static void set_level(json_t *entry, const struct bf_cat_cred *cred,
                      const struct bf_ev_criterion_score *cs)
{
    const struct bf_cat_level *l =
        bf_cat_level_find(bf_cat_criterion_find(cred, cs->criterion_id), cs->level_id);
    json_t *fb = json_object_get(entry, "feedback");

    json_object_set_new(entry, "level_id", json_string(bf_cat_level_id(l)));
    json_object_set_new(entry, "passing", json_boolean(bf_cat_level_passes(l)));
    if (cs->feedback && json_is_array(fb))
        json_array_append_new(fb, json_string(cs->feedback));
}

/* Given levels replace the current decision's; the others are kept. */
static void apply_levels(struct ov_ctx *c, const struct bf_ev_decision_override_requested *o)
{
    size_t i;
    json_t *entry;

    json_array_foreach(c->criteria, i, entry)
    {
        const char *id = json_string_value(json_object_get(entry, "criterion_id"));
        for (size_t k = 0; id && k < o->n_criteria; k++)
            if (strcmp(o->criteria[k].criterion_id, id) == 0)
                set_level(entry, c->cred, &o->criteria[k]);
    }
}

static json_t *assessors_json(struct bf_pg *pg, const struct bf_ev_decision_override_requested *o,
                              struct bf_err *err)
{
    const char *p[2] = {o->tenant_id, o->submission_id};
    PGresult *res = scorer_sql(pg, "scorer_ov_assessors", OV_ASSESSORS_SQL, 2, p, err);
    json_t *a = res ? json_array() : NULL;

    for (int i = 0; a && i < PQntuples(res) && i < SCORER_MAX_SHEETS; i++)
        json_array_append_new(a, json_string(PQgetvalue(res, i, 0)));
    PQclear(res);
    return a;
}

/* The new decision.made (every field but decision_id and decided_at). */
static json_t *override_json(struct bf_event *ev, const struct bf_ev_decision_override_requested *o,
                             const struct ov_ctx *c, json_t *assessors)
{
    json_t *ov = json_pack("{ss ss sO}", "reviewer_id", o->reviewer_id, "reason", o->reason,
                           "requested_at", json_object_get(ev->data, "requested_at"));
    json_t *d = json_pack(
        "{ss ss ss ss si ss sO s{ss ss} si si si sb so ss so}", "submission_id", o->submission_id,
        "tenant_id", o->tenant_id, "educator_id", c->educator_id, "credential_id", c->credential_id,
        "credential_version", c->credential_version, "outcome", o->outcome, "criteria", c->criteria,
        "rule", "aggregation", "reviewer", "passing", "reviewer", "attempt", c->attempt,
        "attempts_allowed", bf_cat_cred_policy(c->cred)->attempts_allowed, "attempts_left",
        c->attempts_left, "final_attempt", c->attempts_left == 0, "assessor_ids", assessors,
        "supersedes_decision_id", c->current_id, "override", ov);

    if (d && c->pilot_id[0])
        json_object_set_new(d, "pilot_id", json_string(c->pilot_id));
    return d;
}

/* Supersede the current row, insert the new one, move the submission's outcome. */
static int store(struct bf_event *ev, const struct bf_ev_decision_override_requested *o,
                 const struct ov_ctx *c, json_t *d, struct bf_err *err)
{
    char id[BF_UUID_STRLEN + 1], at[BF_TIME_STRLEN], attempt[16], left[16];
    char *crit = json_dumps(c->criteria, JSON_COMPACT), *rule = NULL;
    int rc = bf_uuid_v4(id) < 0 ? bf_err_set(err, BF_EINTERNAL, "no random bytes") : 0;

    bf_time_format(bf_now_ms(), at);
    json_object_set_new(d, "decision_id", json_string(id));
    json_object_set_new(d, "decided_at", json_string(at));
    rule = json_dumps(json_object_get(d, "rule"), JSON_COMPACT);
    if (rc == 0 && (!crit || !rule))
        rc = bf_err_set(err, BF_ENOMEM, "out of memory");
    if (rc < 0)
        goto out;
    snprintf(attempt, sizeof(attempt), "%d", c->attempt);
    snprintf(left, sizeof(left), "%d", c->attempts_left);
    const char *s[2] = {c->current_id, at};
    const char *p[13] = {id,   o->tenant_id,  o->submission_id, o->outcome, crit,   rule, attempt,
                         left, c->current_id, o->reviewer_id,   o->reason,  ev->id, at};
    const char *q[3] = {o->tenant_id, o->submission_id, o->outcome};
    /* superseded first: one current decision per submission (decisions_current) */
    rc = scorer_sql_cmd(ev->pg, "scorer_ov_supersede", OV_SUPERSEDE_SQL, 2, s, err);
    if (rc == 0)
        rc = scorer_sql_cmd(ev->pg, "scorer_ov_insert", OV_INSERT_SQL, 13, p, err);
    if (rc == 0)
        rc = scorer_sql_cmd(ev->pg, "scorer_ov_outcome", OV_OUTCOME_SQL, 3, q, err);
out:
    free(crit);
    free(rule);
    return rc;
}

static int apply(struct scorer *st, struct bf_event *ev,
                 const struct bf_ev_decision_override_requested *o, struct ov_ctx *c,
                 struct bf_err *err)
{
    json_t *assessors = assessors_json(ev->pg, o, err), *d;
    int rc;

    if (!assessors)
        return -err->code;
    apply_levels(c, o);
    d = override_json(ev, o, c, assessors);
    if (!d)
        return bf_err_set(err, BF_ENOMEM, "out of memory");
    rc = store(ev, o, c, d, err);
    struct bf_emit e = {
        "decisions", BF_EV_DECISION_MADE, o->submission_id, o->submission_id, NULL, d};
    if (rc == 0)
        rc = bf_daemon_emit(ev, &e, NULL, err);
    json_decref(d);
    if (rc < 0)
        return rc;
    bf_metrics_add(st->overrides, o->outcome, 1);
    bf_log_kv(BF_LOG_INFO, "BF_SCORER_OVERRIDDEN", "decision replaced by a reviewer",
              "submission_id", o->submission_id, "supersedes", c->current_id, "outcome", o->outcome,
              "reviewer_id", o->reviewer_id, NULL);
    /* the final levels changed: the per-assessor agreement with them too */
    return scorer_agreement_update(st, ev->pg, o->tenant_id, c->cred, err);
}

static int handle(struct scorer *st, struct bf_event *ev,
                  const struct bf_ev_decision_override_requested *o, struct ov_ctx *c,
                  struct bf_err *err)
{
    struct scorer_refusal r = {0};
    struct scorer_sheet sheet;
    bool seen[SCORER_MAX_CRITERIA] = {false};
    int rc = load_submission(ev->pg, o, c, err);

    if (rc == 0 && c->found)
        rc = load_current(ev->pg, o, c, err);
    if (rc < 0)
        return rc;
    if (!check_target(o, c, &r))
        return scorer_refuse_override(st, ev, o, &r, err);
    rc = scorer_cred(st, ev->pg, c->credential_id, c->credential_version, &c->cred, err);
    if (rc < 0)
        return rc;
    if (!scorer_check_levels(c->cred, o->criteria, o->n_criteria, seen, &sheet, &r))
        return scorer_refuse_override(st, ev, o, &r, err);
    return apply(st, ev, o, c, err);
}

int scorer_on_override(void *state, struct bf_event *ev, struct bf_err *err)
{
    struct bf_ev_decision_override_requested o;
    struct ov_ctx c = {0};
    int rc = bf_ev_decision_override_requested_decode(ev->data, &o, err);

    if (rc < 0)
        return rc;
    rc = handle(state, ev, &o, &c, err);
    json_decref(c.criteria);
    return rc;
}

/* SPDX-License-Identifier: Apache-2.0 */
/* score.submitted: check the assignment and the rubric, store the score, tell the router. */
#include <stdio.h>
#include <string.h>

#include "badgeflow/util.h"
#include "scorer_int.h"

#define CTX_SQL                                                                                    \
    "SELECT a.submission_id, a.assessor_id, a.state, s.state, s.credential_id,"                    \
    " s.credential_version, s.educator_id, s.attempt, coalesce(s.pilot_id, ''),"                   \
    " EXISTS (SELECT 1 FROM scores x WHERE x.assignment_id = a.id), a.role"                        \
    " FROM assignments a JOIN submissions s ON s.tenant_id = a.tenant_id AND s.id = "              \
    "a.submission_id"                                                                              \
    " WHERE a.id = $1 AND a.tenant_id = $2 FOR UPDATE OF s"
#define SCORE_ID_SQL "SELECT 1 FROM scores WHERE id = $1"
#define SCORE_SQL                                                                                  \
    "INSERT INTO scores (id, tenant_id, assignment_id, submission_id, assessor_id, criteria,"      \
    " overall_feedback, event_id, submitted_at) VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7, $8, "   \
    "$9)"
#define LEVEL_SQL                                                                                  \
    "INSERT INTO score_levels (score_id, tenant_id, submission_id, assessor_id, credential_id,"    \
    " credential_version, criterion_id, level_id, level_rank, passing, has_feedback)"              \
    " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"

static void copy(char *dst, size_t n, const PGresult *res, int col)
{
    bf_strlcpy(dst, PQgetvalue(res, 0, col), n);
}

/* The assignment and its submission (row-locked: one decision at a time per submission). */
static int load_ctx(struct bf_pg *pg, const struct bf_ev_score_submitted *s, struct scorer_ctx *c,
                    struct bf_err *err)
{
    const char *p[2] = {s->assignment_id, s->tenant_id};
    PGresult *res = scorer_sql(pg, "scorer_ctx", CTX_SQL, 2, p, err);
    long long v = 0;

    if (!res)
        return -err->code;
    memset(c, 0, sizeof(*c));
    c->found = PQntuples(res) == 1;
    if (c->found) {
        copy(c->submission_id, sizeof(c->submission_id), res, 0);
        copy(c->assessor_id, sizeof(c->assessor_id), res, 1);
        copy(c->a_state, sizeof(c->a_state), res, 2);
        copy(c->s_state, sizeof(c->s_state), res, 3);
        copy(c->credential_id, sizeof(c->credential_id), res, 4);
        c->credential_version = bf_parse_ll(PQgetvalue(res, 0, 5), 1, 1000000, &v) ? 0 : (int)v;
        copy(c->educator_id, sizeof(c->educator_id), res, 6);
        c->attempt = bf_parse_ll(PQgetvalue(res, 0, 7), 1, 100, &v) ? 1 : (int)v;
        copy(c->pilot_id, sizeof(c->pilot_id), res, 8);
        c->scored = PQgetvalue(res, 0, 9)[0] == 't';
        copy(c->role, sizeof(c->role), res, 10);
    }
    PQclear(res);
    return 0;
}

static bool no(struct scorer_refusal *r, const char *code, const char *field, const char *why)
{
    r->code = code;
    bf_strlcpy(r->field, field, sizeof(r->field));
    bf_strlcpy(r->reason, why, sizeof(r->reason));
    return false;
}

/* The submission can still take scores. */
static bool check_submission(const struct scorer_ctx *c, struct scorer_refusal *r)
{
    if (strcmp(c->s_state, "decided") == 0)
        return no(r, "submission_decided", "submission_id",
                  "submission_id: the submission is already decided; the score is not counted");
    if (strcmp(c->s_state, "withdrawn") == 0 || strcmp(c->s_state, "rejected") == 0)
        return no(r, "submission_withdrawn", "submission_id",
                  "submission_id: the submission was withdrawn or rejected; nothing to score");
    return true;
}

/* The assignment is this assessor's, for this submission, open and not scored yet. */
static bool check_assignment(const struct bf_ev_score_submitted *s, const struct scorer_ctx *c,
                             struct scorer_refusal *r)
{
    if (!c->found)
        return no(r, "unknown_assignment", "assignment_id",
                  "assignment_id: no such assignment for this tenant");
    if (strcmp(c->submission_id, s->submission_id) != 0)
        return no(r, "wrong_submission", "submission_id",
                  "submission_id: the assignment is for another submission");
    if (strcmp(c->assessor_id, s->assessor_id) != 0)
        return no(r, "wrong_assessor", "assessor_id",
                  "assessor_id: the assignment belongs to another assessor");
    if (!check_submission(c, r))
        return false;
    if (c->scored || strcmp(c->a_state, "completed") == 0)
        return no(r, "assignment_completed", "assignment_id",
                  "assignment_id: the assignment was already scored; only the first score counts");
    if (strcmp(c->a_state, "expired") == 0)
        return no(r, "assignment_expired", "assignment_id",
                  "assignment_id: the assignment expired before the score arrived");
    if (strcmp(c->a_state, "open") != 0)
        return no(r, "assignment_released", "assignment_id",
                  "assignment_id: the assignment was released or declined");
    return true;
}

/* The score row; a score_id already used elsewhere is a producer's bug: dead-letter. */
static int store_score(struct bf_event *ev, const struct bf_ev_score_submitted *s,
                       struct bf_err *err)
{
    const char *id[1] = {s->score_id};
    PGresult *res = scorer_sql(ev->pg, "scorer_score_id", SCORE_ID_SQL, 1, id, err);
    char *criteria;
    int rc;

    if (!res)
        return -err->code;
    rc = PQntuples(res) > 0 ? bf_err_set(err, BF_EINVAL, "score_id: already used by another score")
                            : 0;
    PQclear(res);
    if (rc < 0)
        return rc;
    criteria = json_dumps(json_object_get(ev->data, "criteria"), JSON_COMPACT);
    if (!criteria)
        return bf_err_set(err, BF_ENOMEM, "out of memory");
    const char *p[9] = {s->score_id,
                        s->tenant_id,
                        s->assignment_id,
                        s->submission_id,
                        s->assessor_id,
                        criteria,
                        s->overall_feedback,
                        ev->id,
                        json_string_value(json_object_get(ev->data, "submitted_at"))};
    rc = scorer_sql_cmd(ev->pg, "scorer_score", SCORE_SQL, 9, p, err);
    free(criteria);
    return rc;
}

/* One score_levels row per criterion (for analysts: no feedback text). */
static int store_levels(struct bf_event *ev, const struct bf_ev_score_submitted *s,
                        const struct scorer_ctx *c, struct bf_err *err)
{
    char ver[16], rank[16];

    snprintf(ver, sizeof(ver), "%d", c->credential_version);
    for (size_t i = 0; i < s->n_criteria; i++) {
        const struct bf_ev_criterion_score *cs = &s->criteria[i];
        const struct bf_cat_level *l =
            bf_cat_level_find(bf_cat_criterion_find(c->cred, cs->criterion_id), cs->level_id);
        snprintf(rank, sizeof(rank), "%d", bf_cat_level_rank(l));
        const char *p[11] = {s->score_id,
                             s->tenant_id,
                             s->submission_id,
                             s->assessor_id,
                             c->credential_id,
                             ver,
                             cs->criterion_id,
                             cs->level_id,
                             rank,
                             bf_cat_level_passes(l) ? "t" : "f",
                             cs->feedback ? "t" : "f"};
        int rc = scorer_sql_cmd(ev->pg, "scorer_level", LEVEL_SQL, 11, p, err);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* assignment.scored on routing: the router completes the assignment, frees capacity. */
static int emit_scored(struct bf_event *ev, const struct bf_ev_score_submitted *s,
                       struct bf_err *err)
{
    json_t *data = json_pack("{ss ss ss ss ss}", "assignment_id", s->assignment_id, "submission_id",
                             s->submission_id, "tenant_id", s->tenant_id, "assessor_id",
                             s->assessor_id, "score_id", s->score_id);
    int rc;

    if (!data)
        return bf_err_set(err, BF_ENOMEM, "out of memory");
    struct bf_emit e = {
        "routing", BF_EV_ASSIGNMENT_SCORED, s->submission_id, s->submission_id, NULL, data};
    rc = bf_daemon_emit(ev, &e, NULL, err);
    json_decref(data);
    return rc;
}

static int accept(struct scorer *st, struct bf_event *ev, const struct bf_ev_score_submitted *s,
                  const struct scorer_ctx *c, struct bf_err *err)
{
    int rc = store_score(ev, s, err);

    if (rc == 0)
        rc = store_levels(ev, s, c, err);
    if (rc == 0)
        rc = emit_scored(ev, s, err);
    if (rc == 0)
        bf_metrics_add(st->accepted, NULL, 1);
    return rc == 0 ? scorer_maybe_decide(st, ev, s->tenant_id, c, err) : rc;
}

int scorer_on_score(void *state, struct bf_event *ev, struct bf_err *err)
{
    struct scorer *st = state;
    struct bf_ev_score_submitted s;
    struct scorer_ctx c = {0};
    struct scorer_refusal r = {0};
    struct scorer_sheet sheet;
    int rc = bf_ev_score_submitted_decode(ev->data, &s, err);

    if (rc < 0)
        return rc;
    rc = load_ctx(ev->pg, &s, &c, err);
    if (rc < 0)
        return rc;
    if (!check_assignment(&s, &c, &r))
        return scorer_refuse(st, ev, &s, &r, err);
    rc = scorer_cred(st, ev->pg, c.credential_id, c.credential_version, &c.cred, err);
    if (rc < 0)
        return rc;
    if (!scorer_check_rubric(c.cred, &s, &sheet, &r))
        return scorer_refuse(st, ev, &s, &r, err);
    return accept(st, ev, &s, &c, err);
}

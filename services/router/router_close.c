/* SPDX-License-Identifier: Apache-2.0 */
/* Closing assignments on events: a score accepted (completed), a release or decline. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "badgeflow/events.h"
#include "router.h"

/* An assignment row as the router needs it to close it and describe it. */
struct router_asg {
    char state[16], role[16];
    long long token;
    int64_t due_ms;
};

/* Lock the assignment and check it is the one the event names. -BF_EINVAL otherwise. */
static int lock_assignment(struct router *rt, const char *id, const char *tenant,
                           const char *submission, const char *assessor, struct router_asg *a,
                           struct bf_err *err)
{
    const char *p[1] = {id};
    PGresult *res = bf_pg_exec(rt->pg, "router_assign_get", 1, p, err);
    int rc = 0;

    if (!res)
        return -err->code;
    if (PQntuples(res) != 1)
        rc = bf_err_set(err, BF_EINVAL, "assignment_id: unknown assignment %s", id);
    else if (strcmp(PQgetvalue(res, 0, 0), tenant) != 0 ||
             strcmp(PQgetvalue(res, 0, 1), submission) != 0)
        rc =
            bf_err_set(err, BF_EINVAL, "assignment_id: %s is not of submission %s", id, submission);
    else if (strcmp(PQgetvalue(res, 0, 2), assessor) != 0)
        rc = bf_err_set(err, BF_EINVAL, "assessor_id: assignment %s is not %s's", id, assessor);
    if (rc == 0) {
        bf_strlcpy(a->role, PQgetvalue(res, 0, 3), sizeof(a->role));
        bf_strlcpy(a->state, PQgetvalue(res, 0, 4), sizeof(a->state));
        a->token = strtoll(PQgetvalue(res, 0, 5), NULL, 10);
        a->due_ms = strtoll(PQgetvalue(res, 0, 6), NULL, 10);
    }
    PQclear(res);
    return rc;
}

/* Close id as state and emit type with extra fields (stolen); the lease is released in
 * Redis once this transaction has committed (router_settle). */
static int close_emit(struct router *rt, struct bf_event *ev, const char *id, const char *tenant,
                      const char *submission, const char *assessor, const struct router_asg *a,
                      const char *state, const char *type, json_t *extra, struct bf_err *err)
{
    const char *p[3] = {id, state, state};
    struct router_work w;
    json_t *data = NULL;
    int rc;

    if ((rc = router_sql_load_work(rt, tenant, submission, false, &w, err)) < 0) {
        json_decref(extra);
        return rc == -BF_ENOTFOUND ? bf_err_set(err, BF_EINTERNAL, "no work item") : rc;
    }
    if ((rc = bf_pg_cmd(rt->pg, "router_assign_close", 3, p, NULL, err)) < 0)
        goto out;
    router_pending_add(rt, id);
    data = router_event_data(id, &w, assessor, a->role, a->due_ms, a->token);
    if (data && json_object_update(data, extra) < 0)
        json_decref(data), data = NULL;
    rc = router_emit(rt, ev, type, submission, data, err);
    if (rc == 0)
        router_metric_assign(state);
out:
    json_decref(data);
    json_decref(extra);
    router_work_clear(&w);
    return rc;
}

int router_on_scored(void *state, struct bf_event *ev, struct bf_err *err)
{
    struct router *rt = state;
    struct bf_ev_assignment_scored s;
    struct router_asg a = {0};
    char now_s[BF_TIME_STRLEN];
    int rc;

    if (bf_ev_assignment_scored_decode(ev->data, &s, err) < 0)
        return -BF_EINVAL;
    rc = lock_assignment(rt, s.assignment_id, s.tenant_id, s.submission_id, s.assessor_id, &a, err);
    if (rc < 0)
        return rc;
    if (strcmp(a.state, "completed") == 0)
        return 0; /* the same score told twice */
    if (strcmp(a.state, "open") != 0)
        return bf_err_set(err, BF_EINVAL, "assignment_id: assignment is %s, not open", a.state);
    bf_time_format(bf_now_ms(), now_s);
    return close_emit(rt, ev, s.assignment_id, s.tenant_id, s.submission_id, s.assessor_id, &a,
                      "completed", BF_EV_ASSIGNMENT_COMPLETED,
                      json_pack("{ss ss}", "score_id", s.score_id, "completed_at", now_s), err);
}

int router_on_release(void *state, struct bf_event *ev, struct bf_err *err)
{
    struct router *rt = state;
    struct bf_ev_assignment_release_requested r;
    struct router_asg a = {0};
    char now_s[BF_TIME_STRLEN];
    const char *closed = NULL;
    int rc;

    if (bf_ev_assignment_release_requested_decode(ev->data, &r, err) < 0)
        return -BF_EINVAL;
    rc = lock_assignment(rt, r.assignment_id, r.tenant_id, r.submission_id, r.assessor_id, &a, err);
    if (rc < 0)
        return rc;
    if (strcmp(a.state, r.reason) == 0)
        return 0; /* released twice */
    if (strcmp(a.state, "open") != 0)
        return bf_err_set(err, BF_EINVAL, "assignment_id: assignment is %s, not open", a.state);
    closed = strcmp(r.reason, "declined") == 0 ? "declined" : "released";
    bf_time_format(bf_now_ms(), now_s);
    rc = close_emit(rt, ev, r.assignment_id, r.tenant_id, r.submission_id, r.assessor_id, &a,
                    closed, BF_EV_ASSIGNMENT_RELEASED,
                    json_pack("{ss ss}", "reason", r.reason, "released_at", now_s), err);
    if (rc < 0)
        return rc;
    /* Someone else takes it over, unless the submission is settled meanwhile. */
    struct router_work w;
    if (router_submission_final(rt, r.tenant_id, r.submission_id))
        return 0;
    if ((rc = router_sql_load_work(rt, r.tenant_id, r.submission_id, true, &w, err)) < 0)
        return rc;
    if (strcmp(a.role, "primary") == 0)
        w.need_primary++;
    else
        w.need_tie_break++;
    rc = router_fill(rt, ev, &w, err);
    router_work_clear(&w);
    return rc < 0 ? rc : 0;
}

/* SPDX-License-Identifier: Apache-2.0 */
/* Timers of the router: the waiting queue (tenants in turn, earliest deadline first) and
 * lease expiry. Each item is its own short transaction. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "badgeflow/events.h"
#include "badgeflow/log.h"
#include "router.h"

/* Round-robin over tenants: every tenant's earliest-deadline items get ranks 1, 2, ...;
 * the pass takes rank 1 of every tenant before rank 2 of any, so a tenant with 10,000
 * waiting items gets the same turns as a tenant with one. */
static const char waiting_sql[] =
    "SELECT x.tenant_id, x.submission_id FROM"
    " (SELECT DISTINCT tenant_id FROM router_work"
    "   WHERE need_primary + need_tie_break > 0) t,"
    " LATERAL (SELECT w.tenant_id, w.submission_id, w.deadline,"
    "   row_number() OVER (ORDER BY w.deadline, w.submission_id) AS rn"
    "   FROM router_work w WHERE w.tenant_id = t.tenant_id"
    "   AND w.need_primary + w.need_tie_break > 0"
    "   ORDER BY w.deadline, w.submission_id LIMIT $1) x"
    " ORDER BY x.rn, x.deadline, x.tenant_id LIMIT $1";

static const char due_sql[] =
    "SELECT id::text, tenant_id, submission_id, assessor_id, role, fencing_token,"
    " (extract(epoch FROM due_at) * 1000)::bigint FROM assignments"
    " WHERE state = 'open' AND due_at <= now() ORDER BY due_at LIMIT 100"
    " FOR UPDATE SKIP LOCKED";

/* Route one waiting item in its own transaction: the number assigned, or -BF_E*. With
 * undo_if_assigned, an item that could be assigned is rolled back instead and 1 returned
 * (the pass restarts from the top: see router_retry_waiting). */
static int retry_one(struct router *rt, const char *tenant, const char *submission,
                     bool undo_if_assigned, struct bf_err *err)
{
    struct router_work w;
    int rc, assigned = 0;

    if ((rc = bf_pg_begin(rt->pg, err)) < 0)
        return rc;
    rc = router_sql_load_work(rt, tenant, submission, true, &w, err);
    if (rc == 0 && w.need_primary + w.need_tie_break > 0)
        rc = assigned = router_fill(rt, NULL, &w, err);
    router_work_clear(&w);
    if ((rc >= 0 || rc == -BF_ENOTFOUND) && !(undo_if_assigned && assigned > 0))
        rc = bf_pg_commit(rt->pg, err);
    else
        bf_pg_rollback(rt->pg);
    router_settle(rt); /* a rolled-back claim leaves Redis here */
    return rc < 0 ? rc : assigned;
}

/* One walk over the queue; *restart is set when capacity appeared after the walk had
 * passed over items for lack of room (those come first: the walk starts again). */
static int walk(struct router *rt, int freed, bool may_restart, bool *restart, struct bf_err *err)
{
    char limit[16];
    const char *p[1] = {limit};
    PGresult *res;
    int rc = 0, assigned = 0, misses = 0, missed = 0;

    snprintf(limit, sizeof(limit), "%d", rt->cfg.batch);
    res = bf_pg_exec(rt->pg, "router_waiting", 1, p, err);
    if (!res)
        return -err->code;
    router_metric_waiting(PQntuples(res));
    for (int i = 0; i < PQntuples(res) && !bf_daemon_stopping(rt->d); i++) {
        if (freed > 0 && (assigned >= freed || misses >= ROUTER_RETRY_MISSES))
            break;
        rc = retry_one(rt, PQgetvalue(res, i, 0), PQgetvalue(res, i, 1), may_restart && missed > 0,
                       err);
        if (rc == -BF_ETRANSIENT)
            break;
        if (rc > 0 && may_restart && missed > 0) {
            *restart = true;
            rc = 0;
            break;
        }
        missed += rc == 0;
        misses = rc > 0 ? 0 : misses + 1;
        assigned += rc > 0 ? rc : 0;
        rc = 0; /* one bad item does not stop the others */
    }
    PQclear(res);
    return rc;
}

/*
 * A pass over the waiting queue. freed > 0: a pass triggered by that many places freed,
 * which stops once it assigned as many or after ROUTER_RETRY_MISSES items in a row found no
 * room (the rest of the queue waits for the same full assessors); freed == 0: the periodic
 * pass, which looks at the whole batch (roster changes: new assessors, capacity raised).
 * Fairness across a pass: places that free up while a walk is under way (a capacity raised,
 * another instance's completions) would otherwise go to whoever comes after in the walk,
 * past items already passed over; so the first such assignment is undone and the walk starts
 * again from the top (once per pass, so items with disjoint assessors cannot loop).
 */
int router_retry_waiting(struct router *rt, int freed, struct bf_err *err)
{
    bool restart = false;
    int rc = walk(rt, freed, true, &restart, err);

    if (rc == 0 && restart)
        rc = walk(rt, freed, false, &restart, err);
    return rc;
}

int router_queue_prepare(struct bf_pg *pg, struct bf_err *err)
{
    return bf_pg_prepare(pg, "router_waiting", waiting_sql, err);
}

/* Close one overdue lease, emit assignment.expired, and route the item to someone else
 * (every earlier assessor of a submission is excluded by the eligibility query). */
static int expire_one(struct router *rt, PGresult *res, int i, struct bf_err *err)
{
    const char *id = PQgetvalue(res, i, 0), *role = PQgetvalue(res, i, 4);
    const char *p[3] = {id, "expired", "overdue"};
    struct router_work w;
    char now_s[BF_TIME_STRLEN];
    json_t *data;
    int rc;

    rc = router_sql_load_work(rt, PQgetvalue(res, i, 1), PQgetvalue(res, i, 2), true, &w, err);
    if (rc < 0)
        return rc == -BF_ENOTFOUND ? bf_err_set(err, BF_EINTERNAL, "no work item") : rc;
    if ((rc = bf_pg_cmd(rt->pg, "router_assign_close", 3, p, NULL, err)) < 0)
        goto out;
    router_pending_add(rt, id);
    data = router_event_data(id, &w, PQgetvalue(res, i, 3), role,
                             strtoll(PQgetvalue(res, i, 6), NULL, 10),
                             strtoll(PQgetvalue(res, i, 5), NULL, 10));
    bf_time_format(bf_now_ms(), now_s);
    json_object_set_new(data, "expired_at", json_string(now_s));
    rc = router_emit(rt, NULL, BF_EV_ASSIGNMENT_EXPIRED, w.submission_id, data, err);
    json_decref(data);
    if (rc < 0)
        goto out;
    router_metric_assign("expired");
    if (strcmp(role, "primary") == 0)
        w.need_primary++;
    else
        w.need_tie_break++;
    rc = router_fill(rt, NULL, &w, err);
out:
    router_work_clear(&w);
    return rc < 0 ? rc : 0;
}

int router_expire_due(struct router *rt, struct bf_err *err)
{
    PGresult *res;
    int rc, n;

    if ((rc = bf_pg_begin(rt->pg, err)) < 0)
        return rc;
    res = bf_pg_query(rt->pg, due_sql, 0, NULL, err);
    if (!res) {
        rc = -err->code;
        goto fail;
    }
    n = PQntuples(res);
    for (int i = 0; i < n && rc == 0; i++)
        rc = expire_one(rt, res, i, err);
    PQclear(res);
    if (rc < 0)
        goto fail;
    if (n > 0)
        bf_log(BF_LOG_INFO, "BF_ROUTER_EXPIRE", "%d overdue assignments expired", n);
    rc = bf_pg_commit(rt->pg, err);
    router_settle(rt);
    return rc;
fail:
    bf_pg_rollback(rt->pg);
    router_settle(rt);
    return rc;
}

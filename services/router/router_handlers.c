/* SPDX-License-Identifier: Apache-2.0 */
/* The router's event handlers, each inside the record's transaction (inbox + outbox). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "badgeflow/events.h"
#include "badgeflow/log.h"
#include "router.h"

static bool final_state(const char *state)
{
    return strcmp(state, "decided") == 0 || strcmp(state, "rejected") == 0 ||
           strcmp(state, "withdrawn") == 0;
}

/* Check the submission and credential of a ready event and record its work item (the
 * statement writes it only when the event holds; a refusal rolls back anyway). */
static int record_work(struct router *rt, struct bf_event *ev,
                       const struct bf_ev_submission_ready *r, struct bf_err *err)
{
    char ver[12];
    char *evidence = json_dumps(json_object_get(ev->data, "evidence"), JSON_COMPACT);
    const char *p[6] = {r->tenant_id, r->submission_id, r->credential_id, ver, evidence, ev->id};
    PGresult *res;
    int rc = 0;

    if (!evidence)
        return bf_err_set(err, BF_ENOMEM, "out of memory");
    snprintf(ver, sizeof(ver), "%d", r->credential_version);
    res = bf_pg_exec(rt->pg, "router_submission_work", 6, p, err);
    free(evidence);
    if (!res)
        return -err->code;
    if (PQntuples(res) != 1)
        rc = bf_err_set(err, BF_EINVAL, "submission_id: unknown submission %s of tenant %s",
                        r->submission_id, r->tenant_id);
    else if (strcmp(PQgetvalue(res, 0, 1), r->credential_id) != 0 ||
             strcmp(PQgetvalue(res, 0, 2), ver) != 0 || strcmp(PQgetvalue(res, 0, 3), "t") != 0)
        rc = bf_err_set(err, BF_EINVAL,
                        "credential_id: unknown credential %s version %s for this submission",
                        r->credential_id, ver);
    else if (final_state(PQgetvalue(res, 0, 0)))
        rc = bf_err_set(err, BF_EINVAL, "submission_id: submission is %s already",
                        PQgetvalue(res, 0, 0));
    PQclear(res);
    return rc;
}

/* Route the work item of (tenant, submission), locked for this transaction. */
static int route(struct router *rt, struct bf_event *ev, const char *tenant, const char *submission,
                 int add_primary, int add_tie_break, struct bf_err *err)
{
    struct router_work w;
    int rc = router_sql_load_work(rt, tenant, submission, true, &w, err);

    if (rc == -BF_ENOTFOUND)
        return bf_err_set(err, BF_EINVAL, "submission_id: %s was never ready for routing",
                          submission);
    if (rc < 0)
        return rc;
    w.need_primary += add_primary;
    w.need_tie_break += add_tie_break;
    rc = router_fill(rt, ev, &w, err);
    router_work_clear(&w);
    return rc < 0 ? rc : 0;
}

int router_on_ready(void *state, struct bf_event *ev, struct bf_err *err)
{
    struct router *rt = state;
    struct bf_ev_submission_ready r;
    int rc;

    if (bf_ev_submission_ready_decode(ev->data, &r, err) < 0)
        return -BF_EINVAL;
    rc = record_work(rt, ev, &r, err);
    if (rc == 0)
        rc = route(rt, ev, r.tenant_id, r.submission_id, 0, 0, err);
    bf_ev_submission_ready_clear(&r);
    return rc;
}

/* The submission's state, or -BF_EINVAL when unknown or final (nothing left to route). */
static int routable(struct router *rt, const char *tenant, const char *submission,
                    struct bf_err *err)
{
    const char *p[2] = {tenant, submission};
    PGresult *res = bf_pg_exec(rt->pg, "router_submission_state", 2, p, err);
    int rc = 0;

    if (!res)
        return -err->code;
    if (PQntuples(res) != 1)
        rc = bf_err_set(err, BF_EINVAL, "submission_id: unknown submission %s", submission);
    else if (final_state(PQgetvalue(res, 0, 0)))
        rc = bf_err_set(err, BF_EINVAL, "submission_id: submission is %s: nothing to route",
                        PQgetvalue(res, 0, 0));
    PQclear(res);
    return rc;
}

bool router_submission_final(struct router *rt, const char *tenant, const char *submission)
{
    struct bf_err err;

    return routable(rt, tenant, submission, &err) < 0 && err.code == BF_EINVAL;
}

/* The exclusions as a PostgreSQL text[] literal (ids are [A-Za-z0-9._:-]: no quoting). */
static void exclude_array(const struct bf_ev_routing_requested *r, char *out, size_t n)
{
    size_t off = (size_t)snprintf(out, n, "{");

    for (size_t i = 0; i < r->n_exclude && off < n; i++)
        off +=
            (size_t)snprintf(out + off, n - off, "%s%s", i ? "," : "", r->exclude_assessor_ids[i]);
    if (off < n)
        snprintf(out + off, n - off, "}");
}

int router_on_routing(void *state, struct bf_event *ev, struct bf_err *err)
{
    struct router *rt = state;
    struct bf_ev_routing_requested r;
    char excl[BF_EV_MAX_ASSESSORS * ROUTER_ID_LEN + 4];
    bool tie;
    int rc;

    if (bf_ev_routing_requested_decode(ev->data, &r, err) < 0)
        return -BF_EINVAL;
    if ((rc = routable(rt, r.tenant_id, r.submission_id, err)) < 0)
        return rc;
    exclude_array(&r, excl, sizeof(excl));
    const char *p[3] = {r.tenant_id, r.submission_id, excl};
    if ((rc = bf_pg_cmd(rt->pg, "router_work_exclude", 3, p, NULL, err)) < 0)
        return rc;
    tie = strcmp(r.reason, "tie_break") == 0;
    return route(rt, ev, r.tenant_id, r.submission_id, tie ? 0 : 1, tie ? 1 : 0, err);
}

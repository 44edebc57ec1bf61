/* SPDX-License-Identifier: Apache-2.0 */
/* Routing decisions: fill a work item, settle Redis after commit, the waiting queue, expiry. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "badgeflow/events.h"
#include "badgeflow/log.h"
#include "router.h"

/* How often one credential's "nobody eligible" is logged (metrics count every time). */
#define NO_ELIGIBLE_LOG_MS 60000

void router_pending_add(struct router *rt, const char *assignment_id)
{
    if (rt->n_pending == ROUTER_MAX_PENDING) {
        rt->pending_overflow = true; /* the reconcile will find it */
        return;
    }
    bf_strlcpy(rt->pending[rt->n_pending++], assignment_id, BF_UUID_STRLEN + 1);
}

/* The pending ids as a PostgreSQL array literal; caller frees. */
static char *pending_array(const struct router *rt)
{
    size_t n = (size_t)rt->n_pending * (BF_UUID_STRLEN + 1) + 3, off = 0;
    char *s = malloc(n);

    if (!s)
        return NULL;
    s[off++] = '{';
    for (int i = 0; i < rt->n_pending; i++)
        off += (size_t)snprintf(s + off, n - off, "%s%s", i ? "," : "", rt->pending[i]);
    snprintf(s + off, n - off, "}");
    return s;
}

static bool still_open(PGresult *res, const char *id)
{
    for (int i = 0; i < PQntuples(res); i++)
        if (strcmp(PQgetvalue(res, i, 0), id) == 0)
            return true;
    return false;
}

/* Why after commit only: Redis load must never count fewer leases than PostgreSQL has open,
 * so a lease leaves Redis only once PostgreSQL says it is closed, or was never written (the
 * transaction that claimed it rolled back). */
void router_settle(struct router *rt)
{
    struct bf_err err;
    PGresult *res;
    char *arr;

    if (rt->pending_overflow && router_redis_reconcile(rt, &err) == 0)
        rt->pending_overflow = false;
    if (rt->n_pending == 0 || !(arr = pending_array(rt)))
        return;
    const char *p[1] = {arr};
    res = bf_pg_query(rt->pg,
                      "SELECT id::text FROM assignments WHERE id = ANY ($1::uuid[])"
                      " AND state = 'open'",
                      1, p, &err);
    free(arr);
    if (!res)
        return; /* PostgreSQL down: try again next tick; Redis only overcounts meanwhile */
    for (int i = 0; i < rt->n_pending; i++) {
        if (still_open(res, rt->pending[i]))
            continue;
        if (router_redis_release(rt, rt->pending[i], &err) < 0) {
            rt->pending_overflow = true; /* let the reconcile drop it */
            continue;
        }
        rt->freed++; /* the waiting queue may move */
    }
    PQclear(res);
    rt->n_pending = 0;
}

static void no_eligible(const struct router_work *w)
{
    static char last_cred[64][ROUTER_ID_LEN];
    static int64_t last_ms[64];
    unsigned h = 0;

    for (const char *c = w->credential_id; *c; c++)
        h = h * 31 + (unsigned char)*c;
    h %= 64;
    router_metric_no_eligible(w->credential_id);
    if (strcmp(last_cred[h], w->credential_id) == 0 &&
        bf_mono_ms() - last_ms[h] < NO_ELIGIBLE_LOG_MS)
        return;
    bf_strlcpy(last_cred[h], w->credential_id, sizeof(last_cred[h]));
    last_ms[h] = bf_mono_ms();
    bf_log_kv(BF_LOG_WARN, "BF_ROUTER_NO_ASSESSOR",
              "no eligible assessor for this credential: the item waits", "credential_id",
              w->credential_id, "tenant_id", w->tenant_id, NULL);
}

/* Emit assignment.created for the row router_sql_guard_assign() wrote (inside the caller's
 * transaction). */
static int record(struct router *rt, struct bf_event *ev, struct router_work *w, const char *id,
                  const char *assessor, const char *role, long long token, int64_t due,
                  struct bf_err *err)
{
    char now_s[BF_TIME_STRLEN];
    json_t *data;
    int rc;

    data = router_event_data(id, w, assessor, role, due, token);
    if (!data)
        return bf_err_set(err, BF_ENOMEM, "out of memory");
    bf_time_format(bf_now_ms(), now_s);
    json_object_set_new(data, "assigned_at", json_string(now_s));
    rc = router_emit(rt, ev, BF_EV_ASSIGNMENT_CREATED, w->submission_id, data, err);
    json_decref(data);
    if (rc == 0)
        router_metric_assign("created");
    return rc;
}

/* Redis claim with one rebuild if Redis lost its state: 1 picked, 0 no room, or -BF_E*. */
static int claim(struct router *rt, const char *id, struct router_candidate *c, int n, int *pick,
                 long long *token, struct bf_err *err)
{
    int64_t t0 = bf_mono_ms();
    /* A known generation is checked by the claim script itself (atomically): no GET first. */
    int rc = rt->gen[0] ? 0 : router_redis_ensure(rt, err);

    if (rc == 0)
        rc = router_redis_claim(rt, id, c, n, pick, token, err);
    if (rc == -BF_ECONFLICT) {
        rt->gen[0] = '\0';
        rc = router_redis_ensure(rt, err);
        if (rc == 0)
            rc = router_redis_claim(rt, id, c, n, pick, token, err);
    }
    if (rc == -BF_ECONFLICT || rc == -BF_EINVAL)
        rc = bf_err_set(err, BF_ETRANSIENT, "redis: %s", err->msg); /* retry the record */
    router_metric_claim((double)(bf_mono_ms() - t0) / 1000.0);
    return rc;
}

/* One assessor for w: 1 assigned, 0 nobody with room (w waits), or -BF_E*. */
static int fill_one(struct router *rt, struct bf_event *ev, struct router_work *w,
                    struct bf_err *err)
{
    static struct router_candidate c[ROUTER_MAX_CANDIDATES];
    const char *role = w->need_primary > 0 ? "primary" : "tie_break";
    int64_t due = bf_now_ms() + w->turnaround_ms;
    char id[BF_UUID_STRLEN + 1];
    long long token = 0;
    int n = 0, pick = 0, rc;

    if ((rc = router_sql_candidates(rt, w, c, ROUTER_MAX_CANDIDATES, &n, err)) < 0)
        return rc;
    if (n == 0) {
        no_eligible(w);
        return 0;
    }
    while (n > 0) {
        if (bf_uuid_v4(id) < 0)
            return bf_err_set(err, BF_EIO, "no randomness for an assignment id");
        if ((rc = claim(rt, id, c, n, &pick, &token, err)) <= 0)
            return rc;
        router_pending_add(rt, id); /* undone after a rollback, whatever happens next */
        rc = router_sql_guard_assign(rt, w, id, c[pick].id, role, token, due, err);
        if (rc < 0)
            return rc;
        if (rc == 1)
            break;
        /* Redis counted fewer than PostgreSQL has open (a lease lost with Redis, or a
         * deactivation): PostgreSQL's cap wins; recount and try the others. */
        router_metric_guard();
        bf_log_kv(BF_LOG_INFO, "BF_ROUTER_GUARD", "PostgreSQL refused a claim Redis allowed",
                  "assessor_id", c[pick].id, NULL);
        rt->pending_overflow = true;
        c[pick] = c[--n];
    }
    if (n == 0)
        return 0;
    if ((rc = record(rt, ev, w, id, c[pick].id, role, token, due, err)) < 0)
        return rc;
    if (w->need_primary > 0)
        w->need_primary--;
    else
        w->need_tie_break--;
    return 1;
}

int router_fill(struct router *rt, struct bf_event *ev, struct router_work *w, struct bf_err *err)
{
    int assigned = 0, rc = 0;
    char np[12], nt[12];
    const char *p[5] = {w->tenant_id, w->submission_id, np, nt, "f"};

    while (w->need_primary + w->need_tie_break > 0) {
        if ((rc = fill_one(rt, ev, w, err)) <= 0)
            break;
        assigned++;
    }
    if (rc < 0)
        return rc;
    snprintf(np, sizeof(np), "%d", w->need_primary);
    snprintf(nt, sizeof(nt), "%d", w->need_tie_break);
    p[4] = assigned > 0 ? "t" : "f";
    rc = bf_pg_cmd(rt->pg, "router_work_need", 5, p, NULL, err);
    return rc < 0 ? rc : assigned;
}

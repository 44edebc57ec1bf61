/* SPDX-License-Identifier: Apache-2.0 */
/* The router's PostgreSQL side: eligibility, the capacity guard, work items. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "router.h"

/* A number column PostgreSQL printed (its digits are trusted; out of range clamps). */
static int col_int(const char *s)
{
    return (int)strtol(s, NULL, 10);
}

/* Every eligibility and conflict-of-interest rule in one query, read per decision so roster
 * changes (capacity, deactivation, qualifications, blocks) apply without a restart.
 * $1 tenant, $2 submission, $3/$4 the service defaults for the tenant's same-district and
 * same-school settings, $5 the most candidates returned (in random order: the random
 * tie-break of the pick). prio 0 marks an earlier attempt's assessor when the credential
 * prefers continuity. Why `earlier` and `mine` are CTEs driven by this submission: as
 * anti-joins per assessor they read each assessor's whole history, which only grows. */
static const char candidates_sql[] =
    "WITH s AS ("
    " SELECT s.tenant_id, s.id, s.educator_id, s.credential_id, s.attempt, cc.stack_id,"
    "  t.parent_id, e.school_id AS e_school, coalesce(e.district_id, s.tenant_id) AS e_district,"
    "  coalesce((t.settings->>'allow_same_district_assessor')::boolean, $3::boolean) AS allow_d,"
    "  coalesce((t.settings->>'allow_same_school_assessor')::boolean, $4::boolean) AS allow_s,"
    "  coalesce((cv.content->>'continuity_on_resubmission')::boolean, false) AS cont,"
    "  w.exclude_ids"
    " FROM submissions s"
    " JOIN educators e ON e.tenant_id = s.tenant_id AND e.id = s.educator_id"
    " JOIN tenants t ON t.id = s.tenant_id"
    " JOIN catalogue_credentials cc ON cc.id = s.credential_id"
    " JOIN credential_versions cv ON cv.credential_id = s.credential_id"
    "  AND cv.version = s.credential_version"
    " JOIN router_work w ON w.tenant_id = s.tenant_id AND w.submission_id = s.id"
    " WHERE s.tenant_id = $1 AND s.id = $2),"
    " earlier AS ("
    " SELECT DISTINCT x.assessor_id FROM s"
    " JOIN submissions p ON p.tenant_id = s.tenant_id AND p.educator_id = s.educator_id"
    "  AND p.credential_id = s.credential_id AND p.attempt < s.attempt"
    " JOIN assignments x ON x.tenant_id = p.tenant_id AND x.submission_id = p.id"
    "  AND x.state = 'completed'"
    " WHERE s.attempt > 1),"
    " mine AS ("
    " SELECT x.assessor_id FROM s JOIN assignments x ON x.tenant_id = s.tenant_id"
    "  AND x.submission_id = s.id)"
    " SELECT a.id, a.max_open,"
    "  CASE WHEN s.cont AND a.id IN (SELECT assessor_id FROM earlier) THEN 0 ELSE 1 END"
    " FROM s JOIN assessors a ON a.active AND a.max_open > 0"
    "  AND (a.tenant_id = s.tenant_id OR a.tenant_id = s.parent_id)"
    " WHERE EXISTS (SELECT 1 FROM assessor_qualifications q WHERE q.assessor_id = a.id"
    "   AND (q.credential_id = s.credential_id OR q.stack_id = s.stack_id)"
    "   AND q.since <= now() AND (q.until IS NULL OR q.until > now()))"
    "  AND NOT (a.educator_tenant_id IS NOT NULL AND a.educator_tenant_id = s.tenant_id"
    "   AND a.educator_id = s.educator_id)"
    "  AND NOT EXISTS (SELECT 1 FROM conflict_blocks b WHERE b.assessor_id = a.id"
    "   AND b.tenant_id = s.tenant_id AND b.educator_id = s.educator_id)"
    "  AND (s.allow_d OR a.district_id IS NULL OR a.district_id <> s.e_district)"
    "  AND (s.allow_s OR a.school_id IS NULL OR s.e_school IS NULL OR a.school_id <> s.e_school"
    "   OR a.district_id IS DISTINCT FROM s.e_district)"
    "  AND a.id NOT IN (SELECT assessor_id FROM mine)"
    "  AND NOT (a.id::text = ANY (s.exclude_ids))"
    "  AND (s.cont OR a.id NOT IN (SELECT assessor_id FROM earlier))"
    " ORDER BY random() LIMIT $5";

#define WORK_SQL                                                                                   \
    "SELECT w.credential_id, w.credential_version, w.need_primary, w.need_tie_break,"              \
    " coalesce((cv.content->>'turnaround_days')::integer, 14), w.evidence::text"                   \
    " FROM router_work w JOIN credential_versions cv ON cv.credential_id = w.credential_id"        \
    "  AND cv.version = w.credential_version"                                                      \
    " WHERE w.tenant_id = $1 AND w.submission_id = $2"

static const struct {
    const char *name, *sql;
} stmts[] = {
    {"router_candidates", candidates_sql},
    {"router_open_leases", "SELECT id::text, assessor_id,"
                           " (extract(epoch FROM created_at) * 1000)::bigint"
                           " FROM assignments WHERE state = 'open'"},
    {"router_max_token", "SELECT coalesce(max(fencing_token), 0) FROM assignments"},
    /* Lock, count and insert in one trip (db/migrations/0010_router_batch.sql). */
    {"router_guard_assign", "SELECT router_guard_assign($1::uuid, $2, $3, $4, $5, $6::bigint,"
                            " $7::bigint)"},
    {"router_work_get", WORK_SQL},
    {"router_work_lock", WORK_SQL " FOR UPDATE OF w"},
    /* What the item still needs, and in_review with its first assignment ($5): one trip. */
    {"router_work_need",
     "WITH w AS (UPDATE router_work SET need_primary = $3, need_tie_break = $4"
     "  WHERE tenant_id = $1 AND submission_id = $2)"
     " UPDATE submissions SET state = 'in_review' WHERE $5::boolean AND tenant_id = $1"
     " AND id = $2 AND state IN ('received', 'processing', 'ready')"},
    {"router_assign_close", "UPDATE assignments SET state = $2, closed_at = now(),"
                            " close_reason = $3 WHERE id = $1::uuid AND state = 'open'"},
    {"router_assign_get",
     "SELECT tenant_id, submission_id, assessor_id, role, state, fencing_token,"
     " (extract(epoch FROM due_at) * 1000)::bigint FROM assignments WHERE id = $1::uuid"
     " FOR UPDATE"},
    /* The submission as the ready event names it, locked, and its work item recorded when
     * the event holds (the caller refuses the event otherwise, rolling back): one trip. */
    {"router_submission_work",
     "WITH s AS (SELECT s.state, s.credential_id, s.credential_version,"
     "  coalesce((v.content->>'assessors_required')::integer, 1) AS required,"
     "  coalesce((v.content->>'turnaround_days')::integer, 14) AS days,"
     "  v.credential_id IS NOT NULL AS known"
     "  FROM submissions s LEFT JOIN credential_versions v ON v.credential_id = $3"
     "   AND v.version = $4::integer"
     "  WHERE s.tenant_id = $1 AND s.id = $2 FOR UPDATE OF s),"
     " w AS (INSERT INTO router_work (tenant_id, submission_id, credential_id,"
     "  credential_version, need_primary, deadline, evidence, event_id)"
     "  SELECT $1, $2, $3, $4::integer, s.required, now() + make_interval(days => s.days),"
     "  $5::jsonb, $6 FROM s WHERE s.known AND s.credential_id = $3"
     "  AND s.credential_version = $4::integer"
     "  AND s.state NOT IN ('decided', 'rejected', 'withdrawn')"
     "  ON CONFLICT DO NOTHING)"
     " SELECT state, credential_id, credential_version, known FROM s"},
    {"router_credential_get",
     "SELECT coalesce((content->>'assessors_required')::integer, 1),"
     " coalesce((content->>'turnaround_days')::integer, 14) FROM credential_versions"
     " WHERE credential_id = $1 AND version = $2::integer"},
    {"router_submission_state", "SELECT state FROM submissions WHERE tenant_id = $1 AND id = $2"},
    {"router_work_exclude",
     "UPDATE router_work SET exclude_ids = (SELECT array_agg(DISTINCT x) FROM"
     " unnest(exclude_ids || $3::text[]) x) WHERE tenant_id = $1 AND submission_id = $2"},
    {NULL, NULL},
};

int router_sql_prepare(struct bf_pg *pg, struct bf_err *err)
{
    for (int i = 0; stmts[i].name; i++) {
        int rc = bf_pg_prepare(pg, stmts[i].name, stmts[i].sql, err);

        if (rc < 0)
            return bf_err_prefix(err, "%s", stmts[i].name);
    }
    return 0;
}

int router_sql_candidates(struct router *rt, const struct router_work *w,
                          struct router_candidate *c, int max, int *n, struct bf_err *err)
{
    char limit[16];
    const char *p[5] = {w->tenant_id, w->submission_id, rt->cfg.allow_same_district ? "t" : "f",
                        rt->cfg.allow_same_school ? "t" : "f", limit};
    PGresult *res;

    snprintf(limit, sizeof(limit), "%d", max);
    res = bf_pg_exec(rt->pg, "router_candidates", 5, p, err);
    if (!res)
        return -err->code;
    *n = PQntuples(res);
    for (int i = 0; i < *n; i++) {
        bf_strlcpy(c[i].id, PQgetvalue(res, i, 0), sizeof(c[i].id));
        c[i].max_open = col_int(PQgetvalue(res, i, 1));
        c[i].prio = col_int(PQgetvalue(res, i, 2));
    }
    PQclear(res);
    return 0;
}

int router_sql_guard_assign(struct router *rt, const struct router_work *w, const char *id,
                            const char *assessor, const char *role, long long token, int64_t due_ms,
                            struct bf_err *err)
{
    char tok[24], due[24];
    const char *p[7] = {id, w->tenant_id, w->submission_id, assessor, role, tok, due};
    PGresult *res;
    bool inserted;

    snprintf(tok, sizeof(tok), "%lld", token);
    snprintf(due, sizeof(due), "%lld", (long long)due_ms);
    res = bf_pg_exec(rt->pg, "router_guard_assign", 7, p, err);
    if (!res)
        return -err->code;
    inserted = PQntuples(res) == 1 && strcmp(PQgetvalue(res, 0, 0), "t") == 0;
    PQclear(res);
    return inserted ? 1 : 0;
}

int router_sql_load_work(struct router *rt, const char *tenant, const char *submission, bool lock,
                         struct router_work *w, struct bf_err *err)
{
    const char *p[2] = {tenant, submission};
    PGresult *res;
    int rc = 0;

    memset(w, 0, sizeof(*w));
    res = bf_pg_exec(rt->pg, lock ? "router_work_lock" : "router_work_get", 2, p, err);
    if (!res)
        return -err->code;
    if (PQntuples(res) != 1) {
        rc = -BF_ENOTFOUND;
        goto out;
    }
    bf_strlcpy(w->tenant_id, tenant, sizeof(w->tenant_id));
    bf_strlcpy(w->submission_id, submission, sizeof(w->submission_id));
    bf_strlcpy(w->credential_id, PQgetvalue(res, 0, 0), sizeof(w->credential_id));
    w->credential_version = col_int(PQgetvalue(res, 0, 1));
    w->need_primary = col_int(PQgetvalue(res, 0, 2));
    w->need_tie_break = col_int(PQgetvalue(res, 0, 3));
    w->turnaround_ms = (int64_t)col_int(PQgetvalue(res, 0, 4)) * 86400000;
    w->evidence = json_loads(PQgetvalue(res, 0, 5), 0, NULL);
    if (!w->evidence)
        rc = bf_err_set(err, BF_EINTERNAL, "router_work.evidence: not JSON");
out:
    PQclear(res);
    return rc;
}

void router_work_clear(struct router_work *w)
{
    json_decref(w->evidence);
    w->evidence = NULL;
}

/* SPDX-License-Identifier: Apache-2.0 */
/* Reads: a submission's status, a tenant's submissions, the catalogue, public redirects.
 * Each answer is one SQL query building the JSON, always scoped by the key's tenant. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "badgeflow/json.h"
#include "gateway.h"

/* One submission as a district sees it: state, items, decision, credential. */
#define SUBMISSION_JSON                                                                            \
    "jsonb_build_object('submission_id', s.id, 'educator_id', s.educator_id,"                      \
    " 'credential_id', s.credential_id, 'credential_version', s.credential_version,"               \
    " 'attempt', s.attempt, 'previous_submission_id', s.previous_submission_id,"                   \
    " 'pilot_id', s.pilot_id, 'state', s.state, 'outcome', s.outcome,"                             \
    " 'rejected_reason', s.rejected_reason, 'withdrawn_reason', s.withdrawn_reason,"               \
    " 'submitted_at', s.submitted_at, 'updated_at', s.updated_at,"                                 \
    " 'evidence', (SELECT coalesce(jsonb_agg(jsonb_build_object('item_id', e.item_id,"             \
    "   'kind', e.kind, 'requirement', e.requirement, 'state', e.state,"                           \
    "   'failure_code', e.failure_code, 'failure_reason', e.failure_reason,"                       \
    "   'content_type', e.content_type, 'bytes', e.bytes, 'duration_ms', e.duration_ms)"           \
    "   ORDER BY e.position), '[]') FROM evidence_items e"                                         \
    "   WHERE e.tenant_id = s.tenant_id AND e.submission_id = s.id),"                              \
    " 'decision', (SELECT jsonb_build_object('decision_id', d.id, 'outcome', d.outcome,"           \
    "   'criteria', d.criteria, 'attempt', d.attempt, 'attempts_left', d.attempts_left,"           \
    "   'decided_at', d.decided_at) FROM decisions d WHERE d.tenant_id = s.tenant_id"              \
    "   AND d.submission_id = s.id AND d.superseded_at IS NULL),"                                  \
    " 'credential', (SELECT jsonb_build_object('credential_id', c.id, 'issued_at', c.issued_at,"   \
    "   'revoked_at', c.revoked_at, 'url', '/v1/public/credentials/' || c.id)"                     \
    "   FROM credentials c WHERE c.tenant_id = s.tenant_id AND c.submission_id = s.id"             \
    "   AND c.kind = 'credential' ORDER BY c.issued_at DESC LIMIT 1))"

/* Run sql (params v) and reply its JSON text, 404 naming what when there is no row. */
static void reply_query(struct gw_req *r, const char *sql, int n, const char *const *v,
                        const char *what)
{
    struct bf_err err = {0};
    char *s = gw_query_text(r->pg, sql, n, v, &err);

    if (s)
        gw_reply_text(r, 200, s);
    else if (err.code)
        gw_problem_db(r, &err);
    else
        gw_problem(r, 404, "not-found", "Not found", NULL, "no %s '%s'", what,
                   v && n > 1   ? v[1]
                   : v && n > 0 ? v[0]
                                : "");
    free(s);
}

void gw_submission_get(struct gw_req *r)
{
    const char *v[2] = {r->key.tenant_id, r->params[0]};

    reply_query(r,
                "SELECT " SUBMISSION_JSON "::text FROM submissions s"
                " WHERE s.tenant_id = $1 AND s.id = $2",
                2, v, "submission");
}

/* ?state=&educator_id=&limit= (1..500, default 100), newest first. */
void gw_submission_list(struct gw_req *r)
{
    const char *state = gw_query(r, "state"), *edu = gw_query(r, "educator_id");
    const char *lim = gw_query(r, "limit");
    long long n = 100;
    char nbuf[16];
    const char *v[4] = {r->key.tenant_id, state, edu, nbuf};

    if (lim && bf_parse_ll(lim, 1, 500, &n) < 0) {
        gw_problem(r, 400, "invalid-query", "Invalid query", "limit",
                   "limit: must be an integer of 1..500");
        return;
    }
    snprintf(nbuf, sizeof(nbuf), "%lld", n);
    reply_query(r,
                "SELECT jsonb_build_object('items', coalesce(jsonb_agg(x.j ORDER BY x.at DESC),"
                " '[]'))::text FROM (SELECT " SUBMISSION_JSON " AS j, s.submitted_at AS at"
                " FROM submissions s WHERE s.tenant_id = $1 AND ($2::text IS NULL OR"
                " s.state = $2) AND ($3::text IS NULL OR s.educator_id = $3)"
                " ORDER BY s.submitted_at DESC LIMIT $4::integer) x",
                4, v, "submissions");
}

/* ---- catalogue (global: the same for every tenant) ---- */

#define CRED_SUMMARY                                                                               \
    "jsonb_build_object('credential_id', c.credential_id, 'version', c.version, 'name', c.name,"   \
    " 'stack_id', c.stack_id, 'attempts_allowed', c.attempts_allowed,"                             \
    " 'assessors_required', c.assessors_required, 'turnaround_days', c.turnaround_days)"

void gw_catalogue_stacks(struct gw_req *r)
{
    reply_query(r,
                "SELECT jsonb_build_object('items', coalesce(jsonb_agg(jsonb_build_object("
                "'stack_id', st.id, 'name', st.name, 'description', st.description,"
                " 'credentials', (SELECT coalesce(jsonb_agg(" CRED_SUMMARY
                " ORDER BY c.position), '[]') FROM current_credentials c WHERE c.stack_id ="
                " st.id)) ORDER BY st.id), '[]'))::text FROM stacks st",
                0, NULL, "stacks");
}

void gw_catalogue_stack(struct gw_req *r)
{
    const char *v[1] = {r->params[0]};

    reply_query(r,
                "SELECT jsonb_build_object('stack_id', st.id, 'name', st.name, 'description',"
                " st.description, 'content', st.content, 'credentials', (SELECT"
                " coalesce(jsonb_agg(" CRED_SUMMARY " ORDER BY c.position), '[]') FROM"
                " current_credentials c WHERE c.stack_id = st.id))::text FROM stacks st"
                " WHERE st.id = $1",
                1, v, "stack");
}

/* ?version= (default the latest): rubric, evidence requirements and policy as stored. */
void gw_catalogue_credential(struct gw_req *r)
{
    const char *ver = gw_query(r, "version");
    long long n = 0;
    const char *v[2] = {r->params[0], ver};

    if (ver && bf_parse_ll(ver, 1, 1000000, &n) < 0) {
        gw_problem(r, 400, "invalid-query", "Invalid query", "version",
                   "version: must be an integer of 1..1000000");
        return;
    }
    reply_query(r,
                "SELECT jsonb_build_object('credential_id', v.credential_id, 'version',"
                " v.version, 'latest_version', c.latest_version, 'retired', c.retired_at IS NOT"
                " NULL, 'definition', v.content)::text FROM catalogue_credentials c JOIN"
                " credential_versions v ON v.credential_id = c.id AND v.version ="
                " coalesce($2::integer, c.latest_version) WHERE c.id = $1",
                2, v, "credential");
}

/* ---- public verification material: served by the issuer, we only point there ---- */

void gw_public_redirect(struct gw_req *r)
{
    char loc[1024];
    const char *rest = r->path + strlen("/v1/public");

    snprintf(loc, sizeof(loc), "%s%s", r->gw->public_base, rest);
    gw_reply_header(r, "Location", loc);
    gw_reply_json(r, 307, json_pack("{ss}", "location", loc));
}

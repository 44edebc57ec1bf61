/* SPDX-License-Identifier: Apache-2.0 */
/* The transcoder's SQL: one place for every statement, prepared lazily by name. */
#include <stdlib.h>
#include <string.h>

#include "transcoder_int.h"

/* Prepare (once per connection; bf_pg re-prepares after reconnects) and execute. */
PGresult *tc_q(struct bf_pg *pg, const struct tc_sql *s, int n, const char *const *p,
               struct bf_err *err)
{
    if (bf_pg_prepare(pg, s->name, s->sql, err) < 0)
        return NULL;
    return bf_pg_exec(pg, s->name, n, p, err);
}

int tc_cmd(struct bf_pg *pg, const struct tc_sql *s, int n, const char *const *p, long long *rows,
           struct bf_err *err)
{
    PGresult *r = tc_q(pg, s, n, p, err);

    if (!r)
        return -err->code;
    if (rows)
        *rows = strtoll(PQcmdTuples(r)[0] ? PQcmdTuples(r) : "0", NULL, 10);
    PQclear(r);
    return 0;
}

/* A column of row 0..n as a string, NULL for SQL NULL. */
const char *tc_val(const PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col) ? NULL : PQgetvalue(r, row, col);
}

const struct tc_sql tc_sql_tenant = {"tc_tenant", "SELECT 1 FROM tenants WHERE id = $1"};

const struct tc_sql tc_sql_exists = {"tc_sub_exists",
                                     "SELECT 1 FROM submissions WHERE tenant_id = $1 AND id = $2"};

const struct tc_sql tc_sql_pilot = {"tc_pilot",
                                    "SELECT 1 FROM pilots WHERE tenant_id = $1 AND id = $2"};

const struct tc_sql tc_sql_educator = {
    "tc_educator", "INSERT INTO educators (tenant_id, id, name, email, school_id, district_id)"
                   " VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (tenant_id, id) DO UPDATE SET"
                   " name = coalesce(EXCLUDED.name, educators.name),"
                   " email = coalesce(EXCLUDED.email, educators.email),"
                   " school_id = EXCLUDED.school_id, district_id = EXCLUDED.district_id"};

const struct tc_sql tc_sql_submission = {
    "tc_submission",
    "INSERT INTO submissions (tenant_id, id, educator_id, credential_id, credential_version,"
    " attempt, previous_submission_id, pilot_id, source, event_id, submitted_at)"
    " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, to_timestamp($11::bigint / 1000.0))"
    " ON CONFLICT (tenant_id, id) DO NOTHING"};

const struct tc_sql tc_sql_lock_sub = {
    "tc_lock_sub",
    "SELECT state, credential_id, credential_version, attempt, previous_submission_id"
    " FROM submissions WHERE tenant_id = $1 AND id = $2 FOR UPDATE"};

const struct tc_sql tc_sql_item = {
    "tc_item",
    "INSERT INTO evidence_items (tenant_id, submission_id, item_id, position, kind, requirement,"
    " source_uri, declared_sha256, declared_bytes) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
    " ON CONFLICT DO NOTHING"};

const struct tc_sql tc_sql_job = {
    "tc_job", "INSERT INTO transcoder_jobs (tenant_id, submission_id, item_id, inline_text,"
              " max_duration_s) SELECT $1::text, $2::text, $3::text, $4::text, $5::int WHERE "
              "EXISTS (SELECT 1 FROM evidence_items"
              " WHERE tenant_id = $1 AND submission_id = $2 AND item_id = $3 AND state = 'pending')"
              " ON CONFLICT DO NOTHING"};

const struct tc_sql tc_sql_set_state = {
    "tc_set_state",
    "UPDATE submissions SET state = $3, rejected_reason = coalesce($4, rejected_reason)"
    " WHERE tenant_id = $1 AND id = $2"};

const struct tc_sql tc_sql_withdraw = {
    "tc_withdraw",
    "UPDATE submissions SET state = 'withdrawn', withdrawn_reason = $3"
    " WHERE tenant_id = $1 AND id = $2 AND state NOT IN ('rejected', 'withdrawn', 'decided')"};

const struct tc_sql tc_sql_cancel = {
    "tc_cancel", "DELETE FROM transcoder_jobs WHERE tenant_id = $1 AND submission_id = $2"
                 " AND (lease_owner IS NULL OR lease_until < now())"};

/* Claim up to $2 jobs of one pool ($4: document and text jobs, or media jobs): pending items
 * of processing submissions whose lease is free or expired. SKIP LOCKED lets instances claim
 * side by side without waiting on each other. */
/*
 * The jobs a runner may take now: pending items of submissions still processing, with no
 * live lease. One definition for the claim and the back-pressure count: a count that also
 * saw items of withdrawn or rejected submissions would never drain and keep the consumer
 * paused for good.
 */
#define TC_CLAIMABLE                                                                               \
    "FROM transcoder_jobs j JOIN evidence_items e USING (tenant_id, submission_id, item_id)"       \
    " JOIN submissions s ON s.tenant_id = j.tenant_id AND s.id = j.submission_id"                  \
    " WHERE e.state = 'pending' AND s.state = 'processing'"                                        \
    " AND (j.lease_until IS NULL OR j.lease_until < now())"

const struct tc_sql tc_sql_claim = {
    "tc_claim",
    "WITH c AS (SELECT j.tenant_id, j.submission_id, j.item_id " TC_CLAIMABLE
    " AND (e.kind IN ('document', 'text')) = $4::boolean"
    " ORDER BY j.created_at LIMIT $2 FOR UPDATE OF j SKIP LOCKED)"
    " UPDATE transcoder_jobs j SET lease_owner = $1,"
    " lease_until = now() + ($3::bigint * interval '1 millisecond'), attempts = j.attempts + 1"
    " FROM c, evidence_items e WHERE j.tenant_id = c.tenant_id"
    " AND j.submission_id = c.submission_id AND j.item_id = c.item_id"
    " AND e.tenant_id = j.tenant_id AND e.submission_id = j.submission_id"
    " AND e.item_id = j.item_id"
    " RETURNING j.tenant_id, j.submission_id, j.item_id, e.kind, e.source_uri,"
    " e.declared_sha256, j.inline_text, j.max_duration_s, j.attempts"};

/*
 * Renew the leases of the jobs running now ($3: [[tenant, submission, item], ...]) and no
 * others: a job whose result could not be saved (database down) must let its lease lapse
 * so that it runs again, not be kept alive for as long as this process lives.
 */
const struct tc_sql tc_sql_renew = {
    "tc_renew", "UPDATE transcoder_jobs j SET lease_until = now() + ($2::bigint * interval"
                " '1 millisecond') FROM jsonb_array_elements($3::jsonb) r WHERE"
                " j.lease_owner = $1 AND j.tenant_id = r ->> 0 AND j.submission_id = r ->> 1"
                " AND j.item_id = r ->> 2"};

const struct tc_sql tc_sql_release = {
    "tc_release",
    "UPDATE transcoder_jobs SET lease_owner = NULL, lease_until = now() + ($5::bigint *"
    " interval '1 millisecond') WHERE tenant_id = $1 AND submission_id = $2 AND item_id = $3"
    " AND lease_owner = $4"};

const struct tc_sql tc_sql_backlog = {"tc_backlog", "SELECT count(*) " TC_CLAIMABLE};

const struct tc_sql tc_sql_lock_item = {
    "tc_lock_item",
    "SELECT e.state, s.state, e.kind FROM evidence_items e JOIN submissions s"
    " ON s.tenant_id = e.tenant_id AND s.id = e.submission_id"
    " WHERE e.tenant_id = $1 AND e.submission_id = $2 AND e.item_id = $3 FOR UPDATE OF e, s"};

const struct tc_sql tc_sql_rendition = {
    "tc_rendition",
    "INSERT INTO renditions (tenant_id, submission_id, item_id, name, storage_key, content_type,"
    " width, height, duration_ms, bytes, sha256, codec, audio_codec)"
    " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
    " ON CONFLICT (tenant_id, submission_id, item_id, name) DO UPDATE SET"
    " storage_key = EXCLUDED.storage_key, content_type = EXCLUDED.content_type,"
    " width = EXCLUDED.width, height = EXCLUDED.height, duration_ms = EXCLUDED.duration_ms,"
    " bytes = EXCLUDED.bytes, sha256 = EXCLUDED.sha256, codec = EXCLUDED.codec,"
    " audio_codec = EXCLUDED.audio_codec"};

const struct tc_sql tc_sql_processed = {
    "tc_processed",
    "UPDATE evidence_items SET state = 'processed', processed_at = now(),"
    " attempts = attempts + 1, sha256 = $4, content_type = $5, bytes = $6::bigint,"
    " duration_ms = $7::bigint, width = $8::int, height = $9::int, storage_key = $10"
    " WHERE tenant_id = $1 AND submission_id = $2 AND item_id = $3"};

const struct tc_sql tc_sql_failed = {
    "tc_failed",
    "UPDATE evidence_items SET state = 'failed', processed_at = now(), attempts = attempts + 1,"
    " failure_code = $4, failure_reason = $5"
    " WHERE tenant_id = $1 AND submission_id = $2 AND item_id = $3"};

const struct tc_sql tc_sql_job_done = {
    "tc_job_done",
    "UPDATE transcoder_jobs SET lease_owner = NULL, lease_until = NULL, metadata = $4::jsonb"
    " WHERE tenant_id = $1 AND submission_id = $2 AND item_id = $3"};

const struct tc_sql tc_sql_counts = {
    "tc_counts",
    "SELECT count(*) FILTER (WHERE state = 'pending'), count(*) FILTER (WHERE state = 'failed')"
    " FROM evidence_items WHERE tenant_id = $1 AND submission_id = $2"};

const struct tc_sql tc_sql_failures = {
    "tc_failures",
    "SELECT item_id, failure_code, failure_reason, requirement FROM evidence_items"
    " WHERE tenant_id = $1 AND submission_id = $2 AND state = 'failed' ORDER BY position"};

const struct tc_sql tc_sql_refs = {
    "tc_refs",
    "SELECT e.item_id, e.kind, e.requirement, r.name, r.storage_key, r.content_type, r.width,"
    " r.height, r.duration_ms, r.bytes, r.sha256, r.codec FROM evidence_items e"
    " JOIN renditions r USING (tenant_id, submission_id, item_id)"
    " WHERE e.tenant_id = $1 AND e.submission_id = $2 ORDER BY e.position, e.item_id, r.name"};

const struct tc_sql tc_sql_sub_info = {
    "tc_sub_info", "SELECT credential_id, credential_version, attempt, previous_submission_id"
                   " FROM submissions WHERE tenant_id = $1 AND id = $2"};

const struct tc_sql tc_sql_release_all = {
    "tc_release_all", "UPDATE transcoder_jobs SET lease_owner = NULL, lease_until = NULL"
                      " WHERE lease_owner = $1"};

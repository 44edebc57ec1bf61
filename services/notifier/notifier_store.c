/* SPDX-License-Identifier: Apache-2.0 */
/* Claiming due deliveries fairly under per-endpoint caps, and recording each attempt. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "badgeflow/log.h"
#include "notifier.h"

/*
 * Step 1 of a claim: the endpoint whose oldest due delivery is the oldest, among endpoints with
 * spare capacity, locked (SKIP LOCKED) so claimers of one endpoint take turns and its in-flight
 * count stays exact. Driven by endpoints, one index probe each: a huge backlog of one endpoint
 * never hides another endpoint's work.
 */
#define PICK_STMT "notifier_pick"
#define PICK_SQL                                                                                   \
    "SELECT e.id FROM webhook_endpoints e CROSS JOIN LATERAL ("                                    \
    "  SELECT d.next_attempt_at AS due FROM webhook_deliveries d WHERE d.endpoint_id = e.id"       \
    "   AND d.state IN ('pending', 'failed') AND d.next_attempt_at <= now()"                       \
    "   AND (d.claimed_until IS NULL OR d.claimed_until <= now())"                                 \
    "   ORDER BY d.next_attempt_at LIMIT 1) c"                                                     \
    " WHERE e.disabled_at IS NULL AND (SELECT count(*) FROM webhook_deliveries f"                  \
    "   WHERE f.endpoint_id = e.id AND f.claimed_until > now()) < least(e.max_in_flight, $1)"      \
    " ORDER BY c.due LIMIT 1 FOR UPDATE OF e SKIP LOCKED"

/* Step 2, the endpoint locked: lease its oldest due delivery (a new statement: a fresh
 * snapshot sees every claim committed before we got the lock). */
#define TAKE_STMT "notifier_take"
#define TAKE_SQL                                                                                   \
    "WITH pick AS (SELECT id FROM webhook_deliveries WHERE endpoint_id = $1"                       \
    "   AND state IN ('pending', 'failed') AND next_attempt_at <= now()"                           \
    "   AND (claimed_until IS NULL OR claimed_until <= now())"                                     \
    "   ORDER BY next_attempt_at LIMIT 1 FOR UPDATE SKIP LOCKED)"                                  \
    " UPDATE webhook_deliveries d SET claimed_until = clock_timestamp() + make_interval(secs => "  \
    "$2),"                                                                                         \
    "   attempts = d.attempts + 1 FROM pick, webhook_endpoints e"                                  \
    " WHERE d.id = pick.id AND e.id = d.endpoint_id AND (SELECT count(*) FROM webhook_deliveries " \
    "f"                                                                                            \
    "   WHERE f.endpoint_id = $1 AND f.claimed_until > now()) < least(e.max_in_flight, $3)"        \
    " RETURNING d.id, d.endpoint_id, d.tenant_id, d.payload, d.attempts,"                          \
    "   (extract(epoch FROM d.created_at) * 1000)::bigint, e.url, encode(e.secret_enc, 'hex'),"    \
    "   CASE WHEN e.previous_secret_until > now() THEN encode(e.previous_secret_enc, 'hex') END"

static int hex_decode(const char *hex, unsigned char *out, size_t cap, size_t *len)
{
    size_t n = strlen(hex);

    if (n % 2 || n / 2 > cap)
        return -BF_EINVAL;
    for (size_t i = 0; i < n / 2; i++) {
        unsigned v;
        if (sscanf(hex + 2 * i, "%2x", &v) != 1)
            return -BF_EINVAL;
        out[i] = (unsigned char)v;
    }
    *len = n / 2;
    return 0;
}

static int job_fill(PGresult *r, struct notifier_job *job, struct bf_err *err)
{
    long long attempt = 0, created = 0;

    bf_strlcpy(job->id, PQgetvalue(r, 0, 0), sizeof(job->id));
    bf_strlcpy(job->endpoint_id, PQgetvalue(r, 0, 1), sizeof(job->endpoint_id));
    bf_strlcpy(job->tenant_id, PQgetvalue(r, 0, 2), sizeof(job->tenant_id));
    job->payload = strdup(PQgetvalue(r, 0, 3));
    job->url = strdup(PQgetvalue(r, 0, 6));
    if (!job->payload || !job->url)
        return bf_err_set(err, BF_ENOMEM, "claim: out of memory");
    if (bf_parse_ll(PQgetvalue(r, 0, 4), 1, 1 << 30, &attempt) < 0 ||
        bf_parse_ll(PQgetvalue(r, 0, 5), 0, INT64_MAX, &created) < 0 ||
        hex_decode(PQgetvalue(r, 0, 7), job->secret, sizeof(job->secret), &job->secret_len) < 0 ||
        (!PQgetisnull(r, 0, 8) &&
         hex_decode(PQgetvalue(r, 0, 8), job->prev, sizeof(job->prev), &job->prev_len) < 0))
        return bf_err_set(err, BF_EINTERNAL, "claim: unexpected row for delivery %s", job->id);
    job->attempt = (int)attempt;
    job->created_ms = created;
    return 0;
}

void notifier_job_clear(struct notifier_job *job)
{
    free(job->url);
    free(job->payload);
    memset(job, 0, sizeof(*job));
}

/* Both steps in the caller's transaction: 1 and job filled, or 0. */
static int claim_tx(struct bf_pg *pg, const char *cap, const char *lease, struct notifier_job *job,
                    struct bf_err *err)
{
    const char *p1[1] = {cap};
    PGresult *r = bf_pg_exec(pg, PICK_STMT, 1, p1, err);
    char endpoint[BF_UUID_STRLEN + 1];
    int rc;

    if (!r)
        return -err->code;
    if (PQntuples(r) == 0) {
        PQclear(r);
        return 0;
    }
    bf_strlcpy(endpoint, PQgetvalue(r, 0, 0), sizeof(endpoint));
    PQclear(r);
    const char *p2[3] = {endpoint, lease, cap};
    r = bf_pg_exec(pg, TAKE_STMT, 3, p2, err);
    if (!r)
        return -err->code;
    rc = PQntuples(r) == 1 ? job_fill(r, job, err) : 0;
    if (rc == 0 && PQntuples(r) == 1)
        rc = 1;
    PQclear(r);
    return rc;
}

int notifier_claim(struct bf_pg *pg, int max_in_flight, int lease_s, struct notifier_job *job,
                   struct bf_err *err)
{
    char cap[16], lease[16];
    int rc;

    memset(job, 0, sizeof(*job));
    snprintf(cap, sizeof(cap), "%d", max_in_flight);
    snprintf(lease, sizeof(lease), "%d", lease_s);
    if (bf_pg_prepare(pg, PICK_STMT, PICK_SQL, err) < 0 ||
        bf_pg_prepare(pg, TAKE_STMT, TAKE_SQL, err) < 0 || bf_pg_begin(pg, err) < 0)
        return -err->code;
    rc = claim_tx(pg, cap, lease, job, err);
    if (rc > 0 && bf_pg_commit(pg, err) < 0)
        rc = -err->code;
    if (rc <= 0) {
        bf_pg_rollback(pg);
        notifier_job_clear(job);
    }
    return rc;
}

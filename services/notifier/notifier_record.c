/* SPDX-License-Identifier: Apache-2.0 */
/* Recording an attempt: the attempt row, the delivery's next state, the endpoint's failing run,
 * and disabling an endpoint that failed for the whole horizon (telling its owner). */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "badgeflow/log.h"
#include "notifier.h"

#define ATTEMPT_STMT "notifier_attempt"
#define ATTEMPT_SQL                                                                                \
    "INSERT INTO webhook_attempts (delivery_id, tenant_id, attempt, started_at, duration_ms,"      \
    " status, error, response) VALUES ($1, $2, $3, to_timestamp($4::bigint / 1000.0), $5, $6,"     \
    " $7, $8) ON CONFLICT (delivery_id, attempt) DO NOTHING"

#define DELIVERED_STMT "notifier_delivered"
#define DELIVERED_SQL                                                                              \
    "UPDATE webhook_deliveries SET state = 'delivered', delivered_at = now(), last_status = $2,"   \
    " last_error = NULL, claimed_until = NULL WHERE id = $1"

#define HEALED_STMT "notifier_healed"
#define HEALED_SQL                                                                                 \
    "UPDATE webhook_endpoints SET failing_since = NULL WHERE id = $1 AND failing_since IS NOT "    \
    "NULL"

/* A failure retries at the back-off, but never later than the horizon after the delivery's
 * first attempt (so a last try happens there), and past it the delivery is abandoned. The
 * horizon counts from the first attempt, as the endpoint's failing run does: a delivery
 * abandoned during a run that began with it always disables the endpoint too. */
#define FAILED_STMT "notifier_failed"
#define FAILED_SQL                                                                                 \
    "WITH first AS (SELECT min(started_at) + make_interval(secs => $5::bigint / 1000.0) AS end_at" \
    "   FROM webhook_attempts WHERE delivery_id = $1)"                                             \
    " UPDATE webhook_deliveries SET last_status = $2, last_error = $3, claimed_until = NULL,"      \
    " state = CASE WHEN now() >= first.end_at THEN 'abandoned' ELSE 'failed' END,"                 \
    " next_attempt_at = greatest(now(), least(now() + make_interval(secs => $4::bigint / 1000.0)," \
    "   first.end_at))"                                                                            \
    " FROM first WHERE id = $1 RETURNING state"

/* The endpoint's failing run; disabled in the same statement once it lasted the horizon. */
#define FAILING_STMT "notifier_failing"
#define FAILING_SQL                                                                                \
    "UPDATE webhook_endpoints SET failing_since = coalesce(failing_since,"                         \
    "   to_timestamp($2::bigint / 1000.0)),"                                                       \
    " disabled_at = CASE WHEN disabled_at IS NULL AND coalesce(failing_since,"                     \
    "   to_timestamp($2::bigint / 1000.0)) <= now() - make_interval(secs => $3::bigint / 1000.0)"  \
    "   THEN now() ELSE disabled_at END,"                                                          \
    " disabled_reason = CASE WHEN disabled_at IS NULL AND coalesce(failing_since,"                 \
    "   to_timestamp($2::bigint / 1000.0)) <= now() - make_interval(secs => $3::bigint / 1000.0)"  \
    "   THEN $4 ELSE disabled_reason END"                                                          \
    " WHERE id = $1 RETURNING disabled_at = now(), url,"                                           \
    " (extract(epoch FROM failing_since) * 1000)::bigint,"                                         \
    " (extract(epoch FROM disabled_at) * 1000)::bigint"

#define RUN_COUNT_STMT "notifier_run_count"
#define RUN_COUNT_SQL                                                                              \
    "SELECT count(*) FROM webhook_attempts a JOIN webhook_deliveries d ON d.id = a.delivery_id"    \
    " WHERE d.endpoint_id = $1 AND a.started_at >= to_timestamp($2::bigint / 1000.0)"

static const struct {
    const char *name, *sql;
} stmts[] = {
    {ATTEMPT_STMT, ATTEMPT_SQL}, {DELIVERED_STMT, DELIVERED_SQL}, {HEALED_STMT, HEALED_SQL},
    {FAILED_STMT, FAILED_SQL},   {FAILING_STMT, FAILING_SQL},     {RUN_COUNT_STMT, RUN_COUNT_SQL},
};

static int prepare_all(struct bf_pg *pg, struct bf_err *err)
{
    for (size_t i = 0; i < BF_ARRAY_LEN(stmts); i++)
        if (bf_pg_prepare(pg, stmts[i].name, stmts[i].sql, err) < 0)
            return -err->code;
    return 0;
}

static int attempt_insert(struct bf_pg *pg, const struct notifier_job *job,
                          const struct notifier_outcome *o, struct bf_err *err)
{
    char attempt[16], started[24], dur[24], status[16];
    const char *p[8] = {job->id,
                        job->tenant_id,
                        attempt,
                        started,
                        dur,
                        o->status ? status : NULL,
                        o->error[0] ? o->error : NULL,
                        o->response[0] ? o->response : NULL};

    snprintf(attempt, sizeof(attempt), "%d", job->attempt);
    snprintf(started, sizeof(started), "%" PRId64, o->started_ms);
    snprintf(dur, sizeof(dur), "%" PRId64, o->duration_ms);
    snprintf(status, sizeof(status), "%ld", o->status);
    return bf_pg_cmd(pg, ATTEMPT_STMT, 8, p, NULL, err);
}

static int record_success(struct bf_pg *pg, const struct notifier_job *job,
                          const struct notifier_outcome *o, struct bf_err *err)
{
    char status[16];
    const char *p[2] = {job->id, status};
    const char *e[1] = {job->endpoint_id};

    snprintf(status, sizeof(status), "%ld", o->status);
    if (bf_pg_cmd(pg, DELIVERED_STMT, 2, p, NULL, err) < 0 ||
        bf_pg_cmd(pg, HEALED_STMT, 1, e, NULL, err) < 0)
        return -err->code;
    return 0;
}

/* webhook.endpoint_disabled for the owner (and the tenant's other endpoints). */
static int emit_disabled(struct bf_daemon *d, struct bf_pg *pg, const struct notifier_job *job,
                         const struct notifier_outcome *o, PGresult *r, struct bf_err *err)
{
    char since[BF_TIME_STRLEN], at[BF_TIME_STRLEN], from[24];
    long long since_ms = 0, at_ms = 0, failed = 0;
    const char *p[2] = {job->endpoint_id, from};
    PGresult *c;
    json_t *data;
    int rc;

    if (bf_parse_ll(PQgetvalue(r, 0, 2), 0, INT64_MAX, &since_ms) < 0 ||
        bf_parse_ll(PQgetvalue(r, 0, 3), 0, INT64_MAX, &at_ms) < 0)
        return bf_err_set(err, BF_EINTERNAL, "endpoint %s: bad times", job->endpoint_id);
    bf_time_format(since_ms, since);
    bf_time_format(at_ms, at);
    snprintf(from, sizeof(from), "%lld", since_ms);
    c = bf_pg_exec(pg, RUN_COUNT_STMT, 2, p, err);
    if (!c)
        return -err->code;
    if (bf_parse_ll(PQgetvalue(c, 0, 0), 0, 100000000, &failed) < 0 || failed < 1)
        failed = 1;
    PQclear(c);
    data = json_pack("{sssssssssssIss}", "endpoint_id", job->endpoint_id, "tenant_id",
                     job->tenant_id, "url", PQgetvalue(r, 0, 1), "failing_since", since, "reason",
                     o->error, "failed_attempts", (json_int_t)failed, "disabled_at", at);
    if (!data)
        return bf_err_set(err, BF_ENOMEM, "endpoint_disabled: out of memory");
    json_object_set_new(data, "last_status",
                        o->status ? json_integer((json_int_t)o->status) : json_null());
    struct bf_emit ev = {"notifications",
                         "org.badgeflow.webhook.endpoint_disabled.v1",
                         job->tenant_id,
                         job->endpoint_id,
                         NULL,
                         data};
    rc = bf_daemon_emit_pg(d, pg, &ev, NULL, err);
    json_decref(data);
    if (rc == 0)
        bf_log_kv(BF_LOG_WARN, "BF_NOTIFIER_DISABLED",
                  "webhook endpoint disabled after failing"
                  " for the whole retry horizon",
                  "endpoint_id", job->endpoint_id, "tenant_id", job->tenant_id, "reason", o->error,
                  NULL);
    return rc;
}

static int record_failure(struct bf_daemon *d, struct bf_pg *pg, const struct notifier_cfg *nc,
                          const struct notifier_job *job, const struct notifier_outcome *o,
                          struct bf_err *err)
{
    char status[16], delay[24], horizon[24], started[24];
    int64_t ms = notifier_backoff_ms(job->attempt, nc->retry_base_ms, nc->retry_max_ms,
                                     (double)rand() / ((double)RAND_MAX + 1.0));
    const char *p[5] = {job->id, o->status ? status : NULL, o->error, delay, horizon};
    const char *e[4] = {job->endpoint_id, started, horizon, o->error};
    PGresult *r;
    int rc = 0;

    snprintf(status, sizeof(status), "%ld", o->status);
    snprintf(delay, sizeof(delay), "%" PRId64, ms);
    snprintf(horizon, sizeof(horizon), "%" PRId64, nc->horizon_ms);
    snprintf(started, sizeof(started), "%" PRId64, o->started_ms);
    if (bf_pg_cmd(pg, FAILED_STMT, 5, p, NULL, err) < 0)
        return -err->code;
    r = bf_pg_exec(pg, FAILING_STMT, 4, e, err);
    if (!r)
        return -err->code;
    if (PQntuples(r) == 1 && strcmp(PQgetvalue(r, 0, 0), "t") == 0)
        rc = emit_disabled(d, pg, job, o, r, err);
    PQclear(r);
    return rc;
}

struct record_args {
    struct bf_daemon *d;
    const struct notifier_cfg *nc;
    const struct notifier_job *job;
    const struct notifier_outcome *o;
};

static int record_tx(struct bf_pg *pg, void *arg, struct bf_err *err)
{
    struct record_args *a = arg;

    if (attempt_insert(pg, a->job, a->o, err) < 0)
        return -err->code;
    return a->o->ok ? record_success(pg, a->job, a->o, err)
                    : record_failure(a->d, pg, a->nc, a->job, a->o, err);
}

int notifier_record(struct bf_daemon *d, struct bf_pg *pg, const struct notifier_cfg *nc,
                    const struct notifier_job *job, const struct notifier_outcome *o,
                    struct bf_err *err)
{
    struct record_args a = {d, nc, job, o};

    if (prepare_all(pg, err) < 0)
        return -err->code;
    return bf_pg_tx(pg, record_tx, &a, err);
}

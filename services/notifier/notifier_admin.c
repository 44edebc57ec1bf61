/* SPDX-License-Identifier: Apache-2.0 */
/* Endpoint administration for the CLI and tests: add, rotate the secret, re-enable, replay.
 * Writes secrets in the one format the gateway shares (notifier_secret.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "badgeflow/json.h"
#include "badgeflow/util.h"
#include "notifier.h"

#define ADD_SQL                                                                                    \
    "INSERT INTO webhook_endpoints (tenant_id, url, event_types, secret_enc, max_in_flight)"       \
    " VALUES ($1, $2, $3::text[], $4, $5) RETURNING id"

#define ROTATE_SQL                                                                                 \
    "UPDATE webhook_endpoints SET previous_secret_enc = secret_enc, secret_enc = $2,"              \
    " previous_secret_until = now() + make_interval(secs => $3::bigint) WHERE id = $1::uuid"

#define ENABLE_SQL                                                                                 \
    "UPDATE webhook_endpoints SET disabled_at = NULL, disabled_reason = NULL,"                     \
    " failing_since = NULL WHERE id = $1::uuid"

/* A replay is a new attempt with the same webhook-id: back to pending, due now. */
#define REPLAY_ONE_SQL                                                                             \
    "UPDATE webhook_deliveries SET state = 'pending', delivered_at = NULL, next_attempt_at = "     \
    "now()"                                                                                        \
    " WHERE id = $1::uuid"
#define REPLAY_RANGE_SQL                                                                           \
    "UPDATE webhook_deliveries SET state = 'pending', delivered_at = NULL, next_attempt_at = "     \
    "now()"                                                                                        \
    " WHERE endpoint_id = $1::uuid AND created_at >= $2::timestamptz"                              \
    " AND created_at < $3::timestamptz"

/* A PostgreSQL array literal {"a","b"} of types (ids and dots only: no quoting needed). */
static int types_literal(const char *const *types, size_t n, char *out, size_t cap,
                         struct bf_err *err)
{
    size_t used = 0;

    out[used++] = '{';
    for (size_t i = 0; i < n; i++) {
        if (!bf_json_id_valid(types[i]))
            return bf_err_set(err, BF_EINVAL, "events[%zu]: not an event type", i);
        int w = snprintf(out + used, cap - used, "%s\"%s\"", i ? "," : "", types[i]);
        if (w < 0 || (size_t)w >= cap - used - 1)
            return bf_err_set(err, BF_EINVAL, "events: too many");
        used += (size_t)w;
    }
    out[used++] = '}';
    out[used] = '\0';
    return 0;
}

int notifier_endpoint_add(struct bf_pg *pg, const unsigned char kek[NOTIFIER_KEK_LEN],
                          const char *tenant, const char *url, const char *const *types,
                          size_t ntypes, const unsigned char *secret, size_t slen,
                          int max_in_flight, char id_out[BF_UUID_STRLEN + 1], struct bf_err *err)
{
    unsigned char sealed[NOTIFIER_SEALED_MAX];
    size_t sealed_len = 0;
    char arr[4096], cap[16];
    const char *p[5] = {tenant, url, arr, (const char *)sealed, cap};
    int len[5] = {0}, fmt[5] = {0, 0, 0, 1, 0};
    PGresult *r;

    if (types_literal(types, ntypes, arr, sizeof(arr), err) < 0 ||
        notifier_secret_seal(kek, secret, slen, sealed, &sealed_len, err) < 0 ||
        bf_pg_prepare(pg, "notifier_endpoint_add", ADD_SQL, err) < 0)
        return -err->code;
    len[3] = (int)sealed_len;
    snprintf(cap, sizeof(cap), "%d", max_in_flight);
    r = bf_pg_execb(pg, "notifier_endpoint_add", 5, p, len, fmt, err);
    if (!r)
        return -err->code;
    bf_strlcpy(id_out, PQgetvalue(r, 0, 0), BF_UUID_STRLEN + 1);
    PQclear(r);
    return 0;
}

/* Run sql (prepared as name) for its effect; -BF_ENOTFOUND if it touched no row. */
static int cmd_one(struct bf_pg *pg, const char *name, const char *sql, int n, const char *const *p,
                   const int *len, const int *fmt, long long *rows, struct bf_err *err)
{
    PGresult *r;
    long long got;

    if (bf_pg_prepare(pg, name, sql, err) < 0)
        return -err->code;
    r = bf_pg_execb(pg, name, n, p, len, fmt, err);
    if (!r)
        return -err->code;
    got = strtoll(PQcmdTuples(r), NULL, 10);
    PQclear(r);
    if (rows)
        *rows = got;
    return got > 0 || rows ? 0 : bf_err_set(err, BF_ENOTFOUND, "no such endpoint or delivery");
}

int notifier_endpoint_rotate(struct bf_pg *pg, const unsigned char kek[NOTIFIER_KEK_LEN],
                             const char *endpoint_id, const unsigned char *secret, size_t slen,
                             long long grace_s, struct bf_err *err)
{
    unsigned char sealed[NOTIFIER_SEALED_MAX];
    size_t sealed_len = 0;
    char grace[24];
    const char *p[3] = {endpoint_id, (const char *)sealed, grace};
    int len[3] = {0}, fmt[3] = {0, 1, 0};

    if (!bf_uuid_valid(endpoint_id))
        return bf_err_set(err, BF_EINVAL, "endpoint: must be a UUID");
    if (notifier_secret_seal(kek, secret, slen, sealed, &sealed_len, err) < 0)
        return -err->code;
    len[1] = (int)sealed_len;
    snprintf(grace, sizeof(grace), "%lld", grace_s);
    return cmd_one(pg, "notifier_rotate", ROTATE_SQL, 3, p, len, fmt, NULL, err);
}

int notifier_endpoint_enable(struct bf_pg *pg, const char *endpoint_id, struct bf_err *err)
{
    const char *p[1] = {endpoint_id};

    if (!bf_uuid_valid(endpoint_id))
        return bf_err_set(err, BF_EINVAL, "endpoint: must be a UUID");
    return cmd_one(pg, "notifier_enable", ENABLE_SQL, 1, p, NULL, NULL, NULL, err);
}

int notifier_replay(struct bf_pg *pg, const char *delivery_id, const char *endpoint_id,
                    const char *since, const char *until, long long *count, struct bf_err *err)
{
    int64_t t;

    if (delivery_id) {
        const char *p[1] = {delivery_id};
        if (!bf_uuid_valid(delivery_id))
            return bf_err_set(err, BF_EINVAL, "delivery: must be a UUID");
        *count = 1;
        return cmd_one(pg, "notifier_replay_one", REPLAY_ONE_SQL, 1, p, NULL, NULL, NULL, err);
    }
    if (!endpoint_id || !bf_uuid_valid(endpoint_id))
        return bf_err_set(err, BF_EINVAL, "endpoint: must be a UUID");
    if (!since || !until || bf_time_parse(since, &t) < 0 || bf_time_parse(until, &t) < 0)
        return bf_err_set(err, BF_EINVAL, "since, until: must be RFC 3339 times");
    const char *p[3] = {endpoint_id, since, until};
    return cmd_one(pg, "notifier_replay_range", REPLAY_RANGE_SQL, 3, p, NULL, NULL, count, err);
}

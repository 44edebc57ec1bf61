/* SPDX-License-Identifier: Apache-2.0 */
/* Idempotent writes: the first reply to (tenant, scope, key) is stored and replayed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "badgeflow/util.h"
#include "gateway.h"

int gw_idem_begin(struct gw_req *r, const char *scope, const char *key, const char *sha,
                  enum gw_idem *out, struct bf_err *err)
{
    const char *v[3] = {r->key.tenant_id, scope, key};
    PGresult *res;
    int rc;

    /* Serialise concurrent requests with the same key: the second sees the first's row. */
    rc = gw_exec(r->pg, "SELECT pg_advisory_xact_lock(hashtext($1 || '/' || $2 || '/' || $3))", 3,
                 v, err);
    if (rc < 0)
        return rc;
    res = bf_pg_query(r->pg,
                      "SELECT request_sha256, status, response::text FROM gateway_requests"
                      " WHERE tenant_id = $1 AND scope = $2 AND idem_key = $3",
                      3, v, err);
    if (!res)
        return -err->code;
    *out = GW_IDEM_NEW;
    if (PQntuples(res) == 1) {
        if (strcmp(PQgetvalue(res, 0, 0), sha) != 0) {
            *out = GW_IDEM_CONFLICT;
        } else {
            long long st = 500;
            *out = GW_IDEM_REPLAY;
            if (bf_parse_ll(PQgetvalue(res, 0, 1), 100, 599, &st) < 0)
                st = 500;
            gw_reply_text(r, (int)st, PQgetvalue(res, 0, 2));
        }
    }
    PQclear(res);
    return 0;
}

int gw_idem_store(struct gw_req *r, const char *scope, const char *key, const char *sha,
                  struct bf_err *err)
{
    char status[8];
    const char *v[6] = {r->key.tenant_id, scope, key, sha, status, r->out};

    snprintf(status, sizeof(status), "%d", r->status);
    return gw_exec(r->pg,
                   "INSERT INTO gateway_requests (tenant_id, scope, idem_key, request_sha256,"
                   " status, response) VALUES ($1, $2, $3, $4, $5::integer, $6::jsonb)",
                   6, v, err);
}

/* SPDX-License-Identifier: Apache-2.0 */
/* Revocation: the flag, the status-list bit and credential.revoked in one transaction; a
 * revoked component revokes the educator's valid stack credential of its stack too. */
#include <string.h>

#include "badgeflow/log.h"
#include "badgeflow/util.h"
#include "issuer.h"

struct revoke {
    const char *base;
    const struct issuer_emitter *em;
    const char *cred_id, *reason, *by;
};

static int emit_revoked(struct bf_pg *pg, const struct revoke *rv, PGresult *row,
                        struct bf_err *err)
{
    char url[ISSUER_URL_MAX + 128], now[32];
    const char *kind = PQgetvalue(row, 0, 1), *tenant = PQgetvalue(row, 0, 2);
    const char *educator = PQgetvalue(row, 0, 3), *sub = PQgetvalue(row, 0, 4);
    long long idx = 0;
    int rc;

    if (bf_parse_ll(PQgetvalue(row, 0, 6), 0, 1 << 30, &idx) < 0)
        return bf_err_set(err, BF_EINTERNAL, "status index");
    issuer_status_url(rv->base, tenant, PQgetvalue(row, 0, 5), url, sizeof(url));
    issuer_time_iso(bf_now_ms() / 1000, now);
    json_t *d =
        json_pack("{sssssssssssssss{sssI}}", "credential_id", rv->cred_id, "kind", kind,
                  "tenant_id", tenant, "educator_id", educator, "reason", rv->reason, "revoked_by",
                  rv->by, "revoked_at", now, "status_list", "url", url, "index", (json_int_t)idx);
    if (!d)
        return bf_err_set(err, BF_ENOMEM, "out of memory");
    if (kind[0] == 'c')
        json_object_set_new(d, "submission_id", json_string(sub));
    struct bf_emit e = {"credentials",
                        "org.badgeflow.credential.revoked.v1",
                        kind[0] == 'c' ? sub : educator,
                        rv->cred_id,
                        NULL,
                        d};
    rc = issuer_emit(rv->em, pg, &e, err);
    json_decref(d);
    return rc;
}

static int revoke_cred(struct bf_pg *pg, const struct revoke *rv, struct bf_err *err);

/* A revoked component: the stack it completed no longer holds (docs/issuer.md, "Stacks"). */
static int revoke_stack_of(struct bf_pg *pg, const struct revoke *rv, PGresult *row,
                           struct bf_err *err)
{
    const char *p[3] = {PQgetvalue(row, 0, 2), PQgetvalue(row, 0, 3), PQgetvalue(row, 0, 7)};
    char reason[300];
    PGresult *res;
    int rc = 0;

    if (strcmp(PQgetvalue(row, 0, 1), "credential") != 0 || !p[2][0])
        return 0;
    res = ISSUER_Q(pg,
                   "SELECT id FROM credentials WHERE tenant_id = $1 AND educator_id = $2"
                   " AND kind = 'stack' AND stack_id = $3 AND revoked_at IS NULL",
                   3, p, err);
    if (!res)
        return -err->code;
    snprintf(reason, sizeof(reason), "component credential %s was revoked", rv->cred_id);
    for (int i = 0; i < PQntuples(res) && rc == 0; i++) {
        struct revoke sub = {rv->base, rv->em, PQgetvalue(res, i, 0), reason, "issuer"};
        rc = revoke_cred(pg, &sub, err);
    }
    PQclear(res);
    return rc;
}

static int not_revocable(struct bf_pg *pg, const struct revoke *rv, struct bf_err *err)
{
    const char *p[1] = {rv->cred_id};
    PGresult *res = ISSUER_Q(pg, "SELECT 1 FROM credentials WHERE id = $1::uuid", 1, p, err);
    int rc;

    if (!res)
        return -err->code;
    rc = PQntuples(res)
             ? bf_err_set(err, BF_ECONFLICT, "credential %s: revoked already", rv->cred_id)
             : bf_err_set(err, BF_ENOTFOUND, "credential %s: not found", rv->cred_id);
    PQclear(res);
    return rc;
}

static int revoke_cred(struct bf_pg *pg, const struct revoke *rv, struct bf_err *err)
{
    const char *p[3] = {rv->cred_id, rv->reason, rv->by};
    PGresult *res = ISSUER_Q(pg,
                             "UPDATE credentials SET revoked_at = now(), revoke_reason = $2,"
                             " revoked_by = $3 WHERE id = $1::uuid AND revoked_at IS NULL"
                             " RETURNING id, kind, tenant_id, educator_id,"
                             " coalesce(submission_id, ''), status_list_id, status_index,"
                             " coalesce(stack_id, '')",
                             3, p, err);
    long long idx = 0;
    int rc;

    if (!res)
        return -err->code;
    if (PQntuples(res) == 0) {
        PQclear(res);
        return not_revocable(pg, rv, err);
    }
    rc = bf_parse_ll(PQgetvalue(res, 0, 6), 0, 1 << 30, &idx) < 0
             ? bf_err_set(err, BF_EINTERNAL, "status index")
             : issuer_status_set(pg, PQgetvalue(res, 0, 5), (int)idx, err);
    if (rc == 0)
        rc = emit_revoked(pg, rv, res, err);
    if (rc == 0)
        rc = revoke_stack_of(pg, rv, res, err);
    if (rc == 0)
        bf_metrics_add(issuer_m.revoked, PQgetvalue(res, 0, 1), 1);
    if (rc == 0)
        bf_log_kv(BF_LOG_INFO, "BF_ISSUER_REVOKED", "credential revoked", "credential_id",
                  rv->cred_id, "by", rv->by, NULL);
    PQclear(res);
    return rc;
}

static int revoke_tx(struct bf_pg *pg, void *arg, struct bf_err *err)
{
    return revoke_cred(pg, arg, err);
}

int issuer_revoke(struct bf_pg *pg, const char *base, const struct issuer_emitter *em,
                  const char *cred_id, const char *reason, const char *by, struct bf_err *err)
{
    struct revoke rv = {base, em, cred_id, reason, by ? by : "admin"};

    if (!bf_uuid_valid(cred_id))
        return bf_err_set(err, BF_EINVAL, "--credential: must be a credential UUID");
    if (!reason || !reason[0] || strlen(reason) > 1000)
        return bf_err_set(err, BF_EINVAL, "--reason: must be 1..1000 characters");
    return bf_pg_in_tx(pg) ? revoke_cred(pg, &rv, err) : bf_pg_tx(pg, revoke_tx, &rv, err);
}

/* SPDX-License-Identifier: Apache-2.0 */
/* API keys: Bearer key → tenant and role, checked by hash in constant time. */
#include <openssl/crypto.h>
#include <string.h>
#include <strings.h>

#include "gateway.h"

#define KEY_SQL                                                                                    \
    "SELECT id, tenant_id, role, coalesce(assessor_id, ''), key_hash,"                             \
    " revoked_at IS NOT NULL, coalesce(expires_at < now(), false) FROM api_keys WHERE prefix = $1"

static enum gw_role role_of(const char *s)
{
    return strcmp(s, "admin") == 0      ? GW_ADMIN
           : strcmp(s, "assessor") == 0 ? GW_ASSESSOR
                                        : GW_DISTRICT;
}

/* The key's row checked: hash equal, not revoked, not expired. */
static int check_row(PGresult *res, const char *key, struct gw_key *out, struct bf_err *err)
{
    char hash[BF_SHA256_HEX_LEN + 1];

    if (PQntuples(res) != 1)
        return bf_err_set(err, BF_EDENIED, "unknown API key");
    bf_apikey_hash(key, hash);
    if (CRYPTO_memcmp(hash, PQgetvalue(res, 0, 4), BF_SHA256_HEX_LEN) != 0)
        return bf_err_set(err, BF_EDENIED, "unknown API key");
    if (PQgetvalue(res, 0, 5)[0] == 't')
        return bf_err_set(err, BF_EDENIED, "the API key was revoked");
    if (PQgetvalue(res, 0, 6)[0] == 't')
        return bf_err_set(err, BF_EDENIED, "the API key has expired");
    bf_strlcpy(out->id, PQgetvalue(res, 0, 0), sizeof(out->id));
    bf_strlcpy(out->tenant_id, PQgetvalue(res, 0, 1), sizeof(out->tenant_id));
    bf_strlcpy(out->assessor_id, PQgetvalue(res, 0, 3), sizeof(out->assessor_id));
    out->role = role_of(PQgetvalue(res, 0, 2));
    return 0;
}

/* last_used_at, at most about once a minute (the column's contract). */
static void touch(struct bf_pg *pg, const char *id)
{
    struct bf_err err;
    const char *v[1] = {id};

    if (gw_exec(pg,
                "UPDATE api_keys SET last_used_at = now() WHERE id = $1 AND (last_used_at IS NULL"
                " OR last_used_at < now() - interval '1 minute')",
                1, v, &err) < 0)
        return; /* bookkeeping only */
}

int gw_auth(struct bf_pg *pg, const char *authorization, struct gw_key *key, struct bf_err *err)
{
    char prefix[BF_APIKEY_PREFIX_LEN + 1];
    const char *v[1] = {prefix};
    const char *k;
    PGresult *res;
    int rc;

    if (!authorization)
        return bf_err_set(err, BF_EDENIED, "an Authorization: Bearer <API key> header is required");
    if (strncasecmp(authorization, "Bearer ", 7) != 0)
        return bf_err_set(err, BF_EDENIED, "Authorization: must be 'Bearer <API key>'");
    k = authorization + 7;
    if (!bf_apikey_prefix(k, prefix))
        return bf_err_set(err, BF_EDENIED, "the API key is malformed");
    res = bf_pg_query(pg, KEY_SQL, 1, v, err);
    if (!res)
        return err->code == BF_ETRANSIENT ? -BF_ETRANSIENT : -BF_EINTERNAL;
    rc = check_row(res, k, key, err);
    PQclear(res);
    if (rc == 0)
        touch(pg, key->id);
    return rc;
}

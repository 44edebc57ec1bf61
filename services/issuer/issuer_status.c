/* SPDX-License-Identifier: Apache-2.0 */
/* W3C Bitstring Status List v1.0: index allocation, revocation bits, the encodedList and the
 * BitstringStatusListCredential. */
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "badgeflow/util.h"
#include "issuer.h"

void issuer_status_url(const char *base, const char *tenant, const char *list_id, char *out,
                       size_t n)
{
    snprintf(out, n, "%s/status/%s/%s", base, tenant, list_id);
}

/* A new, empty revocation list of the tenant; its id into list_id. */
static int status_new(struct bf_pg *pg, const char *tenant, char list_id[BF_UUID_STRLEN + 1],
                      struct bf_err *err)
{
    char size[16];
    const char *p[3] = {list_id, tenant, size};
    PGresult *res;

    if (bf_uuid_v4(list_id) < 0)
        return bf_err_set(err, BF_EIO, "no randomness");
    snprintf(size, sizeof(size), "%d", ISSUER_STATUS_BITS);
    res = ISSUER_Q(pg,
                   "INSERT INTO status_lists (id, tenant_id, purpose, size, bits)"
                   " VALUES ($1, $2, 'revocation', $3::int,"
                   " decode(repeat('00', $3::int / 8), 'hex'))",
                   3, p, err);
    if (!res)
        return -err->code;
    PQclear(res);
    return 0;
}

int issuer_status_alloc(struct bf_pg *pg, const char *tenant, char list_id[BF_UUID_STRLEN + 1],
                        int *index, struct bf_err *err)
{
    const char *p[1] = {tenant};
    PGresult *res;
    long long v = 0;

    for (int tries = 0; tries < 2; tries++) {
        /* The row lock orders concurrent issuers of one tenant; it ends with the record's
         * transaction, so an index is never handed out twice. */
        res = ISSUER_Q(pg,
                       "UPDATE status_lists SET next_index = next_index + 1 WHERE id ="
                       " (SELECT id FROM status_lists WHERE tenant_id = $1 AND purpose ="
                       " 'revocation' AND next_index < size ORDER BY created_at, id LIMIT 1"
                       " FOR UPDATE) RETURNING id, next_index - 1",
                       1, p, err);
        if (!res)
            return -err->code;
        if (PQntuples(res) == 1) {
            bf_strlcpy(list_id, PQgetvalue(res, 0, 0), BF_UUID_STRLEN + 1);
            int rc = bf_parse_ll(PQgetvalue(res, 0, 1), 0, ISSUER_STATUS_BITS, &v);
            PQclear(res);
            *index = (int)v;
            return rc < 0 ? bf_err_set(err, BF_EINTERNAL, "status index") : 0;
        }
        PQclear(res);
        if (status_new(pg, tenant, list_id, err) < 0)
            return -err->code;
    }
    return bf_err_set(err, BF_EINTERNAL, "no status list index for tenant %s", tenant);
}

int issuer_status_set(struct bf_pg *pg, const char *list_id, int index, struct bf_err *err)
{
    /* PostgreSQL's set_bit counts bits from the least significant of each byte; the status
     * list spec counts index 0 as the most significant bit of byte 0. */
    char bit[16];
    const char *p[2] = {list_id, bit};
    PGresult *res;

    snprintf(bit, sizeof(bit), "%d", (index / 8) * 8 + (7 - index % 8));
    res = ISSUER_Q(pg, "UPDATE status_lists SET bits = set_bit(bits, $2::int, 1) WHERE id = $1", 2,
                   p, err);
    if (!res)
        return -err->code;
    PQclear(res);
    return 0;
}

char *issuer_status_encode(const unsigned char *bits, size_t len)
{
    z_stream z = {0};
    uLong cap = compressBound((uLong)len) + 32;
    unsigned char *gz = malloc(cap);
    char *b = NULL, *out = NULL;

    /* windowBits 16 + 15: a gzip wrapper, as the spec's encodedList requires. */
    if (!gz || deflateInit2(&z, 9, Z_DEFLATED, 16 + 15, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        goto out;
    z.next_in = (Bytef *)bits;
    z.avail_in = (uInt)len;
    z.next_out = gz;
    z.avail_out = (uInt)cap;
    int zr = deflate(&z, Z_FINISH);
    deflateEnd(&z);
    if (zr != Z_STREAM_END)
        goto out;
    b = issuer_b64url(gz, z.total_out);
    out = b ? malloc(strlen(b) + 2) : NULL;
    if (out)
        snprintf(out, strlen(b) + 2, "u%s", b); /* multibase: 'u' = base64url, no padding */
out:
    free(gz);
    free(b);
    return out;
}

json_t *issuer_status_credential(const char *base, const char *tenant, const char *list_id,
                                 const char *encoded, int64_t valid_from)
{
    char url[ISSUER_URL_MAX + 128], sid[ISSUER_URL_MAX + 140], iss[ISSUER_URL_MAX + 140], t[32];

    issuer_status_url(base, tenant, list_id, url, sizeof(url));
    snprintf(sid, sizeof(sid), "%s#list", url);
    issuer_profile_id(base, tenant, iss, sizeof(iss));
    issuer_time_iso(valid_from, t);
    return json_pack("{s[s]sss[ss]sssss{ssssssss}}", "@context",
                     "https://www.w3.org/ns/credentials/v2", "id", url, "type",
                     "VerifiableCredential", "BitstringStatusListCredential", "issuer", iss,
                     "validFrom", t, "credentialSubject", "id", sid, "type", "BitstringStatusList",
                     "statusPurpose", "revocation", "encodedList", encoded);
}

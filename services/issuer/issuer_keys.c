/* SPDX-License-Identifier: Apache-2.0 */
/* Issuer signing keys in PostgreSQL: generate, rotate, load (decrypting), publish as JWKS. */
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <stdlib.h>
#include <string.h>

#include "badgeflow/util.h"
#include "issuer.h"

PGresult *issuer_q(struct bf_pg *pg, const char *func, int line, const char *sql, int n,
                   const char *const *p, struct bf_err *err)
{
    char name[64];

    snprintf(name, sizeof(name), "iss_%.40s_%d", func, line);
    if (bf_pg_prepare(pg, name, sql, err) < 0)
        return NULL;
    return bf_pg_exec(pg, name, n, p, err);
}

void issuer_key_clear(struct issuer_key *k)
{
    EVP_PKEY_free(k->pkey);
    memset(k, 0, sizeof(*k));
}

void issuer_kid_url(const char *base, const char *tenant, const char *kid, char *out, size_t n)
{
    snprintf(out, n, "%s/issuers/%s/keys/%s", base, tenant, kid);
}

/* PKCS#8 DER of pkey → private key; the DER is wiped after use. */
static EVP_PKEY *pkey_from_der(const unsigned char *der, size_t len)
{
    const unsigned char *p = der;
    PKCS8_PRIV_KEY_INFO *p8 = d2i_PKCS8_PRIV_KEY_INFO(NULL, &p, (long)len);
    EVP_PKEY *k = p8 ? EVP_PKCS82PKEY(p8) : NULL;

    PKCS8_PRIV_KEY_INFO_free(p8);
    return k;
}

/* Decode PQ's text form of a bytea (\x hex) into a malloc'd buffer. */
static unsigned char *bytea_decode(const char *text, size_t *len)
{
    return PQunescapeBytea((const unsigned char *)text, len);
}

int issuer_key_active(struct bf_pg *pg, const unsigned char kek[ISSUER_KEK_LEN], const char *tenant,
                      const char *alg, struct issuer_key *out, struct bf_err *err)
{
    static const char sql[] = "SELECT kid, private_key_enc FROM issuer_keys"
                              " WHERE tenant_id = $1 AND alg = $2 AND state = 'active'";
    const char *p[2] = {tenant, alg};
    unsigned char *sealed = NULL, *der = NULL;
    size_t slen = 0, dlen = 0;
    PGresult *res;
    int rc = bf_pg_prepare(pg, "issuer_key_active", sql, err);

    if (rc < 0)
        return rc;
    res = bf_pg_exec(pg, "issuer_key_active", 2, p, err);
    if (!res)
        return -err->code;
    if (PQntuples(res) == 0) {
        rc = bf_err_set(err, BF_ENOTFOUND, "tenant %s has no active %s key", tenant, alg);
        goto out;
    }
    memset(out, 0, sizeof(*out));
    bf_strlcpy(out->kid, PQgetvalue(res, 0, 0), sizeof(out->kid));
    bf_strlcpy(out->alg, alg, sizeof(out->alg));
    sealed = bytea_decode(PQgetvalue(res, 0, 1), &slen);
    rc = sealed ? issuer_open(kek, out->kid, sealed, slen, &der, &dlen, err)
                : bf_err_set(err, BF_ENOMEM, "out of memory");
    if (rc < 0)
        goto out;
    out->pkey = pkey_from_der(der, dlen);
    if (!out->pkey)
        rc = bf_err_set(err, BF_EINVAL, "key %s: stored private key does not parse", out->kid);
out:
    if (der)
        OPENSSL_cleanse(der, dlen);
    free(der);
    PQfreemem(sealed);
    PQclear(res);
    return rc;
}

/* kid: <tenant-prefix>.<alg>.<12 hex> — unique, short, safe in URLs. */
static int kid_new(const char *tenant, const char *alg, char kid[ISSUER_KID_MAX + 1],
                   struct bf_err *err)
{
    unsigned char r[6];
    char hex[13];

    if (RAND_bytes(r, sizeof(r)) != 1)
        return bf_err_set(err, BF_EIO, "no randomness");
    bf_hex(r, sizeof(r), hex);
    snprintf(kid, ISSUER_KID_MAX + 1, "%.100s.%s.%s", tenant, alg, hex);
    for (char *c = kid; *c; c++)
        *c = (char)(*c >= 'A' && *c <= 'Z' ? *c - 'A' + 'a' : *c);
    return 0;
}

/* Seal pkey's PKCS#8 DER under the KEK, bound to kid. */
static int seal_pkey(const unsigned char *kek, const char *kid, EVP_PKEY *k, unsigned char **out,
                     size_t *outlen, struct bf_err *err)
{
    PKCS8_PRIV_KEY_INFO *p8 = EVP_PKEY2PKCS8(k);
    unsigned char *der = NULL;
    int n = p8 ? i2d_PKCS8_PRIV_KEY_INFO(p8, &der) : -1;
    int rc;

    PKCS8_PRIV_KEY_INFO_free(p8);
    if (n <= 0)
        return bf_err_set(err, BF_EINTERNAL, "cannot serialise the private key");
    rc = issuer_seal(kek, kid, der, (size_t)n, out, outlen, err);
    OPENSSL_cleanse(der, (size_t)n);
    OPENSSL_free(der);
    return rc;
}

struct key_create {
    const unsigned char *kek;
    const char *tenant, *alg;
    bool rotate;
    char *kid;
};

static int key_create_tx(struct bf_pg *pg, void *arg, struct bf_err *err)
{
    struct key_create *kc = arg;
    const char *rp[2] = {kc->tenant, kc->alg};
    unsigned char *sealed = NULL;
    size_t slen = 0;
    char *jwks = NULL;
    EVP_PKEY *k = NULL;
    json_t *jwk = NULL;
    PGresult *res = NULL;
    int rc = 0;

    if (kc->rotate)
        res = ISSUER_Q(pg,
                       "UPDATE issuer_keys SET state = 'retired', retired_at = now()"
                       " WHERE tenant_id = $1 AND alg = $2 AND state = 'active'",
                       2, rp, err);
    if (kc->rotate && !res)
        return -err->code;
    PQclear(res);
    k = issuer_pkey_new(kc->alg, err);
    if (!k || kid_new(kc->tenant, kc->alg, kc->kid, err) < 0) {
        rc = k ? -err->code : -BF_EINVAL;
        goto out;
    }
    jwk = issuer_pkey_jwk(k, kc->alg, kc->kid);
    jwks = jwk ? json_dumps(jwk, JSON_COMPACT) : NULL;
    rc = jwks ? seal_pkey(kc->kek, kc->kid, k, &sealed, &slen, err)
              : bf_err_set(err, BF_ENOMEM, "out of memory");
    if (rc < 0)
        goto out;
    const char *vals[5] = {kc->tenant, kc->kid, kc->alg, jwks, (const char *)sealed};
    const int lens[5] = {0, 0, 0, 0, (int)slen}, fmts[5] = {0, 0, 0, 0, 1};
    rc = bf_pg_prepare(pg, "issuer_key_insert",
                       "INSERT INTO issuer_keys (tenant_id, kid, alg, public_jwk, private_key_enc)"
                       " VALUES ($1, $2, $3, $4::jsonb, $5)",
                       err);
    res = rc < 0 ? NULL : bf_pg_execb(pg, "issuer_key_insert", 5, vals, lens, fmts, err);
    if (!res)
        rc = err->code == BF_ECONFLICT
                 ? bf_err_set(err, BF_ECONFLICT,
                              "tenant %s has an active %s key already: use rotate", kc->tenant,
                              kc->alg)
                 : -err->code;
    PQclear(res);
out:
    free(sealed);
    free(jwks);
    json_decref(jwk);
    EVP_PKEY_free(k);
    return rc;
}

int issuer_key_create(struct bf_pg *pg, const unsigned char kek[ISSUER_KEK_LEN], const char *tenant,
                      const char *alg, bool rotate, char kid_out[ISSUER_KID_MAX + 1],
                      struct bf_err *err)
{
    struct key_create kc = {kek, tenant, alg, rotate, kid_out};

    if (strcmp(alg, "ES256") != 0 && strcmp(alg, "RS256") != 0)
        return bf_err_set(err, BF_EINVAL, "--alg: must be ES256 or RS256, not '%s'", alg);
    return bf_pg_tx(pg, key_create_tx, &kc, err);
}

json_t *issuer_jwks(struct bf_pg *pg, const char *base, const char *tenant, struct bf_err *err)
{
    const char *p[1] = {tenant};
    char url[ISSUER_URL_MAX + ISSUER_KID_MAX + 64];
    json_t *keys = json_array();
    PGresult *res = ISSUER_Q(pg,
                             "SELECT kid, public_jwk::text FROM issuer_keys WHERE tenant_id = $1"
                             " ORDER BY created_at DESC, kid",
                             1, p, err);

    if (!res || !keys) {
        json_decref(keys);
        PQclear(res);
        return NULL;
    }
    for (int i = 0; i < PQntuples(res); i++) {
        json_t *jwk = json_loads(PQgetvalue(res, i, 1), 0, NULL);
        issuer_kid_url(base, tenant, PQgetvalue(res, i, 0), url, sizeof(url));
        if (jwk) {
            json_object_set_new(jwk, "kid", json_string(url));
            json_array_append_new(keys, jwk);
        }
    }
    PQclear(res);
    return json_pack("{so}", "keys", keys);
}
